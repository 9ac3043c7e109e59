// The mbedTLS 2.28 backend: the Backend, its client and server contexts, each an
// mbedtls_ssl_config with its own entropy source and CTR-DRBG.
//
// mbedTLS 2.28 speaks TLS 1.0-1.2 here (its TLS 1.3 is experimental and not in Debian's build):
// capabilities().tls13 is false, so a max_version of TLS 1.3 means TLS 1.2 and the core refuses
// a min_version of TLS 1.3 as unsupported. Debian's build enables TLS 1.0 and 1.1, so the
// minimum is always set explicitly (TLS 1.2 unless the config asks for less).
#include "mbedtls_internal.hpp"

#include "keylog.hpp"

#include <mbedtls/version.h>

#include <array>
#include <string_view>

// The key log takes the master secret from the export callback.
#if !defined(MBEDTLS_SSL_EXPORT_KEYS)
#error "connmatrix needs mbedTLS built with MBEDTLS_SSL_EXPORT_KEYS (the key log)"
#endif

namespace connmatrix::tls::mbedtls {
namespace {

// The system trust store: Debian's bundle, else the directory of hashed certificates.
constexpr const char* system_ca_bundle = "/etc/ssl/certs/ca-certificates.crt";
constexpr const char* system_ca_dir = "/etc/ssl/certs";

// The minor version number mbedTLS uses for a protocol version (major is always 3).
int minor_of(Version v) noexcept {
    switch (v) {
        case Version::tls1_0: return MBEDTLS_SSL_MINOR_VERSION_1;
        case Version::tls1_1: return MBEDTLS_SSL_MINOR_VERSION_2;
        default: return MBEDTLS_SSL_MINOR_VERSION_3;  // 1.2, and 1.3 capped to 1.2
    }
}

Error common_setup(Engine& eng, int endpoint, Version min, Version max, std::string_view who) {
    if (const int ret = mbedtls_ctr_drbg_seed(eng.drbg.get(), mbedtls_entropy_func, eng.entropy.get(),
                                              reinterpret_cast<const unsigned char*>(who.data()),
                                              who.size()))
        return library_error(errc::internal, ret, "seeding the CTR-DRBG");
    mbedtls_ssl_config* conf = eng.conf.get();
    if (const int ret = mbedtls_ssl_config_defaults(conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                                    MBEDTLS_SSL_PRESET_DEFAULT))
        return library_error(errc::internal, ret, "mbedtls_ssl_config_defaults");
    mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, eng.drbg.get());
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, minor_of(min));
    mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, minor_of(max));
    mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    return {};
}

// True when `crt` holds at least one parsed certificate.
bool has_certificate(const mbedtls_x509_crt* crt) noexcept { return crt->version != 0; }

Error load_trust(ClientEngine& eng, const std::string& file) {
    if (!file.empty()) {
        const int ret = mbedtls_x509_crt_parse_file(eng.ca.get(), file.c_str());
        if (ret < 0) return library_error(errc::invalid_config, ret, "CA file " + file);
        if (!has_certificate(eng.ca.get()))
            return library_error(errc::invalid_config, 0, "CA file " + file + " holds no usable certificate");
        return {};
    }
    // Individual entries mbedTLS cannot parse are skipped (a positive return counts them).
    int ret = mbedtls_x509_crt_parse_file(eng.ca.get(), system_ca_bundle);
    if (ret >= 0 && has_certificate(eng.ca.get())) return {};
    ret = mbedtls_x509_crt_parse_path(eng.ca.get(), system_ca_dir);
    if (ret >= 0 && has_certificate(eng.ca.get())) return {};
    return library_error(errc::invalid_config, ret < 0 ? ret : 0,
                         std::string("no system trust store: neither ") + system_ca_bundle +
                             " nor " + system_ca_dir + " gave a certificate (set ca_file)");
}

// The export callback is per configuration and knows no session, but hands over the handshake's
// client random: a TLS 1.2 CLIENT_RANDOM line with the 48-byte master secret, straight to the
// context's key log (which formats it).
int export_keys_cb(void* keylog, const unsigned char* master, const unsigned char* /*key_block*/,
                   std::size_t /*maclen*/, std::size_t /*keylen*/, std::size_t /*ivlen*/,
                   const unsigned char client_random[32], const unsigned char* /*server_random*/,
                   mbedtls_tls_prf_types /*prf*/) {
    (void)static_cast<detail::KeyLog*>(keylog)->log_secret(
        keylog::client_random_label, {client_random, keylog::random_size}, {master, 48});
    return 0;
}

using ClientContextImpl = ClientContextOf<ClientEngine, make_client_session>;
using ServerContextImpl = ServerContextOf<ServerEngine, make_server_session>;

