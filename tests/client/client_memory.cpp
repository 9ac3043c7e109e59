// client_memory: a Client that talks to many origins gives back what each one cost once its
// connections have idled out: Host records are erased, and the heap returns to its baseline.
//
// Distinct origins on one machine: all of 127.0.0.0/8 is loopback on Linux, so 127.A.x.y are
// 10,000 different hosts, all served by one cleartext HTTP/1.1 server on 0.0.0.0.
#include "client_common.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

using namespace connmatrix;
using namespace connmatrix::test;

namespace {

// Keep-alive HTTP/1.1 on every address of this machine: one thread, poll(), every request
// answered "200 ok" (requests without a body, as this test sends). It holds no per-request
// state, so what it allocates depends only on how many connections are open at once.
class LoopbackServer {
public:
    LoopbackServer() {
        listen_fd_ = listen_tcp(INADDR_ANY, 1024, port_, SOCK_NONBLOCK);
        REQUIRE(::pipe2(wake_, O_NONBLOCK) == 0);
        thread_ = std::thread([this] { run(); });
    }
    ~LoopbackServer() {
        stopping_ = true;
        (void)!::write(wake_[1], "x", 1);
        thread_.join();
        ::close(listen_fd_);
        ::close(wake_[0]);
        ::close(wake_[1]);
    }
    std::uint16_t port() const noexcept { return port_; }
    std::size_t open_connections() const noexcept { return open_; }

private:
    struct Conn {
        int fd;
        std::string in;
    };

    void run() {
        std::vector<Conn> conns;
        std::vector<pollfd> fds;
        static constexpr std::string_view reply =
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        char buf[4096];
        while (!stopping_) {
            fds.assign({{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}});
            for (const auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
            if (::poll(fds.data(), fds.size(), 1000) < 0) continue;
            for (std::size_t i = conns.size(); i-- > 0;) {
                if (!fds[i + 2].revents) continue;
                Conn& c = conns[i];
                const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
                if (n <= 0) {
                    ::close(c.fd);
                    conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
                    continue;
                }
                c.in.append(buf, static_cast<std::size_t>(n));
                for (auto end = c.in.find("\r\n\r\n"); end != std::string::npos;
                     end = c.in.find("\r\n\r\n")) {
                    c.in.erase(0, end + 4);
                    (void)::send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL);
                }
            }
            if (fds[0].revents)
                for (int fd; (fd = ::accept4(listen_fd_, nullptr, nullptr, 0)) >= 0;)
                    conns.push_back({fd, {}});
            open_ = conns.size();
        }
        for (const auto& c : conns) ::close(c.fd);
    }

    int listen_fd_ = -1;
    int wake_[2] = {-1, -1};
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> open_{0};
    std::thread thread_;
};

// Bytes the program has allocated and not freed (glibc: every arena, and mmapped chunks).
std::size_t heap_in_use() {
    const struct mallinfo2 m = ::mallinfo2();
    return m.uordblks + m.hblkhd;
}

std::string origin(int block, int n, std::uint16_t port) {
    return "http://127." + std::to_string(block) + "." + std::to_string(n / 250) + "." +
           std::to_string(n % 250 + 1) + ":" + std::to_string(port) + "/";
}

// Until every connection has idled out and every Host record is gone (bounded).
Client::Stats wait_until_idle(Client& c, const LoopbackServer& server) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    Client::Stats s = c.stats();
    while ((s.hosts > 0 || s.connections_open > 0 || server.open_connections() > 0) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        s = c.stats();
    }
    return s;
}

// `count` distinct origins in batches of `batch` requests in flight together; after each
// batch `with_batch_open` runs while its connections and Hosts are still there, then the batch
// idles out completely before the next starts. So at most `batch` connections are open at
// once (twice that in descriptors with the server's end: far from a 1024 limit), in the
// warm-up as in the measured run, and what Asio and the server keep for their peak of
// concurrency is the same in both.
template <class F>
void visit(Client& c, const LoopbackServer& server, int block, int count, F&& with_batch_open) {
    constexpr int batch = 250;
    for (int first = 0; first < count; first += batch) {
        std::vector<std::future<Result>> fs;
        for (int n = first; n < std::min(count, first + batch); ++n)
            fs.push_back(c.send_future({.method = "GET", .url = origin(block, n, server.port())}));
        int ok = 0;
        for (auto& f : fs) {
            Result r = f.get();
            if (r) {
                ++ok;
                continue;
            }
            INFO(r.error.message());
            CHECK(r);
        }
        REQUIRE(ok == static_cast<int>(fs.size()));
        with_batch_open();
        const Client::Stats s = wait_until_idle(c, server);
        REQUIRE(s.hosts == 0);
        REQUIRE(s.connections_open == 0);
    }
}

}  // namespace

TEST_CASE("10,000 origins: their Host records are erased and the heap returns to its baseline") {
    // 11,250 connections in 45 batches, each idling out (50 ms) before the next: a few seconds.
    LoopbackServer server;
    Client c = make_client(client_json(registry().default_backend().name(), "http1",
                                       R"("timeouts": {"idle": "50ms", "connect": "3s", "request": "10s"},
                                          "pool": {"max_connections_per_host": 1, "max_idle_per_host": 1})"));
    // Warm-up: the same paths once, so that what is allocated once per Client or per peak of
    // concurrency (the resolver thread, Asio's descriptor and timer pools, the server's
    // vectors) is in the baseline, and enough origins to fill the Client's route cache (1024
    // origins, least recently used out), which is then as full afterwards. Then the baseline,
    // with no connection and no Host left.
    constexpr int warm_up = 1'250;
    visit(c, server, 1, warm_up, [] {});
    const std::size_t baseline = heap_in_use();

    std::size_t peak = baseline, peak_hosts = 0;
    visit(c, server, 2, 10'000, [&] {
        peak = std::max(peak, heap_in_use());
        peak_hosts = std::max(peak_hosts, c.stats().hosts);
    });
    const Client::Stats s = c.stats();
    const std::size_t after = heap_in_use();
    MESSAGE("heap in use: baseline ", baseline, " B, peak ", peak, " B with ", peak_hosts,
            " hosts, after ", after, " B (", static_cast<long long>(after) - static_cast<long long>(baseline),
            " B)");
    CHECK(s.connections_opened == warm_up + 10'000);
    CHECK(s.requests == warm_up + 10'000);
    CHECK(s.hosts == 0);
    CHECK(s.connections_open == 0);
    CHECK(peak_hosts == 250);  // they did exist: a whole batch at a time
    // The numbers, on a Debian 12 x86-64 build: baseline about 3.4 MB; peak about 21 MB with
    // one batch of 250 origins connected (some 70 KB each, mostly the transport's 64 KB read
    // buffer); afterwards within 10-45 KB of the baseline, growing with neither the number of
    // origins nor of batches in any way that adds up to a record per origin. What remains is
    // glibc's per-thread caches (tcache chunks count as in use: up to 7 per size class in each
    // of the 4 threads here, a few hundred KB at the very most) and Asio's queues at their high
    // water mark. Hence 256 KB of slack. Keeping the Hosts instead costs about 3.6 KB per origin
    // once idle (measured: 36 MB after these 10,000), so keeping 1 in 100 of them fails this.
    CHECK(after <= baseline + 256 * 1024);
}
