// What the tls_client_<backend> fuzz targets and the seed maker share: the meaning of an input's
// two control bytes, and the client configuration they select, so a server flight captured by
// the seed maker answers a ClientHello the target really sends (same ALPN offer, versions, SNI).
#pragma once

#include <connmatrix/tls.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace connmatrix::test::fuzz {

// Byte 0 of an input. Byte 1 is the size of each feed (0: everything at once); the server's
// records follow.
namespace tls_flags {
inline constexpr std::uint8_t alpn_mask = 3;    // the offer: none, h2+http/1.1, http/1.1, h2
inline constexpr std::uint8_t no_verify = 4;    // verify = false (else: trust the seeds' CA)
inline constexpr std::uint8_t tls12 = 8;        // max_version TLS 1.2 (else 1.3, where supported)
inline constexpr std::uint8_t no_sni = 16;      // send no SNI
inline constexpr std::uint8_t talk = 32;        // once connected: write, and close() at the end
}  // namespace tls_flags

inline std::vector<std::string> tls_offer(std::uint8_t flags) {
    switch (flags & tls_flags::alpn_mask) {
        case 1: return {"h2", "http/1.1"};
        case 2: return {"http/1.1"};
        case 3: return {"h2"};
        default: return {};
    }
}

inline tls::ClientConfig tls_client_config(std::uint8_t flags, const std::string& ca_file) {
    tls::ClientConfig c;
    c.alpn = tls_offer(flags);
    c.verify = (flags & tls_flags::no_verify) == 0;
    c.ca_file = ca_file;
    if (flags & tls_flags::tls12) c.max_version = tls::Version::tls1_2;
    return c;
}

inline tls::ClientSessionParams tls_client_params(std::uint8_t flags) {
    tls::ClientSessionParams p;
    p.host = "localhost";
    if (flags & tls_flags::no_sni) p.sni = "";
    return p;
}

}  // namespace connmatrix::test::fuzz
