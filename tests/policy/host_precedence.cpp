// Which rule applies to an origin: exact host+port > exact host > longer wildcard > shorter
// wildcard > defaults; ports, schemes, IP literals, case, trailing dots, ties; and how the layers
// (built-in, defaults, rule; mode preset before explicit values) combine.
#include <connmatrix/config.hpp>

#include <doctest/doctest.h>

#include "checks.hpp"

#include <string>

using namespace connmatrix;
using policy::Mode;

namespace {

const policy::BuildInfo all_backends{{"openssl", "gnutls", "mbedtls"}, "openssl"};

policy::Engine engine(const std::string& json) {
    auto r = config::load_string(json, "<test>", all_backends);
    INFO(r.report());
    REQUIRE(r);
    return policy::Engine(std::move(*r.config), all_backends);
}

// Which rule wins for a URL: "hosts[3] (*.example.com)", or "defaults".
std::string winner(const policy::Engine& e, const std::string& url) {
    auto o = policy::Origin::parse(url);
    REQUIRE_MESSAGE(o, url);
    auto r = e.resolve(*o);
    if (!r.rule()) return "defaults";
    return "hosts[" + std::to_string(r.rule()->index) + "] (" + r.rule()->pattern + ")";
}

// One rule per specificity level, in an order that is not the precedence order.
const char* ladder = R"({
  "hosts": [
    { "match": "*.example.com",            "mode": "http1" },
    { "match": "api.example.com",          "mode": "h2-only" },
    { "match": "*.eu.example.com",         "mode": "prior-knowledge" },
    { "match": "api.example.com:8443",     "mode": "prior-knowledge-alpn" },
    { "match": "*.example.com:8443",       "mode": "alpn" },
    { "match": "https://api.example.com",  "mode": "prior-knowledge" }
  ]
})";

}  // namespace

TEST_SUITE("host_precedence") {

TEST_CASE("most specific wins: exact host+port > exact host > longer wildcard > shorter wildcard > defaults") {
    auto e = engine(ladder);
    CHECK(winner(e, "https://api.example.com:8443/") == "hosts[3] (api.example.com:8443)");
    CHECK(winner(e, "http://api.example.com/") == "hosts[1] (api.example.com)");
    CHECK(winner(e, "https://x.eu.example.com/") == "hosts[2] (*.eu.example.com)");
    CHECK(winner(e, "https://www.example.com/") == "hosts[0] (*.example.com)");
    CHECK(winner(e, "https://example.org/") == "defaults");
}

TEST_CASE("a wildcard with a port beats the same wildcard without, and nothing more specific") {
    auto e = engine(ladder);
    CHECK(winner(e, "https://www.example.com:8443/") == "hosts[4] (*.example.com:8443)");
    // a longer wildcard without a port still wins: the host part ranks first
    CHECK(winner(e, "https://x.eu.example.com:8443/") == "hosts[2] (*.eu.example.com)");
    // and so does any exact host
    CHECK(winner(e, "http://api.example.com:8443/") == "hosts[3] (api.example.com:8443)");
}

TEST_CASE("a scheme makes a pattern more specific, and restricts it") {
    auto e = engine(ladder);
    CHECK(winner(e, "https://api.example.com/") == "hosts[5] (https://api.example.com)");
    CHECK(winner(e, "http://api.example.com/") == "hosts[1] (api.example.com)");
    // exact host+port still beats exact host+scheme
    CHECK(winner(e, "https://api.example.com:8443/") == "hosts[3] (api.example.com:8443)");
}

TEST_CASE("every matching rule is listed, most specific first") {
    auto e = engine(ladder);
    auto r = e.resolve(*policy::Origin::parse("https://api.example.com:8443"));
    REQUIRE(r.matches.size() == 5);
    CHECK(r.matches[0].index == 3);  // api.example.com:8443
    CHECK(r.matches[1].index == 5);  // https://api.example.com
    CHECK(r.matches[2].index == 1);  // api.example.com
    CHECK(r.matches[3].index == 4);  // *.example.com:8443
    CHECK(r.matches[4].index == 0);  // *.example.com
}

TEST_CASE("default ports: 443 for https, 80 for http") {
    auto e = engine(R"({"hosts": [
        {"match": "a.example:443", "mode": "http1"},
        {"match": "a.example:80", "mode": "h2-only"}]})");
    CHECK(winner(e, "https://a.example/") == "hosts[0] (a.example:443)");
    CHECK(winner(e, "http://a.example/") == "hosts[1] (a.example:80)");
    CHECK(winner(e, "https://a.example:80/") == "hosts[1] (a.example:80)");
    CHECK(winner(e, "a.example") == "hosts[0] (a.example:443)");  // a bare host is https
}

