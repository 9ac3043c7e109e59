// The OpenSSL Session: an SSL object whose BIO reads from and writes to the core's queues.
#include "openssl_internal.hpp"

#include "alpn.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <array>
#include <climits>
#include <ctime>

namespace connmatrix::tls::openssl {
namespace {

class SessionImpl;

// --- the custom BIO: OpenSSL's transport, wired to the Session's byte queues ----------------

// A fixed type rather than BIO_get_new_index(): that hands out at most 127 indexes per
// process, and every Registry builds a Backend. Nothing looks our BIOs up by type.
constexpr int bio_type = 0xff | BIO_TYPE_SOURCE_SINK;

SessionImpl* session_of(BIO* b) noexcept { return static_cast<SessionImpl*>(BIO_get_data(b)); }

int bio_read_cb(BIO* b, char* dst, int n);
int bio_write_cb(BIO* b, const char* src, int n);

int bio_puts_cb(BIO* b, const char* str) {
    std::size_t len = 0;
    while (str != nullptr && str[len] != '\0' && len < INT_MAX) ++len;
    return bio_write_cb(b, str, static_cast<int>(len));
}

long bio_ctrl_cb(BIO* b, int cmd, long num, void* ptr);

int bio_create_cb(BIO* b) {
    BIO_set_data(b, nullptr);
    BIO_set_init(b, 1);
    return 1;
}

int bio_destroy_cb(BIO* b) {
    if (b == nullptr) return 0;
    BIO_set_data(b, nullptr);
    return 1;
}

void message_cb(int write_p, int version, int content_type, const void* buf, std::size_t len,
                SSL* ssl, void* arg);

class SessionImpl final : public Session {
public:
    SessionImpl(detail::ClientSetup& setup, std::shared_ptr<const Engine> engine)
        : Session(setup), engine_(std::move(engine)) {}
    SessionImpl(detail::ServerSetup& setup, std::shared_ptr<const Engine> engine)
        : Session(setup), engine_(std::move(engine)) {}

    // ssl_ (and with it the BIO pointing at us) goes first, while the base is still whole.
    ~SessionImpl() override {
        ssl_.reset();
        clear_error_queue();
    }

    Error attach(bool client) {
        ssl_.reset(SSL_new(engine_->ctx.get()));
        if (!ssl_) return library_error(errc::internal, "SSL_new failed");
        BIO* bio = BIO_new(engine_->runtime->bio_method.get());
        if (bio == nullptr) return library_error(errc::internal, "BIO_new failed");
        BIO_set_data(bio, this);
        SSL_set_bio(ssl_.get(), bio, bio);  // one reference, owned by the SSL from here on
        SSL_set_app_data(ssl_.get(), this);
        if (client)
            SSL_set_connect_state(ssl_.get());
        else
            SSL_set_accept_state(ssl_.get());
        return {};
    }

    Error setup_client(const detail::ClientSetup& setup) {
        SSL* ssl = ssl_.get();
        const PeerIdentity& peer = core().peer();
        if (peer.sni && SSL_set_tlsext_host_name(ssl, peer.sni->c_str()) != 1)
            return library_error(errc::invalid_config, "cannot use \"" + *peer.sni + "\" as SNI");
        // Hand the core the server's decrypted hellos (TLS 1.3 EncryptedExtensions carry ALPN).
        SSL_set_msg_callback(ssl, message_cb);
        SSL_set_msg_callback_arg(ssl, this);
        if (peer.verify) {
            if (peer.is_ip()) {
                if (X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl), peer.ip.data(), peer.ip.size()) != 1)
                    return library_error(errc::invalid_config, "cannot verify " + peer.describe());
            } else {
                SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                if (SSL_set1_host(ssl, peer.host.c_str()) != 1)
                    return library_error(errc::invalid_config, "cannot verify " + peer.describe());
            }
        }
        if (!setup.resume.empty()) resume(setup.resume);
        return {};
    }

    // The BIO's read and write, wired to the base's queues (called by OpenSSL only).
    int bio_read(char* dst, int n) noexcept {
        return static_cast<int>(pull(reinterpret_cast<std::uint8_t*>(dst), static_cast<std::size_t>(n)));
    }
    int bio_write(const char* src, int n) noexcept {
        try {
            push(reinterpret_cast<const std::uint8_t*>(src), static_cast<std::size_t>(n));
            return n;
        } catch (...) {
            return -1;  // no retry flag: OpenSSL sees a transport failure
        }
    }
    bool bio_eof() const noexcept { return at_eof(); }
    std::size_t bio_pending() const noexcept { return input_size(); }
    void observe(const void* msg, std::size_t len) noexcept {
        (void)core().observe_server_message({static_cast<const std::uint8_t*>(msg), len});
    }
    void log_keys(const char* line) noexcept { (void)core().log_line(line); }

