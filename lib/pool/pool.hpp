// The connection pool and the connections it manages (lib-internal). Everything here runs on
// the Client's I/O thread; nothing is locked.
//
//   Pool::submit(exchange)
//     -> Host (one per pool key: everything that changes the wire)
//        -> a ready connection with room (h2: a free stream; h1: idle), or
//        -> wait for the connection being opened (h2 likely: one connect serves everyone), or
//        -> open a new Connection (within max_connections_per_host)
//   Connection: Transport (DNS, TCP, proxy, TLS) -> negotiate::decide() -> ProtoSession (h1/h2)
#pragma once

#include <connmatrix/client.hpp>
#include <connmatrix/negotiate.hpp>
#include <connmatrix/policy.hpp>
#include <connmatrix/tls.hpp>

#include "transport.hpp"

#include <asio.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace connmatrix::pool {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Logging, as the Client was configured: no global state.
struct Logger {
    LogSink sink;
    LogLevel level = LogLevel::info;
    bool on(LogLevel l) const noexcept { return sink && static_cast<int>(l) <= static_cast<int>(level); }
    void operator()(LogLevel l, const std::string& msg) const {
        if (on(l)) sink(l, msg);
    }
};

// ---------------------------------------------------------------------------------------------
// What an origin resolves to, once (the Client caches it per origin): the policy, the pool key
// made of everything in it that changes the wire, and the TLS backend it names.
struct Route {
    std::shared_ptr<const policy::ResolvedPolicy> policy;
    std::string key;                        // pool_key(*policy)
    const tls::Backend* backend = nullptr;  // https: the policy's backend; nullptr on cleartext
                                            // or when that backend is not compiled in
};

// ---------------------------------------------------------------------------------------------
// One request on its way: from submit() until `done` has run (exactly once).
class Connection;

struct Exchange {
    Request request;
    policy::Origin origin;
    std::string target;      // "/path?query"
    std::string authority;   // "host[:port]" as sent in Host / :authority
    Route route;
    std::function<void(Result)> done;
    Clock::time_point started = Clock::now();
    Clock::time_point sent{};
    Clock::time_point first_byte{};
    std::unique_ptr<asio::steady_timer> deadline;
    Response response;
    int attempts = 0;         // connections it has been sent on
    bool finished = false;
    bool fallback = false;    // retried over HTTP/1.1 after h2 was rejected
    bool response_started = false;  // any byte of a response arrived
    std::weak_ptr<Connection> connection;  // the one carrying it now, if any

    bool idempotent() const noexcept;  // RFC 9110 9.2.2
};
using ExchangePtr = std::shared_ptr<Exchange>;

class Pool;

// ---------------------------------------------------------------------------------------------
// The protocol spoken on a ready connection (implemented in h1_session.cpp and h2_session.cpp).
class ProtoSession {
public:
    virtual ~ProtoSession() = default;
    virtual bool can_submit() const = 0;     // room for one more exchange right now
    virtual std::size_t active() const = 0;  // exchanges in flight
    virtual bool reusable() const = 0;       // may take exchanges in future (no GOAWAY/close)
    virtual bool confirmed() const = 0;      // the peer has shown it speaks this protocol
    virtual void submit(const ExchangePtr& ex) = 0;
    virtual void on_data(std::span<const std::uint8_t> bytes) = 0;
    virtual void on_closed(const Error& err) = 0;  // the transport ended
    virtual void cancel(Exchange& ex) = 0;         // timed out: stop it (RST_STREAM / close)
    virtual void shutdown() = 0;                   // graceful end (GOAWAY)
    virtual std::size_t capacity() const = 0;      // total concurrent exchanges allowed
    // The peer has told us its limits (h2: its SETTINGS arrived). Until then a full
    // connection is not a reason to open another: its real capacity is not known yet.
    virtual bool capacity_known() const = 0;
    // Unconfirmed h2: the server has not sent its SETTINGS within `waited`. A server that
    // speaks h2 sends them at once (RFC 9113 3.4), so this counts as a rejection.
    virtual void confirmation_overdue(std::chrono::milliseconds waited) { (void)waited; }
};

