// connmatrix/errors/negotiate.hpp - what negotiate::decide() refuses: category "negotiate".
// Error::origin is "negotiate".
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::negotiate {

enum class errc {
    h2_required_but_no_alpn = 1,     // no ALPN from the server, policy offers only h2 and says fail
    alpn_required_but_none,          // no ALPN from the server and no_alpn is fail
    h2_required_but_http1_selected,  // the server chose http/1.1, which we did not offer (h2 only)
    selected_protocol_not_offered,   // the server chose a protocol we did not offer
    unsupported_protocol_selected,   // the server chose an offered protocol we cannot speak
    alpn_on_cleartext,               // an ALPN outcome other than none on a cleartext connection
};

CONNMATRIX_API const ErrorCategory& category() noexcept;
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::negotiate

template <>
struct std::is_error_code_enum<connmatrix::negotiate::errc> : std::true_type {};
