#include "records.hpp"

#include <algorithm>

namespace connmatrix::tls {

void RecordObserver::consume(std::span<const std::uint8_t> bytes) noexcept {
    while (!bytes.empty()) {
        if (header_have_ < header_.size()) {
            const std::size_t k = std::min(bytes.size(), header_.size() - header_have_);
            std::copy_n(bytes.begin(), k, header_.begin() + static_cast<std::ptrdiff_t>(header_have_));
            header_have_ += k;
            bytes = bytes.subspan(k);
            if (header_have_ == header_.size()) header_complete();
            continue;
        }
        const std::size_t k = std::min(bytes.size(), body_left_);
        body(bytes.first(k));
        bytes = bytes.subspan(k);
        body_left_ -= k;
        if (body_left_ == 0) record_complete();
    }
}

void RecordObserver::header_complete() noexcept {
    body_len_ = body_left_ = (std::size_t{header_[3]} << 8) | header_[4];
    // The hello must start the stream's handshake records; anything else before it ends the
    // reassembly (a plaintext alert, garbage, an SSLv2 hello: the library will say what it is).
    if (!message_done_ && !message_failed_ && header_[0] != record_handshake)
        message_failed_ = true;
    if (body_left_ == 0) record_complete();
}

void RecordObserver::body(std::span<const std::uint8_t> bytes) noexcept {
    if (header_[0] == record_alert) {
        const std::size_t at = body_len_ - body_left_;
        for (std::size_t i = 0; i < bytes.size() && at + i < alert_.size(); ++i)
            alert_[at + i] = bytes[i];
    }
    if (header_[0] != record_handshake || message_done_ || message_failed_) return;
    // A handshake message: type(1) length(3) body, possibly spread over several records.
    std::size_t want = 4;
    if (message_.size() >= 4)
        want += (std::size_t{message_[1]} << 16) | (std::size_t{message_[2]} << 8) | message_[3];
    try {
        for (const std::uint8_t c : bytes) {
            message_.push_back(c);
            if (message_.size() == 4) {
                want += (std::size_t{message_[1]} << 16) | (std::size_t{message_[2]} << 8) |
                        message_[3];
                if (want > max_message) {
                    message_failed_ = true;
                    return;
                }
            }
            if (message_.size() == want) {
                message_done_ = true;
                return;
            }
        }
    } catch (...) {  // out of memory: observation is best effort
        message_failed_ = true;
    }
}

void RecordObserver::record_complete() noexcept {
    ++records_;
    last_alert_.reset();
    if (header_[0] == record_alert) {
        ++alerts_;
        if (body_len_ == alert_.size() && alert_[0] == 2) last_alert_ = alert_[1];  // level fatal
    }
    header_have_ = 0;
}

std::optional<std::uint8_t> RecordObserver::last_plaintext_alert() const noexcept {
    return last_alert_;
}

}  // namespace connmatrix::tls
