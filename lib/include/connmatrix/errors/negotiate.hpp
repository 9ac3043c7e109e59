/// \file
/// What negotiate::decide() refuses: category `"negotiate"`. Error::origin is `"negotiate"`.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::negotiate {

/// What negotiate::decide() refuses, numbered from 1: a negotiation outcome the policy does not
/// accept. The TLS handshake itself succeeded; Error::detail (and, in a failed Result,
/// ConnectionInfo::decision) says what was offered and what the server answered. Each value's
/// stable name (error_name(): `"negotiate:<enumerator>"`) and text come from
/// negotiate::category().
enum class errc {
    h2_required_but_no_alpn = 1,     ///< No ALPN from the server, the policy offers only h2 and
                                     ///< says fail.
    alpn_required_but_none,          ///< No ALPN from the server and no_alpn is fail.
    h2_required_but_http1_selected,  ///< The server chose http/1.1, which we did not offer (h2
                                     ///< only).
    selected_protocol_not_offered,   ///< The server chose a protocol we did not offer.
    unsupported_protocol_selected,   ///< The server chose an offered protocol we cannot speak.
    alpn_on_cleartext,               ///< An ALPN outcome other than none on a cleartext connection.
};

/// The `"negotiate"` category: one immutable object for the whole program, naming every errc
/// value (ErrorCategory::enumerator()) and giving its text. Compare categories by address, as
/// with `std::generic_category()`; safe to call from any thread.
/// \return the category of every negotiate::errc code.
CONNMATRIX_API const ErrorCategory& category() noexcept;
/// The `std::error_code` of `e`, in category(). Found by argument-dependent lookup, so that
/// `std::error_code ec = negotiate::errc::alpn_required_but_none;` and comparisons work.
/// \param e the error.
/// \return `{static_cast<int>(e), category()}`.
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::negotiate

/// Makes connmatrix::negotiate::errc values convertible to `std::error_code`.
template <>
struct std::is_error_code_enum<connmatrix::negotiate::errc> : std::true_type {};
