// The shared half of every tls::Session: byte queues, sticky errors, data before a failure,
// the ALPN check, naming what the library could not name, and the resumption envelope.
#include "alert.hpp"
#include "alpn.hpp"
#include "core.hpp"
#include "host.hpp"
#include "identity.hpp"
#include "keylog.hpp"
#include "pin.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <utility>

namespace connmatrix::tls {
namespace {

// RFC 8446 4.6.1: a ticket lives at most seven days. When the library does not say how long
// the server allows, a day (curl's session cache keeps sessions no longer either).
constexpr std::chrono::seconds max_lifetime = std::chrono::hours(24 * 7);
constexpr std::chrono::seconds default_lifetime = std::chrono::hours(24);

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Runs a backend hook: a thrown exception (out of memory, or a bug) becomes a sticky error
// instead of crossing into the caller mid-state.
template <class F>
Status guarded(F&& hook, Error& err, const std::string& backend) {
    try {
        return hook();
    } catch (const std::bad_alloc&) {
        err = out_of_memory(backend);
    } catch (const std::exception& e) {
        err = {errc::internal, std::string("unexpected exception: ") + e.what(), 0, backend};
    }
    return Status::failed;
}

// Client: a fatal alert after the server asked for our certificate is most likely its verdict
// on it (or on its absence): name that (identity.hpp). In TLS 1.3 it comes with the first read.
Error certificate_verdict(const detail::SessionCore& core, Error err) {
    if (core.role() != Role::client || !core.certificate_requested()) return err;
    if (auto refused = detail::certificate_refusal(core.client(), err)) return *refused;
    return err;
}

}  // namespace

Session::Session(detail::ClientSetup& setup)
    : role_(Role::client), backend_(setup.backend),
      core_(std::make_unique<detail::SessionCore>(setup)) {}

Session::Session(detail::ServerSetup& setup)
    : role_(Role::server), backend_(setup.backend),
      core_(std::make_unique<detail::SessionCore>(setup)) {}

Session::~Session() = default;

void Session::feed(std::span<const std::uint8_t> ciphertext) {
    if (eof_) return;  // nothing may follow end of stream
    // Compact once the consumed prefix dominates, so long-lived sessions don't grow.
    if (in_pos_ > 0 && in_pos_ >= in_.size() / 2) {
        in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(in_pos_));
        in_pos_ = 0;
    }
    in_.insert(in_.end(), ciphertext.begin(), ciphertext.end());
}

void Session::feed_eof() { eof_ = true; }

std::vector<std::uint8_t> Session::take_output() {
    std::vector<std::uint8_t> out;
    out.swap(out_);
    return out;
}

std::size_t Session::pull(std::uint8_t* dst, std::size_t n) noexcept {
    const std::size_t k = std::min(n, in_.size() - in_pos_);
    if (k > 0) {
        std::memcpy(dst, in_.data() + in_pos_, k);
        if (!handshake_done_) core_->input.consume({dst, k});
    }
    in_pos_ += k;
    if (in_pos_ == in_.size()) {
        in_.clear();
        in_pos_ = 0;
    }
    return k;
}

void Session::push(const std::uint8_t* src, std::size_t n) {
    out_.insert(out_.end(), src, src + n);
    if (!handshake_done_) core_->output.consume({src, n});
}

Status Session::fail(Error err) {
    if (!err.code) err.code = make_error_code(errc::internal);
    if (err.origin.empty()) err.origin = err.library_code != 0 ? backend_ : std::string(core_origin);
    error_ = std::move(err);
    return Status::failed;
}

