#include "transport.hpp"

#include "resolver.hpp"

#include <poll.h>

#include <algorithm>
#include <charconv>

namespace connmatrix::net {

namespace {

// How long close() lets queued bytes (close_notify, a GOAWAY) drain before it hangs up.
constexpr std::chrono::seconds close_linger{5};

std::chrono::microseconds since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t);
}

// library_code is the OS's errno value ("system": Asio reports those in its own system
// category) or one of Asio's own, such as asio::error::eof or a resolver's netdb/addrinfo
// code ("asio").
Error io_error(errc code, const std::string& what, const asio::error_code& ec) {
    if (!ec) return {code, what, 0, "net"};
    const bool os = ec.category() == asio::system_category() ||
                    ec.category() == std::system_category() ||
                    ec.category() == std::generic_category();
    return {code, what + ": " + ec.message(), ec.value(), os ? "system" : "asio"};
}

}  // namespace

std::string Endpoint::to_string() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Transport::Transport(const Executor& ex)
    : ex_(ex), resolver_(ex), socket_(ex), timer_(ex), stagger_timer_(ex), delay_timer_(ex) {}

Transport::~Transport() = default;

// --- connect -----------------------------------------------------------------------------

void Transport::connect(const Endpoint& target, const std::optional<Endpoint>& proxy,
                        std::chrono::milliseconds timeout, Done done,
                        bool origin_may_speak_first, Dial dial) {
    target_ = target;
    dial_ = std::move(dial);
    proxy_ = proxy;
    origin_may_speak_first_ = origin_may_speak_first;
    pending_ = std::move(done);
    phase_start_ = Clock::now();
    const Endpoint& first_hop = proxy_ ? *proxy_ : target_;
    auto self = shared_from_this();
    const unsigned phase = ++phase_;
    timer_.expires_after(timeout);
    // `phase`: a timer that fired in the same turn as the connect completed must not touch
    // the handshake that follows (cancel() cannot recall a handler already queued).
    timer_.async_wait([this, self, timeout, phase](const asio::error_code& ec) {
        if (ec || !pending_ || phase != phase_) return;
        resolver_.cancel();
        const bool all_failed = racing_ && !open_ && running_ == 0 && attempt_error_;
        close_attempts();
        asio::error_code ignored;
        socket_.close(ignored);
        if (all_failed) {  // while the other family's answer was awaited in vain
            finish_connect(attempt_error_);
            return;
        }
        finish_connect({errc::connect_timeout,
                        "no connection to " + (proxy_ ? "proxy " + proxy_->to_string()
                                                      : target_.to_string()) +
                            " within " + std::to_string(timeout.count()) + " ms",
                        0, "net"});
    });
    if (!dial_.addresses.empty() && !proxy_) {
        // Fixed addresses (policy resolve): no DNS. Answered from the loop, never inline.
        std::vector<asio::ip::tcp::endpoint> eps;
        for (const auto& text : dial_.addresses) {
            asio::error_code aec;
            const auto addr = asio::ip::make_address(text, aec);
            if (!aec) eps.emplace_back(addr, first_hop.port);
        }
        asio::post(ex_, [this, self, phase, eps = std::move(eps)]() mutable {
            if (!pending_ || phase != phase_) return;
            if (eps.empty()) {
                finish_connect({errc::resolve_failed,
                                "no usable address for " + target_.host + " in resolve", 0, "net"});
                return;
            }
            race(std::move(eps));
        });
        return;
    }
    if (dial_.observe) dial_.observe(Dial::Step::resolving, first_hop.host, nullptr);
    if (dial_.resolver) {
        asio::error_code literal;
        const auto addr = asio::ip::make_address(first_hop.host, literal);
        if (!literal) {  // nothing to ask; answered from the loop, never inline
            asio::post(ex_, [this, self, phase, ep = asio::ip::tcp::endpoint(addr, first_hop.port)] {
                if (!pending_ || phase != phase_) return;
                answered_[ep.address().is_v6() ? 0 : 1].push_back(ep);
                begin_race();
            });
            return;
        }
        answers_due_ = 2;
        std::weak_ptr<Transport> weak = self;
        dial_.resolver->lookup(first_hop.host, [weak, phase](const Resolver::Answer& a) {
            const auto t = weak.lock();
            // open_: an attempt won (a proxy's CONNECT may still be under way): the dial is
            // over, and a late family has nothing to join.
            if (!t || !t->pending_ || phase != t->phase_ || t->open_) return;
            t->on_answer(a.family == Resolver::Family::v6 ? 0 : 1, a.addresses, a.error);
        });
        return;
    }
    resolver_.async_resolve(first_hop.host, std::to_string(first_hop.port),
                            [this, self](const asio::error_code& ec,
                                         asio::ip::tcp::resolver::results_type results) {
                                on_resolved(ec, std::move(results));
                            });
}

