// tls_matrix: every compiled client backend against every compiled server backend, in memory,
// for the ALPN situations a negotiation policy must handle. Prints what each pair negotiates.
//
//   tls_matrix CERT_DIR
//
// CERT_DIR holds ca.pem and localhost-ec.pem/.key (tests/certs/gen-certs.sh makes them).
#include <connmatrix/tls.hpp>

#include <cstdio>
#include <string>
#include <vector>

using namespace connmatrix;

namespace {

struct Scenario {
    const char* name;
    std::vector<std::string> offer;
    std::vector<std::string> server;
    tls::ServerAlpn mode;
};

// Runs one handshake through two in-memory queues; returns what the client ended with.
std::string run(const tls::Backend& c, const tls::Backend& s, const Scenario& sc,
                const std::string& certs) {
    Error err;
    tls::ServerConfig scfg;
    scfg.cert_file = certs + "/localhost-ec.pem";
    scfg.key_file = certs + "/localhost-ec.key";
    scfg.alpn = sc.server;
    scfg.alpn_mode = sc.mode;
    tls::ClientConfig ccfg;
    ccfg.ca_file = certs + "/ca.pem";
    ccfg.alpn = sc.offer;
    auto sctx = s.server_context(scfg, err);
    auto cctx = sctx ? c.client_context(ccfg, err) : nullptr;
    if (!cctx) return "config: " + err.code.message();
    auto server = sctx->new_session(err);
    auto client = cctx->new_session({.host = "localhost", .sni = {}, .resume = {}}, err);
    if (!server || !client) return "session: " + err.code.message();
    for (int round = 0; round < 50; ++round) {
        const auto cs = client->handshake();
        const auto ss = server->handshake();
        auto to_server = client->take_output();
        auto to_client = server->take_output();
        server->feed(to_server);
        client->feed(to_client);
        if (server->error() && to_client.empty()) client->feed_eof();
        if (client->error() && to_server.empty()) server->feed_eof();
        if (cs == tls::Status::failed) return "error: " + client->error().code.message();
        if (cs == tls::Status::ok && ss == tls::Status::ok && to_server.empty() &&
            to_client.empty()) {
            const auto a = client->alpn();
            const auto info = client->info();
            return (a ? *a : std::string("none")) + "  (" +
                   std::string(tls::to_string(info.version)) + ")";
        }
    }
    return "no result after 50 rounds";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CERT_DIR\n", argv[0]);
        return 2;
    }
    const std::string certs = argv[1];
    const tls::Registry reg = tls::Registry::compiled_in();
    const Scenario scenarios[] = {
        {"offer [h2, http/1.1], server prefers h2", {"h2", "http/1.1"}, {"h2", "http/1.1"},
         tls::ServerAlpn::prefer_server},
        {"offer [h2, http/1.1], server only http/1.1", {"h2", "http/1.1"}, {"http/1.1"},
         tls::ServerAlpn::prefer_server},
        {"offer [h2, http/1.1], server ignores ALPN", {"h2", "http/1.1"}, {"h2"},
         tls::ServerAlpn::ignore},
        {"offer nothing (prior knowledge), server h2", {}, {"h2", "http/1.1"},
         tls::ServerAlpn::prefer_server},
        {"offer [h2], server only http/1.1 (alerts)", {"h2"}, {"http/1.1"},
         tls::ServerAlpn::prefer_server},
    };
    std::printf("connmatrix TLS backends: ");
    for (const auto& n : reg.names()) std::printf("%s ", n.c_str());
    std::printf("(default %s)\n", std::string(reg.default_backend().name()).c_str());
    for (const auto& b : reg.all())
        std::printf("  %-8s %s\n", std::string(b->name()).c_str(), b->library_version().c_str());
    for (const auto& sc : scenarios) {
        std::printf("\n%s\n", sc.name);
        std::printf("  %-16s %-18s %s\n", "client", "server", "ALPN selected / result");
        for (const auto& c : reg.all())
            for (const auto& s : reg.all())
                std::printf("  %-16s %-18s %s\n", std::string(c->name()).c_str(),
                            std::string(s->name()).c_str(), run(*c, *s, sc, certs).c_str());
    }
    return 0;
}
