// JSON -> Config: structure, types and value syntax, with every error collected and located.
// The semantic checks (backends, contradictions, duplicate rules) are in check.cpp.
#include "internal.hpp"
#include "json_positions.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>

namespace connmatrix::config {

using json = nlohmann::json;
using namespace policy;
using namespace policy::detail;

namespace {

struct Pending {
    errc code;
    std::string path;
    std::string message;
    bool at_key = false;
};

std::string got(const json& v) {
    switch (v.type()) {
        case json::value_t::string: return "string " + quote(v.get_ref<const std::string&>());
        case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
        case json::value_t::null: return "null";
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
        case json::value_t::number_float:
            return "number " + v.dump();
        default: return "a value of another kind";
    }
}

bool contains(std::span<const std::string_view> set, std::string_view s) {
    return std::find(set.begin(), set.end(), s) != set.end();
}

std::string_view level_name(Level l) {
    switch (l) {
        case Level::tls: return "tls";
        case Level::timeouts: return "timeouts";
        case Level::pool: return "pool";
        case Level::defaults: return "defaults";
        case Level::rule: return "a host rule";
        case Level::top: return "the top level";
    }
    return "?";
}

class Parser {
public:
    std::vector<Pending> errors;

    Config parse(const json& root) {
        Config cfg;
        if (!root.is_object()) {
            add(errc::wrong_type, "",
                "the configuration must be a JSON object ({\"defaults\": ..., \"hosts\": [...]}), got " +
                    got(root));
            return cfg;
        }
        keys(root, Level::top, "");
        if (auto it = root.find("$schema"); it != root.end() && !it->is_string())
            add(errc::wrong_type, "$schema", "expected a string, got " + got(*it));
        if (auto it = root.find("description"); it != root.end())
            description(*it, "description", cfg.description);
        if (auto it = root.find("defaults"); it != root.end()) {
            if (!it->is_object())
                add(errc::wrong_type, "defaults", "expected an object, got " + got(*it));
            else
                policy_object(*it, "defaults", Level::defaults, cfg.defaults, cfg.defaults_description,
                              &cfg.no_proxy, nullptr);
        }
        if (auto it = root.find("hosts"); it != root.end()) {
            if (!it->is_array()) {
                add(errc::wrong_type, "hosts",
                    "expected an array of rules ([{\"match\": \"host\", ...}]), got " + got(*it));
            } else {
                for (std::size_t i = 0; i < it->size(); ++i) {
                    const json& r = (*it)[i];
                    const std::string path = element_path("hosts", i);
                    Rule rule;
                    if (!r.is_object()) {
                        add(errc::wrong_type, path,
                            "expected an object (a rule with \"match\"), got " + got(r));
                    } else {
                        policy_object(r, path, Level::rule, rule.set, rule.description, nullptr,
                                      &rule.match);
                    }
                    cfg.hosts.push_back(std::move(rule));
                }
            }
        }
        return cfg;
    }

private:
    void add(errc c, std::string path, std::string msg, bool at_key = false) {
        errors.push_back({c, std::move(path), std::move(msg), at_key});
    }

    void keys(const json& obj, Level level, const std::string& path) {
        for (auto it = obj.begin(); it != obj.end(); ++it) {
            const std::string& k = it.key();
            if (contains(known_keys(level), k)) continue;
            add(errc::unknown_key, member_path(path, k), unknown_key_message(level, k), true);
        }
    }

