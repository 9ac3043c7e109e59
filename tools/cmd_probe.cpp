// connmatrix probe URL: every backend x every mode (x every TLS version of --tls) against one
// server, each cell on a fresh Client, as a table, JSON (--json), a comparison with an expected matrix (--expect), JUnit
// XML (--junit) and an HTML page (--html, probe_html.cpp).
#include "cli.hpp"

#include <connmatrix/tls.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

namespace connmatrix::cli {

namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// The pseudo-mode "config": the configuration file's own negotiation axes (its rules apply),
// only the backend is the cell's.
constexpr const char* config_mode = "config";

// The fields of one result, as `--json` prints them and `--expect` compares them. These names
// are a public interface (issue 5): scripts and CI pipelines read them.
const char* const result_fields[] = {"backend", "mode", "alpn_offered", "alpn_selected",
                                     "protocol", "status", "error", "tls_version",
                                     "handshake_ms", "tls_max", "resumed", "early_data",
                                     "certificate_expires", "h2_settings"};

struct Cell {
    std::string backend;
    std::string mode;                       // a mode name, or "config"
    std::optional<policy::Mode> mode_value;  // nullopt for "config"
    std::optional<policy::TlsVersion> tls_max_value;  // --tls: the cell's; nullopt: the policy's

    // The outcome.
    std::vector<std::string> alpn_offered;
    bool handshake_done = false;
    std::optional<std::string> alpn_selected;
    std::optional<std::string> protocol;
    std::optional<int> status;
    std::optional<std::string> error;       // "<category>:<code>"
    std::string error_text;                 // the code's short text
    std::string error_detail;               // Error::message(): with the library's own words
    std::string effective_mode;             // for "config": the mode the file resolved to
    bool fallback = false;                  // h2 was rejected, HTTP/1.1 retried
    std::optional<std::string> tls_version;
    std::optional<double> handshake_ms;
    std::optional<std::string> tls_max;     // the resolved tls.max_version; nullopt on http://
    // --resumption: whether a second connection resumed the first one's TLS session (nullopt:
    // not asked, cleartext, or the second request failed: resume_error says why).
    std::optional<bool> resumed;
    std::string resume_error;
    // --resumption with tls.early_data on: what became of the second connection's early data
    // ("accepted", "rejected", "not_attempted"); nullopt: not asked.
    std::optional<std::string> early_data;
    bool early_enabled = false;  // the cell's policy has tls.early_data
    std::optional<std::string> certificate_expires;  // "2036-11-28T10:00:00Z"
    std::optional<H2Settings> h2_settings;
    double seconds = 0;

    // --expect
    std::vector<std::string> differences;
    bool compared = false;

    json to_json() const {
        json j;
        j["backend"] = backend;
        j["mode"] = mode;
        j["alpn_offered"] = alpn_offered;
        j["alpn_selected"] = alpn_selected ? json(*alpn_selected) : json(nullptr);
        j["protocol"] = protocol ? json(*protocol) : json(nullptr);
        j["status"] = status ? json(*status) : json(nullptr);
        j["error"] = error ? json(*error) : json(nullptr);
        j["tls_version"] = tls_version ? json(*tls_version) : json(nullptr);
        j["handshake_ms"] = handshake_ms ? json(*handshake_ms) : json(nullptr);
        j["tls_max"] = tls_max ? json(*tls_max) : json(nullptr);
        j["resumed"] = resumed ? json(*resumed) : json(nullptr);
        j["early_data"] = early_data ? json(*early_data) : json(nullptr);
        j["certificate_expires"] = certificate_expires ? json(*certificate_expires) : json(nullptr);
        if (h2_settings)
            j["h2_settings"] = {{"max_concurrent_streams", h2_settings->max_concurrent_streams},
                                {"initial_window_size", h2_settings->initial_window_size},
                                {"max_frame_size", h2_settings->max_frame_size},
                                {"max_header_list_size", h2_settings->max_header_list_size}};
        else
            j["h2_settings"] = nullptr;
        return j;
    }

