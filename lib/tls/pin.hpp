// Public key pinning (lib-internal), once for every backend, in the manner of curl's
// CURLOPT_PINNEDPUBLICKEY "sha256//" form: after the handshake, and after the backend's own
// chain and host verification (or with verification off: the pin is checked on its own), the
// SHA-256 of the peer leaf's SubjectPublicKeyInfo (DER) must be one of ClientConfig::pins.
#pragma once

#include <connmatrix/tls.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace connmatrix::tls::pin {

// SHA-256 (FIPS 180-4). The core depends on no TLS library, so it carries its own.
std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> data) noexcept;

// RFC 4648 base64 with padding.
std::string base64(std::span<const std::uint8_t> data);

// "sha256//BASE64", curl's spelling.
std::string format(const Pin& p);

// The check: no error when `pins` is empty or the SubjectPublicKeyInfo's hash is among them;
// errc::pin_mismatch naming what was expected and seen otherwise (also when the backend could
// not give the peer's key: empty `spki_der`).
Error check(const std::vector<Pin>& pins, std::span<const std::uint8_t> spki_der);

}  // namespace connmatrix::tls::pin
