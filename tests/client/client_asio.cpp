// client_asio: connmatrix::async_send (<connmatrix/asio.hpp>) with each kind of completion
// token, against the in-process server: 100 concurrent C++20 coroutines over one h2
// connection, a callback invoked through its executor and never inside the initiating call,
// use_future, deferred, and cancellation through an Asio cancellation slot.
#include "client_common.hpp"

#include <connmatrix/asio.hpp>

#include <asio/experimental/deferred.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>

using namespace connmatrix;
using namespace connmatrix::test;
using namespace std::chrono_literals;

namespace {

const tls::Backend& backend() { return registry().default_backend(); }

#if ASIO_VERSION >= 102400
constexpr auto deferred_token = asio::deferred;
#else
constexpr auto deferred_token = asio::experimental::deferred;
#endif

asio::awaitable<void> fetch(Client& client, std::string url, std::atomic<int>& ok,
                            std::set<std::string>& bodies, std::thread::id io_thread) {
    // A named Request, not a braced temporary in the co_await expression: GCC 12 destroys
    // such a temporary twice (a GCC coroutine bug; clang is fine).
    Request req{.method = "GET", .url = std::move(url)};
    const Result r = co_await async_send(client, std::move(req), asio::use_awaitable);
    // Resumed on the io_context's thread, not the Client's.
    CHECK(std::this_thread::get_id() == io_thread);
    if (!r) {
        INFO(r.error.message());
        CHECK(r);
        co_return;
    }
    bodies.insert(r.response.body);  // one thread: no lock
    ++ok;
}

}  // namespace

TEST_CASE("100 concurrent coroutines (use_awaitable) over one h2 connection") {
    auto o = tls_server(backend(), {"h2"});
    o.handler = echo_path;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    asio::io_context io;
    std::atomic<int> ok{0};
    std::set<std::string> bodies;
    // io.run() below is this thread: the coroutines resume here.
    for (int i = 0; i < 100; ++i)
        asio::co_spawn(io, fetch(c, server.url("/c" + std::to_string(i)), ok, bodies, std::this_thread::get_id()),
                       asio::detached);
    io.run();  // returns only when all 100 completed: each counts as work until then
    CHECK(ok == 100);
    CHECK(bodies.size() == 100);
    CHECK(bodies.count("h2 GET /c42") == 1);
    CHECK(server.connections() == 1);
    CHECK(server.peak_h2_streams() > 1);  // concurrent, not one after another
}

TEST_CASE("a callback: through its associated executor, never inside async_send()") {
    auto o = tls_server(backend(), {"h2"});
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    asio::io_context io;
    auto strand = asio::make_strand(io);
    int calls = 0;
    bool in_strand = false;
    bool returned = false;
    bool inline_call = true;
    // A request that fails at once (bad URL) completes as fast as anything can.
    for (const std::string& url : {server.url("/ok"), std::string("https://")}) {
        asio::post(strand, [&, url] {
            async_send(c, {.method = "GET", .url = url},
                       asio::bind_executor(strand, [&](Result) {
                           ++calls;
                           in_strand = strand.running_in_this_thread();
                           inline_call = !returned;
                       }));
            returned = true;
        });
        io.run();
        io.restart();
        CHECK(in_strand);
        CHECK_FALSE(inline_call);
        returned = false;
    }
    CHECK(calls == 2);
    // A client already closed: still not inline.
    c.close();
    std::atomic<bool> was_inline{true};
    std::promise<void> back;
    std::shared_future<void> opened = back.get_future().share();
    std::promise<Result> closed;
    async_send(c, {.method = "GET", .url = server.url()}, [&](Result r) {
        // Inline, this wait could only time out: async_send() has not returned to open it.
        was_inline = opened.wait_for(2s) != std::future_status::ready;
        closed.set_value(std::move(r));
    });
    back.set_value();
    auto f = closed.get_future();
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    CHECK(f.get().error.code == pool::errc::client_closed);
    CHECK_FALSE(was_inline.load());
}

TEST_CASE("use_future and deferred") {
    auto o = tls_server(backend(), {"h2"});
    o.handler = echo_path;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    std::future<Result> f = async_send(c, {.method = "GET", .url = server.url("/future")}, asio::use_future);
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    Result r = f.get();
    CHECK(r.response.body == "h2 GET /future");

    auto op = async_send(c, {.method = "GET", .url = server.url("/deferred")}, deferred_token);
    std::this_thread::sleep_for(100ms);
    CHECK(server.requests() == 1);  // deferred: nothing sent until it is started
    std::promise<std::string> body;
    // A plain callback has the system executor: it runs on the Client's thread.
    std::move(op)([&](Result res) { body.set_value(res.response.body); });
    auto got = body.get_future();
    REQUIRE(got.wait_for(10s) == std::future_status::ready);
    CHECK(got.get() == "h2 GET /deferred");
}

TEST_CASE("an Asio cancellation slot cancels the request: pool::errc::cancelled") {
    auto o = tls_server(backend(), {"h2"});
    o.h2.faults.stall = true;
    TestServer server(o);
    Client c = make_client(client_json(backend().name(), "alpn"));
    asio::io_context io;
    asio::cancellation_signal signal;
    std::optional<Result> got;
    async_send(c, {.method = "GET", .url = server.url("/stalled")},
               asio::bind_cancellation_slot(signal.slot(),
                                            asio::bind_executor(io, [&](Result r) { got = std::move(r); })));
    asio::steady_timer t(io, 200ms);
    t.async_wait([&](const asio::error_code&) { signal.emit(asio::cancellation_type::terminal); });
    const auto t0 = std::chrono::steady_clock::now();
    io.run();
    REQUIRE(got.has_value());
    INFO(got->error.message());
    CHECK(got->error.code == pool::errc::cancelled);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}
