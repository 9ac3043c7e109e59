// text.hpp - character classes and small string helpers of RFC 9110/9112, for the codec only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace connmatrix::http1::text {

inline std::string_view view(std::span<const std::uint8_t> s) noexcept {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }  // SP / HTAB

constexpr char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

// tchar (RFC 9110 5.6.2): "!#$%&'*+-.^_`|~", DIGIT, ALPHA.
constexpr bool is_tchar(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

constexpr bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

// field-vchar / SP / HTAB (RFC 9110 5.5): VCHAR, obs-text, SP, HTAB. No CTL, no DEL.
constexpr bool is_field_char(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

// First character of `s` that is not allowed in a field value, or npos.
constexpr std::size_t find_bad_field_char(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size(); ++i)
        if (!is_field_char(s[i])) return i;
    return std::string_view::npos;
}

constexpr std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
    return s;
}

// Calls f(element) for each non-empty element of a comma-separated list, trimmed of OWS.
template <class F>
void for_each_list_element(std::string_view list, F&& f) {
    while (true) {
        const std::size_t comma = list.find(',');
        const std::string_view e = trim_ows(list.substr(0, comma));
        if (!e.empty()) f(e);
        if (comma == std::string_view::npos) return;
        list.remove_prefix(comma + 1);
    }
}

// For error details: the text in quotes, non-printable bytes as \r, \n, \xNN, at most `max`
// input bytes (then "...").
inline std::string quote(std::string_view s, std::size_t max = 48) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size() && i < max; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '"' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
        else if (c < 0x20 || c >= 0x7f) { out += "\\x"; out += hex[c >> 4]; out += hex[c & 15]; }
        else out += static_cast<char>(c);
    }
    out += s.size() > max ? "\"..." : "\"";
    return out;
}

inline std::string byte_name(char ch) {
    return quote(std::string_view(&ch, 1));
}

}  // namespace connmatrix::http1::text
