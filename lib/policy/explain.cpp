// explain(url): the resolved policy for an origin and where each value came from.
#include "internal.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace connmatrix::policy {

using namespace detail;
using ojson = nlohmann::ordered_json;

namespace {

std::string sni_text(const Sni& s) {
    switch (s.kind) {
        case Sni::Kind::host: return "the host name (none for IP addresses)";
        case Sni::Kind::none: return "none";
        case Sni::Kind::name: return s.name;
    }
    return "?";
}

ojson sni_json(const Sni& s) {
    switch (s.kind) {
        case Sni::Kind::host: return true;
        case Sni::Kind::none: return false;
        case Sni::Kind::name: return s.name;
    }
    return nullptr;
}

// The value as the config file would spell it (JSON) ...
ojson value_json(const Policy& p, Field f) {
    switch (f) {
        case Field::mode: return to_string(p.mode);
        case Field::backend: return p.backend;
        case Field::alpn: return p.alpn;
        case Field::no_alpn: return to_string(p.no_alpn);
        case Field::fallback: return to_string(p.fallback);
        case Field::on_http11_required: return to_string(p.on_http11_required);
        case Field::remember: return format_duration(p.remember);
        case Field::cleartext: return to_string(p.cleartext);
        case Field::tls_verify: return p.tls.verify;
        case Field::tls_ca_file: return p.tls.ca_file;
        case Field::tls_min_version: return to_string(p.tls.min_version);
        case Field::tls_max_version: return to_string(p.tls.max_version);
        case Field::tls_sni: return sni_json(p.tls.sni);
        case Field::tls_resumption: return p.tls.resumption;
        case Field::tls_early_data: return p.tls.early_data;
        case Field::tls_early_data_methods: return p.tls.early_data_methods;
        case Field::tls_pin: return p.tls.pin;
        case Field::tls_client_cert: {
            if (p.tls.client.empty()) return nullptr;
            ojson id = ojson::object();
            id["cert"] = p.tls.client.cert;
            id["key"] = p.tls.client.key;
            if (!p.tls.client.key_password_file.empty())
                id["key_password_file"] = p.tls.client.key_password_file;
            if (!p.tls.client.key_password_env.empty())
                id["key_password_env"] = p.tls.client.key_password_env;
            return id;
        }
        case Field::timeouts_connect: return format_duration(p.timeouts.connect);
        case Field::timeouts_tls: return format_duration(p.timeouts.tls);
        case Field::timeouts_request: return format_duration(p.timeouts.request);
        case Field::timeouts_idle: return format_duration(p.timeouts.idle);
        case Field::timeouts_happy_eyeballs: return format_duration(p.timeouts.happy_eyeballs);
        case Field::pool_max_connections_per_host: return p.pool.max_connections_per_host;
        case Field::pool_max_idle_per_host: return p.pool.max_idle_per_host;
        case Field::pool_max_concurrent_streams: return p.pool.max_concurrent_streams;
        case Field::pool_ping_interval: return format_duration(p.pool.ping_interval);
        case Field::pool_ping_timeout: return format_duration(p.pool.ping_timeout);
        case Field::pool_max_connection_age: return format_duration(p.pool.max_connection_age);
        case Field::proxy:
            if (p.proxy) return p.proxy->to_string();
            return false;
        case Field::connect_to:
            if (p.connect_to) return to_string(*p.connect_to);
            return false;
        case Field::resolve: return p.resolve;
        case Field::count_: break;
    }
    return nullptr;
}

// ... and for people.
std::string value_text(const Policy& p, Field f) {
    switch (f) {
        case Field::alpn: {
            if (p.alpn.empty()) return "[] (no ALPN extension)";
            std::string out = "[";
            for (std::size_t i = 0; i < p.alpn.size(); ++i) out += (i ? ", " : "") + quote(p.alpn[i]);
            return out + "]";
        }
        case Field::tls_ca_file:
            return p.tls.ca_file.empty() ? "(system trust store)" : p.tls.ca_file;
        case Field::tls_sni: return sni_text(p.tls.sni);
        case Field::tls_verify: return p.tls.verify ? "true" : "false (INSECURE)";
        case Field::tls_early_data_methods: {
            if (p.tls.early_data_methods.empty()) return "[] (no request goes as early data)";
            std::string out = "[";
            for (std::size_t i = 0; i < p.tls.early_data_methods.size(); ++i)
                out += (i ? ", " : "") + quote(p.tls.early_data_methods[i]);
            return out + "]";
        }
        case Field::tls_pin: {
            if (p.tls.pin.empty()) return "[] (no pinning)";
            std::string out = "[";
            for (std::size_t i = 0; i < p.tls.pin.size(); ++i) out += (i ? ", " : "") + quote(p.tls.pin[i]);
            return out + "]";
        }
        case Field::tls_client_cert: {
            const ClientIdentity& id = p.tls.client;
            if (id.empty()) return "none (no client certificate)";
            std::string out = id.cert + " (key " + id.key;
            if (!id.key_password_file.empty()) out += ", passphrase from " + id.key_password_file;
            if (!id.key_password_env.empty()) out += ", passphrase from $" + id.key_password_env;
            return out + ")";
        }
        case Field::proxy: return p.proxy ? p.proxy->to_string() : "none (direct)";
        case Field::connect_to:
            return p.connect_to ? to_string(*p.connect_to) + " (SNI, Host and the certificate "
                                                             "check keep the origin's name)"
                                : "none (the origin's host and port)";
        case Field::resolve: {
            if (p.resolve.empty()) return "[] (DNS)";
            std::string out = "[";
            for (std::size_t i = 0; i < p.resolve.size(); ++i) out += (i ? ", " : "") + quote(p.resolve[i]);
            return out + "] (no DNS)";
        }
        default: break;
    }
    ojson v = value_json(p, f);
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
}

std::string_view kind_name(Provenance::Kind k) {
    switch (k) {
        case Provenance::Kind::builtin: return "builtin";
        case Provenance::Kind::mode_preset: return "mode_preset";
        case Provenance::Kind::defaults: return "defaults";
        case Provenance::Kind::rule: return "rule";
        case Provenance::Kind::no_proxy: return "no_proxy";
    }
    return "?";
}

bool unused(const Origin& o, Field f) {
    return o.scheme == Scheme::http ? field_is_tls_only(f) : field_is_cleartext_only(f);
}

std::string dump(const ojson& j, int indent) {
    return j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

Explanation Engine::explain(std::string_view url) const {
    Explanation e;
    e.url = std::string(url);
    e.config_source = cfg_.source.empty() ? "<built-in>" : cfg_.source;
    std::string why;
    auto origin = Origin::parse(url, &why);
    if (!origin) {
        e.error = why.empty() ? "not a URL" : why;
        return e;
    }
    e.resolved = resolve(*origin);
    if (const RuleMatch* m = e.resolved->rule(); m && m->index < cfg_.hosts.size())
        e.rule_description = cfg_.hosts[m->index].description;
    return e;
}

std::string Explanation::text() const {
    if (!resolved) return "explain " + quote(url) + ": " + error + "\n";
    const ResolvedPolicy& r = *resolved;
    std::string out;
    out += "origin  " + r.origin.to_string() + "\n";
    out += "config  " + config_source + "\n";
    if (const RuleMatch* m = r.rule()) {
        out += "rule    hosts[" + std::to_string(m->index) + "] (" + m->pattern + ")";
        if (!rule_description.empty()) out += ": " + rule_description;
        out += "\n";
        for (std::size_t i = 1; i < r.matches.size(); ++i)
            out += "        also matches hosts[" + std::to_string(r.matches[i].index) + "] (" +
                   r.matches[i].pattern + "), less specific\n";
    } else {
        out += "rule    none matches: defaults apply\n";
    }
    out += "\n";

    std::vector<std::array<std::string, 3>> rows;
    rows.push_back({"setting", "value", "from"});
    for (std::size_t i = 0; i < field_count && i < r.provenance.size(); ++i) {
        const Field f = static_cast<Field>(i);
        std::string from = r.provenance[i].text;
        if (unused(r.origin, f))
            from += r.origin.scheme == Scheme::http ? "  [unused for http://]" : "  [unused for https://]";
        rows.push_back({std::string(field_name(f)), value_text(r.policy, f), std::move(from)});
    }
    std::size_t w0 = 0, w1 = 0;
    for (const auto& row : rows) {
        w0 = std::max(w0, row[0].size());
        w1 = std::max(w1, row[1].size());
    }
    for (const auto& row : rows) {
        std::string line = row[0] + std::string(w0 - row[0].size() + 2, ' ') + row[1] +
                           std::string(w1 - row[1].size() + 2, ' ') + row[2];
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    if (r.origin.scheme == Scheme::https && r.policy.alpn.empty() && r.policy.no_alpn == NoAlpn::h2)
        out += "\nnote: h2 without ALPN over TLS (prior knowledge) is not RFC 9113 conformant;\n"
               "      use prior-knowledge-alpn unless the server is known to need it.\n";
    if (r.origin.scheme == Scheme::https && !r.policy.tls.verify)
        out += "\nwarning: certificate verification is off for this origin.\n";
    return out;
}

std::string Explanation::json() const {
    ojson j;
    j["url"] = url;
    if (!resolved) {
        j["error"] = error;
        return dump(j, 2) + "\n";
    }
    const ResolvedPolicy& r = *resolved;
    j["origin"] = {{"scheme", to_string(r.origin.scheme)},
                   {"host", r.origin.host},
                   {"port", r.origin.port}};
    j["config"] = config_source;
    if (const RuleMatch* m = r.rule()) {
        j["rule"] = {{"index", m->index}, {"match", m->pattern}, {"description", rule_description}};
    } else {
        j["rule"] = nullptr;
    }
    j["also_matched"] = ojson::array();
    for (std::size_t i = 1; i < r.matches.size(); ++i)
        j["also_matched"].push_back({{"index", r.matches[i].index}, {"match", r.matches[i].pattern}});
    ojson settings = ojson::object();
    for (std::size_t i = 0; i < field_count && i < r.provenance.size(); ++i) {
        const Field f = static_cast<Field>(i);
        const Provenance& p = r.provenance[i];
        ojson s;
        s["value"] = value_json(r.policy, f);
        s["source"] = p.text;
        s["source_kind"] = kind_name(p.kind);
        if (p.index) s["index"] = *p.index;
        s["used"] = !unused(r.origin, f);
        settings[std::string(field_name(f))] = std::move(s);
    }
    j["settings"] = std::move(settings);
    return dump(j, 2) + "\n";
}

}  // namespace connmatrix::policy
