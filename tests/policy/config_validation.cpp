// Strict validation: every class of error, with its exact message, JSON path and line:column;
// all errors of a file at once; files, the environment variable, and Configs built by hand.
#include <connmatrix/config.hpp>

#include <doctest/doctest.h>

#include "checks.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace connmatrix;
using config::errc;

namespace {

const policy::BuildInfo three{{"openssl", "gnutls", "mbedtls"}, "openssl"};

config::LoadResult load(const std::string& json, const policy::BuildInfo& build = three) {
    return config::load_string(json, "cfg.json", build);
}

// Exactly one error, and it is this one.
void one_error(const std::string& json, errc code, const std::string& described,
               unsigned line = 0, unsigned column = 0) {
    auto r = load(json);
    INFO(json);
    INFO(r.report());
    REQUIRE_FALSE(r);
    CHECK_FALSE(r.config);
    REQUIRE(r.errors.size() == 1);
    const auto& d = r.errors[0];
    CHECK(d.code == config::make_error_code(code));
    CHECK(d.describe() == described);
    if (line) {
        CHECK(d.line == line);
        CHECK(d.column == column);
    }
}

std::string rule(const std::string& fields) {
    return R"({"hosts": [{"match": "api.example.com", )" + fields + "}]}";
}

std::string defaults(const std::string& fields) { return R"({"defaults": {)" + fields + "}}"; }

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "connmatrix-policy-XXXXXX").string();
        REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name) << text;
        return (path / name).string();
    }
};

}  // namespace

TEST_SUITE("config_validation") {

TEST_CASE("valid configurations load; an empty object is the built-in defaults") {
    auto r = load("{}");
    REQUIRE(r);
    CHECK(r.errors.empty());
    CHECK(r.config->hosts.empty());
    CHECK(r.config->source == "cfg.json");
    auto full = load(R"({
      "$schema": "connmatrix.schema.json",
      "description": "everything once",
      "defaults": {
        "description": "d", "mode": "alpn", "backend": "gnutls", "alpn": ["h2", "http/1.1"],
        "no_alpn": "http/1.1", "fallback": "http/1.1", "remember": "1h30m", "cleartext": "h2c-upgrade",
        "tls": {"verify": true, "ca_file": "/etc/ssl/ca.pem", "min_version": "1.3", "sni": "front.example",
                "resumption": false, "early_data": false},
        "timeouts": {"connect": "250ms", "tls": "3s", "request": "1m", "idle": "1h"},
        "pool": {"max_connections_per_host": 16, "max_idle_per_host": 0, "max_concurrent_streams": 1000},
        "proxy": "http://proxy.example:3128/", "no_proxy": ["*.internal", "[::1]:8080"]
      },
      "hosts": [{"match": ["a.example", "http://b.example:8080"], "description": "r", "proxy": false}]
    })");
    REQUIRE_MESSAGE(full, full.report());
    const auto& d = full.config->defaults;
    CHECK(d.remember == std::chrono::minutes(90));
    CHECK(d.timeouts.connect == std::chrono::milliseconds(250));
    CHECK(d.tls.sni == policy::Sni{policy::Sni::Kind::name, "front.example"});
    CHECK(d.proxy->value().to_string() == "http://proxy.example:3128");
    CHECK(full.config->no_proxy.size() == 2);
    CHECK(full.config->hosts[0].match.size() == 2);
    CHECK(full.config->hosts[0].description == "r");
    CHECK(full.config->defaults_description == "d");
    CHECK(full.config->description == "everything once");
}

TEST_CASE("syntax errors: line, column, and the parser's reason") {
    one_error("{\n  \"defaults\": {\"mode\": \"http1\",}\n}", errc::syntax_error,
              "syntax error while parsing object key - unexpected '}'; expected string literal", 2, 32);
    auto c = load("{\n  // a comment\n  \"defaults\": {}\n}");
    REQUIRE(c.errors.size() == 1);
    CHECK(c.errors[0].code == errc::syntax_error);
    CHECK(c.errors[0].line == 2);
    CHECK(c.errors[0].message.find("JSON has no comments: use a \"description\" field") != std::string::npos);
    one_error("", errc::syntax_error, "empty configuration: write {} for the built-in defaults", 1, 1);
    one_error("  \n ", errc::syntax_error, "empty configuration: write {} for the built-in defaults", 1, 1);
    auto trunc = load("{\"defaults\": {\"mode\": ");
    REQUIRE(trunc.errors.size() == 1);
    CHECK(trunc.errors[0].code == errc::syntax_error);
    CHECK(trunc.errors[0].to_string().rfind("cfg.json:1:", 0) == 0);
    one_error("{\"defaults\": {\"pool\": {\"max_idle_per_host\": 1e999}}}", errc::syntax_error,
              "number 1e999 is out of range", 1, 45);
    auto utf8 = load("{\"description\": \"\xff\"}");
    REQUIRE(utf8.errors.size() == 1);
    CHECK(utf8.errors[0].code == errc::syntax_error);
}

TEST_CASE("the document must be an object") {
    one_error("[]", errc::wrong_type,
              "the configuration must be a JSON object ({\"defaults\": ..., \"hosts\": [...]}), got an array");
    one_error("42", errc::wrong_type,
              "the configuration must be a JSON object ({\"defaults\": ..., \"hosts\": [...]}), got number 42");
}

TEST_CASE("unknown keys, with a did-you-mean for near misses") {
    one_error(defaults(R"("backnd": "openssl")"), errc::unknown_key,
              R"(defaults.backnd: unknown key, did you mean "backend"?)", 1, 15);
    one_error(rule(R"("Mode": "http1")"), errc::unknown_key, R"(hosts[0].Mode: unknown key, did you mean "mode"?)");
    one_error(rule(R"("timeout": {})"), errc::unknown_key,
              R"(hosts[0].timeout: unknown key, did you mean "timeouts"?)");
    one_error(rule(R"("verify": false)"), errc::unknown_key,
              R"(hosts[0].verify: unknown key, did you mean "tls": {"verify": ...}?)");
    one_error(rule(R"("tls": {"connect": "1s"})"), errc::unknown_key,
              R"(hosts[0].tls.connect: unknown key, did you mean "timeouts": {"connect": ...}?)");
    one_error(rule(R"("tls": {"backend": "gnutls"})"), errc::unknown_key,
              R"(hosts[0].tls.backend: unknown key: "backend" belongs in the rule (or "defaults") itself, not in "tls")");
    one_error(rule(R"("no_proxy": ["x.example"])"), errc::unknown_key,
              R"(hosts[0].no_proxy: unknown key: "no_proxy" is only allowed in "defaults"; to bypass the proxy for this rule, set "proxy": false)");
    one_error(defaults(R"("match": "x.example")"), errc::unknown_key,
              R"(defaults.match: unknown key: "defaults" apply to every host and have no "match"; put host-specific settings in a "hosts" rule)");
    one_error(R"({"mode": "http1"})", errc::unknown_key,
              R"(mode: unknown key: policy settings go in "defaults" or in a "hosts" rule)");
    one_error(R"({"rules": []})", errc::unknown_key, R"(rules: unknown key, did you mean "hosts"?)");
    one_error(defaults(R"("pool": {"streams": 5})"), errc::unknown_key,
              R"(defaults.pool.streams: unknown key (keys here: max_connections_per_host, max_idle_per_host, max_concurrent_streams, ping_interval, ping_timeout, max_connection_age))");
    one_error(R"({"we.ird": 1})", errc::unknown_key,
              R"(["we.ird"]: unknown key (keys here: $schema, description, defaults, hosts))");
}

