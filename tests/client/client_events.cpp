// client_events: ClientOptions::on_event over real sockets. The phases of a request on a new
// h2 TLS connection in order (DNS, each connect attempt, TLS, negotiation, sent, headers, first
// body byte, done), a reused connection's (no DNS, connect or TLS), HTTP/1.1 cleartext (no
// TLS), a refused connect, a retry after REFUSED_STREAM, an h2 fallback, idle and closed
// connections with their reason, and an observer that throws.
#include "client_common.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace connmatrix;
using namespace connmatrix::test;
using namespace std::chrono_literals;

namespace {

const tls::Backend& backend() { return registry().default_backend(); }

// An Event, copied (its views die with the call).
struct Seen {
    EventKind kind;
    std::chrono::steady_clock::time_point at;
    std::uint64_t request, connection;
    std::string method, url, address, detail, error;
    std::string protocol;     // of info, when given
    std::string tls_version;  // of info, when given
    int status = 0;           // of response, when given
};

struct Recorder {
    std::mutex mu;
    std::vector<Seen> seen;

    ClientOptions options() {
        ClientOptions o;
        o.on_event = [this](const Event& e) {
            Seen s{e.kind, e.at, e.request, e.connection, std::string(e.method), std::string(e.url),
                   std::string(e.address), std::string(e.detail),
                   e.error ? error_name(e.error->code) : std::string(), {}, {}, 0};
            if (e.info) {
                s.protocol = std::string(to_string(e.info->protocol));
                s.tls_version = e.info->tls_version;
            }
            if (e.response) s.status = e.response->status;
            std::lock_guard lock(mu);
            seen.push_back(std::move(s));
        };
        return o;
    }
    std::vector<Seen> all() {
        std::lock_guard lock(mu);
        return seen;
    }
    // The kinds seen for request `r` (0: the connection events of connection `c`).
    std::vector<EventKind> kinds(std::uint64_t r, std::uint64_t c = 0) {
        std::vector<EventKind> out;
        for (const auto& s : all())
            if (r != 0 ? s.request == r : (s.request == 0 && s.connection == c)) out.push_back(s.kind);
        return out;
    }
    const Seen* first(EventKind k, std::uint64_t request = 0) {
        std::lock_guard lock(mu);
        for (const auto& s : seen)
            if (s.kind == k && (request == 0 || s.request == request)) return &s;
        return nullptr;
    }
    std::size_t count(EventKind k) {
        std::lock_guard lock(mu);
        return static_cast<std::size_t>(
            std::count_if(seen.begin(), seen.end(), [k](const Seen& s) { return s.kind == k; }));
    }
    // Waits up to 3 s for an event of kind `k`.
    bool wait_for(EventKind k) {
        const auto t0 = std::chrono::steady_clock::now();
        while (count(k) == 0 && std::chrono::steady_clock::now() - t0 < 3s) std::this_thread::sleep_for(5ms);
        return count(k) != 0;
    }
};

std::string names(const std::vector<EventKind>& v) {
    std::string s;
    for (EventKind k : v) s += (s.empty() ? "" : " ") + std::string(to_string(k));
    return s;
}

// Whether `want` appears in `got` in this order (others may come between).
bool in_order(const std::vector<EventKind>& got, const std::vector<EventKind>& want) {
    std::size_t i = 0;
    for (EventKind k : got)
        if (i < want.size() && k == want[i]) ++i;
    return i == want.size();
}

}  // namespace

