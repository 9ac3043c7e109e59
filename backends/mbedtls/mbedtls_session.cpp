// The mbedTLS Session: an mbedtls_ssl_context over the core's byte queues.
//
// Transport: mbedtls_ssl_set_bio() with callbacks into pull()/push(). recv answers
// MBEDTLS_ERR_SSL_WANT_READ while the queue is empty and more may come, and 0 at end of stream,
// which mbedTLS reports as MBEDTLS_ERR_SSL_CONN_EOF (its ssl_read() turns that into a bare 0):
// that is truncation, never a clean close; only MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY is.
//
// The handshake is driven one mbedtls_ssl_handshake_step() at a time, which gives the hooks
// mbedTLS 2.28 has no API for:
//  - the client sends one name as SNI (or none) and verifies another (mbedTLS uses its single
//    `hostname` for both): the verification name is set once the ClientHello is written;
//  - the server answers ALPN with the core's decision after the ClientHello step, before the
//    ServerHello step (the library is given no list, so it ignores the client's extension).
// An IP-literal host is checked against the leaf's subjectAltName iPAddress entries by a verify
// callback (mbedTLS 2.28 only compares names), and no SNI is sent for it.
#include "mbedtls_internal.hpp"

#include "alert.hpp"

#include <mbedtls/asn1.h>

#include <array>
#include <climits>
#include <cstring>

// The pin check reads the peer's certificate after the handshake: the library must keep it.
#if !defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE)
#error "connmatrix needs mbedTLS built with MBEDTLS_SSL_KEEP_PEER_CERTIFICATE (public key pinning)"
#endif

namespace connmatrix::tls::mbedtls {
namespace {

class SessionImpl final : public Session {
public:
    SessionImpl(detail::ClientSetup& setup, std::shared_ptr<const ClientEngine> engine)
        : Session(setup), engine_(engine), client_(std::move(engine)) {}
    SessionImpl(detail::ServerSetup& setup, std::shared_ptr<const ServerEngine> engine)
        : Session(setup), engine_(engine), server_(std::move(engine)) {}

    Error setup_common() {
        if (const int ret = mbedtls_ssl_setup(ssl_.get(), engine_->conf.get()))
            return library_error(errc::internal, ret, "mbedtls_ssl_setup");
        mbedtls_ssl_set_bio(ssl_.get(), this, send_cb, recv_cb, nullptr);
        return {};
    }

    Error setup_client(const detail::ClientSetup& setup) {
        if (Error e = setup_common()) return e;
        const PeerIdentity& peer = core().peer();
        // SNI first: mbedTLS writes its `hostname` into the ClientHello.
        if (peer.sni)
            if (const int ret = mbedtls_ssl_set_hostname(ssl_.get(), peer.sni->c_str()))
                return library_error(errc::invalid_config, ret, "server name \"" + *peer.sni + "\"");
        if (peer.verify) {
            if (peer.is_ip()) {
                mbedtls_ssl_set_verify(ssl_.get(), verify_cb, this);
                // No name to match: clear any SNI before the certificate arrives.
                switch_hostname_ = peer.sni.has_value();
            } else {
                verify_name_ = peer.host;
                switch_hostname_ = !peer.sni || *peer.sni != peer.host;
            }
        }
        if (!setup.resume.empty()) resume(setup.resume);
        return {};
    }

    Error setup_server() { return setup_common(); }

private:
    // --- transport hooks ---------------------------------------------------------------------

    static int send_cb(void* p, const unsigned char* buf, std::size_t len) {
        auto* self = static_cast<SessionImpl*>(p);
        const std::size_t n = std::min<std::size_t>(len, INT_MAX);
        try {
            self->push(buf, n);
        } catch (...) {
            return MBEDTLS_ERR_SSL_ALLOC_FAILED;
        }
        return static_cast<int>(n);
    }

    static int recv_cb(void* p, unsigned char* buf, std::size_t len) {
        auto* self = static_cast<SessionImpl*>(p);
        const std::size_t n = self->pull(buf, std::min<std::size_t>(len, INT_MAX));
        if (n == 0) return self->input_eof() ? 0 : MBEDTLS_ERR_SSL_WANT_READ;
        // mbedTLS 2.28 reads only a ClientHello's legacy version, so it would answer a TLS
        // 1.3-only client with TLS 1.2 (or fail to find a cipher suite): once the hello is in,
        // the core judges its supported_versions, before mbedTLS parses it.
        if (self->role() == Role::server && !self->versions_checked_) {
            if (const hello::Message* ch = self->core().peer_hello()) {
                self->versions_checked_ = true;
                if (self->core().refuse_versions(*ch, Version::tls1_2))
                    return MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION;
            }
        }
        return static_cast<int>(n);
    }

