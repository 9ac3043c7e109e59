// get -w/--write-out: curl's format language over a Response and its ConnectionInfo.
#include "write_out.hpp"

#include "cli.hpp"

#include <connmatrix/errors.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <optional>

namespace connmatrix::cli {

namespace {

using std::chrono::microseconds;

// curl's time_* variables: seconds from the start of the transfer, cumulative, six decimals.
// The library measures phases (dns, connect, tls, request sent -> first byte) and the whole
// (send() -> response complete); the points in time are their running sums, never past the
// total. A phase that did not happen (TLS on http://, a reused connection's DNS) adds 0, and
// time_appconnect is 0 without TLS, as in curl.
struct Times {
    microseconds namelookup{0}, connect{0}, appconnect{0}, pretransfer{0}, starttransfer{0},
        total{0};
};

Times times(const Timings& t, bool tls, bool responded) {
    Times r;
    r.total = t.total;
    const auto cap = [&](microseconds v) { return std::min(v, t.total); };
    r.namelookup = cap(t.dns);
    r.connect = cap(t.dns + t.connect);
    r.appconnect = tls ? cap(t.dns + t.connect + t.tls) : microseconds{0};
    r.pretransfer = tls ? r.appconnect : r.connect;
    r.starttransfer = responded ? cap(r.pretransfer + t.first_byte) : microseconds{0};
    return r;
}

std::string seconds(microseconds us) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(us.count()) / 1e6);
    return buf;
}

// "127.0.0.1:8443", "[::1]:8443" -> host and port; empty and 0 when there is none.
std::pair<std::string, int> split_address(const std::string& a) {
    const auto colon = a.rfind(':');
    if (colon == std::string::npos || colon + 1 == a.size()) return {a, 0};
    std::string host = a.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    int port = 0;
    for (char c : a.substr(colon + 1)) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return {a, 0};
        port = port * 10 + (c - '0');
    }
    return {host, port};
}

std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

class Builder {
public:
    std::vector<WriteOutVariable> vars;

    void text(const char* name, const std::string& v) { vars.push_back({name, v, quoted(v)}); }
    // Ours, where curl has no such variable: "none" in text, null in JSON.
    void maybe(const char* name, const std::optional<std::string>& v) {
        vars.push_back({name, v.value_or("none"), v ? quoted(*v) : "null"});
    }
    // curl's strings that may be absent (content_type, errormsg): "" in text, null in JSON.
    void maybe_empty(const char* name, const std::optional<std::string>& v) {
        vars.push_back({name, v.value_or(""), v ? quoted(*v) : "null"});
    }
    void integer(const char* name, long long v, const char* fmt = "%lld") {
        char buf[32];
        std::snprintf(buf, sizeof buf, fmt, v);
        vars.push_back({name, buf, std::to_string(v)});
    }
    void time(const char* name, microseconds us) {
        const std::string s = seconds(us);
        vars.push_back({name, s, s});
    }
};

std::optional<std::string> non_empty(const std::string& s) {
    return s.empty() ? std::nullopt : std::optional<std::string>(s);
}

const WriteOutVariable* find(const std::vector<WriteOutVariable>& vars, std::string_view name) {
    for (const auto& v : vars)
        if (v.name == name) return &v;
    return nullptr;
}

std::string json_object(const std::vector<WriteOutVariable>& vars) {
    std::string out = "{";
    for (const auto& v : vars) {
        if (out.size() > 1) out += ",";
        out += quoted(v.name) + ":" + v.json;
    }
    return out + "}";
}

// %header{name}: every field of that name, joined with ", " (as curl); nothing when absent.
std::string header_values(const Response& r, std::string_view name) {
    std::string out;
    auto lower = [](std::string_view s) {
        std::string l(s);
        std::transform(l.begin(), l.end(), l.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return l;
    };
    const std::string want = lower(name);
    for (const auto& h : r.headers) {
        if (lower(h.name) != want) continue;
        if (!out.empty()) out += ", ";
        out += h.value;
    }
    return out;
}

}  // namespace

