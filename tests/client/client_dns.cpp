// client_dns: names resolved by c-ares (ClientOptions::dns), against a name server of our own on
// 127.0.0.1 that answers A and AAAA as each case says, late or never: answers kept for their
// TTL and no longer than max_ttl, one query shared by the connections that wait for it, RFC
// 8305 section 3 (connect on the AAAA answer at once; on an A answer after the Resolution Delay;
// a late family joins the race), and the failures: NXDOMAIN, no address, a silent server, a
// malformed dns.servers entry.
#include "client_common.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace connmatrix;
using namespace connmatrix::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint16_t type_a = 1, type_aaaa = 28;

// What the name server says for one name. A family with no addresses is answered NOERROR with
// no records (NODATA); `nxdomain`: the name does not exist.
struct Zone {
    std::vector<std::string> v4, v6;
    std::uint32_t ttl = 60;
    std::chrono::milliseconds delay_a{0}, delay_aaaa{0};
    bool drop_a = false, drop_aaaa = false;  // never answered
    bool nxdomain = false;
};

// A DNS server over UDP on 127.0.0.1 (RFC 1035 4.1, the little of it c-ares's queries use), on
// a thread of its own; names it has no Zone for are NXDOMAIN.
class NameServer {
public:
    explicit NameServer(std::map<std::string, Zone> zones) : zones_(std::move(zones)) {
        fd_ = bind_ipv4(SOCK_DGRAM, INADDR_LOOPBACK, port_, SOCK_NONBLOCK);
        thread_ = std::thread([this] { run(); });
    }
    ~NameServer() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    // Queries for `name` of `type` received, and answers sent.
    int asked(const std::string& name, std::uint16_t type) const {
        std::lock_guard lock(mu_);
        return asked_.count({name, type}) ? asked_.at({name, type}) : 0;
    }
    int answered(const std::string& name, std::uint16_t type) const {
        std::lock_guard lock(mu_);
        return answered_.count({name, type}) ? answered_.at({name, type}) : 0;
    }

private:
    struct Reply {
        Clock::time_point due;
        std::vector<std::uint8_t> bytes;
        sockaddr_in to;
        std::pair<std::string, std::uint16_t> what;
    };