class BackendImpl final : public Backend {
public:
    BackendImpl() : Backend(std::string(backend_name), capabilities_of()) {}

private:
    static Capabilities capabilities_of() {
        Capabilities c;
        c.tls13 = false;             // 2.28: TLS 1.2 at most
        c.server_force_alpn = true;  // the session sets the selection after the ClientHello
        c.alpn_nul = false;          // mbedTLS takes ALPN names as C strings
        return c;
    }

    std::string do_library_version() const override {
        std::array<char, 64> buf{};  // the API wants at least 18 bytes
        mbedtls_version_get_string_full(buf.data());
        return buf.data();
    }

    std::shared_ptr<ClientContext> do_client_context(const ClientConfig& cfg,
                                                     const detail::ClientContextSetup& setup,
                                                     Error& err) const override {
        auto eng = std::make_shared<ClientEngine>();
        if ((err = common_setup(*eng, MBEDTLS_SSL_IS_CLIENT, cfg.min_version, cfg.max_version,
                                "connmatrix mbedtls client")))
            return nullptr;
        mbedtls_ssl_config* conf = eng->conf.get();
        if (cfg.verify) {
            if ((err = load_trust(*eng, cfg.ca_file))) return nullptr;
            mbedtls_ssl_conf_ca_chain(conf, eng->ca.get(), nullptr);
            mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
        } else {
            mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
        }
        // An empty offer means no ALPN extension at all: leave the list unset.
        if (!cfg.alpn.empty()) {
            eng->alpn_names = cfg.alpn;
            for (const auto& n : eng->alpn_names) eng->alpn_ptrs.push_back(n.c_str());
            eng->alpn_ptrs.push_back(nullptr);
            if (const int ret = mbedtls_ssl_conf_alpn_protocols(conf, eng->alpn_ptrs.data())) {
                err = library_error(errc::invalid_config, ret, "ALPN offer");
                return nullptr;
            }
        }
        mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
        if ((eng->keylog = setup.keylog))
            mbedtls_ssl_conf_export_keys_ext_cb(conf, export_keys_cb, eng->keylog.get());
        return std::make_shared<ClientContextImpl>(*this, cfg, std::move(eng));
    }

    std::shared_ptr<ServerContext> do_server_context(const ServerConfig& cfg,
                                                     Error& err) const override {
        auto eng = std::make_shared<ServerEngine>();
        if ((err = common_setup(*eng, MBEDTLS_SSL_IS_SERVER, cfg.min_version, cfg.max_version,
                                "connmatrix mbedtls server")))
            return nullptr;
        if (const int ret = mbedtls_x509_crt_parse_file(eng->cert.get(), cfg.cert_file.c_str())) {
            err = library_error(errc::invalid_config, ret < 0 ? ret : 0,
                                "certificate file " + cfg.cert_file +
                                    (ret > 0 ? ": " + std::to_string(ret) +
                                                   " certificate(s) could not be parsed"
                                             : std::string()));
            return nullptr;
        }
        if (const int ret = mbedtls_pk_parse_keyfile(eng->key.get(), cfg.key_file.c_str(), nullptr)) {
            err = library_error(errc::invalid_config, ret, "private key file " + cfg.key_file);
            return nullptr;
        }
        if (const int ret = mbedtls_pk_check_pair(&eng->cert->pk, eng->key.get())) {
            err = library_error(errc::invalid_config, ret,
                                "private key " + cfg.key_file + " does not match certificate " +
                                    cfg.cert_file);
            return nullptr;
        }
        mbedtls_ssl_config* conf = eng->conf.get();
        if (const int ret = mbedtls_ssl_conf_own_cert(conf, eng->cert.get(), eng->key.get())) {
            err = library_error(errc::internal, ret, "mbedtls_ssl_conf_own_cert");
            return nullptr;
        }
        mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);  // no client certificates
        // No ALPN list: mbedTLS then ignores the client's extension, and the session answers
        // with the core's decision once the ClientHello is parsed.
        if (cfg.session_tickets) {
            if (const int ret = mbedtls_ssl_ticket_setup(eng->tickets.get(), mbedtls_ctr_drbg_random,
                                                         eng->drbg.get(), MBEDTLS_CIPHER_AES_256_GCM,
                                                         86400)) {
                err = library_error(errc::internal, ret, "mbedtls_ssl_ticket_setup");
                return nullptr;
            }
            mbedtls_ssl_conf_session_tickets_cb(conf, mbedtls_ssl_ticket_write,
                                                mbedtls_ssl_ticket_parse, eng->tickets.get());
        }
        return std::make_shared<ServerContextImpl>(*this, cfg, std::move(eng));
    }
};

}  // namespace

// The entry point the generated registry calls (backends/registry.cpp.in).
std::shared_ptr<const Backend> make_backend() { return std::make_shared<const BackendImpl>(); }

}  // namespace connmatrix::tls::mbedtls
