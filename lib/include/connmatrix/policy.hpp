/// \file
/// The negotiation policy: a matrix of orthogonal axes, not a flag.
///
/// A Policy is the fully resolved set of values for one origin: which TLS backend, which ALPN
/// list to offer, what to speak when the server answers without ALPN, whether to fall back to
/// HTTP/1.1, what to do over cleartext, TLS settings, timeouts, pool limits and proxy.
///
/// Values come in layers; a later layer overrides an earlier one, field by field:
///   1. the built-in defaults (mode `alpn`, RFC 7301 / RFC 9113 behaviour);
///   2. the preset of the mode named in `defaults` (if any);
///   3. the values written explicitly in `defaults`;
///   4. the preset of the mode named in the most specific matching host rule (if any);
///   5. the values written explicitly in that rule.
///
/// So explicit axes always win over a mode named in the same object, and a rule's mode wins
/// over anything in `defaults`. Every resolved value records where it came from (Provenance).
///
/// Host rules match origins: an exact host (`api.example.com`), a wildcard suffix
/// (`*.example.com`: any depth below example.com, never example.com itself), an IPv4 literal or
/// a bracketed IPv6 literal (`[::1]`), each with an optional `:port` and an optional scheme
/// prefix (`https://`, `http://`) that restricts the rule to that scheme. Host names compare
/// case-insensitively and a trailing dot is ignored. The most specific matching rule wins:
///
///     exact host (or IP) > longer wildcard (more labels) > shorter wildcard,
///
/// and for the same host part: with port > without port, then with scheme > without scheme.
///
/// So `*.example.com:8443` beats `*.example.com` but loses to `*.api.example.com` and to any
/// exact host. Two patterns that are the same after normalisation are a load-time error.
///
/// This header uses the standard library only; JSON loading lives behind `<connmatrix/config.hpp>`.
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

/// Named presets over the negotiation axes (alpn, no_alpn, fallback, cleartext), as a
/// configuration's `"mode"` names them (the enumerators spell `-` as `_`; preset() gives each
/// one's values):
///
///     alpn                  offer [h2, http/1.1]; no ALPN -> http/1.1 (RFC 7301, RFC 9113 3.2);
///                           cleartext http/1.1. The built-in default.
///     h2-only               offer [h2]; anything but h2 -> error; cleartext h2c.
///     http1                 offer [http/1.1]; cleartext http/1.1.
///     prior-knowledge       no ALPN extension at all, speak h2 at once; cleartext h2c. Not
///                           RFC 9113 conformant over TLS (section 3.3 requires ALPN "h2"):
///                           allowed because users ask for it, for servers known to speak h2.
///     prior-knowledge-alpn  offer [h2, http/1.1] (a conformant ClientHello), follow the server
///                           when it selects, speak h2 when it selects nothing; cleartext h2c;
///                           fallback http/1.1: works on every kind of server.
///     h2-only-prior-knowledge  offer [h2] only; speak h2 whether the server selects h2 or
///                           nothing (then unconfirmed: an HTTP/1.x answer is http2:not_h2);
///                           a refusal (no_application_protocol) is that error; cleartext h2c;
///                           no fallback. What curl 8.10+ --http2-prior-knowledge and reqwest's
///                           http2_prior_knowledge() do over TLS: h2-only plus prior knowledge.
enum class Mode : std::uint8_t {
    alpn, h2_only, http1, prior_knowledge, prior_knowledge_alpn, h2_only_prior_knowledge
};

/// What to speak when the TLS server answers without ALPN (or nothing was offered): `http1_1`
/// (`"http/1.1"`, RFC 7301's default), `h2` (`"h2"`, by prior knowledge: not confirmed, so the
/// fallback may apply), or `fail` (`"fail"`: negotiate::errc::alpn_required_but_none, or
/// h2_required_but_no_alpn when only h2 was offered).
enum class NoAlpn : std::uint8_t { http1_1, h2, fail };

/// When h2 that was not confirmed by ALPN (prior knowledge, h2c) is rejected by the server
/// (a connection error, GOAWAY before any response, an HTTP/1.x answer to our preface):
/// `none` (`"none"`) = report the error; `http1_1` (`"http/1.1"`) = retry once over HTTP/1.1
/// and remember that for the host, for Policy::remember.
enum class Fallback : std::uint8_t { none, http1_1 };

