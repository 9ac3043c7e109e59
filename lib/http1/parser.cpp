// parser.cpp - a strict, incremental HTTP/1.1 parser for responses (client) and requests (test
// servers), sans-I/O.
//
// Why our own and not Debian's libhttp-parser-dev: nodejs/http-parser (2.9.4) is unmaintained
// and deprecated upstream in favour of llhttp; it is lenient where we want to be strict (it
// tolerates obs-fold, whitespace before ':', lone CR, and lets Transfer-Encoding and
// Content-Length coexist behind a flag), its callback API fights a sans-I/O codec that must stop
// exactly at the end of a message for pipelining, 101 and CONNECT, and a pooled client cannot
// afford framing ambiguity: one desynchronised response poisons every later request on the
// connection. The grammar we need is small; it is fuzzed (tests/fuzz/http1_response_fuzz.cpp)
// and its seeds replay in every build.
//
// Choices, with the RFC 9112 section that allows them:
// - Line ends (2.2): CRLF; a bare LF is accepted as a line end by default (the RFC's "MAY",
//   for old and embedded servers; off with ParseOptions::accept_bare_lf = false). A bare CR
//   anywhere is an error, never a line end.
// - Content-Length and Transfer-Encoding both present (6.1, 6.3 item 3): rejected with
//   errc::request_smuggling, in responses too. A server MUST NOT send both; 6.3 says such a
//   message "ought to be handled as an error", and for a client reusing pooled connections a
//   framing disagreement with any intermediary is exactly a response-splitting desync.
// - Transfer-Encoding: exactly "chunked" is accepted. We never send TE, so a server MUST NOT
//   apply other codings (7.4); "gzip, chunked", "chunked, chunked" and TE in an HTTP/1.0
//   message (6.1: "faulty framing") are errc::transfer_encoding_unsupported.
// - Content-Length (6.3 item 5): 1*DIGIT per element; a list or repeated field of identical
//   values is accepted as that value, differing values are errc::bad_content_length.
// - obs-fold (5.2) and whitespace between the start line and the first field (2.2): rejected.
//   Whitespace between a field name and ':' (5.1): rejected.
// - Status line: "HTTP/1.x SP 3DIGIT [SP reason]": a missing SP after the code is tolerated (a
//   common server bug with no framing consequence). Codes outside 100..599 are malformed.
//   HTTP/1.2..1.9 are processed as 1.1 (RFC 9110 2.5); any other major version is
//   errc::version_unsupported.
// - Requests: empty lines before the request line are skipped (2.2 SHOULD); an HTTP/1.1
//   request needs exactly one Host (3.2); a request without CL or TE has no body (6.3 item 7).
// - 1xx interim responses (RFC 9110 15.2): a server may send any number before the final one;
//   we take ParseOptions::max_interim (32) per request, then errc::too_many_interim_responses,
//   so that an endless stream of 100 Continue cannot hold a request until its timeout.
// - A response without CL or TE is close-delimited (6.3 item 8): only feed_eof() ends it and
//   the connection is never reused. EOF anywhere else before completion is
//   errc::unexpected_eof, never the end of a Content-Length or chunked body.
#include "http1.hpp"

#include "text.hpp"

#include <algorithm>
#include <cstring>

