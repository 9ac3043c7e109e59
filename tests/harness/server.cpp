#include "server.hpp"

#include "http1.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace connmatrix::test {

namespace {

using Bytes = std::vector<std::uint8_t>;

// One accepted connection: socket + optional TLS, plaintext in and out.
class Conn {
public:
    Conn(int fd, tls::Session* tls, const std::atomic<bool>& stopping)
        : fd_(fd), tls_(tls), stopping_(stopping) {}

    // Raw bytes from the socket: >0 bytes, 0 EOF, -1 error or stop. Waits in 50 ms slices.
    ssize_t read_raw(std::uint8_t* buf, std::size_t n) {
        for (;;) {
            if (stopping_) return -1;
            pollfd p{fd_, POLLIN, 0};
            const int r = ::poll(&p, 1, 50);
            if (r < 0) return -1;
            if (r == 0) continue;
            const ssize_t k = ::recv(fd_, buf, n, 0);
            return k < 0 ? -1 : k;
        }
    }

    bool write_raw(std::span<const std::uint8_t> b) {
        std::size_t off = 0;
        while (off < b.size()) {
            const ssize_t k = ::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL);
            if (k <= 0) return false;
            off += static_cast<std::size_t>(k);
        }
        return true;
    }

    bool flush_tls() {
        if (tls_ && tls_->has_output()) return write_raw(tls_->take_output());
        return true;
    }

    // Drives the handshake; false when it failed or the peer went away.
    bool handshake() {
        std::uint8_t buf[16384];
        for (int i = 0; i < 10000; ++i) {
            const tls::Status st = tls_->handshake();
            if (!flush_tls()) return false;
            if (st == tls::Status::ok) return true;
            if (st == tls::Status::failed) return false;
            const ssize_t k = read_raw(buf, sizeof buf);
            if (k < 0) return false;
            if (k == 0)
                tls_->feed_eof();
            else
                tls_->feed({buf, static_cast<std::size_t>(k)});
        }
        return false;
    }

    // Plaintext: appends what arrives; false at the end of the stream.
    bool read(Bytes& out) {
        std::uint8_t buf[65536];
        if (!tls_) {
            const ssize_t k = read_raw(buf, sizeof buf);
            if (k <= 0) return false;
            out.insert(out.end(), buf, buf + k);
            return true;
        }
        for (;;) {
            const std::size_t before = out.size();
            const tls::Status st = tls_->read(out);
            flush_tls();
            if (out.size() > before) return true;
            if (st == tls::Status::closed || st == tls::Status::failed) return false;
            const ssize_t k = read_raw(buf, sizeof buf);
            if (k < 0) return false;
            if (k == 0)
                tls_->feed_eof();
            else
                tls_->feed({buf, static_cast<std::size_t>(k)});
        }
    }

    bool write(std::span<const std::uint8_t> b) {
        if (b.empty()) return true;
        if (!tls_) return write_raw(b);
        if (tls_->write(b) != tls::Status::ok) return false;
        return flush_tls();
    }

    void close() {
        if (tls_ && tls_->handshake_done() && !tls_->error()) {
            tls_->close();
            flush_tls();
        }
        ::shutdown(fd_, SHUT_RDWR);
    }

private:
    int fd_;
    tls::Session* tls_;
    const std::atomic<bool>& stopping_;
};

ServedResponse default_response(const ServedRequest&) {
    ServedResponse r;
    r.headers = {{"content-type", "text/plain"}};
    r.body = "hello from test server\n";
    return r;
}

}  // namespace

