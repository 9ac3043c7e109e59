// The mbedTLS 2.28 backend: the Backend factory, client and server contexts.
//
// mbedTLS 2.28 speaks TLS 1.0-1.2 here (its TLS 1.3 is experimental and not in Debian's build):
// capabilities().tls13 is false, a max_version of TLS 1.3 means TLS 1.2, and a min_version of
// TLS 1.3 is errc::unsupported when the context is created. Debian's build enables TLS 1.0 and
// 1.1, so the minimum is always set explicitly (TLS 1.2 unless the config asks for less).
#include "mbedtls_internal.hpp"

#include "alpn.hpp"

#include <mbedtls/version.h>

#include <algorithm>
#include <array>
#include <string_view>

namespace connmatrix::tls {
namespace mbed {
namespace {

// The system trust store: Debian's bundle, else the directory of hashed certificates.
constexpr std::string_view system_ca_bundle = "/etc/ssl/certs/ca-certificates.crt";
constexpr std::string_view system_ca_dir = "/etc/ssl/certs";

// The minor version number mbedTLS uses for a protocol version (major is always 3).
int minor_of(Version v) noexcept {
    switch (v) {
        case Version::tls1_0: return MBEDTLS_SSL_MINOR_VERSION_1;
        case Version::tls1_1: return MBEDTLS_SSL_MINOR_VERSION_2;
        case Version::tls1_2:
        case Version::tls1_3: return MBEDTLS_SSL_MINOR_VERSION_3;  // 1.3: capped to 1.2
        case Version::unknown: break;
    }
    return -1;
}

Error check_versions(Version min, Version max) {
    if (min == Version::unknown || max == Version::unknown)
        return make_plain_error(errc::invalid_config, "min_version and max_version must be set");
    if (min == Version::tls1_3)
        return make_plain_error(errc::unsupported,
                                "min_version TLSv1.3: mbedTLS 2.28 cannot negotiate TLS 1.3 "
                                "(its TLS 1.3 support is experimental and not built in)");
    if (min > max)
        return make_plain_error(errc::invalid_config,
                                "min_version " + std::string(to_string(min)) +
                                    " is above max_version " + std::string(to_string(max)));
    return {};
}

// RFC 7301 allows any byte in a protocol name, NUL included; mbedTLS takes C strings.
Error check_alpn_names(const std::vector<std::string>& names, std::string_view what) {
    if (Error e = alpn::validate(names)) {
        e.detail = std::string(what) + ": " + e.detail;
        return e;
    }
    for (const auto& n : names)
        if (n.find('\0') != std::string::npos)
            return make_plain_error(errc::unsupported,
                                    std::string(what) +
                                        ": mbedTLS takes ALPN names as C strings and cannot "
                                        "carry a name containing a NUL byte");
    return {};
}

// Points `eng`'s null-terminated ALPN array at its own copies of the names.
void own_alpn(Engine& eng, const std::vector<std::string>& names) {
    eng.alpn_names = names;
    eng.alpn_ptrs.clear();
    for (const auto& n : eng.alpn_names) eng.alpn_ptrs.push_back(n.c_str());
    eng.alpn_ptrs.push_back(nullptr);
}

Error seed(Engine& eng, std::string_view personalisation) {
    const int ret = mbedtls_ctr_drbg_seed(
        eng.drbg.get(), mbedtls_entropy_func, eng.entropy.get(),
        reinterpret_cast<const unsigned char*>(personalisation.data()), personalisation.size());
    if (ret != 0) return make_error(errc::internal, ret, "seeding the CTR-DRBG");
    return {};
}

void set_versions(Engine& eng, Version min, Version max) {
    mbedtls_ssl_conf_min_version(eng.conf.get(), MBEDTLS_SSL_MAJOR_VERSION_3, minor_of(min));
    mbedtls_ssl_conf_max_version(eng.conf.get(), MBEDTLS_SSL_MAJOR_VERSION_3, minor_of(max));
}

// True when `crt` holds at least one parsed certificate.
bool has_certificate(const mbedtls_x509_crt* crt) noexcept { return crt->version != 0; }

Error load_trust(ClientEngine& eng) {
    const std::string& file = eng.config.ca_file;
    if (!file.empty()) {
        const int ret = mbedtls_x509_crt_parse_file(eng.ca.get(), file.c_str());
        if (ret < 0) return make_error(errc::invalid_config, ret, "CA file " + file);
        if (!has_certificate(eng.ca.get()))
            return make_plain_error(errc::invalid_config,
                                    "CA file " + file + " holds no usable certificate");
        return {};
    }
    // Individual entries mbedTLS cannot parse are skipped (a positive return counts them).
    int ret = mbedtls_x509_crt_parse_file(eng.ca.get(), std::string(system_ca_bundle).c_str());
    if (ret >= 0 && has_certificate(eng.ca.get())) return {};
    ret = mbedtls_x509_crt_parse_path(eng.ca.get(), std::string(system_ca_dir).c_str());
    if (ret >= 0 && has_certificate(eng.ca.get())) return {};
    return make_error(errc::invalid_config, ret < 0 ? ret : 0,
                      "no system trust store: neither " + std::string(system_ca_bundle) +
                          " nor " + std::string(system_ca_dir) +
                          " gave a certificate (set ca_file)");
}

class MbedClientContext final : public ClientContext {
public:
    explicit MbedClientContext(std::shared_ptr<const ClientEngine> e) : engine_(std::move(e)) {}
    std::unique_ptr<Session> new_session(const ClientSessionParams& params, Error& err) override {
        return make_client_session(engine_, params, err);
    }
    const ClientConfig& config() const noexcept override { return engine_->config; }

private:
    std::shared_ptr<const ClientEngine> engine_;
};

class MbedServerContext final : public ServerContext {
public:
    explicit MbedServerContext(std::shared_ptr<const ServerEngine> e) : engine_(std::move(e)) {}
    std::unique_ptr<Session> new_session(Error& err) override {
        return make_server_session(engine_, err);
    }
    const ServerConfig& config() const noexcept override { return engine_->config; }

private:
    std::shared_ptr<const ServerEngine> engine_;
};

class MbedBackend final : public Backend {
public:
    std::string_view name() const noexcept override { return backend_name; }

