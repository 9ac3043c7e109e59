// client_pool: multiplexing, waiting for one in-flight connect, per-host limits and queueing,
// idle expiry, warm(), close() draining, thread safety.
#include "client_common.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>

using namespace connmatrix;
using namespace connmatrix::test;

namespace {

const tls::Backend& default_backend() { return registry().default_backend(); }

}  // namespace

TEST_CASE("1000 concurrent requests from 10 threads over one h2 connection, none lost or duplicated") {
    auto o = tls_server(default_backend(), {"h2"});
    o.handler = echo_path;
    o.h2.max_concurrent_streams = 1000;
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "alpn",
                                       R"("pool": {"max_concurrent_streams": 1000})"));
    std::vector<std::future<Result>> futures(1000);
    std::vector<std::thread> threads;
    for (int t = 0; t < 10; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i) {
                const int n = t * 100 + i;
                futures[static_cast<std::size_t>(n)] =
                    c.send_future({.method = "GET", .url = server.url("/r/" + std::to_string(n))});
            }
        });
    for (auto& th : threads) th.join();
    std::set<std::string> bodies;
    int ok = 0;
    for (std::size_t n = 0; n < futures.size(); ++n) {
        Result r = futures[n].get();
        if (!r) {
            INFO(r.error.message());
            CHECK(r);
            continue;
        }
        CHECK(r.response.body == "h2 GET /r/" + std::to_string(n));
        bodies.insert(r.response.body);
        ++ok;
    }
    CHECK(ok == 1000);
    CHECK(bodies.size() == 1000);
    CHECK(server.connections() == 1);
    CHECK(server.requests() == 1000);
    CHECK(server.peak_h2_streams() > 1);  // they really were concurrent
}

TEST_CASE("concurrent first requests wait for one in-flight connect") {
    auto o = tls_server(default_backend(), {"h2"});
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "alpn"));
    std::vector<std::future<Result>> fs;
    for (int i = 0; i < 20; ++i) fs.push_back(c.send_future({.method = "GET", .url = server.url()}));
    int reused = 0;
    for (auto& f : fs) {
        Result r = f.get();
        REQUIRE(r);
        reused += r.response.info.reused ? 1 : 0;
    }
    CHECK(server.connections() == 1);
    CHECK(server.handshakes() == 1);
    CHECK(reused == 19);
}

TEST_CASE("the server's MAX_CONCURRENT_STREAMS is respected; a second connection opens only when streams run out") {
    auto o = tls_server(default_backend(), {"h2"});
    o.h2.max_concurrent_streams = 5;
    o.response_delay = std::chrono::milliseconds(20);
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "alpn",
                                       R"("pool": {"max_connections_per_host": 1, "max_idle_per_host": 1})"));
    std::vector<std::future<Result>> fs;
    for (int i = 0; i < 30; ++i) fs.push_back(c.send_future({.method = "GET", .url = server.url()}));
    for (auto& f : fs) CHECK(f.get());
    CHECK(server.connections() == 1);
    CHECK(server.peak_h2_streams() <= 5);
}

TEST_CASE("HTTP/1.1: per-host connection limit, requests queue, keep-alive reuse") {
    auto o = tls_server(default_backend(), {"http/1.1"});
    o.response_delay = std::chrono::milliseconds(30);
    o.handler = echo_path;
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "http1",
                                       R"("pool": {"max_connections_per_host": 2, "max_idle_per_host": 2})"));
    std::vector<std::future<Result>> fs;
    for (int i = 0; i < 8; ++i)
        fs.push_back(c.send_future({.method = "GET", .url = server.url("/q" + std::to_string(i))}));
    for (int i = 0; i < 8; ++i) {
        Result r = fs[static_cast<std::size_t>(i)].get();
        REQUIRE(r);
        CHECK(r.response.body == "http/1.1 GET /q" + std::to_string(i));
    }
    CHECK(server.connections() == 2);
}

TEST_CASE("HTTP/1.1: no more idle connections are kept than max_idle_per_host") {
    auto o = tls_server(default_backend(), {"http/1.1"});
    o.response_delay = std::chrono::milliseconds(30);
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "http1",
                                       R"("pool": {"max_connections_per_host": 4, "max_idle_per_host": 1})"));
    std::vector<std::future<Result>> fs;
    for (int i = 0; i < 4; ++i) fs.push_back(c.send_future({.method = "GET", .url = server.url()}));
    for (auto& f : fs) REQUIRE(f.get());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(server.connections() == 4);
    CHECK(c.stats().connections_open == 1);
}

