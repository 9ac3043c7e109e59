#include "connector.hpp"

#include <connmatrix/errors/config.hpp>
#include <connmatrix/negotiate.hpp>

#include <functional>
#include <optional>

namespace connmatrix::pool {

namespace {

std::string alpn_text(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out.empty() ? "(none: no ALPN extension)" : "[" + out + "]";
}

std::string rule_text(const policy::ResolvedPolicy& rp) {
    if (const auto* r = rp.rule()) return "hosts[" + std::to_string(r->index) + "] (" + r->pattern + ")";
    return "defaults";
}

tls::Version to_tls(policy::TlsVersion v) {
    return v == policy::TlsVersion::tls1_3 ? tls::Version::tls1_3 : tls::Version::tls1_2;
}

std::string context_key(const tls::Backend& backend, const tls::ClientConfig& cfg) {
    std::string key(backend.name());
    key += "|alpn=";
    for (const auto& a : cfg.alpn) key += std::to_string(a.size()) + ":" + a;
    key += "|verify=" + std::to_string(cfg.verify) + "|ca=" + cfg.ca_file +
           "|min=" + std::string(tls::to_string(cfg.min_version)) +
           "|max=" + std::string(tls::to_string(cfg.max_version)) +
           "|early=" + std::to_string(cfg.early_data);
    for (const auto& pin : cfg.pins) key += "|pin=" + std::string(pin.begin(), pin.end());
    // The client identity: its files, and the passphrase (a changed variable is another key).
    key += "|cert=" + cfg.client_cert_file + "|key=" + cfg.client_key_file + "|pass=" +
           std::to_string(std::hash<std::string>{}(cfg.client_key_password));
    return key;
}

// "tls.client_cert (hosts[1] (*.bank.example))": where the identity came from, for errors.
std::string identity_source(const policy::ResolvedPolicy& rp) {
    const policy::Provenance* src = rp.source_of("tls.client_cert");
    return "tls.client_cert" + (src ? " from " + src->text : std::string());
}

// One attempt: Transport::connect, then (https) the TLS session and Transport::handshake.
class Attempt final : public ConnectAttempt, public std::enable_shared_from_this<Attempt> {
public:
    Attempt(const net::Executor& ex, const Logger& log, TlsContexts& contexts, ConnectTarget target,
            Connector::Done done, net::Resolver* resolver, std::chrono::milliseconds resolution_delay)
        : log_(log), contexts_(contexts), target_(std::move(target)), done_(std::move(done)),
          transport_(std::make_shared<net::Transport>(ex)), resolver_(resolver),
          resolution_delay_(resolution_delay) {
        const auto& rp = *target_.policy;
        info_.mode = std::string(policy::to_string(rp.policy.mode));
        info_.rule = rule_text(rp);
    }

    void start() {
        const auto& rp = *target_.policy;
        const auto& p = rp.policy;
        std::optional<net::Endpoint> proxy;
        if (p.proxy) proxy = net::Endpoint{p.proxy->host, p.proxy->port};
        if (log_.on(LogLevel::debug))
            log_(LogLevel::debug,
                 "connect #" + std::to_string(target_.id) + " to " + rp.origin.to_string() +
                     (p.connect_to ? " at " + net::Endpoint{p.connect_to->host, p.connect_to->port}
                                                  .to_string() + " (connect_to)"
                                   : std::string()) +
                     (!p.resolve.empty() && !p.connect_to && !proxy
                          ? " at " + std::to_string(p.resolve.size()) + " fixed address(es) (resolve)"
                          : std::string()) +
                     (proxy ? " through proxy " + proxy->to_string() : std::string()) +
                     (target_.http1_forced ? " (HTTP/1.1: fallback remembered)" : std::string()));
        auto self = shared_from_this();
        // Cleartext h2 by prior knowledge lets the server speak first (its SETTINGS).
        const bool origin_may_speak_first =
            rp.origin.scheme == policy::Scheme::http &&
            negotiate::may_speak_h2(negotiate::attempt_policy(p, target_.http1_forced),
                                    negotiate::Transport::cleartext);
        // connect_to: the bytes go there (through a proxy, the CONNECT names it); the TLS
        // session below still names and verifies the origin's host.
        const net::Endpoint target = p.connect_to
                                         ? net::Endpoint{p.connect_to->host, p.connect_to->port}
                                         : net::Endpoint{rp.origin.host, rp.origin.port};
        net::Dial dial;
        dial.stagger = p.timeouts.happy_eyeballs;
        dial.resolver = resolver_;
        dial.resolution_delay = resolution_delay_;
        if (!p.connect_to) dial.addresses = p.resolve;  // unused through a proxy
        if (const Observer* ob = target_.observer; ob && *ob)
            dial.observe = [ob, id = target_.id](net::Dial::Step step, const std::string& what,
                                                 const Error* err) {
                using S = net::Dial::Step;
                switch (step) {
                    case S::resolving: ob->connection(EventKind::dns_start, id, nullptr, what); break;
                    case S::resolved: ob->connection(EventKind::dns_end, id, nullptr, what, err); break;
                    case S::attempt:
                        ob->connection(EventKind::connect_start, id, nullptr, {}, nullptr, what);
                        break;
                    case S::attempt_done:
                        ob->connection(EventKind::connect_end, id, nullptr, {}, err, what);
                        break;
                }
            };
        transport_->connect(target, proxy, p.timeouts.connect,
                            [self](const Error& err) { self->on_connected(err); },
                            origin_may_speak_first, std::move(dial));
    }