// getaddrinfo's answer: both families at once.
void Transport::on_resolved(const asio::error_code& ec,
                            asio::ip::tcp::resolver::results_type results) {
    if (!pending_) return;
    if (ec)
        resolve_error_ = io_error(errc::resolve_failed,
                                  "cannot resolve " + (proxy_ ? *proxy_ : target_).host, ec);
    else
        for (const auto& r : results)
            answered_[r.endpoint().address().is_v6() ? 0 : 1].push_back(r.endpoint());
    begin_race();
}

// RFC 8305 section 3: an AAAA answer with addresses starts connecting at once; an A answer
// first waits the Resolution Delay for it; a family with nothing waits for the other.
void Transport::on_answer(int family, const std::vector<asio::ip::address>& addresses,
                          const Error& err) {
    --answers_due_;
    if (err && !resolve_error_) resolve_error_ = err;
    const std::uint16_t port = (proxy_ ? *proxy_ : target_).port;
    std::vector<asio::ip::tcp::endpoint> eps;
    for (const auto& a : addresses) eps.emplace_back(a, port);
    if (racing_) {
        join_race(std::move(eps));
        return;
    }
    const bool useful = !eps.empty();
    answered_[family] = std::move(eps);
    if (answers_due_ == 0) {
        begin_race();
    } else if (family == 0 && useful) {
        // At once, but after an A answer already queued behind this one (the cache, the hosts
        // file): then the race, and dns_end, start with both families.
        asio::post(ex_, [this, self = shared_from_this(), phase = phase_] {
            if (pending_ && phase == phase_ && !racing_) begin_race();
        });
    } else if (useful) {
        delay_timer_.expires_after(dial_.resolution_delay);
        delay_timer_.async_wait([this, self = shared_from_this(), phase = phase_](const asio::error_code& ec) {
            if (ec || !pending_ || phase != phase_ || racing_) return;
            begin_race();
        });
    }
}

void Transport::begin_race() {
    delay_timer_.cancel();
    dns_time = since(phase_start_);
    std::vector<asio::ip::tcp::endpoint> eps = std::move(answered_[0]);
    eps.insert(eps.end(), answered_[1].begin(), answered_[1].end());
    answered_[1].clear();
    const Endpoint& hop = proxy_ ? *proxy_ : target_;
    if (eps.empty()) {
        const Error err = resolve_error_ ? resolve_error_
                                         : Error{errc::resolve_failed,
                                                 "cannot resolve " + hop.host +
                                                     ": no address of either family (AAAA, A)",
                                                 0, "net"};
        if (dial_.observe) dial_.observe(Dial::Step::resolved, {}, &err);
        finish_connect(err);
        return;
    }
    if (dial_.observe) {
        std::string list;
        for (const auto& ep : happy_eyeballs_order(eps))
            list += (list.empty() ? "" : ", ") + Endpoint{ep.address().to_string(), ep.port()}.to_string();
        dial_.observe(Dial::Step::resolved, list, nullptr);
    }
    race(std::move(eps));
}

// The late family's addresses go among those not tried yet, interleaved again (RFC 8305
// section 4); with no attempt pending the next starts now, else one stagger after the last.
void Transport::join_race(std::vector<asio::ip::tcp::endpoint> more) {
    if (more.empty()) {
        fail_if_done();
        return;
    }
    std::vector<asio::ip::tcp::endpoint> untried(endpoints_.begin() + static_cast<std::ptrdiff_t>(attempts_.size()),
                                                 endpoints_.end());
    untried.insert(untried.end(), more.begin(), more.end());
    endpoints_.resize(attempts_.size());
    for (auto& ep : happy_eyeballs_order(std::move(untried))) endpoints_.push_back(ep);
    if (running_ == 0) {
        cancel_stagger();
        start_attempt();
    } else if (!stagger_armed_) {
        const auto due = last_attempt_ + dial_.stagger - Clock::now();
        arm_stagger(std::max(std::chrono::duration_cast<std::chrono::milliseconds>(due),
                             std::chrono::milliseconds(0)));
    }
}