TEST_CASE("duplicate keys, which JSON parsers silently collapse") {
    one_error("{\"defaults\": {\"mode\": \"http1\",\n \"mode\": \"alpn\"}}", errc::duplicate_key,
              "defaults.mode: duplicate key (first at line 1, column 15); JSON would keep only the last one", 2, 2);
}

TEST_CASE("wrong types") {
    one_error(rule(R"("alpn": "h2")"), errc::wrong_type,
              R"(hosts[0].alpn: expected an array of protocol names, got string "h2" (write ["h2"]))");
    one_error(rule(R"("alpn": ["h2", 2])"), errc::wrong_type,
              R"(hosts[0].alpn[1]: expected a protocol name, got number 2)");
    one_error(defaults(R"("tls": {"verify": "false"})"), errc::wrong_type,
              R"(defaults.tls.verify: expected true or false, got string "false" (write it without quotes))");
    one_error(defaults(R"("pool": {"max_idle_per_host": 2.5})"), errc::wrong_type,
              R"(defaults.pool.max_idle_per_host: expected a whole number, got number 2.5)");
    one_error(defaults(R"("tls": [])"), errc::wrong_type, R"(defaults.tls: expected an object, got an array)");
    one_error(R"({"hosts": {"api.example.com": {}}})", errc::wrong_type,
              R"(hosts: expected an array of rules ([{"match": "host", ...}]), got an object)");
    one_error(R"({"hosts": ["api.example.com"]})", errc::wrong_type,
              R"(hosts[0]: expected an object (a rule with "match"), got string "api.example.com")");
    one_error(defaults(R"("mode": null)"), errc::wrong_type, R"(defaults.mode: expected a string, got null)");
    one_error(defaults(R"("tls": {"min_version": 1.2})"), errc::wrong_type,
              R"(defaults.tls.min_version: expected "1.2" or "1.3" as a string, got number 1.2)");
    one_error(defaults(R"("tls": {"sni": 7})"), errc::wrong_type,
              R"(defaults.tls.sni: expected a host name, true (the host's own name) or false (no SNI), got number 7)");
    one_error(defaults(R"("proxy": true)"), errc::wrong_type,
              R"(defaults.proxy: expected "http://host:port", or false for no proxy, got true)");
    one_error(R"({"description": 5})", errc::wrong_type, R"(description: expected a string, got number 5)");
    one_error(R"({"hosts": [{"match": 5}]})", errc::wrong_type,
              R"(hosts[0].match: expected a host pattern or an array of them, got number 5)");
}

TEST_CASE("backends: not compiled in, with the available list from this build") {
    one_error(R"({"hosts": [{"match": "a.example"}, {"match": "b.example"},
                            {"match": "c.example", "backend": "wolfssl"}]})",
              errc::backend_not_compiled_in,
              R"(hosts[2].backend: "wolfssl" is not compiled into this build (available: openssl, gnutls, mbedtls))",
              2, 63);
    auto r = config::load_string(rule(R"("backend": "mbedtls")"), "x", {{"openssl"}, "openssl"});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].describe() ==
          R"(hosts[0].backend: "mbedtls" is not compiled into this build (available: openssl))");
    one_error(rule(R"("backend": "opensll")"), errc::backend_not_compiled_in,
              R"(hosts[0].backend: "opensll" is not compiled into this build (available: openssl, gnutls, mbedtls); did you mean "openssl"?)");
    one_error(rule(R"("backend": "")"), errc::invalid_value, R"(hosts[0].backend: empty backend name)");
}

TEST_CASE("the real registry: the available list names what Meson compiled in") {
    auto r = config::load_string(rule(R"("backend": "wolfssl")"));
    REQUIRE(r.errors.size() == 1);
    const auto names = policy::BuildInfo::compiled_in().backends;
    REQUIRE_FALSE(names.empty());
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    CHECK(r.errors[0].describe() ==
          "hosts[0].backend: \"wolfssl\" is not compiled into this build (available: " + list + ")");
}

TEST_CASE("modes and other named values") {
    one_error(rule(R"("mode": "prior_knowledge")"), errc::unknown_mode,
              R"(hosts[0].mode: unknown mode "prior_knowledge", did you mean "prior-knowledge"? (modes: alpn, h2-only, http1, prior-knowledge, prior-knowledge-alpn, h2-only-prior-knowledge))");
    one_error(rule(R"("mode": "turbo")"), errc::unknown_mode,
              R"(hosts[0].mode: unknown mode "turbo" (modes: alpn, h2-only, http1, prior-knowledge, prior-knowledge-alpn, h2-only-prior-knowledge))");
    one_error(defaults(R"("no_alpn": "http1.1")"), errc::invalid_value,
              R"(defaults.no_alpn: unknown value "http1.1" for no_alpn, did you mean "http/1.1"? (one of: http/1.1, h2, fail))");
    one_error(defaults(R"("cleartext": "h2c_upgrade")"), errc::invalid_value,
              R"(defaults.cleartext: unknown value "h2c_upgrade" for cleartext, did you mean "h2c-upgrade"? (one of: http/1.1, h2c, h2c-upgrade))");
    one_error(defaults(R"("fallback": "http/2")"), errc::invalid_value,
              R"(defaults.fallback: unknown value "http/2" for fallback (one of: none, http/1.1))");
    one_error(defaults(R"("tls": {"min_version": "1.0"})"), errc::invalid_value,
              R"(defaults.tls.min_version: TLS 1.0 is not supported (RFC 8996 deprecates it; h2 needs TLS 1.2): use "1.2" or "1.3")");
    one_error(defaults(R"("tls": {"min_version": "TLSv1.3"})"), errc::invalid_value,
              R"(defaults.tls.min_version: unknown TLS version "TLSv1.3", did you mean "1.3"?)");
}

