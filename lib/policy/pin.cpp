// Public key pins as curl's --pinnedpubkey writes them: "sha256//BASE64".
#include <connmatrix/policy.hpp>

namespace connmatrix::policy {
namespace {

int base64_value(char c) noexcept {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace

std::optional<std::array<std::uint8_t, 32>> parse_pin(std::string_view s, std::string* why) {
    auto fail = [&](std::string reason) -> std::optional<std::array<std::uint8_t, 32>> {
        if (why) *why = std::move(reason);
        return std::nullopt;
    };
    constexpr std::string_view prefix = "sha256//";
    if (s.substr(0, prefix.size()) != prefix)
        return fail("a pin starts with \"sha256//\" (curl's form; file names are not taken here)");
    s.remove_prefix(prefix.size());
    // RFC 4648 section 4, padded: groups of four characters, "=" only at the end.
    std::size_t pad = 0;
    while (pad < 2 && pad < s.size() && s[s.size() - 1 - pad] == '=') ++pad;
    if (s.empty() || s.size() % 4 != 0)
        return fail("the hash is not base64 (RFC 4648, padded with '=' to a multiple of 4 characters)");
    std::vector<std::uint8_t> out;
    std::uint32_t acc = 0;
    for (std::size_t i = 0; i < s.size() - pad; ++i) {
        const int v = base64_value(s[i]);
        if (v < 0)
            return fail("the hash is not base64: '" + std::string(1, s[i]) + "' at offset " +
                        std::to_string(i));
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        if (i % 4 == 3) {
            for (int b = 2; b >= 0; --b) out.push_back(static_cast<std::uint8_t>(acc >> (8 * b)));
            acc = 0;
        }
    }
    if (pad == 1) {  // three characters: 18 bits, two bytes and two zero bits
        out.push_back(static_cast<std::uint8_t>(acc >> 10));
        out.push_back(static_cast<std::uint8_t>(acc >> 2));
        if ((acc & 0x3) != 0) return fail("the hash is not canonical base64 (stray bits before '=')");
    } else if (pad == 2) {
        out.push_back(static_cast<std::uint8_t>(acc >> 4));
        if ((acc & 0xf) != 0) return fail("the hash is not canonical base64 (stray bits before '==')");
    }
    if (out.size() != 32)
        return fail("a SHA-256 hash is 32 bytes, this one decodes to " + std::to_string(out.size()));
    std::array<std::uint8_t, 32> pin{};
    std::copy(out.begin(), out.end(), pin.begin());
    return pin;
}

}  // namespace connmatrix::policy
