/// \file
/// The TLS seam: one abstract backend, three implementations.
///
/// Sans-I/O in the manner of rustls and nghttp2: a Session never owns a socket. The caller feeds
/// ciphertext in (feed / feed_eof), drives the state machine (handshake / read / write / close),
/// and takes ciphertext out (take_output) to send wherever it likes: a socket, or, in tests, the
/// input of a peer Session of any other backend.
///
/// The classes here are non-virtual interfaces (the manner of rustls's core): their public
/// functions are the TLS core (lib/tls), which validates configurations, owns the byte queues,
/// sticky errors, the hello reader, the record observer, the resumption envelope and every ALPN
/// rule; a backend (`backends/<name>/`) only implements the private hooks, translating to its
/// library. ALPN policy does not live in backends: the list to offer comes from the caller (an
/// empty list means no ALPN extension at all), a server's answer is decided by the core, and a
/// selection that was never offered is refused by the core, byte for byte.
///
/// A Client uses all of this for you. Use it directly to run TLS over a transport of your own,
/// or to test one backend against another in memory (examples/tls_matrix.cpp):
///
///     tls::Registry backends = tls::Registry::compiled_in();
///     Error err;
///     tls::ClientConfig cfg;                  // verification on, TLS 1.2 and 1.3
///     cfg.alpn = {"h2", "http/1.1"};
///     auto ctx = backends.default_backend().client_context(cfg, err);
///     tls::ClientSessionParams params;
///     params.host = "api.example.com";        // verified, and sent as SNI
///     auto session = ctx->new_session(params, err);
///     while (session->handshake() == tls::Status::want_input) {
///         send(session->take_output());       // to the peer
///         session->feed(receive());           // from the peer (feed_eof() at its end)
///     }
///     // failed: session->error(); ok: send(take_output()), then write() / read()
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
/// TLS protocol versions, with one spelling for all three libraries. `unknown`: before the
/// handshake, or a version the library did not name.
enum class Version : std::uint8_t { unknown, tls1_0, tls1_1, tls1_2, tls1_3 };

/// The version as OpenSSL spells it (ConnectionInfo::tls_version).
/// \param v the version.
/// \return `"TLSv1.0"` .. `"TLSv1.3"`, or `"unknown"`.
CONNMATRIX_API std::string_view to_string(Version v) noexcept;           // "TLSv1.2", "TLSv1.3", "unknown"
/// A version as people write it.
/// \param s `"1.2"`, `"TLSv1.2"`, `"tls1.2"`, `"TLS1.3"`, ... (1.0 to 1.3).
/// \return the version, or nullopt for anything else.
CONNMATRIX_API std::optional<Version> parse_version(std::string_view s);  // "1.2", "TLSv1.2", "tls1.2"

/// What a backend's library can do, where the three differ; the tests and the policy engine
/// consult it instead of guessing from the backend's name. What every backend does (resumption,
/// a truthful "resumed" flag, refusing an un-offered ALPN selection, a server going on without
/// ALPN when the lists don't overlap) is no flag: it is the core's contract.
struct Capabilities {
    bool tls13 = false;               ///< Can negotiate TLS 1.3 (not mbedTLS 2.28).
    bool server_force_alpn = false;   ///< A server's alpn_select may choose a protocol the client
                                      ///< did not offer (GnuTLS selects only from the offer).
    std::size_t max_alpn_protocols = 0;  ///< Most names in one ALPN list; 0: RFC 7301's limit.
    std::size_t max_alpn_name = 255;     ///< Longest ALPN name the library can carry.
    bool alpn_nul = true;                ///< A NUL byte may appear in an ALPN name.
    bool early_data = false;             ///< TLS 1.3 early data (0-RTT), client and server.
};

// ---------------------------------------------------------------------------------------------
// Configuration. Checked by the core when a context is made: a bad one is errc::invalid_config
// (or errc::unsupported when valid but beyond this backend's library), never silently changed.

/// A pinned public key: the SHA-256 of a certificate's SubjectPublicKeyInfo (DER), as curl's
/// CURLOPT_PINNEDPUBLICKEY "sha256//" form carries it in base64 (policy::parse_pin() reads that).
using Pin = std::array<std::uint8_t, 32>;