    static std::string unknown_key_message(Level level, const std::string& k) {
        std::string msg = "unknown key";
        if (level == Level::rule && k == "no_proxy")
            return msg + ": \"no_proxy\" is only allowed in \"defaults\"; to bypass the proxy for "
                         "this rule, set \"proxy\": false";
        if (level == Level::defaults && k == "resolve")
            return msg + ": \"resolve\" gives addresses for a rule's host names, so it is only "
                         "allowed in a \"hosts\" rule (its \"match\" names the hosts, and a port "
                         "there limits it to that port)";
        if (level == Level::defaults && k == "match")
            return msg + ": \"defaults\" apply to every host and have no \"match\"; put "
                         "host-specific settings in a \"hosts\" rule";
        if (auto s = closest(k, known_keys(level))) return msg + ", did you mean " + quote(*s) + "?";
        if (level == Level::top && (contains(known_keys(Level::defaults), k) ||
                                    contains(known_keys(Level::rule), k)))
            return msg + ": policy settings go in \"defaults\" or in a \"hosts\" rule";
        const Level nested[] = {Level::tls, Level::timeouts, Level::pool};
        for (Level n : nested) {
            if (n == level) continue;
            if (contains(known_keys(n), k))
                return msg + ", did you mean \"" + std::string(level_name(n)) + "\": {" + quote(k) +
                       ": ...}?";
        }
        if ((level == Level::tls || level == Level::timeouts || level == Level::pool) &&
            contains(known_keys(Level::rule), k))
            return msg + ": " + quote(k) + " belongs in the rule (or \"defaults\") itself, not in \"" +
                   std::string(level_name(level)) + "\"";
        if (level == Level::top && k == "rules") return msg + ", did you mean \"hosts\"?";
        return msg + " (keys here: " + join(known_keys(level)) + ")";
    }

    const std::string* string(const json& v, const std::string& path, std::string_view hint = {}) {
        if (v.is_string()) return &v.get_ref<const std::string&>();
        add(errc::wrong_type, path,
            "expected " + (hint.empty() ? std::string("a string") : std::string(hint)) + ", got " + got(v));
        return nullptr;
    }

    std::optional<bool> boolean(const json& v, const std::string& path) {
        if (v.is_boolean()) return v.get<bool>();
        std::string msg = "expected true or false, got " + got(v);
        if (v.is_string() && (v.get_ref<const std::string&>() == "true" || v.get_ref<const std::string&>() == "false"))
            msg += " (write it without quotes)";
        add(errc::wrong_type, path, msg);
        return std::nullopt;
    }

    void description(const json& v, const std::string& path, std::string& out) {
        if (const std::string* s = string(v, path)) out = *s;
    }

    template <class E>
    std::optional<E> choice(const json& v, const std::string& path, std::string_view key,
                            std::optional<E> (*parse)(std::string_view) noexcept,
                            std::span<const std::string_view> names, errc code = errc::invalid_value) {
        const std::string* s = string(v, path, "a string");
        if (!s) return std::nullopt;
        if (auto e = parse(*s)) return e;
        std::string msg = code == errc::unknown_mode ? "unknown mode " + quote(*s)
                                                     : "unknown value " + quote(*s) + " for " + std::string(key);
        if (auto near = closest(*s, names)) msg += ", did you mean " + quote(*near) + "?";
        msg += " (" + std::string(code == errc::unknown_mode ? "modes" : "one of") + ": " + join(names) + ")";
        add(code, path, msg);
        return std::nullopt;
    }

    std::optional<std::chrono::milliseconds> duration(const json& v, const std::string& path) {
        if (!v.is_string()) {
            std::string msg = "expected a duration string such as \"3s\" or \"250ms\", got " + got(v);
            if (v.is_number()) msg += " (write the unit: \"" + v.dump() + "s\" or \"" + v.dump() + "ms\")";
            add(errc::wrong_type, path, msg);
            return std::nullopt;
        }
        const std::string& s = v.get_ref<const std::string&>();
        if (auto d = parse_duration(s)) return d;
        add(errc::bad_duration, path,
            quote(s) + " is not a duration: write numbers with units h, m, s, ms in that order, as in "
                       "\"250ms\", \"3s\", \"1m30s\"");
        return std::nullopt;
    }

