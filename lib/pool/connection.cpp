#include "pool.hpp"

namespace connmatrix::pool {

namespace {

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out.empty() ? "(none: no ALPN extension)" : "[" + out + "]";
}

std::string rule_text(const policy::ResolvedPolicy& rp) {
    if (const auto* r = rp.rule()) return "hosts[" + std::to_string(r->index) + "] (" + r->pattern + ")";
    return "defaults";
}

}  // namespace

Connection::Connection(Pool& pool, Host& host, bool force_http1, std::size_t id)
    : pool_(pool), host_(host), force_http1_(force_http1), id_(id),
      judge_(negotiate::attempt_policy(host.policy->policy, force_http1)),
      idle_timer_(pool.io()), confirm_timer_(pool.io()) {}

Connection::~Connection() = default;

const Logger& Connection::log() const { return pool_.log(); }

std::string Connection::describe() const {
    std::string s = "#" + std::to_string(id_);
    if (state_ != State::connecting) s += " " + std::string(to_string(info_.protocol));
    s += " " + (info_.remote_address.empty() ? host_.policy->origin.to_string()
                                             : info_.remote_address);
    return s;
}

bool Connection::likely_multiplexed() const noexcept {
    return negotiate::may_speak_h2(judge_, negotiate::transport_of(host_.policy->origin.scheme));
}

void Connection::start() {
    const auto& rp = *host_.policy;
    const auto& p = rp.policy;
    info_.mode = std::string(policy::to_string(p.mode));
    info_.rule = rule_text(rp);
    transport_ = std::make_shared<net::Transport>(pool_.io());
    std::optional<net::Endpoint> proxy;
    if (p.proxy) proxy = net::Endpoint{p.proxy->host, p.proxy->port};
    if (log().on(LogLevel::debug))
        log()(LogLevel::debug,
              "connect #" + std::to_string(id_) + " to " + rp.origin.to_string() +
                  (proxy ? " through proxy " + proxy->to_string() : std::string()) +
                  (force_http1_ ? " (HTTP/1.1: fallback remembered)" : std::string()));
    auto self = shared_from_this();
    transport_->connect({rp.origin.host, rp.origin.port}, proxy, p.timeouts.connect,
                        [self](const Error& err) { self->on_connected(err); });
}

void Connection::on_connected(const Error& err) {
    if (state_ == State::closed) return;
    if (err) {
        fail_connect(err);
        return;
    }
    const auto& rp = *host_.policy;
    const auto& p = rp.policy;
    info_.remote_address = transport_->remote_address();
    if (p.proxy && log().on(LogLevel::debug))
        log()(LogLevel::debug, "proxy tunnel to " + rp.origin.to_string() + " open via " +
                                   p.proxy->to_string());
    if (rp.origin.scheme == policy::Scheme::http) {
        on_negotiated(negotiate::decide(judge_, negotiate::Transport::cleartext,
                                        negotiate::AlpnOutcome::none()));
        return;
    }
    Error cerr;
    auto ctx = pool_.tls_context(host_.backend, p, force_http1_, cerr);
    if (!ctx) {
        fail_connect(cerr);
        return;
    }
    offered_ = ctx->config().alpn;
    tls::ClientSessionParams params;
    params.host = rp.origin.host;
    switch (p.tls.sni.kind) {
        case policy::Sni::Kind::host: break;
        case policy::Sni::Kind::none: params.sni = std::string(); break;
        case policy::Sni::Kind::name: params.sni = p.tls.sni.name; break;
    }
    if (p.tls.resumption) params.resume = host_.tls_session;
    auto session = ctx->new_session(params, cerr);
    if (!session) {
        fail_connect(cerr);
        return;
    }
    // Known before the handshake: a failure from here on still reports them.
    info_.backend = std::string(session->backend_name());
    info_.alpn_offered = offered_;
    if (log().on(LogLevel::debug))
        log()(LogLevel::debug, "TLS " + std::string(session->backend_name()) + " #" +
                                   std::to_string(id_) + ": ALPN offered " + join(offered_));
    auto self = shared_from_this();
    transport_->handshake(std::move(session), p.timeouts.tls,
                          [self](const Error& e) { self->on_handshake(e); });
}

