// The record observer (lib-internal): follows TLS record boundaries in one direction of a
// session's byte stream, as the base Session's pull() and push() hand bytes to the library,
// during the handshake only (afterwards nothing is observed: the data path pays nothing).
//
// What it learns, for every backend alike:
//  - the peer's first handshake message (its ClientHello or ServerHello), reassembled from the
//    plaintext handshake records that carry it, for hello::parse();
//  - whether the last complete record was a plaintext alert (two bytes), and which: a TLS 1.3
//    peer that gives up before switching keys sends its alert in the clear, and a library that
//    then fails to decrypt it deserves to be told what the peer said;
//  - how many alert records went by (output: did the library already tell the peer why).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace connmatrix::tls {

inline constexpr std::uint8_t record_change_cipher_spec = 20;
inline constexpr std::uint8_t record_alert = 21;
inline constexpr std::uint8_t record_handshake = 22;
inline constexpr std::uint8_t record_application_data = 23;

class RecordObserver {
public:
    // A hello larger than this is not reassembled (RFC 8446 allows 2^24, real ones are < 16 KiB).
    static constexpr std::size_t max_message = 64 * 1024;

    void consume(std::span<const std::uint8_t> bytes) noexcept;

    std::size_t records() const noexcept { return records_; }  // complete records seen
    std::size_t alerts() const noexcept { return alerts_; }    // ... of which alerts
    // The last complete record was a two-byte fatal alert, so a plaintext one: its description.
    std::optional<std::uint8_t> last_plaintext_alert() const noexcept;
    // The first handshake message (type, length, body), once all of it has gone by in
    // plaintext handshake records; nullptr until then, or when it was too large or garbled.
    const std::vector<std::uint8_t>* first_message() const noexcept {
        return message_done_ ? &message_ : nullptr;
    }

private:
    void header_complete() noexcept;
    void body(std::span<const std::uint8_t> bytes) noexcept;
    void record_complete() noexcept;

    std::array<std::uint8_t, 5> header_{};
    std::size_t header_have_ = 0;
    std::size_t body_left_ = 0;
    std::size_t body_len_ = 0;
    std::array<std::uint8_t, 2> alert_{};
    std::size_t records_ = 0, alerts_ = 0;
    std::optional<std::uint8_t> last_alert_;  // of the last complete record, if a plaintext alert

    std::vector<std::uint8_t> message_;
    bool message_done_ = false;
    bool message_failed_ = false;  // garbled, too large, interrupted, or out of memory
};

}  // namespace connmatrix::tls
