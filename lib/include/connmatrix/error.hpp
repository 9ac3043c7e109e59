// connmatrix/error.hpp - the error value every layer returns.
//
// Each module owns one std::error_category (tls, negotiate, http2, http1, net, pool, config);
// its enum and make_error_code live in that module's public header. `Error` carries the code
// plus what a user needs to act on it: the text of the underlying library (OpenSSL, GnuTLS,
// mbedTLS, nghttp2, the OS) and that library's own numeric code, so it can be searched for.
#pragma once

#include <string>
#include <system_error>

namespace connmatrix {

struct Error {
    std::error_code code;      // ours: category says which module, value which failure
    std::string detail;        // the underlying library's own message (may be empty)
    long library_code = 0;     // the underlying library's own code (0 when none)
    std::string origin;        // who produced it: "openssl", "gnutls", "mbedtls", "config", ...

    Error() = default;
    Error(std::error_code c, std::string d = {}, long lib = 0, std::string o = {})
        : code(c), detail(std::move(d)), library_code(lib), origin(std::move(o)) {}

    explicit operator bool() const noexcept { return static_cast<bool>(code); }

    // "tls: certificate hostname mismatch (gnutls: The certificate is NOT trusted. ...)"
    std::string message() const {
        if (!code) return "success";
        std::string out = std::string(code.category().name()) + ": " + code.message();
        if (!detail.empty() || library_code != 0) {
            out += " (";
            if (!origin.empty()) out += origin + ": ";
            out += detail;
            if (library_code != 0) {
                if (!detail.empty()) out += ", ";
                out += "code " + std::to_string(library_code);
            }
            out += ")";
        }
        return out;
    }
};

}  // namespace connmatrix
