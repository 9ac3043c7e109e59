// connmatrix/tls.hpp - the TLS seam: one abstract backend, three implementations.
//
// Sans-I/O in the manner of rustls and nghttp2: a Session never owns a socket. The caller feeds
// ciphertext in (feed / feed_eof), drives the state machine (handshake / read / write / close),
// and takes ciphertext out (take_output) to send wherever it likes: a socket, or, in tests, the
// input of a peer Session of any other backend.
//
// The classes here are non-virtual interfaces (the manner of rustls's core): their public
// functions are the TLS core (lib/tls), which validates configurations, owns the byte queues,
// sticky errors, the hello reader, the record observer, the resumption envelope and every ALPN
// rule; a backend (backends/<name>/) only implements the private hooks, translating to its
// library. ALPN policy does not live in backends: the list to offer comes from the caller (an
// empty list means no ALPN extension at all), a server's answer is decided by the core, and a
// selection that was never offered is refused by the core, byte for byte.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/errors/tls.hpp>
#include <connmatrix/export.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace connmatrix::tls {

// ---------------------------------------------------------------------------------------------
// Errors: category "tls", in connmatrix/errors/tls.hpp.

// ---------------------------------------------------------------------------------------------
// TLS protocol versions, with one spelling for all three libraries.
enum class Version : std::uint8_t { unknown, tls1_0, tls1_1, tls1_2, tls1_3 };

CONNMATRIX_API std::string_view to_string(Version v) noexcept;           // "TLSv1.2", "TLSv1.3", "unknown"
CONNMATRIX_API std::optional<Version> parse_version(std::string_view s);  // "1.2", "TLSv1.2", "tls1.2"

// What a backend's library can do, where the three differ; the tests and the policy engine
// consult it instead of guessing from the backend's name. What every backend does (resumption,
// a truthful "resumed" flag, refusing an un-offered ALPN selection, a server going on without
// ALPN when the lists don't overlap) is no flag: it is the core's contract.
struct Capabilities {
    bool tls13 = false;               // can negotiate TLS 1.3
    bool server_force_alpn = false;   // a server's alpn_select may choose a protocol the client
                                      // did not offer (GnuTLS selects only from the offer)
    std::size_t max_alpn_protocols = 0;  // most names in one ALPN list; 0: RFC 7301's limit
    std::size_t max_alpn_name = 255;     // longest ALPN name the library can carry
    bool alpn_nul = true;                // a NUL byte may appear in an ALPN name
    bool early_data = false;             // TLS 1.3 early data (0-RTT), client and server
};

// ---------------------------------------------------------------------------------------------
// Configuration. Checked by the core when a context is made: a bad one is errc::invalid_config
// (or errc::unsupported when valid but beyond this backend's library), never silently changed.

// A pinned public key: the SHA-256 of a certificate's SubjectPublicKeyInfo (DER), as curl's
// CURLOPT_PINNEDPUBLICKEY "sha256//" form carries it in base64.
using Pin = std::array<std::uint8_t, 32>;

struct ClientConfig {
    std::vector<std::string> alpn;         // protocols to offer, in order; empty: no extension at all
    bool verify = true;                    // verify chain and host name; off only when asked
    std::string ca_file;                   // PEM bundle; empty: the system trust store
    Version min_version = Version::tls1_2; // TLS 1.0/1.1 are never enabled by default
    Version max_version = Version::tls1_3; // a cap, e.g. to force TLS 1.2 (capped by the library)
    // The peer leaf's public key must hash to one of these (errc::pin_mismatch otherwise),
    // checked after the handshake and chain verification, and also when verify is false.
    // Empty: no pinning.
    std::vector<Pin> pins;
    // A client certificate (mutual TLS), sent when the server asks for one: PEM files, the
    // certificate first then its intermediates; the key RSA or EC, PKCS#8 or traditional,
    // encrypted when client_key_password is set. Both or neither; checked (readable, parsable,
    // matching) when the context is made, errc::invalid_config naming the file otherwise.
    std::string client_cert_file;
    std::string client_key_file;
    std::string client_key_password;  // the passphrase itself (the policy reads it from a file
                                      // or an environment variable); never logged
    // Appends each session's secrets to this file in the NSS key log format (SSLKEYLOGFILE),
    // for Wireshark; empty: none. Unwritable: errc::invalid_config when the context is made.
    std::string keylog_file;
    // TLS 1.3 early data (0-RTT, RFC 8446 2.3): a session resuming a ticket that allows it may
    // send Session::write_early() bytes in its first flight. Early data can be replayed by an
    // attacker: send only what is safe to repeat (an idempotent request). Needs
    // capabilities().early_data (errc::unsupported otherwise).
    bool early_data = false;
};

