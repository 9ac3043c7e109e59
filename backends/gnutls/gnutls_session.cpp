// The GnuTLS Session: GnuTLS's push/pull transport functions wired to the core's byte queues
// (never a socket), and the handshake / record / close state machine on top.
#include "gnutls_internal.hpp"

#include "alert.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <ctime>

namespace connmatrix::tls::gnutls {
namespace {

// A GnuTLS call that reports progress without consuming input or producing a result may be
// retried this many times; beyond that the session fails instead of spinning.
constexpr int max_idle_spins = 64;
// Warning alerts a handshake tolerates (OpenSSL's limit too; real servers send at most one).
constexpr int max_warning_alerts = 5;

bool is_again(long r) noexcept { return r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED; }

class SessionImpl final : public Session {
public:
    SessionImpl(detail::ClientSetup& setup, std::shared_ptr<const ClientEngine> engine)
        : Session(setup), client_(std::move(engine)) {}
    SessionImpl(detail::ServerSetup& setup, std::shared_ptr<const ServerEngine> engine)
        : Session(setup), server_(std::move(engine)) {}

    Error setup_client(const detail::ClientSetup& setup) {
        // FORCE_CLIENT_CERT: send our one certificate (mutual TLS) whatever CAs the server names,
        // as the other backends do, so the server, not the library, judges it.
        if (Error e = init(GNUTLS_CLIENT | GNUTLS_FORCE_CLIENT_CERT, client_->priority.get(),
                           client_->cred.get()))
            return e;
        const PeerIdentity& peer = core().peer();
        if (peer.sni) {
            const int r = gnutls_server_name_set(s(), GNUTLS_NAME_DNS, peer.sni->data(), peer.sni->size());
            if (r < 0) return library_error(errc::invalid_config, r, "SNI \"" + *peer.sni + "\"");
        }
        // An empty offer sends no ALPN extension at all. MANDATORY makes GnuTLS refuse a
        // selection we did not offer instead of dropping it; the hook stops it first, by name.
        if (!core().offered().empty())
            if (Error e = set_alpn(core().offered(), GNUTLS_ALPN_MANDATORY)) return e;
        gnutls_handshake_set_hook_function(s(), GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_PRE, &hook_cb);
        if (peer.verify) {
            verify_name_ = peer.host;
            if (peer.is_ip())
                vdata_[0] = {GNUTLS_DT_IP_ADDRESS, const_cast<unsigned char*>(core().peer().ip.data()),
                             static_cast<unsigned>(core().peer().ip.size())};
            else
                vdata_[0] = {GNUTLS_DT_DNS_HOSTNAME,
                             reinterpret_cast<unsigned char*>(verify_name_.data()), 0};
            static constexpr char server_auth[] = GNUTLS_KP_TLS_WWW_SERVER;
            vdata_[1] = {GNUTLS_DT_KEY_PURPOSE_OID,
                         reinterpret_cast<unsigned char*>(const_cast<char*>(server_auth)), 0};
            gnutls_session_set_verify_cert2(s(), vdata_.data(), 2, 0);
        }
        // The core vetted the envelope; an expired or unusable ticket is simply a full handshake.
        if (!setup.resume.empty())
            (void)gnutls_session_set_data(s(), setup.resume.data(), setup.resume.size());
        return {};
    }

    Error setup_server() {
        const bool tickets = core().server().session_tickets;
        const std::uint32_t max_early = core().server().max_early_data;
        // TLS 1.3 tickets are sent by do_handshake() once the client's Finished is in, not with
        // the server's first flight as GnuTLS would: they then bind to the real transcript.
        const unsigned flags = GNUTLS_SERVER | (tickets ? unsigned{GNUTLS_NO_AUTO_SEND_TICKET}
                                                        : unsigned{GNUTLS_NO_TICKETS}) |
                               (max_early > 0 ? unsigned{GNUTLS_ENABLE_EARLY_DATA} : 0U);
        if (Error e = init(flags, server_->priority.get(), server_->cred.get())) return e;
        if (max_early > 0) {  // tickets then allow as much; replays are refused
            const int r = gnutls_record_set_max_early_data_size(s(), max_early);
            if (r < 0)
                return library_error(errc::internal, r, "gnutls_record_set_max_early_data_size");
            gnutls_anti_replay_enable(s(), server_->anti_replay.get());
        }
        // Client certificates (mutual TLS): GnuTLS refuses a missing one when required; the
        // verify function checks one that came (GnuTLS's own would refuse none at all).
        const ServerConfig& cfg = core().server();
        if (cfg.client_ca_file.empty()) {
            gnutls_certificate_server_set_request(s(), GNUTLS_CERT_IGNORE);
        } else {
            gnutls_certificate_server_set_request(
                s(), cfg.require_client_cert ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_REQUEST);
            gnutls_session_set_verify_function(s(), &verify_client_cb);
        }
        if (tickets) {
            const int r = gnutls_session_ticket_enable_server(s(), server_->ticket_key.get());
            if (r < 0) return library_error(errc::internal, r, "gnutls_session_ticket_enable_server");
        }
        // No ALPN list until the hook has the core's answer: GnuTLS then ignores the extension.
        gnutls_handshake_set_hook_function(s(), GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_PRE,
                                           &hook_cb);
        return {};
    }

private:
    gnutls_session_t s() const noexcept { return s_.get(); }

