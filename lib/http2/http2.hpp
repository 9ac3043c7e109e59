// http2/http2.hpp - the sans-I/O HTTP/2 layer over nghttp2 (lib-internal).
//
// Bytes in, events and bytes out; nothing here owns a socket. The caller feeds what the peer sent
// (feed / feed_eof), takes what to send (take_output) and drains what happened (take_events):
//
//     ClientSession c;
//     Error err;
//     int32_t id = c.submit_request({"GET", "https", "example.com", "/"}, err);
//     socket.write(c.take_output());          // preface + SETTINGS + HEADERS, one write
//     c.feed(socket.read());                  // sticky once a fatal error happened
//     for (auto& ev : c.take_events()) ...    // ResponseHeaders, Data, Trailers, StreamClosed, ...
//
// The server end (a small nghttp2 server session with fault knobs) is test support, not part of
// the library: tests/harness/h2_server.hpp.
//
// ClientSession is not thread-safe; it is driven by one thread (the connection's I/O thread). It
// is movable (the nghttp2 state lives behind a pointer); a moved-from session may only be
// destroyed or assigned to.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/errors/http2.hpp>
#include <connmatrix/types.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace connmatrix::http2 {

using Bytes = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------------------------
// Errors: category "http2", in connmatrix/errors/http2.hpp.

// HTTP/2 error codes, as RST_STREAM and GOAWAY carry them (RFC 9113 section 7).
namespace h2_error {
inline constexpr std::uint32_t no_error = 0x0;
inline constexpr std::uint32_t protocol_error = 0x1;
inline constexpr std::uint32_t internal_error = 0x2;
inline constexpr std::uint32_t flow_control_error = 0x3;
inline constexpr std::uint32_t settings_timeout = 0x4;
inline constexpr std::uint32_t stream_closed = 0x5;
inline constexpr std::uint32_t frame_size_error = 0x6;
inline constexpr std::uint32_t refused_stream = 0x7;
inline constexpr std::uint32_t cancel = 0x8;
inline constexpr std::uint32_t compression_error = 0x9;
inline constexpr std::uint32_t connect_error = 0xa;
inline constexpr std::uint32_t enhance_your_calm = 0xb;
inline constexpr std::uint32_t inadequate_security = 0xc;
inline constexpr std::uint32_t http_1_1_required = 0xd;
}  // namespace h2_error

// "PROTOCOL_ERROR", "REFUSED_STREAM", ... ("unknown" for codes RFC 9113 does not define).
std::string_view h2_error_name(std::uint32_t code) noexcept;

// An nghttp2 library error (a negative NGHTTP2_ERR_* value) as ours, with nghttp2's text.
Error error_from_library(int lib_error);
// The HTTP/2 error code of a RST_STREAM or GOAWAY as ours: REFUSED_STREAM -> refused_stream,
// HTTP_1_1_REQUIRED -> http_1_1_required, FLOW_CONTROL_ERROR -> flow_control, ...; `fallback` otherwise.
errc errc_from_h2_code(std::uint32_t code, errc fallback) noexcept;

// ---------------------------------------------------------------------------------------------
// What the first bytes a server sent back (after our prior-knowledge preface) look like. The
// connection layer uses it for the fallback rule: http1 means "this server speaks HTTP/1.x".
enum class ServerPreface {
    need_more,  // too few bytes to tell (a prefix of both a SETTINGS frame and "HTTP/1.")
    h2,         // a SETTINGS frame header (type 4, no ACK, stream 0, length a multiple of 6)
    http1,      // "HTTP/1." text: an HTTP/1.x server answered our preface
    garbage,    // neither
};
std::string_view to_string(ServerPreface p) noexcept;
ServerPreface classify_server_preface(std::span<const std::uint8_t> first_bytes) noexcept;
inline bool looks_like_http2_server_preface(std::span<const std::uint8_t> first_bytes) noexcept {
    return classify_server_preface(first_bytes) == ServerPreface::h2;
}

// ---------------------------------------------------------------------------------------------
// Client.

