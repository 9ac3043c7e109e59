// The "config" error category and diagnostics.
#include <connmatrix/config.hpp>

namespace connmatrix::config {
namespace {

class Category final : public std::error_category {
public:
    const char* name() const noexcept override { return "config"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::file_unreadable: return "configuration file cannot be read";
            case errc::file_too_large: return "configuration file is too large";
            case errc::syntax_error: return "configuration is not valid JSON";
            case errc::duplicate_key: return "duplicate key";
            case errc::unknown_key: return "unknown key";
            case errc::missing_key: return "missing key";
            case errc::wrong_type: return "wrong type";
            case errc::invalid_value: return "invalid value";
            case errc::bad_duration: return "not a duration";
            case errc::bad_pattern: return "not a host pattern";
            case errc::bad_proxy: return "not a proxy URL";
            case errc::unknown_mode: return "unknown mode";
            case errc::backend_not_compiled_in: return "TLS backend not compiled into this build";
            case errc::contradiction: return "contradictory settings";
            case errc::duplicate_rule: return "duplicate host rule";
            case errc::internal: return "internal error while loading the configuration";
        }
        return "unknown config error " + std::to_string(ev);
    }
};

}  // namespace

const std::error_category& category() noexcept {
    static const Category c;  // immutable, like std::generic_category()
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
