// interop_early_data: TLS 1.3 early data (0-RTT, policy tls.early_data) against a real server,
// nginx with `ssl_early_data on` (the fixture's nginx_early, tests/interop/README.md), for every
// client backend that has early data, over h2 and HTTP/1.1.
//
// What the server says is the proof, not what the client reports: nginx answers GET / with
// `early=$ssl_early_data`, which is "1" only for a request it read before the handshake was
// complete, i.e. one that came as early data; GET /too-early answers 425 Too Early to such a
// request (RFC 8470 5.2) and 200 otherwise.
//
// A resumed connection comes from a first request (its ticket is stored when the response is
// complete), then Client::close_idle_connections(): the next request opens a connection that
// resumes it.
//
// The requests sent as early data go through bench/delay_relay, 20 ms each way. nginx's
// `$ssl_early_data` is "1" while its handshake is not finished: it says that nginx processed
// the request before the client's Finished arrived. On loopback the client answers the server's
// flight within a fraction of a millisecond, and a busy machine can make nginx read the early
// request only together with that Finished: it then processed early data after the handshake
// (seen: accepted, yet `early=`, and no 425). With 40 ms between the two flights of the client,
// only a 40 ms stall of nginx could do that.
//
// Run it with the servers up: CONNMATRIX_DELAY_RELAY=build/bench/delay_relay
// tests/interop/with-servers.sh build/tests/interop/interop_early_data (meson test does that).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <doctest/doctest.h>

#include "checks.hpp"
#include "fixture_env.hpp"
#include "interop_spec.hpp"

#include <connmatrix/client.hpp>
#include <connmatrix/tls.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

using namespace connmatrix;
using interop::FixtureEnv;

namespace {

const FixtureEnv& fixture() { return FixtureEnv::required("interop_early_data"); }

// The client backends that can send early data (OpenSSL and GnuTLS; mbedTLS 2.28 has no TLS 1.3).
std::vector<std::string> early_backends() {
    std::vector<std::string> out;
    const auto reg = tls::Registry::compiled_in();
    for (const auto& b : reg.all())
        if (b->capabilities().early_data) out.emplace_back(b->name());
    return out;
}

struct Case {
    std::string backend;
    std::string mode;  // "alpn": h2 (nginx_early selects it), "http1": HTTP/1.1
    Protocol protocol;
};

std::vector<Case> cases() {
    std::vector<Case> out;
    for (const auto& b : early_backends()) {
        out.push_back({b, "alpn", Protocol::h2});
        out.push_back({b, "http1", Protocol::http1_1});
    }
    return out;
}

Client make_client(const Case& c, bool early_data) {
    const std::string json = R"({"defaults": {"backend": ")" + c.backend + R"(", "mode": ")" +
                             c.mode + R"(", "tls": {"ca_file": ")" + fixture().ca_file() +
                             R"(", "early_data": )" + (early_data ? "true" : "false") + "}, " +
                             interop::kTimeoutsJson + "}}";
    Error err;
    auto client = Client::from_json(json, err);
    if (!client) throw std::runtime_error("config rejected: " + err.message() + "\n" + json);
    return std::move(*client);
}

// bench/delay_relay in front of nginx_early, for the life of the object.
class DelayRelay {
public:
    DelayRelay(int target_port, int delay_ms) {
        const char* bin = std::getenv("CONNMATRIX_DELAY_RELAY");
        if (bin == nullptr || *bin == '\0')
            throw std::runtime_error("CONNMATRIX_DELAY_RELAY (the path of bench/delay_relay) is not "
                                     "set; meson test sets it");
        int out[2];
        if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        const std::string port = std::to_string(target_port), delay = std::to_string(delay_ms);
        std::vector<char*> argv{const_cast<char*>(bin), const_cast<char*>("0"),
                                const_cast<char*>("127.0.0.1"), const_cast<char*>(port.c_str()),
                                const_cast<char*>(delay.c_str()), nullptr};
        const int r = posix_spawn(&pid_, bin, &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(out[1]);
        if (r != 0) {
            ::close(out[0]);
            throw std::runtime_error(std::string("cannot start ") + bin);
        }
        // Its first line: "listening 127.0.0.1:PORT".
        std::string line;
        char c;
        while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
        ::close(out[0]);
        const auto colon = line.rfind(':');
        if (line.rfind("listening ", 0) != 0 || colon == std::string::npos) {
            stop();
            throw std::runtime_error(std::string(bin) + " did not start listening: \"" + line + "\"");
        }
        port_ = std::stoi(line.substr(colon + 1));
    }
    DelayRelay(const DelayRelay&) = delete;
    DelayRelay& operator=(const DelayRelay&) = delete;
    ~DelayRelay() { stop(); }
    int port() const { return port_; }

private:
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
    pid_t pid_ = -1;
    int port_ = 0;
};

constexpr int kRelayDelayMs = 20;

// nginx_early's origin, directly or through `relay`, and the path.
std::string url(const std::string& path, const DelayRelay* relay = nullptr) {
    const int port = relay ? relay->port() : fixture().server("nginx_early").port;
    return "https://127.0.0.1:" + std::to_string(port) + path;
}

// A full handshake for a ticket, then no idle connection left: the next request resumes.
void prime(Client& c, const DelayRelay* relay = nullptr) {
    Result first = c.send({.method = "GET", .url = url("/", relay)});
    INFO(first.error.message());
    REQUIRE(first);
    CHECK(first.response.status == 200);
    CHECK(first.response.body == "early=\n");  // a full handshake: nothing to send early
    CHECK(first.response.info.early_data == EarlyData::not_attempted);
    CHECK(first.response.info.tls_version == "TLSv1.3");
    c.close_idle_connections();
}

}  // namespace

