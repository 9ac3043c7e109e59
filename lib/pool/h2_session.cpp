// HTTP/2 on a pooled connection: many exchanges as concurrent streams over http2::ClientSession.
//
// When h2 was assumed rather than confirmed by ALPN (prior knowledge), the session is
// "unconfirmed" until the server's first bytes show a SETTINGS frame. Meanwhile idempotent
// requests go out at once, in the same write as the preface; non-idempotent ones are held back
// until the server has shown it speaks h2, so that a server which rejects h2 (HTTP/1.x text, an
// alert, a close) has provably not processed any of them and every one can fall back safely.
#include "session.hpp"

#include "body.hpp"
#include "events.hpp"
#include "http2.hpp"

#include <connmatrix/errors/tls.hpp>

#include <algorithm>
#include <deque>
#include <map>

namespace connmatrix::pool {

namespace {

// The Client's limits, for the codec.
http2::ClientOptions codec_options(const Http2Limits& l) {
    http2::ClientOptions o;
    o.max_header_list_size = l.max_header_list_size;
    o.max_continuations = l.max_continuations;
    o.max_empty_data_frames = l.max_empty_data_frames;
    o.control_frames = l.control_frames;
    o.peer_resets = l.peer_resets;
    return o;
}

// A codec made without the Client (tests, fuzzing) has the Client's defaults.
constexpr Http2Limits client_defaults;
constexpr http2::ClientOptions codec_defaults;
static_assert(client_defaults.max_header_list_size == codec_defaults.max_header_list_size &&
              client_defaults.max_continuations == codec_defaults.max_continuations &&
              client_defaults.max_empty_data_frames == codec_defaults.max_empty_data_frames &&
              client_defaults.control_frames == codec_defaults.control_frames &&
              client_defaults.peer_resets == codec_defaults.peer_resets);

class H2Session final : public ProtoSession {
public:
    H2Session(SessionOwner& owner, std::size_t max_body, std::uint32_t cap, bool unconfirmed,
              const Http2Limits& limits)
        : owner_(owner), max_body_(max_body), cap_(std::max<std::uint32_t>(1, cap)),
          confirmed_(!unconfirmed), session_(codec_options(limits)) {}

    bool can_submit() const override {
        return reusable_ && !session_.error() && !session_.goaway_received() &&
               active() < capacity() && (session_.can_submit() || !confirmed_);
    }
    std::size_t active() const override { return streams_.size() + held_.size(); }
    bool reusable() const override { return reusable_ && !session_.goaway_received(); }
    bool confirmed() const override { return confirmed_; }
    std::size_t capacity() const override {
        return std::min<std::size_t>(cap_, session_.remote_max_concurrent_streams());
    }

    // After 101 Switching Protocols: the upgrade request continues as stream 1.
    H2Session(SessionOwner& owner, std::size_t max_body, std::uint32_t cap,
              const Http2Limits& limits, const ExchangePtr& ex)
        : H2Session(owner, max_body, cap, false, limits) {
        Error err;
        if (session_.upgrade(ex->request.method == "HEAD", err) != 1) {
            owner_.complete(ex, err);
            return;
        }
        streams_.emplace(1, ex);
        if (ex->streaming()) (void)session_.hold_window(1);
        flush();  // our preface and SETTINGS
    }

    bool capacity_known() const override { return settings_received_; }

    bool ping() override {
        if (session_.error() || session_.goaway_received() || session_.submit_ping()) return false;
        flush();
        return true;
    }

    void confirmation_overdue(std::chrono::milliseconds waited) override {
        if (!confirmed_) {
            reject({http2::errc::not_h2,
                    "no HTTP/2 SETTINGS from the server within " + std::to_string(waited.count()) +
                        " ms of our preface: h2 by prior knowledge was not confirmed",
                    0, "http2"});
            return;
        }
        if (settings_received_ || !reusable_) return;
        // ALPN said h2 (or the server's first bytes did), yet its connection preface (a whole
        // SETTINGS frame, RFC 9113 3.4) never came: it will not answer either. Its requests end
        // with this, not the request timeout.
        session_.abort({http2::errc::settings_timeout,
                        "no SETTINGS from the server within " + std::to_string(waited.count()) +
                            " ms of the connection, though it speaks h2 (RFC 9113 3.4: they "
                            "come first)",
                        0, "http2"},
                       http2::h2_error::settings_timeout);
        end_with(session_.error());
    }