void Transport::fail_if_done() {
    if (pending_ && racing_ && answers_due_ == 0 && running_ == 0 &&
        attempts_.size() >= endpoints_.size())
        finish_connect(attempt_error_);
}

std::vector<asio::ip::tcp::endpoint> happy_eyeballs_order(std::vector<asio::ip::tcp::endpoint> in) {
    std::vector<asio::ip::tcp::endpoint> v6, v4, out;
    for (auto& ep : in) {
        auto& family = ep.address().is_v6() ? v6 : v4;
        if (std::find(family.begin(), family.end(), ep) == family.end()) family.push_back(ep);
    }
    out.reserve(v6.size() + v4.size());
    for (std::size_t i = 0; i < std::max(v6.size(), v4.size()); ++i) {
        if (i < v6.size()) out.push_back(v6[i]);
        if (i < v4.size()) out.push_back(v4[i]);
    }
    return out;
}

void Transport::race(std::vector<asio::ip::tcp::endpoint> endpoints) {
    racing_ = true;
    endpoints_ = happy_eyeballs_order(std::move(endpoints));
    connect_start_ = Clock::now();
    start_attempt();
}

void Transport::start_attempt() {
    if (!pending_ || attempts_.size() >= endpoints_.size()) return;
    const std::size_t index = attempts_.size();
    attempts_.push_back(std::make_unique<Attempt>(ex_));
    Attempt& a = *attempts_.back();
    a.endpoint = endpoints_[index];
    a.started = Clock::now();
    last_attempt_ = a.started;
    ++running_;
    if (dial_.observe)
        dial_.observe(Dial::Step::attempt,
                      Endpoint{a.endpoint.address().to_string(), a.endpoint.port()}.to_string(), nullptr);
    auto self = shared_from_this();
    const unsigned phase = phase_;
    a.socket.async_connect(a.endpoint, [this, self, index, phase](const asio::error_code& ec) {
        if (phase != phase_) return;
        on_attempt(index, ec);
    });
    if (attempts_.size() >= endpoints_.size()) return;
    // RFC 8305 section 5: the next attempt starts after the delay unless this one ends first.
    arm_stagger(dial_.stagger);
}

void Transport::arm_stagger(std::chrono::milliseconds delay) {
    const unsigned gen = ++stagger_gen_;
    stagger_armed_ = true;
    stagger_timer_.expires_after(delay);
    stagger_timer_.async_wait([this, self = shared_from_this(), gen, phase = phase_](const asio::error_code& ec) {
        if (ec || gen != stagger_gen_ || phase != phase_ || !pending_) return;
        stagger_armed_ = false;
        start_attempt();
    });
}

// A stagger timer armed before starts nothing now.
void Transport::cancel_stagger() {
    ++stagger_gen_;
    stagger_timer_.cancel();
    stagger_armed_ = false;
}