/// What to do when an h2 server refuses a request with HTTP_1_1_REQUIRED (0xd, RFC 9113 7, in
/// RST_STREAM or GOAWAY): "use HTTP/1.1 for this".
///
///     http1_1 (the default)  retry the request once over a new HTTP/1.1 connection that offers no
///                            h2, and remember the host as HTTP/1.1-only for "remember" (as the
///                            fallback does). Only where the policy can speak HTTP/1.1 at all: a
///                            mode like h2-only or prior-knowledge cannot, and there it is the
///                            error http2:http_1_1_required.
///     fail                   end the request with http2:http_1_1_required.
///
/// In configuration files: `"on_http11_required": "http/1.1"` or `"fail"`. No mode sets it.
enum class OnHttp11Required : std::uint8_t { http1_1, fail };

/// What to speak on http:// origins: HTTP/1.1 (`http1_1`, `"http/1.1"`), h2c by prior knowledge
/// (`h2c`, `"h2c"`, RFC 9113 3.3), or an HTTP/1.1 request with `Upgrade: h2c` (`h2c_upgrade`,
/// `"h2c-upgrade"`, RFC 7540 3.2, deprecated by RFC 9113 but still served).
enum class Cleartext : std::uint8_t { http1_1, h2c, h2c_upgrade };

/// A TLS version (tls.min_version, tls.max_version): `tls1_2` (`"1.2"`) or `tls1_3` (`"1.3"`).
/// TLS 1.0 and 1.1 are not offered at all (RFC 8996; h2 needs 1.2).
enum class TlsVersion : std::uint8_t { tls1_2, tls1_3 };

/// The scheme of an origin: `http` (cleartext, port 80 by default) or `https` (TLS, port 443).
enum class Scheme : std::uint8_t { http, https };

/// The value as configuration files write it.
/// \param m a mode.
/// \return its configuration spelling: `"alpn"`, `"h2-only"`, `"http1"`, `"prior-knowledge"`,
///         `"prior-knowledge-alpn"`, `"h2-only-prior-knowledge"`.
CONNMATRIX_API std::string_view to_string(Mode m) noexcept;        // "alpn", "h2-only", ... "prior-knowledge-alpn"
/// The value as configuration files write it.
/// \param v a no_alpn value.
/// \return `"http/1.1"`, `"h2"` or `"fail"`.
CONNMATRIX_API std::string_view to_string(NoAlpn v) noexcept;      // "http/1.1", "h2", "fail"
/// The value as configuration files write it.
/// \param v a fallback value.
/// \return `"none"` or `"http/1.1"`.
CONNMATRIX_API std::string_view to_string(Fallback v) noexcept;    // "none", "http/1.1"
/// The value as configuration files write it.
/// \param v an on_http11_required value.
/// \return `"http/1.1"` or `"fail"`.
CONNMATRIX_API std::string_view to_string(OnHttp11Required v) noexcept;  // "http/1.1", "fail"
/// The value as configuration files write it.
/// \param v a cleartext value.
/// \return `"http/1.1"`, `"h2c"` or `"h2c-upgrade"`.
CONNMATRIX_API std::string_view to_string(Cleartext v) noexcept;   // "http/1.1", "h2c", "h2c-upgrade"
/// The value as configuration files write it.
/// \param v a TLS version.
/// \return `"1.2"` or `"1.3"`.
CONNMATRIX_API std::string_view to_string(TlsVersion v) noexcept;  // "1.2", "1.3"
/// The value as configuration files write it.
/// \param s a scheme.
/// \return `"http"` or `"https"`.
CONNMATRIX_API std::string_view to_string(Scheme s) noexcept;      // "http", "https"

/// The inverse of to_string(): exactly that spelling, case-sensitive.
/// \param s a mode's name, as configuration files write it.
/// \return the Mode, or nullopt for any other text.
CONNMATRIX_API std::optional<Mode> parse_mode(std::string_view s) noexcept;
/// The inverse of to_string(): exactly that spelling, case-sensitive.
/// \param s a no_alpn value, as configuration files write it.
/// \return the NoAlpn, or nullopt for any other text.
CONNMATRIX_API std::optional<NoAlpn> parse_no_alpn(std::string_view s) noexcept;
/// The inverse of to_string(): exactly that spelling, case-sensitive.
/// \param s a fallback value, as configuration files write it.
/// \return the Fallback, or nullopt for any other text.
CONNMATRIX_API std::optional<Fallback> parse_fallback(std::string_view s) noexcept;
/// The inverse of to_string(): exactly that spelling, case-sensitive.
/// \param s an on_http11_required value, as configuration files write it.
/// \return the OnHttp11Required, or nullopt for any other text.
CONNMATRIX_API std::optional<OnHttp11Required> parse_on_http11_required(std::string_view s) noexcept;
/// The inverse of to_string(): exactly that spelling, case-sensitive.
/// \param s a cleartext value, as configuration files write it.
/// \return the Cleartext, or nullopt for any other text.
CONNMATRIX_API std::optional<Cleartext> parse_cleartext(std::string_view s) noexcept;
/// The inverse of to_string(): exactly that spelling, case-sensitive.
/// \param s a TLS version (`"1.2"`, `"1.3"`), as configuration files write it.
/// \return the TlsVersion, or nullopt for any other text.
CONNMATRIX_API std::optional<TlsVersion> parse_tls_version(std::string_view s) noexcept;

