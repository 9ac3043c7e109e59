// probe --html FILE: the matrix as one self-contained HTML page. Inline CSS only: no script, no
// font, image or style sheet fetched, so the file can be mailed, attached to a CI run or opened
// offline. Each cell is a <td> whose first class names its outcome (the legend lists them), with
// data-* attributes for scripts and tests, and the full outcome, error and timings in its title.
#include "cli.hpp"

#include <connmatrix/version.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <iterator>
#include <map>

namespace connmatrix::cli {

namespace {

using json = nlohmann::ordered_json;

// The outcomes a cell can have, in legend order: a success by protocol, then an error by its
// category (the part of "<category>:<enumerator>" before the colon).
struct Outcome {
    const char* cls;       // the <td> class
    const char* category;  // the error category it stands for; nullptr for the successes
    const char* label;
    const char* meaning;
    const char* fill;  // background
    const char* edge;  // left border and swatch outline
};

constexpr Outcome outcomes[] = {
    {"h2", nullptr, "h2", "HTTP/2: by ALPN, by prior knowledge, or h2c on http://", "#c6efce",
     "#2e7d32"},
    {"http1", nullptr, "http/1.1", "HTTP/1.1, by ALPN or as the policy's answer to a server "
     "without ALPN", "#cfe2ff", "#1f5fbf"},
    {"fallback", nullptr, "fallback", "the server rejected h2 without ALPN confirmation: the "
     "request went again over HTTP/1.1", "#ffe1a8", "#c77700"},
    {"refused-by-policy", "negotiate", "refused by policy", "the handshake completed but the "
     "cell's policy refused its outcome (negotiate:*)", "#e6d3f5", "#7b3fa0"},
    {"tls-error", "tls", "TLS error", "the TLS handshake or the certificate check failed (tls:*)",
     "#ffc9c9", "#c62828"},
    {"network-error", "net", "network error", "DNS, connect, proxy, a timeout, the connection "
     "closed (net:*)", "#dddddd", "#555555"},
    {"http2-error", "http2", "HTTP/2 error", "HTTP/2 failed (http2:*; http2:not_h2: the server "
     "answered the h2 preface with HTTP/1.1)", "#ffd3ea", "#ad1457"},
    {"http1-error", "http1", "HTTP/1.1 error", "the HTTP/1.1 response was malformed or cut short "
     "(http1:*)", "#eadbc8", "#795548"},
    {"pool-error", "pool", "pool error", "the connection pool gave up on the request (pool:*)",
     "#cdeeea", "#00796b"},
    {"config-error", "config", "configuration error", "the cell's configuration was refused "
     "(config:*)", "#fff3a0", "#9e8600"},
    {"internal-error", "internal", "internal error", "the probe itself failed on this cell "
     "(please report it)", "#ffffff", "#000000"},
    {"other-error", nullptr, "other error", "an error of another category", "#f0f0f0", "#888888"},
};

std::string text_of(const json& v) {
    if (v.is_null()) return "";
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
}

std::string outcome_class(const json& r) {
    if (!r["status"].is_null()) {
        if (r.value("fallback", false)) return "fallback";
        return r["protocol"] == "h2" ? "h2" : "http1";
    }
    const std::string error = text_of(r["error"]);
    const std::string category = error.substr(0, error.find(':'));
    for (const auto& o : outcomes)
        if (o.category != nullptr && category == o.category) return o.cls;
    return "other-error";
}

std::string attr(const std::string& name, const std::string& value) {
    return " " + name + "=\"" + xml_escape(value) + "\"";
}

std::string seconds_text(double s) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", s);
    return b;
}

std::string tls_label(const json& axis_value) {
    return axis_value.is_null() ? "" : "TLS " + axis_value.get<std::string>();
}

// The hover text: the cell, its row of the text table, the timings, the full error, and how it
// differs from --expect.
std::string title_of(const json& r) {
    std::string t = text_of(r["backend"]) + " \xc2\xb7 " + text_of(r["mode"]);
    if (!r["tls_axis_value"].is_null()) t += " \xc2\xb7 " + tls_label(r["tls_axis_value"]);
    const json& table = r["table"];
    t += "\noutcome: " + text_of(table["outcome"]);
    for (const auto& item : table.items()) {
        const std::string& column = item.key();
        if (column == "backend" || column == "mode" || column == "outcome" || column == "handshake")
            continue;
        t += "\n" + column + ": " + text_of(item.value());
    }
    if (!table.contains("TLS max") && !r["tls_max"].is_null())
        t += "\nTLS max: " + text_of(r["tls_max"]);
    t += "\nhandshake_ms: " + (r["handshake_ms"].is_null() ? "-" : text_of(r["handshake_ms"]));
    t += "\nseconds: " + seconds_text(r["seconds"].get<double>());
    if (!r["certificate_expires"].is_null())
        t += "\ncertificate expires: " + text_of(r["certificate_expires"]);
    if (const json& h = r["h2_settings"]; h.is_object()) {
        t += "\nh2 SETTINGS:";
        for (const auto& item : h.items()) t += " " + item.key() + " " + text_of(item.value());
    }
    if (!r["error"].is_null()) {
        t += "\nerror: " + text_of(r["error"]);
        const std::string detail = text_of(r["error_detail"]);
        if (!detail.empty()) t += "\ndetail: " + detail;
    }
    const std::string resume_error = text_of(r["resume_error"]);
    if (!resume_error.empty()) t += "\nsecond connection: " + resume_error;
    for (const auto& d : r["differences"]) t += "\ndiffers from --expect: " + text_of(d);
    return t;
}

// The cell as it shows: what happened in bold, how below it.
std::string cell_body(const json& r, const std::string& cls) {
    std::string what, how;
    const std::string outcome = text_of(r["table"]["outcome"]);
    if (!r["status"].is_null()) {
        what = text_of(r["protocol"]) + " " + text_of(r["status"]);
        if (cls == "fallback") {
            how = "h2 rejected, retried over http/1.1";
        } else if (!r["tls_version"].is_null()) {
            how = "ALPN " + (r["alpn_selected"].is_null() ? std::string("none")
                                                          : text_of(r["alpn_selected"])) +
                  " \xc2\xb7 " + text_of(r["tls_version"]);
            if (!r["handshake_ms"].is_null())
                how += " \xc2\xb7 " + text_of(r["handshake_ms"]) + "\xc2\xa0ms";  // no break
        } else {
            how = "cleartext";
        }
    } else {
        what = text_of(r["error"]);
        // The table's outcome is "<error>: <short text>".
        how = outcome.rfind(what + ": ", 0) == 0 ? outcome.substr(what.size() + 2) : outcome;
    }
    // A long error name breaks after its category's ':' before it breaks anywhere.
    std::string shown = xml_escape(what);
    if (const auto colon = shown.find(':'); colon != std::string::npos) shown.insert(colon + 1, "<wbr>");
    std::string b = "<span class=\"what\">" + shown + "</span><span class=\"how\">" +
                    xml_escape(how) + "</span>";
    if (!r["differences"].empty())
        b += "<span class=\"marker\">&#x2260; expected</span>";
    else if (r.value("compared", false))
        b += "<span class=\"marker\">&#x2713; as expected</span>";
    return b;
}

std::string cell_td(const json& r) {
    const std::string cls = outcome_class(r);
    std::string classes = cls;
    if (!r["differences"].empty()) classes += " unexpected";
    else if (r.value("compared", false)) classes += " as-expected";
    return "<td" + attr("class", classes) + attr("data-backend", text_of(r["backend"])) +
           attr("data-mode", text_of(r["mode"])) + attr("data-tls-max", text_of(r["tls_max"])) +
           attr("data-tls-axis", text_of(r["tls_axis_value"])) + attr("data-outcome", cls) +
           attr("title", title_of(r)) + ">" + cell_body(r, cls) + "</td>";
}

std::string section(const json& m, std::map<std::string, std::size_t>& totals) {
    const json& results = m["results"];
    std::vector<std::string> backends, modes;
    auto add = [](std::vector<std::string>& v, const std::string& s) {
        for (const auto& x : v)
            if (x == s) return;
        v.push_back(s);
    };
    std::map<std::string, const json*> by_key;  // backend, mode, TLS version
    auto key = [](const std::string& b, const std::string& mode, const std::string& tls) {
        return b + '\n' + mode + '\n' + tls;
    };
    std::map<std::string, std::size_t> counts;
    std::size_t differing = 0;
    for (const auto& r : results) {
        add(backends, text_of(r["backend"]));
        add(modes, text_of(r["mode"]));
        by_key[key(text_of(r["backend"]), text_of(r["mode"]), text_of(r["tls_axis_value"]))] = &r;
        ++counts[outcome_class(r)];
        ++totals[outcome_class(r)];
        if (!r["differences"].empty()) ++differing;
    }
    std::vector<std::string> versions;  // "" without a --tls axis
    for (const auto& v : m["tls_axis"]) versions.push_back(v.get<std::string>());
    if (versions.empty()) versions.emplace_back();
    const bool axis = !versions.front().empty();

    const std::string url = text_of(m["url"]);
    std::string h = "<section class=\"matrix\"" + attr("data-url", url) + ">\n<h2>probe <code>" +
                    xml_escape(url) + "</code></h2>\n<p class=\"summary\">" +
                    std::to_string(results.size()) + " cells:";
    bool first = true;
    for (const auto& o : outcomes) {
        const auto it = counts.find(o.cls);
        if (it == counts.end()) continue;
        h += std::string(first ? " " : ", ") + std::to_string(it->second) + " " + o.label;
        first = false;
    }
    if (!m["expect"].is_null())
        h += ". Compared with <code>" + xml_escape(text_of(m["expect"])) + "</code>: " +
             (differing == 0 ? std::string("every cell as expected")
                             : std::to_string(differing) + " cell(s) differ");
    h += ".</p>\n<table>\n<thead>\n<tr><th class=\"corner\"" +
         std::string(axis ? " rowspan=\"2\"" : "") + ">backend \\ mode</th>";
    for (const auto& mode : modes)
        h += "<th scope=\"col" + std::string(axis ? "group\"" : "\"") +
             (axis ? " colspan=\"" + std::to_string(versions.size()) + "\"" : "") + ">" +
             xml_escape(mode) + "</th>";
    h += "</tr>\n";
    if (axis) {
        h += "<tr>";
        for (std::size_t i = 0; i < modes.size(); ++i)
            for (const auto& v : versions) h += "<th scope=\"col\">TLS " + xml_escape(v) + "</th>";
        h += "</tr>\n";
    }
    h += "</thead>\n<tbody>\n";
    for (const auto& b : backends) {
        h += "<tr><th scope=\"row\">" + xml_escape(b) + "</th>";
        for (const auto& mode : modes)
            for (const auto& v : versions) {
                const auto it = by_key.find(key(b, mode, v));
                h += it == by_key.end() ? "<td class=\"not-probed\">not probed</td>" : cell_td(*it->second);
            }
        h += "</tr>\n";
    }
    h += "</tbody>\n</table>\n</section>\n";
    return h;
}

std::string style() {
    std::string css = R"(
:root { color-scheme: light; }
body { font: 14px/1.35 system-ui, "DejaVu Sans", sans-serif; color: #1a1a1a; background: #fff;
       margin: 1.2em 1.6em; }
h1 { font-size: 1.45em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.2em 0 .3em; }
code { font: .95em "DejaVu Sans Mono", monospace; }
.meta, .summary { color: #444; margin: .2em 0 .6em; }
table { border-collapse: separate; border-spacing: 3px; }
th { font-weight: 600; padding: .3em .6em; background: #f3f3f3; text-align: center;
     white-space: nowrap; }
th[scope=row] { text-align: left; }
th.corner { color: #666; font-weight: normal; }
td { vertical-align: top; min-width: 8em; max-width: 16em;
     padding: .35em .55em .4em; background: var(--fill); border-left: 5px solid var(--edge);
     cursor: help; overflow-wrap: anywhere; }
td .what { display: block; font-weight: 600; }
td .how { display: block; font-size: .85em; color: #333; }
td .marker { display: block; font-size: .8em; margin-top: .15em; font-weight: 600; }
td.unexpected { outline: 3px dashed #d50000; outline-offset: -3px; }
td.unexpected .marker { color: #b00020; }
td.as-expected .marker { color: #2e7d32; }
td.not-probed { background: repeating-linear-gradient(45deg, #fff, #fff 4px, #eee 4px, #eee 8px);
                border-left: 5px solid #ccc; color: #777; }
.legend ul { list-style: none; padding: 0; margin: .3em 0; columns: 2 28em; }
.legend li { margin: .25em 0; break-inside: avoid; }
.swatch { display: inline-block; width: 1.6em; height: 1em; vertical-align: -.15em;
          margin-right: .5em; background: var(--fill); border-left: 5px solid var(--edge); }
.swatch.unexpected { background: #fff; border: 3px dashed #d50000; width: 1.2em; }
)";
    for (const auto& o : outcomes)
        css += "." + std::string(o.cls) + " { --fill: " + o.fill + "; --edge: " + o.edge + "; }\n";
    return css;
}

std::string legend(const std::map<std::string, std::size_t>& totals) {
    std::string h = "<section class=\"legend\">\n<h2>Legend</h2>\n<ul>\n";
    for (const auto& o : outcomes) {
        const auto it = totals.find(o.cls);
        h += "<li" + attr("data-outcome", o.cls) + "><span" + attr("class", std::string("swatch ") + o.cls) +
             "></span><b>" + xml_escape(o.label) + "</b> <code>" + o.cls + "</code>: " +
             xml_escape(o.meaning) +
             (it == totals.end() ? "" : " (" + std::to_string(it->second) + ")") + "</li>\n";
    }
    h += "<li><span class=\"swatch unexpected\"></span><b>&#x2260; expected</b> "
         "<code>unexpected</code>: the cell differs from the <code>--expect</code> file (hover "
         "it for each differing field); <b>&#x2713; as expected</b>: compared, no difference</li>\n";
    h += "</ul>\n<p class=\"meta\">Hover a cell for its whole row of <code>connmatrix "
         "probe</code>'s table, the full error, <code>handshake_ms</code> and "
         "<code>seconds</code>.</p>\n</section>\n";
    return h;
}

std::string now_utc() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char b[32];
    std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return b;
}

}  // namespace

void write_probe_html(const std::string& path, const std::vector<json>& matrices) {
    std::map<std::string, std::size_t> totals;
    std::string body;
    for (const auto& m : matrices) body += section(m, totals);
    std::string title = "connmatrix probe";
    if (matrices.size() == 1) title += " " + text_of(matrices.front()["url"]);
    std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                    "<title>" + xml_escape(title) + "</title>\n<style>" + style() +
                    "</style>\n</head>\n<body>\n<h1>connmatrix probe</h1>\n<p class=\"meta\">"
                    "connmatrix " + version().version + " \xc2\xb7 " + now_utc() + " \xc2\xb7 " +
                    "backends by negotiation modes, one fresh connection per cell</p>\n" + body +
                    legend(totals) + "</body>\n</html>\n";
    write_local_file(path, "--html", h);
}

}  // namespace connmatrix::cli
