// client_stream: response bodies streamed to a sink (Request::on_body, Request::on_response)
// over h2 and HTTP/1.1: pieces in order and nothing in Response::body, no max_response_body
// limit, pause and resume (the other streams of an h2 connection go on meanwhile), abort
// (h2: RST_STREAM CANCEL, the connection kept; HTTP/1.1: the connection closed), a sink that
// throws, trailers in Response::trailers, and no second attempt once a sink has had bytes.
#include "client_common.hpp"

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace connmatrix;
using namespace connmatrix::test;
using namespace std::chrono_literals;

namespace {

const tls::Backend& backend() { return registry().default_backend(); }

using Clock = std::chrono::steady_clock;

// `n` bytes that say where they are: a piece out of order or twice shows.
std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    return s;
}

constexpr std::size_t big = 3u << 20;  // 3 MiB: three h2 stream windows

// /big: `big` patterned bytes; /trailers: a body and trailers; anything else: echo.
ServedResponse big_or_echo(const ServedRequest& r) {
    if (r.target == "/big") return {200, {{"content-type", "application/octet-stream"}}, pattern(big)};
    if (r.target == "/trailers") {
        ServedResponse s{200, {{"content-type", "text/plain"}}, "body before trailers"};
        s.trailers = {{"x-checksum", "42"}, {"x-status", "done"}};
        return s;
    }
    return echo_path(r);
}

// What a sink saw, written on the I/O thread and read by the test.
struct Sink {
    std::mutex mu;
    std::condition_variable cv;
    std::string body;
    std::size_t pieces = 0;
    int heads = 0;
    int head_status = 0;
    bool head_before_body = true;
    bool empty_piece = false;
    BodyAction answer = BodyAction::proceed;  // what each piece is answered with

    Request request(std::string url) {
        Request r{.method = "GET", .url = std::move(url)};
        r.on_response = [this](const Response& resp) {
            std::lock_guard lock(mu);
            ++heads;
            head_status = resp.status;
            if (pieces != 0) head_before_body = false;
        };
        r.on_body = [this](std::span<const std::uint8_t> data) {
            std::lock_guard lock(mu);
            if (data.empty()) empty_piece = true;
            body.append(data.begin(), data.end());
            ++pieces;
            cv.notify_all();
            return answer;
        };
        return r;
    }
    std::size_t size() {
        std::lock_guard lock(mu);
        return body.size();
    }
    std::size_t piece_count() {
        std::lock_guard lock(mu);
        return pieces;
    }
    // Waits until more than `n` pieces have come, up to `limit`.
    bool wait_pieces(std::size_t n, std::chrono::milliseconds limit = 5s) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, limit, [&] { return pieces > n; });
    }
};

struct Served {
    const char* name;
    TestServerOptions options;
    std::string protocol;  // of ConnectionInfo
};

// The same handler over h2 (TLS, ALPN) and HTTP/1.1 (cleartext).
std::vector<Served> servers(ServerHandler handler) {
    Served h2{"h2", tls_server(backend(), {"h2"}), "h2"};
    h2.options.handler = handler;
    Served h1{"http/1.1", TestServerOptions{}, "http/1.1"};
    h1.options.handler = handler;
    return {std::move(h2), std::move(h1)};
}

}  // namespace

TEST_CASE("the body goes to the sink in order, after on_response, and not into Response::body") {
    for (auto& s : servers(big_or_echo)) {
        INFO(s.name);
        TestServer server(s.options);
        // A limit well under the body: it bounds buffered bodies only.
        ClientOptions opts;
        opts.max_response_body = 1u << 20;
        Client c = make_client(client_json(backend().name(), "alpn"), opts);
        Sink sink;
        const Result r = c.send(sink.request(server.url("/big")));
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.status == 200);
        CHECK(r.response.body.empty());
        CHECK(std::string(to_string(r.response.info.protocol)) == s.protocol);
        CHECK(sink.body.size() == big);
        CHECK(sink.body == pattern(big));
        CHECK(sink.pieces > 1);
        CHECK_FALSE(sink.empty_piece);
        CHECK(sink.heads == 1);
        CHECK(sink.head_status == 200);
        CHECK(sink.head_before_body);
        // The same body without a sink is over the limit.
        const Result buffered = c.send({.method = "GET", .url = server.url("/big")});
        CHECK(buffered.error.code == net::errc::response_too_large);
        // A sink on a request whose response has no body: on_response, no piece.
        Sink none;
        Request head = none.request(server.url("/big"));
        head.method = "HEAD";
        const Result h = c.send(std::move(head));
        REQUIRE(h);
        CHECK(none.heads == 1);
        CHECK(none.pieces == 0);
    }
}

