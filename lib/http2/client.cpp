// The HTTP/2 client session: nghttp2 over memory buffers, events out.
#include "guard.hpp"
#include "http2.hpp"
#include "nghttp2_glue.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <unordered_map>
#include <utility>

namespace connmatrix::http2 {
namespace {

// Our own text; `lib` is an HTTP/2 error code (nghttp2's own errors: error_from_library()).
Error make(errc e, std::string detail = {}, long lib = 0) {
    return {make_error_code(e), std::move(detail), lib, "http2"};
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

const std::uint8_t* u8(std::string_view s) {
    return reinterpret_cast<const std::uint8_t*>(s.data());
}

// One request stream, owned by the session until nghttp2 closes it.
struct Stream {
    std::int32_t id = 0;
    Bytes own_body;                        // the request body, when the stream owns it
    std::span<const std::uint8_t> body;     // the request body, read by the data provider
    std::shared_ptr<const void> body_owner;  // keeps `body` alive when it is not own_body
    std::size_t body_sent = 0;
    std::function<Request::Read(std::span<std::uint8_t>)> reader;  // a body read as it goes
    bool deferred = false;  // the data provider paused: our output was full (take_output)
    bool reader_waits = false;  // the reader had nothing: resume_body() asks it again
    bool headers_sent = false;    // our HEADERS left nghttp2: the server may have seen it
    bool final_response = false;  // a non-1xx status arrived
    bool remote_end = false;      // END_STREAM from the server
    bool rst_received = false;
    bool rst_sent = false;
    bool reported = false;  // StreamClosed emitted (it may still live inside nghttp2)
    bool manual_window = false;  // hold_window(): its Data reopen the window only by consume()
    int status = 0;
    Headers fields;  // the header block being received
    std::size_t field_bytes = 0;
    Error error;  // a stream error we or nghttp2 detected locally
};

// Connection-specific fields RFC 9113 section 8.2.2 forbids, plus what we set ourselves.
bool dropped_field(std::string_view lname, const std::vector<std::string>& nominated) {
    static constexpr std::string_view always[] = {"connection",       "keep-alive",
                                                  "proxy-connection", "transfer-encoding",
                                                  "upgrade",          "content-length"};
    return std::find(std::begin(always), std::end(always), lname) != std::end(always) ||
           std::find(nominated.begin(), nominated.end(), lname) != nominated.end();
}

}  // namespace

namespace {

// Our SETTINGS: in the SETTINGS frame, and (base64url) in HTTP2-Settings for an h2c upgrade.
std::array<nghttp2_settings_entry, 4> settings_entries(const ClientOptions& o) {
    return {{
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, o.max_concurrent_pushed_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, o.stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, o.max_header_list_size},
    }};
}

Bytes settings_payload(const ClientOptions& o) {
    const auto iv = settings_entries(o);
    Bytes out(iv.size() * 6);
    const auto n = nghttp2_pack_settings_payload(out.data(), out.size(), iv.data(), iv.size());
    out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    return out;
}

// RFC 4648 section 5, without padding (RFC 7540 section 3.2.1: token68 of base64url).
std::string base64url(std::span<const std::uint8_t> in) {
    static constexpr char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
        out += abc[(v >> 18) & 63];
        out += abc[(v >> 12) & 63];
        out += abc[(v >> 6) & 63];
        out += abc[v & 63];
    }
    if (i + 1 == in.size()) {
        const unsigned v = in[i] << 16;
        out += abc[(v >> 18) & 63];
        out += abc[(v >> 12) & 63];
    } else if (i + 2 == in.size()) {
        const unsigned v = (in[i] << 16) | (in[i + 1] << 8);
        out += abc[(v >> 18) & 63];
        out += abc[(v >> 12) & 63];
        out += abc[(v >> 6) & 63];
    }
    return out;
}

}  // namespace

struct ClientSession::Impl {
    ClientOptions options;
    std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams;
    std::size_t active = 0;  // streams not yet reported closed
    std::vector<Event> events;
    Bytes out;
    std::size_t data_room = 0;  // DATA frames are made while `out` holds less (take_output)
    std::size_t deferred = 0;          // streams whose data provider is paused
    Bytes held;  // the server's first bytes, until we know what they are
    ServerPreface preface = ServerPreface::need_more;
    Error error;  // sticky
    bool eof = false;
    bool goaway_recv = false;
    std::int32_t goaway_last = INT32_MAX;
    bool goaway_local = false;  // we asked for a GOAWAY (graceful or terminate)
    int last_lib_error = 0;     // what nghttp2 last told us went wrong
    std::string last_error_message;
    std::optional<std::uint32_t> terminated_with;  // nghttp2 sent GOAWAY(error) on its own
    Guard guard;   // the limits on what the server may make us do
    Error ending;  // why we are ending the connection ourselves (a limit, abort()): our GOAWAY
                   // is queued, and this becomes the sticky error once it is drained
    std::uint64_t ping_counter = 0;
    std::map<std::array<std::uint8_t, 8>, Clock::time_point> pings;  // awaiting ACK
    std::vector<std::int32_t> bodies_sent;  // since take_bodies_sent()
    glue::SessionPtr session;  // last: deleted first, while what its callbacks touch lives

