#include "events.hpp"

#include <string>

namespace connmatrix::pool {

void Observer::emit(Event& e) const noexcept {
    if (!sink_) return;
    e.at = Clock::now();
    try {
        sink_(e);
    } catch (...) {
        // An observer's failure is not the request's: documented as dropped.
    }
}

void Observer::connection(EventKind kind, std::uint64_t id, const ConnectionInfo* info,
                          std::string_view detail, const Error* error,
                          std::string_view address) const noexcept {
    if (!sink_) return;
    Event e;
    e.kind = kind;
    e.connection = id;
    e.info = info;
    e.detail = detail;
    e.error = error;
    e.address = address;
    emit(e);
}

void note(const Exchange& ex, EventKind kind, std::string_view detail, const Error* error,
          const Response* response) noexcept {
    if (!ex.observer || !*ex.observer) return;
    try {
        const std::string url = ex.origin.to_string() + ex.target;
        Event e;
        e.kind = kind;
        e.request = ex.id;
        e.connection = ex.connection_id;
        e.method = ex.request.method;
        e.url = url;
        e.detail = detail;
        e.error = error;
        e.response = response;
        if (ex.connection_id != 0) e.info = &ex.response.info;
        ex.observer->emit(e);
    } catch (...) {  // building the URL ran out of memory: no event, the request goes on
    }
}

}  // namespace connmatrix::pool
