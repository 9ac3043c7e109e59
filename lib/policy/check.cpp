// Semantic checks on a Config: backends, value ranges, ALPN lists, contradictions, duplicates.
#include "internal.hpp"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <map>

namespace connmatrix::config {

using namespace policy;
using namespace policy::detail;

namespace {

class Checker {
public:
    Checker(const Config& cfg, const BuildInfo& build, std::vector<Diagnostic>& out)
        : cfg_(cfg), build_(build), out_(out) {}

    void run() {
        object(cfg_.defaults, "defaults");
        if (cfg_.defaults.resolve)
            add(errc::invalid_value, "defaults.resolve",
                "resolve gives addresses for a rule's host names: put it in a \"hosts\" rule");
        effective(cfg_.defaults, "defaults", std::nullopt);
        for (std::size_t i = 0; i < cfg_.hosts.size(); ++i) {
            const Rule& r = cfg_.hosts[i];
            const std::string path = element_path("hosts", i);
            if (r.match.empty())
                add(errc::missing_key, member_path(path, "match"),
                    "missing: every rule needs the host pattern(s) it applies to");
            object(r.set, path);
            scheme_only(r, path);
            effective(r.set, path, i);
        }
        duplicates();
    }

private:
    void add(errc c, std::string path, std::string msg) {
        Diagnostic d;
        d.code = c;
        d.path = std::move(path);
        d.message = std::move(msg);
        out_.push_back(std::move(d));
    }

