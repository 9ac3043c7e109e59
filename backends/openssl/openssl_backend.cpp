// The OpenSSL 3 backend: the Backend, its client and server contexts, each an SSL_CTX.
#include "openssl_internal.hpp"

#include "alpn.hpp"
#include "identity.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>

#include <cstring>

#include <filesystem>

namespace connmatrix::tls::openssl {
namespace {

constexpr unsigned char session_id_context[] = "connmatrix";

// The system trust store: OpenSSL's default paths (SSL_CERT_FILE / SSL_CERT_DIR, else
// OPENSSLDIR/cert.pem and OPENSSLDIR/certs, which Debian links to /etc/ssl/certs). An OpenSSL
// built with another OPENSSLDIR may find nothing there: then the usual distribution bundles.
Error load_system_trust(SSL_CTX* ctx) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1)
        return library_error(errc::invalid_config, "cannot load the system trust store");
    std::error_code ec;
    if (std::filesystem::exists(X509_get_default_cert_file(), ec)) return {};
    for (const char* bundle : {"/etc/ssl/certs/ca-certificates.crt",
                               "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}) {
        if (std::filesystem::exists(bundle, ec)) {
            if (SSL_CTX_load_verify_locations(ctx, bundle, nullptr) != 1)
                return library_error(errc::invalid_config,
                                     std::string("cannot load the system trust store ") + bundle);
            return {};
        }
    }
    return {};  // the default directory may still hold hashed certificates
}

// What every SSL_CTX gets: versions, no renegotiation, truncation stays an error.
Error common_setup(SSL_CTX* ctx, Version min, Version max) {
    const int lo = to_library_version(min), hi = to_library_version(max);
    if (SSL_CTX_set_min_proto_version(ctx, lo) != 1 || SSL_CTX_set_max_proto_version(ctx, hi) != 1)
        return library_error(errc::invalid_config, "cannot set the TLS version range");
    // OpenSSL 3 refuses TLS 1.0/1.1 at security level 1 and above (their handshake signatures
    // use SHA-1/MD5). Only a configuration that explicitly asks for them gets level 0.
    if (lo < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_clear_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);  // never: truncation is an error
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);  // HTTP/2 forbids it; write never reads
    return {};
}

// The key's passphrase, from the core's Secret; 0 (no passphrase) rather than ever prompting.
int passphrase_cb(char* buf, int size, int /*rwflag*/, void* u) {
    const auto* pw = static_cast<const detail::Secret*>(u);
    if (pw == nullptr || pw->empty() || size < 0 || pw->size() > static_cast<std::size_t>(size))
        return 0;
    std::memcpy(buf, pw->c_str(), pw->size());
    return static_cast<int>(pw->size());
}

// The client certificate (mutual TLS), sent whenever a server asks: the core read and checked
// the files; OpenSSL parses the PEM from memory.
Error use_client_identity(SSL_CTX* ctx, const ClientConfig& cfg) {
    Error err;
    const auto id = detail::load_client_identity(cfg, err);
    if (!id) return err;  // none configured, or the core's verdict
    using P = detail::ClientIdentity::Problem;
    BioPtr certs(BIO_new_mem_buf(id->cert_pem.data(), static_cast<int>(id->cert_pem.size())));
    X509Ptr leaf(certs ? PEM_read_bio_X509_AUX(certs.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf.get()) != 1)
        return library_error(errc::invalid_config, id->describe(P::unusable_certificate));
    while (X509Ptr extra{PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)}) {
        if (SSL_CTX_add1_chain_cert(ctx, extra.get()) != 1)
            return library_error(errc::invalid_config, id->describe(P::unusable_certificate));
    }
    clear_error_queue();  // the end of the chain: "no start line"
    BioPtr keys(BIO_new_mem_buf(id->key_pem.c_str(), static_cast<int>(id->key_pem.size())));
    EvpPkeyPtr key(keys ? PEM_read_bio_PrivateKey(keys.get(), nullptr, passphrase_cb,
                                                  const_cast<detail::Secret*>(&id->password))
                        : nullptr);
    if (!key)
        return library_error(errc::invalid_config,
                             id->describe(id->encrypted ? P::wrong_password : P::unusable_key));
    if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        return library_error(errc::invalid_config, id->describe(P::key_mismatch));
    return {};
}

// Client certificates (mutual TLS): ask for one, naming the CAs of client_ca_file, and verify
// it against them; without one the handshake fails when it is required.
Error request_client_certificates(SSL_CTX* ctx, const ServerConfig& cfg) {
    const std::string& file = cfg.client_ca_file;
    if (SSL_CTX_load_verify_locations(ctx, file.c_str(), nullptr) != 1)
        return library_error(errc::invalid_config, "cannot load client_ca_file " + file);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(file.c_str());
    if (names == nullptr)
        return library_error(errc::invalid_config,
                             "cannot read the CA names of client_ca_file " + file);
    SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
    const int required = cfg.require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | required, nullptr);
    return {};
}

using ClientContextImpl = ClientContextOf<ClientEngine, make_client_session>;
using ServerContextImpl = ServerContextOf<ServerEngine, make_server_session>;

class BackendImpl final : public Backend {
public:
    BackendImpl() : Backend(std::string(backend_name), capabilities_of()) {
        // The library's own thread-safe, idempotent initialisation.
        OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr);
        auto rt = std::make_shared<Runtime>();
        init_error_ = make_runtime(*rt);
        runtime_ = std::move(rt);
    }

