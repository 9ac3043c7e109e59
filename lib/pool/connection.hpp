// Connection: a ready transport (from the Connector) and the protocol session spoken on it
// (lib-internal). It carries exchanges and reports what happens to them, and to itself, to its
// owner through ConnectionEvents; it knows nothing of the pool, hosts or other connections.
#pragma once

#include "events.hpp"
#include "session.hpp"
#include "transport.hpp"

#include <connmatrix/negotiate.hpp>

#include <asio.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace connmatrix::pool {

class Connection;

// What a Connection tells its owner (the Pool), on the I/O thread. finish, requeue and changed
// may come from inside submit() and cancel(), closed() from inside start(); otherwise calls come
// from the event loop.
class ConnectionEvents {
public:
    virtual ~ConnectionEvents() = default;
    // An exchange is done, with its response or an error: exactly once per exchange.
    virtual void finish(Connection& c, const ExchangePtr& ex, Error err) = 0;
    // Not processed here (GOAWAY, REFUSED_STREAM, a reused connection closed before answering):
    // it may go again on another connection.
    virtual void requeue(Connection& c, const ExchangePtr& ex, const std::string& why) = 0;
    // The server required HTTP/1.1 for `ex` (HTTP_1_1_REQUIRED) and the policy allows it: the
    // host is remembered as HTTP/1.1-only and `ex` goes again on an HTTP/1.1 connection.
    virtual void http11_required(Connection& c, const ExchangePtr& ex, const std::string& why) = 0;
    // The server rejected the protocol (h2 not confirmed by ALPN): the connection is closed and
    // `unprocessed` provably were not processed. `fallback`: the decision allows retrying them
    // over HTTP/1.1; otherwise they have been finished already.
    virtual void failed(Connection& c, const Error& err, bool fallback,
                        std::vector<ExchangePtr> unprocessed) = 0;
    // The connection has ended. Nothing follows.
    virtual void closed(Connection& c) = 0;
    // Capacity or state changed (a stream came free, SETTINGS, GOAWAY): a queue may go on.
    virtual void changed(Connection& c) = 0;
    // Nothing is in flight any more: may it stay open (max_idle_per_host)?
    virtual bool keep_idle(Connection& c) = 0;
    // A TLS session to resume with next time (TLS 1.3 tickets arrive after the handshake).
    virtual void tls_session(Connection& c, std::vector<std::uint8_t> session) = 0;
};

struct ConnectionSetup {
    std::size_t id = 0;  // for log lines: "#3 h2 127.0.0.1:8443"
    std::string key;     // the pool key of the route it serves
    std::shared_ptr<const policy::ResolvedPolicy> policy;
    std::shared_ptr<net::Transport> transport;  // ready: connected, TLS handshake done
    negotiate::Decision decision;               // ok(): what to speak
    ConnectionInfo info;                        // from the Connector, protocol and decision set
    std::size_t max_response_body = 0;
    std::size_t max_interim_responses = 32;  // HTTP/1.1 1xx responses before the final one
    std::chrono::milliseconds expect_continue_timeout{1000};  // HTTP/1.1 Expect: 100-continue
    Http2Limits h2_limits;  // ClientOptions::h2
    // TLS 1.3 early data: the request the first flight carried (info.early_data says whether
    // the server took it); it goes first, before anything is read. `early_sent`: when the
    // server accepted it, the bytes it was sent as, which the session, writing the same
    // request again, must begin with: they are checked and not sent twice.
    ExchangePtr early;
    std::vector<std::uint8_t> early_sent;
    const Observer* observer = nullptr;  // ClientOptions::on_event, the Pool's
};

class Connection : public std::enable_shared_from_this<Connection>, public SessionOwner {
public:
    enum class State { ready, closed };

    Connection(const net::Executor& ex, const Logger& log, ConnectionEvents& events,
               ConnectionSetup setup);
    ~Connection() override;

