// connmatrix/types.hpp - small value types shared by the codecs and the public API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix {

// One header field. Names are kept as given; HTTP/2 lowercases them on the wire.
struct Header {
    std::string name;
    std::string value;
    bool operator==(const Header&) const = default;
};
using Headers = std::vector<Header>;

// The application protocol a connection speaks.
enum class Protocol { http1_1, h2 };

constexpr std::string_view to_string(Protocol p) noexcept {
    return p == Protocol::h2 ? "h2" : "http/1.1";
}

// A token bucket: `burst` events at once, then `per_second` more each second (never more than
// `burst` saved up). Bounds how often a peer may make us do something.
struct RateLimit {
    std::uint32_t burst = 0;
    std::uint32_t per_second = 0;
    bool operator==(const RateLimit&) const = default;
};

}  // namespace connmatrix
