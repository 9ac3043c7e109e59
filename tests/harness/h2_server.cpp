// The HTTP/2 server session for in-process tests and fault servers: nghttp2 over memory buffers,
// a request handler, and knobs that make it misbehave on purpose.
#include "h2_server.hpp"
#include "nghttp2_glue.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <unordered_map>
#include <utility>

namespace connmatrix::http2 {
namespace {

Error make(errc e, std::string detail = {}) {
    return {make_error_code(e), std::move(detail), 0, "http2"};
}

struct ServerStream {
    ServerRequest req;
    ServerResponse resp;
    std::string status;  // kept alive for nghttp2_submit_trailer/response
    std::size_t body_sent = 0;
    bool reset_after_stall_sent = false;
    bool responded = false;
    bool announced = false;  // on_headers was called
    bool refused = false;    // on_refused was called
};

constexpr std::string_view http1_answer =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
    "Connection: close\r\n\r\nBad Request";

Bytes bad_frame_bytes(BadFrame b) {
    switch (b) {
        case BadFrame::data_on_stream_zero:  // DATA, length 4, stream 0
            return {0, 0, 4, NGHTTP2_DATA, 0, 0, 0, 0, 0, 'o', 'o', 'p', 's'};
        case BadFrame::bad_ping_length:  // PING, length 7 (must be 8)
            return {0, 0, 7, NGHTTP2_PING, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7};
        case BadFrame::garbage: return Bytes(16, 0xff);
        case BadFrame::none: break;
    }
    return {};
}

}  // namespace

struct ServerSession::Impl {
    ServerOptions options;
    Handler handler;
    std::unordered_map<std::int32_t, std::unique_ptr<ServerStream>> streams;
    std::vector<ServerRequest> done;
    std::size_t answered = 0, peak = 0, pings = 0, opened = 0, body_bytes = 0;
    std::int32_t max_processed = 0;  // the highest stream a handler answered
    std::vector<std::pair<std::int32_t, std::uint32_t>> resets;
    std::optional<std::uint32_t> goaway_code;
    std::optional<std::int32_t> goaway_last;  // we sent GOAWAY: streams above get no answer
    bool goaway_local = false;
    bool settings_sent = false;
    bool bad_frame_sent = false;
    bool http1_sent = false;
    bool eof = false;
    Bytes out;
    Error error;
    int last_lib_error = 0;
    std::string last_error_message;
    std::optional<std::uint32_t> terminated_with;
    glue::SessionPtr session;  // last: deleted first

    Impl(ServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)) {}
    void init();

    ServerStream* find(std::int32_t id) {
        auto it = streams.find(id);
        return it == streams.end() ? nullptr : it->second.get();
    }

    void fail(Error e) {
        if (!error) error = std::move(e);
    }

    // A request we told the client we never processed.
    void refuse(ServerStream& s) {
        if (!s.announced || s.refused) return;
        s.refused = true;
        if (options.on_refused) options.on_refused(s.req);
    }

    Error goaway(std::uint32_t code, std::int32_t last) {
        goaway_local = true;
        goaway_last = goaway_last ? std::min(*goaway_last, last) : last;
        for (auto& [id, s] : streams)
            if (id > *goaway_last) refuse(*s);
        const int rv =
            code == NGHTTP2_NO_ERROR
                ? nghttp2_submit_goaway(session.get(), NGHTTP2_FLAG_NONE, last, code, nullptr, 0)
                : nghttp2_session_terminate_session2(session.get(), last, code);
        return rv != 0 ? error_from_library(rv) : Error{};
    }

    void complete(ServerStream& s);
    void respond(ServerStream& s);
    void drain();
    void settle() {
        if (!error && terminated_with)
            fail(glue::connection_error(last_lib_error, last_error_message, *terminated_with));
    }
};

