#include "connection.hpp"

#include "http2.hpp"

#include <connmatrix/errors/pool.hpp>

#include <algorithm>

namespace connmatrix::pool {

Connection::Connection(const net::Executor& ex, const Logger& log, ConnectionEvents& events,
                       ConnectionSetup setup)
    : ex_(ex), log_(log), events_(events), id_(setup.id), key_(std::move(setup.key)),
      policy_(std::move(setup.policy)), max_body_(setup.max_response_body),
      transport_(std::move(setup.transport)), decision_(std::move(setup.decision)),
      info_(std::move(setup.info)), idle_timer_(ex), confirm_timer_(ex), ping_timer_(ex),
      age_timer_(ex), keepalive_timer_(ex),
      max_interim_(setup.max_interim_responses), expect_timeout_(setup.expect_continue_timeout),
      session_timer_(ex), h2_limits_(setup.h2_limits),
      observer_(setup.observer), early_(std::move(setup.early)),
      early_sent_(std::move(setup.early_sent)) {}

std::string Connection::end_reason() const {
    if (!closing_why_.empty()) return closing_why_;
    if (end_error_) return end_error_.message();
    return "closed by the client";
}

// Still open when its pool goes (on a caller's executor, which keeps running): it hangs up
// (close_notify, as close() does) rather than leave the socket reading for ever.
Connection::~Connection() {
    if (transport_ && transport_->is_open()) transport_->close();
}

std::string Connection::describe() const {
    return "#" + std::to_string(id_) + " " + std::string(to_string(info_.protocol)) + " " +
           (info_.remote_address.empty() ? policy_->origin.to_string() : info_.remote_address);
}

void Connection::start() {
    const auto& p = policy();
    const negotiate::Decision& d = decision_;
    if (log().on(LogLevel::info))
        log()(LogLevel::info, "connection " + describe() + ": " + std::string(to_string(info_.protocol)) +
                                  " (" + d.reason + "; " + info_.rule + ", mode " + info_.mode + ")");
    if (info_.protocol == Protocol::h2)
        proto_ = make_h2_session(*this, max_body_, p.pool.max_concurrent_streams, !d.confirmed(),
                                 h2_limits_);
    else
        proto_ = make_h1_session(*this, max_body_, d.basis == negotiate::Basis::h2c_upgrade,
                                 max_interim_, expect_timeout_);
    ready_at_ = Clock::now();
    if (observer_ && *observer_)
        observer_->connection(EventKind::negotiated, id_, &info_, info_.decision);
    auto self = shared_from_this();
    if (auto ex = std::move(early_)) {
        // Before anything is read: the server's answer to it may be here already. (What the
        // server accepted is skipped as the session writes it, within submit().)
        const bool accepted = !early_sent_.empty();
        const Clock::time_point written = ex->sent;
        submit(ex);
        ex->early = accepted;
        ex->response.info.early = accepted;
        // Sent with the ClientHello: its first byte is timed from then, not from now.
        if (accepted && written != Clock::time_point{}) ex->sent = written;
    }
    std::weak_ptr<Connection> weak = self;
    transport_->on_sent([weak] {
        if (auto c = weak.lock(); c && c->proto_) c->proto_->on_sent();
    });
    transport_->start(
        [weak](std::span<const std::uint8_t> bytes) {
            if (auto c = weak.lock(); c && c->proto_) c->proto_->on_data(bytes);
        },
        [weak](const Error& e) {
            if (auto c = weak.lock()) c->on_transport_closed(e);
        });
    if (info_.protocol == Protocol::h2) {
        // Give the server as long as a TLS handshake to send its SETTINGS: by prior knowledge
        // they show it speaks h2; after ALPN h2 they must come first all the same.
        const auto wait = p.timeouts.tls;
        confirm_timer_.expires_after(wait);
        confirm_timer_.async_wait([weak, wait](const asio::error_code& ec) {
            if (ec) return;
            auto c = weak.lock();
            if (c && c->state_ == State::ready && c->proto_ && !c->proto_->capacity_known())
                c->proto_->confirmation_overdue(wait);
        });
    }
    arm_idle_timer();
    arm_age_timer();
}

bool Connection::can_submit() const {
    return state_ == State::ready && !probing_ && !aged_ && proto_ && proto_->reusable() &&
           proto_->can_submit();
}

bool Connection::check_before_reuse() {
    if (probing_) return false;
    if (!idle() || !proto_->reusable()) return true;
    if (info_.protocol != Protocol::h2) {
        // Only a connection that has carried a request: what a new one has to read (a TLS
        // alert such as certificate_required, session tickets) is the normal read path's, and
        // closing it here would turn the server's alert into a silent reconnect.
        if (served_ == 0 || !transport_->readable_now()) return true;
        log()(LogLevel::debug, "connection " + describe() +
                                   " is readable while idle: the server closed it; not reused");
        close_transport();
        return false;
    }
    const auto interval = policy().pool.ping_interval;
    if (interval.count() <= 0 || Clock::now() - idle_since_ <= interval) return true;
    return !probe("idle longer than " + policy::format_duration(interval) + " before reusing it");
}

bool Connection::probe(const std::string& why) {
    if (probing_ || !proto_ || !proto_->ping()) return false;
    probing_ = true;
    keepalive_timer_.cancel();
    const auto wait = policy().pool.ping_timeout;
    log()(LogLevel::debug, "PING on connection " + describe() + ": " + why);
    ping_timer_.expires_after(wait);
    std::weak_ptr<Connection> weak = weak_from_this();
    ping_timer_.async_wait([weak, wait](const asio::error_code& ec) {
        if (ec) return;
        auto c = weak.lock();
        if (!c || !c->probing_ || c->state_ != State::ready) return;
        c->log()(LogLevel::info, "connection " + c->describe() + ": PING unanswered for " +
                                     policy::format_duration(wait) + "; closing it");
        c->closing_why_ = "PING unanswered for pool.ping_timeout " + policy::format_duration(wait);
        c->proto_->shutdown();
        c->close_transport();
    });
    return true;
}

// An idle h2 connection is PINGed every pool.ping_interval, so that one the server or a
// middlebox dropped in silence is closed while idle (after ping_timeout), not found dead by
// the next request. Each ACK starts the interval again; a request on it stops the timer.
void Connection::arm_keepalive() {
    const auto interval = policy().pool.ping_interval;
    if (interval.count() <= 0 || info_.protocol != Protocol::h2 || probing_) return;
    keepalive_timer_.expires_after(interval);
    std::weak_ptr<Connection> weak = weak_from_this();
    keepalive_timer_.async_wait([weak, interval](const asio::error_code& ec) {
        if (ec) return;
        auto c = weak.lock();
        if (!c || !c->idle() || c->aged_) return;
        (void)c->probe("idle for " + policy::format_duration(interval) + " (keepalive)");
    });
}

void Connection::pinged() {
    if (!probing_) return;
    probing_ = false;
    ping_timer_.cancel();
    idle_since_ = Clock::now();
    log()(LogLevel::debug, "PING acknowledged on connection " + describe());
    if (idle()) arm_keepalive();
    if (state_ == State::ready) events_.changed(*this);
}

bool Connection::idle() const { return state_ == State::ready && proto_ && proto_->active() == 0; }

std::size_t Connection::active() const { return proto_ ? proto_->active() : 0; }

void Connection::submit(const ExchangePtr& ex) {
    idle_timer_.cancel();
    keepalive_timer_.cancel();
    ex->connection = weak_from_this();
    ex->connection_id = id_;
    ++ex->attempts;
    ex->response.info = info_;
    // Reused: another request went first, or the connection was ready before this one was
    // asked for (warm()). Then connect and handshake cost it nothing.
    ex->response.info.reused = served_ > 0 || ex->started >= ready_at_;
    if (ex->response.info.reused) {
        ex->response.info.timings = {};
        note(*ex, EventKind::connection_reused);
    }
    ++served_;
    proto_->submit(ex);
}

void Connection::resume(Exchange& ex) {
    if (proto_) proto_->resume(ex);
}

void Connection::after(std::chrono::milliseconds delay, std::function<void()> f) {
    if (!f) {
        session_timer_.cancel();
        return;
    }
    session_timer_.expires_after(delay);
    std::weak_ptr<Connection> weak = weak_from_this();
    session_timer_.async_wait([weak, f = std::move(f)](const asio::error_code& ec) {
        if (ec) return;
        if (auto c = weak.lock(); c && c->state_ == State::ready) f();
    });
}

void Connection::pause_reading() {
    if (transport_) transport_->pause_reading();
}

void Connection::resume_reading() {
    if (transport_) transport_->resume_reading();
}

void Connection::cancel(Exchange& ex) {
    if (!proto_) return;
    proto_->cancel(ex);
    after_slot_freed();
}

// A stream slot came free without a completed exchange (timeout, retry elsewhere): the
// queue may go on, later, once the caller's bookkeeping is done; and an empty connection
// starts its idle clock.
void Connection::after_slot_freed() {
    std::weak_ptr<Connection> weak = weak_from_this();
    asio::post(ex_, [weak] {
        auto c = weak.lock();
        if (!c || c->state_ != State::ready) return;
        c->events_.changed(*c);
        c->arm_idle_timer();
    });
}

// The session writes the early-data request as it would any request; what the server accepted
// as early data is already there, so that prefix is dropped here, after checking it is the same
// (one code path made both). A difference would put the two out of step: the connection ends.
std::span<const std::uint8_t> Connection::skip_early(std::span<const std::uint8_t> bytes) {
    if (early_matched_ == early_sent_.size()) return bytes;
    const std::size_t n = std::min(bytes.size(), early_sent_.size() - early_matched_);
    const auto from = early_sent_.begin() + static_cast<std::ptrdiff_t>(early_matched_);
    if (!std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n), from)) {
        early_sent_.clear();
        early_matched_ = 0;
        const Error err{pool::errc::early_data_mismatch,
                        "connection " + describe() +
                            ": the request sent as early data differs from the one the session "
                            "wrote after the handshake",
                        0, "pool"};
        log()(LogLevel::error, err.message());
        transport_->abort();
        std::weak_ptr<Connection> weak = weak_from_this();
        asio::post(ex_, [weak, err] {
            if (auto c = weak.lock()) c->on_transport_closed(err);
        });
        return {};
    }
    early_matched_ += n;
    if (early_matched_ == early_sent_.size()) {
        early_sent_ = {};
        early_matched_ = 0;
    }
    return bytes.subspan(n);
}