// What a ProtoSession calls back into its Connection.
class SessionOwner {
public:
    virtual ~SessionOwner() = default;
    virtual void send_bytes(std::span<const std::uint8_t> bytes) = 0;
    virtual void complete(const ExchangePtr& ex, Error err) = 0;  // finished: response or error
    virtual void retry(const ExchangePtr& ex, const std::string& why) = 0;  // not processed
    // The peer rejected the protocol (h2 not spoken): these exchanges were not processed.
    virtual void rejected(const Error& err, std::vector<ExchangePtr> unprocessed) = 0;
    virtual void changed() = 0;  // capacity or state changed: dispatch again
    // h2c upgrade accepted (101): `ex` continues as h2 stream 1; `rest` are the first h2 bytes.
    virtual void upgraded(const ExchangePtr& ex, std::vector<std::uint8_t> rest) = 0;
    virtual void close_transport() = 0;
    virtual const Logger& log() const = 0;
    virtual std::string describe() const = 0;  // "#3 h2 127.0.0.1:8443" for log lines
};

// offer_upgrade: the first bodyless request offers `Upgrade: h2c` (policy cleartext h2c-upgrade).
std::unique_ptr<ProtoSession> make_h1_session(SessionOwner& owner, std::size_t max_body,
                                              bool offer_upgrade = false);
std::unique_ptr<ProtoSession> make_h2_session(SessionOwner& owner, std::size_t max_body,
                                              std::uint32_t max_streams_cap,
                                              bool unconfirmed);
// After 101 Switching Protocols: stream 1 carries `ex`'s response.
std::unique_ptr<ProtoSession> make_h2_upgraded_session(SessionOwner& owner, std::size_t max_body,
                                                       std::uint32_t max_streams_cap,
                                                       const ExchangePtr& ex);

// ---------------------------------------------------------------------------------------------
// Everything that changes the bytes on the wire, as a pool key (Envoy's hashKey(), not hyper's
// scheme+authority).
std::string pool_key(const policy::ResolvedPolicy& rp);

struct Host {
    std::string key;
    std::shared_ptr<const policy::ResolvedPolicy> policy;  // as first resolved for this key
    const tls::Backend* backend = nullptr;                  // Route::backend
    std::vector<std::shared_ptr<Connection>> connections;
    std::deque<ExchangePtr> waiting;
    std::vector<std::uint8_t> tls_session;  // for resumption (per key, so per backend)
    Clock::time_point http1_until{};        // fallback remembered until then
    std::size_t opened = 0;
    std::vector<std::function<void(const Error&)>> warmers;  // warm() calls waiting
    Error last_error;
};

class Connection : public std::enable_shared_from_this<Connection>, public SessionOwner {
public:
    enum class State { connecting, ready, closed };

    Connection(Pool& pool, Host& host, bool force_http1, std::size_t id);
    ~Connection() override;

    void start();
    State state() const noexcept { return state_; }
    bool force_http1() const noexcept { return force_http1_; }
    bool likely_multiplexed() const noexcept;  // while connecting: will probably be h2
    bool can_submit() const;
    bool capacity_known() const { return proto_ && proto_->capacity_known(); }
    bool idle() const;
    std::size_t active() const;
    void submit(const ExchangePtr& ex);
    void cancel(Exchange& ex);
    void close();           // now
    void shutdown();        // gracefully
    Clock::time_point idle_since() const noexcept { return idle_since_; }
    const ConnectionInfo& info() const noexcept { return info_; }
    std::size_t id() const noexcept { return id_; }
    Host& host() noexcept { return host_; }

