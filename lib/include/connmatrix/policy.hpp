// connmatrix/policy.hpp - the negotiation policy: a matrix of orthogonal axes, not a flag.
//
// A Policy is the fully resolved set of values for one origin: which TLS backend, which ALPN
// list to offer, what to speak when the server answers without ALPN, whether to fall back to
// HTTP/1.1, what to do over cleartext, TLS settings, timeouts, pool limits and proxy.
//
// Values come in layers; a later layer overrides an earlier one, field by field:
//   1. the built-in defaults (mode `alpn`, RFC 7301 / RFC 9113 behaviour);
//   2. the preset of the mode named in `defaults` (if any);
//   3. the values written explicitly in `defaults`;
//   4. the preset of the mode named in the most specific matching host rule (if any);
//   5. the values written explicitly in that rule.
// So explicit axes always win over a mode named in the same object, and a rule's mode wins
// over anything in `defaults`. Every resolved value records where it came from (Provenance).
//
// Host rules match origins: an exact host (`api.example.com`), a wildcard suffix
// (`*.example.com`: any depth below example.com, never example.com itself), an IPv4 literal or
// a bracketed IPv6 literal (`[::1]`), each with an optional `:port` and an optional scheme
// prefix (`https://`, `http://`) that restricts the rule to that scheme. Host names compare
// case-insensitively and a trailing dot is ignored. The most specific matching rule wins:
//   exact host (or IP) > longer wildcard (more labels) > shorter wildcard,
// and for the same host part: with port > without port, then with scheme > without scheme.
// So `*.example.com:8443` beats `*.example.com` but loses to `*.api.example.com` and to any
// exact host. Two patterns that are the same after normalisation are a load-time error.
//
// This header uses the standard library only; JSON loading lives behind <connmatrix/config.hpp>.
#pragma once

#include <connmatrix/export.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::policy {

// ---------------------------------------------------------------------------------------------
// The axes' value sets. to_string() gives the spelling used in configuration files.

// Named presets over the negotiation axes (alpn, no_alpn, fallback, cleartext):
//   alpn                  offer [h2, http/1.1]; no ALPN -> http/1.1 (RFC 7301, RFC 9113 3.2);
//                         cleartext http/1.1. The built-in default.
//   h2-only               offer [h2]; anything but h2 -> error; cleartext h2c.
//   http1                 offer [http/1.1]; cleartext http/1.1.
//   prior-knowledge       no ALPN extension at all, speak h2 at once; cleartext h2c. Not
//                         RFC 9113 conformant over TLS (section 3.3 requires ALPN "h2"):
//                         allowed because users ask for it, for servers known to speak h2.
//   prior-knowledge-alpn  offer [h2, http/1.1] (a conformant ClientHello), follow the server
//                         when it selects, speak h2 when it selects nothing; cleartext h2c;
//                         fallback http/1.1: works on every kind of server.
//   h2-only-prior-knowledge  offer [h2] only; speak h2 whether the server selects h2 or
//                         nothing (then unconfirmed: an HTTP/1.x answer is http2:not_h2);
//                         a refusal (no_application_protocol) is that error; cleartext h2c;
//                         no fallback. What curl 8.10+ --http2-prior-knowledge and reqwest's
//                         http2_prior_knowledge() do over TLS: h2-only plus prior knowledge.
enum class Mode : std::uint8_t {
    alpn, h2_only, http1, prior_knowledge, prior_knowledge_alpn, h2_only_prior_knowledge
};

// What to speak when the TLS server answers without ALPN.
enum class NoAlpn : std::uint8_t { http1_1, h2, fail };

// When h2 that was not confirmed by ALPN (prior knowledge, h2c) is rejected by the server:
// none = report the error; http1_1 = retry once over HTTP/1.1 and remember that for the host.
enum class Fallback : std::uint8_t { none, http1_1 };

