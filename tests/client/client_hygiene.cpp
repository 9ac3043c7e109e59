// client_hygiene: TLS hygiene through the Client, proven per backend. A bad certificate fails
// with default settings; turning verification off takes an explicit setting and is logged once
// per Client; TLS 1.0/1.1 are refused by default (a real server capped at TLS 1.1, proven able
// to speak it); no secret, key, cookie, Authorization value or body reaches a log line, at any
// level.
#include "client_common.hpp"

#include <fstream>
#include <mutex>
#include <sstream>

using namespace connmatrix;
using namespace connmatrix::test;

namespace {

// The backend named `name`; a test for a backend the build says is compiled in fails if the
// registry does not have it.
const tls::Backend& backend_named(std::string_view name) {
    const tls::Backend* b = registry().find(name);
    INFO("backend ", name, " is compiled in but not in the registry");
    REQUIRE(b != nullptr);
    return *b;
}

// Every line a Client logged, at trace level.
struct LogCapture {
    std::mutex mu;
    std::vector<std::pair<LogLevel, std::string>> lines;

    ClientOptions options(LogLevel level = LogLevel::trace) {
        ClientOptions o;
        o.log = [this](LogLevel l, std::string_view line) {
            std::lock_guard lock(mu);
            lines.emplace_back(l, std::string(line));
        };
        o.log_level = level;
        return o;
    }
    std::vector<std::string> matching(std::string_view needle, std::optional<LogLevel> at = {}) {
        std::lock_guard lock(mu);
        std::vector<std::string> out;
        for (const auto& [l, s] : lines)
            if (s.find(needle) != std::string::npos && (!at || l == *at)) out.push_back(s);
        return out;
    }
    std::size_t size() {
        std::lock_guard lock(mu);
        return lines.size();
    }
};

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// {"defaults": {"backend": B}}: nothing else, so trust is the system store's.
std::string bare_json(std::string_view backend) {
    return R"({"defaults": {"backend": ")" + std::string(backend) + R"("}})";
}

policy::Policy resolved(const Client& c, const std::string& url) {
    const auto origin = policy::Origin::parse(url);
    REQUIRE(origin.has_value());
    return c.policy().resolve(*origin).policy;
}

Result get(Client& c, const TestServer& s, std::string_view path = "/") {
    return c.send({.method = "GET", .url = s.url(path)});
}

TestServerOptions server_with_leaf(const tls::Backend& b, const std::string& leaf) {
    auto o = tls_server(b, {"h2", "http/1.1"});
    o.tls.cert_file = cert(leaf + ".pem");
    o.tls.key_file = cert(leaf + ".key");
    return o;
}

void bad_certificates_fail_by_default(const tls::Backend& b) {
    {
        // Our test CA is in no system store: with nothing configured, its leaf is untrusted.
        TestServer server(tls_server(b, {"h2", "http/1.1"}));
        Client c = make_client(bare_json(b.name()));
        Result r = get(c, server);
        INFO(r.error.message());
        CHECK_FALSE(r);
        CHECK(r.error.code == tls::errc::certificate_untrusted);
        CHECK(server.requests() == 0);
    }
    // With the test CA trusted (the only setting written), each kind of bad leaf fails as named.
    const std::pair<std::string, tls::errc> cases[] = {
        {"other-host", tls::errc::certificate_hostname_mismatch},
        {"expired", tls::errc::certificate_expired},
        {"unknown-ca", tls::errc::certificate_untrusted},
    };
    Client c = make_client(R"({"defaults": {"backend": ")" + std::string(b.name()) +
                           R"(", "tls": {"ca_file": ")" + cert("ca.pem") + R"("}}})");
    for (const auto& c_case : cases) {
        // Not a structured binding: clang 14 cannot capture one in INFO's lambda.
        const auto& leaf = c_case.first;
        const auto& code = c_case.second;
        INFO("leaf ", leaf);
        TestServer server(server_with_leaf(b, leaf));
        Result r = get(c, server);
        INFO(r.error.message());
        CHECK_FALSE(r);
        CHECK(r.error.code == code);
        CHECK(server.requests() == 0);
    }
    TestServer good(tls_server(b, {"h2", "http/1.1"}));
    Result ok = get(c, good);
    INFO(ok.error.message());
    CHECK(ok);  // the same Client, a good certificate: the failures above were the certificates
}

