// connmatrix/errors/config.hpp - the errors of loading and checking a configuration: category
// "config". Error::origin is "config"; Error::detail names the JSON path (and line:column).
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::config {

enum class errc {
    file_unreadable = 1,      // the file could not be opened or read (the OS reason in the message)
    file_too_large,           // over max_file_size
    syntax_error,             // not JSON
    duplicate_key,            // the same key twice in one object
    unknown_key,              // a key the format does not have
    missing_key,              // a required key is absent ("match")
    wrong_type,               // e.g. a string where an array is expected
    invalid_value,            // right type, value out of range or malformed
    bad_duration,             // not a duration ("250ms", "3s", "1m")
    bad_pattern,              // not a host pattern
    bad_proxy,                // not an http://host:port proxy URL
    unknown_mode,             // not one of the modes
    backend_not_compiled_in,  // a backend name this build does not have
    contradiction,            // values that cannot work together
    duplicate_rule,           // two rules with the same pattern (same specificity)
    internal,                 // a bug: please report it
};

CONNMATRIX_API const ErrorCategory& category() noexcept;
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::config

template <>
struct std::is_error_code_enum<connmatrix::config::errc> : std::true_type {};
