// The mbedTLS session: an mbedtls_ssl_context over the base class's byte queues.
//
// Transport: mbedtls_ssl_set_bio() with callbacks into pull()/push(). recv answers
// MBEDTLS_ERR_SSL_WANT_READ while the queue is empty and more may come, and 0 at end of stream,
// which mbedTLS reports as MBEDTLS_ERR_SSL_CONN_EOF (its ssl_read() turns that into a bare 0):
// that is truncation, never a clean close; only MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY is.
//
// The handshake is driven one mbedtls_ssl_handshake_step() at a time, which gives three hooks
// mbedTLS 2.28 has no API for:
//  - the client sends one name as SNI (or none) and verifies another (mbedTLS uses its single
//    `hostname` for both): the verification name is set once the ClientHello is written;
//  - the server decides ALPN itself where the library cannot (continue without ALPN on no
//    overlap, force a selection): after the ClientHello step, before the ServerHello step, from
//    the ClientHello record seen by the recv hook;
//  - "resumed" is read from the handshake state (ssl->handshake->resume) before mbedTLS frees it.
// An IP-literal host is checked against the leaf's subjectAltName iPAddress entries by a verify
// callback (mbedTLS 2.28 only compares names), and no SNI is sent for it.
#include "mbedtls_internal.hpp"

#include "alpn.hpp"
#include "host.hpp"

#include <mbedtls/asn1.h>
#include <mbedtls/ssl_internal.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstring>

namespace connmatrix::tls::mbed {

// ---------------------------------------------------------------------------------------------
// Hello parsing.

namespace {

class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> b) : b_(b) {}
    bool ok() const noexcept { return ok_; }
    std::size_t left() const noexcept { return b_.size() - pos_; }
    std::size_t u8() { return take(1); }
    std::size_t u16() { return take(2); }
    std::size_t u24() { return take(3); }
    std::span<const std::uint8_t> bytes(std::size_t n) {
        if (!ok_ || n > left()) {
            ok_ = false;
            return {};
        }
        auto s = b_.subspan(pos_, n);
        pos_ += n;
        return s;
    }

private:
    std::size_t take(std::size_t n) {
        if (!ok_ || n > left()) {
            ok_ = false;
            return 0;
        }
        std::size_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v = (v << 8) | b_[pos_ + i];
        pos_ += n;
        return v;
    }
    std::span<const std::uint8_t> b_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

constexpr std::uint8_t record_handshake = 22;
constexpr std::uint8_t record_alert = 21;
constexpr std::uint8_t hs_client_hello = 1;
constexpr std::uint8_t hs_server_hello = 2;
constexpr std::size_t ext_alpn = 16;
constexpr std::size_t ext_supported_versions = 43;

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return "[" + out + "]";
}

}  // namespace

Hello parse_hello(std::span<const std::uint8_t> record, std::uint8_t hs_type) {
    Hello res;
    Reader rec(record);
    if (rec.u8() != record_handshake) return res;
    rec.u16();  // record version
    const std::size_t rec_len = rec.u16();
    Reader body(rec.bytes(std::min(rec_len, rec.left())));
    if (!rec.ok() || body.u8() != hs_type) return res;
    Reader msg(body.bytes(body.u24()));
    msg.bytes(2 + 32);         // version, random
    msg.bytes(msg.u8());       // session id
    if (hs_type == hs_client_hello) {
        msg.bytes(msg.u16());  // cipher suites
        msg.bytes(msg.u8());   // compression methods
    } else {
        msg.bytes(2 + 1);      // cipher suite, compression method
    }
    if (!body.ok() || !msg.ok()) return res;
    if (msg.left() == 0) {
        res.parsed = true;     // no extensions at all
        return res;
    }
    Reader exts(msg.bytes(msg.u16()));
    if (!msg.ok()) return res;
    while (exts.ok() && exts.left() > 0) {
        const std::size_t type = exts.u16();
        Reader ext(exts.bytes(exts.u16()));
        if (!exts.ok()) return res;
        if (type == ext_alpn) {
            res.alpn_present = true;
            auto names = alpn::decode(ext.bytes(ext.u16()));
            if (!ext.ok() || ext.left() != 0 || !names || names->empty()) res.alpn_malformed = true;
            else res.alpn = std::move(*names);
        } else if (type == ext_supported_versions && hs_type == hs_client_hello) {
            Reader list(ext.bytes(ext.u8()));
            std::vector<std::uint16_t> versions;
            while (list.ok() && list.left() >= 2) versions.push_back(static_cast<std::uint16_t>(list.u16()));
            if (ext.ok()) res.supported_versions = std::move(versions);
        }
    }
    res.parsed = exts.ok();
    return res;
}