TestServer::TestServer(TestServerOptions options) : opt_(std::move(options)) {
    if (!opt_.handler) opt_.handler = default_response;
    if (opt_.backend) {
        Error err;
        ctx_ = opt_.backend->server_context(opt_.tls, err);
        if (!ctx_) throw std::runtime_error("test server: " + err.message());
    }
    listen_fd_ = ::socket(opt_.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage storage{};
    socklen_t len = 0;
    if (opt_.ipv6) {
        ::setsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        auto* a6 = reinterpret_cast<sockaddr_in6*>(&storage);
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_loopback;
        a6->sin6_port = htons(opt_.port);
        len = sizeof *a6;
    } else {
        auto* a4 = reinterpret_cast<sockaddr_in*>(&storage);
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a4->sin_port = htons(opt_.port);
        len = sizeof *a4;
    }
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&storage), len) != 0 ||
        ::listen(listen_fd_, 128) != 0)
        throw std::runtime_error(std::string("test server: bind/listen: ") + std::strerror(errno));
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&storage), &len);
    port_ = ntohs(opt_.ipv6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                            : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

TestServer::~TestServer() { stop(); }

std::string TestServer::url(std::string_view path) const {
    return std::string(opt_.backend ? "https" : "http") + "://localhost:" + std::to_string(port_) +
           std::string(path);
}

void TestServer::stop() {
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

void TestServer::accept_loop() {
    while (!stopping_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) continue;
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ++connections_;
        std::lock_guard lock(mu_);
        workers_.emplace_back([this, fd] {
            serve(fd);
            ::close(fd);
            ++closed_;
        });
    }
}

std::size_t TestServer::requests() const {
    std::lock_guard lock(mu_);
    return served_.size();
}

std::vector<ServedRequest> TestServer::served() const {
    std::lock_guard lock(mu_);
    return served_;
}

std::vector<tls::EarlyData> TestServer::early_seen() const {
    std::lock_guard lock(mu_);
    return early_;
}

void TestServer::new_context() {
    Error err;
    auto ctx = opt_.backend->server_context(opt_.tls, err);
    if (!ctx) throw std::runtime_error("test server: " + err.message());
    std::lock_guard lock(mu_);
    ctx_ = std::move(ctx);
}

std::vector<std::string> TestServer::alpn_seen() const {
    std::lock_guard lock(mu_);
    return alpn_;
}

void TestServer::record(ServedRequest r) {
    std::lock_guard lock(mu_);
    served_.push_back(std::move(r));
}

void TestServer::serve(int fd) {
    std::unique_ptr<tls::Session> session;
    std::shared_ptr<tls::ServerContext> ctx;
    {
        std::lock_guard lock(mu_);
        ctx = ctx_;
    }
    if (ctx) {
        Error err;
        session = ctx->new_session(err);
        if (!session) return;
    }
    Conn conn(fd, session.get(), stopping_);
    std::uint8_t buf[16384];

    if (opt_.close_mid_handshake) {
        (void)conn.read_raw(buf, sizeof buf);
        ::shutdown(fd, SHUT_RDWR);
        return;
    }
    if (opt_.send_garbage) {
        (void)conn.read_raw(buf, sizeof buf);
        static constexpr std::uint8_t garbage[] = {0x15, 0x77, 0x01, 0x00, 0x05, 'n', 'o', 'i', 's', 'e',
                                                   0xde, 0xad, 0xbe, 0xef};
        conn.write_raw(garbage);
        ::shutdown(fd, SHUT_RDWR);
        return;
    }
    if (opt_.stall) {
        while (conn.read_raw(buf, sizeof buf) > 0) {
        }
        return;
    }

    std::string alpn;
    if (session) {
        if (!conn.handshake()) return;
        ++handshakes_;
        alpn = session->alpn().value_or("");
        std::lock_guard lock(mu_);
        alpn_.push_back(alpn.empty() ? "none" : alpn);
        early_.push_back(session->early_data());
    }

    Bytes in;
    if (!conn.read(in)) return;
    bool h2 = opt_.speak == TestServerOptions::Speak::h2 ||
              (opt_.speak == TestServerOptions::Speak::by_alpn &&
               (session ? alpn == "h2"
                        : in.size() >= 3 && std::memcmp(in.data(), "PRI", 3) == 0));

    if (h2) {
        http2::ServerOptions h2o = opt_.h2;
        const auto served_of = [](const http2::ServerRequest& rq) {
            return ServedRequest{"h2", rq.method, rq.path, rq.authority, rq.headers,
                                 std::string(rq.body.begin(), rq.body.end())};
        };
        if (opt_.on_arrival)
            h2o.on_headers = [&](const http2::ServerRequest& rq) { opt_.on_arrival(served_of(rq)); };
        if (opt_.on_refused)
            h2o.on_refused = [&](const http2::ServerRequest& rq) { opt_.on_refused(served_of(rq)); };
        bool drop = false;
        http2::ServerSession server(h2o, [&](const http2::ServerRequest& rq) {
            ServedRequest r = served_of(rq);
            if (opt_.response_delay.count() > 0) std::this_thread::sleep_for(opt_.response_delay);
            ServedResponse resp = opt_.handler(r);
            record(std::move(r));
            http2::ServerResponse out;
            out.status = resp.status;
            out.headers = resp.headers;
            out.body.assign(resp.body.begin(), resp.body.end());
            out.trailers = resp.trailers;
            out.reset = resp.h2_reset;
            out.goaway = resp.h2_goaway;
            out.stall_after_body = resp.stall_after_body;
            out.reset_after_stall = resp.h2_reset_after_stall;
            drop = drop || resp.drop_connection;
            return out;
        });
        std::size_t pings_seen = 0;
        for (int i = 0; i < 1'000'000; ++i) {
            if (!in.empty()) {
                const Error e = server.feed(in);
                in.clear();
                if (drop) {  // a handler asked: hang up with whatever is queued unsent
                    ::shutdown(fd, SHUT_RDWR);
                    return;
                }
                const std::size_t open = server.peak_open_streams();
                if (open > peak_streams_) peak_streams_ = open;
                pings_ += server.pings_received() - pings_seen;
                pings_seen = server.pings_received();
                if (!conn.write(server.take_output())) break;
                if (e) break;
            }
            if (server.finished()) break;
            if (!conn.read(in)) {
                server.feed_eof();
                break;
            }
        }
        conn.write(server.take_output());
        conn.close();
        return;
    }

    // HTTP/1.1, one request after another on the connection.
    http1::RequestParser parser;
    ServedRequest current;
    for (int i = 0; i < 1'000'000; ++i) {
        if (!in.empty()) {
            parser.feed(in);
            in.clear();
        }
        bool close_now = false;
        for (auto& ev : parser.take_events()) {
            if (ev.kind == http1::EventKind::head) {
                current = {"http/1.1", ev.head.method, ev.head.target, "", ev.head.headers, ""};
                if (auto* h = http1::find_header(ev.head.headers, "host")) current.authority = h->value;
                if (opt_.on_arrival) opt_.on_arrival(current);
            } else if (ev.kind == http1::EventKind::data) {
                current.body.append(ev.data.begin(), ev.data.end());
            } else if (ev.kind == http1::EventKind::complete) {
                if (opt_.response_delay.count() > 0) std::this_thread::sleep_for(opt_.response_delay);
                ServedResponse resp = opt_.handler(current);
                record(current);
                if (resp.drop_connection) {  // a handler asked: hang up without answering
                    ::shutdown(fd, SHUT_RDWR);
                    return;
                }
                const bool keep = ev.keep_alive && !opt_.http1_close_after_response;
                Bytes out;
                http1::ResponseOptions ro;
                ro.close = !keep;
                ro.head = current.method == "HEAD";
                ro.chunked = !resp.trailers.empty() && !ro.head;
                (void)http1::write_response(out, resp.status, resp.status == 200 ? "OK" : "Status",
                                            resp.headers, resp.body, ro);
                if (ro.chunked) {  // the last chunk again, with the trailers
                    constexpr std::string_view last = "0\r\n\r\n";
                    out.resize(out.size() - last.size());
                    (void)http1::write_last_chunk(out, resp.trailers);
                }
                if (resp.stall_after_body && *resp.stall_after_body < resp.body.size()) {
                    // The head and part of the body (the body is last in `out`), then nothing.
                    out.resize(out.size() - (resp.body.size() - *resp.stall_after_body));
                    if (!conn.write(out)) return;
                    while (conn.read(in)) in.clear();
                    return;
                }
                if (!conn.write(out)) return;
                if (!keep || opt_.http1_drop_after_response) close_now = true;
            }
        }
        if (parser.status() == http1::Status::failed) {
            // What nginx does with an h2 preface or other junk: 400 in text, then close.
            Bytes out;
            http1::ResponseOptions ro;
            ro.close = true;
            (void)http1::write_response(out, 400, "Bad Request", {}, "bad request\n", ro);
            conn.write(out);
            close_now = true;
        }
        if (close_now) break;
        if (parser.status() == http1::Status::complete) parser.start_next();
        if (parser.status() == http1::Status::complete) continue;  // pipelined leftover
        if (!conn.read(in)) break;
    }
    conn.close();
}

}  // namespace connmatrix::test
