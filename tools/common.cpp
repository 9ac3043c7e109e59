// What the subcommands share: exit codes, error descriptions, colours, flags -> policy::Config.
#include "cli.hpp"

#include <connmatrix/errors.hpp>
#include <connmatrix/tls.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

namespace connmatrix::cli {

// ---------------------------------------------------------------------------------------------
// Errors.

int exit_code_for(const Error& err) noexcept {
    if (!err) return exit_ok;
    const std::string_view cat = err.code.category().name();
    if (cat == "config") return exit_config;
    if (cat == "net") {
        if (err.code == net::errc::bad_url || err.code == net::errc::unsupported_scheme)
            return exit_usage;
        return exit_net;
    }
    // --data-binary @FILE streams the file: one that cannot be read or changes while it is
    // sent is a local file's failure, as when it cannot be opened.
    if (err.code == pool::errc::body_source_failed || err.code == pool::errc::body_length_mismatch)
        return exit_local_io;
    if (cat == "pool") return exit_net;
    if (cat == "tls") return exit_tls;
    if (cat == "negotiate" || cat == "http1" || cat == "http2") return exit_protocol;
    return exit_check_failed;
}

std::string describe_failure(const Error& err) {
    const std::string name = error_name(err.code);
    std::string hint;
    const std::string_view cat = err.code.category().name();
    if (err.code == tls::errc::certificate_untrusted)
        hint = "--cacert FILE trusts a private CA";
    else if (err.code == tls::errc::certificate_hostname_mismatch)
        hint = "the certificate is for another host name: check the URL (or tls.sni in the configuration)";
    else if (err.code == http2::errc::http_1_1_required)
        hint = "the server wants HTTP/1.1 for this request: a mode that offers http/1.1 (alpn) "
               "retries over it, unless on_http11_required is \"fail\"";
    else if (err.code == tls::errc::no_application_protocol || cat == "negotiate" ||
             err.code == http2::errc::not_h2)
        hint = "`connmatrix probe URL` shows which backends and modes work with this server";
    else if (err.code == net::errc::connect_failed)
        hint = "is the server running, and the port right?";
    else if (err.code == net::errc::resolve_failed)
        hint = "check the host name";
    else if (err.code == net::errc::proxy_failed)
        hint = "check --proxy or the configuration's proxy";
    else if (err.code == net::errc::connect_timeout || err.code == net::errc::tls_timeout ||
             err.code == net::errc::request_timeout)
        hint = "--timeout sets the limit";
    std::string out = err.message() + " [" + name + "]";
    if (!hint.empty()) out += "; " + hint;
    return out;
}

// ---------------------------------------------------------------------------------------------
// Output.

bool colour_enabled(std::FILE* stream) {
    const char* no = std::getenv("NO_COLOR");
    if (no != nullptr && *no != '\0') return false;
    return ::isatty(::fileno(stream)) == 1;
}

std::string Style::wrap(std::string_view text, const char* sgr) const {
    if (!on) return std::string(text);
    return "\033[" + std::string(sgr) + "m" + std::string(text) + "\033[0m";
}

void warn_insecure() {
    Style s{colour_enabled(stderr)};
    std::fprintf(stderr, "%s\n",
                 s.wrap("connmatrix: WARNING: --insecure: certificate verification is OFF. "
                        "Anyone on the path can impersonate the server and read or change "
                        "this traffic. Use --cacert FILE to trust a private CA instead.",
                        "1;31")
                     .c_str());
}

std::string format_ms(std::chrono::microseconds us) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(us.count()) / 1000.0);
    return buf;
}

