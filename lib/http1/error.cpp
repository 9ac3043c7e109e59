// The "http1" error category, detection and header lookup helpers.
#include "http1.hpp"

#include "text.hpp"

namespace connmatrix::http1 {
namespace {

class Category final : public std::error_category {
public:
    const char* name() const noexcept override { return "http1"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::malformed_status_line: return "malformed HTTP/1.x status line";
            case errc::malformed_request_line: return "malformed HTTP/1.x request line";
            case errc::malformed_header: return "malformed header field";
            case errc::header_too_large: return "header section too large";
            case errc::too_many_headers: return "too many header fields";
            case errc::bad_content_length: return "invalid or conflicting Content-Length";
            case errc::bad_chunk: return "malformed chunked body";
            case errc::body_too_large: return "body larger than the configured limit";
            case errc::unexpected_eof: return "connection closed before the message was complete";
            case errc::transfer_encoding_unsupported: return "unsupported Transfer-Encoding";
            case errc::version_unsupported: return "unsupported HTTP version";
            case errc::request_smuggling:
                return "both Content-Length and Transfer-Encoding (request smuggling risk)";
            case errc::invalid_message: return "refused to write an invalid HTTP/1.1 message";
            case errc::invalid_state: return "HTTP/1.1 codec used in the wrong state";
        }
        return "unknown http1 error " + std::to_string(ev);
    }
};

}  // namespace

const std::error_category& category() noexcept {
    static const Category c;  // immutable, like std::generic_category()
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