    // Called for every certificate of the chain; depth 0 is the server's own. mbedTLS 2.28
    // keeps every subjectAltName entry in subject_alt_names as raw bytes, iPAddress ([7]) too.
    static int verify_cb(void* p, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
        const auto& ip = static_cast<SessionImpl*>(p)->core().peer().ip;
        if (depth != 0 || ip.empty()) return 0;
        bool match = false;
        for (const mbedtls_x509_sequence* s = &crt->subject_alt_names; s != nullptr && !match;
             s = s->next)
            match = s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && s->buf.p != nullptr &&
                    s->buf.len == ip.size() && std::memcmp(s->buf.p, ip.data(), ip.size()) == 0;
        if (!match) *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
        return 0;
    }

    // --- resumption ----------------------------------------------------------------------------

    // The core vetted the envelope; bytes this mbedTLS cannot load only cost the resumption.
    void resume(const std::vector<std::uint8_t>& saved) {
        auto session = SslSession::make();
        if (mbedtls_ssl_session_load(session.get(), saved.data(), saved.size()) == 0)
            (void)mbedtls_ssl_set_session(ssl_.get(), session.get());
    }

    Exported do_export_session() const override {
        auto session = SslSession::make();
        if (mbedtls_ssl_get_session(ssl_.get(), session.get()) != 0) return {};
        std::size_t len = 0;
        if (mbedtls_ssl_session_save(session.get(), nullptr, 0, &len) !=
            MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL)
            return {};
        Exported x;
        x.data.resize(len);
        if (mbedtls_ssl_session_save(session.get(), x.data.data(), len, &len) != 0) return {};
        x.data.resize(len);
        return x;
    }

    // --- handshake -----------------------------------------------------------------------------

    Status do_handshake(Error& err) override {
        mbedtls_ssl_context* ssl = ssl_.get();
        // A TLS 1.2 handshake is about twenty states; the bound only guards against a library bug.
        for (int steps = 0; !internals::handshake_over(ssl); ++steps) {
            if (steps > 256) {
                err = library_error(errc::internal, 0, "mbedTLS handshake made no progress");
                return Status::failed;
            }
            const std::size_t out_before = output_size();
            const int ret = mbedtls_ssl_handshake_step(ssl);
            if (ret == MBEDTLS_ERR_SSL_WANT_READ) return Status::want_input;
            if (ret != 0) {
                err = failure(ret, true);
                send_alert_if_silent(err, ret, out_before, true);
                return Status::failed;
            }
            if (!after_step(err)) {
                send_alert_if_silent(err, 0, out_before, true);
                return Status::failed;
            }
        }
        return Status::ok;
    }

    // Runs between two handshake steps.
    bool after_step(Error& err) {
        mbedtls_ssl_context* ssl = ssl_.get();
        if (internals::handshake_state(ssl) < MBEDTLS_SSL_SERVER_HELLO) return true;
        if (role() == Role::client) {
            if (internals::certificate_requested(ssl)) core().note_certificate_request();
            // The ClientHello (and with it the SNI) is out: from now on `hostname` is only what
            // the certificate must match.
            if (switch_hostname_) {
                switch_hostname_ = false;
                const char* name = verify_name_.empty() ? nullptr : verify_name_.c_str();
                if (const int ret = mbedtls_ssl_set_hostname(ssl, name)) {
                    err = library_error(errc::invalid_config, ret, "verification name \"" + verify_name_ + "\"");
                    return false;
                }
            }
            return true;
        }
        if (!client_cert_checked_ &&
            internals::handshake_state(ssl) > MBEDTLS_SSL_CLIENT_CERTIFICATE) {
            client_cert_checked_ = true;
            if (!check_client_certificate(err)) return false;
        }
        if (alpn_decided_) return true;
        alpn_decided_ = true;
        return answer_alpn(err);
    }

