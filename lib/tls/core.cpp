// The TLS core's per-session state and the decisions every backend takes the same way.
#include "core.hpp"

#include "alpn.hpp"
#include "keylog.hpp"

#include <algorithm>

namespace connmatrix::tls {

std::string PeerIdentity::describe() const {
    return (is_ip() ? "IP address " : "host ") + host;
}

std::string join_protocols(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return "[" + out + "]";
}

std::uint16_t wire_version(Version v) noexcept {
    switch (v) {
        case Version::tls1_0: return 0x0301;
        case Version::tls1_1: return 0x0302;
        case Version::tls1_2: return 0x0303;
        case Version::tls1_3: return 0x0304;
        case Version::unknown: break;
    }
    return 0;
}

Version from_wire_version(std::uint16_t v) noexcept {
    switch (v) {
        case 0x0301: return Version::tls1_0;
        case 0x0302: return Version::tls1_1;
        case 0x0303: return Version::tls1_2;
        case 0x0304: return Version::tls1_3;
        default: return Version::unknown;
    }
}

Error out_of_memory(std::string_view origin) {
    return {errc::internal, "out of memory", 0, std::string(origin)};
}

namespace detail {

SessionCore::SessionCore(ClientSetup& s)
    : early(s.early), backend_(s.backend), client_(s.config), peer_(s.peer), key_(s.key),
      resume_ignored_(s.resume_ignored), keylog_(s.keylog) {}

SessionCore::SessionCore(ServerSetup& s)
    : backend_(s.backend), server_(s.config), caps_(s.caps) {}

const std::vector<std::string>& SessionCore::offered() const noexcept {
    static const std::vector<std::string> none;  // immutable
    return client_ ? client_->alpn : none;
}

namespace {
std::optional<hello::Message> parse_first(const RecordObserver& o) {
    const auto* m = o.first_message();
    if (m == nullptr) return std::nullopt;
    try {
        return hello::parse(*m);
    } catch (...) {  // out of memory: observation is best effort
        return std::nullopt;
    }
}
}  // namespace

const hello::Message* SessionCore::peer_hello() const {
    if (!peer_parsed_ && input.first_message() != nullptr) {
        peer_parsed_ = true;
        peer_hello_ = parse_first(input);
        const std::uint8_t want = server_ ? hello::client_hello : hello::server_hello;
        if (peer_hello_ && peer_hello_->type != want) peer_hello_.reset();
    }
    return peer_hello_ ? &*peer_hello_ : nullptr;
}

const hello::Message* SessionCore::own_hello() const {
    if (!own_parsed_ && output.first_message() != nullptr) {
        own_parsed_ = true;
        own_hello_ = parse_first(output);
    }
    return own_hello_ ? &*own_hello_ : nullptr;
}

void SessionCore::check_selection(const hello::Message& m) noexcept {
    if (!client_ || !m.alpn_present || m.alpn_malformed || m.alpn.size() != 1) return;
    const auto& offered = client_->alpn;
    if (std::find(offered.begin(), offered.end(), m.alpn.front()) != offered.end()) return;
    try {
        unoffered_ = m.alpn.front();
    } catch (...) {
    }
}

bool SessionCore::observe_server_message(std::span<const std::uint8_t> message) noexcept {
    if (message.size() < 4) return true;
    return observe_server_message(message[0], message.subspan(4));
}

bool SessionCore::observe_server_message(std::uint8_t type,
                                         std::span<const std::uint8_t> body) noexcept {
    if (client_ && type == hello::certificate_request) certificate_requested_ = true;
    if (client_ && type == early::new_session_ticket) {
        const hello::Message* sh = peer_hello();  // a TLS 1.2 ticket has another layout
        if (sh != nullptr && sh->supported_versions &&
            sh->supported_versions->size() == 1 && sh->supported_versions->front() == 0x0304)
            early.observe_ticket(body);
        return true;
    }
    if (!client_ || (type != hello::server_hello && type != hello::encrypted_extensions))
        return true;
    try {
        if (auto m = hello::parse_body(type, body)) check_selection(*m);
    } catch (...) {  // out of memory: the library judges the message itself
    }
    return !unoffered_;
}

AlpnAnswer SessionCore::answer_alpn(const std::vector<std::string>* offered) {
    if (offered == nullptr) return AlpnAnswer::none();  // nothing offered, nothing answered
    const ServerConfig& cfg = *server_;
    AlpnAnswer a;
    if (cfg.alpn_select)
        a = cfg.alpn_select(*offered);
    else if (cfg.alpn_mode == ServerAlpn::ignore || cfg.alpn.empty())
        a = AlpnAnswer::none();
    else if (auto chosen = alpn::select(cfg.alpn, *offered))
        a = AlpnAnswer::select(*chosen);
    else
        a = cfg.alert_on_no_overlap ? AlpnAnswer::refuse() : AlpnAnswer::none();

    const bool in_offer = std::find(offered->begin(), offered->end(), a.protocol) != offered->end();
    if (a.kind == AlpnAnswer::Kind::select && (a.protocol.empty() || a.protocol.size() > 255)) {
        refusal_ = Error{errc::invalid_config,
                         "alpn_select chose \"" + a.protocol + "\", not a valid ALPN name", 0,
                         std::string(core_origin)};
        return AlpnAnswer::refuse();
    }
    if (a.kind == AlpnAnswer::Kind::select &&
        (a.protocol.size() > caps_.max_alpn_name ||
         (!caps_.alpn_nul && a.protocol.find('\0') != std::string::npos))) {
        refusal_ = Error{errc::unsupported,
                         "alpn_select chose a name a " + backend_ + " server cannot send (" +
                             std::to_string(a.protocol.size()) + " bytes)",
                         0, std::string(core_origin)};
        return AlpnAnswer::refuse();
    }
    if (a.kind == AlpnAnswer::Kind::select && !in_offer && !caps_.server_force_alpn) {
        refusal_ = Error{errc::unsupported,
                         "alpn_select chose \"" + a.protocol + "\", which the client did not offer " +
                             join_protocols(*offered) + ", and a " + backend_ +
                             " server can select only from the client's offer",
                         0, std::string(core_origin)};
        return AlpnAnswer::refuse();
    }
    if (a.kind == AlpnAnswer::Kind::refuse)
        refusal_ = Error{errc::no_application_protocol,
                         "sent no_application_protocol (120): the client offered " +
                             join_protocols(*offered) + ", we support " + join_protocols(cfg.alpn),
                         0, std::string(core_origin)};
    return a;
}

bool SessionCore::refuse_versions(const hello::Message& ch, Version max) {
    const ServerConfig& cfg = *server_;
    const std::uint16_t lo = wire_version(cfg.min_version);
    const std::uint16_t hi = wire_version(std::min(cfg.max_version, max));
    const auto versions = hello::client_versions(ch);
    for (const auto v : versions)
        if (v >= lo && v <= hi) return false;
    std::vector<std::string> names;
    for (const auto v : versions) names.emplace_back(to_string(from_wire_version(v)));
    refusal_ = Error{errc::protocol_version,
                     "the client accepts " + join_protocols(names) + ", we speak " +
                         std::string(to_string(cfg.min_version)) + " to " +
                         std::string(to_string(from_wire_version(hi))),
                     0, std::string(core_origin)};
    return true;
}

std::optional<bool> SessionCore::resumed_by_session_id() const {
    const hello::Message* ch = server_ ? peer_hello() : own_hello();
    const hello::Message* sh = server_ ? own_hello() : peer_hello();
    if (ch == nullptr || sh == nullptr) return std::nullopt;
    if (ch->session_id.empty()) {
        // RFC 5077 3.4 lets a client present a ticket with an empty id: a server then cannot
        // tell from the hellos whether it resumed. (A client presenting nothing did not.)
        if (server_ && ch->session_ticket) return std::nullopt;
        return false;
    }
    return ch->session_id == sh->session_id;
}

std::optional<std::array<std::uint8_t, 32>> SessionCore::client_random() const noexcept {
    try {
        if (const hello::Message* ch = server_ ? peer_hello() : own_hello()) return ch->random;
    } catch (...) {  // out of memory: unknown
    }
    return std::nullopt;
}

bool SessionCore::log_secret(std::string_view label, std::span<const std::uint8_t> random,
                             std::span<const std::uint8_t> secret) noexcept {
    if (!keylog_) return false;
    // A line Wireshark cannot match to this connection is worse than none.
    if (const auto ours = client_random())
        if (!std::equal(random.begin(), random.end(), ours->begin(), ours->end())) return false;
    return keylog_->log_secret(label, random, secret);
}

bool SessionCore::log_line(std::string_view line) noexcept {
    if (!keylog_) return false;
    try {
        const auto entry = keylog::parse_line(line);
        return entry && log_secret(entry->label, entry->client_random, entry->secret);
    } catch (...) {  // out of memory: the line is lost, the handshake goes on
        return false;
    }
}

}  // namespace detail
}  // namespace connmatrix::tls
