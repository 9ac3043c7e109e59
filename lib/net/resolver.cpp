#include "resolver.hpp"

#include <connmatrix/errors/net.hpp>

#include <ares.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <string_view>

namespace connmatrix::net {

namespace {

using Clock = std::chrono::steady_clock;

Error cares_error(const std::string& what, int status) {
    return {errc::resolve_failed, what + ": " + ares_strerror(status), status, "c-ares"};
}

const char* record(Resolver::Family f) { return f == Resolver::Family::v6 ? "AAAA" : "A"; }

// RFC 6761 6.3: "localhost" and names under it (names come normalised, see lookup()).
bool is_localhost(std::string_view name) {
    return name == "localhost" || name.ends_with(".localhost");
}

}  // namespace

// "ADDR", "ADDR:PORT", "[V6]:PORT" each checked, then as c-ares's CSV takes them.
std::string dns_servers_csv(const std::vector<std::string>& servers, Error& err) {
    std::string csv;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        const std::string& s = servers[i];
        std::string host = s, port;
        if (!s.empty() && s.front() == '[') {
            const auto close = s.find(']');
            host = close == std::string::npos ? std::string() : s.substr(1, close - 1);
            if (close != std::string::npos && close + 1 < s.size()) {
                if (s[close + 1] != ':') host.clear();
                port = s.substr(close + 2);
            }
        } else if (std::count(s.begin(), s.end(), ':') == 1) {
            host = s.substr(0, s.find(':'));
            port = s.substr(s.find(':') + 1);
        }
        asio::error_code ec;
        const auto addr = asio::ip::make_address(host, ec);
        unsigned number = 53;
        bool port_ok = true;
        if (!port.empty() || (s.find("]:") != std::string::npos)) {
            const auto [end, perr] = std::from_chars(port.data(), port.data() + port.size(), number);
            port_ok = perr == std::errc() && end == port.data() + port.size() && number >= 1 &&
                      number <= 65535;
        }
        if (ec || !port_ok) {
            err = {errc::resolve_failed,
                   "dns.servers[" + std::to_string(i) + "] \"" + s +
                       "\": not an IP address with an optional port (\"192.0.2.1\", "
                       "\"192.0.2.1:5353\", \"[2001:db8::1]:53\")",
                   0, "net"};
            return {};
        }
        if (!csv.empty()) csv += ',';
        csv += addr.is_v6() ? "[" + addr.to_string() + "]:" + std::to_string(number)
                            : addr.to_string() + ":" + std::to_string(number);
    }
    return csv;
}

// A socket c-ares opened, watched for the readiness it asked for. The descriptor stays
// c-ares's: release() gives it back rather than closing it.
struct Resolver::Watch {
    Watch(const Executor& ex, int fd, asio::error_code& ec) : desc(ex), fd(fd) { desc.assign(fd, ec); }
    asio::posix::stream_descriptor desc;
    int fd;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool dead = false;  // c-ares closed it (or the Resolver went): handlers do nothing
};

struct Resolver::Query {
    Resolver* resolver;
    std::string name;
    Family family;
};

Resolver::Resolver(const Executor& ex, ResolverOptions options)
    : ex_(ex), options_(std::move(options)), timer_(ex) {}

std::unique_ptr<Resolver> Resolver::make(const Executor& ex, ResolverOptions options, Error& err) {
    const std::string csv = dns_servers_csv(options.servers, err);
    if (err) return nullptr;
    std::unique_ptr<Resolver> r(new Resolver(ex, std::move(options)));
    ares_options o{};
    o.sock_state_cb = [](void* data, ares_socket_t fd, int readable, int writable) {
        // Nothing may unwind through c-ares. A socket not watched still times out in c-ares.
        try {
            static_cast<Resolver*>(data)->watch(fd, readable != 0, writable != 0);
        } catch (...) {
        }
    };
    o.sock_state_cb_data = r.get();
    if (const int st = ares_init_options(&r->channel_, &o, ARES_OPT_SOCK_STATE_CB); st != ARES_SUCCESS) {
        r->channel_ = nullptr;
        err = cares_error("cannot start the DNS resolver (c-ares)", st);
        return nullptr;
    }
    if (!csv.empty())
        if (const int st = ares_set_servers_ports_csv(r->channel_, csv.c_str()); st != ARES_SUCCESS) {
            err = cares_error("dns.servers \"" + csv + "\"", st);
            return nullptr;
        }
    return r;
}

