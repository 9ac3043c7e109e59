// http1.hpp - the sans-I/O HTTP/1.1 codec (lib-internal; namespace connmatrix::http1).
//
// Bytes in, events and bytes out; nothing here owns a socket. The writers append a complete
// message to a caller's buffer; the parsers take bytes with feed() / feed_eof() and queue events
// (head, body data, trailers, complete) that take_events() hands over.
//
//   ResponseParser p{"GET"};
//   p.feed(bytes);                      // as they arrive, in any split
//   for (auto& ev : p.take_events()) ...
//   if (p.status() == Status::complete && p.keep_alive()) p.start_next("GET");  // pipelining
//
// Framing and strictness follow RFC 9112 (see parser.cpp for each choice). Errors are values of
// category "http1" with a detail naming what was wrong; a parse error is sticky.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/errors/http1.hpp>
#include <connmatrix/types.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace connmatrix::http1 {

// ---------------------------------------------------------------------------------------------
// Errors: category "http1", in connmatrix/errors/http1.hpp.

// ---------------------------------------------------------------------------------------------
// Detection: true when `data` starts with "HTTP/1." or is a non-empty prefix of it (so the first
// byte already decides: an h2 server's first frame starts with 0x00, never 'H'). Used to notice
// a server answering an h2 prior-knowledge preface with HTTP/1.x text.
bool looks_like_http1_response(std::span<const std::uint8_t> data) noexcept;
bool looks_like_http1_response(std::string_view data) noexcept;

// ---------------------------------------------------------------------------------------------
// Writing. Each writer appends one whole message to `out` (so pipelined requests can share a
// buffer) and returns an empty Error, or errc::invalid_message with `out` unchanged.

struct RequestOptions {
    bool close = false;    // send "Connection: close"
    bool chunked = false;  // frame the body with "Transfer-Encoding: chunked" (one chunk)
                           // instead of Content-Length
};

// "METHOD target HTTP/1.1", then Host (host_authority, or the caller's own Host header if it has
// one), then the caller's headers in order, then framing: Content-Length when the body is not
// empty, and "Content-Length: 0" for an empty POST/PUT/PATCH. Refuses a method that is not a
// token, a target with SP/CTL/non-ASCII, names that are not tokens, values with CR/LF/NUL/CTL
// (request splitting), and caller-supplied Content-Length/Transfer-Encoding (we own framing).
Error write_request(std::vector<std::uint8_t>& out, std::string_view method,
                    std::string_view target, std::string_view host_authority,
                    const Headers& headers, std::span<const std::uint8_t> body,
                    const RequestOptions& options = {});
Error write_request(std::vector<std::uint8_t>& out, std::string_view method,
                    std::string_view target, std::string_view host_authority,
                    const Headers& headers, std::string_view body,
                    const RequestOptions& options = {});
// The same head alone, framed for a body of `body_size` bytes that the caller sends right after
// it, as it is (options.chunked: the caller frames the chunks): so a large body is never copied
// into the message buffer.
Error write_request_head(std::vector<std::uint8_t>& out, std::string_view method,
                         std::string_view target, std::string_view host_authority,
                         const Headers& headers, std::size_t body_size,
                         const RequestOptions& options = {});

struct ResponseOptions {
    bool chunked = false;         // Transfer-Encoding: chunked (one chunk + last chunk)
    bool close = false;           // send "Connection: close"
    bool close_delimited = false; // no Content-Length: the body ends when the server closes
    bool http10 = false;          // "HTTP/1.0" status line (chunked is refused then)
    bool head = false;            // answer to HEAD: Content-Length of `body`, but no body bytes
};

// For test and fault servers. 1xx, 204 and 304 get no framing headers and must have no body.
Error write_response(std::vector<std::uint8_t>& out, int status, std::string_view reason,
                     const Headers& headers, std::span<const std::uint8_t> body,
                     const ResponseOptions& options = {});
Error write_response(std::vector<std::uint8_t>& out, int status, std::string_view reason,
                     const Headers& headers, std::string_view body,
                     const ResponseOptions& options = {});

// Streaming chunked bodies (after a head written with chunked framing by hand, e.g. in tests):
// one chunk (nothing for empty data: an empty chunk would end the body), and the last chunk
// with optional trailers.
void write_chunk(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> data);
Error write_last_chunk(std::vector<std::uint8_t>& out, const Headers& trailers = {});

// ---------------------------------------------------------------------------------------------
// Parsing.