/// Every mode, in documentation order (the CLI's `probe` runs them in this order).
inline constexpr std::array<Mode, 6> all_modes{Mode::alpn, Mode::h2_only, Mode::http1,
                                              Mode::prior_knowledge, Mode::prior_knowledge_alpn,
                                              Mode::h2_only_prior_knowledge};

/// Durations as written in configuration files: one or more `<digits><unit>` groups with units
/// h, m, s, ms in that order, each at most once: "250ms", "3s", "1m", "1h30m", "1s500ms".
/// At most nine digits per group; no sign, no spaces, no fractions.
/// \param s the text.
/// \return the duration, or nullopt when `s` is not one.
CONNMATRIX_API std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) noexcept;
/// The inverse of parse_duration().
/// \param d a duration (not negative).
/// \return the shortest such spelling: `"1h30m"`, `"250ms"`, `"0s"` for zero.
CONNMATRIX_API std::string format_duration(std::chrono::milliseconds d);  // the shortest such spelling

/// A public key pin as curl's --pinnedpubkey writes it: "sha256//" and the base64 (RFC 4648,
/// padded) of the 32-byte SHA-256 of a certificate's SubjectPublicKeyInfo. nullopt, and `*why`,
/// when it is not one (another prefix, not base64, not 32 bytes).
/// \param s the pin as written (`tls.pin` in a configuration, `--pinnedpubkey` on the CLI).
/// \param why where to say what is wrong with it; may be nullptr.
/// \return the 32 bytes of the hash (tls::Pin, for tls::ClientConfig::pins), or nullopt.
CONNMATRIX_API std::optional<std::array<std::uint8_t, 32>> parse_pin(std::string_view s, std::string* why = nullptr);

// ---------------------------------------------------------------------------------------------
// The resolved values.

/// The values a mode sets: the four negotiation axes, nothing else.
struct ModePreset {
    std::vector<std::string> alpn;             ///< The ALPN list to offer; empty: no extension.
    NoAlpn no_alpn = NoAlpn::http1_1;          ///< What to speak without an ALPN answer.
    Fallback fallback = Fallback::none;        ///< Whether rejected, unconfirmed h2 falls back.
    Cleartext cleartext = Cleartext::http1_1;  ///< What to speak on http:// origins.
};
/// What a mode sets (see Mode for each one's values).
/// \param m the mode.
/// \return its preset of the four negotiation axes.
CONNMATRIX_API ModePreset preset(Mode m);

/// The server name to send in the TLS ClientHello (`tls.sni`: `true` or absent for the host,
/// `false` for none, a host name for that name). Certificate verification always checks the
/// origin's host, whatever is sent.
struct Sni {
    /// Which name is sent.
    enum class Kind : std::uint8_t {
        host,  ///< The origin's host name (none for IP literals, RFC 6066 section 3).
        none,  ///< Send no SNI at all.
        name,  ///< Send `name` instead of the host.
    };
    Kind kind = Kind::host;  ///< Which name is sent.
    std::string name;        ///< For Kind::name: the host name to send; unused otherwise.
    /// Field-by-field equality.
    friend bool operator==(const Sni&, const Sni&) = default;
};

/// A client certificate for mutual TLS (tls.client_cert and its companions): PEM files, relative
/// names taken from the config file's directory; the key's passphrase, when it is encrypted,
/// comes from a file (its first line) or an environment variable, never from the config itself.
struct ClientIdentity {
    std::string cert;               ///< tls.client_cert: certificate, then intermediates; "": none.
    std::string key;                ///< tls.client_key: its private key (RSA or EC).
    std::string key_password_file;  ///< tls.client_key_password_file: its first line is the passphrase.
    std::string key_password_env;   ///< tls.client_key_password_env: the variable's name.
    /// Whether no client certificate is configured.
    /// \return whether cert is empty.
    bool empty() const noexcept { return cert.empty(); }
    /// Field-by-field equality.
    friend bool operator==(const ClientIdentity&, const ClientIdentity&) = default;
};

