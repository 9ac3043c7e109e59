// Shared by the hostile-server suites: a server that misbehaves on purpose, written as a script
// per connection over a raw socket (optionally behind a TLS session of one of our own server
// backends), the transports to run each case on, the timing and peak-memory checks.
//
// Every wait here is bounded: a script blocked on a client that went away returns within its
// own timeout, and stopping the server ends every script.
#pragma once

#include "client_common.hpp"

#include <connmatrix/errors.hpp>

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef CONNMATRIX_HOSTILE_CERT_DIR
#error "the build must define CONNMATRIX_HOSTILE_CERT_DIR"
#endif

namespace connmatrix::test {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

inline std::string hostile_cert(std::string_view file) {
    return std::string(CONNMATRIX_HOSTILE_CERT_DIR) + "/" + std::string(file);
}

// ---------------------------------------------------------------------------------------------
// One accepted connection, as a hostile server's script sees it.
class Peer {
public:
    Peer(int fd, tls::Session* tls, const std::atomic<bool>& stopping)
        : fd_(fd), tls_(tls), stopping_(stopping) {}

    int fd() const noexcept { return fd_; }
    tls::Session* tls() const noexcept { return tls_; }
    bool stopping() const noexcept { return stopping_; }
    // Plaintext received and not yet consumed by the script.
    std::string& input() noexcept { return in_; }
    std::uint64_t received() const noexcept { return received_; }  // plaintext bytes, ever

    // Waits up to `wait` for bytes; appends the plaintext to input(). False at the end of the
    // stream, on an error, when stopping, or when nothing came in time (see timed_out()).
    bool read_some(Ms wait = 2000ms) {
        timed_out_ = false;
        std::uint8_t buf[65536];
        const bool tls = tls_ && tls_->handshake_done();  // else raw bytes, TLS or not
        for (;;) {
            if (tls) {
                std::vector<std::uint8_t> plain;
                const tls::Status st = tls_->read(plain);
                flush_tls();
                if (!plain.empty()) {
                    take(plain.data(), plain.size());
                    return true;
                }
                if (st == tls::Status::closed || st == tls::Status::failed) return false;
            }
            const ssize_t k = read_raw(buf, sizeof buf, wait);
            if (k <= 0) return false;
            if (!tls) {
                take(buf, static_cast<std::size_t>(k));
                return true;
            }
            tls_->feed({buf, static_cast<std::size_t>(k)});
        }
    }
    bool timed_out() const noexcept { return timed_out_; }

    // Reads until input() contains `marker` (a request head: "\r\n\r\n"), within `wait`.
    bool read_until(std::string_view marker, Ms wait = 2000ms) {
        const auto deadline = std::chrono::steady_clock::now() + wait;
        while (in_.find(marker) == std::string::npos) {
            const auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
            if (left <= 0ms || !read_some(left)) return false;
        }
        return true;
    }

    // Reads and discards until the end of the stream or `wait`; the bytes count in received().
    void drain(Ms wait = 2000ms) {
        const auto deadline = std::chrono::steady_clock::now() + wait;
        for (;;) {
            in_.clear();
            const auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
            if (left <= 0ms || !read_some(left)) return;
        }
    }

