// The fallback's rewrite of a connection attempt: for every mode preset, with and without
// HTTP/1.1 forced (a remembered fallback), what is offered, what decide() then makes of the
// typical server answers over TLS and of a cleartext connection, and whether the attempt may
// end up multiplexed.
#include <connmatrix/negotiate.hpp>

#include <doctest/doctest.h>

#include "checks.hpp"

#include <optional>
#include <string>
#include <vector>

namespace policy = connmatrix::policy;
namespace negotiate = connmatrix::negotiate;
using negotiate::AlpnOutcome;
using negotiate::Basis;
using negotiate::errc;
using negotiate::Protocol;
using negotiate::Transport;
using policy::Mode;

namespace {

// What decide() makes of one outcome: a protocol on some basis, or a refusal.
struct Verdict {
    std::optional<errc> refused;
    Protocol protocol = Protocol::http1_1;
    Basis basis = Basis::alpn;
    bool fallback = false;
};

const Verdict h2_by_alpn{std::nullopt, Protocol::h2, Basis::alpn};
const Verdict http1_by_alpn{std::nullopt, Protocol::http1_1, Basis::alpn};
const Verdict http1_no_alpn{std::nullopt, Protocol::http1_1, Basis::no_alpn_default};
const Verdict h2_assumed{std::nullopt, Protocol::h2, Basis::prior_knowledge};
const Verdict h2_assumed_may_fall_back{std::nullopt, Protocol::h2, Basis::prior_knowledge, true};
const Verdict http1_cleartext{std::nullopt, Protocol::http1_1, Basis::cleartext};
const Verdict not_offered{errc::selected_protocol_not_offered};
const Verdict h2_needed_no_alpn{errc::h2_required_but_no_alpn};
const Verdict h2_needed_got_http1{errc::h2_required_but_http1_selected};

using Offer = std::vector<std::string>;
const Offer both{"h2", "http/1.1"};
const Offer h2{"h2"};
const Offer http1{"http/1.1"};
const Offer nothing{};

struct Row {
    Mode mode;
    bool forced;           // HTTP/1.1 remembered for the host
    Offer offer;           // the ALPN list the attempt sends
    Verdict none, sel_h2, sel_http1;  // the TLS server selected nothing, h2, http/1.1
    Verdict cleartext;     // an http:// origin
    bool mux_tls, mux_cleartext;  // may_speak_h2(): worth waiting for this connect
};

constexpr bool forced = true;
constexpr bool fresh = false;

// clang-format off
const std::vector<Row> table = {
    // mode                      HTTP/1.1  offer    no ALPN answer      h2 selected   http/1.1 selected     cleartext                 multiplex tls/clear
    {Mode::alpn,                 fresh,    both,    http1_no_alpn,      h2_by_alpn,   http1_by_alpn,        http1_cleartext,          true,  false},
    {Mode::alpn,                 forced,   http1,   http1_no_alpn,      not_offered,  http1_by_alpn,        http1_cleartext,          false, false},
    {Mode::h2_only,              fresh,    h2,      h2_needed_no_alpn,  h2_by_alpn,   h2_needed_got_http1,  h2_assumed,               true,  true},
    {Mode::h2_only,              forced,   nothing, http1_no_alpn,      not_offered,  not_offered,          http1_cleartext,          false, false},
    {Mode::http1,                fresh,    http1,   http1_no_alpn,      not_offered,  http1_by_alpn,        http1_cleartext,          false, false},
    {Mode::http1,                forced,   http1,   http1_no_alpn,      not_offered,  http1_by_alpn,        http1_cleartext,          false, false},
    {Mode::prior_knowledge,      fresh,    nothing, h2_assumed,         not_offered,  not_offered,          h2_assumed,               true,  true},
    {Mode::prior_knowledge,      forced,   nothing, http1_no_alpn,      not_offered,  not_offered,          http1_cleartext,          false, false},
    {Mode::prior_knowledge_alpn, fresh,    both,    h2_assumed_may_fall_back, h2_by_alpn, http1_by_alpn,    h2_assumed_may_fall_back, true,  true},
    {Mode::prior_knowledge_alpn, forced,   http1,   http1_no_alpn,      not_offered,  http1_by_alpn,        http1_cleartext,          false, false},
    {Mode::h2_only_prior_knowledge, fresh, h2,      h2_assumed,         h2_by_alpn,   h2_needed_got_http1,  h2_assumed,               true,  true},
    {Mode::h2_only_prior_knowledge, forced, nothing, http1_no_alpn,     not_offered,  not_offered,          http1_cleartext,          false, false},
};
// clang-format on

void check(const negotiate::Decision& d, const Verdict& v) {
    INFO("decide() said: ", d.reason);
    CHECK_FALSE(d.reason.empty());
    if (v.refused) {
        REQUIRE_FALSE(d.ok());
        CHECK(d.error == negotiate::make_error_code(*v.refused));
        return;
    }
    REQUIRE(d.ok());
    CHECK(d.protocol == v.protocol);
    CHECK(d.basis == v.basis);
    CHECK(d.fallback_allowed == v.fallback);
}

const Row* row_for(Mode m, bool http1_forced) {
    for (const auto& r : table)
        if (r.mode == m && r.forced == http1_forced) return &r;
    return nullptr;
}

}  // namespace