std::string read_input_file(const std::string& path, const char* flag) {
    if (path == "-") {
        std::string in{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
        if (std::cin.bad()) throw Failure(exit_local_io, std::string(flag) + " @-: cannot read standard input");
        return in;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Failure(exit_local_io, std::string(flag) + " @" + path + ": cannot read the file");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += sep;
        out += v[i];
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Flags.

std::vector<std::string> backend_names() { return tls::Registry::compiled_in().names(); }

std::string require_backend(const std::string& name) {
    const auto names = backend_names();
    if (std::find(names.begin(), names.end(), name) != names.end()) return name;
    const bool known = name == "openssl" || name == "gnutls" || name == "mbedtls";
    throw Failure(exit_usage, (known ? "backend \"" + name + "\" is not compiled into this build"
                                     : "unknown backend \"" + name + "\"") +
                                  " (available: " + join(names, ", ") +
                                  "; `connmatrix --version` lists them)");
}

policy::Mode require_mode(const std::string& name) {
    if (auto m = policy::parse_mode(name)) return *m;
    std::vector<std::string> modes;
    for (auto m : policy::all_modes) modes.emplace_back(policy::to_string(m));
    throw Failure(exit_usage, "unknown mode \"" + name + "\" (modes: " + join(modes, ", ") + ")");
}

policy::TlsVersion require_tls_version(const std::string& text, const char* flag) {
    if (auto v = policy::parse_tls_version(text)) return *v;
    throw Failure(exit_usage, std::string(flag) + " \"" + text +
                                  "\" is not a TLS version connmatrix offers: use 1.2 or 1.3");
}

policy::Origin require_url(const std::string& url) {
    const auto sep = url.find("://");
    if (sep != std::string::npos) {
        std::string scheme = url.substr(0, sep);
        std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (scheme != "http" && scheme != "https")
            throw Failure(exit_usage, "unsupported URL scheme \"" + url.substr(0, sep) + "\" in " +
                                          url + ": use http:// or https://");
    }
    std::string why;
    auto o = policy::Origin::parse(url, &why);
    if (!o)
        throw Failure(exit_usage, "bad URL \"" + url + "\": " + (why.empty() ? "not a URL" : why) +
                                      " (expected https://host[:port]/path)");
    return *o;
}

std::chrono::milliseconds require_timeout(const std::string& text, const char* flag) {
    if (auto d = policy::parse_duration(text); d && d->count() > 0) return *d;
    // Seconds, possibly fractional, as curl's --max-time.
    char* end = nullptr;
    const double s = std::strtod(text.c_str(), &end);
    if (!text.empty() && end == text.c_str() + text.size() && std::isfinite(s) && s > 0 &&
        s <= 3600)
        return std::chrono::milliseconds(static_cast<long long>(std::ceil(s * 1000.0)));
    throw Failure(exit_usage, std::string(flag) + " \"" + text +
                                  "\" is not a timeout: give seconds (\"5\", \"2.5\") or a "
                                  "duration (\"250ms\", \"3s\", \"1m\"), more than 0, at most 1h");
}

policy::Config load_config(const std::string& path) {
    config::LoadResult r;
    std::string where;
    if (!path.empty()) {
        r = config::load_file(path);
        where = path;
    } else {
        r = config::from_environment();
        where = std::string("$") + config::environment_variable;
    }
    if (!r) {
        if (r.errors.size() == 1)
            throw Failure(exit_config, "invalid configuration: " + r.errors.front().to_string());
        std::string report = r.report();
        while (!report.empty() && report.back() == '\n') report.pop_back();
        const std::size_t n = r.errors.size();
        throw Failure(exit_config,
                      "invalid configuration (" + where + ", " + std::to_string(n) +
                          (n == 1 ? " error" : " errors") +
                          "; `connmatrix check-config FILE` explains):\n" + report);
    }
    return std::move(*r.config);
}

bool config_is_builtin(const policy::Config& cfg) {
    return cfg.source.empty() || cfg.source == "<built-in>";
}

void require_protocol_flags(const CurlProtocolFlags& in, PolicyFlags& out) {
    // The HTTP version flags and --mode each name the whole negotiation: at most one of them.
    // (curl takes the last of its version flags; here two are a mistake worth saying.)
    std::vector<std::string> given;
    if (in.http1_1) given.emplace_back("--http1.1");
    if (in.http2) given.emplace_back("--http2");
    if (in.http2_prior_knowledge) given.emplace_back("--http2-prior-knowledge");
    if (!in.mode.empty()) given.push_back("--mode " + in.mode);
    if (given.size() > 1)
        throw Failure(exit_usage, given[0] + " and " + given[1] +
                                      " each choose the protocol: give one of them");
    if (in.tlsv1_2 && in.tlsv1_3)
        throw Failure(exit_usage, "--tlsv1.2 and --tlsv1.3 both set the lowest TLS version: give one");

    if (!in.mode.empty()) out.mode = require_mode(in.mode);
    if (in.http1_1) out.mode = policy::Mode::http1;
    if (in.http2) {
        // curl --http2: h2 if ALPN selects it, else HTTP/1.1; over http://, Upgrade: h2c.
        out.mode = policy::Mode::alpn;
        out.cleartext = policy::Cleartext::h2c_upgrade;
    }
    if (in.http2_prior_knowledge)
        // curl 8.10+: over TLS ALPN [h2] only, and h2 whether the server selects h2 or nothing;
        // with --no-alpn no ALPN at all. Over http://, h2c by prior knowledge (both modes).
        out.mode = in.no_alpn ? policy::Mode::prior_knowledge : policy::Mode::h2_only_prior_knowledge;
    out.no_alpn = in.no_alpn;
    if (in.no_alpn && out.mode && policy::preset(*out.mode).no_alpn == policy::NoAlpn::fail)
        throw Failure(exit_usage, "--no-alpn and --mode " + in.mode +
                                      ": with no ALPN offered the server selects nothing, and that "
                                      "mode fails then (--http2-prior-knowledge --no-alpn speaks "
                                      "h2 without ALPN)");

    if (in.tlsv1_2) out.tls_min = policy::TlsVersion::tls1_2;
    if (in.tlsv1_3) out.tls_min = policy::TlsVersion::tls1_3;
    if (!in.tls_max.empty()) out.tls_max = require_tls_version(in.tls_max, "--tls-max");
    if (out.tls_min && out.tls_max && *out.tls_max < *out.tls_min)
        throw Failure(exit_usage, std::string("--tls-max ") + in.tls_max + " is below --tlsv" +
                                      std::string(policy::to_string(*out.tls_min)) +
                                      ": no TLS version is left to negotiate");
}

policy::ProxyEndpoint require_proxy(const std::string& url) {
    const std::string prefix = "http://";
    auto bad = [&](const std::string& why) {
        return Failure(exit_usage, "--proxy \"" + url + "\": " + why +
                                       " (expected http://host:port, an HTTP CONNECT proxy)");
    };
    if (url.compare(0, prefix.size(), prefix) != 0) throw bad("not an http:// URL");
    std::string authority = url.substr(prefix.size());
    if (!authority.empty() && authority.back() == '/') authority.pop_back();
    if (authority.find_first_of("/?#@") != std::string::npos)
        throw bad("a proxy URL has no path, query or user name");
    // The port must be explicit: ":digits" after the host (or after "]").
    const auto colon = authority.rfind(':');
    const auto bracket = authority.rfind(']');
    if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket))
        throw bad("no port");
    std::string why;
    auto o = policy::Origin::parse("http://" + authority, &why);
    if (!o || o->port == 0) throw bad(why.empty() ? "not a host and port" : why);
    return {o->host, o->port};
}

std::string require_ca_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Failure(exit_usage, "--cacert \"" + path + "\": cannot read the file");
    std::error_code ec;
    auto abs = std::filesystem::absolute(path, ec);
    return ec ? path : abs.string();
}

