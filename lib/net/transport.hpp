// net::Transport - the only code that touches sockets. One TCP connection (direct, or through
// an HTTP CONNECT proxy), optionally carrying a tls::Session, moving bytes between the socket,
// the TLS state machine and whoever reads the plaintext (a codec). Runs on one executor (one
// thread at a time); every callback runs there. Lib-internal.
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/errors/net.hpp>
#include <connmatrix/tls.hpp>

#include "executor.hpp"

#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace connmatrix::net {

using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

struct Endpoint {
    std::string host;  // name or IP literal, without brackets
    std::uint16_t port = 0;
    std::string to_string() const;  // "host:port", "[::1]:443"
};

class Resolver;

// How connect() reaches its first hop (the target, or the proxy).
struct Dial {
    // RFC 8305 section 5, the Connection Attempt Delay: the next address is tried this long
    // after the previous attempt started while it is still pending.
    std::chrono::milliseconds stagger{250};
    // IP literals to connect to instead of resolving the first hop's name (policy `resolve`),
    // with its port. Empty: DNS.
    std::vector<std::string> addresses;
    // DNS through this resolver (AAAA and A apart, cached). Null: getaddrinfo on Asio's
    // resolver thread, both families in one answer.
    Resolver* resolver = nullptr;
    // RFC 8305 section 3, the Resolution Delay: an A answer that comes first waits this long
    // for the AAAA one before connecting starts; an AAAA answer starts it at once. Addresses
    // that come after connecting started join the race.
    std::chrono::milliseconds resolution_delay{50};
    // Told of each step as it happens (the Client's events), on the loop: `what` is the name
    // resolving; the addresses resolved ("a, b"); the address an attempt goes to or ended at.
    // `err` null: it worked (or began).
    enum class Step { resolving, resolved, attempt, attempt_done };
    std::function<void(Step, const std::string& what, const Error* err)> observe;
};

// RFC 8305 section 4: the addresses in the order they are tried, families interleaved, IPv6
// first; within a family the order given (getaddrinfo's RFC 6724 order, or the policy's).
std::vector<asio::ip::tcp::endpoint> happy_eyeballs_order(std::vector<asio::ip::tcp::endpoint> in);

class Transport : public std::enable_shared_from_this<Transport> {
public:
    using Done = std::function<void(const Error&)>;

    explicit Transport(const Executor& ex);
    ~Transport();
    Transport(const Transport&) = delete;
    Transport& operator=(const Transport&) = delete;

    // DNS (AF_UNSPEC: A and AAAA together), TCP by Happy Eyeballs v2 (RFC 8305: families
    // interleaved, a new attempt every `dial.stagger` while the earlier ones are pending, at
    // once when one fails; the first connected wins, the others are closed), TCP_NODELAY,
    // then the CONNECT tunnel when a proxy is given; all within `timeout`. `done` runs once.
    // `origin_may_speak_first`: the protocol may let the origin send before we do (cleartext
    // h2 by prior knowledge: the server's SETTINGS may come at once, RFC 9113 3.4), so bytes
    // that arrive through a proxy together with its CONNECT reply are the origin's and reach
    // on_data first; otherwise (TLS, HTTP/1.1) they are the proxy's and the attempt is
    // net:proxy_failed.
    void connect(const Endpoint& target, const std::optional<Endpoint>& proxy,
                 std::chrono::milliseconds timeout, Done done, bool origin_may_speak_first = false,
                 Dial dial = {});

    // Drives the TLS handshake over the connected socket within `timeout`. `done` runs once.
    void handshake(std::unique_ptr<tls::Session> session, std::chrono::milliseconds timeout,
                   Done done);

    // From now on plaintext arrives through on_data; on_closed runs once when the stream ends:
    // with no error for a clean end (close_notify, or TCP EOF on cleartext), else the error.
    void start(std::function<void(std::span<const std::uint8_t>)> on_data, Done on_closed);

    // Queued in order. send() copies; send_owned() takes the buffer over; send_shared() copies
    // nothing: `owner` keeps the bytes alive until they are written or the transport ends (a
    // request body goes out from the caller's own string). Over TLS, plaintext is encrypted a
    // window at a time as the socket drains, so a large body never exists twice.
    void send(std::span<const std::uint8_t> plaintext);
    void send_owned(Bytes plaintext);
    void send_shared(std::span<const std::uint8_t> plaintext, std::shared_ptr<const void> owner);
    // Bytes queued or being written.
    bool sending() const noexcept { return writing_ || !plain_.empty() || !wqueue_.empty(); }
    // How many: plaintext not yet encrypted, and bytes for the socket (the write under way too).
    std::size_t queued_bytes() const noexcept;
    // Runs after each write to the socket completed, while the transport is open: a producer
    // that holds back (an h2 request body) may queue more.
    void on_sent(std::function<void()> f) { on_sent_ = std::move(f); }
    void close();   // close_notify when TLS, then shutdown; no callbacks after this
    // Closes now, dropping what is not yet written (a response that ended the exchange
    // arrived while its request was still being sent). No callbacks after this.
    void abort();
    bool is_open() const noexcept { return open_; }
    // Bytes or an end of stream are waiting on the socket, not read yet (a poll() that does not
    // wait). On a connection where the peer has nothing to say (idle HTTP/1.1) that means it
    // closed the connection, or sent what cannot be a response.
    bool readable_now();
    // Backpressure: after pause_reading() no more is read from the socket (a read under way
    // still delivers what it got) and no more decrypted data is handed out; resume_reading()
    // goes on from there, later on the loop, never inside the call.
    void pause_reading() noexcept { paused_ = true; }
    void resume_reading();