/// What a client context is made with (Backend::client_context()). Copied into the context:
/// changing it afterwards changes nothing.
struct ClientConfig {
    std::vector<std::string> alpn;         ///< Protocols to offer, in order; empty: no extension at all.
    bool verify = true;                    ///< Verify chain and host name; off only when asked.
    std::string ca_file;                   ///< PEM bundle; empty: the system trust store.
    Version min_version = Version::tls1_2; ///< TLS 1.0/1.1 are never enabled by default.
    Version max_version = Version::tls1_3; ///< A cap, for example to force TLS 1.2 (capped by the library).
    /// The peer leaf's public key must hash to one of these (errc::pin_mismatch otherwise),
    /// checked after the handshake and chain verification, and also when verify is false.
    /// Empty: no pinning.
    std::vector<Pin> pins;
    /// A client certificate (mutual TLS), sent when the server asks for one: PEM files, the
    /// certificate first then its intermediates; the key RSA or EC, PKCS#8 or traditional,
    /// encrypted when client_key_password is set. Both or neither; checked (readable, parsable,
    /// matching) when the context is made, errc::invalid_config naming the file otherwise.
    std::string client_cert_file;
    std::string client_key_file;  ///< The client certificate's private key (see client_cert_file).
    std::string client_key_password;  ///< The passphrase itself (the policy reads it from a file
                                      ///< or an environment variable); never logged.
    /// Appends each session's secrets to this file in the NSS key log format (SSLKEYLOGFILE),
    /// for Wireshark; empty: none. Unwritable: errc::invalid_config when the context is made.
    std::string keylog_file;
    /// TLS 1.3 early data (0-RTT, RFC 8446 2.3): a session resuming a ticket that allows it may
    /// send Session::write_early() bytes in its first flight. Early data can be replayed by an
    /// attacker: send only what is safe to repeat (an idempotent request). Needs
    /// capabilities().early_data (errc::unsupported otherwise).
    bool early_data = false;
};

/// What one client session is made for (ClientContext::new_session()).
struct ClientSessionParams {
    std::string host;                      ///< Host name or IP literal we connect to; verified.
    std::optional<std::string> sni;        ///< Override: nullopt = host (none for IP literals);
                                           ///< "" = send no SNI at all.
    /// export_session() of an earlier connection, or empty. Bytes that cannot be used here
    /// (another backend, host, SNI, expired, unverified where verification is on, not ours at
    /// all) are ignored: a full handshake, and info().resume_ignored says why.
    std::vector<std::uint8_t> resume;
};

/// A server's answer to a client's ALPN offer.
struct AlpnAnswer {
    /// What the server does with the offer.
    enum class Kind : std::uint8_t {
        none,    ///< Answer without ALPN (as servers that do not know it).
        select,  ///< Select `protocol`.
        refuse,  ///< Fail the handshake with a no_application_protocol alert.
    };
    Kind kind = Kind::none;  ///< What the server does.
    std::string protocol;    ///< For Kind::select: the protocol selected.

    /// \return an answer without ALPN.
    static AlpnAnswer none() { return {}; }
    /// An answer selecting one protocol.
    /// \param p the protocol to select.
    /// \return the answer.
    static AlpnAnswer select(std::string p) { return {Kind::select, std::move(p)}; }
    /// \return a refusal: the handshake fails with no_application_protocol.
    static AlpnAnswer refuse() { return {Kind::refuse, {}}; }
};
/// Called with the client's offer (never when the client sent no ALPN extension), during the
/// server's handshake, on the thread driving that session.
using AlpnSelector = std::function<AlpnAnswer(const std::vector<std::string>& offered)>;

/// How a server answers ALPN without an AlpnSelector.
enum class ServerAlpn {
    prefer_server,  ///< Select the first of our list that the client offered (server preference).
    ignore,         ///< Never answer with ALPN, like servers and load balancers that don't know it.
};