    int select_alpn(const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                    unsigned int inlen) noexcept {
        try {
            const auto offered = alpn::decode({in, inlen});
            if (!offered) return SSL_TLSEXT_ERR_ALERT_FATAL;  // malformed (OpenSSL checks first)
            AlpnAnswer a = core().answer_alpn(&*offered);
            if (a.kind == AlpnAnswer::Kind::none) return SSL_TLSEXT_ERR_NOACK;
            if (a.kind == AlpnAnswer::Kind::refuse) return SSL_TLSEXT_ERR_ALERT_FATAL;
            selected_ = std::move(a.protocol);  // OpenSSL copies it; ours outlives the call
            *out = reinterpret_cast<const unsigned char*>(selected_.data());
            *outlen = static_cast<unsigned char>(selected_.size());
            return SSL_TLSEXT_ERR_OK;
        } catch (...) {  // out of memory: never let an exception cross OpenSSL's C frames
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
    }

private:
    // Server: SSL_read_early_data until it is finished, before the handshake may go on.
    Status read_early_data(Error& err) {
        std::array<std::uint8_t, 16384> buf;
        for (;;) {
            std::size_t n = 0;
            const int r = SSL_read_early_data(ssl_.get(), buf.data(), buf.size(), &n);
            if (r == SSL_READ_EARLY_DATA_SUCCESS) {
                core().early.received({buf.data(), n});
                continue;
            }
            if (r == SSL_READ_EARLY_DATA_FINISH) {
                early_finished_ = true;
                return Status::ok;
            }
            switch (SSL_get_error(ssl_.get(), 0)) {
                case SSL_ERROR_WANT_READ: clear_error_queue(); return Status::want_input;
                case SSL_ERROR_ZERO_RETURN: clear_error_queue(); return Status::closed;
                default: err = failure(0, true); return Status::failed;
            }
        }
    }

    Status do_handshake(Error& err) override {
        clear_error_queue();
        if (role() == Role::server && core().server().max_early_data > 0 && !early_finished_)
            if (const Status s = read_early_data(err); s != Status::ok) return s;
        const int r = SSL_do_handshake(ssl_.get());
        if (r == 1) {
            clear_error_queue();
            SSL_set_msg_callback(ssl_.get(), nullptr);
            return Status::ok;
        }
        switch (SSL_get_error(ssl_.get(), r)) {
            case SSL_ERROR_WANT_READ: clear_error_queue(); return Status::want_input;
            case SSL_ERROR_ZERO_RETURN: clear_error_queue(); return Status::closed;
            default: break;
        }
        err = failure(r, true);
        return Status::failed;
    }

    Status do_read(std::vector<std::uint8_t>& plaintext, Error& err) override {
        clear_error_queue();
        std::array<std::uint8_t, 16384> buf;  // one record's worth of plaintext per call
        for (;;) {
            std::size_t n = 0;
            const int r = SSL_read_ex(ssl_.get(), buf.data(), buf.size(), &n);
            if (r == 1) {
                plaintext.insert(plaintext.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
                continue;
            }
            switch (SSL_get_error(ssl_.get(), r)) {
                case SSL_ERROR_WANT_READ:  // input exhausted (TLS 1.3 tickets are processed here)
                    clear_error_queue();
                    return Status::want_input;
                case SSL_ERROR_ZERO_RETURN:  // close_notify
                    clear_error_queue();
                    return Status::closed;
                default: err = failure(r, false); return Status::failed;
            }
        }
    }

    Status do_write(std::span<const std::uint8_t> plaintext, Error& err) override {
        clear_error_queue();
        std::size_t off = 0;
        while (off < plaintext.size()) {
            std::size_t n = 0;
            const int r = SSL_write_ex(ssl_.get(), plaintext.data() + off, plaintext.size() - off, &n);
            if (r == 1) {
                off += n;
                continue;
            }
            const int e = SSL_get_error(ssl_.get(), r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                // Our BIO never blocks on write and renegotiation is off: this cannot happen.
                clear_error_queue();
                err = {errc::internal,
                       "SSL_write_ex wants the transport (" + std::to_string(e) + ") mid-write", 0,
                       std::string(openssl::backend_name)};
                return Status::failed;
            }
            err = failure(r, false);
            return Status::failed;
        }
        clear_error_queue();
        return Status::ok;
    }

    // Client: SSL_write_early_data writes the ClientHello and the data (no input needed).
    Status do_write_early(std::span<const std::uint8_t> plaintext, Error& err) override {
        clear_error_queue();
        for (std::size_t off = 0; off < plaintext.size();) {
            std::size_t n = 0;
            if (SSL_write_early_data(ssl_.get(), plaintext.data() + off, plaintext.size() - off,
                                     &n) != 1) {
                err = failure(0, true);
                return Status::failed;
            }
            off += n;
        }
        clear_error_queue();
        return Status::ok;
    }

    bool do_early_data_accepted() const override {
        return SSL_get_early_data_status(ssl_.get()) == SSL_EARLY_DATA_ACCEPTED;
    }

    void do_close() override {
        clear_error_queue();
        if (SSL_is_init_finished(ssl_.get()) == 1) (void)SSL_shutdown(ssl_.get());  // close_notify
        clear_error_queue();
    }

    std::optional<std::string> do_alpn() const override {
        const unsigned char* p = nullptr;
        unsigned int len = 0;
        SSL_get0_alpn_selected(ssl_.get(), &p, &len);
        if (p == nullptr || len == 0) return std::nullopt;
        return std::string(reinterpret_cast<const char*>(p), len);
    }

    SessionInfo do_info() const override {
        SessionInfo i;
        SSL* ssl = ssl_.get();
        if (SSL_is_init_finished(ssl) == 1) {
            i.version = from_library_version(SSL_version(ssl));
            if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) i.cipher = SSL_CIPHER_get_name(c);
            i.resumed = SSL_session_reused(ssl) == 1;
            // Server: a client certificate is only accepted once it verified.
            i.client_certificate = role() == Role::server &&
                                   SSL_get0_peer_certificate(ssl) != nullptr &&
                                   SSL_get_verify_result(ssl) == X509_V_OK;
            std::tm t{};
            if (X509* leaf = SSL_get0_peer_certificate(ssl);
                leaf != nullptr && ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &t) == 1)
                i.peer_expires = utc_time(t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                                          t.tm_min, t.tm_sec);
            clear_error_queue();
        }
        return i;
    }

