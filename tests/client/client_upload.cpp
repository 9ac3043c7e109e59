// client_upload: request bodies read from a source as they are sent (Request::body_source) over
// h2 and HTTP/1.1: known length (Content-Length / content-length) and unknown (chunked / DATA
// until END_STREAM), a source with nothing ready resumed by RequestHandle::resume(), a source
// that throws or gives more or fewer bytes than its length (its own request ends; the
// connection's other requests do not), a retry after REFUSED_STREAM that rewinds the source
// and none without a rewind, a server that answers before the upload is done, and
// Expect: 100-continue (the body waits for the 100, a final status, or the timeout).
#include "client_common.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace connmatrix;
using namespace connmatrix::test;
using namespace std::chrono_literals;

namespace {

const tls::Backend& backend() { return registry().default_backend(); }

// `n` bytes that say where they are: a piece out of order, twice or missing shows.
std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    return s;
}

constexpr std::size_t big = (3u << 20) + 4321;  // over three h2 stream windows, odd-sized

// A source giving `data` in pieces of at most `piece` bytes; what it was asked is counted (on
// the I/O thread; read by the test once the request has ended).
struct Source {
    std::string data;
    std::size_t piece = 1u << 30;
    std::size_t pos = 0;
    std::atomic<int> reads{0};
    std::atomic<int> rewinds{0};
    std::atomic<std::size_t> largest_offer{0};
    std::size_t wait_at = std::string::npos;  // give {0, false} once here, until resumed
    std::atomic<bool> waited{false};
    bool say_end_with_last = true;  // {n, true} with the last bytes (else {0, true} after)
    std::size_t extra = 0;          // bytes more than `data` it goes on giving (a liar)
    std::size_t stop_at = std::string::npos;  // ends here, short of `data` (a liar)
    std::size_t throw_at = std::string::npos;

    explicit Source(std::string d) : data(std::move(d)) {}

    BodySource source(std::optional<std::uint64_t> length, bool rewindable = true) {
        BodySource s;
        s.length = length;
        s.read = [this](std::span<std::uint8_t> buf) -> BodyRead {
            ++reads;
            largest_offer = std::max(largest_offer.load(), buf.size());
            if (pos >= throw_at) throw std::runtime_error("disk on fire at " + std::to_string(pos));
            if (pos == wait_at && !waited) {
                waited = true;
                return {0, false};
            }
            const std::size_t total = std::min(data.size() + extra, stop_at);
            std::size_t n = std::min({buf.size(), piece, total - pos});
            if (pos < throw_at) n = std::min(n, throw_at - pos);
            if (wait_at != std::string::npos && pos < wait_at) n = std::min(n, wait_at - pos);
            for (std::size_t i = 0; i < n; ++i)
                buf[i] = static_cast<std::uint8_t>(pos + i < data.size() ? data[pos + i] : 'X');
            pos += n;
            return {n, pos == total && (say_end_with_last || n == 0)};
        };
        if (rewindable)
            s.rewind = [this] {
                ++rewinds;
                pos = 0;
                return true;
            };
        return s;
    }
};

ServedResponse echo_size(const ServedRequest& r) {
    return {200, {{"content-type", "text/plain"}}, std::to_string(r.body.size())};
}

struct Served {
    const char* name;
    TestServerOptions options;
    std::string protocol;  // as ServedRequest::protocol says it
};

// The same handler over h2 (TLS, ALPN) and HTTP/1.1 (cleartext).
std::vector<Served> servers(ServerHandler handler = echo_size) {
    Served h2{"h2", tls_server(backend(), {"h2"}), "h2"};
    h2.options.handler = handler;
    Served h1{"http/1.1", TestServerOptions{}, "http/1.1"};
    h1.options.handler = handler;
    return {std::move(h2), std::move(h1)};
}

// `method url` with `source` as its body, sent and waited for.
Result send_with(Client& c, std::string method, std::string url, BodySource source) {
    Request rq{.method = std::move(method), .url = std::move(url)};
    rq.body_source = std::move(source);
    return c.send(std::move(rq));
}

// Runs `test` once over h2 and once over HTTP/1.1, each with a server of its own and a Client.
template <class Test>
void over_both(Test test) {
    for (auto& s : servers()) {
        INFO(std::string(s.name));
        TestServer server(s.options);
        Client c = make_client(client_json(backend().name(), "alpn"));
        test(s, server, c);
    }
}

