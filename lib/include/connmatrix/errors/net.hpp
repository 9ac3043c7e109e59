/// \file
/// The errors of the I/O driver: category `"net"`. Error::origin is `"net"` for our own checks,
/// `"system"` when library_code is the OS's errno value, `"asio"` when it is one of Asio's own
/// (end of stream, resolver) values.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::net {

/// The errors of the I/O driver, numbered from 1: everything below TLS and HTTP (the URL, name
/// resolution, TCP, the HTTP CONNECT proxy tunnel, the socket), the policy's timeouts
/// (policy::Timeouts) and the response size limit. Each value's stable name (error_name():
/// `"net:<enumerator>"`) and text come from net::category().
enum class errc {
    bad_url = 1,            ///< The URL could not be parsed, or has no host.
    unsupported_scheme,     ///< Not http:// or https://.
    resolve_failed,         ///< DNS gave no address (the resolver's reason in the detail).
    connect_failed,         ///< Every resolved address refused or failed.
    connect_timeout,        ///< DNS + TCP (+ proxy tunnel) took longer than timeouts.connect.
    proxy_failed,           ///< The CONNECT proxy refused the tunnel or answered nonsense.
    tls_timeout,            ///< The TLS handshake took longer than timeouts.tls.
    request_timeout,        ///< No complete response within the request timeout.
    connection_closed,      ///< The server closed the connection before the response was complete.
    io_error,               ///< A socket error (the OS reason in the detail).
    response_too_large,     ///< The body exceeded ClientOptions::max_response_body.
};

/// The `"net"` category: one immutable object for the whole program, naming every errc
/// value (ErrorCategory::enumerator()) and giving its text. Compare categories by address, as
/// with `std::generic_category()`; safe to call from any thread.
/// \return the category of every net::errc code.
CONNMATRIX_API const ErrorCategory& category() noexcept;
/// The `std::error_code` of `e`, in category(). Found by argument-dependent lookup, so that
/// `std::error_code ec = net::errc::connect_failed;` and `ec == net::errc::connect_failed` work.
/// \param e the error.
/// \return `{static_cast<int>(e), category()}`.
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::net

/// Makes connmatrix::net::errc values convertible to `std::error_code`.
template <>
struct std::is_error_code_enum<connmatrix::net::errc> : std::true_type {};