    std::string library_version() const override {
        std::array<char, 64> buf{};  // the API wants at least 18 bytes
        mbedtls_version_get_string_full(buf.data());
        return buf.data();
    }

    Capabilities capabilities() const noexcept override {
        Capabilities c;
        c.tls13 = false;                 // 2.28: TLS 1.2 at most
        c.session_resumption = true;     // tickets (RFC 5077) both ways, session export/import
        c.resumed_flag = true;           // read from the handshake state before it is freed
        c.server_force_alpn = true;      // we set the selection after the ClientHello is parsed
        c.server_alpn_no_alert = true;   // ditto: we select ourselves, and may select nothing
        c.reports_unoffered_alpn = true; // the client rejects it: errc::alpn_not_offered
        c.early_data = false;
        return c;
    }

    std::shared_ptr<ClientContext> client_context(const ClientConfig& cfg,
                                                  Error& err) const override {
        try {
            return make_client(cfg, err);
        } catch (const std::bad_alloc&) {
            err = make_plain_error(errc::internal, "out of memory");
            return nullptr;
        }
    }

    std::shared_ptr<ServerContext> server_context(const ServerConfig& cfg,
                                                  Error& err) const override {
        try {
            return make_server(cfg, err);
        } catch (const std::bad_alloc&) {
            err = make_plain_error(errc::internal, "out of memory");
            return nullptr;
        }
    }

private:
    static std::shared_ptr<ClientContext> make_client(const ClientConfig& cfg, Error& err) {
        if ((err = check_alpn_names(cfg.alpn, "ALPN offer"))) return nullptr;
        if ((err = check_versions(cfg.min_version, cfg.max_version))) return nullptr;

        auto eng = std::make_shared<ClientEngine>();
        eng->config = cfg;
        if ((err = seed(*eng, "connmatrix mbedtls client"))) return nullptr;

        mbedtls_ssl_config* conf = eng->conf.get();
        if (const int ret = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT,
                                                        MBEDTLS_SSL_TRANSPORT_STREAM,
                                                        MBEDTLS_SSL_PRESET_DEFAULT)) {
            err = make_error(errc::internal, ret, "mbedtls_ssl_config_defaults");
            return nullptr;
        }
        mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, eng->drbg.get());
        set_versions(*eng, cfg.min_version, cfg.max_version);

        if (cfg.verify) {
            if ((err = load_trust(*eng))) return nullptr;
            mbedtls_ssl_conf_ca_chain(conf, eng->ca.get(), nullptr);
            mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
        } else {
            mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
        }

        // An empty offer means no ALPN extension at all: leave the list unset.
        if (!cfg.alpn.empty()) {
            own_alpn(*eng, cfg.alpn);
            if (const int ret = mbedtls_ssl_conf_alpn_protocols(conf, eng->alpn_ptrs.data())) {
                err = make_error(errc::invalid_config, ret, "ALPN offer");
                return nullptr;
            }
        }
        mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
        mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
        return std::make_shared<MbedClientContext>(std::move(eng));
    }