const Header* find(const Headers& hs, std::string_view name) {
    for (const auto& h : hs) {
        std::string n = h.name;
        std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
        if (n == name) return &h;
    }
    return nullptr;
}

}  // namespace

TEST_CASE("a source of known length goes out whole, as Content-Length, a piece at a time") {
    over_both([](const Served& s, TestServer& server, Client& c) {
        Source src(pattern(big));
        src.piece = 50'000;
        const Result r = send_with(c, "PUT", server.url("/known"), src.source(big));
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.body == std::to_string(big));
        const auto served = server.served();
        REQUIRE(served.size() == 1);
        CHECK(served[0].protocol == s.protocol);
        CHECK(served[0].body == src.data);  // every byte, in order
        const Header* cl = find(served[0].headers, "content-length");
        REQUIRE(cl != nullptr);
        CHECK(cl->value == std::to_string(big));
        CHECK(find(served[0].headers, "transfer-encoding") == nullptr);
        // Read as it went: many reads, none offered more than one piece's buffer.
        CHECK(src.reads >= static_cast<int>(big / 65536));
        CHECK(src.largest_offer <= 65536u);
    });
}

TEST_CASE("a source of unknown length goes chunked over HTTP/1.1 and as DATA to END_STREAM over h2") {
    over_both([](const Served& s, TestServer& server, Client& c) {
        Source src(pattern(big));
        src.piece = 30'000;
        src.say_end_with_last = false;  // {0, true} after the last bytes
        const Result r = send_with(c, "POST", server.url("/unknown"), src.source(std::nullopt));
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.body == std::to_string(big));
        const auto served = server.served();
        REQUIRE(served.size() == 1);
        CHECK(served[0].body == src.data);
        CHECK(find(served[0].headers, "content-length") == nullptr);
        const Header* te = find(served[0].headers, "transfer-encoding");
        if (s.protocol == "http/1.1") {
            REQUIRE(te != nullptr);
            CHECK(te->value == "chunked");
        } else {
            CHECK(te == nullptr);
        }
        // And a source that ends at once: an empty body, framed as such.
        Source empty{std::string()};
        const Result r2 = send_with(c, "POST", server.url("/empty"), empty.source(std::nullopt));
        INFO(r2.error.message());
        REQUIRE(r2);
        CHECK(r2.response.body == "0");
        CHECK(empty.reads == 1);
    });
}

TEST_CASE("a known length of zero is an empty body, never read") {
    over_both([](const Served&, TestServer& server, Client& c) {
        Source src(pattern(10));
        const Result r = send_with(c, "POST", server.url("/zero"), src.source(0));
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.body == "0");
        CHECK(src.reads == 0);
    });
}

TEST_CASE("a source with nothing ready is asked again after RequestHandle::resume()") {
    over_both([](const Served&, TestServer& server, Client& c) {
        Source src(pattern(big));
        src.piece = 40'000;
        src.wait_at = 1u << 20;
        Request rq{.method = "POST", .url = server.url("/wait")};
        rq.body_source = src.source(big);
        std::promise<Result> done;
        auto fut = done.get_future();
        RequestHandle h = c.send_async(std::move(rq), [&done](Result r) { done.set_value(std::move(r)); });
        REQUIRE(h);
        // It waits: no answer while the source has nothing, however long.
        const auto t0 = std::chrono::steady_clock::now();
        while (!src.waited && std::chrono::steady_clock::now() - t0 < 5s) std::this_thread::sleep_for(5ms);
        REQUIRE(src.waited);
        if (fut.wait_for(300ms) == std::future_status::ready) {
            const Result early = fut.get();
            FAIL("ended while waiting: " << early.error.message() << " " << early.response.status
                                         << " " << early.response.body << " read " << src.pos);
        }
        const int reads_while_waiting = src.reads;
        std::this_thread::sleep_for(100ms);
        CHECK(src.reads == reads_while_waiting);  // not polled meanwhile
        h.resume();
        REQUIRE(fut.wait_for(10s) == std::future_status::ready);
        const Result r = fut.get();
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.body == std::to_string(big));
        const auto served = server.served();
        REQUIRE(served.size() == 1);
        CHECK(served[0].body == src.data);
        h.resume();  // after the end: nothing
    });
}

