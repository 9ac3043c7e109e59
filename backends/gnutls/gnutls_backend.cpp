// The GnuTLS 3.7 backend: the Backend, its client and server contexts, each credentials plus a
// priority cache built once and shared by every session.
#include "gnutls_internal.hpp"

#include "identity.hpp"

#include <string>
#include <vector>

namespace connmatrix::tls::gnutls {
namespace {

// GnuTLS keeps a reference count for gnutls_global_init() (thread-safe since 3.3); the backend
// and every engine hold one, so the library stays initialised while any of them lives.
struct LibraryRef {
    int rc = gnutls_global_init();
    LibraryRef() = default;
    LibraryRef(const LibraryRef&) = delete;
    LibraryRef& operator=(const LibraryRef&) = delete;
    ~LibraryRef() {
        if (rc >= 0) gnutls_global_deinit();
    }
};

std::string_view priority_token(Version v) noexcept {
    switch (v) {
        case Version::tls1_0: return "+VERS-TLS1.0";
        case Version::tls1_1: return "+VERS-TLS1.1";
        case Version::tls1_2: return "+VERS-TLS1.2";
        case Version::tls1_3: return "+VERS-TLS1.3";
        case Version::unknown: break;
    }
    return {};
}

// "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" for [min, max].
Error make_priority(Version min, Version max, PriorityHandle& out) {
    std::string p = "NORMAL:-VERS-ALL";
    for (auto v = static_cast<int>(max); v >= static_cast<int>(min); --v)
        p += ":" + std::string(priority_token(static_cast<Version>(v)));
    gnutls_priority_t raw = nullptr;
    const char* where = nullptr;
    const int r = gnutls_priority_init(&raw, p.c_str(), &where);
    if (r < 0)
        return library_error(errc::unsupported, r,
                             "priority \"" + p + "\"" + (where ? " at \"" + std::string(where) + "\"" : ""));
    out.reset(raw);
    return {};
}

Error make_credentials(CredentialsHandle& out) {
    gnutls_certificate_credentials_t raw = nullptr;
    const int r = gnutls_certificate_allocate_credentials(&raw);
    if (r < 0) return library_error(errc::internal, r, "gnutls_certificate_allocate_credentials");
    out.reset(raw);
    return {};
}

// Debian's bundle, for when GnuTLS was built without a default trust store.
constexpr const char* system_bundle = "/etc/ssl/certs/ca-certificates.crt";

Error load_trust(gnutls_certificate_credentials_t cred, const std::string& ca_file) {
    if (!ca_file.empty()) {
        const int r = gnutls_certificate_set_x509_trust_file(cred, ca_file.c_str(), GNUTLS_X509_FMT_PEM);
        if (r < 0) return library_error(errc::invalid_config, r, "ca_file " + ca_file);
        if (r == 0)
            return {errc::invalid_config, "ca_file " + ca_file + " holds no certificate", 0,
                    std::string(backend_name)};
        return {};
    }
    const int r = gnutls_certificate_set_x509_system_trust(cred);
    if (r > 0) return {};
    const int b = gnutls_certificate_set_x509_trust_file(cred, system_bundle, GNUTLS_X509_FMT_PEM);
    if (b > 0) return {};
    return library_error(errc::invalid_config, r < 0 ? r : b,
                         std::string("no system trust store (gnutls_certificate_set_x509_system_trust, ") +
                             system_bundle + "); set ca_file");
}

// The client certificate (mutual TLS), sent whenever a server asks (the sessions are made with
// GNUTLS_FORCE_CLIENT_CERT: whatever CAs the server names). The core read and checked the
// files; GnuTLS parses the PEM from memory, decrypts the key and checks that it matches.
Error use_client_identity(gnutls_certificate_credentials_t cred, const ClientConfig& cfg) {
    Error err;
    const auto id = detail::load_client_identity(cfg, err);
    if (!id) return err;  // none configured, or the core's verdict
    const auto datum = [](const char* p, std::size_t n) {
        return gnutls_datum_t{reinterpret_cast<unsigned char*>(const_cast<char*>(p)),
                              static_cast<unsigned>(n)};
    };
    const gnutls_datum_t cert = datum(id->cert_pem.data(), id->cert_pem.size());
    const gnutls_datum_t key = datum(id->key_pem.c_str(), id->key_pem.size());
    const int r = gnutls_certificate_set_x509_key_mem2(
        cred, &cert, &key, GNUTLS_X509_FMT_PEM,
        id->password.empty() ? nullptr : id->password.c_str(), 0);
    if (r >= 0) return {};
    using P = detail::ClientIdentity::Problem;
    const P p = r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH ? P::key_mismatch
                : id->encrypted                         ? P::wrong_password
                                                        : P::unusable_key;
    return library_error(errc::invalid_config, r, id->describe(p));
}

using ClientContextImpl = ClientContextOf<ClientEngine, make_client_session>;
using ServerContextImpl = ServerContextOf<ServerEngine, make_server_session>;

class BackendImpl final : public Backend {
public:
    BackendImpl() : Backend(std::string(backend_name), capabilities_of()) {}

private:
    static Capabilities capabilities_of() {
        Capabilities c;
        c.tls13 = true;               // GnuTLS >= 3.6.5
        c.server_force_alpn = false;  // the server picks only from the client's offer, and the
                                      // built-in ALPN extension cannot be replaced
        c.max_alpn_protocols = max_alpn_protocols;
        c.max_alpn_name = max_alpn_name;
        c.early_data = true;
        return c;
    }

