// Host-name helpers shared by the backends (lib-internal header).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <cstdint>

namespace connmatrix::tls::host {

// ASCII lowercase (host names compare case-insensitively, RFC 4343).
std::string lower(std::string_view s);

// The 4 or 16 bytes of an IP literal (with or without brackets); empty for a name.
std::vector<std::uint8_t> ip_bytes(std::string_view host);

// True for IPv4 dotted quads and IPv6 literals (with or without brackets).
bool is_ip_literal(std::string_view host) noexcept;

// The host without IPv6 brackets and without one trailing dot.
std::string normalise(std::string_view host);

// The SNI to send: the override when given ("" = none), else the host unless it is an IP
// literal (RFC 6066 section 3 forbids literal addresses in server_name).
std::optional<std::string> sni_for(std::string_view host,
                                   const std::optional<std::string>& override_sni);

}  // namespace connmatrix::tls::host