std::vector<WriteOutVariable> write_out_variables(const Transfer& t) {
    const Response& resp = t.result.response;
    const ConnectionInfo& info = resp.info;
    const bool ok = static_cast<bool>(t.result);
    const bool tls = !info.tls_version.empty();
    const Times tm = times(info.timings, tls, ok);
    const auto [ip, port] = split_address(info.remote_address);
    const std::string* content_type = ok ? resp.header("content-type") : nullptr;

    Builder b;
    // curl's variables, with curl's names and formats.
    b.maybe_empty("content_type", content_type ? std::optional<std::string>(*content_type)
                                               : std::nullopt);
    b.maybe_empty("errormsg", ok ? std::nullopt
                                 : std::optional<std::string>(t.result.error.message() + " [" +
                                                              error_name(t.result.error.code) + "]"));
    b.integer("exitcode", t.exit_code);
    b.integer("http_code", resp.status, "%03lld");
    b.text("http_version", !ok ? "0" : info.protocol == Protocol::h2 ? "2" : "1.1");
    b.text("method", t.request.method);
    b.integer("num_connects", static_cast<long long>(t.num_connects));
    b.integer("num_redirects", 0);
    b.text("remote_ip", ip);
    b.integer("remote_port", port);
    b.integer("response_code", resp.status, "%03lld");
    b.integer("size_download", static_cast<long long>(t.streamed_body.value_or(resp.body.size())));
    b.time("time_appconnect", tm.appconnect);
    b.time("time_connect", tm.connect);
    b.time("time_namelookup", tm.namelookup);
    b.time("time_pretransfer", tm.pretransfer);
    b.time("time_redirect", microseconds{0});
    b.time("time_starttransfer", tm.starttransfer);
    b.time("time_total", tm.total);
    b.text("url", t.request.url);
    b.text("url_effective", t.request.url);
    // connmatrix's own: how the protocol was negotiated.
    b.maybe("alpn", info.alpn_selected);
    b.maybe("alpn_offered", info.alpn_offered.empty() ? std::nullopt
                                                      : std::optional<std::string>(join(info.alpn_offered, ",")));
    b.maybe("backend", non_empty(info.backend));
    b.maybe("mode", non_empty(info.mode));
    b.maybe("rule", non_empty(info.rule));
    b.maybe("tls_version", non_empty(info.tls_version));
    return b.vars;
}

void write_out(std::string_view format, const Transfer& t, std::FILE* out, std::FILE* err) {
    const std::vector<WriteOutVariable> vars = write_out_variables(t);
    std::FILE* stream = out;
    auto put = [&](std::string_view s) { std::fwrite(s.data(), 1, s.size(), stream); };
    std::size_t i = 0;
    while (i < format.size()) {
        const char c = format[i];
        const bool more = i + 1 < format.size();
        if (c == '%' && more) {
            const char n = format[i + 1];
            if (n == '%') {
                put("%");
                i += 2;
                continue;
            }
            const std::string_view rest = format.substr(i + 1);
            const bool var = n == '{';
            const bool header = rest.substr(0, 7) == "header{";
            const std::size_t open = i + 1 + (var ? 1 : header ? 7 : 0);
            const std::size_t close = (var || header) ? format.find('}', open) : std::string_view::npos;
            if (close == std::string_view::npos) {  // not a variable: as written
                put(format.substr(i, 2));
                i += 2;
                continue;
            }
            const std::string_view name = format.substr(open, close - open);
            i = close + 1;
            if (header) {
                if (t.result) put(header_values(t.result.response, name));
            } else if (name == "stdout") {
                stream = out;
            } else if (name == "stderr") {
                stream = err;
            } else if (name == "json") {
                put(json_object(vars));
            } else if (const auto* v = find(vars, name)) {
                put(v->text);
            } else {
                std::fflush(stream);
                std::fprintf(err, "connmatrix: unknown --write-out variable: '%.*s'\n",
                             static_cast<int>(name.size()), name.data());
            }
            continue;
        }
        if (c == '\\' && more) {
            const char n = format[i + 1];
            if (n == 'n')
                put("\n");
            else if (n == 'r')
                put("\r");
            else if (n == 't')
                put("\t");
            else
                put(format.substr(i, 2));
            i += 2;
            continue;
        }
        put(format.substr(i, 1));
        ++i;
    }
    std::fflush(out);
    std::fflush(err);
}

}  // namespace connmatrix::cli
