// The per-connection budgets against a hostile server, and the reader of its frame headers.
#include "guard.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <string>

namespace connmatrix::http2 {
namespace {

Error make(errc e, std::string detail) {
    return {make_error_code(e), std::move(detail), 0, "http2"};
}

std::string describe(RateLimit l) {
    return std::to_string(l.burst) + " at once, then " + std::to_string(l.per_second) + "/s";
}

std::string_view frame_name(std::uint8_t type) {
    switch (type) {
        case NGHTTP2_PRIORITY: return "PRIORITY";
        case NGHTTP2_SETTINGS: return "SETTINGS";
        case NGHTTP2_PING: return "PING";
        case NGHTTP2_GOAWAY: return "GOAWAY";
        default: return "";
    }
}

// DATA on a stream no longer open that carries at least this much is not counted.
constexpr std::size_t dead_data_exempt = 1024;

}  // namespace

TokenBucket::TokenBucket(RateLimit limit, Clock::time_point now) noexcept
    : limit_(limit), tokens_(limit.burst), last_(now) {}

bool TokenBucket::take(Clock::time_point now) noexcept {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = std::max(last_, now);
    if (elapsed > 0)
        tokens_ = std::min<double>(limit_.burst, tokens_ + elapsed * limit_.per_second);
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
}

Guard::Guard(const ClientOptions& o, Clock::time_point now) noexcept
    : max_empty_(o.max_empty_data_frames), control_(o.control_frames, now),
      resets_(o.peer_resets, now) {}

void Guard::sent(std::uint8_t frame_type) noexcept {
    // Capped, so a long upload does not buy the server a later flood of its own.
    constexpr std::uint32_t cap = 1u << 16;
    const std::uint32_t n = frame_type == NGHTTP2_DATA ? 2 : frame_type == NGHTTP2_HEADERS ? 1 : 0;
    updates_earned_ = std::min(cap, updates_earned_ + n);
}

std::optional<Guard::Stop> Guard::scan(std::span<const std::uint8_t> b, Clock::time_point now,
                                       const IsOpen& open) {
    start_ = 0;  // a header begun in an earlier call: cutting here keeps all of it back
    for (std::size_t i = 0; i < b.size();) {
        if (skip_ > 0) {
            const std::size_t n = std::min(skip_, b.size() - i);
            skip_ -= n;
            i += n;
            continue;
        }
        if (have_ == 0) start_ = i;
        head_[have_++] = b[i++];
        const std::size_t length = (std::size_t{head_[0]} << 16) | (head_[1] << 8) | head_[2];
        if (have_ == 9 && head_[3] == NGHTTP2_DATA && (head_[4] & NGHTTP2_FLAG_PADDED) &&
            length > 0)
            need_ = 10;  // whether it carries data depends on its pad length
        if (have_ < need_) continue;
        skip_ = length - (need_ - 9);
        have_ = 0;
        need_ = 9;
        if (auto stop = frame(start_, now, open)) return stop;
    }
    return std::nullopt;
}

std::optional<Guard::Stop> Guard::stop(std::size_t at, std::string_view what,
                                       Clock::time_point now) {
    if (auto e = control_frame(what, now))
        return Stop{at, std::move(*e), NGHTTP2_ENHANCE_YOUR_CALM};
    return std::nullopt;
}

std::optional<Guard::Stop> Guard::frame(std::size_t at, Clock::time_point now,
                                        const IsOpen& open) {
    const std::size_t length = (std::size_t{head_[0]} << 16) | (head_[1] << 8) | head_[2];
    const std::uint8_t type = head_[3], flags = head_[4];
    const std::int32_t stream = static_cast<std::int32_t>(
        (std::uint32_t{head_[5] & 0x7fu} << 24) | (std::uint32_t{head_[6]} << 16) |
        (std::uint32_t{head_[7]} << 8) | head_[8]);
    const auto not_open = [&](std::string_view frame) {
        return std::string(frame) + " on stream " + std::to_string(stream) + ", which is not open";
    };
    switch (type) {
        case NGHTTP2_DATA: {
            std::size_t data = length;
            if (flags & NGHTTP2_FLAG_PADDED) data = length > head_[9] ? length - 1 - head_[9] : 0;
            if (!open(stream)) {
                // nghttp2 drops it unseen, and it ends no empty run. What a server had in
                // flight when we reset a stream comes in full frames, which cost the server the
                // bandwidth they cost us: only small ones count.
                if (data >= dead_data_exempt) return std::nullopt;
                return stop(at, not_open("DATA"), now);
            }
            if (data > 0 || (flags & NGHTTP2_FLAG_END_STREAM)) {
                empty_run_ = 0;
                return std::nullopt;
            }
            if (++empty_run_ <= max_empty_) return std::nullopt;
            return Stop{at,
                        make(errc::flood, std::to_string(empty_run_) +
                                              " DATA frames in a row without data or END_STREAM "
                                              "(limit max_empty_data_frames " +
                                              std::to_string(max_empty_) + ")"),
                        NGHTTP2_ENHANCE_YOUR_CALM};
        }
        case NGHTTP2_HEADERS:
            if (!open(stream)) return stop(at, not_open("HEADERS"), now);
            empty_run_ = 0;
            return std::nullopt;
        case NGHTTP2_WINDOW_UPDATE:
            // It only lets us send: useful as often as we sent something to answer.
            if (updates_earned_ > 0) {
                --updates_earned_;
                return std::nullopt;
            }
            return stop(at,
                        "WINDOW_UPDATE on stream " + std::to_string(stream) +
                            " beyond two per DATA frame we sent",
                        now);
        case NGHTTP2_PUSH_PROMISE:
            // We sent SETTINGS_ENABLE_PUSH=0 before any request, so the server knew (RFC 9113
            // 6.5.2, 8.4). nghttp2 itself only refuses it once the server acknowledged that.
            return Stop{at,
                        make(errc::protocol_error,
                             "PUSH_PROMISE on stream " + std::to_string(stream) +
                                 ", though we sent SETTINGS_ENABLE_PUSH=0 (RFC 9113 8.4)"),
                        NGHTTP2_PROTOCOL_ERROR};
        case NGHTTP2_PRIORITY:
        case NGHTTP2_SETTINGS:
        case NGHTTP2_PING:
        case NGHTTP2_GOAWAY: return stop(at, frame_name(type), now);
        case NGHTTP2_RST_STREAM:    // counted by the session, which knows the stream
        case NGHTTP2_CONTINUATION:  // nghttp2 counts them (max_continuations)
            return std::nullopt;
        default: return stop(at, "a frame of unknown type " + std::to_string(type), now);
    }
}

std::optional<Error> Guard::control_frame(std::string_view what, Clock::time_point now) {
    if (control_.take(now)) return std::nullopt;
    return make(errc::flood, "frames that carry no response beyond the limit of " +
                                 describe(control_.limit()) + " (control_frames: PING, SETTINGS, "
                                 "PRIORITY, GOAWAY, 1xx, unearned WINDOW_UPDATE, small DATA, "
                                 "HEADERS and RST_STREAM for streams not open, unknown types); "
                                 "the last was " + std::string(what));
}

std::optional<Error> Guard::peer_reset(std::int32_t stream_id, std::uint32_t code,
                                       Clock::time_point now) {
    if (resets_.take(now)) return std::nullopt;
    return make(errc::too_many_resets,
                "the server reset stream " + std::to_string(stream_id) + " (" +
                    std::string(h2_error_name(code)) +
                    ") before its response, beyond the limit of " + describe(resets_.limit()) +
                    " (peer_resets): the rapid-reset pattern");
}

}  // namespace connmatrix::http2
