// The mbedTLS 2.28 backend's private declarations: RAII handles for the library's C structs, the
// per-context engine state shared by a context and its sessions, and the error mapping.
//
// Threads: every context owns its own entropy source and CTR-DRBG (both lock internally in
// Debian's build, MBEDTLS_THREADING_C), its configuration is read-only once built, and the
// ticket keys lock internally too, so a context may be shared by sessions on several threads.
// A Session is used from one thread at a time. Nothing here is global or static and mutable.
#pragma once

#include "alert.hpp"

#include <connmatrix/tls.hpp>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::tls::mbed {

inline constexpr std::string_view backend_name = "mbedtls";

// ---------------------------------------------------------------------------------------------
// RAII: every mbedTLS struct lives on the heap (the library keeps pointers between them, so they
// must never move) behind a unique_ptr whose deleter runs the library's free function.
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

// ---------------------------------------------------------------------------------------------
// Engine state: what a context builds once and its sessions share (each Session holds a
// shared_ptr, so dropping the context while sessions live is fine). The configuration points at
// all the other members, so it is destroyed first (the derived destructors reset it).
struct Engine {
    Entropy::ptr entropy = Entropy::make();
    CtrDrbg::ptr drbg = CtrDrbg::make();
    // mbedTLS keeps a pointer to the ALPN array, it does not copy it: the names and the
    // null-terminated array of pointers into them live here, as long as the configuration.
    std::vector<std::string> alpn_names;
    std::vector<const char*> alpn_ptrs;
    SslConfig::ptr conf = SslConfig::make();

    virtual ~Engine() = default;
};

struct ClientEngine final : Engine {
    ClientConfig config;
    X509Crt::ptr ca = X509Crt::make();  // the trust anchors `conf` points at

    ~ClientEngine() override { conf.reset(); }
};

struct ServerEngine final : Engine {
    ServerConfig config;
    X509Crt::ptr cert = X509Crt::make();
    PkContext::ptr key = PkContext::make();
    TicketContext::ptr tickets = TicketContext::make();
    bool native_alpn = false;  // mbedTLS selects ALPN itself (prefer_server + alert on no overlap)

    ~ServerEngine() override { conf.reset(); }
};

// Sessions (mbedtls_session.cpp).
std::unique_ptr<Session> make_client_session(std::shared_ptr<const ClientEngine> engine,
                                             const ClientSessionParams& params, Error& err);
std::unique_ptr<Session> make_server_session(std::shared_ptr<const ServerEngine> engine,
                                             Error& err);

// The server's SNI hook (mbedtls_ssl_conf_sni): records the name the client asked for on the
// session it belongs to. Never rejects a name: the server has one certificate.
int server_sni_callback(void* unused, mbedtls_ssl_context* ssl, const unsigned char* name,
                        std::size_t len);

// ---------------------------------------------------------------------------------------------
// Errors (mbedtls_error.cpp).

// mbedtls_strerror() of `code` followed by its conventional hex spelling, e.g.
// "SSL - The connection indicated an EOF (-0x7280)".
std::string library_message(int code);

// An Error with our code, `what` (may be empty) and the library's own text and code.
Error make_error(errc e, int code, std::string_view what = {});
// An Error without a library code (our own checks).
Error make_plain_error(errc e, std::string detail);


// The certificate verification result flags, classified: untrusted (unknown CA) first, then
// expired / not yet valid, then host name mismatch, else invalid.
errc classify_verify_flags(std::uint32_t flags) noexcept;
// mbedtls_x509_crt_verify_info() of the flags on one line.
std::string verify_flags_text(std::uint32_t flags);

// What a failed call knew when it failed, for map_error().
struct FailureContext {
    Role role = Role::client;
    bool handshaking = true;
    std::uint32_t verify_flags = 0;        // mbedtls_ssl_get_verify_result() when relevant
    std::optional<unsigned> alert_received;  // description of the fatal alert received
    std::string expected_identity;         // client: "host localhost" / "IP address 127.0.0.1"
};

// Maps an mbedTLS return code to our error, with the library's own message and code.
Error map_error(int ret, const FailureContext& ctx);

// The alert we send when mbedTLS failed without sending one itself (the peer then learns why
// instead of seeing a bare end of stream).
unsigned alert_for(errc e, bool handshaking) noexcept;

// ---------------------------------------------------------------------------------------------
// Hello parsing (mbedtls_session.cpp), for what mbedTLS 2.28 cannot express itself: the ALPN
// cases it has no API for, and a TLS 1.3-only ClientHello (it does not read supported_versions).

struct Hello {
    bool parsed = false;          // the record held a complete hello of the expected type
    bool alpn_present = false;    // it carried an ALPN extension
    bool alpn_malformed = false;  // ... which was not a well-formed ProtocolNameList
    std::vector<std::string> alpn;
    std::optional<std::vector<std::uint16_t>> supported_versions;  // ClientHello extension 43
};

// `record`: one TLS record (5-byte header included) whose first handshake message should be a
// ClientHello (hs_type 1) or ServerHello (hs_type 2).
Hello parse_hello(std::span<const std::uint8_t> record, std::uint8_t hs_type);

}  // namespace connmatrix::tls::mbed