    // Server, once the client's Certificate is in: VERIFY_OPTIONAL (a certificate requested,
    // not required) would go on with one that did not verify; refuse it, as REQUIRED does.
    // None at all is fine here (flags: exactly MBEDTLS_X509_BADCERT_MISSING).
    bool check_client_certificate(Error& err) {
        const ServerConfig& cfg = core().server();
        if (cfg.client_ca_file.empty() || cfg.require_client_cert) return true;
        const std::uint32_t flags = mbedtls_ssl_get_verify_result(ssl_.get());
        if ((flags & ~std::uint32_t{MBEDTLS_X509_BADCERT_MISSING}) == 0) return true;
        err = failure(MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, true);
        return false;
    }

    // The ClientHello has been parsed and the ServerHello not yet written.
    bool answer_alpn(Error& err) {
        const hello::Message* ch = core().peer_hello();
        if (ch == nullptr || !ch->alpn_present) return true;  // nothing offered, nothing answered
        if (ch->alpn_malformed) {
            mbedtls_ssl_send_alert_message(ssl_.get(), MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                           alert::decode_error);
            err = {errc::handshake_failed, "malformed ALPN extension in the ClientHello", 0,
                   std::string(core_origin)};
            return false;
        }
        AlpnAnswer a = core().answer_alpn(&ch->alpn);
        switch (a.kind) {
            case AlpnAnswer::Kind::none: return true;
            case AlpnAnswer::Kind::refuse:
                mbedtls_ssl_send_alert_message(ssl_.get(), MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                               alert::no_application_protocol);
                err = {errc::no_application_protocol, {}, 0, std::string(core_origin)};
                return false;
            case AlpnAnswer::Kind::select: break;
        }
        selected_ = std::move(a.protocol);  // stays put until the session ends
        internals::set_selected_alpn(ssl_.get(), selected_.c_str());
        return true;
    }

    Error failure(int ret, bool handshaking) {
        const mbedtls_ssl_context* ssl = ssl_.get();
        FailureContext fc;
        fc.handshaking = handshaking;
        if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
            fc.verify_flags = mbedtls_ssl_get_verify_result(ssl);
            fc.expected_identity = role() == Role::client ? core().peer().describe() : "the client";
        }
        if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) fc.alert_received = internals::received_alert(ssl);
        return session_error(ret, fc);
    }

