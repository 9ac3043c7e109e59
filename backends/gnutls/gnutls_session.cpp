// The GnuTLS tls::Session: GnuTLS's push/pull transport functions wired to the base class's byte
// queues (never a socket), and the handshake / record / close state machine on top.
#include "gnutls_internal.hpp"

#include "alpn.hpp"
#include "host.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace connmatrix::tls::gtls {
namespace {

// A GnuTLS call that reports progress without consuming input or producing a result may be
// retried this many times; beyond that the session fails instead of spinning.
constexpr int max_idle_spins = 64;

// --- exported session envelope -----------------------------------------------------------
// export_session() wraps GnuTLS's session data with what the resuming side must know before it
// trusts a resumed session, because a resumed handshake carries no certificate to verify again:
//   "cmG1" | flags (bit 0: the original peer was verified) | u16 host length | host | gnutls data
// A session is resumed with verification on only if it was verified, for the same host.
constexpr std::array<std::uint8_t, 4> envelope_magic{'c', 'm', 'G', '1'};

struct Envelope {
    bool verified = false;
    std::string host;
    std::span<const std::uint8_t> data;
};

std::vector<std::uint8_t> wrap(bool verified, std::string_view host,
                               std::span<const std::uint8_t> data) {
    std::vector<std::uint8_t> out(envelope_magic.begin(), envelope_magic.end());
    out.push_back(verified ? 1 : 0);
    const std::size_t n = std::min<std::size_t>(host.size(), 0xffff);
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n & 0xff));
    out.insert(out.end(), host.begin(), host.begin() + static_cast<std::ptrdiff_t>(n));
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

std::optional<Envelope> unwrap(std::span<const std::uint8_t> in) {
    if (in.size() < envelope_magic.size() + 3 ||
        !std::equal(envelope_magic.begin(), envelope_magic.end(), in.begin()))
        return std::nullopt;
    Envelope e;
    e.verified = (in[4] & 1) != 0;
    const std::size_t n = (std::size_t{in[5]} << 8) | in[6];
    if (in.size() < 7 + n + 1) return std::nullopt;
    e.host.assign(reinterpret_cast<const char*>(in.data() + 7), n);
    e.data = in.subspan(7 + n);
    return e;
}

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

// --- reading the server's ALPN answer off the wire ------------------------------------------
// GnuTLS's client silently ignores a selection it did not offer (lib/ext/alpn.c) and its ALPN
// extension cannot be overridden, so a handshake hook reads the ServerHello (TLS 1.2) or
// EncryptedExtensions (TLS 1.3) itself, before GnuTLS parses it.

std::uint16_t u16(std::span<const std::uint8_t> b, std::size_t at) {
    return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}

// The body of extension `type` inside an extensions block (<len:2> then entries); nullopt when
// absent or malformed (GnuTLS reports malformed messages itself).
std::optional<std::span<const std::uint8_t>> find_extension(std::span<const std::uint8_t> b,
                                                            std::uint16_t type) {
    if (b.size() < 2) return std::nullopt;
    const std::size_t total = u16(b, 0);
    if (total > b.size() - 2) return std::nullopt;
    b = b.subspan(2, total);
    while (b.size() >= 4) {
        const std::uint16_t t = u16(b, 0);
        const std::size_t len = u16(b, 2);
        if (len > b.size() - 4) return std::nullopt;
        if (t == type) return b.subspan(4, len);
        b = b.subspan(4 + len);
    }
    return std::nullopt;
}

std::optional<std::string> selected_alpn(unsigned htype, std::span<const std::uint8_t> msg) {
    constexpr std::uint16_t alpn_extension = 16;
    std::optional<std::span<const std::uint8_t>> ext;
    if (htype == GNUTLS_HANDSHAKE_SERVER_HELLO) {
        // legacy_version(2) random(32) session_id<1+n> cipher_suite(2) compression(1) extensions
        std::size_t at = 2 + 32;
        if (msg.size() < at + 1) return std::nullopt;
        at += std::size_t{1} + msg[at] + 2 + 1;
        if (msg.size() < at) return std::nullopt;
        ext = find_extension(msg.subspan(at), alpn_extension);
    } else if (htype == GNUTLS_HANDSHAKE_ENCRYPTED_EXTENSIONS) {
        ext = find_extension(msg, alpn_extension);
    }
    if (!ext || ext->size() < 2 || u16(*ext, 0) != ext->size() - 2) return std::nullopt;
    auto names = alpn::decode(ext->subspan(2));
    if (!names || names->size() != 1) return std::nullopt;  // GnuTLS rejects these itself
    return std::move(names->front());
}

