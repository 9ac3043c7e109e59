// client_negotiation: over real sockets, every backend x mode against servers that answer ALPN
// in each way, asserting the protocol used or the exact error, as decide() and the fallback
// rule specify.
#include "client_common.hpp"

#include "http2.hpp"

#include <atomic>

using namespace connmatrix;
using namespace connmatrix::test;

namespace {

template <class F>
void for_each_backend(F&& body) {
    for (const auto& b : registry().all()) {
        INFO("backend ", b->name());
        body(*b);
    }
}

}  // namespace

TEST_CASE("alpn mode against an h2 server: h2, confirmed by ALPN") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {"h2", "http/1.1"});
        o.handler = echo_path;
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "alpn"));
        Result r = c.send({.method = "GET", .url = server.url("/a")});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.status == 200);
        CHECK(r.response.body == "h2 GET /a");
        CHECK(r.response.info.protocol == Protocol::h2);
        CHECK(r.response.info.alpn_selected == std::optional<std::string>("h2"));
        CHECK(r.response.info.alpn_offered == std::vector<std::string>{"h2", "http/1.1"});
        CHECK(r.response.info.backend == b.name());
        CHECK(r.response.info.verified);
        CHECK_FALSE(r.response.info.reused);
        CHECK_FALSE(r.response.info.tls_version.empty());
        CHECK(r.response.info.mode == "alpn");
    });
}

TEST_CASE("alpn mode against a server without ALPN: HTTP/1.1 (RFC 7301 default)") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {"h2"}, tls::ServerAlpn::ignore);
        o.speak = TestServerOptions::Speak::http1;
        o.handler = echo_path;
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "alpn"));
        Result r = c.send({.method = "GET", .url = server.url("/x")});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.body == "http/1.1 GET /x");
        CHECK(r.response.info.protocol == Protocol::http1_1);
        CHECK(r.response.info.alpn_selected == std::nullopt);
    });
}

TEST_CASE("http1 mode: offers only http/1.1 and speaks it, keep-alive reuse") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {"h2", "http/1.1"});
        o.handler = echo_path;
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "http1"));
        Result r1 = c.send({.method = "GET", .url = server.url("/1")});
        Result r2 = c.send({.method = "GET", .url = server.url("/2")});
        REQUIRE(r1);
        REQUIRE(r2);
        CHECK(r1.response.body == "http/1.1 GET /1");
        CHECK(r2.response.body == "http/1.1 GET /2");
        CHECK(r1.response.info.alpn_offered == std::vector<std::string>{"http/1.1"});
        CHECK(r1.response.info.alpn_selected == std::optional<std::string>("http/1.1"));
        CHECK_FALSE(r1.response.info.reused);
        CHECK(r2.response.info.reused);
        CHECK(server.connections() == 1);
    });
}

TEST_CASE("h2-only against an http/1.1-only ALPN server: no_application_protocol") {
    for_each_backend([](const tls::Backend& b) {
        TestServer server(tls_server(b, {"http/1.1"}));
        Client c = make_client(client_json(b.name(), "h2-only"));
        Result r = c.send({.method = "GET", .url = server.url()});
        CHECK_FALSE(r);
        CHECK(r.error.code == tls::errc::no_application_protocol);
    });
}

TEST_CASE("h2-only against a server without ALPN: h2_required_but_no_alpn") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {}, tls::ServerAlpn::ignore);
        o.speak = TestServerOptions::Speak::h2;
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "h2-only"));
        Result r = c.send({.method = "GET", .url = server.url()});
        CHECK_FALSE(r);
        CHECK(r.error.code == negotiate::errc::h2_required_but_no_alpn);
        CHECK(server.requests() == 0);
    });
}

TEST_CASE("prior-knowledge: no ALPN extension, h2 at once, against an h2 server without ALPN") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {"h2"}, tls::ServerAlpn::prefer_server);
        o.speak = TestServerOptions::Speak::h2;
        o.handler = echo_path;
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "prior-knowledge"));
        Result r = c.send({.method = "GET", .url = server.url("/pk")});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.body == "h2 GET /pk");
        CHECK(r.response.info.protocol == Protocol::h2);
        CHECK(r.response.info.alpn_offered.empty());
        CHECK(r.response.info.alpn_selected == std::nullopt);
        // The server saw no ALPN offer at all, so it selected nothing.
        CHECK(server.alpn_seen() == std::vector<std::string>{"none"});
    });
}

