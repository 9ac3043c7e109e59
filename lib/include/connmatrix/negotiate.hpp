/// \file
/// Which protocol to speak on a fresh connection.
///
/// negotiate::decide() is a pure function of the policy, the transport and what the TLS
/// handshake reported about ALPN. It plays the part of proxygen's codec factory: the caller
/// creates an http2::Session or an http1::Codec from the Decision, or reports its error.
///
/// Over TLS, in order:
///
///   - the server selected a protocol by ALPN: it must be one we offered (otherwise
///     selected_protocol_not_offered, or h2_required_but_http1_selected when we offered h2 but
///     not http/1.1), and one we can speak (h2, http/1.1; otherwise unsupported_protocol_selected);
///     the protocol is then confirmed;
///   - the server selected nothing (or we offered nothing): the policy's `no_alpn` decides:
///     http/1.1 (RFC 7301 default), h2 (prior knowledge: assumed, so `fallback` may apply), or
///     fail (h2_required_but_no_alpn when http/1.1 was not offered, else alpn_required_but_none).
///
/// Over cleartext there is no ALPN (anything else is alpn_on_cleartext); `cleartext` decides:
/// http/1.1, h2c (prior knowledge: assumed, fallback may apply) or h2c-upgrade (HTTP/1.1 with an
/// `Upgrade: h2c` offer).
///
/// The fallback's rewrite lives here too, as pure functions: once h2 that was not confirmed has
/// been rejected, the pool remembers HTTP/1.1 for the host, and every attempt meanwhile is
/// "HTTP/1.1 forced". alpn_offer() says what such an attempt offers, attempt_policy() what
/// decide() judges its outcome with; nobody else edits a policy for it.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/errors/negotiate.hpp>
#include <connmatrix/export.hpp>
#include <connmatrix/policy.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace connmatrix::negotiate {

// ---------------------------------------------------------------------------------------------
// Errors: category "negotiate", in connmatrix/errors/negotiate.hpp.

// ---------------------------------------------------------------------------------------------

/// The protocol decide() chooses: HTTP/1.1 or HTTP/2 (connmatrix::Protocol, in this module's
/// own type).
enum class Protocol : std::uint8_t { http1_1, h2 };
/// The protocol's ALPN name.
/// \param p the protocol.
/// \return `"http/1.1"` or `"h2"`.
CONNMATRIX_API std::string_view to_string(Protocol p) noexcept;  // "http/1.1", "h2" (the ALPN names)

/// What the connection runs over: TLS (https://, with ALPN) or cleartext (http://, without).
enum class Transport : std::uint8_t { tls, cleartext };
/// The transport's name, for logs.
/// \param t the transport.
/// \return `"tls"` or `"cleartext"`.
CONNMATRIX_API std::string_view to_string(Transport t) noexcept;  // "tls", "cleartext"

/// What the handshake reported. Names compare byte for byte: "H2" is `other`.
struct CONNMATRIX_API AlpnOutcome {
    /// What the server selected: nothing (no ALPN extension in its answer), h2, http/1.1, or
    /// any other name.
    enum class Kind : std::uint8_t { none, h2, http1_1, other };
    Kind kind = Kind::none;  ///< What the server selected.
    std::string name;  ///< The selected name for `other` (and "h2"/"http/1.1" for those kinds).

    /// \return the outcome of a server that answered without ALPN.
    static AlpnOutcome none() { return {}; }
    /// \return the outcome of a server that selected `"h2"`.
    static AlpnOutcome h2() { return {Kind::h2, "h2"}; }
    /// \return the outcome of a server that selected `"http/1.1"`.
    static AlpnOutcome http1_1() { return {Kind::http1_1, "http/1.1"}; }
    /// The outcome of a server that selected any other protocol.
    /// \param n the name it selected.
    /// \return the outcome, of Kind::other.
    static AlpnOutcome other(std::string n) { return {Kind::other, std::move(n)}; }
    /// From tls::Session::alpn(): nullopt -> none; "h2" -> h2; "http/1.1" -> http1_1; else other.
    /// \param selected what the session reports.
    /// \return the outcome.
    static AlpnOutcome from_selected(const std::optional<std::string>& selected);
    /// The outcome for logs.
    /// \return `"h2"`, `"http/1.1"`, `"none"`, or the quoted name.
    std::string to_string() const;  // "h2", "http/1.1", "none", or the quoted name
};

/// Why the protocol is what it is: whether it was confirmed by the peer or assumed.
enum class Basis : std::uint8_t {
    alpn,             ///< The server selected it by ALPN (confirmed).
    no_alpn_default,  ///< No ALPN answer; no_alpn says http/1.1 (RFC 7301 section 3.2).
    prior_knowledge,  ///< h2 without confirmation (TLS with no_alpn h2, or h2c on cleartext).
    cleartext,        ///< http/1.1 on cleartext, by the cleartext rule.
    h2c_upgrade,      ///< http/1.1 on cleartext, offering `Upgrade: h2c` on the first request.
};
/// The basis's name, for logs.
/// \param b the basis.
/// \return the enumerator's name: `"alpn"`, `"no_alpn_default"`, `"prior_knowledge"`,
///         `"cleartext"`, `"h2c_upgrade"`.
CONNMATRIX_API std::string_view to_string(Basis b) noexcept;