    // One object on its own: each value's range and form.
    void object(const Overrides& o, const std::string& path) {
        if (o.backend) backend(*o.backend, member_path(path, "backend"));
        if (o.alpn) alpn(*o.alpn, member_path(path, "alpn"));
        // remember is how long a host stays HTTP/1.1 after a fallback or HTTP_1_1_REQUIRED.
        if (o.remember && o.fallback == Fallback::none && o.on_http11_required == OnHttp11Required::fail)
            add(errc::contradiction, member_path(path, "remember"),
                "remember is set but fallback is \"none\" and on_http11_required is \"fail\" here: "
                "there is nothing to remember");
        if (o.remember && (o.remember->count() < 0 || *o.remember > max_remember))
            add(errc::invalid_value, member_path(path, "remember"),
                "must be from 0s to " + format_duration(max_remember));

        const std::string tp = member_path(path, "timeouts");
        const std::pair<const std::optional<std::chrono::milliseconds>*, const char*> ts[] = {
            {&o.timeouts.connect, "connect"}, {&o.timeouts.tls, "tls"},
            {&o.timeouts.request, "request"}, {&o.timeouts.idle, "idle"}};
        for (const auto& [v, name] : ts)
            if (*v && ((*v)->count() <= 0 || **v > max_timeout))
                add(errc::invalid_value, member_path(tp, name),
                    format_duration(**v) + " is out of range: a timeout is more than 0s and at most " +
                        format_duration(max_timeout));
        if (const auto& he = o.timeouts.happy_eyeballs;
            he && (*he < min_happy_eyeballs || *he > max_happy_eyeballs))
            add(errc::invalid_value, member_path(tp, "happy_eyeballs"),
                format_duration(*he) + " is out of range: the delay between connection attempts "
                                       "is from " + format_duration(min_happy_eyeballs) + " to " +
                    format_duration(max_happy_eyeballs) + " (RFC 8305 section 5)");
        if (o.connect_to && *o.connect_to && ((*o.connect_to)->host.empty() || (*o.connect_to)->port == 0))
            add(errc::invalid_value, member_path(path, "connect_to"),
                "connect_to needs a host and a port");
        if (o.resolve) {
            const std::string rp = member_path(path, "resolve");
            if (o.resolve->empty())
                add(errc::invalid_value, rp, "empty: name at least one address, or leave resolve out");
            for (std::size_t i = 0; i < o.resolve->size(); ++i) {
                std::string why;
                if (!parse_ip_literal((*o.resolve)[i], &why))
                    add(errc::invalid_value, element_path(rp, i), why);
            }
            if (o.connect_to && *o.connect_to)
                add(errc::contradiction, rp,
                    "resolve and connect_to in one rule: connect_to names where to connect, so "
                    "the addresses would never be used (write an IP address in connect_to)");
        }

        const std::string pp = member_path(path, "pool");
        if (const auto& v = o.pool.max_connections_per_host; v && (*v < 1 || *v > max_connections_limit))
            add(errc::invalid_value, member_path(pp, "max_connections_per_host"),
                std::to_string(*v) + " is out of range (1 to " + std::to_string(max_connections_limit) + ")");
        if (const auto& v = o.pool.max_idle_per_host; v && *v > max_connections_limit)
            add(errc::invalid_value, member_path(pp, "max_idle_per_host"),
                std::to_string(*v) + " is out of range (0 to " + std::to_string(max_connections_limit) + ")");
        if (const auto& v = o.pool.max_concurrent_streams; v && (*v < 1 || *v > max_streams_limit))
            add(errc::invalid_value, member_path(pp, "max_concurrent_streams"),
                std::to_string(*v) + " is out of range (1 to " + std::to_string(max_streams_limit) + ")");
        if (const auto& v = o.pool.ping_interval; v && ((*v).count() < 0 || *v > max_timeout))
            add(errc::invalid_value, member_path(pp, "ping_interval"),
                format_duration(*v) + " is out of range: 0s (never PING) to " + format_duration(max_timeout));
        if (const auto& v = o.pool.max_connection_age; v && ((*v).count() < 0 || *v > max_timeout))
            add(errc::invalid_value, member_path(pp, "max_connection_age"),
                format_duration(*v) + " is out of range: 0s (no limit) to " + format_duration(max_timeout));
        if (const auto& v = o.pool.ping_timeout; v && ((*v).count() <= 0 || *v > max_timeout))
            add(errc::invalid_value, member_path(pp, "ping_timeout"),
                format_duration(*v) + " is out of range: a timeout is more than 0s and at most " +
                    format_duration(max_timeout));

        const std::string tl = member_path(path, "tls");
        if (o.tls.early_data_methods)
            for (std::size_t i = 0; i < o.tls.early_data_methods->size(); ++i) {
                const std::string& m = (*o.tls.early_data_methods)[i];
                static constexpr std::string_view idempotent[] = {"GET", "HEAD", "OPTIONS",
                                                                  "TRACE", "PUT", "DELETE"};
                const bool token = !m.empty() && std::all_of(m.begin(), m.end(), [](char c) {
                    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-';
                });
                if (!token)
                    add(errc::invalid_value, element_path(member_path(tl, "early_data_methods"), i),
                        quote(m) + " is not a method name");
                else if (std::find(std::begin(idempotent), std::end(idempotent), m) ==
                         std::end(idempotent))
                    add(errc::invalid_value, element_path(member_path(tl, "early_data_methods"), i),
                        quote(m) + " is not idempotent (RFC 9110 9.2.2: GET, HEAD, OPTIONS, "
                                   "TRACE, PUT, DELETE; methods are case-sensitive): early data "
                                   "can be replayed, so it never carries one");
            }
        if (o.tls.early_data.value_or(false) && o.tls.resumption && !*o.tls.resumption)
            add(errc::contradiction, member_path(tl, "early_data"),
                "early data needs a resumed session, but this layer sets tls.resumption to false");
        if (o.tls.pin)
            for (std::size_t i = 0; i < o.tls.pin->size(); ++i) {
                std::string why;
                if (!parse_pin((*o.tls.pin)[i], &why))
                    add(errc::invalid_value, element_path(member_path(tl, "pin"), i),
                        quote((*o.tls.pin)[i]) + " is not a public key pin: " + why);
            }
        identity(o.tls, tl);
        if (o.tls.ca_file && o.tls.ca_file->empty())
            add(errc::invalid_value, member_path(tl, "ca_file"),
                "empty file name: leave ca_file out to use the system trust store");
        if (o.tls.sni && o.tls.sni->kind == Sni::Kind::name) {
            const std::string& n = o.tls.sni->name;
            HostKind kind{};
            std::string why;
            auto h = parse_host(n, kind, &why);
            if (!h)
                add(errc::invalid_value, member_path(tl, "sni"), quote(n) + " is not a host name: " + why);
            else if (kind != HostKind::name)
                add(errc::invalid_value, member_path(tl, "sni"),
                    quote(n) + " is an IP address; SNI carries host names only (RFC 6066 section 3): "
                               "use false to send none");
        }
        if (o.proxy && *o.proxy && ((*o.proxy)->host.empty() || (*o.proxy)->port == 0))
            add(errc::bad_proxy, member_path(path, "proxy"), "a proxy needs a host and a port");
    }

