/// \file
/// The errors of the HTTP/1.1 codec: category `"http1"`. Error::origin is `"http1"`;
/// Error::detail names what was wrong.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::http1 {

/// The errors of the HTTP/1.1 codec, numbered from 1: our strict response parser and request
/// writer. A response the parser refuses ends its request and closes the connection (after a
/// framing error nothing more on it can be trusted); a request the writer refuses is never
/// sent. Error::detail names the offending byte or field. Each value's stable name (error_name():
/// `"http1:<enumerator>"`) and text come from
/// http1::category().
enum class errc {
    malformed_status_line = 1,      ///< Not "HTTP/1.x NNN reason", status outside 100..599, CTLs.
    malformed_request_line,         ///< Not "METHOD target HTTP/1.x" (request parser; never in a
                                    ///< Client).
    malformed_header,               ///< Bad name, whitespace before ':', obs-fold, CTL, bad Host.
    header_too_large,               ///< Status line and fields (or the trailers) over 64 KiB.
    too_many_headers,               ///< More than 100 fields (or trailer fields).
    bad_content_length,             ///< Not 1*DIGIT, overflowing, or duplicates that differ.
    bad_chunk,                      ///< Chunk size not hex, overflowing, missing CRLF after data.
    body_too_large,                 ///< Body over the parser's limit (a Client reports
                                    ///< net::errc::response_too_large instead).
    unexpected_eof,                 ///< End of the stream before the message was complete.
    transfer_encoding_unsupported,  ///< Any Transfer-Encoding but exactly "chunked".
    version_unsupported,            ///< HTTP/0.9, HTTP/2.0, ...: only HTTP/1.x.
    request_smuggling,              ///< Both Content-Length and Transfer-Encoding.
    invalid_message,                ///< The writer refused the request: CR, LF or NUL in a field,
                                    ///< a method or name that is no token, a Content-Length or
                                    ///< Transfer-Encoding field given (the writer sets those).
    invalid_state,                  ///< The codec was misused (a bug in the caller).
    too_many_interim_responses,     ///< More 1xx responses before the final one than
                                    ///< ClientOptions::max_interim_responses.
    unsolicited_upgrade,            ///< 101 Switching Protocols to a request that offered no
                                    ///< upgrade, or to a protocol it did not offer.
    unsolicited_response,           ///< Bytes from the server while no request was outstanding.
};

/// The `"http1"` category: one immutable object for the whole program, naming every errc
/// value (ErrorCategory::enumerator()) and giving its text. Compare categories by address, as
/// with `std::generic_category()`; safe to call from any thread.
/// \return the category of every http1::errc code.
CONNMATRIX_API const ErrorCategory& category() noexcept;
/// The `std::error_code` of `e`, in category(). Found by argument-dependent lookup, so that
/// `std::error_code ec = http1::errc::bad_chunk;` and `ec == http1::errc::bad_chunk` work.
/// \param e the error.
/// \return `{static_cast<int>(e), category()}`.
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::http1

/// Makes connmatrix::http1::errc values convertible to `std::error_code`.
template <>
struct std::is_error_code_enum<connmatrix::http1::errc> : std::true_type {};
