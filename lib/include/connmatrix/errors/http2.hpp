// connmatrix/errors/http2.hpp - the errors of the HTTP/2 layer: category "http2".
// Error::library_code carries nghttp2's own (negative) error code (origin "nghttp2"), or the
// HTTP/2 error code (RFC 9113 section 7) of a RST_STREAM or GOAWAY; Error::detail the text.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::http2 {

enum class errc {
    protocol_error = 1,  // the peer broke the protocol (nghttp2's text and code in the Error)
    stream_reset,        // the stream was reset (RST_STREAM; its error code in library_code)
    refused_stream,      // the server did not process the stream: safe to retry elsewhere
    goaway,              // GOAWAY was sent or received: no new streams on this connection
    flow_control,        // flow-control violation
    frame_size,          // a frame of invalid size
    compression,         // HPACK state is broken
    header_invalid,      // a header field is malformed, forbidden, or the list is too large
    not_h2,              // the peer does not speak HTTP/2 (it answered our preface with
                         // HTTP/1.x text, or anything but SETTINGS)
    closed,              // the connection is finished (transport closed, session terminated)
    invalid_state,       // API misuse: unknown stream, bad option, stream ids exhausted, ...
    internal,            // nghttp2 failed internally (out of memory, callback failure)
    flood,               // the server sent more frames that do no work than a limit allows
                         // (PING, SETTINGS, empty DATA, CONTINUATION, ...: ClientOptions::h2)
    too_many_resets,     // the server reset more of our streams than ClientOptions::h2 allows
    settings_timeout,    // the server sent no SETTINGS, which must come first (RFC 9113 3.4)
    http_1_1_required,   // the server speaks h2 but refused this request with HTTP_1_1_REQUIRED
                         // (RST_STREAM or GOAWAY 0xd), and the policy does not allow HTTP/1.1
                         // (h2-only, prior-knowledge, on_http11_required "fail")
};

CONNMATRIX_API const ErrorCategory& category() noexcept;
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::http2

template <>
struct std::is_error_code_enum<connmatrix::http2::errc> : std::true_type {};
