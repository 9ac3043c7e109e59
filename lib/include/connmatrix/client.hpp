/// \file
/// The public API: a Client sends HTTP requests over pooled connections, negotiating the
/// protocol per host as its policy says.
///
///     connmatrix::Error err;
///     auto client = connmatrix::Client::from_file("connmatrix.json", err);
///     auto r = client->send({.method = "GET", .url = "https://api.example.com/v1/time"});
///     if (r) std::cout << r.response.status << " over " << r.response.info.alpn_selected.value_or("no ALPN");
///
/// A Client owns one I/O thread and its connections, or runs on the caller's Asio executor
/// (ClientOptions::executor, <connmatrix/asio.hpp>). Its methods are safe to call from any
/// thread; callbacks run on the I/O thread (don't block there). The destructor closes it at once:
/// requests still in flight end with pool::errc::client_closed.
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
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace connmatrix {

struct Response;
struct IoExecutor;  // defined in <connmatrix/asio.hpp>: an Asio executor to run a Client on

/// What a body sink (Request::on_body) answers for each piece of the body it is given.
enum class BodyAction {
    proceed,  ///< Taken: more may come at once.
    /// Taken, but give no more until RequestHandle::resume(): over HTTP/2 the server stops once
    /// the stream's window (ClientOptions::h2, 1 MiB by default) is used up, and what it sent up
    /// to then waits in the Client; over HTTP/1.1 the connection is not read. The request's
    /// timeout and deadline run on while it is paused. Only send_async() gives the handle that
    /// can resume it: under send() and send_future() a pause lasts until the timeout.
    pause,
    abort,  ///< Stop: the request ends with pool::errc::body_aborted (over HTTP/2 its stream is
            ///< reset with CANCEL; over HTTP/1.1 its connection is closed).
};

/// What a request body source (BodySource::read) answers for each read.
struct BodyRead {
    std::size_t size = 0;  ///< Bytes written at the start of the buffer (at most its size).
    bool end = false;      ///< The body ends after these bytes (they may be none).
};

/// A request body produced as it is sent, instead of a whole Request::body: read on the I/O
/// thread a piece at a time as the connection has room for it, so an upload of any size costs
/// the Client a few buffers. Over HTTP/1.1 a known length goes out as Content-Length, an
/// unknown one chunked; over HTTP/2 as DATA frames, no faster than the server's flow-control
/// windows open (a known length is sent as content-length too).
struct BodySource {
    /// The body's length, when known: the source must give exactly that many bytes, else the
    /// request ends with pool::errc::body_length_mismatch (over HTTP/1.1 its connection is
    /// closed, over HTTP/2 its stream reset: the server never takes a short or long body for a
    /// whole one). Unknown (nullopt): the body ends where the source says so. A known length of
    /// zero sends an empty body without reading.
    std::optional<std::uint64_t> length;
    /// Fills up to `buffer.size()` bytes (never zero) from the start of `buffer`. Return
    /// `{n, false}` for n bytes and more to come, `{n, true}` when the body ends after them,
    /// `{0, false}` when nothing is ready yet: it is not called again until
    /// RequestHandle::resume() (only send_async() gives the handle; the request's timeout runs
    /// on). Runs on the I/O thread: keep it short, never block. One that throws ends its own
    /// request with pool::errc::body_source_failed and the exception's text.
    std::function<BodyRead(std::span<std::uint8_t> buffer)> read;
    /// Optional: starts the body again from its first byte; false if it cannot. Without it, a
    /// request whose source has been read is never sent again (the pool cannot replay it);
    /// with it, it is retried where a request with a whole body would be (an idempotent one
    /// after a lost connection, any after REFUSED_STREAM or above a GOAWAY), rewound first.
    std::function<bool()> rewind;

    /// Whether a source is set (`read` is).
    explicit operator bool() const noexcept { return static_cast<bool>(read); }
};

/// One HTTP request. The Client takes it by value: move it in, and its body is sent from that
/// string without a copy.
struct Request {
    std::string method = "GET";  ///< Any token; only GET, HEAD, OPTIONS, TRACE, PUT and DELETE are
                                 ///< sent again after a connection fails under them (idempotent).
    std::string url;             ///< http:// or https://; the path and query are sent, a fragment not.
    /// Sent as given (names lowercased over HTTP/2). Host (`:authority`) is added for you,
    /// from the URL; a Host given here replaces it over HTTP/1.1 and is ignored over HTTP/2.
    /// Content-Length is written from the body (and for an empty POST, PUT or PATCH); do not
    /// set it or Transfer-Encoding: HTTP/1.1 refuses the request with
    /// http1::errc::invalid_message, HTTP/2 drops them, with the other connection-specific
    /// fields (RFC 9113 8.2.2).
    Headers headers;                                 // Host/:authority is added for you
    std::string body;                                ///< Sent as is; empty: no body.
    /// A body streamed from a source instead (see BodySource); `body` must then be empty, else
    /// the request ends with pool::errc::body_source_failed before anything is sent.
    BodySource body_source;
    /// Overrides the policy's request timeout (policy::Timeouts::request) for this request:
    /// from send() to the end of the response, waiting for a connection included.
    std::optional<std::chrono::milliseconds> timeout;  // overrides the policy's request timeout
    /// An absolute deadline for the whole request, in addition to the relative timeout: the
    /// request ends with net::errc::request_timeout at whichever comes first. A deadline
    /// already past ends it at once (never inside the call that sent it). On the steady clock,
    /// so that changing the wall clock moves no deadline.
    std::optional<std::chrono::steady_clock::time_point> deadline;
    /// Cancellation from anywhere: `source.request_stop()` on the std::stop_source this token
    /// came from (from any thread, a std::jthread's own included) ends the request with
    /// pool::errc::cancelled, as RequestHandle::cancel() does, for send(), send_async() and
    /// send_future() alike. A token already stopped when the request is sent cancels it at
    /// once; one without a source (the default) never does.
    std::stop_token cancel;
    /// Streams the final response's body to this sink instead of into Response::body (which
    /// stays empty): called on the I/O thread with each piece as it is decoded from its framing
    /// (chunked, Content-Length, DATA frames), in order, never with an empty piece. Neither
    /// ClientOptions::max_response_body nor any buffer of the Client's limits such a body: the
    /// sink holds what it keeps. Its answer is backpressure (see BodyAction): over HTTP/2 the
    /// stream's flow-control window is reopened only for what the sink has taken; over HTTP/1.1
    /// the connection stops being read while the sink is paused. A sink that throws ends only
    /// its own request, with pool::errc::body_sink_failed and the exception's text. A request
    /// whose body has reached the sink, in part, is never sent again (not after a lost
    /// connection, a GOAWAY or a REFUSED_STREAM): the sink would see bytes twice.
    std::function<BodyAction(std::span<const std::uint8_t>)> on_body;
    /// With on_body: called once, on the I/O thread, when the final response's status and
    /// headers are in, before the first piece of its body (Response::info is filled in as far
    /// as it is known then; the body and trailers are not). Throwing ends the request as a
    /// throwing on_body does.
    std::function<void(const Response&)> on_response;
};

/// A request sent with Client::send_async(): what can still be done to it. Cheap to copy (one
/// shared pointer), safe to keep and use from any thread, after the request ended and after
/// the Client is gone. A default-constructed handle refers to no request.
class CONNMATRIX_API RequestHandle {
public:
    /// The library's own state behind a handle; defined in the library only.
    struct State;
    /// A handle to no request: cancel() does nothing.
    RequestHandle() noexcept = default;
    /// Made by the library (Client::send_async()).
    /// \param state what the handle refers to.
    explicit RequestHandle(std::shared_ptr<State> state) noexcept;

    /// Ends the request with pool::errc::cancelled, unless it has ended already (then, and
    /// on a handle to no request, nothing happens). Returns at once: the cancellation runs on
    /// the Client's I/O thread, where the request's callback then runs, exactly once. What
    /// becomes of its connection: a request waiting for one leaves the queue (a connect
    /// started for it goes on, and its connection serves the next request); over HTTP/2 its
    /// stream is reset (RST_STREAM CANCEL) and the connection goes on carrying the others;
    /// over HTTP/1.1 the connection is closed, unless the response was complete already.
    /// Safe from any thread, any number of times.
    void cancel() const;
    /// Resumes a request whose body sink answered BodyAction::pause: what the Client holds of
    /// its body goes to the sink first, then the connection is read again (HTTP/1.1) or the
    /// stream's window reopened (HTTP/2), as the sink takes it. Resumes as well the upload of a
    /// request whose body source answered `{0, false}` (nothing ready): it is read again.
    /// Returns at once; nothing happens when the request is not paused or has ended. Safe from
    /// any thread, any number of times.
    void resume() const;
    /// Whether the handle refers to a request (it may have ended since).
    /// \return false for a default-constructed handle, or when send_async() answered without
    ///         sending (a bad URL, a closed Client).
    explicit operator bool() const noexcept { return state_ != nullptr; }

private:
    std::shared_ptr<State> state_;
};

/// Where a request's time went. On a reused connection dns, connect and tls are zero: the
/// request paid for none of them.
struct Timings {
    std::chrono::microseconds dns{0};      ///< Name resolution; zero on a reused connection.
    std::chrono::microseconds connect{0};  ///< TCP (and proxy tunnel).
    std::chrono::microseconds tls{0};      ///< The TLS handshake.
    std::chrono::microseconds first_byte{0};  ///< Request sent -> first response byte.
    std::chrono::microseconds total{0};    ///< send() called -> response complete (or the error).
};

/// An h2 server's SETTINGS (RFC 9113 6.5.2), as they stood when the response began.
struct H2Settings {
    std::uint32_t max_concurrent_streams = 0;  ///< SETTINGS_MAX_CONCURRENT_STREAMS.
    std::uint32_t initial_window_size = 0;     ///< SETTINGS_INITIAL_WINDOW_SIZE.
    std::uint32_t max_frame_size = 0;          ///< SETTINGS_MAX_FRAME_SIZE.
    std::uint32_t max_header_list_size = 0;  ///< 0xffffffff: the server set no limit.
    /// Field-by-field equality.
    friend bool operator==(const H2Settings&, const H2Settings&) = default;
};

// How the response was obtained: the negotiation, as a user debugging it needs to see it.
/// TLS 1.3 early data (policy tls.early_data) on a connection: what became of its first flight.
enum class EarlyData : std::uint8_t {
    not_attempted,  ///< None sent: off, cleartext, no ticket allowing it, no request that qualifies.
    accepted,       ///< The server took the request sent as early data (Response::info.early).
    rejected,       ///< The server refused it: that request went again after the handshake.
};
/// The outcome's name, as `probe --json` prints it.
/// \param e the outcome.
/// \return `"not_attempted"`, `"accepted"` or `"rejected"`.
constexpr std::string_view to_string(EarlyData e) noexcept {
    return e == EarlyData::accepted ? "accepted" : e == EarlyData::rejected ? "rejected" : "not_attempted";
}

/// How the response was obtained: the negotiation, as a user debugging it needs to see it.
/// The connection's fields are the same for every request it carried.
struct ConnectionInfo {
    std::string backend;                       ///< TLS backend; empty on cleartext.
    std::vector<std::string> alpn_offered;     ///< Empty: no ALPN extension was sent.
    std::optional<std::string> alpn_selected;  ///< nullopt: the server answered without ALPN.
    Protocol protocol = Protocol::http1_1;     ///< The protocol the request was sent over.
    std::string tls_version;                   ///< "TLSv1.3"; empty on cleartext.
    std::string cipher;                        ///< The TLS library's name for the cipher suite.
    std::optional<bool> resumed;               ///< TLS session resumed; nullopt: unknown.
    bool verified = false;                     ///< Certificate chain and host name verified.
    bool client_certificate = false;           ///< We presented tls.client_cert (the server asked).
    EarlyData early_data = EarlyData::not_attempted;  ///< The connection's first flight.
    bool early = false;                        ///< This request went as early data, accepted.
    /// When the server's certificate (the leaf) expires; nullopt on cleartext or when the
    /// library showed none.
    std::optional<std::chrono::system_clock::time_point> certificate_expires;
    std::optional<H2Settings> h2_settings;     ///< h2: the server's SETTINGS.
    std::string mode;                          ///< The policy mode, for example "prior-knowledge-alpn".
    std::string rule;                          ///< The rule that decided: "hosts[1] (*.example.com)", "defaults".
    std::string decision;                      ///< Why this protocol, in words.
    bool reused = false;                       ///< Sent on a connection opened earlier.
    bool fallback = false;                     ///< HTTP/1.1 because h2 was rejected (now or remembered).
    std::string remote_address;                ///< "127.0.0.1:8443": the peer of the TCP connection (the proxy, through one).
    Timings timings;                           ///< Where the request's time went.
};

/// An HTTP response, of any status (a 404 or 500 is a Response, not an error).
struct CONNMATRIX_API Response {
    int status = 0;  ///< The final status (1xx interim responses are not kept); 0 in a failed Result.
    /// The header fields of the final response, in the order received. Names as received
    /// (always lowercase over HTTP/2); use header() to find one.
    Headers headers;
    /// The trailer fields that followed the body (HTTP/1.1 chunked trailers, HTTP/2 trailing
    /// HEADERS), in the order received; empty when there were none.
    Headers trailers;
    /// The body, decoded from its framing (chunked, Content-Length); no content coding is
    /// undone (gzip stays gzip). At most ClientOptions::max_response_body bytes. Empty when
    /// Request::on_body took it.
    std::string body;
    ConnectionInfo info;  ///< How it was obtained.

    /// The first header with this name (case-insensitive), or nullptr.
    /// \param name the field name, in any case.
    /// \return a pointer to its value, valid while this Response lives unchanged; nullptr when
    ///         there is none.
    const std::string* header(std::string_view name) const noexcept;
};

/// Exactly one of: a response (any status), or an error saying what failed and where. On an
/// error, response.status is 0 and has no headers or body, but response.info holds what the
/// attempt learnt before failing, for diagnostics: the rule and mode always (once a connection
/// was tried), the backend and ALPN offered once the TLS session was created, ALPN selected,
/// TLS version and cipher once the handshake completed (a policy refusing its outcome), timings.
struct Result {
    Error error;        ///< Set when the request failed; its category says which layer.
    Response response;  ///< The response, or what the failed attempt learnt (see above).
    /// `if (result)`: whether there is a response.
    /// \return whether error is unset.
    explicit operator bool() const noexcept { return !error; }
};

/// How much a Client logs: each level includes the ones before it. `info` says each
/// negotiation step (rule, ALPN offered and selected, decision, fallback); `debug` and
/// `trace` add the pool's work, request by request. No level logs a secret, a Cookie or
/// Authorization value, or a body.
enum class LogLevel { error, warn, info, debug, trace };
/// The level's name, as `CONNMATRIX_LOG` spells it.
/// \param l the level.
/// \return `"error"`, `"warn"`, `"info"`, `"debug"` or `"trace"`.
CONNMATRIX_API std::string_view to_string(LogLevel l) noexcept;
/// Where a Client's log lines go: called with each line's level and text (one line, no
/// newline), on the I/O thread (lines about starting up: on the thread that builds the
/// Client). One Client's calls never overlap; a sink shared by several Clients must be
/// thread-safe. It must not block: every connection of the Client waits for it.
using LogSink = std::function<void(LogLevel, std::string_view)>;

/// What a broken or hostile HTTP/2 server may make the client do, per connection (README.md,
/// "Limits"). Beyond a limit the connection ends at once with GOAWAY ENHANCE_YOUR_CALM, and its
/// requests with the error named here; other connections and hosts are not affected.
struct Http2Limits {
    /// The decoded size of a response's header list, counted as RFC 9113 6.5.2 does (name +
    /// value + 32 per field); also sent as SETTINGS_MAX_HEADER_LIST_SIZE. A larger one fails that
    /// request with http2:header_invalid: an HPACK bomb (one large field in the dynamic table,
    /// referenced many times in a few bytes) ends here.
    std::uint32_t max_header_list_size = 64 * 1024;
    /// CONTINUATION frames after one HEADERS (the 2024 CONTINUATION-flood CVEs): more is
    /// http2:flood.
    std::uint32_t max_continuations = 8;
    /// DATA frames in a row on open streams that carry no data and do not end their stream:
    /// more is http2:flood. Only DATA or HEADERS on an open stream end a run; frames on a stream
    /// no longer open do not.
    std::uint32_t max_empty_data_frames = 100;
    /// Frames that make us work without carrying a response: PING, SETTINGS, PRIORITY, GOAWAY,
    /// interim (1xx) responses, frames of unknown types; on a stream no longer open RST_STREAM,
    /// HEADERS and DATA under 1 KiB (a full frame the server had in flight when we reset the
    /// stream is not counted); WINDOW_UPDATE beyond one per HEADERS and two per DATA frame we
    /// sent (what a server reading our upload sends is free). More is http2:flood.
    RateLimit control_frames{1000, 100};
    /// Our streams the server resets (RST_STREAM, any code, REFUSED_STREAM included) before their
    /// response is complete: more is http2:too_many_resets, the rapid-reset pattern
    /// (CVE-2023-44487) turned on the client. The figures nghttp2 uses for its servers.
    RateLimit peer_resets{1000, 33};
};

/// What an Event reports, roughly in the order a request meets them. Connection events
/// (dns_*, connect_*, tls_*, negotiated, connection_*) name the connection; the ones of a
/// connect name the request that asked for it no more than any other waiting request.
enum class EventKind : std::uint8_t {
    request_queued,     ///< The I/O thread took the request from send*() (a thread hop after
                        ///< the call, where Timings::total starts); it waits for a connection.
    dns_start,          ///< Resolving the first hop's name (detail: the name).
    dns_end,            ///< Resolved enough to connect (detail: the addresses, in the order
                        ///< tried), or `error`. With c-ares (DnsOptions) that is the AAAA
                        ///< answer, or the A one after the Resolution Delay: a family that
                        ///< answers later joins the race with no event of its own.
    connect_start,      ///< A TCP attempt to `address` began (Happy Eyeballs: one per address).
    connect_end,        ///< That attempt connected, or failed with `error`.
    tls_start,          ///< The TLS handshake began (info: backend, ALPN offered).
    tls_end,            ///< It ended: `error`, or `info` with version, cipher, ALPN selected.
    negotiated,         ///< The protocol is decided and the connection ready (info; detail: why).
    connection_reused,  ///< The request goes on a connection that was ready before it came.
    request_sent,       ///< The request's head was written to its connection (its body
                        ///< follows: request_body_sent).
    response_headers,   ///< The final response's status and headers (`response`).
    first_body_byte,    ///< The first byte of the final response's body.
    request_done,       ///< It ended: `error` empty (`response` complete) or the error.
    retry,              ///< It goes again on another connection (detail: why).
    fallback,           ///< h2 was refused: the origin is HTTP/1.1 for a while (detail: why).
    connection_idle,    ///< The connection carries no request now and is kept for reuse.
    connection_closed,  ///< The connection ended (detail: why).
    /// The request's body was all handed to the socket, after request_sent (a buffered body
    /// at once on HTTP/1.1; on h2, and from a body_source, when its last byte went). None for
    /// a request without a body (nor, on h2, for an empty one: its HEADERS end the stream). Last in the list so that the others keep their values.
    request_body_sent,
};

/// The name of `k`: `"dns_start"`, `"request_done"`, ...
/// \param k the kind.
/// \return its enumerator's name.
constexpr std::string_view to_string(EventKind k) noexcept {
    constexpr std::string_view names[] = {
        "request_queued", "dns_start",         "dns_end",       "connect_start",
        "connect_end",    "tls_start",         "tls_end",       "negotiated",
        "connection_reused", "request_sent",   "response_headers", "first_body_byte",
        "request_done",   "retry",             "fallback",      "connection_idle",
        "connection_closed", "request_body_sent"};
    const auto i = static_cast<std::size_t>(k);
    return i < std::size(names) ? names[i] : std::string_view("unknown");
}

/// One phase of a request or a connection, as ClientOptions::on_event is told of it. Every
/// pointer and view is valid only during the call: copy what you keep.
struct Event {
    EventKind kind = EventKind::request_queued;  ///< What happened.
    std::chrono::steady_clock::time_point at;    ///< When, on the steady clock.
    std::uint64_t request = 0;     ///< The request's number in this Client, from 1; 0: none.
    std::uint64_t connection = 0;  ///< The connection's number (as in log lines); 0: none yet.
    std::string_view method;       ///< The request's method, when it is a request's event.
    std::string_view url;          ///< The request's origin and target, when a request's.
    std::string_view address;      ///< connect_*: the address tried, "ip:port" / "[ip]:port".
    std::string_view detail;       ///< Why, or what: see EventKind.
    const ConnectionInfo* info = nullptr;  ///< What is known of the connection so far, if any.
    const Response* response = nullptr;    ///< response_headers, request_done: the response.
    const Error* error = nullptr;          ///< What failed; null when nothing did.
};

/// How a Client resolves names (the first hop's: the origin, its `connect_to`, or the proxy;
/// a rule's `resolve` and IP literals ask nothing). By default c-ares, as curl does: AAAA and A
/// are asked apart, so that connecting starts on the first useful answer (RFC 8305 section 3),
/// from /etc/hosts and the name servers of /etc/resolv.conf, and each answer is kept for its
/// records' TTL, capped by max_ttl. One cache per Client. `localhost` and names under it are
/// ::1 and 127.0.0.1, asked of nobody (RFC 6761 6.3).
struct DnsOptions {
    /// The longest an answer is kept, whatever its TTL says (curl keeps every answer 60 s). An
    /// answer that a name has no address of one family is kept this long too; a failure is
    /// not kept. 0: no cache, every connection asks.
    std::chrono::seconds max_ttl{60};
    /// RFC 8305 section 3, the Resolution Delay: when the A answer comes first, how long to
    /// wait for the AAAA one before connecting over IPv4 (addresses that come later still join
    /// the race).
    std::chrono::milliseconds resolution_delay{50};
    /// Name servers to ask instead of /etc/resolv.conf's, "ADDR", "ADDR:PORT" or "[V6]:PORT"
    /// (curl's --dns-servers). A malformed entry stops the Client from starting, named by its
    /// index (net::errc::resolve_failed).
    std::vector<std::string> servers;
    /// The system's getaddrinfo() instead (every NSS source, mDNS or LDAP too): both families in
    /// one answer, on Asio's resolver thread, no TTLs and no cache; max_ttl, resolution_delay
    /// and servers do not apply.
    bool system = false;
};

/// What a Client is built with besides its policy: logging, the limits that protect it from
/// a broken or hostile server, and TLS key logging. The defaults suit a production client.
struct ClientOptions {
    /// Where log lines go. Unset: stderr, at the level named by CONNMATRIX_LOG
    /// (error|warn|info|debug|trace), or nowhere when that is unset. Secrets and bodies are
    /// never logged.
    LogSink log;
    LogLevel log_level = LogLevel::info;  ///< For `log`, when set: the most detailed level passed to it.
    /// The largest response body kept (256 MiB); a larger one ends its request with
    /// net::errc::response_too_large.
    std::size_t max_response_body = 256 * 1024 * 1024;
    /// HTTP/1.1: 1xx interim responses (100 Continue, 103 Early Hints) accepted before the final
    /// response; one more is http1::errc::too_many_interim_responses.
    std::size_t max_interim_responses = 32;
    /// HTTP/1.1, a request with a body and `Expect: 100-continue` among its headers (RFC 9110
    /// 10.1.1; you add the header, as with curl's `-H`): its body waits for the server's 100
    /// Continue at most this long, then goes anyway (curl's --expect100-timeout, 1 s). A final
    /// response first (417, 401, 413...) is delivered, the body is never sent, and the
    /// connection is closed after it. 0: the header is sent and the body goes at once. Over
    /// h2 the body goes at once (the header is passed on; a 100 is skipped like any 1xx).
    std::chrono::milliseconds expect_continue_timeout{1000};
    /// Connections to one host (pool key) that may end in a row before carrying any request
    /// (refused, closed at once, unsolicited bytes, a bad proxy tunnel) while requests wait for
    /// one; then those requests fail with the last connection's error. Before each new attempt
    /// the pool waits reconnect_backoff (at least 10 ms), doubled after every such failure (at
    /// most 2 s).
    unsigned max_connect_failures = 3;
    std::chrono::milliseconds reconnect_backoff{100};  ///< The first wait before reconnecting (see above).
    Http2Limits h2;  ///< What an HTTP/2 server may make the client do, per connection.
    /// Key logging, for Wireshark: every TLS connection's secrets are appended to this file in
    /// the NSS key log format, on every backend. Empty: the file named by $SSLKEYLOGFILE (as
    /// curl and browsers read it) unless keylog_from_environment is false. The Client logs a
    /// warning once when it is on, and fails to start when the file cannot be opened for
    /// appending. Whoever can read the file can decrypt the traffic: for debugging only.
    std::string keylog_file;
    bool keylog_from_environment = true;  ///< Whether an empty keylog_file means $SSLKEYLOGFILE.
    /// Told of each phase of every request and connection (see EventKind), on the I/O thread,
    /// as it happens: for metrics, tracing, a curl `-w` line. Keep it short and do not block;
    /// an exception it throws is dropped (the request goes on). Unset: nothing is built for it.
    std::function<void(const Event&)> on_event;
    DnsOptions dns;  ///< How names are resolved: c-ares with a TTL cache, or getaddrinfo().
    /// Where the Client runs. Unset: on an I/O thread of its own. Set with connmatrix::run_on()
    /// (<connmatrix/asio.hpp>): on the caller's Asio executor (an io_context's, a
    /// thread_pool's, a strand), with no thread of its own. Its sockets, timers and callbacks
    /// then run on a strand over that executor, so the io_context may be run by any number of
    /// threads; wherever these docs say "the I/O thread", read that strand. It must be run for
    /// anything to happen: the blocking calls (send(), warm(), close(), stats()) wait for it,
    /// so make them from a thread that does not run it, or use async_send() and friends. The
    /// destructor does not wait: what it closes finishes on the executor, which must outlive
    /// the Client or be destroyed (shut down) with whatever is left, which is then freed.
    std::shared_ptr<const IoExecutor> executor;
};

/// Sends HTTP requests over pooled connections, negotiating each connection's protocol as the
/// policy says for its host.
///
/// A Client owns one I/O thread (or a strand over the caller's executor: ClientOptions::executor),
/// the connection pool and the TLS backends it resolves once.
/// Its public methods are safe to call from any thread, at the same time. Callbacks (the
/// `done` of send_async(), a LogSink, ClientOptions::on_event) run on the I/O thread, never
/// inside the call that started the request: do not block there, and do not call the blocking
/// methods (send(), warm()) from there, they answer pool::errc::wrong_thread (so they do on a
/// thread running the caller's io_context, when the executor is an io_context's).
///
/// Every request ends exactly once, with a Response or an Error, within its timeout. The
/// Client is movable, not copyable; a moved-from Client may only be destroyed or assigned to.
/// Destroying it is close(0ms): it returns at once and every request still in flight ends
/// with pool::errc::client_closed. Never destroy a Client from its own callbacks.
class CONNMATRIX_API Client {
public:
    /// The file named by $CONNMATRIX_CONFIG, or the built-in defaults (mode alpn, verification
    /// on) when it is unset. A bad file throws std::system_error (category "config") with every
    /// problem in what(): never a silent fallback to defaults. from_environment() is the
    /// non-throwing form.
    /// \throws std::system_error as above, or as Client(policy::Config, ClientOptions) throws.
    Client();
    /// A Client with this configuration, taken as it is: config::check() is not run (the
    /// factories below, through config::load_*, run it). Starts the I/O thread, unless
    /// ClientOptions::executor says where to run.
    /// \param config the configuration (moved in).
    /// \param options logging, limits, key logging.
    /// \throws std::system_error when the Client cannot start: the key log file cannot be
    ///         opened for appending, a client certificate (tls.client_cert) cannot be loaded
    ///         by the backend that would use it, or tls.early_data is set for a backend without
    ///         it (mbedTLS): the code is a tls::errc, what() names the setting. Or
    ///         ClientOptions::executor is empty or was made by another Asio (version or
    ///         configuration) than the library's: config::errc::invalid_value.
    explicit Client(policy::Config config, ClientOptions options = {});
    /// A Client with the policy of a configuration file. A Config from config::load_*: only
    /// when valid; otherwise nullopt and err says why.
    /// \param path the configuration file (config::load_file()).
    /// \param err set when no Client is made: the config error (LoadResult::error()), or why
    ///        it could not start (see the constructor).
    /// \param options logging, limits, key logging.
    /// \return the Client, or nullopt.
    static std::optional<Client> from_file(const std::string& path, Error& err,
                                           ClientOptions options = {});
    /// A Client with the policy of a configuration's text (config::load_string()), as
    /// from_file() makes one.
    /// \param json the configuration.
    /// \param err set when no Client is made.
    /// \param options logging, limits, key logging.
    /// \return the Client, or nullopt.
    static std::optional<Client> from_json(std::string_view json, Error& err,
                                           ClientOptions options = {});
    /// A Client with the policy of $CONNMATRIX_CONFIG, or the built-in defaults when it is
    /// unset: Client() without exceptions.
    /// \param err set when no Client is made (a bad file, or it could not start).
    /// \param options logging, limits, key logging.
    /// \return the Client, or nullopt.
    static std::optional<Client> from_environment(Error& err, ClientOptions options = {});

    /// Takes over the other Client's thread, pool and requests; `other` may then only be
    /// destroyed or assigned to.
    Client(Client&&) noexcept;
    /// Takes over the other Client's thread, pool and requests; this Client's own are closed
    /// as the destructor closes them.
    /// \return `*this`.
    Client& operator=(Client&&) noexcept;
    /// close(0ms): returns at once, requests in flight end with pool::errc::client_closed.
    ~Client();

    /// Blocking: waits for exactly one response or one error.
    /// \param request the request (moved in).
    /// \return the response (any status), or the error: the URL (net::errc::bad_url,
    ///         unsupported_scheme), the connection, TLS, the negotiation, the codecs, a timeout
    ///         or deadline, pool::errc::cancelled (Request::cancel, stopped from another
    ///         thread), pool::errc::client_closed, or pool::errc::wrong_thread from a callback.
    Result send(Request request);
    /// Asynchronous: `done` runs exactly once, on the I/O thread, never inside this call. After
    /// close() it runs (with pool::errc::client_closed, or the URL's error) on a thread the
    /// Client keeps for that (started at the first such request, joined by the destructor),
    /// still never inside this call; blocking calls from there answer pool::errc::wrong_thread
    /// too.
    /// \param request the request (moved in); Request::cancel and Request::deadline apply.
    /// \param done called with the Result; it must not block (it holds up the I/O thread).
    /// \return a handle that cancels the request (RequestHandle::cancel()); ignoring it is
    ///         fine. It refers to no request when the answer is known without sending (a bad
    ///         URL, a closed Client).
    RequestHandle send_async(Request request, std::function<void(Result)> done);
    /// Asynchronous, as a future. Do not wait for it on the I/O thread (in a callback).
    /// \param request the request (moved in).
    /// \return a future that becomes ready with the Result.
    std::future<Result> send_future(Request request);

    /// Opens up to n connections to the origin of `url` before the first request (h2: one
    /// connection carries many streams, so n > 1 only helps when streams would run out).
    /// Connections already open count, and pool.max_connections_per_host caps n. Blocks until
    /// no connect to that origin is in flight.
    /// \param url any URL of the origin (its path is ignored).
    /// \param n how many connections the origin should have.
    /// \return no error when at least one connection is ready; otherwise the last connect's
    ///         error, net::errc::bad_url, pool::errc::client_closed, or pool::errc::wrong_thread
    ///         from a callback.
    Error warm(std::string_view url, unsigned n = 1);
    /// Closes the connections that carry no request now (Go's CloseIdleConnections, OkHttp's
    /// evictAll); what was learnt stays: the next connection resumes the TLS session. Returns
    /// once they are closing (on a thread running the caller's io_context: once that is queued).
    /// Requests in flight are untouched. Does nothing once closed.
    void close_idle_connections();

    /// Stops taking requests, lets the ones in flight finish (each within its own timeout),
    /// closes every connection, and waits for that. From a callback (the I/O thread), or a
    /// thread running the caller's io_context, it starts the same and returns at once. Never
    /// destroy a Client from its own callbacks.
    /// Requests sent after it end at once with pool::errc::client_closed. Calling it again is
    /// harmless.
    void close();
    /// The same, but requests still in flight after `deadline` end with pool::errc::client_closed
    /// then, and the call returns. The destructor is close(0ms): whatever is still in flight
    /// ends at once with client_closed. One thing it cannot cut short: a DNS lookup under way
    /// (getaddrinfo on asio's resolver thread) is waited for, up to the resolver's own timeout.
    /// A later call may bring the deadline nearer, never push it back.
    /// \param deadline how long requests in flight may still take (a negative one is zero).
    void close(std::chrono::milliseconds deadline);

    /// The policy engine the Client resolves origins with: Engine::explain() says what it
    /// does for a URL. Immutable, and valid as long as the Client.
    /// \return the engine.
    const policy::Engine& policy() const noexcept;

    /// Counters of the Client's work since it was built, a snapshot.
    struct Stats {
        std::size_t connections_opened = 0;  ///< Connections started (each connect attempt), in all.
        std::size_t connections_open = 0;    ///< Connections open now.
        std::size_t requests = 0;            ///< Requests ended, with a response or an error.
        std::size_t fallbacks = 0;           ///< Times an origin was remembered as HTTP/1.1-only.
        std::size_t hosts = 0;  ///< Pool keys with connections, connects or requests now; an
                                ///< unused one is dropped (what it learnt is kept, bounded).
        std::size_t retries = 0;  ///< Requests queued again because a connection did not process
                                  ///< them (GOAWAY, REFUSED_STREAM, closed before answering an
                                  ///< idempotent one, h2 rejected and falling back).
        /// The counters of one origin (scheme, host, port) since the Client started.
        struct Origin {
            std::string origin;        ///< `"https://api.example.com:443"`.
            std::size_t requests = 0;  ///< Requests ended, with a response or an error.
            std::size_t errors = 0;    ///< Of those, the ones that ended with an error.
            /// The errors by category (`"net"`, `"tls"`, `"pool"`, ...), most frequent first.
            std::vector<std::pair<std::string, std::size_t>> errors_by_category;
            std::size_t h2_connections = 0;     ///< Connections that became ready speaking h2.
            std::size_t http1_connections = 0;  ///< ... speaking HTTP/1.1.
            std::size_t fallbacks = 0;  ///< Times it was remembered as HTTP/1.1-only.
            std::size_t retries = 0;    ///< Requests to it queued again (see Stats::retries).
            /// Timings::total of its last 1,024 requests with a response (errors not included):
            /// the median (nearest rank); zero before the first.
            std::chrono::microseconds p50{0};
            std::chrono::microseconds p99{0};  ///< The same requests' 99th percentile.
        };
        /// Per origin, in the order first seen; at most 1,024 origins are tracked one by one,
        /// the rest only in the totals above.
        std::vector<Origin> origins;
    };
    /// A snapshot of the counters, taken on the I/O thread (the call waits for it; from a
    /// callback it is taken at once).
    /// \return the counters; all zero once the Client is closed.
    /// \throws std::system_error (pool::errc::wrong_thread) on a thread running the caller's
    ///         io_context (ClientOptions::executor), outside the Client's callbacks: waiting
    ///         there could be waiting for itself.
    Stats stats() const;

    /// The Client's state; defined in the library only.
    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace connmatrix
