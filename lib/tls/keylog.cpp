// The key log writer and the one NSS key log line format (keylog.hpp).
#include "keylog.hpp"

#include "core.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

#include <system_error>

namespace connmatrix::tls::keylog {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
    for (const std::uint8_t b : bytes) {
        out += hex_digits[b >> 4];
        out += hex_digits[b & 0xf];
    }
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Hex text of an even, non-zero length into bytes; false on anything else.
bool decode_hex(std::string_view text, std::vector<std::uint8_t>& out) {
    if (text.empty() || text.size() % 2 != 0) return false;
    out.clear();
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
    }
    return true;
}

// The next space-separated field of `rest`, which loses it and its separator.
std::string_view next_field(std::string_view& rest) noexcept {
    const std::size_t sp = rest.find(' ');
    const std::string_view field = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
    return field;
}

}  // namespace

bool valid_label(std::string_view label) noexcept {
    if (label.empty() || label.size() > 64) return false;
    for (const char c : label)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

std::string format_line(std::string_view label, std::span<const std::uint8_t> client_random,
                        std::span<const std::uint8_t> secret) {
    if (!valid_label(label) || client_random.size() != random_size || secret.empty() ||
        secret.size() > max_secret)
        return {};
    std::string line;
    line.reserve(label.size() + 2 * (random_size + secret.size()) + 3);
    line.append(label);
    line += ' ';
    append_hex(line, client_random);
    line += ' ';
    append_hex(line, secret);
    line += '\n';
    return line;
}

std::optional<Entry> parse_line(std::string_view line) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    std::string_view rest = line;
    const std::string_view label = next_field(rest);
    const std::string_view random = next_field(rest);
    const std::string_view secret = next_field(rest);
    // Exactly three fields: no fourth, no doubled or trailing space.
    if (!rest.empty() || label.size() + random.size() + secret.size() + 2 != line.size() ||
        !valid_label(label) || random.size() != 2 * random_size || secret.size() > 2 * max_secret)
        return std::nullopt;
    Entry e;
    e.label = label;
    std::vector<std::uint8_t> bytes;
    if (!decode_hex(random, bytes) || !decode_hex(secret, e.secret)) return std::nullopt;
    std::copy(bytes.begin(), bytes.end(), e.client_random.begin());
    return e;
}

}  // namespace connmatrix::tls::keylog

namespace connmatrix::tls::detail {

std::shared_ptr<KeyLog> KeyLog::open(const std::string& path, Error& err) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        const int e = errno;
        err = {errc::invalid_config,
               "key log file " + path + ": " + std::generic_category().message(e), 0,
               std::string(core_origin)};
        return nullptr;
    }
    // The descriptor is ours from here: a failed allocation must not leak it.
    try {
        return std::shared_ptr<KeyLog>(new KeyLog(path, fd));
    } catch (...) {
        ::close(fd);
        throw;
    }
}

KeyLog::~KeyLog() {
    if (fd_ >= 0) ::close(fd_);
}

bool KeyLog::write_all(const std::string& line) noexcept {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::size_t off = 0;
    // One write(2) for the whole line; only a short write (a full disk, a signal) takes more.
    while (off < line.size()) {
        const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

bool KeyLog::log_secret(std::string_view label, std::span<const std::uint8_t> client_random,
                        std::span<const std::uint8_t> secret) noexcept {
    try {
        const std::string line = keylog::format_line(label, client_random, secret);
        return !line.empty() && write_all(line);
    } catch (...) {  // out of memory: the line is lost, the handshake goes on
        return false;
    }
}

std::shared_ptr<KeyLog> open_keylog(const ClientConfig& cfg, Error& err) {
    if (cfg.keylog_file.empty()) return nullptr;
    return KeyLog::open(cfg.keylog_file, err);
}

}  // namespace connmatrix::tls::detail
