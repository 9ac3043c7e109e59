// ALPN wire encoding and checks, shared by every backend (lib-internal header).
// Backends only hand the encoded list to their library and report what came back.
#pragma once

#include <connmatrix/error.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace connmatrix::tls::alpn {

// Names must be 1..255 bytes, the encoded list at most 65535 bytes (RFC 7301 section 3.1).
Error validate(const std::vector<std::string>& protocols);

// RFC 7301 ProtocolNameList body: each name as <len:1><bytes>. Empty list: empty vector.
std::vector<std::uint8_t> encode(const std::vector<std::string>& protocols);

// The inverse; nullopt when the bytes are not a well-formed list (a zero-length name included).
std::optional<std::vector<std::string>> decode(std::span<const std::uint8_t> wire);

// Server preference: the first of `ours` that the client offered; byte-exact comparison.
std::optional<std::string> select(const std::vector<std::string>& ours,
                                  const std::vector<std::string>& offered);

// After a client handshake: a selection must be one we offered (byte for byte, so case
// matters). Returns errc::alpn_not_offered otherwise; an absent selection is always fine here.
Error check_selected(const std::optional<std::string>& selected,
                     const std::vector<std::string>& offered);

}  // namespace connmatrix::tls::alpn