TEST_CASE("on_http11_required: both spellings, in defaults and rules; anything else names its path") {
    using policy::OnHttp11Required;
    // Not a structured binding: clang 14 cannot capture one in INFO.
    for (const auto& entry : {std::pair{"http/1.1", OnHttp11Required::http1_1},
                              std::pair{"fail", OnHttp11Required::fail}}) {
        const std::string text = entry.first;
        const OnHttp11Required value = entry.second;
        INFO(text);
        CHECK(policy::to_string(value) == text);
        CHECK(policy::parse_on_http11_required(text) == value);
        auto d = load(defaults(std::string(R"("on_http11_required": ")") + text + "\""));
        REQUIRE_MESSAGE(d, d.report());
        CHECK(d.config->defaults.on_http11_required == value);
        auto r = load(rule(std::string(R"("on_http11_required": ")") + text + "\""));
        REQUIRE_MESSAGE(r, r.report());
        CHECK(r.config->hosts[0].set.on_http11_required == value);
        CHECK_FALSE(r.config->defaults.on_http11_required);
    }
    CHECK_FALSE(load(R"({"defaults": {}})").config->defaults.on_http11_required);  // unset: not written
    CHECK_FALSE(policy::parse_on_http11_required("HTTP/1.1"));  // spellings are exact
    CHECK_FALSE(policy::parse_on_http11_required("none"));

    one_error(defaults(R"("on_http11_required": "http1.1")"), errc::invalid_value,
              R"(defaults.on_http11_required: unknown value "http1.1" for on_http11_required, did you mean "http/1.1"? (one of: http/1.1, fail))",
              1, 37);
    one_error(rule(R"("on_http11_required": "retry")"), errc::invalid_value,
              R"(hosts[0].on_http11_required: unknown value "retry" for on_http11_required (one of: http/1.1, fail))");
    one_error(rule(R"("on_http11_required": false)"), errc::wrong_type,
              R"(hosts[0].on_http11_required: expected a string, got false)");
    one_error(defaults(R"("on_http11_requried": "fail")"), errc::unknown_key,
              R"(defaults.on_http11_requried: unknown key, did you mean "on_http11_required"?)");
}

TEST_CASE("contradictions") {
    SUBCASE("alpn [] with no_alpn fail, in one object") {
        one_error(defaults(R"("alpn": [], "no_alpn": "fail")"), errc::contradiction,
                  R"(defaults.no_alpn: alpn [] (from defaults) with no_alpn "fail" (from defaults) can never connect over TLS: with nothing offered the server selects nothing; offer protocols or say what to speak without ALPN)");
    }
    SUBCASE("alpn [] with no_alpn fail, across defaults and a rule") {
        one_error(R"({"defaults": {"mode": "h2-only"}, "hosts": [{"match": "a.example", "alpn": []}]})",
                  errc::contradiction,
                  R"(hosts[0].alpn: alpn [] (from hosts[0]) with no_alpn "fail" (from mode h2-only (from defaults)) can never connect over TLS: with nothing offered the server selects nothing; offer protocols or say what to speak without ALPN)");
    }
    SUBCASE("h2c on an https-only rule") {
        one_error(R"({"hosts": [{"match": "https://api.example.com", "cleartext": "h2c"}]})", errc::contradiction,
                  R"(hosts[0].cleartext: cleartext ("h2c") applies to http:// origins, but this rule matches only https:// ("https://api.example.com"))");
        // not when the rule also matches http://
        CHECK(load(R"({"hosts": [{"match": ["https://a.example", "http://a.example"], "cleartext": "h2c"}]})"));
        CHECK(load(R"({"hosts": [{"match": "a.example:443", "cleartext": "h2c"}]})"));
    }
    SUBCASE("TLS settings on an http-only rule") {
        auto r = load(R"({"hosts": [{"match": "http://a.example", "backend": "gnutls", "tls": {"verify": false}}]})");
        REQUIRE(r.errors.size() == 2);
        CHECK(r.errors[0].describe() ==
              R"(hosts[0].backend: TLS settings do not apply: this rule matches only http:// origins ("http://a.example"))");
        CHECK(r.errors[1].path == "hosts[0].tls");
        CHECK(r.errors[1].code == errc::contradiction);
    }
    SUBCASE("remember with neither fallback nor on_http11_required http/1.1") {
        one_error(defaults(R"("fallback": "none", "on_http11_required": "fail", "remember": "10m")"),
                  errc::contradiction,
                  R"(defaults.remember: remember is set but fallback is "none" and on_http11_required is "fail" here: there is nothing to remember)");
        one_error(rule(R"("remember": "1m", "on_http11_required": "fail", "fallback": "none")"), errc::contradiction,
                  R"(hosts[0].remember: remember is set but fallback is "none" and on_http11_required is "fail" here: there is nothing to remember)");
        // an answer HTTP_1_1_REQUIRED is remembered too: remember matters without the fallback
        CHECK(load(defaults(R"("fallback": "none", "remember": "10m")")));
        CHECK(load(defaults(R"("fallback": "none", "on_http11_required": "http/1.1", "remember": "10m")")));
        CHECK(load(defaults(R"("fallback": "http/1.1", "on_http11_required": "fail", "remember": "10m")")));
    }
    SUBCASE("more idle connections than connections") {
        one_error(R"({"defaults": {"pool": {"max_connections_per_host": 2}},
                      "hosts": [{"match": "a.example", "pool": {"max_idle_per_host": 3}}]})",
                  errc::contradiction,
                  R"(hosts[0].pool.max_idle_per_host: max_idle_per_host 3 (from hosts[0]) exceeds max_connections_per_host 2 (from defaults))");
    }
    SUBCASE("a contradiction in defaults is reported once, not again for every rule") {
        auto r = load(R"({"defaults": {"alpn": [], "no_alpn": "fail"},
                          "hosts": [{"match": "a.example"}, {"match": "b.example", "mode": "alpn"}]})");
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].path == "defaults.no_alpn");
    }
}

TEST_CASE("ALPN lists") {
    one_error(defaults(R"("alpn": ["h2", ""])"), errc::invalid_value,
              R"(defaults.alpn[1]: empty protocol name: ALPN names are 1 to 255 bytes)");
    one_error(defaults(R"("alpn": ["h2", ")" + std::string(256, 'x') + R"("])"), errc::invalid_value,
              R"(defaults.alpn[1]: protocol name is 256 bytes: ALPN allows at most 255)");
    CHECK(load(defaults(R"("alpn": ["h2", ")" + std::string(255, 'x') + R"("])")));
    one_error(defaults(R"("alpn": ["h2", "http/1.1", "h2"])"), errc::invalid_value,
              R"(defaults.alpn[2]: "h2" is already offered at defaults.alpn[0])");
    one_error(defaults(R"("alpn": ["H2"])"), errc::invalid_value,
              R"(defaults.alpn[0]: "H2" is not "h2": ALPN names are case-sensitive)");
    one_error(defaults(R"("alpn": ["spdy/3.1"])"), errc::invalid_value,
              R"(defaults.alpn: offers neither "h2" nor "http/1.1", the only protocols connmatrix speaks; use [] to send no ALPN extension)");
    CHECK(load(defaults(R"("alpn": [])")));
    CHECK(load(defaults(R"("alpn": ["h2", "acme-tls/1"])")));
}

