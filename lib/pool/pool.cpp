#include "pool.hpp"
#include "body.hpp"


#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>

namespace connmatrix::pool {

namespace {

// A reconnect_backoff of 0 would let connections that end at once loop as fast as they fail.
constexpr std::chrono::milliseconds min_reconnect_backoff{10};

std::chrono::microseconds us(Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d);
}

// A SessionOwner that keeps what a session writes and nothing else: the early data request is
// written by a session of the kind the connection will have, so that the connection's own
// session, writing the same request after the handshake, produces the same bytes.
class Recorder final : public SessionOwner {
public:
    explicit Recorder(const Logger& log) : log_(log) {}
    std::vector<std::uint8_t> bytes;
    bool failed = false;  // the session could not write the request

    void send_bytes(std::span<const std::uint8_t> b) override { bytes.insert(bytes.end(), b.begin(), b.end()); }
    void send_owned(std::vector<std::uint8_t> b) override { send_bytes(b); }
    void send_shared(std::span<const std::uint8_t> b, std::shared_ptr<const void>) override { send_bytes(b); }
    std::size_t queued() const override { return 0; }
    bool sending() const override { return false; }
    void complete(const ExchangePtr&, Error) override { failed = true; }
    void retry(const ExchangePtr&, const std::string&) override { failed = true; }
    void rejected(const Error&, std::vector<ExchangePtr>) override { failed = true; }
    void http11_required(const ExchangePtr&, const std::string&) override { failed = true; }
    void upgraded(const ExchangePtr&, std::vector<std::uint8_t>) override { failed = true; }
    void fail_connection(const Error&) override { failed = true; }
    void changed() override {}
    void close_transport() override {}
    void abort_transport() override {}
    void after(std::chrono::milliseconds, std::function<void()>) override {}  // bodyless only
    const Logger& log() const override { return log_; }
    std::string describe() const override { return "(early data)"; }

private:
    const Logger& log_;
};

std::size_t session_hash(const std::vector<std::uint8_t>& s) {
    return std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(s.data()), s.size()));
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
}

}  // namespace

bool Exchange::idempotent() const noexcept {
    const auto& m = request.method;
    return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" ||
           m == "DELETE";
}

std::string pool_key(const policy::ResolvedPolicy& rp) {
    const auto& o = rp.origin;
    const auto& p = rp.policy;
    std::ostringstream k;
    k << policy::to_string(o.scheme) << "://" << o.host << ":" << o.port;
    if (o.scheme == policy::Scheme::https) {
        k << "|backend=" << p.backend << "|alpn=" << join(p.alpn)
          << "|no_alpn=" << policy::to_string(p.no_alpn)
          << "|verify=" << p.tls.verify << "|ca=" << p.tls.ca_file
          << "|min=" << policy::to_string(p.tls.min_version)
          << "|max=" << policy::to_string(p.tls.max_version)
          << "|sni=" << static_cast<int>(p.tls.sni.kind) << ":" << p.tls.sni.name
          << "|resume=" << p.tls.resumption << "|early=" << p.tls.early_data << ":"
          << join(p.tls.early_data_methods);
        for (const auto& pin : p.tls.pin) k << "|pin=" << pin;
        if (!p.tls.client.empty())
            k << "|cert=" << p.tls.client.cert << "|key=" << p.tls.client.key
              << "|pass=" << p.tls.client.key_password_file << ":" << p.tls.client.key_password_env;
    } else {
        k << "|cleartext=" << policy::to_string(p.cleartext);
    }
    k << "|fallback=" << policy::to_string(p.fallback)
      << "|on_http11_required=" << policy::to_string(p.on_http11_required);
    k << "|proxy=" << (p.proxy ? p.proxy->to_string() : "direct");
    // Where the bytes go: a connection made for one target is no connection to another.
    if (p.connect_to) k << "|connect_to=" << p.connect_to->host << ":" << p.connect_to->port;
    if (!p.resolve.empty()) k << "|resolve=" << join(p.resolve);
    return k.str();
}

// =============================================================================================
// Pool

Pool::Pool(const net::Executor& ex, Logger log, const ClientOptions& options)
    : ex_(ex), log_(std::move(log)), max_body_(options.max_response_body),
      max_interim_(options.max_interim_responses),
      expect_timeout_(options.expect_continue_timeout),
      max_connect_failures_(std::max(1u, options.max_connect_failures)),
      reconnect_backoff_(std::max(options.reconnect_backoff, min_reconnect_backoff)), h2_limits_(options.h2), connector_(ex, log_, options.keylog_file, options.dns),
      observer_(options.on_event) {}

// On a caller's executor the loop outlives the pool: a connect it started must not go on and
// answer into it (its handlers, like every other here, find alive_ gone).
Pool::~Pool() {
    for (auto& [key, host] : hosts_) {
        (void)key;
        cancel_connects(*host);
    }
}

void Pool::cancel_connects(Host& host) {
    for (auto& o : std::exchange(host.opening, {})) o.attempt->cancel();
}

