// The OpenSSL backend's private declarations: RAII wrappers for the library's handles, the
// shared per-context state, the Session subclass and the error mapping.
#pragma once

#include "alert.hpp"

#include <connmatrix/tls.hpp>

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::tls::openssl {

inline constexpr std::string_view this_backend = "openssl";

// --- RAII for every C handle -----------------------------------------------------------------
template <auto Fn>
struct Deleter {
    template <typename T>
    void operator()(T* p) const noexcept {
        if (p) Fn(p);
    }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL_free>>;
using BioMethodPtr = std::unique_ptr<BIO_METHOD, Deleter<BIO_meth_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, Deleter<SSL_SESSION_free>>;

// --- errors (openssl_error.cpp) --------------------------------------------------------------

// What a failed SSL_* call left behind, gathered right after the call (the error queue is per
// thread, so it is read at once and always emptied).
struct Failure {
    int ssl_error = SSL_ERROR_NONE;   // SSL_get_error()
    unsigned long primary = 0;        // the earliest libssl error queued, else the earliest
    unsigned long earliest = 0;       // the earliest error queued (the root cause)
    std::string queue_text;           // every queued entry, "; "-separated
    long verify_result = X509_V_OK;   // SSL_get_verify_result(), client side
    bool in_handshake = false;
};

// Empties this thread's error queue into a Failure (primary code + text of every entry).
void drain_error_queue(Failure& f);
// Empties the queue, discarding it (before a call, and after calls whose errors don't matter).
void clear_error_queue() noexcept;

// Maps an SSL_* failure to our error: certificate problems from the verify result, received
// alerts by their description, truncation, record and version errors by the library's reason.
Error map_failure(const Failure& f);

// An error for a context-building step (loading a file, setting an option), with the queue.
Error config_error(errc code, std::string what);


// --- shared state ----------------------------------------------------------------------------

// Owned by the Backend, shared by every context and session it makes: the custom BIO type that
// wires OpenSSL's transport to the Session's byte queues. Immutable once built.
struct Runtime {
    BioMethodPtr bio_method;
};

// One SSL_CTX and what its callbacks point into; sessions hold it alive through a shared_ptr.
struct ContextState {
    std::shared_ptr<const Runtime> runtime;
    SslCtxPtr ctx;
    Role role = Role::client;
    // client
    ClientConfig client;
    // server
    ServerConfig server;
    std::string force_wire;  // force mode: the protocol we select (owned for the callback)

    ContextState() = default;
    ContextState(const ContextState&) = delete;
    ContextState& operator=(const ContextState&) = delete;
};

// The OpenSSL min/max protocol constant for a version; 0 for Version::unknown.
int to_openssl_version(Version v) noexcept;
Version from_openssl_version(int v) noexcept;

// --- the Session subclass (openssl_session.cpp) ------------------------------------------------

class OpensslSession final : public Session {
public:
    // Builds the SSL object; on failure returns nullptr with `err` set.
    static std::unique_ptr<Session> make_client(std::shared_ptr<const ContextState> state,
                                                const ClientSessionParams& params, Error& err);
    static std::unique_ptr<Session> make_server(std::shared_ptr<const ContextState> state,
                                                Error& err);

    ~OpensslSession() override;

    // The BIO's read and write, wired to the base's queues (called by OpenSSL only).
    int bio_read(char* dst, int n) noexcept;
    int bio_write(const char* src, int n) noexcept;
    bool bio_eof() const noexcept { return input_eof() && input_size() == 0; }
    std::size_t bio_pending() const noexcept { return input_size(); }
    // The message callback: records the ALPN selection in the server's hello (client side).
    void observe_handshake_message(const std::uint8_t* msg, std::size_t len) noexcept;

protected:
    Status do_handshake(Error& err) override;
    Status do_write(std::span<const std::uint8_t> plaintext, Error& err) override;
    Status do_read(std::vector<std::uint8_t>& plaintext, Error& err) override;
    void do_close() override;
    std::optional<std::string> do_alpn() const override;
    SessionInfo do_info() const override;
    std::vector<std::uint8_t> do_export_session() const override;

private:
    OpensslSession(Role role, std::shared_ptr<const ContextState> state,
                   std::vector<std::string> offered);
    Error attach_bio();
    Error setup_client(const ClientSessionParams& params);
    void try_resume(std::span<const std::uint8_t> blob, const std::string& host, bool ip);
    Error failure(int ret, bool in_handshake);

    std::shared_ptr<const ContextState> state_;  // keeps the SSL_CTX and callback data alive
    SslPtr ssl_;
    std::optional<std::string> sni_;  // client: the SNI we sent
    bool verify_ = false;             // client: verification was asked for
    bool peer_closed_ = false;        // close_notify received
    std::optional<Error> pending_;    // a failure met after data was returned by do_read
    // Client: the ALPN protocol the server's hello carried, seen before OpenSSL judged it, so an
    // un-offered selection (which OpenSSL itself rejects as "bad extension") gets its own code.
    std::optional<std::string> seen_alpn_;
};

}  // namespace connmatrix::tls::openssl
