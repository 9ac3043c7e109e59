// client_pinning: tls.pin end to end over real sockets, on every backend: the right pin gets a
// response, a wrong one is tls:pin_mismatch naming both hashes, and a host rule's pins win over
// the defaults'. The expected hash is the openssl command's (tests/certs/gen-certs.sh).
#include "client_common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;

namespace {

// Defaults pinned to `defaults_pin`; a rule for localhost pinned to `rule_pin` when given.
std::string pinned_json(std::string_view backend, const std::string& defaults_pin,
                        const std::string& rule_pin = {}) {
    std::string j = "{\"defaults\": {\"backend\": \"" + std::string(backend) +
                    "\", \"mode\": \"alpn\", \"tls\": {\"ca_file\": \"" + cert("ca.pem") +
                    "\", \"pin\": [\"" + defaults_pin + "\"]}}";
    if (!rule_pin.empty())
        j += ", \"hosts\": [{\"match\": \"localhost\", \"tls\": {\"pin\": [\"" + rule_pin + "\"]}}]";
    return j + "}";
}

}  // namespace

TEST_CASE("tls.pin over real sockets: the right pin works, a wrong one is pin_mismatch") {
    for (const auto& b : registry().all()) {
        INFO("backend ", b->name());
        auto o = tls_server(*b, {"h2", "http/1.1"});  // the EC localhost leaf
        o.handler = echo_path;
        TestServer server(o);
        const std::string url = server.url("/p");
        REQUIRE(url.find("localhost") != std::string::npos);
        const std::string right = cert_pin("localhost-ec"), wrong = cert_pin("localhost-rsa");

        Client ok = make_client(pinned_json(b->name(), right));
        Result r = ok.send({.method = "GET", .url = url});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.status == 200);
        CHECK(r.response.body == "h2 GET /p");
        CHECK(r.response.info.verified);

        Client bad = make_client(pinned_json(b->name(), wrong));
        Result m = bad.send({.method = "GET", .url = url});
        CHECK_FALSE(m);
        CHECK(m.error.code == tls::errc::pin_mismatch);
        CHECK(error_name(m.error.code) == "tls:pin_mismatch");
        CHECK(m.error.detail ==
              "pinned public key mismatch: expected " + wrong + ", got " + right);

        // The rule for this host wins over the defaults' wrong pin, and the other way round.
        Client by_rule = make_client(pinned_json(b->name(), wrong, right));
        Result rr = by_rule.send({.method = "GET", .url = url});
        INFO(rr.error.message());
        CHECK(rr);
        // The same server as 127.0.0.1 (in its certificate too) gets the defaults' wrong pin: the
        // Client's TLS context cache keeps contexts with other pins apart.
        std::string by_ip = url;
        by_ip.replace(by_ip.find("localhost"), 9, "127.0.0.1");
        Result ri = by_rule.send({.method = "GET", .url = by_ip});
        CHECK(ri.error.code == tls::errc::pin_mismatch);
        Client rule_wrong = make_client(pinned_json(b->name(), right, wrong));
        CHECK(rule_wrong.send({.method = "GET", .url = url}).error.code == tls::errc::pin_mismatch);
    }
}

TEST_CASE("a Config built in code with a malformed pin fails the request, never connects unpinned") {
    const auto& b = registry().default_backend();
    auto o = tls_server(b, {"h2", "http/1.1"});
    o.handler = echo_path;
    TestServer server(o);
    policy::Config cfg;
    cfg.defaults.tls.ca_file = cert("ca.pem");
    cfg.defaults.tls.pin = std::vector<std::string>{"sha256//AAAA"};  // not config::check()ed
    Client c(std::move(cfg));
    Result r = c.send({.method = "GET", .url = server.url("/p")});
    CHECK_FALSE(r);
    CHECK(r.error.code == tls::errc::invalid_config);
    CHECK(r.error.detail ==
          "tls.pin \"sha256//AAAA\": a SHA-256 hash is 32 bytes, this one decodes to 3");
    CHECK(origin_fits(r.error));
}
