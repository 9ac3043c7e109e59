// The "config" error category and diagnostics.
#include <connmatrix/config.hpp>

#include <iterator>

namespace connmatrix::config {
namespace {

constexpr ErrorEntry entries[] = {
    {"file_unreadable", "configuration file cannot be read"},
    {"file_too_large", "configuration file is too large"},
    {"syntax_error", "configuration is not valid JSON"},
    {"duplicate_key", "duplicate key"},
    {"unknown_key", "unknown key"},
    {"missing_key", "missing key"},
    {"wrong_type", "wrong type"},
    {"invalid_value", "invalid value"},
    {"bad_duration", "not a duration"},
    {"bad_pattern", "not a host pattern"},
    {"bad_proxy", "not a proxy URL"},
    {"unknown_mode", "unknown mode"},
    {"backend_not_compiled_in", "TLS backend not compiled into this build"},
    {"contradiction", "contradictory settings"},
    {"duplicate_rule", "duplicate host rule"},
    {"internal", "internal error while loading the configuration"},
};
static_assert(std::size(entries) == static_cast<std::size_t>(errc::internal));
static_assert(names_every_enumerator<errc, std::size(entries)>(), "name every config::errc here");

}  // namespace

const ErrorCategory& category() noexcept {
    static const ErrorCategory c{"config", entries};  // immutable, like std::generic_category()
    return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

std::string Diagnostic::describe() const {
    if (path.empty()) return message;
    return path + ": " + message;
}

std::string Diagnostic::to_string() const {
    std::string out;
    if (!source.empty()) out += source + ":";
    if (line != 0) {
        out += std::to_string(line) + ":";
        if (column != 0) out += std::to_string(column) + ":";
    }
    if (!out.empty()) out += " ";
    return out + describe();
}

Error Diagnostic::to_error() const { return Error(code, describe(), 0, "config"); }

std::string LoadResult::report() const {
    std::string out;
    for (const auto& d : errors) out += d.to_string() + "\n";
    return out;
}

Error LoadResult::error() const {
    if (errors.empty()) return {};
    std::string detail = report();
    if (!detail.empty() && detail.back() == '\n') detail.pop_back();
    return Error(errors.front().code, std::move(detail), 0, "config");
}

}  // namespace connmatrix::config
