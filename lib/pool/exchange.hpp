// What travels through the pool (lib-internal): one request from submit() until its answer, the
// route its origin resolved to, and the Client's logger. Everything in lib/pool runs on the
// Client's I/O thread; nothing is locked.
#pragma once

#include <connmatrix/client.hpp>
#include <connmatrix/policy.hpp>
#include <connmatrix/tls.hpp>

#include <asio.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

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

class Observer;
struct OriginStats;

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
    bool http11_required = false;   // an h2 server refused it with HTTP_1_1_REQUIRED: it goes
                                    // again over HTTP/1.1, once
    bool early = false;       // went as TLS 1.3 early data on its connection, and was accepted
    bool too_early = false;   // answered 425 Too Early once: never again as early data
    std::weak_ptr<Connection> connection;  // the one carrying it now, if any
    // What cancels it from outside (the Client's RequestHandle state, with its stop_token's
    // registration): kept alive until it ends, released then.
    std::shared_ptr<void> canceller;
    // Request::on_body: the body goes to the sink as it arrives (body.hpp's deliver_*).
    bool head_delivered = false;  // on_response has run
    bool body_delivered = false;  // some of the body reached the sink: never sent again
    bool paused = false;          // the sink answered pause; RequestHandle::resume() ends that
    // Request::body_source: the body is read as it goes out (body.hpp's read_source).
    std::uint64_t upload_read = 0;  // bytes the source has given on this attempt
    bool upload_started = false;    // it has been read: rewind before another attempt
    bool upload_waiting = false;    // it had nothing ready: RequestHandle::resume() asks again
    Error upload_error;             // what ended the upload (h2: its stream was reset for it)
    // ClientOptions::on_event (events.hpp's note()): the Pool's, set by submit().
    const Observer* observer = nullptr;
    std::uint64_t id = 0;             // its number in the Client, from 1
    std::uint64_t connection_id = 0;  // the connection carrying it now, 0 before one
    bool body_noted = false;          // first_body_byte was told
    OriginStats* origin_stats = nullptr;  // Client::Stats::origins: its origin's entry

    bool streaming() const noexcept { return static_cast<bool>(request.on_body); }
    // A body to send from a source: one with a known length of zero is no body at all.
    bool uploading() const noexcept {
        return static_cast<bool>(request.body_source) && request.body_source.length != 0u;
    }
    // Any body to send, whole or from a source.
    bool has_body() const noexcept { return !request.body.empty() || uploading(); }

    bool idempotent() const noexcept;  // RFC 9110 9.2.2
};
using ExchangePtr = std::shared_ptr<Exchange>;

}  // namespace connmatrix::pool
