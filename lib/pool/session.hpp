// The protocol spoken on a ready connection (lib-internal): HTTP/1.1 (h1_session.cpp) or
// HTTP/2 (h2_session.cpp), and what such a session calls back into the connection carrying it.
#pragma once

#include "exchange.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace connmatrix::pool {

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
    // h2: the server has not sent its SETTINGS within `waited`. A server that speaks h2 sends
    // them at once (RFC 9113 3.4): by prior knowledge (unconfirmed) this counts as a rejection;
    // after ALPN h2 the connection fails with http2:settings_timeout.
    virtual void confirmation_overdue(std::chrono::milliseconds waited) { (void)waited; }
    // Some of our bytes were written: what was held back for room (h2 DATA) may go now.
    virtual void on_sent() {}
    // h2: sends a PING now (the owner hears of its ACK through pinged()). False where the
    // protocol has none (HTTP/1.1) or the session cannot send it.
    virtual bool ping() { return false; }
    // The body sink of `ex` (Request::on_body), paused, may take more: what is held goes to it,
    // then the flow resumes (h2: WINDOW_UPDATE as it takes; HTTP/1.1: reading again).
    virtual void resume(Exchange& ex) { (void)ex; }
};

// What a ProtoSession calls back into its Connection.
class SessionOwner {
public:
    virtual ~SessionOwner() = default;
    virtual void send_bytes(std::span<const std::uint8_t> bytes) = 0;
    // The same, taking the buffer over (no copy when nothing else is waiting).
    virtual void send_owned(std::vector<std::uint8_t> bytes) = 0;
    // Bytes given to send_* and not yet written to the socket.
    virtual std::size_t queued() const = 0;
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
    // Bytes sent where they are, not copied (a request body, from its Exchange): `owner` keeps
    // them alive until they are written.
    virtual void send_shared(std::span<const std::uint8_t> bytes,
                             std::shared_ptr<const void> owner) = 0;
    // Some of our bytes are not written yet (a response can end before its request is sent).
    virtual bool sending() const = 0;
    // The connection is unusable for `why` (unsolicited bytes, ...): close it. `why` is what the
    // pool reports when the connection never carried a request.
    virtual void fail_connection(const Error& why) = 0;
    // Close at once, dropping what is not written yet.
    virtual void abort_transport() = 0;
    // The server refused `ex` with HTTP_1_1_REQUIRED (RST_STREAM or GOAWAY 0xd) before any
    // response: it did not process it. It goes again over HTTP/1.1 where the policy allows,
    // else ends with http2:http_1_1_required. `why`: how the server said it.
    virtual void http11_required(const ExchangePtr& ex, const std::string& why) = 0;
    // The peer acknowledged a PING sent by ProtoSession::ping().
    virtual void pinged() {}
    // Backpressure for a paused body sink over HTTP/1.1: stop reading the socket, and go on.
    virtual void pause_reading() {}
    virtual void resume_reading() {}
    // Runs `f` on the loop after `delay`, unless the connection closes first; a second call
    // replaces the first (HTTP/1.1's wait for 100 Continue: one exchange at a time), and an
    // empty `f` cancels it.
    virtual void after(std::chrono::milliseconds delay, std::function<void()> f) = 0;
};

// offer_upgrade: the first bodyless request offers `Upgrade: h2c` (policy cleartext h2c-upgrade).
// expect_timeout: how long a request with `Expect: 100-continue` holds its body back for the
// 100 (ClientOptions::expect_continue_timeout).
std::unique_ptr<ProtoSession> make_h1_session(SessionOwner& owner, std::size_t max_body,
                                              bool offer_upgrade = false,
                                              std::size_t max_interim = 32,
                                              std::chrono::milliseconds expect_timeout =
                                                  std::chrono::seconds(1));
// `limits`: what the server may make the session do (ClientOptions::h2).
std::unique_ptr<ProtoSession> make_h2_session(SessionOwner& owner, std::size_t max_body,
                                              std::uint32_t max_streams_cap,
                                              bool unconfirmed, const Http2Limits& limits);
// After 101 Switching Protocols: stream 1 carries `ex`'s response.
std::unique_ptr<ProtoSession> make_h2_upgraded_session(SessionOwner& owner, std::size_t max_body,
                                                       std::uint32_t max_streams_cap,
                                                       const ExchangePtr& ex,
                                                       const Http2Limits& limits);

}  // namespace connmatrix::pool