    std::optional<std::uint32_t> count(const json& v, const std::string& path) {
        if (!v.is_number_integer()) {
            add(errc::wrong_type, path, "expected a whole number, got " + got(v));
            return std::nullopt;
        }
        if (!v.is_number_unsigned() && v.get<std::int64_t>() < 0) {
            add(errc::invalid_value, path, v.dump() + " is negative");
            return std::nullopt;
        }
        const auto n = v.is_number_unsigned() ? v.get<std::uint64_t>()
                                              : static_cast<std::uint64_t>(v.get<std::int64_t>());
        if (n <= std::numeric_limits<std::uint32_t>::max()) return static_cast<std::uint32_t>(n);
        add(errc::invalid_value, path, v.dump() + " is too large");
        return std::nullopt;
    }

    std::optional<HostPattern> pattern(const json& v, const std::string& path, bool allow_scheme) {
        const std::string* s = string(v, path, "a host pattern string");
        if (!s) return std::nullopt;
        std::string why;
        if (auto p = HostPattern::parse(*s, &why, allow_scheme)) return p;
        add(errc::bad_pattern, path, quote(*s) + " is not a host pattern: " + why);
        return std::nullopt;
    }

    void patterns(const json& v, const std::string& path, bool allow_scheme,
                  std::vector<HostPattern>& out, bool single_allowed) {
        if (single_allowed && v.is_string()) {
            if (auto p = pattern(v, path, allow_scheme)) out.push_back(std::move(*p));
            return;
        }
        if (!v.is_array()) {
            add(errc::wrong_type, path,
                std::string(single_allowed ? "expected a host pattern or an array of them"
                                           : "expected an array of host patterns") + ", got " + got(v));
            return;
        }
        if (single_allowed && v.empty())
            add(errc::invalid_value, path, "an empty list matches nothing: give at least one pattern");
        for (std::size_t j = 0; j < v.size(); ++j)
            if (auto p = pattern(v[j], element_path(path, j), allow_scheme)) out.push_back(std::move(*p));
    }

    // An array of strings (alpn, tls.pin): every element that is not one is reported, and then
    // there is no list. `what` names the array in the wrong-type message; `lone` is added to it
    // when a single string was written instead.
    std::optional<std::vector<std::string>> strings(const json& v, const std::string& path,
                                                    std::string_view what, std::string_view element,
                                                    const std::string& lone) {
        if (!v.is_array()) {
            std::string msg = "expected an array of " + std::string(what) + ", got " + got(v);
            if (v.is_string()) msg += lone;
            add(errc::wrong_type, path, msg);
            return std::nullopt;
        }
        std::vector<std::string> out;
        bool ok = true;
        for (std::size_t j = 0; j < v.size(); ++j) {
            if (const std::string* s = string(v[j], element_path(path, j), element))
                out.push_back(*s);
            else
                ok = false;
        }
        if (!ok) return std::nullopt;
        return out;
    }

    // "1.2" or "1.3" (tls.min_version, tls.max_version); a near miss names the fix.
    std::optional<TlsVersion> tls_version(const json& v, const std::string& p) {
        if (v.is_number()) {
            add(errc::wrong_type, p, "expected \"1.2\" or \"1.3\" as a string, got " + got(v));
            return std::nullopt;
        }
        const std::string* s = string(v, p);
        if (!s) return std::nullopt;
        if (auto ver = parse_tls_version(*s)) return ver;
        std::string bare = lower(*s);
        for (std::string_view prefix : {"tlsv", "tls"})
            if (bare.rfind(prefix, 0) == 0) {
                bare.erase(0, prefix.size());
                break;
            }
        std::string msg;
        if (bare == "1.0" || bare == "1.1")
            msg = "TLS " + bare + " is not supported (RFC 8996 deprecates it; h2 needs TLS 1.2): use \"1.2\" or \"1.3\"";
        else if (parse_tls_version(bare))
            msg = "unknown TLS version " + quote(*s) + ", did you mean " + quote(bare) + "?";
        else
            msg = "unknown TLS version " + quote(*s) + " (one of: \"1.2\", \"1.3\")";
        add(errc::invalid_value, p, msg);
        return std::nullopt;
    }