TEST_CASE("a request on a new h2 connection: every phase, in order, then a reused connection's") {
    TestServer server(tls_server(backend(), {"h2"}));
    Recorder rec;
    {
        Client c = make_client(client_json(backend().name(), "alpn"), rec.options());
        Result r = c.send({.method = "GET", .url = server.url("/one")});
        REQUIRE_MESSAGE(r, r.error.message());
        const auto req = rec.kinds(1);
        INFO(names(req));
        CHECK(req == std::vector<EventKind>{EventKind::request_queued, EventKind::request_sent,
                                            EventKind::response_headers, EventKind::first_body_byte,
                                            EventKind::request_done});
        const Seen* sent = rec.first(EventKind::request_sent, 1);
        REQUIRE(sent != nullptr);
        CHECK(sent->method == "GET");
        CHECK(sent->url == "https://localhost:" + std::to_string(server.port()) + "/one");
        CHECK(sent->protocol == "h2");
        const std::uint64_t conn = sent->connection;
        CHECK(conn != 0);
        const Seen* head = rec.first(EventKind::response_headers, 1);
        REQUIRE(head != nullptr);
        CHECK(head->status == 200);
        const Seen* done = rec.first(EventKind::request_done, 1);
        REQUIRE(done != nullptr);
        CHECK(done->error.empty());
        CHECK(done->status == 200);

        const auto cn = rec.kinds(0, conn);
        INFO(names(cn));
        CHECK(in_order(cn, {EventKind::dns_start, EventKind::dns_end, EventKind::connect_start,
                            EventKind::connect_end, EventKind::tls_start, EventKind::tls_end,
                            EventKind::negotiated}));
        const Seen* dns = rec.first(EventKind::dns_end);
        REQUIRE(dns != nullptr);
        CHECK(dns->detail.find("127.0.0.1:" + std::to_string(server.port())) != std::string::npos);
        CHECK(rec.first(EventKind::dns_start)->detail == "localhost");
        // The attempt that connected names the server's address and no error.
        bool connected = false;
        for (const auto& s : rec.all())
            if (s.kind == EventKind::connect_end && s.error.empty())
                connected = s.address == "127.0.0.1:" + std::to_string(server.port());
        CHECK(connected);
        const Seen* tls_end = rec.first(EventKind::tls_end);
        REQUIRE(tls_end != nullptr);
        CHECK(!tls_end->tls_version.empty());
        CHECK(rec.first(EventKind::negotiated)->protocol == "h2");
        // Time runs forward through them all.
        const auto all = rec.all();
        CHECK(std::is_sorted(all.begin(), all.end(),
                             [](const Seen& a, const Seen& b) { return a.at < b.at; }));
        CHECK(rec.wait_for(EventKind::connection_idle));

        // Reused: no DNS, connect or TLS this time.
        const std::size_t dns_before = rec.count(EventKind::dns_start);
        Result r2 = c.send({.method = "GET", .url = server.url("/two")});
        REQUIRE_MESSAGE(r2, r2.error.message());
        const auto req2 = rec.kinds(2);
        INFO(names(req2));
        CHECK(in_order(req2, {EventKind::request_queued, EventKind::connection_reused,
                              EventKind::request_sent, EventKind::request_done}));
        CHECK(rec.count(EventKind::dns_start) == dns_before);
    }
    // The Client is gone: its connection closed, and said why.
    REQUIRE(rec.wait_for(EventKind::connection_closed));
    CHECK(!rec.first(EventKind::connection_closed)->detail.empty());
}

TEST_CASE("HTTP/1.1 cleartext: no TLS events; a refused connect: connect_end and request_done with the error") {
    TestServer server(TestServerOptions{});
    Recorder rec;
    Client c = make_client(client_json(backend().name(), "alpn"), rec.options());
    Result r = c.send({.method = "GET", .url = "http://127.0.0.1:" + std::to_string(server.port()) + "/"});
    REQUIRE_MESSAGE(r, r.error.message());
    CHECK(rec.count(EventKind::tls_start) == 0);
    CHECK(rec.count(EventKind::dns_start) == 1);  // an IP literal resolves at once, still told
    CHECK(rec.first(EventKind::negotiated)->protocol == "http/1.1");
    CHECK(rec.first(EventKind::request_done, 1)->status == 200);

    std::uint16_t port = 0;
    const int fd = listen_tcp(INADDR_LOOPBACK, 1, port);
    ::close(fd);  // nothing listens there now
    Result bad = c.send({.method = "GET", .url = "http://127.0.0.1:" + std::to_string(port) + "/"});
    REQUIRE(bad.error);
    bool refused = false;
    for (const auto& s : rec.all())
        if (s.kind == EventKind::connect_end && s.address == "127.0.0.1:" + std::to_string(port))
            refused = s.error == "net:connect_failed";
    CHECK(refused);
    const Seen* done = rec.first(EventKind::request_done, 2);
    REQUIRE(done != nullptr);
    CHECK(done->error == error_name(bad.error.code));
}

