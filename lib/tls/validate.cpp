// Configuration checks, one set of rules for every backend: run by Backend::client_context and
// server_context before the backend sees the configuration.
#include "alpn.hpp"
#include "core.hpp"
#include "early.hpp"
#include "identity.hpp"

namespace connmatrix::tls {
namespace {

Error bad(errc code, std::string detail) {
    return {code, std::move(detail), 0, std::string(core_origin)};
}

Error check_versions(Version min, Version max, const Capabilities& caps) {
    if (min == Version::unknown || max == Version::unknown)
        return bad(errc::invalid_config, "min_version and max_version must name a TLS version");
    if (min > max)
        return bad(errc::invalid_config, "min_version " + std::string(to_string(min)) +
                                             " is above max_version " +
                                             std::string(to_string(max)));
    if (min == Version::tls1_3 && !caps.tls13)
        return bad(errc::unsupported,
                   "min_version TLSv1.3: this backend's library cannot negotiate TLS 1.3");
    return {};
}

}  // namespace

Error check_alpn_list(const std::vector<std::string>& names, const Capabilities& caps,
                      std::string_view what) {
    if (Error e = alpn::validate(names)) {
        e.detail = std::string(what) + ": " + e.detail;
        e.origin = std::string(core_origin);
        return e;
    }
    if (caps.max_alpn_protocols != 0 && names.size() > caps.max_alpn_protocols)
        return bad(errc::unsupported, std::string(what) + ": this backend's library accepts at most " +
                                          std::to_string(caps.max_alpn_protocols) +
                                          " ALPN protocols, " + std::to_string(names.size()) +
                                          " given");
    for (const auto& n : names) {
        if (n.size() > caps.max_alpn_name)
            return bad(errc::unsupported,
                       std::string(what) + ": this backend's library accepts ALPN names of at most " +
                           std::to_string(caps.max_alpn_name) + " bytes; \"" + n + "\" is " +
                           std::to_string(n.size()));
        if (!caps.alpn_nul && n.find('\0') != std::string::npos)
            return bad(errc::unsupported,
                       std::string(what) + ": this backend's library takes ALPN names as C "
                                           "strings and cannot carry one containing a NUL byte");
    }
    return {};
}

Error check_client_config(const ClientConfig& cfg, const Capabilities& caps) {
    if (Error e = check_alpn_list(cfg.alpn, caps, "ALPN offer")) return e;
    // A client certificate is its chain and its key: one without the other cannot be sent.
    if (cfg.client_key_file.empty() && !cfg.client_cert_file.empty())
        return bad(errc::invalid_config,
                   "client_cert_file " + cfg.client_cert_file + " is set without client_key_file");
    if (cfg.client_cert_file.empty() && !cfg.client_key_file.empty())
        return bad(errc::invalid_config,
                   "client_key_file " + cfg.client_key_file + " is set without client_cert_file");
    if (!cfg.client_key_password.empty() && cfg.client_key_file.empty())
        return bad(errc::invalid_config, "client_key_password is set without client_key_file");
    if (Error e = early::check_client(cfg, caps)) return e;
    return check_versions(cfg.min_version, cfg.max_version, caps);
}

Error check_server_config(const ServerConfig& cfg, const Capabilities& caps) {
    if (cfg.cert_file.empty() || cfg.key_file.empty())
        return bad(errc::invalid_config, "a server needs cert_file and key_file");
    if (Error e = check_alpn_list(cfg.alpn, caps, "server ALPN list")) return e;
    // Client certificates: the bundle to verify them against must hold a CA.
    if (!cfg.client_ca_file.empty())
        if (Error e = detail::check_certificate_file(cfg.client_ca_file, "client_ca_file"))
            return e;
    if (Error e = early::check_server(cfg, caps)) return e;
    return check_versions(cfg.min_version, cfg.max_version, caps);
}

}  // namespace connmatrix::tls