    void cancel() override {
        if (!done_) return;  // answered: the transport is someone else's now
        done_ = nullptr;
        transport_->close();
    }

private:
    void on_connected(const Error& err) {
        if (!done_) return;
        if (log_.on(LogLevel::debug)) {
            // Happy Eyeballs: what each address did, when there was a race to see.
            const std::vector<std::string> tried = transport_->attempts();
            if (tried.size() > 1) {
                std::string line = "connect #" + std::to_string(target_.id) + " attempts:";
                for (std::size_t i = 0; i < tried.size(); ++i) line += (i ? "; " : " ") + tried[i];
                log_(LogLevel::debug, line);
            }
        }
        if (err) {
            finish(err);
            return;
        }
        const auto& rp = *target_.policy;
        const auto& p = rp.policy;
        info_.remote_address = transport_->remote_address();
        if (p.proxy && log_.on(LogLevel::debug))
            log_(LogLevel::debug, "proxy tunnel to " + rp.origin.to_string() + " open via " +
                                      p.proxy->to_string());
        if (rp.origin.scheme == policy::Scheme::http) {
            finish({});
            return;
        }
        if (!target_.backend) {
            finish({config::errc::backend_not_compiled_in,
                    "backend \"" + p.backend + "\" is not compiled into this build", 0, "config"});
            return;
        }
        tls::ClientConfig cfg;
        cfg.alpn = negotiate::alpn_offer(p, target_.http1_forced);
        cfg.verify = p.tls.verify;
        cfg.ca_file = p.tls.ca_file;
        cfg.min_version = to_tls(p.tls.min_version);
        cfg.max_version = to_tls(p.tls.max_version);
        for (const auto& text : p.tls.pin) {
            std::string why;
            auto pin = policy::parse_pin(text, &why);
            if (!pin) {  // a policy built in code, never checked: say so rather than not pin
                finish({tls::errc::invalid_config, "tls.pin \"" + text + "\": " + why, 0, "tls"});
                return;
            }
            cfg.pins.push_back(*pin);
        }
        if (const policy::ClientIdentity& id = p.tls.client; !id.empty()) {
            cfg.client_cert_file = id.cert;
            cfg.client_key_file = id.key;
            std::string why;
            auto pass = policy::read_key_password(id, &why);
            if (!pass) {
                finish({tls::errc::invalid_config, identity_source(rp) + ": " + why, 0, "tls"});
                return;
            }
            cfg.client_key_password = std::move(*pass);
        }
        cfg.keylog_file = contexts_.keylog_file();
        cfg.early_data = p.tls.early_data;
        Error cerr;
        auto ctx = contexts_.get(*target_.backend, cfg, cerr);
        if (!ctx) {
            if (!cfg.client_cert_file.empty() && cerr.code == tls::errc::invalid_config)
                cerr.detail += " (" + identity_source(rp) + ")";
            finish(cerr);
            return;
        }
        tls::ClientSessionParams params;
        params.host = rp.origin.host;
        switch (p.tls.sni.kind) {
            case policy::Sni::Kind::host: break;
            case policy::Sni::Kind::none: params.sni = std::string(); break;
            case policy::Sni::Kind::name: params.sni = p.tls.sni.name; break;
        }
        if (p.tls.resumption) params.resume = std::move(target_.resume);
        auto session = ctx->new_session(params, cerr);
        if (!session) {
            finish(cerr);
            return;
        }
        // Known before the handshake: a failure from here on still reports them.
        info_.backend = std::string(session->backend_name());
        info_.alpn_offered = ctx->config().alpn;
        if (log_.on(LogLevel::debug))
            log_(LogLevel::debug, "TLS " + info_.backend + " #" + std::to_string(target_.id) +
                                      ": ALPN offered " + alpn_text(info_.alpn_offered));
        if (target_.early && !write_early(*session)) {
            finish(session->error());
            return;
        }
        auto self = shared_from_this();
        if (const Observer* ob = target_.observer; ob && *ob)
            ob->connection(EventKind::tls_start, target_.id, &info_);
        transport_->handshake(std::move(session), p.timeouts.tls,
                              [self](const Error& e) { self->on_handshake(e); });
    }