namespace connmatrix::http1 {

using text::quote;

namespace {

constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// 1*DIGIT into `out`; false when empty, not all digits, or over 2^64-1.
bool parse_decimal(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty()) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (!text::is_digit(c)) return false;
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (max_u64 - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

}  // namespace

namespace detail {

Core::Core(Role role, std::string_view method, const ParseOptions& options)
    : role_(role), opts_(options), method_(method) {}

Status Core::status() const noexcept {
    switch (state_) {
        case State::done: return Status::complete;
        case State::failed: return Status::failed;
        default: return Status::want_input;
    }
}

void Core::fail(errc code, std::string detail) {
    error_ = Error(make_error_code(code), std::move(detail), 0, "http1");
    state_ = State::failed;
}

Status Core::feed(std::span<const std::uint8_t> bytes) {
    if (state_ == State::failed) return Status::failed;
    if (eof_) {
        fail(errc::invalid_state, "feed() after feed_eof()");
        return Status::failed;
    }
    if (bytes.empty()) return status();
    if (state_ != State::done) started_ = true;
    if (pos_ > 0) {  // drop what is consumed; only an unfinished line (or leftover) remains
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
        pos_ = 0;
    }
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    run();
    return status();
}

Status Core::feed_eof() {
    if (state_ == State::failed) return Status::failed;
    eof_ = true;
    const char* what = role_ == Role::response ? "response" : "request";
    switch (state_) {
        case State::done: break;
        case State::body_close: finish(); break;
        case State::start_line:
        case State::fields:
            if (after_interim_ && state_ == State::start_line && pos_ == buf_.size())
                fail(errc::unexpected_eof,
                     "connection closed after a 1xx interim response, before the final response");
            else if (!started_)
                fail(errc::unexpected_eof,
                     std::string("connection closed before any byte of the ") + what);
            else
                fail(errc::unexpected_eof,
                     std::string("connection closed in the middle of the ") + what + " head (" +
                         std::to_string(head_bytes_ + (buf_.size() - pos_)) +
                         " bytes of it received)");
            break;
        case State::body_length:
            fail(errc::unexpected_eof,
                 "connection closed after " + std::to_string(body_total_) + " of " +
                     std::to_string(body_total_ + remaining_) + " Content-Length body bytes");
            break;
        case State::chunk_size:
        case State::chunk_data:
        case State::chunk_crlf:
            fail(errc::unexpected_eof, "connection closed in the middle of a chunked body, after " +
                                           std::to_string(body_total_) +
                                           " body bytes and before the last chunk");
            break;
        case State::trailers:
            fail(errc::unexpected_eof, "connection closed in the trailers of a chunked body");
            break;
        case State::failed: break;
    }
    return status();
}

void Core::begin_message() {
    state_ = State::start_line;
    start_ = {};
    fields_.clear();
    trailers_.clear();
    head_bytes_ = 0;
    field_count_ = 0;
    remaining_ = 0;
    body_total_ = 0;
    keep_alive_ = false;
    scanned_ = 0;
    after_interim_ = false;
    interim_count_ = 0;
    started_ = pos_ < buf_.size();
}

Status Core::start_next(std::string_view method) {
    if (state_ == State::failed) return Status::failed;
    if (state_ != State::done) {
        fail(errc::invalid_state, "start_next() before the current message is complete");
        return Status::failed;
    }
    if (!keep_alive_) {
        fail(errc::invalid_state,
             "start_next() after a message that ends the connection (not keep-alive)");
        return Status::failed;
    }
    method_ = method;
    begin_message();
    run();
    if (eof_ && state_ != State::done && state_ != State::failed) {
        eof_ = false;  // replay the EOF we already saw against the new message
        return feed_eof();
    }
    return status();
}

std::span<const std::uint8_t> Core::leftover() const noexcept {
    if (state_ != State::done) return {};
    return {buf_.data() + pos_, buf_.size() - pos_};
}

std::vector<std::uint8_t> Core::take_leftover() {
    if (state_ != State::done) return {};
    std::vector<std::uint8_t> out(buf_.begin() + static_cast<std::ptrdiff_t>(pos_), buf_.end());
    buf_.clear();
    pos_ = 0;
    return out;
}

// Finds the next line within `limit` bytes. head_budget: the limit covers head_bytes_ plus this
// line (header section, trailers); otherwise it covers this line alone (chunk-size line).
Core::LineResult Core::next_line(std::string_view& line, std::size_t limit, bool head_budget) {
    const char* base = reinterpret_cast<const char*>(buf_.data()) + pos_;
    const std::size_t avail = buf_.size() - pos_;
    const bool chunk = state_ == State::chunk_size;
    const void* lf = std::memchr(base + scanned_, '\n', avail - scanned_);
    const std::size_t used = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - base) + 1
                                : avail;
    if ((head_budget ? head_bytes_ + used : used) > limit) {
        if (chunk)
            fail(errc::bad_chunk,
                 "chunk-size line longer than " + std::to_string(limit) + " bytes");
        else
            fail(errc::header_too_large,
                 std::string(state_ == State::trailers ? "trailer section" : "header section") +
                     " longer than " + std::to_string(limit) + " bytes");
        return LineResult::error;
    }
    if (!lf) {
        // A response that cannot become "HTTP/..." fails now, not at the first line end that a
        // non-HTTP/1 server (an h2 server's binary SETTINGS, say) may never send.
        if (role_ == Role::response && state_ == State::start_line) {
            std::string_view head(base, avail);
            while (!head.empty() && (head.front() == '\r' || head.front() == '\n'))
                head.remove_prefix(1);  // empty lines before it are the line parser's business
            const std::size_t k = std::min<std::size_t>(head.size(), 5);
            if (head.substr(0, k) != std::string_view("HTTP/", k)) {
                fail(errc::malformed_status_line,
                     "response does not start with \"HTTP/\" (the server does not speak HTTP/1.x?): " +
                         quote(std::string_view(base, std::min<std::size_t>(avail, 16))));
                return LineResult::error;
            }
        }
        scanned_ = avail;
        return LineResult::need_more;
    }
    std::string_view l(base, used - 1);
    if (!l.empty() && l.back() == '\r') {
        l.remove_suffix(1);
    } else if (!opts_.accept_bare_lf) {
        const std::string d = "line ends in a bare LF (CRLF required): " + quote(l);
        if (chunk) fail(errc::bad_chunk, d);
        else if (state_ == State::start_line)
            fail(role_ == Role::response ? errc::malformed_status_line
                                         : errc::malformed_request_line,
                 d);
        else fail(errc::malformed_header, d);
        return LineResult::error;
    }
    if (head_budget) head_bytes_ += used;
    pos_ += used;
    scanned_ = 0;
    line = l;
    return LineResult::line;
}

bool Core::parse_start_line(std::string_view line) {
    return role_ == Role::response ? parse_status_line(line) : parse_request_line(line);
}

bool Core::parse_status_line(std::string_view line) {
    constexpr auto bad = errc::malformed_status_line;
    if (line.substr(0, 5) != "HTTP/") {
        fail(bad, "status line does not start with \"HTTP/\": " + quote(line));
        return false;
    }
    if (line.size() < 8 || !text::is_digit(line[5]) || line[6] != '.' ||
        !text::is_digit(line[7])) {
        fail(bad, "malformed HTTP version in status line " + quote(line));
        return false;
    }
    if (line[5] != '1') {
        fail(errc::version_unsupported, "server answered with " + std::string(line.substr(0, 8)) +
                                            "; only HTTP/1.0 and HTTP/1.1 are supported");
        return false;
    }
    start_.version_minor = line[7] - '0';
    std::string_view rest = line.substr(8);
    if (rest.empty() || rest[0] != ' ') {
        fail(bad, "expected a space after the HTTP version in status line " + quote(line));
        return false;
    }
    rest.remove_prefix(1);
    if (rest.size() < 3 || !text::is_digit(rest[0]) || !text::is_digit(rest[1]) ||
        !text::is_digit(rest[2])) {
        fail(bad, "status code is not three digits in status line " + quote(line));
        return false;
    }
    start_.status = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
    if (start_.status < 100 || start_.status > 599) {
        fail(bad, "status code " + std::string(rest.substr(0, 3)) + " outside 100..599");
        return false;
    }
    rest.remove_prefix(3);
    if (!rest.empty()) {
        if (rest[0] != ' ') {
            fail(bad, "status code followed by " + text::byte_name(rest[0]) +
                          " instead of a space in " + quote(line));
            return false;
        }
        rest.remove_prefix(1);
        if (const auto i = text::find_bad_field_char(rest); i != std::string_view::npos) {
            fail(bad, "control character " + text::byte_name(rest[i]) + " in reason phrase " +
                          quote(rest));
            return false;
        }
        start_.reason = rest;
    }
    return true;
}

bool Core::parse_request_line(std::string_view line) {
    constexpr auto bad = errc::malformed_request_line;
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) {
        fail(bad, "request line is not \"method SP target SP version\": " + quote(line));
        return false;
    }
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (!text::is_token(method)) {
        fail(bad, "method " + quote(method) + " is not a token");
        return false;
    }
    if (target.empty()) {
        fail(bad, "empty request target in " + quote(line));
        return false;
    }
    for (char c : target) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) {
            fail(bad, "byte " + text::byte_name(c) + " not allowed in request target " +
                          quote(target));
            return false;
        }
    }
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !text::is_digit(version[5]) ||
        version[6] != '.' || !text::is_digit(version[7])) {
        fail(bad, "malformed HTTP version " + quote(version) + " in request line");
        return false;
    }
    if (version[5] != '1') {
        fail(errc::version_unsupported, "request uses " + std::string(version) +
                                            "; only HTTP/1.0 and HTTP/1.1 are supported");
        return false;
    }
    start_.method = method;
    start_.target = target;
    start_.version_minor = version[7] - '0';
    return true;
}

