// configs/connmatrix.schema.json and the loader describe the same format: the same keys at each
// level, the same named values, the same patterns; the example configs load; every invalid file
// is rejected with the error tests/configs/invalid-expectations.json names. (The schema's own
// verdicts are checked by schema_agreement.py with python3-jsonschema.)
#include <connmatrix/config.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "checks.hpp"
#include "internal.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>

using namespace connmatrix;
using json = nlohmann::json;
namespace fs = std::filesystem;
using policy::detail::Level;

namespace {

const fs::path root = CONNMATRIX_SOURCE_ROOT;
const policy::BuildInfo three{{"openssl", "gnutls", "mbedtls"}, "openssl"};

json read_json(const fs::path& p) {
    std::ifstream in(p);
    REQUIRE_MESSAGE(in, p.string());
    return json::parse(in);
}

const json& schema() {
    static const json s = read_json(root / "configs" / "connmatrix.schema.json");
    return s;
}

const json& def(const std::string& name) { return schema()["$defs"].at(name); }

std::set<std::string> keys_of(const json& properties) {
    std::set<std::string> out;
    for (auto it = properties.begin(); it != properties.end(); ++it) out.insert(it.key());
    return out;
}

std::set<std::string> loader_keys(Level l) {
    auto k = policy::detail::known_keys(l);
    return {k.begin(), k.end()};
}

std::set<std::string> enum_of(const json& j) {
    std::set<std::string> out;
    for (const auto& v : j.at("enum")) out.insert(v.get<std::string>());
    return out;
}

std::set<std::string> union_of(std::set<std::string> a, const std::set<std::string>& b) {
    a.insert(b.begin(), b.end());
    return a;
}

bool schema_matches(const json& pattern_holder, const std::string& s) {
    const std::regex re(pattern_holder.at("pattern").get<std::string>(), std::regex::ECMAScript);
    return std::regex_search(s, re);
}

}  // namespace

