#include "pair.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#ifndef CONNMATRIX_TEST_CERT_DIR
#error "the build must define CONNMATRIX_TEST_CERT_DIR"
#endif

namespace connmatrix::test {

std::string cert_dir() { return CONNMATRIX_TEST_CERT_DIR; }
std::string cert(std::string_view file) { return cert_dir() + "/" + std::string(file); }

std::string cert_pin(std::string_view leaf) {
    std::ifstream in(cert(std::string(leaf) + ".pin"));
    REQUIRE_MESSAGE(in, "missing ", leaf, ".pin: the build generates it with the certificates");
    std::string b64((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!b64.empty() && (b64.back() == '\n' || b64.back() == '\r')) b64.pop_back();
    REQUIRE(b64.size() == 44);  // 32 bytes
    return "sha256//" + b64;
}

tls::Version max_version_from_env() {
    if (const char* v = std::getenv("CONNMATRIX_TEST_MAX_TLS"))
        if (auto parsed = tls::parse_version(v)) return *parsed;
    return tls::Version::tls1_3;
}

tls::ServerConfig server_config(std::vector<std::string> alpn, std::string leaf) {
    tls::ServerConfig s;
    s.cert_file = cert(leaf + ".pem");
    s.key_file = cert(leaf + ".key");
    s.alpn = std::move(alpn);
    s.max_version = max_version_from_env();
    return s;
}

tls::ClientConfig client_config(std::vector<std::string> alpn) {
    tls::ClientConfig c;
    c.alpn = std::move(alpn);
    c.ca_file = cert("ca.pem");
    c.max_version = max_version_from_env();
    return c;
}

Pair make_pair(const tls::Backend& cb, const tls::ClientConfig& ccfg,
               const tls::ClientSessionParams& params, const tls::Backend& sb,
               const tls::ServerConfig& scfg, Error& err) {
    Pair p;
    p.server_ctx = sb.server_context(scfg, err);
    if (!p.server_ctx) return p;
    p.client_ctx = cb.client_context(ccfg, err);
    if (!p.client_ctx) return p;
    p.server = p.server_ctx->new_session(err);
    if (!p.server) return p;
    p.client = p.client_ctx->new_session(params, err);
    return p;
}

namespace {

// Moves `from`'s output into `to`; returns bytes moved.
std::size_t move_bytes(Pair& p, tls::Session& from, tls::Session& to, Direction dir,
                       bool& to_eof) {
    if (p.dropped || to_eof) {
        (void)from.take_output();  // nobody is listening any more
        return 0;
    }
    std::vector<std::uint8_t> bytes = from.take_output();
    const std::size_t n = bytes.size();
    if (n > 0) {
        if (p.filter && !p.filter(dir, bytes)) {
            p.dropped = true;
            p.client->feed_eof();
            p.server->feed_eof();
            p.client_eof = p.server_eof = true;
            return n;
        }
        to.feed(bytes);
        if (p.close_after_delivery) {
            p.dropped = true;
            p.client->feed_eof();
            p.server->feed_eof();
            p.client_eof = p.server_eof = true;
            return n;
        }
    }
    // A failed peer closes its transport once its last bytes are out.
    if (from.error() && !to_eof) {
        to.feed_eof();
        to_eof = true;
    }
    return n;
}

}  // namespace

std::size_t transfer(Pair& p) {
    std::size_t n = move_bytes(p, *p.client, *p.server, Direction::to_server, p.server_eof);
    n += move_bytes(p, *p.server, *p.client, Direction::to_client, p.client_eof);
    return n;
}

HandshakeResult do_handshake(Pair& p, int max_rounds) {
    HandshakeResult r;
    for (r.rounds = 0; r.rounds < max_rounds; ++r.rounds) {
        r.client = p.client->handshake();
        r.server = p.server->handshake();
        const std::size_t moved = transfer(p);
        const bool c_final = r.client == tls::Status::ok || r.client == tls::Status::failed;
        const bool s_final = r.server == tls::Status::ok || r.server == tls::Status::failed;
        if (c_final && s_final && moved == 0) {
            // TLS 1.3: the server's last flight may still be waiting for the client to read;
            // that is done by settle(). Both sides have an answer here.
            return r;
        }
    }
    r.stuck = true;
    return r;
}

HandshakeResult connect(Pair& p, const std::shared_ptr<tls::ClientContext>& client_ctx,
                        const std::shared_ptr<tls::ServerContext>& server_ctx,
                        std::vector<std::uint8_t> resume, const std::string& host) {
    Error err;
    p.client_ctx = client_ctx;
    p.server_ctx = server_ctx;
    p.server = server_ctx->new_session(err);
    REQUIRE_MESSAGE(p.server, err.message());
    tls::ClientSessionParams params;
    params.host = host;
    params.resume = std::move(resume);
    p.client = client_ctx->new_session(params, err);
    REQUIRE_MESSAGE(p.client, err.message());
    return do_handshake(p);
}

Outcome run_handshake(const tls::Backend& cb, const tls::ClientConfig& ccfg,
                      const tls::Backend& sb, const tls::ServerConfig& scfg,
                      const std::string& host, Pair* keep) {
    Outcome o;
    tls::ClientSessionParams params;
    params.host = host;
    Pair p = make_pair(cb, ccfg, params, sb, scfg, o.build_error);
    if (!p.client || !p.server) return o;
    o.built = true;
    const HandshakeResult r = do_handshake(p);
    o.stuck = r.stuck;
    o.client = r.client;
    o.server = r.server;
    o.client_error = p.client->error();
    o.server_error = p.server->error();
    // Every error a handshake produces names an origin its category allows (error.hpp).
    CHECK_MESSAGE(origin_fits(o.client_error), "client error origin: ", o.client_error.origin);
    CHECK_MESSAGE(origin_fits(o.server_error), "server error origin: ", o.server_error.origin);
    if (r.client == tls::Status::ok) {
        o.client_alpn = p.client->alpn();
        o.client_info = p.client->info();
    }
    if (r.server == tls::Status::ok) {
        o.server_alpn = p.server->alpn();
        o.server_info = p.server->info();
    }
    if (keep != nullptr) *keep = std::move(p);
    return o;
}

void settle(Pair& p, int rounds) {
    std::vector<std::uint8_t> sink;
    for (int i = 0; i < rounds; ++i) {
        transfer(p);
        if (p.client->handshake_done()) (void)p.client->read(sink);
        if (p.server->handshake_done()) (void)p.server->read(sink);
    }
    transfer(p);
}

std::string send_and_receive(Pair& p, Direction dir, std::string_view data, int max_rounds) {
    tls::Session& from = dir == Direction::to_server ? *p.client : *p.server;
    tls::Session& to = dir == Direction::to_server ? *p.server : *p.client;
    std::string got;
    if (from.write({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()}) !=
        tls::Status::ok)
        return got;
    for (int i = 0; i < max_rounds && got.size() < data.size(); ++i) {
        transfer(p);
        std::vector<std::uint8_t> buf;
        const tls::Status s = to.read(buf);
        got.append(buf.begin(), buf.end());
        if (s == tls::Status::failed || s == tls::Status::closed) break;
        // The sender may have post-handshake work to do too (e.g. process a KeyUpdate).
        std::vector<std::uint8_t> other;
        (void)from.read(other);
    }
    return got;
}

tls::AlpnSelector force_alpn(std::string protocol) {
    return [protocol = std::move(protocol)](const std::vector<std::string>&) {
        return tls::AlpnAnswer::select(protocol);
    };
}

}  // namespace connmatrix::test