struct ClientOptions {
    // SETTINGS_INITIAL_WINDOW_SIZE: what the server may send on one stream before we read it.
    std::uint32_t stream_window = 1u << 20;  // 1 MiB
    // The connection receive window (WINDOW_UPDATE on stream 0 after the preface): large, so
    // many streams in parallel are not throttled by the 64 KiB default.
    std::uint32_t connection_window = 16u << 20;  // 16 MiB
    // SETTINGS_MAX_HEADER_LIST_SIZE; larger response header blocks reset the stream
    // (header_invalid). Counted as RFC 9113 does: name + value + 32 per field.
    std::uint32_t max_header_list_size = 64u << 10;
    // SETTINGS_MAX_CONCURRENT_STREAMS we grant the server. Servers open streams only to push,
    // and we send SETTINGS_ENABLE_PUSH = 0 as well.
    std::uint32_t max_concurrent_pushed_streams = 0;
    // Bounds on a hostile server, as connmatrix::Http2Limits (client.hpp) explains them; the
    // pool passes the Client's. Beyond one, the session ends the connection at once with GOAWAY
    // ENHANCE_YOUR_CALM and errc::flood (errc::too_many_resets for peer_resets).
    std::uint32_t max_continuations = 8;       // CONTINUATION frames after one HEADERS
    std::uint32_t max_empty_data_frames = 100;  // in a row on open streams: no data, no
                                                // END_STREAM
    RateLimit control_frames{1000, 100};  // PING, SETTINGS, PRIORITY, GOAWAY, 1xx, unknown
                                          // frame types; RST_STREAM, HEADERS, DATA < 1 KiB for
                                          // a stream no longer open; unearned WINDOW_UPDATE
    RateLimit peer_resets{1000, 33};      // our streams reset before their response completed
    // DATA frames of request bodies are made only while less than this waits to be sent (in
    // take_output()'s buffer and, as its caller says, in the caller's queue): a large body is
    // read from where it is a frame at a time as the socket drains, never copied whole.
    std::size_t max_output = 256u << 10;
};

// h2c upgrade (RFC 7540 section 3.2.1): the HTTP2-Settings header value for the HTTP/1.1
// request that offers `Upgrade: h2c`: base64url without padding of the payload of the SETTINGS
// frame a ClientSession with these options sends. Needs no session.
std::string upgrade_settings_value(const ClientOptions& options = {});

struct Request {
    std::string method = "GET";
    std::string scheme = "https";
    std::string authority;  // empty: taken from a Host header, if one is given
    std::string path = "/";
    Headers headers;  // any case; lowercased, connection-specific fields dropped
    Bytes body;       // sent with a content-length; empty: HEADERS ends the stream
    // Or, when `body` is empty, a body that stays where it is: read as DATA frames go out, and
    // kept alive by `body_owner` until the stream is closed (the pool's Exchange owns it).
    std::span<const std::uint8_t> shared_body;
    std::shared_ptr<const void> body_owner;
    // Or, when both are empty, a body read as DATA frames go out: `reader` fills up to the
    // buffer it is given (never an empty one). `length`, when known, is sent as content-length
    // (the reader is trusted to give that much: the pool checks). Kept alive by body_owner.
    struct Read {
        std::size_t size = 0;
        bool end = false;     // the body ends after these bytes
        bool wait = false;    // nothing ready (size 0): not asked again until resume_body()
        bool failed = false;  // the stream is reset (INTERNAL_ERROR) and closes with an error
    };
    std::function<Read(std::span<std::uint8_t>)> reader;
    std::optional<std::uint64_t> length;
};

// Events, in the order they happened. A stream's events end with exactly one StreamClosed.
struct ResponseHeaders {
    std::int32_t stream_id = 0;
    int status = 0;   // the final status; 1xx interim responses are skipped
    Headers headers;  // without pseudo-headers
};
struct Data {
    std::int32_t stream_id = 0;
    Bytes bytes;  // consecutive chunks of one stream arrive merged
    bool held = false;  // its stream is under hold_window(): taking it reopens no window
};
struct Trailers {
    std::int32_t stream_id = 0;
    Headers headers;
};
struct StreamClosed {
    std::int32_t stream_id = 0;
    Error error;                   // empty: the response arrived complete
    std::uint32_t error_code = 0;  // the RST_STREAM error code, if the stream was reset
    bool retryable = false;  // the server provably did not process the request (REFUSED_STREAM,
                             // above a GOAWAY's last_stream_id, or never sent): safe to
                             // retry on another connection, even when not idempotent
};
struct SettingsReceived {  // the server's SETTINGS, as now in effect
    std::uint32_t max_concurrent_streams = 0;
    std::uint32_t initial_window_size = 0;
    std::uint32_t max_frame_size = 0;
    std::uint32_t max_header_list_size = 0;
};
struct GoawayReceived {
    std::int32_t last_stream_id = 0;  // streams above it are reported refused and retryable
    std::uint32_t error_code = 0;
    std::string debug_data;
};
struct PingAcked {
    std::array<std::uint8_t, 8> opaque{};
    std::chrono::steady_clock::duration rtt{};  // from sending the PING to processing its ACK
};
using Event = std::variant<ResponseHeaders, Data, Trailers, StreamClosed, SettingsReceived,
                           GoawayReceived, PingAcked>;

// The stream an event belongs to; 0 for connection events.
std::int32_t stream_of(const Event& ev) noexcept;

class ClientSession {
public:
    // The preface, our SETTINGS (ENABLE_PUSH=0, window, header list size) and the connection
    // WINDOW_UPDATE are queued at once; a failure here (a bad option) is in error().
    explicit ClientSession(const ClientOptions& options = {});
    ~ClientSession();
    ClientSession(ClientSession&&) noexcept;
    ClientSession& operator=(ClientSession&&) noexcept;
    ClientSession(const ClientSession&) = delete;
    ClientSession& operator=(const ClientSession&) = delete;

