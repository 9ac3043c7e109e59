// HTTP/1.1 on a pooled connection: one exchange at a time (no pipelining), keep-alive reuse.
#include "session.hpp"

#include "body.hpp"
#include "executor.hpp"
#include "events.hpp"
#include "http1.hpp"
#include "http2.hpp"

#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <optional>

namespace connmatrix::pool {

namespace {

class H1Session final : public ProtoSession {
public:
    H1Session(SessionOwner& owner, std::size_t max_body, bool offer_upgrade,
              std::size_t max_interim, std::chrono::milliseconds expect_timeout)
        : owner_(owner), max_body_(max_body), max_interim_(max_interim),
          expect_timeout_(expect_timeout), offer_upgrade_(offer_upgrade) {}

    bool can_submit() const override { return !current_ && reusable_; }
    std::size_t active() const override { return current_ ? 1 : 0; }
    bool reusable() const override { return reusable_; }
    bool confirmed() const override { return true; }
    std::size_t capacity() const override { return 1; }
    // Only while an Upgrade: h2c offer is in flight: then this connection may soon carry
    // many streams. Before the offer it is plain HTTP/1.1 (a POST does not make the offer).
    bool capacity_known() const override { return !upgrading_; }

    void submit(const ExchangePtr& ex) override {
        std::vector<std::uint8_t> out;
        const auto& rq = ex->request;
        close_after_ = http1::has_token(rq.headers, "Connection", "close");
        Headers headers = rq.headers;
        // RFC 7540 3.2: offer h2c on a request without a body (its body would have to be sent
        // in full over HTTP/1.1 before the switch).
        if (offer_upgrade_ && !ex->has_body() && !close_after_ &&
            (rq.method == "GET" || rq.method == "HEAD" || rq.method == "OPTIONS")) {
            headers.push_back({"Connection", "Upgrade, HTTP2-Settings"});
            headers.push_back({"Upgrade", "h2c"});
            headers.push_back({"HTTP2-Settings", http2::upgrade_settings_value()});
            offer_upgrade_ = false;
            upgrading_ = true;
        }
        // The head is written here; the body goes out from the request itself, never copied
        // (the Exchange, which owns it, stays alive until it is written).
        // A body source: Content-Length when its length is known, else chunked.
        const bool source = ex->uploading();
        http1::RequestOptions ro;
        ro.chunked = source && !rq.body_source.length;
        const std::size_t body_size =
            source && rq.body_source.length ? static_cast<std::size_t>(*rq.body_source.length)
                                            : rq.body.size();
        Error err = http1::write_request_head(out, rq.method, ex->target, ex->authority, headers,
                                              body_size, ro);
        if (err) {
            owner_.complete(ex, err);
            return;
        }
        current_ = ex;
        pending_.clear();
        eof_fed_ = eof_pending_ = false;
        http1::ParseOptions po;
        // A sink takes the body as it comes: no limit but its own.
        po.max_body = ex->streaming() ? std::numeric_limits<std::size_t>::max() : max_body_;
        po.max_interim = max_interim_;
        parser_.emplace(rq.method, po);
        ex->sent = Clock::now();
        owner_.send_bytes(out);
        note(*ex, EventKind::request_sent);
        body_upload_ = source ? (ro.chunked ? Upload::chunked : Upload::plain) : Upload::none;
        // RFC 9110 10.1.1: the body waits for 100 Continue, a final response, or the timeout.
        expected_continue_ = false;
        if ((source || !rq.body.empty()) && expect_timeout_.count() > 0 &&
            http1::has_token(rq.headers, "Expect", "100-continue")) {
            awaiting_continue_ = expected_continue_ = true;
            owner_.after(expect_timeout_, [this, alive = alive_.token(), ex] {
                if (!alive.expired() && current_ == ex && awaiting_continue_) send_body();
            });
            return;
        }
        send_body();
    }

    // The current request's body, after its head: the buffered one at once, a source's as
    // the socket drains.
    void send_body() {
        stop_waiting();
        const ExchangePtr ex = current_;
        const auto& rq = ex->request;
        if (!rq.body.empty()) {
            owner_.send_shared({reinterpret_cast<const std::uint8_t*>(rq.body.data()),
                                rq.body.size()},
                               ex);
            note(*ex, EventKind::request_body_sent);
        }
        upload_ = std::exchange(body_upload_, Upload::none);
        pump();
    }

    // The wait for 100 Continue is over (the body goes, or never will): its timer goes too.
    void stop_waiting() {
        if (awaiting_continue_) owner_.after({}, {});
        awaiting_continue_ = false;
    }

