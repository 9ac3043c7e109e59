// connmatrix/config.hpp - loading and checking the JSON configuration.
//
// The format (configs/connmatrix.schema.json describes it for editors):
//
//   {
//     "$schema": "connmatrix.schema.json",          (optional, ignored)
//     "description": "what this file is for",        (optional, anywhere a comment helps)
//     "defaults": { <policy fields>, "no_proxy": ["*.internal", "10.0.0.1"] },
//     "hosts": [
//       { "match": "api.example.com", "description": "...", <policy fields> },
//       { "match": ["https://*.example.com:8443", "[::1]"], <policy fields> }
//     ]
//   }
//
//   policy fields: "mode", "backend", "alpn", "no_alpn", "fallback", "remember", "cleartext",
//                  "tls": {"verify", "ca_file", "min_version", "sni", "resumption", "early_data", "early_data_methods", "pin", ...},
//                  "timeouts": {"connect", "tls", "request", "idle"},
//                  "pool": {"max_connections_per_host", "max_idle_per_host", "max_concurrent_streams"},
//                  "proxy": "http://host:port" or false
//
// Validation is strict and complete: unknown keys (with a did-you-mean), duplicate keys, wrong
// types, unknown modes and backends, backends not compiled into this build, bad durations,
// patterns and proxy URLs, duplicate rules, and contradictions are all reported at once, each
// with its JSON path ("hosts[2].backend") and line:column. A rule whose every pattern names a
// scheme is scheme-only: `cleartext` on an https:// rule, or TLS settings on an http:// rule,
// are contradictions. A relative tls.ca_file is taken relative to the config file's directory.
//
// Exceptions never escape: every failure is a Diagnostic in category "config".
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/errors/config.hpp>
#include <connmatrix/export.hpp>
#include <connmatrix/policy.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace connmatrix::config {

// ---------------------------------------------------------------------------------------------
// Errors: category "config", in connmatrix/errors/config.hpp.

// Config files larger than this are rejected before parsing.
inline constexpr std::size_t max_file_size = 1024 * 1024;

// One problem, with where it is.
struct CONNMATRIX_API Diagnostic {
    std::error_code code;
    std::string path;      // JSON path: "hosts[2].backend", "defaults.tls", "" for the document
    std::string message;   // "\"wolfssl\" is not compiled into this build (available: openssl)"
    std::string source;    // file name, or "<string>"
    unsigned line = 0;     // 1-based; 0 when unknown
    unsigned column = 0;   // 1-based, in characters; 0 when unknown

    // "hosts[2].backend: \"wolfssl\" is not compiled into this build (available: openssl)"
    std::string describe() const;
    // "cfg.json:14:18: hosts[2].backend: ..." (location parts omitted when unknown)
    std::string to_string() const;
    Error to_error() const;  // {code, describe(), 0, "config"}
};

struct CONNMATRIX_API LoadResult {
    std::optional<policy::Config> config;  // set if and only if errors is empty
    std::vector<Diagnostic> errors;        // every problem found, in document order

    explicit operator bool() const noexcept { return config.has_value(); }
    std::string report() const;  // every error's to_string(), one per line
    Error error() const;         // the first error, with report() as detail; no error when ok
};

// Load a configuration from a file or from text. The BuildInfo says which backends exist; the
// overloads without one use policy::BuildInfo::compiled_in().
CONNMATRIX_API LoadResult load_file(const std::string& path, const policy::BuildInfo& build);
CONNMATRIX_API LoadResult load_file(const std::string& path);
CONNMATRIX_API LoadResult load_string(std::string_view json, std::string_view source_name,
                       const policy::BuildInfo& build);
CONNMATRIX_API LoadResult load_string(std::string_view json, std::string_view source_name = "<string>");

// The name of the environment variable that names a configuration file.
inline constexpr const char* environment_variable = "CONNMATRIX_CONFIG";

// For APIs given no configuration: the file named by $CONNMATRIX_CONFIG (read now, at each
// call), or, when it is unset or empty, the built-in defaults (an empty Config, source
// "<built-in>").
CONNMATRIX_API LoadResult from_environment(const policy::BuildInfo& build);
CONNMATRIX_API LoadResult from_environment();

// The semantic checks load_* run after parsing, for a Config built by hand: backends, modes'
// contradictions, duplicate rules, pattern/scheme conflicts. Paths name the JSON fields the
// Config would have been written with; no line numbers.
CONNMATRIX_API std::vector<Diagnostic> check(const policy::Config& cfg, const policy::BuildInfo& build);

}  // namespace connmatrix::config