    // "openssl alpn", or "openssl alpn tls1.2" on a --tls axis: how messages name the cell.
    std::string name() const {
        return backend + " " + mode +
               (tls_max_value ? " tls" + std::string(policy::to_string(*tls_max_value)) : "");
    }

    std::string outcome() const {
        if (status)
            return "ok " + std::to_string(*status) +
                   (fallback ? " (h2 rejected: fell back to http/1.1)" : "");
        return *error + ": " + error_text;
    }
};

// The code's short text, without a repeated "name: " prefix some categories put first.
std::string short_text(const std::error_code& code) {
    std::string text = code.message();
    const std::string name = error_name(code);
    const std::string bare = name.substr(name.find(':') + 1) + ": ";
    if (text.rfind(bare, 0) == 0) text.erase(0, bare.size());
    return text;
}

// "2036-11-28T10:00:00Z".
std::string iso_utc(std::chrono::system_clock::time_point t) {
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

double round1(double v) { return static_cast<double>(static_cast<long long>(v * 10.0 + 0.5)) / 10.0; }

// One cell: a fresh Client from the base configuration with the cell's backend and mode forced.
void run_cell(Cell& c, const policy::Config& base, const policy::Origin& origin,
              const std::string& url, std::chrono::milliseconds timeout, bool resumption) {
    const auto started = Clock::now();
    PolicyFlags f;
    f.backend = c.backend;
    f.mode = c.mode_value;
    f.tls_max = c.tls_max_value;
    policy::Config cfg = apply_flags(base, f);
    ClientOptions copts;
    copts.log = [](LogLevel, std::string_view) {};  // the table says it all
    Result r;
    policy::ResolvedPolicy rp;
    try {
        Client client(cfg, std::move(copts));
        rp = client.policy().resolve(origin);
        Request req;
        req.url = url;
        // The whole exchange, from submission; the policy's connect and tls timeouts are capped
        // at the same value by apply_flags().
        req.timeout = timeout;
        r = client.send(req);
        if (resumption && r && origin.scheme == policy::Scheme::https) {
            // A second connection: the first goes, its TLS session stays with the Client.
            client.close_idle_connections();
            Result again = client.send(std::move(req));
            if (again && !again.response.info.reused) {
                c.resumed = again.response.info.resumed.value_or(false);
                if (rp.policy.tls.early_data)
                    c.early_data = std::string(to_string(again.response.info.early_data));
            }
            else if (!again)
                c.resume_error = again.error.message();
            else
                c.resume_error = "the second request reused the first connection";
        }
        client.close();
    } catch (const std::system_error& e) {
        // A Client that refused this cell's policy at start (tls.early_data on mbedTLS, a client
        // certificate this backend cannot load): the cell's outcome, not the probe's end.
        r.error = Error{e.code(), e.what()};
        rp = policy::Engine(cfg).resolve(origin);
    }
    c.early_enabled = rp.policy.tls.early_data;
    c.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    const ConnectionInfo& i = r.response.info;
    c.effective_mode = std::string(policy::to_string(rp.policy.mode));
    const bool https = origin.scheme == policy::Scheme::https;
    // What the cell's policy offers on its first connection. (After a fallback, the retry
    // offers the same without h2: the outcome says so.)
    if (https) c.alpn_offered = rp.policy.alpn;
    if (https) c.tls_max = std::string(policy::to_string(rp.policy.tls.max_version));
    c.fallback = i.fallback;
    c.handshake_done = https && !i.tls_version.empty();
    if (c.handshake_done) {
        c.alpn_selected = i.alpn_selected;
        c.tls_version = i.tls_version;
    }
    if (https && i.timings.tls.count() > 0)
        c.handshake_ms = round1(static_cast<double>(i.timings.tls.count()) / 1000.0);
    if (i.certificate_expires) c.certificate_expires = iso_utc(*i.certificate_expires);
    c.h2_settings = i.h2_settings;
    if (r) {
        c.protocol = std::string(to_string(i.protocol));
        c.status = r.response.status;
    } else {
        c.error = error_name(r.error.code);
        c.error_text = short_text(r.error.code);
        c.error_detail = r.error.message();
    }
}

// Runs the cells, at most `parallel` at once. A cell that overruns its timeout by far (a bug or
// a stuck library call: the Client's own timeouts should have ended it) is reported as a
// watchdog timeout and abandoned, so the table always completes. Returns true if any was.
bool run_cells(std::vector<Cell>& cells, const policy::Config& base, const policy::Origin& origin,
               const std::string& url, std::chrono::milliseconds timeout, unsigned parallel,
               bool resumption) {
    struct State {
        std::mutex mu;
        std::condition_variable cv;
        std::vector<Cell> results;
        std::vector<char> done, abandoned;
    };
    auto st = std::make_shared<State>();
    st->results = cells;
    st->done.assign(cells.size(), 0);
    st->abandoned.assign(cells.size(), 0);

    const auto limit = timeout * (resumption ? 2 : 1) + std::chrono::seconds(3);
    std::map<std::size_t, std::pair<std::thread, Clock::time_point>> running;
    std::size_t next = 0;
    bool any_abandoned = false;
    std::unique_lock lock(st->mu);
    while (next < cells.size() || !running.empty()) {
        while (running.size() < parallel && next < cells.size()) {
            const std::size_t k = next++;
            Cell work = cells[k];
            std::thread t([st, k, work, &base, origin, url, timeout, resumption]() mutable {
                try {
                    run_cell(work, base, origin, url, timeout, resumption);
                } catch (const std::exception& e) {
                    work.error = "internal";
                    work.error_text = e.what();
                }
                std::lock_guard g(st->mu);
                if (!st->abandoned[k]) st->results[k] = std::move(work);
                st->done[k] = 1;
                st->cv.notify_all();
            });
            running.emplace(k, std::pair{std::move(t), Clock::now()});
        }
        st->cv.wait_for(lock, std::chrono::milliseconds(50));
        const auto now = Clock::now();
        for (auto it = running.begin(); it != running.end();) {
            const std::size_t k = it->first;
            if (st->done[k]) {
                lock.unlock();
                it->second.first.join();
                lock.lock();
                it = running.erase(it);
            } else if (now - it->second.second > limit) {
                Cell& c = st->results[k];
                c.error = error_name(net::errc::request_timeout);
                c.error_text = "no result within " + std::to_string(limit.count()) +
                               " ms (watchdog: the cell was abandoned)";
                c.error_detail = c.error_text;
                c.seconds = std::chrono::duration<double>(now - it->second.second).count();
                st->abandoned[k] = 1;
                any_abandoned = true;
                it->second.first.detach();  // it holds `st` alive; base outlives the process
                it = running.erase(it);
            } else {
                ++it;
            }
        }
    }
    cells = st->results;
    return any_abandoned;
}

// ---------------------------------------------------------------------------------------------
// --expect

struct Expected {
    std::string backend, mode;
    json fields;  // only the fields to compare
    std::optional<std::string> tls_max;  // given: only the cell of that TLS version
};

std::vector<Expected> load_expect(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Failure(exit_config, "--expect " + path + ": cannot read the file");
    json doc;
    try {
        doc = json::parse(in);
    } catch (const std::exception& e) {
        throw Failure(exit_config, "--expect " + path + ": not JSON: " + e.what());
    }
    auto bad = [&](const std::string& where, const std::string& why) {
        return Failure(exit_config, "--expect " + path + ": " + where + ": " + why);
    };
    if (!doc.is_object() || !doc.contains("results") || !doc["results"].is_array())
        throw bad("(document)", "expected {\"results\": [...]}, the shape `probe --json` prints");
    std::vector<Expected> out;
    std::set<std::pair<std::string, std::string>> seen;
    const auto& results = doc["results"];
    for (std::size_t i = 0; i < results.size(); ++i) {
        const std::string where = "results[" + std::to_string(i) + "]";
        const json& r = results[i];
        if (!r.is_object()) throw bad(where, "expected an object");
        if (!r.contains("backend") || !r["backend"].is_string() || !r.contains("mode") ||
            !r["mode"].is_string())
            throw bad(where, "\"backend\" and \"mode\" (strings) say which cell it is");
        Expected e{r["backend"].get<std::string>(), r["mode"].get<std::string>(), json::object(), std::nullopt};
        if (e.mode != config_mode && !policy::parse_mode(e.mode))
            throw bad(where + ".mode", "unknown mode \"" + e.mode + "\"");
        for (const auto& item : r.items()) {
            const std::string& key = item.key();  // a plain name: lambdas may capture it
            if (key == "backend" || key == "mode") continue;
            if (std::find_if(std::begin(result_fields), std::end(result_fields),
                             [&](const char* f) { return key == f; }) == std::end(result_fields))
                throw bad(where + "." + key, "unknown field (fields: " +
                                                 join({std::begin(result_fields) + 2,
                                                       std::end(result_fields)},
                                                      ", ") +
                                                 ")");
            e.fields[key] = item.value();
        }
        if (e.fields.contains("tls_max") && e.fields["tls_max"].is_string())
            e.tls_max = e.fields["tls_max"].get<std::string>();
        const std::string id = e.mode + (e.tls_max ? " tls" + *e.tls_max : "");
        if (!seen.insert({e.backend, id}).second)
            throw bad(where, "a second entry for " + e.backend + " " + id);
        out.push_back(std::move(e));
    }
    return out;
}

std::string show(const json& v) { return v.dump(); }

// Compares; returns the number of differing cells. Notes on stderr about expected cells that
// were not probed.
std::size_t compare(std::vector<Cell>& cells, const std::vector<Expected>& expected) {
    const auto compiled = backend_names();
    std::size_t differing = 0;
    for (const auto& e : expected) {
        auto it = std::find_if(cells.begin(), cells.end(), [&](const Cell& c) {
            return c.backend == e.backend && c.mode == e.mode &&
                   (!e.tls_max || c.tls_max == e.tls_max);
        });
        if (it == cells.end()) {
            const bool built = std::find(compiled.begin(), compiled.end(), e.backend) != compiled.end();
            std::fprintf(stderr, "connmatrix: note: expected cell %s %s not compared: %s\n",
                         e.backend.c_str(), e.mode.c_str(),
                         built ? "not probed (see --backends, --modes; \"config\" needs --config)"
                               : "backend not compiled into this build");
            continue;
        }
        Cell& c = *it;
        c.compared = true;
        const json got = c.to_json();
        for (const auto& [key, want] : e.fields.items()) {
            const json& have = got[key];
            if (have != want)
                c.differences.push_back(key + ": expected " + show(want) + ", got " + show(have));
        }
        if (!c.differences.empty()) ++differing;
    }
    return differing;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Output.

std::string xml_escape(std::string_view s) {
    std::string out;
    for (char ch : s) {
        switch (ch) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default:
                // XML 1.0 forbids most control characters, even escaped.
                if (static_cast<unsigned char>(ch) < 0x20 && ch != '\n' && ch != '\t') out += '?';
                else out += ch;
        }
    }
    return out;
}

void write_local_file(const std::string& path, std::string_view flag, const std::string& text) {
    auto failed = [&]() {
        const int e = errno;
        return Failure(exit_local_io, std::string(flag) + " " + path + ": cannot write the file" +
                                          (e != 0 ? std::string(": ") + std::strerror(e) : ""));
    };
    errno = 0;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw failed();
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0 || !ok) throw failed();
}

namespace {

void write_junit(const std::string& path, const std::string& url, const std::vector<Cell>& cells) {
    double total = 0;
    std::size_t failures = 0;
    for (const auto& c : cells) {
        total += c.seconds;
        failures += c.differences.empty() ? 0 : 1;
    }
    char timestamp[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(timestamp, sizeof timestamp, "%Y-%m-%dT%H:%M:%S", std::gmtime(&now));
    auto secs = [](double s) {
        char b[32];
        std::snprintf(b, sizeof b, "%.3f", s);
        return std::string(b);
    };
    std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    x += "<testsuites name=\"connmatrix probe\" tests=\"" + std::to_string(cells.size()) +
         "\" failures=\"" + std::to_string(failures) + "\" errors=\"0\" time=\"" + secs(total) + "\">\n";
    x += "  <testsuite name=\"connmatrix probe " + xml_escape(url) + "\" tests=\"" +
         std::to_string(cells.size()) + "\" failures=\"" + std::to_string(failures) +
         "\" errors=\"0\" skipped=\"0\" time=\"" + secs(total) + "\" timestamp=\"" + timestamp + "\">\n";
    x += "    <properties><property name=\"url\" value=\"" + xml_escape(url) + "\"/></properties>\n";
    for (const auto& c : cells) {
        x += "    <testcase classname=\"connmatrix.probe." + xml_escape(c.backend) + "\" name=\"" +
             xml_escape(c.name()) + "\" time=\"" + secs(c.seconds) + "\">\n";
        if (!c.differences.empty()) {
            x += "      <failure type=\"expect\" message=\"" +
                 xml_escape(std::to_string(c.differences.size()) + " field(s) differ from the expected matrix") +
                 "\">" + xml_escape(join(c.differences, "\n")) + "</failure>\n";
        }
        std::string out = "outcome: " + c.outcome() + "\nALPN offered: " +
                          (c.alpn_offered.empty() ? "none" : join(c.alpn_offered, ",")) +
                          "\nALPN selected: " + c.alpn_selected.value_or(c.handshake_done ? "none" : "-") +
                          "\nprotocol: " + c.protocol.value_or("-") +
                          "\nTLS: " + c.tls_version.value_or("-");
        if (!c.error_detail.empty()) out += "\ndetail: " + c.error_detail;
        x += "      <system-out>" + xml_escape(out) + "</system-out>\n";
        x += "    </testcase>\n";
    }
    x += "  </testsuite>\n</testsuites>\n";
    write_local_file(path, "--junit", x);
}

// The text table: a header, then one row per cell. print_table() prints it; --html puts each
// cell's row in its hover text.
std::vector<std::vector<std::string>> table_rows(const std::vector<Cell>& cells,
                                                 bool show_effective_mode, bool show_tls_max,
                                                 bool show_resumed) {
    // --resumption where a cell's policy has tls.early_data: did the second connection's
    // first flight carry the request?
    const bool show_early = show_resumed && std::any_of(cells.begin(), cells.end(), [](const Cell& c) {
                                return c.early_enabled;
                            });
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"backend", "mode", "ALPN offered", "ALPN selected", "protocol", "TLS",
                    "handshake", "outcome"});
    for (const auto& c : cells) {
        std::string mode = c.mode;
        if (show_effective_mode && c.mode == config_mode) mode += " (" + c.effective_mode + ")";
        std::string hs = c.handshake_ms ? format_ms(std::chrono::microseconds(
                                              static_cast<long long>(*c.handshake_ms * 1000))) + " ms"
                                        : "-";
        rows.push_back({c.backend, mode,
                        c.alpn_offered.empty() ? "none" : join(c.alpn_offered, ","),
                        c.alpn_selected.value_or(c.handshake_done ? "none" : "-"),
                        c.protocol.value_or("-"), c.tls_version.value_or("-"), hs, c.outcome()});
        if (show_resumed)
            rows.back().insert(rows.back().end() - 1,
                               c.resumed ? (*c.resumed ? "yes" : "no") : c.resume_error.empty() ? "-" : "error");
        if (show_early)
            rows.back().insert(rows.back().end() - 1,
                               !c.early_data ? "-"
                               : *c.early_data == "not_attempted" ? "no"
                                                                  : *c.early_data);
        if (show_tls_max) rows.back().insert(rows.back().begin() + 2, c.tls_max.value_or("-"));
    }
    if (show_resumed) rows.front().insert(rows.front().end() - 1, "resumed");
    if (show_early) rows.front().insert(rows.front().end() - 1, "0-RTT");
    if (show_tls_max) rows.front().insert(rows.front().begin() + 2, "TLS max");
    return rows;
}

void print_table(const std::string& url, const std::vector<Cell>& cells,
                 const std::vector<std::vector<std::string>>& rows, int verbose) {
    const Style s{colour_enabled(stdout)};
    std::vector<std::size_t> w(rows.front().size());
    for (const auto& r : rows)
        for (std::size_t k = 0; k < r.size(); ++k) w[k] = std::max(w[k], r[k].size());
    std::printf("%s\n", s.bold("probe " + url).c_str());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        std::string line;
        for (std::size_t k = 0; k + 1 < rows[i].size(); ++k)
            line += rows[i][k] + std::string(w[k] - rows[i][k].size() + 2, ' ');
        std::string last = rows[i].back();
        if (i == 0) {
            std::printf("%s\n", s.bold(line + last).c_str());
            continue;
        }
        const Cell& c = cells[i - 1];
        if (c.status) last = s.green(last);
        else last = s.red(last);
        if (!c.differences.empty()) last += "  " + s.yellow("<- differs from --expect");
        std::printf("%s%s\n", line.c_str(), last.c_str());
    }
    if (verbose > 0) {
        std::printf("\n");
        for (const auto& c : cells) {
            if (!c.error_detail.empty())
                std::printf("%s: %s\n", c.name().c_str(), c.error_detail.c_str());
            if (!c.resume_error.empty())
                std::printf("%s: second connection: %s\n", c.name().c_str(), c.resume_error.c_str());
            if (c.certificate_expires)
                std::printf("%s: certificate expires %s\n", c.name().c_str(),
                            c.certificate_expires->c_str());
            if (const auto& h = c.h2_settings)
                std::printf("%s: h2 SETTINGS max_concurrent_streams %u, initial_window_size %u, "
                            "max_frame_size %u, max_header_list_size %s\n",
                            c.name().c_str(), h->max_concurrent_streams, h->initial_window_size,
                            h->max_frame_size,
                            h->max_header_list_size == 0xffffffffu
                                ? "unlimited"
                                : std::to_string(h->max_header_list_size).c_str());
        }
    }
    std::fflush(stdout);
}

