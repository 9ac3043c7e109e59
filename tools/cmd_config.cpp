// connmatrix explain, check-config and --version: the configuration and the build, no network.
#include "cli.hpp"

#include <connmatrix/version.hpp>

#include <algorithm>

namespace connmatrix::cli {

int run_explain(const std::string& config_path, const std::string& url, bool json) {
    require_url(url);
    const policy::Engine engine(load_config(config_path));
    const policy::Explanation e = engine.explain(url);
    if (!e.error.empty())
        throw Failure(exit_usage, "bad URL \"" + url + "\": " + e.error);
    const std::string text = json ? e.json() : e.text();
    std::fwrite(text.data(), 1, text.size(), stdout);
    return exit_ok;
}

int run_check_config(const std::vector<std::string>& files, bool all_backends) {
    policy::BuildInfo build = policy::BuildInfo::compiled_in();
    if (all_backends) build.backends = {"openssl", "gnutls", "mbedtls"};
    const Style s{colour_enabled(stdout)};
    int rc = exit_ok;
    for (const auto& f : files) {
        const config::LoadResult r = config::load_file(f, build);
        if (r) {
            std::printf("%s: %s\n", f.c_str(), s.green("ok").c_str());
            continue;
        }
        rc = exit_check_failed;
        std::printf("%s: %s (%zu)\n", f.c_str(), s.red(r.errors.size() == 1 ? "error" : "errors").c_str(),
                    r.errors.size());
        // file:line:column: path: message, one per line, in document order.
        for (const auto& d : r.errors) std::printf("  %s\n", d.to_string().c_str());
    }
    return rc;
}

std::string version_text() {
    const VersionInfo v = version();  // the library's, which may be newer than our headers
    std::string out = "connmatrix " + v.version + "\nTLS backends:\n";
    std::size_t w = 0;
    for (const auto& b : v.backends) w = std::max(w, b.name.size());
    for (const auto& b : v.backends)
        out += "  " + b.name + std::string(w - b.name.size() + 2, ' ') + b.library_version +
               (b.is_default ? "  (default)" : "") + "\n";
    out += "default backend: " + v.default_backend;
    return out;
}

}  // namespace connmatrix::cli