    void submit(const ExchangePtr& ex) override {
        if (!confirmed_ && !ex->idempotent()) {
            owner_.log()(LogLevel::debug,
                         "holding " + ex->request.method + " " + ex->target +
                             " until the server confirms h2 (prior knowledge, not idempotent)");
            held_.push_back(ex);
            flush();  // the preface and SETTINGS go out now, to get the answer sooner
            return;
        }
        start(ex);
        flush();
    }

    void on_data(std::span<const std::uint8_t> bytes) override {
        const Error err = session_.feed(bytes);
        if (!confirmed_) {
            const auto pf = session_.server_preface();
            if (pf == http2::ServerPreface::h2) {
                confirmed_ = true;
                owner_.log()(LogLevel::debug,
                             "connection " + owner_.describe() + ": server confirmed h2 (SETTINGS)");
                auto held = std::move(held_);
                held_.clear();
                for (auto& ex : held) start(ex);
            } else if (pf != http2::ServerPreface::need_more || err) {
                Error e = err ? err
                              : Error{http2::errc::not_h2,
                                      "the server answered the h2 preface with " +
                                          std::string(http2::to_string(pf)),
                                      0, "http2"};
                reject(e);
                return;
            }
        }
        process_events();
        if (err) {
            end_with(err);
            return;
        }
        flush();
        if (session_.finished() && streams_.empty()) {
            reusable_ = false;
            owner_.close_transport();
        }
    }

    void on_closed(const Error& err) override {
        reusable_ = false;
        if (!confirmed_) {
            Error e = err ? err
                          : Error{net::errc::connection_closed,
                                  "the server closed the connection after the h2 preface without "
                                  "answering with SETTINGS",
                                  0, "net"};
            reject(e);
            return;
        }
        closed_error_ = err;
        session_.feed_eof();
        process_events();
        fail_all(err ? err : Error{net::errc::connection_closed,
                                   "the server closed the connection", 0, "net"});
    }

    void cancel(Exchange& ex) override {
        std::erase_if(held_, [&](const ExchangePtr& p) { return p.get() == &ex; });
        for (auto it = streams_.begin(); it != streams_.end(); ++it) {
            if (it->second.get() == &ex) {
                const std::int32_t id = it->first;
                streams_.erase(it);
                drop_paused(id);
                (void)session_.submit_rst_stream(id, http2::h2_error::cancel);
                flush();
                return;
            }
        }
    }

    // What arrived for the stream while its sink was paused goes to the sink now, in order,
    // each piece reopening the window as it is taken, until the sink pauses again.
    void resume(Exchange& ex) override {
        std::int32_t id = 0;
        for (const auto& [sid, e] : streams_)
            if (e.get() == &ex) id = sid;
        if (id == 0) return;
        if (ex.upload_waiting) {  // its body source may have more now
            session_.resume_body(id);
            flush();
        }
        ex.paused = false;
        auto it = paused_.find(id);
        if (it == paused_.end()) return;
        std::deque<http2::Event> queue = std::move(it->second);
        paused_.erase(it);
        while (!queue.empty()) {
            http2::Event ev = std::move(queue.front());
            queue.pop_front();
            handle(ev);
            if (ex.paused && find(id)) {
                // Paused again: the rest waits, before anything that came meanwhile (none
                // can: this runs on the loop, between reads).
                auto& q = paused_[id];
                for (auto& e : queue) q.push_back(std::move(e));
                break;
            }
        }
        flush();  // WINDOW_UPDATE for what the sink took
    }

    void on_sent() override {
        if (session_.want_write()) flush();
    }

    void shutdown() override {
        reusable_ = false;
        (void)session_.submit_goaway(http2::h2_error::no_error);
        flush();
    }

private:
    void start(const ExchangePtr& ex) {
        http2::Request r;
        r.method = ex->request.method;
        r.scheme = policy::to_string(ex->origin.scheme);
        r.authority = ex->authority;
        r.path = ex->target;
        r.headers = ex->request.headers;
        // Read by nghttp2 from the Exchange as DATA frames go out: the body is not copied.
        const std::string& body = ex->request.body;
        r.shared_body = {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()};
        if (!body.empty()) r.body_owner = ex;
        if (ex->uploading()) {
            // Or read from the request's source as the peer's windows and our output allow;
            // the Exchange outlives the stream (body_owner).
            r.length = ex->request.body_source.length;
            r.reader = [this, raw = ex.get()](std::span<std::uint8_t> buf) {
                http2::Request::Read out;
                std::size_t n = 0;
                Error err;
                switch (raw->finished ? SourceState::failed : read_source(*raw, buf, n, err)) {
                    case SourceState::data: out.size = n; break;
                    case SourceState::end: out.size = n; out.end = true; break;
                    case SourceState::waiting: out.wait = true; break;
                    case SourceState::failed: out.failed = true; upload_failed_ = true; break;
                }
                return out;
            };
            r.body_owner = ex;
        }
        Error err;
        const std::int32_t id = session_.submit_request(std::move(r), err);
        if (id <= 0) {
            if (err.code == http2::errc::goaway || err.code == http2::errc::closed) {
                owner_.retry(ex, err.message());
                return;
            }
            owner_.complete(ex, err);
            return;
        }
        ex->sent = Clock::now();
        streams_.emplace(id, ex);
        note(*ex, EventKind::request_sent);
        // A sink applies backpressure: the stream's window reopens as it takes the body.
        if (ex->streaming()) (void)session_.hold_window(id);
    }

