// HTTP2-Settings for an h2c upgrade (RFC 7540 section 3.2.1), computed without a session: it
// is base64url without padding of the very SETTINGS payload a ClientSession puts on the wire.
#include "common.hpp"

#include <optional>
#include <utility>

using namespace connmatrix;
using namespace connmatrix::test::h2;

namespace {

// RFC 4648 section 5 without padding; nullopt on any other character or a dangling sextet.
std::optional<Bytes> base64url_decode(std::string_view s) {
    auto sextet = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '-') return 62;
        if (c == '_') return 63;
        return -1;
    };
    if (s.size() % 4 == 1) return std::nullopt;
    Bytes out;
    unsigned acc = 0;
    int bits = 0;
    for (char c : s) {
        const int v = sextet(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
        }
    }
    return out;
}

using Setting = std::pair<std::uint16_t, std::uint32_t>;  // identifier, value

std::vector<Setting> parse_settings(const Bytes& payload) {
    REQUIRE(payload.size() % 6 == 0);
    std::vector<Setting> out;
    for (std::size_t i = 0; i < payload.size(); i += 6)
        out.emplace_back(static_cast<std::uint16_t>(payload[i] << 8 | payload[i + 1]),
                         static_cast<std::uint32_t>(payload[i + 2]) << 24 |
                             static_cast<std::uint32_t>(payload[i + 3]) << 16 |
                             static_cast<std::uint32_t>(payload[i + 4]) << 8 | payload[i + 5]);
    return out;
}

// The payload of the SETTINGS frame that follows the connection preface in what a fresh
// session sends first.
Bytes settings_on_the_wire(const ClientOptions& o) {
    ClientSession c(o);
    const Bytes out = c.take_output();
    constexpr std::size_t preface = 24;  // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    REQUIRE(out.size() >= preface + 9);
    const std::uint8_t* h = out.data() + preface;
    const std::size_t length = static_cast<std::size_t>(h[0] << 16 | h[1] << 8 | h[2]);
    CHECK(h[3] == 0x4);  // SETTINGS
    CHECK(h[4] == 0x0);  // no ACK
    CHECK((h[5] | h[6] | h[7] | h[8]) == 0);  // stream 0
    REQUIRE(out.size() >= preface + 9 + length);
    return Bytes(h + 9, h + 9 + length);
}

constexpr std::uint16_t enable_push = 0x2;
constexpr std::uint16_t max_concurrent_streams = 0x3;
constexpr std::uint16_t initial_window_size = 0x4;
constexpr std::uint16_t max_header_list_size = 0x6;

}  // namespace

TEST_CASE("upgrade_settings_value: what ClientSession().upgrade_settings_header() gives") {
    CHECK(upgrade_settings_value() == ClientSession().upgrade_settings_header());
    ClientOptions o;
    o.stream_window = 65535;
    o.max_header_list_size = 8192;
    o.max_concurrent_pushed_streams = 7;
    CHECK(upgrade_settings_value(o) == ClientSession(o).upgrade_settings_header());
    CHECK(upgrade_settings_value(o) != upgrade_settings_value());
}

TEST_CASE("upgrade_settings_value: base64url without padding of our SETTINGS, as sent") {
    const std::string v = upgrade_settings_value();
    INFO("HTTP2-Settings: ", v);
    CHECK(v.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);  // token68 of the URL-safe alphabet, no '='
    const auto payload = base64url_decode(v);
    REQUIRE(payload);
    CHECK(*payload == settings_on_the_wire({}));
    const ClientOptions defaults;
    CHECK(parse_settings(*payload) ==
          std::vector<Setting>{{enable_push, 0},
                               {max_concurrent_streams, defaults.max_concurrent_pushed_streams},
                               {initial_window_size, defaults.stream_window},
                               {max_header_list_size, defaults.max_header_list_size}});
}

TEST_CASE("upgrade_settings_value follows the options, as the SETTINGS frame does") {
    ClientOptions o;
    o.stream_window = 65535;
    o.max_header_list_size = 8192;
    const auto payload = base64url_decode(upgrade_settings_value(o));
    REQUIRE(payload);
    CHECK(*payload == settings_on_the_wire(o));
    const auto settings = parse_settings(*payload);
    CHECK(std::find(settings.begin(), settings.end(), Setting{initial_window_size, 65535}) !=
          settings.end());
    CHECK(std::find(settings.begin(), settings.end(), Setting{max_header_list_size, 8192}) !=
          settings.end());
}
