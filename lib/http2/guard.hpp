// http2/guard.hpp - what bounds a hostile server (lib-internal): the per-connection budgets of
// ClientOptions, and a reader of every frame header the server sends, in order, before nghttp2
// sees the frame. nghttp2 passes some frames to no callback at all (unknown types, DATA on a
// closed stream), so only a reader in front of it can count every one.
//
//     Guard g(options, now);
//     if (auto stop = g.scan(bytes, now)) {   // feed nghttp2 bytes[0, stop->at) only, then
//         ... stop->error, stop->h2_code      // end the connection with that GOAWAY code
//     }
#pragma once

#include "http2.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

namespace connmatrix::http2 {

using Clock = std::chrono::steady_clock;

// RateLimit as a token bucket: `burst` tokens at first, `per_second` more each second, never
// more than `burst`.
class TokenBucket {
public:
    TokenBucket(RateLimit limit, Clock::time_point now) noexcept;
    // One event now; false when no token is left (the limit is exceeded).
    bool take(Clock::time_point now) noexcept;
    RateLimit limit() const noexcept { return limit_; }

private:
    RateLimit limit_;
    double tokens_;
    Clock::time_point last_;
};

class Guard {
public:
    struct Stop {
        std::size_t at = 0;  // offset in the scanned bytes of the first frame that may not go on
        Error error;
        std::uint32_t h2_code = 0;  // for our GOAWAY
    };

    Guard(const ClientOptions& options, Clock::time_point now) noexcept;

    // Whether a stream may still carry its response to us (ours, not yet closed or reported).
    using IsOpen = std::function<bool(std::int32_t stream_id)>;

    // The next bytes from the server (frame headers may span calls). nullopt: every frame that
    // starts in them may go to nghttp2; otherwise where to cut, and why. `open` is asked about
    // the stream of each DATA and HEADERS frame: on a stream that is not open they carry
    // nothing to us, and count as control frames.
    std::optional<Stop> scan(std::span<const std::uint8_t> bytes, Clock::time_point now,
                             const IsOpen& open);

    // We sent a frame the server may answer with WINDOW_UPDATEs: a DATA frame earns two (its
    // stream's and the connection's), a HEADERS one. A WINDOW_UPDATE beyond what we earned
    // counts as a control frame.
    void sent(std::uint8_t frame_type) noexcept;

    // What the session sees only in nghttp2's callbacks. Each returns the error to end the
    // connection with (GOAWAY ENHANCE_YOUR_CALM), or nothing while within the limit.
    // A frame that makes us work without carrying a response (an interim 1xx response, a
    // RST_STREAM for a stream that is no longer open): `what` names it in the error.
    std::optional<Error> control_frame(std::string_view what, Clock::time_point now);
    // The server reset one of our streams before its response was complete.
    std::optional<Error> peer_reset(std::int32_t stream_id, std::uint32_t code,
                                    Clock::time_point now);

private:
    std::optional<Stop> frame(std::size_t at, Clock::time_point now, const IsOpen& open);
    std::optional<Stop> stop(std::size_t at, std::string_view what, Clock::time_point now);

    std::uint32_t max_empty_;
    TokenBucket control_;
    TokenBucket resets_;
    std::uint32_t empty_run_ = 0;  // DATA frames in a row without data or END_STREAM, on open
                                   // streams; only DATA or HEADERS on an open stream end a run
    std::uint32_t updates_earned_ = 0;  // WINDOW_UPDATEs our frames sent allow (sent())
    std::uint8_t head_[10] = {};   // the frame header being read (+ the pad length of DATA)
    std::size_t have_ = 0;         // bytes of it read
    std::size_t need_ = 9;         // bytes of it needed: 9, or 10 for padded DATA
    std::size_t skip_ = 0;         // payload bytes of the current frame still to pass
    std::size_t start_ = 0;        // offset of the current header in the bytes being scanned
};

}  // namespace connmatrix::http2