TEST_CASE("a retry after REFUSED_STREAM, and an h2 fallback, are told with their reason") {
    SUBCASE("retry") {
        auto o = tls_server(backend(), {"h2"});
        std::atomic<int> n{0};
        o.handler = [&n](const ServedRequest& r) {
            ServedResponse s = echo_path(r);
            if (n++ == 0) s.h2_reset = 0x7;  // REFUSED_STREAM
            return s;
        };
        TestServer server(o);
        Recorder rec;
        Client c = make_client(client_json(backend().name(), "alpn"), rec.options());
        Result r = c.send({.method = "POST", .url = server.url("/retried"), .body = "x"});
        REQUIRE_MESSAGE(r, r.error.message());
        const auto req = rec.kinds(1);
        INFO(names(req));
        CHECK(in_order(req, {EventKind::request_sent, EventKind::retry, EventKind::request_sent,
                             EventKind::request_done}));
        CHECK(rec.first(EventKind::retry)->detail.find("not processed") != std::string::npos);
    }
    SUBCASE("fallback") {
        auto o = tls_server(backend(), {}, tls::ServerAlpn::ignore);
        o.speak = TestServerOptions::Speak::http1;
        TestServer server(o);
        Recorder rec;
        Client c = make_client(client_json(backend().name(), "prior-knowledge-alpn"), rec.options());
        Result r = c.send({.method = "GET", .url = server.url("/")});
        REQUIRE_MESSAGE(r, r.error.message());
        REQUIRE(rec.count(EventKind::fallback) == 1);
        CHECK(!rec.first(EventKind::fallback)->detail.empty());
        CHECK(rec.first(EventKind::fallback)->url == "https://localhost:" + std::to_string(server.port()));
        CHECK(rec.count(EventKind::retry) == 1);  // the request, again over HTTP/1.1
    }
}

TEST_CASE("an observer that throws: the event is dropped, the request goes on") {
    TestServer server(tls_server(backend(), {"h2"}));
    ClientOptions o;
    std::atomic<int> calls{0};
    o.on_event = [&calls](const Event&) {
        ++calls;
        throw std::runtime_error("observer bug");
    };
    Client c = make_client(client_json(backend().name(), "alpn"), o);
    Result r = c.send({.method = "GET", .url = server.url("/")});
    REQUIRE_MESSAGE(r, r.error.message());
    CHECK(r.response.status == 200);
    CHECK(calls >= 8);
}

