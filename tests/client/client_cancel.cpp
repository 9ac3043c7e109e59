// client_cancel: cancelling a request (RequestHandle::cancel, Request::cancel's stop_token) from
// another thread, while it waits for a connection, while its connection is being made, and in
// the middle of its response body over h2 (the connection goes on) and HTTP/1.1 (it closes);
// Request::deadline; and that a callback runs exactly once, never inside the call that sent it,
// after close() too.
#include "client_common.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

using namespace connmatrix;
using namespace connmatrix::test;
using namespace std::chrono_literals;

namespace {

const tls::Backend& backend() { return registry().default_backend(); }

using Clock = std::chrono::steady_clock;

// The paths a test server saw arrive, in order (on_arrival runs on the server's threads).
struct Arrivals {
    std::mutex mu;
    std::vector<std::string> targets;
    void operator()(const ServedRequest& r) {
        std::lock_guard lock(mu);
        targets.push_back(r.target);
    }
    bool saw(const std::string& target) {
        std::lock_guard lock(mu);
        return std::find(targets.begin(), targets.end(), target) != targets.end();
    }
    bool wait_for(const std::string& target, std::chrono::milliseconds limit = 5s) {
        const auto until = Clock::now() + limit;
        while (Clock::now() < until) {
            if (saw(target)) return true;
            std::this_thread::sleep_for(5ms);
        }
        return false;
    }
};

// /stall answers 200 with a 1 MiB body of which only the first 1000 bytes are sent; anything
// else is echoed.
ServedResponse stall_or_echo(const ServedRequest& r) {
    if (r.target != "/stall") return echo_path(r);
    ServedResponse s{200, {{"content-type", "application/octet-stream"}}, std::string(1 << 20, 'x')};
    s.stall_after_body = 1000;
    return s;
}

void check_cancelled(const Result& r, std::string_view phase) {
    INFO(r.error.message());
    CHECK(r.error.code == pool::errc::cancelled);
    CHECK(error_name(r.error.code) == "pool:cancelled");
    CHECK(r.error.origin == "pool");
    CHECK(r.error.message().find(phase) != std::string::npos);
    CHECK(r.response.status == 0);
}

}  // namespace

TEST_CASE("a blocking send() is cancelled from another thread through its stop_token") {
    auto o = tls_server(backend(), {"h2"});
    o.h2.faults.stall = true;  // reads requests, never answers
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    std::stop_source source;
    std::jthread canceller([&source] {
        std::this_thread::sleep_for(200ms);
        source.request_stop();
    });
    const auto t0 = Clock::now();
    const Result r = c.send({.method = "GET", .url = server.url("/wait"), .cancel = source.get_token()});
    const auto took = Clock::now() - t0;
    check_cancelled(r, "waiting for the response");
    CHECK(took >= 150ms);
    CHECK(took < 5s);  // the request timeout is 30 s
    // send_future the same way, and a handle cancelled from another thread.
    std::stop_source s2;
    auto f = c.send_future({.method = "GET", .url = server.url("/f"), .cancel = s2.get_token()});
    CHECK(f.wait_for(100ms) == std::future_status::timeout);
    std::thread([&s2] { s2.request_stop(); }).join();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    check_cancelled(f.get(), "waiting for the response");
    Answer out;
    const RequestHandle h = c.send_async({.method = "GET", .url = server.url("/h")}, out.callback());
    CHECK(static_cast<bool>(h));
    std::this_thread::sleep_for(100ms);
    CHECK_FALSE(out.ready());
    std::thread([h] { h.cancel(); }).join();
    check_cancelled(out.wait(), "waiting for the response");
    CHECK(out.calls == 1);
}

TEST_CASE("a token stopped before sending ends the request without sending it") {
    auto o = tls_server(backend(), {"h2"});
    Arrivals arrivals;
    o.on_arrival = std::ref(arrivals);
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    std::stop_source source;
    source.request_stop();
    Answer out;
    c.send_async({.method = "GET", .url = server.url("/never"), .cancel = source.get_token()},
                 out.callback());
    check_cancelled(out.wait(), "before the request was sent");
    const Result next = c.send({.method = "GET", .url = server.url("/next")});
    CHECK(next);
    CHECK_FALSE(arrivals.saw("/never"));
    CHECK(arrivals.saw("/next"));
    CHECK(out.calls == 1);
}