    // mbedTLS sends an alert for most of its failures; where it did not (nothing went out during
    // the failing call), tell the peer why rather than leave it with a bare end of stream.
    // Never in answer to an alert or to end of stream.
    void send_alert_if_silent(const Error& e, int ret, std::size_t out_before, bool handshaking) {
        if (output_size() != out_before) return;
        if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
            ret == MBEDTLS_ERR_SSL_CONN_EOF || ret == MBEDTLS_ERR_SSL_ALLOC_FAILED)
            return;
        if (e.code == errc::truncated || e.code == errc::closed || e.code == errc::alert_received)
            return;
        errc why = static_cast<errc>(e.code.value());
        if (auto refused = core().refusal()) why = static_cast<errc>(refused->code.value());
        // Refused before mbedTLS read the ClientHello's version: use the highest we speak.
        if (role() == Role::server)
            internals::stamp_record_version(ssl_.get(), std::min(core().server().max_version, Version::tls1_2));
        mbedtls_ssl_send_alert_message(ssl_.get(), MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       alert::for_error(why, handshaking));
    }

    // --- application data ------------------------------------------------------------------------

    Status do_write(std::span<const std::uint8_t> plaintext, Error& err) override {
        std::size_t off = 0;
        while (off < plaintext.size()) {
            const std::size_t out_before = output_size();
            const int ret = mbedtls_ssl_write(ssl_.get(), plaintext.data() + off, plaintext.size() - off);
            if (ret > 0) {
                off += static_cast<std::size_t>(ret);
                continue;
            }
            // Our transport never blocks, so WANT_READ/WANT_WRITE cannot leave data half written.
            err = failure(ret == 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : ret, false);
            send_alert_if_silent(err, ret, out_before, false);
            return Status::failed;
        }
        return Status::ok;
    }

    Status do_read(std::vector<std::uint8_t>& plaintext, Error& err) override {
        std::array<unsigned char, 16384> buf;
        // Each turn consumes input or returns; the bound only guards against a library bug.
        for (int turns = 0; turns < 4096; ++turns) {
            const std::size_t out_before = output_size();
            const int ret = mbedtls_ssl_read(ssl_.get(), buf.data(), buf.size());
            if (ret > 0) {
                plaintext.insert(plaintext.end(), buf.begin(), buf.begin() + ret);
                continue;
            }
            if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
                return Status::want_input;
            if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) return Status::closed;
            if (ret == 0 || ret == MBEDTLS_ERR_SSL_CONN_EOF) {
                // mbedtls_ssl_read() turns end of stream into 0: without close_notify that is
                // truncation. (A zero-length record also reads as 0 while input remains.)
                if (at_eof()) {
                    err = failure(MBEDTLS_ERR_SSL_CONN_EOF, false);
                    return Status::failed;
                }
                continue;
            }
            err = failure(ret, false);
            send_alert_if_silent(err, ret, out_before, false);
            return Status::failed;
        }
        return Status::want_input;
    }

    void do_close() override {
        mbedtls_ssl_context* ssl = ssl_.get();
        if (internals::handshake_over(ssl)) {
            (void)mbedtls_ssl_close_notify(ssl);
        } else {
            // mbedTLS only sends close_notify once the handshake is over; a peer still in its
            // handshake deserves to learn we are gone too.
            (void)mbedtls_ssl_send_alert_message(ssl, MBEDTLS_SSL_ALERT_LEVEL_WARNING,
                                                 MBEDTLS_SSL_ALERT_MSG_CLOSE_NOTIFY);
        }
    }

    // --- results ---------------------------------------------------------------------------------

    std::optional<std::string> do_alpn() const override {
        if (const char* p = mbedtls_ssl_get_alpn_protocol(ssl_.get())) return std::string(p);
        return std::nullopt;
    }

    SessionInfo do_info() const override {
        SessionInfo i;
        const mbedtls_ssl_context* ssl = ssl_.get();
        if (!internals::handshake_over(ssl)) return i;
        i.version = parse_version(mbedtls_ssl_get_version(ssl)).value_or(Version::unknown);
        if (const char* c = mbedtls_ssl_get_ciphersuite(ssl)) i.cipher = c;
        i.resumed = core().resumed_by_session_id();  // mbedTLS 2.28 has no accessor
        // Server: the client's certificate verified against client_ca_file.
        i.client_certificate = role() == Role::server && !core().server().client_ca_file.empty() &&
                               mbedtls_ssl_get_peer_cert(ssl) != nullptr &&
                               mbedtls_ssl_get_verify_result(ssl) == 0;
        if (const mbedtls_x509_crt* leaf = mbedtls_ssl_get_peer_cert(ssl)) {
            const mbedtls_x509_time& t = leaf->valid_to;
            i.peer_expires = utc_time(t.year, t.mon, t.day, t.hour, t.min, t.sec);
        }
        return i;
    }

    // The certificate's own SubjectPublicKeyInfo bytes (pk_raw, a public field in 2.28), kept
    // because Debian's build has MBEDTLS_SSL_KEEP_PEER_CERTIFICATE (also across resumption).
    std::vector<std::uint8_t> do_peer_spki_der() const override {
        const mbedtls_x509_crt* leaf = mbedtls_ssl_get_peer_cert(ssl_.get());
        if (leaf == nullptr || leaf->pk_raw.p == nullptr) return {};
        return {leaf->pk_raw.p, leaf->pk_raw.p + leaf->pk_raw.len};
    }

    std::shared_ptr<const Engine> engine_;
    std::shared_ptr<const ClientEngine> client_;
    std::shared_ptr<const ServerEngine> server_;
    std::string verify_name_;        // client: the name the certificate must match ("" for IPs)
    std::string selected_;           // server: the protocol mbedTLS points at
    bool switch_hostname_ = false;   // client: set verify_name_ once the ClientHello is written
    bool versions_checked_ = false;  // server: the core judged the ClientHello's versions
    bool alpn_decided_ = false;      // server: the core's ALPN answer is in
    bool client_cert_checked_ = false;  // server: a requested client certificate was judged
    // Last: freed first, while everything it points at (engines, selected_) still exists.
    SslContext::ptr ssl_ = SslContext::make();
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

}  // namespace connmatrix::tls::mbedtls
