// The connection pool (lib-internal). Everything here runs on the Client's I/O thread; nothing
// is locked.
//
//   Pool::submit(exchange)
//     -> Host (one per pool key: everything that changes the wire)
//        -> a ready connection with room (h2: a free stream; h1: idle), or
//        -> wait for the connect in flight (h2 likely: one connect serves everyone), or
//        -> ask the Connector for a new one (within max_connections_per_host)
//   Connector: DNS, TCP, proxy, TLS -> Pool: negotiate::decide() -> Connection (h1/h2 session)
//
// Who knows whom: the Pool owns Hosts, a Host owns its Connections and its connects in flight;
// the Pool calls Connector and Connection, and a Connection reports back only through the
// ConnectionEvents interface the Pool implements. Neither Connector nor Connection knows the
// Pool or a Host.
#pragma once

#include "connection.hpp"
#include "connector.hpp"
#include "events.hpp"
#include "exchange.hpp"
#include "host_memory.hpp"

#include <asio.hpp>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace connmatrix::pool {

// Everything that changes the bytes on the wire, as a pool key (Envoy's hashKey(), not hyper's
// scheme+authority).
std::string pool_key(const policy::ResolvedPolicy& rp);

// Per pool key: its connections, the connects in flight, the exchanges waiting, and what was
// learnt about the server (a TLS session to resume, a remembered HTTP/1.1 fallback). A Host
// with no connection, no connect in flight, nobody waiting and no warm() pending is erased;
// what it learnt moves to the pool's HostMemory and comes back with the next Host for the key.
// Client::Stats::origins: one origin's counters, the last 1,024 totals in a ring.
struct OriginStats {
    Client::Stats::Origin counters;
    std::map<std::string, std::size_t> errors;
    std::vector<std::chrono::microseconds> totals;
    std::size_t next = 0;
};

struct Host {
    struct Opening {  // a connect in flight
        std::size_t id = 0;
        bool http1_forced = false;   // a remembered fallback: HTTP/1.1 only
        bool may_multiplex = false;  // negotiate::may_speak_h2(): worth waiting for
        std::shared_ptr<ConnectAttempt> attempt;
        // TLS 1.3 early data: the request written into its first flight, out of `waiting`,
        // the bytes it went as, and the protocol they are in.
        ExchangePtr early;
        std::vector<std::uint8_t> early_bytes;
        negotiate::Protocol early_protocol = negotiate::Protocol::http1_1;
    };

    std::string key;
    OriginStats* stats = nullptr;  // its origin's entry (null past the 1,024 tracked)
    std::shared_ptr<const policy::ResolvedPolicy> policy;  // as first resolved for this key
    const tls::Backend* backend = nullptr;                  // Route::backend
    std::vector<Opening> opening;
    std::vector<std::shared_ptr<Connection>> connections;  // ready, or closed but not yet reported
    std::deque<ExchangePtr> waiting;
    std::vector<std::uint8_t> tls_session;  // for resumption (per key, so per backend)
    std::deque<std::size_t> early_spent;    // hashes of sessions offered with early data: each
                                            // is offered with it once (RFC 8446 8, replay)
    Clock::time_point http1_until{};        // fallback remembered until then
    std::string http1_why;                  // why HTTP/1.1 was forced last, for ConnectionInfo
    std::vector<std::function<void(const Error&)>> warmers;  // warm() calls waiting
    Error last_error;
    bool sweep_posted = false;  // an eviction check is queued
    // The reconnect bound (Pool::connection_wasted): connections in a row that ended before
    // carrying a request while requests waited, and no new connect before `retry_at`.
    unsigned wasted = 0;
    Clock::time_point retry_at{};
    std::unique_ptr<asio::steady_timer> retry_timer;
    bool retry_armed = false;

    bool unused() const noexcept {
        return connections.empty() && opening.empty() && waiting.empty() && warmers.empty();
    }
};

class Pool final : public ConnectionEvents {
public:
    Pool(const net::Executor& ex, Logger log, const ClientOptions& options);
    ~Pool() override;