    // SessionOwner
    void send_bytes(std::span<const std::uint8_t> bytes) override;
    void complete(const ExchangePtr& ex, Error err) override;
    void retry(const ExchangePtr& ex, const std::string& why) override;
    void rejected(const Error& err, std::vector<ExchangePtr> unprocessed) override;
    void changed() override;
    void upgraded(const ExchangePtr& ex, std::vector<std::uint8_t> rest) override;
    void close_transport() override;
    const Logger& log() const override;
    std::string describe() const override;

private:
    void on_connected(const Error& err);
    void on_handshake(const Error& err);
    void on_negotiated(const negotiate::Decision& d);
    void fail_connect(const Error& err);
    void on_transport_closed(const Error& err);
    void arm_idle_timer();
    void flush_now();
    void after_slot_freed();

    Pool& pool_;
    Host& host_;
    bool force_http1_;
    std::size_t id_;
    policy::Policy judge_;  // what decide() judges this attempt with (negotiate::attempt_policy)
    State state_ = State::connecting;
    std::shared_ptr<net::Transport> transport_;
    std::unique_ptr<ProtoSession> proto_;
    std::unique_ptr<ProtoSession> retired_;  // the HTTP/1.1 session an upgrade replaced
    negotiate::Decision decision_;
    ConnectionInfo info_;
    Clock::time_point idle_since_ = Clock::now();
    Clock::time_point ready_at_ = Clock::time_point::max();
    asio::steady_timer idle_timer_;
    asio::steady_timer confirm_timer_;
    std::vector<std::string> offered_;
    std::size_t served_ = 0;
    bool ticket_saved_ = false;
    std::vector<std::uint8_t> out_pending_;  // coalesced until the end of this loop turn
    bool flush_posted_ = false;
};

class Pool {
public:
    Pool(asio::io_context& io, Logger log, std::size_t max_response_body);
    ~Pool();

    void submit(const ExchangePtr& ex);
    // Opens connections for `origin` until n exist; done runs when they are ready or failed.
    void warm(const Route& route, unsigned n, std::function<void(Error)> done);
    // Stops taking requests; once those in flight are done, closes every connection; then
    // runs `done`.
    void close_all(std::function<void()> done);
    bool closing() const noexcept { return closing_; }
    Client::Stats stats() const;

    // For connections.
    void dispatch(Host& host);
    void connection_ready(Connection& c);
    void connection_failed(Connection& c, const Error& err, bool h2_rejected,
                           std::vector<ExchangePtr> unprocessed);
    void connection_closed(Connection& c);
    void requeue(Host& host, const ExchangePtr& ex, bool front);
    void finish(const ExchangePtr& ex, Error err);
    void remember_http1(Host& host, const std::string& why);
    asio::io_context& io() noexcept { return io_; }
    const Logger& log() const noexcept { return log_; }
    std::size_t max_response_body() const noexcept { return max_body_; }
    std::size_t next_connection_id() noexcept { return ++connection_ids_; }
    std::shared_ptr<tls::ClientContext> tls_context(const tls::Backend* backend,
                                                   const policy::Policy& p, bool http1_only,
                                                   Error& err);
    Client::Stats& counters() noexcept { return stats_; }

private:
    Host& host_for(const Route& route);
    std::vector<std::shared_ptr<Connection>>::iterator entry_of(Connection& c);
    void open_connection(Host& host);
    bool http1_remembered(const Host& host) const;
    void arm_deadline(const ExchangePtr& ex);
    void warm_step(const std::string& key, unsigned n, std::shared_ptr<std::function<void(Error)>> done);

    asio::io_context& io_;
    Logger log_;
    std::size_t max_body_;
    std::map<std::string, std::unique_ptr<Host>> hosts_;
    std::map<std::string, std::shared_ptr<tls::ClientContext>> tls_contexts_;
    std::size_t connection_ids_ = 0;
    bool closing_ = false;
    std::size_t outstanding_ = 0;
    std::function<void()> on_drained_;
    Client::Stats stats_;
    void settle_warmers(Host& host);
    void maybe_drained();
};

}  // namespace connmatrix::pool
