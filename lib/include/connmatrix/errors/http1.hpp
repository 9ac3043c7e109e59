// connmatrix/errors/http1.hpp - the errors of the HTTP/1.1 codec: category "http1".
// Error::origin is "http1"; Error::detail names what was wrong.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::http1 {

enum class errc {
    malformed_status_line = 1,      // not "HTTP/1.x NNN reason", status outside 100..599, CTLs
    malformed_request_line,         // not "METHOD target HTTP/1.x"
    malformed_header,               // bad name, whitespace before ':', obs-fold, CTL, bad Host
    header_too_large,               // start line + fields (or trailers) over max_header_bytes
    too_many_headers,               // more than max_headers fields (or trailer fields)
    bad_content_length,             // not 1*DIGIT, overflowing, or duplicates that differ
    bad_chunk,                      // chunk-size not hex, overflowing, missing CRLF after data
    body_too_large,                 // body over max_body
    unexpected_eof,                 // EOF before the message was complete
    transfer_encoding_unsupported,  // any Transfer-Encoding but exactly "chunked"
    version_unsupported,            // HTTP/0.9, HTTP/2.0, ...: only HTTP/1.x
    request_smuggling,              // both Content-Length and Transfer-Encoding
    invalid_message,                // a writer refused: CR/LF/NUL in a field, bad token, ...
    invalid_state,                  // API misuse: feed after feed_eof, start_next too early, ...
    too_many_interim_responses,     // more 1xx responses before the final one than max_interim
    unsolicited_upgrade,            // 101 Switching Protocols to a request that offered no
                                    // upgrade, or to a protocol it did not offer
    unsolicited_response,           // bytes from the server while no request was outstanding
};

CONNMATRIX_API const ErrorCategory& category() noexcept;
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::http1

template <>
struct std::is_error_code_enum<connmatrix::http1::errc> : std::true_type {};
