// In-memory wiring of an http2::ClientSession to an http2::ServerSession through two byte
// buffers, and a per-stream record of the client's events. Every loop is bounded.
#pragma once

#include "checks.hpp"
#include "h2_server.hpp"

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::test::h2 {

using namespace connmatrix::http2;

inline Bytes bytes(std::string_view s) {
    return {s.begin(), s.end()};
}
inline std::string text(const Bytes& b) {
    return {b.begin(), b.end()};
}

inline const std::string* find_header(const Headers& hs, std::string_view name) {
    for (const auto& h : hs)
        if (h.name == name) return &h.value;
    return nullptr;
}

// What the client saw for one stream.
struct StreamRecord {
    int status = 0;
    int responses = 0;  // ResponseHeaders events (must be 1 for a completed stream)
    Headers headers;
    std::string body;
    Headers trailers;
    int closes = 0;  // StreamClosed events (must be exactly 1)
    StreamClosed closed;
};

struct Record {
    std::map<std::int32_t, StreamRecord> streams;
    std::vector<SettingsReceived> settings;
    std::vector<GoawayReceived> goaways;
    std::vector<PingAcked> pings;
    std::size_t events = 0;

    void take(ClientSession& c) {
        for (Event& ev : c.take_events()) {
            ++events;
            if (auto* h = std::get_if<ResponseHeaders>(&ev)) {
                auto& s = streams[h->stream_id];
                ++s.responses;
                s.status = h->status;
                s.headers = std::move(h->headers);
            } else if (auto* d = std::get_if<Data>(&ev)) {
                streams[d->stream_id].body.append(d->bytes.begin(), d->bytes.end());
            } else if (auto* t = std::get_if<Trailers>(&ev)) {
                streams[t->stream_id].trailers = std::move(t->headers);
            } else if (auto* cl = std::get_if<StreamClosed>(&ev)) {
                auto& s = streams[cl->stream_id];
                ++s.closes;
                s.closed = std::move(*cl);
            } else if (auto* st = std::get_if<SettingsReceived>(&ev)) {
                settings.push_back(*st);
            } else if (auto* g = std::get_if<GoawayReceived>(&ev)) {
                goaways.push_back(*g);
            } else if (auto* p = std::get_if<PingAcked>(&ev)) {
                pings.push_back(*p);
            }
        }
    }
};

// Optional hook: sees (and may rewrite) what travels, like the TLS harness filter.
enum class Dir { to_server, to_client };
using Tap = std::function<void(Dir, Bytes&)>;

// Moves bytes both ways and records the client's events, until nothing moves (true) or
// `max_rounds` pass (false: something is stuck).
inline bool pump(ClientSession& c, ServerSession& s, Record& r, int max_rounds = 100000,
                 const Tap& tap = {}) {
    for (int round = 0; round < max_rounds; ++round) {
        bool moved = false;
        const std::size_t seen = r.events;
        Bytes up = c.take_output();
        if (tap) tap(Dir::to_server, up);
        if (!up.empty()) {
            moved = true;
            (void)s.feed(up);
        }
        Bytes down = s.take_output();
        if (tap) tap(Dir::to_client, down);
        if (!down.empty()) {
            moved = true;
            (void)c.feed(down);
        }
        r.take(c);  // taking Data events re-opens windows: WINDOW_UPDATE goes next round
        if (!moved && r.events == seen) return true;
    }
    return false;
}

}  // namespace connmatrix::test::h2

namespace doctest {
template <>
struct StringMaker<connmatrix::http2::ServerPreface> {
    static String convert(connmatrix::http2::ServerPreface p) {
        return std::string(connmatrix::http2::to_string(p)).c_str();
    }
};
}  // namespace doctest