Host& Pool::host_for(const Route& route) {
    auto& slot = hosts_[route.key];
    if (!slot) {
        slot = std::make_unique<Host>();
        slot->key = route.key;
        slot->policy = route.policy;
        slot->backend = route.backend;
        slot->stats = origin_stats(route.policy->origin);
        HostMemory::Entry known = memory_.take(route.key);
        slot->http1_until = known.http1_until;
        slot->tls_session = std::move(known.tls_session);
    }
    return *slot;
}

// Once the caller's stack has unwound (it may hold the Host), a Host that is still unused goes,
// and what it learnt that still matters is remembered.
void Pool::evict_if_unused(Host& host) {
    if (host.sweep_posted) return;
    std::erase_if(host.waiting, [](const ExchangePtr& e) { return e->finished; });
    if (!host.unused()) return;
    host.sweep_posted = true;
    asio::post(ex_, [this, alive = alive(), key = host.key] {
        if (alive.expired()) return;
        const auto it = hosts_.find(key);
        if (it == hosts_.end()) return;
        Host& h = *it->second;
        h.sweep_posted = false;
        std::erase_if(h.waiting, [](const ExchangePtr& e) { return e->finished; });
        if (!h.unused()) return;
        HostMemory::Entry known;
        known.http1_until = h.http1_until;
        if (h.policy->policy.tls.resumption) known.tls_session = std::move(h.tls_session);
        memory_.keep(key, std::move(known), Clock::now());
        hosts_.erase(it);
    });
}

Host* Pool::find_host(const std::string& key) {
    const auto it = hosts_.find(key);
    return it == hosts_.end() ? nullptr : it->second.get();
}

Host* Pool::host_of(const Connection& c, std::vector<std::shared_ptr<Connection>>::iterator* entry) {
    Host* host = find_host(c.key());
    if (!host) return nullptr;
    auto& v = host->connections;
    const auto it = std::find_if(v.begin(), v.end(), [&](const auto& p) { return p.get() == &c; });
    if (it == v.end()) return nullptr;
    if (entry) *entry = it;
    return host;
}

void Pool::submit(const ExchangePtr& ex) {
    if (closing_ && !on_drained_) {
        // close() already finished: nothing runs any more.
        finish(ex, {pool::errc::client_closed, "the client is closed", 0, "pool"});
        return;
    }
    live_.emplace(ex.get(), ex);
    ex->observer = &observer_;
    ex->id = ++request_ids_;
    note(*ex, EventKind::request_queued);
    arm_deadline(ex);
    Host& host = host_for(ex->route);
    if (log_.on(LogLevel::debug))
        log_(LogLevel::debug, "checkout " + ex->request.method + " " + ex->origin.to_string() +
                                  ex->target + " (rule " +
                                  (ex->route.policy->rule() ? "hosts[" +
                                                            std::to_string(ex->route.policy->rule()->index) +
                                                            "] " + ex->route.policy->rule()->pattern
                                                      : std::string("defaults")) +
                                  ", mode " + std::string(policy::to_string(ex->route.policy->policy.mode)) +
                                  ")");
    ex->origin_stats = host.stats;
    host.waiting.push_back(ex);
    dispatch(host);
}

namespace {
// Where a request was when it ended early (timeout, deadline, cancel), for its error's text.
const char* phase_of(const Exchange& ex) {
    return ex.response_started ? "while receiving the response"
           : ex.sent != Clock::time_point{} ? "waiting for the response"
                                            : "before the request was sent";
}
}  // namespace

void Pool::arm_deadline(const ExchangePtr& ex) {
    const auto timeout = ex->request.timeout.value_or(ex->route.policy->policy.timeouts.request);
    // Request::deadline, when it comes before the timeout, is the one that ends it.
    const auto by_timeout = ex->started + timeout;
    const bool by_deadline = ex->request.deadline && *ex->request.deadline < by_timeout;
    ex->deadline = std::make_unique<asio::steady_timer>(
        ex_, by_deadline ? *ex->request.deadline : by_timeout);
    std::weak_ptr<Exchange> weak = ex;
    ex->deadline->async_wait([this, alive = alive(), weak, timeout, by_deadline](const asio::error_code& ec) {
        if (ec || alive.expired()) return;
        auto ex = weak.lock();
        if (!ex || ex->finished) return;
        Error err{net::errc::request_timeout,
                  "no complete response from " + ex->origin.to_string() +
                      (by_deadline ? std::string(" by the request's deadline")
                                   : " within " + std::to_string(timeout.count()) + " ms") +
                      " (" + phase_of(*ex) + ")",
                  0, "net"};
        if (auto c = ex->connection.lock()) c->cancel(*ex);
        finish(ex, err);
    });
}

void Pool::cancel(const ExchangePtr& ex) {
    if (ex->finished) return;  // answered already: nothing to undo
    Error err{pool::errc::cancelled,
              ex->request.method + " " + ex->origin.to_string() + ex->target + " cancelled (" +
                  phase_of(*ex) + ")",
              0, "pool"};
    if (auto c = ex->connection.lock()) c->cancel(*ex);  // h2: RST_STREAM CANCEL; HTTP/1.1: closed
    // Waiting for a connection (or again, after a retry): out of the queue now. A connect
    // started for it goes on: it is paid for in part, and its connection serves the next
    // request (what Go's net/http does with a dial whose request went away).
    Host* host = find_host(ex->route.key);
    if (host) std::erase(host->waiting, ex);
    finish(ex, err);
    if (host) evict_if_unused(*host);
}