    tls::Session* tls() noexcept { return tls_.get(); }
    const std::string& remote_address() const noexcept { return remote_; }
    // Happy Eyeballs: each address tried, in order, with what became of it, after connect()
    // answered: "[::1]:443 refused (Connection refused)", "127.0.0.1:443 connected after 250 ms",
    // "[::1]:8443 abandoned" (still pending when another won).
    std::vector<std::string> attempts() const;
    // Microseconds spent in DNS, TCP connect (incl. proxy tunnel) and TLS handshake.
    std::chrono::microseconds dns_time{0}, connect_time{0}, tls_time{0};

private:
    void on_resolved(const asio::error_code& ec, asio::ip::tcp::resolver::results_type results);
    void on_answer(int family, const std::vector<asio::ip::address>& addresses, const Error& err);
    void begin_race();         // connecting starts with the addresses answered so far
    void join_race(std::vector<asio::ip::tcp::endpoint> more);  // answered after it started
    void fail_if_done();       // every attempt failed, and no more addresses can come
    void race(std::vector<asio::ip::tcp::endpoint> endpoints);
    void start_attempt();  // the next address, and the stagger timer for the one after
    void arm_stagger(std::chrono::milliseconds delay);
    void cancel_stagger();
    void on_attempt(std::size_t index, const asio::error_code& ec);
    void close_attempts();
    // One Happy Eyeballs attempt: its own socket until it wins (then it becomes socket_).
    struct Attempt {
        explicit Attempt(const Executor& ex) : socket(ex) {}
        asio::ip::tcp::socket socket;
        asio::ip::tcp::endpoint endpoint;
        bool pending = true;
        Clock::time_point started;
        std::string outcome;  // for attempts(); empty while pending
    };
    void start_tunnel();
    void read_tunnel_reply();
    void handshake_step();
    void read_loop();
    void on_read(const asio::error_code& ec, std::size_t n);
    // One queued piece of output: owned bytes, or a view of bytes `keep` holds alive.
    struct Out {
        Bytes own;
        std::span<const std::uint8_t> ref;
        std::shared_ptr<const void> keep;
        bool shared = false;     // `ref` is the data
        std::size_t offset = 0;  // plaintext already encrypted (plain_ only)
        std::span<const std::uint8_t> bytes() const noexcept {
            return shared ? ref : std::span<const std::uint8_t>(own);
        }
    };

    void pump();  // after new input: TLS records -> plaintext -> on_data
    void queue(Out out);
    void encrypt_some();  // TLS: plaintext -> records, a window ahead of the socket
    void flush();
    void drop_unsent();  // what no write under way is sending
    void detach();       // close() and abort(): no callbacks, no connect under way
    void write_failed(const Error& err);
    void finish_connect(const Error& err);
    void finish_handshake(const Error& err);
    void end(const Error& err);
    void shutdown_now();  // the stream ended (cleanly or not): report once

    Executor ex_;
    asio::ip::tcp::resolver resolver_;
    asio::ip::tcp::socket socket_;
    asio::steady_timer timer_;
    asio::steady_timer stagger_timer_;
    asio::steady_timer delay_timer_;  // the Resolution Delay
    Dial dial_;
    unsigned answers_due_ = 0;        // families the resolver has not answered yet
    bool racing_ = false;
    bool stagger_armed_ = false;
    std::vector<asio::ip::tcp::endpoint> answered_[2];  // AAAA, A: before the race starts
    Error resolve_error_;             // the first family that failed
    Clock::time_point last_attempt_;
    std::vector<asio::ip::tcp::endpoint> endpoints_;  // in the order tried
    std::vector<std::unique_ptr<Attempt>> attempts_;  // started so far, by index
    std::size_t running_ = 0;                        // attempts still pending
    unsigned stagger_gen_ = 0;                       // a stagger timer acts on its own arming
    Clock::time_point connect_start_;
    Error attempt_error_;                            // the last attempt's failure
    Endpoint target_;
    std::optional<Endpoint> proxy_;
    std::string remote_;
    Clock::time_point phase_start_;
    Done pending_;  // connect or handshake completion
    std::unique_ptr<tls::Session> tls_;
    std::function<void(std::span<const std::uint8_t>)> on_data_;
    Done on_closed_;
    std::function<void()> on_sent_;
    std::array<std::uint8_t, 64 * 1024> rbuf_{};
    std::string tunnel_reply_;
    std::deque<Out> plain_;    // TLS: plaintext not yet encrypted
    std::deque<Out> wqueue_;   // bytes for the socket
    std::size_t wqueue_bytes_ = 0;
    std::size_t in_flight_ = 0;  // wqueue_ entries the write under way is sending
    Error write_error_;          // the socket refused our bytes; reading goes on to the end
    bool close_notify_ = false;  // close(): send close_notify once plain_ is encrypted
    bool aborted_ = false;
    bool origin_may_speak_first_ = false;
    Bytes early_;  // the origin's bytes that came with the proxy's CONNECT reply
    bool writing_ = false;
    bool reading_ = false;
    bool paused_ = false;
    bool open_ = false;
    bool started_ = false;
    bool ended_ = false;
    bool eof_ = false;
    bool closing_ = false;
    unsigned phase_ = 0;  // connect, handshake: a timer only acts on its own phase
};

}  // namespace connmatrix::net
