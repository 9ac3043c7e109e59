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
// "POST https://host:443/path", for the errors of sinks and sources.
std::string named(const Exchange& ex) {
    return ex.request.method + " " + ex.origin.to_string() + ex.target;
}

Error sink_threw(const Exchange& ex, const char* which, const std::string& what) {
    return {pool::errc::body_sink_failed,
            named(ex) + ": " + which + " threw" + (what.empty() ? std::string() : ": " + what), 0,
            "pool"};
}

SourceState source_failed(Exchange& ex, Error& err, Error e) {
    ex.upload_error = e;
    err = std::move(e);
    return SourceState::failed;
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
           named(ex) + ": the body sink answered BodyAction::abort",
           0, "pool"};
    return SinkState::ended;
}

SourceState read_source(Exchange& ex, std::span<std::uint8_t> buf, std::size_t& n, Error& err) {
    n = 0;
    const BodySource& src = ex.request.body_source;
    if (ex.upload_error) {  // it failed before: it is not asked again
        err = ex.upload_error;
        return SourceState::failed;
    }
    ex.upload_waiting = false;
    ex.upload_started = true;
    // The source's answer, or an error for one that throws or claims more than it was offered.
    auto call = [&](std::span<std::uint8_t> offer, BodyRead& r) -> bool {
        try {
            r = src.read(offer);
        } catch (const std::exception& e) {
            source_failed(ex, err, {pool::errc::body_source_failed,
                                    named(ex) + ": the body source threw: " + e.what(), 0, "pool"});
            return false;
        } catch (...) {
            source_failed(ex, err, {pool::errc::body_source_failed,
                                    named(ex) + ": the body source threw", 0, "pool"});
            return false;
        }
        if (r.size <= offer.size()) return true;
        source_failed(ex, err, {pool::errc::body_source_failed,
                                named(ex) + ": the body source said it wrote " +
                                    std::to_string(r.size) + " bytes into a buffer of " +
                                    std::to_string(offer.size()),
                                0, "pool"});
        return false;
    };
    auto too_long = [&] {
        return source_failed(ex, err, {pool::errc::body_length_mismatch,
                                       named(ex) + ": the body source gave more than its length of " +
                                           std::to_string(*src.length) + " bytes",
                                       0, "pool"});
    };
    std::span<std::uint8_t> offer = buf;
    if (src.length) {
        const std::uint64_t left = *src.length - std::min(*src.length, ex.upload_read);
        if (left < offer.size()) offer = offer.first(static_cast<std::size_t>(left) + 1);
    }
    BodyRead r;
    if (!call(offer, r)) return SourceState::failed;
    ex.upload_read += r.size;
    if (src.length && ex.upload_read > *src.length) return too_long();
    if (src.length && !r.end && r.size != 0 && ex.upload_read == *src.length) {
        // All it promised, but not said to be the end: ask now, before these last bytes go
        // out, so that a source with more never has a whole body sent in its name (over
        // HTTP/1.1 the server would take the request as complete).
        std::uint8_t probe = 0;
        BodyRead more;
        if (!call({&probe, 1}, more)) return SourceState::failed;
        if (more.size != 0) return too_long();
        r.end = more.end;  // {0, false}: not known yet; the next read asks again
    }
    if (r.end && src.length && ex.upload_read != *src.length)
        return source_failed(ex, err, {pool::errc::body_length_mismatch,
                                       named(ex) + ": the body source ended after " +
                                           std::to_string(ex.upload_read) + " of its " +
                                           std::to_string(*src.length) + " bytes",
                                       0, "pool"});
    n = r.size;
    if (r.end) return SourceState::end;
    if (r.size == 0) {
        ex.upload_waiting = true;
        return SourceState::waiting;
    }
    return SourceState::data;
}

bool rewind_source(Exchange& ex, Error& err) {
    if (!ex.upload_started) return true;
    const BodySource& src = ex.request.body_source;
    std::string why;
    bool ok = false;
    if (!src.rewind) {
        why = "it has no rewind";
    } else {
        try {
            ok = src.rewind();
            if (!ok) why = "its rewind answered false";
        } catch (const std::exception& e) {
            why = std::string("its rewind threw: ") + e.what();
        } catch (...) {
            why = "its rewind threw";
        }
    }
    if (!ok) {
        err = {pool::errc::not_retryable,
               named(ex) + ": not sent again: its body source (Request::body_source) was read " +
                   "and " + why,
               0, "pool"};
        return false;
    }
    ex.upload_read = 0;
    ex.upload_started = false;
    ex.upload_waiting = false;
    ex.upload_error = {};
    return true;
}

}  // namespace connmatrix::pool