// What the library could not say itself, every backend alike.
Error Session::explain_handshake_failure(Error err) const {
    const std::string& lib_origin = err.origin.empty() ? backend_ : err.origin;
    if (role_ == Role::client) {
        // The server selected a protocol we never offered: libraries reject it as a bad
        // extension (or, GnuTLS, not at all: its backend aborts when the core says so).
        std::optional<std::string> unoffered = core_->unoffered_selection();
        if (const auto* sh = core_->peer_hello(); !unoffered && sh != nullptr && sh->alpn.size() == 1 &&
                                                  !sh->alpn_malformed) {
            const auto& offered = core_->offered();
            if (std::find(offered.begin(), offered.end(), sh->alpn.front()) == offered.end())
                unoffered = sh->alpn.front();
        }
        if (unoffered) {
            Error a = alpn::check_selected(unoffered, core_->offered());
            if (!err.detail.empty()) a.detail += "; " + err.detail;
            a.library_code = err.library_code;
            a.origin = err.library_code != 0 ? lib_origin : std::string(core_origin);
            return a;
        }
    }
    // Server: the core refused the client's ALPN offer or versions; say what both sides had.
    if (auto refused = core_->refusal()) {
        if (!err.detail.empty()) refused->detail += "; " + err.detail;
        if (err.library_code != 0) {
            refused->library_code = err.library_code;
            refused->origin = lib_origin;
        }
        return *refused;
    }
    // A peer that gave up with a plaintext alert where the library expected an encrypted
    // record (TLS 1.3, before the peer switched keys): name the alert, not the decryption.
    if (const auto alert = core_->input.last_plaintext_alert();
        alert && (err.code == errc::bad_record || err.code == errc::handshake_failed))
        return alert::received_error(*alert, true, err.library_code, lib_origin,
                                     "(in plaintext; the library said: " + err.detail + ")");
    return err;
}

Status Session::handshake() {
    if (error_) return Status::failed;
    if (handshake_done_) return Status::ok;
    Error err;
    const Status s = guarded([&] {
        const Status e = send_early(err);  // the first time: queued early data, to the library
        return e == Status::ok ? do_handshake(err) : e;
    }, err, backend_);
    if (s == Status::failed)
        return fail(certificate_verdict(*core_, explain_handshake_failure(std::move(err))));
    if (s != Status::ok) {
        // A transport that ended mid-handshake can never complete it.
        if (s == Status::want_input && at_eof())
            return fail({errc::truncated, "connection closed during the handshake", 0,
                         std::string(core_origin)});
        if (s == Status::closed)
            return fail({errc::closed, "peer closed the connection during the handshake", 0,
                         std::string(core_origin)});
        return s;
    }
    if (role_ == Role::client) {
        if (Error e = alpn::check_selected(do_alpn(), core_->offered())) {
            e.origin = std::string(core_origin);
            return fail(std::move(e));
        }
        if (Error e = check_pins()) return fail(std::move(e));
    }
    if (Error e = settle_early()) return fail(std::move(e));
    handshake_done_ = true;
    return Status::ok;
}

// After the library's own chain and host verification (or without it: a pin stands alone).
Error Session::check_pins() const {
    const auto& pins = core_->client().pins;
    if (pins.empty()) return {};
    std::vector<std::uint8_t> spki;
    Error err;
    const Status s = guarded(
        [&] {
            spki = do_peer_spki_der();
            return Status::ok;
        },
        err, backend_);
    if (s == Status::failed) return err;
    return pin::check(pins, spki);
}

Status Session::write(std::span<const std::uint8_t> plaintext) {
    if (error_) return Status::failed;
    if (pending_) return fail(std::exchange(pending_, std::nullopt).value());
    if (!handshake_done_ || closed_)
        return fail({errc::invalid_state,
                     closed_ ? "write after close()" : "write before the handshake completed", 0,
                     std::string(core_origin)});
    Error err;
    const Status s = guarded([&] { return do_write(plaintext, err); }, err, backend_);
    if (s == Status::failed) return fail(std::move(err));
    return s;
}