// --- the server's view of the client's versions ------------------------------------------------
// A GnuTLS server capped below TLS 1.3 reads only legacy_version and then fails for lack of cipher
// suites (handshake_failure). RFC 8446 section 4.2.1 asks for protocol_version when
// supported_versions holds nothing acceptable, as OpenSSL answers: the hook checks that first.

struct VersionScan {
    Version min, max;
    bool present = false;
    bool acceptable = false;
};

Version from_wire(unsigned v) noexcept {
    switch (v) {
        case 0x0301: return Version::tls1_0;
        case 0x0302: return Version::tls1_1;
        case 0x0303: return Version::tls1_2;
        case 0x0304: return Version::tls1_3;
        default: return Version::unknown;  // GREASE, drafts, DTLS
    }
}

int scan_supported_versions(void* ctx, unsigned tls_id, const unsigned char* data, unsigned size) {
    constexpr unsigned supported_versions = 43;
    if (tls_id != supported_versions) return 0;
    auto* scan = static_cast<VersionScan*>(ctx);
    scan->present = true;
    if (size < 1 || data[0] + 1u != size || data[0] % 2 != 0) return 0;  // GnuTLS will complain
    for (unsigned i = 1; i + 1 < size; i += 2) {
        const Version v = from_wire((unsigned{data[i]} << 8) | data[i + 1]);
        if (v != Version::unknown && v >= scan->min && v <= scan->max) scan->acceptable = true;
    }
    return 0;
}

// --- the last record the library was handed ----------------------------------------------------
// In TLS 1.3 a peer that rejects our certificate before switching its write keys (OpenSSL does)
// sends its alert in plaintext, which GnuTLS then fails to decrypt ("Decryption has failed").
// Following record boundaries in what pull() hands over lets us name the alert instead.
class RecordTracker {
public:
    void consume(const std::uint8_t* p, std::size_t n) noexcept {
        while (n > 0) {
            if (have_ < header_.size()) {
                header_[have_++] = *p++;
                --n;
                if (have_ == header_.size()) {
                    left_ = (std::size_t{header_[3]} << 8) | header_[4];
                    pos_ = 0;
                    if (left_ == 0) complete();
                }
                continue;
            }
            const std::size_t k = std::min(n, left_);
            for (std::size_t i = 0; i < k && pos_ + i < body_.size(); ++i) body_[pos_ + i] = p[i];
            pos_ += k;
            left_ -= k;
            p += k;
            n -= k;
            if (left_ == 0) complete();
        }
    }
    // The last complete record was a bare two-byte alert (plaintext): its description.
    std::optional<int> plaintext_alert() const noexcept {
        if (last_type_ == 21 && last_len_ == 2) return body_last_[1];
        return std::nullopt;
    }

private:
    void complete() noexcept {
        last_type_ = header_[0];
        last_len_ = (std::size_t{header_[3]} << 8) | header_[4];
        body_last_ = body_;
        have_ = 0;
    }
    std::array<std::uint8_t, 5> header_{};
    std::size_t have_ = 0, left_ = 0, pos_ = 0;
    std::array<std::uint8_t, 2> body_{}, body_last_{};
    unsigned last_type_ = 0;
    std::size_t last_len_ = 0;
};

Version to_version(gnutls_protocol_t p) noexcept {
    switch (p) {
        case GNUTLS_TLS1_0: return Version::tls1_0;
        case GNUTLS_TLS1_1: return Version::tls1_1;
        case GNUTLS_TLS1_2: return Version::tls1_2;
        case GNUTLS_TLS1_3: return Version::tls1_3;
        default: return Version::unknown;
    }
}

bool is_again(long r) noexcept { return r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED; }

// ---------------------------------------------------------------------------------------------

