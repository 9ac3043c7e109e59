// The "negotiate" error category.
#include <connmatrix/negotiate.hpp>

#include <iterator>

namespace connmatrix::negotiate {
namespace {

constexpr ErrorEntry entries[] = {
    {"h2_required_but_no_alpn", "h2 required, but the server answered without ALPN"},
    {"alpn_required_but_none", "the server answered without ALPN and the policy requires it"},
    {"h2_required_but_http1_selected", "h2 required, but the server selected http/1.1"},
    {"selected_protocol_not_offered", "the server selected a protocol that was not offered"},
    {"unsupported_protocol_selected", "the server selected a protocol connmatrix cannot speak"},
    {"alpn_on_cleartext", "an ALPN result was given for a cleartext connection"},
};
static_assert(std::size(entries) == static_cast<std::size_t>(errc::alpn_on_cleartext));
static_assert(names_every_enumerator<errc, std::size(entries)>(), "name every negotiate::errc here");

}  // namespace

const ErrorCategory& category() noexcept {
    static const ErrorCategory c{"negotiate", entries};  // immutable, like std::generic_category()
    return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace connmatrix::negotiate
