/// \file
/// The errors of the TLS seam and its backends: category `"tls"`. Error::origin is `"tls"` for
/// the shared checks, or the backend's library (`"openssl"`, `"gnutls"`, `"mbedtls"`) whose own
/// text and code the Error carries.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::tls {

/// The errors of the TLS seam and its backends, numbered from 1. Each library's own failures
/// are mapped onto these, so that the same failure has the same enumerator on OpenSSL, GnuTLS
/// and mbedTLS; Error::library_code and Error::detail keep the library's code and text, to
/// search for. Each value's stable name (error_name(): `"tls:<enumerator>"`) and text come from
/// tls::category().
enum class errc {
    handshake_failed = 1,           ///< The handshake failed for a reason with no better code here.
    certificate_untrusted,          ///< The chain does not lead to a trusted CA (unknown CA,
                                    ///< self-signed).
    certificate_hostname_mismatch,  ///< The chain is trusted, but not issued for the host we
                                    ///< connect to.
    certificate_expired,            ///< A certificate in the chain has expired (or is not yet
                                    ///< valid).
    certificate_invalid,            ///< Any other certificate problem (malformed, bad signature,
                                    ///< ...).
    protocol_version,               ///< No TLS version both sides accept.
    alpn_not_offered,               ///< The server selected an ALPN protocol we never offered.
    no_application_protocol,        ///< A no_application_protocol alert (no ALPN overlap).
    truncated,                      ///< Transport EOF without close_notify: an error, never end of
                                    ///< data.
    closed,                         ///< The peer sent close_notify (clean end of the stream).
    bad_record,                     ///< A record failed to decrypt, authenticate or parse.
    alert_received,                 ///< A fatal alert from the peer with no better code here.
    invalid_config,                 ///< Unusable configuration: unreadable key, bad PEM, bad ALPN
                                    ///< name.
    unsupported,                    ///< This backend's library cannot do what the config (or,
                                    ///< in a handshake, the peer) asks.
    invalid_state,                  ///< The session was misused: write before the handshake,
                                    ///< after close, ...
    internal,                       ///< The library failed in a way that fits nothing above.
    pin_mismatch,                   ///< The peer's public key matches none of ClientConfig::pins.
    certificate_required,           ///< The server demanded a client certificate: none was
                                    ///< configured,
                                    ///< or it refused the one sent (the alert's name in the
                                    ///< detail).
};

/// The `"tls"` category: one immutable object for the whole program, naming every errc
/// value (ErrorCategory::enumerator()) and giving its text. Compare categories by address, as
/// with `std::generic_category()`; safe to call from any thread.
/// \return the category of every tls::errc code.
CONNMATRIX_API const ErrorCategory& category() noexcept;
/// The `std::error_code` of `e`, in category(). Found by argument-dependent lookup, so that
/// `std::error_code ec = tls::errc::truncated;` and `ec == tls::errc::truncated` work.
/// \param e the error.
/// \return `{static_cast<int>(e), category()}`.
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::tls

/// Makes connmatrix::tls::errc values convertible to `std::error_code`.
template <>
struct std::is_error_code_enum<connmatrix::tls::errc> : std::true_type {};