class GnutlsSession final : public Session {
public:
    GnutlsSession(Role role, std::vector<std::string> offered)
        : Session(role, std::string(gnutls_name), offered), offered_(std::move(offered)) {}

    Error init_client(std::shared_ptr<const ClientState> state, const ClientSessionParams& params);
    Error init_server(std::shared_ptr<const ServerState> state);

protected:
    Status do_handshake(Error& err) override;
    Status do_write(std::span<const std::uint8_t> plaintext, Error& err) override;
    Status do_read(std::vector<std::uint8_t>& plaintext, Error& err) override;
    void do_close() override;
    std::optional<std::string> do_alpn() const override;
    SessionInfo do_info() const override;
    std::vector<std::uint8_t> do_export_session() const override;

private:
    gnutls_session_t s() const noexcept { return s_.get(); }
    Error init_common(unsigned flags, gnutls_priority_t priority,
                      gnutls_certificate_credentials_t cred);
    Error set_alpn(const std::vector<std::string>& protocols, unsigned flags);
    Status fail(int code, Error& err);
    bool at_eof() const noexcept { return input_eof() && input_size() == 0; }

    static ssize_t push_cb(gnutls_transport_ptr_t self, const void* data, size_t n);
    static ssize_t pull_cb(gnutls_transport_ptr_t self, void* data, size_t n);
    static int pull_timeout_cb(gnutls_transport_ptr_t self, unsigned int ms);
    static int hook_cb(gnutls_session_t session, unsigned htype, unsigned when,
                       unsigned incoming, const gnutls_datum_t* msg);

    // The contexts' library state comes first and the GnuTLS session last: it is destroyed
    // first, while everything it may point to (credentials, ticket key, vdata_) still exists.
    std::shared_ptr<const ClientState> client_;
    std::shared_ptr<const ServerState> server_;
    std::vector<std::string> offered_;         // client: our ALPN offer
    std::optional<std::string> sni_;           // client: SNI sent
    std::optional<std::string> unoffered_;     // client: the server selected this; not offered
    bool verify_ = false;                      // client: chain + host name checked
    std::string verify_host_;                  // client: the normalised host (for the envelope)
    std::array<unsigned char, 16> ip_{};       // client: raw IP when the host is a literal
    std::array<gnutls_typed_vdata_st, 2> vdata_{};  // stays put: GnuTLS keeps the pointer
    RecordTracker records_;                    // until the handshake is done
    bool done_ = false;                        // handshake complete
    bool peer_closed_ = false;                 // close_notify received
    SessionHandle s_;
};

// --- transport: the base's queues, never a socket --------------------------------------------

ssize_t GnutlsSession::push_cb(gnutls_transport_ptr_t p, const void* data, size_t n) {
    auto* self = static_cast<GnutlsSession*>(p);
    try {
        self->push(static_cast<const std::uint8_t*>(data), n);
    } catch (...) {
        gnutls_transport_set_errno(self->s(), ENOMEM);
        return -1;
    }
    return static_cast<ssize_t>(n);
}

ssize_t GnutlsSession::pull_cb(gnutls_transport_ptr_t p, void* data, size_t n) {
    auto* self = static_cast<GnutlsSession*>(p);
    const std::size_t k = self->pull(static_cast<std::uint8_t*>(data), n);
    if (k > 0) {
        if (!self->done_) self->records_.consume(static_cast<const std::uint8_t*>(data), k);
        return static_cast<ssize_t>(k);
    }
    if (self->input_eof()) return 0;  // end of stream: GnuTLS decides close_notify vs truncation
    gnutls_transport_set_errno(self->s(), EAGAIN);
    return -1;
}

// GnuTLS asks this before some reads (and, in TLS 1.3, in gnutls_session_get_data2). Never
// waits: "readable" when bytes are buffered or at end of stream (so pull then reports EOF).
int GnutlsSession::pull_timeout_cb(gnutls_transport_ptr_t p, unsigned int) {
    auto* self = static_cast<GnutlsSession*>(p);
    return self->input_size() > 0 || self->input_eof() ? 1 : 0;
}