    // Creates the protocol session and starts reading. May report closed() at once.
    void start();
    State state() const noexcept { return state_; }
    bool can_submit() const;
    // The peer's limits are known (h2: its SETTINGS arrived; h1: no h2c offer in flight).
    // While not, a busy connection is no reason to open another: it may soon multiplex.
    bool capacity_known() const { return !probing_ && proto_ && proto_->capacity_known(); }
    // Before an idle connection takes a request: is it still alive? HTTP/1.1: bytes or an EOF
    // waiting on the socket mean the server closed it (or broke the protocol): it is closed
    // now. h2 idle longer than pool.ping_interval: a PING goes out and the connection takes
    // nothing until the ACK (then changed() is reported) or pool.ping_timeout (then it is
    // closed). True: it may take requests now.
    bool check_before_reuse();
    // Past pool.max_connection_age: it takes no new request and closes once the ones on it
    // are done; meanwhile it does not count against max_connections_per_host.
    bool draining() const noexcept { return aged_; }
    bool idle() const;
    std::size_t active() const;
    void submit(const ExchangePtr& ex);
    void cancel(Exchange& ex);
    // RequestHandle::resume(): `ex`'s paused body sink may take more.
    void resume(Exchange& ex);
    void close();           // now, without reporting
    void shutdown();        // gracefully: the protocol's goodbye, then, when idle, the close
    const ConnectionInfo& info() const noexcept { return info_; }
    std::size_t id() const noexcept { return id_; }
    const std::string& key() const noexcept { return key_; }
    // Why it ended, for its connection_closed event: the server's or an I/O error, or ours.
    std::string end_reason() const;
    // Exchanges submitted to it so far, and why it ended (once closed): a connection that
    // ended without carrying one counts against the pool's reconnect bound.
    std::size_t served() const noexcept { return served_; }
    const Error& end_error() const noexcept { return end_error_; }

    // SessionOwner
    void send_bytes(std::span<const std::uint8_t> bytes) override;
    void send_owned(std::vector<std::uint8_t> bytes) override;
    std::size_t queued() const override;
    void complete(const ExchangePtr& ex, Error err) override;
    void retry(const ExchangePtr& ex, const std::string& why) override;
    void rejected(const Error& err, std::vector<ExchangePtr> unprocessed) override;
    void changed() override;
    void upgraded(const ExchangePtr& ex, std::vector<std::uint8_t> rest) override;
    void close_transport() override;
    const Logger& log() const override { return log_; }
    std::string describe() const override;
    void send_shared(std::span<const std::uint8_t> bytes,
                     std::shared_ptr<const void> owner) override;
    bool sending() const override;
    void fail_connection(const Error& why) override;
    void abort_transport() override;
    void http11_required(const ExchangePtr& ex, const std::string& why) override;
    void pinged() override;
    void pause_reading() override;
    void resume_reading() override;
    void after(std::chrono::milliseconds delay, std::function<void()> f) override;

private:
    void on_transport_closed(const Error& err);
    void arm_idle_timer();
    void arm_age_timer();
    void arm_keepalive();  // h2, idle, pool.ping_interval set: a PING each interval
    // A PING goes out; the connection takes nothing until its ACK (pinged()) or, after
    // pool.ping_timeout, is closed. False when the protocol cannot PING.
    bool probe(const std::string& why);
    void flush_now();
    void post_flush();
    void report_closed();  // closed by us: tell the owner, later
    void after_slot_freed();
    // What of `bytes` is still to send, once the accepted early data is skipped.
    std::span<const std::uint8_t> skip_early(std::span<const std::uint8_t> bytes);
    const policy::Policy& policy() const noexcept { return policy_->policy; }

    net::Executor ex_;
    const Logger& log_;
    ConnectionEvents& events_;
    std::size_t id_;
    std::string key_;
    std::shared_ptr<const policy::ResolvedPolicy> policy_;
    std::size_t max_body_;
    State state_ = State::ready;
    std::shared_ptr<net::Transport> transport_;
    std::unique_ptr<ProtoSession> proto_;
    std::unique_ptr<ProtoSession> retired_;  // the HTTP/1.1 session an upgrade replaced
    negotiate::Decision decision_;
    ConnectionInfo info_;
    Clock::time_point ready_at_ = Clock::now();
    asio::steady_timer idle_timer_;
    asio::steady_timer confirm_timer_;
    asio::steady_timer ping_timer_;
    asio::steady_timer age_timer_;
    asio::steady_timer keepalive_timer_;
    bool aged_ = false;  // older than pool.max_connection_age: draining
    Clock::time_point idle_since_ = Clock::now();  // when it last became idle
    bool probing_ = false;                         // a PING before reuse is unanswered
    std::size_t served_ = 0;
    bool ticket_saved_ = false;
    std::vector<std::uint8_t> out_pending_;  // coalesced until the end of this loop turn
    bool flush_posted_ = false;
    std::size_t max_interim_;
    std::chrono::milliseconds expect_timeout_;
    asio::steady_timer session_timer_;  // SessionOwner::after()
    Error end_error_;  // why it ended: the server closed it, an I/O error, fail_connection()
    Http2Limits h2_limits_;
    const Observer* observer_ = nullptr;
    std::string closing_why_;  // why we close it, for its connection_closed event
    ExchangePtr early_;                     // ConnectionSetup::early, until start()
    std::vector<std::uint8_t> early_sent_;  // ConnectionSetup::early_sent, until all matched
    std::size_t early_matched_ = 0;
};

}  // namespace connmatrix::pool