    Error init(unsigned flags, gnutls_priority_t priority, gnutls_certificate_credentials_t cred) {
        gnutls_session_t raw = nullptr;
        int r = gnutls_init(&raw, flags | GNUTLS_NONBLOCK);
        if (r < 0) return library_error(errc::internal, r, "gnutls_init");
        s_.reset(raw);
        gnutls_session_set_ptr(s(), this);
        gnutls_transport_set_ptr(s(), this);
        gnutls_transport_set_push_function(s(), &push_cb);
        gnutls_transport_set_pull_function(s(), &pull_cb);
        gnutls_transport_set_pull_timeout_function(s(), &pull_timeout_cb);
        gnutls_session_set_keylog_function(s(), &keylog_cb);
        // Time is the I/O driver's business: GnuTLS must not fail a slow handshake on its own.
        gnutls_handshake_set_timeout(s(), GNUTLS_INDEFINITE_TIMEOUT);
        if ((r = gnutls_priority_set(s(), priority)) < 0)
            return library_error(errc::internal, r, "gnutls_priority_set");
        if ((r = gnutls_credentials_set(s(), GNUTLS_CRD_CERTIFICATE, cred)) < 0)
            return library_error(errc::internal, r, "gnutls_credentials_set");
        return {};
    }

    Error set_alpn(const std::vector<std::string>& protocols, unsigned flags) {
        std::vector<gnutls_datum_t> list;
        list.reserve(protocols.size());
        for (const auto& p : protocols)
            list.push_back({reinterpret_cast<unsigned char*>(const_cast<char*>(p.data())),
                            static_cast<unsigned>(p.size())});
        // GnuTLS copies the names into the session.
        const int r = gnutls_alpn_set_protocols(s(), list.data(), static_cast<unsigned>(list.size()), flags);
        if (r < 0) return library_error(errc::unsupported, r, "gnutls_alpn_set_protocols");
        return {};
    }

    // --- transport: the base's queues, never a socket ------------------------------------------

    static ssize_t push_cb(gnutls_transport_ptr_t p, const void* data, size_t n) {
        auto* self = static_cast<SessionImpl*>(p);
        try {
            self->push(static_cast<const std::uint8_t*>(data), n);
        } catch (...) {
            gnutls_transport_set_errno(self->s(), ENOMEM);
            return -1;
        }
        return static_cast<ssize_t>(n);
    }

    static ssize_t pull_cb(gnutls_transport_ptr_t p, void* data, size_t n) {
        auto* self = static_cast<SessionImpl*>(p);
        const std::size_t k = self->pull(static_cast<std::uint8_t*>(data), n);
        if (k > 0) return static_cast<ssize_t>(k);
        if (self->input_eof()) return 0;  // end of stream: GnuTLS decides close_notify vs truncation
        gnutls_transport_set_errno(self->s(), EAGAIN);
        return -1;
    }

    // GnuTLS asks this before some reads (and, in TLS 1.3, in gnutls_session_get_data2). Never
    // waits: "readable" when bytes are buffered or at end of stream (so pull then reports EOF).
    static int pull_timeout_cb(gnutls_transport_ptr_t p, unsigned int) {
        auto* self = static_cast<SessionImpl*>(p);
        return self->input_size() > 0 || self->input_eof() ? 1 : 0;
    }

