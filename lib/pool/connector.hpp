// Connector: one connection attempt, from a route to a ready transport (lib-internal).
//
//   DNS, TCP (+ an HTTP CONNECT tunnel through the policy's proxy)        net::Transport
//   https: the TLS context (cached), a session offering negotiate::alpn_offer(), its handshake
//   -> one answer: a ready transport with its TLS session and what was learnt, or an Error
//
// It knows nothing of hosts, pools or requests: the pool asks for attempts and decides what to
// speak on what comes back (negotiate::decide()).
#pragma once

#include "events.hpp"
#include "exchange.hpp"
#include "lru.hpp"
#include "resolver.hpp"
#include "transport.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace connmatrix::pool {

// Client TLS contexts, by everything in them that changes the wire (backend, ALPN offer,
// verification, CA file, minimum version): building one loads a CA bundle, so connections
// share them. At most `capacity` are kept, the least recently used goes first; dropping one
// here is safe, a live session keeps its context's library state alive by itself.
class TlsContexts {
public:
    static constexpr std::size_t default_capacity = 16;
    explicit TlsContexts(std::size_t capacity = default_capacity, std::string keylog_file = {})
        : contexts_(capacity), keylog_file_(std::move(keylog_file)) {}

    // The cached context for `cfg`, or a new one; nullptr and err set when the backend
    // cannot honour the configuration.
    std::shared_ptr<tls::ClientContext> get(const tls::Backend& backend,
                                            const tls::ClientConfig& cfg, Error& err);
    std::size_t size() const noexcept { return contexts_.size(); }
    // Where every context's sessions log their secrets (ClientOptions::keylog_file); "": none.
    const std::string& keylog_file() const noexcept { return keylog_file_; }

private:
    Lru<std::shared_ptr<tls::ClientContext>> contexts_;
    std::string keylog_file_;
};

// What to connect to, for one attempt.
struct ConnectTarget {
    std::shared_ptr<const policy::ResolvedPolicy> policy;
    const tls::Backend* backend = nullptr;  // https: Route::backend
    bool http1_forced = false;              // a remembered fallback: the offer has no h2
    std::vector<std::uint8_t> resume;       // a TLS session to resume (if the policy allows)
    std::size_t id = 0;                     // the connection's number, for log lines
    const Observer* observer = nullptr;     // ClientOptions::on_event: dns, connect, tls
    // TLS 1.3 early data (policy tls.early_data): asked once, after the session was made and
    // before its handshake, when the session may send early data. `alpn`: the protocol it is
    // written in (the first of the offer, which the resumed session selected; nullopt: no
    // ALPN); `capacity`: how many bytes it may be. The answer goes out as early data; empty:
    // none. The call comes on the I/O thread, inside the attempt.
    std::function<std::vector<std::uint8_t>(const std::optional<std::string>& alpn,
                                            std::size_t capacity)>
        early;
};

// The answer to one attempt. `info` holds what the attempt learnt as far as it got (rule and
// mode always; backend and ALPN offered once the TLS session existed; the rest after the
// handshake; timings), on success and on error alike.
struct Connected {
    Error error;
    std::shared_ptr<net::Transport> transport;  // open and ready; null on error
    ConnectionInfo info;
    std::vector<std::uint8_t> tls_session;      // exported after the handshake, or empty
    bool early_written = false;  // ConnectTarget::early's bytes went to the session; their
                                 // fate is info.early_data (once the handshake completed)
};

// An attempt in flight.
class ConnectAttempt {
public:
    virtual ~ConnectAttempt() = default;
    virtual void cancel() = 0;  // closes what is open; the answer never comes
};

class Connector {
public:
    using Done = std::function<void(Connected)>;

    // `dns`: c-ares (a Resolver of this Connector's, its cache shared by every attempt) or,
    // with dns.system, getaddrinfo. Throws std::system_error when c-ares cannot start.
    Connector(const net::Executor& ex, Logger log, std::string keylog_file = {},
              const DnsOptions& dns = {});
    ~Connector();

    // Starts an attempt. `done` runs exactly once, later, on the I/O thread (never inside this
    // call), unless the attempt is cancelled first.
    std::shared_ptr<ConnectAttempt> connect(ConnectTarget target, Done done);

    const TlsContexts& contexts() const noexcept { return contexts_; }

private:
    net::Executor ex_;
    Logger log_;
    TlsContexts contexts_;
    std::unique_ptr<net::Resolver> resolver_;  // null: getaddrinfo
    std::chrono::milliseconds resolution_delay_;
};

}  // namespace connmatrix::pool