/// What a server context is made with (Backend::server_context()): the test servers and
/// tls_matrix use it; a Client never does. Copied into the context.
struct ServerConfig {
    std::string cert_file;                 ///< PEM: leaf first, then intermediates.
    std::string key_file;                  ///< PEM private key (RSA or EC).
    std::vector<std::string> alpn;         ///< Our protocols, most preferred first.
    ServerAlpn alpn_mode = ServerAlpn::prefer_server;  ///< How to answer an offer.
    bool alert_on_no_overlap = true;       ///< No overlap: send no_application_protocol, or go on
                                           ///< without ALPN.
    /// When set, decides the answer instead of alpn / alpn_mode / alert_on_no_overlap. It may
    /// select a protocol the client never offered (a broken server, in tests) only where
    /// capabilities().server_force_alpn; elsewhere that handshake fails with errc::unsupported.
    AlpnSelector alpn_select;
    Version min_version = Version::tls1_2;  ///< The oldest version accepted.
    Version max_version = Version::tls1_3;  ///< The newest version offered (capped by the library).
    bool session_tickets = true;           ///< Issue resumption tickets.
    /// Client certificates (mutual TLS): non-empty asks every client for a certificate and
    /// verifies it against the CAs in this PEM bundle.
    std::string client_ca_file;
    bool require_client_cert = true;       ///< With client_ca_file: refuse a client without one.
    /// Accept up to this many bytes of TLS 1.3 early data, and issue tickets that allow as much;
    /// 0: none (tickets allow none, a client's early data is skipped). Needs session_tickets
    /// and capabilities().early_data. Replays are refused by the library's anti-replay.
    std::uint32_t max_early_data = 0;
};

// ---------------------------------------------------------------------------------------------
// Session state.

/// What a Session call achieved.
enum class Status {
    ok,          ///< Progress was made (handshake: it is complete).
    want_input,  ///< Nothing more can happen until feed() brings bytes (after sending take_output()).
    closed,      ///< read(): the peer sent close_notify; no more data will come.
    failed,      ///< A fatal error; see error(). Sticky: every later call fails the same way.
};

/// Which end of the connection a Session is.
enum class Role { client, server };

/// What became of TLS 1.3 early data, once the handshake completed.
enum class EarlyData : std::uint8_t {
    not_attempted,  ///< Client: no write_early() bytes; server: the ClientHello offered none.
    accepted,       ///< The server took the early data: it was delivered, exactly once.
    rejected,       ///< Offered but refused (a full handshake, a ticket the server cannot use,
                    ///< a replay, a server without early data): nothing of it was delivered.
};
/// The outcome's name.
/// \param e the outcome.
/// \return `"not_attempted"`, `"accepted"` or `"rejected"`.
CONNMATRIX_API std::string_view to_string(EarlyData e) noexcept;  // "not_attempted", "accepted", "rejected"

/// What a session negotiated, for logs and ConnectionInfo. Filled in as the handshake goes:
/// complete once it is done.
struct SessionInfo {
    std::string backend;                   ///< "openssl", "gnutls", "mbedtls".
    Role role = Role::client;              ///< Client or server.
    Version version = Version::unknown;    ///< The negotiated version.
    std::string cipher;                    ///< The library's name for the cipher suite.
    bool verified = false;                 ///< Client: peer chain and host name were verified.
    std::optional<bool> resumed;           ///< nullopt: the library cannot tell.
    std::optional<std::string> alpn;       ///< The selected protocol; nullopt: no ALPN extension.
    std::optional<std::string> server_name;  ///< Client: SNI sent; server: SNI received.
    std::string resume_ignored;            ///< Client: why the resume data given was not used.
    /// Client authentication (mutual TLS) happened. Client: the server asked and we sent our
    /// certificate. Server: the client presented a certificate that verified against
    /// client_ca_file.
    bool client_certificate = false;
    /// The peer's leaf certificate's notAfter; nullopt when it showed none (or it is unknown).
    std::optional<std::chrono::system_clock::time_point> peer_expires;
    EarlyData early_data = EarlyData::not_attempted;  ///< See Session::early_data().
};

namespace detail {
struct ClientSetup;  // what the core hands a backend to build a client session (lib/tls/core.hpp)
struct ServerSetup;
struct ClientContextSetup;  // what the core prepared for a client context (lib/tls/core.hpp)
class SessionCore;   // the core's per-session state, for the backends' hooks
class KeyLog;        // an open ClientConfig::keylog_file (lib/tls/keylog.hpp)
}  // namespace detail