// ---------------------------------------------------------------------------------------------
// The session.

namespace {

// Our export format: a magic, a format number, flags, the identity the session was made for
// (host and SNI), then mbedtls_ssl_session_save()'s bytes. A session is only resumed for the
// identity it was verified for, and an unverified one never where verification is required.
constexpr std::array<std::uint8_t, 4> export_magic = {'C', 'M', 'M', 'B'};
constexpr std::uint8_t export_format = 1;
constexpr std::uint8_t export_flag_verified = 1;

class MbedSession final : public Session {
public:
    MbedSession(Role role, std::vector<std::string> offered, std::shared_ptr<const Engine> engine)
        : Session(role, std::string(mbed::backend_name), std::move(offered)),
          engine_(std::move(engine)) {}

    ~MbedSession() override = default;

    Error setup() {
        if (const int ret = mbedtls_ssl_setup(ssl_.get(), engine_->conf.get()))
            return make_error(errc::internal, ret, "mbedtls_ssl_setup");
        mbedtls_ssl_set_bio(ssl_.get(), this, send_cb, recv_cb, nullptr);
        return {};
    }

    Error setup_client(const ClientEngine& eng, const ClientSessionParams& params) {
        client_ = &eng;
        if (Error e = setup()) return e;
        const ClientConfig& cfg = eng.config;
        const std::string host = host::normalise(params.host);
        sni_ = host::sni_for(params.host, params.sni);
        if (cfg.verify && host.empty())
            return make_plain_error(errc::invalid_config,
                                    "certificate verification needs the host name (or address) "
                                    "we connect to: ClientSessionParams.host is empty");

        // SNI first: mbedTLS writes its `hostname` into the ClientHello.
        if (sni_) {
            if (const int ret = mbedtls_ssl_set_hostname(ssl_.get(), sni_->c_str()))
                return make_error(errc::invalid_config, ret, "server name \"" + *sni_ + "\"");
        }
        if (cfg.verify) {
            if (host::is_ip_literal(host)) {
                ip_ = parse_ip(host);
                ip_text_ = host;
                mbedtls_ssl_set_verify(ssl_.get(), verify_cb, this);
                // No name to match: clear any SNI override before the certificate arrives.
                switch_hostname_ = sni_.has_value();
            } else {
                verify_name_ = host;
                switch_hostname_ = !sni_ || *sni_ != host;
            }
        }
        identity_ = host + '\0' + sni_.value_or("");

        if (!params.resume.empty()) return import_session(params.resume);
        return {};
    }

    Error setup_server(const ServerEngine& eng) {
        server_ = &eng;
        return setup();
    }

    void set_received_sni(const unsigned char* name, std::size_t len) {
        received_sni_.emplace(reinterpret_cast<const char*>(name), len);
    }

protected:
    Status do_handshake(Error& err) override;
    Status do_write(std::span<const std::uint8_t> plaintext, Error& err) override;
    Status do_read(std::vector<std::uint8_t>& plaintext, Error& err) override;
    void do_close() override;
    std::optional<std::string> do_alpn() const override;
    SessionInfo do_info() const override;
    std::vector<std::uint8_t> do_export_session() const override { return exported_; }

private:
    static int send_cb(void* p, const unsigned char* buf, std::size_t len);
    static int recv_cb(void* p, unsigned char* buf, std::size_t len);
    static int verify_cb(void* p, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags);

