// Resolution: built-in defaults, then `defaults`, then the most specific matching rule, each
// layer applying its mode preset before its explicit values; provenance for every field.
#include "internal.hpp"

#include <algorithm>

namespace connmatrix::policy {
namespace detail {

std::string_view field_name(Field f) noexcept {
    switch (f) {
        case Field::mode: return "mode";
        case Field::backend: return "backend";
        case Field::alpn: return "alpn";
        case Field::no_alpn: return "no_alpn";
        case Field::fallback: return "fallback";
        case Field::on_http11_required: return "on_http11_required";
        case Field::remember: return "remember";
        case Field::cleartext: return "cleartext";
        case Field::tls_verify: return "tls.verify";
        case Field::tls_ca_file: return "tls.ca_file";
        case Field::tls_min_version: return "tls.min_version";
        case Field::tls_max_version: return "tls.max_version";
        case Field::tls_sni: return "tls.sni";
        case Field::tls_resumption: return "tls.resumption";
        case Field::tls_early_data: return "tls.early_data";
        case Field::tls_early_data_methods: return "tls.early_data_methods";
        case Field::tls_pin: return "tls.pin";
        case Field::tls_client_cert: return "tls.client_cert";
        case Field::timeouts_connect: return "timeouts.connect";
        case Field::timeouts_tls: return "timeouts.tls";
        case Field::timeouts_request: return "timeouts.request";
        case Field::timeouts_idle: return "timeouts.idle";
        case Field::timeouts_happy_eyeballs: return "timeouts.happy_eyeballs";
        case Field::pool_max_connections_per_host: return "pool.max_connections_per_host";
        case Field::pool_max_idle_per_host: return "pool.max_idle_per_host";
        case Field::pool_max_concurrent_streams: return "pool.max_concurrent_streams";
        case Field::pool_ping_interval: return "pool.ping_interval";
        case Field::pool_ping_timeout: return "pool.ping_timeout";
        case Field::pool_max_connection_age: return "pool.max_connection_age";
        case Field::proxy: return "proxy";
        case Field::connect_to: return "connect_to";
        case Field::resolve: return "resolve";
        case Field::count_: break;
    }
    return "?";
}

bool field_is_tls_only(Field f) noexcept {
    switch (f) {
        case Field::backend:
        case Field::alpn:
        case Field::no_alpn:
        case Field::tls_verify:
        case Field::tls_ca_file:
        case Field::tls_min_version:
        case Field::tls_max_version:
        case Field::tls_sni:
        case Field::tls_resumption:
        case Field::tls_early_data:
        case Field::tls_early_data_methods:
        case Field::tls_pin:
        case Field::tls_client_cert:
        case Field::timeouts_tls:
            return true;
        default:
            return false;
    }
}

bool field_is_cleartext_only(Field f) noexcept { return f == Field::cleartext; }

namespace {

Provenance& at(ProvenanceTable& t, Field f) { return t[static_cast<std::size_t>(f)]; }

void mark(ProvenanceTable& t, Field f, Provenance::Kind kind, std::optional<std::size_t> index,
          std::string_view text) {
    Provenance& p = at(t, f);
    p.kind = kind;
    p.index = index;
    p.text = std::string(text);
}

void apply_preset(Policy& p, ProvenanceTable& t, Mode m, std::optional<std::size_t> index,
                  std::string_view from) {
    ModePreset pr = preset(m);
    p.mode = m;
    p.alpn = std::move(pr.alpn);
    p.no_alpn = pr.no_alpn;
    p.fallback = pr.fallback;
    p.cleartext = pr.cleartext;
    std::string text = "mode " + std::string(to_string(m)) + " (" + std::string(from) + ")";
    for (Field f : {Field::alpn, Field::no_alpn, Field::fallback, Field::cleartext})
        mark(t, f, Provenance::Kind::mode_preset, index, text);
}

}  // namespace

void init_builtin(Policy& p, ProvenanceTable& t, std::string_view default_backend) {
    p = Policy{};
    p.backend = std::string(default_backend);
    for (std::size_t i = 0; i < field_count; ++i) {
        t[i] = Provenance{};
        t[i].field = std::string(field_name(static_cast<Field>(i)));
        t[i].kind = Provenance::Kind::builtin;
        t[i].text = "built-in default";
    }
    apply_preset(p, t, Mode::alpn, std::nullopt, "built-in default");
}

void apply_layer(Policy& p, ProvenanceTable& t, const Overrides& o, Provenance::Kind kind,
                 std::optional<std::size_t> index, std::string_view where, std::string_view label) {
    if (o.mode) {
        apply_preset(p, t, *o.mode, index, "from " + std::string(where));
        mark(t, Field::mode, kind, index, label);
    }
    auto take = [&](auto& dst, const auto& src, Field f) {
        if (src) {
            dst = *src;
            mark(t, f, kind, index, label);
        }
    };
    take(p.backend, o.backend, Field::backend);
    take(p.alpn, o.alpn, Field::alpn);
    take(p.no_alpn, o.no_alpn, Field::no_alpn);
    take(p.fallback, o.fallback, Field::fallback);
    take(p.on_http11_required, o.on_http11_required, Field::on_http11_required);
    take(p.remember, o.remember, Field::remember);
    take(p.cleartext, o.cleartext, Field::cleartext);
    take(p.tls.verify, o.tls.verify, Field::tls_verify);
    take(p.tls.ca_file, o.tls.ca_file, Field::tls_ca_file);
    take(p.tls.min_version, o.tls.min_version, Field::tls_min_version);
    take(p.tls.max_version, o.tls.max_version, Field::tls_max_version);
    take(p.tls.sni, o.tls.sni, Field::tls_sni);
    take(p.tls.resumption, o.tls.resumption, Field::tls_resumption);
    take(p.tls.early_data, o.tls.early_data, Field::tls_early_data);
    take(p.tls.early_data_methods, o.tls.early_data_methods, Field::tls_early_data_methods);
    take(p.tls.pin, o.tls.pin, Field::tls_pin);
    // The identity is one value: a layer that names a certificate names its key and passphrase
    // source too (check.cpp), and nothing of an outer layer's identity is left mixed in.
    if (o.tls.client_cert) {
        p.tls.client = {*o.tls.client_cert, o.tls.client_key.value_or(""),
                        o.tls.client_key_password_file.value_or(""),
                        o.tls.client_key_password_env.value_or("")};
        mark(t, Field::tls_client_cert, kind, index, label);
    }
    take(p.timeouts.connect, o.timeouts.connect, Field::timeouts_connect);
    take(p.timeouts.tls, o.timeouts.tls, Field::timeouts_tls);
    take(p.timeouts.request, o.timeouts.request, Field::timeouts_request);
    take(p.timeouts.idle, o.timeouts.idle, Field::timeouts_idle);
    take(p.timeouts.happy_eyeballs, o.timeouts.happy_eyeballs, Field::timeouts_happy_eyeballs);
    take(p.pool.max_connections_per_host, o.pool.max_connections_per_host,
         Field::pool_max_connections_per_host);
    take(p.pool.max_idle_per_host, o.pool.max_idle_per_host, Field::pool_max_idle_per_host);
    take(p.pool.max_concurrent_streams, o.pool.max_concurrent_streams,
         Field::pool_max_concurrent_streams);
    take(p.pool.ping_interval, o.pool.ping_interval, Field::pool_ping_interval);
    take(p.pool.ping_timeout, o.pool.ping_timeout, Field::pool_ping_timeout);
    take(p.pool.max_connection_age, o.pool.max_connection_age, Field::pool_max_connection_age);
    take(p.proxy, o.proxy, Field::proxy);
    take(p.connect_to, o.connect_to, Field::connect_to);
    take(p.resolve, o.resolve, Field::resolve);
}

}  // namespace detail

using namespace detail;

ResolvedPolicy resolve(const Config& cfg, const Origin& origin, std::string_view default_backend) {
    ResolvedPolicy r;
    r.origin = origin;
    ProvenanceTable table;
    init_builtin(r.policy, table, default_backend);
    apply_layer(r.policy, table, cfg.defaults, Provenance::Kind::defaults, std::nullopt,
                "defaults", "defaults");

    // Every matching rule, with its most specific matching pattern.
    struct Candidate {
        std::size_t index;
        HostPattern::Specificity spec;
        const HostPattern* pattern;
    };
    std::vector<Candidate> found;
    for (std::size_t i = 0; i < cfg.hosts.size(); ++i) {
        const HostPattern* best = nullptr;
        for (const auto& pat : cfg.hosts[i].match)
            if (pat.matches(origin) && (!best || best->specificity() < pat.specificity()))
                best = &pat;
        if (best) found.push_back({i, best->specificity(), best});
    }
    std::stable_sort(found.begin(), found.end(),
                     [](const Candidate& a, const Candidate& b) { return b.spec < a.spec; });
    for (const auto& c : found) r.matches.push_back({c.index, c.pattern->text()});

    if (!found.empty()) {
        const std::size_t i = found.front().index;
        const std::string where = "hosts[" + std::to_string(i) + "]";
        apply_layer(r.policy, table, cfg.hosts[i].set, Provenance::Kind::rule, i, where,
                    where + " (" + found.front().pattern->text() + ")");
    }

    // The built-in idle limit never exceeds a configured connection limit.
    Provenance& idle_src = table[static_cast<std::size_t>(Field::pool_max_idle_per_host)];
    if (idle_src.kind == Provenance::Kind::builtin &&
        r.policy.pool.max_idle_per_host > r.policy.pool.max_connections_per_host) {
        r.policy.pool.max_idle_per_host = r.policy.pool.max_connections_per_host;
        idle_src.text = "built-in default (capped at max_connections_per_host)";
    }

    // no_proxy bypasses a proxy that came from defaults; a rule's own proxy always applies.
    Provenance& proxy_src = table[static_cast<std::size_t>(Field::proxy)];
    if (r.policy.proxy && proxy_src.kind != Provenance::Kind::rule) {
        for (std::size_t j = 0; j < cfg.no_proxy.size(); ++j) {
            if (!cfg.no_proxy[j].matches(origin)) continue;
            r.policy.proxy.reset();
            proxy_src.kind = Provenance::Kind::no_proxy;
            proxy_src.index = j;
            proxy_src.text = "defaults.no_proxy[" + std::to_string(j) + "] (" +
                             cfg.no_proxy[j].text() + ")";
            break;
        }
    }
    r.provenance.assign(std::make_move_iterator(table.begin()), std::make_move_iterator(table.end()));
    return r;
}

Engine::Engine(Config cfg, BuildInfo build) : cfg_(std::move(cfg)), build_(std::move(build)) {}

ResolvedPolicy Engine::resolve(const Origin& origin) const {
    return policy::resolve(cfg_, origin, build_.default_backend);
}

}  // namespace connmatrix::policy
