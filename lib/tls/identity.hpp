// Client certificates (mutual TLS), the core's half (lib-internal): the certificate chain and
// private key a client sends when the server asks, read and checked once for every backend.
// A backend only hands the PEM bytes (and the passphrase) to its library, and reports a wrong
// passphrase or a key that does not match the certificate in the words of client_error().
#pragma once

#include <connmatrix/tls.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace connmatrix::tls::detail {

// Bytes that must not outlive their use (a private key, its passphrase): NUL-terminated, never
// reallocated, wiped when destroyed. Move-only.
class Secret {
public:
    Secret() = default;
    explicit Secret(std::string_view bytes);
    Secret(Secret&& other) noexcept
        : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}
    Secret& operator=(Secret&& other) noexcept;
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    ~Secret() { wipe(); }

    const char* c_str() const noexcept { return data_ ? data_.get() : ""; }
    std::size_t size() const noexcept { return size_; }  // without the terminating NUL
    bool empty() const noexcept { return size_ == 0; }
    std::string_view view() const noexcept { return {c_str(), size_}; }

private:
    void wipe() noexcept;
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
};

// Overwrites n bytes at p with zeros in a way the compiler keeps.
void wipe(void* p, std::size_t n) noexcept;

// What ClientConfig's client_cert_file / client_key_file / client_key_password name, read.
struct ClientIdentity {
    std::string cert_file;  // as configured, for messages
    std::string key_file;
    std::string cert_pem;   // every CERTIFICATE block of cert_file, leaf first, in PEM
    Secret key_pem;         // the one private key block of key_file, in PEM
    Secret password;        // client_key_password; empty when none
    bool encrypted = false;  // the key needs the password (PKCS#8 or Proc-Type encryption)

    // What a backend's library refused, in one spelling naming the file(s), for the detail of
    // the backend's errc::invalid_config (the library's own text follows it).
    enum class Problem { unusable_certificate, unusable_key, wrong_password, key_mismatch };
    std::string describe(Problem p) const;
};

// Reads and checks the configured identity when a client context is made: nullopt with `err`
// clear when none is configured; nullopt with errc::invalid_config naming the file (and what to
// set) when a file is missing or unreadable, holds no certificate or no private key, or holds
// an encrypted key and client_key_password is empty.
std::optional<ClientIdentity> load_client_identity(const ClientConfig& cfg, Error& err);

// A PEM bundle the library will read itself (a server's client_ca_file): readable and holding a
// certificate, or errc::invalid_config naming `what` and the file.
Error check_certificate_file(const std::string& file, std::string_view what);

// Client, in a session where the server asked for a certificate: what a received fatal alert
// that judges certificates (certificate_required in TLS 1.3, handshake_failure from TLS 1.2
// servers, bad_certificate, unknown_ca, decrypt_error, access_denied, ...) means:
// errc::certificate_required, saying whether none was configured or which the server refused,
// and what the library said. nullopt for every other error. In TLS 1.3 the server judges the
// certificate after the client's handshake completed: the alert comes with the first read().
std::optional<Error> certificate_refusal(const ClientConfig& cfg, const Error& err);

}  // namespace connmatrix::tls::detail
