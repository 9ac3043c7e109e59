/// \file
/// Small value types shared by the codecs and the public API: header fields, the application
/// protocol a connection speaks, and the token bucket the HTTP/2 limits are made of.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix {

/// One header field. Names are kept as given; HTTP/2 lowercases them on the wire.
///
/// In a connmatrix::Request, a field is sent as written (HTTP/1.1) or with its name lowercased
/// (HTTP/2); connection-specific fields (`Connection`, `Keep-Alive`, `Transfer-Encoding`, ...)
/// and `Content-Length` are the library's to write, see Request::headers. In a
/// connmatrix::Response the fields are in the order the server sent them, names as received
/// (always lowercase over HTTP/2).
struct Header {
    std::string name;   ///< The field name, for example `"Content-Type"`; compare it case-insensitively.
    std::string value;  ///< The field value, without leading or trailing whitespace.
    /// Byte-for-byte equality of name and value (names are not folded to one case here).
    /// \return whether both fields are equal.
    bool operator==(const Header&) const = default;
};
/// Header fields in order; a name may appear more than once.
using Headers = std::vector<Header>;

/// The application protocol a connection speaks: HTTP/1.1 (RFC 9112) or HTTP/2 (RFC 9113, over
/// TLS or as cleartext h2c).
enum class Protocol { http1_1, h2 };

/// The protocol's ALPN name.
/// \param p the protocol.
/// \return `"h2"` or `"http/1.1"`.
constexpr std::string_view to_string(Protocol p) noexcept {
    return p == Protocol::h2 ? "h2" : "http/1.1";
}

/// A token bucket: `burst` events at once, then `per_second` more each second (never more than
/// `burst` saved up). Bounds how often a peer may make us do something.
struct RateLimit {
    std::uint32_t burst = 0;       ///< Events allowed at once, and the most that can be saved up.
    std::uint32_t per_second = 0;  ///< Events the bucket regains each second.
    /// Equality of both figures.
    /// \return whether both limits are the same.
    bool operator==(const RateLimit&) const = default;
};

}  // namespace connmatrix
