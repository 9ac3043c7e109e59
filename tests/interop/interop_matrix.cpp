// interop_matrix: the Client against real third-party servers on 127.0.0.1 (issue 4, items 8
// and 10). For every compiled backend x every mode x every server of the fixture, one
// GET /hello.txt, and the exact outcome asserted: protocol, ALPN selected, fallback and body, or
// the exact error code.
//
// The expected outcome of each cell is not a recording of what the client did. It is derived
// by `expect()` in interop_spec.hpp from two tables written from documents, not from connmatrix:
//   - `kServers`: what each server does, as tests/interop/README.md records it (probed with
//     openssl s_client, nghttp and raw sockets by check-servers.sh);
//   - `kModes`: the mode presets, as policy.hpp specifies them;
// and the rules of RFC 7301 section 3.2, RFC 9113 section 3, negotiate::decide() (negotiate.hpp)
// and the fallback rule (issue 4, item 4). The same expectation checks `connmatrix probe`
// (interop_expect.cpp, test cli_probe_agrees_with_interop).
//
// Run it with the servers up: tests/interop/with-servers.sh build/tests/interop/interop_matrix
// (meson test does that). CONNMATRIX_MATRIX_OUT=FILE also writes the observed matrix as Markdown
// (docs/interop-matrix.md is made that way).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <doctest/doctest.h>

#include "checks.hpp"
#include "fixture_env.hpp"
#include "interop_spec.hpp"

#include <connmatrix/client.hpp>
#include <connmatrix/negotiate.hpp>
#include <connmatrix/tls.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace connmatrix;
using interop::FixtureEnv;
using namespace connmatrix::interop;

#ifndef CONNMATRIX_INTEROP_README
#define CONNMATRIX_INTEROP_README ""
#endif

namespace {

// =============================================================================================
// Running cells.

struct Observed {
    Error error;
    int status = 0;
    Protocol protocol = Protocol::http1_1;
    std::optional<std::string> alpn;
    std::vector<std::string> alpn_offered;
    std::string backend;
    bool fallback = false;
    std::string body;
    double seconds = 0;
};

struct Cell {
    std::string backend;
    const ModeSpec* mode;
    const ServerFacts* server;
    Outcome expected;
    Observed observed;
};

std::string timeouts_json() { return kTimeoutsJson; }

std::string client_json(const std::string& backend, const std::string& mode, const std::string& ca,
                        const std::string& extra = {}) {
    std::string j = R"({"defaults": {"backend": ")" + backend + R"(", "mode": ")" + mode +
                    R"(", "tls": {"ca_file": ")" + ca + R"("}, )" + timeouts_json();
    if (!extra.empty()) j += ", " + extra;
    return j + "}}";
}

Client make_client(const std::string& json) {
    Error err;
    auto c = Client::from_json(json, err);
    if (!c) throw std::runtime_error("config rejected: " + err.message() + "\n" + json);
    return std::move(*c);
}

std::string hello_url(const FixtureEnv& env, const std::string& server) {
    std::string u = env.server(server).url;  // "https://127.0.0.1:PORT/"
    u.pop_back();
    return u + env.at("HELLO_PATH");
}

Observed run_cell(const FixtureEnv& env, const Cell& c) {
    Observed o;
    const auto t0 = std::chrono::steady_clock::now();
    Client client = make_client(client_json(c.backend, c.mode->name, env.ca_file(), c.mode->extra_json));
    Result r = client.send({.method = "GET", .url = hello_url(env, c.server->name)});
    o.error = r.error;
    if (r) {
        o.status = r.response.status;
        o.protocol = r.response.info.protocol;
        o.alpn = r.response.info.alpn_selected;
        o.alpn_offered = r.response.info.alpn_offered;
        o.backend = r.response.info.backend;
        o.fallback = r.response.info.fallback;
        o.body = r.response.body;
    }
    client.close();
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return o;
}


