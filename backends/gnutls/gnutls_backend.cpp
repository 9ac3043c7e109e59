// The GnuTLS tls::Backend and its client and server contexts: configuration is checked and
// turned into GnuTLS credentials and a priority cache once, then shared by every session.
#include "gnutls_internal.hpp"

#include "alpn.hpp"


#include <string>

namespace connmatrix::tls {
namespace gtls {
namespace {

// GnuTLS keeps a reference count for gnutls_global_init() (thread-safe since 3.3); the backend
// and every context's state hold one, so the library stays initialised while any of them lives.
struct LibraryRef {
    int rc = gnutls_global_init();
    LibraryRef() = default;
    LibraryRef(const LibraryRef&) = delete;
    LibraryRef& operator=(const LibraryRef&) = delete;
    ~LibraryRef() {
        if (rc >= 0) gnutls_global_deinit();
    }
};

Error config_error(errc code, std::string detail) {
    return {make_error_code(code), std::move(detail), 0, std::string(gnutls_name)};
}

// RFC 7301 validity (shared code), then what GnuTLS can carry.
Error check_alpn(const std::vector<std::string>& protocols) {
    if (Error e = alpn::validate(protocols)) return e;
    if (protocols.size() > max_alpn_protocols)
        return config_error(errc::unsupported,
                            "GnuTLS accepts at most " + std::to_string(max_alpn_protocols) +
                                " ALPN protocols, " + std::to_string(protocols.size()) + " given");
    for (const auto& p : protocols)
        if (p.size() > max_alpn_name)
            return config_error(errc::unsupported, "GnuTLS accepts ALPN names of at most " +
                                                       std::to_string(max_alpn_name) +
                                                       " bytes; \"" + p + "\" is " +
                                                       std::to_string(p.size()));
    return {};
}

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
    if (min == Version::unknown || max == Version::unknown)
        return config_error(errc::invalid_config, "min_version and max_version must name a TLS version");
    if (min > max)
        return config_error(errc::invalid_config, "min_version " + std::string(to_string(min)) +
                                                      " is above max_version " +
                                                      std::string(to_string(max)));
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
            return config_error(errc::invalid_config, "ca_file " + ca_file + " holds no certificate");
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

class GnutlsClientContext final : public ClientContext {
public:
    explicit GnutlsClientContext(std::shared_ptr<const ClientState> s) : state_(std::move(s)) {}
    std::unique_ptr<Session> new_session(const ClientSessionParams& params, Error& err) override {
        return new_client_session(state_, params, err);
    }
    const ClientConfig& config() const noexcept override { return state_->cfg; }

private:
    std::shared_ptr<const ClientState> state_;
};

class GnutlsServerContext final : public ServerContext {
public:
    explicit GnutlsServerContext(std::shared_ptr<const ServerState> s) : state_(std::move(s)) {}
    std::unique_ptr<Session> new_session(Error& err) override {
        return new_server_session(state_, err);
    }
    const ServerConfig& config() const noexcept override { return state_->cfg; }

private:
    std::shared_ptr<const ServerState> state_;
};

class GnutlsBackend final : public Backend {
public:
    std::string_view name() const noexcept override { return gnutls_name; }

    std::string library_version() const override {
        const char* v = gnutls_check_version(nullptr);
        return std::string("GnuTLS ") + (v ? v : "unknown");
    }

    Capabilities capabilities() const noexcept override {
        Capabilities c;
        c.tls13 = true;                  // GnuTLS >= 3.6.5
        c.session_resumption = true;     // gnutls_session_get_data2 / set_data, tickets
        c.resumed_flag = true;           // gnutls_session_is_resumed
        c.server_force_alpn = false;     // the server picks only from the intersection, and the
                                         // built-in ALPN extension cannot be overridden
        c.server_alpn_no_alert = true;   // without GNUTLS_ALPN_MANDATORY it goes on without ALPN
        c.reports_unoffered_alpn = true; // our handshake hook sees the raw selection and fails
                                         // with alpn_not_offered (GnuTLS alone would drop it)
        c.early_data = false;
        return c;
    }

    std::shared_ptr<ClientContext> client_context(const ClientConfig& cfg, Error& err) const override {
        if (lib_->rc < 0) {
            err = library_error(errc::internal, lib_->rc, "gnutls_global_init");
            return nullptr;
        }
        auto st = std::make_shared<ClientState>();
        st->library = lib_;
        st->cfg = cfg;
        if (Error e = check_alpn(cfg.alpn)) return fail(err, std::move(e));
        if (Error e = make_priority(cfg.min_version, cfg.max_version, st->priority))
            return fail(err, std::move(e));
        if (Error e = make_credentials(st->cred)) return fail(err, std::move(e));
        if (cfg.verify)
            if (Error e = load_trust(st->cred.get(), cfg.ca_file)) return fail(err, std::move(e));
        return std::make_shared<GnutlsClientContext>(std::move(st));
    }

    std::shared_ptr<ServerContext> server_context(const ServerConfig& cfg, Error& err) const override {
        if (lib_->rc < 0) {
            err = library_error(errc::internal, lib_->rc, "gnutls_global_init");
            return nullptr;
        }
        if (cfg.alpn_mode == ServerAlpn::force) {
            err = config_error(
                errc::unsupported,
                "a GnuTLS server cannot select an ALPN protocol the client did not offer: it "
                "chooses only from the intersection of both lists, and its built-in ALPN "
                "extension cannot be replaced (gnutls_session_ext_register)");
            return nullptr;
        }
        auto st = std::make_shared<ServerState>();
        st->library = lib_;
        st->cfg = cfg;
        if (cfg.alpn_mode == ServerAlpn::prefer_server)
            if (Error e = check_alpn(cfg.alpn)) return fail(err, std::move(e));
        if (cfg.cert_file.empty() || cfg.key_file.empty())
            return fail(err, config_error(errc::invalid_config, "a server needs cert_file and key_file"));
        if (Error e = make_priority(cfg.min_version, cfg.max_version, st->priority))
            return fail(err, std::move(e));
        if (Error e = make_credentials(st->cred)) return fail(err, std::move(e));
        const int r = gnutls_certificate_set_x509_key_file2(st->cred.get(), cfg.cert_file.c_str(),
                                                            cfg.key_file.c_str(),
                                                            GNUTLS_X509_FMT_PEM, nullptr, 0);
        if (r < 0)
            return fail(err, library_error(errc::invalid_config, r,
                                           "cert_file " + cfg.cert_file + ", key_file " + cfg.key_file));
        if (cfg.session_tickets) {
            const int k = gnutls_session_ticket_key_generate(st->ticket_key.out());
            if (k < 0)
                return fail(err, library_error(errc::internal, k, "gnutls_session_ticket_key_generate"));
        }
        return std::make_shared<GnutlsServerContext>(std::move(st));
    }

private:
    static std::nullptr_t fail(Error& err, Error e) {
        err = std::move(e);
        return nullptr;
    }

    std::shared_ptr<const LibraryRef> lib_ = std::make_shared<const LibraryRef>();
};

}  // namespace
}  // namespace gtls

namespace gnutls {
// The entry point the generated registry calls (backends/registry.cpp.in).
std::shared_ptr<const Backend> make_backend() { return std::make_shared<const gtls::GnutlsBackend>(); }
}  // namespace gnutls

}  // namespace connmatrix::tls
