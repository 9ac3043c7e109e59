// load_shutdown: ending a Client that has requests in flight. close() is graceful (each request
// may run to its own timeout, 30 s by default); the destructor and close(deadline) are prompt:
// whatever is still in flight then ends with pool::errc::client_closed, exactly once.
#include "client_common.hpp"

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

using namespace connmatrix;
using namespace connmatrix::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// Every answer to the requests of one test, by index: how many, and the first code.
struct Answers {
    explicit Answers(std::size_t n) : calls(n), codes(n) {}
    std::vector<std::atomic<int>> calls;
    std::vector<std::error_code> codes;
    std::vector<std::string> messages = std::vector<std::string>(calls.size());
    std::atomic<std::size_t> total{0};

    std::function<void(Result)> slot(std::size_t i) {
        return [this, i](Result r) {
            if (calls[i].fetch_add(1) == 0) {
                codes[i] = r.error.code;
                messages[i] = r.error.message();
            }
            ++total;
        };
    }
};

// Counts request heads reaching a server (on_arrival), to know the requests are in flight.
struct Arrivals {
    std::atomic<std::size_t> n{0};
    void watch(TestServerOptions& o) {
        o.on_arrival = [this](const ServedRequest&) { ++n; };
    }
    bool wait_for(std::size_t at_least, std::chrono::seconds within) const {
        const auto until = Clock::now() + within;
        while (n < at_least && Clock::now() < until) std::this_thread::sleep_for(5ms);
        return n >= at_least;
    }
};

std::string stall_config() {
    // The default request timeout (30 s) stays: a prompt end must not come from it.
    return client_json(registry().default_backend().name(), "alpn",
                       R"("pool": {"max_connections_per_host": 8})");
}

}  // namespace

TEST_CASE("destroying a Client with 1,000 requests in flight ends each with client_closed, promptly") {
    // An h2 server that takes requests and never answers, and an HTTP/1.1 one that reads and
    // never answers: 500 requests each. h2: 5 connections of 100 streams; HTTP/1.1: 8 connections
    // with one request each, the other 492 waiting in the pool's queue.
    Arrivals h2_in, h1_in;
    auto h2o = tls_server(registry().default_backend(), {"h2"});
    h2o.h2.faults.stall = true;
    h2_in.watch(h2o);
    TestServer h2_server(h2o);
    std::atomic<bool> release{false};
    TestServerOptions h1o;
    h1o.speak = TestServerOptions::Speak::http1;
    h1o.handler = [&release](const ServedRequest&) {
        while (!release) std::this_thread::sleep_for(10ms);  // not before the test ends
        return ServedResponse{};
    };
    h1_in.watch(h1o);
    TestServer h1_server(h1o);

    constexpr std::size_t n = 1000;
    Answers answers(n);
    auto client = std::make_unique<Client>(make_client(stall_config()));
    for (std::size_t i = 0; i < n; ++i) {
        const bool h2 = i % 2 == 0;
        const std::string path = "/stall/" + std::to_string(i);
        client->send_async({.method = i % 3 == 0 ? "POST" : "GET",
                            .url = h2 ? h2_server.url(path) : h1_server.url(path),
                            .body = i % 3 == 0 ? "x" : ""},
                           answers.slot(i));
    }
    // In flight for real: on the wire to both servers, the rest queued.
    REQUIRE(h2_in.wait_for(500, 20s));
    REQUIRE(h1_in.wait_for(8, 20s));
    CHECK(answers.total == 0);

    const auto t0 = Clock::now();
    client.reset();
    const auto took = Clock::now() - t0;
    MESSAGE("destructor with 1,000 requests in flight returned in ",
            std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), " ms");
    CHECK(took < 2s);
    CHECK(answers.total == n);  // all answered before the destructor returned
    for (std::size_t i = 0; i < n; ++i) {
        INFO("request ", i, ": ", answers.messages[i]);
        CHECK(answers.calls[i] == 1);
        CHECK(answers.codes[i] == pool::errc::client_closed);
    }
    CHECK(answers.messages[0].find("no time left") != std::string::npos);
    release = true;
}

TEST_CASE("close(deadline): what ends within the deadline is answered, the rest end at it") {
    // One server answers after 200 ms; the other never does.
    auto fast_o = tls_server(registry().default_backend(), {"h2"});
    fast_o.response_delay = 200ms;
    TestServer fast(fast_o);
    Arrivals stalled_in;
    auto stall_o = tls_server(registry().default_backend(), {"h2"});
    stall_o.h2.faults.stall = true;
    stalled_in.watch(stall_o);
    TestServer stalled(stall_o);

    Client c = make_client(stall_config());
    auto quick = c.send_future({.method = "GET", .url = fast.url("/quick")});
    std::vector<std::future<Result>> stuck;
    for (int i = 0; i < 50; ++i)
        stuck.push_back(c.send_future({.method = "POST", .url = stalled.url("/stuck"), .body = "x"}));
    REQUIRE(stalled_in.wait_for(50, 10s));

    const auto t0 = Clock::now();
    c.close(1s);
    const auto took = Clock::now() - t0;
    CHECK(took < 3s);  // the deadline, not the 30 s request timeout
    Result q = quick.get();
    INFO(q.error.message());
    CHECK(q);  // finished within the deadline: answered normally
    for (auto& f : stuck) {
        Result r = f.get();
        CHECK(r.error.code == pool::errc::client_closed);
        CHECK(r.error.message().find("deadline of 1000 ms") != std::string::npos);
    }
    // Closed: later requests are refused at once.
    CHECK(c.send({.method = "GET", .url = fast.url()}).error.code == pool::errc::client_closed);
}

TEST_CASE("a graceful close() begun in a callback is cut short by the destructor") {
    Arrivals in;
    auto o = tls_server(registry().default_backend(), {"h2"});
    o.h2.faults.stall = true;
    in.watch(o);
    TestServer server(o);
    TestServer good(tls_server(registry().default_backend(), {"h2"}));

    Answers answers(20);
    auto client = std::make_unique<Client>(make_client(stall_config()));
    for (std::size_t i = 0; i < 20; ++i)
        client->send_async({.method = "GET", .url = server.url("/stuck")}, answers.slot(i));
    REQUIRE(in.wait_for(20, 10s));
    // From a callback on the I/O thread: close() only starts the graceful drain there.
    std::promise<void> closing;
    Client* raw = client.get();
    raw->send_async({.method = "GET", .url = good.url()}, [raw, &closing](Result) {
        raw->close();
        closing.set_value();
    });
    REQUIRE(closing.get_future().wait_for(10s) == std::future_status::ready);
    std::this_thread::sleep_for(100ms);
    CHECK(answers.total == 0);  // graceful: still waiting for the stalled server

    const auto t0 = Clock::now();
    client.reset();
    CHECK(Clock::now() - t0 < 2s);
    CHECK(answers.total == 20);
    for (std::size_t i = 0; i < 20; ++i) {
        CHECK(answers.calls[i] == 1);
        CHECK(answers.codes[i] == pool::errc::client_closed);
    }
}