    void run() {
        std::vector<Reply> due;
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            ::poll(&p, 1, 5);
            std::uint8_t buf[1500];
            sockaddr_in from{};
            socklen_t flen = sizeof from;
            const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
            if (n > 12) {
                if (auto r = answer({buf, static_cast<std::size_t>(n)})) {
                    r->to = from;
                    due.push_back(std::move(*r));
                }
            }
            const auto now = Clock::now();
            for (auto it = due.begin(); it != due.end();) {
                if (it->due > now) {
                    ++it;
                    continue;
                }
                ::sendto(fd_, it->bytes.data(), it->bytes.size(), 0,
                         reinterpret_cast<const sockaddr*>(&it->to), sizeof it->to);
                {
                    std::lock_guard lock(mu_);
                    ++answered_[it->what];
                }
                it = due.erase(it);
            }
        }
    }

    // The reply to one query, when there is to be one.
    std::optional<Reply> answer(std::span<const std::uint8_t> q) {
        std::size_t at = 12;
        std::string name;
        while (at < q.size() && q[at] != 0) {
            const std::size_t len = q[at++];
            if (at + len > q.size()) return std::nullopt;
            if (!name.empty()) name += '.';
            name.append(reinterpret_cast<const char*>(&q[at]), len);
            at += len;
        }
        if (at + 5 > q.size()) return std::nullopt;
        ++at;  // the root label
        const std::uint16_t type = static_cast<std::uint16_t>(q[at] << 8 | q[at + 1]);
        const std::size_t question_end = at + 4;
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        {
            std::lock_guard lock(mu_);
            ++asked_[{name, type}];
        }
        const auto z = zones_.find(name);
        Reply r;
        r.what = {name, type};
        r.due = Clock::now();
        std::vector<std::uint8_t>& out = r.bytes;
        out.assign(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(question_end));
        out[2] = static_cast<std::uint8_t>(0x84 | (q[2] & 0x01));  // QR, AA, RD copied
        out[3] = z == zones_.end() || z->second.nxdomain ? 0x83 : 0x80;  // RA, NXDOMAIN or not
        out[4] = 0, out[5] = 1;                                        // one question
        out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
        if (z == zones_.end() || z->second.nxdomain) return r;
        const Zone& zone = z->second;
        if (type == type_a && zone.drop_a) return std::nullopt;
        if (type == type_aaaa && zone.drop_aaaa) return std::nullopt;
        r.due += type == type_a ? zone.delay_a : zone.delay_aaaa;
        std::uint16_t count = 0;
        for (const auto& text : type == type_a ? zone.v4 : type == type_aaaa ? zone.v6 : zone.v4) {
            if (type != type_a && type != type_aaaa) break;
            std::uint8_t addr[16];
            const int family = type == type_a ? AF_INET : AF_INET6;
            REQUIRE(::inet_pton(family, text.c_str(), addr) == 1);
            const std::size_t len = type == type_a ? 4 : 16;
            const std::uint8_t rr[] = {0xc0, 0x0c,  // the question's name
                                       static_cast<std::uint8_t>(type >> 8), static_cast<std::uint8_t>(type),
                                       0, 1,  // IN
                                       static_cast<std::uint8_t>(zone.ttl >> 24), static_cast<std::uint8_t>(zone.ttl >> 16),
                                       static_cast<std::uint8_t>(zone.ttl >> 8), static_cast<std::uint8_t>(zone.ttl),
                                       0, static_cast<std::uint8_t>(len)};
            out.insert(out.end(), std::begin(rr), std::end(rr));
            out.insert(out.end(), addr, addr + len);
            ++count;
        }
        out[6] = static_cast<std::uint8_t>(count >> 8);
        out[7] = static_cast<std::uint8_t>(count);
        return r;
    }

    std::map<std::string, Zone> zones_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    mutable std::mutex mu_;
    std::map<std::pair<std::string, std::uint16_t>, int> asked_, answered_;
};

// Connection events, as "kind address detail" lines in order.
struct Events {
    std::mutex mu;
    std::vector<std::string> lines;
    std::vector<std::string> of(EventKind k) {
        std::lock_guard lock(mu);
        std::vector<std::string> out;
        const std::string prefix = std::string(to_string(k)) + " ";
        for (const auto& l : lines)
            if (l.rfind(prefix, 0) == 0) out.push_back(l.substr(prefix.size()));
        return out;
    }
};

ClientOptions dns_options(const NameServer& ns, Events* events = nullptr) {
    ClientOptions o;
    o.dns.servers = {ns.address()};
    if (events)
        o.on_event = [events](const Event& e) {
            std::lock_guard lock(events->mu);
            events->lines.push_back(std::string(to_string(e.kind)) + " " + std::string(e.address) +
                                    "|" + std::string(e.detail));
        };
    return o;
}

std::string dns_config(const std::string& connect = "5s") {
    return client_json(registry().default_backend().name(), "alpn",
                       R"("timeouts": {"connect": ")" + connect + R"("})");
}

TestServerOptions cleartext(bool ipv6 = false) {
    TestServerOptions o;
    o.ipv6 = ipv6;
    return o;
}

std::string url(const std::string& name, std::uint16_t port) {
    return "http://" + name + ":" + std::to_string(port) + "/";
}

// GET http://name:port/, which must succeed (its error said when it does not).
Result get_ok(Client& c, const std::string& name, std::uint16_t port) {
    Result r = c.send({.method = "GET", .url = url(name, port)});
    REQUIRE_MESSAGE(r, r.error.message());
    return r;
}

// A port nothing listens on (a server's, closed again).
std::uint16_t closed_port(bool ipv6) {
    TestServer tmp(cleartext(ipv6));
    return tmp.port();
}

