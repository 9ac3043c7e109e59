// The entry points that ask the TLS registry what this build contains (its names only: no
// backend is constructed). Here, above the policy layer, so that policy never depends on tls.
#include <connmatrix/config.hpp>
#include <connmatrix/tls.hpp>

namespace connmatrix {

policy::BuildInfo policy::BuildInfo::compiled_in() {
    BuildInfo b;
    b.backends = tls::Registry::compiled_in_names();
    b.default_backend = std::string(tls::Registry::compiled_in_default());
    return b;
}

config::LoadResult config::load_file(const std::string& path) {
    return load_file(path, policy::BuildInfo::compiled_in());
}

config::LoadResult config::load_string(std::string_view json, std::string_view source_name) {
    return load_string(json, source_name, policy::BuildInfo::compiled_in());
}

config::LoadResult config::from_environment() {
    return from_environment(policy::BuildInfo::compiled_in());
}

}  // namespace connmatrix
