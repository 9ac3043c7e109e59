// connmatrix: the command-line tool. Arguments with CLI11; the work in cmd_*.cpp.
//
//   connmatrix get [-v] [-n N] URL        fetch, showing how the protocol was negotiated
//   connmatrix probe URL                  every backend x every mode against one server
//   connmatrix explain [--config F] URL   the resolved policy and where each value came from
//   connmatrix check-config FILE...       validate configuration files
//   connmatrix --version                  the compiled-in backends
//
// Exit codes: see cli.hpp (Exit) and README.md.
#include "cli.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <system_error>

using namespace connmatrix;
using namespace connmatrix::cli;

namespace {

const char* const exit_codes_help =
    "Exit codes: 0 ok; 1 probe --expect mismatch or check-config found errors; 2 usage;\n"
    "3 configuration; 4 network (DNS, connect, proxy, timeout); 5 TLS; 6 protocol\n"
    "(negotiation, HTTP/1.1, HTTP/2); 7 HTTP status >= 400 with --fail; 8 local file I/O.\n"
    "Colours only on a terminal with NO_COLOR unset. $CONNMATRIX_CONFIG names a default\n"
    "configuration file.";

// The flags get and probe share; `with_negotiation`: also --backend and --mode.
struct Shared {
    std::string config, backend, mode, cacert, proxy, timeout, tls_max;
    bool insecure = false;
    std::string pinnedpubkey;
    std::string cert, key, key_pass_file, key_pass_env;
    bool tls_earlydata = false;
    std::vector<std::string> resolve, connect_to;
};

void add_shared(CLI::App& cmd, Shared& s, bool with_negotiation) {
    cmd.add_option("--config", s.config, "configuration file (default: $CONNMATRIX_CONFIG, "
                                         "else the built-in defaults)")
        ->type_name("FILE");
    if (with_negotiation) {
        cmd.add_option("--backend", s.backend,
                       "TLS backend for every host, replacing the configuration's")
            ->type_name("NAME");
        cmd.add_option("--mode", s.mode,
                       "negotiation mode for every host, replacing the configuration's "
                       "(alpn, h2-only, http1, prior-knowledge, prior-knowledge-alpn, h2-only-prior-knowledge)")
            ->type_name("MODE");
    }
    cmd.add_option("--cacert", s.cacert, "trust the CA certificates in this PEM file")
        ->type_name("FILE");
    cmd.add_flag("-k,--insecure", s.insecure, "do not verify certificates (loud warning)");
    cmd.add_option("--tls-max", s.tls_max,
                   "highest TLS version to offer, for every host: 1.2 or 1.3 (as curl's)")
        ->type_name("VERSION");
    cmd.add_option("--proxy", s.proxy, "HTTP CONNECT proxy for every host (http://host:port)")
        ->type_name("URL");
    cmd.add_option("--pinnedpubkey", s.pinnedpubkey,
                   "the server's public key must match one of these SHA-256 pins, for every host "
                   "(sha256//BASE64, several separated by ';'; checked even with --insecure)")
        ->type_name("HASHES");
    cmd.add_option("-E,--cert", s.cert,
                   "client certificate (PEM) for mutual TLS, for every host (as curl's)")
        ->type_name("FILE");
    cmd.add_option("--key", s.key, "the client certificate's private key (PEM; default: the "
                                   "--cert file)")
        ->type_name("FILE");
    cmd.add_option("--key-pass-file", s.key_pass_file,
                   "file whose first line is the passphrase of an encrypted --key")
        ->type_name("FILE");
    cmd.add_option("--key-pass-env", s.key_pass_env,
                   "environment variable holding the passphrase of an encrypted --key")
        ->type_name("NAME");
    cmd.add_flag("--tls-earlydata", s.tls_earlydata,
                 "TLS 1.3 early data (0-RTT) for every host, as curl's: a bodyless GET, HEAD or "
                 "OPTIONS on a resumed connection goes in its first flight (OpenSSL, GnuTLS)");
    cmd.add_option("--resolve", s.resolve,
                   "connect to these addresses for HOST:PORT, without DNS (as curl's; "
                   "repeatable): the policy's resolve on that host's rule")
        ->type_name("HOST:PORT:ADDR[,ADDR]")
        ->allow_extra_args(false);
    cmd.add_option("--connect-to", s.connect_to,
                   "connect to HOST2:PORT2 for requests to HOST1:PORT1, keeping SNI, Host and the "
                   "certificate check for the URL's name (as curl's; repeatable; empty HOST1 and "
                   "PORT1: every host): the policy's connect_to")
        ->type_name("HOST1:PORT1:HOST2:PORT2")
        ->allow_extra_args(false);
}

// get's flags in curl's language that set the negotiation and TLS versions (README.md, "The
// connmatrix command in curl's language").
void add_curl_protocol(CLI::App& cmd, CurlProtocolFlags& c) {
    cmd.add_flag("--http1.1", c.http1_1, "HTTP/1.1 only, as curl's: mode http1 (ALPN http/1.1)");
    cmd.add_flag("--http2", c.http2,
                 "h2 where ALPN selects it, else HTTP/1.1, as curl's: mode alpn; over http://, "
                 "an Upgrade: h2c request (cleartext h2c-upgrade)");
    cmd.add_flag("--http2-prior-knowledge", c.http2_prior_knowledge,
                 "h2 only, as curl 8.10+: over TLS ALPN h2 offered and h2 spoken whether the server "
                 "selects h2 or nothing (mode h2-only-prior-knowledge; with --no-alpn, mode "
                 "prior-knowledge); over http://, h2c by prior knowledge");
    cmd.add_flag("--no-alpn", c.no_alpn,
                 "send no ALPN extension, for every host (alpn []): HTTP/1.1 unless the mode speaks "
                 "h2 without ALPN");
    cmd.add_flag("--tlsv1.2", c.tlsv1_2, "TLS 1.2 or later, for every host (tls.min_version 1.2, "
                                         "the default)");
    cmd.add_flag("--tlsv1.3", c.tlsv1_3, "TLS 1.3 only, for every host (tls.min_version 1.3)");
}

PolicyFlags to_flags(const Shared& s, const CurlProtocolFlags* curl) {
    PolicyFlags f;
    if (curl) {  // get: --backend, --mode and the curl protocol flags
        if (!s.backend.empty()) f.backend = require_backend(s.backend);
        CurlProtocolFlags c = *curl;
        c.mode = s.mode;
        c.tls_max = s.tls_max;
        require_protocol_flags(c, f);
    } else if (!s.tls_max.empty()) {
        f.tls_max = require_tls_version(s.tls_max, "--tls-max");
    }
    if (!s.cacert.empty()) f.ca_file = require_ca_file(s.cacert);
    f.insecure = s.insecure;
    if (!s.proxy.empty()) f.proxy = require_proxy(s.proxy);
    if (!s.pinnedpubkey.empty()) f.pins = require_pins(s.pinnedpubkey);
    f.client = require_client_identity(s.cert, s.key, s.key_pass_file, s.key_pass_env);
    f.early_data = s.tls_earlydata;
    for (const auto& r : s.resolve) f.hosts.push_back(require_resolve(r));
    for (const auto& c : s.connect_to) f.hosts.push_back(require_connect_to(c));
    return f;
}

// The flags of curl's that connmatrix has no counterpart for, taken so that using one says so
// (exit 2) instead of "unknown flag".
struct Unsupported {
    bool location = false;
    int max_redirs = -2;  // -2: not given
    bool compressed = false;