std::string describe(const Outcome& o) {
    if (o.error) return error_name(o.error);
    return std::string(to_string(o.protocol)) + ", ALPN " + o.alpn.value_or("none") +
           (o.fallback ? ", fallback" : "");
}

std::string describe(const Observed& o) {
    if (o.error) return o.error.message();
    return std::string(to_string(o.protocol)) + ", ALPN " + o.alpn.value_or("none") +
           (o.fallback ? ", fallback" : "") + ", status " + std::to_string(o.status);
}

// The matrix cell: protocol, "(no ALPN)" when TLS answered without ALPN, a fallback marker, or
// the error's short name.
std::string matrix_cell(const Cell& c) {
    const Observed& o = c.observed;
    std::string s;
    if (o.error) {
        s = "✗ " + error_name(o.error.code);
    } else {
        s = std::string(to_string(o.protocol));
        if (c.server->tls && !o.alpn) s += " (no ALPN)";
        if (o.fallback) s += " ↩";
    }
    const bool matches = o.error ? o.error.code == c.expected.error
                                 : !c.expected.error && o.protocol == c.expected.protocol &&
                                       o.alpn == c.expected.alpn && o.fallback == c.expected.fallback;
    if (!matches) s += " **(expected " + describe(c.expected) + ")**";
    return s;
}

std::string read_versions_section() {
    std::ifstream in(CONNMATRIX_INTEROP_README);
    std::string line, out;
    bool on = false;
    while (std::getline(in, line)) {
        if (line.rfind("## ", 0) == 0) {
            if (on) break;
            on = line.rfind("## Versions", 0) == 0;
            continue;
        }
        if (on) out += line + "\n";
    }
    return out;
}