void Transport::on_attempt(std::size_t index, const asio::error_code& ec) {
    Attempt& a = *attempts_[index];
    if (!pending_ || !a.pending) return;
    a.pending = false;
    --running_;
    const Endpoint hop = proxy_ ? *proxy_ : target_;
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - a.started);
    if (ec) {
        asio::error_code ignored;
        a.socket.close(ignored);
        a.outcome = "failed after " + std::to_string(took.count()) + " ms (" + ec.message() + ")";
        const std::string where = Endpoint{a.endpoint.address().to_string(), a.endpoint.port()}.to_string();
        attempt_error_ = io_error(errc::connect_failed,
                                  "cannot connect to " + (proxy_ ? "proxy " : std::string()) +
                                      hop.to_string() + " (" + where + ")",
                                  ec);
        if (dial_.observe) dial_.observe(Dial::Step::attempt_done, where, &attempt_error_);
        if (attempts_.size() < endpoints_.size()) {
            cancel_stagger();  // the pending stagger must not start another one too
            start_attempt();   // failed early (refused, unreachable): the next at once
        } else {
            fail_if_done();  // unless others are pending, or the other family may still answer
        }
        return;
    }
    // The winner: the others are closed, their handlers see the phase moved on.
    a.outcome = "connected after " + std::to_string(took.count()) + " ms";
    socket_ = std::move(a.socket);
    cancel_stagger();
    close_attempts();
    asio::error_code ignored;
    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    open_ = true;
    remote_ = Endpoint{a.endpoint.address().to_string(), a.endpoint.port()}.to_string();
    connect_time = since(connect_start_);
    if (dial_.observe) dial_.observe(Dial::Step::attempt_done, remote_, nullptr);
    if (proxy_)
        start_tunnel();
    else
        finish_connect({});
}

std::vector<std::string> Transport::attempts() const {
    std::vector<std::string> out;
    for (const auto& a : attempts_)
        out.push_back(Endpoint{a->endpoint.address().to_string(), a->endpoint.port()}.to_string() +
                      " " + (a->outcome.empty() ? "pending" : a->outcome));
    return out;
}

void Transport::close_attempts() {
    for (auto& a : attempts_) {
        if (!a->pending) continue;
        a->pending = false;
        a->outcome = "abandoned";
        asio::error_code ignored;
        a->socket.close(ignored);
    }
    running_ = 0;
}

void Transport::start_tunnel() {
    // RFC 9110 9.3.6: CONNECT names the authority; Host repeats it.
    const std::string authority = target_.to_string();
    auto req = std::make_shared<std::string>("CONNECT " + authority + " HTTP/1.1\r\nHost: " +
                                             authority + "\r\n\r\n");
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(*req),
                      [this, self, req](const asio::error_code& ec, std::size_t) {
                          if (!pending_) return;
                          if (ec) {
                              finish_connect(io_error(errc::proxy_failed,
                                                      "cannot send CONNECT to proxy " +
                                                          proxy_->to_string(),
                                                      ec));
                              return;
                          }
                          read_tunnel_reply();
                      });
}

void Transport::read_tunnel_reply() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(rbuf_), [this, self](const asio::error_code& ec,
                                                              std::size_t n) {
        if (!pending_) return;
        const std::string via = "proxy " + proxy_->to_string();
        if (ec) {
            finish_connect(io_error(errc::proxy_failed, via + " closed before answering CONNECT",
                                    ec));
            return;
        }
        tunnel_reply_.append(reinterpret_cast<const char*>(rbuf_.data()), n);
        const auto end = tunnel_reply_.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (tunnel_reply_.size() > 16 * 1024) {
                finish_connect({errc::proxy_failed, via + " sent an over-long CONNECT reply", 0,
                                "net"});
                return;
            }
            read_tunnel_reply();
            return;
        }
        // "HTTP/1.1 200 Connection established"
        const std::string line = tunnel_reply_.substr(0, tunnel_reply_.find("\r\n"));
        int status = 0;
        if (line.size() >= 12 && line.compare(0, 7, "HTTP/1.") == 0)
            std::from_chars(line.data() + 9, line.data() + 12, status);
        if (status < 200 || status > 299) {
            finish_connect({errc::proxy_failed,
                            via + " refused CONNECT " + target_.to_string() + ": \"" +
                                line.substr(0, 200) + "\"",
                            status, "net"});
            return;
        }
        // Nothing may follow the reply before we speak, unless the protocol lets the origin
        // speak first (cleartext h2 by prior knowledge: its SETTINGS). TLS and HTTP/1.1 start
        // with the client: bytes here are the proxy's (a body it should not send, a second
        // response), the tunnel is out of step, and this attempt fails (taking them as the
        // origin's made a connection that closed at once, and the pool opened the next tunnel
        // in a tight loop).
        if (const std::size_t extra = tunnel_reply_.size() - (end + 4); extra > 0) {
            if (!origin_may_speak_first_) {
                finish_connect({errc::proxy_failed,
                                via + " sent " + std::to_string(extra) +
                                    " unexpected byte(s) after its CONNECT reply \"" +
                                    line.substr(0, 200) + "\", before the tunnel was used",
                                0, "net"});
                return;
            }
            early_.assign(tunnel_reply_.begin() + static_cast<std::ptrdiff_t>(end + 4),
                          tunnel_reply_.end());
        }
        tunnel_reply_.clear();
        finish_connect({});
    });
}