void Pool::resume(const ExchangePtr& ex) {
    if (ex->finished || !(ex->paused || ex->upload_waiting)) return;
    if (auto c = ex->connection.lock())
        c->resume(*ex);
    else
        ex->paused = ex->upload_waiting = false;
}

bool Pool::http1_remembered(const Host& host) const {
    return host.http1_until != Clock::time_point{} && Clock::now() < host.http1_until;
}

void Pool::remember_http1(Host& host, const std::string& why) {
    host.http1_until = Clock::now() + host.policy->policy.remember;
    host.http1_why = why;
    ++stats_.fallbacks;
    if (OriginStats* os = host.stats) ++os->counters.fallbacks;
    if (observer_) {
        Event e;
        e.kind = EventKind::fallback;
        e.detail = why;
        const std::string url = host.policy->origin.to_string();
        e.url = url;
        observer_.emit(e);
    }
    log_(LogLevel::info, "fallback taken: " + host.policy->origin.to_string() +
                             " is remembered as HTTP/1.1-only for " +
                             policy::format_duration(host.policy->policy.remember) + " (" + why +
                             ")");
}

void Pool::dispatch(Host& host) {
    std::erase_if(host.waiting, [](const ExchangePtr& e) { return e->finished; });

    // 1. Ready connections with room take waiting exchanges. A copy: submitting can call back
    //    into dispatch() (a request refused at once) or close connections.
    const auto connections = host.connections;
    for (const auto& c : connections) {
        if (!host.waiting.empty() && !c->check_before_reuse()) continue;
        while (!host.waiting.empty() && c->can_submit()) {
            ExchangePtr ex = host.waiting.front();
            host.waiting.pop_front();
            if (log_.on(LogLevel::trace))
                log_(LogLevel::trace, "checked out connection " + c->describe() + " for " +
                                          ex->request.method + " " + ex->target);
            c->submit(ex);
            host.wasted = 0;  // a connection carries requests again
        }
    }
    if (host.waiting.empty() || (closing_ && !on_drained_)) return;

    // 2. Open connections for the rest, within the per-host limit. A connection that will
    //    probably multiplex (h2) serves everyone waiting: no second handshake.
    for (const auto& c : host.connections) {
        // h2 before the server's SETTINGS, or an h2c upgrade offer in flight: its stream limit
        // is not known yet, wait for it.
        if (c->state() == Connection::State::ready && !c->capacity_known() && !c->can_submit())
            return;
    }
    std::size_t pending_capacity = 0;
    for (const auto& o : host.opening) {
        if (o.may_multiplex) {
            if (log_.on(LogLevel::trace))
                log_(LogLevel::trace, std::to_string(host.waiting.size()) +
                                          " request(s) waiting for in-flight connect #" +
                                          std::to_string(o.id) + " to " +
                                          host.policy->origin.to_string());
            return;
        }
        ++pending_capacity;
    }
    if (backing_off(host)) return;
    const std::size_t max_conns = std::max<std::uint32_t>(1, host.policy->policy.pool.max_connections_per_host);
    // One draining past max_connection_age takes no request: it holds no place in the limit.
    auto counted = [&host] {
        return static_cast<std::size_t>(std::count_if(
                   host.connections.begin(), host.connections.end(),
                   [](const auto& c) { return !c->draining(); })) +
               host.opening.size();
    };
    while (host.waiting.size() > pending_capacity && counted() < max_conns) {
        open_connection(host);
        if (host.opening.back().may_multiplex) return;
        ++pending_capacity;
    }
    if (host.waiting.size() > pending_capacity && log_.on(LogLevel::debug))
        log_(LogLevel::debug, std::to_string(host.waiting.size() - pending_capacity) +
                                  " request(s) queued: " + std::to_string(max_conns) +
                                  " connection(s) to " + host.policy->origin.to_string() +
                                  " busy (max_connections_per_host)");
}

// Later, once the caller's bookkeeping is done; by key, since the host may be gone by then.
void Pool::dispatch_later(const std::string& key) {
    asio::post(ex_, [this, alive = alive(), key] {
        if (alive.expired()) return;
        if (Host* host = find_host(key)) {
            dispatch(*host);
            evict_if_unused(*host);
        }
    });
}

