// TLS alert descriptions by their RFC names (RFC 5246, 8446, 7301), shared by every backend:
// one spelling in every error message, whatever the library calls them (lib-internal).
#pragma once

#include <string_view>

namespace connmatrix::tls {

// "handshake_failure" for 40, "no_application_protocol" for 120, "unknown_alert" otherwise.
std::string_view alert_name(int description) noexcept;

}  // namespace connmatrix::tls
