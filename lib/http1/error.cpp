// The "http1" error category, detection and header lookup helpers.
#include "http1.hpp"

#include "text.hpp"

#include <iterator>

namespace connmatrix::http1 {
namespace {

constexpr ErrorEntry entries[] = {
    {"malformed_status_line", "malformed HTTP/1.x status line"},
    {"malformed_request_line", "malformed HTTP/1.x request line"},
    {"malformed_header", "malformed header field"},
    {"header_too_large", "header section too large"},
    {"too_many_headers", "too many header fields"},
    {"bad_content_length", "invalid or conflicting Content-Length"},
    {"bad_chunk", "malformed chunked body"},
    {"body_too_large", "body larger than the configured limit"},
    {"unexpected_eof", "connection closed before the message was complete"},
    {"transfer_encoding_unsupported", "unsupported Transfer-Encoding"},
    {"version_unsupported", "unsupported HTTP version"},
    {"request_smuggling", "both Content-Length and Transfer-Encoding (request smuggling risk)"},
    {"invalid_message", "refused to write an invalid HTTP/1.1 message"},
    {"invalid_state", "HTTP/1.1 codec used in the wrong state"},
    {"too_many_interim_responses", "too many 1xx interim responses before the final response"},
    {"unsolicited_upgrade", "101 Switching Protocols without a matching Upgrade offer"},
    {"unsolicited_response", "the server sent bytes while no request was outstanding"},
};
static_assert(std::size(entries) == static_cast<std::size_t>(errc::unsolicited_response));
static_assert(names_every_enumerator<errc, std::size(entries)>(), "name every http1::errc here");

}  // namespace

const ErrorCategory& category() noexcept {
    static const ErrorCategory c{"http1", entries};  // immutable, like std::generic_category()
    return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

bool looks_like_http1_response(std::string_view data) noexcept {
    constexpr std::string_view prefix = "HTTP/1.";
    if (data.empty()) return false;
    const std::size_t n = data.size() < prefix.size() ? data.size() : prefix.size();
    return data.substr(0, n) == prefix.substr(0, n);
}

bool looks_like_http1_response(std::span<const std::uint8_t> data) noexcept {
    return looks_like_http1_response(text::view(data));
}

const Header* find_header(const Headers& headers, std::string_view name) noexcept {
    for (const auto& h : headers)
        if (text::iequals(h.name, name)) return &h;
    return nullptr;
}

bool has_token(const Headers& headers, std::string_view name, std::string_view token) {
    for (const auto& h : headers) {
        if (!text::iequals(h.name, name)) continue;
        bool found = false;
        text::for_each_list_element(h.value, [&](std::string_view t) {
            if (text::iequals(t, token)) found = true;
        });
        if (found) return true;
    }
    return false;
}

}  // namespace connmatrix::http1