    void submit(const ExchangePtr& ex);
    // The caller gave up on `ex` (RequestHandle::cancel, its stop_token): it ends now with
    // pool::errc::cancelled, out of the queue if it waits there (a connect started for it goes
    // on), its h2 stream reset with CANCEL, its HTTP/1.1 connection closed. A no-op once it
    // has ended.
    void cancel(const ExchangePtr& ex);
    // RequestHandle::resume(): `ex`'s body sink, paused, may take more.
    void resume(const ExchangePtr& ex);
    // Opens connections for `route` until n exist; done runs when they are ready or failed.
    void warm(const Route& route, unsigned n, std::function<void(Error)> done);
    // Stops taking requests; once those in flight are done, closes every connection; then
    // runs `done`. With a deadline, requests still in flight when it passes end with
    // client_closed (abort_all) instead of running to their own timeouts. A second call only
    // shortens the deadline.
    void close_all(std::function<void()> done,
                   std::optional<std::chrono::milliseconds> deadline = std::nullopt);
    // Now: closes every connection and connect, and ends every request in flight or waiting
    // with client_closed (`why` says when); then close_all's `done`, if one is waiting.
    void abort_all(const std::string& why);
    // Closes (gracefully) every connection that carries no request now; hosts keep what they
    // learnt (TLS sessions, remembered fallbacks).
    void close_idle();
    Client::Stats stats() const;
    // ConnectionEvents
    void finish(Connection& c, const ExchangePtr& ex, Error err) override;
    void requeue(Connection& c, const ExchangePtr& ex, const std::string& why) override;
    void http11_required(Connection& c, const ExchangePtr& ex, const std::string& why) override;
    void failed(Connection& c, const Error& err, bool fallback,
                std::vector<ExchangePtr> unprocessed) override;
    void closed(Connection& c) override;
    void changed(Connection& c) override;
    bool keep_idle(Connection& c) override;
    void tls_session(Connection& c, std::vector<std::uint8_t> session) override;

private:
    Host& host_for(const Route& route);
    Host* find_host(const std::string& key);
    // The host holding `c`, and its entry there; nullptr when it is no longer listed.
    Host* host_of(const Connection& c, std::vector<std::shared_ptr<Connection>>::iterator* entry = nullptr);
    void dispatch(Host& host);
    void dispatch_later(const std::string& key);
    void open_connection(Host& host);
    void on_connect_done(const std::string& key, std::size_t id, Connected c);
    // ConnectTarget::early for connect `id`: the first waiting request that may go as early
    // data, written as the connection will speak it, and taken out of the queue; or nothing.
    std::vector<std::uint8_t> early_payload(const std::string& key, std::size_t id,
                                            std::size_t ticket,
                                            const std::optional<std::string>& alpn,
                                            std::size_t capacity);
    void connection_failed(Host& host, const Error& err, bool h2_rejected,
                           std::vector<ExchangePtr> unprocessed, const ConnectionInfo& info);
    void requeue(Host& host, const ExchangePtr& ex, std::string_view why);
    void finish(const ExchangePtr& ex, Error err);
    bool http1_remembered(const Host& host) const;
    void remember_http1(Host& host, const std::string& why);
    void arm_deadline(const ExchangePtr& ex);
    void settle_warmers(Host& host);
    void evict_if_unused(Host& host);
    void maybe_drained();
    static void cancel_connects(Host& host);  // every connect in flight, out of `opening`
    // The reconnect bound: a connection (or connect) that ended before carrying a request while
    // requests wait; and whether a new connect must wait for the back-off.
    void connection_wasted(Host& host, const Error& why);
    bool backing_off(Host& host);

    net::Executor ex_;
    Logger log_;
    std::size_t max_body_;
    std::size_t max_interim_;
    std::chrono::milliseconds expect_timeout_;  // ClientOptions::expect_continue_timeout
    unsigned max_connect_failures_;
    std::chrono::milliseconds reconnect_backoff_;
    Http2Limits h2_limits_;  // what an h2 server may make a connection do (ClientOptions::h2)
    Connector connector_;
    std::map<std::string, std::unique_ptr<Host>> hosts_;
    HostMemory memory_;
    std::size_t connection_ids_ = 0;
    bool closing_ = false;
    bool aborting_ = false;
    // Every request submitted and not yet finished, wherever it is (a host's queue, a
    // connection, between the two): what abort_all() ends.
    std::unordered_map<const Exchange*, ExchangePtr> live_;
    std::function<void()> on_drained_;
    std::unique_ptr<asio::steady_timer> close_deadline_;
    std::optional<Clock::time_point> close_by_;
    Client::Stats stats_;
    Observer observer_;  // ClientOptions::on_event
    std::uint64_t request_ids_ = 0;
    // Client::Stats::origins, by origin (a Host finds its entry once, when it is made).
    OriginStats* origin_stats(const policy::Origin& origin);
    std::map<std::string, OriginStats> origins_;
    std::vector<std::string> origin_order_;
    // What every handler of the pool holds along with `this`: on a caller's executor
    // (ClientOptions::executor) the loop outlives the pool, and what it queued for the pool
    // still runs after the pool went (on the same strand, never at the same time).
    net::Alive alive_;
    std::weak_ptr<const void> alive() const { return alive_.token(); }
};

}  // namespace connmatrix::pool
