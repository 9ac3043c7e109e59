// The entry point of each compiled backend (lib-internal). Declared here without any TLS
// library header, so the registry never sees one; defined in backends/<name>/.
#pragma once

#include <connmatrix/tls.hpp>

#include <memory>

namespace connmatrix::tls {

std::shared_ptr<const Backend> make_openssl_backend();
std::shared_ptr<const Backend> make_gnutls_backend();
std::shared_ptr<const Backend> make_mbedtls_backend();

}  // namespace connmatrix::tls
