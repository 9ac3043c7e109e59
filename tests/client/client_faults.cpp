// client_faults: hostile and broken servers. Each request ends with exactly one response or one
// error, on time; the Client stays usable afterwards.
#include "client_common.hpp"

#include "http2.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <map>
#include <thread>

using namespace connmatrix;
using namespace connmatrix::test;

namespace {

const tls::Backend& backend() { return registry().default_backend(); }

std::string short_timeouts() {
    return R"("timeouts": {"connect": "1s", "tls": "300ms", "request": "500ms"})";
}

// After whatever went wrong, the same client still works against a good server.
void still_usable(Client& c) {
    TestServer good(tls_server(backend(), {"h2"}));
    Result r = c.send({.method = "GET", .url = good.url()});
    INFO(r.error.message());
    CHECK(r);
}

}  // namespace

TEST_CASE("server closes mid-handshake: a tls error (truncated), not a hang") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        auto o = tls_server(*b, {"h2"});
        o.close_mid_handshake = true;
        TestServer server(o);
        Client c = make_client(client_json(b->name(), "alpn", short_timeouts()));
        Result r = c.send({.method = "GET", .url = server.url()});
        CHECK_FALSE(r);
        CHECK(r.error.code == tls::errc::truncated);
    }
}

TEST_CASE("server sends garbage instead of TLS: a tls error naming the backend") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        auto o = tls_server(*b, {"h2"});
        o.send_garbage = true;
        TestServer server(o);
        Client c = make_client(client_json(b->name(), "alpn", short_timeouts()));
        Result r = c.send({.method = "GET", .url = server.url()});
        CHECK_FALSE(r);
        CHECK(std::string(r.error.code.category().name()) == "tls");
        CHECK(r.error.origin == b->name());
        still_usable(c);
    }
}

TEST_CASE("server stalls in the handshake: tls_timeout fires and says so") {
    auto o = tls_server(backend(), {"h2"});
    o.stall = true;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn", short_timeouts()));
    const auto t0 = std::chrono::steady_clock::now();
    Result r = c.send({.method = "GET", .url = server.url()});
    CHECK(r.error.code == net::errc::tls_timeout);
    CHECK(r.error.message().find("300 ms") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
    still_usable(c);
}

TEST_CASE("h2 server stalls after the request: request_timeout, per-request override") {
    auto o = tls_server(backend(), {"h2"});
    o.h2.faults.stall = true;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn", short_timeouts()));
    Result r = c.send({.method = "GET", .url = server.url(), .timeout = std::chrono::milliseconds(200)});
    CHECK(r.error.code == net::errc::request_timeout);
    CHECK(r.error.message().find("200 ms") != std::string::npos);
}

TEST_CASE("GOAWAY mid-flight: requests above last_stream_id are retried on a new connection") {
    auto o = tls_server(backend(), {"h2"});
    o.handler = echo_path;
    o.h2.faults.goaway_after_requests = 3;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    std::vector<std::future<Result>> fs;
    // 3 requests answered per connection: 6 need two connections, none more than two tries.
    for (int i = 0; i < 6; ++i)
        fs.push_back(c.send_future({.method = "GET", .url = server.url("/g" + std::to_string(i))}));
    for (int i = 0; i < 6; ++i) {
        Result r = fs[static_cast<std::size_t>(i)].get();
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.body == "h2 GET /g" + std::to_string(i));
    }
    CHECK(server.connections() >= 2);
}

TEST_CASE("RST_STREAM: that request fails with the stream error, others succeed") {
    auto o = tls_server(backend(), {"h2"});
    o.h2.faults.reset_streams[1] = http2::h2_error::internal_error;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    Result r1 = c.send({.method = "POST", .url = server.url(), .body = "x"});
    CHECK_FALSE(r1);
    CHECK(r1.error.code == http2::errc::stream_reset);
    Result r2 = c.send({.method = "GET", .url = server.url()});
    CHECK(r2);
}