    void tls(const json& t, const std::string& path, Overrides::Tls& out) {
        keys(t, Level::tls, path);
        for (auto it = t.begin(); it != t.end(); ++it) {
            const std::string& k = it.key();
            const json& v = it.value();
            const std::string p = member_path(path, k);
            if (k == "verify") {
                out.verify = boolean(v, p);
            } else if (k == "resumption") {
                out.resumption = boolean(v, p);
            } else if (k == "early_data") {
                out.early_data = boolean(v, p);
            } else if (k == "early_data_methods") {
                out.early_data_methods = strings(v, p, "method names", "a method name",
                                                 " (write [\"GET\", \"HEAD\"])");
            } else if (k == "pin") {
                // tls.pin: "sha256//BASE64" strings (curl separates them with ';' in one
                // string); their form is checked with the other values (check.cpp).
                out.pin = strings(v, p, "\"sha256//BASE64\" strings", "a \"sha256//BASE64\" string",
                                  " (write [\"sha256//...\"]; several pins are several elements)");
            } else if (k == "ca_file") {
                if (const std::string* s = string(v, p, "a file name")) out.ca_file = *s;
            } else if (k == "client_cert" || k == "client_key" || k == "client_key_password_file") {
                if (const std::string* s = string(v, p, "a file name"))
                    (k == "client_cert" ? out.client_cert
                     : k == "client_key" ? out.client_key
                                         : out.client_key_password_file) = *s;
            } else if (k == "client_key_password_env") {
                if (const std::string* s = string(v, p, "an environment variable's name"))
                    out.client_key_password_env = *s;
            } else if (k == "min_version") {
                out.min_version = tls_version(v, p);
            } else if (k == "max_version") {
                out.max_version = tls_version(v, p);
            } else if (k == "sni") {
                if (v.is_boolean())
                    out.sni = v.get<bool>() ? Sni{} : Sni{Sni::Kind::none, {}};
                else if (v.is_string())
                    out.sni = Sni{Sni::Kind::name, v.get<std::string>()};
                else
                    add(errc::wrong_type, p,
                        "expected a host name, true (the host's own name) or false (no SNI), got " + got(v));
            }
        }
    }

    void timeouts(const json& t, const std::string& path, Overrides::Timeouts& out) {
        keys(t, Level::timeouts, path);
        for (auto it = t.begin(); it != t.end(); ++it) {
            const std::string& k = it.key();
            const std::string p = member_path(path, k);
            std::optional<std::chrono::milliseconds>* dst = k == "connect" ? &out.connect
                                                          : k == "tls"     ? &out.tls
                                                          : k == "request" ? &out.request
                                                          : k == "idle"    ? &out.idle
                                                          : k == "happy_eyeballs" ? &out.happy_eyeballs
                                                                           : nullptr;
            if (dst) *dst = duration(it.value(), p);
        }
    }

    void pool(const json& t, const std::string& path, Overrides::Pool& out) {
        keys(t, Level::pool, path);
        for (auto it = t.begin(); it != t.end(); ++it) {
            const std::string& k = it.key();
            const std::string p = member_path(path, k);
            std::optional<std::uint32_t>* dst = k == "max_connections_per_host" ? &out.max_connections_per_host
                                              : k == "max_idle_per_host"        ? &out.max_idle_per_host
                                              : k == "max_concurrent_streams"   ? &out.max_concurrent_streams
                                                                                : nullptr;
            if (dst) *dst = count(it.value(), p);
            if (k == "ping_interval") out.ping_interval = duration(it.value(), p);
            if (k == "ping_timeout") out.ping_timeout = duration(it.value(), p);
            if (k == "max_connection_age") out.max_connection_age = duration(it.value(), p);
        }
    }

