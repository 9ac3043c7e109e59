// Policy internals shared by the loader, the checker, resolution and explain() (lib-internal).
#pragma once

#include <connmatrix/config.hpp>
#include <connmatrix/policy.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::policy::detail {

// ---------------------------------------------------------------------------------------------
// Text helpers.

std::string lower(std::string_view s);
// A JSON string literal of s (escaped, invalid UTF-8 replaced), cut to about 80 bytes.
std::string quote(std::string_view s);
// Comma-separated list: "a, b, c".
std::string join(std::span<const std::string> items, std::string_view sep = ", ");
std::string join(std::span<const std::string_view> items, std::string_view sep = ", ");

// Optimal string alignment distance (Levenshtein plus transpositions), byte-wise.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `word` if it is close enough to be a likely typo (case-insensitive
// equality counts as closest).
std::optional<std::string_view> closest(std::string_view word,
                                        std::span<const std::string_view> candidates);

// JSON paths: "hosts[2].tls.verify". Keys that are not plain identifiers are quoted:
// hosts[0]["a.b"].
std::string member_path(std::string_view parent, std::string_view key);
std::string element_path(std::string_view parent, std::size_t index);

// ---------------------------------------------------------------------------------------------
// Hosts.

enum class HostKind { name, ipv4, ipv6 };

// Normalise one host as written in a URL or pattern (IPv6 in brackets): lower case, no trailing
// dot, canonical IPv6 spelling without brackets. nullopt and *why on a bad host.
std::optional<std::string> parse_host(std::string_view host, HostKind& kind, std::string* why);
bool is_ip_literal(std::string_view normalised_host) noexcept;

// "http://host:port" (an optional trailing "/").
std::optional<ProxyEndpoint> parse_proxy(std::string_view url, std::string* why);
// "host:port", "[::1]:8443" (connect_to, as curl's --connect-to writes its target).
std::optional<ConnectTo> parse_connect_to(std::string_view text, std::string* why);
// An IP literal ("127.0.0.1", "::1" or "[::1]"), normalised without brackets (resolve).
std::optional<std::string> parse_ip_literal(std::string_view text, std::string* why);
// "host:port" for people: "[::1]:443".
std::string to_string(const ConnectTo& c);
// The limits of timeouts.happy_eyeballs (RFC 8305 section 5: at least 10 ms, at most 2 s).
inline constexpr std::chrono::milliseconds min_happy_eyeballs{10};
inline constexpr std::chrono::milliseconds max_happy_eyeballs{2000};

// ---------------------------------------------------------------------------------------------
// Fields, in explain() order, and resolution layers.

enum class Field : std::size_t {
    mode, backend, alpn, no_alpn, fallback, on_http11_required, remember, cleartext,
    tls_verify, tls_ca_file, tls_min_version, tls_max_version, tls_sni, tls_resumption,
    tls_early_data, tls_early_data_methods, tls_pin, tls_client_cert,
    timeouts_connect, timeouts_tls, timeouts_request, timeouts_idle, timeouts_happy_eyeballs,
    pool_max_connections_per_host, pool_max_idle_per_host, pool_max_concurrent_streams,
    pool_ping_interval, pool_ping_timeout, pool_max_connection_age,
    proxy, connect_to, resolve,
    count_
};
inline constexpr std::size_t field_count = static_cast<std::size_t>(Field::count_);
std::string_view field_name(Field f) noexcept;  // "tls.verify"
bool field_is_tls_only(Field f) noexcept;       // meaningless for http:// origins
bool field_is_cleartext_only(Field f) noexcept; // meaningless for https:// origins

using ProvenanceTable = std::array<Provenance, field_count>;

// The built-in policy and its provenance (mode alpn's preset included).
void init_builtin(Policy& p, ProvenanceTable& prov, std::string_view default_backend);

// Apply one layer: the mode preset first (if the layer names a mode), then explicit values.
// `where` is "defaults" or "hosts[3]"; `label` is what provenance shows for explicit values
// ("defaults", "hosts[3] (*.example.com)").
void apply_layer(Policy& p, ProvenanceTable& prov, const Overrides& o, Provenance::Kind kind,
                 std::optional<std::size_t> index, std::string_view where, std::string_view label);

// ---------------------------------------------------------------------------------------------
// Keys of the JSON format, per object (the schema_agreement test compares them with the schema).

enum class Level { top, defaults, rule, tls, timeouts, pool };
std::span<const std::string_view> known_keys(Level level) noexcept;

// ---------------------------------------------------------------------------------------------
// Limits the checker enforces.

inline constexpr std::chrono::milliseconds max_timeout{24LL * 3600 * 1000};      // 24h
inline constexpr std::chrono::milliseconds max_remember{7LL * 24 * 3600 * 1000}; // 7 days
inline constexpr std::uint32_t max_connections_limit = 1024;
inline constexpr std::uint32_t max_streams_limit = 2147483647u;  // 2^31-1 (RFC 9113 6.5.2)

// The semantic checks with a pre-filled source name (load_* use it).
void check_into(const Config& cfg, const BuildInfo& build, std::vector<config::Diagnostic>& out);

}  // namespace connmatrix::policy::detail
