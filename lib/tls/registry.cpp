#include <connmatrix/tls.hpp>

namespace connmatrix::tls {

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
