// client_eyeballs: where connections go. Happy Eyeballs v2 (RFC 8305) over a name with an IPv6
// and an IPv4 address on loopback (policy `resolve`, so no DNS and no /etc/hosts are involved):
// one family not listening, one family that never answers the SYN, both failing; `connect_to`
// keeping SNI, Host and the certificate check for the origin's name; `resolve` used without DNS.
#include "client_common.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace connmatrix;
using namespace connmatrix::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const tls::Backend& backend() { return registry().default_backend(); }

// defaults: connect within `connect`, stagger `stagger`; `rules`: the "hosts" array's entries.
// client_json()'s document with a "hosts" array.
std::string with_rules(std::string json, const std::string& rules) {
    json.pop_back();  // the closing brace of the document
    return json + R"(, "hosts": [)" + rules + "]}";
}

std::string eyeballs_config(const std::string& connect, const std::string& stagger, const std::string& rules) {
    return with_rules(client_json(backend().name(), "alpn",
                                  R"("timeouts": {"connect": ")" + connect +
                                      R"(", "happy_eyeballs": ")" + stagger + R"("})"),
                      rules);
}

// "dual.test" is ::1 and 127.0.0.1.
std::string dual_rule() { return R"({"match": "dual.test", "resolve": ["127.0.0.1", "::1"]})"; }

std::string dual_url(std::uint16_t port) { return "http://dual.test:" + std::to_string(port) + "/"; }

// A listener on `family`'s loopback at `port` that never answers a SYN: its accept queue
// (backlog 0) is filled with connections nobody accepts, so the kernel drops further SYNs and
// the connecting side sees nothing, as from a black-holed route. Nothing leaves the machine.
class Blackhole {
public:
    Blackhole(int family, std::uint16_t port) : family_(family) {
        listener_ = ::socket(family, SOCK_STREAM, 0);
        REQUIRE(listener_ >= 0);
        int one = 1;
        if (family == AF_INET6) ::setsockopt(listener_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        sockaddr_storage a = address(port);
        REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), length()) == 0);
        REQUIRE(::listen(listener_, 0) == 0);
        socklen_t len = length();
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                                         : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
        // Fill the queue until a connect stays pending: that one shows SYNs are dropped. A
        // connect still pending after 200 ms is given 800 ms more before it counts (a loaded,
        // sanitized machine can be slow to answer a SYN; a dropped one is only resent after 1 s),
        // so a slow handshake is never taken for a black hole.
        for (int i = 0; i < 16; ++i) {
            const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
            REQUIRE(fd >= 0);
            fillers_.push_back(fd);
            sockaddr_storage to = address(port_);
            ::connect(fd, reinterpret_cast<sockaddr*>(&to), length());
            pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, 200) == 0 && ::poll(&p, 1, 800) == 0) {
                blackholed_ = true;
                break;
            }
        }
    }
    ~Blackhole() {
        for (int fd : fillers_) ::close(fd);
        ::close(listener_);
    }
    Blackhole(const Blackhole&) = delete;
    Blackhole& operator=(const Blackhole&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    bool blackholed() const noexcept { return blackholed_; }

private:
    sockaddr_storage address(std::uint16_t port) const {
        sockaddr_storage s{};
        if (family_ == AF_INET6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&s);
            a->sin6_family = AF_INET6;
            a->sin6_addr = in6addr_loopback;
            a->sin6_port = htons(port);
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&s);
            a->sin_family = AF_INET;
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a->sin_port = htons(port);
        }
        return s;
    }
    socklen_t length() const noexcept {
        return family_ == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    }

    int family_;
    int listener_ = -1;
    std::uint16_t port_ = 0;
    std::vector<int> fillers_;
    bool blackholed_ = false;
};

TestServerOptions cleartext(bool ipv6, std::uint16_t port = 0) {
    TestServerOptions o;
    o.ipv6 = ipv6;
    o.port = port;
    return o;
}

std::chrono::milliseconds since(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
}

}  // namespace