TEST_CASE("h2: cancelled while queued (streams full), then mid-body; the connection goes on") {
    auto o = tls_server(backend(), {"h2"});
    o.handler = stall_or_echo;
    o.h2.max_concurrent_streams = 1;
    Arrivals arrivals;
    o.on_arrival = std::ref(arrivals);
    std::mutex resets_mu;
    std::vector<std::uint32_t> resets;  // the codes of the client's RST_STREAMs
    o.h2.on_reset = [&](std::int32_t, std::uint32_t code) {
        std::lock_guard lock(resets_mu);
        resets.push_back(code);
    };
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn",
                                       R"("pool": {"max_connections_per_host": 1})"));
    Answer stalled, queued;
    const RequestHandle first = c.send_async({.method = "GET", .url = server.url("/stall")},
                                             stalled.callback());
    REQUIRE(arrivals.wait_for("/stall"));
    std::this_thread::sleep_for(300ms);  // the head and the first 1000 bytes arrive
    // The only stream is taken: this one waits in the pool's queue.
    const RequestHandle second = c.send_async({.method = "GET", .url = server.url("/queued")},
                                              queued.callback());
    std::this_thread::sleep_for(100ms);
    CHECK_FALSE(queued.ready());
    second.cancel();
    check_cancelled(queued.wait(), "before the request was sent");
    CHECK_FALSE(stalled.ready());  // the other one is untouched
    first.cancel();
    check_cancelled(stalled.wait(), "while receiving the response");
    // RST_STREAM CANCEL freed the stream: the same connection serves the next request.
    const Result next = c.send({.method = "GET", .url = server.url("/next"), .timeout = 5s});
    INFO(next.error.message());
    REQUIRE(next);
    CHECK(next.response.body == "h2 GET /next");
    CHECK(next.response.info.reused);
    CHECK(server.connections() == 1);
    CHECK(c.stats().connections_open == 1);
    CHECK_FALSE(arrivals.saw("/queued"));
    {
        std::lock_guard lock(resets_mu);
        CHECK(resets == std::vector<std::uint32_t>{0x8});  // one RST_STREAM, CANCEL
    }
    first.cancel();  // after completion: nothing happens
    second.cancel();
    std::this_thread::sleep_for(50ms);
    CHECK(stalled.calls == 1);
    CHECK(queued.calls == 1);
}

TEST_CASE("HTTP/1.1: cancelled while queued (one connection), then mid-body: that connection closes") {
    TestServerOptions o;  // cleartext HTTP/1.1
    o.handler = stall_or_echo;
    Arrivals arrivals;
    o.on_arrival = std::ref(arrivals);
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn",
                                       R"("pool": {"max_connections_per_host": 1})"));
    Answer stalled, queued;
    const RequestHandle first = c.send_async({.method = "GET", .url = server.url("/stall")},
                                             stalled.callback());
    REQUIRE(arrivals.wait_for("/stall"));
    std::this_thread::sleep_for(200ms);
    const RequestHandle second = c.send_async({.method = "GET", .url = server.url("/queued")},
                                              queued.callback());
    std::this_thread::sleep_for(100ms);
    CHECK_FALSE(queued.ready());
    second.cancel();
    check_cancelled(queued.wait(), "before the request was sent");
    CHECK_FALSE(stalled.ready());
    CHECK(c.stats().connections_open == 1);
    first.cancel();
    check_cancelled(stalled.wait(), "while receiving the response");
    // The rest of that body would still come: the connection was closed, a new one serves.
    const Result next = c.send({.method = "GET", .url = server.url("/next"), .timeout = 5s});
    INFO(next.error.message());
    REQUIRE(next);
    CHECK(next.response.body == "http/1.1 GET /next");
    CHECK_FALSE(next.response.info.reused);
    CHECK(server.connections() == 2);
    CHECK(c.stats().connections_opened == 2);
    CHECK_FALSE(arrivals.saw("/queued"));
    CHECK(stalled.calls == 1);
    CHECK(queued.calls == 1);
}

TEST_CASE("cancelled during connect: a server that accepts TCP and never answers the handshake") {
    auto o = tls_server(backend(), {"h2"});
    o.stall = true;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn",
                                       R"("timeouts": {"tls": "3s"})"));
    Answer out;
    const RequestHandle h = c.send_async({.method = "GET", .url = server.url()}, out.callback());
    std::this_thread::sleep_for(200ms);
    CHECK_FALSE(out.ready());
    CHECK(server.connections() == 1);  // TCP is up, the handshake hangs
    const auto t0 = Clock::now();
    h.cancel();
    check_cancelled(out.wait(), "before the request was sent");
    CHECK(Clock::now() - t0 < 1s);  // not the 3 s TLS timeout
    std::this_thread::sleep_for(50ms);
    CHECK(out.calls == 1);
}

