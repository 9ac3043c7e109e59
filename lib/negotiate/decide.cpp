// negotiate::decide(): which protocol to speak, from the policy and the ALPN outcome.
#include <connmatrix/negotiate.hpp>

#include <algorithm>

namespace connmatrix::negotiate {
namespace {

bool offered(const policy::Policy& p, std::string_view name) {
    return std::find(p.alpn.begin(), p.alpn.end(), name) != p.alpn.end();
}

Decision fail(errc e, std::string reason) {
    Decision d;
    d.error = make_error_code(e);
    d.reason = std::move(reason);
    return d;
}

Decision speak(Protocol p, Basis b, bool fallback, std::string reason) {
    Decision d;
    d.protocol = p;
    d.basis = b;
    d.fallback_allowed = fallback;
    d.reason = std::move(reason);
    return d;
}

std::string offer_text(const policy::Policy& p) {
    if (p.alpn.empty()) return "nothing (no ALPN extension)";
    std::string out = "[";
    for (std::size_t i = 0; i < p.alpn.size(); ++i) out += (i ? ", " : "") + p.alpn[i];
    return out + "]";
}

std::string fallback_text(bool fallback) {
    return fallback ? "; if the server rejects it, retry once over http/1.1 (fallback)"
                    : "; no fallback if the server rejects it";
}

}  // namespace

std::string_view to_string(Protocol p) noexcept { return p == Protocol::h2 ? "h2" : "http/1.1"; }

std::string_view to_string(Transport t) noexcept { return t == Transport::tls ? "tls" : "cleartext"; }

std::string_view to_string(Basis b) noexcept {
    switch (b) {
        case Basis::alpn: return "alpn";
        case Basis::no_alpn_default: return "no_alpn_default";
        case Basis::prior_knowledge: return "prior_knowledge";
        case Basis::cleartext: return "cleartext";
        case Basis::h2c_upgrade: return "h2c_upgrade";
    }
    return "?";
}

AlpnOutcome AlpnOutcome::from_selected(const std::optional<std::string>& selected) {
    if (!selected) return none();
    if (*selected == "h2") return h2();
    if (*selected == "http/1.1") return http1_1();
    return other(*selected);
}

std::string AlpnOutcome::to_string() const {
    switch (kind) {
        case Kind::none: return "none";
        case Kind::h2: return "h2";
        case Kind::http1_1: return "http/1.1";
        case Kind::other: return "\"" + name + "\"";
    }
    return "?";
}

Error Decision::to_error() const {
    if (!error) return {};
    return Error(error, reason, 0, "negotiate");
}

Decision decide(const policy::Policy& p, Transport transport, const AlpnOutcome& outcome) {
    using policy::Cleartext;
    using policy::Fallback;
    using policy::NoAlpn;
    const bool fallback = p.fallback == Fallback::http1_1;

    if (transport == Transport::cleartext) {
        if (outcome.kind != AlpnOutcome::Kind::none)
            return fail(errc::alpn_on_cleartext,
                        "ALPN outcome " + outcome.to_string() + " on a cleartext connection, which has no ALPN");
        switch (p.cleartext) {
            case Cleartext::http1_1:
                return speak(Protocol::http1_1, Basis::cleartext, false, "cleartext rule says http/1.1");
            case Cleartext::h2c:
                return speak(Protocol::h2, Basis::prior_knowledge, fallback,
                             "cleartext rule says h2c: h2 by prior knowledge (RFC 9113 section 3.3)" +
                                 fallback_text(fallback));
            case Cleartext::h2c_upgrade:
                return speak(Protocol::http1_1, Basis::h2c_upgrade, false,
                             "cleartext rule says h2c-upgrade: http/1.1 with an Upgrade: h2c offer");
        }
    }

    // TLS: the server selected something.
    if (outcome.kind != AlpnOutcome::Kind::none) {
        const std::string_view name = outcome.kind == AlpnOutcome::Kind::h2        ? "h2"
                                      : outcome.kind == AlpnOutcome::Kind::http1_1 ? "http/1.1"
                                                                                    : std::string_view(outcome.name);
        if (!offered(p, name)) {
            if (outcome.kind == AlpnOutcome::Kind::http1_1 && offered(p, "h2"))
                return fail(errc::h2_required_but_http1_selected,
                            "the server selected http/1.1 by ALPN, but only " + offer_text(p) +
                                " was offered: h2 is required");
            return fail(errc::selected_protocol_not_offered,
                        "the server selected " + outcome.to_string() + " by ALPN, but " + offer_text(p) +
                            " was offered");
        }
        if (outcome.kind == AlpnOutcome::Kind::h2)
            return speak(Protocol::h2, Basis::alpn, false, "the server selected h2 by ALPN");
        if (outcome.kind == AlpnOutcome::Kind::http1_1)
            return speak(Protocol::http1_1, Basis::alpn, false, "the server selected http/1.1 by ALPN");
        return fail(errc::unsupported_protocol_selected,
                    "the server selected " + outcome.to_string() +
                        " by ALPN; it was offered, but connmatrix speaks only h2 and http/1.1");
    }

    // TLS: no ALPN answer (or nothing offered).
    const std::string why = p.alpn.empty() ? "no ALPN was offered" : "the server answered without ALPN";
    switch (p.no_alpn) {
        case NoAlpn::http1_1:
            return speak(Protocol::http1_1, Basis::no_alpn_default, false,
                         why + "; no_alpn says http/1.1 (RFC 7301 section 3.2)");
        case NoAlpn::h2:
            return speak(Protocol::h2, Basis::prior_knowledge, fallback,
                         why + "; no_alpn says h2: prior knowledge, not confirmed by the server" +
                             fallback_text(fallback));
        case NoAlpn::fail:
            if (!offered(p, "http/1.1"))
                return fail(errc::h2_required_but_no_alpn,
                            why + " and no_alpn says fail: h2 is required, offered " + offer_text(p));
            return fail(errc::alpn_required_but_none,
                        why + " and no_alpn says fail (offered " + offer_text(p) + ")");
    }
    return fail(errc::alpn_required_but_none, "unreachable");
}

}  // namespace connmatrix::negotiate
