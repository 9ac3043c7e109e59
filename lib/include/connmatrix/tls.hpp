// connmatrix/tls.hpp - the TLS seam: one abstract backend, three implementations.
//
// Sans-I/O in the manner of rustls and nghttp2: a Session never owns a socket. The caller feeds
// ciphertext in (feed / feed_eof), drives the state machine (handshake / read / write / close),
// and takes ciphertext out (take_output) to send wherever it likes: a socket, or, in tests, the
// input of a peer Session of any other backend.
//
// ALPN policy does not live in backends. The list to offer comes from the caller (an empty list
// means: no ALPN extension in the ClientHello at all); the shared base class checks, once the
// handshake is done, that a selection was actually offered, byte for byte.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/errors/tls.hpp>

#include <cstddef>
#include <cstdint>
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

std::string_view to_string(Version v) noexcept;           // "TLSv1.2", "TLSv1.3", "unknown"
std::optional<Version> parse_version(std::string_view s);  // "1.2", "TLSv1.2", "tls1.2"

// What a backend's library can do; the tests and the policy engine consult it instead of
// guessing from the backend's name.
struct Capabilities {
    bool tls13 = false;                   // can negotiate TLS 1.3
    bool session_resumption = false;      // export_session()/resume work
    bool resumed_flag = false;            // info().resumed is known (not nullopt) after a handshake
    bool server_force_alpn = false;       // a server can select a protocol the client did not offer
    bool server_alpn_no_alert = false;    // a server can continue without ALPN when lists don't overlap
    bool reports_unoffered_alpn = false;  // a client reports an un-offered selection (instead of
                                          // dropping it silently and reporting none, as GnuTLS does)
    bool early_data = false;              // 0-RTT (reserved; not used yet)
};

// ---------------------------------------------------------------------------------------------
// Configuration.

struct ClientConfig {
    std::vector<std::string> alpn;         // protocols to offer, in order; empty: no extension at all
    bool verify = true;                    // verify chain and host name; off only when asked
    std::string ca_file;                   // PEM bundle; empty: the system trust store
    Version min_version = Version::tls1_2; // TLS 1.0/1.1 are never enabled by default
    Version max_version = Version::tls1_3; // a cap, e.g. to force TLS 1.2 (capped by the library)
};

struct ClientSessionParams {
    std::string host;                      // host name or IP literal we connect to; verified
    std::optional<std::string> sni;        // override: nullopt = host (none for IP literals);
                                           // "" = send no SNI at all
    std::vector<std::uint8_t> resume;      // export_session() of an earlier connection, or empty
};

enum class ServerAlpn {
    prefer_server,  // select the first of our list that the client offered (server preference)
    ignore,         // never answer with ALPN, like servers and load balancers that don't know it
    force,          // select force_protocol whatever the client offered (tests only)
};

struct ServerConfig {
    std::string cert_file;                 // PEM: leaf first, then intermediates
    std::string key_file;                  // PEM private key (RSA or EC)
    std::vector<std::string> alpn;         // our protocols, most preferred first
    ServerAlpn alpn_mode = ServerAlpn::prefer_server;
    bool alert_on_no_overlap = true;       // no overlap: send no_application_protocol, or go on
                                           // without ALPN (needs capabilities().server_alpn_no_alert)
    std::string force_protocol;            // with ServerAlpn::force
    Version min_version = Version::tls1_2;
    Version max_version = Version::tls1_3;
    bool session_tickets = true;           // issue resumption tickets
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

struct SessionInfo {
    std::string backend;                   // "openssl", "gnutls", "mbedtls"
    Role role = Role::client;
    Version version = Version::unknown;
    std::string cipher;                    // the library's name for the cipher suite
    bool verified = false;                 // client: peer chain and host name were verified
    std::optional<bool> resumed;           // nullopt: the library cannot tell
    std::optional<std::string> alpn;       // the selected protocol; nullopt: no ALPN extension
    std::optional<std::string> server_name;  // client: SNI sent; server: SNI received
};

class Session {
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
    // Appends what is available. Data that arrived together with close_notify comes first
    // (ok), the end on the next call (closed): call read() until it stops returning ok.
    Status read(std::vector<std::uint8_t>& plaintext);
    void close();                                          // queue close_notify
    const Error& error() const noexcept { return error_; }

    // --- results --------------------------------------------------------------------------
    std::optional<std::string> alpn() const;               // nullopt: the peer sent no ALPN
    SessionInfo info() const;
    // The session to resume with next time (client). Empty while none is known: with TLS 1.3
    // tickets arrive after the handshake, so read() must have processed them first.
    std::vector<std::uint8_t> export_session() const;

    Role role() const noexcept { return role_; }
    std::string_view backend_name() const noexcept { return backend_; }

protected:
    Session(Role role, std::string backend, std::vector<std::string> offered_alpn);

    // What backends implement. Each reports failure through `err` and returns Status::failed;
    // the base makes it sticky and adds the ALPN check after the handshake.
    virtual Status do_handshake(Error& err) = 0;
    virtual Status do_write(std::span<const std::uint8_t> plaintext, Error& err) = 0;
    virtual Status do_read(std::vector<std::uint8_t>& plaintext, Error& err) = 0;
    virtual void do_close() = 0;
    virtual std::optional<std::string> do_alpn() const = 0;
    virtual SessionInfo do_info() const = 0;
    virtual std::vector<std::uint8_t> do_export_session() const = 0;

    // For the backends' transport hooks (BIO, push/pull, ssl_set_bio callbacks).
    // pull: copy up to n buffered input bytes; returns 0 when none are buffered.
    std::size_t pull(std::uint8_t* dst, std::size_t n) noexcept;
    std::size_t input_size() const noexcept { return in_.size() - in_pos_; }
    bool input_eof() const noexcept { return eof_; }  // no more bytes will ever come
    void push(const std::uint8_t* src, std::size_t n);

private:
    Status fail(Error err);

    Role role_;
    std::string backend_;
    std::vector<std::string> offered_;  // client: what we offered (for the ALPN check)
    std::vector<std::uint8_t> in_;
    std::size_t in_pos_ = 0;
    std::vector<std::uint8_t> out_;
    bool eof_ = false;
    bool handshake_done_ = false;
    bool closed_ = false;       // we called close()
    bool peer_closed_ = false;  // read() reported the peer's close_notify
    Error error_;
};

// ---------------------------------------------------------------------------------------------
// Contexts and backends. A Session keeps its context's library state alive by itself: contexts
// are shared, and dropping the caller's reference while sessions live is fine.

class ClientContext {
public:
    virtual ~ClientContext() = default;
    virtual std::unique_ptr<Session> new_session(const ClientSessionParams& params,
                                                 Error& err) = 0;
    virtual const ClientConfig& config() const noexcept = 0;
};

class ServerContext {
public:
    virtual ~ServerContext() = default;
    virtual std::unique_ptr<Session> new_session(Error& err) = 0;
    virtual const ServerConfig& config() const noexcept = 0;
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string_view name() const noexcept = 0;  // "openssl", "gnutls", "mbedtls"
    virtual std::string library_version() const = 0;     // e.g. "OpenSSL 3.0.19 27 Jan 2026"
    virtual Capabilities capabilities() const noexcept = 0;
    // nullptr and err set when the configuration cannot be honoured.
    virtual std::shared_ptr<ClientContext> client_context(const ClientConfig& cfg,
                                                          Error& err) const = 0;
    virtual std::shared_ptr<ServerContext> server_context(const ServerConfig& cfg,
                                                          Error& err) const = 0;
};

// The backends Meson compiled in, as a value: build one where you need it, no global state.
class Registry {
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