TEST_CASE("idle connections expire and are never handed out afterwards") {
    auto o = tls_server(default_backend(), {"h2"});
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "alpn", R"("timeouts": {"idle": "100ms"})"));
    REQUIRE(c.send({.method = "GET", .url = server.url()}));
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    CHECK(c.stats().connections_open == 0);
    CHECK(c.stats().hosts == 0);  // nothing left for it: the Host record went too
    Result r = c.send({.method = "GET", .url = server.url()});
    REQUIRE(r);
    CHECK_FALSE(r.response.info.reused);
    CHECK(server.connections() == 2);
}

TEST_CASE("an unused Host is erased, and what it learnt (fallback, TLS session) serves the next one") {
    auto o = tls_server(default_backend(), {}, tls::ServerAlpn::ignore);
    o.speak = TestServerOptions::Speak::http1;  // rejects h2 by prior knowledge
    o.http1_close_after_response = true;        // so nothing is left open after each request
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "prior-knowledge-alpn"));
    auto no_hosts = [&c] {
        for (int i = 0; i < 200 && c.stats().hosts > 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return c.stats().hosts == 0;
    };
    Result r1 = c.send({.method = "GET", .url = server.url()});
    REQUIRE(r1);
    CHECK(r1.response.info.fallback);
    CHECK(server.connections() == 2);  // the rejected h2 attempt, then HTTP/1.1
    REQUIRE(no_hosts());
    Result r2 = c.send({.method = "GET", .url = server.url()});
    REQUIRE(r2);
    CHECK(r2.response.info.protocol == Protocol::http1_1);
    CHECK(r2.response.info.fallback);
    CHECK(server.connections() == 3);  // straight to HTTP/1.1: the fallback outlived its Host
    CHECK(c.stats().fallbacks == 1);
    CHECK(r2.response.info.resumed == std::optional<bool>(true));  // the session outlived it too
    CHECK(no_hosts());
}

TEST_CASE("a connection the server closed is not reused: the next request gets a fresh one") {
    auto o = tls_server(default_backend(), {"http/1.1"});
    o.http1_close_after_response = true;
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "http1"));
    for (int i = 0; i < 3; ++i) {
        Result r = c.send({.method = "GET", .url = server.url()});
        REQUIRE(r);
        CHECK_FALSE(r.response.info.reused);
    }
    CHECK(server.connections() == 3);
}

TEST_CASE("warm() opens the connection before the first request") {
    auto o = tls_server(default_backend(), {"h2"});
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "alpn"));
    CHECK_FALSE(c.warm(server.url()));
    CHECK(c.stats().connections_open == 1);
    Result r = c.send({.method = "GET", .url = server.url()});
    REQUIRE(r);
    CHECK(r.response.info.reused);
    CHECK(r.response.info.timings.tls.count() == 0);  // the handshake was paid by warm()
    CHECK(server.connections() == 1);
    // A dead origin: warm() reports why.
    Error err = c.warm("https://127.0.0.1:1/");
    CHECK(err.code == net::errc::connect_failed);
}

TEST_CASE("close() lets requests in flight finish, then refuses new ones") {
    auto o = tls_server(default_backend(), {"h2"});
    o.response_delay = std::chrono::milliseconds(100);
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "alpn"));
    auto f = c.send_future({.method = "GET", .url = server.url()});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    c.close();
    Result r = f.get();
    CHECK(r);
    Result late = c.send({.method = "GET", .url = server.url()});
    CHECK(late.error.code == pool::errc::client_closed);
}

TEST_CASE("different policies never share a connection") {
    auto o = tls_server(default_backend(), {"h2", "http/1.1"});
    TestServer server(o);
    const std::string json =
        "{\"defaults\": {\"backend\": \"" + std::string(default_backend().name()) +
        "\", \"tls\": {\"ca_file\": \"" + cert("ca.pem") +
        "\"}}, \"hosts\": [{\"match\": \"127.0.0.1\", \"mode\": \"http1\"}]}";
    Client c = make_client(json);
    Result a = c.send({.method = "GET", .url = server.url()});
    Result b = c.send({.method = "GET", .url = "https://127.0.0.1:" + std::to_string(server.port()) + "/"});
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a.response.info.protocol == Protocol::h2);
    CHECK(b.response.info.protocol == Protocol::http1_1);
    CHECK(b.response.info.rule.find("hosts[0]") != std::string::npos);
    CHECK(server.connections() == 2);
}