TEST_CASE("the fixture's nginx_early is there, and some backend can send early data") {
    CHECK(fixture().server("nginx_early").scheme == "https");
    // OpenSSL and GnuTLS have early data; a build with neither has nothing to test here.
    const auto reg = tls::Registry::compiled_in();
    CHECK(early_backends().size() == std::size_t(reg.find("openssl") != nullptr) +
                                         std::size_t(reg.find("gnutls") != nullptr));
}

TEST_CASE("accepted: nginx reads the resumed connection's GET as early data") {
    const DelayRelay relay(fixture().server("nginx_early").port, kRelayDelayMs);
    for (const Case& k : cases()) {
        INFO("backend ", k.backend, ", mode ", k.mode);
        Client c = make_client(k, true);
        prime(c, &relay);
        Result r = c.send({.method = "GET", .url = url("/", &relay)});
        INFO(r.error.message());
        REQUIRE(r);
        const ConnectionInfo& i = r.response.info;
        CHECK(i.protocol == k.protocol);
        CHECK(i.resumed == std::optional<bool>(true));
        CHECK(i.early_data == EarlyData::accepted);
        CHECK(i.early);
        CHECK(r.response.status == 200);
        CHECK(r.response.body == "early=1\n");  // nginx: it came before the handshake completed
        CHECK(c.stats().connections_opened == 2);
        // The connection goes on as any other: the next request is no early data.
        Result next = c.send({.method = "GET", .url = url("/", &relay)});
        REQUIRE(next);
        CHECK(next.response.info.reused);
        CHECK_FALSE(next.response.info.early);
        CHECK(next.response.body == "early=\n");
    }
}

TEST_CASE("425 Too Early from nginx: sent again after the handshake, once") {
    const DelayRelay relay(fixture().server("nginx_early").port, kRelayDelayMs);
    for (const Case& k : cases()) {
        INFO("backend ", k.backend, ", mode ", k.mode);
        Client c = make_client(k, true);
        prime(c, &relay);
        const std::size_t retries = c.stats().retries;
        Result r = c.send({.method = "GET", .url = url("/too-early", &relay)});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.status == 200);
        CHECK(r.response.body == "early=\n");  // the retry's answer, after the handshake
        CHECK_FALSE(r.response.info.early);
        CHECK(r.response.info.protocol == k.protocol);
        CHECK(r.response.info.early_data == EarlyData::accepted);  // the first flight's fate
        CHECK(c.stats().retries == retries + 1);
        CHECK(c.stats().connections_opened == 2);  // the retry went on the same connection
    }
}

TEST_CASE("early_data off: the resumed connection sends the GET after the handshake") {
    for (const Case& k : cases()) {
        INFO("backend ", k.backend, ", mode ", k.mode);
        Client c = make_client(k, false);
        prime(c);
        Result r = c.send({.method = "GET", .url = url("/")});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.info.protocol == k.protocol);
        CHECK(r.response.info.resumed == std::optional<bool>(true));
        CHECK(r.response.info.early_data == EarlyData::not_attempted);
        CHECK_FALSE(r.response.info.early);
        CHECK(r.response.body == "early=\n");
    }
}