void Transport::finish_connect(const Error& err) {
    ++phase_;
    timer_.cancel();
    delay_timer_.cancel();
    cancel_stagger();
    close_attempts();
    if (err) {
        open_ = false;
        asio::error_code ignored;
        socket_.close(ignored);
    }
    if (auto done = std::exchange(pending_, nullptr)) done(err);
}

// --- TLS handshake -----------------------------------------------------------------------

void Transport::handshake(std::unique_ptr<tls::Session> session,
                          std::chrono::milliseconds timeout, Done done) {
    tls_ = std::move(session);
    pending_ = std::move(done);
    phase_start_ = Clock::now();
    auto self = shared_from_this();
    const unsigned phase = ++phase_;
    timer_.expires_after(timeout);
    timer_.async_wait([this, self, timeout, phase](const asio::error_code& ec) {
        if (ec || !pending_ || phase != phase_) return;
        finish_handshake({errc::tls_timeout,
                          "TLS handshake with " + target_.to_string() + " (" + remote_ +
                              ") not complete within " + std::to_string(timeout.count()) + " ms",
                          0, "net"});
    });
    handshake_step();
}

void Transport::handshake_step() {
    if (!pending_) return;
    const tls::Status st = tls_->handshake();
    flush();
    if (st == tls::Status::ok) {
        finish_handshake({});
        return;
    }
    if (st == tls::Status::failed) {
        finish_handshake(tls_->error());
        return;
    }
    if (eof_) {  // the session saw EOF too and would have failed; belt and braces
        finish_handshake({tls::errc::truncated, "connection closed during the TLS handshake", 0,
                          "tls"});
        return;
    }
    auto self = shared_from_this();
    reading_ = true;
    socket_.async_read_some(asio::buffer(rbuf_), [this, self](const asio::error_code& ec,
                                                              std::size_t n) {
        reading_ = false;
        if (!pending_) return;
        if (ec == asio::error::eof) {
            eof_ = true;
            tls_->feed_eof();
        } else if (ec) {
            finish_handshake(io_error(errc::io_error, "reading the TLS handshake from " + remote_,
                                      ec));
            return;
        } else {
            tls_->feed({rbuf_.data(), n});
        }
        handshake_step();
    });
}

void Transport::finish_handshake(const Error& err) {
    ++phase_;
    timer_.cancel();
    tls_time = since(phase_start_);
    if (err) {
        // Let a queued alert go out, then hang up.
        closing_ = true;
        ended_ = true;
        open_ = false;
        flush();
        if (!writing_) shutdown_now();
    }
    if (auto done = std::exchange(pending_, nullptr)) done(err);
}

// --- data --------------------------------------------------------------------------------

bool Transport::readable_now() {
    if (!open_ || !socket_.is_open()) return false;
    pollfd p{};
    p.fd = socket_.native_handle();
    p.events = POLLIN;
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

void Transport::start(std::function<void(std::span<const std::uint8_t>)> on_data, Done on_closed) {
    on_data_ = std::move(on_data);
    on_closed_ = std::move(on_closed);
    started_ = true;
    if (!open_) {
        end({errc::connection_closed, "connection to " + remote_ + " is closed", 0, "net"});
        return;
    }
    if (!early_.empty()) {  // the origin's first bytes, read with the proxy's reply
        const Bytes first = std::exchange(early_, {});
        if (on_data_) on_data_(first);
        if (!open_ || ended_) return;
    }
    pump();  // TLS may hold records that arrived with the end of the handshake
    if (open_ && !ended_) read_loop();
}

void Transport::resume_reading() {
    if (!paused_) return;
    paused_ = false;
    asio::post(ex_, [self = shared_from_this()] {
        if (!self->open_ || self->ended_ || self->paused_ || !self->started_) return;
        self->pump();
        if (self->open_ && !self->ended_) self->read_loop();
    });
}

void Transport::read_loop() {
    if (reading_ || paused_ || !open_ || ended_) return;
    reading_ = true;
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(rbuf_), [this, self](const asio::error_code& ec,
                                                              std::size_t n) {
        reading_ = false;
        on_read(ec, n);
    });
}