// What --html shows of the matrix: each cell's --json object, its row of the text table, and
// what only the table, -v or stderr say (fallback, the full error, the time, the differences).
json html_matrix(const std::string& url, const std::vector<Cell>& cells,
                 const std::vector<std::vector<std::string>>& rows,
                 const std::vector<policy::TlsVersion>& tls_axis, const std::string& expect) {
    json m;
    m["url"] = url;
    m["tls_axis"] = json::array();
    for (const auto v : tls_axis) m["tls_axis"].push_back(std::string(policy::to_string(v)));
    m["expect"] = expect.empty() ? json(nullptr) : json(expect);
    m["results"] = json::array();
    for (std::size_t i = 0; i < cells.size(); ++i) {
        const Cell& c = cells[i];
        json r = c.to_json();
        r["tls_axis_value"] = c.tls_max_value
                                  ? json(std::string(policy::to_string(*c.tls_max_value)))
                                  : json(nullptr);
        r["fallback"] = c.fallback;
        r["error_detail"] = c.error_detail;
        r["resume_error"] = c.resume_error;
        r["seconds"] = c.seconds;
        r["differences"] = c.differences;
        r["compared"] = c.compared;
        json table = json::object();
        for (std::size_t k = 0; k < rows.front().size(); ++k) table[rows.front()[k]] = rows[i + 1][k];
        r["table"] = std::move(table);
        m["results"].push_back(std::move(r));
    }
    return m;
}

}  // namespace