void verify_off_is_explicit_and_warned_once(const tls::Backend& b) {
    TestServer rogue1(server_with_leaf(b, "unknown-ca"));
    TestServer rogue2(server_with_leaf(b, "unknown-ca"));
    // The policy's default is verification on, whatever the rule or mode.
    {
        Client c = make_client(client_json(b.name(), "alpn"));
        CHECK(resolved(c, rogue1.url("/")).tls.verify);
    }
    const std::string json = R"({"defaults": {"backend": ")" + std::string(b.name()) +
                             R"("}, "hosts": [{"match": "localhost", "tls": {"verify": false}}]})";
    for (int client = 0; client < 2; ++client) {  // once per Client: each one warns
        INFO("Client #", client + 1);
        LogCapture log;
        Client c = make_client(json, log.options(LogLevel::warn));
        for (int i = 0; i < 3; ++i) {
            for (TestServer* s : {&rogue1, &rogue2}) {
                Result r = get(c, *s, "/" + std::to_string(i));
                INFO(r.error.message());
                CHECK(r);
                CHECK_FALSE(r.response.info.verified);
            }
        }
        const auto warnings = log.matching("tls.verify is false", LogLevel::warn);
        REQUIRE(warnings.size() == 1);  // six requests, two origins: one warning
        INFO(warnings[0]);
        CHECK(warnings[0].find("hosts[0] (localhost)") != std::string::npos);  // names the rule
        CHECK(warnings[0].find("NOT verified") != std::string::npos);
    }
    // Verification on: no warning at all.
    LogCapture quiet;
    TestServer good(tls_server(b, {"h2"}));
    Client c = make_client(client_json(b.name(), "alpn"), quiet.options(LogLevel::trace));
    CHECK(get(c, good));
    CHECK(quiet.matching("tls.verify").empty());
}

// A server backend that can be capped at TLS 1.1 and really speaks it, proven by a handshake
// with a client that allows TLS 1.0-1.1 (only a test can ask for that: the configuration
// loader refuses min_version 1.0/1.1). mbedTLS's Debian build enables both; the others may not.
const tls::Backend* tls11_server_backend(tls::ServerConfig& scfg) {
    scfg = server_config({"h2", "http/1.1"});
    scfg.min_version = tls::Version::tls1_0;
    scfg.max_version = tls::Version::tls1_1;
    std::vector<const tls::Backend*> order;
    if (const tls::Backend* m = registry().find("mbedtls")) order.push_back(m);
    for (const auto& b : registry().all())
        if (b->name() != "mbedtls") order.push_back(b.get());
    const tls::Backend* found = nullptr;
    std::string able;
    for (const tls::Backend* s : order) {
        Error err;
        if (!s->server_context(scfg, err)) continue;
        auto ccfg = client_config({"http/1.1"});
        ccfg.min_version = tls::Version::tls1_0;
        ccfg.max_version = tls::Version::tls1_1;
        const Outcome o = run_handshake(*s, ccfg, *s, scfg);
        if (o.built && !o.stuck && o.client == tls::Status::ok &&
            o.client_info.version == tls::Version::tls1_1) {
            if (!found) found = s;
            able += " " + std::string(s->name());
        }
    }
    MESSAGE("backends that serve TLS 1.1 here:", able);
    return found;
}

void old_tls_refused_by_default(const tls::Backend& b) {
    tls::ServerConfig scfg;
    const tls::Backend* server_backend = tls11_server_backend(scfg);
    if (!server_backend)
        FAIL("no compiled-in backend can serve TLS 1.1, so the refusal cannot be shown in this build");
    MESSAGE("client ", b.name(), " against a TLS 1.0-1.1 ", server_backend->name(), " server");
    auto o = tls_server(*server_backend, {"h2", "http/1.1"});
    o.tls = scfg;
    TestServer server(o);
    Client c = make_client(client_json(b.name(), "alpn"));
    CHECK(resolved(c, server.url("/")).tls.min_version == policy::TlsVersion::tls1_2);
    Result r = get(c, server);
    INFO(r.error.message());
    CHECK_FALSE(r);
    CHECK(r.error.code == tls::errc::protocol_version);
    CHECK(server.requests() == 0);
}

#if defined(HYGIENE_OPENSSL) || defined(HYGIENE_GNUTLS)
// tls.max_version "1.2" caps the handshake against a server of ours that speaks TLS 1.3; the
// default (1.3) gets TLS 1.3 wherever the client's library has it (mbedTLS 2.28 does not: 1.2).
// Only a build with OpenSSL or GnuTLS has such a server (see MAX_VERSION_CASE below).
void max_version_caps_the_handshake(const tls::Backend& b) {
    const tls::Backend* server_backend = nullptr;
    for (const auto& s : registry().all())
        if (s->capabilities().tls13 && !server_backend) server_backend = s.get();
    if (!server_backend) FAIL("no compiled-in backend can serve TLS 1.3 in this build");
    MESSAGE("client ", b.name(), " against a TLS 1.2-1.3 ", server_backend->name(), " server");
    TestServer server(tls_server(*server_backend, {"h2", "http/1.1"}));
    std::string capped_json = client_json(b.name(), "alpn");
    const std::string tls_object = "\"tls\": {";
    capped_json.insert(capped_json.find(tls_object) + tls_object.size(), "\"max_version\": \"1.2\", ");
    Client capped = make_client(capped_json);
    CHECK(resolved(capped, server.url("/")).tls.max_version == policy::TlsVersion::tls1_2);
    Result r = get(capped, server);
    INFO(r.error.message());
    REQUIRE(r);
    CHECK(r.response.info.tls_version == "TLSv1.2");
    CHECK(r.response.info.protocol == Protocol::h2);

    Client open = make_client(client_json(b.name(), "alpn"));
    CHECK(resolved(open, server.url("/")).tls.max_version == policy::TlsVersion::tls1_3);
    Result d = get(open, server);
    INFO(d.error.message());
    REQUIRE(d);
    CHECK(d.response.info.tls_version == (b.capabilities().tls13 ? "TLSv1.3" : "TLSv1.2"));
}
#endif