    static std::vector<std::uint8_t> parse_ip(const std::string& host);
    bool refuse_client_versions();
    Error import_session(const std::vector<std::uint8_t>& blob);
    void export_session_now();
    bool after_step(Error& err);
    bool decide_server_alpn(Error& err);
    Error handshake_error(int ret, int state_before);
    Error failure(int ret, bool handshaking);
    void send_alert_if_silent(const Error& e, int ret, unsigned alerts_before, bool handshaking);
    void track_output(const unsigned char* p, std::size_t n) noexcept;

    std::shared_ptr<const Engine> engine_;
    const ClientEngine* client_ = nullptr;
    const ServerEngine* server_ = nullptr;
    SslContext::ptr ssl_ = SslContext::make();

    // Client.
    std::optional<std::string> sni_;        // what we send (nullopt: no SNI)
    std::string verify_name_;                // the name the certificate must match ("" for IPs)
    std::vector<std::uint8_t> ip_;           // IP-literal host: 4 or 16 bytes to find in the SAN
    std::string ip_text_;
    bool switch_hostname_ = false;           // set verify_name_ after the ClientHello is written
    bool hostname_switched_ = false;
    bool verified_ = false;
    std::string identity_;                   // host '\0' sni: what an exported session is for
    std::vector<std::uint8_t> exported_;

    // Server.
    std::optional<std::string> received_sni_;
    bool alpn_decided_ = false;