void Connection::send_bytes(std::span<const std::uint8_t> bytes) {
    bytes = skip_early(bytes);
    if (bytes.empty()) return;
    // Everything produced during one turn of the event loop (e.g. many requests dispatched
    // together) goes out as one TLS write: fewer records, fewer syscalls.
    out_pending_.insert(out_pending_.end(), bytes.begin(), bytes.end());
    post_flush();
}

void Connection::send_owned(std::vector<std::uint8_t> bytes) {
    if (!early_sent_.empty()) {
        send_bytes(bytes);
        return;
    }
    if (out_pending_.empty())
        out_pending_ = std::move(bytes);
    else
        out_pending_.insert(out_pending_.end(), bytes.begin(), bytes.end());
    post_flush();
}

std::size_t Connection::queued() const { return out_pending_.size() + transport_->queued_bytes(); }

void Connection::post_flush() {
    if (flush_posted_ || out_pending_.empty()) return;
    flush_posted_ = true;
    std::weak_ptr<Connection> weak = weak_from_this();
    asio::post(ex_, [weak] {
        auto c = weak.lock();
        if (!c) return;
        c->flush_posted_ = false;
        c->flush_now();
    });
}

void Connection::complete(const ExchangePtr& ex, Error err) {
    auto self = shared_from_this();
    // TLS 1.3 tickets arrive after the handshake: by the first complete response they are
    // here. Export once then (serialising a session on every response costs real time).
    if (auto* s = transport_->tls(); s && !ticket_saved_ && policy().tls.resumption) {
        ticket_saved_ = true;
        if (auto exported = s->export_session(); !exported.empty())
            events_.tls_session(*this, std::move(exported));
    }
    events_.finish(*this, ex, std::move(err));
    if (state_ == State::ready) events_.changed(*this);
    if (state_ == State::ready && proto_ && proto_->active() == 0) {
        if (!events_.keep_idle(*this)) {
            log()(LogLevel::debug, "closing idle connection " + describe() +
                                       ": more than max_idle_per_host=" +
                                       std::to_string(policy().pool.max_idle_per_host));
            closing_why_ = "more idle connections than pool.max_idle_per_host";
            proto_->shutdown();
            close_transport();
            return;
        }
        arm_idle_timer();
    }
}

