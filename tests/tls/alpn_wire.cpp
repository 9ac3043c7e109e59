// alpn_wire: the shared ALPN encoding and checks (RFC 7301), and the host helpers behind SNI.
#include "common.hpp"

#include "alpn.hpp"
#include "host.hpp"

using namespace connmatrix;
using namespace connmatrix::tls;

TEST_CASE("encode and decode the ProtocolNameList") {
    const std::vector<std::string> offer{"h2", "http/1.1"};
    const auto wire = alpn::encode(offer);
    const std::vector<std::uint8_t> expected{2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    CHECK(wire == expected);
    CHECK(alpn::decode(wire) == std::optional(offer));
    CHECK(alpn::encode({}).empty());
    CHECK(alpn::decode({}) == std::optional(std::vector<std::string>{}));
}

TEST_CASE("malformed lists do not decode") {
    const std::vector<std::uint8_t> zero_len{0};
    const std::vector<std::uint8_t> overrun{5, 'h', '2'};
    const std::vector<std::uint8_t> trailing{2, 'h', '2', 3, 'x'};
    CHECK_FALSE(alpn::decode(zero_len));
    CHECK_FALSE(alpn::decode(overrun));
    CHECK_FALSE(alpn::decode(trailing));
}

TEST_CASE("validate: 1..255 bytes each, 65535 in all") {
    CHECK_FALSE(alpn::validate({"h2", "http/1.1"}));
    CHECK_FALSE(alpn::validate({}));
    CHECK(alpn::validate({""}).code == errc::invalid_config);
    CHECK(alpn::validate({std::string(256, 'a')}).code == errc::invalid_config);
    CHECK_FALSE(alpn::validate({std::string(255, 'a')}));
    CHECK(alpn::validate(std::vector<std::string>(300, std::string(255, 'a'))).code ==
          errc::invalid_config);
}

TEST_CASE("server preference selection, byte-exact") {
    CHECK(alpn::select({"h2", "http/1.1"}, {"http/1.1", "h2"}) == std::optional<std::string>("h2"));
    CHECK(alpn::select({"http/1.1", "h2"}, {"h2", "http/1.1"}) ==
          std::optional<std::string>("http/1.1"));
    CHECK(alpn::select({"h2"}, {"H2"}) == std::nullopt);
    CHECK(alpn::select({"h2"}, {}) == std::nullopt);
}

TEST_CASE("a selection must have been offered") {
    CHECK_FALSE(alpn::check_selected(std::nullopt, {"h2"}));
    CHECK_FALSE(alpn::check_selected(std::nullopt, {}));
    CHECK_FALSE(alpn::check_selected("h2", {"h2", "http/1.1"}));
    const Error e = alpn::check_selected("spdy/3.1", {"h2", "http/1.1"});
    CHECK(e.code == errc::alpn_not_offered);
    CHECK(e.message().find("spdy/3.1") != std::string::npos);
    CHECK(alpn::check_selected("H2", {"h2"}).code == errc::alpn_not_offered);
    CHECK(alpn::check_selected("h2", {}).code == errc::alpn_not_offered);
}

TEST_CASE("SNI: names yes, IP literals never") {
    CHECK(host::is_ip_literal("127.0.0.1"));
    CHECK(host::is_ip_literal("::1"));
    CHECK(host::is_ip_literal("[::1]"));
    CHECK(host::is_ip_literal("[2001:db8::1]"));
    CHECK_FALSE(host::is_ip_literal("localhost"));
    CHECK_FALSE(host::is_ip_literal("1.2.3.4.example"));
    CHECK_FALSE(host::is_ip_literal(""));
    CHECK(host::sni_for("api.example.com", std::nullopt) == std::optional<std::string>("api.example.com"));
    CHECK(host::sni_for("api.example.com.", std::nullopt) == std::optional<std::string>("api.example.com"));
    CHECK(host::sni_for("127.0.0.1", std::nullopt) == std::nullopt);
    CHECK(host::sni_for("[::1]", std::nullopt) == std::nullopt);
    CHECK(host::sni_for("127.0.0.1", std::string("edge.example")) ==
          std::optional<std::string>("edge.example"));
    CHECK(host::sni_for("api.example.com", std::string()) == std::nullopt);
}

TEST_CASE("versions have one spelling") {
    CHECK(to_string(Version::tls1_3) == "TLSv1.3");
    CHECK(parse_version("1.2") == Version::tls1_2);
    CHECK(parse_version("TLSv1.3") == Version::tls1_3);
    CHECK(parse_version("tls1.0") == Version::tls1_0);
    CHECK_FALSE(parse_version("1.4"));
    CHECK_FALSE(parse_version(""));
}

TEST_CASE("tls errors have a category, a message, and carry the library's words") {
    const std::error_code ec = errc::certificate_expired;
    CHECK(std::string(ec.category().name()) == "tls");
    CHECK_FALSE(ec.message().empty());
    const Error e{errc::certificate_expired, "certificate has expired", 10, "openssl"};
    CHECK(e.message() == "tls: " + ec.message() + " (openssl: certificate has expired, code 10)");
}