    // Both.
    std::vector<std::uint8_t> first_record_;  // the peer's first record (its hello)
    bool first_record_done_ = false;
    std::optional<bool> resumed_;
    bool peer_closed_ = false;
    std::optional<std::string> version_refused_;  // server: why the ClientHello was refused
    // The outgoing record stream, for the alerts mbedTLS sends.
    std::array<std::uint8_t, 5> out_hdr_{};
    std::size_t out_hdr_len_ = 0;
    std::size_t out_body_left_ = 0;
    std::size_t out_body_len_ = 0;
    std::array<std::uint8_t, 2> out_alert_{};
    unsigned alerts_sent_ = 0;
    std::optional<unsigned> plaintext_alert_sent_;  // the description of the last one readable
};

// --- transport hooks --------------------------------------------------------------------------

int MbedSession::send_cb(void* p, const unsigned char* buf, std::size_t len) {
    auto* self = static_cast<MbedSession*>(p);
    const std::size_t n = std::min<std::size_t>(len, INT_MAX);
    try {
        self->push(buf, n);
    } catch (...) {
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    }
    self->track_output(buf, n);
    return static_cast<int>(n);
}

int MbedSession::recv_cb(void* p, unsigned char* buf, std::size_t len) {
    auto* self = static_cast<MbedSession*>(p);
    const std::size_t n = self->pull(buf, std::min<std::size_t>(len, INT_MAX));
    if (n == 0) return self->input_eof() ? 0 : MBEDTLS_ERR_SSL_WANT_READ;
    if (!self->first_record_done_) {
        try {
            auto& r = self->first_record_;
            r.insert(r.end(), buf, buf + n);
            if (r.size() >= 5) {
                const std::size_t need = 5 + (std::size_t{r[3]} << 8 | r[4]);
                if (r.size() >= need) {
                    r.resize(need);
                    self->first_record_done_ = true;
                    // mbedTLS 2.28 would answer a TLS 1.3-only ClientHello with TLS 1.2 (or
                    // fail to find a cipher suite): refuse it before it is parsed, as a
                    // version mismatch, which it is.
                    if (self->role() == Role::server && self->refuse_client_versions())
                        return MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION;
                }
            }
        } catch (...) {
            self->first_record_done_ = true;  // observation only: give up on it
            self->first_record_.clear();
        }
    }
    return static_cast<int>(n);
}

void MbedSession::track_output(const unsigned char* p, std::size_t n) noexcept {
    while (n > 0) {
        if (out_hdr_len_ < out_hdr_.size()) {
            const std::size_t k = std::min(n, out_hdr_.size() - out_hdr_len_);
            std::memcpy(out_hdr_.data() + out_hdr_len_, p, k);
            out_hdr_len_ += k;
            p += k;
            n -= k;
            if (out_hdr_len_ == out_hdr_.size()) {
                out_body_len_ = out_body_left_ = std::size_t{out_hdr_[3]} << 8 | out_hdr_[4];
                if (out_hdr_[0] == record_alert) ++alerts_sent_;
                if (out_body_left_ == 0) out_hdr_len_ = 0;
            }
            continue;
        }
        const std::size_t k = std::min(n, out_body_left_);
        // A two-byte alert body is a plaintext alert (encrypted ones are longer): keep it.
        if (out_hdr_[0] == record_alert && out_body_len_ == 2) {
            const std::size_t at = out_body_len_ - out_body_left_;
            for (std::size_t i = 0; i < k && at + i < 2; ++i) out_alert_[at + i] = p[i];
        }
        out_body_left_ -= k;
        p += k;
        n -= k;
        if (out_body_left_ == 0) {
            if (out_hdr_[0] == record_alert && out_body_len_ == 2) plaintext_alert_sent_ = out_alert_[1];
            out_hdr_len_ = 0;
        }
    }
}

// A ClientHello with supported_versions lists every version the client accepts; when none of
// them is one we accept, the answer is protocol_version (RFC 8446 4.2.1), which mbedTLS 2.28
// does not know to give: it reads only the legacy version field.
bool MbedSession::refuse_client_versions() {
    const Hello hello = parse_hello(first_record_, hs_client_hello);
    if (!hello.parsed || !hello.supported_versions) return false;
    const ServerConfig& cfg = server_->config;
    auto wire = [](Version v) -> unsigned {
        switch (v) {
            case Version::tls1_0: return 0x0301;
            case Version::tls1_1: return 0x0302;
            default: return 0x0303;  // 1.2, and 1.3 capped to 1.2
        }
    };
    const unsigned lo = wire(cfg.min_version), hi = wire(cfg.max_version);
    std::string offered;
    for (const std::uint16_t v : *hello.supported_versions) {
        if (v >= lo && v <= hi) return false;
        if ((v & 0x0F0F) == 0x0A0A) continue;  // GREASE
        std::string name = v == 0x0304 ? "TLSv1.3" : v == 0x0303 ? "TLSv1.2"
                         : v == 0x0302 ? "TLSv1.1" : v == 0x0301 ? "TLSv1.0" : "";
        if (name.empty()) {
            std::array<char, 8> hex{};
            std::snprintf(hex.data(), hex.size(), "0x%04X", static_cast<unsigned>(v));
            name = hex.data();
        }
        offered += (offered.empty() ? "" : ", ") + name;
    }
    version_refused_ = "the client accepts only [" + offered + "], we speak " +
                       std::string(to_string(cfg.min_version)) + " to " +
                       std::string(to_string(std::min(cfg.max_version, Version::tls1_2)));
    return true;
}

// --- verification -----------------------------------------------------------------------------

std::vector<std::uint8_t> MbedSession::parse_ip(const std::string& host) {
    std::array<std::uint8_t, 16> buf{};
    if (inet_pton(AF_INET, host.c_str(), buf.data()) == 1) return {buf.begin(), buf.begin() + 4};
    if (inet_pton(AF_INET6, host.c_str(), buf.data()) == 1) return {buf.begin(), buf.end()};
    return {};
}

// Called for every certificate of the chain; depth 0 is the server's own. mbedTLS 2.28 keeps
// every subjectAltName entry in subject_alt_names as raw bytes, iPAddress ([7]) included.
int MbedSession::verify_cb(void* p, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
    auto* self = static_cast<MbedSession*>(p);
    if (depth != 0 || self->ip_.empty()) return 0;
    bool match = false;
    for (const mbedtls_x509_sequence* s = &crt->subject_alt_names; s != nullptr && !match;
         s = s->next) {
        match = s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && s->buf.p != nullptr &&
                s->buf.len == self->ip_.size() &&
                std::memcmp(s->buf.p, self->ip_.data(), self->ip_.size()) == 0;
    }
    if (!match) *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

// --- resumption -------------------------------------------------------------------------------

Error MbedSession::import_session(const std::vector<std::uint8_t>& blob) {
    Reader r(blob);
    auto magic = r.bytes(export_magic.size());
    const bool magic_ok = r.ok() && std::equal(magic.begin(), magic.end(), export_magic.begin());
    const std::size_t format = r.u8();
    const std::size_t flags = r.u8();
    auto identity = r.bytes(r.u16());
    if (!magic_ok || !r.ok() || format != export_format)
        return make_plain_error(errc::invalid_config,
                                "ClientSessionParams.resume is not a session exported by the "
                                "mbedtls backend");
    auto saved = r.bytes(r.left());

    // Another host, or verification now required of a session that was never verified: do a
    // full handshake rather than skip the checks.
    if (std::string(identity.begin(), identity.end()) != identity_) return {};
    if (client_->config.verify && !(flags & export_flag_verified)) return {};

    auto session = SslSession::make();
    const int ret = mbedtls_ssl_session_load(session.get(), saved.data(), saved.size());
    if (ret == MBEDTLS_ERR_SSL_VERSION_MISMATCH) return {};  // another mbedTLS build: full handshake
    if (ret != 0) return make_error(errc::invalid_config, ret, "ClientSessionParams.resume");
    if (const int r2 = mbedtls_ssl_set_session(ssl_.get(), session.get()))
        return make_error(errc::internal, r2, "mbedtls_ssl_set_session");
    return {};
}

void MbedSession::export_session_now() {
    exported_.clear();
    auto session = SslSession::make();
    if (mbedtls_ssl_get_session(ssl_.get(), session.get()) != 0) return;
    std::size_t len = 0;
    if (mbedtls_ssl_session_save(session.get(), nullptr, 0, &len) !=
            MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL ||
        identity_.size() > 0xFFFF)
        return;
    std::vector<std::uint8_t> out(export_magic.begin(), export_magic.end());
    out.push_back(export_format);
    out.push_back(verified_ ? export_flag_verified : 0);
    out.push_back(static_cast<std::uint8_t>(identity_.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(identity_.size() & 0xFF));
    out.insert(out.end(), identity_.begin(), identity_.end());
    const std::size_t header = out.size();
    out.resize(header + len);
    if (mbedtls_ssl_session_save(session.get(), out.data() + header, len, &len) != 0) return;
    out.resize(header + len);
    exported_ = std::move(out);
}

// --- handshake --------------------------------------------------------------------------------

Status MbedSession::do_handshake(Error& err) {
    mbedtls_ssl_context* ssl = ssl_.get();
    // A TLS 1.2 handshake is about twenty states; the bound only guards against a library bug.
    for (int steps = 0; ssl->state != MBEDTLS_SSL_HANDSHAKE_OVER; ++steps) {
        if (steps > 256) {
            err = make_plain_error(errc::internal, "mbedTLS handshake made no progress");
            return Status::failed;
        }
        const int state_before = ssl->state;
        const unsigned alerts_before = alerts_sent_;
        const int ret = mbedtls_ssl_handshake_step(ssl);
        // Read before mbedTLS frees the handshake state, at its last step.
        if (ssl->handshake != nullptr) resumed_ = ssl->handshake->resume != 0;
        if (ret == MBEDTLS_ERR_SSL_WANT_READ) return Status::want_input;
        if (ret != 0) {
            err = handshake_error(ret, state_before);
            send_alert_if_silent(err, ret, alerts_before, true);
            return Status::failed;
        }
        if (!after_step(err)) {
            send_alert_if_silent(err, 0, alerts_before, true);
            return Status::failed;
        }
    }
    if (role() == Role::client) {
        verified_ = client_->config.verify;
        export_session_now();
    }
    return Status::ok;
}

// Runs between two handshake steps.
bool MbedSession::after_step(Error& err) {
    mbedtls_ssl_context* ssl = ssl_.get();
    if (ssl->state < MBEDTLS_SSL_SERVER_HELLO) return true;
    if (role() == Role::client) {
        // The ClientHello (and with it the SNI) is out: from now on `hostname` is only what the
        // certificate must match.
        if (switch_hostname_ && !hostname_switched_) {
            hostname_switched_ = true;
            const char* name = verify_name_.empty() ? nullptr : verify_name_.c_str();
            if (const int ret = mbedtls_ssl_set_hostname(ssl, name)) {
                err = make_error(errc::invalid_config, ret, "verification name \"" + verify_name_ + "\"");
                return false;
            }
        }
        return true;
    }
    if (!alpn_decided_) return decide_server_alpn(err);
    return true;
}

// The ClientHello has been parsed and the ServerHello not yet written: the moment to select
// the protocol where mbedTLS is not told to (see the server context).
bool MbedSession::decide_server_alpn(Error& err) {
    alpn_decided_ = true;
    const ServerEngine& eng = *server_;
    const ServerConfig& cfg = eng.config;
    if (eng.native_alpn || cfg.alpn_mode == ServerAlpn::ignore) return true;
    if (cfg.alpn_mode == ServerAlpn::prefer_server && cfg.alpn.empty()) return true;

    const Hello hello = parse_hello(first_record_, hs_client_hello);
    if (!hello.alpn_present) return true;  // the client offered nothing: answer nothing
    if (hello.alpn_malformed) {
        mbedtls_ssl_send_alert_message(ssl_.get(), MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR);
        err = make_plain_error(errc::handshake_failed,
                               "malformed ALPN extension in the ClientHello");
        return false;
    }
    if (cfg.alpn_mode == ServerAlpn::force) {
        ssl_->alpn_chosen = cfg.force_protocol.c_str();  // the engine outlives the session
        return true;
    }
    // prefer_server without the alert: our preference, or no ALPN at all.
    for (std::size_t i = 0; i < eng.alpn_names.size(); ++i) {
        if (std::find(hello.alpn.begin(), hello.alpn.end(), eng.alpn_names[i]) !=
            hello.alpn.end()) {
            ssl_->alpn_chosen = eng.alpn_ptrs[i];
            return true;
        }
    }
    return true;
}

Error MbedSession::handshake_error(int ret, int state_before) {
    if (role() == Role::client && ret == MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO &&
        state_before == MBEDTLS_SSL_SERVER_HELLO) {
        // mbedTLS rejects an ALPN selection it did not offer (with a handshake_failure or
        // unsupported_extension alert) but says only "bad ServerHello": recognise the case.
        const Hello hello = parse_hello(first_record_, hs_server_hello);
        if (hello.alpn_present && !hello.alpn_malformed && hello.alpn.size() == 1) {
            const auto& offered = client_->config.alpn;
            if (std::find(offered.begin(), offered.end(), hello.alpn[0]) == offered.end())
                return make_error(errc::alpn_not_offered, ret,
                                  "server selected \"" + hello.alpn[0] + "\" but we offered " +
                                      join(offered));
        }
    }
    if (role() == Role::server && state_before == MBEDTLS_SSL_CLIENT_HELLO &&
        plaintext_alert_sent_ == MBEDTLS_SSL_ALERT_MSG_NO_APPLICATION_PROTOCOL) {
        const Hello hello = parse_hello(first_record_, hs_client_hello);
        return make_error(errc::no_application_protocol, ret,
                          "sent no_application_protocol alert: the client offered " +
                              join(hello.alpn) + ", we support " + join(server_->config.alpn));
    }
    if (version_refused_) return make_error(errc::protocol_version, ret, *version_refused_);
    return failure(ret, true);
}

Error MbedSession::failure(int ret, bool handshaking) {
    const mbedtls_ssl_context* ssl = ssl_.get();
    FailureContext fc;
    fc.role = role();
    fc.handshaking = handshaking;
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        fc.verify_flags = mbedtls_ssl_get_verify_result(ssl);
        fc.expected_identity = !ip_.empty() ? "IP address " + ip_text_ + " (subjectAltName iPAddress)"
                                            : "host " + verify_name_;
    }
    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && ssl->in_msgtype == MBEDTLS_SSL_MSG_ALERT &&
        ssl->in_msg != nullptr && ssl->in_msglen >= 2)
        fc.alert_received = ssl->in_msg[1];
    return map_error(ret, fc);
}

// mbedTLS sends an alert for most of its failures; where it did not, tell the peer why rather
// than leave it with a bare end of stream. Never in answer to an alert or to end of stream.
void MbedSession::send_alert_if_silent(const Error& e, int ret, unsigned alerts_before,
                                       bool handshaking) {
    if (alerts_sent_ != alerts_before) return;
    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
        ret == MBEDTLS_ERR_SSL_CONN_EOF || ret == MBEDTLS_ERR_SSL_ALLOC_FAILED)
        return;
    if (e.code == errc::truncated || e.code == errc::closed || e.code == errc::alert_received)
        return;
    mbedtls_ssl_context* ssl = ssl_.get();
    if (ssl->major_ver == 0) {
        // Refused before mbedTLS read the ClientHello's version: it would stamp the record
        // 0x0000, which peers drop as garbage. Use the highest version we speak.
        ssl->major_ver = MBEDTLS_SSL_MAJOR_VERSION_3;
        ssl->minor_ver = server_ != nullptr && server_->config.max_version < Version::tls1_2
                             ? (server_->config.max_version == Version::tls1_0
                                    ? MBEDTLS_SSL_MINOR_VERSION_1
                                    : MBEDTLS_SSL_MINOR_VERSION_2)
                             : MBEDTLS_SSL_MINOR_VERSION_3;
    }
    mbedtls_ssl_send_alert_message(ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                   static_cast<unsigned char>(alert_for(
                                       static_cast<errc>(e.code.value()), handshaking)));
}