    // Request bodies are produced only while less than max_output waits for the socket;
    // on_sent() asks for more as it drains.
    void flush() {
        http2::Bytes out = session_.take_output(owner_.queued());
        if (!out.empty()) owner_.send_owned(std::move(out));
        for (const std::int32_t id : session_.take_bodies_sent())
            if (const ExchangePtr ex = find(id)) note(*ex, EventKind::request_body_sent);
        // A body source failed while DATA were made: its stream was reset just now, and its
        // closing is an event to act on here (no read may come to prompt it).
        if (upload_failed_ && !in_events_ && session_.has_events()) {
            upload_failed_ = false;
            process_events();
        }
    }

    ExchangePtr find(std::int32_t id) {
        auto it = streams_.find(id);
        return it == streams_.end() ? nullptr : it->second;
    }

    void process_events() {
        in_events_ = true;
        struct Done {
            bool& flag;
            ~Done() { flag = false; }
        } done{in_events_};
        for (auto& ev : session_.take_events()) {
            const std::int32_t id = http2::stream_of(ev);
            if (id != 0) {
                // A paused stream's body waits, and what follows it waits behind it. An error
                // ending the stream does not wait: the body will not be complete, so what
                // waits is dropped. (Trailers or the end with nothing waiting go through: the
                // sink asked for no more body, and they are none.)
                auto it = paused_.find(id);
                const auto* c = std::get_if<http2::StreamClosed>(&ev);
                if (it != paused_.end()) {
                    if (c && c->error) {
                        drop_paused(id);
                    } else {
                        it->second.push_back(std::move(ev));
                        continue;
                    }
                } else if (std::holds_alternative<http2::Data>(ev)) {
                    const ExchangePtr ex = find(id);
                    if (ex && ex->paused) {
                        paused_[id].push_back(std::move(ev));
                        continue;
                    }
                }
            }
            handle(ev);
        }
    }

    // The held events of a paused stream that will not reach its sink: their bytes still
    // reopen the connection's window.
    void drop_paused(std::int32_t id) {
        auto it = paused_.find(id);
        if (it == paused_.end()) return;
        for (const auto& e : it->second)
            if (const auto* d = std::get_if<http2::Data>(&e); d && d->held)
                session_.consume(id, d->bytes.size());
        paused_.erase(it);
    }

    // A streaming exchange whose sink ended it (abort, a throw): its stream is reset.
    void end_stream(std::int32_t id, const ExchangePtr& ex, const Error& err) {
        streams_.erase(id);
        drop_paused(id);
        (void)session_.submit_rst_stream(id, http2::h2_error::cancel);
        flush();
        owner_.complete(ex, err);
    }