namespace {

using Impl = ServerSession::Impl;

Impl& self(void* ud) {
    return *static_cast<Impl*>(ud);
}

glue::ssize read_body(nghttp2_session* sess, std::int32_t id, std::uint8_t* buf, std::size_t len,
                      std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto& s = *static_cast<ServerStream*>(source->ptr);
    const Bytes& body = s.resp.body;
    const std::size_t end = std::min(body.size(), s.resp.stall_after_body.value_or(body.size()));
    if (s.body_sent == end && end < body.size()) {  // stalled
        if (s.resp.reset_after_stall && !s.reset_after_stall_sent) {
            s.reset_after_stall_sent = true;
            nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, id, *s.resp.reset_after_stall);
        }
        return NGHTTP2_ERR_DEFERRED;
    }
    const std::size_t n = std::min(len, end - s.body_sent);
    if (n != 0) std::memcpy(buf, body.data() + s.body_sent, n);
    s.body_sent += n;
    if (s.body_sent == body.size()) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (!s.resp.trailers.empty()) {
            std::vector<nghttp2_nv> nva;
            for (const Header& h : s.resp.trailers) nva.push_back(glue::nv(h.name, h.value));
            if (nghttp2_submit_trailer(sess, id, nva.data(), nva.size()) == 0)
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
    }
    return static_cast<glue::ssize>(n);
}

int on_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* ud) {
    Impl& im = self(ud);
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto s = std::make_unique<ServerStream>();
    s->req.stream_id = f->hd.stream_id;
    im.streams[f->hd.stream_id] = std::move(s);
    im.peak = std::max(im.peak, im.streams.size());
    ++im.opened;
    return 0;
}

int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
              std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
              void* ud) {
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    ServerStream* s = self(ud).find(f->hd.stream_id);
    if (!s) return 0;
    const std::string_view n = glue::view(name, namelen);
    std::string v(glue::view(value, valuelen));
    ServerRequest& r = s->req;
    if (f->headers.cat != NGHTTP2_HCAT_REQUEST)
        r.trailers.push_back({std::string(n), std::move(v)});
    else if (n == ":method")
        r.method = std::move(v);
    else if (n == ":scheme")
        r.scheme = std::move(v);
    else if (n == ":authority")
        r.authority = std::move(v);
    else if (n == ":path")
        r.path = std::move(v);
    else if (!n.empty() && n.front() != ':')
        r.headers.push_back({std::string(n), std::move(v)});
    return 0;
}

int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                  std::size_t len, void* ud) {
    self(ud).body_bytes += len;
    if (ServerStream* s = self(ud).find(id))
        s->req.body.insert(s->req.body.end(), data, data + len);
    return 0;
}

int on_frame_recv(nghttp2_session* sess, const nghttp2_frame* f, void* ud) {
    Impl& im = self(ud);
    switch (f->hd.type) {
        case NGHTTP2_HEADERS:
            if (f->headers.cat == NGHTTP2_HCAT_REQUEST && im.options.on_headers)
                if (ServerStream* s = im.find(f->hd.stream_id);
                    s && !(im.goaway_last && s->req.stream_id > *im.goaway_last)) {
                    s->announced = true;
                    im.options.on_headers(s->req);
                }
            if (ServerStream* s = im.find(f->hd.stream_id);
                s && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
                const ServerFaults& faults = im.options.faults;
                if (faults.reset_on_headers) {
                    nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, f->hd.stream_id,
                                              *faults.reset_on_headers);
                    break;
                }
                if (faults.respond_on_headers && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
                    im.respond(*s);
                    break;
                }
            }
            [[fallthrough]];
        case NGHTTP2_DATA:
            if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
                if (ServerStream* s = im.find(f->hd.stream_id)) im.complete(*s);
            break;
        case NGHTTP2_RST_STREAM:
            im.resets.emplace_back(f->hd.stream_id, f->rst_stream.error_code);
            if (im.options.on_reset) im.options.on_reset(f->hd.stream_id, f->rst_stream.error_code);
            break;
        case NGHTTP2_GOAWAY: im.goaway_code = f->goaway.error_code; break;
        case NGHTTP2_PING:
            if ((f->hd.flags & NGHTTP2_FLAG_ACK) == 0) ++im.pings;
            break;
        default: break;
    }
    return 0;
}

