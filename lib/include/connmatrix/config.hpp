/// \file
/// Loading and checking the JSON configuration.
///
/// The format (configs/connmatrix.schema.json describes it for editors):
///
/// ```
///   {
///     "$schema": "connmatrix.schema.json",          (optional, ignored)
///     "description": "what this file is for",        (optional, anywhere a comment helps)
///     "defaults": { <policy fields>, "no_proxy": ["*.internal", "10.0.0.1"] },
///     "hosts": [
///       { "match": "api.example.com", "description": "...", <policy fields> },
///       { "match": ["https://*.example.com:8443", "[::1]"], <policy fields> }
///     ]
///   }
///
///   policy fields: "mode", "backend", "alpn", "no_alpn", "fallback", "remember", "cleartext",
///                  "on_http11_required",
///                  "tls": {"verify", "ca_file", "min_version", "max_version", "sni",
///                          "resumption", "early_data", "early_data_methods", "pin",
///                          "client_cert", "client_key", "client_key_password_file",
///                          "client_key_password_env"},
///                  "timeouts": {"connect", "tls", "request", "idle"},
///                  "pool": {"max_connections_per_host", "max_idle_per_host", "max_concurrent_streams",
///                           "ping_interval", "ping_timeout", "max_connection_age"},
///                  "proxy": "http://host:port" or false
/// ```
///
/// Each field is the policy::Policy member of the same name (policy::Overrides is what one
/// object writes); how `defaults`, the modes and the rules combine is in connmatrix/policy.hpp.
///
/// Validation is strict and complete: unknown keys (with a did-you-mean), duplicate keys, wrong
/// types, unknown modes and backends, backends not compiled into this build, bad durations,
/// patterns and proxy URLs, duplicate rules, and contradictions are all reported at once, each
/// with its JSON path ("hosts[2].backend") and line:column. A rule whose every pattern names a
/// scheme is scheme-only: `cleartext` on an https:// rule, or TLS settings on an http:// rule,
/// are contradictions. A relative tls.ca_file is taken relative to the config file's directory.
///
/// Exceptions never escape: every failure is a Diagnostic in category "config".
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

/// Config files larger than this (1 MiB) are rejected before parsing (errc::file_too_large).
inline constexpr std::size_t max_file_size = 1024 * 1024;

/// One problem, with where it is.
struct CONNMATRIX_API Diagnostic {
    std::error_code code;  ///< What kind of problem: a config::errc.
    std::string path;      ///< JSON path: "hosts[2].backend", "defaults.tls", "" for the document.
    std::string message;   ///< "\"wolfssl\" is not compiled into this build (available: openssl)"
    std::string source;    ///< File name, or "<string>" (the `source_name` given to load_string()).
    unsigned line = 0;     ///< 1-based; 0 when unknown.
    unsigned column = 0;   ///< 1-based, in characters; 0 when unknown.

    /// The problem without its location.
    /// \return `path: message`, for example `"hosts[2].backend: \"wolfssl\" is not compiled
    ///         into this build (available: openssl)"`; only the message when path is empty.
    std::string describe() const;
    /// The problem with its location, the way compilers print theirs.
    /// \return `"cfg.json:14:18: hosts[2].backend: ..."` (location parts omitted when unknown).
    std::string to_string() const;
    /// The problem as an Error.
    /// \return `{code, describe(), 0, "config"}`.
    Error to_error() const;  // {code, describe(), 0, "config"}
};

/// What loading a configuration gave: a valid Config, or every problem found in it.
struct CONNMATRIX_API LoadResult {
    std::optional<policy::Config> config;  ///< Set if and only if errors is empty.
    std::vector<Diagnostic> errors;        ///< Every problem found, in document order.

    /// Whether the configuration is valid: `if (auto r = config::load_file(path))`.
    /// \return whether config is set.
    explicit operator bool() const noexcept { return config.has_value(); }
    /// Every problem, for people.
    /// \return every error's Diagnostic::to_string(), one per line, each ending in `\n`.
    std::string report() const;  // every error's to_string(), one per line
    /// The problems as one Error, for APIs that return one (Client::from_file() does).
    /// \return the first error's code, with report() as the detail (origin `"config"`); no
    ///         error when the configuration is valid.
    Error error() const;         // the first error, with report() as detail; no error when ok
};

/// Loads a configuration file: reads it (at most max_file_size), parses the JSON, and runs
/// every check (those of check(), and the file's own: syntax, duplicate keys, unknown keys,
/// types). Relative file names in it (`tls.ca_file`, `tls.client_cert`, `tls.client_key`,
/// `tls.client_key_password_file`) are made relative to the file's directory. Never throws;
/// safe to call from any thread.
/// \param path the file to read.
/// \param build the backends a `backend` field may name, and the default one.
/// \return the Config, or every problem found (errc::file_unreadable when it cannot be read).
CONNMATRIX_API LoadResult load_file(const std::string& path, const policy::BuildInfo& build);
/// load_file() against the backends compiled into this build (policy::BuildInfo::compiled_in()).
/// \param path the file to read.
/// \return the Config, or every problem found.
CONNMATRIX_API LoadResult load_file(const std::string& path);
/// Loads a configuration from text, with the same checks as load_file(). Relative file names
/// stay as written: relative to the process's working directory when they are opened.
/// \param json the configuration's text.
/// \param source_name what Diagnostic::source says, for messages.
/// \param build the backends a `backend` field may name, and the default one.
/// \return the Config (whose policy::Config::source is `source_name`), or every problem found.
CONNMATRIX_API LoadResult load_string(std::string_view json, std::string_view source_name,
                       const policy::BuildInfo& build);
/// load_string() against the backends compiled into this build.
/// \param json the configuration's text.
/// \param source_name what Diagnostic::source says, for messages.
/// \return the Config, or every problem found.
CONNMATRIX_API LoadResult load_string(std::string_view json, std::string_view source_name = "<string>");

/// The name of the environment variable that names a configuration file.
inline constexpr const char* environment_variable = "CONNMATRIX_CONFIG";

/// For APIs given no configuration: the file named by $CONNMATRIX_CONFIG (read now, at each
/// call), or, when it is unset or empty, the built-in defaults (an empty Config, source
/// "<built-in>"). A file that cannot be read is errc::file_unreadable, its message naming the
/// variable: never a silent fallback to the defaults.
/// \param build the backends a `backend` field may name, and the default one.
/// \return the Config, or every problem found in the file.
CONNMATRIX_API LoadResult from_environment(const policy::BuildInfo& build);
/// from_environment() against the backends compiled into this build.
/// \return the Config, or every problem found in the file.
CONNMATRIX_API LoadResult from_environment();

/// The semantic checks load_* run after parsing, for a Config built by hand: backends, modes'
/// contradictions, duplicate rules, pattern/scheme conflicts, value ranges, and that the files
/// of a client certificate can be read and its passphrase's environment variable is set.
/// Paths name the JSON fields the Config would have been written with; no line numbers. A
/// Client built from an unchecked Config does not run these: check it first.
/// \param cfg the configuration.
/// \param build the backends a `backend` field may name, and the default one.
/// \return every problem found, empty when the Config is valid.
CONNMATRIX_API std::vector<Diagnostic> check(const policy::Config& cfg, const policy::BuildInfo& build);

}  // namespace connmatrix::config
