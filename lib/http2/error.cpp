// The "http2" error category, nghttp2 and HTTP/2 error code mapping, server preface detection.
#include "http2.hpp"
#include "nghttp2_glue.hpp"

#include <algorithm>
#include <iterator>
#include <string>

namespace connmatrix::http2 {
namespace {

constexpr ErrorEntry entries[] = {
    {"protocol_error", "HTTP/2 protocol error"},
    {"stream_reset", "stream reset (RST_STREAM)"},
    {"refused_stream", "stream refused by the server (safe to retry)"},
    {"goaway", "connection is going away (GOAWAY): no new streams"},
    {"flow_control", "HTTP/2 flow-control error"},
    {"frame_size", "HTTP/2 frame size error"},
    {"compression", "HPACK compression error"},
    {"header_invalid", "invalid HTTP/2 header field"},
    {"not_h2", "peer does not speak HTTP/2"},
    {"closed", "HTTP/2 connection closed"},
    {"invalid_state", "HTTP/2 session used in the wrong state"},
    {"internal", "internal HTTP/2 library error"},
    {"flood", "HTTP/2 flood: the server sent more frames that do no work than the limit allows"},
    {"too_many_resets", "the server reset more of our HTTP/2 streams than the limit allows"},
    {"settings_timeout", "no HTTP/2 SETTINGS from the server in time"},
    {"http_1_1_required", "the server requires HTTP/1.1 for this request (HTTP_1_1_REQUIRED)"},
};
static_assert(std::size(entries) == static_cast<std::size_t>(errc::http_1_1_required));
static_assert(names_every_enumerator<errc, std::size(entries)>(), "name every http2::errc here");

constexpr std::string_view libraries[] = {"nghttp2"};

}  // namespace

const ErrorCategory& category() noexcept {
    static const ErrorCategory c{"http2", entries, libraries};  // immutable, like std::generic_category()
    return c;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category()};
}

std::string_view h2_error_name(std::uint32_t code) noexcept {
    switch (code) {
        case h2_error::no_error: return "NO_ERROR";
        case h2_error::protocol_error: return "PROTOCOL_ERROR";
        case h2_error::internal_error: return "INTERNAL_ERROR";
        case h2_error::flow_control_error: return "FLOW_CONTROL_ERROR";
        case h2_error::settings_timeout: return "SETTINGS_TIMEOUT";
        case h2_error::stream_closed: return "STREAM_CLOSED";
        case h2_error::frame_size_error: return "FRAME_SIZE_ERROR";
        case h2_error::refused_stream: return "REFUSED_STREAM";
        case h2_error::cancel: return "CANCEL";
        case h2_error::compression_error: return "COMPRESSION_ERROR";
        case h2_error::connect_error: return "CONNECT_ERROR";
        case h2_error::enhance_your_calm: return "ENHANCE_YOUR_CALM";
        case h2_error::inadequate_security: return "INADEQUATE_SECURITY";
        case h2_error::http_1_1_required: return "HTTP_1_1_REQUIRED";
        default: return "unknown";
    }
}

errc errc_from_h2_code(std::uint32_t code, errc fallback) noexcept {
    switch (code) {
        case h2_error::protocol_error: return errc::protocol_error;
        case h2_error::flow_control_error: return errc::flow_control;
        case h2_error::frame_size_error: return errc::frame_size;
        case h2_error::refused_stream: return errc::refused_stream;
        case h2_error::compression_error: return errc::compression;
        case h2_error::http_1_1_required: return errc::http_1_1_required;
        default: return fallback;
    }
}