bool Core::parse_field(std::string_view line, Headers& into, const char* what) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        fail(errc::malformed_header, std::string(what) + " line without ':': " + quote(line));
        return false;
    }
    const std::string_view name = line.substr(0, colon);
    if (name.empty()) {
        fail(errc::malformed_header,
             std::string(what) + " line with an empty name: " + quote(line));
        return false;
    }
    if (text::is_ws(name.back())) {
        fail(errc::malformed_header,
             "whitespace between " + std::string(what) + " name and ':' in " + quote(line));
        return false;
    }
    if (!text::is_token(name)) {
        fail(errc::malformed_header, std::string(what) + " name " + quote(name) +
                                         " is not a token");
        return false;
    }
    const std::string_view value = text::trim_ows(line.substr(colon + 1));
    if (const auto i = text::find_bad_field_char(value); i != std::string_view::npos) {
        fail(errc::malformed_header, "control character " + text::byte_name(value[i]) +
                                         " in the value of " + std::string(what) + " " +
                                         quote(name));
        return false;
    }
    into.push_back({std::string(name), std::string(value)});
    return true;
}

bool Core::parse_chunk_size(std::string_view line) {
    std::size_t i = 0;
    std::uint64_t size = 0;
    for (; i < line.size(); ++i) {
        const int h = hex_value(line[i]);
        if (h < 0) break;
        if (size > (max_u64 >> 4)) {
            fail(errc::bad_chunk, "chunk size " + quote(line) + " overflows 64 bits");
            return false;
        }
        size = (size << 4) | static_cast<std::uint64_t>(h);
    }
    if (i == 0) {
        fail(errc::bad_chunk, "chunk size " + quote(line) + " is not hexadecimal");
        return false;
    }
    std::string_view rest = line.substr(i);
    while (!rest.empty() && text::is_ws(rest.front())) rest.remove_prefix(1);  // BWS
    if (!rest.empty() && rest.front() != ';') {
        fail(errc::bad_chunk, "unexpected " + text::byte_name(rest.front()) +
                                  " after the chunk size in " + quote(line));
        return false;
    }
    // Chunk extensions are skipped (RFC 9112 7.1.1: a recipient MUST ignore unrecognized ones),
    // but they may not smuggle control characters.
    if (const auto j = text::find_bad_field_char(rest); j != std::string_view::npos) {
        fail(errc::bad_chunk, "control character " + text::byte_name(rest[j]) +
                                  " in chunk extension " + quote(rest));
        return false;
    }
    if (size == 0) {
        state_ = State::trailers;
        head_bytes_ = 0;
        field_count_ = 0;
        return true;
    }
    if (size > opts_.max_body - body_total_) {
        fail(errc::body_too_large, "a chunk of " + std::to_string(size) + " bytes after " +
                                       std::to_string(body_total_) +
                                       " body bytes exceeds the limit of " +
                                       std::to_string(opts_.max_body) + " bytes");
        return false;
    }
    remaining_ = size;
    state_ = State::chunk_data;
    return true;
}