struct ClientSessionParams {
    std::string host;                      // host name or IP literal we connect to; verified
    std::optional<std::string> sni;        // override: nullopt = host (none for IP literals);
                                           // "" = send no SNI at all
    // export_session() of an earlier connection, or empty. Bytes that cannot be used here
    // (another backend, host, SNI, expired, unverified where verification is on, not ours at
    // all) are ignored: a full handshake, and info().resume_ignored says why.
    std::vector<std::uint8_t> resume;
};

// A server's answer to a client's ALPN offer.
struct AlpnAnswer {
    enum class Kind : std::uint8_t {
        none,    // answer without ALPN (as servers that do not know it)
        select,  // select `protocol`
        refuse,  // fail the handshake with a no_application_protocol alert
    };
    Kind kind = Kind::none;
    std::string protocol;

    static AlpnAnswer none() { return {}; }
    static AlpnAnswer select(std::string p) { return {Kind::select, std::move(p)}; }
    static AlpnAnswer refuse() { return {Kind::refuse, {}}; }
};
// Called with the client's offer (never when the client sent no ALPN extension).
using AlpnSelector = std::function<AlpnAnswer(const std::vector<std::string>& offered)>;

enum class ServerAlpn {
    prefer_server,  // select the first of our list that the client offered (server preference)
    ignore,         // never answer with ALPN, like servers and load balancers that don't know it
};

struct ServerConfig {
    std::string cert_file;                 // PEM: leaf first, then intermediates
    std::string key_file;                  // PEM private key (RSA or EC)
    std::vector<std::string> alpn;         // our protocols, most preferred first
    ServerAlpn alpn_mode = ServerAlpn::prefer_server;
    bool alert_on_no_overlap = true;       // no overlap: send no_application_protocol, or go on
                                           // without ALPN
    // When set, decides the answer instead of alpn / alpn_mode / alert_on_no_overlap. It may
    // select a protocol the client never offered (a broken server, in tests) only where
    // capabilities().server_force_alpn; elsewhere that handshake fails with errc::unsupported.
    AlpnSelector alpn_select;
    Version min_version = Version::tls1_2;
    Version max_version = Version::tls1_3;
    bool session_tickets = true;           // issue resumption tickets
    // Client certificates (mutual TLS): non-empty asks every client for a certificate and
    // verifies it against the CAs in this PEM bundle.
    std::string client_ca_file;
    bool require_client_cert = true;       // with client_ca_file: refuse a client without one
    // Accept up to this many bytes of TLS 1.3 early data, and issue tickets that allow as much;
    // 0: none (tickets allow none, a client's early data is skipped). Needs session_tickets
    // and capabilities().early_data. Replays are refused by the library's anti-replay.
    std::uint32_t max_early_data = 0;
};

// ---------------------------------------------------------------------------------------------
// Session state.

enum class Status {
    ok,          // progress was made (handshake: it is complete)
    want_input,  // nothing more can happen until feed() brings bytes (after sending take_output())
    closed,      // read(): the peer sent close_notify; no more data will come
    failed,      // a fatal error; see error(). Sticky: every later call fails the same way
};

enum class Role { client, server };