/// One TLS connection, client or server, as a state machine over memory: ciphertext goes in
/// with feed() and comes out with take_output(); the caller moves it to and from the peer.
///
/// Made by ClientContext::new_session() or ServerContext::new_session(), owned by the caller
/// (a `std::unique_ptr`); it keeps its context's library state alive by itself. Not copyable.
/// One thread at a time may use a session; different sessions may be used on different
/// threads at once. After a Status::failed every call fails again with the same error().
class CONNMATRIX_API Session {
public:
    /// Frees the library's state. Does not send close_notify: call close() and send
    /// take_output() first for a clean end.
    virtual ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // --- transport side: ciphertext in and out --------------------------------------------
    /// Bytes received from the peer, in order, as they come (any split). Ignored after
    /// feed_eof(). The bytes are copied.
    /// \param ciphertext what the transport delivered.
    void feed(std::span<const std::uint8_t> ciphertext);  // bytes received from the peer
    /// The transport reached end of stream: no more bytes will come. A handshake that needs
    /// more then fails with errc::truncated, and so does a read() that finds no close_notify.
    void feed_eof();                                       // the transport reached end of stream
    /// \return whether take_output() has bytes to send.
    bool has_output() const noexcept { return !out_.empty(); }
    /// Bytes to send to the peer: handshake records, application data, alerts, close_notify.
    /// Call it after every handshake(), write(), read() and close(), and send everything.
    /// \return everything queued since the last call (empty when nothing is).
    std::vector<std::uint8_t> take_output();               // bytes to send to the peer

    // --- TLS ------------------------------------------------------------------------------
    /// Advances the handshake with the bytes fed so far. The client checks the server's ALPN
    /// selection against its offer and its key against ClientConfig::pins before saying ok.
    /// \return ok once complete (then again at every call), want_input when it needs the
    ///         peer's answer (send take_output() first), or failed: error() says why
    ///         (certificate, version, ALPN, alerts, errc::truncated at end of input, ...).
    Status handshake();                                    // ok once complete
    /// \return whether handshake() has completed.
    bool handshake_done() const noexcept { return handshake_done_; }
    /// Encrypts application data; the records go to take_output().
    /// \param plaintext the data (copied into records at once).
    /// \return ok: all of it was taken; failed: a sticky error, errc::invalid_state before the
    ///         handshake completed or after close().
    Status write(std::span<const std::uint8_t> plaintext); // all of it, or failed
    /// Appends what is available. Data that arrived together with close_notify or a fatal error
    /// comes first (ok), the end on the next call (closed or failed): call read() until it
    /// stops returning ok.
    /// \param plaintext where the data is appended (existing contents are kept).
    /// \return ok when data was appended, want_input when none is available yet, closed after
    ///         the peer's close_notify (again at every later call), or failed (errc::truncated
    ///         when the transport ended without close_notify; errc::invalid_state before the
    ///         handshake completed).
    Status read(std::vector<std::uint8_t>& plaintext);
    /// Queues close_notify (send take_output() afterwards). Later write() calls fail with
    /// errc::invalid_state; read() still delivers what the peer sends. Does nothing after a
    /// failure or a second time.
    void close();                                          // queue close_notify
    /// The sticky error.
    /// \return the error of the first failed call, or no error.
    const Error& error() const noexcept { return error_; }

    // --- results --------------------------------------------------------------------------
    /// The selected application protocol (client and server alike).
    /// \return the name, or nullopt when the peer sent no ALPN (or before the handshake).
    std::optional<std::string> alpn() const;               // nullopt: the peer sent no ALPN
    /// What the session negotiated so far.
    /// \return version, cipher, verification, resumption, ALPN, SNI, client authentication,
    ///         the peer certificate's expiry and early data.
    SessionInfo info() const;
    /// The session to resume with next time (client), sealed in the core's envelope. Empty
    /// while none is known: with TLS 1.3 tickets arrive after the handshake, so read() must
    /// have processed them first.
    /// The bytes resume only through a context of the same Backend object (the same Registry)
    /// with the same trust settings, for the same host and SNI; ClientSessionParams::resume
    /// takes them. They hold session secrets: keep them in memory, like a key.
    /// \return the sealed session, or empty.
    std::vector<std::uint8_t> export_session() const;

