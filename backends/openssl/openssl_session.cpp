// The OpenSSL Session: an SSL object whose BIO reads from and writes to the base's queues.
#include "openssl_internal.hpp"

#include "alpn.hpp"
#include "host.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

namespace connmatrix::tls::openssl {
namespace {

// export_session() format: a small header, then the DER of the SSL_SESSION (i2d_SSL_SESSION).
// The header records whether the exporting connection verified its peer, so a session from an
// unverified connection is never resumed by one that asks for verification.
constexpr std::array<std::uint8_t, 4> export_magic = {'c', 'm', 'x', 'O'};
constexpr std::uint8_t export_version = 1;
constexpr std::uint8_t flag_verified = 0x01;
constexpr std::size_t export_header = export_magic.size() + 2;

Error make_error(errc code, std::string detail) {
    return {code, std::move(detail), 0, std::string(this_backend)};
}

// A bounds-checked reader over one handshake message.
class Reader {
public:
    Reader(const std::uint8_t* p, std::size_t n) noexcept : p_(p), n_(n) {}
    std::size_t left() const noexcept { return n_; }
    bool skip(std::size_t k) noexcept {
        if (k > n_) return false;
        p_ += k;
        n_ -= k;
        return true;
    }
    bool number(std::size_t bytes, std::size_t& v) noexcept {
        if (bytes > n_) return false;
        v = 0;
        for (std::size_t i = 0; i < bytes; ++i) v = (v << 8) | p_[i];
        return skip(bytes);
    }
    bool sub(std::size_t k, Reader& out) noexcept {
        if (k > n_) return false;
        out = Reader(p_, k);
        return skip(k);
    }
    const std::uint8_t* data() const noexcept { return p_; }

private:
    const std::uint8_t* p_;
    std::size_t n_;
};

constexpr std::size_t ext_alpn = 16;        // RFC 7301
constexpr int msg_server_hello = 2;         // carries ALPN up to TLS 1.2
constexpr int msg_encrypted_extensions = 8;  // carries ALPN in TLS 1.3

// The single protocol in an ALPN extension of a server hello, if the extensions carry one.
std::optional<std::string> alpn_in(Reader exts) {
    while (exts.left() > 0) {
        std::size_t type = 0, len = 0;
        Reader body(nullptr, 0);
        if (!exts.number(2, type) || !exts.number(2, len) || !exts.sub(len, body))
            return std::nullopt;
        if (type != ext_alpn) continue;
        std::size_t list_len = 0, name_len = 0;
        Reader list(nullptr, 0);
        if (!body.number(2, list_len) || !body.sub(list_len, list) || !list.number(1, name_len) ||
            name_len == 0 || name_len != list.left())
            return std::nullopt;
        return std::string(reinterpret_cast<const char*>(list.data()), name_len);
    }
    return std::nullopt;
}

void message_cb(int write_p, int /*version*/, int content_type, const void* buf, std::size_t len,
                SSL* /*ssl*/, void* arg) {
    if (write_p != 0 || content_type != SSL3_RT_HANDSHAKE || arg == nullptr || buf == nullptr)
        return;
    static_cast<OpensslSession*>(arg)->observe_handshake_message(
        static_cast<const std::uint8_t*>(buf), len);
}

}  // namespace

OpensslSession::OpensslSession(Role role, std::shared_ptr<const ContextState> state,
                               std::vector<std::string> offered)
    : Session(role, std::string(this_backend), std::move(offered)), state_(std::move(state)) {}

// ssl_ (and with it the BIO pointing at us) goes first, while the base is still whole.
OpensslSession::~OpensslSession() {
    ssl_.reset();
    clear_error_queue();
}

int OpensslSession::bio_read(char* dst, int n) noexcept {
    const std::size_t k = pull(reinterpret_cast<std::uint8_t*>(dst), static_cast<std::size_t>(n));
    return static_cast<int>(k);
}

int OpensslSession::bio_write(const char* src, int n) noexcept {
    try {
        push(reinterpret_cast<const std::uint8_t*>(src), static_cast<std::size_t>(n));
        return n;
    } catch (...) {
        return -1;  // no retry flag: OpenSSL sees a transport failure
    }
}

void OpensslSession::observe_handshake_message(const std::uint8_t* msg,
                                               std::size_t len) noexcept {
    Reader r(msg, len);
    std::size_t type = 0, body_len = 0;
    Reader body(nullptr, 0);
    if (!r.number(1, type) || !r.number(3, body_len) || !r.sub(body_len, body)) return;
    std::size_t n = 0;
    if (static_cast<int>(type) == msg_server_hello) {
        // legacy_version, random, legacy_session_id, cipher_suite, legacy_compression_method
        if (!body.skip(2 + 32) || !body.number(1, n) || !body.skip(n + 2 + 1)) return;
    } else if (static_cast<int>(type) != msg_encrypted_extensions) {
        return;
    }
    Reader exts(nullptr, 0);
    if (!body.number(2, n) || !body.sub(n, exts)) return;
    try {
        if (auto p = alpn_in(exts)) seen_alpn_ = std::move(p);
    } catch (...) {  // out of memory: the check below is only a better error message
    }
}

Error OpensslSession::attach_bio() {
    ssl_.reset(SSL_new(state_->ctx.get()));
    if (!ssl_) return config_error(errc::internal, "SSL_new failed");
    BIO* bio = BIO_new(state_->runtime->bio_method.get());
    if (bio == nullptr) return config_error(errc::internal, "BIO_new failed");
    BIO_set_data(bio, this);
    SSL_set_bio(ssl_.get(), bio, bio);  // one reference, owned by the SSL from here on
    return {};
}

std::unique_ptr<Session> OpensslSession::make_client(std::shared_ptr<const ContextState> state,
                                                     const ClientSessionParams& params,
                                                     Error& err) {
    clear_error_queue();
    std::vector<std::string> offered = state->client.alpn;
    std::unique_ptr<OpensslSession> s(
        new OpensslSession(Role::client, std::move(state), std::move(offered)));
    Error e = s->attach_bio();
    if (!e) e = s->setup_client(params);
    clear_error_queue();
    if (e) {
        err = std::move(e);
        return nullptr;
    }
    return s;
}

std::unique_ptr<Session> OpensslSession::make_server(std::shared_ptr<const ContextState> state,
                                                     Error& err) {
    clear_error_queue();
    std::unique_ptr<OpensslSession> s(new OpensslSession(Role::server, std::move(state), {}));
    if (Error e = s->attach_bio()) {
        err = std::move(e);
        clear_error_queue();
        return nullptr;
    }
    SSL_set_accept_state(s->ssl_.get());
    return s;
}

Error OpensslSession::setup_client(const ClientSessionParams& params) {
    SSL* ssl = ssl_.get();
    SSL_set_connect_state(ssl);
    const std::string host = host::normalise(params.host);
    const bool ip = host::is_ip_literal(params.host);

    sni_ = host::sni_for(params.host, params.sni);
    if (sni_ && SSL_set_tlsext_host_name(ssl, sni_->c_str()) != 1)
        return config_error(errc::invalid_config, "cannot use \"" + *sni_ + "\" as SNI");

    // Watch the server's hello for its ALPN answer (removed once the handshake is done).
    SSL_set_msg_callback(ssl, message_cb);
    SSL_set_msg_callback_arg(ssl, this);

    verify_ = state_->client.verify;
    if (verify_) {
        if (host.empty())
            return make_error(errc::invalid_config,
                              "verification is on but no host was given to verify against");
        if (ip) {
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1)
                return config_error(errc::invalid_config, "cannot verify IP address " + host);
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(ssl, host.c_str()) != 1)
                return config_error(errc::invalid_config, "cannot verify host name " + host);
        }
    }
    if (!params.resume.empty()) try_resume(params.resume, host, ip);
    return {};
}

