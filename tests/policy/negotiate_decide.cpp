// negotiate::decide(): every mode x every ALPN outcome x both transports, as a table that reads
// like the spec, then the axes one by one (explicit values over a mode's preset).
#include <connmatrix/negotiate.hpp>

#include <doctest/doctest.h>

#include "checks.hpp"

#include <string>
#include <vector>

namespace policy = connmatrix::policy;
namespace negotiate = connmatrix::negotiate;
using negotiate::AlpnOutcome;
using negotiate::Basis;
using negotiate::Decision;
using negotiate::errc;
using negotiate::Protocol;
using negotiate::Transport;
using policy::Mode;

namespace {

struct Expect {
    bool ok;
    Protocol protocol = Protocol::http1_1;
    Basis basis = Basis::alpn;
    bool fallback = false;
    errc error = errc::h2_required_but_no_alpn;
};

// The vocabulary of the table.
constexpr Transport tls = Transport::tls;
constexpr Transport cleartext = Transport::cleartext;
enum class Server { selects_h2, selects_http1, selects_nothing, selects_unexpected };
constexpr Server h2 = Server::selects_h2;
constexpr Server http1 = Server::selects_http1;
constexpr Server none = Server::selects_nothing;
constexpr Server spdy = Server::selects_unexpected;  // "spdy/3.1": never offered by any mode

Expect speaks_h2_confirmed() { return {true, Protocol::h2, Basis::alpn, false, {}}; }
Expect speaks_http1_confirmed() { return {true, Protocol::http1_1, Basis::alpn, false, {}}; }
Expect speaks_http1_by_no_alpn_rule() { return {true, Protocol::http1_1, Basis::no_alpn_default, false, {}}; }
Expect speaks_h2_assumed() { return {true, Protocol::h2, Basis::prior_knowledge, false, {}}; }
Expect speaks_h2_assumed_with_fallback() { return {true, Protocol::h2, Basis::prior_knowledge, true, {}}; }
Expect speaks_http1_cleartext() { return {true, Protocol::http1_1, Basis::cleartext, false, {}}; }
Expect fails(errc e) { return {false, Protocol::http1_1, Basis::alpn, false, e}; }

AlpnOutcome outcome_of(Server s) {
    switch (s) {
        case Server::selects_h2: return AlpnOutcome::h2();
        case Server::selects_http1: return AlpnOutcome::http1_1();
        case Server::selects_nothing: return AlpnOutcome::none();
        case Server::selects_unexpected: return AlpnOutcome::other("spdy/3.1");
    }
    return {};
}

struct Row {
    Mode mode;
    Transport transport;
    Server server;
    Expect expect;
};

// clang-format off
const std::vector<Row> table = {
    // mode                       transport  server  -> what connmatrix does
    // alpn: offer [h2, http/1.1]; no ALPN answer -> http/1.1 (RFC 7301, RFC 9113 3.2)
    {Mode::alpn,                  tls,       h2,     speaks_h2_confirmed()},
    {Mode::alpn,                  tls,       http1,  speaks_http1_confirmed()},
    {Mode::alpn,                  tls,       none,   speaks_http1_by_no_alpn_rule()},
    {Mode::alpn,                  tls,       spdy,   fails(errc::selected_protocol_not_offered)},
    {Mode::alpn,                  cleartext, none,   speaks_http1_cleartext()},
    // h2-only: offer [h2]; anything but h2 -> error
    {Mode::h2_only,               tls,       h2,     speaks_h2_confirmed()},
    {Mode::h2_only,               tls,       http1,  fails(errc::h2_required_but_http1_selected)},
    {Mode::h2_only,               tls,       none,   fails(errc::h2_required_but_no_alpn)},
    {Mode::h2_only,               tls,       spdy,   fails(errc::selected_protocol_not_offered)},
    {Mode::h2_only,               cleartext, none,   speaks_h2_assumed()},
    // http1: offer [http/1.1]
    {Mode::http1,                 tls,       h2,     fails(errc::selected_protocol_not_offered)},
    {Mode::http1,                 tls,       http1,  speaks_http1_confirmed()},
    {Mode::http1,                 tls,       none,   speaks_http1_by_no_alpn_rule()},
    {Mode::http1,                 tls,       spdy,   fails(errc::selected_protocol_not_offered)},
    {Mode::http1,                 cleartext, none,   speaks_http1_cleartext()},
    // prior-knowledge: no ALPN extension, h2 at once; a selection is one we never offered
    {Mode::prior_knowledge,       tls,       h2,     fails(errc::selected_protocol_not_offered)},
    {Mode::prior_knowledge,       tls,       http1,  fails(errc::selected_protocol_not_offered)},
    {Mode::prior_knowledge,       tls,       none,   speaks_h2_assumed()},
    {Mode::prior_knowledge,       tls,       spdy,   fails(errc::selected_protocol_not_offered)},
    {Mode::prior_knowledge,       cleartext, none,   speaks_h2_assumed()},
    // prior-knowledge-alpn: offer [h2, http/1.1], follow the server, h2 when it selects nothing,
    // and fall back to http/1.1 if that unconfirmed h2 is rejected
    {Mode::prior_knowledge_alpn,  tls,       h2,     speaks_h2_confirmed()},
    {Mode::prior_knowledge_alpn,  tls,       http1,  speaks_http1_confirmed()},
    {Mode::prior_knowledge_alpn,  tls,       none,   speaks_h2_assumed_with_fallback()},
    {Mode::prior_knowledge_alpn,  tls,       spdy,   fails(errc::selected_protocol_not_offered)},
    {Mode::prior_knowledge_alpn,  cleartext, none,   speaks_h2_assumed_with_fallback()},
    // h2-only-prior-knowledge (curl 8.10+ --http2-prior-knowledge, reqwest http2_prior_knowledge()):
    // offer [h2] only; h2 when the server selects it or nothing; no fallback
    {Mode::h2_only_prior_knowledge, tls,     h2,     speaks_h2_confirmed()},
    {Mode::h2_only_prior_knowledge, tls,     http1,  fails(errc::h2_required_but_http1_selected)},
    {Mode::h2_only_prior_knowledge, tls,     none,   speaks_h2_assumed()},
    {Mode::h2_only_prior_knowledge, tls,     spdy,   fails(errc::selected_protocol_not_offered)},
    {Mode::h2_only_prior_knowledge, cleartext, none, speaks_h2_assumed()},
};
// clang-format on

std::string describe(const Row& r) {
    return std::string(policy::to_string(r.mode)) + " over " + std::string(negotiate::to_string(r.transport)) +
           ", server ALPN " + outcome_of(r.server).to_string();
}

void check_row(const Decision& d, const Expect& e) {
    CHECK(!d.reason.empty());
    if (e.ok) {
        REQUIRE_MESSAGE(d.ok(), d.reason);
        CHECK(d.protocol == e.protocol);
        CHECK(d.basis == e.basis);
        CHECK(d.fallback_allowed == e.fallback);
        CHECK(d.confirmed() == (e.basis == Basis::alpn));
    } else {
        REQUIRE_FALSE(d.ok());
        CHECK(d.error == negotiate::make_error_code(e.error));
        CHECK(std::string(d.error.category().name()) == "negotiate");
        CHECK_FALSE(d.confirmed());
    }
}

}  // namespace