int GnutlsSession::hook_cb(gnutls_session_t session, unsigned htype, unsigned when,
                           unsigned incoming, const gnutls_datum_t* msg) {
    if (when != GNUTLS_HOOK_PRE || !incoming || !msg || !msg->data) return 0;
    auto* self = static_cast<GnutlsSession*>(gnutls_session_get_ptr(session));
    if (!self) return 0;
    if (self->role() == Role::server) {
        if (htype != GNUTLS_HANDSHAKE_CLIENT_HELLO) return 0;
        const ServerConfig& cfg = self->server_->cfg;
        VersionScan scan{cfg.min_version, cfg.max_version};
        (void)gnutls_ext_raw_parse(&scan, &scan_supported_versions, msg,
                                   GNUTLS_EXT_RAW_FLAG_TLS_CLIENT_HELLO);
        if (!scan.present && msg->size >= 2) {
            // No supported_versions: the client speaks up to legacy_version (0x0303 = TLS 1.2).
            const unsigned legacy = (unsigned{msg->data[0]} << 8) | msg->data[1];
            const unsigned lowest = 0x0301 + static_cast<unsigned>(cfg.min_version) -
                                    static_cast<unsigned>(Version::tls1_0);
            scan.acceptable = legacy >= lowest;
            scan.present = true;
        }
        if (scan.present && !scan.acceptable) return GNUTLS_E_UNSUPPORTED_VERSION_PACKET;
        return 0;
    }
    if (htype != GNUTLS_HANDSHAKE_SERVER_HELLO && htype != GNUTLS_HANDSHAKE_ENCRYPTED_EXTENSIONS)
        return 0;
    try {
        auto sel = selected_alpn(htype, {msg->data, msg->size});
        if (sel && std::find(self->offered_.begin(), self->offered_.end(), *sel) ==
                       self->offered_.end()) {
            self->unoffered_ = std::move(sel);
            return GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER;  // abort with illegal_parameter
        }
    } catch (...) {
        return GNUTLS_E_MEMORY_ERROR;
    }
    return 0;
}

// --- setup --------------------------------------------------------------------------------

Error GnutlsSession::init_common(unsigned flags, gnutls_priority_t priority,
                                 gnutls_certificate_credentials_t cred) {
    gnutls_session_t raw = nullptr;
    int r = gnutls_init(&raw, flags | GNUTLS_NONBLOCK);
    if (r < 0) return library_error(errc::internal, r, "gnutls_init");
    s_.reset(raw);
    gnutls_session_set_ptr(s(), this);
    gnutls_transport_set_ptr(s(), this);
    gnutls_transport_set_push_function(s(), &push_cb);
    gnutls_transport_set_pull_function(s(), &pull_cb);
    gnutls_transport_set_pull_timeout_function(s(), &pull_timeout_cb);
    // Time is the I/O driver's business: GnuTLS must not fail a slow handshake on its own.
    gnutls_handshake_set_timeout(s(), GNUTLS_INDEFINITE_TIMEOUT);
    if ((r = gnutls_priority_set(s(), priority)) < 0)
        return library_error(errc::internal, r, "gnutls_priority_set");
    if ((r = gnutls_credentials_set(s(), GNUTLS_CRD_CERTIFICATE, cred)) < 0)
        return library_error(errc::internal, r, "gnutls_credentials_set");
    return {};
}

Error GnutlsSession::set_alpn(const std::vector<std::string>& protocols, unsigned flags) {
    std::vector<gnutls_datum_t> list;
    list.reserve(protocols.size());
    for (const auto& p : protocols)
        list.push_back({reinterpret_cast<unsigned char*>(const_cast<char*>(p.data())),
                        static_cast<unsigned>(p.size())});
    // GnuTLS copies the names into the session.
    const int r = gnutls_alpn_set_protocols(s(), list.data(), static_cast<unsigned>(list.size()),
                                            flags);
    if (r < 0) return library_error(errc::unsupported, r, "gnutls_alpn_set_protocols");
    return {};
}