Status Session::read(std::vector<std::uint8_t>& plaintext) {
    if (error_) return Status::failed;
    if (!handshake_done_)
        return fail({errc::invalid_state, "read before the handshake completed", 0,
                     std::string(core_origin)});
    if (pending_) return fail(std::exchange(pending_, std::nullopt).value());
    if (peer_closed_) return Status::closed;
    const std::size_t before = plaintext.size();
    core_->early.take(plaintext);  // accepted early data read_early() left, first
    Error err;
    Status s = guarded([&] { return do_read(plaintext, err); }, err, backend_);
    if (s == Status::want_input && at_eof()) {
        s = Status::failed;
        err = {errc::truncated, "connection closed without close_notify (possible truncation attack)",
               0, std::string(core_origin)};
    }
    const bool got = plaintext.size() > before;
    if (s == Status::failed) err = certificate_verdict(*core_, std::move(err));
    switch (s) {
        case Status::failed:
            if (!got) return fail(std::move(err));
            pending_ = std::move(err);  // hand over the data first; the error comes next call
            return Status::ok;
        case Status::closed:
            peer_closed_ = true;
            return got ? Status::ok : Status::closed;
        case Status::want_input: return got ? Status::ok : Status::want_input;
        case Status::ok: break;
    }
    return Status::ok;
}

void Session::close() {
    if (closed_ || error_) return;
    closed_ = true;
    try {
        do_close();
    } catch (...) {  // close_notify could not be queued (out of memory): the transport ends anyway
    }
}

std::optional<std::string> Session::alpn() const { return do_alpn(); }

SessionInfo Session::info() const {
    SessionInfo i = do_info();
    i.backend = backend_;
    i.role = role_;
    i.alpn = do_alpn();
    if (role_ == Role::client) {
        i.verified = handshake_done_ && core_->peer().verify;
        i.server_name = core_->peer().sni;
        i.resume_ignored = core_->resume_ignored();
        i.client_certificate = handshake_done_ && core_->certificate_sent();
    } else {
        const hello::Message* ch = core_->peer_hello();
        i.server_name = ch != nullptr ? ch->server_name : std::nullopt;
    }
    i.early_data = early_data();
    return i;
}

std::vector<std::uint8_t> Session::export_session() const {
    // A session whose connection ended in a fatal error (even one still pending behind delivered
    // data) must not be resumed (RFC 5246 7.2.2), whatever the library thinks.
    if (role_ != Role::client || !handshake_done_ || error_ || pending_) return {};
    try {
        Exported x = do_export_session();
        if (x.data.empty()) return {};
        const auto lifetime = x.lifetime > std::chrono::seconds::zero()
                                  ? std::min(x.lifetime, max_lifetime)
                                  : default_lifetime;
        const PeerIdentity& peer = core_->peer();
        envelope::Fields f{backend_, peer.host, peer.sni, peer.verify, do_alpn(),
                           unix_now() + lifetime.count()};
        // Early data only on a TLS 1.3 ticket (RFC 8446 4.2.10).
        if (do_info().version == Version::tls1_3) f.max_early_data = x.max_early_data;
        return envelope::seal(f, x.data, core_->key());
    } catch (...) {  // out of memory: there is simply nothing to resume with
        return {};
    }
}

// --- contexts ---------------------------------------------------------------------------------

namespace {

template <class F>
auto guarded_make(F&& make, Error& err, const std::string& origin) -> decltype(make()) {
    try {
        auto made = make();
        if (!made && !err) err = {errc::internal, "the backend made nothing and said nothing", 0, origin};
        if (!made && err.origin.empty()) err.origin = origin;
        return made;
    } catch (const std::bad_alloc&) {
        err = out_of_memory(origin);
    } catch (const std::exception& e) {
        err = {errc::internal, std::string("unexpected exception: ") + e.what(), 0, origin};
    }
    return nullptr;
}

PeerIdentity peer_of(const ClientSessionParams& p, bool verify) {
    PeerIdentity peer;
    peer.host = host::lower(host::normalise(p.host));
    peer.ip = host::ip_bytes(peer.host);
    peer.sni = host::sni_for(p.host, p.sni);
    peer.verify = verify;
    return peer;
}

// What decides whom we trust, and who we are: the envelope key is bound to it. Pins are part
// of it, so a session established under one set of pins never resumes a context with other
// pins; so is the client certificate, since a resumed session keeps the client authentication
// of the one it came from (curl's session cache keys on it too).
std::string trust_label(const ClientConfig& config) {
    std::string label = std::string("trust|verify=") + (config.verify ? "1" : "0") +
                        "|ca_file=" + config.ca_file;
    for (const Pin& p : config.pins) label += "|pin=" + pin::format(p);
    label += "|client_cert=" + config.client_cert_file + "|client_key=" + config.client_key_file;
    return label;
}

}  // namespace