// Resumption is an optimisation: bytes we cannot use mean a full handshake, not an error.
void OpensslSession::try_resume(std::span<const std::uint8_t> blob, const std::string& host,
                                bool ip) {
    if (blob.size() <= export_header ||
        !std::equal(export_magic.begin(), export_magic.end(), blob.begin()) ||
        blob[export_magic.size()] != export_version)
        return;
    const std::uint8_t flags = blob[export_magic.size() + 1];
    const std::span<const std::uint8_t> der = blob.subspan(export_header);
    if (der.size() > static_cast<std::size_t>(LONG_MAX)) return;
    const unsigned char* p = der.data();
    SslSessionPtr sess(d2i_SSL_SESSION(nullptr, &p, static_cast<long>(der.size())));
    clear_error_queue();
    if (!sess || SSL_SESSION_is_resumable(sess.get()) != 1) return;
    if (verify_) {
        // OpenSSL does not re-verify a resumed peer: only resume what was verified, for this host.
        if ((flags & flag_verified) == 0) return;
        X509* peer = SSL_SESSION_get0_peer(sess.get());
        if (peer == nullptr) return;
        const int match = ip ? X509_check_ip_asc(peer, host.c_str(), 0)
                             : X509_check_host(peer, host.c_str(), host.size(),
                                               X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr);
        if (match != 1) return;
    }
    if (SSL_set_session(ssl_.get(), sess.get()) != 1) clear_error_queue();  // takes its own ref
}

Error OpensslSession::failure(int ret, bool in_handshake) {
    Failure f;
    f.ssl_error = SSL_get_error(ssl_.get(), ret);  // peeks at the queue: before draining it
    f.in_handshake = in_handshake;
    if (role() == Role::client && verify_) f.verify_result = SSL_get_verify_result(ssl_.get());
    drain_error_queue(f);
    return map_failure(f);
}