struct ParseOptions {
    std::size_t max_header_bytes = 64 * 1024;  // start line + fields incl. line ends; trailers
                                               // get their own budget of the same size
    std::size_t max_headers = 100;             // fields (and, separately, trailer fields)
    std::uint64_t max_body = std::numeric_limits<std::uint64_t>::max();  // default: unlimited
    std::size_t max_chunk_line_bytes = 4096;   // chunk-size line incl. skipped extensions
    bool accept_bare_lf = true;                // RFC 9112 2.2 MAY: LF alone ends a line
    std::size_t max_interim = 32;              // 1xx responses before the final one (response
                                               // parser): a server may send several 102/103,
                                               // never an endless stream of them
};

enum class Status {
    want_input,  // the message is not complete: feed more (or feed_eof)
    complete,    // the message is complete; see keep_alive() and leftover()
    failed,      // a fatal error; see error(). Sticky: every later call fails the same way
};

enum class EventKind {
    interim,   // a 1xx response other than 101 (response parser only); parsing goes on
    head,      // the final head: status line or request line, and the header fields
    data,      // body bytes (consecutive data is merged into one event while not taken)
    trailers,  // trailer fields of a chunked body (only when there are some)
    complete,  // the message is complete; keep_alive says whether the connection may be reused
};

struct ResponseHead {
    int version_minor = 1;  // HTTP/1.<minor>; 2..9 are processed as 1.1 (RFC 9110 2.5)
    int status = 0;
    std::string reason;
    Headers headers;  // in order, names as received, values without surrounding whitespace
};

struct RequestHead {
    int version_minor = 1;
    std::string method;
    std::string target;
    Headers headers;
};

template <class Head>
struct BasicEvent {
    EventKind kind = EventKind::head;
    Head head;                        // interim, head
    std::vector<std::uint8_t> data;   // data
    Headers trailers;                 // trailers
    bool keep_alive = false;          // complete
};
using ResponseEvent = BasicEvent<ResponseHead>;
using RequestEvent = BasicEvent<RequestHead>;

// Case-insensitive lookup helpers over Headers.
const Header* find_header(const Headers& headers, std::string_view name) noexcept;
bool has_token(const Headers& headers, std::string_view name, std::string_view token);

namespace detail {

// What both parsers share: line splitting, fields, framing, bodies, limits.
class Core {
public:
    enum class Role { response, request };

    struct StartLine {
        int version_minor = 1;
        int status = 0;
        std::string reason;
        std::string method;
        std::string target;
    };
    struct Event {
        EventKind kind = EventKind::head;
        StartLine start;
        Headers fields;  // head: headers; trailers: trailer fields
        std::vector<std::uint8_t> data;
        bool keep_alive = false;
    };

    Core(Role role, std::string_view method, const ParseOptions& options);

    Status feed(std::span<const std::uint8_t> bytes);
    Status feed_eof();
    Status start_next(std::string_view method);

    std::vector<Event> take_events() { return std::exchange(events_, {}); }
    bool has_events() const noexcept { return !events_.empty(); }
    Status status() const noexcept;
    const Error& error() const noexcept { return error_; }
    bool keep_alive() const noexcept { return keep_alive_; }
    bool started() const noexcept { return started_; }
    bool eof() const noexcept { return eof_; }
    std::uint64_t body_bytes() const noexcept { return body_total_; }
    std::span<const std::uint8_t> leftover() const noexcept;
    std::vector<std::uint8_t> take_leftover();

private:
    enum class State {
        start_line, fields, body_length, body_close, chunk_size, chunk_data, chunk_crlf,
        trailers, done, failed,
    };
    enum class LineResult { line, need_more, error };

    void run();
    LineResult next_line(std::string_view& line, std::size_t limit, bool head_budget);
    bool parse_start_line(std::string_view line);
    bool parse_status_line(std::string_view line);
    bool parse_request_line(std::string_view line);
    bool parse_field(std::string_view line, Headers& into, const char* what);
    bool end_of_head();
    bool parse_chunk_size(std::string_view line);
    void emit_data(const std::uint8_t* p, std::size_t n);
    void finish();
    void fail(errc code, std::string detail);
    void begin_message();