Error GnutlsSession::init_client(std::shared_ptr<const ClientState> state,
                                 const ClientSessionParams& params) {
    client_ = std::move(state);
    const ClientConfig& cfg = client_->cfg;
    if (Error e = init_common(GNUTLS_CLIENT, client_->priority.get(), client_->cred.get())) return e;

    sni_ = host::sni_for(params.host, params.sni);
    if (sni_) {
        const int r = gnutls_server_name_set(s(), GNUTLS_NAME_DNS, sni_->data(), sni_->size());
        if (r < 0) return library_error(errc::invalid_config, r, "SNI \"" + *sni_ + "\"");
    }

    // An empty offer sends no ALPN extension at all. MANDATORY makes GnuTLS refuse a selection
    // we did not offer instead of dropping it; the hook below catches it first, with its name.
    if (!offered_.empty())
        if (Error e = set_alpn(offered_, GNUTLS_ALPN_MANDATORY)) return e;
    gnutls_handshake_set_hook_function(s(), GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_PRE, &hook_cb);

    verify_host_ = lower(host::normalise(params.host));
    verify_ = cfg.verify;
    if (verify_) {
        if (verify_host_.empty())
            return {errc::invalid_config,
                    "certificate verification needs ClientSessionParams.host (or verify=false)", 0,
                    std::string(gnutls_name)};
        if (host::is_ip_literal(verify_host_)) {
            const bool v6 = verify_host_.find(':') != std::string::npos;
            if (inet_pton(v6 ? AF_INET6 : AF_INET, verify_host_.c_str(), ip_.data()) != 1)
                return {errc::invalid_config, "cannot parse IP address \"" + verify_host_ + "\"",
                        0, std::string(gnutls_name)};
            vdata_[0] = {GNUTLS_DT_IP_ADDRESS, ip_.data(), v6 ? 16u : 4u};
        } else {
            vdata_[0] = {GNUTLS_DT_DNS_HOSTNAME,
                         reinterpret_cast<unsigned char*>(verify_host_.data()), 0};
        }
        static constexpr char server_auth[] = GNUTLS_KP_TLS_WWW_SERVER;
        vdata_[1] = {GNUTLS_DT_KEY_PURPOSE_OID,
                     reinterpret_cast<unsigned char*>(const_cast<char*>(server_auth)), 0};
        gnutls_session_set_verify_cert2(s(), vdata_.data(), 2, 0);
    }

    if (!params.resume.empty()) {
        const auto env = unwrap(params.resume);
        if (!env)
            return {errc::invalid_config, "resume data was not exported by the gnutls backend",
                    0, std::string(gnutls_name)};
        // A resumed handshake shows no certificate: only trust what was verified, for this host.
        const bool usable = !verify_ || (env->verified && env->host == verify_host_);
        if (usable) {
            // An expired or unusable ticket is no error: the handshake is simply a full one.
            (void)gnutls_session_set_data(s(), env->data.data(), env->data.size());
        }
    }
    return {};
}

Error GnutlsSession::init_server(std::shared_ptr<const ServerState> state) {
    server_ = std::move(state);
    const ServerConfig& cfg = server_->cfg;
    // TLS 1.3 tickets are sent by do_handshake() once the client's Finished is in, not with the
    // server's first flight as GnuTLS would: they then bind to the real transcript, and every
    // byte of that flight is covered by the Finished messages.
    const unsigned flags = GNUTLS_SERVER | (cfg.session_tickets ? unsigned{GNUTLS_NO_AUTO_SEND_TICKET}
                                                                : unsigned{GNUTLS_NO_TICKETS});
    if (Error e = init_common(flags, server_->priority.get(), server_->cred.get())) return e;
    gnutls_certificate_server_set_request(s(), GNUTLS_CERT_IGNORE);
    if (cfg.session_tickets) {
        const int r = gnutls_session_ticket_enable_server(s(), server_->ticket_key.get());
        if (r < 0) return library_error(errc::internal, r, "gnutls_session_ticket_enable_server");
    }
    // ignore mode (and an empty list): GnuTLS never sees ALPN, so it never answers with it.
    gnutls_handshake_set_hook_function(s(), GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_PRE,
                                       &hook_cb);
    if (cfg.alpn_mode == ServerAlpn::prefer_server && !cfg.alpn.empty()) {
        unsigned f = GNUTLS_ALPN_SERVER_PRECEDENCE;
        if (cfg.alert_on_no_overlap) f |= GNUTLS_ALPN_MANDATORY;
        if (Error e = set_alpn(cfg.alpn, f)) return e;
    }
    return {};
}