    // --- early data (TLS 1.3 0-RTT; lib/tls/early.hpp) ------------------------------------
    /// Client: how many more bytes write_early() takes. 0 unless ClientConfig::early_data is on,
    /// the session resumes an envelope whose ticket allows early data (TLS 1.3, the server's
    /// max_early_data), and the ALPN protocol that session selected is the first of our offer
    /// (no offer: it selected none), as RFC 8446 4.2.10 asks: early data is written in that
    /// protocol. 0 once handshake() has been called, and always for a server.
    /// \return the number of bytes.
    std::size_t early_data_capacity() const noexcept;
    /// Client, before the first handshake() call: queue bytes for the first flight, in total at
    /// most the capacity (beyond it, or after handshake(): errc::invalid_state). The session
    /// keeps no copy to resend: when early_data() says rejected, nothing of it reached the
    /// server, and the caller decides whether to write() it again (only it knows whether that
    /// is safe).
    /// \param plaintext application data safe to replay (an idempotent request).
    /// \return ok when queued, failed otherwise (a sticky error).
    Status write_early(std::span<const std::uint8_t> plaintext);
    /// Server: appends the early data received so far, before or after the handshake completed
    /// (ok when some came, want_input when none is waiting). What read_early() does not take
    /// comes first from read(). A client: errc::invalid_state.
    /// \param plaintext where the data is appended.
    /// \return ok, want_input or failed, as above.
    Status read_early(std::vector<std::uint8_t>& plaintext);
    /// Once the handshake completed (not_attempted before).
    /// \return whether early data was accepted, rejected or not attempted.
    EarlyData early_data() const noexcept;

    /// \return client or server.
    Role role() const noexcept { return role_; }
    /// \return the backend's name: `"openssl"`, `"gnutls"`, `"mbedtls"`.
    std::string_view backend_name() const noexcept { return backend_; }

    /// \cond BACKEND_HOOKS
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

    /// \endcond
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

/// The library state that client sessions with one ClientConfig share: trust store, client
/// certificate, key log, ALPN offer. Made by Backend::client_context(), shared
/// (`std::shared_ptr`); sessions keep what they need alive, so the caller may drop it while
/// they live. Safe to use from several threads at once.
class CONNMATRIX_API ClientContext {
public:
    /// Frees the context; its sessions keep what they use.
    virtual ~ClientContext();
    /// Checks the parameters (verification needs a host), works out SNI and the identity to
    /// verify, vets the resume data; then the backend builds the session. nullptr and err set
    /// when the parameters are unusable.
    /// \param params the host, SNI and resume data of this connection.
    /// \param err set when no session is made (errc::invalid_config, errc::internal).
    /// \return the session, owned by the caller, or nullptr.
    std::unique_ptr<Session> new_session(const ClientSessionParams& params, Error& err);
    /// \return the configuration the context was made with (its own copy).
    const ClientConfig& config() const noexcept { return *config_; }
    /// \return the backend's name.
    std::string_view backend_name() const noexcept { return backend_; }

    /// \cond BACKEND_HOOKS
protected:
    ClientContext(const Backend& backend, const ClientConfig& config);

    /// \endcond
private:
    friend class Backend;
    virtual std::unique_ptr<Session> do_new_session(detail::ClientSetup& setup, Error& err) = 0;

    std::string backend_;
    std::shared_ptr<const ClientConfig> config_;
    std::array<std::uint8_t, 16> key_;  // the backend's envelope key, bound to our trust settings
    std::shared_ptr<detail::KeyLog> keylog_;  // shared by our sessions; nullptr: no key log
};

/// The library state that server sessions with one ServerConfig share: certificate, key,
/// ticket keys, ALPN. Made by Backend::server_context(), shared like ClientContext.
class CONNMATRIX_API ServerContext {
public:
    /// Frees the context; its sessions keep what they use.
    virtual ~ServerContext();
    /// A server session, for one accepted connection.
    /// \param err set when no session is made.
    /// \return the session, owned by the caller, or nullptr.
    std::unique_ptr<Session> new_session(Error& err);
    /// \return the configuration the context was made with (its own copy).
    const ServerConfig& config() const noexcept { return *config_; }
    /// \return the backend's name.
    std::string_view backend_name() const noexcept { return backend_; }

