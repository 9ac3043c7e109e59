// connmatrix/errors/tls.hpp - the errors of the TLS seam and its backends: category "tls".
// Error::origin is "tls" for the shared checks, or the backend's library ("openssl", "gnutls",
// "mbedtls") whose own text and code the Error carries.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::tls {

enum class errc {
    handshake_failed = 1,           // the handshake failed for a reason with no better code here
    certificate_untrusted,          // chain does not lead to a trusted CA (unknown CA, self-signed)
    certificate_hostname_mismatch,  // chain trusted, but not issued for the host we connect to
    certificate_expired,            // a certificate in the chain has expired (or is not yet valid)
    certificate_invalid,            // any other certificate problem (malformed, bad signature, ...)
    protocol_version,               // no TLS version both sides accept
    alpn_not_offered,               // the server selected an ALPN protocol we never offered
    no_application_protocol,        // no_application_protocol alert (no ALPN overlap)
    truncated,                      // transport EOF without close_notify: an error, never end of data
    closed,                         // the peer sent close_notify (clean end of the stream)
    bad_record,                     // a record failed to decrypt, authenticate or parse
    alert_received,                 // a fatal alert from the peer with no better code here
    invalid_config,                 // unusable configuration: unreadable key, bad PEM, bad ALPN name
    unsupported,                    // this backend's library cannot do what the config (or,
                                    // in a handshake, the peer) asks
    invalid_state,                  // API misuse: write before the handshake, after close, ...
    internal,                       // the library failed in a way that fits nothing above
    pin_mismatch,                   // the peer's public key matches none of ClientConfig::pins
    certificate_required,           // the server demanded a client certificate: none was configured,
                                    // or it refused the one sent (the alert's name in the detail)
};

CONNMATRIX_API const ErrorCategory& category() noexcept;
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::tls

template <>
struct std::is_error_code_enum<connmatrix::tls::errc> : std::true_type {};
