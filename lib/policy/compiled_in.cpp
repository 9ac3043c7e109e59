// The entry points that ask the TLS registry what this build contains. Kept apart so that the
// rest of the policy module (and its fuzz target) builds without any backend.
#include <connmatrix/config.hpp>
#include <connmatrix/tls.hpp>

namespace connmatrix {

policy::BuildInfo policy::BuildInfo::compiled_in() {
    const tls::Registry registry = tls::Registry::compiled_in();
    BuildInfo b;
    b.backends = registry.names();
    if (registry.size() != 0) b.default_backend = std::string(registry.default_backend().name());
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