// What became of TLS 1.3 early data, once the handshake completed.
enum class EarlyData : std::uint8_t {
    not_attempted,  // client: no write_early() bytes; server: the ClientHello offered none
    accepted,       // the server took the early data: it was delivered, exactly once
    rejected,       // offered but refused (a full handshake, a ticket the server cannot use,
                    // a replay, a server without early data): nothing of it was delivered
};
CONNMATRIX_API std::string_view to_string(EarlyData e) noexcept;  // "not_attempted", "accepted", "rejected"

struct SessionInfo {
    std::string backend;                   // "openssl", "gnutls", "mbedtls"
    Role role = Role::client;
    Version version = Version::unknown;
    std::string cipher;                    // the library's name for the cipher suite
    bool verified = false;                 // client: peer chain and host name were verified
    std::optional<bool> resumed;           // nullopt: the library cannot tell
    std::optional<std::string> alpn;       // the selected protocol; nullopt: no ALPN extension
    std::optional<std::string> server_name;  // client: SNI sent; server: SNI received
    std::string resume_ignored;            // client: why the resume data given was not used
    // Client authentication (mutual TLS) happened. Client: the server asked and we sent our
    // certificate. Server: the client presented a certificate that verified against
    // client_ca_file.
    bool client_certificate = false;
    // The peer's leaf certificate's notAfter; nullopt when it showed none (or it is unknown).
    std::optional<std::chrono::system_clock::time_point> peer_expires;
    EarlyData early_data = EarlyData::not_attempted;  // see Session::early_data()
};

namespace detail {
struct ClientSetup;  // what the core hands a backend to build a client session (lib/tls/core.hpp)
struct ServerSetup;
struct ClientContextSetup;  // what the core prepared for a client context (lib/tls/core.hpp)
class SessionCore;   // the core's per-session state, for the backends' hooks
class KeyLog;        // an open ClientConfig::keylog_file (lib/tls/keylog.hpp)
}  // namespace detail

class CONNMATRIX_API Session {
public:
    virtual ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // --- transport side: ciphertext in and out --------------------------------------------
    void feed(std::span<const std::uint8_t> ciphertext);  // bytes received from the peer
    void feed_eof();                                       // the transport reached end of stream
    bool has_output() const noexcept { return !out_.empty(); }
    std::vector<std::uint8_t> take_output();               // bytes to send to the peer

    // --- TLS ------------------------------------------------------------------------------
    Status handshake();                                    // ok once complete
    bool handshake_done() const noexcept { return handshake_done_; }
    Status write(std::span<const std::uint8_t> plaintext); // all of it, or failed
    // Appends what is available. Data that arrived together with close_notify or a fatal error
    // comes first (ok), the end on the next call (closed or failed): call read() until it
    // stops returning ok.
    Status read(std::vector<std::uint8_t>& plaintext);
    void close();                                          // queue close_notify
    const Error& error() const noexcept { return error_; }

    // --- results --------------------------------------------------------------------------
    std::optional<std::string> alpn() const;               // nullopt: the peer sent no ALPN
    SessionInfo info() const;
    // The session to resume with next time (client), sealed in the core's envelope. Empty
    // while none is known: with TLS 1.3 tickets arrive after the handshake, so read() must
    // have processed them first.
    std::vector<std::uint8_t> export_session() const;

    // --- early data (TLS 1.3 0-RTT; lib/tls/early.hpp) ------------------------------------
    // Client: how many more bytes write_early() takes. 0 unless ClientConfig::early_data is on,
    // the session resumes an envelope whose ticket allows early data (TLS 1.3, the server's
    // max_early_data), and the ALPN protocol that session selected is the first of our offer
    // (no offer: it selected none), as RFC 8446 4.2.10 asks: early data is written in that
    // protocol. 0 once handshake() has been called, and always for a server.
    std::size_t early_data_capacity() const noexcept;
    // Client, before the first handshake() call: queue bytes for the first flight, in total at
    // most the capacity (beyond it, or after handshake(): errc::invalid_state). The session
    // keeps no copy to resend: when early_data() says rejected, nothing of it reached the
    // server, and the caller decides whether to write() it again (only it knows whether that
    // is safe).
    Status write_early(std::span<const std::uint8_t> plaintext);
    // Server: appends the early data received so far, before or after the handshake completed
    // (ok when some came, want_input when none is waiting). What read_early() does not take
    // comes first from read(). A client: errc::invalid_state.
    Status read_early(std::vector<std::uint8_t>& plaintext);
    // Once the handshake completed (not_attempted before).
    EarlyData early_data() const noexcept;

