// Helpers shared by the http1 suites: feed a whole wire text (optionally in small pieces) and
// collect what the parser reported.
#pragma once

#include "checks.hpp"
#include "http1.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace doctest {
template <>
struct StringMaker<connmatrix::http1::Status> {
    static String convert(connmatrix::http1::Status s) {
        switch (s) {
            case connmatrix::http1::Status::want_input: return "want_input";
            case connmatrix::http1::Status::complete: return "complete";
            case connmatrix::http1::Status::failed: return "failed";
        }
        return "?";
    }
};
}  // namespace doctest

namespace connmatrix::test {

inline std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }
inline std::string str(std::span<const std::uint8_t> b) { return {b.begin(), b.end()}; }

// Everything one response parse produced, in a form tests can compare.
struct ParsedResponse {
    http1::Status status = http1::Status::want_input;
    std::vector<http1::ResponseHead> interim;
    std::optional<http1::ResponseHead> head;
    std::string body;
    Headers trailers;
    int completes = 0;
    bool keep_alive = false;
    Error error;
    std::string leftover;
};

inline void collect(http1::ResponseParser& p, ParsedResponse& r) {
    for (auto& ev : p.take_events()) {
        switch (ev.kind) {
            case http1::EventKind::interim: r.interim.push_back(std::move(ev.head)); break;
            case http1::EventKind::head: r.head = std::move(ev.head); break;
            case http1::EventKind::data: r.body += str(ev.data); break;
            case http1::EventKind::trailers: r.trailers = std::move(ev.trailers); break;
            case http1::EventKind::complete:
                ++r.completes;
                r.keep_alive = ev.keep_alive;
                break;
        }
    }
}

// Feeds `wire` in pieces of `step` bytes (all at once by default), then EOF when asked.
inline ParsedResponse parse_response(std::string_view wire, std::string_view method = "GET",
                                     bool eof = false, std::size_t step = std::string_view::npos,
                                     http1::ParseOptions opts = {}) {
    http1::ResponseParser p(method, opts);
    ParsedResponse r;
    if (step == 0) step = 1;
    for (std::size_t i = 0; i < wire.size(); i += step) {
        p.feed(wire.substr(i, step));
        collect(p, r);
    }
    if (eof) p.feed_eof();
    collect(p, r);
    r.status = p.status();
    r.error = p.error();
    r.leftover = str(p.leftover());
    return r;
}

struct ParsedRequest {
    http1::Status status = http1::Status::want_input;
    std::optional<http1::RequestHead> head;
    std::string body;
    Headers trailers;
    bool keep_alive = false;
    Error error;
};

inline ParsedRequest parse_request(std::string_view wire, bool eof = false,
                                   http1::ParseOptions opts = {}) {
    http1::RequestParser p(opts);
    ParsedRequest r;
    p.feed(wire);
    if (eof) p.feed_eof();
    for (auto& ev : p.take_events()) {
        if (ev.kind == http1::EventKind::head) r.head = std::move(ev.head);
        if (ev.kind == http1::EventKind::data) r.body += str(ev.data);
        if (ev.kind == http1::EventKind::trailers) r.trailers = std::move(ev.trailers);
        if (ev.kind == http1::EventKind::complete) r.keep_alive = ev.keep_alive;
    }
    r.status = p.status();
    r.error = p.error();
    return r;
}

inline std::string header_value(const Headers& h, std::string_view name) {
    const Header* f = http1::find_header(h, name);
    return f ? f->value : "<absent>";
}

}  // namespace connmatrix::test
