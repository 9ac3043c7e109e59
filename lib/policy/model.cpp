// The policy model: value spellings, durations, mode presets, text helpers.
#include "internal.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>

namespace connmatrix::policy {

// ---------------------------------------------------------------------------------------------
// Spellings.

std::string_view to_string(Mode m) noexcept {
    switch (m) {
        case Mode::alpn: return "alpn";
        case Mode::h2_only: return "h2-only";
        case Mode::http1: return "http1";
        case Mode::prior_knowledge: return "prior-knowledge";
        case Mode::prior_knowledge_alpn: return "prior-knowledge-alpn";
        case Mode::h2_only_prior_knowledge: return "h2-only-prior-knowledge";
    }
    return "?";
}

std::string_view to_string(NoAlpn v) noexcept {
    switch (v) {
        case NoAlpn::http1_1: return "http/1.1";
        case NoAlpn::h2: return "h2";
        case NoAlpn::fail: return "fail";
    }
    return "?";
}

std::string_view to_string(Fallback v) noexcept {
    switch (v) {
        case Fallback::none: return "none";
        case Fallback::http1_1: return "http/1.1";
    }
    return "?";
}

std::string_view to_string(OnHttp11Required v) noexcept {
    switch (v) {
        case OnHttp11Required::http1_1: return "http/1.1";
        case OnHttp11Required::fail: return "fail";
    }
    return "?";
}

std::string_view to_string(Cleartext v) noexcept {
    switch (v) {
        case Cleartext::http1_1: return "http/1.1";
        case Cleartext::h2c: return "h2c";
        case Cleartext::h2c_upgrade: return "h2c-upgrade";
    }
    return "?";
}

std::string_view to_string(TlsVersion v) noexcept {
    switch (v) {
        case TlsVersion::tls1_2: return "1.2";
        case TlsVersion::tls1_3: return "1.3";
    }
    return "?";
}

std::string_view to_string(Scheme s) noexcept { return s == Scheme::http ? "http" : "https"; }

std::optional<Mode> parse_mode(std::string_view s) noexcept {
    for (Mode m : all_modes)
        if (to_string(m) == s) return m;
    return std::nullopt;
}

std::optional<NoAlpn> parse_no_alpn(std::string_view s) noexcept {
    for (NoAlpn v : {NoAlpn::http1_1, NoAlpn::h2, NoAlpn::fail})
        if (to_string(v) == s) return v;
    return std::nullopt;
}

std::optional<Fallback> parse_fallback(std::string_view s) noexcept {
    for (Fallback v : {Fallback::none, Fallback::http1_1})
        if (to_string(v) == s) return v;
    return std::nullopt;
}

std::optional<OnHttp11Required> parse_on_http11_required(std::string_view s) noexcept {
    for (OnHttp11Required v : {OnHttp11Required::http1_1, OnHttp11Required::fail})
        if (to_string(v) == s) return v;
    return std::nullopt;
}

std::optional<Cleartext> parse_cleartext(std::string_view s) noexcept {
    for (Cleartext v : {Cleartext::http1_1, Cleartext::h2c, Cleartext::h2c_upgrade})
        if (to_string(v) == s) return v;
    return std::nullopt;
}

std::optional<TlsVersion> parse_tls_version(std::string_view s) noexcept {
    for (TlsVersion v : {TlsVersion::tls1_2, TlsVersion::tls1_3})
        if (to_string(v) == s) return v;
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Durations.

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) noexcept {
    // Units in the only order allowed, each at most once.
    static constexpr std::int64_t factor[] = {3'600'000, 60'000, 1'000, 1};  // h m s ms
    if (s.empty()) return std::nullopt;
    std::int64_t total = 0;
    int next_unit = 0;  // index into factor: units must strictly descend
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t start = i;
        std::int64_t n = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (i - start >= 9) return std::nullopt;  // keeps every sum far from overflow
            n = n * 10 + (s[i] - '0');
            ++i;
        }
        if (i == start || i == s.size()) return std::nullopt;  // no digits, or no unit
        int unit;
        if (s[i] == 'm' && i + 1 < s.size() && s[i + 1] == 's') {
            unit = 3;
            i += 2;
        } else if (s[i] == 'h') {
            unit = 0;
            ++i;
        } else if (s[i] == 'm') {
            unit = 1;
            ++i;
        } else if (s[i] == 's') {
            unit = 2;
            ++i;
        } else {
            return std::nullopt;
        }
        if (unit < next_unit) return std::nullopt;
        next_unit = unit + 1;
        total += n * factor[unit];
    }
    return std::chrono::milliseconds(total);
}

std::string format_duration(std::chrono::milliseconds d) {
    std::int64_t ms = d.count();
    if (ms < 0) return std::to_string(ms) + "ms";  // never produced by the loader
    if (ms == 0) return "0s";
    std::string out;
    const std::int64_t h = ms / 3'600'000, m = ms / 60'000 % 60, s = ms / 1000 % 60, r = ms % 1000;
    if (h) out += std::to_string(h) + "h";
    if (m) out += std::to_string(m) + "m";
    if (s) out += std::to_string(s) + "s";
    if (r) out += std::to_string(r) + "ms";
    return out;
}