// What to do when an h2 server refuses a request with HTTP_1_1_REQUIRED (0xd, RFC 9113 7, in
// RST_STREAM or GOAWAY): "use HTTP/1.1 for this".
//   http1_1 (the default)  retry the request once over a new HTTP/1.1 connection that offers no
//                          h2, and remember the host as HTTP/1.1-only for `remember` (as the
//                          fallback does). Only where the policy can speak HTTP/1.1 at all: a
//                          mode like h2-only or prior-knowledge cannot, and there it is the
//                          error http2:http_1_1_required.
//   fail                   end the request with http2:http_1_1_required.
enum class OnHttp11Required : std::uint8_t { http1_1, fail };

// What to speak on http:// origins: HTTP/1.1, h2c by prior knowledge (RFC 9113 3.3), or an
// HTTP/1.1 request with `Upgrade: h2c` (RFC 7540 3.2, deprecated by RFC 9113 but still served).
enum class Cleartext : std::uint8_t { http1_1, h2c, h2c_upgrade };

// A TLS version (tls.min_version, tls.max_version). TLS 1.0 and 1.1 are not offered at all (RFC 8996; h2 needs 1.2).
enum class TlsVersion : std::uint8_t { tls1_2, tls1_3 };

enum class Scheme : std::uint8_t { http, https };

CONNMATRIX_API std::string_view to_string(Mode m) noexcept;        // "alpn", "h2-only", ... "prior-knowledge-alpn"
CONNMATRIX_API std::string_view to_string(NoAlpn v) noexcept;      // "http/1.1", "h2", "fail"
CONNMATRIX_API std::string_view to_string(Fallback v) noexcept;    // "none", "http/1.1"
CONNMATRIX_API std::string_view to_string(OnHttp11Required v) noexcept;  // "http/1.1", "fail"
CONNMATRIX_API std::string_view to_string(Cleartext v) noexcept;   // "http/1.1", "h2c", "h2c-upgrade"
CONNMATRIX_API std::string_view to_string(TlsVersion v) noexcept;  // "1.2", "1.3"
CONNMATRIX_API std::string_view to_string(Scheme s) noexcept;      // "http", "https"

CONNMATRIX_API std::optional<Mode> parse_mode(std::string_view s) noexcept;
CONNMATRIX_API std::optional<NoAlpn> parse_no_alpn(std::string_view s) noexcept;
CONNMATRIX_API std::optional<Fallback> parse_fallback(std::string_view s) noexcept;
CONNMATRIX_API std::optional<OnHttp11Required> parse_on_http11_required(std::string_view s) noexcept;
CONNMATRIX_API std::optional<Cleartext> parse_cleartext(std::string_view s) noexcept;
CONNMATRIX_API std::optional<TlsVersion> parse_tls_version(std::string_view s) noexcept;

// Every mode, in documentation order.
inline constexpr std::array<Mode, 6> all_modes{Mode::alpn, Mode::h2_only, Mode::http1,
                                              Mode::prior_knowledge, Mode::prior_knowledge_alpn,
                                              Mode::h2_only_prior_knowledge};

// Durations as written in configuration files: one or more <digits><unit> groups with units
// h, m, s, ms in that order, each at most once: "250ms", "3s", "1m", "1h30m", "1s500ms".
CONNMATRIX_API std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) noexcept;
CONNMATRIX_API std::string format_duration(std::chrono::milliseconds d);  // the shortest such spelling

// A public key pin as curl's --pinnedpubkey writes it: "sha256//" and the base64 (RFC 4648,
// padded) of the 32-byte SHA-256 of a certificate's SubjectPublicKeyInfo. nullopt, and *why,
// when it is not one (another prefix, not base64, not 32 bytes).
CONNMATRIX_API std::optional<std::array<std::uint8_t, 32>> parse_pin(std::string_view s, std::string* why = nullptr);

// ---------------------------------------------------------------------------------------------
// The resolved values.

struct ModePreset {
    std::vector<std::string> alpn;
    NoAlpn no_alpn = NoAlpn::http1_1;
    Fallback fallback = Fallback::none;
    Cleartext cleartext = Cleartext::http1_1;
};
CONNMATRIX_API ModePreset preset(Mode m);

// The server name to send in the TLS ClientHello.
struct Sni {
    enum class Kind : std::uint8_t {
        host,  // the origin's host name (none for IP literals, RFC 6066 section 3)
        none,  // send no SNI at all
        name,  // send `name` instead of the host
    };
    Kind kind = Kind::host;
    std::string name;
    friend bool operator==(const Sni&, const Sni&) = default;
};

