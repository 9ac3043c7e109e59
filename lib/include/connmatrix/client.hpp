// connmatrix/client.hpp - the public API: a Client sends HTTP requests over pooled connections,
// negotiating the protocol per host as its policy says.
//
//   connmatrix::Error err;
//   auto client = connmatrix::Client::from_file("connmatrix.json", err);
//   auto r = client->send({.method = "GET", .url = "https://api.example.com/v1/time"});
//   if (r) std::cout << r.response.status << " over " << r.response.info.alpn_selected.value_or("no ALPN");
//
// A Client owns one I/O thread and its connections. Its methods are safe to call from any
// thread; callbacks run on the I/O thread (don't block there). The destructor closes it at once:
// requests still in flight end with pool::errc::client_closed.
#pragma once

#include <connmatrix/config.hpp>
#include <connmatrix/error.hpp>
#include <connmatrix/errors/net.hpp>
#include <connmatrix/errors/pool.hpp>
#include <connmatrix/export.hpp>
#include <connmatrix/policy.hpp>
#include <connmatrix/types.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace connmatrix {

struct Request {
    std::string method = "GET";
    std::string url;                                 // http:// or https://
    Headers headers;                                 // Host/:authority is added for you
    std::string body;
    std::optional<std::chrono::milliseconds> timeout;  // overrides the policy's request timeout
};

struct Timings {
    std::chrono::microseconds dns{0};      // zero on a reused connection
    std::chrono::microseconds connect{0};  // TCP (and proxy tunnel)
    std::chrono::microseconds tls{0};      // the TLS handshake
    std::chrono::microseconds first_byte{0};  // request sent -> first response byte
    std::chrono::microseconds total{0};    // send() called -> response complete
};

// An h2 server's SETTINGS (RFC 9113 6.5.2), as they stood when the response began.
struct H2Settings {
    std::uint32_t max_concurrent_streams = 0;
    std::uint32_t initial_window_size = 0;
    std::uint32_t max_frame_size = 0;
    std::uint32_t max_header_list_size = 0;  // 0xffffffff: the server set no limit
    friend bool operator==(const H2Settings&, const H2Settings&) = default;
};

// How the response was obtained: the negotiation, as a user debugging it needs to see it.
// TLS 1.3 early data (policy tls.early_data) on a connection: what became of its first flight.
enum class EarlyData : std::uint8_t {
    not_attempted,  // none sent: off, cleartext, no ticket allowing it, no request that qualifies
    accepted,       // the server took the request sent as early data (Response::info.early)
    rejected,       // the server refused it: that request went again after the handshake
};
// "not_attempted", "accepted", "rejected"
constexpr std::string_view to_string(EarlyData e) noexcept {
    return e == EarlyData::accepted ? "accepted" : e == EarlyData::rejected ? "rejected" : "not_attempted";
}

struct ConnectionInfo {
    std::string backend;                       // TLS backend; empty on cleartext
    std::vector<std::string> alpn_offered;     // empty: no ALPN extension was sent
    std::optional<std::string> alpn_selected;  // nullopt: the server answered without ALPN
    Protocol protocol = Protocol::http1_1;
    std::string tls_version;                   // "TLSv1.3"; empty on cleartext
    std::string cipher;
    std::optional<bool> resumed;               // TLS session resumed; nullopt: unknown
    bool verified = false;                     // certificate chain and host name verified
    bool client_certificate = false;           // we presented tls.client_cert (the server asked)
    EarlyData early_data = EarlyData::not_attempted;  // the connection's first flight
    bool early = false;                        // this request went as early data, accepted
    // When the server's certificate (the leaf) expires; nullopt on cleartext or when the
    // library showed none.
    std::optional<std::chrono::system_clock::time_point> certificate_expires;
    std::optional<H2Settings> h2_settings;     // h2: the server's SETTINGS
    std::string mode;                          // the policy mode, e.g. "prior-knowledge-alpn"
    std::string rule;                          // the rule that decided, e.g. "hosts[1] (*.example.com)"
    std::string decision;                      // why this protocol, in words
    bool reused = false;                       // sent on a connection opened earlier
    bool fallback = false;                     // HTTP/1.1 because h2 was rejected (now or remembered)
    std::string remote_address;                // "127.0.0.1:8443"
    Timings timings;
};

struct CONNMATRIX_API Response {
    int status = 0;
    Headers headers;
    std::string body;
    ConnectionInfo info;

    // The first header with this name (case-insensitive), or nullptr.
    const std::string* header(std::string_view name) const noexcept;
};

// Exactly one of: a response (any status), or an error saying what failed and where. On an
// error, response.status is 0 and has no headers or body, but response.info holds what the
// attempt learnt before failing, for diagnostics: the rule and mode always (once a connection
// was tried), the backend and ALPN offered once the TLS session was created, ALPN selected,
// TLS version and cipher once the handshake completed (a policy refusing its outcome), timings.
struct Result {
    Error error;
    Response response;
    explicit operator bool() const noexcept { return !error; }
};

enum class LogLevel { error, warn, info, debug, trace };
CONNMATRIX_API std::string_view to_string(LogLevel l) noexcept;
using LogSink = std::function<void(LogLevel, std::string_view)>;