    void add(CLI::App& cmd) {
        cmd.add_flag("-L,--location", location,
                     "not supported: connmatrix does not follow redirects (the 3xx is the answer)");
        cmd.add_option("--max-redirs", max_redirs, "not supported: connmatrix does not follow "
                                                   "redirects")
            ->type_name("N");
        cmd.add_flag("--compressed", compressed,
                     "not supported: connmatrix does not decode Content-Encoding");
    }
    void check() const {
        if (location || max_redirs != -2)
            throw Failure(exit_usage,
                          std::string(location ? "-L/--location" : "--max-redirs") +
                              ": not supported: connmatrix does not follow redirects; a 3xx answer "
                              "is the response (its Location header shows with -i or -v)");
        if (compressed)
            throw Failure(exit_usage, "--compressed: not supported: connmatrix does not decode "
                                      "Content-Encoding (send Accept-Encoding with -H to get the "
                                      "encoded body as is)");
    }
};

// --retry-delay, --retry-max-time: a time, or 0 (curl's "unset": the default backoff, no limit).
std::optional<std::chrono::milliseconds> retry_time(const std::string& text, const char* flag) {
    if (text.empty() || text == "0") return std::nullopt;
    return require_timeout(text, flag);
}

// CLI11's message, on one line, with what to do.
std::string one_line(std::string m) {
    for (auto& c : m)
        if (c == '\n') c = ' ';
    while (!m.empty() && m.back() == ' ') m.pop_back();
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"connmatrix: HTTP requests whose protocol negotiation (ALPN, h2 prior knowledge, "
                 "fallback) is a per-host policy, over OpenSSL, GnuTLS or mbedTLS.",
                 "connmatrix"};
    app.set_version_flag("--version", [] { return version_text(); },
                         "show the version, the compiled-in TLS backends and the default backend");
    app.require_subcommand(0, 1);
    app.footer(std::string("Examples:\n"
                           "  connmatrix get -v https://example.com/\n"
                           "  connmatrix probe https://127.0.0.1:8443/\n"
                           "  connmatrix explain --config configs/low-latency-api.json "
                           "https://api.example.com/\n"
                           "  connmatrix check-config configs/*.json\n"
                           "Run `connmatrix COMMAND --help` for each command's options.\n\n") +
               exit_codes_help);

