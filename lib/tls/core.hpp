// The TLS core's view for backends (lib-internal): what a backend's hooks receive and may ask.
// Included by lib/tls and backends/ only. Everything here is the same for every backend; a
// backend turns it into its library's calls and reports back what the library did.
#pragma once

#include "early.hpp"
#include "envelope.hpp"
#include "hello.hpp"
#include "records.hpp"

#include <connmatrix/tls.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::tls {

inline constexpr std::string_view core_origin = "tls";  // Error::origin of the core's own checks

// The peer a client session connects to, as the core worked it out from ClientSessionParams.
struct PeerIdentity {
    std::string host;                  // normalised (no brackets, no trailing dot), lowercase
    std::vector<std::uint8_t> ip;      // the address when host is an IP literal (4 or 16 bytes)
    std::optional<std::string> sni;    // what to send as server_name; nullopt: none
    bool verify = true;                // chain and host (or IP address) must be verified
    bool is_ip() const noexcept { return !ip.empty(); }
    std::string describe() const;      // "host localhost", "IP address 127.0.0.1"
};

namespace detail {

struct ClientSetup {
    std::string backend;
    std::shared_ptr<const ClientConfig> config;
    PeerIdentity peer;
    envelope::Key key{};
    // The library's own session bytes from a vetted envelope, or empty: a full handshake.
    std::vector<std::uint8_t> resume;
    std::string resume_ignored;  // why given resume data was not used
    std::shared_ptr<KeyLog> keylog;  // the context's key log; nullptr: none
    early::Plan early;           // how much early data the resumed ticket allows here
};

// What the core prepares for a client context before the backend builds it (once per context).
struct ClientContextSetup {
    // ClientConfig::keylog_file, open; nullptr: none. A backend whose library takes its key
    // export callback per configuration (mbedTLS 2.28) hands this to it; the others log through
    // SessionCore::log_secret.
    std::shared_ptr<KeyLog> keylog;
};

struct ServerSetup {
    std::string backend;
    Capabilities caps;
    std::shared_ptr<const ServerConfig> config;
};

// The core's state of one session, beside the byte queues in Session.
class SessionCore {
public:
    explicit SessionCore(ClientSetup& s);
    explicit SessionCore(ServerSetup& s);

    Role role() const noexcept { return server_ ? Role::server : Role::client; }
    const std::string& backend() const noexcept { return backend_; }
    const ClientConfig& client() const noexcept { return *client_; }  // client sessions only
    const ServerConfig& server() const noexcept { return *server_; }  // server sessions only
    const PeerIdentity& peer() const noexcept { return peer_; }       // client sessions only
    const std::vector<std::string>& offered() const noexcept;          // client: our ALPN offer

    // --- what went by during the handshake (fed by Session::pull / push) ---------------------
    RecordObserver input, output;
    early::State early;  // TLS 1.3 early data (early.hpp)
    // The peer's hello (ClientHello for a server, ServerHello for a client), once all of it has
    // arrived in plaintext; nullptr before, or when it was not a well-formed hello.
    const hello::Message* peer_hello() const;
    // Our own hello, as the library wrote it.
    const hello::Message* own_hello() const;

    // Client: a decrypted handshake message (type, length, body) the library handed its
    // backend (TLS 1.3 EncryptedExtensions carry the ALPN answer; a CertificateRequest is
    // noted for certificate_requested(); a NewSessionTicket its early data limit, for a backend
    // whose library does not say it). Returns false when it selects an ALPN protocol we never
    // offered: the backend aborts the handshake then.
    bool observe_server_message(std::span<const std::uint8_t> message) noexcept;
    bool observe_server_message(std::uint8_t type, std::span<const std::uint8_t> body) noexcept;
    // Client: the selection the server's hello carried, when it was not one we offered.
    const std::optional<std::string>& unoffered_selection() const noexcept { return unoffered_; }

    // --- client certificates (mutual TLS, lib/tls/identity.hpp) ------------------------------
    // Client: the server sent a CertificateRequest. observe_server_message() notices it; a
    // backend whose library hands it no server messages asks its library and says so here.
    void note_certificate_request() noexcept { certificate_requested_ = true; }
    bool certificate_requested() const noexcept { return certificate_requested_; }
    // Client: we sent a certificate: the server asked and one is configured (every backend
    // sends the configured one whatever CAs the server names).
    bool certificate_sent() const noexcept {
        return certificate_requested_ && client_ && !client_->client_cert_file.empty();
    }

