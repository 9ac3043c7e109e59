// connmatrix/types.hpp - small value types shared by the codecs and the public API.
#pragma once

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

}  // namespace connmatrix