    void policy_object(const json& obj, const std::string& path, Level level, Overrides& out,
                       std::string& desc, std::vector<HostPattern>* no_proxy,
                       std::vector<HostPattern>* match) {
        keys(obj, level, path);
        static constexpr std::string_view no_alpn_names[] = {"http/1.1", "h2", "fail"};
        static constexpr std::string_view fallback_names[] = {"none", "http/1.1"};
        static constexpr std::string_view on_http11_required_names[] = {"http/1.1", "fail"};
        static constexpr std::string_view cleartext_names[] = {"http/1.1", "h2c", "h2c-upgrade"};
        std::array<std::string_view, all_modes.size()> mode_names{};
        for (std::size_t i = 0; i < all_modes.size(); ++i) mode_names[i] = to_string(all_modes[i]);

        if (match && !obj.contains("match"))
            add(errc::missing_key, member_path(path, "match"),
                "missing: every rule needs the host pattern(s) it applies to, e.g. \"api.example.com\"");

        for (auto it = obj.begin(); it != obj.end(); ++it) {
            const std::string& k = it.key();
            const json& v = it.value();
            const std::string p = member_path(path, k);
            if (k == "description") {
                description(v, p, desc);
            } else if (k == "match" && match) {
                patterns(v, p, true, *match, true);
            } else if (k == "no_proxy" && no_proxy) {
                patterns(v, p, false, *no_proxy, false);
            } else if (k == "mode") {
                out.mode = choice<Mode>(v, p, k, &parse_mode, mode_names, errc::unknown_mode);
            } else if (k == "backend") {
                if (const std::string* s = string(v, p, "a backend name")) {
                    if (s->empty())
                        add(errc::invalid_value, p, "empty backend name");
                    else
                        out.backend = *s;
                }
            } else if (k == "alpn") {
                const std::string lone =
                    v.is_string() ? " (write [" + quote(v.get_ref<const std::string&>()) + "])" : "";
                if (auto names = strings(v, p, "protocol names", "a protocol name", lone))
                    out.alpn = std::move(names);
            } else if (k == "no_alpn") {
                out.no_alpn = choice<NoAlpn>(v, p, k, &parse_no_alpn, no_alpn_names);
            } else if (k == "fallback") {
                out.fallback = choice<Fallback>(v, p, k, &parse_fallback, fallback_names);
            } else if (k == "on_http11_required") {
                out.on_http11_required = choice<OnHttp11Required>(v, p, k, &parse_on_http11_required,
                                                                  on_http11_required_names);
            } else if (k == "cleartext") {
                out.cleartext = choice<Cleartext>(v, p, k, &parse_cleartext, cleartext_names);
            } else if (k == "remember") {
                out.remember = duration(v, p);
            } else if (k == "proxy") {
                if (v.is_boolean() && !v.get<bool>()) {
                    out.proxy = std::optional<ProxyEndpoint>{};
                } else if (v.is_string()) {
                    std::string why;
                    if (auto e = parse_proxy(v.get_ref<const std::string&>(), &why))
                        out.proxy = std::optional<ProxyEndpoint>{std::move(*e)};
                    else
                        add(errc::bad_proxy, p, why);
                } else {
                    add(errc::wrong_type, p,
                        "expected \"http://host:port\", or false for no proxy, got " + got(v));
                }
            } else if (k == "connect_to") {
                if (v.is_boolean() && !v.get<bool>()) {
                    out.connect_to = std::optional<ConnectTo>{};
                } else if (v.is_string()) {
                    std::string why;
                    if (auto c = parse_connect_to(v.get_ref<const std::string&>(), &why))
                        out.connect_to = std::optional<ConnectTo>{std::move(*c)};
                    else
                        add(errc::invalid_value, p, why);
                } else {
                    add(errc::wrong_type, p,
                        "expected \"host:port\", or false to connect to the origin, got " + got(v));
                }
            } else if (k == "resolve" && match) {
                const std::string lone =
                    v.is_string() ? " (write [" + quote(v.get_ref<const std::string&>()) + "])" : "";
                if (auto list = strings(v, p, "IP addresses", "an IP address", lone)) {
                    std::vector<std::string> addrs;
                    bool ok = true;
                    for (std::size_t j = 0; j < list->size(); ++j) {
                        std::string why;
                        if (auto a = parse_ip_literal((*list)[j], &why)) {
                            addrs.push_back(std::move(*a));
                        } else {
                            add(errc::invalid_value, element_path(p, j), why);
                            ok = false;
                        }
                    }
                    if (ok && addrs.empty())
                        add(errc::invalid_value, p,
                            "empty: name at least one address, or leave resolve out to use DNS");
                    else if (ok)
                        out.resolve = std::move(addrs);
                }
            } else if (k == "tls" || k == "timeouts" || k == "pool") {
                if (!v.is_object()) {
                    add(errc::wrong_type, p, "expected an object, got " + got(v));
                    continue;
                }
                if (k == "tls") tls(v, p, out.tls);
                if (k == "timeouts") timeouts(v, p, out.timeouts);
                if (k == "pool") pool(v, p, out.pool);
            }
        }
    }
};

// "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..." -> "syntax error ..."
std::string clean_parse_message(const std::string& what) {
    std::string s = what;
    if (auto col = s.find("column "); col != std::string::npos) {
        if (auto colon = s.find(": ", col); colon != std::string::npos) return s.substr(colon + 2);
    }
    if (auto close = s.find("] "); close != std::string::npos) s = s.substr(close + 2);
    return s;
}

bool path_related(const std::string& a, const std::string& b) {
    auto prefix = [](const std::string& p, const std::string& full) {
        if (p.empty()) return false;
        if (full.compare(0, p.size(), p) != 0) return false;
        return full.size() == p.size() || full[p.size()] == '.' || full[p.size()] == '[';
    };
    return prefix(a, b) || prefix(b, a);
}

void resolve_relative_paths(Overrides& o, const std::filesystem::path& dir) {
    for (auto* file : {&o.tls.ca_file, &o.tls.client_cert, &o.tls.client_key,
                       &o.tls.client_key_password_file}) {
        if (!*file || (*file)->empty()) continue;
        std::filesystem::path p(**file);
        if (p.is_relative()) *file = (dir / p).lexically_normal().string();
    }
}

LoadResult load_text(std::string_view text, std::string_view source, const BuildInfo& build,
                     const std::filesystem::path* base_dir) {
    LoadResult result;
    auto fail = [&](errc c, std::string path, std::string msg, Position pos) {
        Diagnostic d;
        d.code = c;
        d.path = std::move(path);
        d.message = std::move(msg);
        d.source = std::string(source);
        d.line = pos.line;
        d.column = pos.column;
        result.errors.push_back(std::move(d));
    };
    try {
        if (text.size() > max_file_size) {
            fail(errc::file_too_large, "",
                 "configuration is " + std::to_string(text.size()) + " bytes, more than the " +
                     std::to_string(max_file_size) + " allowed",
                 {});
            return result;
        }
        if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
            fail(errc::syntax_error, "", "empty configuration: write {} for the built-in defaults", {1, 1});
            return result;
        }
        json root;
        try {
            root = json::parse(text.begin(), text.end());
        } catch (const json::parse_error& e) {
            std::size_t offset = e.byte > 0 ? e.byte - 1 : 0;
            std::string msg = clean_parse_message(e.what());
            // nlohmann reports the byte it stopped at; a comment starts one or two bytes before.
            for (std::size_t k = offset > 1 ? offset - 1 : 0; k <= offset && k + 1 < text.size(); ++k)
                if (text[k] == '/' && (text[k + 1] == '/' || text[k + 1] == '*')) {
                    msg += " (JSON has no comments: use a \"description\" field)";
                    break;
                }
            fail(errc::syntax_error, "", msg, position_of(text, offset));
            return result;
        } catch (const json::out_of_range& e) {
            // "number overflow parsing '1e999'": valid JSON, but no double holds it
            std::string what = e.what();
            std::string token;
            if (auto a = what.find('\''), b = what.rfind('\''); a != std::string::npos && b > a)
                token = what.substr(a + 1, b - a - 1);
            const std::size_t at = token.empty() ? std::string_view::npos : text.find(token);
            fail(errc::syntax_error, "",
                 "number " + (token.empty() ? std::string("") : token + " ") + "is out of range",
                 at == std::string_view::npos ? Position{} : position_of(text, at));
            return result;
        }

        std::vector<DuplicateKey> dups;
        PositionIndex idx = PositionIndex::scan(text, dups);

        Parser parser;
        Config cfg = parser.parse(root);
        cfg.source = std::string(source);
        if (base_dir) {
            resolve_relative_paths(cfg.defaults, *base_dir);
            for (auto& r : cfg.hosts) resolve_relative_paths(r.set, *base_dir);
        }

        for (const auto& d : dups) {
            fail(errc::duplicate_key, d.path,
                 "duplicate key (first at line " + std::to_string(d.first.line) + ", column " +
                     std::to_string(d.first.column) + "); JSON would keep only the last one",
                 d.again);
        }
        for (auto& e : parser.errors)
            fail(e.code, e.path, std::move(e.message), e.at_key ? idx.key(e.path) : idx.value(e.path));

        std::vector<Diagnostic> semantic;
        detail::check_into(cfg, build, semantic);
        for (auto& d : semantic) {
            bool shadowed = std::any_of(parser.errors.begin(), parser.errors.end(),
                                        [&](const Pending& e) { return path_related(e.path, d.path); });
            if (shadowed) continue;
            Position pos = idx.value(d.path);
            d.source = std::string(source);
            d.line = pos.line;
            d.column = pos.column;
            result.errors.push_back(std::move(d));
        }

        std::stable_sort(result.errors.begin(), result.errors.end(),
                         [](const Diagnostic& a, const Diagnostic& b) {
                             auto key = [](const Diagnostic& d) {
                                 return std::pair{d.line == 0 ? ~0u : d.line, d.column};
                             };
                             return key(a) < key(b);
                         });
        if (result.errors.empty()) result.config = std::move(cfg);
    } catch (const std::exception& e) {
        result.config.reset();
        fail(errc::internal, "", std::string("unexpected failure: ") + e.what(), {});
    }
    return result;
}

}  // namespace