TEST_CASE("log lines tell the negotiation story, without bodies") {
    auto o = tls_server(default_backend(), {"h2"});
    TestServer server(o);
    auto lines = std::make_shared<std::vector<std::string>>();
    auto mu = std::make_shared<std::mutex>();
    ClientOptions opts;
    opts.log_level = LogLevel::trace;
    opts.log = [lines, mu](LogLevel, std::string_view m) {
        std::lock_guard lock(*mu);
        lines->emplace_back(m);
    };
    Client c = make_client(client_json(default_backend().name(), "alpn"), opts);
    REQUIRE(c.send({.method = "POST", .url = server.url(), .body = "secret-body-42"}));
    c.close();
    std::string all;
    for (auto& l : *lines) all += l + "\n";
    INFO(all);
    CHECK(all.find("checkout") != std::string::npos);
    CHECK(all.find("ALPN offered [h2, http/1.1]") != std::string::npos);
    CHECK(all.find("ALPN selected h2") != std::string::npos);
    CHECK(all.find("secret-body-42") == std::string::npos);
}

TEST_CASE("a timed-out h2 request frees its stream for the next one in the queue") {
    auto o = tls_server(default_backend(), {"h2"});
    o.h2.max_concurrent_streams = 1;
    o.handler = [](const ServedRequest& r) {
        if (r.target == "/slow") std::this_thread::sleep_for(std::chrono::milliseconds(400));
        return ServedResponse{200, {}, "ok " + r.target};
    };
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "alpn",
                                       R"("pool": {"max_connections_per_host": 1, "max_idle_per_host": 1})"));
    REQUIRE(c.send({.method = "GET", .url = server.url("/warm")}));  // learn the 1-stream limit
    auto slow = c.send_future({.method = "GET", .url = server.url("/slow"),
                               .timeout = std::chrono::milliseconds(200)});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto t0 = std::chrono::steady_clock::now();
    auto next = c.send_future({.method = "GET", .url = server.url("/next"),
                               .timeout = std::chrono::seconds(3)});
    CHECK(slow.get().error.code == net::errc::request_timeout);
    Result r = next.get();
    INFO(r.error.message());
    CHECK(r);
    CHECK(r.response.body == "ok /next");
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
}

TEST_CASE("blocking calls from a callback do not deadlock the client") {
    auto o = tls_server(default_backend(), {"h2"});
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "alpn"));
    auto done = std::make_shared<std::promise<std::pair<std::size_t, std::error_code>>>();
    auto fut = done->get_future();
    c.send_async({.method = "GET", .url = server.url()}, [&c, done](Result) {
        const auto stats = c.stats();                        // answered directly
        const Result nested = c.send({.method = "GET", .url = "https://localhost/"});  // refused
        done->set_value({stats.requests, nested.error.code});
    });
    REQUIRE(fut.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    const auto [requests, code] = fut.get();
    CHECK(requests >= 1);
    CHECK(code == pool::errc::wrong_thread);
    CHECK(c.send({.method = "GET", .url = server.url()}));  // still alive
}

TEST_CASE("h2c-upgrade: requests that cannot offer the upgrade still spread over connections") {
    TestServerOptions o;  // cleartext HTTP/1.1 (no h2c upgrade support)
    o.response_delay = std::chrono::milliseconds(300);
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "alpn",
                                       R"("cleartext": "h2c-upgrade", "timeouts": {"request": "2s"},
                                          "pool": {"max_connections_per_host": 4, "max_idle_per_host": 4})"));
    std::vector<std::future<Result>> fs;
    for (int i = 0; i < 4; ++i)
        fs.push_back(c.send_future({.method = "POST", .url = server.url(), .body = "x"}));
    for (auto& f : fs) {
        Result r = f.get();
        INFO(r.error.message());
        CHECK(r);
    }
    CHECK(server.connections() >= 2);
}

