// connmatrix/errors/pool.hpp - the errors of the connection pool and the Client's lifecycle:
// category "pool". Error::origin is "pool".
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::pool {

enum class errc {
    client_closed = 1,      // close() was called, or the Client is being destroyed
    not_retryable,          // the connection failed under a request that may have been processed
    retries_exhausted,      // refused unprocessed (GOAWAY, REFUSED_STREAM) on 3 connections in a row
    wrong_thread,           // a blocking call (send, warm) from a callback, on the I/O thread
    early_data_mismatch,    // the server took our early data but the connection cannot go on
                            // from it (another protocol selected, or the request out of step)
};

CONNMATRIX_API const ErrorCategory& category() noexcept;
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::pool

template <>
struct std::is_error_code_enum<connmatrix::pool::errc> : std::true_type {};