    // GnuTLS's default keylog function appends to the file $SSLKEYLOGFILE names, on its own:
    // this one replaces it on every session, client and server, so secrets go only to the
    // configured key log (never twice, and nowhere without one).
    static int keylog_cb(gnutls_session_t session, const char* label,
                         const gnutls_datum_t* secret) {
        auto* self = static_cast<SessionImpl*>(gnutls_session_get_ptr(session));
        if (!self || !label || !secret || !self->core().keylog_enabled()) return 0;
        gnutls_datum_t client{}, server{};
        gnutls_session_get_random(session, &client, &server);
        (void)self->core().log_secret(label, {client.data, client.size},
                                      {secret->data, secret->size});
        return 0;  // non-zero would abort the handshake
    }

    // Before GnuTLS parses a hello: the core judges it. Client: an ALPN selection we never
    // offered aborts (GnuTLS alone would drop it). Server: the core's version check and ALPN
    // answer, handed to GnuTLS as the one protocol it may select.
    static int hook_cb(gnutls_session_t session, unsigned htype, unsigned when, unsigned incoming,
                       const gnutls_datum_t* msg) {
        if (when != GNUTLS_HOOK_PRE || !incoming || !msg || !msg->data) return 0;
        auto* self = static_cast<SessionImpl*>(gnutls_session_get_ptr(session));
        if (!self) return 0;
        try {
            const std::span<const std::uint8_t> body{msg->data, msg->size};
            if (self->role() == Role::client)
                return self->core().observe_server_message(static_cast<std::uint8_t>(htype), body)
                           ? 0
                           : GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER;
            if (htype != GNUTLS_HANDSHAKE_CLIENT_HELLO) return 0;
            return self->answer_client_hello(body);
        } catch (...) {
            return GNUTLS_E_MEMORY_ERROR;
        }
    }

    int answer_client_hello(std::span<const std::uint8_t> body) {
        const auto ch = hello::parse_body(hello::client_hello, body);
        if (!ch) return 0;  // GnuTLS reports a malformed ClientHello itself
        // A server capped below TLS 1.3 would read only legacy_version and then fail for lack
        // of cipher suites; RFC 8446 asks for protocol_version, as the other backends answer.
        if (core().refuse_versions(*ch, Version::tls1_3)) return GNUTLS_E_UNSUPPORTED_VERSION_PACKET;
        if (ch->alpn_malformed) return GNUTLS_E_UNEXPECTED_EXTENSIONS_LENGTH;  // decode_error
        const AlpnAnswer a = core().answer_alpn(ch->alpn_present ? &ch->alpn : nullptr);
        switch (a.kind) {
            case AlpnAnswer::Kind::none: return 0;
            case AlpnAnswer::Kind::refuse: return GNUTLS_E_NO_APPLICATION_PROTOCOL;
            case AlpnAnswer::Kind::select: break;
        }
        if (Error e = set_alpn({a.protocol}, GNUTLS_ALPN_SERVER_PRECEDENCE)) return GNUTLS_E_INTERNAL_ERROR;
        return 0;
    }

    // Server: the client's certificate chain, against client_ca_file, for client authentication.
    static int verify_client_cb(gnutls_session_t session) {
        auto* self = static_cast<SessionImpl*>(gnutls_session_get_ptr(session));
        unsigned n = 0;
        if (self == nullptr) return GNUTLS_E_INTERNAL_ERROR;
        if (gnutls_certificate_get_peers(session, &n) == nullptr || n == 0) return 0;  // optional
        static constexpr char client_auth[] = GNUTLS_KP_TLS_WWW_CLIENT;
        gnutls_typed_vdata_st purpose{
            GNUTLS_DT_KEY_PURPOSE_OID,
            reinterpret_cast<unsigned char*>(const_cast<char*>(client_auth)), 0};
        unsigned status = 0;
        const int r = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
        if (r < 0) return r;
        self->client_status_ = status;
        self->client_verified_ = status == 0;
        return status == 0 ? 0 : GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
    }

    // --- the state machine -------------------------------------------------------------------

