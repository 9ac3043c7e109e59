// timing: a curl -w-like line per request, made from the Client's events (ClientOptions::
// on_event): where each request's time went, and whether it paid for DNS, TCP and TLS or
// reused a connection. Then the per-origin counters of Client::stats().
//   timing URL [N [CA_FILE]]    e.g. timing https://127.0.0.1:8443/ 3 ca.pem
#include <connmatrix/client.hpp>

#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>

using namespace connmatrix;
using Clock = std::chrono::steady_clock;

namespace {

std::string ms(Clock::duration d) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(2)
      << std::chrono::duration<double, std::milli>(d).count() << "ms";
    return o.str();
}

// What the events said, by connection and by request. Called on the Client's I/O thread.
class Timeline {
public:
    void operator()(const Event& e) {
        std::lock_guard lock(mu_);
        Conn& c = conns_[e.connection];
        Req& r = reqs_[e.request];
        switch (e.kind) {
            case EventKind::dns_start: c.dns_start = e.at; break;
            case EventKind::dns_end: c.dns_end = e.at; break;
            case EventKind::connect_start:
                if (c.connect_start == Clock::time_point{}) c.connect_start = e.at;
                break;
            case EventKind::connect_end:
                if (!e.error) c.connect_end = e.at;
                break;
            case EventKind::tls_start: c.tls_start = e.at; break;
            case EventKind::tls_end: c.tls_end = e.at; break;
            case EventKind::request_queued: r.queued = e.at; break;
            case EventKind::connection_reused: r.reused = true; break;
            case EventKind::request_sent: r.sent = e.at; r.connection = e.connection; break;
            case EventKind::response_headers: r.headers = e.at; break;
            case EventKind::request_done: print(e, r); break;
            default: break;
        }
    }

private:
    struct Conn {
        Clock::time_point dns_start, dns_end, connect_start, connect_end, tls_start, tls_end;
    };
    struct Req {
        Clock::time_point queued, sent, headers;
        std::uint64_t connection = 0;
        bool reused = false;
    };

    void print(const Event& e, const Req& r) {
        std::cout << "#" << e.request << " ";
        if (e.error) {
            std::cout << error_name(e.error->code) << ": " << e.error->message() << "\n";
            return;
        }
        std::cout << (e.info ? to_string(e.info->protocol) : "?") << " " << e.response->status;
        if (!r.reused && conns_.count(r.connection)) {
            const Conn& c = conns_[r.connection];
            if (c.dns_end != Clock::time_point{}) std::cout << " dns " << ms(c.dns_end - c.dns_start);
            if (c.connect_end != Clock::time_point{}) std::cout << " connect " << ms(c.connect_end - c.connect_start);
            if (c.tls_end != Clock::time_point{}) std::cout << " tls " << ms(c.tls_end - c.tls_start);
        }
        if (r.headers != Clock::time_point{}) std::cout << " ttfb " << ms(r.headers - r.sent);
        std::cout << " total " << ms(e.at - r.queued) << " ("
                  << (r.reused ? "reused" : "new") << " connection #" << r.connection << ")\n";
        reqs_.erase(e.request);
    }

    std::mutex mu_;
    std::map<std::uint64_t, Conn> conns_;
    std::map<std::uint64_t, Req> reqs_;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: timing URL [N [CA_FILE]]\n";
        return 2;
    }
    const int n = argc > 2 ? std::stoi(argv[2]) : 3;
    policy::Config config;
    if (argc > 3) config.defaults.tls.ca_file = argv[3];
    auto timeline = std::make_shared<Timeline>();
    ClientOptions options;
    options.on_event = [timeline](const Event& e) { (*timeline)(e); };
    Client client(std::move(config), std::move(options));
    int failed = 0;
    for (int i = 0; i < n; ++i) {
        Request request;
        request.url = argv[1];
        if (!client.send(std::move(request))) ++failed;
    }
    for (const auto& o : client.stats().origins)
        std::cout << o.origin << ": " << o.requests << " requests, " << o.errors << " errors, "
                  << o.h2_connections << " h2 / " << o.http1_connections
                  << " http/1.1 connections, p50 " << o.p50.count() << " us, p99 "
                  << o.p99.count() << " us\n";
    return failed == 0 ? 0 : 1;
}
