#include "alert.hpp"

namespace connmatrix::tls::alert {

std::string_view name(int d) noexcept {
    switch (d) {
        case 0: return "close_notify";
        case 10: return "unexpected_message";
        case 20: return "bad_record_mac";
        case 21: return "decryption_failed";
        case 22: return "record_overflow";
        case 30: return "decompression_failure";
        case 40: return "handshake_failure";
        case 41: return "no_certificate";
        case 42: return "bad_certificate";
        case 43: return "unsupported_certificate";
        case 44: return "certificate_revoked";
        case 45: return "certificate_expired";
        case 46: return "certificate_unknown";
        case 47: return "illegal_parameter";
        case 48: return "unknown_ca";
        case 49: return "access_denied";
        case 50: return "decode_error";
        case 51: return "decrypt_error";
        case 60: return "export_restriction";
        case 70: return "protocol_version";
        case 71: return "insufficient_security";
        case 80: return "internal_error";
        case 86: return "inappropriate_fallback";
        case 90: return "user_canceled";
        case 100: return "no_renegotiation";
        case 109: return "missing_extension";
        case 110: return "unsupported_extension";
        case 111: return "certificate_unobtainable";
        case 112: return "unrecognized_name";
        case 113: return "bad_certificate_status_response";
        case 114: return "bad_certificate_hash_value";
        case 115: return "unknown_psk_identity";
        case 116: return "certificate_required";
        case 120: return "no_application_protocol";
        default: return "unknown_alert";
    }
}

std::string text(int description) {
    return std::string(name(description)) + " (" + std::to_string(description) + ")";
}

errc received(int description) noexcept {
    switch (description) {
        case close_notify: return errc::closed;
        case no_application_protocol: return errc::no_application_protocol;
        case certificate_required: return errc::certificate_required;
        case protocol_version:
        case inappropriate_fallback: return errc::protocol_version;
        default: return errc::alert_received;
    }
}

Error received_error(int description, bool fatal, long library_code, std::string origin,
                     std::string_view note) {
    std::string what = (fatal ? "received fatal alert: " : "received alert: ") + text(description);
    if (!note.empty()) what += " " + std::string(note);
    return {received(description), std::move(what), library_code, std::move(origin)};
}

std::optional<int> received_description(const Error& e) noexcept {
    static constexpr std::string_view prefix = "received fatal alert: ";
    const std::string_view d = e.detail;
    if (d.substr(0, prefix.size()) != prefix) return std::nullopt;
    const std::size_t open = d.find(" (", prefix.size());
    if (open == std::string_view::npos) return std::nullopt;
    int value = 0;
    std::size_t i = open + 2, digits = 0;
    for (; i < d.size() && d[i] >= '0' && d[i] <= '9' && digits < 3; ++i, ++digits)
        value = value * 10 + (d[i] - '0');
    if (digits == 0 || i >= d.size() || d[i] != ')' || value > 255) return std::nullopt;
    return value;
}

std::uint8_t for_error(errc e, bool handshaking) noexcept {
    switch (e) {
        case errc::protocol_version: return protocol_version;
        case errc::no_application_protocol: return no_application_protocol;
        case errc::bad_record: return 20;  // bad_record_mac
        case errc::certificate_untrusted: return unknown_ca;
        case errc::certificate_expired: return certificate_expired;
        case errc::certificate_hostname_mismatch:
        case errc::certificate_invalid: return bad_certificate;
        case errc::alpn_not_offered: return unsupported_extension;
        case errc::internal: return internal_error;
        default: break;
    }
    return handshaking ? handshake_failure : internal_error;
}

}  // namespace connmatrix::tls::alert