LoadResult load_string(std::string_view text, std::string_view source_name, const BuildInfo& build) {
    return load_text(text, source_name, build, nullptr);
}

LoadResult load_file(const std::string& path, const BuildInfo& build) {
    LoadResult result;
    auto fail = [&](errc c, std::string msg) {
        Diagnostic d;
        d.code = c;
        d.message = std::move(msg);
        d.source = path;
        result.errors.push_back(std::move(d));
        return result;
    };
    try {
        errno = 0;
        std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
        if (!f) {
            const int err = errno;
            return fail(errc::file_unreadable, "cannot open " + quote(path) + ": " +
                                                   std::generic_category().message(err));
        }
        std::string text;
        char buf[16384];
        while (true) {
            errno = 0;
            std::size_t n = std::fread(buf, 1, sizeof buf, f.get());
            text.append(buf, n);
            if (text.size() > max_file_size)
                return fail(errc::file_too_large, "configuration file is larger than " +
                                                      std::to_string(max_file_size) + " bytes");
            if (n < sizeof buf) {
                if (std::ferror(f.get())) {
                    const int err = errno;
                    return fail(errc::file_unreadable,
                                "cannot read " + quote(path) + ": " + std::generic_category().message(err));
                }
                break;
            }
        }
        const std::filesystem::path dir = std::filesystem::path(path).parent_path();
        return load_text(text, path, build, &dir);
    } catch (const std::exception& e) {
        result.errors.clear();
        return fail(errc::internal, std::string("unexpected failure: ") + e.what());
    }
}

LoadResult from_environment(const BuildInfo& build) {
    const char* v = std::getenv(environment_variable);  // read at each call: no cached state
    if (!v || !*v) {
        LoadResult r;
        r.config = Config{};
        r.config->source = "<built-in>";
        return r;
    }
    LoadResult r = load_file(v, build);
    for (auto& d : r.errors)
        if (d.code == errc::file_unreadable) d.message += " (named by " + std::string(environment_variable) + ")";
    return r;
}

}  // namespace connmatrix::config
