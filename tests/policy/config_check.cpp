// policy_config_check [--all-backends] FILE...: loads each configuration, prints every error
// (file:line:column: path: message). Exit 0 when all are valid, 1 when any is not, 2 on usage.
// --all-backends checks against every backend connmatrix has (openssl, gnutls, mbedtls) instead
// of this build's, so the example configs validate the same way in single-backend builds.
#include <connmatrix/config.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    using namespace connmatrix;
    policy::BuildInfo build = policy::BuildInfo::compiled_in();
    std::vector<std::string> files;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--all-backends")
            build = {{"openssl", "gnutls", "mbedtls"}, "openssl"};
        else if (!a.empty() && a[0] == '-') {
            std::fprintf(stderr, "usage: %s [--all-backends] FILE...\n", argv[0]);
            return 2;
        } else
            files.push_back(a);
    }
    if (files.empty()) {
        std::fprintf(stderr, "usage: %s [--all-backends] FILE...\n", argv[0]);
        return 2;
    }
    int rc = 0;
    for (const auto& f : files) {
        config::LoadResult r = config::load_file(f, build);
        if (r) {
            std::printf("%s: ok\n", f.c_str());
        } else {
            std::fputs(r.report().c_str(), stdout);
            rc = 1;
        }
    }
    return rc;
}
