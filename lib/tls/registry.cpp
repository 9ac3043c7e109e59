#include <connmatrix/tls.hpp>

#include "../../backends/factories.hpp"
#include "connmatrix_config.h"

namespace connmatrix::tls {

Registry Registry::compiled_in() {
    Registry r;
#if CONNMATRIX_HAVE_OPENSSL
    r.backends_.push_back(make_openssl_backend());
#endif
#if CONNMATRIX_HAVE_GNUTLS
    r.backends_.push_back(make_gnutls_backend());
#endif
#if CONNMATRIX_HAVE_MBEDTLS
    r.backends_.push_back(make_mbedtls_backend());
#endif
    for (std::size_t i = 0; i < r.backends_.size(); ++i)
        if (r.backends_[i]->name() == CONNMATRIX_DEFAULT_BACKEND) r.default_index_ = i;
    return r;
}

const Backend* Registry::find(std::string_view name) const noexcept {
    for (const auto& b : backends_)
        if (b->name() == name) return b.get();
    return nullptr;
}

std::vector<std::string> Registry::names() const {
    std::vector<std::string> out;
    for (const auto& b : backends_) out.emplace_back(b->name());
    return out;
}

const Backend& Registry::default_backend() const noexcept { return *backends_[default_index_]; }

}  // namespace connmatrix::tls
