// hostile_h2: HTTP/2 servers that are broken or hostile on purpose, against a real Client over
// real sockets, on every transport: h2c (prior knowledge) and TLS with ALPN h2 on each of our
// server backends (the client on the same backend). Each case ends with a specific error (or,
// for the early response, with the response), within its timeout, and with bounded memory.
//
// The servers run in a child process (fork), so that this process's peak RSS is the client's
// alone: each case resets the high-water mark (/proc/self/clear_refs) and asserts how far it rose.
// A server is a script over a Wire (the accepted connection, TLS done): the nghttp2 server session
// of the test support library with its fault knobs, raw frames written by hand, or both.
#include "../client/client_common.hpp"

#include "asan_options.hpp"
#include "h2_frames.hpp"
#include "h2_server.hpp"
#include "http2.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace connmatrix;
using namespace connmatrix::test;
using namespace connmatrix::test::frames;
using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;
using SteadyClock = std::chrono::steady_clock;

namespace {

// =============================================================================================
// The server process.

using Report = std::map<std::string, long>;

// Counters a script keeps; the child sends them to the parent when it stops.
class Counters {
public:
    void add(const std::string& key, long n = 1) {
        std::lock_guard lock(mu_);
        values_[key] += n;
    }
    Report values() {
        std::lock_guard lock(mu_);
        return values_;
    }

private:
    std::mutex mu_;
    Report values_;
};

// One accepted connection of the server, plaintext (through a TLS session of our server
// backend when the transport has one). Every wait is bounded and ends when the server stops.
// Everything the client sent is kept, so what it said last (its GOAWAY) can be read afterwards.
class Wire {
public:
    Wire(int fd, tls::Session* tls, const std::atomic<bool>& stop)
        : fd_(fd), tls_(tls), stop_(stop) {}

    bool handshake() {
        if (!tls_) return true;
        const auto deadline = SteadyClock::now() + 5s;
        while (SteadyClock::now() < deadline) {
            const tls::Status st = tls_->handshake();
            if (!flush_tls()) return false;
            if (st == tls::Status::ok) return true;
            if (st != tls::Status::want_input || pull(100ms) < 0) return false;
        }
        return false;
    }

    // Appends what the client sends within `wait` to `out` (and to the log); false once the
    // client has gone (end of stream, reset, TLS failure) or the server stops.
    bool read(Bytes& out, std::chrono::milliseconds wait = 100ms) {
        const std::size_t before = out.size();
        const bool alive = read_into(out, wait);
        log_.insert(log_.end(), out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
        return alive;
    }

    // False when the client no longer takes bytes (closed, or not reading for 2 s).
    bool write(std::span<const std::uint8_t> b) {
        if (b.empty()) return true;
        if (!tls_) return send_all(b);
        return tls_->write(b) == tls::Status::ok && flush_tls();
    }

    // Our end: close_notify (TLS), FIN, then read until the client closes too, within 2 s, so
    // that unread bytes do not turn the close into a reset that discards what we sent.
    void close() {
        if (tls_ && tls_->handshake_done() && !tls_->error()) {
            tls_->close();
            flush_tls();
        }
        ::shutdown(fd_, SHUT_WR);
        Bytes sink;
        const auto deadline = SteadyClock::now() + 2s;
        while (SteadyClock::now() < deadline && read(sink, 50ms)) sink.clear();
    }

    const Bytes& log() const noexcept { return log_; }
    bool stopping() const noexcept { return stop_; }

private:
    bool read_into(Bytes& out, std::chrono::milliseconds wait) {
        const auto deadline = SteadyClock::now() + wait;
        for (;;) {
            const std::size_t before = out.size();
            if (tls_) {
                const tls::Status st = tls_->read(out);
                if (!flush_tls()) return false;
                if (out.size() > before) return true;
                if (st == tls::Status::closed || st == tls::Status::failed) return false;
            } else if (!plain_.empty()) {
                out.insert(out.end(), plain_.begin(), plain_.end());
                plain_.clear();
                return true;
            }
            if (eof_) return false;
            const auto left = deadline - SteadyClock::now();
            if (left <= 0s) return true;
            if (pull(std::min<std::chrono::milliseconds>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(left) + 1ms, 50ms)) <
                0) {
                eof_ = true;
                if (tls_) tls_->feed_eof();
            }
        }
    }

    // Raw bytes from the socket into the TLS session (or `plain_`): 1 some, 0 none within
    // `wait`, -1 end of stream, error or stop.
    int pull(std::chrono::milliseconds wait) {
        if (stop_) return -1;
        pollfd p{fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(wait.count()));
        if (r < 0) return -1;
        if (r == 0) return 0;
        std::uint8_t buf[16384];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return -1;
        if (tls_)
            tls_->feed({buf, static_cast<std::size_t>(n)});
        else
            plain_.insert(plain_.end(), buf, buf + n);
        return 1;
    }

    bool flush_tls() { return !tls_->has_output() || send_all(tls_->take_output()); }