    std::vector<std::uint8_t> do_peer_spki_der() const override {
        std::vector<std::uint8_t> der;
        if (X509* leaf = SSL_get0_peer_certificate(ssl_.get())) {
            X509_PUBKEY* key = X509_get_X509_PUBKEY(leaf);  // owned by the certificate
            const int len = key != nullptr ? i2d_X509_PUBKEY(key, nullptr) : 0;
            if (len > 0) {
                der.resize(static_cast<std::size_t>(len));
                unsigned char* p = der.data();
                if (i2d_X509_PUBKEY(key, &p) != len) der.clear();
            }
        }
        clear_error_queue();
        return der;
    }

    Exported do_export_session() const override {
        SslSessionPtr sess(SSL_get1_session(ssl_.get()));
        if (!sess || SSL_SESSION_is_resumable(sess.get()) != 1) return {};
        const int len = i2d_SSL_SESSION(sess.get(), nullptr);
        Exported x;
        if (len > 0) {
            x.data.resize(static_cast<std::size_t>(len));
            unsigned char* p = x.data.data();
            if (i2d_SSL_SESSION(sess.get(), &p) != len) x.data.clear();
        }
        x.lifetime = std::chrono::seconds(SSL_SESSION_get_timeout(sess.get()));
        x.max_early_data = SSL_SESSION_get_max_early_data(sess.get());
        clear_error_queue();
        return x;
    }

    // The core vetted the envelope; bytes OpenSSL cannot use only cost the resumption.
    void resume(const std::vector<std::uint8_t>& der) {
        if (der.size() > static_cast<std::size_t>(LONG_MAX)) return;
        const unsigned char* p = der.data();
        SslSessionPtr sess(d2i_SSL_SESSION(nullptr, &p, static_cast<long>(der.size())));
        if (sess && SSL_SESSION_is_resumable(sess.get()) == 1)
            (void)SSL_set_session(ssl_.get(), sess.get());  // takes its own reference
        clear_error_queue();
    }

    Error failure(int ret, bool in_handshake) {
        Failure f;
        f.ssl_error = SSL_get_error(ssl_.get(), ret);  // peeks at the queue: before draining it
        f.in_handshake = in_handshake;
        if (role() == Role::client ? core().peer().verify : !core().server().client_ca_file.empty())
            f.verify_result = SSL_get_verify_result(ssl_.get());
        drain_error_queue(f);
        return session_error(f);
    }