TEST_CASE("prior-knowledge without fallback against an HTTP/1.1-only server: not_h2") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {}, tls::ServerAlpn::ignore);
        o.speak = TestServerOptions::Speak::http1;
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "prior-knowledge"));
        Result r = c.send({.method = "GET", .url = server.url()});
        CHECK_FALSE(r);
        CHECK(r.error.code == http2::errc::not_h2);
        CHECK(r.error.message().find("fallback") != std::string::npos);
    });
}

TEST_CASE("prior-knowledge-alpn follows the server's ALPN choice") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {"http/1.1"});
        o.handler = echo_path;
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "prior-knowledge-alpn"));
        Result r = c.send({.method = "GET", .url = server.url("/f")});
        REQUIRE(r);
        CHECK(r.response.body == "http/1.1 GET /f");
        CHECK(r.response.info.alpn_selected == std::optional<std::string>("http/1.1"));
        CHECK_FALSE(r.response.info.fallback);
    });
}

TEST_CASE("prior-knowledge-alpn, h2 server without ALPN: h2 by prior knowledge") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {}, tls::ServerAlpn::ignore);
        o.speak = TestServerOptions::Speak::h2;
        o.handler = echo_path;
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "prior-knowledge-alpn"));
        Result r = c.send({.method = "GET", .url = server.url("/g")});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.body == "h2 GET /g");
        CHECK(r.response.info.alpn_offered == std::vector<std::string>{"h2", "http/1.1"});
        CHECK(r.response.info.alpn_selected == std::nullopt);
        CHECK(r.response.info.protocol == Protocol::h2);
    });
}

TEST_CASE("prior-knowledge-alpn, HTTP/1.1-only server without ALPN: fallback, remembered") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {}, tls::ServerAlpn::ignore);
        o.speak = TestServerOptions::Speak::http1;
        o.handler = echo_path;
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "prior-knowledge-alpn"));
        Result r1 = c.send({.method = "GET", .url = server.url("/one")});
        INFO(r1.error.message());
        REQUIRE(r1);
        CHECK(r1.response.body == "http/1.1 GET /one");
        CHECK(r1.response.info.protocol == Protocol::http1_1);
        CHECK(r1.response.info.fallback);
        CHECK(server.connections() == 2);  // the rejected h2 attempt, then HTTP/1.1

        // Remembered: the next request goes straight to HTTP/1.1 (reusing the connection).
        Result r2 = c.send({.method = "GET", .url = server.url("/two")});
        REQUIRE(r2);
        CHECK(r2.response.body == "http/1.1 GET /two");
        CHECK(r2.response.info.fallback);
        CHECK(server.connections() == 2);
        CHECK(c.stats().fallbacks == 1);
    });
}

TEST_CASE("a POST under unconfirmed h2 is held until h2 is confirmed, then falls back safely") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {}, tls::ServerAlpn::ignore);
        o.speak = TestServerOptions::Speak::http1;
        o.handler = echo_path;
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "prior-knowledge-alpn"));
        Result r = c.send({.method = "POST", .url = server.url("/order"), .body = "buy 1"});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.body == "http/1.1 POST /order buy 1");
        // The HTTP/1.1 server saw exactly one POST: the h2 attempt never sent it.
        const auto served = server.served();
        REQUIRE(served.size() == 1);
        CHECK(served[0].method == "POST");
    });
}

TEST_CASE("cleartext: http/1.1 by default, h2c by prior knowledge") {
    TestServerOptions o;
    o.handler = echo_path;
    TestServer server(o);  // cleartext; h2 when the client sends the h2 preface
    const std::string backend(registry().default_backend().name());
    {
        Client c = make_client(client_json(backend, "alpn"));
        Result r = c.send({.method = "GET", .url = server.url("/c")});
        REQUIRE(r);
        CHECK(r.response.body == "http/1.1 GET /c");
        CHECK(r.response.info.backend.empty());
    }
    {
        Client c = make_client(client_json(backend, "prior-knowledge"));
        Result r = c.send({.method = "GET", .url = server.url("/c")});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.body == "h2 GET /c");
        CHECK(r.response.info.protocol == Protocol::h2);
    }
}

