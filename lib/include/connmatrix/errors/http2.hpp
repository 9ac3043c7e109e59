/// \file
/// The errors of the HTTP/2 layer: category `"http2"`. Error::library_code carries nghttp2's own
/// (negative) error code (origin `"nghttp2"`), or the HTTP/2 error code (RFC 9113 section 7) of
/// a RST_STREAM or GOAWAY; Error::detail the text.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::http2 {

/// The errors of the HTTP/2 layer, numbered from 1: the nghttp2 client session, and the limits
/// of ClientOptions::h2. A connection error ends every request on that connection, a stream
/// error only its own. A request the server provably did not process (REFUSED_STREAM, above a
/// GOAWAY's last stream id) is not failed but sent again on another connection, up to three
/// connections (then pool::errc::retries_exhausted). Each value's stable name (error_name():
/// `"http2:<enumerator>"`) and text come from http2::category().
enum class errc {
    protocol_error = 1,  ///< The peer broke the protocol (nghttp2's text and code in the Error).
    stream_reset,        ///< The stream was reset (RST_STREAM; its error code in library_code).
    refused_stream,      ///< The server did not process the stream: safe to retry elsewhere.
    goaway,              ///< GOAWAY was sent or received: no new streams on this connection.
    flow_control,        ///< Flow-control violation (a window beyond 2^31-1, DATA beyond one).
    frame_size,          ///< A frame of invalid size.
    compression,         ///< HPACK state is broken.
    header_invalid,      ///< A header field is malformed, forbidden, or the list too large
                         ///< (Http2Limits::max_header_list_size).
    not_h2,              ///< The peer does not speak HTTP/2 (it answered our preface with
                         ///< HTTP/1.x text, or anything but SETTINGS).
    closed,              ///< The connection is finished (transport closed, session terminated).
    invalid_state,       ///< The session was misused: unknown stream, stream ids exhausted, ...
    internal,            ///< nghttp2 failed internally (out of memory, callback failure).
    flood,               ///< The server sent more frames that do no work than a limit allows
                         ///< (PING, SETTINGS, empty DATA, CONTINUATION, ...: ClientOptions::h2).
    too_many_resets,     ///< The server reset more of our streams than ClientOptions::h2 allows.
    settings_timeout,    ///< The server sent no SETTINGS, which must come first (RFC 9113 3.4),
                         ///< within the policy's TLS timeout.
    http_1_1_required,   ///< The server speaks h2 but refused this request with HTTP_1_1_REQUIRED
                         ///< (RST_STREAM or GOAWAY 0xd), and the policy does not allow HTTP/1.1
                         ///< (h2-only, prior-knowledge, on_http11_required "fail").
};

/// The `"http2"` category: one immutable object for the whole program, naming every errc
/// value (ErrorCategory::enumerator()) and giving its text. Compare categories by address, as
/// with `std::generic_category()`; safe to call from any thread.
/// \return the category of every http2::errc code.
CONNMATRIX_API const ErrorCategory& category() noexcept;
/// The `std::error_code` of `e`, in category(). Found by argument-dependent lookup, so that
/// `std::error_code ec = http2::errc::flood;` and `ec == http2::errc::flood` work.
/// \param e the error.
/// \return `{static_cast<int>(e), category()}`.
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::http2

/// Makes connmatrix::http2::errc values convertible to `std::error_code`.
template <>
struct std::is_error_code_enum<connmatrix::http2::errc> : std::true_type {};
