// The resumption envelope (lib-internal): what Session::export_session() hands out and
// ClientContext::new_session() takes back, for every backend alike, in the manner of curl's
// vtls_scache and rustls's ClientSessionStore. A resumed handshake shows no certificate to
// verify again, so the envelope records what the original connection established, and a
// session resumes only where that still holds.
//
// Layout, all integers big-endian:
//   "CMXS" | format u8 | backend str8 | host str16 | sni: flag u8 [str16] | verified u8 |
//   alpn: flag u8 [str8] | expires i64 (unix seconds) | max_early_data u32 |
//   payload str32 | mac 8 bytes
// The mac is SipHash-2-4 over everything before it, keyed by a random 128-bit key that each
// tls::Backend object draws when it is built, bound to the client context's trust settings
// (verify, ca_file): an envelope is accepted only by a context of the Backend object that
// sealed it with the same trust anchors, never by another backend, another process, a context
// trusting other CAs, or a forger who can write the bytes (a resumption cache on disk, say)
// but not read our memory.
//
// The one rule, on every backend: a blob that is not ours (bad magic, format, mac or
// structure), or is ours but for another backend, host or SNI, unverified where verification
// is required, or expired, is ignored: the handshake is a full one, and the reason is kept for
// the debug log (SessionInfo::resume_note). It never fails session creation or the request.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::tls::envelope {

inline constexpr std::uint8_t format_version = 2;
using Key = std::array<std::uint8_t, 16>;

struct Fields {
    std::string backend;
    std::string host;                 // normalised: no brackets, no trailing dot, lowercase
    std::optional<std::string> sni;   // as sent; nullopt: none
    bool verified = false;            // chain and host name were verified
    std::optional<std::string> alpn;  // the protocol the exporting connection selected
    std::int64_t expires = 0;         // unix time after which the session is not offered
    std::uint32_t max_early_data = 0; // the TLS 1.3 ticket's early data limit; 0: none
};

std::vector<std::uint8_t> seal(const Fields& fields, std::span<const std::uint8_t> payload,
                               const Key& key);

struct Opened {
    Fields fields;
    std::vector<std::uint8_t> payload;  // the library's own serialised session
};
// nullopt, with `why`, when the bytes are not an envelope sealed with `key`.
std::optional<Opened> open(std::span<const std::uint8_t> blob, const Key& key, std::string& why);

// Why `sealed` may not resume a connection described by `want` (its backend, host and sni; its
// `verified` meaning: verification is required) at unix time `now`: empty when it may.
std::string refusal(const Fields& sealed, const Fields& want, std::int64_t now);

// SipHash-2-4 (Aumasson and Bernstein), the 64-bit variant.
std::uint64_t siphash24(const Key& key, std::span<const std::uint8_t> data) noexcept;

// A fresh random key (std::random_device: getrandom(2) on Linux).
Key random_key();

// A key of its own for `label` (two SipHash-2-4 outputs of it under `key`): each client
// context seals with its backend's key bound to its trust settings, so a session verified
// under one set of trust anchors never resumes a context that trusts others.
Key derive_key(const Key& key, std::string_view label);

}  // namespace connmatrix::tls::envelope