TEST_CASE("request_body_sent: once per request with a body, buffered or streamed, h2 and HTTP/1.1") {
    TestServer h2(tls_server(backend(), {"h2"}));
    TestServer h1(TestServerOptions{});
    Recorder rec;
    Client c = make_client(client_json(backend().name(), "alpn"), rec.options());
    const std::string h1_url = "http://127.0.0.1:" + std::to_string(h1.port()) + "/up";
    std::uint64_t n = 0;
    for (const std::string& url : {h2.url("/up"), h1_url}) {
        INFO(url);
        // A GET: no body, no event.
        REQUIRE(c.send({.method = "GET", .url = url}));
        ++n;
        CHECK(!in_order(rec.kinds(n), {EventKind::request_body_sent}));
        // A buffered body of 300 KiB: more than one h2 window of output, so the event waits
        // for the last DATA frame.
        Request post{.method = "POST", .url = url};
        post.body.assign(300 * 1024, 'b');
        Result r = c.send(std::move(post));
        REQUIRE_MESSAGE(r, r.error.message());
        ++n;
        auto kinds = rec.kinds(n);
        INFO(names(kinds));
        CHECK(std::count(kinds.begin(), kinds.end(), EventKind::request_body_sent) == 1);
        CHECK(in_order(kinds, {EventKind::request_sent, EventKind::request_body_sent, EventKind::request_done}));
        // A body source of unknown length, in three reads.
        Request streamed{.method = "PUT", .url = url};
        auto reads = std::make_shared<int>(0);
        streamed.body_source.read = [reads](std::span<std::uint8_t> buf) {
            std::fill_n(buf.begin(), 10, std::uint8_t('s'));
            return BodyRead{10, ++*reads == 3};
        };
        Result s = c.send(std::move(streamed));
        REQUIRE_MESSAGE(s, s.error.message());
        ++n;
        kinds = rec.kinds(n);
        INFO(names(kinds));
        CHECK(*reads == 3);
        CHECK(std::count(kinds.begin(), kinds.end(), EventKind::request_body_sent) == 1);
        CHECK(in_order(kinds, {EventKind::request_sent, EventKind::request_body_sent, EventKind::request_done}));
    }
    const auto served = h2.served();
    REQUIRE(served.size() == 3);
    CHECK(served[1].body.size() == 300 * 1024);
    CHECK(served[2].body == std::string(30, 's'));
}

TEST_CASE("to_string names every EventKind") {
    CHECK(to_string(EventKind::request_queued) == "request_queued");
    CHECK(to_string(EventKind::first_body_byte) == "first_body_byte");
    CHECK(to_string(EventKind::connection_closed) == "connection_closed");
    CHECK(to_string(EventKind::request_body_sent) == "request_body_sent");
    CHECK(to_string(static_cast<EventKind>(200)) == "unknown");
}

TEST_CASE("Client::stats().origins: requests, errors by category, connections by protocol, p50/p99") {
    TestServer h2(tls_server(backend(), {"h2"}));
    TestServer h1(TestServerOptions{});
    Client c = make_client(client_json(backend().name(), "alpn"));
    for (int i = 0; i < 5; ++i) REQUIRE(c.send({.method = "GET", .url = h2.url("/")}));
    const std::string plain = "http://127.0.0.1:" + std::to_string(h1.port());
    REQUIRE(c.send({.method = "GET", .url = plain + "/"}));
    std::uint16_t port = 0;
    const int fd = listen_tcp(INADDR_LOOPBACK, 1, port);
    ::close(fd);
    const std::string refused = "http://127.0.0.1:" + std::to_string(port);
    CHECK(c.send({.method = "GET", .url = refused + "/"}).error);
    const Client::Stats s = c.stats();
    REQUIRE(s.origins.size() == 3);
    const auto& a = s.origins[0];
    CHECK(a.origin == "https://localhost:" + std::to_string(h2.port()));
    CHECK(a.requests == 5);
    CHECK(a.errors == 0);
    CHECK(a.h2_connections == 1);
    CHECK(a.http1_connections == 0);
    CHECK(a.p50.count() > 0);
    CHECK(a.p99 >= a.p50);
    const auto& b = s.origins[1];
    CHECK(b.origin == plain);
    CHECK(b.requests == 1);
    CHECK(b.http1_connections == 1);
    const auto& e = s.origins[2];
    CHECK(e.origin == refused);
    CHECK(e.requests == 1);
    CHECK(e.errors == 1);
    REQUIRE(e.errors_by_category.size() == 1);
    CHECK(e.errors_by_category[0] == std::pair<std::string, std::size_t>{"net", 1});
    CHECK(e.p50.count() == 0);  // errors are not timed
    CHECK(s.requests == 7);
}