void Transport::on_read(const asio::error_code& ec, std::size_t n) {
    if (!open_ || ended_) return;
    if (ec && ec != asio::error::eof) {
        end(io_error(errc::io_error, "reading from " + remote_, ec));
        return;
    }
    if (ec == asio::error::eof) {
        eof_ = true;
        if (!tls_) {
            end({});  // cleartext: TCP EOF is the end of the stream
            return;
        }
        tls_->feed_eof();
    } else if (tls_) {
        tls_->feed({rbuf_.data(), n});
    } else {
        on_data_({rbuf_.data(), n});
        if (!open_ || ended_) return;
        read_loop();
        return;
    }
    pump();
    if (open_ && !ended_) read_loop();
}

void Transport::pump() {
    if (!tls_ || ended_) return;
    Bytes plain;
    for (;;) {
        if (paused_) return;  // what TLS holds waits there for resume_reading()
        plain.clear();
        const tls::Status st = tls_->read(plain);
        flush();  // e.g. a KeyUpdate answer
        if (!plain.empty()) {
            auto self = shared_from_this();  // on_data_ may close us
            on_data_(plain);
            if (!open_ || ended_ || paused_) return;
        }
        if (st == tls::Status::ok) continue;
        if (st == tls::Status::closed) {
            end({});
            return;
        }
        if (st == tls::Status::failed) {
            end(tls_->error());
            return;
        }
        return;  // want_input
    }
}

void Transport::send(std::span<const std::uint8_t> plaintext) {
    if (!open_ || plaintext.empty()) return;
    Out o;
    o.own.assign(plaintext.begin(), plaintext.end());
    queue(std::move(o));
}

void Transport::send_owned(Bytes plaintext) {
    if (!open_ || plaintext.empty()) return;
    Out o;
    o.own = std::move(plaintext);
    queue(std::move(o));
}

void Transport::send_shared(std::span<const std::uint8_t> plaintext,
                            std::shared_ptr<const void> owner) {
    if (!open_ || plaintext.empty()) return;
    Out o;
    o.ref = plaintext;
    o.keep = std::move(owner);
    o.shared = true;
    queue(std::move(o));
}

void Transport::queue(Out out) {
    if (tls_) {
        plain_.push_back(std::move(out));
    } else {
        wqueue_bytes_ += out.bytes().size();
        wqueue_.push_back(std::move(out));
    }
    flush();
}

// Records are made only while less than `window` bytes wait for the socket: a 64 MiB body
// over TLS costs the body and a window of records, not the body twice.
void Transport::encrypt_some() {
    constexpr std::size_t window = 256 * 1024;
    constexpr std::size_t piece = 64 * 1024;
    while (!plain_.empty() && wqueue_bytes_ < window && !tls_->error()) {
        Out& p = plain_.front();
        const auto rest = p.bytes().subspan(p.offset);
        const std::size_t n = std::min(rest.size(), piece);
        if (tls_->write(rest.first(n)) != tls::Status::ok) {
            plain_.clear();
            asio::post(ex_, [self = shared_from_this(), err = tls_->error()] { self->end(err); });
            break;
        }
        p.offset += n;
        if (p.offset == p.bytes().size()) plain_.pop_front();
        if (tls_->has_output()) {
            Out o;
            o.own = tls_->take_output();
            wqueue_bytes_ += o.own.size();
            wqueue_.push_back(std::move(o));
        }
    }
    if (plain_.empty() && close_notify_) {
        close_notify_ = false;
        tls_->close();
    }
    if (tls_->has_output()) {
        Out o;
        o.own = tls_->take_output();
        wqueue_bytes_ += o.own.size();
        wqueue_.push_back(std::move(o));
    }
}

