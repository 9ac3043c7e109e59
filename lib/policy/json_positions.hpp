// Where each value of a JSON document starts (lib-internal).
//
// nlohmann-json reports positions only for syntax errors. For semantic errors ("hosts[2].backend
// is not compiled in") we scan the document once more, after nlohmann has accepted it, and
// record the line and column of every key and value by JSON path, down to a bounded depth.
// The same scan finds duplicate keys, which nlohmann silently collapses (the last one wins).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace connmatrix::policy::detail {

struct Position {
    unsigned line = 0;    // 1-based; 0 = unknown
    unsigned column = 0;  // 1-based, in characters (UTF-8 code points)
};

struct PositionIndexEntry {
    Position key;    // of the member's key; unknown for array elements and the root
    Position value;
};

struct DuplicateKey {
    std::string path;  // path of the member: "hosts[0].backend"
    Position first;    // the key's first occurrence
    Position again;    // the later occurrence (the one nlohmann keeps)
};

class PositionIndex {
public:
    // `text` must be JSON that nlohmann accepted. Paths deeper than max_depth are not recorded.
    static PositionIndex scan(std::string_view text, std::vector<DuplicateKey>& duplicates,
                              std::size_t max_depth = 6);

    // The value's position, else the key's, else the nearest recorded ancestor's.
    Position value(std::string_view path) const;
    // The key's position for an object member, else as value().
    Position key(std::string_view path) const;

private:
    const PositionIndexEntry* find_nearest(std::string_view path) const;
    std::unordered_map<std::string, PositionIndexEntry> entries_;
};

// Line and column of a byte offset.
Position position_of(std::string_view text, std::size_t offset);

}  // namespace connmatrix::policy::detail
