// delay_relay: a TCP relay on 127.0.0.1 that delays every chunk by a fixed one-way delay D in
// each direction, for measuring round trips without tc/netem (bench/zero_rtt.sh). A chunk read
// at time t from one side is written to the other at t + D, in order; a close (EOF) travels the
// same way. So a request and its answer cross the relay in 2D: one round trip, RTT = 2D.
//
//   delay_relay LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS [--connect-rtt] [--verbose]
//
// LISTEN_PORT 0 picks a free port. Once listening it prints "listening 127.0.0.1:PORT" on
// stdout. --connect-rtt also models the TCP handshake, which a relay in user space cannot delay
// (the kernel completes the client's connect() at once): a connection's first bytes towards the
// target leave one round trip (2D) after it was accepted, plus D, so they reach the server when
// they would have over a real link with that RTT. --verbose logs every chunk on stderr.
//
// TCP_NODELAY on both sides (a delayed segment must not wait for an ACK as well). Memory is
// bounded: at most kMaxConnections pairs (more are refused), and a direction holding kMaxQueued
// bytes stops reading from its source until it drains (the sender then sees TCP flow control).
// SIGTERM or SIGINT (through a signalfd: no handler, no global state) closes everything and
// exits 0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxConnections = 256;
constexpr std::size_t kMaxQueued = 4 << 20;  // bytes waiting in one direction
constexpr std::size_t kReadSize = 64 << 10;

// A file descriptor, closed once.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

struct Chunk {
    Clock::time_point due;
    std::vector<std::uint8_t> bytes;  // empty: the source's EOF, to pass on as shutdown(SHUT_WR)
    std::size_t offset = 0;           // written so far
};

// One direction of a pair: bytes read from `from`, waiting to be written to `to`.
struct Direction {
    std::deque<Chunk> queue;
    std::size_t queued = 0;
    bool source_eof = false;  // read 0 from the source
    bool done = false;        // the EOF was passed on
};

struct Pair {
    std::size_t id = 0;
    Fd client, target;
    Clock::time_point accepted;
    Direction up, down;  // client -> target, target -> client
    bool target_connected = false;
    bool dead = false;
};

struct Options {
    int listen_port = 0;
    std::string target_host;
    std::string target_port;
    Clock::duration delay{};
    bool connect_rtt = false;
    bool verbose = false;
};

[[noreturn]] void usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS [--connect-rtt] "
                 "[--verbose]\n",
                 argv0);
    std::exit(2);
}

std::optional<long> number(const char* s, long lo, long hi) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return std::nullopt;
    return v;
}