TEST_SUITE("negotiate_decide") {

TEST_CASE("every mode x every ALPN outcome x both transports") {
    std::size_t covered = 0;
    for (Mode m : policy::all_modes)
        for (Transport t : {tls, cleartext})
            for (Server s : {h2, http1, none, spdy}) {
                const Row* row = nullptr;
                for (const auto& r : table)
                    if (r.mode == m && r.transport == t && r.server == s) row = &r;
                const policy::Policy p = policy::Policy::for_mode(m, "openssl");
                const Decision d = negotiate::decide(p, t, outcome_of(s));
                Row probe{m, t, s, {}};
                INFO(describe(probe), " -> ", d.reason);
                if (row) {
                    check_row(d, row->expect);
                } else {
                    // Cleartext has no ALPN: any outcome but none is a caller bug, whatever the mode.
                    REQUIRE(t == cleartext);
                    check_row(d, fails(errc::alpn_on_cleartext));
                }
                ++covered;
            }
    CHECK(covered == policy::all_modes.size() * 2 * 4);
    CHECK(table.size() == policy::all_modes.size() * (4 + 1));  // every TLS cell and every cleartext cell with no ALPN
}

TEST_CASE("the reason says what happened, in words") {
    auto p = policy::Policy::for_mode(Mode::prior_knowledge_alpn);
    auto d = negotiate::decide(p, tls, AlpnOutcome::none());
    CHECK(d.reason.find("without ALPN") != std::string::npos);
    CHECK(d.reason.find("fallback") != std::string::npos);

    p = policy::Policy::for_mode(Mode::h2_only);
    d = negotiate::decide(p, tls, AlpnOutcome::http1_1());
    CHECK(d.reason == "the server selected http/1.1 by ALPN, but only [h2] was offered: h2 is required");
    CHECK(d.to_error().message() ==
          "negotiate: h2 required, but the server selected http/1.1 (negotiate: the server selected "
          "http/1.1 by ALPN, but only [h2] was offered: h2 is required)");

    p = policy::Policy::for_mode(Mode::alpn);
    d = negotiate::decide(p, tls, AlpnOutcome::none());
    CHECK(d.reason.find("RFC 7301") != std::string::npos);
    CHECK_FALSE(d.to_error());
}

TEST_CASE("explicit axes override the mode: each axis on its own") {
    SUBCASE("no_alpn fail with http/1.1 offered: alpn_required_but_none") {
        auto p = policy::Policy::for_mode(Mode::alpn);
        p.no_alpn = policy::NoAlpn::fail;
        auto d = negotiate::decide(p, tls, AlpnOutcome::none());
        CHECK(d.error == errc::alpn_required_but_none);
    }
    SUBCASE("h2-only with no_alpn h2: h2 by prior knowledge instead of an error") {
        auto p = policy::Policy::for_mode(Mode::h2_only);
        p.no_alpn = policy::NoAlpn::h2;
        auto d = negotiate::decide(p, tls, AlpnOutcome::none());
        REQUIRE(d.ok());
        CHECK(d.protocol == Protocol::h2);
        CHECK(d.basis == Basis::prior_knowledge);
        CHECK_FALSE(d.fallback_allowed);
    }
    SUBCASE("prior-knowledge with fallback http/1.1") {
        auto p = policy::Policy::for_mode(Mode::prior_knowledge);
        p.fallback = policy::Fallback::http1_1;
        auto d = negotiate::decide(p, tls, AlpnOutcome::none());
        CHECK(d.fallback_allowed);
    }
    SUBCASE("fallback never applies to a protocol the server confirmed") {
        auto p = policy::Policy::for_mode(Mode::prior_knowledge_alpn);
        auto d = negotiate::decide(p, tls, AlpnOutcome::h2());
        CHECK(d.confirmed());
        CHECK_FALSE(d.fallback_allowed);
    }
    SUBCASE("an offered protocol connmatrix cannot speak") {
        auto p = policy::Policy::for_mode(Mode::alpn);
        p.alpn = {"h2", "spdy/3.1", "http/1.1"};
        auto d = negotiate::decide(p, tls, AlpnOutcome::other("spdy/3.1"));
        CHECK(d.error == errc::unsupported_protocol_selected);
    }
    SUBCASE("ALPN names are case-sensitive: \"H2\" is not h2") {
        auto p = policy::Policy::for_mode(Mode::alpn);
        auto d = negotiate::decide(p, tls, AlpnOutcome::from_selected(std::string("H2")));
        CHECK(d.error == errc::selected_protocol_not_offered);
        CHECK(d.reason.find("\"H2\"") != std::string::npos);
    }
    SUBCASE("h2c-upgrade: http/1.1 with an upgrade offer") {
        auto p = policy::Policy::for_mode(Mode::alpn);
        p.cleartext = policy::Cleartext::h2c_upgrade;
        auto d = negotiate::decide(p, cleartext, AlpnOutcome::none());
        REQUIRE(d.ok());
        CHECK(d.protocol == Protocol::http1_1);
        CHECK(d.basis == Basis::h2c_upgrade);
    }
    SUBCASE("cleartext http/1.1 on a prior-knowledge policy") {
        auto p = policy::Policy::for_mode(Mode::prior_knowledge);
        p.cleartext = policy::Cleartext::http1_1;
        auto d = negotiate::decide(p, cleartext, AlpnOutcome::none());
        CHECK(d.protocol == Protocol::http1_1);
        CHECK(d.basis == Basis::cleartext);
    }
    SUBCASE("the TLS layer's ALPN result maps onto outcomes") {
        CHECK(AlpnOutcome::from_selected(std::nullopt).kind == AlpnOutcome::Kind::none);
        CHECK(AlpnOutcome::from_selected(std::string("h2")).kind == AlpnOutcome::Kind::h2);
        CHECK(AlpnOutcome::from_selected(std::string("http/1.1")).kind == AlpnOutcome::Kind::http1_1);
        CHECK(AlpnOutcome::from_selected(std::string("http/1.0")).kind == AlpnOutcome::Kind::other);
    }
}

TEST_CASE("the negotiate category") {
    const auto& cat = negotiate::category();
    CHECK(std::string(cat.name()) == "negotiate");
    for (int v = 1; v <= static_cast<int>(errc::alpn_on_cleartext); ++v)
        CHECK(cat.message(v).find("unknown") == std::string::npos);
    std::error_code ec = errc::h2_required_but_no_alpn;  // implicit, via is_error_code_enum
    CHECK(ec.category() == cat);
    CHECK(negotiate::to_string(Protocol::h2) == "h2");
    CHECK(negotiate::to_string(Protocol::http1_1) == "http/1.1");
}

}  // TEST_SUITE