    // The current request's body will not be sent, or no more of it.
    void drop_body() {
        upload_ = body_upload_ = Upload::none;
        stop_waiting();
    }

    // The body source's bytes go out as the socket drains: read while less than
    // kUploadRoom waits to be written.
    void on_sent() override { pump(); }

    void on_data(std::span<const std::uint8_t> bytes) override {
        if (!current_) {
            // Bytes nobody asked for: the connection is out of step, never reuse it.
            reusable_ = false;
            owner_.log()(LogLevel::debug, "connection " + owner_.describe() +
                                              ": unsolicited bytes from the server; closing");
            owner_.fail_connection({http1::errc::unsolicited_response,
                                    "the server sent " + std::to_string(bytes.size()) +
                                        " byte(s) while no request was outstanding",
                                    0, "http1"});
            return;
        }
        ExchangePtr ex = current_;
        if (!ex->response_started) {
            ex->response_started = true;
            ex->first_byte = Clock::now();
        }
        parser_->feed(bytes);
        drain(ex);
    }

    void on_closed(const Error& err) override {
        reusable_ = false;
        if (!current_) return;
        ExchangePtr ex = current_;
        // A clean close after part of a response: the parser says whether that ends it (a
        // close-delimited body) or cuts it short. A close before any byte is not the parser's
        // business: it is the keep-alive race below, or a server that closed without answering.
        if (!err && parser_->started()) {
            if (!eof_fed_) {
                eof_fed_ = true;
                parser_->feed_eof();  // may complete a close-delimited body
            }
            drain(ex);
            if (!current_) return;
            if (ex->paused) {  // its sink has body to take first: the end waits for resume()
                eof_pending_ = true;
                return;
            }
        }
        current_ = nullptr;
        pending_.clear();
        drop_body();
        if (!parser_->started() && ex->response.info.reused) {
            // A kept-alive connection the server had already closed: the classic race.
            if (ex->idempotent()) {
                owner_.retry(ex, "the server closed a reused connection before answering");
                return;
            }
            owner_.complete(ex, {pool::errc::not_retryable,
                                 ex->request.method + " " + ex->target +
                                     ": the server closed the reused connection before answering; "
                                     "not retried because it is not idempotent",
                                 0, "pool"});
            return;
        }
        Error e = err ? err
                      : Error{net::errc::connection_closed,
                              "the server closed the connection " +
                                  std::string(parser_->started() ? "in the middle of the response"
                                                                 : "without answering"),
                              0, "net"};
        owner_.complete(ex, e);
    }

    void cancel(Exchange& ex) override {
        if (current_.get() != &ex) return;
        current_ = nullptr;
        drop_body();
        reusable_ = false;
        // The only way to stop an HTTP/1.1 exchange, and at once: a graceful close would go on
        // writing the rest of a body to a server that may have stopped reading.
        owner_.abort_transport();
    }

    void shutdown() override { reusable_ = false; }

    void resume(Exchange& ex) override {
        if (current_.get() != &ex) return;
        if (ex.upload_waiting) {
            ExchangePtr p = current_;
            ex.upload_waiting = false;
            pump();
            if (current_ != p) return;
        }
        if (!ex.paused) return;
        ex.paused = false;
        ExchangePtr p = current_;
        drain(p);
        if (current_ != p || p->paused) return;
        if (eof_pending_) {
            eof_pending_ = false;
            on_closed({});
            return;
        }
        read_again();
    }

private:
    enum class Upload { none, plain, chunked };
    static constexpr std::size_t kUploadRoom = 256u << 10;  // as http2 ClientOptions::max_output
    static constexpr std::size_t kUploadPiece = 64u << 10;
    static constexpr std::size_t kChunkHead = 8;  // "10000\r\n" for a 64 KiB chunk, and room

