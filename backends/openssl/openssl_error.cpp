// OpenSSL's errors -> tls::errc, keeping the library's own text and code (alerts by the core's
// one table).
#include "openssl_internal.hpp"

#include "alert.hpp"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <array>

namespace connmatrix::tls::openssl {
namespace {

// SSL_AD_REASON_OFFSET: a received alert is queued as reason 1000 + its description.
constexpr int alert_reason_offset = 1000;

errc verify_code(long v) noexcept {
    switch (v) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_CERT_UNTRUSTED:
        case X509_V_ERR_CERT_REJECTED:
            return errc::certificate_untrusted;
        case X509_V_ERR_CERT_HAS_EXPIRED:
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return errc::certificate_expired;
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            return errc::certificate_hostname_mismatch;
        default:
            return errc::certificate_invalid;
    }
}

bool is_record_error(int reason) noexcept {
    switch (reason) {
        case SSL_R_DECRYPTION_FAILED:
        case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
        case SSL_R_BAD_DECOMPRESSION:
        case SSL_R_BAD_RECORD_TYPE:
        case SSL_R_BAD_PACKET_LENGTH:
        case SSL_R_BAD_LENGTH:
        case SSL_R_RECORD_LENGTH_MISMATCH:
        case SSL_R_RECORD_TOO_SMALL:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
        case SSL_R_ENCRYPTED_LENGTH_TOO_LONG:
        case SSL_R_DATA_LENGTH_TOO_LONG:
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_UNEXPECTED_RECORD:
        case SSL_R_HTTP_REQUEST:
        case SSL_R_HTTPS_PROXY_REQUEST:
            return true;
        default:
            return false;
    }
}

bool is_version_error(int reason) noexcept {
    switch (reason) {
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_NO_PROTOCOLS_AVAILABLE:
        case SSL_R_VERSION_TOO_HIGH:
        case SSL_R_VERSION_TOO_LOW:
        case SSL_R_UNSUPPORTED_SSL_VERSION:
        case SSL_R_WRONG_SSL_VERSION:
        case SSL_R_INAPPROPRIATE_FALLBACK:
            return true;
        default:
            return false;
    }
}

std::string with_queue(std::string head, const std::string& queue) {
    if (queue.empty()) return head;
    return head + "; " + queue;
}

}  // namespace

void clear_error_queue() noexcept { ERR_clear_error(); }

void drain_error_queue(Failure& f) {
    const char* data = nullptr;
    int flags = 0;
    for (;;) {
        const unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags);
        if (e == 0) break;
        if (f.earliest == 0) f.earliest = e;
        // The primary code: the first entry, unless libssl queued its own verdict after a
        // lower layer's (a provider's "cipher final error", then "bad record mac"): libssl's
        // reason says what failed at the TLS level, the rest stays in the text.
        if (f.primary == 0 ||
            (ERR_GET_LIB(f.primary) != ERR_LIB_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL))
            f.primary = e;
        std::array<char, 256> buf{};
        ERR_error_string_n(e, buf.data(), buf.size());
        if (!f.queue_text.empty()) f.queue_text += "; ";
        f.queue_text += buf.data();
        if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && *data != '\0') {
            f.queue_text += " (";
            f.queue_text += data;
            f.queue_text += ")";
        }
    }
}

Error session_error(const Failure& f) {
    const auto code = static_cast<long>(f.primary);
    const std::string origin(backend_name);

    // The certificate check failed: the verify result says why (client side).
    if (f.verify_result != X509_V_OK &&
        (f.primary == 0 || (ERR_GET_LIB(f.primary) == ERR_LIB_SSL &&
                          ERR_GET_REASON(f.primary) == SSL_R_CERTIFICATE_VERIFY_FAILED))) {
        std::string head = "certificate verify failed: ";
        head += X509_verify_cert_error_string(f.verify_result);
        head += " (X509_V_ERR " + std::to_string(f.verify_result) + ")";
        return {verify_code(f.verify_result), with_queue(std::move(head), f.queue_text),
                f.verify_result, origin};
    }

    if (f.primary != 0 && ERR_GET_LIB(f.primary) == ERR_LIB_SSL) {
        const int reason = ERR_GET_REASON(f.primary);
        if (reason > alert_reason_offset && reason < alert_reason_offset + 256) {
            Error e = alert::received_error(reason - alert_reason_offset, true, code, origin);
            e.detail = with_queue(std::move(e.detail), f.queue_text);
            return e;
        }
        if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            return {errc::truncated,
                    with_queue(f.in_handshake
                                   ? "connection closed during the handshake"
                                   : "connection closed without close_notify (possible truncation "
                                     "attack)",
                               f.queue_text),
                    code, origin};
        if (reason == SSL_R_NO_APPLICATION_PROTOCOL)
            return {errc::no_application_protocol,
                    with_queue("no ALPN protocol in common: sent no_application_protocol (120)",
                               f.queue_text),
                    code, origin};
        if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)  // server: mutual TLS
            return {errc::certificate_required,
                    with_queue("the client sent no certificate", f.queue_text), code, origin};
        if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
            return {errc::certificate_invalid, f.queue_text, code, origin};
        if (is_version_error(reason)) return {errc::protocol_version, f.queue_text, code, origin};
        if (is_record_error(reason)) return {errc::bad_record, f.queue_text, code, origin};
        return {f.in_handshake ? errc::handshake_failed : errc::bad_record, f.queue_text, code,
                origin};
    }

    if (f.primary != 0)  // another library (EVP, X509, ASN1, memory)
        return {f.in_handshake ? errc::handshake_failed : errc::internal, f.queue_text, code,
                origin};

    // Nothing queued. SSL_ERROR_SYSCALL with an empty queue is a transport failure: our BIO only
    // fails that way when it cannot store output.
    std::string what = "SSL_get_error() = " + std::to_string(f.ssl_error);
    if (f.ssl_error == SSL_ERROR_SYSCALL) what += " (transport failure)";
    return {f.in_handshake ? errc::handshake_failed : errc::internal, std::move(what),
            f.ssl_error, origin};
}

Error library_error(errc code, std::string what) {
    Failure f;
    drain_error_queue(f);
    return {code, with_queue(std::move(what), f.queue_text), static_cast<long>(f.earliest),
            std::string(backend_name)};
}

}  // namespace connmatrix::tls::openssl
