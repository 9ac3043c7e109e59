// The OpenSSL 3 backend's private declarations: RAII for the library's handles, the engines a
// context shares with its sessions, the Session, and the error mapping. Translation only:
// every rule lives in the TLS core (lib/tls/core.hpp).
#pragma once

#include "core.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

namespace connmatrix::tls::openssl {

inline constexpr std::string_view backend_name = "openssl";

// --- RAII for every C handle -----------------------------------------------------------------
template <auto Free>
struct Deleter {
    template <typename T>
    void operator()(T* p) const noexcept {
        if (p) Free(p);
    }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL_free>>;
using BioMethodPtr = std::unique_ptr<BIO_METHOD, Deleter<BIO_meth_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, Deleter<SSL_SESSION_free>>;

// --- engines: what a context builds once and its sessions share --------------------------------
// The BIO type wiring OpenSSL's transport to the Session's byte queues, owned by the backend.
struct Runtime {
    BioMethodPtr bio_method;
};
// One SSL_CTX; immutable once built, so sessions on several threads may share it.
struct Engine {
    std::shared_ptr<const Runtime> runtime;
    SslCtxPtr ctx;
};
using ClientEngine = Engine;
using ServerEngine = Engine;

// openssl_session.cpp
std::unique_ptr<Session> make_client_session(std::shared_ptr<const ClientEngine> engine,
                                             detail::ClientSetup& setup, Error& err);
std::unique_ptr<Session> make_server_session(std::shared_ptr<const ServerEngine> engine,
                                             detail::ServerSetup& setup, Error& err);
// The SSL_CTX's ALPN select callback: the session's core decides.
int server_alpn_callback(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                         const unsigned char* in, unsigned int inlen, void* arg);
// The SSL_CTX's keylog callback (set only when the context has a key log): the core writes.
void keylog_callback(const SSL* ssl, const char* line);
// The BIO method the backend builds once.
Error make_runtime(Runtime& rt);

// --- errors (openssl_error.cpp) ----------------------------------------------------------------
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
void drain_error_queue(Failure& f);
void clear_error_queue() noexcept;
// A failed session call: certificate problems from the verify result, received alerts by
// their description, truncation, record and version errors by the library's reason.
Error session_error(const Failure& f);
// A failed setup step (loading a file, setting an option), with the queue's text and code.
Error library_error(errc code, std::string what);

int to_library_version(Version v) noexcept;
Version from_library_version(int v) noexcept;

}  // namespace connmatrix::tls::openssl