bool Core::end_of_head() {
    const bool response = role_ == Role::response;
    const int status = start_.status;

    // Interim responses: report, forget, and parse the next head; a bounded number of them.
    if (response && status >= 100 && status < 200 && status != 101) {
        if (++interim_count_ > opts_.max_interim) {
            fail(errc::too_many_interim_responses,
                 "more than " + std::to_string(opts_.max_interim) +
                     " 1xx interim responses before the final response (the last: " +
                     std::to_string(status) + ")");
            return false;
        }
        Event ev;
        ev.kind = EventKind::interim;
        ev.start = std::move(start_);
        ev.fields = std::move(fields_);
        events_.push_back(std::move(ev));
        start_ = {};
        fields_.clear();
        head_bytes_ = 0;
        field_count_ = 0;
        after_interim_ = true;
        state_ = State::start_line;
        return true;
    }

    // Content-Length: every element of every field must be 1*DIGIT, and all equal.
    bool has_cl = false;
    std::uint64_t cl = 0;
    std::string cl_text;
    for (const auto& h : fields_) {
        if (!text::iequals(h.name, "content-length")) continue;
        bool any = false, ok = true;
        text::for_each_list_element(h.value, [&](std::string_view e) {
            any = true;
            std::uint64_t v = 0;
            if (!ok) return;
            if (!parse_decimal(e, v)) {
                fail(errc::bad_content_length,
                     "Content-Length " + quote(h.value) + " is not a non-negative decimal number "
                                                          "below 2^64");
                ok = false;
            } else if (has_cl && v != cl) {
                fail(errc::bad_content_length, "conflicting Content-Length values " +
                                                   quote(cl_text) + " and " + quote(h.value));
                ok = false;
            } else {
                has_cl = true;
                cl = v;
                cl_text = h.value;
            }
        });
        if (!ok) return false;
        if (!any) {
            fail(errc::bad_content_length, "empty Content-Length");
            return false;
        }
    }

    const Header* te = find_header(fields_, "transfer-encoding");
    if (te && has_cl) {
        fail(errc::request_smuggling,
             std::string(response ? "response" : "request") + " has both Content-Length " +
                 quote(cl_text) + " and Transfer-Encoding " + quote(te->value) +
                 " (RFC 9112 6.3: rejected, the framing is ambiguous)");
        return false;
    }

    if (!response && start_.version_minor >= 1) {
        const auto hosts = std::count_if(fields_.begin(), fields_.end(), [](const Header& h) {
            return text::iequals(h.name, "host");
        });
        if (hosts != 1) {
            fail(errc::malformed_header, hosts == 0 ? "HTTP/1.1 request without a Host header"
                                                    : "request with " + std::to_string(hosts) +
                                                          " Host headers");
            return false;
        }
    }

    const bool close = has_token(fields_, "connection", "close");
    const bool keep_alive_token = has_token(fields_, "connection", "keep-alive");
    keep_alive_ = start_.version_minor >= 1 ? !close : keep_alive_token && !close;

    enum class Framing { none, ends_connection, length, chunked, until_close } framing;
    if (response && status == 101) framing = Framing::ends_connection;
    else if (response && method_ == "CONNECT" && status >= 200 && status < 300)
        framing = Framing::ends_connection;
    else if (response && (method_ == "HEAD" || status == 204 || status == 304))
        framing = Framing::none;
    else if (te) framing = Framing::chunked;
    else if (has_cl) framing = cl == 0 ? Framing::none : Framing::length;
    else framing = response ? Framing::until_close : Framing::none;

    if (framing == Framing::chunked) {
        std::vector<std::string_view> codings;
        for (const auto& h : fields_)
            if (text::iequals(h.name, "transfer-encoding"))
                text::for_each_list_element(h.value,
                                            [&](std::string_view c) { codings.push_back(c); });
        if (start_.version_minor == 0) {
            fail(errc::transfer_encoding_unsupported,
                 "Transfer-Encoding " + quote(te->value) +
                     " in an HTTP/1.0 message (RFC 9112 6.1: faulty framing)");
            return false;
        }
        if (codings.size() != 1 || !text::iequals(codings[0], "chunked")) {
            std::string all;
            for (const auto& h : fields_)
                if (text::iequals(h.name, "transfer-encoding"))
                    all += (all.empty() ? "" : ", ") + h.value;
            fail(errc::transfer_encoding_unsupported,
                 "Transfer-Encoding " + quote(all) + ": only \"chunked\" alone is supported");
            return false;
        }
    }
    if (framing == Framing::length && cl > opts_.max_body) {
        fail(errc::body_too_large, "Content-Length " + std::to_string(cl) +
                                       " exceeds the body limit of " +
                                       std::to_string(opts_.max_body) + " bytes");
        return false;
    }
    if (framing == Framing::ends_connection || framing == Framing::until_close)
        keep_alive_ = false;

    Event ev;
    ev.kind = EventKind::head;
    ev.start = start_;
    ev.fields = fields_;
    events_.push_back(std::move(ev));

    switch (framing) {
        case Framing::none:
        case Framing::ends_connection: finish(); break;
        case Framing::length:
            remaining_ = cl;
            state_ = State::body_length;
            break;
        case Framing::chunked: state_ = State::chunk_size; break;
        case Framing::until_close: state_ = State::body_close; break;
    }
    return true;
}