void Pool::open_connection(Host& host) {
    Host::Opening o;
    o.id = ++connection_ids_;
    // A request h2 was just rejected under goes over HTTP/1.1 next, even when the fallback is
    // not remembered (remember "0s"): otherwise it would try h2 again until its attempts ran out.
    o.http1_forced = http1_remembered(host) ||
                     std::any_of(host.waiting.begin(), host.waiting.end(),
                                 [](const ExchangePtr& e) { return e->fallback && !e->finished; });
    const auto& rp = *host.policy;
    o.may_multiplex = negotiate::may_speak_h2(negotiate::attempt_policy(rp.policy, o.http1_forced),
                                              negotiate::transport_of(rp.origin.scheme));
    ConnectTarget target;
    target.policy = host.policy;
    target.backend = host.backend;
    target.http1_forced = o.http1_forced;
    // Each stored session is offered once: TLS 1.3 tickets should not be reused (RFC 8446
    // C.4: reuse links connections); every connection stores the one it was given next.
    target.resume = std::exchange(host.tls_session, {});
    target.id = o.id;
    target.observer = &observer_;
    if (rp.policy.tls.early_data && rp.origin.scheme == policy::Scheme::https &&
        rp.policy.tls.resumption && !target.resume.empty()) {
        const std::size_t ticket = session_hash(target.resume);
        if (std::find(host.early_spent.begin(), host.early_spent.end(), ticket) !=
            host.early_spent.end()) {
            if (log_.on(LogLevel::debug))
                log_(LogLevel::debug, "connect #" + std::to_string(o.id) +
                                          ": no early data: this TLS session carried early data once");
        } else {
            target.early = [this, alive = alive(), key = host.key, id = o.id, ticket](
                               const std::optional<std::string>& alpn, std::size_t capacity) {
                if (alive.expired()) return std::vector<std::uint8_t>{};
                return early_payload(key, id, ticket, alpn, capacity);
            };
        }
    }
    ++stats_.connections_opened;
    o.attempt = connector_.connect(std::move(target), [this, alive = alive(), key = host.key, id = o.id](Connected c) {
        if (!alive.expired()) on_connect_done(key, id, std::move(c));
    });
    host.opening.push_back(std::move(o));
}

std::vector<std::uint8_t> Pool::early_payload(const std::string& key, std::size_t id,
                                              std::size_t ticket,
                                              const std::optional<std::string>& alpn,
                                              std::size_t capacity) {
    Host* host = find_host(key);
    if (!host) return {};
    const auto o = std::find_if(host->opening.begin(), host->opening.end(),
                                [id](const Host::Opening& x) { return x.id == id; });
    if (o == host->opening.end() || closing_) return {};
    const auto& rp = *host->policy;
    // What the connection speaks if the server takes the early data: a server accepting it
    // selects the protocol of the resumed session, the first of our offer.
    negotiate::Decision d = negotiate::decide(
        negotiate::attempt_policy(rp.policy, o->http1_forced), negotiate::Transport::tls,
        negotiate::AlpnOutcome::from_selected(alpn));
    if (!d.ok()) return {};
    const auto& methods = rp.policy.tls.early_data_methods;
    const auto it = std::find_if(host->waiting.begin(), host->waiting.end(), [&](const ExchangePtr& e) {
        return !e->finished && !e->too_early && !e->fallback && !e->http11_required &&
               !e->has_body() &&
               std::find(methods.begin(), methods.end(), e->request.method) != methods.end();
    });
    if (it == host->waiting.end()) return {};
    const ExchangePtr ex = *it;
    Recorder rec(log_);
    {
        std::unique_ptr<ProtoSession> s =
            d.protocol == negotiate::Protocol::h2
                ? make_h2_session(rec, max_body_, rp.policy.pool.max_concurrent_streams,
                                  !d.confirmed(), h2_limits_)
                : make_h1_session(rec, max_body_, false, max_interim_, expect_timeout_);
        // Only recorded here: its request_sent is told when its connection sends it.
        const Observer* observer = std::exchange(ex->observer, nullptr);
        s->submit(ex);
        ex->observer = observer;
    }
    const Clock::time_point written = ex->sent;  // when it leaves, if it does: now
    ex->sent = {};
    if (rec.failed || rec.bytes.empty()) return {};
    if (rec.bytes.size() > capacity) {
        if (log_.on(LogLevel::debug))
            log_(LogLevel::debug, "connect #" + std::to_string(id) + ": " + ex->request.method +
                                      " " + ex->target + " is " + std::to_string(rec.bytes.size()) +
                                      " bytes, over the ticket's early data limit of " +
                                      std::to_string(capacity) + ": sent after the handshake");
        return {};
    }
    host->waiting.erase(it);
    ex->sent = written;
    o->early = ex;
    o->early_bytes = rec.bytes;
    o->early_protocol = d.protocol;
    host->early_spent.push_back(ticket);
    if (host->early_spent.size() > 16) host->early_spent.pop_front();
    if (log_.on(LogLevel::debug))
        log_(LogLevel::debug, ex->request.method + " " + ex->origin.to_string() + ex->target +
                                  " goes as early data on connect #" + std::to_string(id));
    return std::move(rec.bytes);
}