    // Queues a request; returns its stream id (> 0), or 0 with `err` set (goaway after GOAWAY,
    // closed once finished, header_invalid for a malformed field, the sticky error if any).
    // A request beyond the server's MAX_CONCURRENT_STREAMS is accepted and held back by nghttp2
    // until a stream closes; consult can_submit() to spread load over connections instead.
    std::int32_t submit_request(Request request, Error& err);
    // upgrade_settings_value() of this session's options.
    std::string upgrade_settings_header() const;
    // The server answered 101 Switching Protocols: stream 1 is that HTTP/1.1 request, whose
    // response now arrives over h2. Call before any submit_request(); returns 1, or 0 and err.
    std::int32_t upgrade(bool head_request, Error& err);

    // Cancels a stream (RST_STREAM); its StreamClosed reports stream_reset with this code.
    Error submit_rst_stream(std::int32_t stream_id, std::uint32_t error_code = h2_error::cancel);
    // Sends a PING; a PingAcked event with the round-trip time follows the peer's ACK.
    Error submit_ping();
    // A stream whose reader answered `wait` is read again (its DATA go out with the next
    // take_output()). Nothing for a stream that is not waiting or has closed.
    void resume_body(std::int32_t stream_id);
    // error_code == NO_ERROR: graceful shutdown (GOAWAY; no new requests, open streams finish).
    // Otherwise: terminate now with that code; open streams are reported closed.
    Error submit_goaway(std::uint32_t error_code = h2_error::no_error,
                        std::string_view debug_data = {});
    // Ends the connection now for a reason the caller found (e.g. no SETTINGS in time): GOAWAY
    // with `h2_code` is queued for take_output(), every open stream is reported closed with
    // `err`, which becomes the sticky error. Nothing happens when an error is already sticky.
    void abort(Error err, std::uint32_t h2_code);

    // Bytes from the server. Returns the sticky fatal error, if any (then all open streams have
    // been reported closed with it). An answer in HTTP/1.x text gives errc::not_h2.
    Error feed(std::span<const std::uint8_t> bytes);
    // The transport reached end of stream: open streams are reported closed (errc::closed).
    void feed_eof();
    // Bytes to send (may be empty). After a fatal error it still returns what was queued before
    // it (e.g. our GOAWAY with the error), then nothing. `queued`: how much the caller still
    // has to write from before. Control frames always come out; request bodies only here (never
    // inside feed()), up to ClientOptions::max_output less `queued`, a frame beyond at most.
    // Call again as the caller's queue drains (want_write() says whether a body waits): what
    // did not fit stays where it is until then.
    Bytes take_output(std::size_t queued = 0);
    // The streams whose request body ended (a DATA frame with END_STREAM) in the output taken
    // since the last call, in order: a request without a body has none.
    std::vector<std::int32_t> take_bodies_sent();
    // Everything that happened since the last call. Taking Data events is what opens the flow
    // control windows again (WINDOW_UPDATE): a caller that stops taking events stops the server.
    std::vector<Event> take_events();
    bool has_events() const noexcept;
    // Flow control by the caller for one open stream (a consumer that applies backpressure):
    // from now on its Data events come with `held` set and taking them reopens no window;
    // consume() does, for as many bytes as the caller has dealt with (every held byte, in
    // the end, also those it drops: they took room from the connection's window too).
    Error hold_window(std::int32_t stream_id);
    void consume(std::int32_t stream_id, std::size_t bytes);

    bool want_read() const noexcept;
    bool want_write() const noexcept;
    // Neither wants to read nor to write, or the transport closed, or a fatal error happened.
    bool finished() const noexcept;
    const Error& error() const noexcept;  // the sticky fatal error; empty while healthy

    // Whether a new request fits now: healthy, no GOAWAY either way, stream ids left, and fewer
    // active streams than the server's MAX_CONCURRENT_STREAMS (100 until its SETTINGS arrive).
    bool can_submit() const noexcept;
    std::size_t active_streams() const noexcept;  // submitted, not yet closed
    std::uint32_t remote_max_concurrent_streams() const noexcept;
    // The server's SETTINGS as the session knows them (RFC 9113 defaults until they arrive).
    struct RemoteSettings {
        std::uint32_t max_concurrent_streams = 0;
        std::uint32_t initial_window_size = 0;
        std::uint32_t max_frame_size = 0;
        std::uint32_t max_header_list_size = 0;  // 0xffffffff: the server set no limit
    };
    RemoteSettings remote_settings() const noexcept;
    bool goaway_received() const noexcept;
    std::optional<std::int32_t> goaway_last_stream_id() const noexcept;
    // What the server's first bytes looked like (need_more until it sent some).
    ServerPreface server_preface() const noexcept;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace connmatrix::http2