TEST_CASE("*.suffix matches any depth below the suffix, never the suffix itself") {
    auto e = engine(R"({"hosts": [{"match": "*.example.com", "mode": "http1"}]})");
    CHECK(winner(e, "https://a.example.com") == "hosts[0] (*.example.com)");
    CHECK(winner(e, "https://a.b.c.example.com") == "hosts[0] (*.example.com)");
    CHECK(winner(e, "https://example.com") == "defaults");
    CHECK(winner(e, "https://badexample.com") == "defaults");
    CHECK(winner(e, "https://example.com.evil.org") == "defaults");
}

TEST_CASE("host names compare case-insensitively; a trailing dot is ignored") {
    auto e = engine(R"({"hosts": [
        {"match": "API.Example.COM.", "mode": "http1"},
        {"match": "*.Example.Org", "mode": "h2-only"}]})");
    CHECK(winner(e, "https://api.example.com") == "hosts[0] (API.Example.COM.)");
    CHECK(winner(e, "HTTPS://Api.Example.Com./x") == "hosts[0] (API.Example.COM.)");
    CHECK(winner(e, "https://WWW.EXAMPLE.ORG.") == "hosts[1] (*.Example.Org)");
}

TEST_CASE("IP literals: exact only, IPv6 in brackets in any spelling, never matched by wildcards") {
    auto e = engine(R"({"hosts": [
        {"match": "192.0.2.7", "mode": "http1"},
        {"match": "[2001:db8::1]:8443", "mode": "h2-only"},
        {"match": "[::1]", "mode": "prior-knowledge"},
        {"match": "*.0.2.7.example", "mode": "alpn"}]})");
    CHECK(winner(e, "https://192.0.2.7/") == "hosts[0] (192.0.2.7)");
    CHECK(winner(e, "http://192.0.2.7:8080/") == "hosts[0] (192.0.2.7)");
    CHECK(winner(e, "https://192.0.2.70/") == "defaults");
    CHECK(winner(e, "https://[2001:DB8:0:0::1]:8443/") == "hosts[1] ([2001:db8::1]:8443)");
    CHECK(winner(e, "https://[2001:db8::1]/") == "defaults");
    CHECK(winner(e, "https://[0:0:0:0:0:0:0:1]/") == "hosts[2] ([::1])");
    CHECK(e.resolve(*policy::Origin::parse("https://[::1]")).origin.host == "::1");
}

TEST_CASE("a rule may list several patterns; its most specific matching one counts") {
    auto e = engine(R"({"hosts": [
        {"match": ["*.example.com", "api.example.com"], "mode": "http1"},
        {"match": "*.api.example.com", "mode": "h2-only"}]})");
    CHECK(winner(e, "https://api.example.com") == "hosts[0] (api.example.com)");
    CHECK(winner(e, "https://v2.api.example.com") == "hosts[1] (*.api.example.com)");
    CHECK(winner(e, "https://www.example.com") == "hosts[0] (*.example.com)");
}

TEST_CASE("file order does not decide: reversing the rules changes nothing") {
    auto e = engine(R"({"hosts": [
        {"match": "api.example.com:8443", "mode": "prior-knowledge-alpn"},
        {"match": "*.eu.example.com", "mode": "prior-knowledge"},
        {"match": "api.example.com", "mode": "h2-only"},
        {"match": "*.example.com", "mode": "http1"}]})");
    CHECK(winner(e, "https://api.example.com:8443/") == "hosts[0] (api.example.com:8443)");
    CHECK(winner(e, "https://api.example.com/") == "hosts[2] (api.example.com)");
    CHECK(winner(e, "https://x.eu.example.com/") == "hosts[1] (*.eu.example.com)");
    CHECK(winner(e, "https://www.example.com/") == "hosts[3] (*.example.com)");
}