TEST_CASE("durations") {
    one_error(defaults(R"("timeouts": {"connect": "3 s"})"), errc::bad_duration,
              R"(defaults.timeouts.connect: "3 s" is not a duration: write numbers with units h, m, s, ms in that order, as in "250ms", "3s", "1m30s")");
    one_error(defaults(R"("timeouts": {"request": 30})"), errc::wrong_type,
              R"(defaults.timeouts.request: expected a duration string such as "3s" or "250ms", got number 30 (write the unit: "30s" or "30ms"))");
    one_error(defaults(R"("timeouts": {"tls": "0s"})"), errc::invalid_value,
              R"(defaults.timeouts.tls: 0s is out of range: a timeout is more than 0s and at most 24h)");
    one_error(defaults(R"("timeouts": {"idle": "25h"})"), errc::invalid_value,
              R"(defaults.timeouts.idle: 25h is out of range: a timeout is more than 0s and at most 24h)");
    one_error(defaults(R"("fallback": "http/1.1", "remember": "8d")"), errc::bad_duration,
              R"(defaults.remember: "8d" is not a duration: write numbers with units h, m, s, ms in that order, as in "250ms", "3s", "1m30s")");
    one_error(defaults(R"("remember": "169h")"), errc::invalid_value, R"(defaults.remember: must be from 0s to 168h)");
    CHECK(load(defaults(R"("remember": "0s")")));

    using std::chrono::milliseconds;
    CHECK(policy::parse_duration("250ms") == milliseconds(250));
    CHECK(policy::parse_duration("3s") == milliseconds(3000));
    CHECK(policy::parse_duration("1m") == milliseconds(60000));
    CHECK(policy::parse_duration("1h30m") == milliseconds(5400000));
    CHECK(policy::parse_duration("1s500ms") == milliseconds(1500));
    for (const char* bad : {"", "s", "3", "3S", "1.5s", "-1s", "1s1h", "1s1s", "1m1m", " 1s", "1000000000s", "1d"})
        CHECK_MESSAGE(!policy::parse_duration(bad), bad);
    CHECK(policy::format_duration(milliseconds(5400000)) == "1h30m");
    CHECK(policy::format_duration(milliseconds(1500)) == "1s500ms");
    CHECK(policy::format_duration(milliseconds(0)) == "0s");
}