    // Reads the body source into pieces, each its own buffer handed to the transport without
    // a copy (chunked: its size line written in front, in room left for it).
    void pump() {
        while (upload_ != Upload::none && current_ && owner_.queued() < kUploadRoom) {
            ExchangePtr ex = current_;
            if (ex->upload_waiting) return;  // until resume()
            const bool chunked = upload_ == Upload::chunked;
            // A piece's own buffer, since the transport keeps it until written; the one a
            // source with nothing ready did not fill waits for the next read.
            auto buf = spare_ ? std::move(spare_)
                              : std::make_shared<std::vector<std::uint8_t>>(kChunkHead + kUploadPiece + 7);
            std::uint8_t* data = buf->data() + kChunkHead;
            std::size_t n = 0;
            Error err;
            const SourceState st = read_source(*ex, {data, kUploadPiece}, n, err);
            if (st == SourceState::failed) {
                upload_ = Upload::none;
                fail(ex, err);  // the server has part of a body: the connection cannot go on
                return;
            }
            std::size_t begin = kChunkHead, end = kChunkHead + n;
            if (chunked && n != 0) {
                char head[kChunkHead + 1];
                const int len = std::snprintf(head, sizeof head, "%zx\r\n", n);
                begin = kChunkHead - static_cast<std::size_t>(len);
                std::memcpy(buf->data() + begin, head, static_cast<std::size_t>(len));
                (*buf)[end++] = '\r';
                (*buf)[end++] = '\n';
            }
            if (st == SourceState::end) {
                upload_ = Upload::none;
                if (chunked)
                    for (char c : std::string_view("0\r\n\r\n")) (*buf)[end++] = static_cast<std::uint8_t>(c);
            }
            if (end != begin) {
                const std::span<const std::uint8_t> piece{buf->data() + begin, end - begin};
                owner_.send_shared(piece, std::move(buf));
            } else {
                spare_ = std::move(buf);
            }
            if (st == SourceState::end) note(*ex, EventKind::request_body_sent);
            if (st == SourceState::waiting) return;  // resume() reads again
        }
    }

    // The socket is read again (a paused sink resumed, or its response ended).
    void read_again() {
        if (!reading_paused_) return;
        reading_paused_ = false;
        owner_.resume_reading();
    }

    void drain(const ExchangePtr& ex) {
        for (auto& ev : parser_->take_events()) pending_.push_back(std::move(ev));
        while (!pending_.empty()) {
            if (ex->paused && pending_.front().kind == http1::EventKind::data) {
                // Backpressure: what is parsed waits here, and the socket is not read.
                if (!reading_paused_) {
                    reading_paused_ = true;
                    owner_.pause_reading();
                }
                return;
            }
            http1::ResponseEvent ev = std::move(pending_.front());
            pending_.pop_front();
            switch (ev.kind) {
                case http1::EventKind::interim:
                    if (ev.head.status == 100) {
                        expected_continue_ = false;
                        if (awaiting_continue_) {
                            send_body();
                            if (current_ != ex) return;
                        }
                    }
                    break;
                case http1::EventKind::head:
                    if (ev.head.status == 101 && !upgrade_accepted(ev.head.headers)) {
                        fail(ex, {http1::errc::unsolicited_upgrade,
                                  upgrading_
                                      ? "101 Switching Protocols to " +
                                            upgrade_named(ev.head.headers) +
                                            ", but only h2c was offered"
                                      : "101 Switching Protocols (to " +
                                            upgrade_named(ev.head.headers) + ") to " +
                                            ex->request.method + " " + ex->target +
                                            ", which offered no upgrade",
                                  0, "http1"});
                        return;
                    }
                    if (expected_continue_) {
                        // A final status without a 100 (417, 401, 413...): the body is not
                        // sent if it still waited; either way the server, which may still wait
                        // for it or may not have read what went on the timeout, gets no other
                        // request here.
                        const bool withheld = awaiting_continue_;
                        expected_continue_ = false;
                        if (withheld) drop_body();  // upload_ is none: nothing of it went
                        reusable_ = false;
                        close_after_ = true;
                        owner_.log()(LogLevel::debug,
                                     "connection " + owner_.describe() + ": " +
                                         std::to_string(ev.head.status) + " to " +
                                         ex->request.method + " " + ex->target +
                                         " without 100 Continue" +
                                         (withheld ? "; the body is not sent" : "") +
                                         "; the connection closes after the response");
                    }
                    ex->response.status = ev.head.status;
                    ex->response.headers = std::move(ev.head.headers);
                    note(*ex, EventKind::response_headers, {}, nullptr, &ex->response);
                    if (ex->streaming()) {
                        Error err;
                        if (deliver_head(*ex, err) == SinkState::ended) {
                            fail(ex, err);
                            return;
                        }
                    } else {
                        reserve_body(*ex, max_body_);
                    }
                    break;
                case http1::EventKind::data:
                    if (!ex->body_noted && !ev.data.empty()) {
                        ex->body_noted = true;
                        note(*ex, EventKind::first_body_byte);
                    }
                    if (ex->streaming()) {
                        Error err;
                        if (deliver_body(*ex, ev.data, err) == SinkState::ended) {
                            fail(ex, err);
                            return;
                        }
                    } else {
                        append_body(*ex, ev.data, max_body_);
                    }
                    break;
                case http1::EventKind::trailers:
                    for (auto& h : ev.trailers) ex->response.trailers.push_back(std::move(h));
                    break;
                case http1::EventKind::complete: break;
            }
        }
        if (parser_->status() == http1::Status::failed) {
            Error e = parser_->error();
            if (e.code == http1::errc::body_too_large)
                e = {net::errc::response_too_large, e.detail, 0, "net"};
            fail(ex, e);
            return;
        }
        if (parser_->status() != http1::Status::complete) {
            if (ex->paused && !reading_paused_) {  // no more until resume()
                reading_paused_ = true;
                owner_.pause_reading();
            }
            return;
        }
        current_ = nullptr;
        read_again();  // for the next response, if the connection is kept
        fit_body(*ex);
        if (upgrading_) {
            upgrading_ = false;
            if (ex->response.status == 101) {
                ex->response.status = 0;
                ex->response.headers.clear();
                reusable_ = false;
                owner_.upgraded(ex, parser_->take_leftover());  // replaces this session
                return;
            }
            owner_.log()(LogLevel::debug, "connection " + owner_.describe() +
                                              ": the server did not accept Upgrade: h2c; staying on HTTP/1.1");
        }
        // Complete before its request was (a 413 to an upload, RFC 9112 9.3): the response is
        // delivered, the rest of the body is not sent, and the connection is not reused (the
        // server would read what is left of the body as the next request). Only a body can be
        // left: a server that answered a bodyless request has read all of it, though our
        // write's completion may not have been seen yet (the read can come first).
        const bool unsent = (!ex->request.body.empty() && owner_.sending()) ||
                            upload_ != Upload::none;
        upload_ = Upload::none;
        if (unsent) {
            reusable_ = false;
            owner_.log()(LogLevel::debug, "connection " + owner_.describe() +
                                              ": response complete before the request was sent; "
                                              "not sending the rest, closing");
            owner_.abort_transport();  // before complete(): it may close the transport gracefully
            owner_.complete(ex, {});
            return;
        }
        const bool keep = parser_->keep_alive() && !close_after_ && !parser_->has_leftover();
        if (!keep) reusable_ = false;
        owner_.complete(ex, {});
        if (!keep) owner_.close_transport();
    }

