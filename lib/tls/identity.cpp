// Client certificates (mutual TLS): reading and checking the configured files once, for every
// backend, and naming what went wrong in one spelling.
#include "identity.hpp"

#include "alert.hpp"
#include "core.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

namespace connmatrix::tls::detail {
namespace {

// Far beyond any real certificate chain or key; a file larger than this is not one.
constexpr std::uintmax_t max_file = 1024 * 1024;

Error bad(std::string detail) {
    return {errc::invalid_config, std::move(detail), 0, std::string(core_origin)};
}

// The whole file, or an error naming `what` (the setting) and the file. The buffer is sized
// once from the file's size, so a key is never copied by a reallocation; the caller wipes it.
bool read_file(const std::string& path, std::string_view what, std::string& out, Error& err) {
    std::error_code ec;
    const std::uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) {
        err = bad("cannot read " + std::string(what) + " " + path + ": " + ec.message());
        return false;
    }
    if (size > max_file) {
        err = bad(std::string(what) + " " + path + " is larger than 1 MiB: not a PEM file");
        return false;
    }
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        err = bad("cannot read " + std::string(what) + " " + path + ": " + std::strerror(errno));
        return false;
    }
    out.assign(static_cast<std::size_t>(size), '\0');
    const std::size_t got = std::fread(out.data(), 1, out.size(), f);
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) {
        err = bad("cannot read " + std::string(what) + " " + path);
        return false;
    }
    out.resize(got);  // shrinking never reallocates
    return true;
}

// One "-----BEGIN label-----" ... "-----END label-----" block of a PEM text.
struct Block {
    std::string_view label;
    std::string_view text;  // from BEGIN to the end of the END line
};

std::vector<Block> pem_blocks(std::string_view pem) {
    static constexpr std::string_view begin = "-----BEGIN ", dashes = "-----";
    std::vector<Block> out;
    for (std::size_t at = pem.find(begin); at != std::string_view::npos; at = pem.find(begin, at)) {
        const std::size_t label_at = at + begin.size();
        const std::size_t label_end = pem.find(dashes, label_at);
        if (label_end == std::string_view::npos) break;
        const std::string_view label = pem.substr(label_at, label_end - label_at);
        if (label.find('\n') != std::string_view::npos) {  // not a header line
            at = label_at;
            continue;
        }
        const std::string end = "-----END " + std::string(label) + "-----";
        const std::size_t end_at = pem.find(end, label_end);
        if (end_at == std::string_view::npos) break;
        out.push_back({label, pem.substr(at, end_at + end.size() - at)});
        at = end_at + end.size();
    }
    return out;
}

bool is_key_label(std::string_view l) {
    return l == "PRIVATE KEY" || l == "ENCRYPTED PRIVATE KEY" || l == "RSA PRIVATE KEY" ||
           l == "EC PRIVATE KEY";
}

bool load_certificates(const std::string& file, std::string_view what, std::string& pem_out,
                       Error& err) {
    std::string text;
    if (!read_file(file, what, text, err)) return false;
    for (const Block& b : pem_blocks(text))
        if (b.label == "CERTIFICATE") pem_out.append(b.text).append("\n");
    if (pem_out.empty()) {
        err = bad(std::string(what) + " " + file +
                  " holds no PEM certificate (no \"-----BEGIN CERTIFICATE-----\" block)");
        return false;
    }
    return true;
}

bool load_key(const std::string& file, ClientIdentity& id, Error& err) {
    std::string text;
    const bool read = read_file(file, "client_key_file", text, err);
    std::optional<Block> key;
    std::string other;
    bool twice = false;
    if (read) {
        for (const Block& b : pem_blocks(text)) {
            if (is_key_label(b.label)) {
                twice = twice || key.has_value();
                if (!key) key = b;
            } else if (other.empty() && b.label.find("PRIVATE KEY") != std::string_view::npos) {
                other = b.label;
            }
        }
        if (key) {
            id.encrypted = key->label == "ENCRYPTED PRIVATE KEY" ||
                           key->text.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
            id.key_pem = Secret(key->text);
        }
    }
    wipe(text.data(), text.size());
    if (!read) return false;
    if (twice) {
        err = bad("client_key_file " + file + " holds more than one private key");
        return false;
    }
    if (!key) {
        err = bad("client_key_file " + file + " holds no PEM private key (" +
                  (other.empty() ? std::string("no \"-----BEGIN PRIVATE KEY-----\" block")
                                 : "a \"" + other + "\" block is not an RSA or EC key") +
                  ")");
        return false;
    }
    return true;
}

}  // namespace