    // --- get ----------------------------------------------------------------------------------
    GetOptions get;
    Shared get_shared;
    std::string get_timeout;
    auto* cmd_get = app.add_subcommand("get", "fetch a URL, like curl; -v shows the negotiation");
    cmd_get->add_option("url", get.url, "http:// or https:// URL")->required();
    cmd_get->add_option("-X,--request", get.method, "method (default GET, POST with a body)")
        ->type_name("METHOD");
    cmd_get->add_option("-H,--header", get.headers, "request header \"Name: value\" (repeatable)")
        ->type_name("HEADER")
        ->allow_extra_args(false);
    cmd_get->add_option("-d,--data", get.data,
                        "request body (@FILE reads a file), as a form (POST)")
        ->type_name("DATA");
    cmd_get->add_option("--data-binary", get.data_binary, "request body as is (@FILE reads a file)")
        ->type_name("DATA");
    cmd_get->add_option("-o,--output", get.output, "write the body to FILE instead of stdout")
        ->type_name("FILE");
    cmd_get->add_flag("-i,--include", get.include, "print the status line and headers before the body");
    cmd_get->add_option("--dns-servers", get.dns_servers,
                        "ask these name servers instead of /etc/resolv.conf's (as curl's)")
        ->type_name("ADDR[:PORT][,ADDR[:PORT]]")
        ->delimiter(',')
        ->allow_extra_args(false);
    add_shared(*cmd_get, get_shared, true);
    cmd_get->add_option("--timeout", get_timeout,
                        "give up after this long: seconds (5, 2.5) or a duration (250ms, 3s)")
        ->type_name("TIME");
    cmd_get->add_flag("-v,--verbose", get.verbose,
                      "on stderr: rule, backend, ALPN offered and selected, protocol, TLS, "
                      "timings; -vv adds the library's debug log");
    cmd_get->add_option("-n,--repeat", get.repeat,
                        "send the request N times on the pooled connection and print a timings "
                        "summary")
        ->type_name("N")
        ->check(CLI::Range(1, 100000));
    cmd_get->add_flag("-f,--fail", get.fail, "exit 7 when the status is 400 or more");
    CurlProtocolFlags get_curl;
    add_curl_protocol(*cmd_get, get_curl);
    std::string get_write_out, get_retry_delay, get_retry_max_time;
    cmd_get->add_option("-w,--write-out", get_write_out,
                        "after each transfer, print FORMAT on stdout with its %{variables} "
                        "replaced, as curl's (@FILE reads it from a file; %{json} gives them all)")
        ->type_name("FORMAT");
    cmd_get->add_flag("-s,--silent", get.silent, "no error message and no warnings on stderr (the "
                                                 "exit code still says what happened)");
    cmd_get->add_flag("-S,--show-error", get.show_error, "with -s, show the error message again");
    cmd_get->add_option("--retry", get.retry,
                        "retry a transient failure (a timeout, DNS, HTTP 408, 429, 500, 502, "
                        "503, 504) up to N times, waiting 1 s, then twice as long each time, as "
                        "curl's")
        ->type_name("N")
        ->check(CLI::Range(0, 1000000));
    cmd_get->add_option("--retry-delay", get_retry_delay,
                        "wait this long between retries instead (seconds or 250ms, 3s; 0: the "
                        "default backoff)")
        ->type_name("TIME");
    cmd_get->add_option("--retry-max-time", get_retry_max_time,
                        "make no retry that would end later than this after the first try (0: no "
                        "limit)")
        ->type_name("TIME");
    std::string get_expect100;
    cmd_get->add_option("--expect100-timeout", get_expect100,
                        "with -H 'Expect: 100-continue', HTTP/1.1: wait this long for the 100 "
                        "before sending the body anyway (seconds or 250ms, 3s; default 1 s, as "
                        "curl's; 0: no wait)")
        ->type_name("TIME");
    cmd_get->add_flag("--retry-connrefused", get.retry_connrefused,
                      "with --retry, a refused connection is transient too");
    cmd_get->add_flag("--retry-all-errors", get.retry_all_errors,
                      "with --retry, every error is transient (with --fail, every status >= 400)");
    Unsupported get_unsupported;
    get_unsupported.add(*cmd_get);
    cmd_get->footer(std::string(
        "Examples:\n"
        "  connmatrix get https://example.com/\n"
        "  connmatrix get -v --mode prior-knowledge-alpn --backend gnutls https://127.0.0.1:8443/\n"
        "  connmatrix get -n 20 --config configs/low-latency-api.json https://api.example.com/v1/time\n"
        "  connmatrix get -X POST -H 'Content-Type: application/json' --data-binary @req.json "
        "--fail https://api.example.com/v1/orders\n"
        "  connmatrix get -s -o /dev/null -w '%{http_version} %{alpn} %{time_appconnect}\\n' "
        "--http2-prior-knowledge https://127.0.0.1:8443/\n"
        "  connmatrix get --retry 3 --fail -w '%{json}' https://api.example.com/v1/time\n"
        "--backend and --mode replace what the configuration says for every host; its other\n"
        "settings (TLS, timeouts, proxy, pool) still apply.\n\n") + exit_codes_help);

