// The consumers' program (tests/consumers/README.md): built against an installed connmatrix by
// CMake, by pkg-config and as a Meson subproject, shared and static. It fetches URL once with
// every backend the library has, verification on, trusting CA_FILE, and fails unless each
// answers 200 with BODY, verified; and unless the library is the version its headers say.
//   app URL CA_FILE BODY
#include <connmatrix/client.hpp>
#include <connmatrix/version.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: app URL CA_FILE BODY\n";
        return 2;
    }
    const connmatrix::VersionInfo v = connmatrix::version();
    std::cout << "connmatrix " << v.version << " (headers " << CONNMATRIX_VERSION_STRING << ")\n";
    if (v.version != CONNMATRIX_VERSION_STRING || v.major != CONNMATRIX_VERSION_MAJOR ||
        v.minor != CONNMATRIX_VERSION_MINOR || v.patch != CONNMATRIX_VERSION_PATCH) {
        std::cerr << "the library is not the version of its headers\n";
        return 1;
    }
    if (v.backends.empty()) {
        std::cerr << "no backend\n";
        return 1;
    }
    int failed = 0;
    for (const connmatrix::BackendVersion& b : v.backends) {
        connmatrix::policy::Config config;
        config.defaults.backend = b.name;
        config.defaults.tls.ca_file = argv[2];
        connmatrix::Client client(std::move(config));
        connmatrix::Request request;
        request.url = argv[1];
        const connmatrix::Result r = client.send(request);
        const connmatrix::ConnectionInfo& info = r.response.info;
        if (!r || r.response.status != 200 || r.response.body != argv[3] || !info.verified ||
            info.backend != b.name) {
            std::cerr << b.name << ": " << (r ? "status " + std::to_string(r.response.status) +
                                                    ", verified " + std::to_string(info.verified) +
                                                    ", body \"" + r.response.body + "\""
                                              : r.error.message())
                      << "\n";
            ++failed;
            continue;
        }
        std::cout << b.name << " (" << b.library_version << "): " << r.response.status << " over "
                  << to_string(info.protocol) << ", " << info.tls_version << ", verified\n";
    }
    return failed == 0 ? 0 : 1;
}
