#include "core.hpp"

#include <connmatrix/tls.hpp>

#include <iterator>

namespace connmatrix::tls {
namespace {

constexpr ErrorEntry entries[] = {
    {"handshake_failed", "TLS handshake failed"},
    {"certificate_untrusted", "certificate not trusted (unknown CA)"},
    {"certificate_hostname_mismatch", "certificate does not match the host name"},
    {"certificate_expired", "certificate expired or not yet valid"},
    {"certificate_invalid", "certificate invalid"},
    {"protocol_version", "no TLS protocol version in common"},
    {"alpn_not_offered", "server selected an ALPN protocol that was not offered"},
    {"no_application_protocol", "no_application_protocol: no ALPN protocol in common"},
    {"truncated", "connection closed without close_notify (truncated)"},
    {"closed", "peer closed the TLS connection (close_notify)"},
    {"bad_record", "bad TLS record (decryption, integrity or decoding failed)"},
    {"alert_received", "fatal TLS alert received from the peer"},
    {"invalid_config", "invalid TLS configuration"},
    {"unsupported", "not supported by this TLS backend"},
    {"invalid_state", "TLS session used in the wrong state"},
    {"internal", "internal TLS library error"},
    {"pin_mismatch", "pinned public key mismatch"},
    {"certificate_required", "the server requires a client certificate"},
};
static_assert(std::size(entries) == static_cast<std::size_t>(errc::certificate_required));
static_assert(names_every_enumerator<errc, std::size(entries)>(), "name every tls::errc here");

constexpr std::string_view libraries[] = {"openssl", "gnutls", "mbedtls"};

}  // namespace

const ErrorCategory& category() noexcept {
    static const ErrorCategory c{"tls", entries, libraries};  // immutable, like std::generic_category()
    return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

std::optional<std::chrono::system_clock::time_point> utc_time(int year, int month, int day,
                                                              int hour, int minute, int second) {
    using namespace std::chrono;
    const year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                             std::chrono::day{static_cast<unsigned>(day)}};
    if (month < 1 || day < 1 || !ymd.ok() || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
        second < 0 || second > 60)
        return std::nullopt;
    return sys_days{ymd} + hours{hour} + minutes{minute} + seconds{second};
}

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