TEST_CASE("patterns in match and no_proxy") {
    one_error(R"({"hosts": [{"match": "*.*"}]})", errc::bad_pattern,
              R"(hosts[0].match: "*.*" is not a host pattern: only one '*' is allowed, as the whole first label, as in "*.example.com")");
    one_error(R"({"hosts": [{"match": "*foo.com"}]})", errc::bad_pattern,
              R"(hosts[0].match: "*foo.com" is not a host pattern: '*' must be a whole label, the first one: write "*.foo.com")");
    one_error(R"({"hosts": [{"match": ""}]})", errc::bad_pattern,
              R"(hosts[0].match: "" is not a host pattern: empty pattern)");
    one_error(R"({"hosts": [{"match": ["a.example", "foo.*"]}]})", errc::bad_pattern,
              R"(hosts[0].match[1]: "foo.*" is not a host pattern: '*' is only allowed as the whole first label, as in "*.example.com")");
    one_error(R"({"hosts": [{"match": []}]})", errc::invalid_value,
              R"(hosts[0].match: an empty list matches nothing: give at least one pattern)");
    one_error(R"({"hosts": [{"mode": "http1"}]})", errc::missing_key,
              R"(hosts[0].match: missing: every rule needs the host pattern(s) it applies to, e.g. "api.example.com")");
    one_error(defaults(R"("no_proxy": ["https://a.example"])"), errc::bad_pattern,
              R"(defaults.no_proxy[0]: "https://a.example" is not a host pattern: no_proxy entries name hosts, without a scheme)");
}

TEST_CASE("TLS settings") {
    CHECK(static_cast<bool>(load(defaults(R"("tls": {"early_data": true, "early_data_methods": ["GET", "PUT"]})"))));
    one_error(defaults(R"("tls": {"early_data_methods": ["GET", "get"]})"), errc::invalid_value,
              R"(defaults.tls.early_data_methods[1]: "get" is not idempotent (RFC 9110 9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE; methods are case-sensitive): early data can be replayed, so it never carries one)");
    one_error(defaults(R"("tls": {"early_data_methods": ["GE T"]})"), errc::invalid_value,
              R"(defaults.tls.early_data_methods[0]: "GE T" is not a method name)");
    one_error(defaults(R"("tls": {"early_data": true, "resumption": false})"), errc::contradiction,
              R"(defaults.tls.early_data: early data needs a resumed session, but this layer sets tls.resumption to false)");
    one_error(defaults(R"("tls": {"ca_file": ""})"), errc::invalid_value,
              R"(defaults.tls.ca_file: empty file name: leave ca_file out to use the system trust store)");
    one_error(defaults(R"("tls": {"sni": "192.0.2.1"})"), errc::invalid_value,
              R"(defaults.tls.sni: "192.0.2.1" is an IP address; SNI carries host names only (RFC 6066 section 3): use false to send none)");
    one_error(defaults(R"("tls": {"sni": "a b"})"), errc::invalid_value,
              R"(defaults.tls.sni: "a b" is not a host name: invalid character " " in host name)");
    auto sni = load(defaults(R"("tls": {"sni": false})"));
    REQUIRE(sni);
    CHECK(sni.config->defaults.tls.sni->kind == policy::Sni::Kind::none);
}

TEST_CASE("pool limits") {
    one_error(defaults(R"("pool": {"max_connections_per_host": 0})"), errc::invalid_value,
              R"(defaults.pool.max_connections_per_host: 0 is out of range (1 to 1024))");
    one_error(defaults(R"("pool": {"max_concurrent_streams": -1})"), errc::invalid_value,
              R"(defaults.pool.max_concurrent_streams: -1 is negative)");
    one_error(defaults(R"("pool": {"max_concurrent_streams": 99999999999})"), errc::invalid_value,
              R"(defaults.pool.max_concurrent_streams: 99999999999 is too large)");
    one_error(defaults(R"("pool": {"max_concurrent_streams": 2147483648})"), errc::invalid_value,
              R"(defaults.pool.max_concurrent_streams: 2147483648 is out of range (1 to 2147483647))");
}

TEST_CASE("proxies") {
    one_error(defaults(R"("proxy": "socks5://p.example:1080")"), errc::bad_proxy,
              R"(defaults.proxy: only http:// (CONNECT) proxies are supported, not "socks5://")");
    one_error(defaults(R"("proxy": "http://p.example")"), errc::bad_proxy,
              R"(defaults.proxy: the proxy URL needs a port, as in "http://p.example:3128")");
    one_error(defaults(R"("proxy": "http://user:pw@p.example:3128")"), errc::bad_proxy,
              R"(defaults.proxy: credentials in the proxy URL are not supported)");
    one_error(defaults(R"("proxy": "p.example:3128")"), errc::bad_proxy,
              R"(defaults.proxy: "p.example:3128" is not a proxy URL: write "http://host:port")");
}

TEST_CASE("pool.ping_interval and pool.ping_timeout: what loads, and each bad value by its JSON path") {
    auto ok = load(R"({"defaults": {"pool": {"ping_interval": "30s", "ping_timeout": "2s"}},
      "hosts": [{"match": "quiet.example", "pool": {"ping_interval": "0s"}}]})");
    REQUIRE_MESSAGE(ok, ok.report());
    CHECK(ok.config->defaults.pool.ping_interval == std::chrono::seconds(30));
    CHECK(ok.config->defaults.pool.ping_timeout == std::chrono::seconds(2));
    CHECK(ok.config->hosts[0].set.pool.ping_interval == std::chrono::milliseconds(0));
    CHECK_FALSE(ok.config->hosts[0].set.pool.ping_timeout);

    one_error(defaults(R"("pool": {"ping_timeout": "0s"})"), errc::invalid_value,
              R"(defaults.pool.ping_timeout: 0s is out of range: a timeout is more than 0s and at most 24h)");
    one_error(rule(R"("pool": {"ping_interval": "25h"})"), errc::invalid_value,
              R"(hosts[0].pool.ping_interval: 25h is out of range: 0s (never PING) to 24h)");
    one_error(rule(R"("pool": {"ping_interval": 30})"), errc::wrong_type,
              R"(hosts[0].pool.ping_interval: expected a duration string such as "3s" or "250ms", got number 30 (write the unit: "30s" or "30ms"))");
    one_error(defaults(R"("pool": {"ping_timeout": "soon"})"), errc::bad_duration,
              R"(defaults.pool.ping_timeout: "soon" is not a duration: write numbers with units h, m, s, ms in that order, as in "250ms", "3s", "1m30s")");
}

TEST_CASE("pool.max_connection_age: what loads, and each bad value by its JSON path") {
    auto ok = load(R"({"defaults": {"pool": {"max_connection_age": "10m"}},
      "hosts": [{"match": "forever.example", "pool": {"max_connection_age": "0s"}}]})");
    REQUIRE_MESSAGE(ok, ok.report());
    CHECK(ok.config->defaults.pool.max_connection_age == std::chrono::minutes(10));
    CHECK(ok.config->hosts[0].set.pool.max_connection_age == std::chrono::milliseconds(0));
    one_error(rule(R"("pool": {"max_connection_age": "25h"})"), errc::invalid_value,
              R"(hosts[0].pool.max_connection_age: 25h is out of range: 0s (no limit) to 24h)");
    one_error(defaults(R"("pool": {"max_connection_age": 600})"), errc::wrong_type,
              R"(defaults.pool.max_connection_age: expected a duration string such as "3s" or "250ms", got number 600 (write the unit: "600s" or "600ms"))");
}

TEST_CASE("connect_to, resolve and timeouts.happy_eyeballs: what loads, and each bad entry by its JSON path") {
    auto ok = load(R"({"defaults": {"connect_to": "[::1]:8443", "timeouts": {"happy_eyeballs": "100ms"}},
      "hosts": [{"match": "api.example.com:443", "resolve": ["127.0.0.1", "[::1]", "2001:DB8::1"]},
                {"match": "direct.example", "connect_to": false}]})");
    REQUIRE_MESSAGE(ok, ok.report());
    const auto& d = ok.config->defaults;
    REQUIRE(d.connect_to);
    REQUIRE(*d.connect_to);
    CHECK((*d.connect_to)->host == "::1");
    CHECK((*d.connect_to)->port == 8443);
    CHECK(d.timeouts.happy_eyeballs == std::chrono::milliseconds(100));
    CHECK(ok.config->hosts[0].set.resolve ==
          std::vector<std::string>{"127.0.0.1", "::1", "2001:db8::1"});
    REQUIRE(ok.config->hosts[1].set.connect_to);
    CHECK_FALSE(*ok.config->hosts[1].set.connect_to);

    one_error(rule(R"("connect_to": "backend.internal")"), errc::invalid_value,
              R"(hosts[0].connect_to: "backend.internal" needs a port, as in "backend.internal:443")");
    one_error(rule(R"("connect_to": "https://backend.internal:443")"), errc::invalid_value,
              R"(hosts[0].connect_to: "https://backend.internal:443" is not "host:port" (no scheme, path or user name))");
    one_error(rule(R"("connect_to": "::1:443")"), errc::invalid_value,
              R"(hosts[0].connect_to: IPv6 addresses need brackets, as in "[::1]" or "[::1]:8443")");
    one_error(defaults(R"("connect_to": "b.internal:99999")"), errc::invalid_value,
              R"(defaults.connect_to: port 99999 is out of range (1 to 65535))");
    one_error(rule(R"("connect_to": 443)"), errc::wrong_type,
              R"(hosts[0].connect_to: expected "host:port", or false to connect to the origin, got number 443)");
    one_error(rule(R"("resolve": ["127.0.0.1", "backend.internal"])"), errc::invalid_value,
              R"(hosts[0].resolve[1]: "backend.internal" is not an IP address (write "127.0.0.1" or "::1"; a port comes from the origin, host names are not resolved here))");
    one_error(rule(R"("resolve": "127.0.0.1")"), errc::wrong_type,
              R"(hosts[0].resolve: expected an array of IP addresses, got string "127.0.0.1" (write ["127.0.0.1"]))");
    one_error(rule(R"("resolve": [])"), errc::invalid_value,
              R"(hosts[0].resolve: empty: name at least one address, or leave resolve out to use DNS)");
    one_error(rule(R"("resolve": ["127.0.0.1"], "connect_to": "[::1]:443")"), errc::contradiction,
              R"(hosts[0].resolve: resolve and connect_to in one rule: connect_to names where to connect, so the addresses would never be used (write an IP address in connect_to))");
    one_error(defaults(R"("resolve": ["127.0.0.1"])"), errc::unknown_key,
              R"(defaults.resolve: unknown key: "resolve" gives addresses for a rule's host names, so it is only allowed in a "hosts" rule (its "match" names the hosts, and a port there limits it to that port))");
    one_error(defaults(R"("timeouts": {"happy_eyeballs": "5ms"})"), errc::invalid_value,
              R"(defaults.timeouts.happy_eyeballs: 5ms is out of range: the delay between connection attempts is from 10ms to 2s (RFC 8305 section 5))");
    one_error(rule(R"("timeouts": {"happy_eyeballs": "3s"})"), errc::invalid_value,
              R"(hosts[0].timeouts.happy_eyeballs: 3s is out of range: the delay between connection attempts is from 10ms to 2s (RFC 8305 section 5))");

    // The same checks for a Config built by hand.
    policy::Config cfg;
    cfg.defaults.resolve = std::vector<std::string>{"127.0.0.1"};
    policy::Rule r;
    r.match.push_back(*policy::HostPattern::parse("api.example.com"));
    r.set.resolve = std::vector<std::string>{"not-an-address"};
    cfg.hosts.push_back(r);
    const auto errors = config::check(cfg, three);
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].path == "defaults.resolve");
    CHECK(errors[1].path == "hosts[0].resolve[0]");
}

TEST_CASE("all errors at once, in document order, each located") {
    auto r = load(R"({
  "defaults": {
    "mode": "fast",
    "timeouts": { "connect": "soon" }
  },
  "hosts": [
    { "match": "*foo.com" },
    { "match": "api.example.com", "backend": "wolfssl", "alpn": ["h2", ""] },
    { "match": "api.example.com", "tsl": {} }
  ]
})");
    INFO(r.report());
    REQUIRE(r.errors.size() == 7);
    const char* expected[] = {
        "cfg.json:3:13: defaults.mode: unknown mode \"fast\" (modes: alpn, h2-only, http1, prior-knowledge, prior-knowledge-alpn, h2-only-prior-knowledge)",
        "cfg.json:4:30: defaults.timeouts.connect: \"soon\" is not a duration: write numbers with units h, m, s, ms in that order, as in \"250ms\", \"3s\", \"1m30s\"",
        "cfg.json:7:16: hosts[0].match: \"*foo.com\" is not a host pattern: '*' must be a whole label, the first one: write \"*.foo.com\"",
        "cfg.json:8:46: hosts[1].backend: \"wolfssl\" is not compiled into this build (available: openssl, gnutls, mbedtls)",
        "cfg.json:8:72: hosts[1].alpn[1]: empty protocol name: ALPN names are 1 to 255 bytes",
        "cfg.json:9:16: hosts[2].match: \"api.example.com\" is the same pattern as hosts[1].match (\"api.example.com\"): neither is more specific; merge the two rules",
        "cfg.json:9:35: hosts[2].tsl: unknown key, did you mean \"tls\"?",
    };
    for (std::size_t i = 0; i < r.errors.size(); ++i) CHECK(r.errors[i].to_string() == expected[i]);
    CHECK(r.report().find(expected[6]) != std::string::npos);
    auto e = r.error();
    CHECK(e.code == errc::unknown_mode);
    CHECK(e.origin == "config");
    CHECK(e.detail == r.report().substr(0, r.report().size() - 1));
}

TEST_CASE("files: the OS reason when unreadable; relative ca_file against the file's directory") {
    auto missing = config::load_file("/nonexistent/connmatrix.json", three);
    REQUIRE(missing.errors.size() == 1);
    CHECK(missing.errors[0].code == errc::file_unreadable);
    CHECK(missing.errors[0].to_string() ==
          "/nonexistent/connmatrix.json: cannot open \"/nonexistent/connmatrix.json\": No such file or directory");

    TempDir dir;
    auto is_dir = config::load_file(dir.path.string(), three);
    REQUIRE(is_dir.errors.size() == 1);
    CHECK(is_dir.errors[0].code == errc::file_unreadable);
    CHECK(is_dir.errors[0].message.find("Is a directory") != std::string::npos);

    const std::string f = dir.write("c.json", R"({"defaults": {"tls": {"ca_file": "certs/ca.pem"}},
        "hosts": [{"match": "a.example", "tls": {"ca_file": "/abs/ca.pem"}}]})");
    auto ok = config::load_file(f, three);
    REQUIRE_MESSAGE(ok, ok.report());
    CHECK(*ok.config->defaults.tls.ca_file == (dir.path / "certs/ca.pem").string());
    CHECK(*ok.config->hosts[0].set.tls.ca_file == "/abs/ca.pem");
    CHECK(ok.config->source == f);

    const std::string bad = dir.write("bad.json", "{\n\"hosts\": [{\"match\": \"*.*\"}]}");
    auto b = config::load_file(bad, three);
    REQUIRE(b.errors.size() == 1);
    CHECK(b.errors[0].to_string().rfind(bad + ":2:21: hosts[0].match: ", 0) == 0);

    const std::string big = dir.write("big.json", "{\"description\": \"" + std::string(config::max_file_size, 'x') + "\"}");
    auto huge = config::load_file(big, three);
    REQUIRE(huge.errors.size() == 1);
    CHECK(huge.errors[0].code == errc::file_too_large);
}

TEST_CASE("CONNMATRIX_CONFIG names the file when the API is given none; read at each call") {
    TempDir dir;
    const std::string f = dir.write("env.json", R"({"defaults": {"mode": "http1"}})");
    ::unsetenv("CONNMATRIX_CONFIG");
    auto none = config::from_environment(three);
    REQUIRE(none);
    CHECK(none.config->source == "<built-in>");
    CHECK_FALSE(none.config->defaults.mode);

    ::setenv("CONNMATRIX_CONFIG", f.c_str(), 1);
    auto set = config::from_environment(three);
    REQUIRE(set);
    CHECK(set.config->defaults.mode == policy::Mode::http1);

    ::setenv("CONNMATRIX_CONFIG", "/nonexistent.json", 1);
    auto bad = config::from_environment(three);
    REQUIRE(bad.errors.size() == 1);
    CHECK(bad.errors[0].message ==
          "cannot open \"/nonexistent.json\": No such file or directory (named by CONNMATRIX_CONFIG)");

    ::setenv("CONNMATRIX_CONFIG", "", 1);
    CHECK(config::from_environment(three));
    ::unsetenv("CONNMATRIX_CONFIG");
    CHECK(config::from_environment());  // with this build's backends
}

TEST_CASE("check(): the same semantic checks for a Config built by hand") {
    policy::Config cfg;
    cfg.source = "code";
    cfg.defaults.backend = "wolfssl";
    cfg.defaults.tls.early_data_methods = std::vector<std::string>{"POST"};
    policy::Rule r;
    r.match.push_back(*policy::HostPattern::parse("a.example"));
    r.match.push_back(*policy::HostPattern::parse("A.example."));
    cfg.hosts.push_back(r);
    cfg.hosts.push_back(policy::Rule{});
    auto errors = config::check(cfg, three);
    REQUIRE(errors.size() == 4);
    CHECK(errors[0].describe() ==
          R"(defaults.backend: "wolfssl" is not compiled into this build (available: openssl, gnutls, mbedtls))");
    CHECK(errors[1].path == "defaults.tls.early_data_methods[0]");
    CHECK(errors[2].describe() == "hosts[1].match: missing: every rule needs the host pattern(s) it applies to");
    CHECK(errors[3].path == "hosts[0].match[1]");
    CHECK(errors[0].source == "code");
    CHECK(errors[0].line == 0);
}

TEST_CASE("the config category") {
    const auto& cat = config::category();
    CHECK(std::string(cat.name()) == "config");
    for (int v = 1; v <= static_cast<int>(errc::internal); ++v)
        CHECK(cat.message(v).find("unknown config error") == std::string::npos);
    std::error_code ec = errc::bad_pattern;
    CHECK(ec.message() == "not a host pattern");
    config::Diagnostic d{config::make_error_code(errc::bad_duration), "defaults.remember", "\"x\" is not a duration", "f.json", 3, 7};
    CHECK(d.to_string() == "f.json:3:7: defaults.remember: \"x\" is not a duration");
    CHECK(d.to_error().message() == "config: not a duration (config: defaults.remember: \"x\" is not a duration)");
}

TEST_CASE("tls.max_version: both versions load; bad values and a max below min name their paths") {
    using policy::TlsVersion;
    // Not a structured binding: clang 14 cannot capture one in INFO.
    for (const auto& entry : {std::pair{"1.2", TlsVersion::tls1_2}, std::pair{"1.3", TlsVersion::tls1_3}}) {
        const std::string text = entry.first;
        const TlsVersion value = entry.second;
        INFO(text);
        auto d = load(defaults(std::string(R"("tls": {"max_version": ")") + text + "\"}"));
        REQUIRE_MESSAGE(d, d.report());
        CHECK(d.config->defaults.tls.max_version == value);
        auto r = load(rule(std::string(R"("tls": {"max_version": ")") + text + "\"}"));
        REQUIRE_MESSAGE(r, r.report());
        CHECK(r.config->hosts[0].set.tls.max_version == value);
        CHECK_FALSE(r.config->defaults.tls.max_version);
    }
    CHECK(load(defaults(R"("tls": {"min_version": "1.2", "max_version": "1.2"})")));
    CHECK(load(defaults(R"("tls": {"min_version": "1.3", "max_version": "1.3"})")));
    one_error(defaults(R"("tls": {"max_version": 1.3})"), errc::wrong_type,
              R"(defaults.tls.max_version: expected "1.2" or "1.3" as a string, got number 1.3)");
    one_error(rule(R"("tls": {"max_version": "1.1"})"), errc::invalid_value,
              R"(hosts[0].tls.max_version: TLS 1.1 is not supported (RFC 8996 deprecates it; h2 needs TLS 1.2): use "1.2" or "1.3")");
    one_error(rule(R"("tls": {"max_version": "tls1.2"})"), errc::invalid_value,
              R"(hosts[0].tls.max_version: unknown TLS version "tls1.2", did you mean "1.2"?)");
    one_error(defaults(R"("tls": {"max_version": "2"})"), errc::invalid_value,
              R"(defaults.tls.max_version: unknown TLS version "2" (one of: "1.2", "1.3"))");
    one_error(defaults(R"("tls": {"max_verison": "1.2"})"), errc::unknown_key,
              R"(defaults.tls.max_verison: unknown key, did you mean "max_version"?)");

    SUBCASE("max below min, in one object") {
        one_error(defaults(R"("tls": {"min_version": "1.3", "max_version": "1.2"})"), errc::contradiction,
                  R"(defaults.tls.max_version: tls.max_version "1.2" (from defaults) is below tls.min_version "1.3" (from defaults): no TLS version is left to negotiate)");
    }
    SUBCASE("max below min, across defaults and a rule: reported where it is written") {
        one_error(R"({"defaults": {"tls": {"min_version": "1.3"}},
                      "hosts": [{"match": "a.example", "tls": {"max_version": "1.2"}}]})",
                  errc::contradiction,
                  R"(hosts[0].tls.max_version: tls.max_version "1.2" (from hosts[0]) is below tls.min_version "1.3" (from defaults): no TLS version is left to negotiate)");
        one_error(R"({"defaults": {"tls": {"max_version": "1.2"}},
                      "hosts": [{"match": "a.example", "tls": {"min_version": "1.3"}}]})",
                  errc::contradiction,
                  R"(hosts[0].tls.min_version: tls.max_version "1.2" (from defaults) is below tls.min_version "1.3" (from hosts[0]): no TLS version is left to negotiate)");
        // a rule that raises max again resolves the contradiction for its hosts
        CHECK(load(R"({"defaults": {"tls": {"max_version": "1.2"}},
                       "hosts": [{"match": "a.example", "tls": {"min_version": "1.3", "max_version": "1.3"}}]})"));
    }
}

}  // TEST_SUITE