    void on_handshake(const Error& err) {
        if (!done_) return;
        const Observer* ob = target_.observer;
        if (err) {
            if (ob && *ob) ob->connection(EventKind::tls_end, target_.id, &info_, {}, &err);
            finish(err);
            return;
        }
        const tls::Session& s = *transport_->tls();
        const tls::SessionInfo ti = s.info();
        info_.backend = ti.backend;
        info_.alpn_selected = ti.alpn;
        info_.tls_version = std::string(tls::to_string(ti.version));
        info_.cipher = ti.cipher;
        info_.resumed = ti.resumed;
        info_.verified = ti.verified;
        info_.certificate_expires = ti.peer_expires;
        info_.client_certificate = ti.client_certificate;
        info_.early_data = ti.early_data == tls::EarlyData::accepted   ? EarlyData::accepted
                           : ti.early_data == tls::EarlyData::rejected ? EarlyData::rejected
                                                                       : EarlyData::not_attempted;
        if (early_written_ && info_.early_data == EarlyData::not_attempted)
            info_.early_data = EarlyData::rejected;  // written, not delivered
        tls_session_ = s.export_session();
        if (log_.on(LogLevel::debug))
            log_(LogLevel::debug, "TLS #" + std::to_string(target_.id) + " " + info_.tls_version +
                                      " " + info_.cipher + ", ALPN selected " +
                                      ti.alpn.value_or("none") +
                                      (ti.resumed.value_or(false) ? ", resumed" : "") +
                                      (early_written_ ? ", early data " +
                                                            std::string(to_string(info_.early_data))
                                                      : std::string()));
        // The TLS core's rule: unusable resumption data costs a full handshake, never the request.
        if (!ti.resume_ignored.empty() && log_.on(LogLevel::debug))
            log_(LogLevel::debug, "TLS #" + std::to_string(target_.id) +
                                      ": stored session not offered (" + ti.resume_ignored + ")");
        if (ob && *ob) ob->connection(EventKind::tls_end, target_.id, &info_);
        finish({});
    }

    // Early data: the first request, written now so that it leaves with the ClientHello.
    // false: the session refused the bytes (they were within its capacity: a bug), and failed.
    bool write_early(tls::Session& session) {
        const std::size_t capacity = session.early_data_capacity();
        if (capacity == 0) return true;
        const auto& offer = info_.alpn_offered;
        std::optional<std::string> alpn;
        if (!offer.empty()) alpn = offer.front();
        const std::vector<std::uint8_t> bytes = target_.early(alpn, capacity);
        if (bytes.empty()) return true;
        if (session.write_early(bytes) != tls::Status::ok) return false;
        early_written_ = true;
        if (log_.on(LogLevel::debug))
            log_(LogLevel::debug, "TLS #" + std::to_string(target_.id) + ": " +
                                      std::to_string(bytes.size()) + " bytes of " +
                                      alpn.value_or("(no ALPN)") + " as early data (of " +
                                      std::to_string(capacity) + " allowed)");
        return true;
    }

    void finish(Error err) {
        auto done = std::exchange(done_, nullptr);
        if (!done) return;
        info_.timings.dns = transport_->dns_time;
        info_.timings.connect = transport_->connect_time;
        info_.timings.tls = transport_->tls_time;
        Connected c;
        c.early_written = early_written_;
        c.info = std::move(info_);
        if (err) {
            transport_->close();
            c.error = std::move(err);
        } else {
            c.transport = transport_;
            c.tls_session = std::move(tls_session_);
        }
        done(std::move(c));
    }

    const Logger& log_;
    TlsContexts& contexts_;
    ConnectTarget target_;
    Connector::Done done_;  // empty once answered or cancelled
    std::shared_ptr<net::Transport> transport_;
    net::Resolver* resolver_;  // the Connector's; null: getaddrinfo
    std::chrono::milliseconds resolution_delay_;
    ConnectionInfo info_;
    std::vector<std::uint8_t> tls_session_;
    bool early_written_ = false;
};

}  // namespace

std::shared_ptr<tls::ClientContext> TlsContexts::get(const tls::Backend& backend,
                                                    const tls::ClientConfig& cfg, Error& err) {
    const std::string key = context_key(backend, cfg);
    if (auto* cached = contexts_.find(key)) return *cached;
    auto ctx = backend.client_context(cfg, err);
    if (ctx) contexts_.put(key, ctx);
    return ctx;
}

Connector::Connector(const net::Executor& ex, Logger log, std::string keylog_file,
                     const DnsOptions& dns)
    : ex_(ex), log_(std::move(log)), contexts_(TlsContexts::default_capacity, std::move(keylog_file)),
      resolution_delay_(dns.resolution_delay) {
    if (dns.system) return;
    Error err;
    resolver_ = net::Resolver::make(ex, {dns.max_ttl, dns.servers}, err);
    if (!resolver_) throw std::system_error(err.code, err.detail);
}

Connector::~Connector() = default;

std::shared_ptr<ConnectAttempt> Connector::connect(ConnectTarget target, Done done) {
    auto a = std::make_shared<Attempt>(ex_, log_, contexts_, std::move(target), std::move(done),
                                       resolver_.get(), resolution_delay_);
    a->start();
    return a;
}

}  // namespace connmatrix::pool