TEST_CASE("a source that throws ends its own request only, with body_source_failed and its text") {
    over_both([](const Served& s, TestServer& server, Client& c) {
        Source src(pattern(big));
        src.piece = 20'000;
        src.throw_at = 200'000;
        const Result r = send_with(c, "POST", server.url("/throws"), src.source(big));
        CHECK(r.error.code == pool::errc::body_source_failed);
        CHECK(r.error.message().find("disk on fire at 200000") != std::string::npos);
        CHECK(r.response.status == 0);
        CHECK(server.requests() == 0);  // the server never had a whole request
        // The Client goes on: the next request succeeds (over h2, on the same connection).
        const Result r2 = c.send({.method = "GET", .url = server.url("/after")});
        INFO(r2.error.message());
        REQUIRE(r2);
        if (s.protocol == "h2") CHECK(c.stats().connections_opened == 1);
    });
}

TEST_CASE("a source that gives other than its length: body_length_mismatch, no whole request sent") {
    over_both([](const Served&, TestServer& server, Client& c) {
        // Short: it ends 1000 bytes early.
        Source shorter(pattern(300'000));
        shorter.stop_at = 299'000;
        Result r = send_with(c, "POST", server.url("/short"), shorter.source(300'000));
        CHECK(r.error.code == pool::errc::body_length_mismatch);
        CHECK(r.error.message().find("ended after 299000 of its 300000 bytes") != std::string::npos);
        // Long, in the same read as the last promised bytes and after them.
        for (bool same_read : {true, false}) {
            INFO("same read: " << same_read);
            Source longer(pattern(300'000));
            longer.extra = 10;
            longer.piece = same_read ? 7'000 : 300'000 / 6;  // 50000 divides it: the extra comes alone
            r = send_with(c, "POST", server.url("/long"), longer.source(300'000));
            CHECK(r.error.code == pool::errc::body_length_mismatch);
            CHECK(r.error.message().find("more than its length of 300000") != std::string::npos);
        }
        CHECK(server.requests() == 0);
        const Result ok = c.send({.method = "GET", .url = server.url("/after")});
        INFO(ok.error.message());
        CHECK(ok);
    });
}

TEST_CASE("a body and a body source together: body_source_failed before anything is sent") {
    TestServer server(TestServerOptions{});
    Client c = make_client(client_json(backend().name(), "alpn"));
    Source src(pattern(10));
    Request rq{.method = "POST", .url = server.url("/both"), .body = "whole"};
    rq.body_source = src.source(10);
    const Result r = c.send(std::move(rq));
    CHECK(r.error.code == pool::errc::body_source_failed);
    CHECK(r.error.message().find("both a body and a body source") != std::string::npos);
    CHECK(src.reads == 0);
    CHECK(server.connections() == 0);
}

TEST_CASE("h2: REFUSED_STREAM after the upload: sent again from a rewound source; never without one") {
    auto o = tls_server(backend(), {"h2"});
    std::atomic<int> handled{0};
    o.handler = [&handled](const ServedRequest& r) {
        ServedResponse s = echo_size(r);
        if (handled++ % 2 == 0) s.h2_reset = 0x7;  // REFUSED_STREAM: "not processed"
        return s;
    };
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    Source src(pattern(200'000));
    const Result r = send_with(c, "POST", server.url("/rewound"), src.source(200'000));
    INFO(r.error.message());
    REQUIRE(r);
    CHECK(r.response.body == "200000");
    CHECK(src.rewinds == 1);
    const auto served = server.served();
    REQUIRE(served.size() == 2);
    CHECK(served[1].body == src.data);  // the second attempt had the whole body again

    Source once(pattern(200'000));
    const Result r2 = send_with(c, "POST", server.url("/once"), once.source(200'000, false));
    CHECK(r2.error.code == pool::errc::not_retryable);
    CHECK(r2.error.message().find("body source") != std::string::npos);
    CHECK(r2.error.message().find("no rewind") != std::string::npos);
    CHECK(handled == 3);
}

TEST_CASE("h2: a server that answers before the upload ends stops it; the connection goes on") {
    auto o = tls_server(backend(), {"h2"});
    o.h2.faults.respond_on_headers = true;
    o.h2.faults.hold_window = true;  // no more than the first window would ever go
    o.handler = [](const ServedRequest&) {
        return ServedResponse{413, {{"content-type", "text/plain"}}, "too large"};
    };
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    Source src(pattern(64u << 20));
    const Result r = send_with(c, "POST", server.url("/upload"), src.source(std::nullopt));
    INFO(r.error.message());
    REQUIRE(r);
    CHECK(r.response.status == 413);
    CHECK(src.pos < (2u << 20));  // not the 64 MiB: at most a window's worth was read
    const Result r2 = c.send({.method = "GET", .url = server.url("/after")});
    INFO(r2.error.message());
    CHECK(r2.response.status == 413);
    CHECK(c.stats().connections_opened == 1);
}

TEST_CASE("HTTP/1.1: a server that answers before the upload ends: the response, the connection closed") {
    std::uint16_t port = 0;
    const int listener = listen_tcp(INADDR_LOOPBACK, 4, port);
    std::atomic<std::size_t> read_bytes{0};
    std::thread srv([&] {
        const int fd = ::accept(listener, nullptr, nullptr);
        if (fd < 0) return;
        char buf[4096];
        // The head, then an early answer: what a server refusing an upload does.
        std::string head;
        while (head.find("\r\n\r\n") == std::string::npos) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) break;
            head.append(buf, static_cast<std::size_t>(n));
        }
        read_bytes = head.size();
        const std::string resp = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large";
        (void)!::write(fd, resp.data(), resp.size());
        std::this_thread::sleep_for(500ms);  // not reading: the client must not wait for us
        ::close(fd);
    });
    Client c = make_client(client_json(backend().name(), "alpn"));
    Source src(pattern(64u << 20));
    const Result r = send_with(c, "POST", "http://127.0.0.1:" + std::to_string(port) + "/upload", src.source(std::nullopt));
    srv.join();
    ::close(listener);
    INFO(r.error.message());
    REQUIRE(r);
    CHECK(r.response.status == 413);
    CHECK(r.response.body == "too large");
    CHECK(src.pos < (32u << 20));  // it stopped: not the whole 64 MiB
}

namespace {

// An HTTP/1.1 server on one connection, for Expect: 100-continue: it reads a request head,
// then says `interim` (empty: nothing) after checking for `quiet` that no body byte came
// meanwhile, then `final`, reading the body first when `read_body`; then the next request the
// same way, until the client closes. What it saw is kept for the test.
struct ContinueServer {
    std::uint16_t port = 0;
    int listener = -1;
    std::string interim, final_response;
    bool read_body = true;
    std::chrono::milliseconds quiet{300};
    std::thread thread;
    // Per request: the head, whether body bytes came before the interim/final answer, the body.
    struct Seen {
        std::vector<std::string> heads, bodies;
        std::vector<bool> early_body;
        int connections = 0;
    };
    Seen seen() {
        std::lock_guard lock(mu);
        return log;
    }
    std::mutex mu;
    Seen log;

    ContinueServer(std::string i, std::string f, bool rb) : interim(std::move(i)), final_response(std::move(f)), read_body(rb) {
        listener = listen_tcp(INADDR_LOOPBACK, 4, port);
        thread = std::thread([this] { run(); });
    }
    ~ContinueServer() {
        ::shutdown(listener, SHUT_RDWR);
        thread.join();
        ::close(listener);
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/up"; }

    void run() {
        for (;;) {
            const int fd = ::accept(listener, nullptr, nullptr);
            if (fd < 0) return;
            {
                std::lock_guard lock(mu);
                ++log.connections;
            }
            serve(fd);
            ::close(fd);
        }
    }
    void serve(int fd) {
        std::string in;
        char buf[65536];
        auto fill = [&](std::chrono::milliseconds wait) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) return false;
            in.append(buf, static_cast<std::size_t>(n));
            return true;
        };
        for (;;) {
            while (in.find("\r\n\r\n") == std::string::npos)
                if (!fill(5s)) return;
            const std::size_t end = in.find("\r\n\r\n") + 4;
            const std::string head = in.substr(0, end);
            in.erase(0, end);
            std::size_t length = 0;
            if (const auto at = head.find("Content-Length: "); at != std::string::npos)
                length = std::stoul(head.substr(at + 16));
            // Nothing of the body may come before we answer.
            const auto t0 = std::chrono::steady_clock::now();
            while (in.empty() && std::chrono::steady_clock::now() - t0 < quiet)
                if (!fill(quiet)) break;
            const bool early = !in.empty();
            if (!interim.empty()) (void)!::write(fd, interim.data(), interim.size());
            if (read_body)
                while (in.size() < length)
                    if (!fill(5s)) return;
            {
                std::lock_guard lock(mu);
                log.heads.push_back(head);
                log.early_body.push_back(early);
                log.bodies.push_back(in.substr(0, std::min(in.size(), length)));
            }
            in.erase(0, std::min(in.size(), length));
            (void)!::write(fd, final_response.data(), final_response.size());
        }
    }
};

const std::string ok_response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

Request expecting(const std::string& url, std::string body) {
    Request r{.method = "POST", .url = url};
    r.headers = {{"Expect", "100-continue"}};
    r.body = std::move(body);
    return r;
}

}  // namespace

TEST_CASE("Expect: 100-continue: the body waits for the 100, then goes; the connection is reused") {
    ContinueServer srv("HTTP/1.1 100 Continue\r\n\r\n", ok_response, true);
    ClientOptions o;
    o.expect_continue_timeout = 10s;  // the 100 ends the wait, never the timeout
    Client c = make_client(client_json(backend().name(), "alpn"), o);
    for (int i = 0; i < 2; ++i) {
        Result r = c.send(expecting(srv.url(), pattern(100000)));
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.status == 200);
        CHECK(r.response.body == "ok");
    }
    // A body source waits the same way.
    Source src(pattern(5000));
    Request streamed{.method = "PUT", .url = srv.url()};
    streamed.headers = {{"Expect", "100-continue"}};
    streamed.body_source = src.source(5000);
    Result r = c.send(std::move(streamed));
    REQUIRE_MESSAGE(r, r.error.message());
    c.close();
    const auto seen = srv.seen();
    REQUIRE(seen.heads.size() == 3);
    CHECK(seen.early_body == std::vector<bool>{false, false, false});
    CHECK(seen.bodies[0] == pattern(100000));
    CHECK(seen.bodies[2] == pattern(5000));
    CHECK(seen.connections == 1);
}

TEST_CASE("Expect: 100-continue answered with a final status: delivered, the body never sent, the connection closed") {
    ContinueServer srv("", "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 4\r\n\r\nnope", false);
    ClientOptions o;
    o.expect_continue_timeout = 10s;
    Client c = make_client(client_json(backend().name(), "alpn"), o);
    Result r = c.send(expecting(srv.url(), pattern(100000)));
    INFO(r.error.message());
    REQUIRE(r);
    CHECK(r.response.status == 417);
    CHECK(r.response.body == "nope");
    // The next request needs a new connection: the server may still be waiting for a body.
    Result again = c.send({.method = "GET", .url = srv.url()});
    REQUIRE_MESSAGE(again, again.error.message());
    CHECK(c.stats().connections_opened == 2);
    c.close();
    const auto seen = srv.seen();
    REQUIRE(seen.heads.size() == 2);
    CHECK(seen.early_body[0] == false);
    CHECK(seen.bodies[0].empty());
    CHECK(seen.connections == 2);
}

TEST_CASE("Expect: 100-continue to a server that never says 100: the body goes after the timeout") {
    ContinueServer srv("", ok_response, true);
    srv.quiet = 100ms;  // shorter than the timeout below: the body must not have come by then
    ClientOptions o;
    o.expect_continue_timeout = 800ms;
    Client c = make_client(client_json(backend().name(), "alpn"), o);
    const auto t0 = std::chrono::steady_clock::now();
    Result r = c.send(expecting(srv.url(), "hello"));
    INFO(r.error.message());
    REQUIRE(r);
    CHECK(std::chrono::steady_clock::now() - t0 >= 800ms);  // the body waited the timeout out
    c.close();
    CHECK(srv.seen().early_body == std::vector<bool>{false});
    CHECK(srv.seen().bodies == std::vector<std::string>{"hello"});
    // expect_continue_timeout 0: the header goes, and the body with it.
    ContinueServer at_once("", ok_response, true);
    at_once.quiet = 2s;
    ClientOptions none;
    none.expect_continue_timeout = 0ms;
    Client c0 = make_client(client_json(backend().name(), "alpn"), none);
    REQUIRE(c0.send(expecting(at_once.url(), "now")));
    c0.close();
    CHECK(at_once.seen().early_body == std::vector<bool>{true});
    CHECK(at_once.seen().heads.at(0).find("Expect: 100-continue") != std::string::npos);
}

TEST_CASE("Expect: 100-continue over h2: the body goes at once, the response as usual") {
    TestServer server(tls_server(backend(), {"h2"}));
    ClientOptions o;
    o.expect_continue_timeout = 60s;  // a wait for a 100 would outlast the request's timeout
    Client c = make_client(client_json(backend().name(), "alpn"), o);
    Request rq = expecting(server.url("/up"), "h2 body");
    rq.timeout = 10s;
    Result r = c.send(std::move(rq));
    REQUIRE_MESSAGE(r, r.error.message());
    CHECK(r.response.info.protocol == Protocol::h2);
    CHECK(server.served().at(0).body == "h2 body");
}