int run_probe(const ProbeOptions& o) {
    const policy::Origin origin = require_url(o.url);
    if (o.parallel < 1 || o.parallel > 64) throw Failure(exit_usage, "--parallel must be 1 to 64");

    std::vector<std::string> backends;
    for (const auto& b : o.backends) backends.push_back(require_backend(b));
    if (backends.empty()) backends = backend_names();

    policy::Config base = load_config(o.config);
    const bool have_config = !config_is_builtin(base);
    std::vector<std::pair<std::string, std::optional<policy::Mode>>> modes;
    for (const auto& m : o.modes) {
        if (m == config_mode) {
            if (!have_config)
                throw Failure(exit_usage, "--modes config needs a configuration (--config FILE or "
                                          "$CONNMATRIX_CONFIG)");
            modes.emplace_back(m, std::nullopt);
        } else {
            modes.emplace_back(m, require_mode(m));
        }
    }
    if (modes.empty()) {
        for (auto m : policy::all_modes) modes.emplace_back(std::string(policy::to_string(m)), m);
        if (have_config) modes.emplace_back(config_mode, std::nullopt);
    }

    std::vector<Expected> expected;
    if (!o.expect.empty()) expected = load_expect(o.expect);

    PolicyFlags flags = o.flags;
    flags.backend.reset();
    flags.mode.reset();
    flags.timeout = o.timeout;
    base = apply_flags(std::move(base), flags);
    if (flags.insecure) warn_insecure();

    // --tls: a cell per version; without it, one cell with the policy's own tls.max_version.
    std::vector<policy::TlsVersion> tls_axis;
    for (const auto& v : o.tls_versions) {
        const policy::TlsVersion t = require_tls_version(v, "--tls");
        if (std::find(tls_axis.begin(), tls_axis.end(), t) == tls_axis.end()) tls_axis.push_back(t);
    }
    std::vector<std::optional<policy::TlsVersion>> versions(tls_axis.begin(), tls_axis.end());
    if (versions.empty()) versions.emplace_back();

    std::vector<Cell> cells;
    for (const auto& b : backends)
        for (const auto& [name, mode] : modes)
            for (const auto& v : versions) {
                Cell c;
                c.backend = b;
                c.mode = name;
                c.mode_value = mode;
                c.tls_max_value = v;
                cells.push_back(std::move(c));
            }

    const bool abandoned =
        run_cells(cells, base, origin, o.url, o.timeout, o.parallel, o.resumption);

    const std::size_t differing = expected.empty() ? 0 : compare(cells, expected);
    const auto rows = table_rows(cells, have_config, !tls_axis.empty(), o.resumption);
    if (o.json) {
        json doc;
        doc["url"] = o.url;
        doc["results"] = json::array();
        for (const auto& c : cells) doc["results"].push_back(c.to_json());
        std::printf("%s\n", doc.dump(2).c_str());
        std::fflush(stdout);
    } else {
        print_table(o.url, cells, rows, o.verbose);
    }
    if (!o.junit.empty()) write_junit(o.junit, o.url, cells);
    if (!o.html.empty())
        write_probe_html(o.html, {html_matrix(o.url, cells, rows, tls_axis, o.expect)});

    int rc = exit_ok;
    if (!expected.empty()) {
        if (differing > 0) {
            std::fprintf(stderr, "connmatrix: %zu cell(s) differ from %s:\n", differing, o.expect.c_str());
            for (const auto& c : cells)
                if (!c.differences.empty())
                    std::fprintf(stderr, "  %s: %s\n", c.name().c_str(),
                                 join(c.differences, "; ").c_str());
            rc = exit_check_failed;
        }
    } else {
        const bool all_unreachable =
            !cells.empty() && std::all_of(cells.begin(), cells.end(), [](const Cell& c) {
                return c.error && (c.error->rfind("net:", 0) == 0) &&
                       (*c.error == "net:resolve_failed" || *c.error == "net:connect_failed" ||
                        *c.error == "net:connect_timeout" || *c.error == "net:proxy_failed");
            });
        if (all_unreachable) {
            std::fprintf(stderr, "connmatrix: %s is unreachable: %s\n", o.url.c_str(),
                         cells.front().error_detail.c_str());
            rc = exit_net;
        }
    }
    if (abandoned) {
        // A cell's thread is still stuck in the library: don't wait for it at exit.
        std::fflush(stdout);
        std::fflush(stderr);
        std::_Exit(rc);
    }
    return rc;
}

}  // namespace connmatrix::cli
