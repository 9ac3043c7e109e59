// TLS 1.3 early data: the rules (early.hpp) and the Session's early data calls.
#include "early.hpp"

#include "core.hpp"

#include <algorithm>

namespace connmatrix::tls {
namespace early {
namespace {

Error bad(errc code, std::string detail) {
    return {code, std::move(detail), 0, std::string(core_origin)};
}

// Big-endian reads over a NewSessionTicket body; every read is bounds-checked.
class Cursor {
public:
    explicit Cursor(std::span<const std::uint8_t> b) noexcept : b_(b) {}
    bool ok() const noexcept { return ok_; }
    std::size_t left() const noexcept { return b_.size() - pos_; }
    std::uint32_t number(std::size_t bytes) noexcept {
        std::uint32_t v = 0;
        for (auto c : take(bytes)) v = (v << 8) | c;
        return v;
    }
    std::span<const std::uint8_t> take(std::size_t n) noexcept {
        if (!ok_ || n > left()) {
            ok_ = false;
            return {};
        }
        auto s = b_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    Cursor vec(std::size_t width) noexcept { return Cursor(take(number(width))); }

private:
    std::span<const std::uint8_t> b_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace

Plan plan(const ClientConfig& cfg, const envelope::Fields& sealed) {
    Plan p;
    if (!cfg.early_data || sealed.max_early_data == 0) return p;
    const std::optional<std::string> first =
        cfg.alpn.empty() ? std::nullopt : std::optional<std::string>(cfg.alpn.front());
    if (sealed.alpn != first) return p;  // RFC 8446 4.2.10: the original session's protocol
    p.capacity = sealed.max_early_data;
    p.alpn = sealed.alpn;
    return p;
}

std::optional<std::uint32_t> ticket_max_early_data(std::span<const std::uint8_t> body) noexcept {
    Cursor r(body);
    r.take(4 + 4);  // ticket_lifetime, ticket_age_add
    r.vec(1);       // ticket_nonce
    r.vec(2);       // ticket
    Cursor exts = r.vec(2);
    if (!r.ok() || r.left() != 0) return std::nullopt;
    std::optional<std::uint32_t> found;
    while (exts.ok() && exts.left() > 0) {
        const std::uint32_t type = exts.number(2);
        Cursor ext = exts.vec(2);
        if (!exts.ok()) return std::nullopt;
        if (type != ext_early_data) continue;
        if (found || ext.left() != 4) return std::nullopt;  // twice, or not a uint32
        found = ext.number(4);
    }
    return exts.ok() ? found : std::nullopt;
}

Error check_client(const ClientConfig& cfg, const Capabilities& caps) {
    if (cfg.early_data && !caps.early_data)
        return bad(errc::unsupported,
                   std::string("early_data: 0-RTT is TLS 1.3 early data, which this backend's "
                               "library cannot send") +
                       (caps.tls13 ? "" : " (it has no TLS 1.3)"));
    return {};
}

Error check_server(const ServerConfig& cfg, const Capabilities& caps) {
    if (cfg.max_early_data == 0) return {};
    if (!caps.early_data)
        return bad(errc::unsupported,
                   std::string("max_early_data: 0-RTT is TLS 1.3 early data, which this "
                               "backend's library cannot accept") +
                       (caps.tls13 ? "" : " (it has no TLS 1.3)"));
    if (!cfg.session_tickets)
        return bad(errc::invalid_config,
                   "max_early_data needs session_tickets: early data rides on a resumed ticket");
    return {};
}

Error State::queue(std::span<const std::uint8_t> bytes) {
    if (handed_)
        return bad(errc::invalid_state,
                   "write_early after handshake() was called: early data goes in the first "
                   "flight only");
    if (plan_.capacity == 0)
        return bad(errc::invalid_state,
                   "write_early: this session may send no early data (early_data off, no "
                   "resumed TLS 1.3 ticket allowing it, or its ALPN is not the first offered)");
    if (bytes.size() > capacity_left())
        return bad(errc::invalid_state,
                   "write_early: " + std::to_string(bytes.size()) + " bytes exceed the " +
                       std::to_string(capacity_left()) + " left of the ticket's " +
                       std::to_string(plan_.capacity) + " bytes of early data");
    queued_.insert(queued_.end(), bytes.begin(), bytes.end());
    return {};
}

std::vector<std::uint8_t> State::hand_over() {
    handed_ = true;
    attempted_ = !queued_.empty();
    return std::exchange(queued_, {});
}

void State::observe_ticket(std::span<const std::uint8_t> body) noexcept {
    ticket_max_ = early::ticket_max_early_data(body).value_or(0);
}

void State::received(std::span<const std::uint8_t> bytes) {
    received_.insert(received_.end(), bytes.begin(), bytes.end());
}

bool State::take(std::vector<std::uint8_t>& out) {
    if (received_.empty()) return false;
    out.insert(out.end(), received_.begin(), received_.end());
    received_.clear();
    received_.shrink_to_fit();
    return true;
}

}  // namespace early

std::string_view to_string(EarlyData e) noexcept {
    switch (e) {
        case EarlyData::not_attempted: return "not_attempted";
        case EarlyData::accepted: return "accepted";
        case EarlyData::rejected: return "rejected";
    }
    return "unknown";
}

// --- the Session's early data calls -------------------------------------------------------------

std::size_t Session::early_data_capacity() const noexcept {
    if (role_ != Role::client || error_) return 0;
    return core_->early.capacity_left();
}

Status Session::write_early(std::span<const std::uint8_t> plaintext) {
    if (error_) return Status::failed;
    if (role_ != Role::client)
        return fail({errc::invalid_state, "write_early on a server session", 0,
                     std::string(core_origin)});
    if (Error e = core_->early.queue(plaintext)) return fail(std::move(e));
    return Status::ok;
}

Status Session::read_early(std::vector<std::uint8_t>& plaintext) {
    if (error_) return Status::failed;
    if (role_ != Role::server)
        return fail({errc::invalid_state, "read_early on a client session", 0,
                     std::string(core_origin)});
    return core_->early.take(plaintext) ? Status::ok : Status::want_input;
}

EarlyData Session::early_data() const noexcept {
    return handshake_done_ ? core_->early.result() : EarlyData::not_attempted;
}

Status Session::do_write_early(std::span<const std::uint8_t>, Error& err) {
    err = {errc::unsupported, "this backend cannot send early data", 0, backend_};
    return Status::failed;
}

// Called by handshake() before each do_handshake(): acts the first time only.
Status Session::send_early(Error& err) {
    if (role_ != Role::client || core_->early.handed_over()) return Status::ok;
    const std::vector<std::uint8_t> queued = core_->early.hand_over();
    if (queued.empty()) return Status::ok;
    return do_write_early(queued, err);
}

// Called by handshake() once the library completed it.
Error Session::settle_early() {
    EarlyData e = EarlyData::not_attempted;
    const bool accepted = do_early_data_accepted();
    if (role_ == Role::client) {
        if (core_->early.attempted()) e = accepted ? EarlyData::accepted : EarlyData::rejected;
        // RFC 8446 4.2.10: a server accepting early data must select the ticket's protocol.
        if (e == EarlyData::accepted && do_alpn() != core_->early.alpn())
            return {errc::handshake_failed,
                    "the server accepted early data written for ALPN " +
                        core_->early.alpn().value_or("(none)") + " but selected " +
                        do_alpn().value_or("(none)") + " (RFC 8446 4.2.10)",
                    0, std::string(core_origin)};
    } else {
        const hello::Message* ch = core_->peer_hello();
        if (accepted)
            e = EarlyData::accepted;
        else if (ch != nullptr && ch->early_data)
            e = EarlyData::rejected;
    }
    core_->early.settle(e);
    return {};
}

}  // namespace connmatrix::tls