void write_matrix(const std::string& path, const std::vector<Cell>& cells,
                  const std::vector<std::string>& backends) {
    std::ostringstream md;
    md << "# Interop matrix: connmatrix against real servers\n\n"
       << "<!-- Generated by tests/interop/interop_matrix.cpp; do not edit by hand. -->\n"
       << "What the `Client` negotiated for `GET /hello.txt` against each server of the interop "
          "fixture ([tests/interop/README.md](../tests/interop/README.md)), for every compiled TLS "
          "backend and every mode. Every cell is asserted by the test against an expectation "
          "derived from the servers' documented behaviour, RFC 7301 / RFC 9113, "
          "`negotiate::decide()` and the fallback rule; a cell that disagreed would say "
          "**(expected ...)**.\n\n"
       << "Regenerate (from the repository root, with a build directory `build`):\n\n"
       << "```sh\nCONNMATRIX_MATRIX_OUT=$PWD/docs/interop-matrix.md meson test -C build "
          "interop_matrix\n```\n\n"
       << "Cells: `h2` / `http/1.1` = the protocol used, confirmed by ALPN unless marked "
          "`(no ALPN)` (the server answered without ALPN); `↩` = HTTP/1.1 after the server "
          "rejected unconfirmed h2 (fallback); `✗ category:name` = the request failed with that "
          "error; `-` = not run (the last row per backend sets only the cleartext rule, so it "
          "concerns http:// servers alone). Client config per cell: `{\"defaults\": {\"backend\": B, \"mode\": M, \"tls\": "
          "{\"ca_file\": CA}, \"timeouts\": {\"connect\": \"2s\", \"tls\": \"2s\", \"request\": "
          "\"3s\"}}}` (plus `\"cleartext\": \"h2c-upgrade\"` in the h2c-upgrade row).\n\n";
    md << "| backend | mode |";
    for (const auto& s : kServers) md << " " << s.name << (s.tls ? "" : " (http)") << " |";
    md << "\n|---|---|";
    for (std::size_t i = 0; i < kServers.size(); ++i) md << "---|";
    md << "\n";
    for (const auto& b : backends) {
        for (const auto& m : kModes) {
            md << "| " << b << " | " << m.label << " |";
            for (const auto& s : kServers) {
                auto it = std::find_if(cells.begin(), cells.end(), [&](const Cell& c) {
                    return c.backend == b && c.mode == &m && c.server == &s;
                });
                md << " " << (it == cells.end() ? "-" : matrix_cell(*it)) << " |";
            }
            md << "\n";
        }
    }
    md << "\n## Why each error\n\n"
       << "- `tls:no_application_protocol`: the server has no protocol in common with the offer "
          "and sends the fatal alert (RFC 7301 section 3.2).\n"
       << "- `negotiate:h2_required_but_no_alpn`: `h2-only` offers only h2 and says `no_alpn: "
          "fail`; the server completed the handshake without ALPN.\n"
       << "- `http2:not_h2`: unconfirmed h2 (prior knowledge, h2c) answered with HTTP/1.1 text "
          "(`400 Bad Request`); the mode has no fallback.\n"
       << "- `http2:protocol_error`: unconfirmed h2 answered by gnutls-serv with an HTML page "
          "without a status line (neither SETTINGS nor HTTP/1.x).\n"
       << "- `net:connection_closed`: nghttpd closes (close_notify) right after a handshake "
          "that did not select h2, before answering anything.\n"
       << "- `http2:not_h2` against `openssl s_server`: it never answers an h2 preface and keeps "
          "the connection open; unconfirmed h2 without SETTINGS within `timeouts.tls` (2 s) counts "
          "as rejected (with fallback: HTTP/1.1, marked ↩).\n"
       << "- `http1:malformed_status_line`: an h2-only server (nghttpd) answers an HTTP/1.1 "
          "request with its binary SETTINGS frame; the parser refuses the first byte instead of "
          "waiting for a line end. nghttpd does not implement `Upgrade: h2c` either, so the "
          "h2c-upgrade row gets the same.\n\n";
    md << "## Servers\n\n| server | what it is |\n|---|---|\n";
    for (const auto& s : kServers) md << "| " << s.name << " | " << s.note << " |\n";
    md << "\n## Versions\n\nClient TLS libraries:\n\n";
    const auto reg = tls::Registry::compiled_in();
    for (const auto& b : reg.all()) md << "- " << b->name() << ": " << b->library_version() << "\n";
    md << "\nServers (Debian 12 packages, from tests/interop/README.md):\n"
       << read_versions_section();
    md << "\n" << cells.size() << " cells.\n";
    std::ofstream out(path);
    out << md.str();
    if (!out) throw std::runtime_error("cannot write " + path);
}

const FixtureEnv& fixture() { return FixtureEnv::required("interop_matrix"); }

std::vector<std::string> backends() { return tls::Registry::compiled_in().names(); }

}  // namespace

// =============================================================================================

