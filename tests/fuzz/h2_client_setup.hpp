// What the h2_client fuzz target and the seed maker share: the client's options and the
// requests it has in flight, so a server's bytes captured by the seed maker answer exactly the
// conversation the target starts (same stream ids, same SETTINGS, same flow-control windows).
#pragma once

#include "http2.hpp"

#include <cstdint>
#include <vector>

namespace connmatrix::test::fuzz {

// Small limits, so a fuzzed server reaches them: a 4 KiB header list, a 64 KiB stream window.
inline http2::ClientOptions h2_client_options() {
    http2::ClientOptions o;
    o.stream_window = 65535;
    o.connection_window = 1u << 20;
    o.max_header_list_size = 4096;
    return o;
}

// Stream 1: GET; stream 3: a POST whose 70000-byte body is larger than the default 65535-byte
// windows, so it waits for the server's SETTINGS and WINDOW_UPDATEs; stream 5: HEAD.
inline std::vector<http2::Request> h2_client_requests() {
    std::vector<http2::Request> rs(3);
    rs[0].authority = "example.com";
    rs[0].path = "/index.html";
    rs[0].headers = {{"accept", "*/*"}, {"user-agent", "connmatrix-fuzz"}};
    rs[1].method = "POST";
    rs[1].authority = "example.com";
    rs[1].path = "/upload";
    rs[1].headers = {{"content-type", "application/octet-stream"}};
    rs[1].body.assign(70000, 'x');
    rs[2].method = "HEAD";
    rs[2].authority = "example.com";
    rs[2].path = "/head";
    return rs;
}

// The request submitted later by inputs that ask for it (flag late_request): stream 7.
inline http2::Request h2_client_late_request() {
    http2::Request r;
    r.authority = "example.com";
    r.path = "/late";
    return r;
}

// The first two input bytes of an h2_client input; the server's bytes follow.
namespace h2_flags {
inline constexpr std::uint8_t preface = 1;       // feed a valid empty SETTINGS frame first
inline constexpr std::uint8_t lazy = 2;          // take events and output only at the end
inline constexpr std::uint8_t late_request = 4;  // submit a fourth request after the first chunk
inline constexpr std::uint8_t cancel = 8;        // RST_STREAM stream 1 after the first chunk
inline constexpr std::uint8_t ping = 16;         // send a PING after the first chunk
inline constexpr std::uint8_t goaway = 32;       // graceful GOAWAY after the first chunk
}  // namespace h2_flags

}  // namespace connmatrix::test::fuzz