    explicit Impl(const ClientOptions& o);

    // In place: no temporary Event to move (which also keeps GCC 12's -Wmaybe-uninitialized
    // false positive about std::variant moves quiet).
    template <class E>
    void emit(E&& e) {
        events.emplace_back(std::in_place_type<std::decay_t<E>>, std::forward<E>(e));
    }

    Stream* find(std::int32_t id) {
        auto it = streams.find(id);
        return it == streams.end() ? nullptr : it->second.get();
    }

    bool retryable(const Stream& s) const {
        return !s.headers_sent || (goaway_recv && s.id > goaway_last);
    }

    void report(Stream& s, Error err, std::uint32_t code, bool retry) {
        if (s.reported) return;
        s.reported = true;
        --active;
        emit(StreamClosed{s.id, std::move(err), code, retry});
    }

    void report_all(const Error& err) {
        // In stream id order, so the events read naturally.
        std::vector<Stream*> open;
        for (auto& [id, s] : streams)
            if (!s->reported) open.push_back(s.get());
        std::sort(open.begin(), open.end(), [](auto* a, auto* b) { return a->id < b->id; });
        for (Stream* s : open) {
            if (complete(*s))  // its response ended; only our request body was still going
                report(*s, {}, 0, false);
            else if (goaway_recv && s->id > goaway_last)  // the server said it never processed it
                report(*s, make(errc::refused_stream, "stream above GOAWAY last_stream_id"), 0,
                       true);
            else
                report(*s, err, 0, retryable(*s));
        }
    }

    void fail(Error err) {
        if (error) return;
        error = std::move(err);
        report_all(error);
    }

    static bool complete(const Stream& s) { return s.remote_end && s.final_response && !s.error; }

    // Ends the connection for a reason of ours: nghttp2 queues GOAWAY(h2_code) and ignores
    // everything the server sends from now on; settle() makes `err` the sticky error.
    void end_connection(Error err, std::uint32_t h2_code) {
        if (error || ending) return;
        ending = std::move(err);
        (void)nghttp2_session_terminate_session(session.get(), h2_code);
    }
    void end_connection(std::optional<Error> err, std::uint32_t h2_code) {
        if (err) end_connection(std::move(*err), h2_code);
    }

    void response_ended(Stream& s);

    void on_closed(Stream& s, std::uint32_t code);
    void drain();

    // take_output() found room again: paused request bodies go on.
    void resume_bodies() {
        for (auto& [id, s] : streams) {
            if (!s->deferred) continue;
            s->deferred = false;
            --deferred;
            (void)nghttp2_session_resume_data(session.get(), id);
        }
    }
    void settle();
    Error recv(std::span<const std::uint8_t> bytes);
};

// --- nghttp2 callbacks ---------------------------------------------------------------------------
namespace {

using Impl = ClientSession::Impl;

Impl& self(void* ud) {
    return *static_cast<Impl*>(ud);
}

// A request body goes out a frame at a time from where it is, and pauses while our output is
// full: take_output() resumes it when the caller has room again.
glue::ssize read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len,
                      std::uint32_t* flags, nghttp2_data_source* source, void* ud) {
    auto& s = *static_cast<Stream*>(source->ptr);
    Impl& im = self(ud);
    if (im.out.size() >= im.data_room) {
        if (!s.deferred) ++im.deferred;
        s.deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (s.reader) {
        const Request::Read r = s.reader({buf, len});
        // The stream is reset with INTERNAL_ERROR; its closing reports what the reader said.
        if (r.failed) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        if (r.wait && r.size == 0 && !r.end) {
            s.reader_waits = true;
            return NGHTTP2_ERR_DEFERRED;
        }
        s.body_sent += r.size;
        if (r.end) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<glue::ssize>(r.size);
    }
    const std::size_t n = std::min(len, s.body.size() - s.body_sent);
    if (n != 0) std::memcpy(buf, s.body.data() + s.body_sent, n);
    s.body_sent += n;
    if (s.body_sent == s.body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<glue::ssize>(n);
}

int on_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* ud) {
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    if (Stream* s = self(ud).find(f->hd.stream_id)) {
        s->fields.clear();
        s->field_bytes = 0;
    }
    return 0;
}

int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
              std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
              void* ud) {
    Impl& im = self(ud);
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    Stream* s = im.find(f->hd.stream_id);
    if (!s || s->reported) return 0;
    s->field_bytes += namelen + valuelen + 32;  // RFC 9113 section 6.5.2
    if (s->field_bytes > im.options.max_header_list_size) {
        s->error = make(errc::header_invalid, "response header list larger than " +
                                                  std::to_string(im.options.max_header_list_size) +
                                                  " bytes");
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets just this stream
    }
    const std::string_view n = glue::view(name, namelen), v = glue::view(value, valuelen);
    if (n == ":status") {
        int st = 0;
        for (char c : v) st = st * 10 + (c - '0');  // nghttp2 checked: three digits
        if (st < 100 || st > 599) {  // nghttp2 lets "000" or "999" through; HTTP/1.1 does not
            s->error = make(errc::header_invalid,
                            "response :status " + std::string(v) + " is outside 100..599");
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets just this stream
        }
        s->status = st;
    } else if (!n.empty() && n.front() != ':') {
        s->fields.push_back({std::string(n), std::string(v)});
    }
    return 0;
}

