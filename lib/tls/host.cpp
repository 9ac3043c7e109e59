#include "host.hpp"

#include <arpa/inet.h>

namespace connmatrix::tls::host {

std::string normalise(std::string_view h) {
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (!h.empty() && h.back() == '.') h.remove_suffix(1);
    return std::string(h);
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::vector<std::uint8_t> ip_bytes(std::string_view h) {
    const std::string s = normalise(h);
    unsigned char buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) return {buf, buf + 4};
    if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return {buf, buf + 16};
    return {};
}

bool is_ip_literal(std::string_view h) noexcept {
    try {
        return !ip_bytes(h).empty();
    } catch (...) {
        return false;
    }
}

std::optional<std::string> sni_for(std::string_view h, const std::optional<std::string>& o) {
    if (o) {
        if (o->empty()) return std::nullopt;
        return *o;
    }
    if (h.empty() || is_ip_literal(h)) return std::nullopt;
    return normalise(h);
}

}  // namespace connmatrix::tls::host