std::optional<policy::ClientIdentity> require_client_identity(const std::string& cert,
                                                               const std::string& key,
                                                               const std::string& pass_file,
                                                               const std::string& pass_env) {
    if (cert.empty()) {
        const char* stray = !key.empty()         ? "--key"
                            : !pass_file.empty() ? "--key-pass-file"
                            : !pass_env.empty()  ? "--key-pass-env"
                                                 : nullptr;
        if (stray) throw Failure(exit_usage, std::string(stray) + " needs --cert FILE");
        return std::nullopt;
    }
    if (!pass_file.empty() && !pass_env.empty())
        throw Failure(exit_usage, "--key-pass-file and --key-pass-env: give one passphrase source");
    return policy::ClientIdentity{cert, key.empty() ? cert : key, pass_file, pass_env};
}

std::vector<std::string> require_pins(const std::string& list) {
    std::vector<std::string> pins;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = std::min(list.find(';', start), list.size());
        const std::string pin = list.substr(start, end - start);
        std::string why;
        if (!policy::parse_pin(pin, &why))
            throw Failure(exit_usage, "--pinnedpubkey \"" + pin + "\": " + why +
                                          " (only the sha256//BASE64 form is taken, not a key file;"
                                          " separate several with ';')");
        pins.push_back(pin);
        if (end == list.size()) return pins;
        start = end + 1;
    }
}

