// bench_client: N requests over one warmed connection with at most M in flight, the way
// h2load -n N -c 1 -m M does it, so the two can be compared in one run (bench/run.sh).
//
//   bench_client URL BACKEND MODE CA_FILE N M
//
// Prints one line: "requests=N seconds=S req_per_s=R p50_us=... p99_us=... protocol=..."
#include <connmatrix/client.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

using namespace connmatrix;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    if (argc != 7) {
        std::fprintf(stderr, "usage: %s URL BACKEND MODE CA_FILE N M\n", argv[0]);
        return 2;
    }
    const std::string url = argv[1];
    const long n = std::atol(argv[5]);
    const long m = std::max(1L, std::atol(argv[6]));
    Error err;
    const std::string json = std::string("{\"defaults\": {\"backend\": \"") + argv[2] +
                             "\", \"mode\": \"" + argv[3] + "\", \"tls\": {\"ca_file\": \"" +
                             argv[4] + "\"}, \"pool\": {\"max_connections_per_host\": 1}}}";
    auto client = Client::from_json(json, err);
    if (!client) {
        std::fprintf(stderr, "config: %s\n", err.message().c_str());
        return 3;
    }
    if (Error e = client->warm(url, 1)) {
        std::fprintf(stderr, "warm: %s\n", e.message().c_str());
        return 4;
    }
    std::mutex mu;
    std::condition_variable cv;
    long started = 0, done = 0, failed = 0;
    std::vector<long> latencies_us;
    latencies_us.reserve(static_cast<std::size_t>(n));
    std::string protocol;
    std::function<void()> launch;
    launch = [&] {
        const auto t0 = Clock::now();
        client->send_async({.method = "GET", .url = url, .headers = {}, .body = {}, .timeout = {},
                            .deadline = {}, .cancel = {}},
                           [&, t0](Result r) {
                               const long us = std::chrono::duration_cast<std::chrono::microseconds>(
                                                   Clock::now() - t0)
                                                   .count();
                               bool more = false;
                               {
                                   std::lock_guard lock(mu);
                                   ++done;
                                   if (!r) ++failed;
                                   else if (protocol.empty())
                                       protocol = std::string(to_string(r.response.info.protocol));
                                   latencies_us.push_back(us);
                                   if (started < n) {
                                       ++started;
                                       more = true;
                                   }
                               }
                               if (more) launch();
                               cv.notify_all();
                           });
    };
    const auto begin = Clock::now();
    {
        std::lock_guard lock(mu);
        started = std::min(n, m);
    }
    for (long i = 0; i < std::min(n, m); ++i) launch();
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == n; });
    const double secs = std::chrono::duration<double>(Clock::now() - begin).count();
    std::sort(latencies_us.begin(), latencies_us.end());
    auto pct = [&](double p) {
        return latencies_us.empty() ? 0L
                                    : latencies_us[static_cast<std::size_t>(p * static_cast<double>(latencies_us.size() - 1))];
    };
    std::printf("requests=%ld failed=%ld seconds=%.3f req_per_s=%.0f p50_us=%ld p99_us=%ld protocol=%s\n",
                n, failed, secs, static_cast<double>(n) / secs, pct(0.5), pct(0.99), protocol.c_str());
    return failed == 0 ? 0 : 1;
}