// What a broken or hostile HTTP/2 server may make the client do, per connection (README.md,
// "Limits"). Beyond a limit the connection ends at once with GOAWAY ENHANCE_YOUR_CALM, and its
// requests with the error named here; other connections and hosts are not affected.
struct Http2Limits {
    // The decoded size of a response's header list, counted as RFC 9113 6.5.2 does (name +
    // value + 32 per field); also sent as SETTINGS_MAX_HEADER_LIST_SIZE. A larger one fails that
    // request with http2:header_invalid: an HPACK bomb (one large field in the dynamic table,
    // referenced many times in a few bytes) ends here.
    std::uint32_t max_header_list_size = 64 * 1024;
    // CONTINUATION frames after one HEADERS (the 2024 CONTINUATION-flood CVEs): more is
    // http2:flood.
    std::uint32_t max_continuations = 8;
    // DATA frames in a row on open streams that carry no data and do not end their stream:
    // more is http2:flood. Only DATA or HEADERS on an open stream end a run; frames on a stream
    // no longer open do not.
    std::uint32_t max_empty_data_frames = 100;
    // Frames that make us work without carrying a response: PING, SETTINGS, PRIORITY, GOAWAY,
    // interim (1xx) responses, frames of unknown types; on a stream no longer open RST_STREAM,
    // HEADERS and DATA under 1 KiB (a full frame the server had in flight when we reset the
    // stream is not counted); WINDOW_UPDATE beyond one per HEADERS and two per DATA frame we
    // sent (what a server reading our upload sends is free). More is http2:flood.
    RateLimit control_frames{1000, 100};
    // Our streams the server resets (RST_STREAM, any code, REFUSED_STREAM included) before their
    // response is complete: more is http2:too_many_resets, the rapid-reset pattern
    // (CVE-2023-44487) turned on the client. The figures nghttp2 uses for its servers.
    RateLimit peer_resets{1000, 33};
};

struct ClientOptions {
    // Where log lines go. Unset: stderr, at the level named by CONNMATRIX_LOG
    // (error|warn|info|debug|trace), or nowhere when that is unset. Secrets and bodies are
    // never logged.
    LogSink log;
    LogLevel log_level = LogLevel::info;  // for `log`, when set
    std::size_t max_response_body = 256 * 1024 * 1024;
    // HTTP/1.1: 1xx interim responses (100 Continue, 103 Early Hints) accepted before the final
    // response; one more is http1::errc::too_many_interim_responses.
    std::size_t max_interim_responses = 32;
    // Connections to one host (pool key) that may end in a row before carrying any request
    // (refused, closed at once, unsolicited bytes, a bad proxy tunnel) while requests wait for
    // one; then those requests fail with the last connection's error. Before each new attempt
    // the pool waits reconnect_backoff (at least 10 ms), doubled after every such failure (at
    // most 2 s).
    unsigned max_connect_failures = 3;
    std::chrono::milliseconds reconnect_backoff{100};
    Http2Limits h2;
    // Key logging, for Wireshark: every TLS connection's secrets are appended to this file in
    // the NSS key log format, on every backend. Empty: the file named by $SSLKEYLOGFILE (as
    // curl and browsers read it) unless keylog_from_environment is false. The Client logs a
    // warning once when it is on, and fails to start when the file cannot be opened for
    // appending. Whoever can read the file can decrypt the traffic: for debugging only.
    std::string keylog_file;
    bool keylog_from_environment = true;
};

class CONNMATRIX_API Client {
public:
    // The file named by $CONNMATRIX_CONFIG, or the built-in defaults (mode alpn, verification
    // on) when it is unset. A bad file throws std::system_error (category "config") with every
    // problem in what(): never a silent fallback to defaults. from_environment() is the
    // non-throwing form.
    Client();
    explicit Client(policy::Config config, ClientOptions options = {});
    // A Config from config::load_*: only when valid; otherwise nullopt and err says why.
    static std::optional<Client> from_file(const std::string& path, Error& err,
                                           ClientOptions options = {});
    static std::optional<Client> from_json(std::string_view json, Error& err,
                                           ClientOptions options = {});
    // $CONNMATRIX_CONFIG, or the built-in defaults when it is unset.
    static std::optional<Client> from_environment(Error& err, ClientOptions options = {});

    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    ~Client();

    // Blocking: waits for exactly one response or one error.
    Result send(Request request);
    // Asynchronous: `done` runs exactly once, on the I/O thread (or at once on the calling
    // thread, with pool::errc::client_closed, after close()).
    void send_async(Request request, std::function<void(Result)> done);
    std::future<Result> send_future(Request request);

    // Opens up to n connections to the origin of `url` before the first request (h2: one
    // connection carries many streams, so n > 1 only helps when streams would run out).
    Error warm(std::string_view url, unsigned n = 1);
    // Closes the connections that carry no request now (Go's CloseIdleConnections, OkHttp's
    // evictAll); what was learnt stays: the next connection resumes the TLS session. Returns
    // once they are closing. Requests in flight are untouched.
    void close_idle_connections();

    // Stops taking requests, lets the ones in flight finish (each within its own timeout),
    // closes every connection, and waits for that. From a callback (the I/O thread) it starts
    // the same and returns at once. Never destroy a Client from its own callbacks.
    void close();
    // The same, but requests still in flight after `deadline` end with pool::errc::client_closed
    // then, and the call returns. The destructor is close(0ms): whatever is still in flight
    // ends at once with client_closed. One thing it cannot cut short: a DNS lookup under way
    // (getaddrinfo on asio's resolver thread) is waited for, up to the resolver's own timeout.
    void close(std::chrono::milliseconds deadline);

    const policy::Engine& policy() const noexcept;

    struct Stats {
        std::size_t connections_opened = 0;
        std::size_t connections_open = 0;
        std::size_t requests = 0;
        std::size_t fallbacks = 0;
        std::size_t hosts = 0;  // pool keys with connections, connects or requests now; an
                                // unused one is dropped (what it learnt is kept, bounded)
        std::size_t retries = 0;  // requests queued again because a connection did not process
                                  // them (GOAWAY, REFUSED_STREAM, closed before answering an
                                  // idempotent one, h2 rejected and falling back)
    };
    Stats stats() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace connmatrix