Status OpensslSession::do_handshake(Error& err) {
    clear_error_queue();
    const int r = SSL_do_handshake(ssl_.get());
    if (r == 1) {
        clear_error_queue();
        SSL_set_msg_callback(ssl_.get(), nullptr);
        return Status::ok;
    }
    switch (SSL_get_error(ssl_.get(), r)) {
        case SSL_ERROR_WANT_READ:
            clear_error_queue();
            return Status::want_input;
        case SSL_ERROR_ZERO_RETURN:
            clear_error_queue();
            return Status::closed;
        default:
            break;
    }
    err = failure(r, true);
    // OpenSSL's client refuses an ALPN selection it did not offer ("bad extension", with a
    // decode_error alert) or any selection when it offered none ("bad extension",
    // unsupported_extension): we saw the hello, so name the real reason.
    if (role() == Role::client && seen_alpn_ && err.code == errc::handshake_failed) {
        if (Error a = alpn::check_selected(seen_alpn_, state_->client.alpn)) {
            a.detail += "; " + err.detail;
            a.library_code = err.library_code;
            a.origin = std::string(this_backend);
            err = std::move(a);
        }
    }
    return Status::failed;
}

Status OpensslSession::do_read(std::vector<std::uint8_t>& plaintext, Error& err) {
    if (pending_) {
        err = std::move(*pending_);
        pending_.reset();
        return Status::failed;
    }
    if (peer_closed_) return Status::closed;
    clear_error_queue();
    std::array<std::uint8_t, 16384> buf;  // one record's worth of plaintext per call
    bool got = false;
    for (;;) {
        std::size_t n = 0;
        const int r = SSL_read_ex(ssl_.get(), buf.data(), buf.size(), &n);
        if (r == 1) {
            plaintext.insert(plaintext.end(), buf.begin(),
                             buf.begin() + static_cast<std::ptrdiff_t>(n));
            got = true;
            continue;
        }
        const int e = SSL_get_error(ssl_.get(), r);
        if (e == SSL_ERROR_WANT_READ) {  // input exhausted (TLS 1.3 tickets are processed here)
            clear_error_queue();
            return got ? Status::ok : Status::want_input;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {  // close_notify
            clear_error_queue();
            peer_closed_ = true;
            return got ? Status::ok : Status::closed;
        }
        Error f = failure(r, false);
        if (got) {  // hand over the data first; the error comes with the next call
            pending_ = std::move(f);
            return Status::ok;
        }
        err = std::move(f);
        return Status::failed;
    }
}

Status OpensslSession::do_write(std::span<const std::uint8_t> plaintext, Error& err) {
    if (pending_) {
        err = *pending_;
        return Status::failed;
    }
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
            // Our BIO never blocks on write and renegotiation is off, so this cannot happen.
            clear_error_queue();
            err = make_error(errc::internal, "SSL_write_ex wants the transport (" +
                                                 std::to_string(e) + ") mid-write");
            return Status::failed;
        }
        err = failure(r, false);
        return Status::failed;
    }
    clear_error_queue();
    return Status::ok;
}

void OpensslSession::do_close() {
    clear_error_queue();
    if (SSL_is_init_finished(ssl_.get()) == 1) (void)SSL_shutdown(ssl_.get());  // close_notify
    clear_error_queue();
}

std::optional<std::string> OpensslSession::do_alpn() const {
    const unsigned char* p = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl_.get(), &p, &len);
    if (p == nullptr || len == 0) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(p), len);
}

SessionInfo OpensslSession::do_info() const {
    SessionInfo i;
    SSL* ssl = ssl_.get();
    const bool done = SSL_is_init_finished(ssl) == 1;
    if (done) {
        i.version = from_openssl_version(SSL_version(ssl));
        if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) i.cipher = SSL_CIPHER_get_name(c);
        i.resumed = SSL_session_reused(ssl) == 1;
    }
    if (role() == Role::client) {
        i.verified = done && verify_ && SSL_get_verify_result(ssl) == X509_V_OK &&
                     SSL_get0_peer_certificate(ssl) != nullptr;
        i.server_name = sni_;
    } else if (const char* sn = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
        i.server_name = std::string(sn);
    }
    return i;
}

std::vector<std::uint8_t> OpensslSession::do_export_session() const {
    SslSessionPtr sess(SSL_get1_session(ssl_.get()));
    if (!sess || SSL_SESSION_is_resumable(sess.get()) != 1) return {};
    const int len = i2d_SSL_SESSION(sess.get(), nullptr);
    if (len <= 0) {
        clear_error_queue();
        return {};
    }
    std::vector<std::uint8_t> out(export_header + static_cast<std::size_t>(len));
    std::copy(export_magic.begin(), export_magic.end(), out.begin());
    out[export_magic.size()] = export_version;
    out[export_magic.size() + 1] = do_info().verified ? flag_verified : 0;
    unsigned char* p = out.data() + export_header;
    if (i2d_SSL_SESSION(sess.get(), &p) != len) {
        clear_error_queue();
        return {};
    }
    return out;
}

}  // namespace connmatrix::tls::openssl
