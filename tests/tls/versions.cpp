// versions: TLS 1.3 where both sides can, TLS 1.2 when either side is capped or cannot.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;
using tls::Status;
using tls::Version;

TEST_CASE("TLS 1.3 where both sides can, else TLS 1.2; both sides agree") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        const Outcome o = run_handshake(c, client_config(), s, server_config());
        REQUIRE(o.client == Status::ok);
        REQUIRE(o.server == Status::ok);
        const bool both13 = c.capabilities().tls13 && s.capabilities().tls13 &&
                            max_version_from_env() == Version::tls1_3;
        CHECK(o.client_info.version == (both13 ? Version::tls1_3 : Version::tls1_2));
        CHECK(o.server_info.version == o.client_info.version);
        CHECK_FALSE(o.client_info.cipher.empty());
        CHECK_FALSE(o.server_info.cipher.empty());
    });
}

TEST_CASE("a cap on either side gives TLS 1.2") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        auto ccfg = client_config();
        ccfg.max_version = Version::tls1_2;
        Outcome o = run_handshake(c, ccfg, s, server_config());
        CHECK(o.client_info.version == Version::tls1_2);
        CHECK(o.server_info.version == Version::tls1_2);

        auto scfg = server_config();
        scfg.max_version = Version::tls1_2;
        o = run_handshake(c, client_config(), s, scfg);
        CHECK(o.client_info.version == Version::tls1_2);
        CHECK(o.server_info.version == Version::tls1_2);
    });
}

TEST_CASE("mbedTLS pairs negotiate TLS 1.2") {
    const tls::Backend* mbed = registry().find("mbedtls");
    if (!mbed) {
        MESSAGE("mbedtls is not compiled into this build");
        return;
    }
    CHECK_FALSE(mbed->capabilities().tls13);
    for (const auto& other : registry().all()) {
        INFO(other->name());
        CHECK(run_handshake(*mbed, client_config(), *other, server_config()).client_info.version ==
              Version::tls1_2);
        CHECK(run_handshake(*other, client_config(), *mbed, server_config()).client_info.version ==
              Version::tls1_2);
    }
}

TEST_CASE("a client that requires TLS 1.3 and a server capped at 1.2: protocol_version") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        auto ccfg = client_config();
        ccfg.min_version = Version::tls1_3;
        ccfg.max_version = Version::tls1_3;
        if (!c.capabilities().tls13) {
            Error err;
            CHECK(c.client_context(ccfg, err) == nullptr);
            CHECK(err.code == tls::errc::unsupported);
            return;
        }
        auto scfg = server_config();
        scfg.max_version = Version::tls1_2;
        const Outcome o = run_handshake(c, ccfg, s, scfg);
        REQUIRE(o.built);
        CHECK_FALSE(o.stuck);
        CHECK(o.client == Status::failed);
        CHECK(o.server == Status::failed);
        // The server sees a ClientHello with only TLS 1.3 and refuses it.
        CHECK(o.server_error.code == tls::errc::protocol_version);
        CHECK(o.client_error.code == tls::errc::protocol_version);
    });
}

TEST_CASE("TLS 1.0 and 1.1 are never negotiated by default") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        auto scfg = server_config();
        scfg.min_version = Version::tls1_0;
        scfg.max_version = Version::tls1_1;
        Error err;
        auto ctx = s.server_context(scfg, err);
        if (!ctx) {
            // A library built without TLS 1.0/1.1 may refuse; then there is nothing to test.
            CHECK(err.code == tls::errc::unsupported);
            return;
        }
        const Outcome o = run_handshake(c, client_config(), s, scfg);
        REQUIRE(o.built);
        CHECK_FALSE(o.stuck);
        CHECK(o.client == Status::failed);
        CHECK(o.client_error.code == tls::errc::protocol_version);
    });
}
