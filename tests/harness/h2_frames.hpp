// HTTP/2 frames and HPACK written by hand (RFC 9113 4.1, RFC 7541), for the suites that play a
// broken or hostile server byte by byte, and a reader for what a client sent. Header-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::test::frames {

using Bytes = std::vector<std::uint8_t>;

namespace type {
constexpr std::uint8_t data = 0x0, headers = 0x1, priority = 0x2, rst_stream = 0x3,
                       settings = 0x4, push_promise = 0x5, ping = 0x6, goaway = 0x7,
                       window_update = 0x8, continuation = 0x9;
}
namespace flag {
constexpr std::uint8_t end_stream = 0x1, ack = 0x1, end_headers = 0x4, padded = 0x8;
}

inline void put32(Bytes& b, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

inline Bytes u32(std::uint32_t v) {
    Bytes b;
    put32(b, v);
    return b;
}

inline std::uint32_t get32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           p[3];
}

inline Bytes frame(std::uint8_t t, std::uint8_t flags, std::uint32_t stream,
                   const Bytes& payload = {}) {
    const auto n = payload.size();
    Bytes f{static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8),
            static_cast<std::uint8_t>(n), t, flags};
    put32(f, stream & 0x7fffffffu);
    f.insert(f.end(), payload.begin(), payload.end());
    return f;
}

inline Bytes repeat(const Bytes& unit, std::size_t n) {
    Bytes out;
    out.reserve(unit.size() * n);
    for (std::size_t i = 0; i < n; ++i) out.insert(out.end(), unit.begin(), unit.end());
    return out;
}

inline Bytes& operator+=(Bytes& a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// An HPACK integer with an N-bit prefix (RFC 7541 5.1); `high` holds the pattern bits.
inline void hpack_int(Bytes& b, std::uint8_t high, int prefix_bits, std::size_t v) {
    const std::size_t max = (std::size_t{1} << prefix_bits) - 1;
    if (v < max) {
        b.push_back(static_cast<std::uint8_t>(high | v));
        return;
    }
    b.push_back(static_cast<std::uint8_t>(high | max));
    for (v -= max; v >= 128; v >>= 7) b.push_back(static_cast<std::uint8_t>((v & 0x7f) | 0x80));
    b.push_back(static_cast<std::uint8_t>(v));
}

inline void hpack_string(Bytes& b, std::string_view s) {
    hpack_int(b, 0x00, 7, s.size());  // no Huffman coding
    b.insert(b.end(), s.begin(), s.end());
}

// A field with a literal name and value; `index`: add it to the dynamic table (6.2.1).
inline void hpack_literal(Bytes& b, std::string_view name, std::string_view value,
                          bool index = false) {
    b.push_back(index ? 0x40 : 0x00);
    hpack_string(b, name);
    hpack_string(b, value);
}

// ":status N" (static table entry 8 is ":status 200"; other values name it literally).
inline void hpack_status(Bytes& b, int status) {
    if (status == 200) {
        b.push_back(0x88);
        return;
    }
    hpack_int(b, 0x00, 4, 8);  // literal without indexing, name from static entry 8
    hpack_string(b, std::to_string(status));
}

// Response HEADERS on `stream` (END_HEADERS; END_STREAM when `end`).
inline Bytes response_headers(std::uint32_t stream, int status = 200, bool end = false) {
    Bytes block;
    hpack_status(block, status);
    return frame(type::headers, flag::end_headers | (end ? flag::end_stream : 0), stream, block);
}

struct Frame {
    std::uint8_t type = 0, flags = 0;
    std::uint32_t stream = 0;
    Bytes payload;
};

// The whole frames in `b` from `pos` on (a partial one at the end is left out). A client's bytes
// start with the 24-byte preface: pass pos = 24.
inline std::vector<Frame> parse(const Bytes& b, std::size_t pos = 0) {
    std::vector<Frame> out;
    while (pos + 9 <= b.size()) {
        const std::size_t len = (std::size_t{b[pos]} << 16) | (std::size_t{b[pos + 1]} << 8) | b[pos + 2];
        if (pos + 9 + len > b.size()) break;
        Frame f;
        f.type = b[pos + 3];
        f.flags = b[pos + 4];
        f.stream = get32(b.data() + pos + 5) & 0x7fffffffu;
        f.payload.assign(b.begin() + static_cast<std::ptrdiff_t>(pos + 9),
                         b.begin() + static_cast<std::ptrdiff_t>(pos + 9 + len));
        out.push_back(std::move(f));
        pos += 9 + len;
    }
    return out;
}

}  // namespace connmatrix::test::frames