TEST_SUITE("negotiate_fallback") {

TEST_CASE("every mode preset x HTTP/1.1 forced or not: the offer and the decisions it leads to") {
    for (Mode m : policy::all_modes)
        for (bool f : {fresh, forced}) {
            INFO("mode ", policy::to_string(m), f ? ", HTTP/1.1 forced" : ", not forced");
            const Row* row = row_for(m, f);
            REQUIRE(row);
            const policy::Policy p = policy::Policy::for_mode(m, "openssl");
            CHECK(negotiate::alpn_offer(p, f) == row->offer);
            const policy::Policy judge = negotiate::attempt_policy(p, f);
            CHECK(judge.alpn == row->offer);
            struct {
                const char* what;
                Transport transport;
                AlpnOutcome outcome;
                const Verdict& want;
            } const cells[] = {
                {"TLS, no ALPN answer", Transport::tls, AlpnOutcome::none(), row->none},
                {"TLS, h2 selected", Transport::tls, AlpnOutcome::h2(), row->sel_h2},
                {"TLS, http/1.1 selected", Transport::tls, AlpnOutcome::http1_1(), row->sel_http1},
                {"cleartext", Transport::cleartext, AlpnOutcome::none(), row->cleartext},
            };
            for (const auto& cell : cells) {
                INFO(cell.what);
                check(negotiate::decide(judge, cell.transport, cell.outcome), cell.want);
            }
            CHECK(negotiate::may_speak_h2(judge, Transport::tls) == row->mux_tls);
            CHECK(negotiate::may_speak_h2(judge, Transport::cleartext) == row->mux_cleartext);
        }
    CHECK(table.size() == policy::all_modes.size() * 2);
}

TEST_CASE("not forced, the attempt is judged by the policy itself") {
    for (Mode m : policy::all_modes) {
        const policy::Policy p = policy::Policy::for_mode(m, "gnutls");
        CHECK(negotiate::attempt_policy(p, false) == p);
    }
}

TEST_CASE("forced, only the negotiation axes change: backend, TLS, limits and proxy stay") {
    policy::Policy p = policy::Policy::for_mode(Mode::prior_knowledge_alpn, "mbedtls");
    p.alpn = {"h2", "spdy/3.1", "http/1.1"};
    p.tls.verify = false;
    p.tls.ca_file = "ca.pem";
    p.timeouts.connect = std::chrono::milliseconds(250);
    p.pool.max_connections_per_host = 3;
    p.proxy = policy::ProxyEndpoint{"proxy.test", 3128};
    policy::Policy judge = negotiate::attempt_policy(p, true);
    CHECK(judge.alpn == Offer{"spdy/3.1", "http/1.1"});  // only h2 goes, the order stays
    CHECK(judge.no_alpn == policy::NoAlpn::http1_1);
    CHECK(judge.cleartext == policy::Cleartext::http1_1);
    judge.alpn = p.alpn;
    judge.no_alpn = p.no_alpn;
    judge.cleartext = p.cleartext;
    CHECK(judge == p);
}

TEST_CASE("a forced attempt never ends in h2, whatever the axes say") {
    policy::Policy p = policy::Policy::for_mode(Mode::prior_knowledge, "openssl");
    p.fallback = policy::Fallback::http1_1;
    p.no_alpn = policy::NoAlpn::fail;  // explicit axes over the preset: still http/1.1 forced
    const policy::Policy judge = negotiate::attempt_policy(p, true);
    for (const AlpnOutcome& o : {AlpnOutcome::none(), AlpnOutcome::h2(), AlpnOutcome::http1_1()}) {
        const auto d = negotiate::decide(judge, Transport::tls, o);
        INFO(o.to_string(), ": ", d.reason);
        CHECK_FALSE((d.ok() && d.protocol == Protocol::h2));
        CHECK_FALSE(d.fallback_allowed);
    }
    CHECK(negotiate::decide(judge, Transport::cleartext, AlpnOutcome::none()).protocol ==
          Protocol::http1_1);
}

TEST_CASE("the transport of an origin's scheme") {
    CHECK(negotiate::transport_of(policy::Scheme::https) == Transport::tls);
    CHECK(negotiate::transport_of(policy::Scheme::http) == Transport::cleartext);
}

}  // TEST_SUITE