    Status fail(int code, Error& err) {
        const bool client_certs = role() == Role::server && !core().server().client_ca_file.empty();
        err = session_error(s(), code, role(), handshake_done(), at_eof(),
                            client_certs ? std::optional<unsigned>(client_status_) : std::nullopt);
        // GnuTLS sends no alert on its own failures: do it, or the peer waits for nothing. A
        // failed verification says why, as OpenSSL does (gnutls_alert_send_appropriate would
        // only say bad_certificate).
        if (code == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
            (void)gnutls_alert_send(s(), GNUTLS_AL_FATAL,
                                    static_cast<gnutls_alert_description_t>(alert::for_error(
                                        static_cast<errc>(err.code.value()), true)));
        else if (err.code == errc::certificate_required)  // server: GnuTLS 3.7 says decode_error
            (void)gnutls_alert_send(s(), GNUTLS_AL_FATAL,
                                    gnutls_protocol_get_version(s()) == GNUTLS_TLS1_3
                                        ? GNUTLS_A_CERTIFICATE_REQUIRED
                                        : GNUTLS_A_HANDSHAKE_FAILURE);  // RFC 5246 7.4.6
        else if (!at_eof())
            (void)gnutls_alert_send_appropriate(s(), code);
        return Status::failed;
    }

    // gnutls_handshake, and on a server the early data it received, to the core.
    int handshake_step() {
        const int r = gnutls_handshake(s());
        if (role() == Role::server && core().server().max_early_data > 0) {
            std::array<std::uint8_t, 16384> buf;
            for (ssize_t n; (n = gnutls_record_recv_early_data(s(), buf.data(), buf.size())) > 0;)
                core().early.received({buf.data(), static_cast<std::size_t>(n)});
        }
        return r;
    }

    Status do_handshake(Error& err) override {
        for (int idle = 0; idle < max_idle_spins;) {
            const std::size_t before = input_size();
            const int r = handshake_step();
            if (r == GNUTLS_E_SUCCESS) {
                if (role() == Role::server && core().server().session_tickets &&
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
            if (r == GNUTLS_E_WARNING_ALERT_RECEIVED && gnutls_alert_get(s()) == GNUTLS_A_CLOSE_NOTIFY)
                return Status::closed;
            if (!gnutls_error_is_fatal(r)) {  // a warning alert (e.g. unrecognized_name): go on
                // GnuTLS 3.7 takes 16 of them in one handshake, then fails with
                // GNUTLS_E_INTERNAL_ERROR: end an alert flood before, and name it, as OpenSSL
                // does ("too many warn alerts").
                if (++warning_alerts_ > max_warning_alerts) {
                    err = library_error(errc::handshake_failed, r,
                                        "too many warning alerts during the handshake");
                    (void)gnutls_alert_send(s(), GNUTLS_AL_FATAL, GNUTLS_A_UNEXPECTED_MESSAGE);
                    return Status::failed;
                }
                if (!progressed) ++idle;
                continue;
            }
            return fail(r, err);
        }
        err = library_error(errc::internal, 0, "gnutls_handshake made no progress");
        return Status::failed;
    }

    Status do_read(std::vector<std::uint8_t>& plaintext, Error& err) override {
        std::array<std::uint8_t, 16384> buf;
        for (int idle = 0; idle < max_idle_spins;) {
            const std::size_t before = input_size();
            const ssize_t r = gnutls_record_recv(s(), buf.data(), buf.size());
            if (r > 0) {
                plaintext.insert(plaintext.end(), buf.begin(), buf.begin() + r);
                continue;
            }
            if (r == 0) return Status::closed;  // close_notify
            const bool progressed = input_size() != before;
            if (is_again(r)) {
                // The TLS 1.3 trap: after a NewSessionTicket (or KeyUpdate) GnuTLS returns AGAIN
                // although records remain buffered. Keep reading while input is being consumed.
                if (input_size() > 0 && progressed) continue;
                return Status::want_input;
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
        return Status::want_input;
    }

    Status do_write(std::span<const std::uint8_t> plaintext, Error& err) override {
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

    // Client: GnuTLS keeps the early data and sends it right after the ClientHello.
    Status do_write_early(std::span<const std::uint8_t> plaintext, Error& err) override {
        // One call buffers all of it (3.7 returns 0 for that, later versions the size).
        const ssize_t r = gnutls_record_send_early_data(s(), plaintext.data(), plaintext.size());
        if (r >= 0) return Status::ok;
        err = library_error(errc::internal, static_cast<int>(r), "gnutls_record_send_early_data");
        return Status::failed;
    }

    bool do_early_data_accepted() const override {
        return (gnutls_session_get_flags(s()) & GNUTLS_SFLAGS_EARLY_DATA) != 0;
    }

    void do_close() override {
        // close_notify only; the peer's answer (if any) arrives through read().
        (void)gnutls_bye(s(), GNUTLS_SHUT_WR);
    }

    std::optional<std::string> do_alpn() const override {
        gnutls_datum_t p{};
        if (gnutls_alpn_get_selected_protocol(s(), &p) == 0 && p.data && p.size > 0)
            return std::string(reinterpret_cast<const char*>(p.data), p.size);
        return std::nullopt;
    }

    SessionInfo do_info() const override {
        SessionInfo i;
        if (!handshake_done()) return i;
        i.version = from_library_version(gnutls_protocol_get_version(s()));
        if (const char* name = gnutls_ciphersuite_get(s())) i.cipher = name;  // IANA name
        i.resumed = gnutls_session_is_resumed(s()) != 0;
        // Server: verified in this handshake, or in the one a resumed session came from.
        i.client_certificate = role() == Role::server &&
                               (client_verified_ ||
                                (*i.resumed && !core().server().client_ca_file.empty() &&
                                 gnutls_certificate_get_peers(s(), nullptr) != nullptr));
        unsigned int n = 0;
        const gnutls_datum_t* chain = gnutls_certificate_get_peers(s(), &n);
        gnutls_x509_crt_t raw = nullptr;
        if (chain != nullptr && n > 0 && gnutls_x509_crt_init(&raw) == 0) {
            CrtHandle leaf(raw);
            if (gnutls_x509_crt_import(leaf.get(), &chain[0], GNUTLS_X509_FMT_DER) == 0) {
                const std::time_t t = gnutls_x509_crt_get_expiration_time(leaf.get());
                if (t != static_cast<std::time_t>(-1))
                    i.peer_expires = std::chrono::system_clock::from_time_t(t);
            }
        }
        return i;
    }

    std::vector<std::uint8_t> do_peer_spki_der() const override {
        unsigned int n = 0;
        const gnutls_datum_t* chain = gnutls_certificate_get_peers(s(), &n);
        if (chain == nullptr || n == 0) return {};
        PubkeyHandle key(make_pubkey());
        Datum der;
        if (!key || gnutls_pubkey_import_x509_raw(key.get(), &chain[0], GNUTLS_X509_FMT_DER, 0) < 0 ||
            gnutls_pubkey_export2(key.get(), GNUTLS_X509_FMT_DER, der.out()) < 0 || der.empty())
            return {};
        return {der.get()->data, der.get()->data + der.get()->size};
    }

    Exported do_export_session() const override {
        // TLS 1.3 tickets come after the handshake (processed by read()). Without one, GnuTLS
        // would try to read from the transport inside get_data2 and then hand out a placeholder
        // that cannot resume: report "none yet" instead.
        if (gnutls_protocol_get_version(s()) == GNUTLS_TLS1_3 &&
            (gnutls_session_get_flags(s()) & GNUTLS_SFLAGS_SESSION_TICKET) == 0)
            return {};
        Datum d;
        if (gnutls_session_get_data2(s(), d.out()) < 0 || d.empty()) return {};
        Exported x;
        x.data.assign(d.get()->data, d.get()->data + d.get()->size);
        // GnuTLS's own getter says UINT32_MAX for a ticket without early_data: the core read
        // the NewSessionTicket the hook handed it.
        x.max_early_data = core().early.ticket_max_early_data();
        return x;
    }

    // The engines come first and the GnuTLS session last: it is destroyed first, while
    // everything it may point to (credentials, ticket key, vdata_) still exists.
    std::shared_ptr<const ClientEngine> client_;
    std::shared_ptr<const ServerEngine> server_;
    std::string verify_name_;                       // client: what vdata_ points at
    std::array<gnutls_typed_vdata_st, 2> vdata_{};  // stays put: GnuTLS keeps the pointer
    int warning_alerts_ = 0;                        // received during the handshake
    unsigned client_status_ = 0;                    // server: the client chain's verification
    bool client_verified_ = false;                  // server: ... and it passed
    SessionHandle s_;
};

}  // namespace

std::unique_ptr<Session> make_client_session(std::shared_ptr<const ClientEngine> engine,
                                             detail::ClientSetup& setup, Error& err) {
    auto s = std::make_unique<SessionImpl>(setup, std::move(engine));
    if ((err = s->setup_client(setup))) return nullptr;
    return s;
}

std::unique_ptr<Session> make_server_session(std::shared_ptr<const ServerEngine> engine,
                                             detail::ServerSetup& setup, Error& err) {
    auto s = std::make_unique<SessionImpl>(setup, std::move(engine));
    if ((err = s->setup_server())) return nullptr;
    return s;
}

}  // namespace connmatrix::tls::gnutls