/// The key's passphrase as the identity says where to find it: "" when it names no source;
/// nullopt and `*why` set when the file cannot be read or the variable is not set. Read at each
/// call (nothing is cached); the file's first line, without its line end, is the passphrase.
/// \param id the identity naming the source.
/// \param why where to say what failed; may be nullptr.
/// \return the passphrase, "" when none is named, or nullopt.
CONNMATRIX_API std::optional<std::string> read_key_password(const ClientIdentity& id, std::string* why = nullptr);

/// The `tls` settings of a policy: verification, versions, SNI, resumption, early data,
/// pinning and the client certificate. Only https:// origins use them.
struct TlsSettings {
    bool verify = true;            ///< Verify chain and host name; off only when asked (and logged).
    std::string ca_file;           ///< PEM bundle; empty: the system trust store.
    TlsVersion min_version = TlsVersion::tls1_2;  ///< The oldest version accepted.
    TlsVersion max_version = TlsVersion::tls1_3;  ///< A cap: "1.2" forces TLS 1.2 (mbedTLS 2.28
                                                  ///< has no TLS 1.3, so "1.3" means 1.2 there).
    Sni sni;                       ///< The server name to send.
    bool resumption = true;        ///< Reuse TLS sessions (tickets) for this origin.
    /// TLS 1.3 early data (0-RTT, RFC 8446 2.3, RFC 8470): on a connection resuming a ticket
    /// that allows it, the first waiting request goes in the first flight when its method is in
    /// early_data_methods and it has no body. Early data may be replayed by an attacker, so only
    /// idempotent methods may be listed (config::check() refuses others); a rejected one is
    /// resent after the handshake, a 425 Too Early answer is retried once without early data.
    /// Not on mbedTLS 2.28 (no TLS 1.3): a Client refuses to start with it there.
    bool early_data = false;
    /// The methods that may go as early data (only without a body).
    std::vector<std::string> early_data_methods{"GET", "HEAD", "OPTIONS"};
    /// Public key pins, "sha256//BASE64" as written (parse_pin() accepts each): the server's
    /// leaf key must match one, checked even when verify is false. Empty: no pinning.
    std::vector<std::string> pin;
    ClientIdentity client;         ///< Sent when the server asks for a certificate; empty: none.
    /// Field-by-field equality.
    friend bool operator==(const TlsSettings&, const TlsSettings&) = default;
};

