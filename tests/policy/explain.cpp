// explain(url): the resolved policy for an origin and where each value came from, as text for
// people and JSON for tools.
#include <connmatrix/config.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "checks.hpp"

#include <algorithm>
#include <string>

using namespace connmatrix;
using json = nlohmann::json;

namespace {

const policy::BuildInfo three{{"openssl", "gnutls", "mbedtls"}, "openssl"};

policy::Engine engine() {
    auto r = config::load_string(R"({
      "defaults": {"timeouts": {"connect": "2s"}, "proxy": "http://proxy.example:3128",
                   "no_proxy": ["*.internal"]},
      "hosts": [
        {"match": "*.example.com", "description": "our sites", "mode": "http1"},
        {"match": "api.example.com", "description": "the API", "mode": "prior-knowledge-alpn",
         "backend": "gnutls", "tls": {"verify": false}},
        {"match": "http://h2c.internal:8080", "cleartext": "h2c", "on_http11_required": "fail"},
        {"match": "pk.example.org", "mode": "prior-knowledge"}
      ]})", "explain-test.json", three);
    INFO(r.report());
    REQUIRE(r);
    return policy::Engine(std::move(*r.config), three);
}

bool has_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// "alpn  [...]  from": the row of a setting, with runs of spaces collapsed.
std::string row(const std::string& text, const std::string& setting) {
    std::string::size_type at = ("\n" + text).find("\n" + setting + " ");
    REQUIRE_MESSAGE(at != std::string::npos, setting);
    std::string line = text.substr(at, text.find('\n', at) - at);
    std::string out;
    for (char c : line)
        if (!(c == ' ' && !out.empty() && out.back() == ' ')) out += c;
    return out;
}

}  // namespace

