// The GnuTLS 3.7 backend's private declarations: RAII for the library's handles, the engines a
// context shares with its sessions, the Session, and the error mapping. Translation only:
// every rule lives in the TLS core (lib/tls/core.hpp).
#pragma once

#include "core.hpp"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace connmatrix::tls::gnutls {

inline constexpr std::string_view backend_name = "gnutls";

// GnuTLS's own limits for gnutls_alpn_set_protocols() (lib/ext/alpn.h: MAX_ALPN_PROTOCOLS 8,
// MAX_ALPN_PROTOCOL_NAME 32, where a name must be *shorter* than 32 bytes). Longer lists or
// names are valid RFC 7301 but this library cannot send them: capabilities() says so.
inline constexpr std::size_t max_alpn_protocols = 8;
inline constexpr std::size_t max_alpn_name = 31;

// --- RAII for every C handle -----------------------------------------------------------------
template <auto Free>
struct Deleter {
    template <typename T>
    void operator()(T* p) const noexcept {
        if (p) Free(p);
    }
};
using SessionHandle = std::unique_ptr<std::remove_pointer_t<gnutls_session_t>, Deleter<&gnutls_deinit>>;
using CredentialsHandle = std::unique_ptr<std::remove_pointer_t<gnutls_certificate_credentials_t>,
                                          Deleter<&gnutls_certificate_free_credentials>>;
using PriorityHandle =
    std::unique_ptr<std::remove_pointer_t<gnutls_priority_t>, Deleter<&gnutls_priority_deinit>>;
using CrtHandle =
    std::unique_ptr<std::remove_pointer_t<gnutls_x509_crt_t>, Deleter<&gnutls_x509_crt_deinit>>;
using AntiReplayHandle = std::unique_ptr<std::remove_pointer_t<gnutls_anti_replay_t>,
                                         Deleter<&gnutls_anti_replay_deinit>>;
using PubkeyHandle =
    std::unique_ptr<std::remove_pointer_t<gnutls_pubkey_t>, Deleter<&gnutls_pubkey_deinit>>;
// A fresh public key handle, or nullptr when GnuTLS could not allocate one.
inline gnutls_pubkey_t make_pubkey() noexcept {
    gnutls_pubkey_t k = nullptr;
    return gnutls_pubkey_init(&k) == 0 ? k : nullptr;
}

// A gnutls_datum_t whose bytes GnuTLS allocated (gnutls_session_get_data2, ...). A secret datum
// is wiped before it is freed (the session ticket encryption key).
class Datum {
public:
    explicit Datum(bool secret = false) noexcept : secret_(secret) {}
    ~Datum() { reset(); }
    Datum(const Datum&) = delete;
    Datum& operator=(const Datum&) = delete;

    gnutls_datum_t* out() noexcept {
        reset();
        return &d_;
    }
    const gnutls_datum_t* get() const noexcept { return &d_; }
    bool empty() const noexcept { return d_.data == nullptr || d_.size == 0; }
    void reset() noexcept {
        if (d_.data) {
            if (secret_) gnutls_memset(d_.data, 0, d_.size);
            gnutls_free(d_.data);
        }
        d_ = {};
    }

private:
    gnutls_datum_t d_{};
    bool secret_;
};

// --- engines: what a context builds once and its sessions share --------------------------------
// Credentials and priority caches may be used by many sessions at once. `library` holds a
// gnutls_global_init reference: declared first, released last.
struct ClientEngine {
    std::shared_ptr<const void> library;
    CredentialsHandle cred;
    PriorityHandle priority;
};
// A server's record of the ClientHellos that brought early data (GnuTLS's anti-replay,
// RFC 8446 8.2): each may bring it once. Shared by the context's sessions, so it locks.
class ReplayStore {
public:
    // gnutls_db_add_func: an error when the key was already recorded.
    static int add(void* self, std::time_t expires, const gnutls_datum_t* key,
                   const gnutls_datum_t* entry);

private:
    std::mutex mutex_;
    std::map<std::string, std::time_t> seen_;  // key -> when it may be forgotten
};

struct ServerEngine {
    std::shared_ptr<const void> library;
    CredentialsHandle cred;
    PriorityHandle priority;
    Datum ticket_key{true};  // empty when tickets are off
    // With max_early_data: the anti-replay context and its store (declared first, freed last).
    std::unique_ptr<ReplayStore> replay_store;
    AntiReplayHandle anti_replay;
};

// gnutls_session.cpp
std::unique_ptr<Session> make_client_session(std::shared_ptr<const ClientEngine> engine,
                                             detail::ClientSetup& setup, Error& err);
std::unique_ptr<Session> make_server_session(std::shared_ptr<const ServerEngine> engine,
                                             detail::ServerSetup& setup, Error& err);

// --- errors (gnutls_error.cpp): GnuTLS's own message and code, origin "gnutls" ----------------
// `code` with `context` and gnutls_strerror(library_code) as the detail.
Error library_error(errc code, int library_code, std::string_view context = {});
// What a failed gnutls_handshake / gnutls_record_* call means: the alert received, the
// verification status, truncation at end of stream, or the error code's class.
// A server verifying client certificates (mutual TLS) passes the status its verify function saw
// (0 before it ran).
Error session_error(gnutls_session_t session, int code, Role role, bool handshake_done,
                    bool at_eof, std::optional<unsigned> verify_status = std::nullopt);

Version from_library_version(gnutls_protocol_t p) noexcept;

}  // namespace connmatrix::tls::gnutls
