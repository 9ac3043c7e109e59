// A map by string key that keeps at most `capacity` entries, dropping the least recently used
// (lib-internal; not thread-safe: its owner locks, or runs on one thread).
#pragma once

#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace connmatrix::pool {

template <class Value>
class Lru {
public:
    explicit Lru(std::size_t capacity) : capacity_(capacity) {}

    // The value for `key`, now the most recently used; nullptr when absent.
    Value* find(const std::string& key) {
        const auto it = index_.find(key);
        if (it == index_.end()) return nullptr;
        order_.splice(order_.begin(), order_, it->second);
        return &it->second->second;
    }
    // Stores `value` as the most recently used, replacing any for `key`; drops the least
    // recently used beyond capacity.
    void put(const std::string& key, Value value) {
        erase(key);
        order_.emplace_front(key, std::move(value));
        index_.emplace(key, order_.begin());
        if (index_.size() > capacity_) {
            index_.erase(order_.back().first);
            order_.pop_back();
        }
    }
    // Removes and returns the value for `key`, if any.
    std::optional<Value> take(const std::string& key) {
        const auto it = index_.find(key);
        if (it == index_.end()) return std::nullopt;
        std::optional<Value> v(std::move(it->second->second));
        order_.erase(it->second);
        index_.erase(it);
        return v;
    }
    void erase(const std::string& key) { (void)take(key); }
    std::size_t size() const noexcept { return index_.size(); }

private:
    using Order = std::list<std::pair<std::string, Value>>;  // most recently used first
    std::size_t capacity_;
    Order order_;
    std::unordered_map<std::string, typename Order::iterator> index_;
};

}  // namespace connmatrix::pool