// A connect answered: decide what to speak, and start a Connection, or fail.
void Pool::on_connect_done(const std::string& key, std::size_t id, Connected c) {
    Host* found = find_host(key);
    auto it = found ? std::find_if(found->opening.begin(), found->opening.end(),
                                   [id](const Host::Opening& o) { return o.id == id; })
                    : std::vector<Host::Opening>::iterator{};
    if (!found || it == found->opening.end()) {
        if (c.transport) c.transport->close();
        return;
    }
    Host& host = *found;
    const bool forced = it->http1_forced;
    ExchangePtr early = std::move(it->early);
    std::vector<std::uint8_t> early_bytes = std::move(it->early_bytes);
    const negotiate::Protocol early_protocol = it->early_protocol;
    host.opening.erase(it);
    // A request taken for early data that did not go, or a connect that failed: it waits with
    // the others, first, as it was (it is idempotent: sending it again is safe either way).
    const auto put_back = [&] {
        if (early && !early->finished) {
            early->sent = {};  // not sent, or not on a connection that goes on
            host.waiting.push_front(early);
        }
        early = nullptr;
    };
    if (!c.early_written) put_back();
    const auto& rp = *host.policy;
    Error err = std::move(c.error);
    negotiate::Decision d;
    if (!err) {
        if (rp.policy.tls.resumption && !c.tls_session.empty())
            host.tls_session = std::move(c.tls_session);
        const auto transport = negotiate::transport_of(rp.origin.scheme);
        d = negotiate::decide(negotiate::attempt_policy(rp.policy, forced), transport,
                              transport == negotiate::Transport::tls
                                  ? negotiate::AlpnOutcome::from_selected(c.info.alpn_selected)
                                  : negotiate::AlpnOutcome::none());
        if (!d.ok()) {
            // The handshake worked but the policy forbids what came of it: say which rule.
            err = d.to_error();
            err.detail += " [" + c.info.rule + ", mode " + c.info.mode + "]";
            c.transport->close();
        }
    }
    const bool early_accepted = early && c.info.early_data == EarlyData::accepted;
    if (!err && early_accepted && (early->finished || d.protocol != early_protocol)) {
        // The server has the early request and answers it on this connection. Finished
        // meanwhile (timed out): nobody reads that answer, so the connection goes unused.
        // Another protocol selected: TLS libraries refuse that (RFC 8446 4.2.10), were one to
        // let it through, what was sent cannot be continued.
        c.transport->close();
        if (early->finished) {
            log_(LogLevel::debug, "connection #" + std::to_string(id) +
                                      ": closed unused, its early data request ended meanwhile");
            dispatch(host);
            settle_warmers(host);
            return;
        }
        err = {pool::errc::early_data_mismatch,
               "the server accepted early data written for " +
                   std::string(early_protocol == negotiate::Protocol::h2 ? "h2" : "http/1.1") +
                   " and then selected ALPN " + c.info.alpn_selected.value_or("(none)"),
               0, "pool"};
    }
    if (err) {
        put_back();
        log_(LogLevel::info, "connection #" + std::to_string(id) + " to " + rp.origin.to_string() +
                                 " failed: " + err.message());
        connection_failed(host, err, false, {}, c.info);
        return;
    }
    c.info.protocol = d.protocol == negotiate::Protocol::h2 ? Protocol::h2 : Protocol::http1_1;
    c.info.decision = d.reason;
    if (forced && !host.http1_why.empty())
        c.info.decision += " (HTTP/1.1 forced: " + host.http1_why + ")";
    c.info.fallback = forced;
    ConnectionSetup setup;
    setup.id = id;
    setup.key = host.key;
    setup.policy = host.policy;
    setup.transport = std::move(c.transport);
    setup.decision = std::move(d);
    setup.info = std::move(c.info);
    setup.max_response_body = max_body_;
    setup.max_interim_responses = max_interim_;
    setup.expect_continue_timeout = expect_timeout_;
    setup.h2_limits = h2_limits_;
    setup.observer = &observer_;
    if (early && !early->finished) {
        setup.early = std::move(early);
        if (early_accepted) setup.early_sent = std::move(early_bytes);
    }
    if (OriginStats* os = host.stats)
        ++(setup.info.protocol == Protocol::h2 ? os->counters.h2_connections
                                                : os->counters.http1_connections);
    auto conn = std::make_shared<Connection>(ex_, log_, *this, std::move(setup));
    host.connections.push_back(conn);
    conn->start();
    if (conn->state() != Connection::State::ready) return;  // closed at once: already reported
    dispatch(host);
    settle_warmers(host);
}

// warm() calls are answered once no connect is in flight: ready if any connection is.
void Pool::settle_warmers(Host& host) {
    if (!host.warmers.empty() && host.opening.empty()) {
        const bool any_ready = std::any_of(host.connections.begin(), host.connections.end(),
                                           [](const auto& c) {
                                               return c->state() == Connection::State::ready;
                                           });
        auto warmers = std::move(host.warmers);
        host.warmers.clear();
        const Error err = any_ready ? Error{} : host.last_error;
        for (auto& w : warmers) w(err);
    }
    evict_if_unused(host);
}