Options parse(int argc, char** argv) {
    if (argc < 5) usage(argv[0]);
    Options o;
    const auto port = number(argv[1], 0, 65535);
    const auto delay = number(argv[4], 0, 60'000);
    if (!port || !delay) {
        std::fprintf(stderr, "delay_relay: LISTEN_PORT must be 0-65535 and DELAY_MS 0-60000\n");
        usage(argv[0]);
    }
    o.listen_port = static_cast<int>(*port);
    o.target_host = argv[2];
    o.target_port = argv[3];
    o.delay = std::chrono::milliseconds(*delay);
    for (int i = 5; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--connect-rtt")
            o.connect_rtt = true;
        else if (a == "--verbose")
            o.verbose = true;
        else {
            std::fprintf(stderr, "delay_relay: unknown option %s\n", argv[i]);
            usage(argv[0]);
        }
    }
    return o;
}

void set_nonblocking_nodelay(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

class Relay {
public:
    explicit Relay(Options o) : o_(std::move(o)), start_(Clock::now()) {}

    int run() {
        if (!resolve() || !listen()) return 1;
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, nullptr);
        signals_ = Fd(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
        if (!signals_) return fail("signalfd");
        ::signal(SIGPIPE, SIG_IGN);  // a peer gone while we write: EPIPE, handled
        for (;;) {
            std::vector<pollfd> fds;
            std::vector<std::pair<Pair*, bool>> owners;  // (pair, is_client) for fds[2..]
            fds.push_back({signals_.get(), POLLIN, 0});
            fds.push_back({listener_.get(), static_cast<short>(pairs_.size() < kMaxConnections ? POLLIN : 0), 0});
            for (auto& p : pairs_) {
                for (const bool is_client : {true, false}) {
                    // Nothing wanted: not polled at all (a socket shut both ways reports POLLHUP
                    // for ever, which would spin).
                    const short e = events(*p, is_client);
                    const int fd = is_client ? p->client.get() : p->target.get();
                    fds.push_back({e != 0 ? fd : -1, e, 0});
                    owners.emplace_back(p.get(), is_client);
                }
            }
            const timespec timeout = next_timeout();
            const int n = ::ppoll(fds.data(), fds.size(), &timeout, nullptr);
            if (n < 0 && errno != EINTR) return fail("ppoll");
            if (fds[0].revents & POLLIN) {
                log("signal: closing %zu connections", pairs_.size());
                return 0;  // the destructors close every socket
            }
            if (fds[1].revents & POLLIN) accept_one();
            for (std::size_t i = 2; i < fds.size(); ++i) {
                auto [p, is_client] = owners[i - 2];
                if (fds[i].revents != 0) on_ready(*p, is_client, fds[i].revents);
            }
            for (auto& p : pairs_) flush(*p);
            std::erase_if(pairs_, [&](const std::unique_ptr<Pair>& p) {
                const bool finished = p->dead || (p->up.done && p->down.done);
                if (finished) log("#%zu closed", p->id);
                return finished;
            });
        }
    }

private:
    __attribute__((format(printf, 2, 3))) void log(const char* fmt, ...) const {
        if (!o_.verbose) return;
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
        std::fprintf(stderr, "delay_relay %10.3f ms: ", ms);
        va_list ap;
        va_start(ap, fmt);
        std::vfprintf(stderr, fmt, ap);
        va_end(ap);
        std::fputc('\n', stderr);
    }

    int fail(const char* what) const {
        std::fprintf(stderr, "delay_relay: %s: %s\n", what, std::strerror(errno));
        return 1;
    }

    bool resolve() {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        if (const int r = ::getaddrinfo(o_.target_host.c_str(), o_.target_port.c_str(), &hints, &res);
            r != 0) {
            std::fprintf(stderr, "delay_relay: target %s:%s: %s\n", o_.target_host.c_str(),
                         o_.target_port.c_str(), ::gai_strerror(r));
            return false;
        }
        std::memcpy(&target_, res->ai_addr, res->ai_addrlen);
        target_len_ = res->ai_addrlen;
        target_family_ = res->ai_family;
        ::freeaddrinfo(res);
        return true;
    }

    bool listen() {
        listener_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!listener_) return fail("socket") == 0;
        const int one = 1;
        ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(o_.listen_port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(listener_.get(), 64) != 0)
            return fail("bind/listen 127.0.0.1") == 0;
        socklen_t len = sizeof a;
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&a), &len);
        std::printf("listening 127.0.0.1:%u\n", ntohs(a.sin_port));
        std::fflush(stdout);
        return true;
    }

    void accept_one() {
        Fd c(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!c) return;
        Fd t(::socket(target_family_, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!t) return;
        set_nonblocking_nodelay(c.get());
        set_nonblocking_nodelay(t.get());
        const int r = ::connect(t.get(), reinterpret_cast<const sockaddr*>(&target_), target_len_);
        if (r != 0 && errno != EINPROGRESS) {
            log("connect to target: %s", std::strerror(errno));
            return;  // both closed: the client sees its connection end
        }
        auto p = std::make_unique<Pair>();
        p->id = ++next_id_;
        p->client = std::move(c);
        p->target = std::move(t);
        p->accepted = Clock::now();
        p->target_connected = r == 0;
        log("#%zu accepted", p->id);
        pairs_.push_back(std::move(p));
    }

    short events(const Pair& p, bool is_client) const {
        const Direction& reading = is_client ? p.up : p.down;    // what this fd feeds
        const Direction& writing = is_client ? p.down : p.up;    // what this fd receives
        short e = 0;
        if (!reading.source_eof && reading.queued < kMaxQueued && (is_client || p.target_connected))
            e |= POLLIN;
        if (!is_client && !p.target_connected) e |= POLLOUT;  // the connect's completion
        if (!writing.queue.empty() && writing.queue.front().due <= Clock::now() &&
            (is_client || p.target_connected))
            e |= POLLOUT;
        return e;
    }

    void on_ready(Pair& p, bool is_client, short revents) {
        if (p.dead) return;
        if (!is_client && !p.target_connected && (revents & (POLLOUT | POLLERR | POLLHUP))) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(p.target.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                log("#%zu connect to target: %s", p.id, std::strerror(err));
                p.dead = true;
                return;
            }
            p.target_connected = true;
        }
        if (revents & (POLLIN | POLLHUP | POLLERR)) read_side(p, is_client);
    }

    void read_side(Pair& p, bool is_client) {
        Direction& d = is_client ? p.up : p.down;
        if (d.source_eof) return;
        std::vector<std::uint8_t> buf(kReadSize);
        const ssize_t n = ::read(is_client ? p.client.get() : p.target.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            log("#%zu %s read: %s", p.id, is_client ? "client" : "target", std::strerror(errno));
            p.dead = true;  // a reset: end both sides now
            return;
        }
        Clock::time_point due = Clock::now() + o_.delay;
        if (is_client && o_.connect_rtt) due = std::max(due, p.accepted + 3 * o_.delay);
        if (!d.queue.empty()) due = std::max(due, d.queue.back().due);  // never reorder
        buf.resize(static_cast<std::size_t>(n));
        if (n == 0) d.source_eof = true;
        log("#%zu %s %zd bytes%s", p.id, is_client ? "c->s" : "s->c", n, n == 0 ? " (EOF)" : "");
        d.queued += buf.size();
        d.queue.push_back({due, std::move(buf), 0});
    }

    void flush(Pair& p) {
        if (p.dead) return;
        flush_direction(p, p.up, p.target.get(), p.target_connected);
        flush_direction(p, p.down, p.client.get(), true);
    }

    void flush_direction(Pair& p, Direction& d, int to, bool connected) {
        const auto now = Clock::now();
        while (connected && !d.queue.empty() && d.queue.front().due <= now && !p.dead) {
            Chunk& c = d.queue.front();
            if (c.bytes.empty()) {  // EOF
                ::shutdown(to, SHUT_WR);
                d.done = true;
                d.queue.pop_front();
                continue;
            }
            const ssize_t n = ::send(to, c.bytes.data() + c.offset, c.bytes.size() - c.offset, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                log("#%zu write: %s", p.id, std::strerror(errno));
                p.dead = true;
                return;
            }
            c.offset += static_cast<std::size_t>(n);
            if (c.offset < c.bytes.size()) return;  // the socket is full: POLLOUT resumes it
            d.queued -= c.bytes.size();
            d.queue.pop_front();
        }
    }

    timespec next_timeout() const {
        auto wait = std::chrono::nanoseconds(std::chrono::seconds(1));
        const auto now = Clock::now();
        for (const auto& p : pairs_)
            for (const Direction* d : {&p->up, &p->down})
                if (!d->queue.empty())
                    wait = std::min(wait, std::max(std::chrono::nanoseconds(0),
                                                   std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                       d->queue.front().due - now)));
        timespec ts{};
        ts.tv_sec = static_cast<time_t>(wait.count() / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(wait.count() % 1'000'000'000);
        return ts;
    }

    Options o_;
    Clock::time_point start_;
    Fd listener_, signals_;
    sockaddr_storage target_{};
    socklen_t target_len_ = 0;
    int target_family_ = AF_INET;
    std::vector<std::unique_ptr<Pair>> pairs_;
    std::size_t next_id_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    Relay relay(parse(argc, argv));
    return relay.run();
}