    void handle(http2::Event& ev) {
        if (auto* h = std::get_if<http2::ResponseHeaders>(&ev)) {
            if (auto ex = find(h->stream_id)) {
                started(*ex);
                ex->response.status = h->status;
                ex->response.headers = std::move(h->headers);
                note(*ex, EventKind::response_headers, {}, nullptr, &ex->response);
                const auto s = session_.remote_settings();
                ex->response.info.h2_settings = H2Settings{
                    s.max_concurrent_streams, s.initial_window_size, s.max_frame_size,
                    s.max_header_list_size};
                if (ex->streaming()) {
                    Error err;
                    if (deliver_head(*ex, err) == SinkState::ended)
                        end_stream(h->stream_id, ex, err);
                } else {
                    reserve_body(*ex, max_body_);
                }
            }
        } else if (auto* d = std::get_if<http2::Data>(&ev)) {
            auto ex = find(d->stream_id);
            if (ex && !ex->body_noted && !d->bytes.empty()) {
                ex->body_noted = true;
                note(*ex, EventKind::first_body_byte);
            }
            if (!ex) {
                if (d->held) session_.consume(d->stream_id, d->bytes.size());
            } else if (ex->streaming()) {
                started(*ex);
                Error err;
                const SinkState st = deliver_body(*ex, d->bytes, err);
                if (d->held) session_.consume(d->stream_id, d->bytes.size());  // taken
                if (st == SinkState::ended) end_stream(d->stream_id, ex, err);
            } else {
                started(*ex);
                if (ex->response.body.size() + d->bytes.size() > max_body_) {
                    streams_.erase(d->stream_id);
                    (void)session_.submit_rst_stream(d->stream_id, http2::h2_error::cancel);
                    owner_.complete(ex, {net::errc::response_too_large,
                                         "response body over " + std::to_string(max_body_) +
                                             " bytes",
                                         0, "net"});
                    return;
                }
                append_body(*ex, d->bytes, max_body_);
            }
        } else if (auto* t = std::get_if<http2::Trailers>(&ev)) {
            if (auto ex = find(t->stream_id))
                for (auto& f : t->headers) ex->response.trailers.push_back(std::move(f));
        } else if (auto* c = std::get_if<http2::StreamClosed>(&ev)) {
            closed(*c);
        } else if (auto* s = std::get_if<http2::SettingsReceived>(&ev)) {
            settings_received_ = true;
            if (owner_.log().on(LogLevel::trace))
                owner_.log()(LogLevel::trace,
                             "connection " + owner_.describe() +
                                 ": server SETTINGS max_concurrent_streams=" +
                                 std::to_string(s->max_concurrent_streams));
            owner_.changed();
        } else if (auto* g = std::get_if<http2::GoawayReceived>(&ev)) {
            reusable_ = false;
            if (g->error_code == http2::h2_error::http_1_1_required) http11_goaway_ = true;
            owner_.log()(LogLevel::info,
                         "GOAWAY on connection " + owner_.describe() + ": last_stream_id=" +
                             std::to_string(g->last_stream_id) + " error=" +
                             std::string(http2::h2_error_name(g->error_code)) +
                             (g->debug_data.empty() ? "" : " \"" + g->debug_data + "\""));
            owner_.changed();  // new requests go elsewhere
        } else if (std::holds_alternative<http2::PingAcked>(ev)) {
            owner_.pinged();
        }
    }

    static void started(Exchange& ex) {
        if (!ex.response_started) {
            ex.response_started = true;
            ex.first_byte = Clock::now();
        }
    }

    void closed(const http2::StreamClosed& c) {
        auto it = streams_.find(c.stream_id);
        if (it == streams_.end()) return;
        ExchangePtr ex = it->second;
        streams_.erase(it);
        drop_paused(c.stream_id);
        if (ex->upload_error) {  // we reset it: its body source failed or lied about its length
            owner_.complete(ex, ex->upload_error);
            return;
        }
        if (c.error && !ex->response_started &&
            (c.error.code == http2::errc::http_1_1_required || http11_goaway_)) {
            http11_required(ex, c.error.code == http2::errc::http_1_1_required
                                    ? "the server refused it with RST_STREAM HTTP_1_1_REQUIRED"
                                    : goaway_http11_why());
            return;
        }
        if (!c.error) {
            fit_body(*ex);
            owner_.complete(ex, {});
            return;
        }
        if (c.retryable) {
            // The server says it did not process the stream (REFUSED_STREAM, above its GOAWAY's
            // last_stream_id). Not believed once its response has begun: a response is proof of
            // processing, so a request that is not idempotent is not sent again.
            if (!ex->response_started || ex->idempotent()) {
                owner_.retry(ex, "not processed by the server (" + c.error.message() + ")");
                return;
            }
            owner_.complete(ex, {pool::errc::not_retryable,
                                 ex->request.method + " " + ex->target +
                                     ": the server refused it after its response had begun (" +
                                     c.error.message() +
                                     "); not retried because it is not idempotent and was processed",
                                 0, "pool"});
            return;
        }
        // The server refused our client certificate (or its absence) at the TLS level: in TLS
        // 1.3 that verdict comes after our first flight, request included, but the server's
        // TLS stack judged the Certificate before any request reached HTTP. Nothing was
        // processed, and another connection would hear the same: the request ends with it.
        if (closed_error_.code == tls::errc::certificate_required) {
            owner_.complete(ex, closed_error_);
            return;
        }
        // The connection ended under a request that got no answer at all: an idempotent one
        // can go again on a fresh connection; others may have been processed.
        if ((c.error.code == http2::errc::closed || closed_error_) && !ex->response_started) {
            if (ex->idempotent()) {
                owner_.retry(ex, "the connection ended before the response started");
                return;
            }
            Error e{pool::errc::not_retryable,
                    ex->request.method + " " + ex->target +
                        ": the connection ended before any response; not retried because it is "
                        "not idempotent and may have been processed (" +
                        (closed_error_ ? closed_error_.message() : c.error.message()) + ")",
                    0, "pool"};
            owner_.complete(ex, e);
            return;
        }
        owner_.complete(ex, c.error);
    }