void Pool::connection_failed(Host& host, const Error& err, bool h2_rejected,
                             std::vector<ExchangePtr> unprocessed, const ConnectionInfo& info) {
    host.last_error = err;
    const bool carried = !unprocessed.empty();
    if (h2_rejected) {
        remember_http1(host, err.message());
        for (auto it = unprocessed.rbegin(); it != unprocessed.rend(); ++it) {
            (*it)->fallback = true;
            requeue(host, *it, err.message());
        }
    } else {
        for (auto it = unprocessed.rbegin(); it != unprocessed.rend(); ++it)
            requeue(host, *it, err.message());
        // No ready connection can serve the waiting requests: they share this failure (the
        // connects still in flight most likely fail the same way). Opening another connection
        // for them here would retry a refused port or a bad certificate in a tight loop.
        const bool any_ready = std::any_of(host.connections.begin(), host.connections.end(),
                                           [](const auto& p) {
                                               return p->state() == Connection::State::ready;
                                           });
        if (!any_ready) {
            auto waiting = std::move(host.waiting);
            host.waiting.clear();
            for (auto& ex : waiting) {
                // What the failed attempt learnt (backend, ALPN, TLS version, rule, timings),
                // for the caller's diagnostics: see Result in client.hpp.
                if (ex->response.info.rule.empty()) ex->response.info = info;
                finish(ex, err);
            }
        }
    }
    if (!carried) connection_wasted(host, err);
    dispatch(host);
    settle_warmers(host);
}

// The exchange goes back to the front of its host's queue, unless it has been sent on three
// connections already.
void Pool::requeue(Host& host, const ExchangePtr& ex, std::string_view why) {
    if (ex->finished) return;
    ex->connection.reset();
    if (ex->body_delivered) {
        // Whatever the server says about processing it: its sink has had part of a body, and
        // another attempt would give it the start of the body again.
        finish(ex, {pool::errc::not_retryable,
                    ex->request.method + " " + ex->target + " to " + ex->origin.to_string() +
                        ": its connection ended after part of the response body had gone to the "
                        "body sink (Request::on_body); not sent again",
                    0, "pool"});
        return;
    }
    if (Error err; !rewind_source(*ex, err)) {
        finish(ex, std::move(err));
        return;
    }
    if (ex->attempts >= 3) {
        finish(ex, {pool::errc::retries_exhausted,
                    ex->request.method + " " + ex->target + ": sent on " +
                        std::to_string(ex->attempts) + " connections to " +
                        ex->origin.to_string() +
                        " and not processed on any (GOAWAY, REFUSED_STREAM or closed before "
                        "answering); giving up",
                    0, "pool"});
        return;
    }
    ++stats_.retries;
    if (OriginStats* os = host.stats) ++os->counters.retries;
    note(*ex, EventKind::retry, why);
    ex->connection_id = 0;
    ex->early = false;  // where it goes next, it goes after the handshake
    // Whatever an earlier attempt received is not this attempt's response.
    ex->response.status = 0;
    ex->response.headers.clear();
    ex->response.body.clear();
    ex->response_started = false;
    ex->first_byte = {};
    host.waiting.push_front(ex);
}

void Pool::finish(const ExchangePtr& ex, Error err) {
    if (ex->finished) return;
    ex->finished = true;
    ex->connection.reset();
    if (ex->deadline) ex->deadline->cancel();
    ex->canceller.reset();  // a later cancel finds nothing to do
    const auto now = Clock::now();
    auto& t = ex->response.info.timings;
    t.total = us(now - ex->started);
    if (ex->first_byte != Clock::time_point{} && ex->sent != Clock::time_point{})
        t.first_byte = us(ex->first_byte - ex->sent);
    ex->response.info.fallback = ex->response.info.fallback || ex->fallback;
    ++stats_.requests;
    if (OriginStats* os = ex->origin_stats) {
        ++os->counters.requests;
        if (err) {
            ++os->counters.errors;
            ++os->errors[std::string(err.code.category().name())];
        } else {
            constexpr std::size_t window = 1024;
            if (os->totals.size() < window) os->totals.push_back(t.total);
            else os->totals[os->next] = t.total;
            os->next = (os->next + 1) % window;
        }
    }
    live_.erase(ex.get());
    Result r;
    r.error = std::move(err);
    if (r.error) {
        log_(LogLevel::debug, ex->request.method + " " + ex->origin.to_string() + ex->target +
                                  " failed: " + r.error.message());
        ConnectionInfo info = std::move(ex->response.info);
        r.response = {};
        r.response.info = std::move(info);
    } else {
        r.response = std::move(ex->response);
    }
    note(*ex, EventKind::request_done, {}, r.error ? &r.error : nullptr, &r.response);
    if (auto done = std::exchange(ex->done, nullptr)) done(std::move(r));
    maybe_drained();
}

// --- ConnectionEvents ----------------------------------------------------------------------

void Pool::finish(Connection&, const ExchangePtr& ex, Error err) {
    if (!err && ex->early && ex->response.status == 425 && !ex->too_early) {
        // 425 Too Early (RFC 8470 5.2): the server would not act on it as early data. Once
        // more, after the handshake (on any connection), and never as early data again.
        ex->too_early = true;
        log_(LogLevel::info, ex->request.method + " " + ex->origin.to_string() + ex->target +
                                 ": 425 Too Early for the request sent as early data; sending it "
                                 "again without early data");
        Host& host = host_for(ex->route);
        requeue(host, ex, "425 Too Early: again without early data");
        dispatch_later(host.key);
        return;
    }
    finish(ex, std::move(err));
}

void Pool::requeue(Connection&, const ExchangePtr& ex, const std::string& why) {
    Host& host = host_for(ex->route);
    requeue(host, ex, why);
    // Later: the connection is inside its own bookkeeping, and may be closing.
    dispatch_later(host.key);
}