namespace {

// "[::1]" -> "::1"; an IP address in its canonical spelling, or nullopt.
std::optional<std::string> ip_literal(std::string text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
        text = text.substr(1, text.size() - 2);
    unsigned char buf[sizeof(in6_addr)];
    char out[INET6_ADDRSTRLEN];
    for (int family : {AF_INET, AF_INET6})
        if (::inet_pton(family, text.c_str(), buf) == 1 &&
            ::inet_ntop(family, buf, out, sizeof out) != nullptr)
            return std::string(out);
    return std::nullopt;
}

// "host:rest" or "[v6]:rest": the host (brackets kept) and what follows the colon after it.
bool split_host(const std::string& text, std::string& host, std::string& rest) {
    std::size_t colon = 0;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return false;
        colon = close + 1;
    } else {
        colon = text.find(':');
        if (colon == std::string::npos) return false;
    }
    host = text.substr(0, colon);
    rest = text.substr(colon + 1);
    return true;
}

std::optional<std::uint16_t> port_number(const std::string& s) {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    const unsigned long v = std::stoul(s);
    if (v < 1 || v > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(v);
}

// HOST[:PORT] as a host pattern (brackets for IPv6), checked by the policy's own parser.
std::string host_pattern(const std::string& flag, const std::string& host, const std::string& port) {
    const std::string text = port.empty() ? host : host + ":" + port;
    std::string why;
    if (!policy::HostPattern::parse(text, &why, false))
        throw Failure(exit_usage, flag + ": " + why);
    return text;
}

}  // namespace

PolicyFlags::HostOverride require_resolve(const std::string& text) {
    const std::string flag = "--resolve \"" + text + "\"";
    const auto bad = [&](const std::string& why) {
        return Failure(exit_usage, flag + ": " + why + " (write HOST:PORT:ADDR[,ADDR...], as curl's)");
    };
    std::string host, rest;
    if (!split_host(text, host, rest)) throw bad("no HOST:PORT");
    const auto colon = rest.find(':');
    if (colon == std::string::npos) throw bad("no address");
    const std::string port = rest.substr(0, colon);
    if (host.empty() || host == "*")
        throw bad("HOST must be a host name (curl's '*' for every host is not taken)");
    if (!port_number(port)) throw bad("PORT must be 1 to 65535");
    PolicyFlags::HostOverride o;
    o.flag = flag;
    o.pattern = host_pattern(flag, host, port);
    std::string addrs = rest.substr(colon + 1);
    if (!addrs.empty() && addrs.front() == '+')
        throw bad("curl's '+' (addresses added to DNS's, with a timeout) is not taken");
    std::size_t start = 0;
    while (true) {
        const std::size_t end = std::min(addrs.find(',', start), addrs.size());
        const std::string a = addrs.substr(start, end - start);
        auto ip = ip_literal(a);
        if (!ip) throw bad("\"" + a + "\" is not an IP address");
        o.resolve.push_back(*ip);
        if (end == addrs.size()) break;
        start = end + 1;
    }
    return o;
}

