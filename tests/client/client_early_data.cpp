// client_early_data: TLS 1.3 early data (0-RTT, policy tls.early_data) end to end over real
// sockets, on every client backend that has it (OpenSSL, GnuTLS) against every server backend
// that has it, over h2 and HTTP/1.1. A first request gets a ticket allowing early data; after
// close_idle_connections() the next connection resumes it and carries a bodyless GET in its
// first flight. The server counts what it processed: every request exactly once, whether its
// early data was accepted or rejected, and a 425 Too Early is retried once without early data.
#include "client_common.hpp"

#include <atomic>

using namespace connmatrix;
using namespace connmatrix::test;

namespace {

std::vector<const tls::Backend*> with_early_data() {
    std::vector<const tls::Backend*> out;
    for (const auto& b : registry().all())
        if (b->capabilities().early_data) out.push_back(b.get());
    return out;
}

TestServerOptions early_server(const tls::Backend& b, std::vector<std::string> alpn,
                               std::uint32_t max_early = 16384) {
    auto o = tls_server(b, std::move(alpn));
    o.tls.max_early_data = max_early;
    o.handler = echo_path;
    return o;
}

std::string early_json(std::string_view backend, std::string_view mode,
                       std::string_view tls_extra = {}) {
    return "{\"defaults\": {\"backend\": \"" + std::string(backend) + "\", \"mode\": \"" +
           std::string(mode) + "\", \"tls\": {\"ca_file\": \"" + cert("ca.pem") +
           "\", \"early_data\": true" +
           (tls_extra.empty() ? std::string() : ", " + std::string(tls_extra)) + "}}}";
}

std::size_t served_count(const TestServer& s, const std::string& target) {
    std::size_t n = 0;
    for (const auto& r : s.served()) n += r.target == target;
    return n;
}

// A first connection, for its ticket, then no idle connection left: the next request resumes.
void prime(Client& c, const TestServer& server) {
    Result first = c.send({.method = "GET", .url = server.url("/prime")});
    INFO(first.error.message());
    REQUIRE(first);
    CHECK(first.response.info.early_data == EarlyData::not_attempted);  // nothing to resume yet
    CHECK_FALSE(first.response.info.early);
    c.close_idle_connections();
}

}  // namespace

TEST_CASE("accepted: a GET goes in the first flight of a resumed connection, h2 and HTTP/1.1") {
    const auto backends = with_early_data();
    // OpenSSL and GnuTLS have it, mbedTLS 2.28 (no TLS 1.3) does not.
    CHECK(backends.size() == std::size_t(registry().find("openssl") != nullptr) +
                                 std::size_t(registry().find("gnutls") != nullptr));
    for (const tls::Backend* sb : backends)
        for (const tls::Backend* cb : backends)
            for (const char* mode : {"alpn", "http1"}) {
                INFO("client ", cb->name(), ", server ", sb->name(), ", mode ", std::string(mode));
                TestServer server(early_server(*sb, {"h2", "http/1.1"}));
                Client c = make_client(early_json(cb->name(), mode));
                prime(c, server);
                Result r = c.send({.method = "GET", .url = server.url("/early")});
                INFO(r.error.message());
                REQUIRE(r);
                const ConnectionInfo& i = r.response.info;
                CHECK(i.resumed == std::optional<bool>(true));
                CHECK(i.early_data == EarlyData::accepted);
                CHECK(i.early);
                CHECK(i.protocol == (std::string_view(mode) == "alpn" ? Protocol::h2 : Protocol::http1_1));
                CHECK(r.response.status == 200);
                CHECK(r.response.body ==
                      std::string(std::string_view(mode) == "alpn" ? "h2" : "http/1.1") + " GET /early");
                CHECK(served_count(server, "/early") == 1);  // delivered once, not again
                // Timed from the first flight, which went before the handshake began.
                CHECK(i.timings.first_byte >= i.timings.tls);
                CHECK(i.timings.tls.count() > 0);
                const auto early = server.early_seen();
                REQUIRE(early.size() == 2);
                CHECK(early[0] == tls::EarlyData::not_attempted);
                CHECK(early[1] == tls::EarlyData::accepted);
                // The connection goes on as any other: the next request is not early data.
                Result next = c.send({.method = "GET", .url = server.url("/next")});
                REQUIRE(next);
                CHECK(next.response.info.reused);
                CHECK_FALSE(next.response.info.early);
                CHECK(next.response.info.early_data == EarlyData::accepted);
                CHECK(served_count(server, "/next") == 1);
                CHECK(c.stats().connections_opened == 2);
            }
}

TEST_CASE("rejected: a server that cannot resume the ticket gets the GET after the handshake, once") {
    for (const tls::Backend* b : with_early_data()) {
        for (const char* mode : {"alpn", "http1"}) {
            INFO("backend ", b->name(), ", mode ", std::string(mode));
            TestServer server(early_server(*b, {"h2", "http/1.1"}));
            Client c = make_client(early_json(b->name(), mode));
            prime(c, server);
            server.new_context();  // its ticket keys change: the early data cannot be read
            Result r = c.send({.method = "GET", .url = server.url("/again")});
            INFO(r.error.message());
            REQUIRE(r);
            CHECK(r.response.info.early_data == EarlyData::rejected);
            CHECK_FALSE(r.response.info.early);
            CHECK(r.response.info.resumed == std::optional<bool>(false));
            CHECK(r.response.status == 200);
            CHECK(served_count(server, "/again") == 1);
            const auto early = server.early_seen();
            REQUIRE(early.size() == 2);
            CHECK(early[1] == tls::EarlyData::rejected);
        }
    }
}