int on_data_chunk(nghttp2_session* sess, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                  std::size_t len, void* ud) {
    Impl& im = self(ud);
    Stream* s = im.find(id);
    if (!s || s->reported) {
        // Nobody will take these bytes: give the window back at once.
        nghttp2_session_consume(sess, id, len);
        return 0;
    }
    if (!im.events.empty())
        if (auto* d = std::get_if<Data>(&im.events.back()); d && d->stream_id == id) {
            // (Merged chunks share the stream's `held`, which never changes once data flows.)
            d->bytes.insert(d->bytes.end(), data, data + len);
            return 0;
        }
    im.emit(Data{id, Bytes(data, data + len), s->manual_window});
    return 0;
}

int on_frame_recv(nghttp2_session* sess, const nghttp2_frame* f, void* ud) {
    Impl& im = self(ud);
    switch (f->hd.type) {
        case NGHTTP2_HEADERS: {
            Stream* s = im.find(f->hd.stream_id);
            if (!s || s->reported) break;
            if (!s->final_response) {
                if (s->status >= 100 && s->status < 200) {
                    s->fields.clear();  // interim (1xx): skipped, but not without end
                    im.end_connection(im.guard.control_frame("an interim (" +
                                                                 std::to_string(s->status) +
                                                                 ") response on stream " +
                                                                 std::to_string(s->id),
                                                             Clock::now()),
                                      NGHTTP2_ENHANCE_YOUR_CALM);
                } else {
                    s->final_response = true;
                    im.emit(ResponseHeaders{s->id, s->status, std::move(s->fields)});
                }
            } else {
                im.emit(Trailers{s->id, std::move(s->fields)});
            }
            s->fields.clear();
            if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) im.response_ended(*s);
            break;
        }
        case NGHTTP2_DATA:
            if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
                if (Stream* s = im.find(f->hd.stream_id)) im.response_ended(*s);
            break;
        case NGHTTP2_RST_STREAM: {
            const std::int32_t id = f->hd.stream_id;
            Stream* s = im.find(id);
            if (s && !s->reported && !Impl::complete(*s)) {
                s->rst_received = true;
                im.end_connection(im.guard.peer_reset(id, f->rst_stream.error_code, Clock::now()),
                                  NGHTTP2_ENHANCE_YOUR_CALM);
            } else {
                if (s) s->rst_received = true;
                im.end_connection(im.guard.control_frame("RST_STREAM for stream " +
                                                             std::to_string(id) +
                                                             ", which is not open",
                                                         Clock::now()),
                                  NGHTTP2_ENHANCE_YOUR_CALM);
            }
            break;
        }
        case NGHTTP2_SETTINGS:
            if ((f->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
                auto get = [&](nghttp2_settings_id id) {
                    return nghttp2_session_get_remote_settings(sess, id);
                };
                im.emit(SettingsReceived{get(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
                                         get(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE),
                                         get(NGHTTP2_SETTINGS_MAX_FRAME_SIZE),
                                         get(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE)});
            }
            break;
        case NGHTTP2_GOAWAY: {
            const auto& g = f->goaway;
            // A second GOAWAY may only lower last_stream_id.
            im.goaway_last =
                im.goaway_recv ? std::min(im.goaway_last, g.last_stream_id) : g.last_stream_id;
            im.goaway_recv = true;
            im.emit(GoawayReceived{
                g.last_stream_id, g.error_code,
                std::string(reinterpret_cast<const char*>(g.opaque_data), g.opaque_data_len)});
            // nghttp2 now closes our streams above last_stream_id with REFUSED_STREAM, and fails
            // queued ones the same way when it tries to send them.
            break;
        }
        case NGHTTP2_PING:
            if (f->hd.flags & NGHTTP2_FLAG_ACK) {
                std::array<std::uint8_t, 8> key{};
                std::memcpy(key.data(), f->ping.opaque_data, key.size());
                if (auto it = im.pings.find(key); it != im.pings.end()) {
                    im.emit(PingAcked{key, Clock::now() - it->second});
                    im.pings.erase(it);
                }
            }
            break;
        default: break;
    }
    return 0;
}

int on_frame_send(nghttp2_session*, const nghttp2_frame* f, void* ud) {
    Impl& im = self(ud);
    im.guard.sent(f->hd.type);
    switch (f->hd.type) {
        case NGHTTP2_HEADERS:
            if (Stream* s = im.find(f->hd.stream_id)) s->headers_sent = true;
            break;
        case NGHTTP2_DATA:
            if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) im.bodies_sent.push_back(f->hd.stream_id);
            break;
        case NGHTTP2_RST_STREAM:
            if (Stream* s = im.find(f->hd.stream_id)) {
                // Not asked for by us: nghttp2 found a stream error it names to no callback
                // (DATA beyond the stream's window): the server's fault, by its code.
                if (!s->rst_sent && !s->error) {
                    const std::uint32_t code = f->rst_stream.error_code;
                    s->error = make(errc_from_h2_code(code, errc::protocol_error),
                                    "the server broke HTTP/2 on this stream: we reset it with " +
                                        std::string(h2_error_name(code)),
                                    code);
                }
                s->rst_sent = true;
            }
            break;
        case NGHTTP2_PING:
            if ((f->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
                std::array<std::uint8_t, 8> key{};
                std::memcpy(key.data(), f->ping.opaque_data, key.size());
                if (auto it = im.pings.find(key); it != im.pings.end()) it->second = Clock::now();
            }
            break;
        case NGHTTP2_GOAWAY:
            // nghttp2 tears the connection down with GOAWAY(error) when it detects a connection
            // error; our own submit_goaway() is not that.
            if (f->goaway.error_code != NGHTTP2_NO_ERROR && !im.goaway_local) {
                im.terminated_with = f->goaway.error_code;
                // nghttp2 puts its reason ("DATA: stream_id == 0") into the debug data.
                if (im.last_error_message.empty())
                    im.last_error_message.assign(
                        reinterpret_cast<const char*>(f->goaway.opaque_data),
                        f->goaway.opaque_data_len);
            }
            break;
        default: break;
    }
    return 0;
}

int on_frame_not_send(nghttp2_session*, const nghttp2_frame* f, int lib_error, void* ud) {
    // A request HEADERS nghttp2 could not send (e.g. GOAWAY arrived while it was queued): the
    // stream is closed next, and since nothing reached the server it is retryable.
    if (f->hd.type == NGHTTP2_HEADERS)
        if (Stream* s = self(ud).find(f->hd.stream_id); s && !s->error)
            s->error = error_from_library(lib_error);
    return 0;
}

int on_invalid_frame(nghttp2_session*, const nghttp2_frame* f, int lib_error, void* ud) {
    Impl& im = self(ud);
    if (Stream* s = im.find(f->hd.stream_id); s && !s->error)
        s->error = error_from_library(lib_error);
    im.last_lib_error = lib_error;
    return 0;
}

int on_error(nghttp2_session*, int lib_error, const char* msg, std::size_t len, void* ud) {
    Impl& im = self(ud);
    im.last_lib_error = lib_error;
    im.last_error_message.assign(msg, len);
    return 0;
}

int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* ud) {
    Impl& im = self(ud);
    if (Stream* s = im.find(id)) {
        im.on_closed(*s, code);
        if (s->deferred) --im.deferred;
        im.streams.erase(id);  // nghttp2 holds no reference to the body any more
    }
    return 0;
}

}  // namespace