private:
    static Capabilities capabilities_of() {
        Capabilities c;
        c.tls13 = true;
        c.server_force_alpn = true;  // the select callback may return any protocol
        c.early_data = true;
        return c;
    }

    std::string do_library_version() const override { return OpenSSL_version(OPENSSL_VERSION); }

    std::shared_ptr<ClientContext> do_client_context(const ClientConfig& cfg,
                                                     const detail::ClientContextSetup& setup,
                                                     Error& err) const override {
        if ((err = init_error_)) return nullptr;
        clear_error_queue();
        auto eng = std::make_shared<ClientEngine>();
        eng->runtime = runtime_;
        eng->ctx.reset(SSL_CTX_new(TLS_client_method()));
        SSL_CTX* ctx = eng->ctx.get();
        if (ctx == nullptr) return fail(err, library_error(errc::internal, "SSL_CTX_new failed"));
        if (Error e = common_setup(ctx, cfg.min_version, cfg.max_version)) return fail(err, e);
        if (cfg.verify) {
            if (!cfg.ca_file.empty()) {
                if (SSL_CTX_load_verify_locations(ctx, cfg.ca_file.c_str(), nullptr) != 1)
                    return fail(err, library_error(errc::invalid_config,
                                                   "cannot load CA file " + cfg.ca_file));
            } else if (Error e = load_system_trust(ctx)) {
                return fail(err, e);
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
        }
        if (!cfg.alpn.empty()) {  // empty: OpenSSL sends no ALPN extension at all
            const std::vector<std::uint8_t> wire = alpn::encode(cfg.alpn);
            if (SSL_CTX_set_alpn_protos(ctx, wire.data(), static_cast<unsigned>(wire.size())) != 0)
                return fail(err, library_error(errc::invalid_config, "cannot set the ALPN list"));
        }
        if (Error e = use_client_identity(ctx, cfg)) return fail(err, e);
        // Sessions are exported per connection (SSL_get1_session); no internal client cache.
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        if (setup.keylog) SSL_CTX_set_keylog_callback(ctx, keylog_callback);
        clear_error_queue();
        return std::make_shared<ClientContextImpl>(*this, cfg, std::move(eng));
    }

    std::shared_ptr<ServerContext> do_server_context(const ServerConfig& cfg,
                                                     Error& err) const override {
        if ((err = init_error_)) return nullptr;
        clear_error_queue();
        auto eng = std::make_shared<ServerEngine>();
        eng->runtime = runtime_;
        eng->ctx.reset(SSL_CTX_new(TLS_server_method()));
        SSL_CTX* ctx = eng->ctx.get();
        if (ctx == nullptr) return fail(err, library_error(errc::internal, "SSL_CTX_new failed"));
        if (Error e = common_setup(ctx, cfg.min_version, cfg.max_version)) return fail(err, e);
        if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert_file.c_str()) != 1)
            return fail(err, library_error(errc::invalid_config,
                                           "cannot load certificate chain " + cfg.cert_file));
        if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
            return fail(err, library_error(errc::invalid_config,
                                           "cannot load private key " + cfg.key_file));
        if (SSL_CTX_check_private_key(ctx) != 1)
            return fail(err, library_error(errc::invalid_config,
                                           "private key " + cfg.key_file +
                                               " does not match certificate " + cfg.cert_file));
        if (!cfg.client_ca_file.empty())
            if (Error e = request_client_certificates(ctx, cfg)) return fail(err, e);
        // OpenSSL calls this only when the client sent the extension; the core answers.
        SSL_CTX_set_alpn_select_cb(ctx, server_alpn_callback, nullptr);
        // Resumption: the session id context ties sessions to this configuration.
        if (SSL_CTX_set_session_id_context(ctx, session_id_context,
                                           sizeof session_id_context - 1) != 1)
            return fail(err, library_error(errc::internal, "cannot set the session id context"));
        if (cfg.session_tickets) {
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
            SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
        } else {
            // No resumption at all: no TLS 1.2 tickets, no session-id cache, no TLS 1.3 tickets.
            SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
            if (SSL_CTX_set_num_tickets(ctx, 0) != 1)
                return fail(err, library_error(errc::internal, "cannot disable session tickets"));
        }
        // Early data: tickets then allow as much. With SSL_OP_NO_ANTI_REPLAY unset (the
        // default) OpenSSL issues them stateful and single use, through the session cache.
        const std::uint32_t early = cfg.max_early_data;
        if (early > 0 && (SSL_CTX_set_max_early_data(ctx, early) != 1 ||
                          SSL_CTX_set_recv_max_early_data(ctx, early) != 1))
            return fail(err, library_error(errc::internal, "cannot set max_early_data"));
        clear_error_queue();
        return std::make_shared<ServerContextImpl>(*this, cfg, std::move(eng));
    }

    static std::nullptr_t fail(Error& err, Error e) {
        err = std::move(e);
        clear_error_queue();
        return nullptr;
    }

    std::shared_ptr<const Runtime> runtime_;
    Error init_error_;
};

}  // namespace

int to_library_version(Version v) noexcept {
    switch (v) {
        case Version::tls1_0: return TLS1_VERSION;
        case Version::tls1_1: return TLS1_1_VERSION;
        case Version::tls1_2: return TLS1_2_VERSION;
        case Version::tls1_3: return TLS1_3_VERSION;
        case Version::unknown: break;
    }
    return 0;
}

Version from_library_version(int v) noexcept {
    switch (v) {
        case TLS1_VERSION: return Version::tls1_0;
        case TLS1_1_VERSION: return Version::tls1_1;
        case TLS1_2_VERSION: return Version::tls1_2;
        case TLS1_3_VERSION: return Version::tls1_3;
        default: return Version::unknown;
    }
}

// The entry point the generated registry calls (backends/registry.cpp.in).
std::shared_ptr<const Backend> make_backend() { return std::make_shared<const BackendImpl>(); }

}  // namespace connmatrix::tls::openssl