void Transport::flush() {
    if (!socket_.is_open() || write_error_) return;
    if (!open_ && !closing_) return;
    if (tls_) encrypt_some();
    if (writing_ || wqueue_.empty()) return;
    // Everything queued in one gathered write: one segment for preface+SETTINGS+request, and
    // a request body straight from its owner's memory.
    std::vector<asio::const_buffer> bufs;
    bufs.reserve(wqueue_.size());
    for (const Out& o : wqueue_) bufs.push_back(asio::buffer(o.bytes().data(), o.bytes().size()));
    in_flight_ = wqueue_.size();
    writing_ = true;
    auto self = shared_from_this();
    asio::async_write(socket_, bufs, [this, self](const asio::error_code& ec, std::size_t) {
        writing_ = false;
        for (; in_flight_ > 0 && !wqueue_.empty(); --in_flight_) {
            wqueue_bytes_ -= wqueue_.front().bytes().size();
            wqueue_.pop_front();
        }
        in_flight_ = 0;
        if (ec) {
            if (open_ && !ended_ && started_)
                write_failed(io_error(errc::io_error, "writing to " + remote_, ec));
            if (closing_) shutdown_now();
            return;
        }
        flush();
        if (closing_ && !writing_) shutdown_now();
        if (on_sent_ && open_ && !ended_) on_sent_();
    });
}

std::size_t Transport::queued_bytes() const noexcept {
    std::size_t n = wqueue_bytes_;
    for (const Out& p : plain_) n += p.bytes().size() - p.offset;
    return n;
}

// The server stopped taking our bytes (it reset the connection, or closed it after answering
// early: a 413 to an upload). What it sent before is still in the socket's receive queue: the
// read loop goes on until the end of the stream, so a complete response is delivered; the
// exchange fails only if it was not.
void Transport::write_failed(const Error& err) {
    if (!write_error_) write_error_ = err;
    drop_unsent();
    asio::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    if (!reading_) end(write_error_);
}

void Transport::drop_unsent() {
    plain_.clear();
    while (wqueue_.size() > (writing_ ? in_flight_ : 0)) {
        wqueue_bytes_ -= wqueue_.back().bytes().size();
        wqueue_.pop_back();
    }
}

void Transport::end(const Error& err) {
    if (ended_) return;
    ended_ = true;
    open_ = false;
    shutdown_now();
    if (auto cb = std::exchange(on_closed_, nullptr)) cb(err);
}

// close() and abort() alike: no callbacks from now on, a connect under way cancelled.
void Transport::detach() {
    closing_ = true;
    on_closed_ = nullptr;
    on_data_ = nullptr;
    on_sent_ = nullptr;
    // The dial's observer and resolver are its owner's, which may go before a handler of ours
    // still queued does (a pool on a caller's executor).
    dial_.observe = nullptr;
    dial_.resolver = nullptr;
    if (pending_) {
        resolver_.cancel();
        timer_.cancel();
        delay_timer_.cancel();
        cancel_stagger();
        close_attempts();
        pending_ = nullptr;
    }
    ended_ = true;
}

void Transport::close() {
    if (closing_ || (!open_ && !pending_)) return;
    detach();
    // Best effort: close_notify goes out after whatever is queued, then we hang up.
    if (tls_ && open_ && tls_->handshake_done() && !write_error_) close_notify_ = true;
    open_ = false;
    if (write_error_) drop_unsent();
    flush();
    if (!writing_) {
        shutdown_now();
        return;
    }
    // A peer that stopped reading would hold the socket, and what is queued, for ever.
    timer_.expires_after(close_linger);
    timer_.async_wait([this, self = shared_from_this()](const asio::error_code& ec) {
        if (!ec) abort();
    });
}

void Transport::abort() {
    // Also after close(): a graceful close still writing (a body to a server that stopped
    // reading) ends now, dropping what is unsent.
    if (aborted_ || (!closing_ && !open_ && !pending_)) return;
    aborted_ = true;
    close_notify_ = false;
    timer_.cancel();  // close()'s linger
    detach();
    open_ = false;
    // A write under way still points into the entries it sends: they go when it completes
    // (cancelled by the close below).
    drop_unsent();
    shutdown_now();
}

void Transport::shutdown_now() {
    // Nothing is left to time: close()'s linger would otherwise hold a caller's io_context
    // (ClientOptions::executor) busy for close_linger after the socket is gone.
    timer_.cancel();
    asio::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

}  // namespace connmatrix::net