// The server ended its response (END_STREAM). A server may answer before our request body is
// all sent (RFC 9113 8.1, e.g. 413 while a large upload waits for window): the response is
// complete, so it is reported now, and the rest of the body is not sent (RST_STREAM NO_ERROR,
// as 8.1 allows), rather than waiting for a window the server may never open.
void ClientSession::Impl::response_ended(Stream& s) {
    s.remote_end = true;
    if (s.reported || !complete(s)) return;
    if (nghttp2_session_get_stream_local_close(session.get(), s.id) != 0) return;  // closes now
    report(s, {}, 0, false);
    if (nghttp2_submit_rst_stream(session.get(), NGHTTP2_FLAG_NONE, s.id, NGHTTP2_NO_ERROR) == 0)
        s.rst_sent = true;
}

void ClientSession::Impl::on_closed(Stream& s, std::uint32_t code) {
    if (s.reported) return;
    const bool above_goaway = goaway_recv && s.id > goaway_last;
    if (complete(s)) {
        report(s, {}, code, false);  // complete (a late RST, e.g. NO_ERROR, does not matter)
    } else if (code == NGHTTP2_REFUSED_STREAM || above_goaway) {
        std::string why = "REFUSED_STREAM";
        if (above_goaway)
            why = "stream " + std::to_string(s.id) + " above GOAWAY last_stream_id " +
                  std::to_string(goaway_last);
        else if (s.rst_received)
            why = "RST_STREAM REFUSED_STREAM from the server";
        report(s, make(errc::refused_stream, std::move(why), code), code, true);
    } else if (s.error) {
        Error e = s.error;
        report(s, std::move(e), code, !s.headers_sent);
    } else if (s.rst_received) {
        report(s,
               make(errc_from_h2_code(code, errc::stream_reset),
                    "RST_STREAM " + std::string(h2_error_name(code)) + " from the server", code),
               code, !s.headers_sent);
    } else if (s.rst_sent) {
        report(s,
               make(errc::stream_reset,
                    "cancelled by us with RST_STREAM " + std::string(h2_error_name(code)), code),
               code, !s.headers_sent);
    } else {
        report(s, make(errc::closed, "stream closed before the response was complete", code), code,
               retryable(s));
    }
}

