// The mbedTLS backend's only reach into mbedtls_ssl_context's fields. mbedTLS 2.28 declares the
// struct in its public ssl.h but documents the fields as internal; these are the few things its
// public API cannot do. Nothing here needs mbedtls/ssl_internal.h: resumption is read from the
// hellos by the core (SessionCore::resumed_by_session_id), not from ssl->handshake.
#include "mbedtls_internal.hpp"

namespace connmatrix::tls::mbedtls {
namespace internals {

// Missing: a "handshake over" query (3.x: mbedtls_ssl_is_handshake_over). The state is also
// where the backend steps in between handshake messages (SNI vs. verification name, ALPN).
int handshake_state(const mbedtls_ssl_context* ssl) noexcept { return ssl->state; }

bool handshake_over(const mbedtls_ssl_context* ssl) noexcept {
    return ssl->state == MBEDTLS_SSL_HANDSHAKE_OVER;
}

// Missing: the received alert's description. MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE says only that
// one came; the record is still in the input buffer.
std::optional<unsigned> received_alert(const mbedtls_ssl_context* ssl) noexcept {
    if (ssl->in_msgtype == MBEDTLS_SSL_MSG_ALERT && ssl->in_msg != nullptr && ssl->in_msglen >= 2)
        return ssl->in_msg[1];
    return std::nullopt;
}

// Missing: a per-session ALPN selection callback (mbedtls_ssl_conf_alpn_protocols is per
// configuration and always alerts on no overlap). The pointer must outlive the handshake.
void set_selected_alpn(mbedtls_ssl_context* ssl, const char* protocol) noexcept {
    ssl->alpn_chosen = protocol;
}

// Missing: a way to send an alert before the peer's version is known with a sane record version.
void stamp_record_version(mbedtls_ssl_context* ssl, Version v) noexcept {
    if (ssl->major_ver != 0) return;
    ssl->major_ver = MBEDTLS_SSL_MAJOR_VERSION_3;
    ssl->minor_ver = v == Version::tls1_0   ? MBEDTLS_SSL_MINOR_VERSION_1
                     : v == Version::tls1_1 ? MBEDTLS_SSL_MINOR_VERSION_2
                                            : MBEDTLS_SSL_MINOR_VERSION_3;
}

// Missing: whether the server asked for a client certificate (mutual TLS). Set by the
// CertificateRequest step, read by mbedTLS when it writes the client's Certificate.
bool certificate_requested(const mbedtls_ssl_context* ssl) noexcept {
    return ssl->client_auth != 0;
}

}  // namespace internals
}  // namespace connmatrix::tls::mbedtls