    Role role() const noexcept { return role_; }
    std::string_view backend_name() const noexcept { return backend_; }

protected:
    explicit Session(detail::ClientSetup& setup);
    explicit Session(detail::ServerSetup& setup);

    // What the library reports for export_session(): its own serialised session, and how long
    // the server said it may be used (zero: unknown).
    struct Exported {
        std::vector<std::uint8_t> data;
        std::chrono::seconds lifetime{0};
        std::uint32_t max_early_data = 0;  // the ticket's early_data limit (TLS 1.3); 0: none
    };

    // The hooks a backend implements. Each reports failure through `err` and returns
    // Status::failed; the core makes it sticky, names un-offered ALPN selections and plaintext
    // alerts, turns a transport end into truncation, and keeps data that came before a failure.
    // do_read may append data and then return closed or failed: the core delivers the data
    // first. An exception (out of memory) thrown by a hook becomes errc::internal.
    virtual Status do_handshake(Error& err) = 0;
    virtual Status do_write(std::span<const std::uint8_t> plaintext, Error& err) = 0;
    virtual Status do_read(std::vector<std::uint8_t>& plaintext, Error& err) = 0;
    virtual void do_close() = 0;
    virtual std::optional<std::string> do_alpn() const = 0;
    // Version, cipher and, where the library knows, resumed; the core fills in the rest.
    virtual SessionInfo do_info() const = 0;
    virtual Exported do_export_session() const = 0;
    // Client, once the handshake completed: the peer leaf certificate's SubjectPublicKeyInfo,
    // DER, for the core's pin check; empty when the library has none.
    virtual std::vector<std::uint8_t> do_peer_spki_der() const = 0;
    // Early data, for backends with capabilities().early_data (the defaults refuse). Client:
    // hand the queued early data to the library, called once, just before the first
    // do_handshake(). Server: the backend hands what its library received to
    // core().early.received(). Both, once the handshake completed: whether the server took it.
    virtual Status do_write_early(std::span<const std::uint8_t> plaintext, Error& err);
    virtual bool do_early_data_accepted() const { return false; }

    // For the backends' transport hooks (BIO, push/pull, ssl_set_bio callbacks).
    // pull: copy up to n buffered input bytes; returns 0 when none are buffered.
    std::size_t pull(std::uint8_t* dst, std::size_t n) noexcept;
    std::size_t input_size() const noexcept { return in_.size() - in_pos_; }
    bool input_eof() const noexcept { return eof_; }        // no more bytes will ever come
    bool at_eof() const noexcept { return eof_ && input_size() == 0; }
    void push(const std::uint8_t* src, std::size_t n);      // may throw std::bad_alloc
    std::size_t output_size() const noexcept { return out_.size(); }

    detail::SessionCore& core() noexcept { return *core_; }
    const detail::SessionCore& core() const noexcept { return *core_; }

private:
    Status fail(Error err);
    Error explain_handshake_failure(Error err) const;
    Error check_pins() const;
    Status send_early(Error& err);  // early.cpp: the queued early data, to the library
    Error settle_early();           // early.cpp: the early data's fate, once the handshake is done

    Role role_;
    std::string backend_;
    std::unique_ptr<detail::SessionCore> core_;
    std::vector<std::uint8_t> in_;
    std::size_t in_pos_ = 0;
    std::vector<std::uint8_t> out_;
    bool eof_ = false;
    bool handshake_done_ = false;
    bool closed_ = false;       // we called close()
    bool peer_closed_ = false;  // read() reported the peer's close_notify
    std::optional<Error> pending_;  // a failure met after data was returned by read()
    Error error_;
};

// ---------------------------------------------------------------------------------------------
// Contexts and backends. A Session keeps its context's library state alive by itself: contexts
// are shared, and dropping the caller's reference while sessions live is fine. Contexts and
// sessions may be used from any thread, a session from one thread at a time.