    // tls.client_cert and its companions, as one object writes them: a whole identity or none,
    // files that can be read, a passphrase source that is there. What the files hold (PEM, a
    // key matching the certificate, the passphrase opening it) the TLS core checks when it
    // builds the context.
    void identity(const Overrides::Tls& t, const std::string& tl) {
        const std::pair<const std::optional<std::string>*, const char*> names[] = {
            {&t.client_cert, "client_cert"}, {&t.client_key, "client_key"},
            {&t.client_key_password_file, "client_key_password_file"},
            {&t.client_key_password_env, "client_key_password_env"}};
        bool bad = false;
        for (const auto& [v, name] : names)
            if (*v && (*v)->empty()) {
                add(errc::invalid_value, member_path(tl, name),
                    "empty: leave it out (a client certificate needs a file name)");
                bad = true;
            }
        if (t.client_cert.has_value() != t.client_key.has_value()) {
            const bool cert = t.client_cert.has_value();
            add(errc::missing_key, member_path(tl, cert ? "client_key" : "client_cert"),
                std::string("missing: ") + (cert ? "client_cert" : "client_key") + " is set here, " +
                    "and a client certificate and its key are written together");
            return;
        }
        if ((t.client_key_password_file || t.client_key_password_env) && !t.client_key) {
            add(errc::contradiction,
                member_path(tl, t.client_key_password_file ? "client_key_password_file"
                                                           : "client_key_password_env"),
                "a passphrase for no key: set client_cert and client_key in the same object");
            return;
        }
        if (t.client_key_password_file && t.client_key_password_env) {
            add(errc::contradiction, member_path(tl, "client_key_password_env"),
                "client_key_password_file is set too: the passphrase comes from one of them");
            return;
        }
        if (bad || !t.client_cert) return;
        for (const auto& [v, name] : names) {
            if (!*v || v == &t.client_key_password_env) continue;
            if (v == &t.client_key && *t.client_key == *t.client_cert) continue;  // one file
            std::ifstream in(**v, std::ios::binary);
            if (!in || in.peek() == std::ifstream::traits_type::eof())
                add(errc::file_unreadable, member_path(tl, name),
                    "cannot read " + quote(**v) + ": " +
                        (in ? std::string("the file is empty") : std::generic_category().message(errno)));
        }
        if (t.client_key_password_env) {
            std::string why;
            const ClientIdentity id{*t.client_cert, *t.client_key, {}, *t.client_key_password_env};
            if (!read_key_password(id, &why))
                add(errc::invalid_value, member_path(tl, "client_key_password_env"), why);
        }
    }

    void backend(const std::string& name, const std::string& path) {
        if (name.empty()) {
            add(errc::invalid_value, path, "empty backend name");
            return;
        }
        if (std::find(build_.backends.begin(), build_.backends.end(), name) != build_.backends.end())
            return;
        std::string msg = quote(name) + " is not compiled into this build (available: " +
                          join(build_.backends) + ")";
        std::vector<std::string_view> names(build_.backends.begin(), build_.backends.end());
        for (std::string_view known : {"openssl", "gnutls", "mbedtls"})
            if (std::find(names.begin(), names.end(), known) == names.end()) names.push_back(known);
        if (auto near = closest(name, names); near && *near != name)
            msg += "; did you mean " + quote(*near) + "?";
        add(errc::backend_not_compiled_in, path, msg);
    }