void Connection::on_handshake(const Error& err) {
    if (state_ == State::closed) return;
    info_.timings.dns = transport_->dns_time;
    info_.timings.connect = transport_->connect_time;
    info_.timings.tls = transport_->tls_time;
    if (err) {
        fail_connect(err);
        return;
    }
    tls::Session& s = *transport_->tls();
    const tls::SessionInfo ti = s.info();
    info_.backend = ti.backend;
    info_.alpn_offered = offered_;
    info_.alpn_selected = ti.alpn;
    info_.tls_version = std::string(tls::to_string(ti.version));
    info_.cipher = ti.cipher;
    info_.resumed = ti.resumed;
    info_.verified = ti.verified;
    if (auto exported = s.export_session(); !exported.empty()) host_.tls_session = exported;
    if (log().on(LogLevel::debug))
        log()(LogLevel::debug, "TLS #" + std::to_string(id_) + " " + info_.tls_version + " " +
                                   info_.cipher + ", ALPN selected " +
                                   ti.alpn.value_or("none") +
                                   (ti.resumed.value_or(false) ? ", resumed" : ""));
    on_negotiated(negotiate::decide(judge_, negotiate::Transport::tls,
                                    negotiate::AlpnOutcome::from_selected(ti.alpn)));
}

void Connection::on_negotiated(const negotiate::Decision& d) {
    decision_ = d;
    if (!d.ok()) {
        // The handshake worked but the policy forbids what came of it: say which rule.
        Error e = d.to_error();
        e.detail += " [" + info_.rule + ", mode " + info_.mode + "]";
        transport_->close();
        fail_connect(e);
        return;
    }
    info_.protocol = d.protocol == negotiate::Protocol::h2 ? Protocol::h2 : Protocol::http1_1;
    info_.decision = d.reason;
    info_.fallback = force_http1_;
    const auto& p = host_.policy->policy;
    if (log().on(LogLevel::info))
        log()(LogLevel::info, "connection " + describe() + ": " + std::string(to_string(info_.protocol)) +
                                  " (" + d.reason + "; " + info_.rule + ", mode " + info_.mode + ")");
    if (info_.protocol == Protocol::h2)
        proto_ = make_h2_session(*this, pool_.max_response_body(), p.pool.max_concurrent_streams,
                                 !d.confirmed());
    else
        proto_ = make_h1_session(*this, pool_.max_response_body(),
                                 d.basis == negotiate::Basis::h2c_upgrade);
    const net::Transport* t = transport_.get();
    info_.timings.dns = t->dns_time;
    info_.timings.connect = t->connect_time;
    info_.timings.tls = t->tls_time;
    state_ = State::ready;
    ready_at_ = Clock::now();
    auto self = shared_from_this();
    std::weak_ptr<Connection> weak = self;
    transport_->start(
        [weak](std::span<const std::uint8_t> bytes) {
            if (auto c = weak.lock(); c && c->proto_) c->proto_->on_data(bytes);
        },
        [weak](const Error& e) {
            if (auto c = weak.lock()) c->on_transport_closed(e);
        });
    if (info_.protocol == Protocol::h2 && !d.confirmed()) {
        // Prior knowledge: give the server as long as a TLS handshake to show it speaks h2.
        const auto wait = p.timeouts.tls;
        confirm_timer_.expires_after(wait);
        confirm_timer_.async_wait([weak, wait](const asio::error_code& ec) {
            if (ec) return;
            auto c = weak.lock();
            if (c && c->state_ == State::ready && c->proto_ && !c->proto_->confirmed())
                c->proto_->confirmation_overdue(wait);
        });
    }
    if (state_ == State::ready) pool_.connection_ready(*this);
    arm_idle_timer();
}

