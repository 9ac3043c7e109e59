// The "net" error category.
#include <connmatrix/errors/net.hpp>

#include <iterator>

namespace connmatrix::net {
namespace {

constexpr ErrorEntry entries[] = {
    {"bad_url", "bad URL"},
    {"unsupported_scheme", "unsupported URL scheme (use http:// or https://)"},
    {"resolve_failed", "could not resolve host"},
    {"connect_failed", "could not connect"},
    {"connect_timeout", "connect timed out"},
    {"proxy_failed", "proxy tunnel failed"},
    {"tls_timeout", "TLS handshake timed out"},
    {"request_timeout", "request timed out"},
    {"connection_closed", "connection closed by the server"},
    {"io_error", "socket error"},
    {"response_too_large", "response body too large"},
};
static_assert(std::size(entries) == static_cast<std::size_t>(errc::response_too_large));
static_assert(names_every_enumerator<errc, std::size(entries)>(), "name every net::errc here");

// Error::library_code is an errno value ("system"), one of Asio's own ("asio"), or a c-ares
// status (ARES_ENOTFOUND...: "c-ares").
constexpr std::string_view libraries[] = {"system", "asio", "c-ares"};

}  // namespace

const ErrorCategory& category() noexcept {
    static const ErrorCategory c{"net", entries, libraries};  // immutable, like std::generic_category()
    return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace connmatrix::net