TEST_CASE("verification on by default: a wrong host fails with the tls code") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {"h2"});
        o.tls.cert_file = cert("other-host.pem");
        o.tls.key_file = cert("other-host.key");
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "alpn"));
        Result r = c.send({.method = "GET", .url = server.url()});
        CHECK_FALSE(r);
        CHECK(r.error.code == tls::errc::certificate_hostname_mismatch);
        CHECK(server.requests() == 0);
    });
}

TEST_CASE("TLS resumption: the second connection resumes, on every backend") {
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {"http/1.1"});
        o.http1_close_after_response = true;  // force a new connection per request
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "http1"));
        Result r1 = c.send({.method = "GET", .url = server.url()});
        REQUIRE(r1);
        Result r2 = c.send({.method = "GET", .url = server.url()});
        REQUIRE(r2);
        CHECK(server.connections() == 2);
        CHECK(r1.response.info.resumed == std::optional<bool>(false));
        CHECK(r2.response.info.resumed == std::optional<bool>(true));
    });
}

TEST_CASE("Client() reads CONNMATRIX_CONFIG, and a bad file is an error, not a silent default") {
    const std::string path = cert_dir() + "/env-config-test.json";
    {
        FILE* f = std::fopen(path.c_str(), "w");
        REQUIRE(f);
        std::fputs("{\"defaults\": {\"mode\": \"no-such-mode\"}}", f);
        std::fclose(f);
    }
    ::setenv("CONNMATRIX_CONFIG", path.c_str(), 1);
    bool threw = false;
    try {
        Client c;
    } catch (const std::system_error& e) {
        threw = true;
        CHECK(std::string(e.what()).find("defaults.mode") != std::string::npos);
    }
    CHECK(threw);
    {
        FILE* f = std::fopen(path.c_str(), "w");
        std::fputs("{\"defaults\": {\"mode\": \"http1\"}}", f);
        std::fclose(f);
    }
    Client c;
    CHECK(c.policy().resolve(*policy::Origin::parse("https://x.example/")).policy.mode ==
          policy::Mode::http1);
    ::unsetenv("CONNMATRIX_CONFIG");
}

TEST_CASE("prior-knowledge with fallback and remember 0s: each rejection falls back, nothing is remembered") {
    // remember "0s" is valid: fall back, but do not remember it. The requests h2 was rejected
    // under still go over HTTP/1.1 (they used to try h2 on three connections and give up).
    for_each_backend([](const tls::Backend& b) {
        auto o = tls_server(b, {}, tls::ServerAlpn::ignore);
        o.speak = TestServerOptions::Speak::http1;
        o.handler = echo_path;
        TestServer server(o);
        Client c = make_client(client_json(b.name(), "prior-knowledge",
                                           R"("fallback": "http/1.1", "remember": "0s")"));
        Result r1 = c.send({.method = "GET", .url = server.url("/one")});
        INFO(r1.error.message());
        REQUIRE(r1);
        CHECK(r1.response.body == "http/1.1 GET /one");
        CHECK(r1.response.info.fallback);
        CHECK(server.connections() == 2);  // the rejected h2 attempt, then HTTP/1.1
        CHECK(c.stats().fallbacks == 1);
    });
}

// --- HTTP_1_1_REQUIRED (RFC 9113 7, error code 0xd) ------------------------------------------

namespace {

// An h2 + http/1.1 server whose h2 side refuses every request with HTTP_1_1_REQUIRED, by
// RST_STREAM or by GOAWAY; its HTTP/1.1 side answers. `refused` counts the h2 refusals.
TestServerOptions http11_required_server(const tls::Backend& b, bool by_goaway,
                                         std::atomic<int>& refused) {
    auto o = tls_server(b, {"h2", "http/1.1"});
    o.handler = [&refused, by_goaway](const ServedRequest& r) {
        if (r.protocol != "h2") return echo_path(r);
        ++refused;
        ServedResponse resp;
        if (by_goaway)
            resp.h2_goaway = http2::ServerResponse::Goaway::http_1_1_required;
        else
            resp.h2_reset = http2::h2_error::http_1_1_required;
        return resp;
    };
    return o;
}

std::size_t served_over(const TestServer& s, std::string_view protocol, std::string_view method) {
    std::size_t n = 0;
    for (const auto& r : s.served()) n += r.protocol == protocol && r.method == method;
    return n;
}

}  // namespace

