// alpn_matrix: every client backend x every server backend, in memory, for each ALPN case the
// issue lists. Each cell asserts the exact outcome: the protocol, "none", or which error.
// Run twice by Meson: as is (TLS 1.3 where both sides can) and with TLS 1.2 forced.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;
using tls::errc;
using tls::Status;

namespace {

using Offer = std::vector<std::string>;

void expect_selected(const Outcome& o, const std::optional<std::string>& want) {
    REQUIRE(o.built);
    CHECK_FALSE(o.stuck);
    CHECK(o.client == Status::ok);
    CHECK(o.server == Status::ok);
    CHECK(o.client_error.code == std::error_code{});
    CHECK(o.server_error.code == std::error_code{});
    CHECK(o.client_alpn == want);
    CHECK(o.server_alpn == want);
}

}  // namespace

TEST_CASE("the registry holds the compiled backends, by name") {
    REQUIRE(registry().size() >= 1);
    for (const auto& b : registry().all()) CHECK(registry().find(b->name()) == b.get());
    CHECK(registry().find("wolfssl") == nullptr);
    CHECK(registry().find(registry().default_backend().name()) != nullptr);
}

TEST_CASE("client offers [h2, http/1.1], server prefers h2: h2") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        expect_selected(run_handshake(c, client_config({"h2", "http/1.1"}), s,
                                      server_config({"h2", "http/1.1"})),
                        "h2");
    });
}

TEST_CASE("server preference wins over client order") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        expect_selected(run_handshake(c, client_config({"h2", "http/1.1"}), s,
                                      server_config({"http/1.1", "h2"})),
                        "http/1.1");
    });
}

TEST_CASE("server speaks only http/1.1: http/1.1") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        expect_selected(
            run_handshake(c, client_config({"h2", "http/1.1"}), s, server_config({"http/1.1"})),
            "http/1.1");
    });
}

TEST_CASE("server ignores ALPN: no extension back, none on both sides") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        auto scfg = server_config({"h2", "http/1.1"});
        scfg.alpn_mode = tls::ServerAlpn::ignore;
        expect_selected(run_handshake(c, client_config({"h2", "http/1.1"}), s, scfg),
                        std::nullopt);
    });
}

TEST_CASE("client offers nothing: no ALPN extension, none on both sides") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        expect_selected(run_handshake(c, client_config({}), s, server_config({"h2", "http/1.1"})),
                        std::nullopt);
    });
}

TEST_CASE("no overlap, server configured to alert: no_application_protocol on both sides") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        auto scfg = server_config({"http/1.1"});
        scfg.alert_on_no_overlap = true;
        const Outcome o = run_handshake(c, client_config({"h2"}), s, scfg);
        REQUIRE(o.built);
        CHECK_FALSE(o.stuck);
        CHECK(o.client == Status::failed);
        CHECK(o.client_error.code == errc::no_application_protocol);
        CHECK(o.server == Status::failed);
        CHECK(o.server_error.code == errc::no_application_protocol);
        CHECK_FALSE(o.client_error.detail.empty());  // the library's own words travel along
    });
}

TEST_CASE("no overlap, server configured not to alert: handshake completes without ALPN") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        auto scfg = server_config({"http/1.1"});
        scfg.alert_on_no_overlap = false;
        expect_selected(run_handshake(c, client_config({"h2"}), s, scfg), std::nullopt);
    });
}

// A server whose alpn_select chooses what the client never offered (a broken server): where the
// server's library cannot send it, the server fails with errc::unsupported, never something else.
static void expect_unoffered_refused(const tls::Backend& c, const tls::Backend& s, const Offer& offer,
                              tls::ServerConfig scfg, const std::string& forced) {
    scfg.alpn_select = force_alpn(forced);
    const Outcome o = run_handshake(c, client_config(offer), s, scfg);
    REQUIRE(o.built);
    CHECK_FALSE(o.stuck);
    CHECK(o.client == Status::failed);
    if (!s.capabilities().server_force_alpn) {
        CHECK(o.server == Status::failed);
        CHECK(o.server_error.code == errc::unsupported);
        CHECK(o.server_error.detail.find(forced) != std::string::npos);
        CHECK(o.client_error.code == errc::no_application_protocol);
        return;
    }
    // The library or the core refuses it: a typed error naming the protocol; never used.
    CHECK(o.client_error.code == errc::alpn_not_offered);
    CHECK(o.client_error.detail.find("\"" + forced + "\"") != std::string::npos);
    CHECK(o.client_alpn == std::nullopt);
}

TEST_CASE("server selects a protocol the client never offered: rejected, never used") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        expect_unoffered_refused(c, s, {"h2", "http/1.1"}, server_config({"h2", "http/1.1"}),
                                 "spdy/3.1");
    });
}

TEST_CASE("a server's alpn_select decides, within the client's offer") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        auto scfg = server_config({"h2"});  // the selector overrides the list
        scfg.alpn_select = [](const std::vector<std::string>& offered) {
            return offered.size() > 1 ? tls::AlpnAnswer::select(offered.back())
                                      : tls::AlpnAnswer::none();
        };
        expect_selected(run_handshake(c, client_config({"h2", "http/1.1"}), s, scfg), "http/1.1");
        expect_selected(run_handshake(c, client_config({"h2"}), s, scfg), std::nullopt);
        scfg.alpn_select = [](const std::vector<std::string>&) { return tls::AlpnAnswer::refuse(); };
        const Outcome o = run_handshake(c, client_config({"h2"}), s, scfg);
        CHECK(o.client_error.code == errc::no_application_protocol);
        CHECK(o.server_error.code == errc::no_application_protocol);
    });
}

TEST_CASE("protocol names are compared case-sensitively") {
    SUBCASE("client offers \"H2\", server knows \"h2\": no overlap") {
        for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
            const Outcome o = run_handshake(c, client_config({"H2"}), s, server_config({"h2"}));
            REQUIRE(o.built);
            CHECK_FALSE(o.stuck);
            CHECK(o.client_error.code == errc::no_application_protocol);
        });
    }
    SUBCASE("client offers \"HTTP/1.1\" and \"h2\", server knows \"http/1.1\" and \"h2\": h2") {
        for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
            expect_selected(run_handshake(c, client_config({"HTTP/1.1", "h2"}), s,
                                          server_config({"http/1.1", "h2"})),
                            "h2");
        });
    }
    SUBCASE("server forces \"H2\" when the client offered \"h2\": not offered") {
        for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
            expect_unoffered_refused(c, s, {"h2"}, server_config({"h2"}), "H2");
        });
    }
}

TEST_CASE("an invalid offer is refused when the context is made") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        for (const Offer& bad : {Offer{""}, Offer{"h2", std::string(256, 'x')}}) {
            Error err;
            CHECK(b->client_context(client_config(bad), err) == nullptr);
            CHECK(err.code == errc::invalid_config);
        }
        // RFC 7301 allows 255 bytes. GnuTLS 3.7 caps names at 31 bytes (and lists at 8): it must
        // then say so, not truncate or drop the name.
        Error err;
        auto ctx = b->client_context(client_config({std::string(255, 'x')}), err);
        if (b->name() == std::string_view("gnutls")) {
            CHECK(ctx == nullptr);
            CHECK(err.code == errc::unsupported);
        } else {
            CHECK(ctx != nullptr);
        }
    }
}