TEST_CASE("interop matrix: every backend x mode x server, as the spec says") {
    const FixtureEnv& env = fixture();
    std::vector<Cell> cells;
    for (const auto& b : backends()) {
        const bool tls13 = backend_has_tls13(b);
        for (const auto& m : kModes)
            for (const auto& s : kServers)
                if (!(s.tls && m.cleartext_only)) cells.push_back({b, &m, &s, expect(m, s, tls13), {}});
    }

    // Servers that take one connection at a time get one thread each, running their cells in
    // order; everything else runs on a few workers in parallel.
    std::map<std::string, std::vector<Cell*>> serial;
    std::vector<Cell*> parallel;
    for (auto& c : cells) {
        if (c.server->one_connection_at_a_time)
            serial[c.server->name].push_back(&c);
        else
            parallel.push_back(&c);
    }
    std::mutex failures_mutex;
    std::vector<std::string> exceptions;
    auto run = [&](Cell* c) {
        try {
            c->observed = run_cell(env, *c);
        } catch (const std::exception& e) {
            std::lock_guard lock(failures_mutex);
            exceptions.push_back(e.what());
        }
    };
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (auto& [name, list] : serial)
        threads.emplace_back([&list = list, &run] {
            for (Cell* c : list) run(c);
        });
    std::atomic<std::size_t> next{0};
    for (int w = 0; w < 6; ++w)
        threads.emplace_back([&] {
            for (std::size_t i; (i = next++) < parallel.size();) run(parallel[i]);
        });
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE(cells.size() << " cells in " << seconds << " s");
    for (const auto& e : exceptions) FAIL(e);
    if (const char* v = std::getenv("CONNMATRIX_MATRIX_VERBOSE"); v && *v)
        for (const auto& c : cells)
            MESSAGE(c.backend << " x " << std::string(c.mode->label) << " x "
                              << std::string(c.server->name) << ": " << describe(c.observed)
                              << " (" << c.observed.seconds << " s)");

    for (const auto& c : cells) {
        const Outcome& x = c.expected;
        const Observed& o = c.observed;
        INFO(c.backend, " x ", std::string(c.mode->label), " x ", std::string(c.server->name),
             ": expected ", describe(x),
             " (", x.why, "); observed ", describe(o), " after ", o.seconds, " s");
        if (x.error) {
            CHECK(o.error.code == x.error);
            continue;
        }
        CHECK_FALSE(o.error);
        if (o.error) continue;
        CHECK(o.status == 200);
        CHECK(o.body == env.server(c.server->name).body + "\n");
        CHECK(o.protocol == x.protocol);
        CHECK(o.alpn == x.alpn);
        CHECK(o.fallback == x.fallback);
        CHECK(o.backend == (c.server->tls ? c.backend : std::string()));
        if (c.server->tls && !x.fallback) CHECK(o.alpn_offered == c.mode->offer);
    }

    if (const char* out = std::getenv("CONNMATRIX_MATRIX_OUT"); out && *out) {
        write_matrix(out, cells, backends());
        MESSAGE("matrix written to " << std::string(out));
    }
}

TEST_CASE("fallback against the no-ALPN HTTP/1.1-only server: taken, then remembered") {
    const FixtureEnv& env = fixture();
    const std::string url = hello_url(env, "h1_noalpn");
    const std::string body = env.server("h1_noalpn").body + "\n";
    for (const auto& b : backends()) {
        INFO("backend ", b);
        Client c = make_client(client_json(b, "prior-knowledge-alpn", env.ca_file()));
        // `Connection: close`, so the second request needs a connection of its own.
        Result r1 = c.send({.method = "GET", .url = url, .headers = {{"Connection", "close"}}});
        INFO(r1.error.message());
        REQUIRE(r1);
        CHECK(r1.response.body == body);
        CHECK(r1.response.info.protocol == Protocol::http1_1);
        CHECK(r1.response.info.fallback);
        CHECK(r1.response.info.alpn_selected == std::nullopt);
        CHECK(c.stats().connections_opened == 2);  // h2 (rejected with 400), then HTTP/1.1
        CHECK(c.stats().fallbacks == 1);

        // Remembered: one connection, straight to HTTP/1.1 -- one connection less than the first.
        Result r2 = c.send({.method = "GET", .url = url});
        INFO(r2.error.message());
        REQUIRE(r2);
        CHECK(r2.response.body == body);
        CHECK(r2.response.info.protocol == Protocol::http1_1);
        CHECK(r2.response.info.fallback);
        CHECK_FALSE(r2.response.info.reused);
        CHECK(r2.response.info.alpn_offered == std::vector<std::string>{"http/1.1"});
        CHECK(c.stats().connections_opened == 3);
        CHECK(c.stats().fallbacks == 1);

        // The same two requests without the memory cost two connections each: what the first
        // one cost. (A fresh Client forgets.)
        Client fresh = make_client(client_json(b, "prior-knowledge-alpn", env.ca_file()));
        Result r3 = fresh.send({.method = "GET", .url = url});
        REQUIRE(r3);
        CHECK(r3.response.info.fallback);
        CHECK(fresh.stats().connections_opened == 2);
    }
}

