#include <connmatrix/tls.hpp>

namespace connmatrix::tls {
namespace {

class Category final : public std::error_category {
public:
    const char* name() const noexcept override { return "tls"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::handshake_failed: return "TLS handshake failed";
            case errc::certificate_untrusted: return "certificate not trusted (unknown CA)";
            case errc::certificate_hostname_mismatch: return "certificate does not match the host name";
            case errc::certificate_expired: return "certificate expired or not yet valid";
            case errc::certificate_invalid: return "certificate invalid";
            case errc::protocol_version: return "no TLS protocol version in common";
            case errc::alpn_not_offered: return "server selected an ALPN protocol that was not offered";
            case errc::no_application_protocol: return "no_application_protocol: no ALPN protocol in common";
            case errc::truncated: return "connection closed without close_notify (truncated)";
            case errc::closed: return "peer closed the TLS connection (close_notify)";
            case errc::bad_record: return "bad TLS record (decryption, integrity or decoding failed)";
            case errc::alert_received: return "fatal TLS alert received from the peer";
            case errc::invalid_config: return "invalid TLS configuration";
            case errc::unsupported: return "not supported by this TLS backend";
            case errc::invalid_state: return "TLS session used in the wrong state";
            case errc::internal: return "internal TLS library error";
        }
        return "unknown tls error " + std::to_string(ev);
    }
};

}  // namespace

const std::error_category& category() noexcept {
    static const Category c;  // immutable, like std::generic_category()
    return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

std::string_view to_string(Version v) noexcept {
    switch (v) {
        case Version::tls1_0: return "TLSv1.0";
        case Version::tls1_1: return "TLSv1.1";
        case Version::tls1_2: return "TLSv1.2";
        case Version::tls1_3: return "TLSv1.3";
        case Version::unknown: break;
    }
    return "unknown";
}

std::optional<Version> parse_version(std::string_view s) {
    for (std::string_view prefix : {"TLSv", "tlsv", "TLS", "tls"})
        if (s.substr(0, prefix.size()) == prefix) {
            s.remove_prefix(prefix.size());
            break;
        }
    if (s == "1.0") return Version::tls1_0;
    if (s == "1.1") return Version::tls1_1;
    if (s == "1.2") return Version::tls1_2;
    if (s == "1.3") return Version::tls1_3;
    return std::nullopt;
}

}  // namespace connmatrix::tls
