// bench_client: connmatrix's side of bench/run.sh, in the shapes of its peers (h2load, and
// bench/curl_peer for libcurl), with the same output line so they compare in one run.
//
//   bench_client throughput URL BACKEND MODE CA_FILE N M [async|blocking|executor]
//       N requests over one warmed connection with at most M in flight, the way
//       h2load -n N -c 1 -m M does it. async: send_async(), a new request from each callback;
//       blocking: M threads calling send() (M = 1: sequential, one after another); executor:
//       as async, the Client on this thread's io_context (ClientOptions::executor), no other
//       thread, as h2load runs.
//   bench_client setup URL BACKEND MODE CA_FILE N
//       N new connections one after another, each a full TLS handshake (tls.resumption off):
//       send() after close_idle_connections(), so each pays TCP + TLS + the first response.
//   bench_client backends
//       the backends compiled into this build, one line, space-separated.
//
// Prints one line: "requests=N failed=F seconds=S req_per_s=R cpu_us_per_req=C p50_us=P
// p99_us=Q protocol=h2". CPU is getrusage(RUSAGE_SELF) user + sys (every thread, the Client's
// I/O thread included) over the timed part; latencies are per request (per connection in
// setup). A request fails unless it is a 200 over h2 (and, in setup, on a new connection).
#include <connmatrix/asio.hpp>
#include <connmatrix/client.hpp>
#include <connmatrix/policy.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace connmatrix;
using Clock = std::chrono::steady_clock;

namespace {

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

long micros_since(Clock::time_point t0) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
}

// What a timed run counts; print() writes the one output line.
struct Tally {
    long n = 0;
    long failed = 0;
    std::vector<long> latencies_us;
    std::string protocol;
    Clock::time_point t0 = Clock::now();
    double cpu0 = cpu_seconds();

    explicit Tally(long requests) : n(requests) {
        latencies_us.reserve(static_cast<std::size_t>(requests));
    }
    void record(const Result& r, long us, bool want_new_connection) {
        const bool h2 = r && r.response.info.protocol == Protocol::h2;
        if (!r || r.response.status != 200 || !h2 || (want_new_connection && r.response.info.reused)) {
            if (failed++ == 0)
                std::fprintf(stderr, "bench_client: %s\n",
                             !r ? r.error.message().c_str() : "not a 200 over h2 on the expected connection");
        }
        if (protocol.empty() && r) protocol = std::string(to_string(r.response.info.protocol));
        latencies_us.push_back(us);
    }
    int print() {
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        const double cpu = cpu_seconds() - cpu0;
        std::sort(latencies_us.begin(), latencies_us.end());
        auto pct = [this](double p) {
            return latencies_us.empty()
                       ? 0L
                       : latencies_us[static_cast<std::size_t>(p * static_cast<double>(latencies_us.size() - 1))];
        };
        std::printf("requests=%ld failed=%ld seconds=%.3f req_per_s=%.0f cpu_us_per_req=%.1f "
                    "p50_us=%ld p99_us=%ld protocol=%s\n",
                    n, failed, secs, static_cast<double>(n) / secs,
                    cpu * 1e6 / static_cast<double>(std::max(1L, n)), pct(0.5), pct(0.99),
                    protocol.empty() ? "none" : protocol.c_str());
        return failed == 0 && static_cast<long>(latencies_us.size()) == n ? 0 : 1;
    }
};

Request get(const std::string& url) {
    Request r;  // by member: -Wmissing-field-initializers flags a designated list short of one
    r.method = "GET";
    r.url = url;
    return r;
}

// send_async(), a new request from each callback. With `io` (executor), the Client runs on it
// and this thread runs it: the last callback stops the loop (the pooled connection is work on
// it, so run() would not return by itself).
int run_async(Client& client, const std::string& url, long n, long m, asio::io_context* io = nullptr) {
    std::mutex mu;
    std::condition_variable cv;
    long started = std::min(n, m);
    long done = 0;
    Tally tally(n);
    std::function<void()> launch;
    launch = [&] {
        const auto t0 = Clock::now();
        client.send_async(get(url), [&, t0](Result r) {
            const long us = micros_since(t0);
            bool more = false;
            bool last = false;
            {
                std::lock_guard lock(mu);
                last = ++done == n;
                tally.record(r, us, false);
                if (started < n) {
                    ++started;
                    more = true;
                }
            }
            if (more) launch();
            // Only the last one wakes the waiting thread: a wake-up per response would add two
            // context switches per request to what is measured (the benchmark's, not the Client's).
            if (last && io) io->stop();
            else if (last) cv.notify_all();
        });
    };
    for (long i = 0; i < std::min(n, m); ++i) launch();
    if (io) {
        io->restart();
        io->run();
    } else {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return done == n; });
    }
    return tally.print();
}