TEST_CASE("close_idle_connections: the next request opens a new connection that resumes") {
    for (const auto& b : registry().all()) {
        INFO("backend ", b->name());
        auto o = tls_server(*b, {"h2", "http/1.1"});
        o.handler = echo_path;
        TestServer server(o);
        for (const char* mode : {"alpn", "http1"}) {
            INFO("mode ", mode);
            Client c = make_client(client_json(b->name(), mode));
            Result first = c.send({.method = "GET", .url = server.url("/a")});
            INFO(first.error.message());
            REQUIRE(first);
            CHECK_FALSE(first.response.info.reused);
            REQUIRE(first.response.info.certificate_expires);
            CHECK(*first.response.info.certificate_expires >
                  std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 9));
            CHECK(first.response.info.h2_settings.has_value() ==
                  (first.response.info.protocol == Protocol::h2));
            c.close_idle_connections();
            // Closed, not only left unused: the server sees the connection end, long before
            // timeouts.idle (90 s). (HTTP/1.1 has no goodbye of its own: it used to stay open;
            // a server taking one connection at a time then served no other.)
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            while (server.closed() < server.connections() && std::chrono::steady_clock::now() < deadline)
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            CHECK(server.closed() == server.connections());  // none open
            Result second = c.send({.method = "GET", .url = server.url("/b")});
            INFO(second.error.message());
            REQUIRE(second);
            CHECK_FALSE(second.response.info.reused);
            CHECK(second.response.info.resumed == std::optional<bool>(true));
            CHECK(c.stats().connections_opened == 2);
            Result third = c.send({.method = "GET", .url = server.url("/c")});
            CHECK(third.response.info.reused);  // the new one is pooled as usual
        }
    }
}

TEST_CASE("an HTTP/1.1 connection the server dropped while idle is not reused, and costs no error") {
    auto o = tls_server(default_backend(), {"http/1.1"});
    o.http1_drop_after_response = true;  // keep-alive promised, then the connection is closed
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "http1",
                                       R"("timeouts": {"request": "10s"})"));
    for (int i = 0; i < 5; ++i) {
        // POST: were it written to the dropped connection it could not be retried.
        const auto t0 = std::chrono::steady_clock::now();
        Result r = c.send({.method = "POST", .url = server.url(), .body = "x"});
        REQUIRE_MESSAGE(r, r.error.message());
        CHECK_FALSE(r.response.info.reused);
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
        // Long enough for the hang-up to reach us. A request sent before it arrives still goes
        // out on the dropped connection: no check before reuse can see a close not yet received.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(server.connections() == 5);
    CHECK(c.stats().retries == 0);
}

TEST_CASE("pool.ping_interval: an h2 connection idle past it is PINGed and reused after the ACK") {
    auto o = tls_server(default_backend(), {"h2"});
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "alpn",
                                       R"("pool": {"ping_interval": "100ms", "ping_timeout": "2s"})"));
    REQUIRE(c.send({.method = "GET", .url = server.url()}));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    Result r = c.send({.method = "GET", .url = server.url()});
    REQUIRE_MESSAGE(r, r.error.message());
    CHECK(r.response.info.reused);
    CHECK(server.connections() == 1);
}