// An HTTP CONNECT proxy on 127.0.0.1 that answers 200 only after `delay`, then relays both
// ways: a late DNS answer for its own name lands while the CONNECT is under way.
class SlowProxy {
public:
    explicit SlowProxy(std::chrono::milliseconds delay) : delay_(delay) {
        listener_ = listen_tcp(INADDR_LOOPBACK, 8, port_);
        thread_ = std::thread([this] { run(); });
    }
    ~SlowProxy() {
        stop_ = true;
        ::shutdown(listener_, SHUT_RDWR);
        thread_.join();
        ::close(listener_);
    }
    std::uint16_t port() const { return port_; }
    int connections() const { return connections_; }

private:
    void run() {
        for (;;) {
            const int fd = ::accept(listener_, nullptr, nullptr);
            if (fd < 0) return;
            ++connections_;
            relay(fd);
            ::close(fd);
        }
    }
    void relay(int fd) {
        std::string head;
        char buf[16384];
        while (head.find("\r\n\r\n") == std::string::npos) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) return;
            head.append(buf, static_cast<std::size_t>(n));
        }
        // "CONNECT host:port HTTP/1.1": the target is on 127.0.0.1 in these tests.
        const std::string target = head.substr(8, head.find(' ', 8) - 8);
        const int port = std::stoi(target.substr(target.rfind(':') + 1));
        const int up = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        if (::connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(up);
            return;
        }
        std::this_thread::sleep_for(delay_);
        const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
        (void)!::write(fd, ok.data(), ok.size());
        pollfd p[2] = {{fd, POLLIN, 0}, {up, POLLIN, 0}};
        while (!stop_ && ::poll(p, 2, 100) >= 0) {
            for (int i = 0; i < 2; ++i) {
                if (!(p[i].revents & (POLLIN | POLLHUP))) continue;
                const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
                if (n <= 0) {
                    ::close(up);
                    return;
                }
                (void)!::write(p[1 - i].fd, buf, static_cast<std::size_t>(n));
            }
        }
        ::close(up);
    }

    std::chrono::milliseconds delay_;
    int listener_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::thread thread_;
};

}  // namespace

