#include "envelope.hpp"

#include <algorithm>
#include <random>

namespace connmatrix::tls::envelope {
namespace {

constexpr std::array<std::uint8_t, 4> magic = {'C', 'M', 'X', 'S'};
constexpr std::size_t mac_size = 8;

class Writer {
public:
    void u8(std::uint8_t v) { out.push_back(v); }
    void number(std::uint64_t v, int bytes) {
        for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    void str(std::string_view s, int width) {
        number(s.size(), width);
        out.insert(out.end(), s.begin(), s.end());
    }
    std::vector<std::uint8_t> out;
};

class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> b) : b_(b) {}
    bool ok() const noexcept { return ok_; }
    bool done() const noexcept { return ok_ && pos_ == b_.size(); }
    std::uint64_t number(int bytes) {
        std::uint64_t v = 0;
        for (auto c : take(static_cast<std::size_t>(bytes))) v = (v << 8) | c;
        return v;
    }
    std::string str(int width) {
        auto s = take(number(width));
        return {reinterpret_cast<const char*>(s.data()), s.size()};
    }
    std::span<const std::uint8_t> take(std::uint64_t n) {
        if (!ok_ || n > b_.size() - pos_) {
            ok_ = false;
            return {};
        }
        auto s = b_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }

private:
    std::span<const std::uint8_t> b_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

std::uint64_t load64(const std::uint8_t* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

std::uint64_t rotl(std::uint64_t x, int b) noexcept { return (x << b) | (x >> (64 - b)); }

}  // namespace

std::uint64_t siphash24(const Key& key, std::span<const std::uint8_t> data) noexcept {
    const std::uint64_t k0 = load64(key.data()), k1 = load64(key.data() + 8);
    std::uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    std::uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    auto round = [&] {
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
    };
    const std::size_t whole = data.size() - data.size() % 8;
    for (std::size_t i = 0; i < whole; i += 8) {
        const std::uint64_t m = load64(data.data() + i);
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
    std::uint64_t last = static_cast<std::uint64_t>(data.size() & 0xff) << 56;
    for (std::size_t i = whole; i < data.size(); ++i)
        last |= static_cast<std::uint64_t>(data[i]) << (8 * (i - whole));
    v3 ^= last;
    round();
    round();
    v0 ^= last;
    v2 ^= 0xff;
    for (int i = 0; i < 4; ++i) round();
    return v0 ^ v1 ^ v2 ^ v3;
}

Key random_key() {
    std::random_device rd;
    Key k{};
    for (std::size_t i = 0; i < k.size(); i += 4) {
        const auto v = rd();
        for (std::size_t j = 0; j < 4; ++j) k[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
    }
    return k;
}

Key derive_key(const Key& key, std::string_view label) {
    std::vector<std::uint8_t> in(1 + label.size());
    std::copy(label.begin(), label.end(), in.begin() + 1);
    Key out{};
    for (std::uint8_t half = 0; half < 2; ++half) {
        in[0] = half;
        const std::uint64_t h = siphash24(key, in);
        for (int i = 0; i < 8; ++i) out[half * 8 + i] = static_cast<std::uint8_t>(h >> (8 * i));
    }
    return out;
}

std::vector<std::uint8_t> seal(const Fields& f, std::span<const std::uint8_t> payload,
                               const Key& key) {
    Writer w;
    w.out.reserve(64 + f.host.size() + payload.size());
    // Byte by byte: GCC 12 with -fsanitize=thread warns (-Wstringop-overflow, falsely) on a
    // range insert into the just-reserved, still empty vector.
    for (const auto b : magic) w.u8(b);
    w.u8(format_version);
    w.str(f.backend.substr(0, 0xff), 1);
    w.str(std::string_view(f.host).substr(0, 0xffff), 2);
    w.u8(f.sni ? 1 : 0);
    if (f.sni) w.str(std::string_view(*f.sni).substr(0, 0xffff), 2);
    w.u8(f.verified ? 1 : 0);
    w.u8(f.alpn ? 1 : 0);
    if (f.alpn) w.str(std::string_view(*f.alpn).substr(0, 0xff), 1);
    w.number(static_cast<std::uint64_t>(f.expires), 8);
    w.number(f.max_early_data, 4);
    w.number(payload.size(), 4);
    w.out.insert(w.out.end(), payload.begin(), payload.end());
    w.number(siphash24(key, w.out), mac_size);
    return std::move(w.out);
}

std::optional<Opened> open(std::span<const std::uint8_t> blob, const Key& key, std::string& why) {
    if (blob.size() < magic.size() + 1 + mac_size ||
        !std::equal(magic.begin(), magic.end(), blob.begin())) {
        why = "not a connmatrix session (no envelope)";
        return std::nullopt;
    }
    if (blob[magic.size()] != format_version) {
        why = "envelope format " + std::to_string(blob[magic.size()]) + ", this build reads " +
              std::to_string(format_version);
        return std::nullopt;
    }
    const auto body = blob.first(blob.size() - mac_size);
    Reader tag(blob.last(mac_size));
    if (tag.number(mac_size) != siphash24(key, body)) {
        why = "envelope not sealed by this backend instance with these trust settings (or altered)";
        return std::nullopt;
    }
    Reader r(body.subspan(magic.size() + 1));
    Opened o;
    bool flags_ok = true;
    const auto flag = [&] {  // exactly 0 or 1: one spelling per envelope
        const auto v = r.number(1);
        flags_ok = flags_ok && v <= 1;
        return v == 1;
    };
    o.fields.backend = r.str(1);
    o.fields.host = r.str(2);
    if (flag()) o.fields.sni = r.str(2);
    o.fields.verified = flag();
    if (flag()) o.fields.alpn = r.str(1);
    o.fields.expires = static_cast<std::int64_t>(r.number(8));
    o.fields.max_early_data = static_cast<std::uint32_t>(r.number(4));
    auto payload = r.take(r.number(4));
    if (!r.done() || !flags_ok || payload.empty()) {
        why = "malformed envelope";
        return std::nullopt;
    }
    o.payload.assign(payload.begin(), payload.end());
    return o;
}

std::string refusal(const Fields& sealed, const Fields& want, std::int64_t now) {
    if (sealed.backend != want.backend)
        return "exported by the " + sealed.backend + " backend, this is " + want.backend;
    if (sealed.host != want.host)
        return "exported for host \"" + sealed.host + "\", this connection is to \"" + want.host +
               "\"";
    if (sealed.sni != want.sni) return "exported for another SNI";
    if (want.verified && !sealed.verified)
        return "the exporting connection was not verified and this one requires verification";
    if (now >= sealed.expires) return "expired";
    return {};
}

}  // namespace connmatrix::tls::envelope