void Pool::http11_required(Connection&, const ExchangePtr& ex, const std::string& why) {
    Host& host = host_for(ex->route);
    remember_http1(host, why);
    requeue(host, ex, why);
    dispatch_later(host.key);
}

void Pool::failed(Connection& c, const Error& err, bool fallback,
                  std::vector<ExchangePtr> unprocessed) {
    std::vector<std::shared_ptr<Connection>>::iterator entry;
    Host* host = host_of(c, &entry);
    if (!host) {
        for (auto& ex : unprocessed) finish(ex, err);
        return;
    }
    const std::shared_ptr<Connection> keep = *entry;  // c stays alive until we return
    host->connections.erase(entry);
    if (observer_) {
        const std::string why = c.end_reason();
        observer_.connection(EventKind::connection_closed, c.id(), &c.info(), why);
    }
    connection_failed(*host, err, fallback, std::move(unprocessed), c.info());
}

void Pool::closed(Connection& c) {
    std::vector<std::shared_ptr<Connection>>::iterator entry;
    Host* host = host_of(c, &entry);
    if (!host) return;
    const std::shared_ptr<Connection> keep = *entry;  // c stays alive until we return
    host->connections.erase(entry);
    if (c.served() == 0) connection_wasted(*host, c.end_error());
    dispatch(*host);
    settle_warmers(*host);
    maybe_drained();
}

void Pool::changed(Connection& c) {
    if (Host* host = host_of(c)) dispatch(*host);
}

// Keep at most max_idle_per_host idle connections to a host.
void Pool::close_idle() {
    std::vector<std::shared_ptr<Connection>> idle;
    for (auto& [key, host] : hosts_)
        for (auto& c : host->connections)
            if (c->idle()) idle.push_back(c);
    for (auto& c : idle) c->shutdown();  // closes them; reports closed() later, the usual path
}

bool Pool::keep_idle(Connection& c) {
    Host* host = host_of(c);
    if (!host) return false;
    const auto idle = std::count_if(host->connections.begin(), host->connections.end(),
                                    [](const auto& p) { return p->idle(); });
    return static_cast<std::size_t>(idle) <= host->policy->policy.pool.max_idle_per_host;
}

void Pool::tls_session(Connection& c, std::vector<std::uint8_t> session) {
    if (Host* host = find_host(c.key())) host->tls_session = std::move(session);
}

// --- the reconnect bound ----------------------------------------------------------------
//
// A connection that ends before it carries a request, while requests wait for one, has
// achieved nothing, and opening the next at once can loop for as long as those requests
// live: a proxy whose tunnel is out of step, a TLS server that hangs up after its handshake,
// one that talks before it is asked, a second connect refused while the first connection is
// busy. Each such end counts; the next connect waits reconnect_backoff, doubled each time; at
// max_connect_failures in a row with no ready connection left, the waiting requests fail with
// the last one's error. A connection that carries a request resets the count (a request it
// then loses is bounded by its own attempts: see requeue()).

void Pool::connection_wasted(Host& host, const Error& why) {
    std::erase_if(host.waiting, [](const ExchangePtr& e) { return e->finished; });
    if (host.waiting.empty()) return;  // nobody was waiting for it (an idle warm() connection)
    ++host.wasted;
    const bool any_ready = std::any_of(host.connections.begin(), host.connections.end(),
                                       [](const auto& p) {
                                           return p->state() == Connection::State::ready;
                                       });
    Error err = why ? why
                    : Error{net::errc::connection_closed,
                            "the connection ended before carrying a request", 0, "net"};
    if (host.wasted >= max_connect_failures_ && !any_ready) {
        err.detail += " (" + std::to_string(host.wasted) + " connection(s) in a row to " +
                      host.policy->origin.to_string() +
                      " ended before carrying a request; not trying again for these requests)";
        host.wasted = 0;
        host.retry_at = {};
        auto waiting = std::move(host.waiting);
        host.waiting.clear();
        for (auto& ex : waiting) finish(ex, err);
        return;
    }
    const unsigned doublings = std::min(host.wasted - 1, 10u);
    const auto wait = std::min<std::chrono::milliseconds>(reconnect_backoff_ * (1u << doublings),
                                                          std::chrono::seconds(2));
    host.retry_at = Clock::now() + wait;
    log_(LogLevel::debug, "connection to " + host.policy->origin.to_string() +
                              " ended before carrying a request (" + err.message() + "); " +
                              std::to_string(host.wasted) + " in a row, next connect in " +
                              std::to_string(wait.count()) + " ms");
}

bool Pool::backing_off(Host& host) {
    if (host.retry_at == Clock::time_point{} || Clock::now() >= host.retry_at) return false;
    if (!host.retry_armed) {
        if (!host.retry_timer) host.retry_timer = std::make_unique<asio::steady_timer>(ex_);
        host.retry_armed = true;
        host.retry_timer->expires_at(host.retry_at);
        host.retry_timer->async_wait([this, alive = alive(), key = host.key](const asio::error_code& ec) {
            if (ec || alive.expired()) return;  // the Host went (nothing waits any more) or the pool closed
            if (Host* h = find_host(key)) {
                h->retry_armed = false;
                dispatch(*h);
                evict_if_unused(*h);
            }
        });
    }
    return true;
}