int on_frame_send(nghttp2_session*, const nghttp2_frame* f, void* ud) {
    Impl& im = self(ud);
    if (f->hd.type == NGHTTP2_SETTINGS && (f->hd.flags & NGHTTP2_FLAG_ACK) == 0)
        im.settings_sent = true;
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR &&
        !im.goaway_local) {
        im.terminated_with = f->goaway.error_code;
        if (im.last_error_message.empty())
            im.last_error_message.assign(reinterpret_cast<const char*>(f->goaway.opaque_data),
                                         f->goaway.opaque_data_len);
    }
    return 0;
}

int on_invalid_frame(nghttp2_session*, const nghttp2_frame*, int lib_error, void* ud) {
    self(ud).last_lib_error = lib_error;
    return 0;
}

int on_error(nghttp2_session*, int lib_error, const char* msg, std::size_t len, void* ud) {
    Impl& im = self(ud);
    im.last_lib_error = lib_error;
    im.last_error_message.assign(msg, len);
    return 0;
}

int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* ud) {
    self(ud).streams.erase(id);
    return 0;
}

}  // namespace

void ServerSession::Impl::complete(ServerStream& s) {
    const std::int32_t id = s.req.stream_id;
    done.push_back(s.req);
    const ServerFaults& f = options.faults;
    // The default last_stream_id covers every stream already answered: requests complete out
    // of order (a long body finishes after a short one on a later stream), and a GOAWAY below
    // a stream the server processed would tell the client a lie.
    if (f.goaway_after_requests && done.size() == *f.goaway_after_requests)
        if (Error e = goaway(f.goaway_error_code,
                             f.goaway_last_stream_id.value_or(std::max(max_processed, id))))
            fail(std::move(e));
    if (goaway_last && id > *goaway_last) {  // refused by our GOAWAY: never processed
        refuse(s);
        return;
    }
    if (auto it = f.reset_streams.find(id); it != f.reset_streams.end()) {
        nghttp2_submit_rst_stream(session.get(), NGHTTP2_FLAG_NONE, id, it->second);
        if (it->second == NGHTTP2_REFUSED_STREAM) refuse(s);
        return;
    }
    if (f.stall || s.responded) return;
    respond(s);
}

void ServerSession::Impl::respond(ServerStream& s) {
    const std::int32_t id = s.req.stream_id;
    s.responded = true;
    if (handler) {
        s.resp = handler(s.req);
    } else {
        s.resp.status = 200;
        s.resp.headers = {{"content-type", "application/octet-stream"}};
        s.resp.body = s.req.body;
    }
    if (s.resp.goaway == ServerResponse::Goaway::http_1_1_required) {
        // Refused with the connection: GOAWAY HTTP_1_1_REQUIRED naming this stream, then the end.
        (void)goaway(NGHTTP2_HTTP_1_1_REQUIRED, id);
        return;
    }
    if (s.resp.reset) {
        nghttp2_submit_rst_stream(session.get(), NGHTTP2_FLAG_NONE, id, *s.resp.reset);
        if (*s.resp.reset == NGHTTP2_REFUSED_STREAM) refuse(s);
        else max_processed = std::max(max_processed, id);
        return;
    }
    max_processed = std::max(max_processed, id);
    for (int st : s.resp.interim) {
        const std::string v = std::to_string(st);
        const nghttp2_nv nv = glue::nv(":status", v);
        nghttp2_submit_headers(session.get(), NGHTTP2_FLAG_NONE, id, nullptr, &nv, 1, nullptr);
    }
    s.status = std::to_string(s.resp.status);
    std::vector<nghttp2_nv> nva;
    nva.push_back(glue::nv(":status", s.status));
    bool has_length = false;
    for (const Header& h : s.resp.headers) {
        nva.push_back(glue::nv(h.name, h.value));
        has_length = has_length || h.name == "content-length";
    }
    const std::string length = std::to_string(s.resp.body.size());
    if (!has_length && s.resp.trailers.empty()) nva.push_back(glue::nv("content-length", length));
    // A HEAD response has the headers a GET would have, and no content (RFC 9110 9.3.2).
    const bool with_body =
        s.req.method != "HEAD" && (!s.resp.body.empty() || !s.resp.trailers.empty());
    const glue::DataProvider body = glue::data_provider(&s, read_body);
    if (int rv = glue::submit_response(session.get(), id, nva.data(), nva.size(),
                                       with_body ? &body : nullptr);
        rv != 0 && nghttp2_is_fatal(rv))
        fail(error_from_library(rv));
    ++answered;
    using Goaway = ServerResponse::Goaway;
    if (s.resp.goaway != Goaway::none && !goaway_local) {
        // FIFO behind the response HEADERS just queued; the DATA of streams above last_stream_id
        // is dropped once the GOAWAY is out.
        const bool lie = s.resp.goaway == Goaway::disowning_this && id == max_processed;
        (void)goaway(NGHTTP2_NO_ERROR, lie ? std::max(0, id - 2) : max_processed);
    }
}

