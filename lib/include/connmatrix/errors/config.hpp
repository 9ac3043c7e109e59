/// \file
/// The errors of loading and checking a configuration: category `"config"`. Error::origin is
/// `"config"`; Error::detail names the JSON path (and line:column).
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/export.hpp>

#include <system_error>

namespace connmatrix::config {

/// The errors of loading and checking a configuration, numbered from 1: what load_file(),
/// load_string(), from_environment() and check() report, one Diagnostic per problem. A Client
/// that refuses to start on a bad `$CONNMATRIX_CONFIG` throws a `std::system_error` with one of
/// these; a request whose policy names a backend this build lacks ends with
/// `backend_not_compiled_in`. Each value's stable name (error_name(): `"config:<enumerator>"`)
/// and text come from config::category().
enum class errc {
    file_unreadable = 1,      ///< The file could not be opened or read (the OS reason in the
                              ///< message).
    file_too_large,           ///< Over max_file_size (1 MiB).
    syntax_error,             ///< Not JSON (JSON has no comments: use a `"description"` field).
    duplicate_key,            ///< The same key twice in one object.
    unknown_key,              ///< A key the format does not have (with a did-you-mean).
    missing_key,              ///< A required key is absent (`"match"`).
    wrong_type,               ///< For example a string where an array is expected.
    invalid_value,            ///< Right type, value out of range or malformed.
    bad_duration,             ///< Not a duration (`"250ms"`, `"3s"`, `"1m"`:
                              ///< policy::parse_duration()).
    bad_pattern,              ///< Not a host pattern (policy::HostPattern::parse()).
    bad_proxy,                ///< Not an `http://host:port` proxy URL.
    unknown_mode,             ///< Not one of the modes (policy::Mode).
    backend_not_compiled_in,  ///< A backend name this build does not have.
    contradiction,            ///< Values that cannot work together.
    duplicate_rule,           ///< Two rules with the same pattern (same specificity).
    internal,                 ///< A bug: please report it.
};

/// The `"config"` category: one immutable object for the whole program, naming every errc
/// value (ErrorCategory::enumerator()) and giving its text. Compare categories by address, as
/// with `std::generic_category()`; safe to call from any thread.
/// \return the category of every config::errc code.
CONNMATRIX_API const ErrorCategory& category() noexcept;
/// The `std::error_code` of `e`, in category(). Found by argument-dependent lookup, so that
/// `std::error_code ec = config::errc::syntax_error;` and `ec == config::errc::syntax_error` work.
/// \param e the error.
/// \return `{static_cast<int>(e), category()}`.
CONNMATRIX_API std::error_code make_error_code(errc e) noexcept;

}  // namespace connmatrix::config

/// Makes connmatrix::config::errc values convertible to `std::error_code`.
template <>
struct std::is_error_code_enum<connmatrix::config::errc> : std::true_type {};
