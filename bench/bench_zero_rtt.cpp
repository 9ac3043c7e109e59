// bench_zero_rtt: what TLS 1.3 early data (0-RTT, policy tls.early_data) saves a Client against
// real servers, reached through bench/delay_relay (each direction delayed by D: RTT = 2D).
// bench/zero_rtt.sh starts the servers and relays and runs this.
//
// For each client backend with early data x server x protocol it has x early data on/off: R
// measurements, on and off alternating (A B A B). One measurement: a new Client; a first GET for
// the ticket (a full handshake); close_idle_connections(); then the timed GET, which opens a
// connection resuming that ticket. Timed: the wall time of send() (the response body is a few
// bytes: this is the first response byte, within the time to read one small record), and the
// request's ConnectionInfo timings. Also counted: rounds where the connection resumed, where the
// client's early data was accepted and this request went in it (info.early), and where the
// server says it received the request as early data (its body is "early=1").
//
//   bench_zero_rtt CA_FILE DELAY_MS ROUNDS [--backends a,b] [--check] --server LABEL PROTOS URL...
//
// PROTOS: "h2", "http1" or "h2,http1" (h2: mode alpn; http1: mode http1). URL: the relay's
// origin and path, e.g. https://127.0.0.1:40001/ . Prints a table, then one "result ..." line
// per row. --check: exit 1 unless every "on" row had its early data accepted, and seen as such
// by the server, in every round, and no "off" row had any (a correctness check, never timing).
#include <connmatrix/client.hpp>
#include <connmatrix/tls.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

using namespace connmatrix;
using Clock = std::chrono::steady_clock;

namespace {

struct Server {
    std::string label;
    std::vector<std::string> protocols;  // "h2", "http1"
    std::string url;
};

struct Options {
    std::string ca_file;
    double delay_ms = 0;
    int rounds = 0;
    std::vector<std::string> backends;  // empty: every compiled backend with early data
    bool check = false;
    std::vector<Server> servers;
};

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string part; std::getline(in, part, sep);)
        if (!part.empty()) out.push_back(part);
    return out;
}

[[noreturn]] void usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s CA_FILE DELAY_MS ROUNDS [--backends a,b] [--check] "
                 "--server LABEL PROTOS URL...\n",
                 argv0);
    std::exit(2);
}

Options parse(int argc, char** argv) {
    if (argc < 4) usage(argv[0]);
    Options o;
    o.ca_file = argv[1];
    o.delay_ms = std::atof(argv[2]);
    o.rounds = std::atoi(argv[3]);
    if (o.delay_ms <= 0 || o.rounds <= 0) usage(argv[0]);
    for (int i = 4; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--backends" && i + 1 < argc)
            o.backends = split(argv[++i], ',');
        else if (a == "--check")
            o.check = true;
        else if (a == "--server" && i + 3 < argc) {
            Server s{argv[i + 1], split(argv[i + 2], ','), argv[i + 3]};
            for (const auto& p : s.protocols)
                if (p != "h2" && p != "http1") usage(argv[0]);
            o.servers.push_back(std::move(s));
            i += 3;
        } else
            usage(argv[0]);
    }
    if (o.servers.empty()) usage(argv[0]);
    return o;
}

double ms(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1000.0; }

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// One row of the table: a backend x server x protocol x early data setting.
struct Row {
    std::string backend, server, protocol;
    bool early_on = false;
    std::vector<double> wall, connect, tls, first_byte;
    int resumed = 0, accepted = 0, server_saw_early = 0, failed = 0;
    std::string last_error;
};

std::string config(const Options& o, const std::string& backend, const std::string& protocol,
                   bool early) {
    return R"({"defaults": {"backend": ")" + backend + R"(", "mode": ")" +
           (protocol == "h2" ? "alpn" : "http1") + R"(", "tls": {"ca_file": ")" + o.ca_file +
           R"(", "early_data": )" + (early ? "true" : "false") +
           R"(}, "timeouts": {"connect": "5s", "tls": "5s", "request": "10s"}}})";
}

Request get(const std::string& url) {
    Request r;
    r.url = url;
    return r;
}

