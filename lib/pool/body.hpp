// Response bodies (lib-internal): how h1_session and h2_session fill Response::body so that a
// body exists once, not once per growth step, or hand it to the request's sink as it comes.
#pragma once

#include "exchange.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace connmatrix::pool {

// Once the final response's headers are in: a body framed by Content-Length within `max_body`
// (HTTP/1.1, or h2's content-length field) gets one allocation of its size, not the doubling
// reallocations that hold the old copy and the new at once. Untouched pages cost address space
// only. Nothing for HEAD, 1xx, 204 and 304, or a value that is not one plain number.
void reserve_body(Exchange& ex, std::size_t max_body);

// Appends a piece of the body. Without a reservation it grows by doubling, as a string does,
// with two differences. Past 1 MiB it jumps to 32 MiB: from there glibc serves every step with
// its own mapping, which goes back to the system when the body moves on (smaller steps come from
// a heap that keeps each abandoned copy resident: that made a 64 MiB body cost 2-2.6x). And it
// never grows past `max_body` (the caller fails the response there), so a body cut at the limit
// costs the limit, not also the half it was copied from. A doubling step still holds the old copy
// while it moves: a body just past a step costs up to twice its size for that moment.
void append_body(Exchange& ex, std::span<const std::uint8_t> data, std::size_t max_body);

// The response is complete: a body that stayed far below the step it was given space for is
// handed out in a string of its own size (a copy of at most 8 MiB).
void fit_body(Exchange& ex);

// Streaming (Request::on_body), what the sessions do with the sink's answer.
enum class SinkState {
    more,    // taken: go on
    paused,  // taken, but hold the rest until the request is resumed
    ended,   // the sink aborted or threw: `err` says which; the request ends with it
};

// The final response's head is in: on_response runs, once. `ended` when it threw.
SinkState deliver_head(Exchange& ex, Error& err);
// A piece of the body to the sink (never an empty one). Sets ex.paused on a pause.
SinkState deliver_body(Exchange& ex, std::span<const std::uint8_t> data, Error& err);

// Uploads (Request::body_source), what the sessions ask of the source.
enum class SourceState {
    data,     // `n` bytes, more to come
    end,      // `n` bytes (perhaps none), and the body is complete
    waiting,  // nothing ready: ask again after RequestHandle::resume() (ex.upload_waiting)
    failed,   // it threw, or gave more than the buffer or other than its length: `err`, also
              // kept in ex.upload_error; the request ends with it
};

// Reads up to buf.size() bytes (never zero) of the request's body into `buf`. A known length
// is enforced here: the source is offered one byte more than is left, so that a source giving
// too much is caught, not cut silently, and one ending short is caught when it says so.
SourceState read_source(Exchange& ex, std::span<std::uint8_t> buf, std::size_t& n, Error& err);

// Before another attempt of a request whose source has been read: starts it again
// (BodySource::rewind). False, with a not_retryable `err` saying why, when it cannot; true
// (nothing to do) when the source was never read.
bool rewind_source(Exchange& ex, Error& err);

}  // namespace connmatrix::pool