void no_secret_in_any_log_line(const tls::Backend& b) {
    const std::string auth = "Bearer tok-3c0ffee-SECRET-auth";
    const std::string cookie = "session=ck-9f8e7d-SECRET-cookie";
    const std::string set_cookie = "sid=sc-5a5a5a-SECRET-setcookie; HttpOnly";
    const std::string body = "request-body-SECRET-4b1d";
    const std::string answer = "response-body-SECRET-77aa";
    const std::string key = read_file(cert("localhost-ec.key"));
    REQUIRE(key.find("PRIVATE KEY") != std::string::npos);
    // The key's base64 lines: a log line holding any of them leaks it.
    std::vector<std::string> key_lines;
    {
        std::istringstream in(key);
        for (std::string l; std::getline(in, l);)
            if (!l.empty() && l.find("-----") == std::string::npos) key_lines.push_back(l);
    }
    REQUIRE_FALSE(key_lines.empty());

    std::atomic<int> seen_auth{0};
    auto o = tls_server(b, {"h2", "http/1.1"});
    o.handler = [&](const ServedRequest& r) {
        for (const auto& h : r.headers)
            if (h.value == auth) ++seen_auth;
        return ServedResponse{200, {{"content-type", "text/plain"}, {"set-cookie", set_cookie}},
                              answer + " " + r.body};
    };
    TestServer server(o);
    for (const char* mode : {"alpn", "http1"}) {
        INFO("mode ", mode);
        LogCapture log;
        {
            Client c = make_client(client_json(b.name(), mode), log.options(LogLevel::trace));
            for (const char* method : {"POST", "GET"}) {
                Result r = c.send({.method = method,
                                   .url = server.url("/exchange"),
                                   .headers = {{"authorization", auth}, {"cookie", cookie}},
                                   .body = std::string(method) == "POST" ? body : ""});
                INFO(r.error.message());
                REQUIRE(r);
                CHECK(r.response.body.find(answer) == 0);
            }
        }  // closed: its closing lines are in the log too
        // The exchange happened and was logged at trace level, in detail.
        CHECK(log.size() >= 5);
        CHECK_FALSE(log.matching("/exchange").empty());
        for (const std::string& secret :
             {auth, std::string("tok-3c0ffee"), cookie, std::string("ck-9f8e7d"), set_cookie,
              std::string("sc-5a5a5a"), body, answer}) {
            INFO("secret ", secret);
            CHECK(log.matching(secret).empty());
        }
        for (const std::string& l : key_lines) {
            INFO("a line of the private key");
            CHECK(log.matching(l).empty());
        }
        CHECK(log.matching("SECRET").empty());
    }
    CHECK(seen_auth == 4);  // the values did go over the wire, every time
}

}  // namespace

// One set per backend compiled into this build (meson passes which).
#define HYGIENE_CASES(NAME)                                                                    \
    TEST_CASE(NAME ": a bad certificate fails with default settings") {                        \
        bad_certificates_fail_by_default(backend_named(NAME));                                 \
    }                                                                                          \
    TEST_CASE(NAME ": verification off takes an explicit setting and is warned once per Client") { \
        verify_off_is_explicit_and_warned_once(backend_named(NAME));                           \
    }                                                                                          \
    TEST_CASE(NAME ": a server capped at TLS 1.1 is refused by default (tls:protocol_version)") { \
        old_tls_refused_by_default(backend_named(NAME));                                       \
    }                                                                                          \
    TEST_CASE(NAME ": no secret, key, cookie, Authorization value or body in any log line") {  \
        no_secret_in_any_log_line(backend_named(NAME));                                        \
    }
// The server must speak TLS 1.3, which only OpenSSL and GnuTLS do (mbedTLS 2.28 has no TLS
// 1.3): in an mbedTLS-only build there is no such server, and so no such case.
#define MAX_VERSION_CASE(NAME)                                                                 \
    TEST_CASE(NAME ": tls.max_version 1.2 gets TLS 1.2 from a TLS 1.3 server") {               \
        max_version_caps_the_handshake(backend_named(NAME));                                   \
    }

#ifdef HYGIENE_OPENSSL
HYGIENE_CASES("openssl")
MAX_VERSION_CASE("openssl")
#endif
#ifdef HYGIENE_GNUTLS
HYGIENE_CASES("gnutls")
MAX_VERSION_CASE("gnutls")
#endif
#ifdef HYGIENE_MBEDTLS
HYGIENE_CASES("mbedtls")
#if defined(HYGIENE_OPENSSL) || defined(HYGIENE_GNUTLS)
MAX_VERSION_CASE("mbedtls")
#endif
#endif
