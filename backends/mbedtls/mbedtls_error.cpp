// mbedTLS return codes -> tls::errc, keeping the library's own text and code.
#include "mbedtls_internal.hpp"

#include "alert.hpp"

#include <mbedtls/error.h>
#include <mbedtls/x509.h>

#include <array>
#include <cstdio>

namespace connmatrix::tls::mbedtls {
namespace {

std::string library_message(int code) {
    std::array<char, 256> buf{};
    mbedtls_strerror(code, buf.data(), buf.size());
    std::array<char, 24> hex{};
    const unsigned magnitude = code < 0 ? static_cast<unsigned>(-static_cast<long>(code))
                                        : static_cast<unsigned>(code);
    std::snprintf(hex.data(), hex.size(), "%s0x%04X", code < 0 ? "-" : "", magnitude);
    return std::string(buf.data()) + " (" + hex.data() + ")";
}

errc classify_verify_flags(std::uint32_t flags) noexcept {
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) return errc::certificate_untrusted;
    if (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE))
        return errc::certificate_expired;
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) return errc::certificate_hostname_mismatch;
    return errc::certificate_invalid;
}

std::string verify_flags_text(std::uint32_t flags) {
    std::array<char, 1024> buf{};
    const int n = mbedtls_x509_crt_verify_info(buf.data(), buf.size(), "", flags);
    std::string out;
    if (n > 0) {
        // One line per flag, each ending in '\n': join them with "; ".
        std::string_view text(buf.data(), static_cast<std::size_t>(n));
        while (!text.empty()) {
            const std::size_t nl = text.find('\n');
            std::string_view line = text.substr(0, nl);
            if (!line.empty()) out += (out.empty() ? "" : "; ") + std::string(line);
            if (nl == std::string_view::npos) break;
            text.remove_prefix(nl + 1);
        }
    }
    std::array<char, 16> hex{};
    std::snprintf(hex.data(), hex.size(), "0x%08X", static_cast<unsigned>(flags));
    return out + (out.empty() ? "" : " ") + "(verify flags " + hex.data() + ")";
}

}  // namespace

Error library_error(errc e, int library_code, std::string_view what) {
    std::string detail(what);
    if (library_code != 0) {
        if (!detail.empty()) detail += ": ";
        detail += library_message(library_code);
    }
    return {e, std::move(detail), library_code, std::string(backend_name)};
}

Error session_error(int ret, const FailureContext& ctx) {
    const auto make_error = [](errc e, int code, std::string_view what = {}) {
        return library_error(e, code, what);
    };
    switch (ret) {
        case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: {
            if (!ctx.alert_received) return make_error(errc::alert_received, ret);
            Error e = alert::received_error(static_cast<int>(*ctx.alert_received), true, ret,
                                            std::string(backend_name));
            e.detail += ": " + library_message(ret);
            return e;
        }
        case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED: {
            std::string what = "certificate verification failed";
            if (!ctx.expected_identity.empty()) what += " for " + ctx.expected_identity;
            return make_error(classify_verify_flags(ctx.verify_flags), ret,
                              what + ": " + verify_flags_text(ctx.verify_flags));
        }
        case MBEDTLS_ERR_X509_FATAL_ERROR:
            // What mbedTLS 2.28's chain verification returns for a chain longer than it takes
            // (MBEDTLS_X509_MAX_INTERMEDIATE_CA): the peer's certificate, not the handshake.
            return make_error(errc::certificate_invalid, ret,
                              "the certificate chain could not be verified (mbedTLS takes at most " +
                                  std::to_string(MBEDTLS_X509_MAX_INTERMEDIATE_CA) +
                                  " intermediates)");
        case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:  // server, mutual TLS
            return make_error(errc::certificate_required, ret, "the client sent no certificate");
        case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
            return make_error(errc::protocol_version, ret);
        case MBEDTLS_ERR_SSL_CONN_EOF:
            return make_error(errc::truncated, ret,
                              ctx.handshaking
                                  ? "connection closed during the handshake"
                                  : "connection closed without close_notify (possible truncation attack)");
        case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
            return make_error(errc::closed, ret,
                              ctx.handshaking ? "peer sent close_notify during the handshake" : "");
        case MBEDTLS_ERR_SSL_INVALID_MAC:
        case MBEDTLS_ERR_SSL_INVALID_RECORD:
        case MBEDTLS_ERR_SSL_UNEXPECTED_RECORD:
        // Not internal: mbedTLS also says this of a peer's record longer than its input buffer
        // ("requesting more data than fits"), and the core refuses our own misuse first.
        case MBEDTLS_ERR_SSL_BAD_INPUT_DATA:
            return make_error(errc::bad_record, ret);
        case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
            return make_error(ctx.handshaking ? errc::handshake_failed : errc::bad_record, ret);
        case MBEDTLS_ERR_SSL_ALLOC_FAILED:
        case MBEDTLS_ERR_SSL_INTERNAL_ERROR:
        case MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE:
        case MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL:
            // FEATURE_UNAVAILABLE during a handshake is a peer using something 2.28 lacks: a
            // handshake message longer than its 16 KB record buffer (a long certificate
            // chain), a fragmented one. The library cannot do what this peer needs.
            if (ret == MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE && ctx.handshaking)
                return make_error(errc::unsupported, ret,
                                  "the server sent what mbedTLS 2.28 cannot take (a handshake "
                                  "message over 16 KB, such as a long certificate chain, or a "
                                  "fragmented one)");
            return make_error(errc::internal, ret);
        default:
            break;
    }
    // The X.509 module's high-level codes (-0x2080 .. -0x3000): the peer's certificate could
    // not be parsed or used.
    if (ret <= -0x2000 && ret > -0x3000) return make_error(errc::certificate_invalid, ret);
    return make_error(ctx.handshaking ? errc::handshake_failed : errc::bad_record, ret);
}

}  // namespace connmatrix::tls::mbedtls
