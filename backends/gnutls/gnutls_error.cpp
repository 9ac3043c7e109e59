// GnuTLS error codes, alerts and certificate verification status -> tls::errc, keeping
// GnuTLS's own message and numeric code in the Error so a user can search for them.
#include "gnutls_internal.hpp"

#include "alert.hpp"

#include <cstdio>
#include <string>

namespace connmatrix::tls::gnutls {
namespace {

// The most specific errc for a GnuTLS error that is neither an alert nor a verification failure.
errc classify(int code, Role role, bool handshake_done) noexcept {
    switch (code) {
        case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
            return handshake_done ? errc::bad_record : errc::protocol_version;
        case GNUTLS_E_INAPPROPRIATE_FALLBACK:
            return errc::protocol_version;
        case GNUTLS_E_NO_APPLICATION_PROTOCOL:
            // Server: no overlap, and we sent no_application_protocol (GNUTLS_ALPN_MANDATORY).
            // Client: with GNUTLS_ALPN_MANDATORY GnuTLS refuses a selection we did not offer.
            return role == Role::server ? errc::no_application_protocol : errc::alpn_not_offered;
        case GNUTLS_E_PREMATURE_TERMINATION:
            return errc::truncated;
        case GNUTLS_E_DECRYPTION_FAILED:
        case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
        case GNUTLS_E_RECORD_OVERFLOW:
        case GNUTLS_E_UNEXPECTED_PACKET:
        case GNUTLS_E_TOO_MANY_EMPTY_PACKETS:
        case GNUTLS_E_DECOMPRESSION_FAILED:
        case GNUTLS_E_RECORD_LIMIT_REACHED:
        case GNUTLS_E_TOO_MANY_HANDSHAKE_PACKETS:
            return errc::bad_record;
        case GNUTLS_E_UNEXPECTED_HANDSHAKE_PACKET:
        // Not internal: GnuTLS also says this of a peer's bad bytes (an ECDHE public value of
        // the wrong length), and the core refuses our own misuse before GnuTLS sees it.
        case GNUTLS_E_INVALID_REQUEST:
            return handshake_done ? errc::bad_record : errc::handshake_failed;
        case GNUTLS_E_CERTIFICATE_ERROR:
        case GNUTLS_E_NO_CERTIFICATE_FOUND:
        case GNUTLS_E_CERTIFICATE_LIST_UNSORTED:
        case GNUTLS_E_X509_UNSUPPORTED_CRITICAL_EXTENSION:
        case GNUTLS_E_X509_UNSUPPORTED_ATTRIBUTE:
        case GNUTLS_E_X509_UNKNOWN_SAN:
        case GNUTLS_E_X509_UNSUPPORTED_OID:
        case GNUTLS_E_ASN1_DER_ERROR:
        case GNUTLS_E_ASN1_DER_OVERFLOW:
        case GNUTLS_E_ASN1_TAG_ERROR:
        case GNUTLS_E_ASN1_ELEMENT_NOT_FOUND:
        case GNUTLS_E_CERTIFICATE_KEY_MISMATCH:
        case GNUTLS_E_UNKNOWN_PK_ALGORITHM:
        case GNUTLS_E_PK_SIG_VERIFY_FAILED:
            return errc::certificate_invalid;
        case GNUTLS_E_MEMORY_ERROR:
        case GNUTLS_E_INTERNAL_ERROR:
        case GNUTLS_E_INVALID_SESSION:
        case GNUTLS_E_LIB_IN_ERROR_STATE:
            return errc::internal;
        default:
            return handshake_done ? errc::bad_record : errc::handshake_failed;
    }
}

Error alert_error(gnutls_session_t session, int code) {
    return alert::received_error(static_cast<int>(gnutls_alert_get(session)),
                                 code == GNUTLS_E_FATAL_ALERT_RECEIVED, code,
                                 std::string(backend_name));
}

Error verification_error(unsigned status, int code) {
    errc e = errc::certificate_invalid;
    // Most fundamental first: an unknown issuer says more than the dates of an untrusted chain.
    if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND)) e = errc::certificate_untrusted;
    else if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED)) e = errc::certificate_expired;
    else if (status & GNUTLS_CERT_UNEXPECTED_OWNER) e = errc::certificate_hostname_mismatch;

    std::string text;
    gnutls_datum_t out{};
    if (status != 0 &&
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0 &&
        out.data) {
        text.assign(reinterpret_cast<const char*>(out.data), out.size);
        gnutls_free(out.data);
        while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
    }
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", status);
    text += (text.empty() ? "" : " ") + std::string("(verification status ") + hex + ")";
    return library_error(e, code, text);
}

}  // namespace

Error library_error(errc code, int library_code, std::string_view context) {
    std::string detail(context);
    if (library_code != 0) {
        if (!detail.empty()) detail += ": ";
        detail += gnutls_strerror(library_code);
    }
    return {make_error_code(code), std::move(detail), library_code, std::string(backend_name)};
}

Error session_error(gnutls_session_t session, int code, Role role, bool handshake_done,
                    bool at_eof, std::optional<unsigned> verify_status) {
    if (code == GNUTLS_E_FATAL_ALERT_RECEIVED || code == GNUTLS_E_WARNING_ALERT_RECEIVED)
        return alert_error(session, code);
    if (code == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
        return verification_error(
            verify_status.value_or(gnutls_session_get_verify_cert_status(session)), code);
    // Server, mutual TLS: the client sent no certificate where one is required.
    if (role == Role::server && verify_status &&
        (code == GNUTLS_E_NO_CERTIFICATE_FOUND || code == GNUTLS_E_CERTIFICATE_REQUIRED))
        return library_error(errc::certificate_required, code, "the client sent no certificate");
    if (at_eof && (code == GNUTLS_E_UNEXPECTED_PACKET_LENGTH || code == GNUTLS_E_PULL_ERROR ||
                   code == GNUTLS_E_PREMATURE_TERMINATION))
        return library_error(errc::truncated, code,
                             handshake_done ? "connection closed without close_notify"
                                            : "connection closed during the handshake");
    return library_error(classify(code, role, handshake_done), code);
}

}  // namespace connmatrix::tls::gnutls