void Connection::retry(const ExchangePtr& ex, const std::string& why) {
    log()(LogLevel::debug, "retrying " + ex->request.method + " " + ex->target + " on another connection: " + why);
    // The owner sends it on later: it must go on even when this connection is closing.
    events_.requeue(*this, ex, why);
    if (state_ == State::ready) after_slot_freed();
}

void Connection::rejected(const Error& err, std::vector<ExchangePtr> unprocessed) {
    auto self = shared_from_this();
    if (state_ == State::closed) return;
    state_ = State::closed;
    out_pending_.clear();  // nothing more for a server that rejected the protocol
    transport_->close();
    if (decision_.fallback_allowed) {
        log()(LogLevel::info, "connection " + describe() + ": h2 (" + decision_.reason +
                                  ") rejected by the server: " + err.message() +
                                  "; falling back to HTTP/1.1");
        events_.failed(*this, err, true, std::move(unprocessed));
        return;
    }
    Error e = err;
    e.detail += " [h2 not confirmed by ALPN and fallback is none: " + info_.rule + ", mode " + info_.mode + "]";
    for (auto& ex : unprocessed) events_.finish(*this, ex, e);
    events_.failed(*this, e, false, {});
}

void Connection::changed() {
    auto self = shared_from_this();
    if (state_ == State::ready) events_.changed(*this);
}