    // The session failed (sticky `err`): every exchange ends or goes elsewhere, the
    // connection closes once our last bytes (GOAWAY) are out.
    void end_with(const Error& err) {
        process_events();
        fail_all(err);
        reusable_ = false;
        flush();
        owner_.close_transport();
    }

    void fail_all(const Error& err) {
        auto streams = std::move(streams_);
        streams_.clear();
        paused_.clear();  // the session is over: no window to reopen
        for (auto& [id, ex] : streams) {
            (void)id;
            if (!ex->response_started && http11_goaway_) {
                http11_required(ex, goaway_http11_why());
                continue;
            }
            if (!ex->response_started && ex->idempotent()) {
                owner_.retry(ex, err.message());
                continue;
            }
            owner_.complete(ex, err);
        }
        auto held = std::move(held_);
        held_.clear();
        for (auto& ex : held) owner_.retry(ex, err.message());  // never sent
    }

    // HTTP_1_1_REQUIRED (RFC 9113 7: "use HTTP/1.1 instead"): the server refused the request
    // before processing it, so it may go again whatever its method, over HTTP/1.1 (the owner
    // asks the policy). The host is HTTP/1.1-only from now on: this connection takes no more.
    void http11_required(const ExchangePtr& ex, const std::string& why) {
        if (reusable_) {
            reusable_ = false;
            owner_.changed();
        }
        owner_.http11_required(ex, why);
    }
    static std::string goaway_http11_why() {
        return "the server sent GOAWAY HTTP_1_1_REQUIRED before answering it";
    }

    void reject(const Error& err) {
        reusable_ = false;
        std::vector<ExchangePtr> unprocessed;
        for (auto& [id, ex] : streams_) {
            (void)id;
            unprocessed.push_back(ex);
        }
        for (auto& ex : held_) unprocessed.push_back(ex);
        streams_.clear();
        held_.clear();
        paused_.clear();
        std::sort(unprocessed.begin(), unprocessed.end(),
                  [](const ExchangePtr& a, const ExchangePtr& b) { return a->started < b->started; });
        owner_.rejected(err, std::move(unprocessed));
    }

    SessionOwner& owner_;
    bool upload_failed_ = false;  // a body source failed inside take_output()
    bool in_events_ = false;      // process_events() is running
    std::size_t max_body_;
    std::uint32_t cap_;
    bool confirmed_;
    bool reusable_ = true;
    bool settings_received_ = false;
    bool http11_goaway_ = false;  // GOAWAY HTTP_1_1_REQUIRED: unanswered streams want HTTP/1.1
    Error closed_error_;
    http2::ClientSession session_;
    std::map<std::int32_t, ExchangePtr> streams_;
    std::vector<ExchangePtr> held_;
    // Streams whose sink is paused: what arrived for them since, in order (Data, Trailers,
    // the clean StreamClosed), until RequestHandle::resume().
    std::map<std::int32_t, std::deque<http2::Event>> paused_;
};

}  // namespace

std::unique_ptr<ProtoSession> make_h2_upgraded_session(SessionOwner& owner, std::size_t max_body,
                                                       std::uint32_t max_streams_cap,
                                                       const ExchangePtr& ex,
                                                       const Http2Limits& limits) {
    return std::make_unique<H2Session>(owner, max_body, max_streams_cap, limits, ex);
}

std::unique_ptr<ProtoSession> make_h2_session(SessionOwner& owner, std::size_t max_body,
                                              std::uint32_t max_streams_cap, bool unconfirmed,
                                              const Http2Limits& limits) {
    return std::make_unique<H2Session>(owner, max_body, max_streams_cap, unconfirmed, limits);
}

}  // namespace connmatrix::pool