TEST_CASE("h2 server sends a bad frame: a protocol error, the client recovers") {
    auto o = tls_server(backend(), {"h2"});
    o.h2.faults.bad_frame = http2::BadFrame::garbage;
    o.h2.faults.bad_frame_after_requests = 0;
    o.h2.faults.stall = true;  // the bad frame comes before any response
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn", short_timeouts()));
    Result r = c.send({.method = "POST", .url = server.url(), .body = "x"});
    CHECK_FALSE(r);
    CHECK(r.error.code == http2::errc::frame_size);
    still_usable(c);
}

TEST_CASE("an HTTP/1.1 server answers the h2c preface with text: not_h2 without fallback") {
    TestServerOptions o;
    o.speak = TestServerOptions::Speak::http1;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "prior-knowledge"));
    Result r = c.send({.method = "GET", .url = server.url()});
    CHECK(r.error.code == http2::errc::not_h2);
}

TEST_CASE("unresolvable host, refused port: distinct net errors, quickly") {
    Client c = make_client(client_json(backend().name(), "alpn", short_timeouts()));
    Result r = c.send({.method = "GET", .url = "https://no-such-host.invalid/"});
    CHECK(r.error.code == net::errc::resolve_failed);
    // A port nothing listens on.
    TestServer tmp(tls_server(backend(), {"h2"}));
    const auto port = tmp.port();
    tmp.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    r = c.send({.method = "GET", .url = "https://127.0.0.1:" + std::to_string(port) + "/"});
    CHECK(r.error.code == net::errc::connect_failed);
    still_usable(c);
}

TEST_CASE("bad URLs: one clear error each") {
    Client c = make_client(client_json(backend().name(), "alpn"));
    CHECK(c.send({.method = "GET", .url = "ftp://example.com/"}).error.code == net::errc::unsupported_scheme);
    CHECK(c.send({.method = "GET", .url = "https://"}).error.code == net::errc::bad_url);
    CHECK(c.send({.method = "GET", .url = "https://[::1/"}).error.code == net::errc::bad_url);
}

TEST_CASE("header injection is refused before anything is sent") {
    auto o = tls_server(backend(), {"http/1.1"});
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "http1"));
    Result r = c.send({.method = "GET", .url = server.url(), .headers = {{"X-Evil", "a\r\nInjected: 1"}}});
    CHECK_FALSE(r);
    CHECK(server.requests() == 0);
}

namespace {

// A cleartext HTTP/1.1 server on raw sockets: answers the first request on its first connection
// with a keep-alive 200, then reads the second request and closes cleanly (FIN) without
// answering -- what a client sees when its request crosses the server's keep-alive close.
// Later connections are answered normally ("again"). Counts every request it read.
class KeepAliveRacer {
public:
    KeepAliveRacer() {
        fd_ = listen_tcp(INADDR_LOOPBACK, 8, port_);
        thread_ = std::thread([this] { run(); });
    }
    ~KeepAliveRacer() {
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
    int requests() const { return requests_; }

private:
    bool read_request(int c) {
        std::string got;
        char buf[4096];
        auto more = [&] {
            const ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n > 0) got.append(buf, static_cast<std::size_t>(n));
            return n > 0;
        };
        while (got.find("\r\n\r\n") == std::string::npos)
            if (!more()) return false;
        // Read the body too: closing with unread bytes would send RST instead of FIN.
        std::size_t length = 0;
        if (const auto cl = got.find("Content-Length: "); cl != std::string::npos)
            length = std::stoul(got.substr(cl + 16));
        while (got.size() < got.find("\r\n\r\n") + 4 + length)
            if (!more()) return false;
        ++requests_;
        return true;
    }
    void answer(int c, std::string_view body) {
        const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\n\r\n" + std::string(body);
        (void)::send(c, r.data(), r.size(), MSG_NOSIGNAL);
    }
    void run() {
        for (int conn = 0;; ++conn) {
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            if (conn == 0) {
                if (read_request(c)) answer(c, "first");
                read_request(c);  // the request that crosses the close: never answered
            } else {
                while (read_request(c)) answer(c, "again");
            }
            ::close(c);
        }
    }
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<int> requests_{0};
    std::thread thread_;
};

}  // namespace