// Moves everything nghttp2 wants to send into `out`.
void ClientSession::Impl::drain() {
    while (!error) {
        const std::uint8_t* p = nullptr;
        const glue::ssize n = glue::mem_send(session.get(), &p);
        if (n < 0) {
            fail(error_from_library(static_cast<int>(n)));
            return;
        }
        if (n == 0) return;
        out.insert(out.end(), p, p + n);
    }
}

// After each step: a connection error nghttp2 found is fatal to us too, and a finished session
// takes its remaining streams with it (nghttp2 does not report those).
void ClientSession::Impl::settle() {
    if (error) return;
    if (ending) {
        fail(std::move(ending));
        return;
    }
    if (terminated_with) {
        fail(glue::connection_error(last_lib_error, last_error_message, *terminated_with));
        return;
    }
    if (!nghttp2_session_want_read(session.get()) && !nghttp2_session_want_write(session.get()))
        report_all(make(errc::closed, goaway_local ? "connection terminated locally"
                                                   : "HTTP/2 session finished"));
}

Error ClientSession::Impl::recv(std::span<const std::uint8_t> bytes) {
    // Every frame header passes the guard first; nghttp2 never sees a frame beyond a limit.
    const auto open = [this](std::int32_t id) {
        const Stream* s = find(id);
        return s && !s->reported;
    };
    const std::optional<Guard::Stop> stop = guard.scan(bytes, Clock::now(), open);
    const auto allowed = stop ? bytes.first(stop->at) : bytes;
    const glue::ssize n =
        allowed.empty() ? 0 : glue::mem_recv(session.get(), allowed.data(), allowed.size());
    // mem_recv returns only fatal errors (nghttp2_is_fatal: out of memory, callback failure,
    // flooding, too many CONTINUATIONs, bad client magic); a non-fatal code would still mean
    // unprocessed input, so both are sticky. Protocol errors nghttp2 handles itself by queueing
    // GOAWAY(error): drain() sends it and settle() turns it into our sticky error, with
    // nghttp2's code and text.
    if (n < 0) {
        Error e = error_from_library(static_cast<int>(n));
        if (e.code == errc::flood) {  // nghttp2's own flood checks: tell the server why
            (void)nghttp2_session_terminate_session(session.get(), NGHTTP2_ENHANCE_YOUR_CALM);
            drain();
        }
        fail(std::move(e));
        return error;
    }
    drain();  // a GOAWAY(error) of nghttp2's own, about what came before the cut, goes first
    if (stop && !terminated_with) end_connection(stop->error, stop->h2_code);
    drain();
    settle();
    return error;
}

