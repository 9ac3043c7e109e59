#include "host.hpp"

#include <arpa/inet.h>

namespace connmatrix::tls::host {

std::string normalise(std::string_view h) {
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (!h.empty() && h.back() == '.') h.remove_suffix(1);
    return std::string(h);
}

bool is_ip_literal(std::string_view h) noexcept {
    std::string s;
    try {
        s = normalise(h);
    } catch (...) {
        return false;
    }
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
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