Resolver::~Resolver() {
    timer_.cancel();
    // Queries still out answer ARES_EDESTRUCTION (their callbacks free them and touch nothing
    // else); c-ares closes its sockets, telling watch() so.
    if (channel_) ares_destroy(channel_);
    for (auto& [fd, w] : watches_) {
        w->dead = true;
        (void)w->desc.release();
    }
}

void Resolver::lookup(const std::string& name, Handler on_answer) {
    // Loopback, asked of nobody (RFC 6761 6.3). Also what keeps c-ares 1.18 out of its own
    // localhost answer, which leaks the name's copy on every lookup of a family that
    // /etc/hosts does not give localhost (Debian's hosts file has no ::1 line in containers).
    if (is_localhost(name)) {
        reply(on_answer, {Family::v6, {asio::ip::address_v6::loopback()}, {}});
        reply(on_answer, {Family::v4, {asio::ip::address_v4::loopback()}, {}});
        return;
    }
    const auto now = Clock::now();
    prune(now);
    for (const Family f : {Family::v6, Family::v4}) {
        Slot& s = slot(name, f);
        if (!s.asking && now < s.expires) {
            reply(on_answer, {f, s.addresses, {}});
            continue;
        }
        s.waiting.push_back(on_answer);
        if (!s.asking) ask(name, f);
    }
}

// A Client that meets many names keeps only those still valid: each prune at least halves
// the names it may drop, so its cost is spread over the lookups that grew the cache.
void Resolver::prune(Clock::time_point now) {
    if (cache_.size() < prune_at_) return;
    std::erase_if(cache_, [now](const auto& kv) {
        const Entry& e = kv.second;
        return !e.v6.asking && !e.v4.asking && now >= e.v6.expires && now >= e.v4.expires;
    });
    prune_at_ = std::max<std::size_t>(64, 2 * cache_.size());
}

Resolver::Slot& Resolver::slot(const std::string& name, Family family) {
    Entry& e = cache_[name];
    return family == Family::v6 ? e.v6 : e.v4;
}

// Never inside the call that asked: on the loop, later.
void Resolver::reply(Handler h, Answer a) {
    asio::post(ex_, [h = std::move(h), a = std::move(a)] { h(a); });
}

void Resolver::ask(const std::string& name, Family family) {
    Slot& s = slot(name, family);
    s.asking = true;
    ++asking_;
    ares_addrinfo_hints hints{};
    hints.ai_family = family == Family::v6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    auto* q = new Query{this, name, family};
    ares_getaddrinfo(
        channel_, name.c_str(), nullptr, &hints,
        // noexcept: nothing unwinds through c-ares (out of memory here ends the program).
        [](void* arg, int status, int, ares_addrinfo* result) noexcept {
            std::unique_ptr<Query> q(static_cast<Query*>(arg));
            std::unique_ptr<ares_addrinfo, void (*)(ares_addrinfo*)> owned(result, ares_freeaddrinfo);
            if (status == ARES_EDESTRUCTION) return;  // the Resolver is going: nobody to tell
            Answer a;
            a.family = q->family;
            int ttl = INT_MAX;
            if (status == ARES_SUCCESS && result) {
                for (const ares_addrinfo_cname* c = result->cnames; c; c = c->next)
                    ttl = std::min(ttl, c->ttl);
                for (const ares_addrinfo_node* n = result->nodes; n; n = n->ai_next) {
                    ttl = std::min(ttl, n->ai_ttl);
                    if (n->ai_family == AF_INET6 && q->family == Family::v6) {
                        const auto* sa = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
                        asio::ip::address_v6::bytes_type b;
                        std::copy_n(sa->sin6_addr.s6_addr, 16, b.begin());
                        a.addresses.emplace_back(asio::ip::address_v6(b, sa->sin6_scope_id));
                    } else if (n->ai_family == AF_INET && q->family == Family::v4) {
                        const auto* sa = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
                        a.addresses.emplace_back(asio::ip::address_v4(ntohl(sa->sin_addr.s_addr)));
                    }
                }
            } else if (status != ARES_ENODATA) {
                a.error = cares_error("cannot resolve " + q->name + " (" + record(q->family) + ")",
                                      status);
            }
            q->resolver->answered(q->name, q->family, std::move(a), ttl == INT_MAX ? 0 : ttl);
        },
        q);
    rearm_timer();
}