TEST_CASE("pause holds the body until resume(); over h2 the connection's other streams go on") {
    for (auto& s : servers(big_or_echo)) {
        INFO(s.name);
        TestServer server(s.options);
        Client c = make_client(client_json(backend().name(), "alpn"));
        REQUIRE(c.send({.method = "GET", .url = server.url("/warm")}));
        Sink sink;
        sink.answer = BodyAction::pause;
        Answer out;
        const RequestHandle h = c.send_async(sink.request(server.url("/big")), out.callback());
        REQUIRE(sink.wait_pieces(0));
        // Paused after its first piece: nothing more comes, and the request does not end.
        std::this_thread::sleep_for(300ms);
        CHECK(sink.piece_count() == 1);
        CHECK_FALSE(out.ready());
        if (s.protocol == "h2") {
            // The stream's window is held, not the connection: another request on it is served.
            const Result other = c.send({.method = "GET", .url = server.url("/other"), .timeout = 5s});
            INFO(other.error.message());
            REQUIRE(other);
            CHECK(other.response.body == "h2 GET /other");
            CHECK(other.response.info.reused);
            CHECK(server.connections() == 1);
        }
        // Each resume() lets exactly one more piece through, as the sink pauses again.
        for (std::size_t n = 1; n < 4; ++n) {
            h.resume();
            REQUIRE(sink.wait_pieces(n));
            std::this_thread::sleep_for(50ms);
            CHECK(sink.piece_count() == n + 1);
        }
        // Then let it run.
        {
            std::lock_guard lock(sink.mu);
            sink.answer = BodyAction::proceed;
        }
        h.resume();
        const Result r = out.wait();
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(sink.body == pattern(big));
        h.resume();  // ended: nothing happens
        CHECK(out.calls == 1);
        // The connection is reused afterwards (over HTTP/1.1 too: the body was read to its end).
        const Result after = c.send({.method = "GET", .url = server.url("/after")});
        REQUIRE(after);
        CHECK(after.response.info.reused);
        CHECK(server.connections() == 1);
    }
}

TEST_CASE("a paused request still ends at its timeout") {
    for (auto& s : servers(big_or_echo)) {
        INFO(s.name);
        TestServer server(s.options);
        Client c = make_client(client_json(backend().name(), "alpn"));
        Sink sink;
        sink.answer = BodyAction::pause;
        Request rq = sink.request(server.url("/big"));
        rq.timeout = 400ms;
        const auto t0 = Clock::now();
        const Result r = c.send(std::move(rq));
        CHECK(r.error.code == net::errc::request_timeout);
        CHECK(Clock::now() - t0 >= 350ms);
        CHECK(sink.pieces == 1);
    }
}

TEST_CASE("abort: body_aborted; h2 resets the stream and keeps the connection, HTTP/1.1 closes it") {
    for (auto& s : servers(big_or_echo)) {
        INFO(s.name);
        std::mutex resets_mu;
        std::vector<std::uint32_t> resets;
        s.options.h2.on_reset = [&](std::int32_t, std::uint32_t code) {
            std::lock_guard lock(resets_mu);
            resets.push_back(code);
        };
        TestServer server(s.options);
        Client c = make_client(client_json(backend().name(), "alpn"));
        Sink sink;
        sink.answer = BodyAction::abort;
        const Result r = c.send(sink.request(server.url("/big")));
        INFO(r.error.message());
        CHECK(r.error.code == pool::errc::body_aborted);
        CHECK(error_name(r.error.code) == "pool:body_aborted");
        CHECK(r.error.message().find("/big") != std::string::npos);
        CHECK(sink.pieces == 1);  // nothing after the abort
        const Result next = c.send({.method = "GET", .url = server.url("/next"), .timeout = 5s});
        INFO(next.error.message());
        REQUIRE(next);
        if (s.protocol == "h2") {
            CHECK(next.response.info.reused);
            CHECK(server.connections() == 1);
            std::lock_guard lock(resets_mu);
            CHECK(resets == std::vector<std::uint32_t>{0x8});  // CANCEL
        } else {
            CHECK_FALSE(next.response.info.reused);
            CHECK(server.connections() == 2);
        }
        CHECK(server.requests() == 2);  // the aborted request was not sent again
    }
}

TEST_CASE("a sink that throws ends its own request only, with body_sink_failed and its text") {
    for (auto& s : servers(big_or_echo)) {
        INFO(s.name);
        TestServer server(s.options);
        Client c = make_client(client_json(backend().name(), "alpn"));
        REQUIRE(c.send({.method = "GET", .url = server.url("/warm")}));
        Request rq{.method = "GET", .url = server.url("/big")};
        int pieces = 0;
        rq.on_body = [&pieces](std::span<const std::uint8_t>) -> BodyAction {
            if (++pieces == 2) throw std::runtime_error("disk full");
            return BodyAction::proceed;
        };
        const Result r = c.send(std::move(rq));
        INFO(r.error.message());
        CHECK(r.error.code == pool::errc::body_sink_failed);
        CHECK(r.error.message().find("on_body threw: disk full") != std::string::npos);
        CHECK(pieces == 2);
        // on_response throwing: no piece reaches on_body.
        Request rq2{.method = "GET", .url = server.url("/big")};
        int pieces2 = 0;
        rq2.on_response = [](const Response&) { throw 42; };
        rq2.on_body = [&pieces2](std::span<const std::uint8_t>) {
            ++pieces2;
            return BodyAction::proceed;
        };
        const Result r2 = c.send(std::move(rq2));
        CHECK(r2.error.code == pool::errc::body_sink_failed);
        CHECK(r2.error.message().find("on_response threw") != std::string::npos);
        CHECK(pieces2 == 0);
        // The Client goes on.
        const Result next = c.send({.method = "GET", .url = server.url("/next")});
        REQUIRE(next);
        CHECK(next.response.body == s.protocol + " GET /next");
        CHECK(server.requests() == 4);
    }
}

