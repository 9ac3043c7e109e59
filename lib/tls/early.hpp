// TLS 1.3 early data, 0-RTT (lib-internal): the rules and state every backend shares
// (RFC 8446 2.3, 4.2.10, 4.6.1, 8). A backend only hands the bytes to its library and reads back
// whether the server took them.
//
// Client: the core decides, when the session is made, how much early data it may send: none
// unless ClientConfig::early_data is on and the session resumes an envelope whose TLS 1.3
// ticket allowed early data (the envelope records the ticket's max_early_data_size), and the
// ALPN protocol that session selected is the first of our offer (no offer: it selected none).
// RFC 8446 4.2.10 lets a client send early data only in the protocol of the original session;
// demanding it first in the offer means the caller writes early data in the protocol it offers
// first, and a server choosing anything else after accepting is refused by the core. The bytes
// are queued by write_early() and handed to the library once, before the first handshake step,
// so they leave in the first flight. Nothing is ever resent: when the server rejects them the
// caller decides (only it knows whether a replay is safe).
//
// Server: what the library received as early data is kept here until read_early() or read()
// takes it; the status is "rejected" when the ClientHello offered early data and the library
// did not accept it.
#pragma once

#include "envelope.hpp"

#include <connmatrix/tls.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace connmatrix::tls::early {

inline constexpr std::uint8_t new_session_ticket = 4;  // handshake message type
inline constexpr std::uint16_t ext_early_data = 42;

// What the core decided for a client session when it was made.
struct Plan {
    std::uint32_t capacity = 0;        // bytes of early data the session may send
    std::optional<std::string> alpn;   // the protocol they are written in (the ticket's)
};
// ClientConfig::early_data with an envelope vetted for this connection (RFC 8446 4.2.10).
Plan plan(const ClientConfig& cfg, const envelope::Fields& sealed);

// The early_data extension's max_early_data_size in a TLS 1.3 NewSessionTicket body
// (RFC 8446 4.6.1); nullopt when the ticket carries none, or is malformed.
std::optional<std::uint32_t> ticket_max_early_data(std::span<const std::uint8_t> body) noexcept;

// The configuration rules (validate.cpp runs them with the others).
Error check_client(const ClientConfig& cfg, const Capabilities& caps);
Error check_server(const ServerConfig& cfg, const Capabilities& caps);

// One session's early data state, in the SessionCore.
class State {
public:
    State() = default;
    explicit State(Plan plan) : plan_(std::move(plan)) {}

    // --- client ---------------------------------------------------------------------------
    std::size_t capacity_left() const noexcept {
        return handed_ ? 0 : plan_.capacity - queued_.size();
    }
    const std::optional<std::string>& alpn() const noexcept { return plan_.alpn; }
    // write_early(): the bytes, checked against what is left; an invalid_state Error if not.
    Error queue(std::span<const std::uint8_t> bytes);
    // The queued bytes, for do_write_early(); afterwards nothing more may be queued.
    std::vector<std::uint8_t> hand_over();
    bool handed_over() const noexcept { return handed_; }  // handshake() has begun
    bool attempted() const noexcept { return attempted_; }  // bytes went to the library
    // A NewSessionTicket the server sent (TLS 1.3): the last one's limit is the one exported.
    void observe_ticket(std::span<const std::uint8_t> body) noexcept;
    std::uint32_t ticket_max_early_data() const noexcept { return ticket_max_; }

    // --- server ---------------------------------------------------------------------------
    void received(std::span<const std::uint8_t> bytes);  // may throw std::bad_alloc
    bool take(std::vector<std::uint8_t>& out);           // false when nothing is waiting

    // --- both, once the handshake completed -------------------------------------------------
    void settle(EarlyData e) noexcept { result_ = e; }
    EarlyData result() const noexcept { return result_; }

private:
    Plan plan_;
    std::vector<std::uint8_t> queued_;  // client: until handed over
    bool handed_ = false;
    bool attempted_ = false;
    std::uint32_t ticket_max_ = 0;
    std::vector<std::uint8_t> received_;  // server: until read
    EarlyData result_ = EarlyData::not_attempted;
};

}  // namespace connmatrix::tls::early