    // Plaintext out (encrypted when TLS). False once the client is gone.
    bool write(std::string_view s) {
        const std::span<const std::uint8_t> b{reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
        if (!tls_) return write_raw(b);
        if (tls_->write(b) != tls::Status::ok) return false;
        return flush_tls();
    }
    // Bytes on the socket as they are, past any TLS session.
    bool write_raw(std::span<const std::uint8_t> b) {
        std::size_t off = 0;
        while (off < b.size()) {
            if (stopping_) return false;
            const ssize_t k = ::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL);
            if (k <= 0) return false;
            off += static_cast<std::size_t>(k);
        }
        return true;
    }
    bool write_raw(std::string_view s) {
        return write_raw({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
    }

    // The TLS handshake, as the server. With `hold_last_flight`, the server's last handshake
    // bytes are not sent: they stay queued in the session, so that the script's next write or
    // close_notify goes out in the same segment (a client then sees the end of the handshake
    // and what follows it in one read).
    bool handshake(bool hold_last_flight = false) {
        std::uint8_t buf[16384];
        for (int i = 0; i < 1000; ++i) {
            const tls::Status st = tls_->handshake();
            if (st == tls::Status::ok) {
                if (!hold_last_flight) return flush_tls();
                held_ = tls_->take_output();
                return true;
            }
            if (!flush_tls()) return false;
            if (st == tls::Status::failed) return false;
            const ssize_t k = read_raw(buf, sizeof buf, 2000ms);
            if (k < 0) return false;
            if (k == 0) tls_->feed_eof();
            else tls_->feed({buf, static_cast<std::size_t>(k)});
        }
        return false;
    }

    void close_notify() {
        if (!tls_) return;
        tls_->close();
        flush_tls();
    }
    void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
    // An abortive close: RST instead of FIN, unread input discarded.
    void reset() {
        linger l{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::shutdown(fd_, SHUT_RDWR);
    }

    bool flush_tls() {
        if (!tls_ || (!tls_->has_output() && held_.empty())) return true;
        std::vector<std::uint8_t> out = std::exchange(held_, {});
        const auto more = tls_->take_output();
        out.insert(out.end(), more.begin(), more.end());
        return write_raw(out);
    }

private:
    ssize_t read_raw(std::uint8_t* buf, std::size_t n, Ms wait) {
        const auto deadline = std::chrono::steady_clock::now() + wait;
        for (;;) {
            if (stopping_) return -1;
            if (std::chrono::steady_clock::now() >= deadline) {
                timed_out_ = true;
                return -1;
            }
            pollfd p{fd_, POLLIN, 0};
            const int r = ::poll(&p, 1, 20);
            if (r < 0) return -1;
            if (r == 0) continue;
            const ssize_t k = ::recv(fd_, buf, n, 0);
            return k < 0 ? -1 : k;
        }
    }
    void take(const std::uint8_t* p, std::size_t n) {
        in_.append(reinterpret_cast<const char*>(p), n);
        received_ += n;
    }

    int fd_;
    tls::Session* tls_;
    const std::atomic<bool>& stopping_;
    std::string in_;
    std::uint64_t received_ = 0;
    std::vector<std::uint8_t> held_;
    bool timed_out_ = false;
};

// The script each connection runs; `n` counts connections from 1.
using Script = std::function<void(Peer& peer, std::size_t n)>;

struct HostileOptions {
    const tls::Backend* backend = nullptr;  // nullptr: cleartext
    tls::ServerConfig tls;                  // when backend is set (cert, key, versions)
    bool handshake = true;                  // the server completes the handshake before the script
    bool hold_last_flight = false;          // see Peer::handshake
};

// Listens on 127.0.0.1; each accepted connection runs the script on its own thread.
class HostileServer {
public:
    HostileServer(HostileOptions options, Script script)
        : opt_(std::move(options)), script_(std::move(script)) {
        if (opt_.backend) {
            Error err;
            ctx_ = opt_.backend->server_context(opt_.tls, err);
            INFO(err.message());
            REQUIRE(ctx_);
        }
        listen_fd_ = listen_tcp(INADDR_LOOPBACK, 128, port_);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    explicit HostileServer(Script script) : HostileServer(HostileOptions{}, std::move(script)) {}
    ~HostileServer() { stop(); }
    HostileServer(const HostileServer&) = delete;
    HostileServer& operator=(const HostileServer&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    std::string url(std::string_view path = "/") const {
        return std::string(opt_.backend ? "https" : "http") + "://localhost:" +
               std::to_string(port_) + std::string(path);
    }
    std::size_t connections() const noexcept { return connections_; }
    std::size_t handshakes() const noexcept { return handshakes_; }

    void stop() {
        if (stopping_.exchange(true)) return;
        if (acceptor_.joinable()) acceptor_.join();
        ::close(listen_fd_);
        std::vector<std::thread> workers;
        {
            std::lock_guard lock(mu_);
            workers.swap(workers_);
        }
        for (auto& t : workers) t.join();
    }

private:
    void accept_loop() {
        while (!stopping_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            const int fd = ::accept(listen_fd_, nullptr, nullptr);
            if (fd < 0) continue;
            const std::size_t n = ++connections_;
            std::lock_guard lock(mu_);
            workers_.emplace_back([this, fd, n] {
                serve(fd, n);
                ::close(fd);
            });
        }
    }

    void serve(int fd, std::size_t n) {
        std::unique_ptr<tls::Session> session;
        if (ctx_) {
            Error err;
            session = ctx_->new_session(err);
            if (!session) return;
        }
        Peer peer(fd, session.get(), stopping_);
        if (session && opt_.handshake) {
            if (!peer.handshake(opt_.hold_last_flight)) return;
            ++handshakes_;
        }
        script_(peer, n);
    }

    HostileOptions opt_;
    Script script_;
    std::shared_ptr<tls::ServerContext> ctx_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> connections_{0};
    std::atomic<std::size_t> handshakes_{0};
    std::thread acceptor_;
    std::mutex mu_;
    std::vector<std::thread> workers_;
};

// A TLS server configuration of our test certificates: `leaf` from the shared set.
inline HostileOptions tls_hostile(const tls::Backend& backend, std::string leaf = "localhost-ec") {
    HostileOptions o;
    o.backend = &backend;
    o.tls.cert_file = cert(leaf + ".pem");
    o.tls.key_file = cert(leaf + ".key");
    o.tls.alpn = {"http/1.1"};
    o.tls.max_version = max_version_from_env();
    return o;
}

// ---------------------------------------------------------------------------------------------
// Where TLS matters, a case runs on cleartext and on every compiled backend (client and server
// of the same backend); `name` says which in the test's output.
struct Transport {
    const tls::Backend* backend = nullptr;  // nullptr: cleartext
    std::string name() const { return backend ? std::string(backend->name()) : "cleartext"; }
};
inline std::vector<Transport> transports() {
    std::vector<Transport> t{{nullptr}};
    for (const auto& b : registry().all()) t.push_back({b.get()});
    return t;
}
inline HostileOptions server_for(const Transport& t) {
    return t.backend ? tls_hostile(*t.backend) : HostileOptions{};
}

// The timeouts every hostile case runs under: short, so that a case which waits for one ends
// soon, and a case which must not wait is seen to end well before them.
constexpr Ms connect_timeout = 1000ms;
constexpr Ms tls_timeout = 1000ms;
constexpr Ms request_timeout = 1500ms;
// What a request may take beyond the timeout that ends it: scheduling on a loaded 2-core
// machine, not protocol work.
constexpr Ms margin = 1000ms;

inline std::string timeouts_json(Ms request = request_timeout) {
    return "\"timeouts\": {\"connect\": \"" + std::to_string(connect_timeout.count()) +
           "ms\", \"tls\": \"" + std::to_string(tls_timeout.count()) + "ms\", \"request\": \"" +
           std::to_string(request.count()) + "ms\"}";
}

// A client for `t` in mode http1 (TLS: the backend, our CA), with the hostile timeouts.
inline Client hostile_client(const Transport& t, ClientOptions opts = {},
                             std::string_view extra = {}, Ms request = request_timeout) {
    std::string more = timeouts_json(request);
    if (!extra.empty()) more += ", " + std::string(extra);
    return make_client(client_json(t.backend ? t.backend->name()
                                             : registry().default_backend().name(),
                                   "http1", more),
                       std::move(opts));
}

struct Timed {
    Result result;
    Ms took{0};
};
inline Timed timed_send(Client& c, Request rq) {
    const auto t0 = std::chrono::steady_clock::now();
    Timed t;
    t.result = c.send(std::move(rq));
    t.took = std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - t0);
    return t;
}
inline Timed timed_get(Client& c, const std::string& url) {
    return timed_send(c, {.method = "GET", .url = url});
}

// The request failed with exactly `code`, before `limit` (its timeout plus the margin).
inline void check_error(const Timed& t, std::error_code code, Ms limit = request_timeout + margin) {
    INFO(error_name(t.result.error.code), ": ", t.result.error.message(), " (after ",
         t.took.count(), " ms)");
    CHECK_FALSE(t.result);
    CHECK(t.result.error.code == code);
    CHECK(origin_fits(t.result.error));
    CHECK(t.took < limit);
}

// ---------------------------------------------------------------------------------------------
// Peak memory. Linux keeps the process's peak resident set (VmHWM) and lets a process reset it
// to the current size ("5" into /proc/self/clear_refs, Linux 4.0): so each case measures its own
// peak, whatever ran before it in this process. Everything in the process counts, the server's
// threads too: the servers here stream what they send and discard what they receive, so what
// grows is the client.
inline std::size_t status_kib(std::string_view field) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.compare(0, field.size(), field) == 0 && line.size() > field.size() &&
            line[field.size()] == ':')
            return std::stoul(line.substr(field.size() + 1));
    FAIL("no " << field << " in /proc/self/status");
    return 0;
}

class PeakRss {
public:
    PeakRss() {
        std::ofstream f("/proc/self/clear_refs");
        f << "5";
        f.flush();
        REQUIRE_MESSAGE(f.good(), "cannot reset the peak RSS (/proc/self/clear_refs)");
        base_ = status_kib("VmRSS") * 1024;
        REQUIRE_MESSAGE(status_kib("VmHWM") * 1024 <= base_ + 1024 * 1024,
                        "the peak RSS was not reset");
    }
    // Growth of the peak over the resident size at construction.
    std::size_t growth() const {
        const std::size_t peak = status_kib("VmHWM") * 1024;
        return peak > base_ ? peak - base_ : 0;
    }

private:
    std::size_t base_ = 0;
};

constexpr std::size_t MiB = 1024 * 1024;

}  // namespace connmatrix::test

#include "asan_options.hpp"

namespace connmatrix::test {

// What any case may grow by, whatever it does: a Client's thread stack as it is touched, TLS
// contexts and CA bundles, a 64 KB read buffer per side, glibc arenas for the server threads.
// Measured at 2-6 MB for the cases here; a case that keeps what a hostile server sends (an
// endless header, body, 1xx stream) grows past it within a second.
constexpr std::size_t base_slack = 16 * MiB;

}  // namespace connmatrix::test