TEST_CASE("Request::deadline: whichever of deadline and timeout comes first ends the request") {
    auto o = tls_server(backend(), {"h2"});
    o.h2.faults.stall = true;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    auto t0 = Clock::now();
    Result r = c.send({.method = "GET", .url = server.url(), .deadline = t0 + 300ms});
    INFO(r.error.message());
    CHECK(r.error.code == net::errc::request_timeout);
    CHECK(r.error.message().find("deadline") != std::string::npos);
    CHECK(Clock::now() - t0 >= 250ms);
    CHECK(Clock::now() - t0 < 5s);
    // The relative timeout first: it is the one named.
    r = c.send({.method = "GET", .url = server.url(), .timeout = 200ms, .deadline = Clock::now() + 1h});
    CHECK(r.error.code == net::errc::request_timeout);
    CHECK(r.error.message().find("200 ms") != std::string::npos);
    // A deadline already past: at once, and still not inside send_async().
    Answer out;
    std::promise<void> back;
    std::shared_future<void> returned = back.get_future().share();
    std::atomic<bool> inline_call{true};
    c.send_async({.method = "GET", .url = server.url(), .deadline = Clock::now() - 1s},
                 [&](Result res) {
                     // Inline, this wait could only time out: send_async() has not returned.
                     inline_call = returned.wait_for(2s) != std::future_status::ready;
                     out.promise.set_value(std::move(res));
                 });
    back.set_value();
    r = out.wait();
    CHECK(r.error.code == net::errc::request_timeout);
    CHECK_FALSE(inline_call.load());
}

TEST_CASE("a callback runs exactly once: cancels racing completions, after completion, after the Client") {
    auto o = tls_server(backend(), {"h2"});
    o.handler = echo_path;
    o.h2.max_concurrent_streams = 200;
    TestServer server(o);
    RequestHandle kept;
    {
        Client c = make_client(client_json(backend().name(), "alpn",
                                           R"("pool": {"max_concurrent_streams": 200})"));
        REQUIRE(c.send({.method = "GET", .url = server.url("/warm")}));
        constexpr int n = 200;
        std::vector<std::unique_ptr<Answer>> outs;
        std::vector<RequestHandle> handles;
        for (int i = 0; i < n; ++i) {
            outs.push_back(std::make_unique<Answer>());
            handles.push_back(c.send_async({.method = "GET", .url = server.url("/r" + std::to_string(i))},
                                           outs.back()->callback()));
        }
        // Cancels from two threads, racing the responses and each other.
        auto cancel_all = [&handles] {
            for (const RequestHandle& h : handles) h.cancel();
        };
        std::thread t1(cancel_all), t2(cancel_all);
        t1.join();
        t2.join();
        int ok = 0, cancelled = 0;
        for (auto& out : outs) {
            const Result r = out->wait();
            if (r) ++ok;
            else if (r.error.code == pool::errc::cancelled) ++cancelled;
        }
        CHECK(ok + cancelled == n);
        // Completed ones: cancel is a no-op, the callback does not run again.
        cancel_all();
        std::this_thread::sleep_for(100ms);
        for (auto& out : outs) CHECK(out->calls == 1);
        // The connection survived every RST_STREAM.
        const Result after = c.send({.method = "GET", .url = server.url("/after")});
        CHECK(after);
        CHECK(after.response.info.reused);
        kept = handles.front();
    }
    kept.cancel();  // the Client is gone: nothing to do, nothing to crash
    RequestHandle none;
    CHECK_FALSE(static_cast<bool>(none));
    none.cancel();
}

TEST_CASE("after close(): the callback runs after send_async() returned, exactly once, elsewhere") {
    Client c = make_client(client_json(backend().name(), "alpn"));
    c.close();
    for (const char* url : {"https://localhost:1/", "ftp://nope/", "https://"}) {
        INFO(url);
        std::promise<void> go;
        std::shared_future<void> gate = go.get_future().share();
        std::atomic<int> calls{0};
        std::atomic<bool> waited_for_return{false};
        std::promise<Result> got;
        const auto caller = std::this_thread::get_id();
        std::atomic<bool> other_thread{false};
        const RequestHandle h = c.send_async({.method = "GET", .url = url}, [&](Result r) {
            // Inline, this wait could only time out: the caller has not returned to open it.
            waited_for_return = gate.wait_for(2s) == std::future_status::ready;
            other_thread = std::this_thread::get_id() != caller;
            if (++calls == 1) got.set_value(std::move(r));
        });
        go.set_value();
        CHECK_FALSE(static_cast<bool>(h));
        auto f = got.get_future();
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        const Result r = f.get();
        CHECK(waited_for_return.load());
        CHECK(other_thread.load());
        CHECK(r.error);
        std::this_thread::sleep_for(20ms);
        CHECK(calls == 1);
    }
    // From such a callback, a blocking call says wrong_thread instead of waiting for itself;
    // the others answer as after close() anywhere (that thread does not own the pool).
    std::promise<Result> nested;
    std::atomic<std::size_t> requests_seen{1};
    c.send_async({.method = "GET", .url = "https://localhost:1/"}, [&](Result) {
        c.close_idle_connections();
        requests_seen = c.stats().requests;
        nested.set_value(c.send({.method = "GET", .url = "https://localhost:1/"}));
    });
    auto f = nested.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    CHECK(f.get().error.code == pool::errc::wrong_thread);
    CHECK(requests_seen == 0);  // closed: all zero
}
