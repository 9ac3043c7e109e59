// TLS key logging (lib-internal): ClientConfig::keylog_file, in the NSS key log format that
// Wireshark reads (SSLKEYLOGFILE): one "LABEL <client random, 64 hex> <secret, hex>" line per
// secret. The file is opened once per client context, by the core, and shared by its sessions;
// the lines are formatted here, once, whatever the library handed over. A backend never opens
// the file: it passes what its library exports to SessionCore::log_secret (or, where the
// library's callback knows no session, to the context's KeyLog itself).
#pragma once

#include <connmatrix/tls.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::tls::keylog {

inline constexpr std::size_t random_size = 32;  // a hello's random (RFC 8446 4.1.2)
// The longest secret a line may carry: a TLS 1.2 master secret is 48 bytes, a TLS 1.3 traffic
// secret the length of the suite's hash (at most SHA-512's 64).
inline constexpr std::size_t max_secret = 64;

// TLS 1.2 (the master secret) and TLS 1.3 (RFC 8446 7.1), as NSS and the libraries spell them.
inline constexpr std::string_view client_random_label = "CLIENT_RANDOM";

// A label as the format allows one: 1..64 characters of A-Z, 0-9 and '_'.
bool valid_label(std::string_view label) noexcept;

// "LABEL <64 hex> <hex secret>\n" (lowercase hex); empty when the label is not valid, the random
// is not 32 bytes, or the secret is empty or longer than max_secret.
std::string format_line(std::string_view label, std::span<const std::uint8_t> client_random,
                        std::span<const std::uint8_t> secret);

// A line as a library wrote it (OpenSSL's keylog callback), without or with its newline.
struct Entry {
    std::string label;
    std::array<std::uint8_t, random_size> client_random{};
    std::vector<std::uint8_t> secret;
};
// nullopt unless it is exactly "LABEL <64 hex> <hex secret>" within the limits above.
std::optional<Entry> parse_line(std::string_view line);

}  // namespace connmatrix::tls::keylog

namespace connmatrix::tls::detail {

// An open key log file. Lines from every session of the context (on any thread) go through one
// mutex and one write(2) each on an O_APPEND descriptor, so they never interleave, with another
// context's writer or another process either.
class KeyLog {
public:
    // Opens `path` for appending (created with mode 0600, close-on-exec). nullptr and `err`
    // (errc::invalid_config naming the file and the system's reason) when it cannot be written.
    static std::shared_ptr<KeyLog> open(const std::string& path, Error& err);

    KeyLog(const KeyLog&) = delete;
    KeyLog& operator=(const KeyLog&) = delete;
    ~KeyLog();

    // Formats and appends one secret; false when format_line() refused it or the write failed
    // (a key log never fails a handshake).
    bool log_secret(std::string_view label, std::span<const std::uint8_t> client_random,
                    std::span<const std::uint8_t> secret) noexcept;
    const std::string& path() const noexcept { return path_; }

private:
    KeyLog(std::string path, int fd) noexcept : path_(std::move(path)), fd_(fd) {}
    bool write_all(const std::string& line) noexcept;

    std::string path_;
    int fd_ = -1;
    std::mutex mutex_;
};

// The key log a client context opens for ClientConfig::keylog_file: nullptr with `err` clear
// when none is configured, nullptr with `err` set when the file cannot be written.
std::shared_ptr<KeyLog> open_keylog(const ClientConfig& cfg, Error& err);

}  // namespace connmatrix::tls::detail