    Role role_;
    ParseOptions opts_;
    std::string method_;
    State state_ = State::start_line;
    Error error_;
    std::vector<std::uint8_t> buf_;
    std::size_t pos_ = 0;       // first unconsumed byte of buf_
    std::size_t scanned_ = 0;   // bytes after pos_ already searched for LF
    std::size_t head_bytes_ = 0;
    std::size_t field_count_ = 0;
    StartLine start_;
    Headers fields_;
    Headers trailers_;
    std::uint64_t remaining_ = 0;   // body_length / chunk_data
    std::uint64_t body_total_ = 0;
    bool keep_alive_ = false;
    bool started_ = false;
    bool after_interim_ = false;  // a 1xx interim response was the last thing parsed
    std::size_t interim_count_ = 0;  // 1xx responses so far to this request
    bool eof_ = false;
    std::vector<Event> events_;
};

}  // namespace detail

// Parses the response to one request. Construct with the request's method (HEAD and CONNECT
// change the framing). 1xx responses but 101 come as `interim` events and parsing goes on;
// 101 Switching Protocols and 2xx to CONNECT are final, without body, and end HTTP/1.1 on the
// connection: keep_alive is false and leftover() holds the next protocol's first bytes.
class ResponseParser {
public:
    explicit ResponseParser(std::string_view request_method = "GET", ParseOptions options = {})
        : core_(detail::Core::Role::response, request_method, options) {}

    Status feed(std::span<const std::uint8_t> bytes) { return core_.feed(bytes); }
    Status feed(std::string_view bytes);
    // The peer closed (cleanly: a TLS truncation must be reported by the caller as an error,
    // not as EOF). Completes a close-delimited body; anywhere else before completion it is
    // errc::unexpected_eof. After completion it only records that the connection is gone.
    Status feed_eof() { return core_.feed_eof(); }

    std::vector<ResponseEvent> take_events();
    bool has_events() const noexcept { return core_.has_events(); }
    Status status() const noexcept { return core_.status(); }
    const Error& error() const noexcept { return core_.error(); }

    // Once complete: may the connection carry another request? HTTP/1.1 unless
    // "Connection: close"; HTTP/1.0 only with "Connection: keep-alive"; never after a
    // close-delimited body, 101 or a CONNECT tunnel. The caller ANDs in its own request's
    // "Connection: close".
    bool keep_alive() const noexcept { return core_.keep_alive(); }
    // Whether any byte of this response has arrived: an EOF before that on a reused connection
    // means the server closed an idle connection, and an idempotent request may be retried.
    bool started() const noexcept { return core_.started(); }
    std::uint64_t body_bytes() const noexcept { return core_.body_bytes(); }

    // Bytes received after the end of the complete response: the next pipelined response, the
    // upgraded protocol after 101, or (when no request is outstanding) unsolicited bytes that
    // make the connection unfit for reuse. Empty while the response is not complete.
    bool has_leftover() const noexcept { return !core_.leftover().empty(); }
    std::span<const std::uint8_t> leftover() const noexcept { return core_.leftover(); }
    std::vector<std::uint8_t> take_leftover() { return core_.take_leftover(); }

    // Parse the response to the next pipelined request, starting with leftover(). Only after a
    // complete keep-alive response (else errc::invalid_state, sticky).
    Status start_next(std::string_view request_method) { return core_.start_next(request_method); }

private:
    detail::Core core_;
};

// Parses requests, for in-process test and fault servers. Same strictness; the body is framed
// by Content-Length or chunked (a request without either has no body), and HTTP/1.1 requests
// need exactly one valid Host.
class RequestParser {
public:
    explicit RequestParser(ParseOptions options = {})
        : core_(detail::Core::Role::request, {}, options) {}

    Status feed(std::span<const std::uint8_t> bytes) { return core_.feed(bytes); }
    Status feed(std::string_view bytes);
    Status feed_eof() { return core_.feed_eof(); }

    std::vector<RequestEvent> take_events();
    bool has_events() const noexcept { return core_.has_events(); }
    Status status() const noexcept { return core_.status(); }
    const Error& error() const noexcept { return core_.error(); }
    bool keep_alive() const noexcept { return core_.keep_alive(); }
    bool started() const noexcept { return core_.started(); }
    std::uint64_t body_bytes() const noexcept { return core_.body_bytes(); }
    bool has_leftover() const noexcept { return !core_.leftover().empty(); }
    std::span<const std::uint8_t> leftover() const noexcept { return core_.leftover(); }
    Status start_next() { return core_.start_next({}); }

private:
    detail::Core core_;
};

}  // namespace connmatrix::http1
