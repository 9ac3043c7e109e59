// The mbedTLS 2.28 backend's private declarations: RAII for the library's structs, the engines a
// context shares with its sessions, the Session, and the error mapping. Translation only:
// every rule lives in the TLS core (lib/tls/core.hpp).
//
// Threads: every engine owns its own entropy source and CTR-DRBG (both lock internally in
// Debian's build, MBEDTLS_THREADING_C), its configuration is read-only once built, and the
// ticket keys lock internally too, so a context may be shared by sessions on several threads.
#pragma once

#include "core.hpp"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::tls::mbedtls {

inline constexpr std::string_view backend_name = "mbedtls";

// --- RAII: every mbedTLS struct lives on the heap (the library keeps pointers between them, so
// they must never move) behind a unique_ptr whose deleter runs the library's free function.
template <typename T, void (*Free)(T*)>
struct FreeDelete {
    void operator()(T* p) const noexcept {
        Free(p);
        delete p;
    }
};

template <typename T, void (*Init)(T*), void (*Free)(T*)>
struct Handle {
    using ptr = std::unique_ptr<T, FreeDelete<T, Free>>;
    static ptr make() {
        ptr p(new T());
        Init(p.get());
        return p;
    }
};

using SslConfig = Handle<mbedtls_ssl_config, mbedtls_ssl_config_init, mbedtls_ssl_config_free>;
using SslContext = Handle<mbedtls_ssl_context, mbedtls_ssl_init, mbedtls_ssl_free>;
using SslSession = Handle<mbedtls_ssl_session, mbedtls_ssl_session_init, mbedtls_ssl_session_free>;
using Entropy = Handle<mbedtls_entropy_context, mbedtls_entropy_init, mbedtls_entropy_free>;
using CtrDrbg = Handle<mbedtls_ctr_drbg_context, mbedtls_ctr_drbg_init, mbedtls_ctr_drbg_free>;
using X509Crt = Handle<mbedtls_x509_crt, mbedtls_x509_crt_init, mbedtls_x509_crt_free>;
using PkContext = Handle<mbedtls_pk_context, mbedtls_pk_init, mbedtls_pk_free>;
using TicketContext =
    Handle<mbedtls_ssl_ticket_context, mbedtls_ssl_ticket_init, mbedtls_ssl_ticket_free>;

// --- engines: what a context builds once and its sessions share --------------------------------
// The configuration points at every other member, so it is destroyed first (the engines'
// destructors reset it).
struct Engine {
    Entropy::ptr entropy = Entropy::make();
    CtrDrbg::ptr drbg = CtrDrbg::make();
    SslConfig::ptr conf = SslConfig::make();
    virtual ~Engine() = default;
};

struct ClientEngine final : Engine {
    // mbedTLS keeps a pointer to the ALPN array, it does not copy it: the names and the
    // null-terminated array of pointers into them live here, as long as the configuration.
    std::vector<std::string> alpn_names;
    std::vector<const char*> alpn_ptrs;
    X509Crt::ptr ca = X509Crt::make();  // the trust anchors `conf` points at
    std::shared_ptr<detail::KeyLog> keylog;  // the export callback's target; nullptr: none
    ~ClientEngine() override { conf.reset(); }
};

struct ServerEngine final : Engine {
    X509Crt::ptr cert = X509Crt::make();
    PkContext::ptr key = PkContext::make();
    TicketContext::ptr tickets = TicketContext::make();
    ~ServerEngine() override { conf.reset(); }
};

// mbedtls_session.cpp
std::unique_ptr<Session> make_client_session(std::shared_ptr<const ClientEngine> engine,
                                             detail::ClientSetup& setup, Error& err);
std::unique_ptr<Session> make_server_session(std::shared_ptr<const ServerEngine> engine,
                                             detail::ServerSetup& setup, Error& err);

// --- errors (mbedtls_error.cpp) ----------------------------------------------------------------
// An Error with our code, `what` (may be empty), the library's own text (mbedtls_strerror and
// the conventional hex spelling, "SSL - The connection indicated an EOF (-0x7280)") and code.
Error library_error(errc e, int library_code, std::string_view what = {});

// What a failed call knew when it failed, for session_error().
struct FailureContext {
    bool handshaking = true;
    std::uint32_t verify_flags = 0;          // mbedtls_ssl_get_verify_result() when relevant
    std::optional<unsigned> alert_received;  // description of the fatal alert received
    std::string expected_identity;           // client: "host localhost" / "IP address 127.0.0.1"
};
Error session_error(int ret, const FailureContext& ctx);

// --- mbedtls_internals.cpp: the one place that reads or writes mbedtls_ssl_context fields ------
// mbedTLS 2.28 has no public API for these (3.x added some); each says what is missing.
namespace internals {
// The handshake state machine's position (ssl->state; 3.x: mbedtls_ssl_is_handshake_over).
int handshake_state(const mbedtls_ssl_context* ssl) noexcept;
bool handshake_over(const mbedtls_ssl_context* ssl) noexcept;
// The description of the fatal alert just received (ssl->in_msg; no accessor in 2.28 or 3.x).
std::optional<unsigned> received_alert(const mbedtls_ssl_context* ssl) noexcept;
// A server's ALPN selection, made by us after the ClientHello (ssl->alpn_chosen; mbedTLS
// selects only by its own rule, from a list shared by every session of the configuration).
void set_selected_alpn(mbedtls_ssl_context* ssl, const char* protocol) noexcept;
// Before the ClientHello's version is read the record version is 0.0, which peers drop as
// garbage: stamp the alert we send with `v` (ssl->major_ver / minor_ver).
void stamp_record_version(mbedtls_ssl_context* ssl, Version v) noexcept;
}  // namespace internals

}  // namespace connmatrix::tls::mbedtls
