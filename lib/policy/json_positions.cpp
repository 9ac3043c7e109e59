#include "json_positions.hpp"

#include "internal.hpp"

#include <unordered_set>

namespace connmatrix::policy::detail {
namespace {

class Scanner {
public:
    Scanner(std::string_view text, std::unordered_map<std::string, PositionIndexEntry>& entries,
            std::vector<DuplicateKey>& dups, std::size_t max_depth)
        : t_(text), entries_(entries), dups_(dups), max_depth_(max_depth) {}

    void run() {
        if (t_.substr(0, 3) == "\xEF\xBB\xBF") i_ = 3;  // a UTF-8 byte order mark, as nlohmann skips it
        ws();
        value("", 0, Position{});
    }

private:
    void adv() {
        const auto c = static_cast<unsigned char>(t_[i_]);
        if (c == '\n') {
            ++line_;
            col_ = 1;
        } else if ((c & 0xC0) != 0x80) {  // count characters, not UTF-8 continuation bytes
            ++col_;
        }
        ++i_;
    }
    bool at_end() const { return i_ >= t_.size(); }
    char cur() const { return t_[i_]; }
    Position here() const { return {line_, col_}; }

    void ws() {
        while (!at_end() && (cur() == ' ' || cur() == '\t' || cur() == '\n' || cur() == '\r')) adv();
    }

    static void put_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    bool hex4(unsigned& v) {
        v = 0;
        for (int k = 0; k < 4; ++k) {
            if (at_end()) return false;
            char c = cur();
            unsigned d;
            if (c >= '0' && c <= '9')
                d = static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                d = static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                d = static_cast<unsigned>(c - 'A' + 10);
            else
                return false;
            v = v * 16 + d;
            adv();
        }
        return true;
    }

    // At '"': reads the string, decoding escapes into *out when given.
    bool string(std::string* out) {
        adv();
        while (!at_end()) {
            char c = cur();
            if (c == '"') {
                adv();
                return true;
            }
            if (c != '\\') {
                if (out) *out += c;
                adv();
                continue;
            }
            adv();
            if (at_end()) return false;
            char e = cur();
            adv();
            if (!out) {
                if (e == 'u') {
                    unsigned v;
                    if (!hex4(v)) return false;
                }
                continue;
            }
            switch (e) {
                case 'b': *out += '\b'; break;
                case 'f': *out += '\f'; break;
                case 'n': *out += '\n'; break;
                case 'r': *out += '\r'; break;
                case 't': *out += '\t'; break;
                case 'u': {
                    unsigned cp;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xD800 && cp <= 0xDBFF && i_ + 1 < t_.size() && t_[i_] == '\\' &&
                        t_[i_ + 1] == 'u') {
                        adv();
                        adv();
                        unsigned lo;
                        if (!hex4(lo)) return false;
                        if (lo >= 0xDC00 && lo <= 0xDFFF)
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    put_utf8(*out, cp);
                    break;
                }
                default: *out += e; break;  // " \ /
            }
        }
        return false;
    }