TEST_CASE("trailers land in Response::trailers, streamed or not, and never in headers") {
    for (auto& s : servers(big_or_echo)) {
        INFO(s.name);
        TestServer server(s.options);
        Client c = make_client(client_json(backend().name(), "alpn"));
        const Result r = c.send({.method = "GET", .url = server.url("/trailers")});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.body == "body before trailers");
        REQUIRE(r.response.trailers.size() == 2);
        CHECK(r.response.trailers[0].name == "x-checksum");
        CHECK(r.response.trailers[0].value == "42");
        CHECK(r.response.trailers[1].value == "done");
        CHECK_FALSE(r.response.header("x-checksum"));
        Sink sink;
        const Result st = c.send(sink.request(server.url("/trailers")));
        REQUIRE(st);
        CHECK(sink.body == "body before trailers");
        CHECK(st.response.body.empty());
        REQUIRE(st.response.trailers.size() == 2);
        CHECK(st.response.trailers[1].name == "x-status");
    }
}

TEST_CASE("a connection lost after part of a streamed body: one attempt, the error, no bytes twice") {
    // A server of its own: the head and 1000 of 100000 bytes, then it hangs up. A GET whose
    // connection is lost may be sent again, but not once a sink has had some of its body.
    std::uint16_t port = 0;
    const int listener = listen_tcp(INADDR_LOOPBACK, 8, port);
    std::atomic<int> accepted{0};
    std::atomic<bool> stop{false};
    std::thread srv([&] {
        while (!stop) {
            pollfd p{listener, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const int fd = ::accept(listener, nullptr, nullptr);
            if (fd < 0) continue;
            ++accepted;
            char buf[4096];
            std::string in;
            while (in.find("\r\n\r\n") == std::string::npos) {
                const ssize_t n = ::read(fd, buf, sizeof buf);
                if (n <= 0) break;
                in.append(buf, static_cast<std::size_t>(n));
            }
            const std::string out = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'z');
            (void)::write(fd, out.data(), out.size());
            ::close(fd);
        }
    });
    Client c = make_client(client_json(backend().name(), "alpn"));
    Sink sink;
    const Result r = c.send(sink.request("http://127.0.0.1:" + std::to_string(port) + "/partial"));
    stop = true;
    srv.join();
    ::close(listener);
    INFO(r.error.message());
    CHECK(r.error);
    CHECK(r.response.status == 0);
    CHECK(sink.body == std::string(1000, 'z'));
    CHECK(sink.heads == 1);
    CHECK(accepted == 1);
}

TEST_CASE("h2: REFUSED_STREAM after part of a streamed body is not retried; without a sink it is") {
    auto o = tls_server(backend(), {"h2"});
    std::atomic<int> arrivals{0};
    o.on_arrival = [&arrivals](const ServedRequest&) { ++arrivals; };
    std::atomic<int> served{0};
    o.handler = [&served](const ServedRequest& r) {
        // The first answer to each path: 1000 bytes, then REFUSED_STREAM; then the whole body.
        ServedResponse s{200, {{"content-type", "application/octet-stream"}}, pattern(100'000)};
        if (served++ % 2 == 0) {
            s.stall_after_body = 1000;
            s.h2_reset_after_stall = 0x7;  // REFUSED_STREAM
        }
        (void)r;
        return s;
    };
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    // Buffered: nothing was handed out, the server says it did not process it: sent again.
    const Result buffered = c.send({.method = "GET", .url = server.url("/buffered")});
    INFO(buffered.error.message());
    REQUIRE(buffered);
    CHECK(buffered.response.body == pattern(100'000));
    CHECK(arrivals == 2);
    // Streamed: the sink has had 1000 bytes; another attempt would give it them again.
    Sink sink;
    const Result r = c.send(sink.request(server.url("/streamed")));
    INFO(r.error.message());
    CHECK(r.error.code == pool::errc::not_retryable);
    CHECK(r.error.message().find("body sink") != std::string::npos);
    CHECK(sink.body == pattern(1000));
    CHECK(arrivals == 3);
}