TEST_CASE("tls.client_cert: a whole identity per object, files that can be read, a passphrase source") {
    TempDir dir;
    const std::string cert = (dir.path / "client.pem").string();
    const std::string key = (dir.path / "client.key").string();
    const std::string pass = (dir.path / "client.pass").string();
    std::ofstream(cert) << "-----BEGIN CERTIFICATE-----\n";
    std::ofstream(key) << "-----BEGIN PRIVATE KEY-----\n";
    std::ofstream(pass) << "secret\r\nsecond line\n";
    const std::string id = R"("client_cert": ")" + cert + R"(", "client_key": ")" + key + R"(")";

    SUBCASE("resolved per rule; a rule's identity replaces the defaults' whole") {
        auto r = load(R"({"defaults": {"tls": {)" + id + R"(, "client_key_password_file": ")" + pass +
                      R"("}}, "hosts": [{"match": "api.example.com", "tls": {"client_cert": ")" + key +
                      R"(", "client_key": ")" + key + R"("}}]})");
        INFO(r.report());
        REQUIRE(r);
        policy::Engine e(*r.config, three);
        const auto other = e.resolve(*policy::Origin::parse("https://other.example.com"));
        CHECK(other.policy.tls.client == policy::ClientIdentity{cert, key, pass, ""});
        CHECK(policy::read_key_password(other.policy.tls.client) == std::optional<std::string>("secret"));
        const auto api = e.resolve(*policy::Origin::parse("https://api.example.com"));
        CHECK(api.policy.tls.client == policy::ClientIdentity{key, key, "", ""});
        CHECK(policy::read_key_password(api.policy.tls.client) == std::optional<std::string>(""));
        const policy::Provenance* src = api.source_of("tls.client_cert");
        REQUIRE(src);
        CHECK(src->text == "hosts[0] (api.example.com)");
    }
    SUBCASE("relative names are taken from the config file's directory") {
        const std::string file = (dir.path / "c.json").string();
        std::ofstream(file) << R"({"defaults": {"tls": {"client_cert": "client.pem", "client_key": "client.key",
                                  "client_key_password_file": "client.pass"}}})";
        auto r = config::load_file(file, three);
        INFO(r.report());
        REQUIRE(r);
        policy::Engine e(*r.config, three);
        CHECK(e.resolve(*policy::Origin::parse("https://a.example")).policy.tls.client ==
              policy::ClientIdentity{cert, key, pass, ""});
    }
    SUBCASE("the passphrase from an environment variable, read when used") {
        ::setenv("CONNMATRIX_TEST_KEY_PASS", "from-env", 1);
        auto r = load(defaults(R"("tls": {)" + id + R"(, "client_key_password_env": "CONNMATRIX_TEST_KEY_PASS"})"));
        INFO(r.report());
        REQUIRE(r);
        policy::Engine e(*r.config, three);
        const auto& client = e.resolve(*policy::Origin::parse("https://a.example")).policy.tls.client;
        CHECK(policy::read_key_password(client) == std::optional<std::string>("from-env"));
        ::unsetenv("CONNMATRIX_TEST_KEY_PASS");
        std::string why;
        CHECK_FALSE(policy::read_key_password(client, &why));
        CHECK(why == "the environment variable CONNMATRIX_TEST_KEY_PASS (the client key's passphrase) is not set");
        one_error(defaults(R"("tls": {)" + id + R"(, "client_key_password_env": "CONNMATRIX_TEST_KEY_PASS"})"),
                  errc::invalid_value,
                  "defaults.tls.client_key_password_env: the environment variable CONNMATRIX_TEST_KEY_PASS "
                  "(the client key's passphrase) is not set");
    }
    SUBCASE("each mistake named by its path") {
        one_error(rule(R"("tls": {"client_cert": ")" + cert + R"("})"), errc::missing_key,
                  "hosts[0].tls.client_key: missing: client_cert is set here, and a client "
                  "certificate and its key are written together");
        one_error(defaults(R"("tls": {"client_key": ")" + key + R"("})"), errc::missing_key,
                  "defaults.tls.client_cert: missing: client_key is set here, and a client "
                  "certificate and its key are written together");
        one_error(R"({"defaults": {"tls": {)" + id + R"(}}, "hosts": [{"match": "api.example.com",
                      "tls": {"client_key_password_file": ")" + pass + R"("}}]})",
                  errc::contradiction,
                  "hosts[0].tls.client_key_password_file: a passphrase for no key: set client_cert "
                  "and client_key in the same object");
        one_error(defaults(R"("tls": {)" + id + R"(, "client_key_password_file": ")" + pass +
                           R"(", "client_key_password_env": "HOME"})"),
                  errc::contradiction,
                  "defaults.tls.client_key_password_env: client_key_password_file is set too: the "
                  "passphrase comes from one of them");
        one_error(defaults(R"("tls": {"client_cert": ")" + cert + R"(", "client_key": ""})"),
                  errc::invalid_value,
                  "defaults.tls.client_key: empty: leave it out (a client certificate needs a file name)");
        const std::string missing = (dir.path / "missing.pem").string();
        one_error(rule(R"("tls": {"client_cert": ")" + missing + R"(", "client_key": ")" + key + R"("})"),
                  errc::file_unreadable,
                  "hosts[0].tls.client_cert: cannot read \"" + missing + "\": No such file or directory");
        const std::string empty = (dir.path / "empty.pass").string();
        std::ofstream(empty).flush();
        one_error(defaults(R"("tls": {)" + id + R"(, "client_key_password_file": ")" + empty + R"("})"),
                  errc::file_unreadable,
                  "defaults.tls.client_key_password_file: cannot read \"" + empty + "\": the file is empty");
        one_error(defaults(R"("tls": {"client_cert": 7, "client_key": ")" + key + R"("})"),
                  errc::wrong_type, "defaults.tls.client_cert: expected a file name, got number 7");
        // TLS settings: an http:// only rule cannot have them.
        one_error(R"({"hosts": [{"match": "http://api.example.com", "tls": {)" + id + R"(}}]})",
                  errc::contradiction,
                  R"(hosts[0].tls: TLS settings do not apply: this rule matches only http:// origins ("http://api.example.com"))");
    }
}

