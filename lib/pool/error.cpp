// The "pool" error category.
#include <connmatrix/errors/pool.hpp>

#include <iterator>

namespace connmatrix::pool {
namespace {

constexpr ErrorEntry entries[] = {
    {"client_closed", "the client is closed"},
    {"not_retryable", "request failed and cannot be retried safely"},
    {"retries_exhausted", "request not processed by the server after repeated attempts"},
    {"wrong_thread", "blocking call on the client's own I/O thread"},
    {"early_data_mismatch", "the connection cannot continue from the early data the server accepted"},
    {"cancelled", "the request was cancelled"},
    {"body_aborted", "the response body sink stopped the request"},
    {"body_sink_failed", "the response body sink failed"},
    {"body_source_failed", "the request body source failed"},
    {"body_length_mismatch", "the request body source gave more or fewer bytes than its length"},
};
static_assert(std::size(entries) == static_cast<std::size_t>(errc::body_length_mismatch));
static_assert(names_every_enumerator<errc, std::size(entries)>(), "name every pool::errc here");

}  // namespace

const ErrorCategory& category() noexcept {
    static const ErrorCategory c{"pool", entries};  // immutable, like std::generic_category()
    return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace connmatrix::pool