namespace {

std::size_t count_in_file(const std::string& path, const std::string& needle) {
    std::ifstream in(path);
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line))
        if (line.find(needle) != std::string::npos) ++n;
    return n;
}

// tinyproxy logs "opening connection to HOST:PORT" for each CONNECT it serves.
std::size_t proxy_connects(const FixtureEnv& env, const std::string& target_server) {
    return count_in_file(env.at("STATE_DIR") + "/logs/connect_proxy.log",
                         "opening connection to 127.0.0.1:" +
                             std::to_string(env.server(target_server).port));
}

bool wait_for(const std::function<bool()>& f) {
    for (int i = 0; i < 100; ++i) {
        if (f()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return f();
}

}  // namespace

TEST_CASE("through the CONNECT proxy (tinyproxy): ALPN is the target's own") {
    const FixtureEnv& env = fixture();
    const std::string proxy = R"("proxy": "http://127.0.0.1:)" +
                              std::to_string(env.server("connect_proxy").port) + "\"";
    struct Case {
        const char* server;
        const char* mode;
        Protocol protocol;
        std::optional<std::string> alpn;
    };
    const Case cases[] = {
        {"nginx_h2", "alpn", Protocol::h2, "h2"},
        {"nginx_h2", "http1", Protocol::http1_1, "http/1.1"},
        {"h2_noalpn", "prior-knowledge-alpn", Protocol::h2, std::nullopt},
        {"h2_noalpn", "prior-knowledge", Protocol::h2, std::nullopt},
    };
    for (const auto& b : backends()) {
        for (const auto& k : cases) {
            INFO("backend ", b, ", mode ", std::string(k.mode), ", via proxy to ", std::string(k.server));
            const std::size_t before = proxy_connects(env, k.server);
            Client c = make_client(client_json(b, k.mode, env.ca_file(), proxy));
            Result r = c.send({.method = "GET", .url = hello_url(env, k.server)});
            INFO(r.error.message());
            REQUIRE(r);
            CHECK(r.response.status == 200);
            CHECK(r.response.body == env.server(k.server).body + "\n");
            CHECK(r.response.info.protocol == k.protocol);
            CHECK(r.response.info.alpn_selected == k.alpn);
            CHECK(r.response.info.backend == b);
            CHECK(wait_for([&] { return proxy_connects(env, k.server) == before + 1; }));
        }
    }
}

TEST_CASE("a dead proxy: connect_failed naming the proxy, and the Client stays usable") {
    const FixtureEnv& env = fixture();
    // A port nobody listens on: bound (so nobody else takes it) but not listening.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    const std::string dead = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    const std::string direct = "127.0.0.1:" + std::to_string(env.server("nginx_h2").port);

    for (const auto& b : backends()) {
        INFO("backend ", b);
        Client c = make_client(client_json(
            b, "alpn", env.ca_file(),
            R"("proxy": "http://)" + dead + R"(", "no_proxy": [")" + direct + R"("])"));
        const auto t0 = std::chrono::steady_clock::now();
        Result r = c.send({.method = "GET", .url = hello_url(env, "h2_noalpn")});
        CHECK_FALSE(r);
        CHECK(r.error.code == net::errc::connect_failed);
        INFO(r.error.message());
        CHECK(r.error.message().find("proxy " + dead) != std::string::npos);
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));

        // Still usable: an origin the proxy is not used for works.
        Result ok = c.send({.method = "GET", .url = hello_url(env, "nginx_h2")});
        INFO(ok.error.message());
        REQUIRE(ok);
        CHECK(ok.response.body == env.server("nginx_h2").body + "\n");
        CHECK(ok.response.info.protocol == Protocol::h2);
    }
    ::close(fd);
}