void Connection::upgraded(const ExchangePtr& ex, std::vector<std::uint8_t> rest) {
    auto self = shared_from_this();
    // The HTTP/1.1 session is on the stack below us: retire it, drop it later.
    retired_ = std::move(proto_);
    proto_ = make_h2_upgraded_session(*this, max_body_, policy().pool.max_concurrent_streams, ex,
                                      h2_limits_);
    info_.protocol = Protocol::h2;
    info_.decision = "upgraded from HTTP/1.1 to h2c (101 Switching Protocols)";
    ex->response.info.protocol = Protocol::h2;
    ex->response.info.decision = info_.decision;
    log()(LogLevel::info, "connection " + describe() + ": " + info_.decision);
    std::weak_ptr<Connection> weak = self;
    asio::post(ex_, [weak] {
        if (auto c = weak.lock()) c->retired_.reset();
    });
    if (!rest.empty()) proto_->on_data(rest);
    if (state_ == State::ready) events_.changed(*this);
}

void Connection::flush_now() {
    // Handed over, not copied: the buffer's capacity goes with it (a large h2 body would
    // otherwise stay allocated here for the connection's lifetime).
    if (!out_pending_.empty()) transport_->send_owned(std::exchange(out_pending_, {}));
}

void Connection::send_shared(std::span<const std::uint8_t> bytes,
                             std::shared_ptr<const void> owner) {
    bytes = skip_early(bytes);
    if (bytes.empty()) return;
    flush_now();  // what was queued before goes first
    transport_->send_shared(bytes, std::move(owner));
}

bool Connection::sending() const { return !out_pending_.empty() || transport_->sending(); }

void Connection::fail_connection(const Error& why) {
    if (!end_error_) end_error_ = why;
    close_transport();
}

void Connection::close_transport() {
    flush_now();
    transport_->close();
    report_closed();
}

void Connection::http11_required(const ExchangePtr& ex, const std::string& why) {
    auto self = shared_from_this();
    std::string refusal = negotiate::http11_retry_refusal(
        policy(), negotiate::transport_of(policy_->origin.scheme));
    if (refusal.empty() && ex->http11_required) refusal = "it was retried over HTTP/1.1 once already";
    if (!refusal.empty()) {
        complete(ex, {http2::errc::http_1_1_required,
                      ex->request.method + " " + ex->target + ": " + why +
                          "; not retried over HTTP/1.1: " + refusal + " [" + info_.rule +
                          ", mode " + info_.mode + "]",
                      http2::h2_error::http_1_1_required, "http2"});
        return;
    }
    log()(LogLevel::info, "connection " + describe() + ": " + why + "; " + ex->request.method +
                              " " + ex->target + " goes again over HTTP/1.1");
    ex->http11_required = true;
    ex->fallback = true;  // its next connection is HTTP/1.1, even when nothing is remembered
    events_.http11_required(*this, ex, why);
    if (state_ == State::ready) after_slot_freed();
}

void Connection::abort_transport() {
    out_pending_.clear();
    transport_->abort();
    report_closed();
}