// The envelope key: the backend object's, bound to what decides whom we trust.
ClientContext::ClientContext(const Backend& backend, const ClientConfig& config)
    : backend_(backend.name()), config_(std::make_shared<const ClientConfig>(config)),
      key_(envelope::derive_key(backend.key_, trust_label(config))) {}

ClientContext::~ClientContext() = default;

std::unique_ptr<Session> ClientContext::new_session(const ClientSessionParams& params, Error& err) {
    return guarded_make(
        [&]() -> std::unique_ptr<Session> {
            detail::ClientSetup setup;
            setup.backend = backend_;
            setup.config = config_;
            setup.key = key_;
            setup.peer = peer_of(params, config_->verify);
            setup.keylog = keylog_;
            if (setup.peer.verify && setup.peer.host.empty()) {
                err = {errc::invalid_config,
                       "certificate verification needs the host (or address) we connect to: "
                       "ClientSessionParams.host is empty (or verify=false)",
                       0, std::string(core_origin)};
                return nullptr;
            }
            if (!params.resume.empty()) {
                std::string why;
                if (auto opened = envelope::open(params.resume, key_, why)) {
                    const envelope::Fields want{backend_, setup.peer.host, setup.peer.sni,
                                                setup.peer.verify, std::nullopt, 0};
                    why = envelope::refusal(opened->fields, want, unix_now());
                    if (why.empty()) {
                        setup.resume = std::move(opened->payload);
                        setup.early = early::plan(*config_, opened->fields);
                    }
                }
                setup.resume_ignored = std::move(why);
            }
            return do_new_session(setup, err);
        },
        err, backend_);
}

ServerContext::ServerContext(const Backend& backend, const ServerConfig& config)
    : backend_(backend.name()), caps_(backend.capabilities()),
      config_(std::make_shared<const ServerConfig>(config)) {}

ServerContext::~ServerContext() = default;

std::unique_ptr<Session> ServerContext::new_session(Error& err) {
    return guarded_make(
        [&]() -> std::unique_ptr<Session> {
            detail::ServerSetup setup{backend_, caps_, config_};
            return do_new_session(setup, err);
        },
        err, backend_);
}

Backend::Backend(std::string name, Capabilities caps)
    : name_(std::move(name)), caps_(caps), key_(envelope::random_key()) {}

Backend::~Backend() = default;

std::string Backend::library_version() const { return do_library_version(); }

std::shared_ptr<ClientContext> Backend::client_context(const ClientConfig& cfg, Error& err) const {
    if ((err = check_client_config(cfg, caps_))) return nullptr;
    detail::ClientContextSetup setup;
    if (setup.keylog = detail::open_keylog(cfg, err); err) return nullptr;
    auto ctx = guarded_make([&] { return do_client_context(cfg, setup, err); }, err, name_);
    if (ctx) ctx->keylog_ = std::move(setup.keylog);  // for its sessions' ClientSetup
    return ctx;
}

std::shared_ptr<ServerContext> Backend::server_context(const ServerConfig& cfg, Error& err) const {
    if ((err = check_server_config(cfg, caps_))) return nullptr;
    return guarded_make([&] { return do_server_context(cfg, err); }, err, name_);
}

}  // namespace connmatrix::tls