void Resolver::answered(const std::string& name, Family family, Answer answer, int ttl) {
    --asking_;
    Slot& s = slot(name, family);
    s.asking = false;
    s.addresses = answer.addresses;
    // A failure is not kept; an answer for its records' TTL, capped; "no record of this
    // family" (the answer carries no TTL here) for the cap, as curl keeps a whole answer.
    std::chrono::seconds keep{0};
    if (!answer.error)
        keep = answer.addresses.empty() ? options_.max_ttl
                                        : std::min(options_.max_ttl, std::chrono::seconds(std::max(ttl, 0)));
    s.expires = keep.count() > 0 ? Clock::now() + keep : Clock::time_point{};
    for (auto& h : std::exchange(s.waiting, {})) reply(std::move(h), answer);
    // No rearm_timer() here: this runs inside ares_getaddrinfo() or ares_process_fd(), and
    // ask() and process() rearm once c-ares has returned.
}

void Resolver::watch(int fd, bool readable, bool writable) {
    auto it = watches_.find(fd);
    if (!readable && !writable) {
        if (it == watches_.end()) return;
        it->second->dead = true;
        (void)it->second->desc.release();  // cancels its waits; c-ares closes the socket
        watches_.erase(it);
        return;
    }
    if (it == watches_.end()) {
        asio::error_code ec;
        auto w = std::make_shared<Watch>(ex_, fd, ec);
        if (ec) return;  // not watched: the query times out in c-ares
        it = watches_.emplace(fd, std::move(w)).first;
    }
    const std::shared_ptr<Watch> w = it->second;
    w->want_read = readable;
    w->want_write = writable;
    if (w->want_read && !w->reading) arm(w, false);
    if (w->want_write && !w->writing) arm(w, true);
}

void Resolver::arm(const std::shared_ptr<Watch>& w, bool write) {
    (write ? w->writing : w->reading) = true;
    w->desc.async_wait(write ? asio::posix::descriptor_base::wait_write
                             : asio::posix::descriptor_base::wait_read,
                       [this, w, write](const asio::error_code& ec) {
                           (write ? w->writing : w->reading) = false;
                           if (w->dead || ec) return;
                           process(write ? ARES_SOCKET_BAD : w->fd, write ? w->fd : ARES_SOCKET_BAD);
                           if (!w->dead && (write ? w->want_write : w->want_read) &&
                               !(write ? w->writing : w->reading))
                               arm(w, write);
                       });
}

void Resolver::process(int read_fd, int write_fd) {
    ares_process_fd(channel_, read_fd, write_fd);
    rearm_timer();
}

// c-ares's own retransmissions and timeouts: it says when it next needs a look.
void Resolver::rearm_timer() {
    if (asking_ == 0) {
        timer_.cancel();
        return;
    }
    timeval tv{};
    if (!ares_timeout(channel_, nullptr, &tv)) return;
    timer_.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
    timer_.async_wait([this, alive = alive_.token()](const asio::error_code& ec) {
        if (ec || alive.expired()) return;
        process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    });
}

}  // namespace connmatrix::net