class Backend;

class CONNMATRIX_API ClientContext {
public:
    virtual ~ClientContext();
    // Checks the parameters (verification needs a host), works out SNI and the identity to
    // verify, vets the resume data; then the backend builds the session. nullptr and err set
    // when the parameters are unusable.
    std::unique_ptr<Session> new_session(const ClientSessionParams& params, Error& err);
    const ClientConfig& config() const noexcept { return *config_; }
    std::string_view backend_name() const noexcept { return backend_; }

protected:
    ClientContext(const Backend& backend, const ClientConfig& config);

private:
    friend class Backend;
    virtual std::unique_ptr<Session> do_new_session(detail::ClientSetup& setup, Error& err) = 0;

    std::string backend_;
    std::shared_ptr<const ClientConfig> config_;
    std::array<std::uint8_t, 16> key_;  // the backend's envelope key, bound to our trust settings
    std::shared_ptr<detail::KeyLog> keylog_;  // shared by our sessions; nullptr: no key log
};

class CONNMATRIX_API ServerContext {
public:
    virtual ~ServerContext();
    std::unique_ptr<Session> new_session(Error& err);
    const ServerConfig& config() const noexcept { return *config_; }
    std::string_view backend_name() const noexcept { return backend_; }

protected:
    ServerContext(const Backend& backend, const ServerConfig& config);

private:
    virtual std::unique_ptr<Session> do_new_session(detail::ServerSetup& setup, Error& err) = 0;

    std::string backend_;
    Capabilities caps_;
    std::shared_ptr<const ServerConfig> config_;
};

class CONNMATRIX_API Backend {
public:
    virtual ~Backend();
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    std::string_view name() const noexcept { return name_; }  // "openssl", "gnutls", "mbedtls"
    std::string library_version() const;                       // "OpenSSL 3.0.19 27 Jan 2026"
    const Capabilities& capabilities() const noexcept { return caps_; }
    // The configuration is checked first (the same rules on every backend); nullptr and err
    // set when it cannot be honoured.
    std::shared_ptr<ClientContext> client_context(const ClientConfig& cfg, Error& err) const;
    std::shared_ptr<ServerContext> server_context(const ServerConfig& cfg, Error& err) const;

protected:
    Backend(std::string name, Capabilities caps);

private:
    friend class ClientContext;
    virtual std::string do_library_version() const = 0;
    // Called with a configuration the core has checked, and what the core opened for it.
    virtual std::shared_ptr<ClientContext> do_client_context(
        const ClientConfig& cfg, const detail::ClientContextSetup& setup, Error& err) const = 0;
    virtual std::shared_ptr<ServerContext> do_server_context(const ServerConfig& cfg,
                                                             Error& err) const = 0;

    std::string name_;
    Capabilities caps_;
    std::array<std::uint8_t, 16> key_;  // seals this backend object's resumption envelopes
};

// The backends Meson compiled in, as a value: build one where you need it, no global state.
class CONNMATRIX_API Registry {
public:
    // Every backend this build has, each constructed once (generated by Meson).
    static Registry compiled_in();
    // Their names and the -Ddefault_backend choice, without constructing any backend.
    static std::vector<std::string> compiled_in_names();
    static std::string_view compiled_in_default() noexcept;

    Registry(std::vector<std::shared_ptr<const Backend>> backends, std::size_t default_index)
        : backends_(std::move(backends)), default_index_(default_index) {}

    const Backend* find(std::string_view name) const noexcept;  // nullptr when not compiled in
    std::vector<std::string> names() const;                     // in build order
    const Backend& default_backend() const noexcept;            // the -Ddefault_backend choice
    std::size_t size() const noexcept { return backends_.size(); }
    const std::vector<std::shared_ptr<const Backend>>& all() const noexcept { return backends_; }

private:
    std::vector<std::shared_ptr<const Backend>> backends_;
    std::size_t default_index_ = 0;
};

}  // namespace connmatrix::tls