// --- application data -------------------------------------------------------------------------

Status MbedSession::do_write(std::span<const std::uint8_t> plaintext, Error& err) {
    std::size_t off = 0;
    while (off < plaintext.size()) {
        const unsigned alerts_before = alerts_sent_;
        const int ret = mbedtls_ssl_write(ssl_.get(), plaintext.data() + off, plaintext.size() - off);
        if (ret > 0) {
            off += static_cast<std::size_t>(ret);
            continue;
        }
        // Our transport never blocks, so WANT_READ/WANT_WRITE cannot leave data half written.
        err = failure(ret == 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : ret, false);
        send_alert_if_silent(err, ret, alerts_before, false);
        return Status::failed;
    }
    return Status::ok;
}

Status MbedSession::do_read(std::vector<std::uint8_t>& plaintext, Error& err) {
    if (peer_closed_) return Status::closed;
    std::array<unsigned char, 16384> buf;
    bool got = false;
    // Each turn consumes input or returns; the bound only guards against a library bug.
    for (int turns = 0; turns < 4096; ++turns) {
        const unsigned alerts_before = alerts_sent_;
        const int ret = mbedtls_ssl_read(ssl_.get(), buf.data(), buf.size());
        if (ret > 0) {
            plaintext.insert(plaintext.end(), buf.begin(), buf.begin() + ret);
            got = true;
            continue;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
            return got ? Status::ok : Status::want_input;
        if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            peer_closed_ = true;  // mbedTLS does not remember it: we do
            return got ? Status::ok : Status::closed;
        }
        if (ret == 0 || ret == MBEDTLS_ERR_SSL_CONN_EOF) {
            // mbedtls_ssl_read() turns end of stream into 0: without close_notify that is
            // truncation. (A zero-length record also reads as 0 while input remains.)
            if (input_eof() && input_size() == 0) {
                if (got) return Status::ok;  // deliver what came first; the next read fails
                err = failure(MBEDTLS_ERR_SSL_CONN_EOF, false);
                return Status::failed;
            }
            continue;
        }
        err = failure(ret, false);
        send_alert_if_silent(err, ret, alerts_before, false);
        return Status::failed;
    }
    return got ? Status::ok : Status::want_input;
}