    void fail(const ExchangePtr& ex, const Error& e) {
        current_ = nullptr;
        drop_body();
        pending_.clear();
        reusable_ = false;
        owner_.abort_transport();  // nothing more is worth sending on it
        owner_.complete(ex, e);
    }

    // A 101 is the answer to our Upgrade: h2c offer, and only that (RFC 9110 15.2.2: a server
    // MUST NOT switch to a protocol the client did not name).
    bool upgrade_accepted(const Headers& headers) const {
        return upgrading_ && http1::has_token(headers, "upgrade", "h2c");
    }
    static std::string upgrade_named(const Headers& headers) {
        const Header* u = http1::find_header(headers, "upgrade");
        return u ? "\"" + u->value.substr(0, 64) + "\"" : std::string("no Upgrade header");
    }

    SessionOwner& owner_;
    std::size_t max_body_;
    std::size_t max_interim_;
    ExchangePtr current_;
    std::optional<http1::ResponseParser> parser_;
    std::deque<http1::ResponseEvent> pending_;  // parsed, not yet given to a paused sink
    bool reading_paused_ = false;  // we asked the owner to stop reading for a paused sink
    bool eof_fed_ = false;         // the parser has seen the end of the stream
    bool eof_pending_ = false;     // the stream ended while the sink was paused
    bool reusable_ = true;
    bool close_after_ = false;
    std::chrono::milliseconds expect_timeout_;
    bool awaiting_continue_ = false;      // Expect: 100-continue, the body not sent yet
    bool expected_continue_ = false;      // the current request asked for a 100, none came yet
    Upload body_upload_ = Upload::none;   // the source's framing once the body may go
    net::Alive alive_;  // for after()'s callback
    bool offer_upgrade_ = false;
    bool upgrading_ = false;
    Upload upload_ = Upload::none;  // the current request's body source is still being read
    std::shared_ptr<std::vector<std::uint8_t>> spare_;  // a piece's buffer nothing was read into
};

}  // namespace

std::unique_ptr<ProtoSession> make_h1_session(SessionOwner& owner, std::size_t max_body,
                                              bool offer_upgrade, std::size_t max_interim,
                                              std::chrono::milliseconds expect_timeout) {
    return std::make_unique<H1Session>(owner, max_body, offer_upgrade, max_interim, expect_timeout);
}

}  // namespace connmatrix::pool