void Connection::fail_connect(const Error& err) {
    if (state_ == State::closed) return;
    state_ = State::closed;
    log()(LogLevel::info, "connection #" + std::to_string(id_) + " to " +
                              host_.policy->origin.to_string() + " failed: " + err.message());
    auto self = shared_from_this();
    pool_.connection_failed(*this, err, false, {});
}

bool Connection::can_submit() const {
    return state_ == State::ready && proto_ && proto_->reusable() && proto_->can_submit();
}

bool Connection::idle() const { return state_ == State::ready && proto_ && proto_->active() == 0; }

std::size_t Connection::active() const { return proto_ ? proto_->active() : 0; }

void Connection::submit(const ExchangePtr& ex) {
    idle_timer_.cancel();
    ex->connection = weak_from_this();
    ++ex->attempts;
    ex->response.info = info_;
    // Reused: another request went first, or the connection was ready before this one was
    // asked for (warm()). Then connect and handshake cost it nothing.
    ex->response.info.reused = served_ > 0 || ex->started >= ready_at_;
    if (ex->response.info.reused) ex->response.info.timings = {};
    ++served_;
    proto_->submit(ex);
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
    asio::post(pool_.io(), [weak] {
        auto c = weak.lock();
        if (!c || c->state_ != State::ready) return;
        c->pool_.dispatch(c->host_);
        if (c->state_ == State::ready && c->proto_ && c->proto_->active() == 0) {
            c->idle_since_ = Clock::now();
            c->arm_idle_timer();
        }
    });
}

void Connection::send_bytes(std::span<const std::uint8_t> bytes) {
    // Everything produced during one turn of the event loop (e.g. many requests dispatched
    // together) goes out as one TLS write: fewer records, fewer syscalls.
    out_pending_.insert(out_pending_.end(), bytes.begin(), bytes.end());
    if (flush_posted_) return;
    flush_posted_ = true;
    std::weak_ptr<Connection> weak = weak_from_this();
    asio::post(pool_.io(), [weak] {
        auto c = weak.lock();
        if (!c) return;
        c->flush_posted_ = false;
        if (c->transport_ && !c->out_pending_.empty()) c->transport_->send(c->out_pending_);
        c->out_pending_.clear();
    });
}

void Connection::complete(const ExchangePtr& ex, Error err) {
    auto self = shared_from_this();
    // TLS 1.3 tickets arrive after the handshake: by the first complete response they are
    // here. Export once then (serialising a session on every response costs real time).
    if (auto* s = transport_ ? transport_->tls() : nullptr;
        s && !ticket_saved_ && host_.policy->policy.tls.resumption) {
        ticket_saved_ = true;
        if (auto exported = s->export_session(); !exported.empty())
            host_.tls_session = std::move(exported);
    }
    pool_.finish(ex, std::move(err));
    if (state_ == State::ready) pool_.dispatch(host_);
    if (state_ == State::ready && proto_ && proto_->active() == 0) {
        // Idle now. Keep at most max_idle_per_host idle connections to this host.
        std::size_t idle = 0;
        for (const auto& c : host_.connections) idle += c->idle() ? 1 : 0;
        if (idle > host_.policy->policy.pool.max_idle_per_host) {
            log()(LogLevel::debug, "closing idle connection " + describe() +
                                       ": more than max_idle_per_host=" +
                                       std::to_string(host_.policy->policy.pool.max_idle_per_host));
            proto_->shutdown();
            close_transport();
            return;
        }
        idle_since_ = Clock::now();
        arm_idle_timer();
    }
}

