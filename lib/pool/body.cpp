#include "body.hpp"

#include "http1.hpp"

#include <algorithm>
#include <exception>
#include <new>
#include <string>

namespace connmatrix::pool {

void reserve_body(Exchange& ex, std::size_t max_body) {
    const Response& rs = ex.response;
    if (ex.request.method == "HEAD" || rs.status == 204 || rs.status == 304 || rs.status < 200)
        return;
    const Header* cl = http1::find_header(rs.headers, "content-length");
    if (!cl || cl->value.empty() || cl->value.size() > 19) return;
    std::uint64_t n = 0;
    for (char c : cl->value) {
        if (c < '0' || c > '9') return;  // a list "5, 5": the parser's business, not ours
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (n > max_body) return;
    try {
        ex.response.body.reserve(static_cast<std::size_t>(n));
    } catch (const std::bad_alloc&) {
        // No room to reserve it all at once: appending will grow it, or fail as it would.
    }
}

void append_body(Exchange& ex, std::span<const std::uint8_t> data, std::size_t max_body) {
    constexpr std::size_t small = 1024 * 1024, mapped = 32 * 1024 * 1024;
    std::string& body = ex.response.body;
    const std::size_t need = body.size() + data.size();
    if (need > body.capacity()) {
        std::size_t cap = std::max(need, body.capacity() * 2);
        if (cap > small) cap = std::max(cap, mapped);
        body.reserve(std::min(cap, std::max(need, max_body)));
    }
    body.append(reinterpret_cast<const char*>(data.data()), data.size());
}

void fit_body(Exchange& ex) {
    std::string& body = ex.response.body;
    if (body.size() <= 8 * 1024 * 1024 && body.capacity() > 2 * body.size() &&
        body.capacity() > 1024 * 1024)
        body.shrink_to_fit();
}

namespace {
Error sink_threw(const Exchange& ex, const char* which, const std::string& what) {
    return {pool::errc::body_sink_failed,
            ex.request.method + " " + ex.origin.to_string() + ex.target + ": " + which +
                " threw" + (what.empty() ? std::string() : ": " + what),
            0, "pool"};
}
}  // namespace

SinkState deliver_head(Exchange& ex, Error& err) {
    if (ex.head_delivered) return SinkState::more;
    ex.head_delivered = true;
    if (!ex.request.on_response) return SinkState::more;
    try {
        ex.request.on_response(ex.response);
    } catch (const std::exception& e) {
        err = sink_threw(ex, "on_response", e.what());
        return SinkState::ended;
    } catch (...) {
        err = sink_threw(ex, "on_response", {});
        return SinkState::ended;
    }
    return SinkState::more;
}

SinkState deliver_body(Exchange& ex, std::span<const std::uint8_t> data, Error& err) {
    if (data.empty()) return ex.paused ? SinkState::paused : SinkState::more;
    if (!ex.head_delivered) {
        const SinkState s = deliver_head(ex, err);
        if (s == SinkState::ended) return s;
    }
    ex.body_delivered = true;
    BodyAction a = BodyAction::proceed;
    try {
        a = ex.request.on_body(data);
    } catch (const std::exception& e) {
        err = sink_threw(ex, "on_body", e.what());
        return SinkState::ended;
    } catch (...) {
        err = sink_threw(ex, "on_body", {});
        return SinkState::ended;
    }
    switch (a) {
        case BodyAction::proceed: return SinkState::more;
        case BodyAction::pause: ex.paused = true; return SinkState::paused;
        case BodyAction::abort: break;
    }
    err = {pool::errc::body_aborted,
           ex.request.method + " " + ex.origin.to_string() + ex.target +
               ": the body sink answered BodyAction::abort",
           0, "pool"};
    return SinkState::ended;
}

}  // namespace connmatrix::pool