TEST_SUITE("schema_agreement") {

TEST_CASE("the schema is JSON Schema 2020-12 and describes every property") {
    CHECK(schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema");
    // every property in the schema has a description for editor completion
    std::size_t described = 0;
    for (const auto& name : {"policy", "tls", "timeouts", "pool", "defaults", "rule"}) {
        const json& props = def(name).at("properties");
        for (auto it = props.begin(); it != props.end(); ++it) {
            INFO(name, ".", it.key());
            const json& p = it.value();
            const bool has = p.contains("description") ||
                             (p.contains("$ref") && def(p["$ref"].get<std::string>().substr(8)).contains("description"));
            CHECK(has);
            ++described;
        }
    }
    CHECK(described == 42);
}

TEST_CASE("the same keys at every level") {
    const auto policy_keys = keys_of(def("policy").at("properties"));
    CHECK(keys_of(schema().at("properties")) == loader_keys(Level::top));
    CHECK(union_of(policy_keys, keys_of(def("defaults").at("properties"))) == loader_keys(Level::defaults));
    CHECK(union_of(policy_keys, keys_of(def("rule").at("properties"))) == loader_keys(Level::rule));
    CHECK(keys_of(def("tls").at("properties")) == loader_keys(Level::tls));
    CHECK(keys_of(def("timeouts").at("properties")) == loader_keys(Level::timeouts));
    CHECK(keys_of(def("pool").at("properties")) == loader_keys(Level::pool));
    CHECK(def("rule").at("required") == json::array({"match"}));
}

TEST_CASE("the same named values") {
    std::set<std::string> modes;
    for (auto m : policy::all_modes) modes.insert(std::string(policy::to_string(m)));
    CHECK(enum_of(def("mode")) == modes);
    for (const auto& m : enum_of(def("mode"))) CHECK(policy::parse_mode(m));
    for (const auto& v : enum_of(def("no_alpn"))) CHECK(policy::parse_no_alpn(v));
    CHECK(enum_of(def("no_alpn")).size() == 3);
    for (const auto& v : enum_of(def("fallback"))) CHECK(policy::parse_fallback(v));
    CHECK(enum_of(def("fallback")).size() == 2);
    for (const auto& v : enum_of(def("on_http11_required"))) CHECK(policy::parse_on_http11_required(v));
    CHECK(enum_of(def("on_http11_required")) == std::set<std::string>{"http/1.1", "fail"});
    for (const auto& v : enum_of(def("cleartext"))) CHECK(policy::parse_cleartext(v));
    CHECK(enum_of(def("cleartext")).size() == 3);
    const json& minv = def("tls")["properties"]["min_version"];
    CHECK(enum_of(minv) == std::set<std::string>{"1.2", "1.3"});
    CHECK(enum_of(def("tls")["properties"]["max_version"]) == std::set<std::string>{"1.2", "1.3"});
    // the schema lists every backend connmatrix has; this build has some of them
    CHECK(enum_of(def("backend")) == std::set<std::string>{"openssl", "gnutls", "mbedtls"});
    for (const auto& b : policy::BuildInfo::compiled_in().backends) CHECK(enum_of(def("backend")).count(b) == 1);
}

TEST_CASE("the same limits") {
    const json& pool = def("pool")["properties"];
    CHECK(pool["max_connections_per_host"]["maximum"] == policy::detail::max_connections_limit);
    CHECK(pool["max_idle_per_host"]["maximum"] == policy::detail::max_connections_limit);
    CHECK(pool["max_concurrent_streams"]["maximum"] == policy::detail::max_streams_limit);
    CHECK(def("alpn")["items"]["maxLength"] == 255);
}

TEST_CASE("the same durations") {
    for (const char* s : {"250ms", "3s", "1m", "1h30m", "1s500ms", "0s", "1h2m3s4ms", "999999999ms"}) {
        INFO(s);
        CHECK(schema_matches(def("duration"), s));
        CHECK(policy::parse_duration(s));
    }
    for (const char* s : {"", "3", "3 s", "1.5s", "1s1h", "1d", "s", "1S", "-1s", "1000000000s", "1m1m"}) {
        INFO(s);
        CHECK_FALSE(schema_matches(def("duration"), s));
        CHECK_FALSE(policy::parse_duration(s));
    }
}

TEST_CASE("the same host patterns") {
    for (const char* s : {"api.example.com", "API.Example.com.", "*.example.com", "a.example:8443",
                          "https://a.example", "HTTP://*.a.example:80", "10.0.0.1", "[::1]", "[2001:db8::1]:443",
                          "under_score.example", "x", "a.example:65535"}) {
        INFO(s);
        CHECK(schema_matches(def("hostPattern"), s));
        CHECK(policy::HostPattern::parse(s));
    }
    for (const char* s : {"", "*", "*.*", "*foo.com", "foo.*", "a.*.b", "::1", "[::1", "a.example:0", "a.example:65536",
                          "a.example:", "ftp://a.example", "https://a.example/p", "a..b", "-a.example",
                          "a b", "user@a.example", "https://", "a.example:1:2"}) {
        INFO(s);
        CHECK_FALSE(schema_matches(def("hostPattern"), s));
        CHECK_FALSE(policy::HostPattern::parse(s));
    }
}

TEST_CASE("the example configs load, with every backend connmatrix has") {
    std::size_t n = 0;
    for (const auto& entry : fs::directory_iterator(root / "configs")) {
        const auto& p = entry.path();
        if (p.extension() != ".json" || p.filename() == "connmatrix.schema.json") continue;
        auto r = config::load_file(p.string(), three);
        CHECK_MESSAGE(r, r.report());
        // and every rule has a description: they are examples people start from
        if (r) {
            CHECK_MESSAGE(!r.config->description.empty(), p.string());
            for (const auto& rule : r.config->hosts) CHECK_MESSAGE(!rule.description.empty(), p.string());
        }
        ++n;
    }
    CHECK(n >= 3);
}

TEST_CASE("every invalid file is rejected with the error its expectation names") {
    const fs::path dir = root / "tests" / "configs" / "invalid";
    const json expect = read_json(root / "tests" / "configs" / "invalid-expectations.json");
    std::set<std::string> files;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().extension() == ".json") files.insert(entry.path().filename().string());
    CHECK(files == keys_of(expect));  // no file without an expectation, no stale expectation
    for (const auto& f : files) {
        if (!expect.contains(f)) continue;
        const json& e = expect[f];
        auto r = config::load_file((dir / f).string(), three);
        INFO(f, "\n", r.report());
        REQUIRE_FALSE(r);
        const std::string want = e.at("error").get<std::string>();
        const bool found = std::any_of(r.errors.begin(), r.errors.end(),
                                       [&](const config::Diagnostic& d) { return d.describe() == want; });
        CHECK_MESSAGE(found, "expected: " << want);
        if (e.contains("errors")) CHECK(r.errors.size() == e["errors"].get<std::size_t>());
        if (e.contains("line")) CHECK(r.errors.front().line == e["line"].get<unsigned>());
        CHECK(e.at("schema").is_boolean());
    }
}

}  // TEST_SUITE