TEST_SUITE("explain") {

TEST_CASE("text: the rule, the other matches, and every value with its source") {
    auto e = engine().explain("https://api.example.com/v1/items");
    REQUIRE(e.error.empty());
    const std::string t = e.text();
    INFO(t);
    CHECK(t.rfind("origin  https://api.example.com:443\n", 0) == 0);
    CHECK(has_line(t, "config  explain-test.json"));
    CHECK(has_line(t, "rule    hosts[1] (api.example.com): the API"));
    CHECK(has_line(t, "        also matches hosts[0] (*.example.com), less specific"));
    CHECK(row(t, "mode") == "mode prior-knowledge-alpn hosts[1] (api.example.com)");
    CHECK(row(t, "backend") == "backend gnutls hosts[1] (api.example.com)");
    CHECK(row(t, "alpn") == "alpn [\"h2\", \"http/1.1\"] mode prior-knowledge-alpn (from hosts[1])");
    CHECK(row(t, "no_alpn") == "no_alpn h2 mode prior-knowledge-alpn (from hosts[1])");
    CHECK(row(t, "fallback") == "fallback http/1.1 mode prior-knowledge-alpn (from hosts[1])");
    CHECK(row(t, "on_http11_required") == "on_http11_required http/1.1 built-in default");
    CHECK(row(t, "remember") == "remember 1h built-in default");
    CHECK(row(t, "cleartext") == "cleartext h2c mode prior-knowledge-alpn (from hosts[1]) [unused for https://]");
    CHECK(row(t, "tls.verify") == "tls.verify false (INSECURE) hosts[1] (api.example.com)");
    CHECK(row(t, "timeouts.connect") == "timeouts.connect 2s defaults");
    CHECK(row(t, "timeouts.idle") == "timeouts.idle 1m30s built-in default");
    CHECK(row(t, "proxy") == "proxy http://proxy.example:3128 defaults");
    CHECK(t.find("warning: certificate verification is off for this origin.") != std::string::npos);
}

TEST_CASE("text: defaults only, no_proxy, cleartext, and the prior-knowledge note") {
    auto eng = engine();
    auto none = eng.explain("https://example.net").text();
    CHECK(has_line(none, "rule    none matches: defaults apply"));
    CHECK(row(none, "alpn") == "alpn [\"h2\", \"http/1.1\"] mode alpn (built-in default)");
    CHECK(row(none, "backend") == "backend openssl built-in default");

    auto h2c = eng.explain("http://h2c.internal:8080/metrics").text();
    CHECK(row(h2c, "cleartext") == "cleartext h2c hosts[2] (http://h2c.internal:8080)");
    CHECK(row(h2c, "alpn") == "alpn [\"h2\", \"http/1.1\"] mode alpn (built-in default) [unused for http://]");
    CHECK(row(h2c, "proxy") == "proxy none (direct) defaults.no_proxy[0] (*.internal)");
    // used for http:// too (h2c): no [unused] mark
    CHECK(row(h2c, "on_http11_required") == "on_http11_required fail hosts[2] (http://h2c.internal:8080)");

    auto pk = eng.explain("https://pk.example.org").text();
    CHECK(row(pk, "alpn") == "alpn [] (no ALPN extension) mode prior-knowledge (from hosts[3])");
    CHECK(pk.find("not RFC 9113 conformant") != std::string::npos);
}

TEST_CASE("json: the same, for tools") {
    auto e = engine().explain("https://api.example.com:443/");
    const json j = json::parse(e.json());
    CHECK(j["url"] == "https://api.example.com:443/");
    CHECK(j["origin"] == json{{"scheme", "https"}, {"host", "api.example.com"}, {"port", 443}});
    CHECK(j["config"] == "explain-test.json");
    CHECK(j["rule"] == json{{"index", 1}, {"match", "api.example.com"}, {"description", "the API"}});
    CHECK(j["also_matched"] == json::parse(R"([{"index": 0, "match": "*.example.com"}])"));
    const json& s = j["settings"];
    CHECK(s.size() == 32);
    CHECK(s["alpn"]["value"] == json::array({"h2", "http/1.1"}));
    CHECK(s["alpn"]["source"] == "mode prior-knowledge-alpn (from hosts[1])");
    CHECK(s["alpn"]["source_kind"] == "mode_preset");
    CHECK(s["alpn"]["index"] == 1);
    CHECK(s["backend"] == json{{"value", "gnutls"}, {"source", "hosts[1] (api.example.com)"},
                               {"source_kind", "rule"}, {"index", 1}, {"used", true}});
    CHECK(s["tls.verify"]["value"] == false);
    CHECK(s["tls.sni"]["value"] == true);
    CHECK(s["timeouts.connect"]["value"] == "2s");
    CHECK(s["timeouts.connect"]["source_kind"] == "defaults");
    CHECK(s["pool.max_concurrent_streams"]["value"] == 100);
    CHECK(s["remember"]["source_kind"] == "builtin");
    CHECK(s["on_http11_required"] == json{{"value", "http/1.1"}, {"source", "built-in default"},
                                          {"source_kind", "builtin"}, {"used", true}});
    CHECK(s["cleartext"]["used"] == false);
    CHECK(s["proxy"]["value"] == "http://proxy.example:3128");

    // the order of settings is the order of the text
    const auto ordered = nlohmann::ordered_json::parse(e.json())["settings"];
    std::vector<std::string> keys;
    for (auto it = ordered.begin(); it != ordered.end(); ++it) keys.push_back(it.key());
    CHECK(keys.front() == "mode");
    CHECK(keys.back() == "resolve");  // where the bytes go: proxy, connect_to, resolve
    CHECK(keys[keys.size() - 3] == "proxy");
    // next to the fallback, before the remember both of them use
    const auto at = [&](const char* k) { return std::find(keys.begin(), keys.end(), k) - keys.begin(); };
    CHECK(at("on_http11_required") == at("fallback") + 1);
    CHECK(at("remember") == at("on_http11_required") + 1);
}

TEST_CASE("json: on_http11_required from a rule") {
    auto j = json::parse(engine().explain("http://h2c.internal:8080/").json());
    CHECK(j["settings"]["on_http11_required"] ==
          json{{"value", "fail"}, {"source", "hosts[2] (http://h2c.internal:8080)"},
               {"source_kind", "rule"}, {"index", 2}, {"used", true}});
}

TEST_CASE("json: proxy bypass and no rule") {
    auto j = json::parse(engine().explain("https://db.internal").json());
    CHECK(j["rule"].is_null());
    CHECK(j["also_matched"].empty());
    CHECK(j["settings"]["proxy"]["value"] == false);
    CHECK(j["settings"]["proxy"]["source_kind"] == "no_proxy");
    CHECK(j["settings"]["proxy"]["index"] == 0);
}

TEST_CASE("a bad URL is an explanation with an error, not an exception") {
    auto e = engine().explain("gopher://x");
    CHECK_FALSE(e.resolved);
    CHECK(e.error == "unsupported scheme \"gopher\": use http:// or https://");
    CHECK(e.text() == "explain \"gopher://x\": unsupported scheme \"gopher\": use http:// or https://\n");
    auto j = json::parse(e.json());
    CHECK(j == json{{"url", "gopher://x"}, {"error", "unsupported scheme \"gopher\": use http:// or https://"}});
    auto weird = engine().explain(std::string("https://a\xff.example"));
    CHECK_FALSE(weird.resolved);
    CHECK(json::parse(weird.json()).is_object());  // valid JSON though the host is not UTF-8
}

TEST_CASE("an Engine with no configuration explains the built-in defaults") {
    policy::Engine e(policy::Config{}, three);
    auto x = e.explain("example.com");
    REQUIRE(x.resolved);
    CHECK(has_line(x.text(), "config  <built-in>"));
    CHECK(row(x.text(), "mode") == "mode alpn built-in default");
}

TEST_CASE("tls.max_version: its value and source, next to min_version, in text and json") {
    auto r = config::load_string(R"({
      "defaults": {"tls": {"max_version": "1.2"}},
      "hosts": [{"match": "modern.example", "tls": {"max_version": "1.3", "min_version": "1.3"}}]})",
                                 "max.json", three);
    REQUIRE_MESSAGE(r, r.report());
    policy::Engine e(std::move(*r.config), three);
    const auto legacy = e.explain("https://legacy.example/");
    INFO(legacy.text());
    CHECK(row(legacy.text(), "tls.max_version") == "tls.max_version 1.2 defaults");
    CHECK(row(legacy.text(), "tls.min_version") == "tls.min_version 1.2 built-in default");
    // the row follows min_version
    const std::string t = legacy.text();
    CHECK(t.find("\ntls.min_version ") < t.find("\ntls.max_version "));
    CHECK(t.find("\ntls.max_version ") < t.find("\ntls.sni "));
    const json s = json::parse(e.explain("https://modern.example/").json())["settings"];
    CHECK(s["tls.max_version"] == json{{"value", "1.3"}, {"source", "hosts[0] (modern.example)"},
                                       {"source_kind", "rule"}, {"index", 0}, {"used", true}});
    const json plain = json::parse(e.explain("http://legacy.example/").json())["settings"];
    CHECK(plain["tls.max_version"]["used"] == false);
    CHECK(policy::Engine(policy::Config{}, three).resolve(*policy::Origin::parse("https://x.example"))
              .source_of("tls.max_version")->text == "built-in default");
}