    // --- decisions every backend takes the same way ------------------------------------------
    // Server: the answer to the client's ALPN offer (nullptr: it sent no ALPN extension). A
    // refusal is remembered: the handshake's error then says what was offered and supported.
    // A selection the library cannot send (un-offered, without caps.server_force_alpn) comes
    // back as a refusal, and the handshake fails with errc::unsupported.
    AlpnAnswer answer_alpn(const std::vector<std::string>* offered);
    // Server: true when the ClientHello's versions share none with [min_version, max] (RFC 8446
    // 4.2.1 then asks for a protocol_version alert); remembered for the error. `max` is the
    // highest version the library speaks.
    bool refuse_versions(const hello::Message& client_hello, Version max);
    // Server: the error a refusal above calls for, if one happened.
    std::optional<Error> refusal() const { return refusal_; }
    // TLS 1.2: resumed when the ServerHello echoed the ClientHello's non-empty session id
    // (RFC 5246 7.4.1.3, RFC 5077 3.4), for libraries that do not say. nullopt: can't tell (a
    // server given a ticket with an empty session id).
    std::optional<bool> resumed_by_session_id() const;

    // --- key log (ClientConfig::keylog_file) ----------------------------------------------
    bool keylog_enabled() const noexcept { return keylog_ != nullptr; }
    // The random of this handshake's ClientHello (ours for a client, the peer's for a server),
    // read from the hello that went by; nullopt before it did.
    std::optional<std::array<std::uint8_t, 32>> client_random() const noexcept;
    // Appends one secret the library exported (label as NSS spells it, e.g. CLIENT_RANDOM or
    // CLIENT_TRAFFIC_SECRET_0) to the key log. False, and nothing written, without a key log,
    // when the random is not this handshake's ClientHello's, or the line is not well formed.
    bool log_secret(std::string_view label, std::span<const std::uint8_t> random,
                    std::span<const std::uint8_t> secret) noexcept;
    // The same for a ready-made "LABEL <random hex> <secret hex>" line (OpenSSL's callback):
    // parsed and checked by the core, then written in the core's format.
    bool log_line(std::string_view line) noexcept;

    // The session's resume bookkeeping, for info() and export.
    const std::string& resume_ignored() const noexcept { return resume_ignored_; }
    const envelope::Key& key() const noexcept { return key_; }

private:
    void check_selection(const hello::Message& m) noexcept;

    std::string backend_;
    std::shared_ptr<const ClientConfig> client_;
    std::shared_ptr<const ServerConfig> server_;
    PeerIdentity peer_;
    envelope::Key key_{};
    std::string resume_ignored_;
    std::optional<std::string> unoffered_;
    bool certificate_requested_ = false;
    Capabilities caps_;
    std::optional<Error> refusal_;
    std::shared_ptr<KeyLog> keylog_;
    mutable std::optional<hello::Message> peer_hello_, own_hello_;
    mutable bool peer_parsed_ = false, own_parsed_ = false;
};

}  // namespace detail

// A backend's contexts: the core's ClientContext / ServerContext holding the backend's engine
// (its library state, shared with every session) and handing it to the backend's factory.
template <class Engine,
          std::unique_ptr<Session> (*Make)(std::shared_ptr<const Engine>, detail::ClientSetup&, Error&)>
class ClientContextOf final : public ClientContext {
public:
    ClientContextOf(const Backend& b, const ClientConfig& cfg, std::shared_ptr<const Engine> e)
        : ClientContext(b, cfg), engine_(std::move(e)) {}

private:
    std::unique_ptr<Session> do_new_session(detail::ClientSetup& setup, Error& err) override {
        return Make(engine_, setup, err);
    }
    std::shared_ptr<const Engine> engine_;
};

template <class Engine,
          std::unique_ptr<Session> (*Make)(std::shared_ptr<const Engine>, detail::ServerSetup&, Error&)>
class ServerContextOf final : public ServerContext {
public:
    ServerContextOf(const Backend& b, const ServerConfig& cfg, std::shared_ptr<const Engine> e)
        : ServerContext(b, cfg), engine_(std::move(e)) {}

private:
    std::unique_ptr<Session> do_new_session(detail::ServerSetup& setup, Error& err) override {
        return Make(engine_, setup, err);
    }
    std::shared_ptr<const Engine> engine_;
};

// --- configuration checks (validate.cpp): one set of rules, run before any backend sees it ----
Error check_client_config(const ClientConfig& cfg, const Capabilities& caps);
Error check_server_config(const ServerConfig& cfg, const Capabilities& caps);
// An ALPN list against RFC 7301 and what the library can carry; `what` names it in messages.
Error check_alpn_list(const std::vector<std::string>& names, const Capabilities& caps,
                      std::string_view what);

// "[h2, http/1.1]".
std::string join_protocols(const std::vector<std::string>& names);

// Wire values of versions (0x0303 for TLS 1.2) and back.
std::uint16_t wire_version(Version v) noexcept;
Version from_wire_version(std::uint16_t v) noexcept;

// A UTC calendar time (month 1-12) as a time point, for certificate times; nullopt when the
// fields are out of range.
std::optional<std::chrono::system_clock::time_point> utc_time(int year, int month, int day,
                                                              int hour, int minute, int second);

// The error a backend reports when its library failed to allocate.
Error out_of_memory(std::string_view origin);

}  // namespace connmatrix::tls