// --- the state machine -------------------------------------------------------------------------

Status GnutlsSession::fail(int code, Error& err) {
    if (const auto alert = records_.plaintext_alert();
        alert && !done_ && code == GNUTLS_E_DECRYPTION_FAILED) {
        // The peer gave up with a plaintext alert where TLS 1.3 expects an encrypted record.
        err = received_alert_error(*alert, true, code,
                                   "(in plaintext, where an encrypted record was due)");
        return Status::failed;
    }
    if (code == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        // Tell the server why, as OpenSSL does (gnutls_alert_send_appropriate only says
        // bad_certificate or nothing).
        (void)gnutls_alert_send(
            s(), GNUTLS_AL_FATAL,
            alert_for_verify_status(gnutls_session_get_verify_cert_status(s())));
    } else if (!at_eof()) {
        // GnuTLS sends no alert on its own failures: do it, or the peer waits for nothing.
        (void)gnutls_alert_send_appropriate(s(), code);
    }

    if (unoffered_ && role() == Role::client) {
        err = alpn::check_selected(unoffered_, offered_);
        err.origin = std::string(gnutls_name);
        err.library_code = code;
        err.detail += "; handshake aborted with illegal_parameter";
        return Status::failed;
    }
    if (at_eof() && (code == GNUTLS_E_UNEXPECTED_PACKET_LENGTH || code == GNUTLS_E_PULL_ERROR ||
                     code == GNUTLS_E_PREMATURE_TERMINATION)) {
        err = library_error(errc::truncated, code,
                            done_ ? "connection closed without close_notify"
                                  : "connection closed during the handshake");
        return Status::failed;
    }
    err = session_error(s(), code, role(), done_);
    return Status::failed;
}

Status GnutlsSession::do_handshake(Error& err) {
    for (int idle = 0; idle < max_idle_spins;) {
        const std::size_t before = input_size();
        const int r = gnutls_handshake(s());
        if (r == GNUTLS_E_SUCCESS) {
            done_ = true;
            if (role() == Role::server && server_->cfg.session_tickets &&
                gnutls_protocol_get_version(s()) == GNUTLS_TLS1_3) {
                // Two, as GnuTLS would have sent. A failure only costs resumption.
                (void)gnutls_session_ticket_send(s(), 2, 0);
            }
            return Status::ok;
        }
        const bool progressed = input_size() != before;
        if (is_again(r)) {
            // GnuTLS may stop after one message with more input buffered: go on while it eats.
            if (input_size() > 0 && progressed) continue;
            return Status::want_input;
        }
        if (r == GNUTLS_E_WARNING_ALERT_RECEIVED &&
            gnutls_alert_get(s()) == GNUTLS_A_CLOSE_NOTIFY)
            return Status::closed;
        if (!gnutls_error_is_fatal(r)) {  // a warning alert (e.g. unrecognized_name): go on
            if (!progressed) ++idle;
            continue;
        }
        return fail(r, err);
    }
    err = library_error(errc::internal, 0, "gnutls_handshake made no progress");
    return Status::failed;
}