// One measurement into `row`.
void measure(const Options& o, const std::string& url, Row& row) {
    Error err;
    auto client = Client::from_json(config(o, row.backend, row.protocol, row.early_on), err);
    if (!client) {
        ++row.failed;
        row.last_error = err.message();
        return;
    }
    Result prime = client->send(get(url));
    if (!prime) {
        ++row.failed;
        row.last_error = "first request: " + prime.error.message();
        return;
    }
    client->close_idle_connections();
    const auto t0 = Clock::now();
    Result r = client->send(get(url));
    const auto t1 = Clock::now();
    if (!r) {
        ++row.failed;
        row.last_error = r.error.message();
        return;
    }
    const ConnectionInfo& i = r.response.info;
    row.wall.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    row.connect.push_back(ms(i.timings.connect));
    row.tls.push_back(ms(i.timings.tls));
    row.first_byte.push_back(ms(i.timings.first_byte));
    row.resumed += i.resumed.value_or(false);
    row.accepted += i.early_data == EarlyData::accepted && i.early;
    row.server_saw_early += r.response.body == "early=1\n";
}

std::vector<std::string> early_backends(const Options& o) {
    std::vector<std::string> out;
    const auto reg = tls::Registry::compiled_in();
    for (const auto& b : reg.all()) {
        const std::string name(b->name());
        if (!b->capabilities().early_data) continue;
        if (!o.backends.empty() && std::find(o.backends.begin(), o.backends.end(), name) == o.backends.end())
            continue;
        out.push_back(name);
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    const double rtt = 2 * o.delay_ms;
    const auto backends = early_backends(o);
    if (backends.empty()) {
        std::fprintf(stderr, "bench_zero_rtt: no compiled backend with early data\n");
        return 3;
    }
    std::printf("one-way delay %.0f ms (RTT %.0f ms), %d rounds per row, on and off alternating; "
                "medians; RTTs = median / RTT\n",
                o.delay_ms, rtt, o.rounds);
    std::printf("%-8s %-14s %-8s %-5s %9s %6s %9s %9s %11s %8s %8s %8s %7s\n", "backend", "server",
                "protocol", "0-RTT", "wall ms", "RTTs", "connect", "tls ms", "1st byte", "resumed",
                "accepted", "srv early", "off/on");
    bool ok = true;
    std::vector<Row> rows;
    for (const auto& b : backends)
        for (const auto& s : o.servers)
            for (const auto& p : s.protocols) {
                Row on{b, s.label, p, true, {}, {}, {}, {}, 0, 0, 0, 0, {}};
                Row off{b, s.label, p, false, {}, {}, {}, {}, 0, 0, 0, 0, {}};
                for (int k = 0; k < o.rounds; ++k) {  // A B A B
                    measure(o, s.url, on);
                    measure(o, s.url, off);
                }
                char ratio[16];
                std::snprintf(ratio, sizeof ratio, "%.2f", median(off.wall) / std::max(median(on.wall), 1e-9));
                for (const Row* r : {&on, &off}) {
                    const std::string protocol = r->protocol == "h2" ? "h2" : "http/1.1";
                    std::printf("%-8s %-14s %-8s %-5s %9.1f %6.2f %9.1f %9.1f %11.1f %5d/%-2d "
                                "%5d/%-2d %5d/%-2d %7s\n",
                                r->backend.c_str(), r->server.c_str(), protocol.c_str(),
                                r->early_on ? "on" : "off", median(r->wall), median(r->wall) / rtt,
                                median(r->connect), median(r->tls), median(r->first_byte),
                                r->resumed, o.rounds, r->accepted, o.rounds, r->server_saw_early,
                                o.rounds, r->early_on ? "" : ratio);
                    if (r->failed)
                        std::printf("    %d failed, last: %s\n", r->failed, r->last_error.c_str());
                    const bool good = r->failed == 0 && r->resumed == o.rounds &&
                                      (r->early_on ? r->accepted == o.rounds && r->server_saw_early == o.rounds
                                                   : r->accepted == 0 && r->server_saw_early == 0);
                    ok = ok && good;
                }
                rows.push_back(std::move(on));
                rows.push_back(std::move(off));
            }
    for (const Row& r : rows)
        std::printf("result backend=%s server=%s protocol=%s early=%s rounds=%d wall_ms=%.2f "
                    "rtts=%.3f connect_ms=%.2f tls_ms=%.2f first_byte_ms=%.2f resumed=%d "
                    "accepted=%d server_early=%d failed=%d\n",
                    r.backend.c_str(), r.server.c_str(), r.protocol.c_str(), r.early_on ? "on" : "off",
                    o.rounds, median(r.wall), median(r.wall) / rtt, median(r.connect), median(r.tls),
                    median(r.first_byte), r.resumed, r.accepted, r.server_saw_early, r.failed);
    if (o.check && !ok) {
        std::printf("check failed: a row with early data on was not accepted (and seen by the "
                    "server) in every round, or one with it off was, or a round failed\n");
        return 1;
    }
    return 0;
}