TEST_CASE("HTTP_1_1_REQUIRED: which modes retry over HTTP/1.1 (may_speak_http1, http11_retry_refusal)") {
    struct Expect {
        Mode mode;
        bool tls, cleartext;  // retried over HTTP/1.1 on an https:// / http:// origin
    };
    // alpn and http1 offer http/1.1 and speak it on cleartext; prior-knowledge-alpn offers it
    // and falls back; h2-only and prior-knowledge never speak it.
    const Expect table[] = {
        {Mode::alpn, true, true},
        {Mode::h2_only, false, false},
        {Mode::http1, true, true},
        {Mode::prior_knowledge, false, false},
        {Mode::prior_knowledge_alpn, true, true},
        {Mode::h2_only_prior_knowledge, false, false},
    };
    CHECK(std::size(table) == policy::all_modes.size());
    for (const Expect& e : table) {
        INFO(policy::to_string(e.mode));
        policy::Policy p = policy::Policy::for_mode(e.mode, "openssl");
        CHECK(negotiate::may_speak_http1(p, Transport::tls) == e.tls);
        CHECK(negotiate::may_speak_http1(p, Transport::cleartext) == e.cleartext);
        CHECK(negotiate::http11_retry_refusal(p, Transport::tls).empty() == e.tls);
        CHECK(negotiate::http11_retry_refusal(p, Transport::cleartext).empty() == e.cleartext);
        if (!e.tls)
            CHECK(negotiate::http11_retry_refusal(p, Transport::tls)
                      .starts_with("mode " + std::string(policy::to_string(e.mode)) +
                                   " does not speak HTTP/1.1"));
        // on_http11_required "fail" refuses in every mode, and says so.
        p.on_http11_required = policy::OnHttp11Required::fail;
        CHECK(negotiate::http11_retry_refusal(p, Transport::tls) ==
              "the policy says on_http11_required \"fail\"");
        CHECK(negotiate::http11_retry_refusal(p, Transport::cleartext) ==
              "the policy says on_http11_required \"fail\"");
    }
    // An explicit fallback makes a mode that assumes h2 retry too.
    policy::Policy pk = policy::Policy::for_mode(Mode::prior_knowledge, "openssl");
    pk.fallback = policy::Fallback::http1_1;
    CHECK(negotiate::may_speak_http1(pk, Transport::tls));
    CHECK(negotiate::may_speak_http1(pk, Transport::cleartext));
}