// A client certificate for mutual TLS (tls.client_cert and its companions): PEM files, relative
// names taken from the config file's directory; the key's passphrase, when it is encrypted,
// comes from a file (its first line) or an environment variable, never from the config itself.
struct ClientIdentity {
    std::string cert;               // tls.client_cert: certificate, then intermediates; "": none
    std::string key;                // tls.client_key: its private key (RSA or EC)
    std::string key_password_file;  // tls.client_key_password_file
    std::string key_password_env;   // tls.client_key_password_env: the variable's name
    bool empty() const noexcept { return cert.empty(); }
    friend bool operator==(const ClientIdentity&, const ClientIdentity&) = default;
};

// The key's passphrase as the identity says where to find it: "" when it names no source;
// nullopt and *why set when the file cannot be read or the variable is not set.
CONNMATRIX_API std::optional<std::string> read_key_password(const ClientIdentity& id, std::string* why = nullptr);

struct TlsSettings {
    bool verify = true;            // verify chain and host name; off only when asked
    std::string ca_file;           // PEM bundle; empty: the system trust store
    TlsVersion min_version = TlsVersion::tls1_2;
    TlsVersion max_version = TlsVersion::tls1_3;  // a cap: "1.2" forces TLS 1.2 (mbedTLS 2.28
                                                  // has no TLS 1.3, so "1.3" means 1.2 there)
    Sni sni;
    bool resumption = true;        // reuse TLS sessions (tickets) for this origin
    // TLS 1.3 early data (0-RTT, RFC 8446 2.3, RFC 8470): on a connection resuming a ticket
    // that allows it, the first waiting request goes in the first flight when its method is in
    // early_data_methods and it has no body. Early data may be replayed by an attacker, so only
    // idempotent methods may be listed (check.cpp); a rejected one is resent after the
    // handshake, a 425 Too Early answer is retried once without early data.
    bool early_data = false;
    std::vector<std::string> early_data_methods{"GET", "HEAD", "OPTIONS"};
    // Public key pins, "sha256//BASE64" as written (parse_pin() accepts each): the server's
    // leaf key must match one, checked even when verify is false. Empty: no pinning.
    std::vector<std::string> pin;
    ClientIdentity client;         // sent when the server asks for a certificate; empty: none
    friend bool operator==(const TlsSettings&, const TlsSettings&) = default;
};