void wipe(void* p, std::size_t n) noexcept {
    auto* v = static_cast<volatile unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) v[i] = 0;
}

Secret::Secret(std::string_view bytes)
    : data_(std::make_unique<char[]>(bytes.size() + 1)), size_(bytes.size()) {
    std::memcpy(data_.get(), bytes.data(), bytes.size());
    data_[size_] = '\0';
}

Secret& Secret::operator=(Secret&& other) noexcept {
    if (this != &other) {
        wipe();
        data_ = std::move(other.data_);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void Secret::wipe() noexcept {
    if (data_) detail::wipe(data_.get(), size_ + 1);
    data_.reset();
    size_ = 0;
}

std::string ClientIdentity::describe(Problem p) const {
    switch (p) {
        case Problem::unusable_certificate: return "cannot use client_cert_file " + cert_file;
        case Problem::unusable_key: return "cannot use client_key_file " + key_file;
        case Problem::wrong_password:
            return "cannot decrypt client_key_file " + key_file +
                   " with client_key_password (wrong password?)";
        case Problem::key_mismatch:
            return "client_key_file " + key_file + " does not match client_cert_file " + cert_file;
    }
    return {};
}

Error check_certificate_file(const std::string& file, std::string_view what) {
    std::string pem;
    Error err;
    (void)load_certificates(file, what, pem, err);
    return err;
}

std::optional<ClientIdentity> load_client_identity(const ClientConfig& cfg, Error& err) {
    err = {};
    if (cfg.client_cert_file.empty() && cfg.client_key_file.empty()) return std::nullopt;
    ClientIdentity id;
    id.cert_file = cfg.client_cert_file;
    id.key_file = cfg.client_key_file;
    if (!load_certificates(cfg.client_cert_file, "client_cert_file", id.cert_pem, err))
        return std::nullopt;
    if (!load_key(cfg.client_key_file, id, err)) return std::nullopt;
    if (id.encrypted && cfg.client_key_password.empty()) {
        err = bad("client_key_file " + cfg.client_key_file +
                  " is encrypted: set client_key_password to its passphrase");
        return std::nullopt;
    }
    if (!cfg.client_key_password.empty()) id.password = Secret(cfg.client_key_password);
    return id;
}

namespace {

// The alerts a server sends when it judges the client's certificate (or its absence): RFC 8446
// certificate_required, TLS 1.2 servers' handshake_failure, and the certificate alerts.
bool judges_certificate(int alert) noexcept {
    switch (alert) {
        case alert::handshake_failure:
        case 41:  // no_certificate (SSL 3.0, still sent by some)
        case alert::bad_certificate:
        case 43:  // unsupported_certificate
        case 44:  // certificate_revoked
        case alert::certificate_expired:
        case 46:  // certificate_unknown
        case alert::unknown_ca:
        case 49:  // access_denied
        case 51:  // decrypt_error (a CertificateVerify that did not verify)
        case alert::certificate_required:
            return true;
        default:
            return false;
    }
}

}  // namespace

std::optional<Error> certificate_refusal(const ClientConfig& cfg, const Error& err) {
    const std::optional<int> a = alert::received_description(err);
    if (!a || !judges_certificate(*a)) return std::nullopt;
    std::string why = cfg.client_cert_file.empty()
                          ? "the server requires a client certificate and none is configured "
                            "(client_cert_file): "
                          : "the server refused the client certificate " + cfg.client_cert_file +
                                ": ";
    return Error{errc::certificate_required, why + err.detail, err.library_code, err.origin};
}

}  // namespace connmatrix::tls::detail
