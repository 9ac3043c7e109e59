/// \file
/// The errors of the connection pool and the Client's lifecycle: category `"pool"`.
/// Error::origin is `"pool"`.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::pool {

/// The errors of the connection pool and the Client's lifecycle, numbered from 1: what the pool
/// decides about a request rather than what the network did. Each value's stable name
/// (error_name(): `"pool:<enumerator>"`) and text come from pool::category().
enum class errc {
    client_closed = 1,      ///< close() was called, or the Client is being destroyed.
    not_retryable,          ///< The connection failed under a request that may have been
                            ///< processed, and its method is not idempotent: it is not sent again.
    retries_exhausted,      ///< Refused unprocessed (GOAWAY, REFUSED_STREAM) on 3 connections in a
                            ///< row.
    wrong_thread,           ///< A blocking call (send, warm) from a callback, on the I/O thread.
    early_data_mismatch,    ///< The server took our early data but the connection cannot go on
                            ///< from it (another protocol selected, or the request out of step).
    cancelled,              ///< The caller cancelled the request: RequestHandle::cancel(), or
                            ///< Request::cancel's stop_source.
    body_aborted,           ///< The request's body sink (Request::on_body) answered
                            ///< BodyAction::abort.
    body_sink_failed,       ///< The request's body sink, or its on_response, threw.
    body_source_failed,     ///< The request's body source (Request::body_source) threw, gave
                            ///< more than its buffer, or came with a Request::body as well.
    body_length_mismatch,   ///< The body source gave more or fewer bytes than its length.
};

/// The `"pool"` category: one immutable object for the whole program, naming every errc
/// value (ErrorCategory::enumerator()) and giving its text. Compare categories by address, as
/// with `std::generic_category()`; safe to call from any thread.
/// \return the category of every pool::errc code.
CONNMATRIX_API const ErrorCategory& category() noexcept;
/// The `std::error_code` of `e`, in category(). Found by argument-dependent lookup, so that
/// `std::error_code ec = pool::errc::client_closed;` and `ec == pool::errc::client_closed` work.
/// \param e the error.
/// \return `{static_cast<int>(e), category()}`.
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::pool

/// Makes connmatrix::pool::errc values convertible to `std::error_code`.
template <>
struct std::is_error_code_enum<connmatrix::pool::errc> : std::true_type {};