    void alpn(const std::vector<std::string>& list, const std::string& path) {
        std::size_t wire = 0;
        bool speakable = false;
        for (std::size_t j = 0; j < list.size(); ++j) {
            const std::string& n = list[j];
            const std::string p = element_path(path, j);
            wire += 1 + n.size();
            if (n == "h2" || n == "http/1.1") speakable = true;
            if (n.empty()) {
                add(errc::invalid_value, p, "empty protocol name: ALPN names are 1 to 255 bytes");
                continue;
            }
            if (n.size() > 255) {
                add(errc::invalid_value, p,
                    "protocol name is " + std::to_string(n.size()) + " bytes: ALPN allows at most 255");
                continue;
            }
            for (std::size_t k = 0; k < j; ++k)
                if (list[k] == n) {
                    add(errc::invalid_value, p, quote(n) + " is already offered at " + element_path(path, k));
                    break;
                }
            for (std::string_view canonical : {"h2", "http/1.1"})
                if (n != canonical && lower(n) == canonical) {
                    speakable = true;  // reported here: "offers neither" would only repeat it
                    add(errc::invalid_value, p,
                        quote(n) + " is not " + quote(canonical) + ": ALPN names are case-sensitive");
                }
        }
        if (wire > 65535)
            add(errc::invalid_value, path, "the encoded ALPN list exceeds 65535 bytes");
        if (!list.empty() && !speakable)
            add(errc::invalid_value, path,
                "offers neither \"h2\" nor \"http/1.1\", the only protocols connmatrix speaks; "
                "use [] to send no ALPN extension");
    }

    // A rule whose every pattern names the same scheme cannot use the other scheme's settings.
    void scheme_only(const Rule& r, const std::string& path) {
        if (r.match.empty()) return;
        const auto first = r.match.front().scheme();
        if (!first) return;
        for (const auto& m : r.match)
            if (m.scheme() != first) return;
        const std::string example = quote(r.match.front().text());
        const Overrides& o = r.set;
        if (*first == Scheme::https) {
            if (o.cleartext)
                add(errc::contradiction, member_path(path, "cleartext"),
                    "cleartext (" + quote(to_string(*o.cleartext)) +
                        ") applies to http:// origins, but this rule matches only https:// (" + example + ")");
            return;
        }
        std::vector<std::string> tls_fields;
        if (o.backend) tls_fields.push_back("backend");
        if (o.alpn) tls_fields.push_back("alpn");
        if (o.no_alpn) tls_fields.push_back("no_alpn");
        if (o.tls.verify || o.tls.ca_file || o.tls.min_version || o.tls.max_version || o.tls.sni ||
            o.tls.resumption || o.tls.early_data || o.tls.early_data_methods || o.tls.pin || o.tls.client_cert ||
            o.tls.client_key || o.tls.client_key_password_file || o.tls.client_key_password_env)
            tls_fields.push_back("tls");
        if (o.timeouts.tls) tls_fields.push_back("timeouts.tls");
        for (const auto& f : tls_fields)
            add(errc::contradiction, path + "." + f,
                "TLS settings do not apply: this rule matches only http:// origins (" + example + ")");
    }