struct Timeouts {
    std::chrono::milliseconds connect{10'000};  // DNS + TCP (+ proxy CONNECT)
    std::chrono::milliseconds tls{10'000};      // the TLS handshake
    std::chrono::milliseconds request{30'000};  // from sending a request to the end of its response
    std::chrono::milliseconds idle{90'000};     // an unused pooled connection is closed after this
    friend bool operator==(const Timeouts&, const Timeouts&) = default;
};

struct PoolLimits {
    std::uint32_t max_connections_per_host = 8;
    std::uint32_t max_idle_per_host = 4;
    std::uint32_t max_concurrent_streams = 100;  // a cap on what an h2 server allows
    friend bool operator==(const PoolLimits&, const PoolLimits&) = default;
};

// An HTTP CONNECT proxy: "http://host:port".
struct CONNMATRIX_API ProxyEndpoint {
    std::string host;  // normalised: lower case, no brackets, no trailing dot
    std::uint16_t port = 0;
    std::string to_string() const;  // "http://proxy.example:3128", "http://[::1]:3128"
    friend bool operator==(const ProxyEndpoint&, const ProxyEndpoint&) = default;
};

struct CONNMATRIX_API Policy {
    Mode mode = Mode::alpn;          // the mode the negotiation axes were taken from (informative)
    std::string backend;             // a compiled-in TLS backend: "openssl", "gnutls", "mbedtls"
    std::vector<std::string> alpn{"h2", "http/1.1"};  // to offer, in order; [] = no extension
    NoAlpn no_alpn = NoAlpn::http1_1;
    Fallback fallback = Fallback::none;
    std::chrono::milliseconds remember{3'600'000};    // how long a fallback (or an answer
                                                      // HTTP_1_1_REQUIRED) is remembered
    Cleartext cleartext = Cleartext::http1_1;
    TlsSettings tls;
    Timeouts timeouts;
    PoolLimits pool;
    std::optional<ProxyEndpoint> proxy;               // nullopt: connect directly
    OnHttp11Required on_http11_required = OnHttp11Required::http1_1;  // not set by modes

    // The built-in defaults with the given backend, then `mode`'s preset applied.
    static Policy for_mode(Mode m, std::string backend = {});
    friend bool operator==(const Policy&, const Policy&) = default;
};

// A partial policy: what `defaults` or one host rule writes explicitly. Unset = not written.
struct Overrides {
    std::optional<Mode> mode;
    std::optional<std::string> backend;
    std::optional<std::vector<std::string>> alpn;
    std::optional<NoAlpn> no_alpn;
    std::optional<Fallback> fallback;
    std::optional<std::chrono::milliseconds> remember;
    std::optional<Cleartext> cleartext;
    struct Tls {
        std::optional<bool> verify;
        std::optional<std::string> ca_file;
        std::optional<TlsVersion> min_version;
        std::optional<TlsVersion> max_version;
        std::optional<Sni> sni;
        std::optional<bool> resumption;
        std::optional<bool> early_data;
        std::optional<std::vector<std::string>> early_data_methods;
        std::optional<std::vector<std::string>> pin;
        // Written together in one object: a rule's client_cert replaces the whole identity.
        std::optional<std::string> client_cert, client_key, client_key_password_file,
            client_key_password_env;
    } tls;
    struct Timeouts {
        std::optional<std::chrono::milliseconds> connect, tls, request, idle;
    } timeouts;
    struct Pool {
        std::optional<std::uint32_t> max_connections_per_host, max_idle_per_host,
            max_concurrent_streams;
    } pool;
    // Outer unset: not written; inner nullopt: `"proxy": false` (connect directly).
    std::optional<std::optional<ProxyEndpoint>> proxy;
    std::optional<OnHttp11Required> on_http11_required;
};

// ---------------------------------------------------------------------------------------------
// Origins and host patterns.

struct CONNMATRIX_API Origin {
    Scheme scheme = Scheme::https;
    std::string host;         // normalised: lower case, IPv6 without brackets, no trailing dot
    std::uint16_t port = 443;

    // "https://api.example.com:8443/path", "http://[::1]/", or a bare "host[:port]" (https).
    // Userinfo, path, query and fragment are ignored. nullopt and *why set on a bad URL.
    static std::optional<Origin> parse(std::string_view url, std::string* why = nullptr);
    bool is_ip_literal() const noexcept;
    std::string to_string() const;  // "https://api.example.com:443" (port always shown)
    friend bool operator==(const Origin&, const Origin&) = default;
};

class CONNMATRIX_API HostPattern {
public:
    enum class Kind : std::uint8_t { host, ipv4, ipv6, wildcard };

    // nullopt and *why set when the text is not a valid pattern. allow_scheme=false for
    // no_proxy entries, which match hosts whatever the scheme.
    static std::optional<HostPattern> parse(std::string_view text, std::string* why = nullptr,
                                            bool allow_scheme = true);

    bool matches(const Origin& o) const noexcept;

    // Larger is more specific; equal keys for matching patterns mean identical patterns.
    struct Specificity {
        std::uint8_t exact = 0;     // 1 for hosts and IP literals, 0 for wildcards
        std::uint16_t labels = 0;   // wildcard: labels in the suffix ("*.a.b" -> 2)
        std::uint8_t port = 0;      // 1 when a port is given
        std::uint8_t scheme = 0;    // 1 when a scheme is given
        friend auto operator<=>(const Specificity&, const Specificity&) = default;
    };
    Specificity specificity() const noexcept;

    Kind kind() const noexcept { return kind_; }
    const std::string& host() const noexcept { return host_; }  // wildcard: the suffix
    std::optional<std::uint16_t> port() const noexcept { return port_; }
    std::optional<Scheme> scheme() const noexcept { return scheme_; }
    const std::string& text() const noexcept { return text_; }  // as written
    std::string normalised() const;  // "https://*.example.com:8443", "[::1]"

    // Same pattern after normalisation (case, trailing dot, IPv6 spelling).
    friend bool operator==(const HostPattern& a, const HostPattern& b) noexcept {
        return a.kind_ == b.kind_ && a.host_ == b.host_ && a.port_ == b.port_ &&
               a.scheme_ == b.scheme_;
    }

private:
    Kind kind_ = Kind::host;
    std::string host_;
    std::optional<std::uint16_t> port_;
    std::optional<Scheme> scheme_;
    std::string text_;
};

// ---------------------------------------------------------------------------------------------
// A configuration, as loaded by <connmatrix/config.hpp> (or built by hand and checked with
// config::check()).

struct Rule {
    std::vector<HostPattern> match;  // one or more patterns; any of them selects the rule
    std::string description;
    Overrides set;
};

struct Config {
    std::string source;               // the file it came from, or "<string>", "<built-in>"
    std::string description;
    std::string defaults_description;
    Overrides defaults;
    std::vector<HostPattern> no_proxy;  // origins matching any of these never use the proxy
    std::vector<Rule> hosts;            // in file order
};

// What the build offers: the backend names a config may use, and the one used when none is
// named. BuildInfo::compiled_in() asks tls::Registry::compiled_in().
struct CONNMATRIX_API BuildInfo {
    std::vector<std::string> backends;
    std::string default_backend;
    static BuildInfo compiled_in();
};

// ---------------------------------------------------------------------------------------------
// Resolution and provenance.

struct Provenance {
    enum class Kind : std::uint8_t {
        builtin,      // the built-in default
        mode_preset,  // the preset of `mode`, which was set by `mode_from`
        defaults,     // written in "defaults"
        rule,         // written in hosts[rule]
        no_proxy,     // proxy bypassed by defaults.no_proxy[index]
    };
    std::string field;   // "alpn", "tls.verify", "timeouts.connect", "pool.max_idle_per_host"
    Kind kind = Kind::builtin;
    std::optional<std::size_t> index;  // hosts[index] (rule, or the mode's rule), no_proxy[index]
    std::string text;    // "built-in default", "defaults", "hosts[3] (*.example.com)",
                         // "mode prior-knowledge-alpn (from hosts[1])", "defaults.no_proxy[0] (*.internal)"
};

struct RuleMatch {
    std::size_t index = 0;  // into Config::hosts
    std::string pattern;    // the matching pattern, as written
};

struct CONNMATRIX_API ResolvedPolicy {
    Origin origin;
    Policy policy;
    std::vector<RuleMatch> matches;       // every matching rule, most specific (the winner) first
    std::vector<Provenance> provenance;   // one per field, in explain() order

    const RuleMatch* rule() const noexcept { return matches.empty() ? nullptr : &matches.front(); }
    const Provenance* source_of(std::string_view field) const noexcept;
};

// Everything explain() says about one URL.
struct CONNMATRIX_API Explanation {
    std::string url;
    std::string error;                       // non-empty when the URL could not be parsed
    std::optional<ResolvedPolicy> resolved;  // set when error is empty
    std::string config_source;
    std::string rule_description;            // the winning rule's description, if any
    std::string text() const;  // for people: a table of value and source per setting
    std::string json() const;  // for tools: {"url","origin","config","rule","also_matched","settings"}
};

// Resolves origins against a configuration. Immutable after construction: safe to share
// between threads. The Config should have passed config::check() (load_* do that); otherwise
// rules of equal specificity resolve to the first in file order.
class CONNMATRIX_API Engine {
public:
    explicit Engine(Config cfg = {}, BuildInfo build = BuildInfo::compiled_in());

    ResolvedPolicy resolve(const Origin& origin) const;
    Explanation explain(std::string_view url) const;

    const Config& config() const noexcept { return cfg_; }
    const BuildInfo& build() const noexcept { return build_; }

private:
    Config cfg_;
    BuildInfo build_;
};

// The same resolution without an Engine (the loader and the fuzz target use it).
CONNMATRIX_API ResolvedPolicy resolve(const Config& cfg, const Origin& origin, std::string_view default_backend);

}  // namespace connmatrix::policy
