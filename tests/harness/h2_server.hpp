// The HTTP/2 server session of the test support library (never installed): an nghttp2 server
// session over memory buffers, small but real. In-process tests and fault servers wire a client
// to it through two byte buffers, and its fault knobs make it misbehave on purpose (GOAWAY
// mid-flight, RST_STREAM, stalls, bad frames, HTTP/1.1 text). Driven by one thread; movable.
#pragma once

#include "http2.hpp"

namespace connmatrix::http2 {

struct ServerRequest {
    std::int32_t stream_id = 0;
    std::string method, scheme, authority, path;
    Headers headers;  // without pseudo-headers, as received (lowercase on the wire)
    Bytes body;
    Headers trailers;
};

struct ServerResponse {
    int status = 200;
    Headers headers;  // not validated, so faults can send bad ones (nghttp2 lowercases
                      // names); content-length is added when absent and no trailers
    Bytes body;
    Headers trailers;
    std::vector<int> interim;  // 1xx statuses sent before the final response (e.g. 103)
    // Faults a handler may choose per request (the load suite's injector):
    std::optional<std::uint32_t> reset;  // RST_STREAM with this code instead of the response
    // HEADERS and this many bytes of the body, then nothing more on this stream (the data
    // stays deferred): a server stalled mid-body. Other streams go on.
    std::optional<std::size_t> stall_after_body;
    // With stall_after_body: once those bytes are out, RST_STREAM with this code (a server
    // that claims REFUSED_STREAM after it has sent part of a body).
    std::optional<std::uint32_t> reset_after_stall;
    enum class Goaway {
        none,
        // After this response, GOAWAY (NO_ERROR) with last_stream_id = the highest stream
        // processed so far: what is above it was not processed, and is refused.
        above_processed,
        // A lying server: GOAWAY with last_stream_id just below this stream, sent right after
        // its response HEADERS (its DATA never follows), so the client holds proof that it was
        // processed. Only when it is the highest stream processed so far (so that the lie is
        // about it alone); otherwise as above_processed.
        disowning_this,
        // Instead of this response: GOAWAY HTTP_1_1_REQUIRED with last_stream_id = this stream
        // (a server that wants HTTP/1.1 for everything), then the connection ends.
        http_1_1_required,
    } goaway = Goaway::none;
};

using Handler = std::function<ServerResponse(const ServerRequest&)>;

enum class BadFrame {
    none,
    data_on_stream_zero,  // a DATA frame on stream 0: PROTOCOL_ERROR
    bad_ping_length,      // a PING of 7 bytes: FRAME_SIZE_ERROR
    garbage,              // bytes that parse as no frame (length 0xffffff): FRAME_SIZE_ERROR
};

struct ServerFaults {
    // After this many complete requests, send GOAWAY with goaway_last_stream_id (default: the
    // highest stream processed so far, that request's included) and goaway_error_code; requests
    // above it get no answer.
    std::optional<std::size_t> goaway_after_requests;
    std::optional<std::int32_t> goaway_last_stream_id;
    std::uint32_t goaway_error_code = h2_error::no_error;
    // Stream id -> error code: answer that request with RST_STREAM instead of a response.
    std::map<std::int32_t, std::uint32_t> reset_streams;
    bool stall = false;   // read requests, never answer them (SETTINGS and PING still work)
    bool silent = false;  // never send a single byte, not even SETTINGS
    BadFrame bad_frame = BadFrame::none;
    std::size_t bad_frame_after_requests = 0;  // send it once this many requests were answered
                                               // (0: right after our SETTINGS)
    bool answer_http1 = false;  // answer the client preface with "HTTP/1.1 400 Bad Request" text
    // Hostile servers (tests/hostile):
    // RST_STREAM every request stream with this code as soon as its HEADERS arrive (the
    // rapid-reset pattern, seen from the client).
    std::optional<std::uint32_t> reset_on_headers;
    // Answer each request as soon as its HEADERS arrive, before its body (RFC 9113 8.1: e.g.
    // 413 while an upload is still going). The handler sees the request without its body.
    bool respond_on_headers = false;
    // Never give back flow-control window for request bodies (no WINDOW_UPDATE): with windows
    // of 65535, a client's upload stops after 64 KiB.
    bool hold_window = false;
    // Never acknowledge a PING (a server, or a path to it, that has gone away unseen).
    bool ignore_ping = false;
};

struct ServerOptions {
    std::optional<std::uint32_t> max_concurrent_streams = 100;  // nullopt: not advertised
    std::uint32_t stream_window = 1u << 20;
    std::uint32_t connection_window = 16u << 20;
    ServerFaults faults;
    // What reached the server, for tests that count it: a request's HEADERS arrived (before its
    // body; never for a stream already above our GOAWAY's last_stream_id), and a request
    // announced so that we then told the client we did not process (REFUSED_STREAM, above our
    // GOAWAY's last_stream_id). Called on the session's thread.
    std::function<void(const ServerRequest&)> on_headers;
    std::function<void(const ServerRequest&)> on_refused;
    // Each RST_STREAM the client sent (stream id, error code), as it arrives.
    std::function<void(std::int32_t, std::uint32_t)> on_reset;
};

class ServerSession {
public:
    // Without a handler every request gets 200 with its own body echoed back.
    explicit ServerSession(ServerOptions options = {}, Handler handler = {});
    ~ServerSession();
    ServerSession(ServerSession&&) noexcept;
    ServerSession& operator=(ServerSession&&) noexcept;
    ServerSession(const ServerSession&) = delete;
    ServerSession& operator=(const ServerSession&) = delete;

    Error feed(std::span<const std::uint8_t> bytes);
    void feed_eof();
    Bytes take_output();

    bool want_read() const noexcept;
    bool want_write() const noexcept;
    bool finished() const noexcept;
    const Error& error() const noexcept;

    // Graceful when error_code is NO_ERROR; last_stream_id defaults to the last stream seen.
    Error submit_goaway(std::uint32_t error_code = h2_error::no_error,
                        std::optional<std::int32_t> last_stream_id = {});
    Error submit_rst_stream(std::int32_t stream_id, std::uint32_t error_code);
    Error submit_ping();

    std::size_t requests_received() const noexcept;  // complete requests
    std::size_t open_streams() const noexcept;
    std::size_t peak_open_streams() const noexcept;  // most streams open at once
    std::size_t pings_received() const noexcept;
    std::size_t streams_opened() const noexcept;  // request HEADERS received, complete or not
    std::size_t body_bytes_received() const noexcept;  // DATA payload, over all streams
    // Every RST_STREAM the client sent: {stream id, error code}, in order.
    const std::vector<std::pair<std::int32_t, std::uint32_t>>& resets_received() const noexcept;
    // The error code of the last GOAWAY the client sent, if it sent one.
    std::optional<std::uint32_t> goaway_received() const noexcept;
    // Every request received so far (in completion order), for tests to inspect.
    const std::vector<ServerRequest>& requests() const noexcept;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace connmatrix::http2