/// What decide() says: the protocol to speak and why, or the error that ends the attempt.
struct CONNMATRIX_API Decision {
    std::error_code error;  ///< Negotiate category; when set, protocol and basis mean nothing.
    Protocol protocol = Protocol::http1_1;  ///< The protocol to speak.
    Basis basis = Basis::alpn;  ///< Why: confirmed by ALPN, or assumed.
    /// h2 was assumed, not confirmed, and the policy says fallback http/1.1: if the server
    /// rejects it (connection error, GOAWAY before any response, HTTP/1.x reply), retry once
    /// over HTTP/1.1 and remember that for policy.remember.
    bool fallback_allowed = false;
    std::string reason;  ///< For logs and ConnectionInfo::decision, in words.

    /// \return whether a protocol was chosen (no error).
    bool ok() const noexcept { return !error; }
    /// \return whether the protocol was chosen and the server confirmed it by ALPN.
    bool confirmed() const noexcept { return ok() && basis == Basis::alpn; }
    /// The refusal as an Error.
    /// \return `{error, reason, 0, "negotiate"}`; no error when ok().
    Error to_error() const;  // {error, reason, 0, "negotiate"}
};

/// Which protocol to speak, by the rules of the file's description. Pure: the same arguments
/// always give the same Decision; no I/O, no state, safe from any thread.
/// \param policy the policy of the attempt (an attempt_policy() when HTTP/1.1 is forced).
/// \param transport TLS or cleartext.
/// \param outcome what the TLS handshake reported about ALPN (none on cleartext).
/// \return the protocol and why, or the negotiate error.
CONNMATRIX_API Decision decide(const policy::Policy& policy, Transport transport, const AlpnOutcome& outcome);
/// decide() on a resolved policy's Policy.
/// \param resolved the resolved policy.
/// \param transport TLS or cleartext.
/// \param outcome what the TLS handshake reported about ALPN.
/// \return the protocol and why, or the negotiate error.
inline Decision decide(const policy::ResolvedPolicy& resolved, Transport transport,
                       const AlpnOutcome& outcome) {
    return decide(resolved.policy, transport, outcome);
}

/// The transport a scheme runs over.
/// \param s the origin's scheme.
/// \return cleartext for http, tls for https.
inline Transport transport_of(policy::Scheme s) noexcept {
    return s == policy::Scheme::http ? Transport::cleartext : Transport::tls;
}

// ---------------------------------------------------------------------------------------------
// One connection attempt, with or without HTTP/1.1 forced by a remembered fallback.

/// The ALPN list to offer, in order (empty: no ALPN extension): the policy's, or when HTTP/1.1
/// is forced the same without "h2" (the server rejected h2 it never confirmed; offering it
/// again would not help).
/// \param policy the resolved policy.
/// \param http1_forced whether a remembered fallback forces HTTP/1.1.
/// \return the names to offer.
CONNMATRIX_API std::vector<std::string> alpn_offer(const policy::Policy& policy, bool http1_forced);

/// The policy decide() judges the attempt's outcome with: `policy` itself, or when HTTP/1.1 is
/// forced the same with alpn = alpn_offer(), no_alpn http/1.1 and cleartext http/1.1, so that
/// no outcome leads to h2 again (no ALPN answer: http/1.1; cleartext: http/1.1).
/// \param policy the resolved policy.
/// \param http1_forced whether a remembered fallback forces HTTP/1.1.
/// \return the policy of this attempt (a copy).
CONNMATRIX_API policy::Policy attempt_policy(const policy::Policy& policy, bool http1_forced);

/// Whether an attempt judged by `policy` (an attempt_policy()) may end up speaking h2, or
/// upgrading to h2c: then the connection being opened will probably carry every request
/// waiting for it, and a pool waits for it rather than opening more.
/// \param policy the attempt's policy.
/// \param transport TLS or cleartext.
/// \return whether h2 is offered, assumed without ALPN, or (cleartext) h2c or h2c-upgrade.
CONNMATRIX_API bool may_speak_h2(const policy::Policy& policy, Transport transport) noexcept;

/// Whether `policy` lets a connection speak HTTP/1.1 at all: TLS offers http/1.1, or takes an
/// answer without ALPN as HTTP/1.1, or falls back to it; cleartext is not h2c by prior
/// knowledge, or falls back. h2-only and prior-knowledge cannot (their presets).
/// \param policy the policy.
/// \param transport TLS or cleartext.
/// \return whether HTTP/1.1 is possible.
CONNMATRIX_API bool may_speak_http1(const policy::Policy& policy, Transport transport) noexcept;

/// A request an h2 server refused with HTTP_1_1_REQUIRED goes again over HTTP/1.1: what the
/// policy says of it. Empty: retry (on_http11_required "http/1.1" and may_speak_http1());
/// otherwise why not, in words.
/// \param policy the policy.
/// \param transport TLS or cleartext.
/// \return "" to retry, or the reason not to (the detail of http2::errc::http_1_1_required).
CONNMATRIX_API std::string http11_retry_refusal(const policy::Policy& policy, Transport transport);

}  // namespace connmatrix::negotiate
