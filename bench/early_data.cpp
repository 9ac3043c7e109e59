// early_data: what TLS 1.3 0-RTT saves, per pair of backends that have it, in one run. A client
// and a server tls::Session talk over an in-memory link that delivers each chunk D ms after it
// was sent, each way (a WAN round trip of 2D). Each run resumes a fresh ticket (OpenSSL's are
// single use) and writes a request, as early data or once the handshake is done; the server
// answers once its handshake is done (the seam has no 0.5-RTT server data). Reported: when the
// server had the request and when the client had the first response byte, as medians over the
// runs, and the ratio without / with 0-RTT.
//
//   bench_early_data CERT_DIR [DELAY_MS=20] [RUNS=5]
#include <connmatrix/tls.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <thread>
#include <vector>

using namespace connmatrix;
using Clock = std::chrono::steady_clock;

namespace {

const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
const std::string response = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

struct Chunk {
    Clock::time_point due;
    std::vector<std::uint8_t> bytes;
};

// One direction of the link.
struct Wire {
    std::deque<Chunk> chunks;
    void send(tls::Session& from, Clock::duration delay) {
        if (auto b = from.take_output(); !b.empty()) chunks.push_back({Clock::now() + delay, b});
    }
    void deliver(tls::Session& to) {
        while (!chunks.empty() && chunks.front().due <= Clock::now()) {
            to.feed(chunks.front().bytes);
            chunks.pop_front();
        }
    }
};

struct Timing {
    double request_ms = -1, response_ms = -1;
};

// One resumed connection; `early`: the request goes as early data.
Timing run(tls::ClientContext& cctx, tls::ServerContext& sctx, std::vector<std::uint8_t> ticket,
           bool early, Clock::duration delay) {
    Error err;
    tls::ClientSessionParams params;
    params.host = "localhost";
    params.resume = std::move(ticket);
    auto client = cctx.new_session(params, err);
    auto server = sctx.new_session(err);
    Timing t;
    if (!client || !server) return t;
    const std::vector<std::uint8_t> req(request.begin(), request.end());
    const auto start = Clock::now();
    const auto ms = [&] {
        return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    };
    if (early && client->write_early(req) != tls::Status::ok) return t;
    bool sent = early, answered = false;
    std::string at_server;
    Wire up, down;
    while (ms() < 100 * std::chrono::duration<double, std::milli>(delay).count() + 1000) {
        up.deliver(*server);
        down.deliver(*client);
        const tls::Status cs = client->handshake(), ss = server->handshake();
        if (cs == tls::Status::failed || ss == tls::Status::failed) return t;
        // Not yet sent, or sent early and rejected (then nothing arrived): write it now.
        if (client->handshake_done() &&
            (!sent || (early && client->early_data() == tls::EarlyData::rejected))) {
            sent = client->write(req) == tls::Status::ok;
            early = false;
        }
        std::vector<std::uint8_t> buf;
        (void)server->read_early(buf);
        if (server->handshake_done()) (void)server->read(buf);
        at_server.append(buf.begin(), buf.end());
        if (t.request_ms < 0 && at_server == request) t.request_ms = ms();
        if (t.request_ms >= 0 && !answered && server->handshake_done())
            answered = server->write({reinterpret_cast<const std::uint8_t*>(response.data()),
                                      response.size()}) == tls::Status::ok;
        std::vector<std::uint8_t> got;
        if (client->handshake_done()) (void)client->read(got);
        if (!got.empty()) {
            t.response_ms = ms();
            return t;
        }
        up.send(*client, delay);
        down.send(*server, delay);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return t;
}

// A full connection without delay, for a ticket.
std::vector<std::uint8_t> ticket(tls::ClientContext& cctx, tls::ServerContext& sctx) {
    Error err;
    tls::ClientSessionParams params;
    params.host = "localhost";
    auto c = cctx.new_session(params, err);
    auto s = sctx.new_session(err);
    if (!c || !s) return {};
    for (int i = 0; i < 50; ++i) {
        (void)c->handshake();
        (void)s->handshake();
        if (c->handshake_done() && s->handshake_done()) {
            std::vector<std::uint8_t> sink;
            (void)c->read(sink);
        }
        s->feed(c->take_output());
        c->feed(s->take_output());
    }
    auto blob = c->export_session();
    s->close();  // a clean end: OpenSSL keeps the connection's tickets
    return blob;
}

double median(std::vector<double> v) {
    if (v.empty()) return -1;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s CERT_DIR [DELAY_MS] [RUNS]\n", argv[0]);
        return 2;
    }
    const std::string certs = argv[1];
    const auto delay = std::chrono::milliseconds(argc > 2 ? std::atoi(argv[2]) : 20);
    const int runs = std::max(1, argc > 3 ? std::atoi(argv[3]) : 5);
    const tls::Registry registry = tls::Registry::compiled_in();
    std::printf("one-way delay %lld ms, %d runs each, medians\n",
                static_cast<long long>(delay.count()), runs);
    std::printf("%-18s %12s %12s %12s %12s %8s %8s\n", "client -> server", "req 1-RTT", "req 0-RTT",
                "resp 1-RTT", "resp 0-RTT", "req x", "resp x");
    for (const auto& cb : registry.all())
        for (const auto& sb : registry.all()) {
            if (!cb->capabilities().early_data || !sb->capabilities().early_data) continue;
            Error err;
            tls::ServerConfig scfg;
            scfg.cert_file = certs + "/localhost-ec.pem";
            scfg.key_file = certs + "/localhost-ec.key";
            scfg.alpn = {"http/1.1"};
            scfg.max_early_data = 16384;
            tls::ClientConfig ccfg;
            ccfg.ca_file = certs + "/ca.pem";
            ccfg.alpn = {"http/1.1"};
            ccfg.early_data = true;
            auto sctx = sb->server_context(scfg, err);
            auto cctx = sctx ? cb->client_context(ccfg, err) : nullptr;
            if (!cctx) {
                std::fprintf(stderr, "%s -> %s: %s\n", std::string(cb->name()).c_str(),
                             std::string(sb->name()).c_str(), err.detail.c_str());
                return 1;
            }
            std::vector<double> req[2], resp[2];
            for (int i = 0; i < runs; ++i)
                for (int early = 0; early < 2; ++early) {
                    const Timing t = run(*cctx, *sctx, ticket(*cctx, *sctx), early == 1, delay);
                    if (t.request_ms >= 0) req[early].push_back(t.request_ms);
                    if (t.response_ms >= 0) resp[early].push_back(t.response_ms);
                }
            const std::string name = std::string(cb->name()) + " -> " + std::string(sb->name());
            const double r0 = median(req[0]), r1 = median(req[1]);
            const double p0 = median(resp[0]), p1 = median(resp[1]);
            std::printf("%-18s %10.1fms %10.1fms %10.1fms %10.1fms %8.2f %8.2f\n", name.c_str(), r0,
                        r1, p0, p1, r1 > 0 ? r0 / r1 : 0.0, p1 > 0 ? p0 / p1 : 0.0);
        }
    return 0;
}
