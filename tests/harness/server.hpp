// An in-process test server on 127.0.0.1: our own server-side TLS backends plus the nghttp2
// server session or the HTTP/1.1 request parser, with knobs that make it misbehave on purpose.
// Plain blocking sockets, one thread per connection; every wait is bounded and stop() ends all.
#pragma once

#include <connmatrix/tls.hpp>
#include <connmatrix/types.hpp>

#include "h2_server.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace connmatrix::test {

struct ServedRequest {
    std::string protocol;  // "h2" or "http/1.1"
    std::string method, target, authority;
    Headers headers;
    std::string body;
};

struct ServedResponse {
    int status = 200;
    Headers headers;
    std::string body;
    // Sent after the body: over h2 a trailing HEADERS, over HTTP/1.1 the body goes chunked
    // (one chunk) and these follow its last chunk.
    Headers trailers;
    // Faults a handler may choose per request (the load suite's injector). The handler has run:
    // count the request as processed unless h2_reset is REFUSED_STREAM.
    bool drop_connection = false;           // hang up at once, without this response or any other
                                            // queued on the connection (no close_notify)
    std::optional<std::uint32_t> h2_reset;  // h2: RST_STREAM with this code instead
    http2::ServerResponse::Goaway h2_goaway = http2::ServerResponse::Goaway::none;  // h2: then GOAWAY
    // Send the head and this many bytes of the body, then stall: h2, that stream only (the
    // connection goes on); HTTP/1.1, the connection, until the client closes it.
    std::optional<std::size_t> stall_after_body;
    // h2, with stall_after_body: then RST_STREAM with this code (REFUSED_STREAM: a server that
    // says it did not process a request whose body it has begun to send).
    std::optional<std::uint32_t> h2_reset_after_stall;
};

using ServerHandler = std::function<ServedResponse(const ServedRequest&)>;

struct TestServerOptions {
    const tls::Backend* backend = nullptr;  // nullptr: cleartext
    tls::ServerConfig tls;                  // cert, key, ALPN rule
    enum class Speak {
        by_alpn,  // h2 when ALPN selected h2, HTTP/1.1 otherwise
        h2,       // h2 whatever ALPN said (a TLS terminator in front of an h2c server)
        http1,    // HTTP/1.1 whatever was negotiated (answers an h2 preface with 400 text)
    } speak = Speak::by_alpn;
    http2::ServerOptions h2;                // incl. fault knobs (GOAWAY, RST_STREAM, stall, ...)
    ServerHandler handler;                  // default: 200, body "hello from test server\n"
    // Faults at the connection level.
    bool close_mid_handshake = false;       // read the ClientHello, then hang up
    bool send_garbage = false;              // answer anything with bytes that are no protocol
    bool stall = false;                     // accept, read, never answer
    std::chrono::milliseconds response_delay{0};
    bool http1_close_after_response = false;  // "Connection: close" on every HTTP/1.1 response
    // Hang up after each HTTP/1.1 response that said nothing of closing (a server dropping an
    // idle keep-alive connection without a word).
    bool http1_drop_after_response = false;
    // What reached the server, for tests that count it (called on the connection's thread):
    // a request's head arrived (before its body), and, h2 only, a request so announced that we
    // then told the client we did not process (REFUSED_STREAM, above our GOAWAY).
    std::function<void(const ServedRequest&)> on_arrival;
    std::function<void(const ServedRequest&)> on_refused;
    // Where to listen: ::1 instead of 127.0.0.1, and a given port (0: an ephemeral one).
    bool ipv6 = false;
    std::uint16_t port = 0;
};

class TestServer {
public:
    explicit TestServer(TestServerOptions options);
    ~TestServer();
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    std::string url(std::string_view path = "/") const;  // "https://localhost:PORT/path"
    void stop();

    std::size_t connections() const noexcept { return connections_; }
    std::size_t closed() const noexcept { return closed_; }  // connections served to their end
    std::size_t handshakes() const noexcept { return handshakes_; }
    std::size_t requests() const;
    std::vector<ServedRequest> served() const;
    std::vector<std::string> alpn_seen() const;   // per TLS connection: what was selected
    // Per TLS connection: what became of the client's early data (tls.max_early_data).
    std::vector<tls::EarlyData> early_seen() const;
    // A new server context from the same options: tickets issued so far no longer resume.
    void new_context();
    std::size_t peak_h2_streams() const noexcept { return peak_streams_; }
    std::size_t h2_pings() const noexcept { return pings_; }  // PINGs received, all connections

private:
    void accept_loop();
    void serve(int fd);
    void record(ServedRequest r);

    TestServerOptions opt_;
    std::shared_ptr<tls::ServerContext> ctx_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;
    mutable std::mutex mu_;
    std::vector<std::thread> workers_;
    std::vector<int> open_fds_;
    std::vector<ServedRequest> served_;
    std::vector<std::string> alpn_;
    std::vector<tls::EarlyData> early_;
    std::atomic<std::size_t> connections_{0};
    std::atomic<std::size_t> closed_{0};
    std::atomic<std::size_t> handshakes_{0};
    std::atomic<std::size_t> peak_streams_{0};
    std::atomic<std::size_t> pings_{0};
};

}  // namespace connmatrix::test
