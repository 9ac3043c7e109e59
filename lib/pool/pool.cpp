#include "pool.hpp"

#include <algorithm>
#include <sstream>

namespace connmatrix::pool {

namespace {

std::chrono::microseconds us(Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d);
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
}

tls::Version to_tls(policy::TlsVersion v) {
    return v == policy::TlsVersion::tls1_3 ? tls::Version::tls1_3 : tls::Version::tls1_2;
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
          << "|sni=" << static_cast<int>(p.tls.sni.kind) << ":" << p.tls.sni.name
          << "|resume=" << p.tls.resumption;
    } else {
        k << "|cleartext=" << policy::to_string(p.cleartext);
    }
    k << "|fallback=" << policy::to_string(p.fallback);
    k << "|proxy=" << (p.proxy ? p.proxy->to_string() : "direct");
    return k.str();
}

// =============================================================================================
// Pool

Pool::Pool(asio::io_context& io, Logger log, std::size_t max_response_body)
    : io_(io), log_(std::move(log)), max_body_(max_response_body) {}

Pool::~Pool() = default;

Host& Pool::host_for(const Route& route) {
    auto& slot = hosts_[route.key];
    if (!slot) {
        slot = std::make_unique<Host>();
        slot->key = route.key;
        slot->policy = route.policy;
        slot->backend = route.backend;
    }
    return *slot;
}

std::shared_ptr<tls::ClientContext> Pool::tls_context(const tls::Backend* backend,
                                                     const policy::Policy& p, bool http1_only,
                                                     Error& err) {
    if (!backend) {
        err = {tls::errc::unsupported,
               "backend \"" + p.backend + "\" is not compiled into this build", 0, "pool"};
        return nullptr;
    }
    tls::ClientConfig cfg;
    cfg.alpn = negotiate::alpn_offer(p, http1_only);
    cfg.verify = p.tls.verify;
    cfg.ca_file = p.tls.ca_file;
    cfg.min_version = to_tls(p.tls.min_version);
    std::string key = p.backend + "|" + join(cfg.alpn) + "|" + std::to_string(cfg.verify) + "|" +
                      cfg.ca_file + "|" + std::string(policy::to_string(p.tls.min_version));
    auto it = tls_contexts_.find(key);
    if (it != tls_contexts_.end()) return it->second;
    auto ctx = backend->client_context(cfg, err);
    if (ctx) tls_contexts_.emplace(key, ctx);
    return ctx;
}

void Pool::submit(const ExchangePtr& ex) {
    if (closing_ && !on_drained_) {
        // close() already finished: nothing runs any more.
        finish(ex, {pool::errc::client_closed, "the client is closed", 0, "pool"});
        return;
    }
    ++outstanding_;
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
    host.waiting.push_back(ex);
    dispatch(host);
}

void Pool::arm_deadline(const ExchangePtr& ex) {
    const auto timeout = ex->request.timeout.value_or(ex->route.policy->policy.timeouts.request);
    ex->deadline = std::make_unique<asio::steady_timer>(io_, timeout);
    std::weak_ptr<Exchange> weak = ex;
    ex->deadline->async_wait([this, weak, timeout](const asio::error_code& ec) {
        if (ec) return;
        auto ex = weak.lock();
        if (!ex || ex->finished) return;
        const char* where = ex->response_started ? "while receiving the response"
                            : ex->sent != Clock::time_point{} ? "waiting for the response"
                                                               : "before the request was sent";
        Error err{net::errc::request_timeout,
                  "no complete response from " + ex->origin.to_string() + " within " +
                      std::to_string(timeout.count()) + " ms (" + where + ")",
                  0, "net"};
        if (auto c = ex->connection.lock()) c->cancel(*ex);
        finish(ex, err);
    });
}

bool Pool::http1_remembered(const Host& host) const {
    return host.http1_until != Clock::time_point{} && Clock::now() < host.http1_until;
}

void Pool::remember_http1(Host& host, const std::string& why) {
    host.http1_until = Clock::now() + host.policy->policy.remember;
    ++stats_.fallbacks;
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
        while (!host.waiting.empty() && c->state() == Connection::State::ready &&
               c->can_submit()) {
            ExchangePtr ex = host.waiting.front();
            host.waiting.pop_front();
            if (log_.on(LogLevel::trace))
                log_(LogLevel::trace, "checked out connection " + c->describe() + " for " +
                                          ex->request.method + " " + ex->target);
            c->submit(ex);
        }
    }
    if (host.waiting.empty() || (closing_ && !on_drained_)) return;

    // 2. Open connections for the rest, within the per-host limit. A connection being opened
    //    that will probably multiplex (h2) serves everyone waiting: no second handshake.
    const std::size_t max_conns = std::max<std::uint32_t>(1, host.policy->policy.pool.max_connections_per_host);
    std::size_t pending_capacity = 0;
    for (auto& c : host.connections) {
        if (c->state() == Connection::State::ready && !c->capacity_known() && c->can_submit() == false &&
            c->likely_multiplexed()) {
            // h2 before the server's SETTINGS: its stream limit is not known yet, wait for it.
            return;
        }
        if (c->state() != Connection::State::connecting) continue;
        if (c->likely_multiplexed()) {
            if (log_.on(LogLevel::trace))
                log_(LogLevel::trace, std::to_string(host.waiting.size()) +
                                          " request(s) waiting for in-flight connect " +
                                          c->describe());
            return;
        }
        ++pending_capacity;
    }
    while (host.waiting.size() > pending_capacity && host.connections.size() < max_conns) {
        open_connection(host);
        if (host.connections.back()->likely_multiplexed()) return;
        ++pending_capacity;
    }
    if (host.waiting.size() > pending_capacity && log_.on(LogLevel::debug))
        log_(LogLevel::debug, std::to_string(host.waiting.size() - pending_capacity) +
                                  " request(s) queued: " + std::to_string(max_conns) +
                                  " connection(s) to " + host.policy->origin.to_string() +
                                  " busy (max_connections_per_host)");
}