// --- warm, close, stats --------------------------------------------------------------------

void Pool::warm(const Route& route, unsigned n, std::function<void(Error)> done) {
    if (closing_) {
        done({pool::errc::client_closed, "the client is closed", 0, "pool"});
        return;
    }
    Host& host = host_for(route);
    host.warmers.push_back([done](const Error& e) { done(e); });
    const std::size_t max_conns = host.policy->policy.pool.max_connections_per_host;
    while (host.connections.size() + host.opening.size() < std::min<std::size_t>(n, max_conns))
        open_connection(host);
    settle_warmers(host);
}

void Pool::close_all(std::function<void()> done, std::optional<std::chrono::milliseconds> deadline) {
    closing_ = true;
    if (done && !on_drained_) on_drained_ = std::move(done);
    if (deadline && on_drained_) {
        // Saturating: close(milliseconds::max()) means "wait as long as it takes", not a
        // time point that wrapped into the past.
        const auto now = Clock::now();
        const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(
            Clock::time_point::max() - now);
        const auto by = *deadline >= room ? Clock::time_point::max() : now + *deadline;
        if (!close_by_ || by < *close_by_) {
            close_by_ = by;
            if (*deadline <= std::chrono::milliseconds::zero()) {
                abort_all("the client was closed with no time left for requests in flight");
                return;
            }
            close_deadline_ = std::make_unique<asio::steady_timer>(ex_, by);
            close_deadline_->async_wait([this, alive = alive(), ms = deadline->count()](const asio::error_code& ec) {
                if (ec || alive.expired()) return;
                abort_all("still in flight when close()'s deadline of " + std::to_string(ms) +
                          " ms passed");
            });
        }
    }
    maybe_drained();
}

void Pool::abort_all(const std::string& why) {
    closing_ = true;
    aborting_ = true;
    // Connections and connects first: nothing they would report can come after this.
    for (auto& [key, host] : hosts_) {
        (void)key;
        cancel_connects(*host);
        auto conns = std::exchange(host->connections, {});
        for (auto& c : conns) c->close();
        host->waiting.clear();
    }
    // In the order they were sent, so callbacks run in a natural order.
    std::vector<ExchangePtr> live;
    live.reserve(live_.size());
    for (auto& [p, ex] : live_) {
        (void)p;
        live.push_back(ex);
    }
    std::sort(live.begin(), live.end(),
              [](const ExchangePtr& a, const ExchangePtr& b) { return a->started < b->started; });
    if (!live.empty())
        log_(LogLevel::info, "ending " + std::to_string(live.size()) +
                                 " request(s) with pool:client_closed: " + why);
    for (auto& ex : live)
        finish(ex, {pool::errc::client_closed,
                    ex->request.method + " " + ex->origin.to_string() + ex->target + ": " + why, 0,
                    "pool"});
    aborting_ = false;
    maybe_drained();
}

void Pool::maybe_drained() {
    if (!closing_ || !on_drained_ || !live_.empty() || aborting_) return;
    if (close_deadline_) close_deadline_->cancel();
    for (auto& [key, host] : hosts_) {
        (void)key;
        cancel_connects(*host);
        auto conns = std::move(host->connections);
        host->connections.clear();
        for (auto& c : conns) c->close();
        auto warmers = std::move(host->warmers);
        host->warmers.clear();
        for (auto& w : warmers) w({pool::errc::client_closed, "the client is closed", 0, "pool"});
    }
    auto cb = std::exchange(on_drained_, nullptr);
    cb();
}

OriginStats* Pool::origin_stats(const policy::Origin& origin) {
    constexpr std::size_t max_origins = 1024;
    std::string key = origin.to_string();
    auto it = origins_.find(key);
    if (it != origins_.end()) return &it->second;
    if (origins_.size() >= max_origins) return nullptr;
    origin_order_.push_back(key);
    OriginStats& o = origins_[key];
    o.counters.origin = std::move(key);
    return &o;
}

Client::Stats Pool::stats() const {
    Client::Stats s = stats_;
    for (const auto& key : origin_order_) {
        const OriginStats& o = origins_.at(key);
        Client::Stats::Origin out = o.counters;
        for (const auto& [cat, n] : o.errors) out.errors_by_category.emplace_back(cat, n);
        std::stable_sort(out.errors_by_category.begin(), out.errors_by_category.end(),
                         [](const auto& a, const auto& b) { return a.second > b.second; });
        if (!o.totals.empty()) {
            auto sorted = o.totals;
            std::sort(sorted.begin(), sorted.end());
            auto rank = [&sorted](double q) {  // nearest rank
                const auto r = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
                return sorted[std::max<std::size_t>(r, 1) - 1];
            };
            out.p50 = rank(0.50);
            out.p99 = rank(0.99);
        }
        s.origins.push_back(std::move(out));
    }
    s.hosts = hosts_.size();
    s.connections_open = 0;
    for (const auto& [key, host] : hosts_) {
        (void)key;
        s.connections_open += host->connections.size() + host->opening.size();
    }
    return s;
}

}  // namespace connmatrix::pool
