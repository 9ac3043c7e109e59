// What the pool still knows about a server once its Host record is gone (lib-internal): a
// remembered HTTP/1.1 fallback, until it expires, and a TLS session to resume with. Bounded:
// a client that talks to many origins keeps at most `capacity` of these, the least recently
// stored forgotten first (that origin then tries h2 once more, or makes a full handshake).
#pragma once

#include "exchange.hpp"
#include "lru.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace connmatrix::pool {

class HostMemory {
public:
    struct Entry {
        Clock::time_point http1_until{};        // fallback remembered until then
        std::vector<std::uint8_t> tls_session;  // empty: none
    };

    static constexpr std::size_t default_capacity = 256;
    explicit HostMemory(std::size_t capacity = default_capacity) : entries_(capacity) {}

    // Stores what still matters at `now` (an unexpired fallback, a session) for `key`.
    void keep(const std::string& key, Entry entry, Clock::time_point now) {
        if (entry.http1_until <= now) entry.http1_until = {};
        if (entry.http1_until == Clock::time_point{} && entry.tls_session.empty())
            entries_.erase(key);
        else
            entries_.put(key, std::move(entry));
    }
    // What is remembered for `key`, forgotten here (its Host holds it again); empty if nothing.
    Entry take(const std::string& key) { return entries_.take(key).value_or(Entry{}); }
    std::size_t size() const noexcept { return entries_.size(); }

private:
    Lru<Entry> entries_;
};

}  // namespace connmatrix::pool