void Pool::open_connection(Host& host) {
    const bool h1 = http1_remembered(host);
    auto c = std::make_shared<Connection>(*this, host, h1, next_connection_id());
    host.connections.push_back(c);
    ++host.opened;
    ++stats_.connections_opened;
    c->start();
}

// The connection's entry in its own host's list (each connection knows its host: no search
// across hosts).
std::vector<std::shared_ptr<Connection>>::iterator Pool::entry_of(Connection& c) {
    auto& v = c.host().connections;
    return std::find_if(v.begin(), v.end(), [&](const auto& p) { return p.get() == &c; });
}

void Pool::connection_ready(Connection& c) {
    Host& host = c.host();
    if (entry_of(c) == host.connections.end()) return;
    dispatch(host);
    settle_warmers(host);
}

void Pool::settle_warmers(Host& host) {
    if (host.warmers.empty()) return;
    const bool connecting = std::any_of(host.connections.begin(), host.connections.end(),
                                        [](const auto& c) {
                                            return c->state() == Connection::State::connecting;
                                        });
    if (connecting) return;
    const bool any_ready = std::any_of(host.connections.begin(), host.connections.end(),
                                       [](const auto& c) {
                                           return c->state() == Connection::State::ready;
                                       });
    auto warmers = std::move(host.warmers);
    host.warmers.clear();
    const Error err = any_ready ? Error{} : host.last_error;
    for (auto& w : warmers) w(err);
}

void Pool::connection_failed(Connection& c, const Error& err, bool h2_rejected,
                             std::vector<ExchangePtr> unprocessed) {
    Host& host = c.host();
    const auto it = entry_of(c);
    if (it == host.connections.end()) return;
    const std::shared_ptr<Connection> keep = *it;  // c stays alive until we return
    host.connections.erase(it);
    host.last_error = err;
    if (h2_rejected) {
        remember_http1(host, err.message());
        for (auto it = unprocessed.rbegin(); it != unprocessed.rend(); ++it) {
            (*it)->fallback = true;
            requeue(host, *it, true);
        }
    } else {
        for (auto it = unprocessed.rbegin(); it != unprocessed.rend(); ++it)
            requeue(host, *it, true);
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
                if (ex->response.info.rule.empty()) ex->response.info = c.info();
                finish(ex, err);
            }
        }
    }
    dispatch(host);
    settle_warmers(host);
}

void Pool::connection_closed(Connection& c) {
    Host& host = c.host();
    const auto it = entry_of(c);
    if (it == host.connections.end()) return;
    const std::shared_ptr<Connection> keep = *it;  // c stays alive until we return
    host.connections.erase(it);
    dispatch(host);
    settle_warmers(host);
    maybe_drained();
}

void Pool::requeue(Host& host, const ExchangePtr& ex, bool front) {
    if (ex->finished) return;
    ex->connection.reset();
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
    if (front)
        host.waiting.push_front(ex);
    else
        host.waiting.push_back(ex);
}

void Pool::finish(const ExchangePtr& ex, Error err) {
    if (ex->finished) return;
    ex->finished = true;
    ex->connection.reset();
    if (ex->deadline) ex->deadline->cancel();
    const auto now = Clock::now();
    auto& t = ex->response.info.timings;
    t.total = us(now - ex->started);
    if (ex->first_byte != Clock::time_point{} && ex->sent != Clock::time_point{})
        t.first_byte = us(ex->first_byte - ex->sent);
    ex->response.info.fallback = ex->response.info.fallback || ex->fallback;
    ++stats_.requests;
    if (outstanding_ > 0) --outstanding_;
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
    if (auto done = std::exchange(ex->done, nullptr)) done(std::move(r));
    maybe_drained();
}

void Pool::warm(const Route& route, unsigned n, std::function<void(Error)> done) {
    if (closing_) {
        done({pool::errc::client_closed, "the client is closed", 0, "pool"});
        return;
    }
    Host& host = host_for(route);
    host.warmers.push_back([done](const Error& e) { done(e); });
    const std::size_t max_conns = host.policy->policy.pool.max_connections_per_host;
    while (host.connections.size() < std::min<std::size_t>(n, max_conns)) open_connection(host);
    settle_warmers(host);
}

void Pool::close_all(std::function<void()> done) {
    closing_ = true;
    on_drained_ = std::move(done);
    maybe_drained();
}

void Pool::maybe_drained() {
    if (!closing_ || !on_drained_ || outstanding_ > 0) return;
    for (auto& h : hosts_) {
        auto conns = h.second->connections;
        for (auto& c : conns) c->close();
        h.second->connections.clear();
        auto warmers = std::move(h.second->warmers);
        for (auto& w : warmers) w({pool::errc::client_closed, "the client is closed", 0, "pool"});
    }
    auto cb = std::exchange(on_drained_, nullptr);
    cb();
}

Client::Stats Pool::stats() const {
    Client::Stats s = stats_;
    s.connections_open = 0;
    for (const auto& h : hosts_) s.connections_open += h.second->connections.size();
    return s;
}

}  // namespace connmatrix::pool