void Connection::retry(const ExchangePtr& ex, const std::string& why) {
    log()(LogLevel::debug, "retrying " + ex->request.method + " " + ex->target + " on another connection: " + why);
    pool_.requeue(host_, ex, true);
    // Dispatch later: the caller is inside its own bookkeeping. The requeued exchange must go
    // on even when this connection is closing, so the pool dispatches, not the connection.
    Host* host = &host_;
    Pool* pool = &pool_;
    asio::post(pool_.io(), [host, pool] { pool->dispatch(*host); });
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
        pool_.connection_failed(*this, err, true, std::move(unprocessed));
        return;
    }
    Error e = err;
    e.detail += " [h2 not confirmed by ALPN and fallback is none: " + info_.rule + ", mode " + info_.mode + "]";
    for (auto& ex : unprocessed) pool_.finish(ex, e);
    pool_.connection_failed(*this, e, false, {});
}

void Connection::changed() {
    auto self = shared_from_this();
    if (state_ == State::ready) pool_.dispatch(host_);
}

void Connection::upgraded(const ExchangePtr& ex, std::vector<std::uint8_t> rest) {
    auto self = shared_from_this();
    // The HTTP/1.1 session is on the stack below us: retire it, drop it later.
    retired_ = std::move(proto_);
    proto_ = make_h2_upgraded_session(*this, pool_.max_response_body(),
                                      host_.policy->policy.pool.max_concurrent_streams, ex);
    info_.protocol = Protocol::h2;
    info_.decision = "upgraded from HTTP/1.1 to h2c (101 Switching Protocols)";
    ex->response.info.protocol = Protocol::h2;
    ex->response.info.decision = info_.decision;
    log()(LogLevel::info, "connection " + describe() + ": " + info_.decision);
    std::weak_ptr<Connection> weak = self;
    asio::post(pool_.io(), [weak] {
        if (auto c = weak.lock()) c->retired_.reset();
    });
    if (!rest.empty()) proto_->on_data(rest);
    if (state_ == State::ready) pool_.dispatch(host_);
}

void Connection::flush_now() {
    if (transport_ && !out_pending_.empty()) transport_->send(out_pending_);
    out_pending_.clear();
}

void Connection::close_transport() {
    flush_now();
    if (transport_) transport_->close();
    if (state_ == State::closed) return;
    state_ = State::closed;
    std::weak_ptr<Connection> weak = weak_from_this();
    Pool* pool = &pool_;
    // Report after the caller's stack unwinds (it may be our own session).
    asio::post(pool_.io(), [weak, pool] {
        if (auto c = weak.lock()) pool->connection_closed(*c);
    });
}

void Connection::on_transport_closed(const Error& err) {
    auto self = shared_from_this();
    if (state_ == State::closed && !proto_) return;
    if (log().on(LogLevel::debug))
        log()(LogLevel::debug, "connection " + describe() + " closed" +
                                   (err ? ": " + err.message() : std::string(" by the server")));
    if (proto_) proto_->on_closed(err);
    if (state_ != State::closed) {
        state_ = State::closed;
        pool_.connection_closed(*this);
    }
}

void Connection::arm_idle_timer() {
    if (state_ != State::ready || !proto_ || proto_->active() != 0) return;
    const auto idle = host_.policy->policy.timeouts.idle;
    idle_timer_.expires_after(idle);
    std::weak_ptr<Connection> weak = weak_from_this();
    idle_timer_.async_wait([weak, idle](const asio::error_code& ec) {
        if (ec) return;
        auto c = weak.lock();
        if (!c || c->state_ != State::ready || !c->proto_ || c->proto_->active() != 0) return;
        c->log()(LogLevel::debug, "idle-expired: connection " + c->describe() + " unused for " +
                                      policy::format_duration(idle));
        c->proto_->shutdown();
        c->close_transport();
    });
}

void Connection::shutdown() {
    if (proto_) proto_->shutdown();
}

void Connection::close() {
    idle_timer_.cancel();
    if (proto_) proto_->shutdown();
    flush_now();
    if (transport_) transport_->close();
    state_ = State::closed;
}

}  // namespace connmatrix::pool