PolicyFlags::HostOverride require_connect_to(const std::string& text) {
    const std::string flag = "--connect-to \"" + text + "\"";
    const auto bad = [&](const std::string& why) {
        return Failure(exit_usage, flag + ": " + why + " (write HOST1:PORT1:HOST2:PORT2, as curl's)");
    };
    // HOST1 and PORT1 may be empty: "::backend:443".
    std::string host1, rest;
    if (!text.empty() && text.front() == ':') {
        rest = text.substr(1);
    } else if (!split_host(text, host1, rest)) {
        throw bad("no HOST1:PORT1");
    }
    const auto colon = rest.find(':');
    if (colon == std::string::npos) throw bad("no HOST2:PORT2");
    const std::string port1 = rest.substr(0, colon);
    const std::string target = rest.substr(colon + 1);
    if (!port1.empty() && !port_number(port1)) throw bad("PORT1 must be empty or 1 to 65535");
    if (host1.empty() && !port1.empty())
        throw bad("an empty HOST1 with a PORT1 (every host on one port) is not taken: a host "
                  "rule needs a host; give HOST1, or leave HOST1 and PORT1 empty for every host");
    std::string host2, port2;
    if (!split_host(target, host2, port2) || host2.empty() || port2.empty())
        throw bad("HOST2 and PORT2 are both needed (curl's empty HOST2 or PORT2 for \"unchanged\" "
                  "is not taken)");
    if (!port_number(port2)) throw bad("PORT2 must be 1 to 65535");
    PolicyFlags::HostOverride o;
    o.flag = flag;
    if (!host1.empty()) o.pattern = host_pattern(flag, host1, port1);
    // The target parsed as the policy parses an origin's authority (brackets, case, port).
    std::string why;
    auto origin = policy::Origin::parse("http://" + host2 + ":" + port2, &why);
    if (!origin) throw bad(why);
    o.connect_to = policy::ConnectTo{origin->host, origin->port};
    return o;
}

namespace {

// The rule --resolve / --connect-to write into: one whose match has exactly this host and
// port (whatever its scheme: a scheme makes it beat a rule without one). None: a new rule for
// the pattern, with the settings of the rule that applied to its origin, so only where the
// bytes go changes.
std::vector<policy::Rule*> rules_for(policy::Config& cfg, const std::string& text) {
    const auto pattern = *policy::HostPattern::parse(text, nullptr, false);
    std::vector<policy::Rule*> out;
    for (auto& r : cfg.hosts)
        for (const auto& m : r.match)
            if (m.kind() == pattern.kind() && m.host() == pattern.host() && m.port() == pattern.port()) {
                out.push_back(&r);
                break;
            }
    if (!out.empty()) return out;
    policy::Origin origin;
    origin.host = pattern.host();
    origin.port = pattern.port().value_or(443);
    policy::Rule rule;
    rule.match.push_back(pattern);
    const policy::ResolvedPolicy rp = policy::resolve(cfg, origin, "");
    if (const auto* m = rp.rule()) rule.set = cfg.hosts[m->index].set;
    rule.set.resolve.reset();
    rule.set.connect_to.reset();
    rule.description = "from the command line";
    cfg.hosts.push_back(std::move(rule));
    return {&cfg.hosts.back()};
}

void clear_negotiation(policy::Overrides& o) {
    o.mode.reset();
    o.alpn.reset();
    o.no_alpn.reset();
    o.fallback.reset();
    o.remember.reset();
    o.cleartext.reset();
}

}  // namespace

