// The OpenSSL 3 backend: Backend, client and server contexts.
#include "openssl_internal.hpp"

#include "alpn.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <filesystem>

namespace connmatrix::tls {
namespace openssl {
namespace {

// --- the custom BIO: OpenSSL's transport, wired to the Session's byte queues ----------------

constexpr int bio_type = 0xff | BIO_TYPE_SOURCE_SINK;

OpensslSession* session_of(BIO* b) noexcept {
    return static_cast<OpensslSession*>(BIO_get_data(b));
}

int bio_read_cb(BIO* b, char* dst, int n) {
    BIO_clear_retry_flags(b);
    OpensslSession* s = session_of(b);
    if (s == nullptr || dst == nullptr || n <= 0) return 0;
    const int k = s->bio_read(dst, n);
    if (k > 0) return k;
    if (s->bio_eof()) return 0;  // end of stream: OpenSSL reports an unexpected EOF
    BIO_set_retry_read(b);       // nothing buffered yet: "would block"
    return -1;
}

int bio_write_cb(BIO* b, const char* src, int n) {
    BIO_clear_retry_flags(b);
    OpensslSession* s = session_of(b);
    if (s == nullptr || src == nullptr || n < 0) return -1;
    return s->bio_write(src, n);
}

int bio_puts_cb(BIO* b, const char* str) {
    std::size_t len = 0;
    while (str != nullptr && str[len] != '\0' && len < INT_MAX) ++len;
    return bio_write_cb(b, str, static_cast<int>(len));
}

long bio_ctrl_cb(BIO* b, int cmd, long /*num*/, void* /*ptr*/) {
    const OpensslSession* s = session_of(b);
    switch (cmd) {
        case BIO_CTRL_FLUSH: return 1;  // written bytes are in the output queue already
        case BIO_CTRL_EOF: return (s != nullptr && s->bio_eof()) ? 1 : 0;
        case BIO_CTRL_PENDING: return s != nullptr ? static_cast<long>(s->bio_pending()) : 0;
        default: return 0;  // nothing pending to write; no kTLS, dgram, push/pop...
    }
}

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

Error make_runtime(Runtime& rt) {
    // A fixed type rather than BIO_get_new_index(): that hands out at most 127 indexes per
    // process, and every Registry builds a Backend. Nothing looks our BIOs up by type.
    rt.bio_method.reset(BIO_meth_new(bio_type, "connmatrix session queues"));
    BIO_METHOD* m = rt.bio_method.get();
    if (m == nullptr || BIO_meth_set_read(m, bio_read_cb) != 1 ||
        BIO_meth_set_write(m, bio_write_cb) != 1 || BIO_meth_set_puts(m, bio_puts_cb) != 1 ||
        BIO_meth_set_ctrl(m, bio_ctrl_cb) != 1 || BIO_meth_set_create(m, bio_create_cb) != 1 ||
        BIO_meth_set_destroy(m, bio_destroy_cb) != 1) {
        rt.bio_method.reset();
        return config_error(errc::internal, "cannot build the BIO method");
    }
    return {};
}

// --- contexts ---------------------------------------------------------------------------------

// The system trust store: OpenSSL's default paths (SSL_CERT_FILE / SSL_CERT_DIR, else
// OPENSSLDIR/cert.pem and OPENSSLDIR/certs, which Debian links to /etc/ssl/certs). An OpenSSL
// built with another OPENSSLDIR may find nothing there: then the usual distribution bundles.
Error load_system_trust(SSL_CTX* ctx) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1)
        return config_error(errc::invalid_config, "cannot load the system trust store");
    std::error_code ec;
    if (std::filesystem::exists(X509_get_default_cert_file(), ec)) return {};
    for (const char* bundle : {"/etc/ssl/certs/ca-certificates.crt",
                               "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}) {
        if (std::filesystem::exists(bundle, ec)) {
            if (SSL_CTX_load_verify_locations(ctx, bundle, nullptr) != 1)
                return config_error(errc::invalid_config,
                                    std::string("cannot load the system trust store ") + bundle);
            return {};
        }
    }
    return {};  // the default directory may still hold hashed certificates
}

Error set_versions(SSL_CTX* ctx, Version min, Version max) {
    const int lo = to_openssl_version(min);
    const int hi = to_openssl_version(max);
    if (lo == 0 || hi == 0)
        return {errc::invalid_config, "min_version and max_version must name a TLS version", 0,
                std::string(this_backend)};
    if (lo > hi)
        return {errc::invalid_config,
                "min_version " + std::string(to_string(min)) + " is above max_version " +
                    std::string(to_string(max)),
                0, std::string(this_backend)};
    if (SSL_CTX_set_min_proto_version(ctx, lo) != 1 || SSL_CTX_set_max_proto_version(ctx, hi) != 1)
        return config_error(errc::invalid_config, "cannot set the TLS version range");
    // OpenSSL 3 refuses TLS 1.0/1.1 at security level 1 and above (their handshake signatures
    // use SHA-1/MD5). Only a configuration that explicitly asks for them gets level 0.
    if (lo < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx, 0);
    return {};
}

class ClientCtx final : public ClientContext {
public:
    explicit ClientCtx(std::shared_ptr<const ContextState> s) : state_(std::move(s)) {}
    std::unique_ptr<Session> new_session(const ClientSessionParams& params, Error& err) override {
        return OpensslSession::make_client(state_, params, err);
    }
    const ClientConfig& config() const noexcept override { return state_->client; }

private:
    std::shared_ptr<const ContextState> state_;
};

class ServerCtx final : public ServerContext {
public:
    explicit ServerCtx(std::shared_ptr<const ContextState> s) : state_(std::move(s)) {}
    std::unique_ptr<Session> new_session(Error& err) override {
        return OpensslSession::make_server(state_, err);
    }
    const ServerConfig& config() const noexcept override { return state_->server; }

private:
    std::shared_ptr<const ContextState> state_;
};

// Server ALPN: OpenSSL calls this only when the client sent the extension; `arg` is the
// context's state, alive as long as any session of it.
int alpn_select_cb(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                   const unsigned char* in, unsigned int inlen, void* arg) {
    const auto* st = static_cast<const ContextState*>(arg);
    if (st->server.alpn_mode == ServerAlpn::force) {
        *out = reinterpret_cast<const unsigned char*>(st->force_wire.data());
        *outlen = static_cast<unsigned char>(st->force_wire.size());
        return SSL_TLSEXT_ERR_OK;
    }
    std::optional<std::string> chosen;
    try {
        const auto offered = alpn::decode({in, inlen});
        if (!offered) return SSL_TLSEXT_ERR_ALERT_FATAL;  // malformed (OpenSSL checks it first)
        chosen = alpn::select(st->server.alpn, *offered);
    } catch (...) {  // out of memory: never let an exception cross OpenSSL's C frames
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    const auto& ours = st->server.alpn;
    if (!chosen)
        return st->server.alert_on_no_overlap ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
    // OpenSSL copies the selection later: point at our own copy, which outlives the handshake.
    const auto it = std::find(ours.begin(), ours.end(), *chosen);
    *out = reinterpret_cast<const unsigned char*>(it->data());
    *outlen = static_cast<unsigned char>(it->size());
    return SSL_TLSEXT_ERR_OK;
}

constexpr unsigned char session_id_context[] = "connmatrix";

class OpensslBackend final : public Backend {
public:
    OpensslBackend() {
        // The library's own thread-safe, idempotent initialisation.
        OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
                         nullptr);
        auto rt = std::make_shared<Runtime>();
        init_error_ = make_runtime(*rt);
        runtime_ = std::move(rt);
    }

    std::string_view name() const noexcept override { return this_backend; }
    std::string library_version() const override { return OpenSSL_version(OPENSSL_VERSION); }

    Capabilities capabilities() const noexcept override {
        Capabilities c;
        c.tls13 = true;
        c.session_resumption = true;
        c.resumed_flag = true;          // SSL_session_reused()
        c.server_force_alpn = true;     // the select callback may return any protocol
        c.server_alpn_no_alert = true;  // SSL_TLSEXT_ERR_NOACK
        c.reports_unoffered_alpn = true;
        c.early_data = false;
        return c;
    }

    std::shared_ptr<ClientContext> client_context(const ClientConfig& cfg,
                                                  Error& err) const override {
        if (init_error_) return fail(err, init_error_);
        clear_error_queue();
        if (Error e = alpn::validate(cfg.alpn)) return fail(err, std::move(e));
        auto st = std::make_shared<ContextState>();
        st->runtime = runtime_;
        st->role = Role::client;
        st->client = cfg;
        st->ctx.reset(SSL_CTX_new(TLS_client_method()));
        SSL_CTX* ctx = st->ctx.get();
        if (ctx == nullptr) return fail(err, config_error(errc::internal, "SSL_CTX_new failed"));
        if (Error e = set_versions(ctx, cfg.min_version, cfg.max_version))
            return fail(err, std::move(e));
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        // Truncation must stay an error: never SSL_OP_IGNORE_UNEXPECTED_EOF.
        SSL_CTX_clear_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
        // No renegotiation (HTTP/2 forbids it, and write() must never need to read).
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);

        if (cfg.verify) {
            if (!cfg.ca_file.empty()) {
                if (SSL_CTX_load_verify_locations(ctx, cfg.ca_file.c_str(), nullptr) != 1)
                    return fail(err, config_error(errc::invalid_config,
                                                  "cannot load CA file " + cfg.ca_file));
            } else if (Error e = load_system_trust(ctx)) {
                return fail(err, std::move(e));
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
        }

        if (!cfg.alpn.empty()) {
            const std::vector<std::uint8_t> wire = alpn::encode(cfg.alpn);
            // Note: returns 0 on success.
            if (SSL_CTX_set_alpn_protos(ctx, wire.data(), static_cast<unsigned>(wire.size())) != 0)
                return fail(err, config_error(errc::invalid_config, "cannot set the ALPN list"));
        }  // empty: no ALPN extension at all (OpenSSL sends none unless a list is set)

        // Sessions are exported per connection (SSL_get1_session); no internal client cache.
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        clear_error_queue();
        return std::make_shared<ClientCtx>(std::move(st));
    }

    std::shared_ptr<ServerContext> server_context(const ServerConfig& cfg,
                                                  Error& err) const override {
        if (init_error_) return fail(err, init_error_);
        clear_error_queue();
        if (Error e = alpn::validate(cfg.alpn)) return fail(err, std::move(e));
        auto st = std::make_shared<ContextState>();
        st->runtime = runtime_;
        st->role = Role::server;
        st->server = cfg;
        if (cfg.alpn_mode == ServerAlpn::force) {
            if (Error e = alpn::validate({cfg.force_protocol})) {
                e.detail = "force_protocol: " + e.detail;
                return fail(err, std::move(e));
            }
            st->force_wire = cfg.force_protocol;
        }
        st->ctx.reset(SSL_CTX_new(TLS_server_method()));
        SSL_CTX* ctx = st->ctx.get();
        if (ctx == nullptr) return fail(err, config_error(errc::internal, "SSL_CTX_new failed"));
        if (Error e = set_versions(ctx, cfg.min_version, cfg.max_version))
            return fail(err, std::move(e));
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_clear_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);

        if (cfg.cert_file.empty() || cfg.key_file.empty())
            return fail(err, {errc::invalid_config, "a server needs cert_file and key_file", 0,
                              std::string(this_backend)});
        if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert_file.c_str()) != 1)
            return fail(err, config_error(errc::invalid_config,
                                          "cannot load certificate chain " + cfg.cert_file));
        if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
            return fail(err, config_error(errc::invalid_config,
                                          "cannot load private key " + cfg.key_file));
        if (SSL_CTX_check_private_key(ctx) != 1)
            return fail(err, config_error(errc::invalid_config,
                                          "private key " + cfg.key_file +
                                              " does not match certificate " + cfg.cert_file));