TEST_CASE("a reused HTTP/1.1 connection closed cleanly before answering: idempotent retried") {
    KeepAliveRacer server;
    Client c = make_client(client_json(backend().name(), "alpn", short_timeouts()));
    Result r1 = c.send({.method = "GET", .url = server.url()});
    REQUIRE(r1);
    CHECK(r1.response.body == "first");
    Result r2 = c.send({.method = "GET", .url = server.url()});
    INFO(r2.error.message());
    REQUIRE(r2);  // retried on a new connection, not failed with http1:unexpected_eof
    CHECK(r2.response.body == "again");
    CHECK(c.stats().connections_opened == 2);
}

TEST_CASE("a reused HTTP/1.1 connection closed cleanly before answering: POST not retried") {
    KeepAliveRacer server;
    Client c = make_client(client_json(backend().name(), "alpn", short_timeouts()));
    REQUIRE(c.send({.method = "GET", .url = server.url()}));
    Result r = c.send({.method = "POST", .url = server.url(), .body = "order"});
    CHECK_FALSE(r);
    CHECK(r.error.code == pool::errc::not_retryable);
    CHECK(server.requests() == 2);  // the POST reached the server once and was never re-sent
}

TEST_CASE("prior knowledge to a TLS server that never sends SETTINGS: not_h2 after timeouts.tls, not a hang") {
    auto o = tls_server(backend(), {}, tls::ServerAlpn::ignore);
    o.speak = TestServerOptions::Speak::h2;
    o.h2.faults.silent = true;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "prior-knowledge",
                                       R"("timeouts": {"tls": "300ms", "request": "5s"})"));
    const auto t0 = std::chrono::steady_clock::now();
    Result r = c.send({.method = "GET", .url = server.url()});
    CHECK(r.error.code == http2::errc::not_h2);
    CHECK(r.error.message().find("no HTTP/2 SETTINGS") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
}

TEST_CASE("a refused port with many requests waiting: each fails with connect_failed, no connection storm") {
    TestServer tmp(TestServerOptions{});
    const auto port = tmp.port();
    tmp.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Client c = make_client(client_json(backend().name(), "http1",
                                       R"("timeouts": {"request": "3s"}, "pool": {"max_connections_per_host": 8})"));
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::future<Result>> fs;
    for (int i = 0; i < 8; ++i)
        fs.push_back(c.send_future({.method = "GET", .url = "http://127.0.0.1:" + std::to_string(port) + "/"}));
    for (auto& f : fs) CHECK(f.get().error.code == net::errc::connect_failed);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
    CHECK(c.stats().connections_opened <= 8);
}

TEST_CASE("GOAWAY on every connection: a POST never processed ends with retries_exhausted, sent at most 3 times") {
    auto o = tls_server(backend(), {"h2"});
    o.h2.faults.goaway_after_requests = 1;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    std::vector<std::future<Result>> fs;
    for (int i = 0; i < 4; ++i)
        fs.push_back(c.send_future({.method = "POST", .url = server.url(), .body = std::to_string(i)}));
    int ok = 0, exhausted = 0;
    for (auto& f : fs) {
        Result r = f.get();
        if (r) ++ok;
        else if (r.error.code == pool::errc::retries_exhausted) ++exhausted;
        else FAIL_CHECK(r.error.message());
    }
    CHECK(ok + exhausted == 4);
    CHECK(ok >= 3);
    // Each POST was processed at most once, whatever was retried.
    std::map<std::string, int> seen;
    for (const auto& s : server.served()) ++seen[s.body];
    for (const auto& [body, n] : seen) CHECK(n == 1);
}