    /// \cond BACKEND_HOOKS
protected:
    ServerContext(const Backend& backend, const ServerConfig& config);

    /// \endcond
private:
    virtual std::unique_ptr<Session> do_new_session(detail::ServerSetup& setup, Error& err) = 0;

    std::string backend_;
    Capabilities caps_;
    std::shared_ptr<const ServerConfig> config_;
};

/// One TLS library, as a factory of contexts. Obtained from a Registry, never made by the
/// user; immutable, safe to use from several threads at once. Each Backend object has its own
/// key for the resumption envelopes its contexts seal (Session::export_session()).
class CONNMATRIX_API Backend {
public:
    /// Frees the backend (when the last Registry sharing it goes).
    virtual ~Backend();
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    /// \return `"openssl"`, `"gnutls"` or `"mbedtls"`.
    std::string_view name() const noexcept { return name_; }  // "openssl", "gnutls", "mbedtls"
    /// The version of the library linked at run time, as the library spells it.
    /// \return for example `"OpenSSL 3.0.19 27 Jan 2026"`.
    std::string library_version() const;                       // "OpenSSL 3.0.19 27 Jan 2026"
    /// \return what this backend's library can do, where the three differ.
    const Capabilities& capabilities() const noexcept { return caps_; }
    /// The configuration is checked first (the same rules on every backend); nullptr and err
    /// set when it cannot be honoured.
    /// \param cfg the configuration (copied into the context).
    /// \param err set when no context is made: errc::invalid_config (bad ALPN names, versions,
    ///        unreadable or mismatched certificate and key, an unwritable key log file) or
    ///        errc::unsupported (valid, but beyond this library: TLS 1.3 only on mbedTLS, early
    ///        data without capabilities().early_data).
    /// \return the context, or nullptr.
    std::shared_ptr<ClientContext> client_context(const ClientConfig& cfg, Error& err) const;
    /// The same checks, for a server (a certificate and key are required).
    /// \param cfg the configuration (copied into the context).
    /// \param err set when no context is made.
    /// \return the context, or nullptr.
    std::shared_ptr<ServerContext> server_context(const ServerConfig& cfg, Error& err) const;

    /// \cond BACKEND_HOOKS
protected:
    Backend(std::string name, Capabilities caps);

    /// \endcond
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

/// The backends Meson compiled in, as a value: build one where you need it, no global state.
/// Copying a Registry shares its Backend objects; each compiled_in() call makes new ones.
/// Immutable: safe to use from several threads at once.
class CONNMATRIX_API Registry {
public:
    /// Every backend this build has, each constructed once (generated by Meson).
    /// \return a registry of new Backend objects, in build order (openssl, gnutls, mbedtls).
    static Registry compiled_in();
    /// Their names and the -Ddefault_backend choice, without constructing any backend.
    /// \return the compiled-in backends' names, in build order.
    static std::vector<std::string> compiled_in_names();
    /// \return the name of the -Ddefault_backend choice.
    static std::string_view compiled_in_default() noexcept;

    /// A registry of the given backends (the tests make one of a single backend).
    /// \param backends the backends, not empty.
    /// \param default_index which of them default_backend() returns; must be in range.
    Registry(std::vector<std::shared_ptr<const Backend>> backends, std::size_t default_index)
        : backends_(std::move(backends)), default_index_(default_index) {}

    /// A backend by name.
    /// \param name `"openssl"`, `"gnutls"` or `"mbedtls"`.
    /// \return the backend, valid as long as the registry (or a copy) lives; nullptr when it
    ///         is not compiled in.
    const Backend* find(std::string_view name) const noexcept;  // nullptr when not compiled in
    /// \return the backends' names, in build order.
    std::vector<std::string> names() const;                     // in build order
    /// \return the -Ddefault_backend choice (for a registry made by hand: default_index's).
    const Backend& default_backend() const noexcept;            // the -Ddefault_backend choice
    /// \return how many backends it has.
    std::size_t size() const noexcept { return backends_.size(); }
    /// \return every backend, in build order.
    const std::vector<std::shared_ptr<const Backend>>& all() const noexcept { return backends_; }

private:
    std::vector<std::shared_ptr<const Backend>> backends_;
    std::size_t default_index_ = 0;
};

}  // namespace connmatrix::tls