/// The `timeouts` of a policy. Each ends the request it applies to with its net::errc.
struct Timeouts {
    std::chrono::milliseconds connect{10'000};  ///< DNS + TCP (+ proxy CONNECT): net::errc::connect_timeout.
    std::chrono::milliseconds tls{10'000};      ///< The TLS handshake: net::errc::tls_timeout.
    /// From send() to the end of the response, waiting for a connection included:
    /// net::errc::request_timeout. Request::timeout overrides it per request.
    std::chrono::milliseconds request{30'000};  // from sending a request to the end of its response
    std::chrono::milliseconds idle{90'000};     ///< An unused pooled connection is closed after this.
    /// Happy Eyeballs (RFC 8305 section 5, the Connection Attempt Delay): while one TCP attempt
    /// is pending, the next address (families interleaved, IPv6 first) is tried after this
    /// long; an attempt that fails starts the next one at once. `connect` bounds them all.
    std::chrono::milliseconds happy_eyeballs{250};
    /// Field-by-field equality.
    friend bool operator==(const Timeouts&, const Timeouts&) = default;
};

/// The `pool` limits of a policy, per pool key (an origin with one set of wire settings).
struct PoolLimits {
    /// Connections open or opening at once; more requests wait for one (within their timeout).
    std::uint32_t max_connections_per_host = 8;
    /// Idle connections kept for reuse; more are closed. Capped at max_connections_per_host
    /// when only that one is configured.
    std::uint32_t max_idle_per_host = 4;
    std::uint32_t max_concurrent_streams = 100;  ///< A cap on the streams an h2 server allows per connection.
    /// A connection unused for longer than this is checked before it takes a request: h2 sends
    /// a PING and waits up to ping_timeout for its ACK (no ACK: the connection is closed and
    /// the request goes on another one). An idle h2 connection is also PINGed every interval
    /// (keepalive), and closed while idle when one goes unanswered. 0 (the default): never PING.
    std::chrono::milliseconds ping_interval{0};
    /// How long an h2 PING may stay unanswered before its connection is closed.
    std::chrono::milliseconds ping_timeout{5'000};
    /// A connection older than this (from its handshake) takes no new request: h2 sends GOAWAY
    /// NO_ERROR and HTTP/1.1 takes no next request, the requests on it finish, then it closes;
    /// new requests go on a fresh connection, which it no longer counts against
    /// max_connections_per_host while it drains. For DNS changes and servers that balance by
    /// connection (Envoy's max_connection_duration, gRPC's MAX_CONNECTION_AGE). 0 (the
    /// default): no limit.
    std::chrono::milliseconds max_connection_age{0};
    /// Field-by-field equality.
    friend bool operator==(const PoolLimits&, const PoolLimits&) = default;
};

/// An HTTP CONNECT proxy: "http://host:port".
struct CONNMATRIX_API ProxyEndpoint {
    std::string host;  ///< Normalised: lower case, no brackets, no trailing dot.
    std::uint16_t port = 0;  ///< 1 to 65535 (0 only in a default-constructed value).

    /// The proxy as a URL.
    /// \return `"http://proxy.example:3128"`, `"http://[::1]:3128"`.
    std::string to_string() const;  // "http://proxy.example:3128", "http://[::1]:3128"
    /// Field-by-field equality.
    friend bool operator==(const ProxyEndpoint&, const ProxyEndpoint&) = default;
};

/// Where to connect instead of the origin (`"connect_to": "host:port"`, as curl's
/// `--connect-to`): TLS still sends the origin's name as SNI and verifies the certificate for
/// it, and the request's Host / `:authority` stay the origin's.
struct ConnectTo {
    std::string host;        ///< Normalised: lower case, IPv6 without brackets, no trailing dot.
    std::uint16_t port = 0;  ///< 1 to 65535 (0 only in a default-constructed value).
    /// Field-by-field equality.
    friend bool operator==(const ConnectTo&, const ConnectTo&) = default;
};

/// The fully resolved policy for one origin: every axis has a value (see the file's
/// description for the layers it comes from). The defaults here are the built-in ones, mode
/// `alpn`. A value type: copy it freely.
struct CONNMATRIX_API Policy {
    Mode mode = Mode::alpn;          ///< The mode the negotiation axes were taken from (informative).
    std::string backend;             ///< A compiled-in TLS backend: "openssl", "gnutls", "mbedtls".
    std::vector<std::string> alpn{"h2", "http/1.1"};  ///< To offer, in order; [] = no extension.
    NoAlpn no_alpn = NoAlpn::http1_1;  ///< What to speak when the server answers without ALPN.
    Fallback fallback = Fallback::none;  ///< Whether rejected, unconfirmed h2 falls back to HTTP/1.1.
    std::chrono::milliseconds remember{3'600'000};    ///< How long a fallback (or an answer
                                                      ///< HTTP_1_1_REQUIRED) is remembered.
    Cleartext cleartext = Cleartext::http1_1;  ///< What to speak on http:// origins.
    TlsSettings tls;                 ///< TLS settings (https:// only).
    Timeouts timeouts;               ///< Connect, TLS, request and idle timeouts.
    PoolLimits pool;                 ///< Connection and stream limits per pool key.
    std::optional<ProxyEndpoint> proxy;               ///< nullopt: connect directly.
    /// nullopt: connect to the origin's host and port. Through a proxy, the CONNECT names it.
    std::optional<ConnectTo> connect_to;
    /// Fixed addresses for the origin's host (`"resolve"`, as curl's `--resolve`): IP
    /// literals, normalised (IPv6 without brackets), tried by Happy Eyeballs with the origin's
    /// port, without DNS. Empty: DNS. Not used through a proxy (it resolves the name it is
    /// sent) nor with connect_to (that names where to connect).
    std::vector<std::string> resolve;
    /// What to do with an h2 server's HTTP_1_1_REQUIRED. Not set by modes.
    OnHttp11Required on_http11_required = OnHttp11Required::http1_1;  // not set by modes

    /// The built-in defaults with the given backend, then `mode`'s preset applied.
    /// \param m the mode whose preset is applied.
    /// \param backend the TLS backend; empty leaves it to whoever resolves the policy.
    /// \return the policy.
    static Policy for_mode(Mode m, std::string backend = {});
    /// Field-by-field equality.
    friend bool operator==(const Policy&, const Policy&) = default;
};

/// A partial policy: what `defaults` or one host rule writes explicitly. Unset = not written.
/// Each field is the Policy field of the same name (a mode's preset is applied before the
/// fields written next to it, see the file's description).
struct Overrides {
    std::optional<Mode> mode;                      ///< `"mode"`: its preset, applied first.
    std::optional<std::string> backend;            ///< `"backend"`.
    std::optional<std::vector<std::string>> alpn;  ///< `"alpn"`.
    std::optional<NoAlpn> no_alpn;                 ///< `"no_alpn"`.
    std::optional<Fallback> fallback;              ///< `"fallback"`.
    std::optional<std::chrono::milliseconds> remember;  ///< `"remember"`.
    std::optional<Cleartext> cleartext;            ///< `"cleartext"`.
    /// `"tls"`: the TlsSettings fields written.
    struct Tls {
        std::optional<bool> verify;                ///< `"verify"`.
        std::optional<std::string> ca_file;        ///< `"ca_file"`.
        std::optional<TlsVersion> min_version;     ///< `"min_version"`.
        std::optional<TlsVersion> max_version;     ///< `"max_version"`.
        std::optional<Sni> sni;                    ///< `"sni"`.
        std::optional<bool> resumption;            ///< `"resumption"`.
        std::optional<bool> early_data;            ///< `"early_data"`.
        std::optional<std::vector<std::string>> early_data_methods;  ///< `"early_data_methods"`.
        std::optional<std::vector<std::string>> pin;  ///< `"pin"`.
        ///@{
        /// `"client_cert"`, `"client_key"`, `"client_key_password_file"`,
        /// `"client_key_password_env"`: ClientIdentity's fields.
        /// Written together in one object: a rule's client_cert replaces the whole identity.
        std::optional<std::string> client_cert, client_key, client_key_password_file,
            client_key_password_env;
        ///@}
    } tls;  ///< `"tls"`.
    /// `"timeouts"`: the policy::Timeouts fields written.
    struct Timeouts {
        ///@{
        /// `"connect"`, `"tls"`, `"request"`, `"idle"`, `"happy_eyeballs"`.
        std::optional<std::chrono::milliseconds> connect, tls, request, idle, happy_eyeballs;
        ///@}
    } timeouts;  ///< `"timeouts"`.
    /// `"pool"`: the PoolLimits fields written.
    struct Pool {
        ///@{
        /// `"max_connections_per_host"`, `"max_idle_per_host"`, `"max_concurrent_streams"`.
        std::optional<std::uint32_t> max_connections_per_host, max_idle_per_host,
            max_concurrent_streams;
        ///@}
        ///@{
        /// `"ping_interval"`, `"ping_timeout"`, `"max_connection_age"`.
        std::optional<std::chrono::milliseconds> ping_interval, ping_timeout, max_connection_age;
        ///@}
    } pool;  ///< `"pool"`.
    /// `"proxy"`. Outer unset: not written; inner nullopt: `"proxy": false` (connect directly).
    std::optional<std::optional<ProxyEndpoint>> proxy;
    /// `"connect_to"`. Outer unset: not written; inner nullopt: `"connect_to": false`.
    std::optional<std::optional<ConnectTo>> connect_to;
    /// `"resolve"` (rules only): IP literals for the rule's host names.
    std::optional<std::vector<std::string>> resolve;
    std::optional<OnHttp11Required> on_http11_required;  ///< `"on_http11_required"`.
};

// ---------------------------------------------------------------------------------------------
// Origins and host patterns.

/// Where a request goes, as policies and pools see it: scheme, host and port. Two URLs with the
/// same origin share rules and (with the same policy) connections.
struct CONNMATRIX_API Origin {
    Scheme scheme = Scheme::https;  ///< http or https.
    std::string host;         ///< Normalised: lower case, IPv6 without brackets, no trailing dot.
    std::uint16_t port = 443;  ///< The port; the scheme's default when the URL names none.

    /// "https://api.example.com:8443/path", "http://[::1]/", or a bare "host[:port]" (https).
    /// Userinfo, path, query and fragment are ignored. nullopt and `*why` set on a bad URL.
    /// Host names must be ASCII (the IDNA `xn--` form), IPv6 literals bracketed, without a
    /// zone; the scheme is case-insensitive.
    /// \param url the URL (or bare authority) to parse.
    /// \param why where to say what is wrong with it; may be nullptr.
    /// \return the origin, or nullopt.
    static std::optional<Origin> parse(std::string_view url, std::string* why = nullptr);
    /// Whether the host is an IPv4 or IPv6 address rather than a name (then no SNI is sent).
    /// \return whether host is an IP literal.
    bool is_ip_literal() const noexcept;
    /// The origin for people and logs.
    /// \return `"https://api.example.com:443"` (port always shown, IPv6 in brackets).
    std::string to_string() const;  // "https://api.example.com:443" (port always shown)
    /// Field-by-field equality (hosts are normalised, so this is origin equality).
    friend bool operator==(const Origin&, const Origin&) = default;
};

/// A host pattern, as a rule's `"match"` (or an entry of `"no_proxy"`) writes it: an exact host,
/// `*.suffix`, an IPv4 or bracketed IPv6 literal, each with an optional `:port` and an optional
/// `http://` or `https://` prefix. See the file's description for how patterns rank.
class CONNMATRIX_API HostPattern {
public:
    /// What the host part is: a host name, an IPv4 or IPv6 literal, or a `*.suffix` wildcard.
    enum class Kind : std::uint8_t { host, ipv4, ipv6, wildcard };

    /// nullopt and `*why` set when the text is not a valid pattern. allow_scheme=false for
    /// no_proxy entries, which match hosts whatever the scheme. `*` must be the whole first
    /// label (`*.example.com`, not `*` alone, not `a*.example.com`), and applies to names only.
    /// \param text the pattern as written.
    /// \param why where to say what is wrong with it; may be nullptr.
    /// \param allow_scheme whether a scheme prefix is accepted.
    /// \return the pattern, or nullopt.
    static std::optional<HostPattern> parse(std::string_view text, std::string* why = nullptr,
                                            bool allow_scheme = true);

    /// Whether the origin is one this pattern names. A wildcard matches hosts at any depth
    /// below its suffix, never the suffix itself, never an IP literal.
    /// \param o an origin as Origin::parse() makes it (normalised host).
    /// \return whether scheme (if given), port (if given) and host match.
    bool matches(const Origin& o) const noexcept;

    /// Larger is more specific; equal keys for matching patterns mean identical patterns.
    struct Specificity {
        std::uint8_t exact = 0;     ///< 1 for hosts and IP literals, 0 for wildcards.
        std::uint16_t labels = 0;   ///< Wildcard: labels in the suffix ("*.a.b" -> 2).
        std::uint8_t port = 0;      ///< 1 when a port is given.
        std::uint8_t scheme = 0;    ///< 1 when a scheme is given.
        /// Lexicographic, in the order of the fields: exact, labels, port, scheme.
        friend auto operator<=>(const Specificity&, const Specificity&) = default;
    };
    /// How specific the pattern is, for choosing the winning rule.
    /// \return its rank.
    Specificity specificity() const noexcept;

    /// \return what the host part is.
    Kind kind() const noexcept { return kind_; }
    /// \return the normalised host; for a wildcard its suffix (`example.com` of `*.example.com`).
    const std::string& host() const noexcept { return host_; }  // wildcard: the suffix
    /// \return the port, or nullopt when the pattern names none (any port).
    std::optional<std::uint16_t> port() const noexcept { return port_; }
    /// \return the scheme, or nullopt when the pattern names none (either scheme).
    std::optional<Scheme> scheme() const noexcept { return scheme_; }
    /// \return the pattern as written, for messages and Provenance.
    const std::string& text() const noexcept { return text_; }  // as written
    /// \return the pattern in one spelling: `"https://*.example.com:8443"`, `"[::1]"`.
    std::string normalised() const;  // "https://*.example.com:8443", "[::1]"

    /// Same pattern after normalisation (case, trailing dot, IPv6 spelling).
    /// \param a a pattern.
    /// \param b another.
    /// \return whether both name the same origins.
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

/// One entry of `"hosts"`: the patterns it matches and what it sets.
struct Rule {
    std::vector<HostPattern> match;  ///< One or more patterns; any of them selects the rule.
    std::string description;         ///< `"description"`, for people and explain().
    Overrides set;                   ///< The policy fields the rule writes.
};

/// A configuration, as loaded by `<connmatrix/config.hpp>` (or built by hand and checked with
/// config::check()). A default-constructed Config is the built-in defaults: mode `alpn`,
/// verification on, no rules.
struct Config {
    std::string source;               ///< The file it came from, or "<string>", "<built-in>".
    std::string description;          ///< The top-level `"description"`.
    std::string defaults_description; ///< `"defaults"."description"`.
    Overrides defaults;               ///< What `"defaults"` writes, for every origin.
    std::vector<HostPattern> no_proxy;  ///< Origins matching any of these never use the proxy.
    std::vector<Rule> hosts;            ///< In file order.
};

/// What the build offers: the backend names a config may use, and the one used when none is
/// named. BuildInfo::compiled_in() asks tls::Registry::compiled_in().
struct CONNMATRIX_API BuildInfo {
    std::vector<std::string> backends;  ///< Backend names a `"backend"` field may give.
    std::string default_backend;        ///< The backend of a policy that names none.
    /// This build's backends (`-Dopenssl`, `-Dgnutls`, `-Dmbedtls`) and its
    /// `-Ddefault_backend`, without constructing any backend.
    /// \return the compiled-in backends' names and the default one.
    static BuildInfo compiled_in();
};

// ---------------------------------------------------------------------------------------------
// Resolution and provenance.

/// Where one resolved value came from.
struct Provenance {
    /// Which layer set the value.
    enum class Kind : std::uint8_t {
        builtin,      ///< The built-in default.
        mode_preset,  ///< The preset of `mode`, which was set in the layer `index` names.
        defaults,     ///< Written in "defaults".
        rule,         ///< Written in hosts[index].
        no_proxy,     ///< Proxy bypassed by defaults.no_proxy[index].
    };
    std::string field;   ///< "alpn", "tls.verify", "timeouts.connect", "pool.max_idle_per_host"
    Kind kind = Kind::builtin;  ///< Which layer set it.
    std::optional<std::size_t> index;  ///< hosts[index] (rule, or the mode's rule), no_proxy[index].
    std::string text;    ///< "built-in default", "defaults", "hosts[3] (*.example.com)",
                         ///< "mode prior-knowledge-alpn (from hosts[1])", "defaults.no_proxy[0] (*.internal)"
};

/// A rule that matched an origin.
struct RuleMatch {
    std::size_t index = 0;  ///< Into Config::hosts.
    std::string pattern;    ///< The matching pattern, as written.
};

/// The policy for one origin, with where each of its values came from.
struct CONNMATRIX_API ResolvedPolicy {
    Origin origin;                        ///< The origin resolved.
    Policy policy;                        ///< Its policy, every value set.
    std::vector<RuleMatch> matches;       ///< Every matching rule, most specific (the winner) first.
    std::vector<Provenance> provenance;   ///< One per field, in explain() order.

    /// The rule that decided.
    /// \return the winning match, or nullptr when no rule matched (only `defaults` applied).
    const RuleMatch* rule() const noexcept { return matches.empty() ? nullptr : &matches.front(); }
    /// Where one field's value came from.
    /// \param field a Provenance::field name: `"alpn"`, `"tls.verify"`, `"timeouts.connect"`.
    /// \return its provenance, or nullptr for a name that is no field (a Client keeps only
    ///         `"tls.client_cert"` in its own resolutions).
    const Provenance* source_of(std::string_view field) const noexcept;
};

/// Everything explain() says about one URL.
struct CONNMATRIX_API Explanation {
    std::string url;                         ///< The URL as given.
    std::string error;                       ///< Non-empty when the URL could not be parsed.
    std::optional<ResolvedPolicy> resolved;  ///< Set when error is empty.
    std::string config_source;               ///< Config::source, or "<built-in>".
    std::string rule_description;            ///< The winning rule's description, if any.
    /// For people: the origin, the config, the winning rule (and the others that match), then
    /// a table of value and source per setting (`connmatrix explain` prints it).
    /// \return the text, ending in a newline.
    std::string text() const;  // for people: a table of value and source per setting
    /// For tools (`connmatrix explain --json`).
    /// \return one JSON object: `{"url","origin","config","rule","also_matched","settings"}`.
    std::string json() const;  // for tools: {"url","origin","config","rule","also_matched","settings"}
};

/// Resolves origins against a configuration. Immutable after construction: safe to share
/// between threads. The Config should have passed config::check() (load_* do that); otherwise
/// rules of equal specificity resolve to the first in file order.
class CONNMATRIX_API Engine {
public:
    /// Takes the configuration (moved in: the engine owns its copy).
    /// \param cfg the configuration; the default is the built-in defaults.
    /// \param build the backends, for the default backend of a policy that names none.
    explicit Engine(Config cfg = {}, BuildInfo build = BuildInfo::compiled_in());

    /// The policy for an origin: built-in defaults, `defaults`, then the most specific matching
    /// rule (see the file's description); `no_proxy` bypasses a proxy that came from
    /// `defaults`, never one a rule sets itself.
    /// \param origin the origin, as Origin::parse() makes it.
    /// \return the policy, the rules that matched and the provenance of every field.
    ResolvedPolicy resolve(const Origin& origin) const;
    /// resolve() for a URL, with what people need to read it (`connmatrix explain`).
    /// \param url any URL Origin::parse() takes.
    /// \return the explanation; Explanation::error says why when the URL is bad.
    Explanation explain(std::string_view url) const;

    /// \return the configuration the engine resolves against.
    const Config& config() const noexcept { return cfg_; }
    /// \return the backends it was given.
    const BuildInfo& build() const noexcept { return build_; }

private:
    Config cfg_;
    BuildInfo build_;
};

/// The same resolution without an Engine (the loader and the fuzz target use it).
/// \param cfg the configuration.
/// \param origin the origin, as Origin::parse() makes it.
/// \param default_backend the backend of a policy that names none.
/// \return what Engine::resolve() returns.
CONNMATRIX_API ResolvedPolicy resolve(const Config& cfg, const Origin& origin, std::string_view default_backend);

}  // namespace connmatrix::policy
