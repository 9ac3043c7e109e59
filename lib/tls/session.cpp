// The shared half of every tls::Session: byte queues, sticky errors, the ALPN check.
#include <connmatrix/tls.hpp>

#include "alpn.hpp"

#include <algorithm>
#include <cstring>

namespace connmatrix::tls {

Session::Session(Role role, std::string backend, std::vector<std::string> offered_alpn)
    : role_(role), backend_(std::move(backend)), offered_(std::move(offered_alpn)) {}

Session::~Session() = default;

void Session::feed(std::span<const std::uint8_t> ciphertext) {
    if (eof_) return;  // nothing may follow end of stream
    // Compact once the consumed prefix dominates, so long-lived sessions don't grow.
    if (in_pos_ > 0 && in_pos_ >= in_.size() / 2) {
        in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(in_pos_));
        in_pos_ = 0;
    }
    in_.insert(in_.end(), ciphertext.begin(), ciphertext.end());
}

void Session::feed_eof() { eof_ = true; }

std::vector<std::uint8_t> Session::take_output() {
    std::vector<std::uint8_t> out;
    out.swap(out_);
    return out;
}

std::size_t Session::pull(std::uint8_t* dst, std::size_t n) noexcept {
    const std::size_t k = std::min(n, in_.size() - in_pos_);
    if (k > 0) std::memcpy(dst, in_.data() + in_pos_, k);
    in_pos_ += k;
    if (in_pos_ == in_.size()) {
        in_.clear();
        in_pos_ = 0;
    }
    return k;
}

void Session::push(const std::uint8_t* src, std::size_t n) { out_.insert(out_.end(), src, src + n); }

Status Session::fail(Error err) {
    if (!err.code) err.code = make_error_code(errc::internal);
    if (err.origin.empty()) err.origin = backend_;
    error_ = std::move(err);
    return Status::failed;
}

Status Session::handshake() {
    if (error_) return Status::failed;
    if (handshake_done_) return Status::ok;
    Error err;
    const Status s = do_handshake(err);
    if (s == Status::failed) return fail(std::move(err));
    if (s != Status::ok) {
        // A transport that ended mid-handshake can never complete it.
        if (s == Status::want_input && eof_ && input_size() == 0)
            return fail({errc::truncated, "connection closed during the handshake", 0, backend_});
        if (s == Status::closed)
            return fail({errc::closed, "peer closed the connection during the handshake", 0,
                         backend_});
        return s;
    }
    if (role_ == Role::client) {
        if (Error e = alpn::check_selected(do_alpn(), offered_)) return fail(std::move(e));
    }
    handshake_done_ = true;
    return Status::ok;
}

Status Session::write(std::span<const std::uint8_t> plaintext) {
    if (error_) return Status::failed;
    if (!handshake_done_ || closed_)
        return fail({errc::invalid_state,
                     closed_ ? "write after close()" : "write before the handshake completed", 0,
                     backend_});
    Error err;
    const Status s = do_write(plaintext, err);
    if (s == Status::failed) return fail(std::move(err));
    return s;
}

Status Session::read(std::vector<std::uint8_t>& plaintext) {
    if (error_) return Status::failed;
    if (!handshake_done_)
        return fail({errc::invalid_state, "read before the handshake completed", 0, backend_});
    if (peer_closed_) return Status::closed;
    Error err;
    const Status s = do_read(plaintext, err);
    if (s == Status::failed) return fail(std::move(err));
    if (s == Status::closed) peer_closed_ = true;
    if (s == Status::want_input && eof_ && input_size() == 0)
        return fail({errc::truncated,
                     "connection closed without close_notify (possible truncation attack)", 0,
                     backend_});
    return s;
}

void Session::close() {
    if (closed_ || error_) return;
    closed_ = true;
    do_close();
}

std::optional<std::string> Session::alpn() const { return do_alpn(); }

SessionInfo Session::info() const {
    SessionInfo i = do_info();
    i.backend = backend_;
    i.role = role_;
    i.alpn = do_alpn();
    return i;
}

std::vector<std::uint8_t> Session::export_session() const {
    if (role_ != Role::client || !handshake_done_) return {};
    return do_export_session();
}

}  // namespace connmatrix::tls