TEST_CASE("425 Too Early: retried once after the handshake; a POST or a body never goes early") {
    for (const tls::Backend* b : with_early_data()) {
        for (const char* mode : {"alpn", "http1"}) {
            INFO("backend ", b->name(), ", mode ", std::string(mode));
            auto o = early_server(*b, {"h2", "http/1.1"});
            std::atomic<int> too_early_calls{0};
            o.handler = [&](const ServedRequest& rq) -> ServedResponse {
                // The first /late is the one that came as early data (the test checks it).
                if (rq.target == "/late" && too_early_calls++ == 0) return {425, {}, "too early"};
                return echo_path(rq);
            };
            TestServer server(o);
            Client c = make_client(early_json(b->name(), mode));
            prime(c, server);
            Result r = c.send({.method = "GET", .url = server.url("/late")});
            INFO(r.error.message());
            REQUIRE(r);
            CHECK(r.response.status == 200);
            CHECK_FALSE(r.response.info.early);  // the answer is to the retry
            CHECK(served_count(server, "/late") == 2);
            REQUIRE(server.early_seen().size() == 2);
            CHECK(server.early_seen()[1] == tls::EarlyData::accepted);
            CHECK(c.stats().retries == 1);

            // POST: not idempotent, and a body; it waits for the handshake, processed once.
            c.close_idle_connections();
            Result post = c.send({.method = "POST", .url = server.url("/post"), .body = "b"});
            REQUIRE(post);
            CHECK(post.response.info.early_data == EarlyData::not_attempted);
            CHECK(post.response.info.resumed == std::optional<bool>(true));
            CHECK(served_count(server, "/post") == 1);
        }
    }
}

TEST_CASE("early_data_methods and the ticket's limit decide what goes early") {
    for (const tls::Backend* b : with_early_data()) {
        INFO("backend ", b->name());
        {
            // HEAD, over h2 too: no body, and the connection goes on.
            TestServer server(early_server(*b, {"h2", "http/1.1"}));
            Client c = make_client(early_json(b->name(), "alpn"));
            prime(c, server);
            Result head = c.send({.method = "HEAD", .url = server.url("/head")});
            INFO(head.error.message());
            REQUIRE(head);
            CHECK(head.response.info.early);
            CHECK(head.response.body.empty());
            CHECK(served_count(server, "/head") == 1);
        }
        {
            // OPTIONS only: a GET waits for the handshake.
            TestServer server(early_server(*b, {"h2", "http/1.1"}));
            Client c = make_client(early_json(b->name(), "alpn", "\"early_data_methods\": [\"OPTIONS\"]"));
            prime(c, server);
            Result get = c.send({.method = "GET", .url = server.url("/get")});
            REQUIRE(get);
            CHECK(get.response.info.early_data == EarlyData::not_attempted);
            c.close_idle_connections();
            Result options = c.send({.method = "OPTIONS", .url = server.url("/options")});
            INFO(options.error.message());
            REQUIRE(options);
            CHECK(options.response.info.early);
            CHECK(served_count(server, "/options") == 1);
        }
        {
            // A ticket allowing 64 bytes: an HTTP/1.1 GET with a long header does not fit.
            TestServer server(early_server(*b, {"http/1.1"}, 64));
            Client c = make_client(early_json(b->name(), "http1"));
            prime(c, server);
            Result big = c.send({.method = "GET", .url = server.url("/big"),
                                 .headers = {{"x-long", std::string(100, 'x')}}});
            REQUIRE(big);
            CHECK(big.response.info.early_data == EarlyData::not_attempted);
            CHECK(big.response.info.resumed == std::optional<bool>(true));
            CHECK(served_count(server, "/big") == 1);
        }
        {
            // Off (the default): never early data, though the ticket would allow it.
            TestServer server(early_server(*b, {"h2", "http/1.1"}));
            Client c = make_client(client_json(b->name(), "alpn"));
            prime(c, server);
            Result r = c.send({.method = "GET", .url = server.url("/off")});
            REQUIRE(r);
            CHECK(r.response.info.early_data == EarlyData::not_attempted);
            CHECK(r.response.info.resumed == std::optional<bool>(true));
            CHECK(server.early_seen().back() == tls::EarlyData::not_attempted);
        }
    }
}

TEST_CASE("a backend without early data refuses tls.early_data when the Client starts") {
    if (!registry().find("mbedtls")) return;  // only mbedTLS 2.28 lacks it (no TLS 1.3)
    Error err;
    auto c = Client::from_json(early_json("mbedtls", "alpn"), err);
    CHECK_FALSE(c.has_value());
    CHECK(err.code == tls::errc::unsupported);
    CHECK(err.detail.find("defaults.tls.early_data (backend mbedtls)") != std::string::npos);
    const std::string rule = "{\"defaults\": {\"tls\": {\"early_data\": true}}, \"hosts\": "
                             "[{\"match\": \"m.example\", \"backend\": \"mbedtls\"}]}";
    if (registry().all().size() > 1) {
        auto d = Client::from_json(rule, err);
        CHECK_FALSE(d.has_value());
        CHECK(err.detail.find("defaults.tls.early_data (in hosts[0]) (backend mbedtls)") !=
              std::string::npos);
    }
}