void MbedSession::do_close() {
    mbedtls_ssl_context* ssl = ssl_.get();
    if (ssl->state == MBEDTLS_SSL_HANDSHAKE_OVER) {
        (void)mbedtls_ssl_close_notify(ssl);
    } else {
        // mbedTLS only sends close_notify once the handshake is over; a peer still in its
        // handshake deserves to learn we are gone too.
        (void)mbedtls_ssl_send_alert_message(ssl, MBEDTLS_SSL_ALERT_LEVEL_WARNING,
                                             MBEDTLS_SSL_ALERT_MSG_CLOSE_NOTIFY);
    }
}

// --- results ----------------------------------------------------------------------------------

std::optional<std::string> MbedSession::do_alpn() const {
    if (const char* p = mbedtls_ssl_get_alpn_protocol(ssl_.get())) return std::string(p);
    return std::nullopt;
}

SessionInfo MbedSession::do_info() const {
    SessionInfo i;
    const mbedtls_ssl_context* ssl = ssl_.get();
    const bool done = ssl->state == MBEDTLS_SSL_HANDSHAKE_OVER;
    if (done) {
        switch (ssl->minor_ver) {
            case MBEDTLS_SSL_MINOR_VERSION_1: i.version = Version::tls1_0; break;
            case MBEDTLS_SSL_MINOR_VERSION_2: i.version = Version::tls1_1; break;
            case MBEDTLS_SSL_MINOR_VERSION_3: i.version = Version::tls1_2; break;
            default: i.version = Version::unknown; break;
        }
        if (const char* c = mbedtls_ssl_get_ciphersuite(ssl)) i.cipher = c;
        i.resumed = resumed_;
    }
    if (role() == Role::client) {
        i.verified = done && verified_;
        i.server_name = sni_;
    } else {
        i.server_name = received_sni_;
    }
    return i;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

int server_sni_callback(void*, mbedtls_ssl_context* ssl, const unsigned char* name,
                        std::size_t len) {
    try {
        static_cast<MbedSession*>(ssl->p_bio)->set_received_sni(name, len);
    } catch (...) {
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    }
    return 0;
}

std::unique_ptr<Session> make_client_session(std::shared_ptr<const ClientEngine> engine,
                                             const ClientSessionParams& params, Error& err) {
    try {
        const ClientEngine& eng = *engine;
        auto s = std::make_unique<MbedSession>(Role::client, eng.config.alpn, std::move(engine));
        if ((err = s->setup_client(eng, params))) return nullptr;
        return s;
    } catch (const std::bad_alloc&) {
        err = make_plain_error(errc::internal, "out of memory");
        return nullptr;
    }
}

std::unique_ptr<Session> make_server_session(std::shared_ptr<const ServerEngine> engine,
                                             Error& err) {
    try {
        const ServerEngine& eng = *engine;
        auto s = std::make_unique<MbedSession>(Role::server, std::vector<std::string>{},
                                               std::move(engine));
        if ((err = s->setup_server(eng))) return nullptr;
        return s;
    } catch (const std::bad_alloc&) {
        err = make_plain_error(errc::internal, "out of memory");
        return nullptr;
    }
}

}  // namespace connmatrix::tls::mbed