namespace {

errc errc_from_library(int lib_error) noexcept {
    switch (lib_error) {
        case NGHTTP2_ERR_FLOW_CONTROL: return errc::flow_control;
        case NGHTTP2_ERR_FRAME_SIZE_ERROR: return errc::frame_size;
        case NGHTTP2_ERR_HEADER_COMP: return errc::compression;
        case NGHTTP2_ERR_HTTP_HEADER:
        case NGHTTP2_ERR_INVALID_HEADER_BLOCK: return errc::header_invalid;
        case NGHTTP2_ERR_REFUSED_STREAM: return errc::refused_stream;
        case NGHTTP2_ERR_START_STREAM_NOT_ALLOWED:
        case NGHTTP2_ERR_GOAWAY_ALREADY_SENT:
        case NGHTTP2_ERR_SESSION_CLOSING: return errc::goaway;
        case NGHTTP2_ERR_CANCEL: return errc::stream_reset;
        case NGHTTP2_ERR_EOF: return errc::closed;
        case NGHTTP2_ERR_FLOODED:
        case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
        case NGHTTP2_ERR_TOO_MANY_SETTINGS: return errc::flood;
        case NGHTTP2_ERR_INVALID_ARGUMENT:
        case NGHTTP2_ERR_INVALID_STATE:
        case NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE:
        case NGHTTP2_ERR_STREAM_CLOSED:
        case NGHTTP2_ERR_STREAM_CLOSING:
        case NGHTTP2_ERR_STREAM_SHUT_WR:
        case NGHTTP2_ERR_INVALID_STREAM_ID:
        case NGHTTP2_ERR_INVALID_STREAM_STATE:
        case NGHTTP2_ERR_DATA_EXIST:
        case NGHTTP2_ERR_PUSH_DISABLED:
        case NGHTTP2_ERR_DEFERRED_DATA_EXIST:
        case NGHTTP2_ERR_WOULDBLOCK:
        case NGHTTP2_ERR_DEFERRED:
        case NGHTTP2_ERR_PAUSE: return errc::invalid_state;
        case NGHTTP2_ERR_NOMEM:
        case NGHTTP2_ERR_CALLBACK_FAILURE:
        case NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE:
        case NGHTTP2_ERR_BUFFER_ERROR:
        case NGHTTP2_ERR_INSUFF_BUFSIZE:
        case NGHTTP2_ERR_INTERNAL:
        case NGHTTP2_ERR_UNSUPPORTED_VERSION:
        case NGHTTP2_ERR_FATAL: return errc::internal;
        default:
            return errc::protocol_error;  // PROTO, INVALID_FRAME, BAD_CLIENT_MAGIC,
                                          // SETTINGS_EXPECTED, ...
    }
}

}  // namespace

Error error_from_library(int lib_error) {
    return {make_error_code(errc_from_library(lib_error)), nghttp2_strerror(lib_error), lib_error,
            "nghttp2"};
}

Error glue::connection_error(int lib_error, std::string_view message, std::uint32_t h2_code) {
    // nghttp2's own error code is the more precise one when it gave us one.
    errc e = lib_error != 0 ? errc_from_library(lib_error) : errc::protocol_error;
    if (lib_error == 0 || e == errc::protocol_error || e == errc::internal ||
        e == errc::invalid_state)
        e = errc_from_h2_code(h2_code, e);
    std::string detail(message);
    if (detail.empty())
        detail = lib_error != 0 ? nghttp2_strerror(lib_error) : nghttp2_http2_strerror(h2_code);
    detail += "; connection closed with GOAWAY " + std::string(h2_error_name(h2_code));
    return {make_error_code(e), std::move(detail), lib_error != 0 ? lib_error : long{h2_code},
            "nghttp2"};
}

std::string_view to_string(ServerPreface p) noexcept {
    switch (p) {
        case ServerPreface::need_more: return "need_more";
        case ServerPreface::h2: return "h2";
        case ServerPreface::http1: return "http1";
        case ServerPreface::garbage: return "garbage";
    }
    return "?";
}

ServerPreface classify_server_preface(std::span<const std::uint8_t> b) noexcept {
    if (b.empty()) return ServerPreface::need_more;

    constexpr std::string_view http1 = "HTTP/1.";
    const std::size_t n = std::min(b.size(), http1.size());
    if (std::equal(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n), http1.begin()))
        return n == http1.size() ? ServerPreface::http1 : ServerPreface::need_more;

    // A server's connection preface is a SETTINGS frame (RFC 9113 section 3.4): a 9-byte header
    // with type 0x4, flags without ACK, stream 0, and a length that is a multiple of 6 and within
    // the 16 KiB SETTINGS_MAX_FRAME_SIZE every peer must accept before SETTINGS are exchanged.
    // Check each field as soon as its bytes are there.
    if (b.size() >= 3) {
        const std::uint32_t len = (std::uint32_t{b[0]} << 16) | (std::uint32_t{b[1]} << 8) | b[2];
        if (len % 6 != 0 || len > 16384) return ServerPreface::garbage;
    } else if (b[0] != 0) {
        return ServerPreface::garbage;  // length >= 65536
    }
    if (b.size() >= 4 && b[3] != NGHTTP2_SETTINGS) return ServerPreface::garbage;
    if (b.size() >= 5 && (b[4] & NGHTTP2_FLAG_ACK) != 0) return ServerPreface::garbage;
    for (std::size_t i = 5; i < std::min<std::size_t>(b.size(), 9); ++i)
        if ((b[i] & (i == 5 ? 0x7f : 0xff)) != 0) return ServerPreface::garbage;  // stream 0
    return b.size() >= 9 ? ServerPreface::h2 : ServerPreface::need_more;
}

std::int32_t stream_of(const Event& ev) noexcept {
    return std::visit(
        [](const auto& e) -> std::int32_t {
            if constexpr (requires { e.stream_id; })
                return e.stream_id;
            else
                return 0;
        },
        ev);
}

}  // namespace connmatrix::http2