    // --- probe --------------------------------------------------------------------------------
    ProbeOptions probe;
    Shared probe_shared;
    std::string probe_timeout = "5s";
    auto* cmd_probe = app.add_subcommand(
        "probe", "try every compiled backend x every mode against one server, each on a fresh "
                 "connection, and print the matrix");
    cmd_probe->add_option("url", probe.url, "http:// or https:// URL")->required();
    cmd_probe->add_option("--backends", probe.backends, "only these backends (comma-separated)")
        ->type_name("LIST")
        ->delimiter(',')
        ->allow_extra_args(false);
    cmd_probe->add_option("--modes", probe.modes,
                          "only these modes (comma-separated); \"config\" = the configuration's "
                          "own negotiation for the URL")
        ->type_name("LIST")
        ->delimiter(',')
        ->allow_extra_args(false);
    cmd_probe->add_option("--tls", probe.tls_versions,
                          "add a TLS version axis: a cell per backend x mode x tls.max_version "
                          "(comma-separated: 1.2,1.3)")
        ->type_name("LIST")
        ->delimiter(',')
        ->allow_extra_args(false);
    add_shared(*cmd_probe, probe_shared, false);
    cmd_probe->add_flag("--json", probe.json, "print the results as JSON");
    cmd_probe->add_option("--expect", probe.expect,
                          "compare with an expected matrix (the --json shape; only the fields "
                          "given are compared); exit 1 listing every differing cell")
        ->type_name("FILE");
    cmd_probe->add_option("--junit", probe.junit,
                          "write JUnit XML: one test case per cell, a failure where --expect differs")
        ->type_name("FILE");
    cmd_probe->add_option("--html", probe.html,
                          "write the matrix as one self-contained HTML page: a table of backends "
                          "by modes, each cell coloured by its outcome, the full error and "
                          "timings on hover, --expect differences marked")
        ->type_name("FILE");
    cmd_probe->add_option("--parallel", probe.parallel, "cells run at once (default 4)")
        ->type_name("N");
    cmd_probe->add_option("--timeout", probe_timeout,
                          "per cell, for the whole exchange (default 5s)")
        ->type_name("TIME");
    cmd_probe->add_flag("-v,--verbose", probe.verbose,
                        "after the table, every error in full, each server certificate's expiry "
                        "and each h2 server's SETTINGS");
    cmd_probe->add_flag("--resumption", probe.resumption,
                        "make a second connection per cell and report whether the TLS session "
                        "resumed (a `resumed` column; `resumed` in --json)");
    cmd_probe->footer(std::string(
        "Examples:\n"
        "  connmatrix probe https://127.0.0.1:8443/\n"
        "  connmatrix probe --backends openssl,gnutls --modes alpn,prior-knowledge-alpn "
        "https://api.example.com/\n"
        "  connmatrix probe --json https://127.0.0.1:8443/ > matrix.json\n"
        "  connmatrix probe --tls 1.2,1.3 --modes alpn https://127.0.0.1:8443/\n"
        "  connmatrix probe --expect expected.json --junit probe.xml --cacert ca.pem "
        "https://staging.example.com/\n"
        "  connmatrix probe --html matrix.html --tls 1.2,1.3 https://127.0.0.1:8443/\n"
        "Each cell is a fresh Client whose defaults set the cell's backend and mode; with\n"
        "--config, the file's other settings (TLS, timeouts, proxy) apply, its rules' backend\n"
        "and negotiation axes are replaced, and a \"config\" column shows the file's own choice.\n"
        "Exit 0 when the probe ran (failing cells are results), 1 when --expect differs, 4\n"
        "when no cell could connect.\n\n") + exit_codes_help);