TEST_CASE("tls.pin: curl's sha256// pins, per rule and in defaults, each bad one named by its path") {
    // sha256 of the empty string, and a second well-formed pin.
    const std::string a = "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    const std::string b = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    auto pins = policy::parse_pin(a);
    REQUIRE(pins);
    CHECK((*pins)[0] == 0xe3);
    CHECK((*pins)[31] == 0x55);

    auto r = load(R"({"defaults": {"tls": {"pin": [")" + a + R"("]}},
                      "hosts": [{"match": "api.example.com", "tls": {"pin": [")" + a + R"(", ")" + b +
                  R"("]}},
                                {"match": "open.example.com", "tls": {"pin": []}}]})");
    INFO(r.report());
    REQUIRE(r);
    policy::Engine e(std::move(*r.config), three);
    CHECK(e.resolve(*policy::Origin::parse("https://other.example.com")).policy.tls.pin ==
          std::vector<std::string>{a});
    auto api = e.resolve(*policy::Origin::parse("https://api.example.com"));
    CHECK(api.policy.tls.pin == std::vector<std::string>{a, b});
    CHECK(e.resolve(*policy::Origin::parse("https://open.example.com")).policy.tls.pin.empty());
    // Provenance: the rule wrote it.
    const auto prov = std::find_if(api.provenance.begin(), api.provenance.end(),
                                   [](const policy::Provenance& p) { return p.field == "tls.pin"; });
    REQUIRE(prov != api.provenance.end());
    CHECK(prov->kind == policy::Provenance::Kind::rule);
    CHECK(prov->index == std::optional<std::size_t>(0));

    one_error(rule(R"("tls": {"pin": [")" + a + R"(", "sha1//AAAA"]})"), errc::invalid_value,
              R"(hosts[0].tls.pin[1]: "sha1//AAAA" is not a public key pin: a pin starts with "sha256//" (curl's form; file names are not taken here))");
    one_error(defaults(R"("tls": {"pin": ["sha256//AAA*AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]})"),
              errc::invalid_value,
              R"(defaults.tls.pin[0]: "sha256//AAA*AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" is not a public key pin: the hash is not base64: '*' at offset 3)");
    one_error(defaults(R"("tls": {"pin": ["sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF"]})"),
              errc::invalid_value,
              R"(defaults.tls.pin[0]: "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF" is not a public key pin: the hash is not base64 (RFC 4648, padded with '=' to a multiple of 4 characters))");
    one_error(defaults(R"("tls": {"pin": ["sha256//AAAA"]})"), errc::invalid_value,
              R"(defaults.tls.pin[0]: "sha256//AAAA" is not a public key pin: a SHA-256 hash is 32 bytes, this one decodes to 3)");
    one_error(defaults(R"("tls": {"pin": ["sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV="]})"),
              errc::invalid_value,
              R"(defaults.tls.pin[0]: "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=" is not a public key pin: the hash is not canonical base64 (stray bits before '='))");
    one_error(defaults(R"("tls": {"pin": ")" + a + R"("})"), errc::wrong_type,
              R"(defaults.tls.pin: expected an array of "sha256//BASE64" strings, got string "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" (write ["sha256//..."]; several pins are several elements))");
    one_error(defaults(R"("tls": {"pin": [42]})"), errc::wrong_type,
              R"(defaults.tls.pin[0]: expected a "sha256//BASE64" string, got number 42)");
    // Pins are TLS settings: an http:// only rule cannot have them.
    one_error(R"({"hosts": [{"match": "http://api.example.com", "tls": {"pin": [")" + a + R"("]}}]})",
              errc::contradiction,
              R"(hosts[0].tls: TLS settings do not apply: this rule matches only http:// origins ("http://api.example.com"))");
}