ClientSession::Impl::Impl(const ClientOptions& o) : options(o), guard(o, Clock::now()) {
    nghttp2_session_callbacks* raw_cbs = nullptr;
    if (nghttp2_session_callbacks_new(&raw_cbs) != 0) {
        error = error_from_library(NGHTTP2_ERR_NOMEM);
        return;
    }
    glue::CallbacksPtr cbs(raw_cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(raw_cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(raw_cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(raw_cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(raw_cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(raw_cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(raw_cbs, on_frame_not_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(raw_cbs, on_invalid_frame);
    nghttp2_session_callbacks_set_error_callback2(raw_cbs, on_error);
    nghttp2_session_callbacks_set_on_stream_close_callback(raw_cbs, on_stream_close);

    nghttp2_option* raw_opt = nullptr;
    if (nghttp2_option_new(&raw_opt) != 0) {
        error = error_from_library(NGHTTP2_ERR_NOMEM);
        return;
    }
    glue::OptionPtr opt(raw_opt);
    // Window updates follow what the caller has taken (take_events), not what arrived.
    nghttp2_option_set_no_auto_window_update(raw_opt, 1);
    // nghttp2's own bounds. The guard counts PING and SETTINGS among the control frames, so
    // its limit (with our error text) comes before nghttp2's on the ACKs they queue.
    nghttp2_option_set_max_continuations(raw_opt, o.max_continuations);
    nghttp2_option_set_max_outbound_ack(raw_opt, std::size_t{o.control_frames.burst} + 1);

    nghttp2_session* raw = nullptr;
    if (int rv = nghttp2_session_client_new2(&raw, raw_cbs, this, raw_opt); rv != 0) {
        error = error_from_library(rv);
        return;
    }
    session.reset(raw);

    if (o.stream_window > INT32_MAX || o.connection_window > INT32_MAX ||
        o.connection_window < 65535) {
        error = make(errc::invalid_state,
                     "window sizes must be 65535..2^31-1 (connection) and "
                     "at most 2^31-1 (stream)");
        return;
    }
    const auto iv = settings_entries(o);
    if (int rv = nghttp2_submit_settings(raw, NGHTTP2_FLAG_NONE, iv.data(), iv.size()); rv != 0) {
        error = error_from_library(rv);
        return;
    }
    if (int rv = nghttp2_session_set_local_window_size(
            raw, NGHTTP2_FLAG_NONE, 0, static_cast<std::int32_t>(o.connection_window));
        rv != 0)
        error = error_from_library(rv);
}

// --- ClientSession -----------------------------------------------------------------------------

ClientSession::ClientSession(const ClientOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}
ClientSession::~ClientSession() = default;
ClientSession::ClientSession(ClientSession&&) noexcept = default;
ClientSession& ClientSession::operator=(ClientSession&&) noexcept = default;

std::int32_t ClientSession::submit_request(Request req, Error& err) {
    Impl& im = *impl_;
    err = {};
    if (im.error) {
        err = im.error;
        return 0;
    }
    if (im.eof) {
        err = make(errc::closed, "the transport is closed");
        return 0;
    }
    if (im.goaway_recv || im.goaway_local) {
        err = make(errc::goaway, im.goaway_recv ? "the server sent GOAWAY" : "we sent GOAWAY");
        return 0;
    }
    if (nghttp2_session_get_next_stream_id(im.session.get()) > INT32_MAX) {
        err = make(errc::invalid_state, "stream ids exhausted on this connection");
        return 0;
    }

    auto bad = [&](std::string why) {
        err = make(errc::header_invalid, std::move(why));
        return 0;
    };

    // Header fields: lowercase names, no connection-specific fields (RFC 9113 section 8.2.2),
    // Host becomes :authority, TE only as "trailers", content-length ours.
    std::vector<std::string> nominated;  // fields named by Connection are connection-specific
    for (const Header& h : req.headers) {
        if (lower(h.name) != "connection") continue;
        std::string_view v = h.value;
        while (!v.empty()) {
            const std::size_t comma = std::min(v.find(','), v.size());
            if (auto tok = trim_ows(v.substr(0, comma)); !tok.empty())
                nominated.push_back(lower(tok));
            v.remove_prefix(std::min(comma + 1, v.size()));
        }
    }
    std::string authority = req.authority;
    std::vector<std::pair<std::string, std::string>> fields;
    fields.reserve(req.headers.size() + 1);
    for (const Header& h : req.headers) {
        std::string name = lower(h.name);
        const std::string_view value = trim_ows(h.value);
        if (name.empty() || name.front() == ':')
            return bad("header \"" + h.name + "\": pseudo-header fields are set by the session");
        if (dropped_field(name, nominated)) continue;
        if (name == "host") {
            if (authority.empty()) authority = value;
            continue;
        }
        if (name == "te") {
            if (lower(value) == "trailers") fields.emplace_back("te", "trailers");
            continue;
        }
        if (!nghttp2_check_header_name(u8(name), name.size()))
            return bad("header name \"" + h.name + "\" is not a valid token");
        if (!nghttp2_check_header_value(u8(value), value.size()))
            return bad("header \"" + h.name + "\" has a value with CR, LF or NUL");
        fields.emplace_back(std::move(name), std::string(value));
    }
    const bool connect = req.method == "CONNECT";
    if (req.method.empty() || !nghttp2_check_method(u8(req.method), req.method.size()))
        return bad("invalid method \"" + req.method + "\"");
    if (authority.empty() || !nghttp2_check_authority(u8(authority), authority.size()))
        return bad("invalid or missing :authority \"" + authority + "\"");
    if (!connect && (req.path.empty() || !nghttp2_check_path(u8(req.path), req.path.size())))
        return bad("invalid :path \"" + req.path + "\"");
    if (!connect && req.scheme.empty()) return bad("missing :scheme");

    const bool read = req.body.empty() && req.shared_body.empty() && req.reader;
    const std::uint64_t body_size =
        read ? req.length.value_or(0) : req.body.empty() ? req.shared_body.size() : req.body.size();
    const std::string content_length = std::to_string(body_size);
    std::vector<nghttp2_nv> nva;
    nva.reserve(fields.size() + 5);
    nva.push_back(glue::nv(":method", req.method));
    if (!connect) nva.push_back(glue::nv(":scheme", req.scheme));
    nva.push_back(glue::nv(":authority", authority));
    if (!connect) nva.push_back(glue::nv(":path", req.path));
    for (const auto& [n, v] : fields) {
        // Credentials stay out of the HPACK dynamic table (as curl and browsers do).
        const bool secret = n == "authorization" || n == "proxy-authorization";
        nva.push_back(glue::nv(n, v, secret ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE));
    }
    if (body_size != 0 || (read && req.length))
        nva.push_back(glue::nv("content-length", content_length));

    auto stream = std::make_unique<Stream>();
    if (!req.body.empty()) {
        stream->own_body = std::move(req.body);
        stream->body = stream->own_body;
    } else if (read) {
        stream->reader = std::move(req.reader);
        stream->body_owner = std::move(req.body_owner);
    } else {
        stream->body = req.shared_body;
        stream->body_owner = std::move(req.body_owner);
    }
    const glue::DataProvider body = glue::data_provider(stream.get(), read_body);
    const bool has_body = !stream->body.empty() || (read && req.length != 0u);
    const std::int32_t id =
        glue::submit_request(im.session.get(), nva.data(), nva.size(),
                             has_body ? &body : nullptr, stream.get());
    if (id < 0) {
        err = error_from_library(id);
        return 0;
    }
    stream->id = id;
    im.streams.emplace(id, std::move(stream));
    ++im.active;
    return id;
}

std::string upgrade_settings_value(const ClientOptions& options) {
    return base64url(settings_payload(options));
}

std::string ClientSession::upgrade_settings_header() const {
    return upgrade_settings_value(impl_->options);
}

std::int32_t ClientSession::upgrade(bool head_request, Error& err) {
    Impl& im = *impl_;
    err = {};
    if (im.error) {
        err = im.error;
        return 0;
    }
    if (!im.streams.empty()) {
        err = make(errc::invalid_state, "upgrade() after a request was submitted");
        return 0;
    }
    const Bytes payload = settings_payload(im.options);
    auto stream = std::make_unique<Stream>();
    stream->id = 1;
    stream->headers_sent = true;  // the HTTP/1.1 request carried them
    const int rv = nghttp2_session_upgrade2(im.session.get(), payload.data(), payload.size(),
                                            head_request ? 1 : 0, stream.get());
    if (rv != 0) {
        err = error_from_library(rv);
        return 0;
    }
    im.streams.emplace(1, std::move(stream));
    ++im.active;
    // The server's first bytes after 101 are its SETTINGS, as after a preface.
    return 1;
}

Error ClientSession::submit_rst_stream(std::int32_t stream_id, std::uint32_t error_code) {
    Impl& im = *impl_;
    if (im.error) return im.error;
    Stream* s = im.find(stream_id);
    if (!s || s->reported)
        return make(errc::invalid_state, "no open stream " + std::to_string(stream_id));
    if (int rv =
            nghttp2_submit_rst_stream(im.session.get(), NGHTTP2_FLAG_NONE, stream_id, error_code);
        rv != 0)
        return error_from_library(rv);
    s->rst_sent = true;  // also covers a request nghttp2 had not sent yet
    return {};
}

void ClientSession::resume_body(std::int32_t stream_id) {
    Impl& im = *impl_;
    Stream* s = im.find(stream_id);
    if (!s || !s->reader_waits || im.error || im.eof) return;
    s->reader_waits = false;
    (void)nghttp2_session_resume_data(im.session.get(), stream_id);
}

Error ClientSession::submit_ping() {
    Impl& im = *impl_;
    if (im.error) return im.error;
    if (im.eof) return make(errc::closed, "the transport is closed");
    std::array<std::uint8_t, 8> opaque{};
    std::uint64_t n = ++im.ping_counter;
    for (int i = 7; i >= 0; --i, n >>= 8) opaque[static_cast<std::size_t>(i)] = n & 0xff;
    if (int rv = nghttp2_submit_ping(im.session.get(), NGHTTP2_FLAG_NONE, opaque.data()); rv != 0)
        return error_from_library(rv);
    im.pings[opaque] = Clock::now();  // refined when the PING actually leaves
    return {};
}

Error ClientSession::submit_goaway(std::uint32_t error_code, std::string_view debug_data) {
    Impl& im = *impl_;
    if (im.error) return im.error;
    im.goaway_local = true;
    int rv = 0;
    if (error_code == NGHTTP2_NO_ERROR) {
        // last_stream_id names the peer's streams: a client accepts none (push is off).
        rv = nghttp2_submit_goaway(im.session.get(), NGHTTP2_FLAG_NONE,
                                   nghttp2_session_get_last_proc_stream_id(im.session.get()),
                                   NGHTTP2_NO_ERROR, u8(debug_data), debug_data.size());
    } else {
        rv = nghttp2_session_terminate_session(im.session.get(), error_code);
    }
    return rv != 0 ? error_from_library(rv) : Error{};
}

void ClientSession::abort(Error err, std::uint32_t h2_code) {
    Impl& im = *impl_;
    if (im.error || !im.session) return;
    im.end_connection(std::move(err), h2_code);
    im.drain();
    im.settle();
}

Error ClientSession::feed(std::span<const std::uint8_t> bytes) {
    Impl& im = *impl_;
    if (im.error) return im.error;
    if (im.eof) return make(errc::closed, "feed after end of stream");
    if (bytes.empty()) return {};
    if (im.preface != ServerPreface::need_more) return im.recv(bytes);

    // Until we know what the server speaks, hold its bytes: HTTP/1.x text is not an HTTP/2
    // protocol error but a server that does not do HTTP/2, which the fallback rule acts on.
    im.held.insert(im.held.end(), bytes.begin(), bytes.end());
    im.preface = classify_server_preface(im.held);
    switch (im.preface) {
        case ServerPreface::need_more: return {};
        case ServerPreface::http1: {
            std::string line(im.held.begin(), im.held.end());
            line = line.substr(0, std::min({line.find('\r'), line.find('\n'), std::size_t{120}}));
            im.fail(make(errc::not_h2, "server answered the HTTP/2 preface with \"" + line + "\""));
            return im.error;
        }
        case ServerPreface::h2:
        case ServerPreface::garbage: break;  // garbage: nghttp2 says why, with its own code
    }
    const Bytes first = std::exchange(im.held, {});
    return im.recv(first);
}

void ClientSession::feed_eof() {
    Impl& im = *impl_;
    if (im.eof) return;
    im.eof = true;
    if (im.error) return;
    im.report_all(make(errc::closed, im.preface == ServerPreface::need_more
                                         ? "connection closed before the server sent anything"
                                         : "connection closed by the server"));
}

Bytes ClientSession::take_output(std::size_t queued) {
    Impl& im = *impl_;
    im.data_room = queued < im.options.max_output ? im.options.max_output - queued : 0;
    if (!im.error && !im.eof) {
        if (im.deferred != 0 && im.out.size() < im.data_room) im.resume_bodies();
        im.drain();
        // Between calls (feed() answering a WINDOW_UPDATE, ...) no DATA is made: the caller's
        // queue may have grown since it said how full it was.
        im.data_room = 0;
        im.settle();
    }
    return std::exchange(im.out, {});
}

std::vector<std::int32_t> ClientSession::take_bodies_sent() {
    return std::exchange(impl_->bodies_sent, {});
}

std::vector<Event> ClientSession::take_events() {
    Impl& im = *impl_;
    std::vector<Event> evs = std::exchange(im.events, {});
    if (!im.error && im.session)
        for (const Event& e : evs)
            if (const auto* d = std::get_if<Data>(&e); d && !d->held)
                nghttp2_session_consume(im.session.get(), d->stream_id, d->bytes.size());
    return evs;
}

Error ClientSession::hold_window(std::int32_t stream_id) {
    Impl& im = *impl_;
    if (im.error) return im.error;
    Stream* s = im.find(stream_id);
    if (!s || s->reported)
        return make(errc::invalid_state, "no open stream " + std::to_string(stream_id));
    s->manual_window = true;
    return {};
}

void ClientSession::consume(std::int32_t stream_id, std::size_t bytes) {
    Impl& im = *impl_;
    // After the stream closed this still reopens the connection's window, which is what the
    // bytes also took from.
    if (!im.error && im.session && bytes != 0)
        nghttp2_session_consume(im.session.get(), stream_id, bytes);
}

bool ClientSession::has_events() const noexcept {
    return !impl_->events.empty();
}

bool ClientSession::want_read() const noexcept {
    const Impl& im = *impl_;
    return !im.error && !im.eof && nghttp2_session_want_read(im.session.get());
}

bool ClientSession::want_write() const noexcept {
    const Impl& im = *impl_;
    if (!im.out.empty()) return true;
    return !im.error && !im.eof &&
           (im.deferred != 0 || nghttp2_session_want_write(im.session.get()));
}

bool ClientSession::finished() const noexcept {
    return !want_read() && !want_write();
}

const Error& ClientSession::error() const noexcept {
    return impl_->error;
}

bool ClientSession::can_submit() const noexcept {
    const Impl& im = *impl_;
    if (im.error || im.eof || im.goaway_recv || im.goaway_local) return false;
    nghttp2_session* s = im.session.get();
    return nghttp2_session_check_request_allowed(s) &&
           nghttp2_session_get_next_stream_id(s) <= INT32_MAX &&
           im.active < remote_max_concurrent_streams();
}

std::size_t ClientSession::active_streams() const noexcept {
    return impl_->active;
}

std::uint32_t ClientSession::remote_max_concurrent_streams() const noexcept {
    if (!impl_->session) return 0;
    return nghttp2_session_get_remote_settings(impl_->session.get(),
                                               NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

ClientSession::RemoteSettings ClientSession::remote_settings() const noexcept {
    RemoteSettings r;
    nghttp2_session* s = impl_->session.get();
    if (!s) return r;
    r.max_concurrent_streams =
        nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    r.initial_window_size =
        nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
    r.max_frame_size = nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_MAX_FRAME_SIZE);
    r.max_header_list_size =
        nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE);
    return r;
}

bool ClientSession::goaway_received() const noexcept {
    return impl_->goaway_recv;
}

std::optional<std::int32_t> ClientSession::goaway_last_stream_id() const noexcept {
    if (!impl_->goaway_recv) return std::nullopt;
    return impl_->goaway_last;
}

ServerPreface ClientSession::server_preface() const noexcept {
    return impl_->preface;
}

}  // namespace connmatrix::http2
