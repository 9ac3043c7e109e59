// TLS alerts, one table for every backend (lib-internal): their RFC names (RFC 5246, 8446, 7301),
// what a received alert means as a tls::errc, and which alert to send for one of our own
// failures. One spelling in every error message and one mapping, whatever the library says.
#pragma once

#include <connmatrix/tls.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace connmatrix::tls::alert {

inline constexpr std::uint8_t close_notify = 0;
inline constexpr std::uint8_t handshake_failure = 40;
inline constexpr std::uint8_t bad_certificate = 42;
inline constexpr std::uint8_t certificate_expired = 45;
inline constexpr std::uint8_t illegal_parameter = 47;
inline constexpr std::uint8_t unknown_ca = 48;
inline constexpr std::uint8_t decode_error = 50;
inline constexpr std::uint8_t protocol_version = 70;
inline constexpr std::uint8_t internal_error = 80;
inline constexpr std::uint8_t inappropriate_fallback = 86;
inline constexpr std::uint8_t no_renegotiation = 100;
inline constexpr std::uint8_t unsupported_extension = 110;
inline constexpr std::uint8_t certificate_required = 116;
inline constexpr std::uint8_t no_application_protocol = 120;

// "handshake_failure" for 40, "no_application_protocol" for 120, "unknown_alert" otherwise.
std::string_view name(int description) noexcept;
// "handshake_failure (40)".
std::string text(int description);

// What an alert received from the peer means: no_application_protocol (120) and
// certificate_required (116) have their own codes;
// protocol_version (70) and inappropriate_fallback (86) mean no version in common;
// close_notify is a clean close; every other alert is alert_received.
errc received(int description) noexcept;

// The error for a received alert: "received fatal alert: handshake_failure (40)", with the
// library's own code and name as origin, and an optional note appended.
Error received_error(int description, bool fatal, long library_code, std::string origin,
                     std::string_view note = {});

// The description of the fatal alert an error made by received_error() reports (its detail
// begins "received fatal alert: name (N)"); nullopt for any other error.
std::optional<int> received_description(const Error& e) noexcept;

// The alert to send when we fail for reason `e` (libraries that stay silent on some of their
// own failures: the peer then learns why instead of seeing a bare end of stream).
std::uint8_t for_error(errc e, bool handshaking) noexcept;

}  // namespace connmatrix::tls::alert
