// hostile_reconnect: servers and proxies whose connections end before they carry a request.
// Each such connection counts against ClientOptions::max_connect_failures, with a back-off
// between attempts, so that the requests waiting for one end with the error instead of the
// pool opening the next connection at once, in a loop, until their timeout.
#include "h2_server.hpp"
#include "hostile.hpp"

using namespace connmatrix;
using namespace connmatrix::test;

namespace {

constexpr std::string_view head_end = "\r\n\r\n";

// An HTTP CONNECT proxy, on a raw socket, that counts the CONNECTs it is sent and answers each
// with `reply` (never tunnelling anything).
struct Proxy {
    explicit Proxy(std::string reply)
        : server([this, reply = std::move(reply)](Peer& p, std::size_t) {
              if (!p.read_until(head_end)) return;
              if (p.input().rfind("CONNECT ", 0) == 0) ++connects;
              p.write(reply);
              p.drain(2000ms);
          }) {}
    std::string json() const {
        return "\"proxy\": \"http://127.0.0.1:" + std::to_string(server.port()) + "\"";
    }
    std::atomic<std::size_t> connects{0};
    HostileServer server;
};

}  // namespace

TEST_CASE("a proxy's 200 followed by extra bytes: proxy_failed, one CONNECT, no storm") {
    // Regression: the extra bytes were taken as the origin's, the connection closed as
    // "unsolicited bytes", and the pool opened the next tunnel at once: thousands of CONNECTs
    // until the request timeout. Now the attempt is net:proxy_failed and the request ends with
    // it, well before its timeout.
    for (const auto& t : transports()) {
        INFO(t.name());
        Proxy proxy("HTTP/1.1 200 Connection established\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        Client c = hostile_client(t, {}, proxy.json());
        const std::string url = std::string(t.backend ? "https" : "http") +
                                "://origin.invalid:8443/";
        PeakRss rss;
        const Timed r = timed_get(c, url);
        check_error(r, net::errc::proxy_failed, request_timeout);
        CHECK(r.result.error.message().find("unexpected byte") != std::string::npos);
        // Let a storm show itself, if there were one.
        std::this_thread::sleep_for(300ms);
        MESSAGE(t.name(), ": ", proxy.connects.load(), " CONNECT(s), ", r.took.count(), " ms");
        CHECK(proxy.connects.load() >= 1);
        CHECK(proxy.connects.load() <= ClientOptions{}.max_connect_failures);
        CHECK(rss.growth() < base_slack);
    }
}

TEST_CASE("cleartext h2 by prior knowledge through a proxy: the origin's SETTINGS may come with the 200") {
    // RFC 9113 3.4: an h2 server may send its SETTINGS as soon as the connection is up, so
    // over a tunnel they can arrive in the same segment as the proxy's 200. For cleartext h2 by
    // prior knowledge those bytes are the origin's and the request goes through; only where
    // the client speaks first (TLS, HTTP/1.1) are they the proxy's and proxy_failed.
    std::atomic<std::size_t> connects{0};
    const Script proxy_and_origin = [&connects](Peer& p, std::size_t) {
        if (!p.read_until(head_end)) return;
        if (p.input().rfind("CONNECT ", 0) == 0) ++connects;
        p.input().erase(0, p.input().find(head_end) + head_end.size());
        http2::ServerSession origin({}, [](const http2::ServerRequest&) {
            http2::ServerResponse r;
            r.body = {'o', 'k'};
            return r;
        });
        const auto settings = origin.take_output();
        if (settings.empty()) return;  // the request then fails, and the test with it
        p.write("HTTP/1.1 200 Connection established\r\n\r\n" +
                std::string(settings.begin(), settings.end()));
        while (!origin.finished()) {
            if (!p.input().empty()) {
                const std::string in = std::exchange(p.input(), {});
                const Error e = origin.feed({reinterpret_cast<const std::uint8_t*>(in.data()),
                                             in.size()});
                const auto out = origin.take_output();
                if (!p.write({reinterpret_cast<const char*>(out.data()), out.size()}) || e) return;
            }
            if (!p.read_some(2000ms)) return;
        }
    };
    HostileServer proxy(HostileOptions{}, proxy_and_origin);
    Client c = make_client(client_json(registry().default_backend().name(), "prior-knowledge",
                                       timeouts_json() + ", \"proxy\": \"http://127.0.0.1:" +
                                           std::to_string(proxy.port()) + "\""));
    const Timed r = timed_get(c, "http://origin.invalid:8080/");
    INFO(error_name(r.result.error.code), ": ", r.result.error.message());
    REQUIRE(r.result);
    CHECK(r.result.response.status == 200);
    CHECK(r.result.response.body == "ok");
    CHECK(r.result.response.info.protocol == Protocol::h2);
    CHECK(connects.load() == 1);
}

TEST_CASE("a proxy that refuses CONNECT: proxy_failed with its status, one CONNECT") {
    for (const auto& t : transports()) {
        INFO(t.name());
        Proxy proxy("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        Client c = hostile_client(t, {}, proxy.json());
        const Timed r = timed_get(c, std::string(t.backend ? "https" : "http") +
                                         "://origin.invalid:8443/");
        check_error(r, net::errc::proxy_failed, request_timeout);
        CHECK(r.result.error.message().find("403") != std::string::npos);
        std::this_thread::sleep_for(300ms);
        CHECK(proxy.connects.load() == 1);
    }
}

namespace {

// A TLS 1.2 server that sends HTTP bytes in the same segment as the end of its handshake,
// before the client has asked anything: each connection ends before it carries a request.
HostileOptions talks_first(const tls::Backend& b) {
    HostileOptions o = tls_hostile(b);
    o.tls.max_version = tls::Version::tls1_2;
    o.hold_last_flight = true;
    return o;
}
// Without resumption: an abbreviated TLS 1.2 handshake ends with the client's flight, not the
// server's, and the request would go out before the server's bytes arrive.
Client no_resumption_client(const tls::Backend& b, ClientOptions o) {
    return make_client("{\"defaults\": {\"backend\": \"" + std::string(b.name()) +
                           "\", \"mode\": \"http1\", \"tls\": {\"ca_file\": \"" + cert("ca.pem") +
                           "\", \"resumption\": false}, " + timeouts_json() + "}}",
                       std::move(o));
}
const Script speak_first = [](Peer& p, std::size_t) {
    p.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    p.drain(2000ms);
};

}  // namespace

TEST_CASE("connections that end before carrying a request count, back off, then fail") {
    // The pool bound itself: each connection is closed as unsolicited_response before the
    // request reaches it; the pool waits 100 ms, then 200 ms, and after the third such
    // connection in a row the request fails with that error, instead of reconnecting in a loop.
    for (const auto& b : registry().all()) {
        const Transport t{b.get()};
        INFO(t.name());
        HostileServer server(talks_first(*b), speak_first);
        ClientOptions o;
        o.reconnect_backoff = 100ms;
        Client c = no_resumption_client(*b, o);
        const Timed r = timed_get(c, server.url());
        std::this_thread::sleep_for(300ms);
        MESSAGE(t.name(), ": ", server.connections(), " connection(s), ", r.took.count(),
                " ms: ", r.result.error.message());
        check_error(r, http1::errc::unsolicited_response, request_timeout);
        CHECK(r.result.error.message().find("in a row") != std::string::npos);
        CHECK(server.connections() == o.max_connect_failures);
        // The back-off ran between them: 100 + 200 ms at least.
        CHECK(r.took >= 300ms - 20ms);
    }
}

TEST_CASE("max_connect_failures = 1: the first such connection fails the request") {
    const auto& b = registry().default_backend();
    HostileServer server(talks_first(b), speak_first);
    ClientOptions o;
    o.max_connect_failures = 1;
    Client c = no_resumption_client(b, o);
    const Timed r = timed_get(c, server.url());
    std::this_thread::sleep_for(300ms);
    check_error(r, http1::errc::unsolicited_response, request_timeout);
    CHECK(server.connections() == 1);
}

TEST_CASE("every connection after the first closes under its request: bounded attempts") {
    // The stale keep-alive rule retries an idempotent request that a reused connection lost
    // (closed before any response) once, on a new connection: here that one does the same, and
    // the request ends with its error (a fresh connection that closes is not stale), instead
    // of a loop until the timeout.
    const Script first_only = [](Peer& p, std::size_t n) {
        if (!p.read_until(head_end)) return;
        if (n == 1) {
            p.input().clear();
            p.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            if (!p.read_until(head_end)) return;
        }
        // The request is read, and the connection ended without a word.
        p.shutdown_write();
        p.drain(1000ms);
    };
    for (const auto& t : transports()) {
        INFO(t.name());
        HostileServer server(server_for(t), first_only);
        Client c = hostile_client(t);
        const Timed first = timed_get(c, server.url("/first"));
        INFO(first.result.error.message());
        REQUIRE(first.result);
        const Timed r = timed_get(c, server.url("/second"));
        std::this_thread::sleep_for(300ms);
        MESSAGE(t.name(), ": ", server.connections(), " connection(s), ",
                error_name(r.result.error.code), " after ", r.took.count(), " ms: ",
                r.result.error.message());
        check_error(r, t.backend ? std::error_code(tls::errc::truncated)
                                 : std::error_code(net::errc::connection_closed),
                    request_timeout);
        CHECK(server.connections() == 2);
    }
}