    static std::shared_ptr<ServerContext> make_server(const ServerConfig& cfg, Error& err) {
        if ((err = check_alpn_names(cfg.alpn, "server ALPN list"))) return nullptr;
        if (cfg.alpn_mode == ServerAlpn::force &&
            (err = check_alpn_names({cfg.force_protocol}, "force_protocol")))
            return nullptr;
        if ((err = check_versions(cfg.min_version, cfg.max_version))) return nullptr;

        auto eng = std::make_shared<ServerEngine>();
        eng->config = cfg;
        if ((err = seed(*eng, "connmatrix mbedtls server"))) return nullptr;

        if (const int ret = mbedtls_x509_crt_parse_file(eng->cert.get(), cfg.cert_file.c_str());
            ret != 0) {
            err = ret < 0 ? make_error(errc::invalid_config, ret, "certificate file " + cfg.cert_file)
                          : make_plain_error(errc::invalid_config,
                                             "certificate file " + cfg.cert_file + ": " +
                                                 std::to_string(ret) +
                                                 " certificate(s) could not be parsed");
            return nullptr;
        }
        if (const int ret = mbedtls_pk_parse_keyfile(eng->key.get(), cfg.key_file.c_str(), nullptr)) {
            err = make_error(errc::invalid_config, ret, "private key file " + cfg.key_file);
            return nullptr;
        }
        if (const int ret = mbedtls_pk_check_pair(&eng->cert->pk, eng->key.get())) {
            err = make_error(errc::invalid_config, ret,
                             "private key " + cfg.key_file + " does not match certificate " +
                                 cfg.cert_file);
            return nullptr;
        }

        mbedtls_ssl_config* conf = eng->conf.get();
        if (const int ret = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_SERVER,
                                                        MBEDTLS_SSL_TRANSPORT_STREAM,
                                                        MBEDTLS_SSL_PRESET_DEFAULT)) {
            err = make_error(errc::internal, ret, "mbedtls_ssl_config_defaults");
            return nullptr;
        }
        mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, eng->drbg.get());
        set_versions(*eng, cfg.min_version, cfg.max_version);
        if (const int ret = mbedtls_ssl_conf_own_cert(conf, eng->cert.get(), eng->key.get())) {
            err = make_error(errc::internal, ret, "mbedtls_ssl_conf_own_cert");
            return nullptr;
        }
        mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);  // no client certificates
        mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
        mbedtls_ssl_conf_sni(conf, server_sni_callback, nullptr);

        // ALPN. mbedTLS's own server selects by server preference and always answers no
        // overlap with a no_application_protocol alert: that is exactly prefer_server with the
        // alert, so it does that case itself. The other cases (continue without ALPN on no
        // overlap, force a selection) are decided by the session after the ClientHello is
        // parsed; there the library is given no list, so it ignores the client's extension.
        // An empty server list means the server has no ALPN configured: no extension back.
        own_alpn(*eng, cfg.alpn);
        eng->native_alpn = cfg.alpn_mode == ServerAlpn::prefer_server && cfg.alert_on_no_overlap &&
                           !cfg.alpn.empty();
        if (eng->native_alpn) {
            if (const int ret = mbedtls_ssl_conf_alpn_protocols(conf, eng->alpn_ptrs.data())) {
                err = make_error(errc::invalid_config, ret, "server ALPN list");
                return nullptr;
            }
        }

        if (cfg.session_tickets) {
            if (const int ret = mbedtls_ssl_ticket_setup(eng->tickets.get(), mbedtls_ctr_drbg_random,
                                                         eng->drbg.get(), MBEDTLS_CIPHER_AES_256_GCM,
                                                         86400)) {
                err = make_error(errc::internal, ret, "mbedtls_ssl_ticket_setup");
                return nullptr;
            }
            mbedtls_ssl_conf_session_tickets_cb(conf, mbedtls_ssl_ticket_write,
                                                mbedtls_ssl_ticket_parse, eng->tickets.get());
        }
        return std::make_shared<MbedServerContext>(std::move(eng));
    }
};

}  // namespace
}  // namespace mbed

namespace mbedtls {
// The entry point the generated registry calls (backends/registry.cpp.in).
std::shared_ptr<const Backend> make_backend() { return std::make_shared<const mbed::MbedBackend>(); }
}  // namespace mbedtls

}  // namespace connmatrix::tls