TEST_CASE("ties: the same pattern twice is a load error, whatever its spelling") {
    const char* cases[][3] = {
        {"api.example.com", "API.example.com.", "hosts[1].match"},
        {"*.example.com:8443", "*.EXAMPLE.com.:8443", "hosts[1].match"},
        {"[::1]", "[0:0::1]", "hosts[1].match"},
        {"https://a.example", "HTTPS://a.example", "hosts[1].match"},
    };
    for (auto& c : cases) {
        std::string json = std::string(R"({"hosts": [{"match": ")") + c[0] +
                           R"(", "mode": "http1"}, {"match": ")" + c[1] + R"(", "mode": "alpn"}]})";
        auto r = config::load_string(json, "<test>", all_backends);
        INFO(json);
        REQUIRE_FALSE(r);
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].code == config::errc::duplicate_rule);
        CHECK(r.errors[0].path == c[2]);
        CHECK(r.errors[0].message.find("is the same pattern as hosts[0].match") != std::string::npos);
    }
    // not ties: different port, scheme or wildcard depth
    auto ok = config::load_string(R"({"hosts": [
        {"match": "a.example"}, {"match": "a.example:443"}, {"match": "https://a.example"},
        {"match": "*.a.example"}, {"match": "*.b.a.example"}]})", "<test>", all_backends);
    CHECK_MESSAGE(ok, ok.report());
    // the same pattern twice in one rule
    auto twice = config::load_string(R"({"hosts": [{"match": ["a.example", "A.example"]}]})", "<t>", all_backends);
    REQUIRE_FALSE(twice);
    CHECK(twice.errors[0].describe() == R"(hosts[0].match[1]: "A.example" is listed twice in this rule (as "a.example"))");
}

TEST_CASE("layers: built-in, then defaults (mode preset, explicit), then the rule (mode preset, explicit)") {
    auto e = engine(R"({
      "defaults": {"mode": "prior-knowledge-alpn", "alpn": ["h2"], "remember": "5m"},
      "hosts": [
        {"match": "a.example", "no_alpn": "fail"},
        {"match": "b.example", "mode": "http1"},
        {"match": "c.example", "mode": "http1", "alpn": ["h2", "http/1.1"]}
      ]})");
    auto at = [&](const char* url) { return e.resolve(*policy::Origin::parse(url)); };

    auto none = at("https://z.example");
    CHECK(none.policy.mode == Mode::prior_knowledge_alpn);
    CHECK(none.policy.alpn == std::vector<std::string>{"h2"});  // explicit beats its own mode
    CHECK(none.source_of("alpn")->text == "defaults");
    CHECK(none.policy.no_alpn == policy::NoAlpn::h2);
    CHECK(none.source_of("no_alpn")->text == "mode prior-knowledge-alpn (from defaults)");
    CHECK(none.source_of("tls.verify")->text == "built-in default");
    CHECK(none.policy.backend == "openssl");

    auto a = at("https://a.example");  // rule changes one axis, inherits the rest
    CHECK(a.policy.no_alpn == policy::NoAlpn::fail);
    CHECK(a.source_of("no_alpn")->text == "hosts[0] (a.example)");
    CHECK(a.policy.alpn == std::vector<std::string>{"h2"});
    CHECK(a.policy.fallback == policy::Fallback::http1_1);

    auto b = at("https://b.example");  // a rule's mode beats even explicit values in defaults
    CHECK(b.policy.mode == Mode::http1);
    CHECK(b.policy.alpn == std::vector<std::string>{"http/1.1"});
    CHECK(b.source_of("alpn")->text == "mode http1 (from hosts[1])");
    CHECK(b.source_of("alpn")->kind == policy::Provenance::Kind::mode_preset);
    CHECK(b.policy.fallback == policy::Fallback::none);
    CHECK(b.policy.remember == std::chrono::minutes(5));  // not a mode axis: from defaults

    auto c = at("https://c.example");  // explicit beats the same rule's mode
    CHECK(c.policy.alpn == std::vector<std::string>{"h2", "http/1.1"});
    CHECK(c.source_of("alpn")->text == "hosts[2] (c.example)");
    CHECK(c.policy.no_alpn == policy::NoAlpn::http1_1);
}

