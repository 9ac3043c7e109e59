// pinning: tls::ClientConfig::pins (curl's CURLOPT_PINNEDPUBLICKEY "sha256//" form) on every
// backend pair, for an EC and an RSA server key. The expected hashes come from the openssl
// command at build time (tests/certs/gen-certs.sh writes <leaf>.pin), not from the library.
#include "common.hpp"

#include <connmatrix/policy.hpp>


using namespace connmatrix;
using namespace connmatrix::test;
using tls::errc;
using tls::Status;

namespace {

tls::Pin pin_of(const std::string& text) {
    std::string why;
    auto p = policy::parse_pin(text, &why);
    REQUIRE_MESSAGE(p, why);
    return *p;
}

tls::ClientConfig pinned(std::vector<std::string> pins, bool verify = true) {
    tls::ClientConfig c = client_config({"h2"});
    c.verify = verify;
    for (const auto& p : pins) c.pins.push_back(pin_of(p));
    return c;
}

constexpr const char* leaves[] = {"localhost-ec", "localhost-rsa"};
// The other leaf's key: a real pin that is wrong for this server.
std::string other_leaf(std::string_view leaf) {
    return leaf == "localhost-ec" ? "localhost-rsa" : "localhost-ec";
}

void expect_accepted(const Outcome& o) {
    REQUIRE(o.built);
    CHECK_FALSE(o.stuck);
    CHECK(o.client == Status::ok);
    CHECK(o.server == Status::ok);
    CHECK(o.client_error.code == std::error_code{});
}

void expect_mismatch(const Outcome& o, const std::string& expected, const std::string& seen) {
    REQUIRE(o.built);
    CHECK_FALSE(o.stuck);
    CHECK(o.client == Status::failed);
    CHECK(o.client_error.code == errc::pin_mismatch);
    CHECK(error_name(o.client_error.code) == "tls:pin_mismatch");
    CHECK(o.client_error.origin == "tls");
    CHECK(o.client_error.detail ==
          "pinned public key mismatch: expected " + expected + ", got " + seen);
}

}  // namespace

TEST_CASE("the right pin is accepted, for an EC and an RSA server key") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        for (const char* leaf : leaves) {
            INFO(leaf);
            const Outcome o = run_handshake(c, pinned({cert_pin(leaf)}), s, server_config({"h2"}, leaf));
            expect_accepted(o);
            CHECK(o.client_info.verified);
            CHECK(o.client_alpn == std::optional<std::string>("h2"));
        }
    });
}

TEST_CASE("a wrong pin fails with tls:pin_mismatch naming the expected and the seen hash") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        for (const char* leaf : leaves) {
            INFO(leaf);
            const std::string wrong = cert_pin(other_leaf(leaf));
            expect_mismatch(run_handshake(c, pinned({wrong}), s, server_config({"h2"}, leaf)), wrong,
                            cert_pin(leaf));
            // Two wrong pins: both are named.
            const std::string zero = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
            expect_mismatch(run_handshake(c, pinned({wrong, zero}), s, server_config({"h2"}, leaf)),
                            wrong + " or " + zero, cert_pin(leaf));
        }
    });
}

TEST_CASE("several pins: one matching is enough, wherever it is in the list") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        for (const char* leaf : leaves) {
            INFO(leaf);
            const std::string right = cert_pin(leaf), wrong = cert_pin(other_leaf(leaf));
            expect_accepted(run_handshake(c, pinned({wrong, right}), s, server_config({"h2"}, leaf)));
            expect_accepted(run_handshake(c, pinned({right, wrong}), s, server_config({"h2"}, leaf)));
        }
    });
}

TEST_CASE("pins are enforced with verification off, and are checked after verification") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        // An unknown CA's leaf: verification off lets the chain through, the pin decides.
        const std::string rogue = cert_pin("unknown-ca");
        expect_mismatch(run_handshake(c, pinned({cert_pin("localhost-ec")}, false), s,
                                      server_config({"h2"}, "unknown-ca")),
                        cert_pin("localhost-ec"), rogue);
        const Outcome ok = run_handshake(c, pinned({rogue}, false), s, server_config({"h2"}, "unknown-ca"));
        expect_accepted(ok);
        CHECK_FALSE(ok.client_info.verified);
        // With verification on, a right pin does not excuse an untrusted chain: that error wins.
        const Outcome untrusted =
            run_handshake(c, pinned({rogue}), s, server_config({"h2"}, "unknown-ca"));
        CHECK(untrusted.client == Status::failed);
        CHECK(untrusted.client_error.code == errc::certificate_untrusted);
    });
}

TEST_CASE("a resumed session is pinned too, and never crosses to a context with other pins") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        Error err;
        auto sctx = s.server_context(server_config({"h2"}), err);
        auto right = c.client_context(pinned({cert_pin("localhost-ec")}), err);
        auto wrong = c.client_context(pinned({cert_pin("localhost-rsa")}), err);
        REQUIRE(sctx);
        REQUIRE(right);
        REQUIRE(wrong);
        Pair first;
        REQUIRE(connect(first, right, sctx).client == Status::ok);
        CHECK(send_and_receive(first, Direction::to_client, "ticket, please") == "ticket, please");
        CHECK(send_and_receive(first, Direction::to_server, "thanks") == "thanks");
        settle(first);
        const auto exported = first.client->export_session();
        REQUIRE_FALSE(exported.empty());

        Pair again;
        const HandshakeResult r = connect(again, right, sctx, exported);
        CHECK(r.client == Status::ok);
        CHECK(again.client->error().code == std::error_code{});
        CHECK(again.client->info().resumed == std::optional<bool>(true));

        // The envelope is bound to the pins: another context's session is ignored, the full
        // handshake sees the key and fails on it.
        Pair other;
        const HandshakeResult w = connect(other, wrong, sctx, exported);
        CHECK(w.client == Status::failed);
        CHECK(other.client->error().code == errc::pin_mismatch);
        CHECK_FALSE(other.client->info().resume_ignored.empty());
    });
}