void Connection::report_closed() {
    if (state_ == State::closed) return;
    state_ = State::closed;
    // Report after the caller's stack unwinds (it may be our own session).
    std::weak_ptr<Connection> weak = weak_from_this();
    asio::post(ex_, [weak] {
        if (auto c = weak.lock()) c->events_.closed(*c);
    });
}

void Connection::on_transport_closed(const Error& err) {
    auto self = shared_from_this();
    if (state_ == State::closed && !proto_) return;
    if (!end_error_)
        end_error_ = err ? err
                         : Error{net::errc::connection_closed, "the server closed the connection",
                                 0, "net"};
    if (log().on(LogLevel::debug))
        log()(LogLevel::debug, "connection " + describe() + " closed" +
                                   (err ? ": " + err.message() : std::string(" by the server")));
    if (proto_) proto_->on_closed(err);
    if (state_ != State::closed) {
        state_ = State::closed;
        events_.closed(*this);
    }
}

void Connection::arm_idle_timer() {
    if (state_ != State::ready || !proto_ || proto_->active() != 0) return;
    if (aged_) {  // past its age, and the last request on it is done: no idle life
        log()(LogLevel::debug, "connection " + describe() +
                                   ": past max_connection_age and idle now; closing");
        closing_why_ = "older than pool.max_connection_age";
        close_transport();
        return;
    }
    idle_since_ = Clock::now();
    if (served_ != 0 && observer_ && *observer_)
        observer_->connection(EventKind::connection_idle, id_, &info_);
    arm_keepalive();
    const auto idle = policy().timeouts.idle;
    idle_timer_.expires_after(idle);
    std::weak_ptr<Connection> weak = weak_from_this();
    idle_timer_.async_wait([weak, idle](const asio::error_code& ec) {
        if (ec) return;
        auto c = weak.lock();
        if (!c || c->state_ != State::ready || !c->proto_ || c->proto_->active() != 0) return;
        c->log()(LogLevel::debug, "idle-expired: connection " + c->describe() + " unused for " +
                                      policy::format_duration(idle));
        c->closing_why_ = "idle for timeouts.idle " + policy::format_duration(idle);
        c->proto_->shutdown();
        c->close_transport();
    });
}

// pool.max_connection_age (Envoy's max_connection_duration, gRPC's MAX_CONNECTION_AGE): a
// graceful recycle. The protocol's goodbye goes out now (h2 GOAWAY NO_ERROR: the streams on it
// go on; HTTP/1.1: no next request), and the close once it is idle.
void Connection::arm_age_timer() {
    const auto age = policy().pool.max_connection_age;
    if (age.count() <= 0) return;
    age_timer_.expires_after(age);
    std::weak_ptr<Connection> weak = weak_from_this();
    age_timer_.async_wait([weak, age](const asio::error_code& ec) {
        if (ec) return;
        auto c = weak.lock();
        if (!c || c->state_ != State::ready || !c->proto_) return;
        c->aged_ = true;
        c->log()(LogLevel::debug, "connection " + c->describe() + " is older than max_connection_age " +
                                      policy::format_duration(age) + ": no new requests on it; " +
                                      std::to_string(c->active()) + " in flight finish first");
        c->proto_->shutdown();
        if (c->active() == 0) {
            c->arm_idle_timer();  // which closes an aged connection with nothing on it
            return;
        }
        c->events_.changed(*c);  // waiting requests may need a connection of their own now
    });
}

void Connection::shutdown() {
    if (proto_) proto_->shutdown();
    // Idle: nothing to wait for, so the protocol's goodbye (h2 GOAWAY) is followed by the close
    // itself, as when the idle timer expires. HTTP/1.1 has no goodbye: without the close the
    // connection stayed open, unusable, until timeouts.idle.
    if (state_ == State::ready && active() == 0) close_transport();
}

void Connection::close() {
    idle_timer_.cancel();
    session_timer_.cancel();
    age_timer_.cancel();
    keepalive_timer_.cancel();
    confirm_timer_.cancel();
    ping_timer_.cancel();
    if (proto_) proto_->shutdown();
    flush_now();
    transport_->close();
    const bool was_open = state_ != State::closed;
    state_ = State::closed;
    // Not reported to the pool (it is closing it), but to an observer all the same.
    if (was_open && observer_ && *observer_)
        observer_->connection(EventKind::connection_closed, id_, &info_,
                              closing_why_.empty() ? "the Client closed it" : closing_why_);
}

}  // namespace connmatrix::pool