        // ALPN. ignore: no callback, so OpenSSL never answers with the extension. An empty list
        // in prefer_server mode means the server does not speak ALPN either (as GnuTLS and
        // mbedTLS servers with no protocols set).
        const bool use_alpn =
            cfg.alpn_mode == ServerAlpn::force ||
            (cfg.alpn_mode == ServerAlpn::prefer_server && !cfg.alpn.empty());
        if (use_alpn)
            SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, st.get());

        // Resumption: the session id context ties sessions to this configuration.
        if (SSL_CTX_set_session_id_context(ctx, session_id_context,
                                           sizeof session_id_context - 1) != 1)
            return fail(err, config_error(errc::internal, "cannot set the session id context"));
        if (cfg.session_tickets) {
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
            SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
        } else {
            // No resumption at all: no TLS 1.2 tickets, no session-id cache, no TLS 1.3 tickets.
            SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
            if (SSL_CTX_set_num_tickets(ctx, 0) != 1)
                return fail(err, config_error(errc::internal, "cannot disable session tickets"));
        }
        clear_error_queue();
        return std::make_shared<ServerCtx>(std::move(st));
    }

private:
    static std::nullptr_t fail(Error& err, Error e) {
        if (e.origin.empty()) e.origin = std::string(this_backend);
        err = std::move(e);
        clear_error_queue();
        return nullptr;
    }

    std::shared_ptr<const Runtime> runtime_;
    Error init_error_;
};

}  // namespace

int to_openssl_version(Version v) noexcept {
    switch (v) {
        case Version::tls1_0: return TLS1_VERSION;
        case Version::tls1_1: return TLS1_1_VERSION;
        case Version::tls1_2: return TLS1_2_VERSION;
        case Version::tls1_3: return TLS1_3_VERSION;
        case Version::unknown: break;
    }
    return 0;
}

Version from_openssl_version(int v) noexcept {
    switch (v) {
        case TLS1_VERSION: return Version::tls1_0;
        case TLS1_1_VERSION: return Version::tls1_1;
        case TLS1_2_VERSION: return Version::tls1_2;
        case TLS1_3_VERSION: return Version::tls1_3;
        default: return Version::unknown;
    }
}

}  // namespace openssl

namespace openssl {
// The entry point the generated registry calls (backends/registry.cpp.in).
std::shared_ptr<const Backend> make_backend() { return std::make_shared<const openssl::OpensslBackend>(); }
}  // namespace openssl

}  // namespace connmatrix::tls
