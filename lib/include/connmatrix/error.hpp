/// \file
/// The error value every layer returns, and the one scheme of names.
///
/// Each module owns one std::error_category (tls, negotiate, http2, http1, net, pool, config);
/// its enum, category() and make_error_code live in `<connmatrix/errors/MODULE.hpp>` (all of
/// them: `<connmatrix/errors.hpp>`). Every category is an ErrorCategory: a table that gives each
/// enumerator its stable name and its text, so
///
///     error_name(tls::errc::no_application_protocol) == "tls:no_application_protocol"
///
/// is spelled in one place for the library, the CLI and `probe --json`.
///
/// `Error` carries the code plus what a user needs to act on it: the text of the underlying
/// library (OpenSSL, GnuTLS, mbedTLS, nghttp2, the OS) and that library's own numeric code, so it
/// can be searched for.
#pragma once

#include <connmatrix/export.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace connmatrix {

/// One enumerator of a module's errc: its name as written in the enum, and its text.
struct ErrorEntry {
    std::string_view name;     ///< `"no_application_protocol"`: stable, `[a-z0-9_]+`.
    std::string_view message;  ///< What the failure is, in words: `"no ALPN protocol in common"`.
};

/// A module's category: a `std::error_category` that also names each value. Enumerators are
/// numbered 1..size(); entries[v - 1] describes value v. `libraries` are the underlying
/// libraries whose text and codes this module's errors carry (see Error::origin).
///
/// Every connmatrix category is one of these (error_categories() lists them), so a program
/// can list every error the library can report, or turn a code into its stable name with
/// error_name(). Immutable: safe to use from any thread.
class CONNMATRIX_API ErrorCategory : public std::error_category {
public:
    /// A category over a static table. The spans are kept, not copied: they must outlive the
    /// category (each module's are `constexpr` arrays).
    /// \param name the category's name (`"tls"`), also the first half of error_name().
    /// \param entries one entry per enumerator, in value order from 1.
    /// \param libraries the names Error::origin may give besides the category's own.
    constexpr ErrorCategory(const char* name, std::span<const ErrorEntry> entries,
                            std::span<const std::string_view> libraries = {}) noexcept
        : name_(name), entries_(entries), libraries_(libraries) {}

    /// The module's name: `"tls"`, `"negotiate"`, `"http1"`, `"http2"`, `"net"`, `"pool"`,
    /// `"config"`.
    /// \return the name given at construction.
    const char* name() const noexcept override { return name_; }
    /// The value's text (what `std::error_code::message()` returns).
    /// \param ev a value of the module's errc.
    /// \return the entry's message, or `"unknown <category> error <ev>"` for a value that is
    ///         no enumerator.
    std::string message(int ev) const override {
        if (const ErrorEntry* e = entry(ev)) return std::string(e->message);
        return "unknown " + std::string(name_) + " error " + std::to_string(ev);
    }

    /// The enumerator's name: stable across releases, for logs and tools to match on.
    /// \param ev a value of the module's errc.
    /// \return `"no_application_protocol"`; empty for a value that is no enumerator.
    std::string_view enumerator(int ev) const noexcept {
        const ErrorEntry* e = entry(ev);
        return e != nullptr ? e->name : std::string_view{};
    }
    /// How many enumerators the module has: values run from 1 to size().
    /// \return the last value.
    int size() const noexcept { return static_cast<int>(entries_.size()); }  // the last value
    /// The underlying libraries whose text and codes this module's errors may carry, as
    /// Error::origin names them: `{"openssl", "gnutls", "mbedtls"}` for tls, `{"nghttp2"}` for
    /// http2, `{"system", "asio"}` for net, none for the others.
    /// \return the names given at construction.
    std::span<const std::string_view> libraries() const noexcept { return libraries_; }

private:
    const ErrorEntry* entry(int ev) const noexcept {
        if (ev < 1 || static_cast<std::size_t>(ev) > entries_.size()) return nullptr;
        return &entries_[static_cast<std::size_t>(ev) - 1];
    }

    const char* name_;
    std::span<const ErrorEntry> entries_;
    std::span<const std::string_view> libraries_;
};

/// The code's stable name, the one the CLI and `probe --json` print.
/// \param code any error code, ours or not.
/// \return `"tls:no_application_protocol"` for a code of our categories; `"<category>:<value>"`
///         otherwise: `"generic:111"`, `"system:104"`, or `"tls:99"` for a value that names no
///         enumerator.
inline std::string error_name(const std::error_code& code) {
    std::string out = std::string(code.category().name()) + ":";
    const auto* ours = dynamic_cast<const ErrorCategory*>(&code.category());
    const std::string_view name = ours != nullptr ? ours->enumerator(code.value()) : "";
    return name.empty() ? out + std::to_string(code.value()) : out.append(name);
}

