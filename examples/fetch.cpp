// fetch: one GET with connmatrix, and how it was negotiated.
//   fetch URL [BACKEND [MODE [CA_FILE]]]    e.g. fetch https://127.0.0.1:8443/ gnutls alpn ca.pem
#include <connmatrix/client.hpp>

#include <iostream>

using namespace connmatrix;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: fetch URL [BACKEND [MODE [CA_FILE]]]\n";
        return 2;
    }
    policy::Config config;  // the built-in defaults, then what the command line says
    if (argc > 2) config.defaults.backend = argv[2];
    if (argc > 3) config.defaults.mode = policy::parse_mode(argv[3]);
    if (argc > 4) config.defaults.tls.ca_file = argv[4];
    if (argc > 3 && !config.defaults.mode) {
        std::cerr << "unknown mode " << argv[3] << "\n";
        return 2;
    }
    for (const auto& problem : config::check(config, policy::BuildInfo::compiled_in())) {
        std::cerr << problem.to_string() << "\n";  // e.g. a backend this build does not have
        return 2;
    }

    Client client(std::move(config));
    Request request;
    request.url = argv[1];
    const Result r = client.send(request);
    if (!r) {
        std::cerr << r.error.message() << "\n";
        return 1;
    }
    const ConnectionInfo& info = r.response.info;
    std::cout << "status " << r.response.status << "\n"
              << "protocol " << to_string(info.protocol) << "\n"
              << "alpn " << info.alpn_selected.value_or("none") << "\n"
              << "backend " << (info.backend.empty() ? "none (cleartext)" : info.backend) << "\n\n"
              << r.response.body;
    return 0;
}