    // The policy an object produces together with what it inherits.
    void effective(const Overrides& o, const std::string& path, std::optional<std::size_t> rule) {
        Policy p;
        ProvenanceTable prov;
        init_builtin(p, prov, build_.default_backend);
        apply_layer(p, prov, cfg_.defaults, Provenance::Kind::defaults, std::nullopt, "defaults", "defaults");
        bool http_only = false;
        if (rule) {
            const Rule& r = cfg_.hosts[*rule];
            apply_layer(p, prov, r.set, Provenance::Kind::rule, rule, path, path);
            http_only = !r.match.empty() && std::all_of(r.match.begin(), r.match.end(), [](const HostPattern& m) {
                return m.scheme() == Scheme::http;
            });
        }
        auto src = [&](Field f) { return prov[static_cast<std::size_t>(f)].text; };

        if (!http_only && p.alpn.empty() && p.no_alpn == NoAlpn::fail && (o.alpn || o.no_alpn || o.mode)) {
            const char* at = o.no_alpn ? "no_alpn" : o.alpn ? "alpn" : "mode";
            add(errc::contradiction, member_path(path, at),
                "alpn [] (from " + src(Field::alpn) + ") with no_alpn \"fail\" (from " + src(Field::no_alpn) +
                    ") can never connect over TLS: with nothing offered the server selects nothing; "
                    "offer protocols or say what to speak without ALPN");
        }
        if (!http_only && p.tls.max_version < p.tls.min_version &&
            (o.tls.min_version || o.tls.max_version)) {
            const char* at = o.tls.max_version ? "max_version" : "min_version";
            add(errc::contradiction, member_path(member_path(path, "tls"), at),
                "tls.max_version " + quote(to_string(p.tls.max_version)) + " (from " +
                    src(Field::tls_max_version) + ") is below tls.min_version " +
                    quote(to_string(p.tls.min_version)) + " (from " + src(Field::tls_min_version) +
                    "): no TLS version is left to negotiate");
        }
        // (a built-in idle limit is capped by resolution instead)
        if (p.pool.max_idle_per_host > p.pool.max_connections_per_host &&
            prov[static_cast<std::size_t>(Field::pool_max_idle_per_host)].kind != Provenance::Kind::builtin &&
            (o.pool.max_idle_per_host || o.pool.max_connections_per_host)) {
            const char* at = o.pool.max_idle_per_host ? "max_idle_per_host" : "max_connections_per_host";
            add(errc::contradiction, member_path(member_path(path, "pool"), at),
                "max_idle_per_host " + std::to_string(p.pool.max_idle_per_host) + " (from " +
                    src(Field::pool_max_idle_per_host) + ") exceeds max_connections_per_host " +
                    std::to_string(p.pool.max_connections_per_host) + " (from " +
                    src(Field::pool_max_connections_per_host) + ")");
        }
    }

    void duplicates() {
        std::map<std::string, std::pair<std::size_t, std::size_t>> seen;  // normalised -> (rule, k)
        auto match_path = [&](std::size_t i, std::size_t k) {
            std::string p = member_path(element_path("hosts", i), "match");
            return cfg_.hosts[i].match.size() > 1 ? element_path(p, k) : p;
        };
        for (std::size_t i = 0; i < cfg_.hosts.size(); ++i)
            for (std::size_t k = 0; k < cfg_.hosts[i].match.size(); ++k) {
                const HostPattern& m = cfg_.hosts[i].match[k];
                auto [it, fresh] = seen.emplace(m.normalised(), std::pair{i, k});
                if (fresh) continue;
                const auto [fi, fk] = it->second;
                const HostPattern& first = cfg_.hosts[fi].match[fk];
                if (fi == i)
                    add(errc::duplicate_rule, match_path(i, k),
                        quote(m.text()) + " is listed twice in this rule (as " + quote(first.text()) + ")");
                else
                    add(errc::duplicate_rule, match_path(i, k),
                        quote(m.text()) + " is the same pattern as " + match_path(fi, fk) + " (" +
                            quote(first.text()) + "): neither is more specific; merge the two rules");
            }
    }

    const Config& cfg_;
    const BuildInfo& build_;
    std::vector<Diagnostic>& out_;
};

}  // namespace

std::vector<Diagnostic> check(const Config& cfg, const BuildInfo& build) {
    std::vector<Diagnostic> out;
    policy::detail::check_into(cfg, build, out);
    for (auto& d : out) d.source = cfg.source;
    return out;
}

}  // namespace connmatrix::config

namespace connmatrix::policy::detail {

void check_into(const Config& cfg, const BuildInfo& build, std::vector<config::Diagnostic>& out) {
    config::Checker(cfg, build, out).run();
}

}  // namespace connmatrix::policy::detail