TEST_CASE("HTTP_1_1_REQUIRED by RST_STREAM or GOAWAY: a POST goes again over HTTP/1.1, once, h2 not offered again, remembered") {
    for (const bool by_goaway : {false, true}) {
        INFO(std::string(by_goaway ? "GOAWAY" : "RST_STREAM"));
        for_each_backend([&](const tls::Backend& b) {
            std::atomic<int> refused{0};
            TestServer server(http11_required_server(b, by_goaway, refused));
            Client c = make_client(client_json(b.name(), "alpn"));
            Result r = c.send({.method = "POST", .url = server.url("/pay"), .body = "42"});
            INFO(r.error.message());
            REQUIRE(r);
            CHECK(r.response.body == "http/1.1 POST /pay 42");
            CHECK(r.response.info.protocol == Protocol::http1_1);
            CHECK(r.response.info.fallback);
            // The retry's offer has no h2 (curl #22923 offered it again).
            CHECK(r.response.info.alpn_offered == std::vector<std::string>{"http/1.1"});
            CHECK(r.response.info.decision.find("HTTP_1_1_REQUIRED") != std::string::npos);
            CHECK(refused == 1);
            CHECK(served_over(server, "http/1.1", "POST") == 1);  // processed once
            CHECK(server.alpn_seen() == std::vector<std::string>{"h2", "http/1.1"});

            // Remembered: the next request goes straight over the HTTP/1.1 connection.
            Result r2 = c.send({.method = "GET", .url = server.url("/next")});
            REQUIRE(r2);
            CHECK(r2.response.body == "http/1.1 GET /next");
            CHECK(server.connections() == 2);
            CHECK(refused == 1);
            CHECK(c.stats().fallbacks == 1);
        });
    }
}

TEST_CASE("HTTP_1_1_REQUIRED in h2-only: http2:http_1_1_required naming the mode, never not_h2, not retried") {
    for (const bool by_goaway : {false, true}) {
        INFO(std::string(by_goaway ? "GOAWAY" : "RST_STREAM"));
        for_each_backend([&](const tls::Backend& b) {
            std::atomic<int> refused{0};
            TestServer server(http11_required_server(b, by_goaway, refused));
            Client c = make_client(client_json(b.name(), "h2-only"));
            Result r = c.send({.method = "POST", .url = server.url("/pay"), .body = "42"});
            REQUIRE_FALSE(r);
            INFO(r.error.message());
            CHECK(r.error.code == http2::errc::http_1_1_required);
            CHECK(error_name(r.error.code) == "http2:http_1_1_required");
            CHECK(r.error.origin == "http2");
            CHECK(r.error.library_code == http2::h2_error::http_1_1_required);
            CHECK(r.error.detail.find("mode h2-only does not speak HTTP/1.1") != std::string::npos);
            CHECK(refused == 1);
            CHECK(server.connections() == 1);
            CHECK(served_over(server, "http/1.1", "POST") == 0);
        });
    }
}

TEST_CASE("HTTP_1_1_REQUIRED with on_http11_required \"fail\": the error, where alpn mode would retry") {
    for_each_backend([&](const tls::Backend& b) {
        std::atomic<int> refused{0};
        TestServer server(http11_required_server(b, false, refused));
        Client c = make_client(client_json(b.name(), "alpn", R"("on_http11_required": "fail")"));
        Result r = c.send({.method = "GET", .url = server.url("/x")});
        REQUIRE_FALSE(r);
        INFO(r.error.message());
        CHECK(r.error.code == http2::errc::http_1_1_required);
        CHECK(r.error.detail.find("on_http11_required \"fail\"") != std::string::npos);
        CHECK(refused == 1);
        CHECK(server.connections() == 1);
        CHECK(c.stats().fallbacks == 0);
    });
}
