// connmatrix/errors/net.hpp - the errors of the I/O driver: category "net".
// Error::origin is "net" for our own checks, "system" when library_code is the OS's errno
// value, "asio" when it is one of Asio's own (end of stream, resolver) values.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::net {

enum class errc {
    bad_url = 1,            // the URL could not be parsed, or has no host
    unsupported_scheme,     // not http:// or https://
    resolve_failed,         // DNS gave no address (the resolver's reason in the detail)
    connect_failed,         // every resolved address refused or failed
    connect_timeout,        // DNS + TCP (+ proxy tunnel) took longer than timeouts.connect
    proxy_failed,           // the CONNECT proxy refused the tunnel or answered nonsense
    tls_timeout,            // the TLS handshake took longer than timeouts.tls
    request_timeout,        // no complete response within the request timeout
    connection_closed,      // the server closed the connection before the response was complete
    io_error,               // a socket error (the OS reason in the detail)
    response_too_large,     // the body exceeded ClientOptions::max_response_body
};

CONNMATRIX_API const ErrorCategory& category() noexcept;
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::net

template <>
struct std::is_error_code_enum<connmatrix::net::errc> : std::true_type {};