TEST_CASE("pool.ping_interval: an h2 server that stops answering PING costs ping_timeout, not the request timeout") {
    auto o = tls_server(default_backend(), {"h2"});
    o.h2.faults.ignore_ping = true;
    TestServer server(o);
    SUBCASE("with ping_interval set, the request goes on a fresh connection") {
        Client c = make_client(client_json(default_backend().name(), "alpn",
                                           R"("timeouts": {"request": "20s"},
                                              "pool": {"ping_interval": "100ms", "ping_timeout": "300ms"})"));
        REQUIRE(c.send({.method = "GET", .url = server.url()}));
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        const auto t0 = std::chrono::steady_clock::now();
        Result r = c.send({.method = "POST", .url = server.url(), .body = "once"});
        const auto took = std::chrono::steady_clock::now() - t0;
        REQUIRE_MESSAGE(r, r.error.message());
        CHECK_FALSE(r.response.info.reused);
        // The idle connection's keepalive PING went out at 100 ms: the request waited for its
        // ACK (or found the connection closed already), at most ~ping_timeout, not 20 s.
        CHECK(took < std::chrono::seconds(3));
        CHECK(server.connections() == 2);
        CHECK(server.requests() == 2);  // the POST reached the server once
    }
    SUBCASE("without ping_interval (the default), no PING: the connection is reused as before") {
        Client c = make_client(client_json(default_backend().name(), "alpn"));
        REQUIRE(c.send({.method = "GET", .url = server.url()}));
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        Result r = c.send({.method = "GET", .url = server.url()});
        REQUIRE(r);
        CHECK(r.response.info.reused);
        CHECK(server.connections() == 1);
    }
}

TEST_CASE("pool.max_connection_age: an old connection takes no new request; one on it finishes") {
    for (const bool h2 : {true, false}) {
        INFO((h2 ? "h2" : "http/1.1"));
        auto o = h2 ? tls_server(default_backend(), {"h2"}) : TestServerOptions{};
        // /slow answers after 1.5 s: in flight across the connection's 300 ms age.
        o.handler = [](const ServedRequest& r) {
            if (r.target == "/slow") std::this_thread::sleep_for(std::chrono::milliseconds(1500));
            return echo_path(r);
        };
        TestServer server(o);
        // One connection per host at most: the draining one must not hold the place.
        Client c = make_client(client_json(default_backend().name(), "alpn",
                                           R"("pool": {"max_connection_age": "300ms",
                                                       "max_connections_per_host": 1})"));
        REQUIRE(c.send({.method = "GET", .url = server.url("/first")}));
        std::this_thread::sleep_for(std::chrono::milliseconds(450));
        // Aged while idle: closed, and the next request opens a fresh connection.
        Result r = c.send({.method = "GET", .url = server.url("/second")});
        REQUIRE_MESSAGE(r, r.error.message());
        CHECK_FALSE(r.response.info.reused);
        CHECK(server.connections() == 2);
        // Aged with a request in flight: that one finishes on it, the next goes elsewhere at
        // once (not after the slow one, as it would behind a limit of one connection).
        std::promise<Result> slow;
        auto slow_done = slow.get_future();
        c.send_async({.method = "GET", .url = server.url("/slow")},
                     [&slow](Result x) { slow.set_value(std::move(x)); });
        std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the connection is 400+ ms old
        Result quick = c.send({.method = "GET", .url = server.url("/quick")});
        REQUIRE_MESSAGE(quick, quick.error.message());
        CHECK_FALSE(quick.response.info.reused);
        // It did not wait for /slow's connection: /slow is still in flight.
        CHECK(slow_done.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
        Result s = slow_done.get();
        REQUIRE_MESSAGE(s, s.error.message());
        CHECK(s.response.body.find("/slow") != std::string::npos);
        CHECK(server.connections() == 3);
        CHECK(server.requests() == 4);
        // And the aged connections are closed, not left open idle.
        const auto t1 = std::chrono::steady_clock::now();
        while (server.closed() < 2 && std::chrono::steady_clock::now() - t1 < std::chrono::seconds(3))
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        CHECK(server.closed() >= 2);
    }
}

TEST_CASE("pool.max_connection_age: 0s (the default) keeps a connection however old") {
    auto o = tls_server(default_backend(), {"h2"});
    TestServer server(o);
    Client c = make_client(client_json(default_backend().name(), "alpn"));
    REQUIRE(c.send({.method = "GET", .url = server.url()}));
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    Result r = c.send({.method = "GET", .url = server.url()});
    REQUIRE(r);
    CHECK(r.response.info.reused);
    CHECK(server.connections() == 1);
}

TEST_CASE("pool.ping_interval: an idle h2 connection is PINGed each interval, and closed while idle once it stops answering") {
    SUBCASE("a server that answers: PINGs while idle, the connection kept and reused") {
        TestServer server(tls_server(default_backend(), {"h2"}));
        Client c = make_client(client_json(default_backend().name(), "alpn",
                                           R"("pool": {"ping_interval": "150ms", "ping_timeout": "2s"})"));
        REQUIRE(c.send({.method = "GET", .url = server.url()}));
        const auto t0 = std::chrono::steady_clock::now();
        while (server.h2_pings() < 3 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5))
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        CHECK(server.h2_pings() >= 3);  // one per interval, no request needed
        Result r = c.send({.method = "GET", .url = server.url()});
        REQUIRE_MESSAGE(r, r.error.message());
        CHECK(r.response.info.reused);
        CHECK(server.connections() == 1);
    }
    SUBCASE("a server that stops answering: closed while idle, the next request on a fresh one") {
        auto o = tls_server(default_backend(), {"h2"});
        o.h2.faults.ignore_ping = true;
        TestServer server(o);
        Client c = make_client(client_json(default_backend().name(), "alpn",
                                           R"("pool": {"ping_interval": "100ms", "ping_timeout": "200ms"})"));
        REQUIRE(c.send({.method = "GET", .url = server.url()}));
        const auto t0 = std::chrono::steady_clock::now();
        while (server.closed() < 1 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5))
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        CHECK(server.closed() == 1);  // the Client hung up on it, with no request waiting
        CHECK(server.h2_pings() == 1);
        Result r = c.send({.method = "GET", .url = server.url()});
        REQUIRE_MESSAGE(r, r.error.message());
        CHECK_FALSE(r.response.info.reused);
        CHECK(server.connections() == 2);
    }
}
