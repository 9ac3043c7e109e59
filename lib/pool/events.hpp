// Events (lib-internal): ClientOptions::on_event, told of each phase of a request or a
// connection. Nothing is built for an event when no sink is set.
#pragma once

#include "exchange.hpp"

#include <connmatrix/client.hpp>

#include <cstdint>
#include <functional>
#include <string_view>

namespace connmatrix::pool {

class Observer {
public:
    explicit Observer(std::function<void(const Event&)> sink) : sink_(std::move(sink)) {}
    explicit operator bool() const noexcept { return static_cast<bool>(sink_); }
    // Stamps `e` with the time and hands it over; what the sink throws is dropped.
    void emit(Event& e) const noexcept;
    // A connection's event.
    void connection(EventKind kind, std::uint64_t id, const ConnectionInfo* info,
                    std::string_view detail = {}, const Error* error = nullptr,
                    std::string_view address = {}) const noexcept;

private:
    std::function<void(const Event&)> sink_;
};

// A request's event, with its method, URL and connection: nothing without an observer.
void note(const Exchange& ex, EventKind kind, std::string_view detail = {},
          const Error* error = nullptr, const Response* response = nullptr) noexcept;

}  // namespace connmatrix::pool
