// The one reader of TLS hello messages (lib-internal). Every backend needs a few facts from
// the peer's hello that its library does not hand out: the client's ALPN offer and versions (a
// server choosing by our rules), the server's ALPN selection before the library judges it (a
// client naming an un-offered selection). They are read here, once, from bytes a peer controls:
// bounds-checked, never trusting a length, and fuzzed (tests/fuzz, target tls_hello).
//
// A handshake message is type(1) length(3) body (RFC 8446 section 4). Recognised types:
// ClientHello (1), ServerHello (2, including a HelloRetryRequest) and EncryptedExtensions (8).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace connmatrix::tls::hello {

inline constexpr std::uint8_t client_hello = 1;
inline constexpr std::uint8_t server_hello = 2;
inline constexpr std::uint8_t encrypted_extensions = 8;
inline constexpr std::uint8_t certificate_request = 13;  // not parsed: its arrival is what counts

inline constexpr std::uint16_t ext_server_name = 0;
inline constexpr std::uint16_t ext_alpn = 16;
inline constexpr std::uint16_t ext_session_ticket = 35;
inline constexpr std::uint16_t ext_supported_versions = 43;
inline constexpr std::uint16_t ext_early_data = 42;

struct Message {
    std::uint8_t type = 0;
    std::uint16_t legacy_version = 0;  // ClientHello, ServerHello; 0 for EncryptedExtensions
    std::array<std::uint8_t, 32> random{};  // ClientHello, ServerHello; zero otherwise
    bool hello_retry_request = false;  // a ServerHello carrying RFC 8446's HRR random
    std::vector<std::uint8_t> session_id;  // legacy_session_id (ClientHello, ServerHello)
    // ALPN (RFC 7301): a ClientHello's offer, or the one protocol a ServerHello or
    // EncryptedExtensions selected. `alpn_malformed`: the extension was present but not a
    // well-formed ProtocolNameList (or, from a server, not exactly one name); `alpn` is empty.
    bool alpn_present = false;
    bool alpn_malformed = false;
    std::vector<std::string> alpn;
    // supported_versions (RFC 8446 4.2.1): a ClientHello's list, or a ServerHello's choice
    // (one entry). nullopt when absent; an empty list when malformed.
    std::optional<std::vector<std::uint16_t>> supported_versions;
    std::optional<std::string> server_name;  // a ClientHello's SNI host_name
    bool session_ticket = false;  // a ClientHello presented a non-empty SessionTicket (RFC 5077)
    bool early_data = false;      // early_data (RFC 8446 4.2.10): a ClientHello offers it, an
                                  // EncryptedExtensions accepts it
};

// One whole handshake message (with its 4-byte header). nullopt when it is not one of the
// recognised types, or its structure does not add up (a length running past the end, trailing
// bytes, an extension type twice in one block). Extension bodies that are malformed are
// reported in the fields, not as nullopt.
std::optional<Message> parse(std::span<const std::uint8_t> message);
// The same for a body whose type is known (libraries that hand over the body alone).
std::optional<Message> parse_body(std::uint8_t type, std::span<const std::uint8_t> body);

// The protocol versions a ClientHello accepts, as wire values: supported_versions when present
// (GREASE and unknown values dropped), else every version up to legacy_version from TLS 1.0.
std::vector<std::uint16_t> client_versions(const Message& client_hello);

}  // namespace connmatrix::tls::hello
