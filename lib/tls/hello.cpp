#include "hello.hpp"

#include "alpn.hpp"

#include <algorithm>
#include <array>
#include <bitset>

namespace connmatrix::tls::hello {
namespace {

// A cursor over bytes a peer sent: every read is bounds-checked and a failed read poisons the
// cursor, so a parse is a straight sequence of reads followed by one ok() check.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> b) noexcept : b_(b) {}
    bool ok() const noexcept { return ok_; }
    bool done() const noexcept { return ok_ && pos_ == b_.size(); }
    std::size_t left() const noexcept { return ok_ ? b_.size() - pos_ : 0; }
    std::uint32_t u8() noexcept { return number(1); }
    std::uint32_t u16() noexcept { return number(2); }
    std::uint32_t u24() noexcept { return number(3); }
    std::span<const std::uint8_t> bytes(std::size_t n) noexcept {
        if (!ok_ || n > b_.size() - pos_) {
            ok_ = false;
            return {};
        }
        auto s = b_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    // A vector with a length prefix of `width` bytes.
    Reader vec(std::size_t width) noexcept {
        const auto n = number(width);
        const auto body = bytes(n);
        return Reader(body, ok_);
    }

private:
    Reader(std::span<const std::uint8_t> b, bool ok) noexcept : b_(b), ok_(ok) {}
    std::uint32_t number(std::size_t width) noexcept {
        auto s = bytes(width);
        std::uint32_t v = 0;
        for (auto c : s) v = (v << 8) | c;
        return v;
    }
    std::span<const std::uint8_t> b_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

constexpr std::array<std::uint8_t, 32> hrr_random = {
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

void read_alpn(Reader ext, bool from_server, Message& m) {
    m.alpn_present = true;
    Reader list = ext.vec(2);
    auto names = alpn::decode(list.bytes(list.left()));
    const bool ok = ext.done() && list.ok() && names && !names->empty() &&
                    (!from_server || names->size() == 1);
    if (!ok) {
        m.alpn_malformed = true;
        m.alpn.clear();
        return;
    }
    m.alpn = std::move(*names);
}

void read_versions(Reader ext, bool from_server, Message& m) {
    std::vector<std::uint16_t> out;
    if (from_server) {
        const auto v = ext.u16();
        if (ext.done()) out.push_back(static_cast<std::uint16_t>(v));
    } else {
        Reader list = ext.vec(1);
        while (list.ok() && list.left() >= 2) out.push_back(static_cast<std::uint16_t>(list.u16()));
        if (!ext.done() || !list.done()) out.clear();
    }
    m.supported_versions = std::move(out);
}

// RFC 6066 section 3: a ServerNameList; the first host_name (type 0) entry is the name.
void read_server_name(Reader ext, Message& m) {
    Reader list = ext.vec(2);
    while (list.ok() && list.left() > 0) {
        const auto type = list.u8();
        auto name = list.vec(2);
        auto text = name.bytes(name.left());
        if (!list.ok()) return;
        if (type == 0 && !text.empty()) {
            m.server_name.emplace(reinterpret_cast<const char*>(text.data()), text.size());
            return;
        }
    }
}

// The 32-byte random (left zero when the message is too short: the parse then fails).
void read_random(Reader& r, Message& m) {
    const auto b = r.bytes(m.random.size());
    if (b.size() == m.random.size()) std::copy(b.begin(), b.end(), m.random.begin());
}

void session_id(Reader& r, Message& m) {
    Reader id = r.vec(1);
    auto b = id.bytes(id.left());
    if (b.size() <= 32) m.session_id.assign(b.begin(), b.end());
}

// extensions<0..2^16-1>: false when the block's structure does not add up.
bool read_extensions(Reader& r, Message& m) {
    if (r.left() == 0) return true;  // extensions are optional before TLS 1.3
    Reader exts = r.vec(2);
    const bool from_server = m.type != client_hello;
    std::bitset<65536> seen;  // linear, whatever a peer sends
    while (exts.ok() && exts.left() > 0) {
        const auto type = static_cast<std::uint16_t>(exts.u16());
        Reader ext = exts.vec(2);
        if (!exts.ok()) return false;
        // RFC 8446 4.2: no extension type twice in one block (two ALPN answers, say).
        if (seen.test(type)) return false;
        seen.set(type);
        switch (type) {
            case ext_alpn: read_alpn(ext, from_server, m); break;
            case ext_supported_versions:
                if (m.type != encrypted_extensions) read_versions(ext, from_server, m);
                break;
            case ext_server_name:
                if (m.type == client_hello) read_server_name(ext, m);
                break;
            case ext_session_ticket:
                if (m.type == client_hello) m.session_ticket = ext.left() > 0;
                break;
            case ext_early_data: m.early_data = m.type != server_hello; break;
            default: break;
        }
    }
    return exts.ok() && r.done();
}

}  // namespace

std::optional<Message> parse_body(std::uint8_t type, std::span<const std::uint8_t> body) {
    Message m;
    m.type = type;
    Reader r(body);
    switch (type) {
        case client_hello:
            m.legacy_version = static_cast<std::uint16_t>(r.u16());
            read_random(r, m);
            session_id(r, m);
            r.vec(2);       // cipher_suites
            r.vec(1);       // legacy_compression_methods
            break;
        case server_hello: {
            m.legacy_version = static_cast<std::uint16_t>(r.u16());
            read_random(r, m);
            m.hello_retry_request = r.ok() && m.random == hrr_random;
            session_id(r, m);  // legacy_session_id_echo
            r.bytes(2 + 1);    // cipher_suite, legacy_compression_method
            break;
        }
        case encrypted_extensions:
            if (r.left() == 0) return std::nullopt;  // the extensions block is mandatory here
            break;
        default: return std::nullopt;
    }
    if (!r.ok() || !read_extensions(r, m)) return std::nullopt;
    return m;
}

std::optional<Message> parse(std::span<const std::uint8_t> message) {
    Reader r(message);
    const auto type = r.u8();
    auto body = r.bytes(r.u24());
    if (!r.done()) return std::nullopt;
    return parse_body(static_cast<std::uint8_t>(type), body);
}

std::vector<std::uint16_t> client_versions(const Message& ch) {
    std::vector<std::uint16_t> out;
    if (ch.supported_versions) {
        for (auto v : *ch.supported_versions)
            if (v >= 0x0301 && v <= 0x0304) out.push_back(v);
        return out;
    }
    for (std::uint16_t v = 0x0301; v <= std::min<std::uint16_t>(ch.legacy_version, 0x0303); ++v)
        out.push_back(v);
    return out;
}

}  // namespace connmatrix::tls::hello