    void scalar() {
        while (!at_end()) {
            char c = cur();
            if (c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r')
                break;
            adv();
        }
    }

    // Skips any value without recursion (too deep to record).
    bool skip() {
        std::size_t depth = 0;
        do {
            ws();
            if (at_end()) return false;
            char c = cur();
            if (c == '"') {
                if (!string(nullptr)) return false;
            } else if (c == '{' || c == '[') {
                ++depth;
                adv();
            } else if (c == '}' || c == ']') {
                if (depth == 0) return false;
                --depth;
                adv();
            } else if (c == ',' || c == ':') {
                adv();
            } else {
                scalar();
            }
        } while (depth > 0);
        return true;
    }

    bool value(const std::string& path, std::size_t depth, Position key_pos) {
        if (at_end()) return false;
        if (depth > max_depth_) return skip();
        entries_[path] = PositionIndexEntry{key_pos, here()};
        char c = cur();
        if (c == '"') return string(nullptr);
        if (c == '{') {
            adv();
            std::unordered_map<std::string, Position> seen;
            ws();
            if (!at_end() && cur() == '}') {
                adv();
                return true;
            }
            while (!at_end()) {
                ws();
                if (at_end() || cur() != '"') return false;
                Position kp = here();
                std::string key;
                if (!string(&key)) return false;
                std::string member = member_path(path, key);
                auto [it, fresh] = seen.emplace(key, kp);
                if (!fresh) dups_.push_back({member, it->second, kp});
                ws();
                if (at_end() || cur() != ':') return false;
                adv();
                ws();
                if (!value(member, depth + 1, kp)) return false;
                ws();
                if (at_end()) return false;
                if (cur() == ',') {
                    adv();
                    continue;
                }
                if (cur() == '}') {
                    adv();
                    return true;
                }
                return false;
            }
            return false;
        }
        if (c == '[') {
            adv();
            ws();
            if (!at_end() && cur() == ']') {
                adv();
                return true;
            }
            for (std::size_t index = 0; !at_end(); ++index) {
                ws();
                if (!value(element_path(path, index), depth + 1, Position{})) return false;
                ws();
                if (at_end()) return false;
                if (cur() == ',') {
                    adv();
                    continue;
                }
                if (cur() == ']') {
                    adv();
                    return true;
                }
                return false;
            }
            return false;
        }
        scalar();
        return true;
    }

    std::string_view t_;
    std::size_t i_ = 0;
    unsigned line_ = 1, col_ = 1;
    std::unordered_map<std::string, PositionIndexEntry>& entries_;
    std::vector<DuplicateKey>& dups_;
    std::size_t max_depth_;
};

}  // namespace

PositionIndex PositionIndex::scan(std::string_view text, std::vector<DuplicateKey>& duplicates,
                                  std::size_t max_depth) {
    PositionIndex idx;
    Scanner(text, idx.entries_, duplicates, max_depth).run();
    return idx;
}

const PositionIndexEntry* PositionIndex::find_nearest(std::string_view path) const {
    std::string p(path);
    while (true) {
        if (auto it = entries_.find(p); it != entries_.end()) return &it->second;
        if (p.empty()) return nullptr;
        // strip the last component: ".key", "[n]" or "[\"key\"]"
        std::size_t cut = p.size();
        if (p.back() == ']') {
            // find the matching '[' (quoted keys may contain brackets: scan from the start)
            std::size_t open = std::string::npos;
            bool in_str = false;
            for (std::size_t k = 0; k < p.size(); ++k) {
                char c = p[k];
                if (in_str) {
                    if (c == '\\') ++k;
                    else if (c == '"') in_str = false;
                } else if (c == '"') {
                    in_str = true;
                } else if (c == '[') {
                    open = k;
                }
            }
            cut = open == std::string::npos ? 0 : open;
        } else {
            std::size_t dot = p.find_last_of(".]");
            cut = dot == std::string::npos ? 0 : (p[dot] == '.' ? dot : dot + 1);
        }
        p.resize(cut);
    }
}

Position PositionIndex::value(std::string_view path) const {
    const PositionIndexEntry* e = find_nearest(path);
    return e ? e->value : Position{};
}

Position PositionIndex::key(std::string_view path) const {
    if (auto it = entries_.find(std::string(path)); it != entries_.end() && it->second.key.line != 0)
        return it->second.key;
    return value(path);
}

Position position_of(std::string_view text, std::size_t offset) {
    Position p{1, 1};
    std::size_t start = text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
    for (std::size_t i = start; i < offset && i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\n') {
            ++p.line;
            p.column = 1;
        } else if ((c & 0xC0) != 0x80) {
            ++p.column;
        }
    }
    return p;
}

}  // namespace connmatrix::policy::detail