void ServerSession::Impl::drain() {
    while (!error) {
        const std::uint8_t* p = nullptr;
        const glue::ssize n = glue::mem_send(session.get(), &p);
        if (n < 0) {
            fail(error_from_library(static_cast<int>(n)));
            return;
        }
        if (n == 0) break;
        out.insert(out.end(), p, p + n);
    }
    const ServerFaults& f = options.faults;
    if (f.bad_frame != BadFrame::none && !bad_frame_sent && settings_sent &&
        answered >= f.bad_frame_after_requests) {
        const Bytes b = bad_frame_bytes(f.bad_frame);
        out.insert(out.end(), b.begin(), b.end());
        bad_frame_sent = true;
    }
}

void ServerSession::Impl::init() {
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
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(raw_cbs, on_invalid_frame);
    nghttp2_session_callbacks_set_error_callback2(raw_cbs, on_error);
    nghttp2_session_callbacks_set_on_stream_close_callback(raw_cbs, on_stream_close);

    nghttp2_option* raw_opt = nullptr;
    if (nghttp2_option_new(&raw_opt) != 0) {
        error = error_from_library(NGHTTP2_ERR_NOMEM);
        return;
    }
    glue::OptionPtr opt(raw_opt);
    // hold_window: never consumed, so never a WINDOW_UPDATE for what the client sent.
    if (options.faults.hold_window) nghttp2_option_set_no_auto_window_update(raw_opt, 1);
    if (options.faults.ignore_ping) nghttp2_option_set_no_auto_ping_ack(raw_opt, 1);

    nghttp2_session* raw = nullptr;
    if (int rv = nghttp2_session_server_new2(&raw, raw_cbs, this, raw_opt); rv != 0) {
        error = error_from_library(rv);
        return;
    }
    session.reset(raw);

    const ServerOptions& o = options;
    if (o.stream_window > INT32_MAX || o.connection_window > INT32_MAX ||
        o.connection_window < 65535) {
        error = make(errc::invalid_state, "window sizes out of range");
        return;
    }
    std::vector<nghttp2_settings_entry> iv = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, o.stream_window}};
    if (o.max_concurrent_streams)
        iv.push_back({NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, *o.max_concurrent_streams});
    if (int rv = nghttp2_submit_settings(raw, NGHTTP2_FLAG_NONE, iv.data(), iv.size()); rv != 0) {
        error = error_from_library(rv);
        return;
    }
    if (int rv = nghttp2_session_set_local_window_size(
            raw, NGHTTP2_FLAG_NONE, 0, static_cast<std::int32_t>(o.connection_window));
        rv != 0)
        error = error_from_library(rv);
}

// --- ServerSession -----------------------------------------------------------------------------