void Core::emit_data(const std::uint8_t* p, std::size_t n) {
    body_total_ += n;
    if (events_.empty() || events_.back().kind != EventKind::data) {
        Event ev;
        ev.kind = EventKind::data;
        events_.push_back(std::move(ev));
    }
    auto& d = events_.back().data;
    d.insert(d.end(), p, p + n);
}

void Core::finish() {
    state_ = State::done;
    Event ev;
    ev.kind = EventKind::complete;
    ev.keep_alive = keep_alive_;
    events_.push_back(std::move(ev));
}

void Core::run() {
    while (true) {
        const std::size_t avail = buf_.size() - pos_;
        std::string_view line;
        switch (state_) {
            case State::done:
            case State::failed: return;

            case State::start_line:
                if (next_line(line, opts_.max_header_bytes, true) != LineResult::line) return;
                if (line.empty() && role_ == Role::request) break;  // RFC 9112 2.2
                if (line.empty()) {
                    fail(errc::malformed_status_line, "empty line where the status line belongs");
                    return;
                }
                if (!parse_start_line(line)) return;
                after_interim_ = false;
                state_ = State::fields;
                break;

            case State::fields:
            case State::trailers: {
                const bool trailers = state_ == State::trailers;
                const char* what = trailers ? "trailer field" : "header field";
                if (next_line(line, opts_.max_header_bytes, true) != LineResult::line) return;
                if (line.empty()) {
                    if (!trailers) {
                        if (!end_of_head()) return;
                        break;
                    }
                    if (!trailers_.empty()) {
                        Event ev;
                        ev.kind = EventKind::trailers;
                        ev.fields = std::move(trailers_);
                        events_.push_back(std::move(ev));
                        trailers_.clear();
                    }
                    finish();
                    return;
                }
                if (text::is_ws(line.front())) {
                    fail(errc::malformed_header,
                         field_count_ == 0 && !trailers
                             ? "whitespace-preceded line after the start line: " + quote(line)
                             : std::string("obs-fold (a ") + what +
                                   " continued on a line starting with whitespace) is not "
                                   "allowed: " + quote(line));
                    return;
                }
                if (++field_count_ > opts_.max_headers) {
                    fail(errc::too_many_headers, std::string("more than ") +
                                                     std::to_string(opts_.max_headers) + " " +
                                                     what + "s");
                    return;
                }
                if (!parse_field(line, trailers ? trailers_ : fields_, what)) return;
                break;
            }

            case State::body_length:
            case State::chunk_data: {
                const auto n = static_cast<std::size_t>(
                    std::min<std::uint64_t>(remaining_, avail));
                if (n == 0) return;
                emit_data(buf_.data() + pos_, n);
                pos_ += n;
                remaining_ -= n;
                if (remaining_ == 0) {
                    if (state_ == State::body_length) {
                        finish();
                        return;
                    }
                    state_ = State::chunk_crlf;
                }
                break;
            }

            case State::body_close:
                if (avail == 0) return;
                if (avail > opts_.max_body - body_total_) {
                    fail(errc::body_too_large, "close-delimited body exceeds the limit of " +
                                                   std::to_string(opts_.max_body) + " bytes");
                    return;
                }
                emit_data(buf_.data() + pos_, avail);
                pos_ += avail;
                return;

            case State::chunk_size:
                if (next_line(line, opts_.max_chunk_line_bytes, false) != LineResult::line) return;
                if (!parse_chunk_size(line)) return;
                break;

            case State::chunk_crlf: {
                if (avail == 0) return;
                const auto c = static_cast<char>(buf_[pos_]);
                if (c == '\n' && opts_.accept_bare_lf) {
                    pos_ += 1;
                } else if (c == '\r') {
                    if (avail < 2) return;
                    if (const auto next = static_cast<char>(buf_[pos_ + 1]); next != '\n') {
                        fail(errc::bad_chunk, "chunk data followed by CR and " +
                                                  text::byte_name(next) + " instead of CRLF");
                        return;
                    }
                    pos_ += 2;
                } else {
                    fail(errc::bad_chunk, "chunk data not followed by CRLF (got " +
                                              text::byte_name(c) +
                                              "): the chunk size does not match its data");
                    return;
                }
                scanned_ = 0;
                state_ = State::chunk_size;
                break;
            }
        }
    }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------

Status ResponseParser::feed(std::string_view bytes) {
    return core_.feed({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

Status RequestParser::feed(std::string_view bytes) {
    return core_.feed({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

std::vector<ResponseEvent> ResponseParser::take_events() {
    std::vector<ResponseEvent> out;
    for (auto& e : core_.take_events()) {
        ResponseEvent r;
        r.kind = e.kind;
        r.keep_alive = e.keep_alive;
        r.data = std::move(e.data);
        if (e.kind == EventKind::trailers) {
            r.trailers = std::move(e.fields);
        } else if (e.kind == EventKind::head || e.kind == EventKind::interim) {
            r.head.version_minor = e.start.version_minor;
            r.head.status = e.start.status;
            r.head.reason = std::move(e.start.reason);
            r.head.headers = std::move(e.fields);
        }
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<RequestEvent> RequestParser::take_events() {
    std::vector<RequestEvent> out;
    for (auto& e : core_.take_events()) {
        RequestEvent r;
        r.kind = e.kind;
        r.keep_alive = e.keep_alive;
        r.data = std::move(e.data);
        if (e.kind == EventKind::trailers) {
            r.trailers = std::move(e.fields);
        } else if (e.kind == EventKind::head) {
            r.head.version_minor = e.start.version_minor;
            r.head.method = std::move(e.start.method);
            r.head.target = std::move(e.start.target);
            r.head.headers = std::move(e.fields);
        }
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace connmatrix::http1