TEST_CASE("on_http11_required: explicit in defaults and in a rule, and no mode sets it") {
    auto e = engine(R"({
      "defaults": {"on_http11_required": "fail"},
      "hosts": [
        {"match": "a.example", "on_http11_required": "http/1.1"},
        {"match": "b.example", "mode": "prior-knowledge-alpn"},
        {"match": "*.c.example", "mode": "http1", "on_http11_required": "fail"}
      ]})");
    auto at = [&](const char* url) { return e.resolve(*policy::Origin::parse(url)); };
    using policy::OnHttp11Required;

    auto none = at("https://z.example");
    CHECK(none.policy.on_http11_required == OnHttp11Required::fail);
    CHECK(none.source_of("on_http11_required")->kind == policy::Provenance::Kind::defaults);
    CHECK(none.source_of("on_http11_required")->text == "defaults");

    auto a = at("https://a.example");  // a rule's explicit value beats defaults
    CHECK(a.policy.on_http11_required == OnHttp11Required::http1_1);
    const policy::Provenance* src = a.source_of("on_http11_required");
    REQUIRE(src);
    CHECK(src->kind == policy::Provenance::Kind::rule);
    CHECK(src->index == 0u);
    CHECK(src->text == "hosts[0] (a.example)");

    auto b = at("https://b.example");  // a rule's mode sets fallback, not this: from defaults
    CHECK(b.policy.fallback == policy::Fallback::http1_1);
    CHECK(b.policy.on_http11_required == OnHttp11Required::fail);
    CHECK(b.source_of("on_http11_required")->text == "defaults");

    auto c = at("http://x.c.example:8080");  // cleartext origins use it too (h2c)
    CHECK(c.policy.on_http11_required == OnHttp11Required::fail);
    CHECK(c.source_of("on_http11_required")->text == "hosts[2] (*.c.example)");

    // and nothing in the built-in defaults or any mode preset changes it
    for (Mode m : policy::all_modes) {
        INFO(policy::to_string(m));
        CHECK(policy::Policy::for_mode(m).on_http11_required == OnHttp11Required::http1_1);
    }
}

TEST_CASE("no_proxy bypasses the proxy from defaults; a rule's own proxy always applies") {
    auto e = engine(R"({
      "defaults": {"proxy": "http://proxy.example:3128", "no_proxy": ["*.internal", "10.0.0.1"]},
      "hosts": [{"match": "pinned.internal", "proxy": "http://[::1]:8080"},
                {"match": "direct.example", "proxy": false}]})");
    auto at = [&](const char* url) { return e.resolve(*policy::Origin::parse(url)); };
    auto out = at("https://www.example.org");
    REQUIRE(out.policy.proxy);
    CHECK(out.policy.proxy->to_string() == "http://proxy.example:3128");
    CHECK(out.source_of("proxy")->text == "defaults");

    auto in = at("https://db.internal");
    CHECK_FALSE(in.policy.proxy);
    CHECK(in.source_of("proxy")->text == "defaults.no_proxy[0] (*.internal)");
    CHECK_FALSE(at("http://10.0.0.1:8080").policy.proxy);

    auto pinned = at("https://pinned.internal");
    REQUIRE(pinned.policy.proxy);
    CHECK(pinned.policy.proxy->to_string() == "http://[::1]:8080");

    CHECK_FALSE(at("https://direct.example").policy.proxy);
}

TEST_CASE("connect_to from defaults, turned off by a rule; resolve only where its rule wins") {
    auto e = engine(R"({
      "defaults": {"connect_to": "gateway.internal:8443"},
      "hosts": [{"match": "direct.example", "connect_to": false},
                {"match": "api.example:443", "resolve": ["192.0.2.1", "2001:db8::1"]}]})");
    auto at = [&](const char* url) { return e.resolve(*policy::Origin::parse(url)); };
    const auto other = at("https://other.example");
    REQUIRE(other.policy.connect_to);
    CHECK(other.policy.connect_to->host == "gateway.internal");
    CHECK(other.policy.connect_to->port == 8443);
    CHECK(other.source_of("connect_to")->text == "defaults");
    CHECK_FALSE(at("https://direct.example").policy.connect_to);
    const auto api = at("https://api.example");
    CHECK(api.policy.resolve == std::vector<std::string>{"192.0.2.1", "2001:db8::1"});
    REQUIRE(api.policy.connect_to);  // the rule did not turn it off: connect_to wins at connect time
    CHECK(at("https://api.example:8443").policy.resolve.empty());  // another port: DNS
}