ServerSession::ServerSession(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {
    impl_->init();
}
ServerSession::~ServerSession() = default;
ServerSession::ServerSession(ServerSession&&) noexcept = default;
ServerSession& ServerSession::operator=(ServerSession&&) noexcept = default;

Error ServerSession::feed(std::span<const std::uint8_t> bytes) {
    Impl& im = *impl_;
    if (im.error) return im.error;
    if (im.eof) return make(errc::closed, "feed after end of stream");
    if (im.options.faults.answer_http1) {
        // An HTTP/1.1-only server reading an HTTP/2 preface: one error response, then close.
        if (!im.http1_sent && !bytes.empty()) {
            im.out.assign(http1_answer.begin(), http1_answer.end());
            im.http1_sent = true;
        }
        return {};
    }
    const glue::ssize n = glue::mem_recv(im.session.get(), bytes.data(), bytes.size());
    if (n < 0) {  // only fatal codes (nghttp2_is_fatal), e.g. NGHTTP2_ERR_BAD_CLIENT_MAGIC
        im.fail(error_from_library(static_cast<int>(n)));
        return im.error;
    }
    im.drain();
    im.settle();
    return im.error;
}

void ServerSession::feed_eof() {
    impl_->eof = true;
}

Bytes ServerSession::take_output() {
    Impl& im = *impl_;
    if (im.options.faults.silent) return {};
    if (!im.error && !im.eof && !im.options.faults.answer_http1) {
        im.drain();
        im.settle();
    }
    return std::exchange(im.out, {});
}

bool ServerSession::want_read() const noexcept {
    const Impl& im = *impl_;
    if (im.error || im.eof) return false;
    if (im.options.faults.answer_http1) return !im.http1_sent;
    return nghttp2_session_want_read(im.session.get());
}

bool ServerSession::want_write() const noexcept {
    const Impl& im = *impl_;
    if (im.options.faults.silent) return false;
    if (!im.out.empty()) return true;
    if (im.error || im.eof || im.options.faults.answer_http1) return false;
    return nghttp2_session_want_write(im.session.get());
}

bool ServerSession::finished() const noexcept {
    return !want_read() && !want_write();
}

const Error& ServerSession::error() const noexcept {
    return impl_->error;
}

Error ServerSession::submit_goaway(std::uint32_t error_code,
                                   std::optional<std::int32_t> last_stream_id) {
    Impl& im = *impl_;
    if (im.error) return im.error;
    return im.goaway(error_code, last_stream_id.value_or(
                                     nghttp2_session_get_last_proc_stream_id(im.session.get())));
}

Error ServerSession::submit_rst_stream(std::int32_t stream_id, std::uint32_t error_code) {
    Impl& im = *impl_;
    if (im.error) return im.error;
    const int rv =
        nghttp2_submit_rst_stream(im.session.get(), NGHTTP2_FLAG_NONE, stream_id, error_code);
    return rv != 0 ? error_from_library(rv) : Error{};
}

Error ServerSession::submit_ping() {
    Impl& im = *impl_;
    if (im.error) return im.error;
    const int rv = nghttp2_submit_ping(im.session.get(), NGHTTP2_FLAG_NONE, nullptr);
    return rv != 0 ? error_from_library(rv) : Error{};
}

std::size_t ServerSession::requests_received() const noexcept {
    return impl_->done.size();
}
std::size_t ServerSession::open_streams() const noexcept {
    return impl_->streams.size();
}
std::size_t ServerSession::peak_open_streams() const noexcept {
    return impl_->peak;
}
std::size_t ServerSession::pings_received() const noexcept {
    return impl_->pings;
}
std::size_t ServerSession::streams_opened() const noexcept {
    return impl_->opened;
}
std::size_t ServerSession::body_bytes_received() const noexcept {
    return impl_->body_bytes;
}
const std::vector<std::pair<std::int32_t, std::uint32_t>>& ServerSession::resets_received()
    const noexcept {
    return impl_->resets;
}
std::optional<std::uint32_t> ServerSession::goaway_received() const noexcept {
    return impl_->goaway_code;
}
const std::vector<ServerRequest>& ServerSession::requests() const noexcept {
    return impl_->done;
}

}  // namespace connmatrix::http2
