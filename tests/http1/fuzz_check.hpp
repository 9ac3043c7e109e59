// fuzz_check.hpp - the oracle shared by the libFuzzer target (tests/fuzz/http1_response_fuzz.cpp)
// and the corpus replay test: parses one input several ways and reports any disagreement. No
// doctest here.
#pragma once

#include "http1.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::test::fuzz {

// Everything a parse produced, flattened so two parses can be compared.
struct Outcome {
    http1::Status status = http1::Status::want_input;
    std::error_code code;
    std::vector<int> statuses;  // interim and final status codes, in order
    Headers headers;            // of the final head
    std::string body;
    Headers trailers;
    int completes = 0;
    bool keep_alive = false;
    std::string leftover;
    std::uint64_t body_bytes = 0;

    bool operator==(const Outcome&) const = default;
};

inline std::string describe(const Outcome& o) {
    std::string s = "status=" + std::to_string(static_cast<int>(o.status)) +
                    " code=" + std::to_string(o.code.value()) + " heads=[";
    for (int st : o.statuses) s += std::to_string(st) + " ";
    s += "] body=" + std::to_string(o.body.size()) + " trailers=" +
         std::to_string(o.trailers.size()) + " completes=" + std::to_string(o.completes) +
         " keep_alive=" + std::to_string(o.keep_alive) + " leftover=" +
         std::to_string(o.leftover.size());
    return s;
}

// Feeds `wire` in pieces of `step` bytes, then EOF.
inline Outcome parse(std::span<const std::uint8_t> wire, std::string_view method,
                     std::size_t step, const http1::ParseOptions& opts) {
    http1::ResponseParser p(method, opts);
    Outcome o;
    auto collect = [&] {
        for (auto& ev : p.take_events()) {
            switch (ev.kind) {
                case http1::EventKind::interim: o.statuses.push_back(ev.head.status); break;
                case http1::EventKind::head:
                    o.statuses.push_back(ev.head.status);
                    o.headers = std::move(ev.head.headers);
                    break;
                case http1::EventKind::data: o.body.append(ev.data.begin(), ev.data.end()); break;
                case http1::EventKind::trailers: o.trailers = std::move(ev.trailers); break;
                case http1::EventKind::complete:
                    ++o.completes;
                    o.keep_alive = ev.keep_alive;
                    break;
            }
        }
    };
    for (std::size_t i = 0; i < wire.size(); i += step) {
        p.feed(wire.subspan(i, std::min(step, wire.size() - i)));
        collect();
    }
    p.feed_eof();
    collect();
    o.status = p.status();
    o.code = p.error().code;
    o.leftover.assign(p.leftover().begin(), p.leftover().end());
    o.body_bytes = p.body_bytes();
    return o;
}

struct Result {
    Outcome outcome;      // of the GET parse, fed whole
    std::string problem;  // empty when every invariant held
};

// The invariants:
// - for GET, HEAD and CONNECT, feeding whole, byte by byte and in odd pieces agree exactly;
// - complete means exactly one complete event; failed means an http1 error code, and none
//   otherwise; body_bytes() counts the body delivered; HEAD never delivers a body;
// - a complete final response, written again by write_response and parsed, gives back the same
//   status, body and (non-framing) headers;
// - the request parser survives the same bytes, whole and byte by byte alike.
inline Result check_one(std::span<const std::uint8_t> wire, const http1::ParseOptions& opts) {
    Result r;
    auto problem = [&](std::string what) {
        if (r.problem.empty()) r.problem = std::move(what);
    };
    const std::size_t odd = wire.empty() ? 1 : (wire[0] % 13) + 2;
    for (std::string_view method : {"GET", "HEAD", "CONNECT"}) {
        const Outcome whole = parse(wire, method, wire.size() ? wire.size() : 1, opts);
        if (method == "GET") r.outcome = whole;
        for (std::size_t step : {std::size_t{1}, odd}) {
            const Outcome split = parse(wire, method, step, opts);
            if (!(split == whole))
                problem(std::string(method) + ": whole {" + describe(whole) + "} != step " +
                        std::to_string(step) + " {" + describe(split) + "}");
        }
        if ((whole.status == http1::Status::complete) != (whole.completes == 1))
            problem(std::string(method) + ": complete status without one complete event");
        if ((whole.status == http1::Status::failed) !=
            (whole.code && whole.code.category() == http1::category()))
            problem(std::string(method) + ": failed status without an http1 error");
        if (whole.body_bytes != whole.body.size())
            problem(std::string(method) + ": body_bytes() != bytes delivered");
        if (method == "HEAD" && !whole.body.empty()) problem("HEAD response delivered a body");
    }

    const Outcome& get = r.outcome;
    if (get.status == http1::Status::complete && !get.statuses.empty()) {
        Headers plain;
        for (const auto& h : get.headers)
            if (!http1::find_header({h}, "content-length") &&
                !http1::find_header({h}, "transfer-encoding"))
                plain.push_back(h);
        const int status = get.statuses.back();
        std::vector<std::uint8_t> again;
        const Error e = http1::write_response(again, status, "R", plain, get.body);
        if (e) {
            problem("write_response refused what the parser accepted: " + e.message());
        } else {
            const Outcome back = parse(again, "GET", again.size(), http1::ParseOptions{});
            if (back.status != http1::Status::complete || back.statuses.back() != status ||
                back.body != get.body)
                problem("round trip through write_response changed the response: " +
                        describe(back));
            Headers back_plain;
            for (const auto& h : back.headers)
                if (!http1::find_header({h}, "content-length")) back_plain.push_back(h);
            if (back_plain != plain) problem("round trip changed the headers");
        }
    }

    http1::RequestParser whole_req(opts), byte_req(opts);
    whole_req.feed(wire);
    for (std::size_t i = 0; i < wire.size(); ++i) byte_req.feed(wire.subspan(i, 1));
    whole_req.feed_eof();
    byte_req.feed_eof();
    if (whole_req.status() != byte_req.status() ||
        whole_req.error().code != byte_req.error().code ||
        whole_req.body_bytes() != byte_req.body_bytes())
        problem("request parser: whole and byte-by-byte feeding disagree");
    return r;
}

// Limits small enough for the fuzzer to reach them.
inline http1::ParseOptions fuzz_options() {
    http1::ParseOptions o;
    o.max_header_bytes = 2048;
    o.max_headers = 16;
    o.max_body = 4096;
    o.max_chunk_line_bytes = 256;
    return o;
}

}  // namespace connmatrix::test::fuzz