    bool send_all(std::span<const std::uint8_t> b) {
        std::size_t off = 0;
        auto last_progress = SteadyClock::now();
        while (off < b.size()) {
            if (stop_ || SteadyClock::now() - last_progress > 2s) return false;
            pollfd p{fd_, POLLOUT, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const ssize_t n =
                ::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
            last_progress = SteadyClock::now();
        }
        return true;
    }

    int fd_;
    tls::Session* tls_;
    const std::atomic<bool>& stop_;
    Bytes plain_;
    Bytes log_;
    bool eof_ = false;
};

// What a server does with each connection (`n`: 0 for the first one accepted, then 1, ...).
using Script = std::function<void(Wire&, Counters&, int n)>;

// A transport the cases run on: h2c by prior knowledge, or TLS with ALPN h2 on a backend.
struct Transport {
    std::string name;
    const tls::Backend* backend = nullptr;  // nullptr: cleartext
};

std::vector<Transport> transports() {
    std::vector<Transport> out{{"h2c", nullptr}};
    for (const auto& b : registry().all()) out.push_back({std::string(b->name()), b.get()});
    return out;
}

// What the client said about the connection at the end: its GOAWAY and RST_STREAM codes.
void count_client_frames(const Bytes& log, Counters& counters) {
    for (const Frame& f : parse(log, 24)) {  // after "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        if (f.type == type::goaway && f.payload.size() >= 8)
            counters.add("client goaway " +
                         std::string(http2::h2_error_name(get32(f.payload.data() + 4))));
        if (f.type == type::rst_stream && f.payload.size() == 4)
            counters.add("client rst " + std::string(http2::h2_error_name(get32(f.payload.data()))));
    }
}

[[noreturn]] void child_main(int listen_fd, int ctl, int results, const tls::Backend* backend,
                             const Script& script) {
    int code = 0;
    try {
        std::shared_ptr<tls::ServerContext> ctx;
        if (backend) {
            Error err;
            ctx = backend->server_context(server_config({"h2"}), err);
            if (!ctx) throw std::runtime_error("server context: " + err.message());
        }
        std::atomic<bool> stop{false};
        Counters counters;
        std::vector<std::thread> threads;
        const auto deadline = SteadyClock::now() + 120s;  // never outlive a stuck parent
        for (int n = 0; SteadyClock::now() < deadline;) {
            pollfd p[2] = {{listen_fd, POLLIN, 0}, {ctl, POLLIN, 0}};
            if (::poll(p, 2, 100) < 0) continue;
            if (p[1].revents) break;  // the parent closed its end: stop
            if (!(p[0].revents & POLLIN)) continue;
            const int fd = ::accept(listen_fd, nullptr, nullptr);
            if (fd < 0) continue;
            counters.add("connections");
            threads.emplace_back([&, fd, index = n++] {
                std::unique_ptr<tls::Session> session;
                Error err;
                if (ctx) session = ctx->new_session(err);
                Wire wire(fd, session.get(), stop);
                if ((!ctx || session) && wire.handshake()) {
                    script(wire, counters, index);
                    count_client_frames(wire.log(), counters);
                }
                ::close(fd);
            });
        }
        stop = true;
        for (auto& t : threads) t.join();
        std::string text;
        for (const auto& [k, v] : counters.values()) text += k + "=" + std::to_string(v) + "\n";
        for (std::size_t off = 0; off < text.size();) {
            const ssize_t w = ::write(results, text.data() + off, text.size() - off);
            if (w <= 0) break;
            off += static_cast<std::size_t>(w);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hostile server: %s\n", e.what());
        code = 3;
    }
    ::_exit(code);
}

// A server in a child process, on 127.0.0.1; stop() ends it and returns its counters.
class ChildServer {
public:
    ChildServer(const Transport& t, const Script& script) : tls_(t.backend != nullptr) {
        const int listen_fd = listen_tcp(INADDR_LOOPBACK, 64, port_);
        int ctl[2], res[2];
        REQUIRE(::pipe(ctl) == 0);
        REQUIRE(::pipe(res) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::close(ctl[1]);
            ::close(res[0]);
            child_main(listen_fd, ctl[0], res[1], t.backend, script);
        }
        ::close(listen_fd);
        ::close(ctl[0]);
        ::close(res[1]);
        ctl_ = ctl[1];
        results_ = res[0];
    }
    ~ChildServer() { (void)stop(); }
    ChildServer(const ChildServer&) = delete;
    ChildServer& operator=(const ChildServer&) = delete;

    std::string url(std::string_view path = "/") const {
        return std::string(tls_ ? "https" : "http") + "://localhost:" + std::to_string(port_) +
               std::string(path);
    }

    Report stop() {
        if (pid_ < 0) return report_;
        ::close(ctl_);
        std::string text;
        char buf[4096];
        for (ssize_t n; (n = ::read(results_, buf, sizeof buf)) > 0;)
            text.append(buf, static_cast<std::size_t>(n));
        ::close(results_);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        for (std::size_t pos = 0; pos < text.size();) {
            const std::size_t eol = text.find('\n', pos);
            const std::string line = text.substr(pos, eol - pos);
            if (const auto eq = line.rfind('='); eq != std::string::npos)
                report_[line.substr(0, eq)] = std::stol(line.substr(eq + 1));
            pos = eol == std::string::npos ? text.size() : eol + 1;
        }
        report_["exit status"] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return report_;
    }

private:
    bool tls_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
    int ctl_ = -1, results_ = -1;
    Report report_;
};

// --- scripts ---------------------------------------------------------------------------------

// Runs an nghttp2 server session on the wire until the client goes away, the session is done,
// or `more` says stop (asked after every exchange). True: stopped by `more`, the client is
// still there.
bool serve(Wire& w, http2::ServerSession& s, const std::function<bool()>& more = {}) {
    const auto deadline = SteadyClock::now() + 30s;
    while (SteadyClock::now() < deadline) {
        if (!w.write(s.take_output())) return false;
        if (more && !more()) return true;
        if (s.finished()) return false;
        Bytes in;
        if (!w.read(in)) {
            s.feed_eof();
            return false;
        }
        if (!in.empty()) (void)s.feed(in);
    }
    return false;
}

// Counts what the server session saw.
void record(const http2::ServerSession& s, Counters& c) {
    c.add("streams", static_cast<long>(s.streams_opened()));
    c.add("complete requests", static_cast<long>(s.requests_received()));
    c.add("body bytes", static_cast<long>(s.body_bytes_received()));
}

// A handler that counts what it processed, by method, and answers `status` with `body`.
http2::Handler counting(Counters& c, int status = 200, std::string body = "ok") {
    return [&c, status, body](const http2::ServerRequest& r) {
        c.add("processed " + r.method);
        http2::ServerResponse resp;
        resp.status = status;
        resp.body.assign(body.begin(), body.end());
        return resp;
    };
}

// Reads (for at most 5 s) until the client has closed the connection: "client closed".
void read_until_gone(Wire& w, Counters& c) {
    Bytes sink;
    const auto deadline = SteadyClock::now() + 5s;
    while (SteadyClock::now() < deadline) {
        if (!w.read(sink)) {
            c.add("client closed");
            return;
        }
        sink.clear();
    }
}

// Writes `unit` again and again without reading, until `max` copies are out or the client stops
// taking them; counts the copies as "flood".
void flood(Wire& w, Counters& c, const Bytes& unit, std::size_t max = 1'000'000) {
    const std::size_t batch = std::max<std::size_t>(1, 16384 / unit.size());
    const Bytes chunk = repeat(unit, batch);
    std::size_t sent = 0;
    while (sent < max && w.write(chunk)) sent += batch;
    c.add("flood", static_cast<long>(sent));
}

// The server session answers the preface and reads the requests (never answering them); once
// `requests` request HEADERS are in, `after` writes what it likes; then the server reads until the
// client goes away.
Script stall_then(std::size_t requests, std::function<void(Wire&, Counters&)> after) {
    return [requests, after = std::move(after)](Wire& w, Counters& c, int) {
        http2::ServerOptions o;
        o.faults.stall = true;
        http2::ServerSession s(o);
        if (serve(w, s, [&] { return s.streams_opened() < requests; })) {
            after(w, c);
            read_until_gone(w, c);
        }
        record(s, c);
    };
}

// =============================================================================================
// The client side.

// This process's peak resident set size from now on (the high-water mark is reset).
class PeakRss {
public:
    PeakRss() {
        std::ofstream("/proc/self/clear_refs") << "5";
        base_ = read("VmRSS:");
    }
    // How far the peak rose above where it was at construction, in bytes.
    std::size_t growth() const {
        const std::size_t hwm = read("VmHWM:");
        return hwm > base_ ? hwm - base_ : 0;
    }

private:
    static std::size_t read(std::string_view key) {
        std::ifstream f("/proc/self/status");
        std::string line;
        while (std::getline(f, line))
            if (line.rfind(key, 0) == 0) return std::stoul(line.substr(key.size())) * 1024;
        FAIL("no " << key << " in /proc/self/status");
        return 0;
    }
    std::size_t base_ = 0;
};

struct Send {
    std::string method = "GET";
    std::string path = "/";
    std::string body;
};

struct Run {
    std::vector<Result> results;  // in the order sent
    Report server;
    Client::Stats stats;
    std::size_t peak_growth = 0;      // bytes
    std::chrono::milliseconds took{};  // from the first send to the last answer
};

constexpr auto request_timeout = 10s;
constexpr std::string_view default_timeouts =
    R"("timeouts": {"connect": "2s", "tls": "1s", "request": "10s"})";

std::string config_for(const Transport& t, std::string_view extra = default_timeouts,
                       std::string_view mode = {}) {
    if (t.backend) return client_json(t.backend->name(), mode.empty() ? "alpn" : mode, extra);
    return client_json(registry().default_backend().name(),
                       mode.empty() ? "prior-knowledge" : mode, extra);
}

// `until_closed`: keep the Client until the server has closed its connections (within 5 s), for
// a server that waits to see what the client sends after its answers: a Client destroyed at once
// need not send what it still had queued.
Run run_once(const Transport& t, const Script& script, const std::vector<Send>& sends,
             const std::string& config, const ClientOptions& options, bool until_closed = false) {
    Run run;
    ChildServer server(t, script);
    {
        Client c = make_client(config, options);
        PeakRss rss;
        const auto t0 = SteadyClock::now();
        std::vector<std::future<Result>> fs;
        for (const Send& s : sends)
            fs.push_back(c.send_future({.method = s.method, .url = server.url(s.path), .body = s.body}));
        for (auto& f : fs) {
            // The request timeout bounds every request: waiting longer is a hang.
            if (f.wait_for(request_timeout + 5s) != std::future_status::ready) {
                FAIL("a request neither answered nor failed within its timeout");
            }
            run.results.push_back(f.get());
        }
        run.took = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t0);
        if (until_closed) {
            const auto deadline = SteadyClock::now() + 5s;
            while (c.stats().connections_open > 0 && SteadyClock::now() < deadline)
                std::this_thread::sleep_for(10ms);
            CHECK(c.stats().connections_open == 0);
        }
        run.peak_growth = rss.growth();
        run.stats = c.stats();
    }
    run.server = server.stop();
    CHECK(run.server["exit status"] == 0);
    return run;
}

// What a well-behaved exchange costs, once per transport, before anything is measured: code
// pages, the allocator's arenas and the TLS libraries' one-time state are then in the baseline.
void warm_up() {
    static const bool done = [] {
        const Script good = [](Wire& w, Counters& c, int) {
            http2::ServerSession s({}, counting(c));
            serve(w, s);
        };
        for (const Transport& t : transports())
            for (int i = 0; i < 2; ++i)
                (void)run_once(t, good, {{"GET"}, {"POST", "/", std::string(100'000, 'x')}},
                               config_for(t), {});
        return true;
    }();
    (void)done;
}

// Peak RSS a hostile connection may add to the client. What one h2 connection holds at most:
// the transport's 64 KiB read buffer, a TLS session's buffers (tens of KiB), nghttp2's session
// and HPACK tables (some 100 KiB), one response header list (64 KiB, max_header_list_size), the
// ACKs of at most 1,000 control frames (17 KiB), a 1 MiB request body (read in place) and 256 KiB of output;
// plus the Client's own thread and route: about 3 MiB together, hence 8 MiB with room for the
// allocator's rounding. Unbounded, these servers would make it hold far more: 200,000 PING
// ACKs never read (3.4 MB) and growing, the HPACK bomb's 48 MB decoded header list.
// Under AddressSanitizer (without its quarantine: asan_options.hpp) every block has redzones
// and shadow memory, and freed blocks wait in per-size caches: 4 times the bound there.
#ifdef CONNMATRIX_HOSTILE_ASAN
constexpr std::size_t memory_bound = 32u << 20;
#else
constexpr std::size_t memory_bound = 8u << 20;
#endif

Run run(const Transport& t, const Script& script, const std::vector<Send>& sends,
        const std::string& config, const ClientOptions& options = {}, bool until_closed = false) {
    warm_up();
    Run r = run_once(t, script, sends, config, options, until_closed);
    MESSAGE(t.name << ": " << r.results.size() << " request(s) in " << r.took.count()
                   << " ms, peak RSS +" << r.peak_growth / 1024 << " KiB, "
                   << r.stats.connections_opened << " connection(s)");
    CHECK(r.peak_growth <= memory_bound);
    CHECK(r.took < request_timeout);
    return r;
}

Run run(const Transport& t, const Script& script, const std::vector<Send>& sends = {{"GET"}}) {
    return run(t, script, sends, config_for(t));
}

// The client ended the connection, and if its GOAWAY got through (it closes at once, with the
// flood unread, so the kernel may reset the connection before sending it), it said why:
// ENHANCE_YOUR_CALM. (The codec cases below check that GOAWAY for each limit.)
void closed_by_client(const Run& r, std::string_view goaway = "ENHANCE_YOUR_CALM") {
    CHECK(r.server.count("client closed") == 1);
    for (const auto& [key, n] : r.server)
        if (key.rfind("client goaway ", 0) == 0) CHECK(key == "client goaway " + std::string(goaway));
}

// Every request ended with this error.
void all_failed_with(const Run& r, std::error_code code) {
    for (const Result& res : r.results) {
        INFO(res.error.message());
        CHECK(res.error.code == code);
    }
}

}  // namespace

// =============================================================================================
// Floods: frames that cost the server a few bytes each and make us work.

TEST_CASE("SETTINGS flood: http2:flood at once, GOAWAY ENHANCE_YOUR_CALM, bounded memory") {
    // Each SETTINGS (one entry) asks for an ACK; the server never reads them.
    const Bytes settings = frame(type::settings, 0, 0, {0, 3, 0, 0, 0, 100});
    for (const Transport& t : transports()) {
        INFO(t.name);
        Run r = run(t, stall_then(1, [&](Wire& w, Counters& c) { flood(w, c, settings); }));
        all_failed_with(r, http2::errc::flood);
        CHECK(r.results[0].error.message().find("SETTINGS") != std::string::npos);
        CHECK(r.server["flood"] > 1000);  // beyond the limit: the client stopped it
        closed_by_client(r);
    }
}

TEST_CASE("PING flood: http2:flood at once, bounded memory though the server reads no ACK") {
    const Bytes ping = frame(type::ping, 0, 0, Bytes(8, 0x42));
    for (const Transport& t : transports()) {
        INFO(t.name);
        Run r = run(t, stall_then(1, [&](Wire& w, Counters& c) { flood(w, c, ping); }));
        all_failed_with(r, http2::errc::flood);
        CHECK(r.results[0].error.message().find("PING") != std::string::npos);
        CHECK(r.server["flood"] > 1000);
        closed_by_client(r);
    }
}

TEST_CASE("empty-DATA flood: zero-length DATA without END_STREAM ends as http2:flood, not a timeout") {
    const Bytes empty = frame(type::data, 0, 1);
    for (const Transport& t : transports()) {
        INFO(t.name);
        Run r = run(t, stall_then(1, [&](Wire& w, Counters& c) {
                        if (w.write(response_headers(1))) flood(w, c, empty);
                    }));
        all_failed_with(r, http2::errc::flood);
        CHECK(r.results[0].error.message().find("DATA frames in a row") != std::string::npos);
        CHECK(r.server["flood"] > 100);
        closed_by_client(r);
    }
}

namespace {

// Which requests of a run failed how, in no particular order (which request got which stream
// is up to the pool).
std::multiset<std::string> codes(const Run& r) {
    std::multiset<std::string> out;
    for (const Result& res : r.results) out.insert(error_name(res.error.code));
    return out;
}

std::string flood_message(const Run& r) {
    for (const Result& res : r.results)
        if (res.error.code == http2::errc::flood) return res.error.message();
    return {};
}

}  // namespace

TEST_CASE("empty-DATA flood with a 1-byte DATA or a trailer on a reset stream in between: still http2:flood") {
    // The server resets stream 1 and answers stream 3; then, again and again, 100 empty DATA
    // frames on stream 3 and a frame on stream 1, which is no longer open (nghttp2 drops it
    // unseen). Such a frame carries nothing to us and does not end the run of empty ones.
    Bytes trailer_block;
    hpack_literal(trailer_block, "x-t", "1");
    const Bytes one_byte = frame(type::data, 0, 1, {'x'});
    const Bytes trailer = frame(type::headers, flag::end_headers | flag::end_stream, 1,
                                trailer_block);
    for (const Transport& t : transports()) {
        INFO(t.name);
        for (const Bytes* dead : {&one_byte, &trailer}) {
            Bytes unit = repeat(frame(type::data, 0, 3), 100);
            unit += *dead;
            Run r = run(t, stall_then(2, [&](Wire& w, Counters& c) {
                            Bytes start = frame(type::rst_stream, 0, 1,
                                                u32(http2::h2_error::cancel));
                            start += response_headers(3);
                            if (w.write(start)) flood(w, c, unit);
                        }),
                        {{"GET", "/a"}, {"GET", "/b"}});
            CHECK(codes(r) == std::multiset<std::string>{"http2:stream_reset", "http2:flood"});
            CHECK(flood_message(r).find("DATA frames in a row") != std::string::npos);
            closed_by_client(r);
        }
    }
}

TEST_CASE("WINDOW_UPDATE flood (increment 1, on the connection or a closed stream): http2:flood") {
    for (const Transport& t : transports()) {
        INFO(t.name);
        for (const std::uint32_t stream : {0u, 1u}) {
            const Bytes update = frame(type::window_update, 0, stream, u32(1));
            Run r = run(t, stall_then(2, [&](Wire& w, Counters& c) {
                            if (w.write(frame(type::rst_stream, 0, 1,
                                              u32(http2::h2_error::cancel))))
                                flood(w, c, update);
                        }),
                        {{"GET", "/a"}, {"GET", "/b"}});
            CHECK(codes(r) == std::multiset<std::string>{"http2:stream_reset", "http2:flood"});
            CHECK(flood_message(r).find("WINDOW_UPDATE") != std::string::npos);
            CHECK(r.server["flood"] > 1000);
            closed_by_client(r);
        }
    }
}

TEST_CASE("RST_STREAM flood: resets for a stream no longer open end the connection as http2:flood") {
    const Bytes reset = frame(type::rst_stream, 0, 1, u32(http2::h2_error::cancel));
    for (const Transport& t : transports()) {
        INFO(t.name);
        Run r = run(t, stall_then(2, [&](Wire& w, Counters& c) { flood(w, c, reset); }),
                    {{"GET", "/a"}, {"GET", "/b"}});
        // The first reset ends the request on stream 1; the rest, for a stream that is closed
        // now, end the connection, and with it the request on stream 3.
        std::multiset<std::string> codes;
        for (const Result& res : r.results) codes.insert(error_name(res.error.code));
        CHECK(codes == std::multiset<std::string>{"http2:stream_reset", "http2:flood"});
        CHECK(r.server["flood"] > 1000);
        closed_by_client(r);
    }
}

TEST_CASE("unknown frame types and interim responses count as control frames: http2:flood") {
    const Bytes unknown = frame(0xfa, 0, 0);
    Bytes early_hints;
    hpack_status(early_hints, 103);
    const Bytes interim = frame(type::headers, flag::end_headers, 1, early_hints);
    for (const Transport& t : transports()) {
        INFO(t.name);
        for (const Bytes* unit : {&unknown, &interim}) {
            Run r = run(t, stall_then(1, [&](Wire& w, Counters& c) { flood(w, c, *unit); }));
            all_failed_with(r, http2::errc::flood);
            CHECK(r.results[0].error.message().find(unit == &unknown ? "unknown type 250"
                                                                     : "interim (103)") !=
                  std::string::npos);
            closed_by_client(r);
        }
    }
}

// =============================================================================================
// The same limits on the codec alone, frame by frame: each fires exactly one frame beyond its
// figure (not before), and our GOAWAY says ENHANCE_YOUR_CALM.

namespace {

// A session with one request (stream 1) out and the server's preface in: SETTINGS, the ACK of
// ours, and the response HEADERS of stream 1 unless `headers` is false.
http2::ClientSession started(const http2::ClientOptions& o, bool headers = true) {
    http2::ClientSession c(o);
    Error err;
    http2::Request req;
    req.authority = "localhost";
    REQUIRE(c.submit_request(req, err) == 1);
    (void)c.take_output();
    Bytes in = frame(type::settings, 0, 0);
    in += frame(type::settings, flag::ack, 0);
    if (headers) in += response_headers(1);
    REQUIRE(!c.feed(in));
    (void)c.take_output();
    (void)c.take_events();
    return c;
}

// The error code of the GOAWAY in `out`, if there is one.
std::optional<std::uint32_t> goaway_code(const Bytes& out) {
    for (const Frame& f : parse(out))
        if (f.type == type::goaway && f.payload.size() >= 8) return get32(f.payload.data() + 4);
    return std::nullopt;
}

// Feeds `unit` one at a time: `allowed` copies go through, the next one is http2:flood.
void flood_at(http2::ClientSession& c, const Bytes& unit, std::size_t allowed) {
    for (std::size_t i = 0; i < allowed; ++i) {
        const Error e = c.feed(unit);
        INFO("copy " << i + 1 << ": " << e.message());
        REQUIRE(!e);
    }
    const Error e = c.feed(unit);
    INFO(e.message());
    CHECK(e.code == http2::errc::flood);
    CHECK(goaway_code(c.take_output()) == http2::h2_error::enhance_your_calm);
    bool closed = false;
    for (auto& ev : c.take_events())
        if (auto* sc = std::get_if<http2::StreamClosed>(&ev)) {
            closed = true;
            CHECK(sc->error.code == http2::errc::flood);
        }
    CHECK(closed);  // the request on stream 1 ended with it
}

}  // namespace

TEST_CASE("codec: max_empty_data_frames empty DATA frames in a row pass, the next is http2:flood") {
    http2::ClientOptions o;
    o.max_empty_data_frames = 5;
    http2::ClientSession c = started(o);
    // A DATA frame that carries data starts the count again.
    for (int i = 0; i < 5; ++i) REQUIRE(!c.feed(frame(type::data, 0, 1)));
    REQUIRE(!c.feed(frame(type::data, 0, 1, {'x'})));
    // Padding alone is no data.
    flood_at(c, frame(type::data, flag::padded, 1, {3, 0, 0, 0}), 5);
}

TEST_CASE("codec: frames on a stream no longer open end no run of empty DATA, and count as control frames") {
    http2::ClientOptions o;
    o.max_empty_data_frames = 5;
    o.control_frames = {1000, 0};
    http2::ClientSession c = started(o);
    Error err;
    http2::Request req;
    req.authority = "localhost";
    REQUIRE(c.submit_request(req, err) == 3);
    (void)c.take_output();
    REQUIRE(!c.feed(response_headers(3)));
    // Stream 1 is reset by the server: what comes on it afterwards is dropped by nghttp2.
    REQUIRE(!c.feed(frame(type::rst_stream, 0, 1, u32(http2::h2_error::cancel))));
    (void)c.take_events();  // stream 1's own end: stream_reset
    Bytes trailer_block;
    hpack_literal(trailer_block, "x-t", "1");
    for (int i = 0; i < 3; ++i) REQUIRE(!c.feed(frame(type::data, 0, 3)));
    REQUIRE(!c.feed(frame(type::data, 0, 1, {'x'})));
    REQUIRE(!c.feed(frame(type::headers, flag::end_headers | flag::end_stream, 1, trailer_block)));
    REQUIRE(!c.feed(frame(type::data, flag::end_stream, 1)));
    // Three empty DATA on stream 3 before, two now: five; the sixth is one too many.
    flood_at(c, frame(type::data, 0, 3), 2);
}

TEST_CASE("codec: small DATA and HEADERS on streams not open take control_frames tokens; a full frame does not") {
    http2::ClientOptions o;
    o.control_frames = {10, 0};  // no refill: exact
    http2::ClientSession c = started(o);
    REQUIRE(!c.feed(frame(type::rst_stream, 0, 1, u32(http2::h2_error::cancel))));
    (void)c.take_events();  // stream 1's own end: stream_reset
    // The server's SETTINGS and its ACK took two of the ten (the reset of stream 1, open then,
    // is a peer reset): eight left. DATA of 1 KiB or more on the dead stream takes none.
    for (int i = 0; i < 20; ++i) REQUIRE(!c.feed(frame(type::data, 0, 1, Bytes(1024, 'x'))));
    Bytes trailer_block;
    hpack_literal(trailer_block, "x-t", "1");
    Error err;
    http2::Request req;
    req.authority = "localhost";
    REQUIRE(c.submit_request(req, err) == 3);  // a request to end with the connection
    (void)c.take_output();
    for (int i = 0; i < 4; ++i)
        REQUIRE(!c.feed(frame(type::headers, flag::end_headers | flag::end_stream, 1,
                              trailer_block)));
    flood_at(c, frame(type::data, 0, 1, {'x'}), 4);
}

TEST_CASE("codec: WINDOW_UPDATEs two per DATA frame we sent are free, the rest take control_frames tokens") {
    http2::ClientOptions o;
    o.control_frames = {10, 0};  // no refill: exact
    http2::ClientSession c(o);
    Error err;
    http2::Request req;
    req.method = "POST";
    req.authority = "localhost";
    req.body = Bytes(3 * 16384, 'x');  // three DATA frames at the default max frame size
    REQUIRE(c.submit_request(req, err) == 1);
    Bytes in = frame(type::settings, 0, 0);
    in += frame(type::settings, flag::ack, 0);
    REQUIRE(!c.feed(in));
    std::size_t data_frames = 0;
    for (const Frame& f : parse(c.take_output(), 24)) data_frames += f.type == type::data;
    REQUIRE(data_frames == 3);
    // Earned: one for the HEADERS, two per DATA frame; then the eight tokens SETTINGS and its
    // ACK left.
    const Bytes update = frame(type::window_update, 0, 0, u32(1));
    flood_at(c, update, 1 + 2 * data_frames + 8);
}

TEST_CASE("codec: control_frames PINGs pass, the next is http2:flood; SETTINGS counted too") {
    http2::ClientOptions o;
    o.control_frames = {10, 0};  // no refill: exact
    http2::ClientSession c = started(o);
    // The server's SETTINGS and its ACK took two of the ten.
    flood_at(c, frame(type::ping, 0, 0, Bytes(8, 1)), 8);
}

TEST_CASE("codec: peer_resets resets of open streams pass, the next is http2:too_many_resets") {
    http2::ClientOptions o;
    o.peer_resets = {3, 0};
    http2::ClientSession c = started(o, false);
    Error err;
    http2::Request req;
    req.authority = "localhost";
    std::vector<std::int32_t> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(c.submit_request(req, err));
    (void)c.take_output();
    // Stream 1 and the first two new ones: reset, each its own stream_reset.
    for (const std::int32_t id : {1, ids[0], ids[1]}) {
        REQUIRE(!c.feed(frame(type::rst_stream, 0, static_cast<std::uint32_t>(id),
                              u32(http2::h2_error::cancel))));
    }
    std::size_t reset = 0;
    for (auto& ev : c.take_events())
        if (auto* sc = std::get_if<http2::StreamClosed>(&ev)) {
            CHECK(sc->error.code == http2::errc::stream_reset);
            ++reset;
        }
    CHECK(reset == 3);
    const Error e = c.feed(frame(type::rst_stream, 0, static_cast<std::uint32_t>(ids[2]),
                                 u32(http2::h2_error::cancel)));
    INFO(e.message());
    CHECK(e.code == http2::errc::too_many_resets);
    CHECK(goaway_code(c.take_output()) == http2::h2_error::enhance_your_calm);
}

// =============================================================================================
// Resets: the rapid-reset pattern (CVE-2023-44487) the other way round.

namespace {

Script resetting(std::uint32_t code) {
    return [code](Wire& w, Counters& c, int) {
        http2::ServerOptions o;
        o.faults.reset_on_headers = code;
        http2::ServerSession s(o, counting(c));
        serve(w, s);
        record(s, c);
    };
}

}  // namespace

TEST_CASE("rapid reset: a server resetting every stream at once: http2:too_many_resets, connection closed") {
    // 2,000 requests, at most 100 streams at a time: each is reset as soon as it opens. The
    // first 1,000 resets (the default's burst) fail their requests with stream_reset; the next
    // ends the connection, and the requests in flight on it fail with too_many_resets. The
    // default's refill (33/s) is off here: on a slow build the storm lasts long enough for the
    // refill alone to cover it, and the count would measure the machine, not the guard.
    const std::vector<Send> sends(2000, Send{"GET"});
    ClientOptions options;
    options.h2.peer_resets = {ClientOptions{}.h2.peer_resets.burst, 0};
    for (const Transport& t : transports()) {
        INFO(t.name);
        Run r = run(t, resetting(http2::h2_error::cancel), sends,
                    config_for(t, std::string(default_timeouts) +
                                      R"(, "pool": {"max_connections_per_host": 1})"),
                    options);
        std::map<std::string, int> codes;
        for (const Result& res : r.results) ++codes[error_name(res.error.code)];
        CHECK(codes["http2:stream_reset"] + codes["http2:too_many_resets"] == 2000);
        CHECK(codes["http2:too_many_resets"] >= 1);
        CHECK(codes["http2:stream_reset"] >= 1000);
        // A reset request was sent once: a stream the server saw is not retried.
        CHECK(r.server["streams"] == 2000);
        CHECK(r.server.count("processed GET") == 0);
        CHECK(r.stats.connections_opened >= 2);  // the storm closed the first one
        CHECK(r.server["client goaway PROTOCOL_ERROR"] == 0);
        MESSAGE(t.name << ": " << codes["http2:stream_reset"] << " stream_reset, "
                       << codes["http2:too_many_resets"] << " too_many_resets over "
                       << r.stats.connections_opened << " connections");
    }
}

TEST_CASE("a server refusing every stream: each request sent 3 times at most, then pool:retries_exhausted") {
    std::vector<Send> sends(20, Send{"GET"});
    for (int i = 0; i < 5; ++i) sends.push_back({"POST", "/order", "order " + std::to_string(i)});
    for (const Transport& t : transports()) {
        INFO(t.name);
        Run r = run(t, resetting(http2::h2_error::refused_stream), sends);
        all_failed_with(r, pool::errc::retries_exhausted);
        CHECK(r.server["streams"] == 25 * 3);
        CHECK(r.server.count("processed GET") + r.server.count("processed POST") == 0);
    }
}

// =============================================================================================
// Header blocks.

TEST_CASE("CONTINUATION flood: CONTINUATION frames without END_HEADERS, empty or not, are http2:flood") {
    Bytes status;
    hpack_status(status, 200);
    const Bytes start = frame(type::headers, 0, 1, status);  // no END_HEADERS
    Bytes field;
    hpack_literal(field, "x-continued", std::string(1000, 'c'));
    const Bytes empty = frame(type::continuation, 0, 1);
    const Bytes full = frame(type::continuation, 0, 1, field);
    for (const Transport& t : transports()) {
        INFO(t.name);
        for (const Bytes* unit : {&empty, &full}) {
            Run r = run(t, stall_then(1, [&](Wire& w, Counters& c) {
                            if (w.write(start)) flood(w, c, *unit);
                        }));
            all_failed_with(r, http2::errc::flood);
            CHECK(r.results[0].error.message().find("CONTINUATION") != std::string::npos);
            CHECK(r.server["flood"] > 8);
            closed_by_client(r);
        }
    }
}

TEST_CASE("HPACK bomb: one 4 KB field referenced 12,000 times ends that request with http2:header_invalid") {
    // One HEADERS frame of 16 KiB: the field goes into the dynamic table (entry 62), then each
    // byte 0xbe refers to it again. Decoded, that is some 50 MB of header list.
    Bytes block;
    hpack_status(block, 200);
    hpack_literal(block, "x-bomb", std::string(4000, 'b'), true);
    const std::size_t refs = 16384 - block.size();
    block.insert(block.end(), refs, 0xbe);
    const Bytes bomb = frame(type::headers, flag::end_headers | flag::end_stream, 1, block);
    MESSAGE("the bomb decodes to " << refs * (4000 + 6 + 32) / (1 << 20) << " MiB");
    for (const Transport& t : transports()) {
        INFO(t.name);
        Run r = run(t, stall_then(1, [&](Wire& w, Counters&) { (void)w.write(bomb); }));
        all_failed_with(r, http2::errc::header_invalid);
        CHECK(r.results[0].error.message().find("larger than 65536") != std::string::npos);
    }
}

// =============================================================================================
// Flow control.

TEST_CASE("WINDOW_UPDATE overflowing 2^31-1, on the connection or the stream: http2:flow_control") {
    for (const std::uint32_t stream : {0u, 1u}) {
        const Bytes update = frame(type::window_update, 0, stream, u32(0x7fffffff));
        for (const Transport& t : transports()) {
            INFO(t.name << ", stream " << stream);
            Run r = run(t, stall_then(1, [&](Wire& w, Counters&) { (void)w.write(update); }));
            all_failed_with(r, http2::errc::flow_control);
        }
    }
}

TEST_CASE("DATA beyond the flow-control window, of the stream or the connection: http2:flow_control") {
    // Over a socket the Client reopens the windows as fast as it reads, so a server that ignores
    // them is bounded by max_response_body instead: these are raw frames into the session,
    // whose caller takes no events, so no WINDOW_UPDATE goes out.
    for (const bool connection : {false, true}) {
        INFO(std::string(connection ? "connection window" : "stream window"));
        http2::ClientOptions o;
        if (connection) o.stream_window = 64u << 20;  // the 16 MiB connection window runs out
        http2::ClientSession c = started(o);  // our SETTINGS apply from the server's ACK on
        Bytes in;
        const Bytes chunk = frame(type::data, 0, 1, Bytes(16384, 'd'));
        const std::size_t window = connection ? o.connection_window : o.stream_window;
        for (std::size_t sent = 0; sent <= window; sent += 16384)
            in.insert(in.end(), chunk.begin(), chunk.end());
        const Error e = c.feed(in);
        (void)c.take_output();  // a stream error: our RST_STREAM FLOW_CONTROL_ERROR goes out
        std::optional<http2::StreamClosed> closed;
        for (auto& ev : c.take_events())
            if (auto* sc = std::get_if<http2::StreamClosed>(&ev)) closed = *sc;
        REQUIRE(closed);
        INFO(closed->error.message());
        CHECK(closed->error.code == http2::errc::flow_control);
        if (connection) CHECK(e.code == http2::errc::flow_control);  // a connection error
        else CHECK(c.can_submit());  // only that stream
    }
}

// =============================================================================================
// SETTINGS, push, stream ids, GOAWAY.

TEST_CASE("a server that never sends SETTINGS: ALPN h2 ends with http2:settings_timeout, prior knowledge with not_h2") {
    const Script silent = [](Wire& w, Counters& c, int) { read_until_gone(w, c); };
    const std::vector<Send> sends{{"GET"}, {"POST", "/", "payload"}};
    for (const Transport& t : transports()) {
        INFO(t.name);
        if (t.backend) {
            // ALPN said h2: both went out at once, and get the server's silence named.
            Run r = run(t, silent, sends);
            all_failed_with(r, http2::errc::settings_timeout);
            CHECK(r.results[0].error.message().find("within 1000 ms") != std::string::npos);
            CHECK(r.server["client goaway SETTINGS_TIMEOUT"] == 1);
        }
        // By prior knowledge (h2c, or TLS without ALPN): the confirmation rule, as ever.
        Run r = run(t, silent, sends, config_for(t, default_timeouts, "prior-knowledge"));
        all_failed_with(r, http2::errc::not_h2);
        CHECK(r.results[0].error.message().find("no HTTP/2 SETTINGS") != std::string::npos);
    }
}

namespace {

// PUSH_PROMISE on stream 1, promising stream 2: GET / of localhost.
Bytes push_promise(bool tls) {
    Bytes p = u32(2);
    p.push_back(0x82);              // :method GET
    p.push_back(tls ? 0x87 : 0x86);  // :scheme https / http
    p.push_back(0x84);              // :path /
    hpack_int(p, 0x00, 4, 1);       // :authority, literal
    hpack_string(p, "localhost");
    return frame(type::push_promise, flag::end_headers, 1, p);
}

}  // namespace

TEST_CASE("PUSH_PROMISE while push is disabled: http2:protocol_error, acknowledged or not") {
    for (const Transport& t : transports()) {
        INFO(t.name);
        const Bytes push = push_promise(t.backend != nullptr);
        // After the server acknowledged our SETTINGS_ENABLE_PUSH=0 (nghttp2 refuses it then).
        Run acked = run(t, stall_then(1, [&](Wire& w, Counters&) { (void)w.write(push); }));
        all_failed_with(acked, http2::errc::protocol_error);
        CHECK(acked.results[0].error.message().find("PUSH_PROMISE") != std::string::npos);
        // A raw server that sends its SETTINGS but never acknowledges ours, then pushes: the
        // setting was in our preface, before the request, so the server knew all the same.
        const Script raw = [&](Wire& w, Counters& c, int) {
            Bytes in;
            const auto deadline = SteadyClock::now() + 5s;
            while (in.size() < 24 + 9 && SteadyClock::now() < deadline && w.read(in)) {
            }
            (void)w.write(frame(type::settings, 0, 0));
            std::this_thread::sleep_for(50ms);  // the request is out by now
            (void)w.write(push);
            read_until_gone(w, c);
        };
        Run unacked = run(t, raw);
        all_failed_with(unacked, http2::errc::protocol_error);
        CHECK(unacked.results[0].error.message().find("SETTINGS_ENABLE_PUSH=0") !=
              std::string::npos);
        closed_by_client(unacked, "PROTOCOL_ERROR");
    }
}

TEST_CASE("codec: PUSH_PROMISE before the server acknowledged ENABLE_PUSH=0: GOAWAY PROTOCOL_ERROR") {
    http2::ClientSession c{http2::ClientOptions{}};
    Error err;
    http2::Request req;
    req.authority = "localhost";
    REQUIRE(c.submit_request(req, err) == 1);
    (void)c.take_output();
    Bytes in = frame(type::settings, 0, 0);  // no ACK of ours
    in += push_promise(false);
    const Error e = c.feed(in);
    INFO(e.message());
    CHECK(e.code == http2::errc::protocol_error);
    CHECK(e.message().find("SETTINGS_ENABLE_PUSH=0") != std::string::npos);
    CHECK(goaway_code(c.take_output()) == http2::h2_error::protocol_error);
}

TEST_CASE("frames on stream 0 or on an even stream: http2:protocol_error") {
    struct Row {
        std::string what;
        Bytes bytes;
    };
    const Row rows[] = {
        {"DATA on stream 0", frame(type::data, 0, 0, {'x'})},
        {"HEADERS on stream 0", frame(type::headers, flag::end_headers, 0, {0x88})},
        {"RST_STREAM on stream 0", frame(type::rst_stream, 0, 0, u32(8))},
        {"HEADERS on stream 2, never promised", frame(type::headers, flag::end_headers, 2, {0x88})},
        {"DATA on stream 2", frame(type::data, 0, 2, {'x'})},
        {"RST_STREAM on stream 2", frame(type::rst_stream, 0, 2, u32(8))},
        {"WINDOW_UPDATE on stream 2", frame(type::window_update, 0, 2, u32(1))},
        {"SETTINGS on stream 1", frame(type::settings, 0, 1)},
        {"PING on stream 1", frame(type::ping, 0, 1, Bytes(8, 0))},
        {"GOAWAY on stream 1", frame(type::goaway, 0, 1, Bytes(8, 0))},
    };
    for (const Transport& t : transports())
        for (const Row& row : rows) {
            INFO(t.name << ": " << row.what);
            Run r = run(t, stall_then(1, [&](Wire& w, Counters&) { (void)w.write(row.bytes); }));
            all_failed_with(r, http2::errc::protocol_error);
        }
}

namespace {

// The first connection: the requests arrive, then GOAWAY with last_stream_id 0 (none of them
// was processed) and close. Later ones serve (counting what they process), unless `always`.
Script goaway_zero(bool always) {
    return [always](Wire& w, Counters& c, int n) {
        if (n == 0 || always) {
            http2::ServerOptions o;
            o.faults.stall = true;
            http2::ServerSession s(o);
            if (serve(w, s, [&] { return s.requests_received() < 2; })) {
                (void)s.submit_goaway(http2::h2_error::no_error, 0);
                if (w.write(s.take_output())) c.add("goaway 0 sent");
            }
            record(s, c);
            w.close();
            return;
        }
        http2::ServerSession s({}, counting(c));
        serve(w, s);
        record(s, c);
    };
}

}  // namespace

TEST_CASE("GOAWAY last_stream_id 0 then close: the GET and the POST go again on a new connection, once") {
    const std::vector<Send> sends{{"GET", "/g"}, {"POST", "/p", "order"}};
    for (const Transport& t : transports()) {
        INFO(t.name);
        Run r = run(t, goaway_zero(false), sends);
        for (const Result& res : r.results) {
            INFO(res.error.message());
            CHECK(res);
        }
        CHECK(r.server["goaway 0 sent"] == 1);
        CHECK(r.server["processed GET"] == 1);   // on the second connection, once
        CHECK(r.server["processed POST"] == 1);
        CHECK(r.server["streams"] == 4);
        CHECK(r.stats.connections_opened == 2);
    }
}

TEST_CASE("GOAWAY last_stream_id 0 on every connection: each request tried 3 times, none processed") {
    const std::vector<Send> sends{{"GET", "/g"}, {"POST", "/p", "order"}};
    for (const Transport& t : transports()) {
        INFO(t.name);
        Run r = run(t, goaway_zero(true), sends);
        all_failed_with(r, pool::errc::retries_exhausted);
        CHECK(r.server["streams"] == 6);
        CHECK(r.server.count("processed GET") + r.server.count("processed POST") == 0);
    }
}

// =============================================================================================
// The early response (RFC 9113 8.1): complete before the request body is.

namespace {

const std::string upload(1u << 20, 'u');  // 1 MiB

enum class After { goaway_and_close, hold_window, close };

// Answers 413 as soon as the request HEADERS arrive; then, once the response is out, `after`.
Script early_413(After after) {
    return [after](Wire& w, Counters& c, int) {
        http2::ServerOptions o;
        o.faults.respond_on_headers = true;
        if (after == After::hold_window) {
            o.faults.hold_window = true;
            o.stream_window = o.connection_window = 65535;
        }
        http2::ServerSession s(o, counting(c, 413, "too large"));
        if (after == After::hold_window) {
            // The window never opens; once the client has cancelled the body, we close.
            if (serve(w, s, [&] { return s.resets_received().empty(); })) w.close();
        } else if (serve(w, s, [&] { return s.streams_opened() == 0; })) {
            if (after == After::goaway_and_close) {
                (void)s.submit_goaway(http2::h2_error::no_error, 1);
                (void)w.write(s.take_output());
            }
            w.close();
        }
        record(s, c);
    };
}

void delivered_413(const Run& r) {
    REQUIRE(r.results.size() == 1);
    INFO(r.results[0].error.message());
    REQUIRE(r.results[0]);
    CHECK(r.results[0].response.status == 413);
    CHECK(r.results[0].response.body == "too large");
}

}  // namespace

TEST_CASE("early response: a 413 before the upload is complete is delivered, then GOAWAY and close") {
    for (const Transport& t : transports()) {
        INFO(t.name);
        delivered_413(run(t, early_413(After::goaway_and_close), {{"POST", "/upload", upload}}));
    }
}

TEST_CASE("early response: delivered though the server never opens the window, and the body stops (RST_STREAM NO_ERROR)") {
    for (const Transport& t : transports()) {
        INFO(t.name);
        Run r = run(t, early_413(After::hold_window), {{"POST", "/upload", upload}}, config_for(t),
                    {}, true);
        delivered_413(r);
        CHECK(r.server["client rst NO_ERROR"] == 1);
        CHECK(r.server["body bytes"] <= 65535);
    }
}

TEST_CASE("early response: delivered though the server closes right after it") {
    for (const Transport& t : transports()) {
        INFO(t.name);
        delivered_413(run(t, early_413(After::close), {{"POST", "/upload", upload}}));
    }
}


// =============================================================================================
// Large bodies: the buffered API keeps one copy of a body on h2 too (hostile_memory.cpp says the
// same for HTTP/1.1). A request body is read by nghttp2 from the Exchange itself, and DATA frames
// are made only while less than 256 KiB of our output waits for the socket; a response body is
// appended once into Response::body, reserved from its content-length. The bound, for 64 MiB
// each way on h2c and over TLS on every backend: peak RSS growth under 1.5x the body, measured
// from before the request is made to after its answer.

namespace {

constexpr std::size_t big_body = 64u << 20;

// POST: answers with the number of body bytes received. GET /big: `big_body` bytes, with a
// content-length; GET /big-trailers: as many, without one, then trailers. The server's copies are in its own process.
const Script big_bodies = [](Wire& w, Counters& c, int) {
    http2::ServerSession s({}, [](const http2::ServerRequest& r) {
        http2::ServerResponse resp;
        if (r.method == "POST") {
            const std::string n = std::to_string(r.body.size());
            resp.body.assign(n.begin(), n.end());
        } else if (r.path == "/big") {
            resp.body.assign(big_body, 'd');
        } else if (r.path == "/big-trailers") {  // no content-length: the body grows as it comes
            resp.body.assign(big_body, 't');
            resp.trailers = {{"x-checksum", "none"}};
        } else {
            resp.body = {'o', 'k'};
        }
        return resp;
    });
    serve(w, s);
    record(s, c);
};

std::size_t big_exchange(const Transport& t, Request rq) {
    ChildServer server(t, big_bodies);
    Client c = make_client(config_for(t, R"("timeouts": {"connect": "2s", "tls": "1s", "request": "60s"})"));
    Result warm = c.send({.method = "GET", .url = server.url("/warm")});
    INFO(warm.error.message());
    REQUIRE(warm);
    const bool trailers = rq.url == "/big-trailers";
    rq.url = server.url(rq.url);
    const bool upload = rq.method == "POST";
    PeakRss rss;
    if (upload) rq.body.assign(big_body, 'u');
    Result r = c.send(std::move(rq));
    INFO(r.error.message());
    REQUIRE(r);
    CHECK(r.response.info.protocol == Protocol::h2);
    if (trailers) {
        CHECK(std::none_of(r.response.headers.begin(), r.response.headers.end(),
                           [](const Header& h) { return h.name == "content-length"; }));
        CHECK(std::any_of(r.response.trailers.begin(), r.response.trailers.end(),
                          [](const Header& h) { return h.name == "x-checksum" && h.value == "none"; }));
        CHECK(std::none_of(r.response.headers.begin(), r.response.headers.end(),
                           [](const Header& h) { return h.name == "x-checksum"; }));
    }
    if (upload)
        CHECK(r.response.body == std::to_string(big_body));
    else
        CHECK(r.response.body.size() == big_body);
    const std::size_t growth = rss.growth();
    MESSAGE(t.name, ": 64 MiB ", std::string(upload ? "upload" : trailers ? "download without content-length" : "download"), " over h2, peak RSS growth ",
            growth >> 20, " MiB (", static_cast<double>(growth) / big_body, "x)");
    return growth;
}

}  // namespace

TEST_CASE("a 64 MiB upload over h2: peak RSS growth under 1.5x the body") {
    warm_up();
    for (const Transport& t : transports()) {
        INFO(t.name);
        CHECK(big_exchange(t, {.method = "POST", .url = "/upload"}) < big_body * 3 / 2);
    }
}

TEST_CASE("a 64 MiB download over h2 with content-length: peak RSS growth under 1.5x the body") {
    warm_up();
    for (const Transport& t : transports()) {
        INFO(t.name);
        CHECK(big_exchange(t, {.method = "GET", .url = "/big"}) < big_body * 3 / 2);
    }
}

TEST_CASE("a 64 MiB download over h2 without content-length: peak RSS growth under 2x the body") {
    // It grows in steps (body.cpp: append_body): 32 MiB, then 64 MiB, which it fills exactly.
    // The step holds the old 32 MiB while it moves; whether the new block's pages are touched
    // before the old one goes depends on where glibc puts it (its mmap threshold follows the
    // blocks freed before: measured 1.0x alone, 1.5x after the cases above). Never a second
    // whole copy: 2x is what a string grown without a known length may cost for a moment.
    warm_up();
    for (const Transport& t : transports()) {
        INFO(t.name);
        CHECK(big_exchange(t, {.method = "GET", .url = "/big-trailers"}) < big_body * 2);
    }
}
