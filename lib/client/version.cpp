// version(): the library's own version (compiled from connmatrix/version.hpp, so what the
// library was built as, whatever headers its caller compiled with) and its backends.
#include <connmatrix/tls.hpp>
#include <connmatrix/version.hpp>

namespace connmatrix {

VersionInfo version() {
    VersionInfo v;
    v.version = CONNMATRIX_VERSION_STRING;
    v.major = CONNMATRIX_VERSION_MAJOR;
    v.minor = CONNMATRIX_VERSION_MINOR;
    v.patch = CONNMATRIX_VERSION_PATCH;
    const tls::Registry reg = tls::Registry::compiled_in();
    v.default_backend = std::string(reg.default_backend().name());
    for (const auto& b : reg.all())
        v.backends.push_back({std::string(b->name()), b->library_version(),
                              b->name() == v.default_backend});
    return v;
}

}  // namespace connmatrix