TEST_CASE("pool.ping_interval and pool.ping_timeout: values and sources") {
    auto r = config::load_string(R"({
      "defaults": {"pool": {"ping_interval": "45s"}},
      "hosts": [{"match": "api.example", "pool": {"ping_timeout": "1500ms"}}]})",
                                 "ping.json", three);
    REQUIRE_MESSAGE(r, r.report());
    policy::Engine e(std::move(*r.config), three);
    const std::string api = e.explain("https://api.example/").text();
    INFO(api);
    CHECK(row(api, "pool.ping_interval") == "pool.ping_interval 45s defaults");
    CHECK(row(api, "pool.ping_timeout") == "pool.ping_timeout 1s500ms hosts[0] (api.example)");
    const json other = json::parse(e.explain("https://other.example/").json())["settings"];
    CHECK(other["pool.ping_timeout"]["value"] == "5s");
    CHECK(other["pool.ping_timeout"]["source_kind"] == "builtin");
    const auto builtin = policy::Engine(policy::Config{}, three).resolve(*policy::Origin::parse("https://x.example")).policy;
    CHECK(builtin.pool.ping_interval == std::chrono::milliseconds(0));
    CHECK(builtin.pool.ping_timeout == std::chrono::seconds(5));
    CHECK(builtin.pool.max_connection_age == std::chrono::milliseconds(0));
    CHECK(other["pool.max_connection_age"]["value"] == "0s");
    CHECK(other["pool.max_connection_age"]["source_kind"] == "builtin");
}

TEST_CASE("pool.max_connection_age: value and source") {
    auto r = config::load_string(R"({
      "hosts": [{"match": "api.example", "pool": {"max_connection_age": "5m"}}]})",
                                 "age.json", three);
    REQUIRE_MESSAGE(r, r.report());
    policy::Engine e(std::move(*r.config), three);
    const std::string api = e.explain("https://api.example/").text();
    INFO(api);
    CHECK(row(api, "pool.max_connection_age") == "pool.max_connection_age 5m hosts[0] (api.example)");
}

TEST_CASE("connect_to, resolve and timeouts.happy_eyeballs: values and sources") {
    auto r = config::load_string(R"({
      "defaults": {"timeouts": {"happy_eyeballs": "100ms"}},
      "hosts": [{"match": "api.example", "connect_to": "[::1]:8443"},
                {"match": "db.example:5432", "resolve": ["10.0.0.7", "fd00::7"]}]})",
                                 "he.json", three);
    REQUIRE_MESSAGE(r, r.report());
    policy::Engine e(std::move(*r.config), three);
    const std::string api = e.explain("https://api.example/").text();
    INFO(api);
    CHECK(row(api, "connect_to") ==
          "connect_to [::1]:8443 (SNI, Host and the certificate check keep the origin's name) hosts[0] (api.example)");
    CHECK(row(api, "resolve") == "resolve [] (DNS) built-in default");
    CHECK(row(api, "timeouts.happy_eyeballs") == "timeouts.happy_eyeballs 100ms defaults");
    const json db = json::parse(e.explain("https://db.example:5432/").json())["settings"];
    CHECK(db["resolve"]["value"] == json{"10.0.0.7", "fd00::7"});
    CHECK(db["connect_to"]["value"] == false);
    CHECK(policy::Engine(policy::Config{}, three).resolve(*policy::Origin::parse("https://x.example"))
              .policy.timeouts.happy_eyeballs == std::chrono::milliseconds(250));
}

}  // TEST_SUITE