    std::shared_ptr<const Engine> engine_;  // keeps the SSL_CTX alive
    SslPtr ssl_;
    std::string selected_;  // server: the protocol the core chose, while OpenSSL copies it
    bool early_finished_ = false;  // server: SSL_read_early_data said it is done
};

int bio_read_cb(BIO* b, char* dst, int n) {
    BIO_clear_retry_flags(b);
    SessionImpl* s = session_of(b);
    if (s == nullptr || dst == nullptr || n <= 0) return 0;
    const int k = s->bio_read(dst, n);
    if (k > 0) return k;
    if (s->bio_eof()) return 0;  // end of stream: OpenSSL reports an unexpected EOF
    BIO_set_retry_read(b);       // nothing buffered yet: "would block"
    return -1;
}

int bio_write_cb(BIO* b, const char* src, int n) {
    BIO_clear_retry_flags(b);
    SessionImpl* s = session_of(b);
    if (s == nullptr || src == nullptr || n < 0) return -1;
    return s->bio_write(src, n);
}

long bio_ctrl_cb(BIO* b, int cmd, long /*num*/, void* /*ptr*/) {
    const SessionImpl* s = session_of(b);
    switch (cmd) {
        case BIO_CTRL_FLUSH: return 1;  // written bytes are in the output queue already
        case BIO_CTRL_EOF: return (s != nullptr && s->bio_eof()) ? 1 : 0;
        case BIO_CTRL_PENDING: return s != nullptr ? static_cast<long>(s->bio_pending()) : 0;
        default: return 0;  // nothing pending to write; no kTLS, dgram, push/pop...
    }
}

void message_cb(int write_p, int /*version*/, int content_type, const void* buf, std::size_t len,
                SSL* /*ssl*/, void* arg) {
    if (write_p != 0 || content_type != SSL3_RT_HANDSHAKE || arg == nullptr || buf == nullptr)
        return;
    static_cast<SessionImpl*>(arg)->observe(buf, len);
}

template <class Setup>
std::unique_ptr<Session> make_session(std::shared_ptr<const Engine> engine, Setup& setup,
                                      Error& err) {
    clear_error_queue();
    constexpr bool client = std::is_same_v<Setup, detail::ClientSetup>;
    auto s = std::make_unique<SessionImpl>(setup, std::move(engine));
    err = s->attach(client);
    if constexpr (client) {
        if (!err) err = s->setup_client(setup);
    }
    clear_error_queue();
    if (err) return nullptr;
    return s;
}

}  // namespace

Error make_runtime(Runtime& rt) {
    rt.bio_method.reset(BIO_meth_new(bio_type, "connmatrix session queues"));
    BIO_METHOD* m = rt.bio_method.get();
    if (m == nullptr || BIO_meth_set_read(m, bio_read_cb) != 1 ||
        BIO_meth_set_write(m, bio_write_cb) != 1 || BIO_meth_set_puts(m, bio_puts_cb) != 1 ||
        BIO_meth_set_ctrl(m, bio_ctrl_cb) != 1 || BIO_meth_set_create(m, bio_create_cb) != 1 ||
        BIO_meth_set_destroy(m, bio_destroy_cb) != 1) {
        rt.bio_method.reset();
        return library_error(errc::internal, "cannot build the BIO method");
    }
    return {};
}

int server_alpn_callback(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                         const unsigned char* in, unsigned int inlen, void* /*arg*/) {
    auto* s = static_cast<SessionImpl*>(SSL_get_app_data(ssl));
    if (s == nullptr) return SSL_TLSEXT_ERR_ALERT_FATAL;
    return s->select_alpn(out, outlen, in, inlen);
}

void keylog_callback(const SSL* ssl, const char* line) {
    if (auto* s = static_cast<SessionImpl*>(SSL_get_app_data(ssl)); s != nullptr && line != nullptr)
        s->log_keys(line);
}

std::unique_ptr<Session> make_client_session(std::shared_ptr<const ClientEngine> engine,
                                             detail::ClientSetup& setup, Error& err) {
    return make_session(std::move(engine), setup, err);
}

std::unique_ptr<Session> make_server_session(std::shared_ptr<const ServerEngine> engine,
                                             detail::ServerSetup& setup, Error& err) {
    return make_session(std::move(engine), setup, err);
}

}  // namespace connmatrix::tls::openssl
