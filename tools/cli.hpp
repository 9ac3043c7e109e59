// cli.hpp - what the connmatrix command's subcommands share: exit codes, error names, colours,
// and turning command-line flags into a policy::Config. The tool uses the public API only.
#pragma once

#include <connmatrix/client.hpp>
#include <connmatrix/config.hpp>
#include <connmatrix/policy.hpp>

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace connmatrix::cli {

// ---------------------------------------------------------------------------------------------
// Exit codes (README.md, "The connmatrix command"). One table for every subcommand.
enum Exit : int {
    exit_ok = 0,
    exit_check_failed = 1,  // probe --expect: a cell differs; check-config: a file is invalid
    exit_usage = 2,         // bad flags or arguments: unknown flag, bad URL, unknown backend/mode
    exit_config = 3,        // a configuration (--config, $CONNMATRIX_CONFIG) or --expect file
                            // that cannot be read or is invalid
    exit_net = 4,           // DNS, connect, proxy, timeouts, connection closed (net, pool);
                            // probe: every cell failed so
    exit_tls = 5,           // the TLS handshake or certificate verification failed (tls)
    exit_protocol = 6,      // negotiation refused by the policy, HTTP/1.1 or HTTP/2 errors
    exit_http = 7,          // get --fail: the server answered with a status >= 400
    exit_local_io = 8,      // a local file: -o, --junit cannot be written, @FILE cannot be read
                            // (or changed while --data-binary streamed it)
};

// A failure that ends the command: main() prints "connmatrix: <message>" and exits with code.
struct Failure : std::runtime_error {
    int code;
    Failure(int c, const std::string& message) : std::runtime_error(message), code(c) {}
};

// The exit code for a library error, by its category.
int exit_code_for(const Error& err) noexcept;

// The one line main() prints for a failed request: the message, the name, and what to try.
std::string describe_failure(const Error& err);

// ---------------------------------------------------------------------------------------------
// Terminal output.

// Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org).
bool colour_enabled(std::FILE* stream);

struct Style {
    bool on = false;
    std::string wrap(std::string_view text, const char* sgr) const;
    std::string bold(std::string_view t) const { return wrap(t, "1"); }
    std::string red(std::string_view t) const { return wrap(t, "31"); }
    std::string green(std::string_view t) const { return wrap(t, "32"); }
    std::string yellow(std::string_view t) const { return wrap(t, "33"); }
    std::string dim(std::string_view t) const { return wrap(t, "2"); }
};

// Prints the loud --insecure warning on stderr.
void warn_insecure();

std::string format_ms(std::chrono::microseconds us);  // "3.1"

// The contents of a file named after '@' (-d @FILE, -w @FILE); "-" is standard input. Unreadable:
// Failure(exit_local_io) naming the flag and the file.
std::string read_input_file(const std::string& path, const char* flag);
std::string join(const std::vector<std::string>& v, std::string_view sep);

// ---------------------------------------------------------------------------------------------
// Flags shared by get, probe and explain.

// The compiled-in backends' names, and checks that name a backend or mode, or fail with
// exit_usage and a message listing what exists.
std::vector<std::string> backend_names();
std::string require_backend(const std::string& name);
policy::Mode require_mode(const std::string& name);

// Checks a URL as the Client will see it (http:// or https://, a host): exit_usage otherwise.
policy::Origin require_url(const std::string& url);

// "5", "2.5" (seconds, like curl), or "250ms", "3s", "1m".
std::chrono::milliseconds require_timeout(const std::string& text, const char* flag);

// The configuration: --config FILE, else the file named by $CONNMATRIX_CONFIG, else the built-in
// defaults (source "<built-in>"). Invalid or unreadable: Failure(exit_config) with every error.
policy::Config load_config(const std::string& path);
bool config_is_builtin(const policy::Config& cfg);

// What the command line says about the policy. Flags beat the file: a flag replaces the value in
// `defaults` and removes it from every host rule, so it applies to every origin; the rest of the
// file (other axes, rules' other settings) still applies.
struct PolicyFlags {
    std::optional<std::string> backend;   // --backend: replaces every rule's backend
    std::optional<policy::Mode> mode;     // --mode (or --http1.1, --http2, --http2-prior-knowledge):
                                          // replaces mode, alpn, no_alpn, fallback, remember
                                          // and cleartext everywhere
    std::optional<policy::Cleartext> cleartext;  // --http2: h2c-upgrade on http://, everywhere
    bool no_alpn = false;                 // --no-alpn: alpn [] everywhere (no ALPN extension)
    std::optional<std::string> ca_file;   // --cacert (made absolute)
    bool insecure = false;                // -k: tls.verify false everywhere
    std::optional<policy::ProxyEndpoint> proxy;  // --proxy
    std::optional<std::chrono::milliseconds> timeout;  // --timeout: caps connect, tls, request
    std::optional<std::vector<std::string>> pins;      // --pinnedpubkey: tls.pin everywhere
    std::optional<policy::TlsVersion> tls_min;  // --tlsv1.2, --tlsv1.3: tls.min_version everywhere
    std::optional<policy::TlsVersion> tls_max;  // --tls-max: tls.max_version everywhere
    std::optional<policy::ClientIdentity> client;  // --cert/--key/--key-pass-*: everywhere
    bool early_data = false;  // --tls-earlydata: tls.early_data true everywhere
    // --resolve HOST:PORT:ADDR[,ADDR] and --connect-to HOST1:PORT1:HOST2:PORT2 (curl's), in
    // command-line order: `resolve` / `connect_to` on the host rule for `pattern` (a rule
    // written with that host and port, else a new one carrying the settings of the rule that
    // applied to it); `pattern` empty: every host (connect_to in defaults).
    struct HostOverride {
        std::string flag;     // "--resolve HOST:PORT:ADDR", for messages
        std::string pattern;  // "api.example.com:443", "api.example.com" (any port), ""
        std::vector<std::string> resolve;
        std::optional<policy::ConnectTo> connect_to;
    };
    std::vector<HostOverride> hosts;
};

// --tls-max, probe --tls: "1.2" or "1.3" (curl's spelling). exit_usage otherwise.
policy::TlsVersion require_tls_version(const std::string& text, const char* flag);

// get's flags in curl's language (README.md, "The connmatrix command in curl's language"), as
// given on the command line; require_protocol_flags() turns them into PolicyFlags.
struct CurlProtocolFlags {
    bool http1_1 = false;                // --http1.1
    bool http2 = false;                  // --http2
    bool http2_prior_knowledge = false;  // --http2-prior-knowledge
    bool no_alpn = false;                // --no-alpn
    bool tlsv1_2 = false, tlsv1_3 = false;  // --tlsv1.2, --tlsv1.3
    std::string mode;                    // --mode
    std::string tls_max;                 // --tls-max
};
// Sets mode, cleartext, no_alpn, tls_min and tls_max in `out`. Two HTTP version flags, one with
// --mode, both --tlsv1.2 and --tlsv1.3, a --tls-max below the --tlsv1.x minimum, or --no-alpn
// with a mode that fails without ALPN: Failure(exit_usage) naming both flags.
void require_protocol_flags(const CurlProtocolFlags& in, PolicyFlags& out);

// --proxy: "http://host:port". exit_usage otherwise.
policy::ProxyEndpoint require_proxy(const std::string& url);
// --resolve "HOST:PORT:ADDR[,ADDR...]" (ADDR an IP address, IPv6 in brackets or not) and
// --connect-to "HOST1:PORT1:HOST2:PORT2" (HOST1 and PORT1 both empty: every host; HOST1 alone:
// any port; HOST2 and PORT2 required). exit_usage otherwise, naming what is wrong.
PolicyFlags::HostOverride require_resolve(const std::string& text);
PolicyFlags::HostOverride require_connect_to(const std::string& text);
// --cacert: the file must be readable. exit_usage otherwise.
std::string require_ca_file(const std::string& path);
// --pinnedpubkey: "sha256//A;sha256//B" (curl's form and separator), each a valid pin.
// exit_usage otherwise (curl's file form is not taken).
std::vector<std::string> require_pins(const std::string& list);
// --cert, --key (default: the --cert file), --key-pass-file, --key-pass-env; nullopt when none
// is given. Without --cert the others are a usage error.
std::optional<policy::ClientIdentity> require_client_identity(const std::string& cert,
                                                               const std::string& key,
                                                               const std::string& pass_file,
                                                               const std::string& pass_env);

// The Config with the flags applied, checked with config::check() (exit_config if the result is
// contradictory, which only a contradictory file can cause).
policy::Config apply_flags(policy::Config cfg, const PolicyFlags& flags);

// ---------------------------------------------------------------------------------------------
// The subcommands. Each returns the process exit code or throws Failure.

struct GetOptions {
    std::string url;
    std::string method;             // empty: GET, or POST when there is a body
    std::vector<std::string> headers;
    std::optional<std::string> data;         // -d
    std::optional<std::string> data_binary;  // --data-binary (@FILE reads a file)
    std::string output;             // -o
    bool include = false;           // -i
    std::string config;
    PolicyFlags flags;
    int verbose = 0;                // -v (-vv: the library's debug log too)
    int repeat = 1;                 // -n
    bool fail = false;              // --fail
    std::optional<std::string> write_out;  // -w: the format (already read from @FILE)
    bool silent = false;            // -s: no error line, no warnings
    bool show_error = false;        // -S: with -s, the error line again
    int retry = 0;                  // --retry N: transient failures are retried N times
    std::optional<std::chrono::milliseconds> retry_delay;  // --retry-delay: fixed, no backoff
    std::optional<std::chrono::milliseconds> retry_max_time;  // --retry-max-time
    bool retry_connrefused = false;  // --retry-connrefused
    bool retry_all_errors = false;   // --retry-all-errors
    std::vector<std::string> dns_servers;  // --dns-servers ADDR[,ADDR]: ClientOptions::dns.servers
    std::optional<std::chrono::milliseconds> expect100_timeout;  // --expect100-timeout
    // Whether main() prints the error line of a Failure: not under -s without -S.
    bool errors_shown() const { return !silent || show_error; }
};
int run_get(const GetOptions& o);

struct ProbeOptions {
    std::string url;
    std::vector<std::string> backends;  // empty: every compiled backend
    std::vector<std::string> modes;     // empty: every mode (and "config" when a file is given)
    std::vector<std::string> tls_versions;  // --tls: a tls.max_version axis; empty: no axis
    std::string config;
    PolicyFlags flags;                  // backend and mode unused: the cells set them
    bool json = false;
    std::string expect;
    std::string junit;
    std::string html;                   // --html FILE: the matrix as a page (probe_html.cpp)
    unsigned parallel = 4;
    std::chrono::milliseconds timeout{5000};  // per cell
    int verbose = 0;
    bool resumption = false;  // a second connection per cell: did the TLS session resume?
};
int run_probe(const ProbeOptions& o);

// Escapes text for XML and HTML, in content and in quoted attribute values (--junit, --html).
std::string xml_escape(std::string_view s);
// Writes a whole file (--junit, --html): Failure(exit_local_io) naming the flag, the path and the
// reason when it cannot.
void write_local_file(const std::string& path, std::string_view flag, const std::string& text);

// probe --html FILE: one self-contained HTML page (inline CSS, no script, nothing fetched) with
// the matrix of each probed URL as a table, backends by modes (by TLS versions on a --tls axis),
// one <td> per cell, its class naming the outcome. Each matrix is
//   {"url", "tls_axis": ["1.2", ...] ([]: none), "expect": FILE or null, "results": [...]},
// a result being the cell's `--json` object plus "tls_axis_value" (its --tls version or null),
// "fallback", "error_detail", "seconds", "differences" (--expect's, as stderr lists them),
// "compared" and "table" (the text table's columns for the cell, header -> value, in order).
// Failure(exit_local_io) when the file cannot be written.
void write_probe_html(const std::string& path, const std::vector<nlohmann::ordered_json>& matrices);

int run_explain(const std::string& config, const std::string& url, bool json);
int run_check_config(const std::vector<std::string>& files, bool all_backends);
std::string version_text();

}  // namespace connmatrix::cli