    std::string do_library_version() const override {
        const char* v = gnutls_check_version(nullptr);
        return std::string("GnuTLS ") + (v ? v : "unknown");
    }

    // The key log is written per session (gnutls_session.cpp), through the core.
    std::shared_ptr<ClientContext> do_client_context(const ClientConfig& cfg,
                                                     const detail::ClientContextSetup& /*setup*/,
                                                     Error& err) const override {
        if (lib_->rc < 0) return fail(err, library_error(errc::internal, lib_->rc, "gnutls_global_init"));
        auto eng = std::make_shared<ClientEngine>();
        eng->library = lib_;
        if (Error e = make_priority(cfg.min_version, cfg.max_version, eng->priority)) return fail(err, e);
        if (Error e = make_credentials(eng->cred)) return fail(err, e);
        if (cfg.verify)
            if (Error e = load_trust(eng->cred.get(), cfg.ca_file)) return fail(err, e);
        if (Error e = use_client_identity(eng->cred.get(), cfg)) return fail(err, e);
        return std::make_shared<ClientContextImpl>(*this, cfg, std::move(eng));
    }

    std::shared_ptr<ServerContext> do_server_context(const ServerConfig& cfg,
                                                     Error& err) const override {
        if (lib_->rc < 0) return fail(err, library_error(errc::internal, lib_->rc, "gnutls_global_init"));
        auto eng = std::make_shared<ServerEngine>();
        eng->library = lib_;
        if (Error e = make_priority(cfg.min_version, cfg.max_version, eng->priority)) return fail(err, e);
        if (Error e = make_credentials(eng->cred)) return fail(err, e);
        const int r = gnutls_certificate_set_x509_key_file2(eng->cred.get(), cfg.cert_file.c_str(),
                                                            cfg.key_file.c_str(),
                                                            GNUTLS_X509_FMT_PEM, nullptr, 0);
        if (r < 0)
            return fail(err, library_error(errc::invalid_config, r,
                                           "cert_file " + cfg.cert_file + ", key_file " + cfg.key_file));
        // Client certificates (mutual TLS): verified against client_ca_file, whose CA names the
        // CertificateRequest carries.
        if (!cfg.client_ca_file.empty()) {
            const int t = gnutls_certificate_set_x509_trust_file(
                eng->cred.get(), cfg.client_ca_file.c_str(), GNUTLS_X509_FMT_PEM);
            if (t <= 0)
                return fail(err, library_error(errc::invalid_config, t,
                                               "client_ca_file " + cfg.client_ca_file +
                                                   (t == 0 ? " holds no certificate" : "")));
        }
        if (cfg.session_tickets) {
            const int k = gnutls_session_ticket_key_generate(eng->ticket_key.out());
            if (k < 0)
                return fail(err, library_error(errc::internal, k, "gnutls_session_ticket_key_generate"));
        }
        if (cfg.max_early_data > 0) {  // GnuTLS accepts no early data without anti-replay
            gnutls_anti_replay_t raw = nullptr;
            const int a = gnutls_anti_replay_init(&raw);
            if (a < 0)
                return fail(err, library_error(errc::internal, a, "gnutls_anti_replay_init"));
            eng->anti_replay.reset(raw);
            eng->replay_store = std::make_unique<ReplayStore>();
            gnutls_anti_replay_set_add_function(raw, &ReplayStore::add);
            gnutls_anti_replay_set_ptr(raw, eng->replay_store.get());
        }
        return std::make_shared<ServerContextImpl>(*this, cfg, std::move(eng));
    }

    static std::nullptr_t fail(Error& err, Error e) {
        err = std::move(e);
        return nullptr;
    }

    std::shared_ptr<const LibraryRef> lib_ = std::make_shared<const LibraryRef>();
};

}  // namespace

int ReplayStore::add(void* self, std::time_t expires, const gnutls_datum_t* key,
                     const gnutls_datum_t* /*entry*/) {
    auto* store = static_cast<ReplayStore*>(self);
    if (store == nullptr || key == nullptr || key->data == nullptr) return GNUTLS_E_INVALID_REQUEST;
    try {
        const std::lock_guard<std::mutex> lock(store->mutex_);
        const std::time_t now = std::time(nullptr);
        if (store->seen_.size() >= 1024)  // forget what the window no longer covers
            for (auto it = store->seen_.begin(); it != store->seen_.end();)
                it = it->second < now ? store->seen_.erase(it) : std::next(it);
        const bool fresh = store->seen_
                               .emplace(std::string(reinterpret_cast<const char*>(key->data),
                                                    key->size),
                                        expires)
                               .second;
        return fresh ? 0 : GNUTLS_E_DB_ENTRY_EXISTS;
    } catch (...) {  // out of memory: refuse the early data, the handshake goes on
        return GNUTLS_E_MEMORY_ERROR;
    }
}

Version from_library_version(gnutls_protocol_t p) noexcept {
    switch (p) {
        case GNUTLS_TLS1_0: return Version::tls1_0;
        case GNUTLS_TLS1_1: return Version::tls1_1;
        case GNUTLS_TLS1_2: return Version::tls1_2;
        case GNUTLS_TLS1_3: return Version::tls1_3;
        default: return Version::unknown;
    }
}

// The entry point the generated registry calls (backends/registry.cpp.in).
std::shared_ptr<const Backend> make_backend() { return std::make_shared<const BackendImpl>(); }

}  // namespace connmatrix::tls::gnutls