policy::Config apply_flags(policy::Config cfg, const PolicyFlags& f) {
    auto& d = cfg.defaults;
    if (f.backend) {
        d.backend = *f.backend;
        for (auto& r : cfg.hosts) r.set.backend.reset();
    }
    if (f.mode) {
        clear_negotiation(d);
        d.mode = *f.mode;
        for (auto& r : cfg.hosts) clear_negotiation(r.set);
    }
    if (f.cleartext) {
        d.cleartext = *f.cleartext;
        for (auto& r : cfg.hosts) r.set.cleartext.reset();
    }
    if (f.no_alpn) {
        // A rule's own mode would bring its preset's offer back (it beats defaults): there the
        // empty offer is written into the rule itself.
        d.alpn = std::vector<std::string>{};
        for (auto& r : cfg.hosts) {
            if (r.set.mode)
                r.set.alpn = std::vector<std::string>{};
            else
                r.set.alpn.reset();
        }
    }
    if (f.ca_file) {
        d.tls.ca_file = *f.ca_file;
        for (auto& r : cfg.hosts) r.set.tls.ca_file.reset();
    }
    if (f.insecure) {
        d.tls.verify = false;
        for (auto& r : cfg.hosts) r.set.tls.verify.reset();
    }
    if (f.proxy) {
        d.proxy = std::optional<policy::ProxyEndpoint>(*f.proxy);
        for (auto& r : cfg.hosts) r.set.proxy.reset();  // defaults.no_proxy still applies
    }
    if (f.tls_min) {
        d.tls.min_version = *f.tls_min;
        for (auto& r : cfg.hosts) r.set.tls.min_version.reset();
    }
    if (f.tls_max) {
        d.tls.max_version = *f.tls_max;
        for (auto& r : cfg.hosts) r.set.tls.max_version.reset();
    }
    if (f.timeout) {
        // --timeout bounds the whole request; the phases may not take longer than it either.
        const auto cap = [&](std::optional<std::chrono::milliseconds>& v,
                             std::chrono::milliseconds builtin) {
            if (v.value_or(builtin) > *f.timeout) v = *f.timeout;
        };
        const policy::Timeouts builtin;
        cap(d.timeouts.connect, builtin.connect);
        cap(d.timeouts.tls, builtin.tls);
        cap(d.timeouts.request, builtin.request);
        for (auto& r : cfg.hosts) {
            if (r.set.timeouts.connect && *r.set.timeouts.connect > *f.timeout)
                r.set.timeouts.connect = *f.timeout;
            if (r.set.timeouts.tls && *r.set.timeouts.tls > *f.timeout)
                r.set.timeouts.tls = *f.timeout;
            if (r.set.timeouts.request && *r.set.timeouts.request > *f.timeout)
                r.set.timeouts.request = *f.timeout;
        }
    }
    if (f.early_data) {
        d.tls.early_data = true;
        for (auto& r : cfg.hosts) r.set.tls.early_data.reset();
    }
    if (f.pins) {
        d.tls.pin = *f.pins;
        for (auto& r : cfg.hosts) r.set.tls.pin.reset();
    }
    if (f.client) {
        auto set = [&](policy::Overrides::Tls& t, const policy::ClientIdentity* id) {
            auto opt = [](const std::string& s) {
                return s.empty() ? std::nullopt : std::optional<std::string>(s);
            };
            t.client_cert = id ? opt(id->cert) : std::nullopt;
            t.client_key = id ? opt(id->key) : std::nullopt;
            t.client_key_password_file = id ? opt(id->key_password_file) : std::nullopt;
            t.client_key_password_env = id ? opt(id->key_password_env) : std::nullopt;
        };
        set(d.tls, &*f.client);
        for (auto& r : cfg.hosts) set(r.set.tls, nullptr);
    }
    for (const auto& h : f.hosts) {
        if (h.pattern.empty()) {  // --connect-to ::HOST2:PORT2: every host
            d.connect_to = h.connect_to;
            for (auto& r : cfg.hosts) r.set.connect_to.reset();
            continue;
        }
        for (policy::Rule* r : rules_for(cfg, h.pattern)) {
            if (!h.resolve.empty()) r->set.resolve = h.resolve;
            if (h.connect_to) r->set.connect_to = h.connect_to;
        }
    }
    auto problems = config::check(cfg, policy::BuildInfo::compiled_in());
    if (!problems.empty()) {
        std::string report;
        for (const auto& p : problems) report += "\n" + p.to_string();
        throw Failure(exit_config, "the configuration with the command-line flags applied is "
                                   "invalid:" + report);
    }
    return cfg;
}

}  // namespace connmatrix::cli