TEST_SUITE("client_eyeballs") {

TEST_CASE("only 127.0.0.1 listens: ::1 is refused first, IPv4 is tried at once and wins") {
    TestServer server(cleartext(false));
    // A stagger far above loopback's RST time: a win well inside it shows the refused attempt
    // started the next one at once rather than after the delay.
    Client c = make_client(eyeballs_config("5s", "2s", dual_rule()));
    const auto t0 = Clock::now();
    Result r = c.send({.method = "GET", .url = dual_url(server.port())});
    const auto took = since(t0);
    INFO(r.error.message());
    REQUIRE(r);
    CHECK(r.response.info.remote_address == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(took < 1500ms);
    CHECK(server.requests() == 1);
}

TEST_CASE("only ::1 listens: IPv6 is tried first and wins") {
    TestServer server(cleartext(true));
    Client c = make_client(eyeballs_config("5s", "2s", dual_rule()));
    Result r = c.send({.method = "GET", .url = dual_url(server.port())});
    INFO(r.error.message());
    REQUIRE(r);
    CHECK(r.response.info.remote_address == "[::1]:" + std::to_string(server.port()));
    CHECK(server.served().at(0).authority == "dual.test:" + std::to_string(server.port()));
}

TEST_CASE("::1 never answers the SYN: IPv4 starts after the stagger and wins, long before the connect timeout") {
    TestServer server(cleartext(false));
    Blackhole hole(AF_INET6, server.port());
    REQUIRE(hole.port() == server.port());
    REQUIRE_MESSAGE(hole.blackholed(), "the kernel answered every SYN: no black hole to test with");
    // The debug log says what each attempt did (the sink runs on the I/O thread; read after
    // send() returned).
    auto lines = std::make_shared<std::vector<std::string>>();
    ClientOptions opts;
    opts.log_level = LogLevel::debug;
    opts.log = [lines](LogLevel, std::string_view line) { lines->emplace_back(line); };
    Client c = make_client(eyeballs_config("5s", "250ms", dual_rule()), std::move(opts));
    const auto t0 = Clock::now();
    Result r = c.send({.method = "GET", .url = dual_url(server.port())});
    const auto took = since(t0);
    INFO(r.error.message());
    INFO("took " << took.count() << " ms");
    REQUIRE(r);
    CHECK(r.response.info.remote_address == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(took >= 240ms);  // IPv6 went first; IPv4 waited for the stagger
    CHECK(took < 4s);      // not the 5 s connect timeout
    const std::string p = std::to_string(server.port());
    std::string attempts;
    for (const auto& l : *lines)
        if (l.find(" attempts: ") != std::string::npos) attempts = l;
    INFO(attempts);
    // The pending IPv6 attempt was given up (its socket closed) when IPv4 won.
    CHECK(attempts.find("[::1]:" + p + " abandoned; 127.0.0.1:" + p + " connected after ") !=
          std::string::npos);
    MESSAGE("Happy Eyeballs on loopback, IPv6 black-holed, stagger 250 ms: connected in "
            << std::chrono::duration_cast<std::chrono::microseconds>(r.response.info.timings.connect).count()
            << " us, request done in " << took.count() << " ms");
}

TEST_CASE("127.0.0.1 never answers the SYN: ::1 goes first and wins without waiting") {
    TestServer server(cleartext(true));
    Blackhole hole(AF_INET, server.port());
    REQUIRE(hole.port() == server.port());
    REQUIRE(hole.blackholed());
    Client c = make_client(eyeballs_config("5s", "2s", dual_rule()));
    const auto t0 = Clock::now();
    Result r = c.send({.method = "GET", .url = dual_url(server.port())});
    INFO(r.error.message());
    REQUIRE(r);
    CHECK(r.response.info.remote_address == "[::1]:" + std::to_string(server.port()));
    CHECK(since(t0) < 1500ms);  // the stagger (2 s) was never waited for
}

TEST_CASE("both families black-holed: the connect timeout bounds all attempts") {
    Blackhole v4(AF_INET, 0);
    Blackhole v6(AF_INET6, v4.port());
    REQUIRE(v6.port() == v4.port());
    REQUIRE(v4.blackholed());
    REQUIRE(v6.blackholed());
    Client c = make_client(eyeballs_config("600ms", "100ms", dual_rule()));
    const auto t0 = Clock::now();
    Result r = c.send({.method = "GET", .url = dual_url(v4.port())});
    const auto took = since(t0);
    CHECK(r.error.code == net::errc::connect_timeout);
    CHECK(took >= 590ms);
    CHECK(took < 3s);
}

TEST_CASE("both families refused: connect_failed naming the last address tried") {
    std::uint16_t port = 0;
    {
        TestServer tmp(cleartext(false));
        port = tmp.port();
    }
    Client c = make_client(eyeballs_config("5s", "2s", dual_rule()));
    const auto t0 = Clock::now();
    Result r = c.send({.method = "GET", .url = dual_url(port)});
    CHECK(r.error.code == net::errc::connect_failed);
    CHECK(r.error.message().find("(127.0.0.1:" + std::to_string(port) + ")") != std::string::npos);
    CHECK(since(t0) < 1500ms);
}

TEST_CASE("resolve: the fixed address is used and no DNS query is made") {
    TestServer server(cleartext(false));
    // .invalid never resolves (RFC 6761 6.4): only the fixed address can have answered.
    Client c = make_client(eyeballs_config("5s", "250ms",
                                  R"({"match": "never.invalid", "resolve": ["127.0.0.1"]})"));
    Result r = c.send({.method = "GET", .url = "http://never.invalid:" + std::to_string(server.port()) + "/x"});
    INFO(r.error.message());
    REQUIRE(r);
    CHECK(r.response.info.remote_address == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(r.response.info.timings.dns.count() == 0);
    CHECK(server.served().at(0).authority == "never.invalid:" + std::to_string(server.port()));
    // A name without the rule goes to DNS, and fails there.
    Result dns = c.send({.method = "GET", .url = "http://other.invalid:" + std::to_string(server.port()) + "/"});
    CHECK(dns.error.code == net::errc::resolve_failed);
}

TEST_CASE("connect_to: bytes go to the local server; SNI, :authority/Host and verification keep the origin's name") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        auto o = tls_server(*b, {"h2", "http/1.1"});
        o.tls.cert_file = cert("example-invalid.pem");
        o.tls.key_file = cert("example-invalid.key");
        TestServer server(o);
        const std::string to = "127.0.0.1:" + std::to_string(server.port());
        const std::string rule = R"({"match": "example.invalid", "connect_to": ")" + to + R"("})";
        // h2 (:authority) and HTTP/1.1 (Host).
        for (const char* mode : {"alpn", "http1"}) {
            INFO(mode);
            Client c = make_client(with_rules(client_json(b->name(), mode), rule));
            Result r = c.send({.method = "GET", .url = "https://example.invalid/"});
            INFO(r.error.message());
            REQUIRE(r);
            CHECK(r.response.info.verified);  // the certificate names example.invalid only
            CHECK(r.response.info.remote_address == to);
            CHECK(r.response.info.protocol ==
                  (std::string(mode) == "alpn" ? Protocol::h2 : Protocol::http1_1));
        }
        const auto served = server.served();
        REQUIRE(served.size() == 2);
        CHECK(served[0].authority == "example.invalid");
        CHECK(served[1].authority == "example.invalid");
    }
}

TEST_CASE("connect_to: a certificate for another name fails with the host name error") {
    auto o = tls_server(backend(), {"h2"});
    o.tls.cert_file = cert("other-host.pem");
    o.tls.key_file = cert("other-host.key");
    TestServer server(o);
    Client c = make_client(eyeballs_config("5s", "250ms",
                                  R"({"match": "example.invalid", "connect_to": "127.0.0.1:)" +
                                      std::to_string(server.port()) + R"("})"));
    Result r = c.send({.method = "GET", .url = "https://example.invalid/"});
    CHECK(r.error.code == tls::errc::certificate_hostname_mismatch);
    CHECK(server.requests() == 0);
}

}  // TEST_SUITE
