#include "alpn.hpp"

#include <connmatrix/tls.hpp>

#include <algorithm>

namespace connmatrix::tls::alpn {

Error validate(const std::vector<std::string>& protocols) {
    std::size_t total = 0;
    for (std::size_t i = 0; i < protocols.size(); ++i) {
        const auto& p = protocols[i];
        if (p.empty())
            return {errc::invalid_config, "ALPN protocol name #" + std::to_string(i + 1) +
                                              " is empty (RFC 7301 requires 1..255 bytes)",
                    0, "tls"};
        if (p.size() > 255)
            return {errc::invalid_config, "ALPN protocol name #" + std::to_string(i + 1) +
                                              " is " + std::to_string(p.size()) +
                                              " bytes long (RFC 7301 allows at most 255)",
                    0, "tls"};
        total += 1 + p.size();
    }
    if (total > 65535)
        return {errc::invalid_config,
                "ALPN list encodes to " + std::to_string(total) + " bytes (at most 65535)", 0,
                "tls"};
    return {};
}

std::vector<std::uint8_t> encode(const std::vector<std::string>& protocols) {
    std::vector<std::uint8_t> out;
    for (const auto& p : protocols) {
        out.push_back(static_cast<std::uint8_t>(p.size()));
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

std::optional<std::vector<std::string>> decode(std::span<const std::uint8_t> wire) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < wire.size()) {
        const std::size_t len = wire[i++];
        if (len == 0 || len > wire.size() - i) return std::nullopt;
        out.emplace_back(reinterpret_cast<const char*>(wire.data() + i), len);
        i += len;
    }
    return out;
}

std::optional<std::string> select(const std::vector<std::string>& ours,
                                  const std::vector<std::string>& offered) {
    for (const auto& p : ours)
        if (std::find(offered.begin(), offered.end(), p) != offered.end()) return p;
    return std::nullopt;
}

Error check_selected(const std::optional<std::string>& selected,
                     const std::vector<std::string>& offered) {
    if (!selected) return {};
    if (std::find(offered.begin(), offered.end(), *selected) != offered.end()) return {};
    std::string list;
    for (const auto& p : offered) list += (list.empty() ? "" : ", ") + p;
    return {errc::alpn_not_offered,
            "server selected \"" + *selected + "\" but we offered [" + list + "]", 0, "tls"};
}

}  // namespace connmatrix::tls::alpn