Status GnutlsSession::do_read(std::vector<std::uint8_t>& plaintext, Error& err) {
    if (peer_closed_) return Status::closed;
    std::array<std::uint8_t, 16384> buf;
    bool got = false;
    for (int idle = 0; idle < max_idle_spins;) {
        const std::size_t before = input_size();
        const ssize_t r = gnutls_record_recv(s(), buf.data(), buf.size());
        if (r > 0) {
            plaintext.insert(plaintext.end(), buf.begin(), buf.begin() + r);
            got = true;
            continue;
        }
        if (r == 0) {  // close_notify
            peer_closed_ = true;
            return got ? Status::ok : Status::closed;
        }
        const bool progressed = input_size() != before;
        if (is_again(r)) {
            // The TLS 1.3 trap: after a NewSessionTicket (or KeyUpdate) GnuTLS returns AGAIN
            // although records remain buffered. Keep reading while input is being consumed.
            if (input_size() > 0 && progressed) continue;
            break;
        }
        if (r == GNUTLS_E_REHANDSHAKE) {
            // TLS 1.2 renegotiation (HelloRequest, or a new ClientHello): we never renegotiate.
            (void)gnutls_alert_send(s(), GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
            if (!progressed) ++idle;
            continue;
        }
        if (!gnutls_error_is_fatal(static_cast<int>(r))) {  // warning alert, user_canceled, ...
            if (!progressed) ++idle;
            continue;
        }
        return fail(static_cast<int>(r), err);
    }
    return got ? Status::ok : Status::want_input;
}

Status GnutlsSession::do_write(std::span<const std::uint8_t> plaintext, Error& err) {
    std::size_t off = 0;
    for (int idle = 0; off < plaintext.size() && idle < max_idle_spins;) {
        const ssize_t r = gnutls_record_send(s(), plaintext.data() + off, plaintext.size() - off);
        if (r > 0) {
            off += static_cast<std::size_t>(r);
            continue;
        }
        if (is_again(r) || r == 0) {  // our push never blocks; retry as GnuTLS requires
            ++idle;
            continue;
        }
        return fail(static_cast<int>(r), err);
    }
    if (off < plaintext.size()) {
        err = library_error(errc::internal, 0, "gnutls_record_send made no progress");
        return Status::failed;
    }
    return Status::ok;
}

void GnutlsSession::do_close() {
    // close_notify only; the peer's answer (if any) arrives through read().
    (void)gnutls_bye(s(), GNUTLS_SHUT_WR);
}

std::optional<std::string> GnutlsSession::do_alpn() const {
    gnutls_datum_t p{};
    if (gnutls_alpn_get_selected_protocol(s(), &p) == 0 && p.data && p.size > 0)
        return std::string(reinterpret_cast<const char*>(p.data), p.size);
    return std::nullopt;
}

SessionInfo GnutlsSession::do_info() const {
    SessionInfo i;
    if (role() == Role::client) i.server_name = sni_;
    if (!done_) return i;
    i.version = to_version(gnutls_protocol_get_version(s()));
    if (const char* name = gnutls_ciphersuite_get(s())) i.cipher = name;  // IANA name
    i.verified = role() == Role::client && verify_;
    i.resumed = gnutls_session_is_resumed(s()) != 0;
    if (role() == Role::server) {
        std::vector<char> name(256);
        for (int attempt = 0; attempt < 2; ++attempt) {
            std::size_t len = name.size();
            unsigned type = 0;
            const int r = gnutls_server_name_get(s(), name.data(), &len, &type, 0);
            if (r == GNUTLS_E_SHORT_MEMORY_BUFFER) {
                name.resize(len + 1);
                continue;
            }
            if (r == 0 && type == GNUTLS_NAME_DNS) i.server_name = std::string(name.data(), len);
            break;
        }
    }
    return i;
}

std::vector<std::uint8_t> GnutlsSession::do_export_session() const {
    if (role() != Role::client || !done_) return {};
    // TLS 1.3 tickets come after the handshake (processed by read()). Without one, GnuTLS would
    // try to read from the transport inside get_data2 and then hand out a placeholder that
    // cannot resume: report "none yet" instead.
    if (gnutls_protocol_get_version(s()) == GNUTLS_TLS1_3 &&
        (gnutls_session_get_flags(s()) & GNUTLS_SFLAGS_SESSION_TICKET) == 0)
        return {};
    Datum d;
    if (gnutls_session_get_data2(s(), d.out()) < 0 || d.empty()) return {};
    return wrap(verify_, verify_host_, {d.get()->data, d.get()->size});
}

}  // namespace

std::unique_ptr<Session> new_client_session(std::shared_ptr<const ClientState> state,
                                            const ClientSessionParams& params, Error& err) {
    auto s = std::make_unique<GnutlsSession>(Role::client, state->cfg.alpn);
    if (Error e = s->init_client(std::move(state), params)) {
        err = std::move(e);
        return nullptr;
    }
    return s;
}

std::unique_ptr<Session> new_server_session(std::shared_ptr<const ServerState> state, Error& err) {
    auto s = std::make_unique<GnutlsSession>(Role::server, std::vector<std::string>{});
    if (Error e = s->init_server(std::move(state))) {
        err = std::move(e);
        return nullptr;
    }
    return s;
}

}  // namespace connmatrix::tls::gtls