// ---------------------------------------------------------------------------------------------
// Presets and the built-in policy.

ModePreset preset(Mode m) {
    switch (m) {
        case Mode::alpn:
            return {{"h2", "http/1.1"}, NoAlpn::http1_1, Fallback::none, Cleartext::http1_1};
        case Mode::h2_only:
            return {{"h2"}, NoAlpn::fail, Fallback::none, Cleartext::h2c};
        case Mode::http1:
            return {{"http/1.1"}, NoAlpn::http1_1, Fallback::none, Cleartext::http1_1};
        case Mode::prior_knowledge:
            return {{}, NoAlpn::h2, Fallback::none, Cleartext::h2c};
        case Mode::prior_knowledge_alpn:
            return {{"h2", "http/1.1"}, NoAlpn::h2, Fallback::http1_1, Cleartext::h2c};
        case Mode::h2_only_prior_knowledge:
            return {{"h2"}, NoAlpn::h2, Fallback::none, Cleartext::h2c};
    }
    return {};
}

Policy Policy::for_mode(Mode m, std::string backend) {
    Policy p;
    p.backend = std::move(backend);
    ModePreset pr = preset(m);
    p.mode = m;
    p.alpn = std::move(pr.alpn);
    p.no_alpn = pr.no_alpn;
    p.fallback = pr.fallback;
    p.cleartext = pr.cleartext;
    return p;
}

std::string ProxyEndpoint::to_string() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return "http://" + h + ":" + std::to_string(port);
}

const Provenance* ResolvedPolicy::source_of(std::string_view field) const noexcept {
    for (const auto& p : provenance)
        if (p.field == field) return &p;
    return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Helpers.

namespace detail {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string quote(std::string_view s) {
    constexpr std::size_t limit = 80;
    bool cut = false;
    if (s.size() > limit) {
        s = s.substr(0, limit);
        // do not split a UTF-8 sequence
        while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.remove_suffix(1);
        if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.remove_suffix(1);
        cut = true;
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else if (c < 0x80) {
                    out += static_cast<char>(c);
                } else {
                    // copy a well-formed UTF-8 sequence, replace anything else
                    std::size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
                    bool ok = len != 0 && i + len <= s.size();
                    for (std::size_t k = 1; ok && k < len; ++k)
                        ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
                    if (ok) {
                        out.append(s.substr(i, len));
                        i += len - 1;
                    } else {
                        out += "\xEF\xBF\xBD";  // U+FFFD
                    }
                }
        }
    }
    out += cut ? "...\"" : "\"";
    return out;
}

std::string join(std::span<const std::string> items, std::string_view sep) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += sep;
        out += items[i];
    }
    return out;
}

std::string join(std::span<const std::string_view> items, std::string_view sep) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += sep;
        out += items[i];
    }
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Only ever called on short words; cap the work for long ones.
    if (a.size() > 64 || b.size() > 64) return std::numeric_limits<std::size_t>::max();
    const std::size_t n = a.size(), m = b.size();
    std::vector<std::size_t> d((n + 1) * (m + 1));
    auto at = [&](std::size_t i, std::size_t j) -> std::size_t& { return d[i * (m + 1) + j]; };
    for (std::size_t i = 0; i <= n; ++i) at(i, 0) = i;
    for (std::size_t j = 0; j <= m; ++j) at(0, j) = j;
    for (std::size_t i = 1; i <= n; ++i)
        for (std::size_t j = 1; j <= m; ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
        }
    return at(n, m);
}

std::optional<std::string_view> closest(std::string_view word,
                                        std::span<const std::string_view> candidates) {
    const std::string w = lower(word);
    std::optional<std::string_view> best;
    std::size_t best_d = std::numeric_limits<std::size_t>::max();
    for (std::string_view c : candidates) {
        std::size_t d = edit_distance(w, lower(c));
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    // One typo in short words, two in longer ones; never suggest a completely different word.
    const std::size_t allowed = w.size() <= 4 ? 1 : 2;
    if (best && best_d <= allowed && best_d < w.size()) return best;
    return std::nullopt;
}

namespace {
bool plain_key(std::string_view k) {
    if (k.empty()) return false;
    return std::all_of(k.begin(), k.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '$';
    });
}
}  // namespace

std::string member_path(std::string_view parent, std::string_view key) {
    std::string out(parent);
    if (plain_key(key)) {
        if (!out.empty()) out += '.';
        out += key;
    } else {
        out += '[';
        out += quote(key);
        out += ']';
    }
    return out;
}

std::string element_path(std::string_view parent, std::size_t index) {
    return std::string(parent) + "[" + std::to_string(index) + "]";
}

}  // namespace detail
}  // namespace connmatrix::policy