/// An error: the code, and what a user needs to act on it.
///
/// The origin rule. `origin` names who produced `detail` and `library_code`:
///   - the module itself, by its category's name ("tls", "negotiate", "http1", "http2", "net",
///     "pool", "config"), when the text is ours and library_code is 0 or a value of our own
///     making (an HTTP/2 error code, a proxy's HTTP status);
///   - or the underlying library of that module, when the text and code are that library's:
///     "openssl", "gnutls", "mbedtls" for tls; "nghttp2" for http2; "system" (errno values) or
///     "asio" (Asio's own misc/netdb/addrinfo values) for net.
///
/// So origin never contradicts the category: a pool error never says "openssl". It is empty
/// only when there is neither detail nor library_code (origin_fits() checks the rule).
///
/// A plain value: copy it, keep it, compare `code` with an errc (`err.code ==
/// tls::errc::truncated`) or test it as a bool. A default-constructed Error means success.
struct Error {
    std::error_code code;      ///< Ours: the category says which module, the value which failure.
    std::string detail;        ///< The underlying library's own message, or ours (may be empty).
    long library_code = 0;     ///< The underlying library's own code (0 when none).
    std::string origin;        ///< Who produced detail and library_code: see the rule above.

    /// No error.
    Error() = default;
    /// An error with its detail; implicit, so a function returning Error can `return
    /// tls::errc::invalid_config;` or `return {code, "why", 0, "tls"};`.
    /// \param c the code (an errc converts to it).
    /// \param d the detail text.
    /// \param lib the underlying library's own code, 0 when none.
    /// \param o who produced `d` and `lib`: the category's name or one of its libraries.
    Error(std::error_code c, std::string d = {}, long lib = 0, std::string o = {})
        : code(c), detail(std::move(d)), library_code(lib), origin(std::move(o)) {}

    /// Whether this is an error: `if (err)`, `if (!err)`.
    /// \return whether `code` is set.
    explicit operator bool() const noexcept { return static_cast<bool>(code); }

    /// One line for people, with the underlying library's text and code where there are any:
    /// `"tls: certificate hostname mismatch (gnutls: The certificate is NOT trusted. ...)"`.
    /// Not stable: match on `code` (or error_name()), never on this text.
    /// \return the line, or `"success"` when there is no error.
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

/// Whether err.origin obeys the origin rule of Error: empty with nothing to attribute, the
/// category's name, or one of its libraries. (A foreign category's code fits only its own
/// name.) The tests check every error the library makes with it.
/// \param err the error to check.
/// \return whether its origin fits its category.
inline bool origin_fits(const Error& err) noexcept {
    if (err.origin.empty()) return err.detail.empty() && err.library_code == 0;
    if (!err.code) return false;
    if (err.origin == err.code.category().name()) return true;
    const auto* ours = dynamic_cast<const ErrorCategory*>(&err.code.category());
    if (ours == nullptr) return false;
    for (std::string_view lib : ours->libraries())
        if (err.origin == lib) return true;
    return false;
}

namespace error_impl {

// Whether V, a value of an enum, is one of its named enumerators: the compiler spells a named
// value by its name in a function's signature, an unnamed one as a cast. GCC and Clang only;
// elsewhere it answers `fallback`.
template <auto V>
constexpr bool is_enumerator(bool fallback) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    constexpr std::string_view sig = __PRETTY_FUNCTION__;
    constexpr std::size_t at = sig.find("V = ");
    if constexpr (at == std::string_view::npos) {
        return fallback;
    } else {
        return sig[at + 4] != '(' && (sig[at + 4] < '0' || sig[at + 4] > '9');
    }
#else
    return fallback;
#endif
}

}  // namespace error_impl

/// For each module's error table, at compile time: a table of N entries names every enumerator
/// of E (1..N, the enum numbered from 1 without gaps) when N is an enumerator and N + 1 is not.
/// A new enumerator without its entry fails the static_assert that uses this. Relies on GCC's
/// and Clang's `__PRETTY_FUNCTION__`; elsewhere it accepts any table.
/// \tparam E a module's errc.
/// \tparam N the number of entries in its table.
/// \return whether the table names every enumerator of E.
template <class E, std::size_t N>
constexpr bool names_every_enumerator() noexcept {
    return error_impl::is_enumerator<static_cast<E>(N)>(true) &&
           !error_impl::is_enumerator<static_cast<E>(N + 1)>(false);
}

}  // namespace connmatrix
