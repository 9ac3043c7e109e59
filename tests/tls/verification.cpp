// verification: certificate and host-name checks are on by default on every backend, each
// failure has its own code, and turning verification off is visible in the session info.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;
using tls::errc;
using tls::Status;

namespace {

void expect_verified(const Outcome& o) {
    REQUIRE(o.built);
    CHECK_FALSE(o.stuck);
    CHECK(o.client == Status::ok);
    CHECK(o.server == Status::ok);
    CHECK(o.client_error.code == std::error_code{});
    CHECK(o.client_info.verified);
}

void expect_rejected(const Outcome& o, errc code) {
    REQUIRE(o.built);
    CHECK_FALSE(o.stuck);
    CHECK(o.client == Status::failed);
    CHECK(o.client_error.code == code);
    CHECK_FALSE(o.client_error.detail.empty());
    // The client tells the server why (an alert) or at least hangs up: never a success.
    CHECK(o.server != Status::ok);
}

}  // namespace

TEST_CASE("verification is on by default") {
    CHECK(tls::ClientConfig{}.verify);
    CHECK(tls::ClientConfig{}.min_version == tls::Version::tls1_2);
}

TEST_CASE("a good chain passes, for an EC and an RSA leaf, by name and by IP address") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        for (const char* leaf : {"localhost-ec", "localhost-rsa"}) {
            INFO(leaf);
            expect_verified(run_handshake(c, client_config({"h2"}), s, server_config({"h2"}, leaf),
                                          "localhost"));
            expect_verified(run_handshake(c, client_config({"h2"}), s, server_config({"h2"}, leaf),
                                          "127.0.0.1"));
        }
        expect_verified(
            run_handshake(c, client_config(), s, server_config({}, "localhost-ec"), "::1"));
        // Host names compare case-insensitively, and a trailing dot is the same name.
        expect_verified(run_handshake(c, client_config(), s, server_config(), "LocalHost"));
    });
}

TEST_CASE("a certificate for another host fails with hostname mismatch") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        expect_rejected(run_handshake(c, client_config(), s, server_config({}, "other-host"),
                                      "localhost"),
                        errc::certificate_hostname_mismatch);
        // IP literals are checked against iPAddress entries, not names.
        expect_rejected(run_handshake(c, client_config(), s, server_config({}, "localhost-ec"),
                                      "127.0.0.2"),
                        errc::certificate_hostname_mismatch);
        expect_verified(
            run_handshake(c, client_config(), s, server_config({}, "other-host"), "127.0.0.2"));
        expect_verified(run_handshake(c, client_config(), s, server_config({}, "other-host"),
                                      "other.example"));
    });
}

TEST_CASE("an expired certificate fails with certificate expired") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        expect_rejected(
            run_handshake(c, client_config(), s, server_config({}, "expired"), "localhost"),
            errc::certificate_expired);
    });
}

TEST_CASE("a certificate from an unknown CA fails with untrusted") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        expect_rejected(
            run_handshake(c, client_config(), s, server_config({}, "unknown-ca"), "localhost"),
            errc::certificate_untrusted);
    });
}

TEST_CASE("the system trust store does not know the test CA") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        auto ccfg = client_config();
        ccfg.ca_file.clear();  // system store
        expect_rejected(run_handshake(c, ccfg, s, server_config(), "localhost"),
                        errc::certificate_untrusted);
    });
}

TEST_CASE("verification off only when asked, and then the info says unverified") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        auto ccfg = client_config({"h2"});
        ccfg.verify = false;
        for (const char* leaf : {"unknown-ca", "expired", "other-host"}) {
            INFO(leaf);
            const Outcome o = run_handshake(c, ccfg, s, server_config({"h2"}, leaf), "localhost");
            REQUIRE(o.built);
            CHECK(o.client == Status::ok);
            CHECK(o.server == Status::ok);
            CHECK_FALSE(o.client_info.verified);
        }
        // Even a good chain reports unverified when nobody checked it.
        const Outcome o = run_handshake(c, ccfg, s, server_config({"h2"}), "localhost");
        CHECK(o.client == Status::ok);
        CHECK_FALSE(o.client_info.verified);
    });
}

TEST_CASE("SNI carries host names, never IP literals") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        Outcome o = run_handshake(c, client_config(), s, server_config(), "localhost");
        REQUIRE(o.server == Status::ok);
        CHECK(o.server_info.server_name == std::optional<std::string>("localhost"));
        CHECK(o.client_info.server_name == std::optional<std::string>("localhost"));

        o = run_handshake(c, client_config(), s, server_config(), "127.0.0.1");
        REQUIRE(o.server == Status::ok);
        CHECK(o.server_info.server_name == std::nullopt);
        CHECK(o.client_info.server_name == std::nullopt);
    });
}

TEST_CASE("an unreadable CA file or key is a configuration error naming the file") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        auto ccfg = client_config();
        ccfg.ca_file = cert("does-not-exist.pem");
        Error err;
        CHECK(b->client_context(ccfg, err) == nullptr);
        CHECK(err.code == errc::invalid_config);
        CHECK(err.message().find("does-not-exist.pem") != std::string::npos);

        auto scfg = server_config();
        scfg.key_file = cert("missing.key");
        err = {};
        CHECK(b->server_context(scfg, err) == nullptr);
        CHECK(err.code == errc::invalid_config);
        CHECK(err.message().find("missing.key") != std::string::npos);

        // A key that does not belong to the certificate.
        scfg = server_config();
        scfg.key_file = cert("other-host.key");
        err = {};
        CHECK(b->server_context(scfg, err) == nullptr);
        CHECK(err.code == errc::invalid_config);
    }
}