TEST_CASE("an Engine without a configuration resolves to the built-in defaults") {
    policy::Engine e(policy::Config{}, all_backends);
    auto r = e.resolve(*policy::Origin::parse("https://example.com"));
    CHECK(r.policy == policy::Policy::for_mode(Mode::alpn, "openssl"));
    for (const auto& p : r.provenance) {
        INFO(p.field);
        CHECK((p.kind == policy::Provenance::Kind::builtin || p.kind == policy::Provenance::Kind::mode_preset));
    }
    CHECK(r.provenance.size() == 32);
    CHECK(r.source_of("on_http11_required")->text == "built-in default");
}

TEST_CASE("host patterns: what is and is not one") {
    struct Bad {
        const char* text;
        const char* why;
    };
    const Bad bad[] = {
        {"", "empty pattern"},
        {"*", "\"*\" alone would match every host: put those settings in \"defaults\""},
        {"*.*", "only one '*' is allowed, as the whole first label, as in \"*.example.com\""},
        {"*foo.com", "'*' must be a whole label, the first one: write \"*.foo.com\""},
        {"foo.*", "'*' is only allowed as the whole first label, as in \"*.example.com\""},
        {"a.*.com", "'*' is only allowed as the whole first label, as in \"*.example.com\""},
        {"::1", "IPv6 addresses need brackets, as in \"[::1]\" or \"[::1]:8443\""},
        {"[::1", "missing ']' after the IPv6 address"},
        {"[::g]", "\"::g\" is not an IPv6 address"},
        {"a.example:0", "port 0 is out of range (1 to 65535)"},
        {"a.example:65536", "port 65536 is out of range (1 to 65535)"},
        {"a.example:", "empty port after ':'"},
        {"a.example:https", "port \"https\" is not a number from 1 to 65535"},
        {"ftp://a.example", "unknown scheme \"ftp\": use http:// or https://"},
        {"https://a.example/path", "a pattern names a host and an optional port, not a path or URL"},
        {"user@a.example", "a pattern has no user name ('@')"},
        {"a..example", "empty label in host name"},
        {"-a.example", "label \"-a\" starts or ends with '-'"},
        {"a b.example", "invalid character \" \" in host name"},
        {"bücher.example", "non-ASCII host name: write its IDNA form (\"xn--...\")"},
        {"*.10.0.0.1", "wildcards apply to host names, not to IP addresses"},
        {"1.2.3", "\"1.2.3\" is neither an IPv4 address nor a host name"},
        {"[fe80::1%eth0]", "IPv6 zone identifiers (\"%eth0\") are not supported"},
    };
    for (const auto& b : bad) {
        std::string why;
        INFO(b.text);
        CHECK_FALSE(policy::HostPattern::parse(b.text, &why));
        CHECK(why == b.why);
    }
    std::string why;
    CHECK_FALSE(policy::HostPattern::parse("https://a.example", &why, /*allow_scheme=*/false));
    CHECK(why == "no_proxy entries name hosts, without a scheme");

    auto p = policy::HostPattern::parse("HTTPS://*.Example.COM.:8443");
    REQUIRE(p);
    CHECK(p->normalised() == "https://*.example.com:8443");
    CHECK(p->kind() == policy::HostPattern::Kind::wildcard);
    CHECK(p->specificity().labels == 2);
    CHECK(policy::HostPattern::parse("*.a.b.example")->specificity() >
          policy::HostPattern::parse("*.b.example:1")->specificity());
    CHECK(policy::HostPattern::parse("a.example")->specificity() >
          policy::HostPattern::parse("https://*.very.long.suffix.example:443")->specificity());
}

TEST_CASE("origins from URLs") {
    auto o = policy::Origin::parse("https://user:pw@API.example.com.:8443/path?q#f");
    REQUIRE(o);
    CHECK(o->to_string() == "https://api.example.com:8443");
    CHECK(policy::Origin::parse("http://[::1]/")->to_string() == "http://[::1]:80");
    std::string why;
    CHECK_FALSE(policy::Origin::parse("ftp://a.example", &why));
    CHECK(why == "unsupported scheme \"ftp\": use http:// or https://");
    CHECK_FALSE(policy::Origin::parse("https://", &why));
    CHECK(why == "empty host");
    CHECK_FALSE(policy::Origin::parse("https://*.example.com", &why));
    CHECK_FALSE(policy::Origin::parse("", &why));
}

}  // TEST_SUITE