    // --- explain ------------------------------------------------------------------------------
    std::string explain_config, explain_url;
    bool explain_json = false;
    auto* cmd_explain = app.add_subcommand(
        "explain", "print the policy for a URL and where each value came from");
    cmd_explain->add_option("url", explain_url, "URL or host[:port]")->required();
    cmd_explain->add_option("--config", explain_config,
                            "configuration file (default: $CONNMATRIX_CONFIG, else built-in)")
        ->type_name("FILE");
    cmd_explain->add_flag("--json", explain_json, "print JSON");
    cmd_explain->footer(std::string(
        "Examples:\n"
        "  connmatrix explain https://example.com/\n"
        "  connmatrix explain --config configs/low-latency-api.json https://payments.example.com/\n"
        "  connmatrix explain --json --config my.json https://api.example.com:8443/ | jq .settings.alpn\n\n") +
        exit_codes_help);

    // --- check-config -------------------------------------------------------------------------
    std::vector<std::string> check_files;
    bool check_all_backends = false;
    auto* cmd_check = app.add_subcommand(
        "check-config", "validate configuration files: every error with its JSON path and line");
    cmd_check->add_option("files", check_files, "configuration files")->required();
    cmd_check->add_flag("--all-backends", check_all_backends,
                        "accept every backend connmatrix has, not only those compiled in");
    cmd_check->footer(std::string(
        "Examples:\n"
        "  connmatrix check-config my.json\n"
        "  connmatrix check-config --all-backends configs/*.json\n"
        "Exit 0 when every file is valid, 1 when any is not (each error as\n"
        "FILE:LINE:COLUMN: JSON.PATH: message).\n\n") + exit_codes_help);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
        std::fprintf(stderr, "connmatrix: %s (see `connmatrix%s --help`)\n",
                     one_line(e.what()).c_str(),
                     [&]() -> std::string {
                         for (auto* sub : app.get_subcommands())
                             return " " + sub->get_name();
                         return "";
                     }()
                         .c_str());
        return exit_usage;
    }

    // get -s: the error line only with -S (curl's rule); usage errors (exit 2) are always
    // shown, as curl shows its option errors.
    const bool errors_shown = !app.got_subcommand(cmd_get) || get.errors_shown();
    try {
        if (app.got_subcommand(cmd_get)) {
            get_unsupported.check();
            get.flags = to_flags(get_shared, &get_curl);
            if (!get_write_out.empty())
                get.write_out = get_write_out[0] == '@'
                                    ? read_input_file(get_write_out.substr(1), "-w")
                                    : get_write_out;
            get.retry_delay = retry_time(get_retry_delay, "--retry-delay");
            get.retry_max_time = retry_time(get_retry_max_time, "--retry-max-time");
            if (!get_timeout.empty()) get.flags.timeout = require_timeout(get_timeout, "--timeout");
            if (get_expect100 == "0")
                get.expect100_timeout = std::chrono::milliseconds(0);
            else if (!get_expect100.empty())
                get.expect100_timeout = require_timeout(get_expect100, "--expect100-timeout");
            get.config = get_shared.config;
            return run_get(get);
        }
        if (app.got_subcommand(cmd_probe)) {
            probe.flags = to_flags(probe_shared, nullptr);
            probe.timeout = require_timeout(probe_timeout, "--timeout");
            probe.config = probe_shared.config;
            return run_probe(probe);
        }
        if (app.got_subcommand(cmd_explain)) return run_explain(explain_config, explain_url, explain_json);
        if (app.got_subcommand(cmd_check)) return run_check_config(check_files, check_all_backends);
        std::fputs(app.help().c_str(), stderr);
        std::fprintf(stderr, "connmatrix: a command is needed: get, probe, explain or check-config\n");
        return exit_usage;
    } catch (const Failure& f) {
        std::fflush(stdout);
        if (errors_shown || f.code == exit_usage)
            std::fprintf(stderr, "connmatrix: %s\n", f.what());
        return f.code;
    } catch (const std::system_error& e) {  // a Client that refused to start (its key log file,
                                            // a client certificate it cannot load)
        std::fflush(stdout);
        if (errors_shown)
            std::fprintf(stderr, "connmatrix: %s [%s]\n", e.what(), error_name(e.code()).c_str());
        return exit_code_for(Error{e.code(), std::string()});
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "connmatrix: internal error: %s (please report it)\n", e.what());
        return exit_check_failed;
    }
}
