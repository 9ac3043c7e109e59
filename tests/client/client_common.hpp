// Shared by the client suites: a Client configured from JSON for one backend and mode, and
// in-process servers with our test certificates.
#pragma once

// GCC 12 warns about designated initializers that leave members to their defaults
// (-Wmissing-field-initializers); Request{.method, .url} is the intended style here.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "checks.hpp"
#include "pair.hpp"
#include "server.hpp"

#include <connmatrix/client.hpp>
#include <connmatrix/negotiate.hpp>

#include <optional>
#include <string>

namespace connmatrix::test {

inline const tls::Registry& registry() {
    static const tls::Registry r = tls::Registry::compiled_in();
    return r;
}

// {"defaults": {"backend": B, "mode": M, "tls": {"ca_file": CA}, <extra>}}
inline std::string client_json(std::string_view backend, std::string_view mode,
                               std::string_view extra = {}) {
    std::string j = "{\"defaults\": {\"backend\": \"" + std::string(backend) + "\", \"mode\": \"" +
                    std::string(mode) + "\", \"tls\": {\"ca_file\": \"" + cert("ca.pem") + "\"}";
    if (!extra.empty()) j += ", " + std::string(extra);
    return j + "}}";
}

inline Client make_client(const std::string& json, ClientOptions opts = {}) {
    Error err;
    auto c = Client::from_json(json, err, std::move(opts));
    INFO(err.message());
    REQUIRE(c.has_value());
    return std::move(*c);
}

// A TLS test server of `backend` with the EC localhost leaf.
inline TestServerOptions tls_server(const tls::Backend& backend, std::vector<std::string> alpn,
                                    tls::ServerAlpn mode = tls::ServerAlpn::prefer_server) {
    TestServerOptions o;
    o.backend = &backend;
    o.tls.cert_file = cert("localhost-ec.pem");
    o.tls.key_file = cert("localhost-ec.key");
    o.tls.alpn = std::move(alpn);
    o.tls.alpn_mode = mode;
    return o;
}

inline ServedResponse echo_path(const ServedRequest& r) {
    return {200, {{"content-type", "text/plain"}}, r.protocol + " " + r.method + " " + r.target +
                                                       (r.body.empty() ? "" : " " + r.body)};
}

}  // namespace connmatrix::test