int run_blocking(Client& client, const std::string& url, long n, long m) {
    std::mutex mu;
    long started = 0;
    Tally tally(n);
    auto worker = [&] {
        for (;;) {
            {
                std::lock_guard lock(mu);
                if (started == n) return;
                ++started;
            }
            const auto t0 = Clock::now();
            Result r = client.send(get(url));
            const long us = micros_since(t0);
            std::lock_guard lock(mu);
            tally.record(r, us, false);
        }
    };
    std::vector<std::thread> threads;
    for (long i = 1; i < std::min(n, m); ++i) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
    return tally.print();
}

int run_setup(Client& client, const std::string& url, long n) {
    Tally tally(n);
    for (long i = 0; i < n; ++i) {
        client.close_idle_connections();
        const auto t0 = Clock::now();
        Result r = client.send(get(url));
        tally.record(r, micros_since(t0), true);
    }
    return tally.print();
}

std::optional<Client> make_client(const char* backend, const char* mode, const char* ca,
                                  bool resumption, ClientOptions options = {}) {
    Error err;
    const std::string json = std::string("{\"defaults\": {\"backend\": \"") + backend +
                             "\", \"mode\": \"" + mode + "\", \"tls\": {\"ca_file\": \"" + ca +
                             "\", \"resumption\": " + (resumption ? "true" : "false") +
                             "}, \"pool\": {\"max_connections_per_host\": 1}}}";
    auto client = Client::from_json(json, err, std::move(options));
    if (!client) std::fprintf(stderr, "bench_client: config: %s\n", err.message().c_str());
    return client;
}

int usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s throughput URL BACKEND MODE CA_FILE N M [async|blocking|executor]\n"
                 "       %s setup URL BACKEND MODE CA_FILE N\n"
                 "       %s backends\n",
                 argv0, argv0, argv0);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::strcmp(argv[1], "backends") == 0) {
        const auto info = policy::BuildInfo::compiled_in();
        for (std::size_t i = 0; i < info.backends.size(); ++i)
            std::printf("%s%s", i ? " " : "", info.backends[i].c_str());
        std::printf("\n");
        return 0;
    }
    const bool throughput = (argc == 8 || argc == 9) && std::strcmp(argv[1], "throughput") == 0;
    const bool setup = argc == 7 && std::strcmp(argv[1], "setup") == 0;
    const bool blocking = argc == 9 && std::strcmp(argv[8], "blocking") == 0;
    const bool on_executor = argc == 9 && std::strcmp(argv[8], "executor") == 0;
    if ((!throughput && !setup) ||
        (argc == 9 && !blocking && !on_executor && std::strcmp(argv[8], "async") != 0))
        return usage(argv[0]);
    const std::string url = argv[2];
    const long n = std::max(1L, std::atol(argv[6]));
    asio::io_context io;  // executor: the Client's loop, run by this thread
    ClientOptions options;
    if (on_executor) options.executor = run_on(io.get_executor());
    auto client = make_client(argv[3], argv[4], argv[5], !setup, std::move(options));
    if (!client) return 3;
    if (setup) return run_setup(*client, url, n);
    const long m = std::max(1L, std::atol(argv[7]));
    if (on_executor) {
        // warm() waits for the loop: here, a first request run on it stands for it.
        std::optional<Result> first;
        client->send_async(get(url), [&](Result r) {
            first = std::move(r);
            io.stop();
        });
        io.run();
        if (!first || !*first) {
            std::fprintf(stderr, "bench_client: warm: %s\n",
                         first ? first->error.message().c_str() : "no answer");
            return 4;
        }
        return run_async(*client, url, n, m, &io);
    }
    if (Error e = client->warm(url, 1)) {
        std::fprintf(stderr, "bench_client: warm: %s\n", e.message().c_str());
        return 4;
    }
    return blocking ? run_blocking(*client, url, n, m) : run_async(*client, url, n, m);
}