TEST_SUITE("client_dns") {

TEST_CASE("two connections to one name: one query per family, the second answered from the cache") {
    NameServer ns({{"svc.test", Zone{.v4 = {"127.0.0.1"}, .ttl = 30}}});
    TestServer a(cleartext()), b(cleartext());
    Client c = make_client(dns_config(), dns_options(ns));
    Result ra = get_ok(c, "svc.test", a.port());
    Result rb = get_ok(c, "svc.test", b.port());  // another origin
    CHECK(rb.response.info.remote_address == "127.0.0.1:" + std::to_string(b.port()));
    CHECK(ns.asked("svc.test", type_a) == 1);
    CHECK(ns.asked("svc.test", type_aaaa) == 1);  // "no AAAA" is kept too
    CHECK(c.stats().connections_opened == 2);
    MESSAGE("dns asked " << ra.response.info.timings.dns.count() << " us, cached "
                         << rb.response.info.timings.dns.count() << " us");
}

TEST_CASE("an answer is kept for its TTL, and no longer than max_ttl; max_ttl 0 keeps nothing") {
    // "No AAAA" carries no TTL here: it is kept for max_ttl, whatever the A records' TTL.
    struct Case {
        std::uint32_t ttl;
        std::chrono::seconds max_ttl;
        std::chrono::milliseconds pause;
        int queries;
        int aaaa_queries;
    };
    for (const Case k : {Case{1, 60s, 1200ms, 2, 1}, Case{3600, 1s, 1200ms, 2, 2},
                         Case{3600, 60s, 1200ms, 1, 1}, Case{3600, 0s, 0ms, 2, 2}}) {
        INFO("ttl " << k.ttl << " max_ttl " << k.max_ttl.count() << " s");
        NameServer ns({{"svc.test", Zone{.v4 = {"127.0.0.1"}, .ttl = k.ttl}}});
        TestServer a(cleartext()), b(cleartext());
        ClientOptions o = dns_options(ns);
        o.dns.max_ttl = k.max_ttl;
        Client c = make_client(dns_config(), o);
        get_ok(c, "svc.test", a.port());
        std::this_thread::sleep_for(k.pause);
        get_ok(c, "svc.test", b.port());
        CHECK(ns.asked("svc.test", type_a) == k.queries);
        CHECK(ns.asked("svc.test", type_aaaa) == k.aaaa_queries);
    }
}

TEST_CASE("connections that start together share one query") {
    NameServer ns({{"svc.test", Zone{.v4 = {"127.0.0.1"}, .delay_a = 100ms}}});
    std::vector<std::unique_ptr<TestServer>> servers;
    for (int i = 0; i < 4; ++i) servers.push_back(std::make_unique<TestServer>(cleartext()));
    Client c = make_client(dns_config(), dns_options(ns));
    std::vector<std::future<Result>> out;
    for (const auto& s : servers) out.push_back(c.send_future({.method = "GET", .url = url("svc.test", s->port())}));
    for (auto& f : out) {
        Result r = f.get();
        INFO(r.error.message());
        CHECK(r);
    }
    CHECK(ns.asked("svc.test", type_a) == 1);
    CHECK(ns.asked("svc.test", type_aaaa) == 1);
    CHECK(c.stats().connections_opened == 4);
}

TEST_CASE("A first, AAAA slow: IPv4 after the Resolution Delay, not after the AAAA answer") {
    // The AAAA answer comes after 3 s: the request is done long before, over 127.0.0.1.
    NameServer ns({{"dual.test", Zone{.v4 = {"127.0.0.1"}, .v6 = {"::1"}, .delay_aaaa = 3s}}});
    TestServer server(cleartext());
    Events ev;
    Client c = make_client(dns_config(), dns_options(ns, &ev));
    Result r = get_ok(c, "dual.test", server.port());
    CHECK(r.response.info.remote_address == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(ns.asked("dual.test", type_aaaa) == 1);
    CHECK(ns.answered("dual.test", type_aaaa) == 0);  // still to come when the response came
    const auto dns = ev.of(EventKind::dns_end);
    REQUIRE(dns.size() == 1);
    CHECK(dns[0] == "|127.0.0.1:" + std::to_string(server.port()));
    CHECK(r.response.info.timings.dns >= 50ms);  // the Resolution Delay was waited
    MESSAGE("A first, AAAA 3 s late: dns " << r.response.info.timings.dns.count() << " us, total "
                                           << r.response.info.timings.total.count() << " us");
}

TEST_CASE("an AAAA answer inside the Resolution Delay: ::1 is tried first, as RFC 8305 sorts") {
    // ::1 refuses (nothing listens there), 127.0.0.1 serves: the order of the attempts shows
    // that the A answer, which came first, waited for the AAAA one.
    NameServer ns({{"dual.test", Zone{.v4 = {"127.0.0.1"}, .v6 = {"::1"}, .delay_aaaa = 100ms}}});
    TestServer server(cleartext());
    Events ev;
    ClientOptions o = dns_options(ns, &ev);
    o.dns.resolution_delay = 3s;  // far above the AAAA's 100 ms, even on a slow machine
    Client c = make_client(dns_config(), o);
    Result r = get_ok(c, "dual.test", server.port());
    const std::string p = std::to_string(server.port());
    const auto tried = ev.of(EventKind::connect_start);
    REQUIRE(tried.size() == 2);
    CHECK(tried[0] == "[::1]:" + p + "|");
    CHECK(tried[1] == "127.0.0.1:" + p + "|");
    CHECK(r.response.info.timings.dns < 3s);  // the AAAA answer ended the wait, not the delay
}

TEST_CASE("AAAA answers, A never does: ::1 connects at once") {
    NameServer ns({{"dual.test", Zone{.v4 = {"127.0.0.1"}, .v6 = {"::1"}, .drop_a = true}}});
    TestServer server(cleartext(true));
    Client c = make_client(dns_config(), dns_options(ns));
    Result r = get_ok(c, "dual.test", server.port());
    CHECK(r.response.info.remote_address == "[::1]:" + std::to_string(server.port()));
    CHECK(ns.answered("dual.test", type_a) == 0);
}

TEST_CASE("AAAA answers first and ::1 refuses: the late A answer joins the race and wins") {
    TestServer server(cleartext());  // 127.0.0.1 only
    NameServer ns({{"dual.test", Zone{.v4 = {"127.0.0.1"}, .v6 = {"::1"}, .delay_a = 300ms}}});
    Events ev;
    Client c = make_client(dns_config(), dns_options(ns, &ev));
    Result r = get_ok(c, "dual.test", server.port());
    CHECK(r.response.info.remote_address == "127.0.0.1:" + std::to_string(server.port()));
    const std::string p = std::to_string(server.port());
    CHECK(ev.of(EventKind::dns_end) == std::vector<std::string>{"|[::1]:" + p});
    const auto tried = ev.of(EventKind::connect_start);
    REQUIRE(tried.size() == 2);
    CHECK(tried[0] == "[::1]:" + p + "|");
    CHECK(tried[1] == "127.0.0.1:" + p + "|");
    MESSAGE("AAAA first, ::1 refused, A 300 ms late: connected after "
            << (r.response.info.timings.dns + r.response.info.timings.connect).count() << " us");
}

TEST_CASE("a proxy's late AAAA answer during its CONNECT: the tunnel stands, one connection") {
    // The proxy's A answer comes at once, its AAAA one (empty, or ::1 where nothing listens)
    // 150 ms later, while the proxy holds its 200 for 500 ms: the dial is over by then.
    for (const bool with_v6 : {false, true}) {
        INFO("AAAA " << (with_v6 ? "::1" : "empty"));
        TestServer server(cleartext());
        SlowProxy proxy(500ms);
        Zone z{.v4 = {"127.0.0.1"}, .delay_aaaa = 150ms};
        if (with_v6) z.v6 = {"::1"};
        NameServer ns({{"proxy.test", z}});
        Client c = make_client(client_json(registry().default_backend().name(), "http1",
                                           R"("proxy": "http://proxy.test:)" + std::to_string(proxy.port()) + R"(")"),
                               dns_options(ns));
        Result r = c.send({.method = "GET", .url = "http://127.0.0.1:" + std::to_string(server.port()) + "/t"});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.status == 200);
        CHECK(proxy.connections() == 1);
        CHECK(ns.answered("proxy.test", type_aaaa) == 1);  // it came, during the CONNECT
    }
}

TEST_CASE("every address refused while the other family never answers: the refusal, at the connect timeout") {
    NameServer ns({{"half.test", Zone{.v4 = {"127.0.0.1"}, .v6 = {"::1"}, .drop_aaaa = true}}});
    const std::uint16_t port = closed_port(false);
    Client c = make_client(dns_config("600ms"), dns_options(ns));
    Result r = c.send({.method = "GET", .url = url("half.test", port)});
    CHECK(r.error.code == net::errc::connect_failed);
    CHECK(r.error.message().find("(127.0.0.1:" + std::to_string(port) + ")") != std::string::npos);
}

TEST_CASE("both families answered, every address refused: connect_failed once all have answered") {
    NameServer ns({{"dual.test", Zone{.v4 = {"127.0.0.1"}, .v6 = {"::1"}, .delay_a = 200ms}}});
    const std::uint16_t port = closed_port(false);
    Client c = make_client(dns_config(), dns_options(ns));
    Result r = c.send({.method = "GET", .url = url("dual.test", port)});
    CHECK(r.error.code == net::errc::connect_failed);
    CHECK(r.error.message().find("(127.0.0.1:" + std::to_string(port) + ")") != std::string::npos);
}

TEST_CASE("NXDOMAIN: net:resolve_failed naming the name, with c-ares's code and message") {
    NameServer ns({{"nx.test", Zone{.nxdomain = true}}});
    Client c = make_client(dns_config(), dns_options(ns));
    Result r = c.send({.method = "GET", .url = "http://nx.test:8080/"});
    CHECK(r.error.code == net::errc::resolve_failed);
    CHECK(r.error.origin == "c-ares");
    CHECK(r.error.library_code == 4);  // ARES_ENOTFOUND
    CHECK(r.error.message().find("cannot resolve nx.test") != std::string::npos);
    // A failure is not kept: the next request asks again.
    Result again = c.send({.method = "GET", .url = "http://nx.test:8081/"});
    CHECK(again.error.code == net::errc::resolve_failed);
    CHECK(ns.asked("nx.test", type_a) == 2);
}

TEST_CASE("a name with no address of either family: net:resolve_failed, no usable address") {
    NameServer ns({{"empty.test", Zone{}}});
    Client c = make_client(dns_config(), dns_options(ns));
    Result r = c.send({.method = "GET", .url = "http://empty.test:8080/"});
    CHECK(r.error.code == net::errc::resolve_failed);
    CHECK(r.error.message().find("no address of either family") != std::string::npos);
}

TEST_CASE("a name server that never answers: net:connect_timeout at timeouts.connect") {
    NameServer ns({{"mute.test", Zone{.v4 = {"127.0.0.1"}, .drop_a = true, .drop_aaaa = true}}});
    Client c = make_client(dns_config("400ms"), dns_options(ns));
    const auto t0 = Clock::now();
    Result r = c.send({.method = "GET", .url = "http://mute.test:8080/"});
    CHECK(r.error.code == net::errc::connect_timeout);
    CHECK(Clock::now() - t0 < 5s);
}

TEST_CASE("a malformed dns.servers entry: the Client does not start, and the error names it") {
    for (const char* bad : {"dns.example", "127.0.0.1:0", "[::1]53", "127.0.0.1:99999", ""}) {
        INFO(bad);
        ClientOptions o;
        o.dns.servers = {"127.0.0.1:53", bad};
        Error err;
        auto c = Client::from_json(dns_config(), err, o);
        CHECK(!c);
        CHECK(err.code == net::errc::resolve_failed);
        CHECK(err.message().find("dns.servers[1]") != std::string::npos);
        CHECK_THROWS_AS(Client(policy::Config{}, o), std::system_error);
    }
}

TEST_CASE("localhost and names under it: ::1 and 127.0.0.1, asked of nobody (RFC 6761)") {
    NameServer ns({});
    TestServer server(cleartext());  // 127.0.0.1: ::1 is refused first, at once
    Events ev;
    Client c = make_client(dns_config(), dns_options(ns, &ev));
    const std::string p = std::to_string(server.port());
    for (const std::string name : {"localhost", "LocalHost", "api.localhost"}) {
        INFO(name);
        Result r = get_ok(c, name, server.port());
        CHECK(r.response.info.remote_address == "127.0.0.1:" + p);
    }
    CHECK(ev.of(EventKind::dns_end).at(0) == "|[::1]:" + p + ", 127.0.0.1:" + p);
    CHECK(ns.asked("localhost", type_a) + ns.asked("localhost", type_aaaa) == 0);
    CHECK(ns.asked("api.localhost", type_a) + ns.asked("api.localhost", type_aaaa) == 0);
}

TEST_CASE("dns.system: getaddrinfo resolves localhost; literals and resolve ask no name server") {
    TestServer server(cleartext());
    ClientOptions sys;
    sys.dns.system = true;
    sys.dns.servers = {"not an address"};  // not used, so not checked
    Client c = make_client(dns_config(), sys);
    Result r = c.send({.method = "GET", .url = url("localhost", server.port())});
    INFO(r.error.message());
    CHECK(r);
    NameServer ns({});
    Client lit = make_client(dns_config(), dns_options(ns));
    Result r4 = lit.send({.method = "GET", .url = url("127.0.0.1", server.port())});
    CHECK(r4);
    CHECK(r4.response.info.timings.dns < 1s);
    CHECK(ns.asked("127.0.0.1", type_a) == 0);
}

}  // TEST_SUITE
