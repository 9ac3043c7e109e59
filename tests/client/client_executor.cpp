// client_executor: a Client on the caller's executor (ClientOptions::executor, run_on()), with
// no thread of its own, against the in-process server: coroutines on one thread, an
// io_context run by four threads (the Client's handlers still one at a time), blocking calls
// refused where they would wait for themselves, answers after close() on the executor and
// never inline, and a Client destroyed with requests in flight, or after its io_context
// stopped: every request ends once, and its state is freed (the executor goes on, or its
// shutdown frees it).
#include "client_common.hpp"

#include <connmatrix/asio.hpp>

#include <dirent.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <set>
#include <thread>

using namespace connmatrix;
using namespace connmatrix::test;
using namespace std::chrono_literals;

namespace {

const tls::Backend& backend() { return registry().default_backend(); }

// The threads of this process now.
std::size_t thread_count() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/task")) {
        while (const dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
    }
    return n;
}

ClientOptions on(const asio::any_io_executor& ex) {
    ClientOptions o;
    o.executor = run_on(ex);
    return o;
}

// The last of `n` to finish closes the client: its pooled connection is work on the
// io_context (a socket being read), so run() returns only once it has closed.
asio::awaitable<void> fetch(Client& client, std::string url, int& ok, int& finished, int n,
                            std::set<std::string>& bodies, std::chrono::steady_clock::time_point& closed) {
    Request req{.method = "GET", .url = std::move(url)};  // named: GCC 12 and co_await temporaries
    const Result r = co_await async_send(client, std::move(req), asio::use_awaitable);
    INFO(r.error.message());
    CHECK(r);
    if (r) {
        bodies.insert(r.response.body);  // one thread runs io: no lock
        ++ok;
    }
    if (++finished == n) {
        closed = std::chrono::steady_clock::now();
        client.close();  // on io's thread: starts the drain, returns at once
    }
}

}  // namespace

TEST_CASE("on the caller's io_context: 100 coroutines, one h2 connection, no thread of its own") {
    auto o = tls_server(backend(), {"h2"});
    o.handler = echo_path;
    TestServer server(o);
    asio::io_context io;
    const auto main_thread = std::this_thread::get_id();
    std::atomic<int> events_elsewhere{0};
    ClientOptions opts = on(io.get_executor());
    opts.on_event = [&](const Event&) {
        if (std::this_thread::get_id() != main_thread) ++events_elsewhere;
    };
    // Before anything connects (the server starts a thread per connection): a Client of its
    // own would have started its I/O thread by now.
    const std::size_t threads_before = thread_count();
    Client c = make_client(client_json(backend().name(), "alpn"), std::move(opts));
    CHECK(thread_count() == threads_before);
    int ok = 0, finished = 0;
    std::set<std::string> bodies;
    std::chrono::steady_clock::time_point closed{};
    for (int i = 0; i < 100; ++i)
        asio::co_spawn(io, fetch(c, server.url("/e" + std::to_string(i)), ok, finished, 100, bodies, closed),
                       asio::detached);
    io.run();  // returns once all 100 have completed and the client closed: only this thread ran
    // Once closed, nothing of the Client's holds io: not a close_notify's linger timer (5 s)
    // left armed after the socket went.
    CHECK(std::chrono::steady_clock::now() - closed < 3s);
    CHECK(ok == 100);
    CHECK(bodies.size() == 100);
    CHECK(bodies.count("h2 GET /e7") == 1);
    CHECK(events_elsewhere == 0);  // every callback on the io_context's thread: main's
    CHECK(server.connections() == 1);
    CHECK(server.peak_h2_streams() > 1);
}

TEST_CASE("an io_context run by four threads: the Client's handlers run one at a time") {
    auto o = tls_server(backend(), {"h2", "http/1.1"});
    o.handler = echo_path;
    TestServer server(o);
    asio::io_context io;
    std::atomic<bool> busy{false};
    std::atomic<int> overlaps{0};
    std::atomic<int> events{0};
    ClientOptions opts = on(io.get_executor());
    opts.on_event = [&](const Event&) {
        if (busy.exchange(true)) ++overlaps;
        ++events;
        std::this_thread::yield();  // room for another thread to come in, if it could
        busy = false;
    };
    // Two origins' worth of work: h2 (one connection, many streams) and HTTP/1.1 (several).
    Client c = make_client(client_json(backend().name(), "alpn",
                                       "\"pool\": {\"max_connections_per_host\": 4}"),
                           std::move(opts));
    std::atomic<int> done{0}, good{0};
    std::set<std::thread::id> answered_on;
    std::mutex mu;
    constexpr int n = 400;
    for (int i = 0; i < n; ++i)
        async_send(c, {.method = "GET", .url = server.url("/m" + std::to_string(i))},
                   asio::bind_executor(io, [&](Result r) {
                       if (r && r.response.status == 200) ++good;
                       {
                           std::lock_guard l(mu);
                           answered_on.insert(std::this_thread::get_id());
                       }
                       if (++done == n) c.close();  // then run() returns, in every runner
                   }));
    std::vector<std::thread> runners;
    for (int t = 0; t < 4; ++t) runners.emplace_back([&] { io.run(); });
    for (auto& t : runners) t.join();
    CHECK(done == n);
    CHECK(good == n);
    CHECK(events > n);
    CHECK(overlaps == 0);
    MESSAGE(answered_on.size() << " of 4 threads ran completions");
}

TEST_CASE("blocking calls on a thread running the io_context answer wrong_thread; elsewhere they work") {
    auto o = tls_server(backend(), {"h2"});
    o.handler = echo_path;
    TestServer server(o);
    asio::io_context io;
    Client c = make_client(client_json(backend().name(), "alpn"), on(io.get_executor()));
    std::optional<Result> sent;
    Error warmed;
    bool stats_threw = false;
    asio::post(io, [&] {
        sent = c.send({.method = "GET", .url = server.url("/x")});
        warmed = c.warm(server.url());
        try {
            (void)c.stats();
        } catch (const std::system_error& e) {
            stats_threw = e.code() == pool::errc::wrong_thread;
        }
        c.close_idle_connections();  // queued, not waited for
    });
    io.run();
    io.restart();
    REQUIRE(sent.has_value());
    CHECK(sent->error.code == pool::errc::wrong_thread);
    CHECK(sent->error.detail.find("executor") != std::string::npos);
    CHECK(warmed.code == pool::errc::wrong_thread);
    CHECK(stats_threw);
    CHECK(server.requests() == 0);

    // With the io_context run by another thread, this one may wait.
    auto guard = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    const Result r = c.send({.method = "GET", .url = server.url("/y")});
    CHECK(r.response.body == "h2 GET /y");
    CHECK(!c.warm(server.url()));
    CHECK(c.stats().requests == 1);
    c.close();  // waits for the drain, which the runner carries out
    CHECK(c.stats().requests == 0);  // closed: zero
    guard.reset();
    runner.join();
}

TEST_CASE("after close(), answers go to the caller's executor, never inside the call") {
    auto o = tls_server(backend(), {"h2"});
    TestServer server(o);
    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    Client c = make_client(client_json(backend().name(), "alpn"), on(io.get_executor()));
    c.close();
    std::promise<void> back;
    std::shared_future<void> returned = back.get_future().share();
    std::promise<std::pair<Result, bool>> answered;
    const auto runner_id = runner.get_id();
    c.send_async({.method = "GET", .url = server.url()}, [&](Result r) {
        // Inline, this wait could only time out: send_async() has not returned to open it.
        const bool not_inline = returned.wait_for(2s) == std::future_status::ready;
        answered.set_value({std::move(r), not_inline && std::this_thread::get_id() == runner_id});
    });
    back.set_value();
    auto f = answered.get_future();
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    auto [r, on_runner] = f.get();
    CHECK(r.error.code == pool::errc::client_closed);
    CHECK(on_runner);
    guard.reset();
    runner.join();
}

TEST_CASE("destroyed with requests in flight: each ends once with client_closed, the io_context goes on") {
    auto o = tls_server(backend(), {"h2"});
    o.h2.faults.stall = true;  // requests read, never answered
    TestServer server(o);
    asio::io_context io;
    auto alive = std::make_shared<int>(0);
    std::weak_ptr<int> state = alive;
    ClientOptions opts = on(io.get_executor());
    int sent = 0;  // on io's thread, this one
    // Held by the Client's state: expired once that state is freed.
    opts.on_event = [alive = std::move(alive), &sent](const Event& e) {
        if (e.kind == EventKind::request_sent) ++sent;
    };
    auto c = std::make_unique<Client>(make_client(client_json(backend().name(), "alpn"), std::move(opts)));
    std::vector<int> ends(10, 0);
    std::vector<std::error_code> codes(10);
    for (int i = 0; i < 10; ++i)
        c->send_async({.method = "GET", .url = server.url("/s" + std::to_string(i))}, [&, i](Result r) {
            ++ends[i];
            codes[i] = r.error.code;
        });
    // Until all ten are written: then they are in flight on the connection.
    asio::steady_timer poll(io);
    std::function<void()> wait_for_server = [&] {
        if (sent == 10) {
            c.reset();  // the destructor: close(0ms), not waited for
            return;
        }
        poll.expires_after(10ms);
        poll.async_wait([&](const asio::error_code&) { wait_for_server(); });
    };
    wait_for_server();
    // A timer of the caller's own, after the Client is gone: the io_context goes on.
    bool later = false;
    asio::steady_timer after(io, 300ms);
    after.async_wait([&](const asio::error_code&) { later = true; });
    io.run();
    CHECK(c == nullptr);
    CHECK(later);
    for (int i = 0; i < 10; ++i) {
        CHECK(ends[i] == 1);
        CHECK(codes[i] == pool::errc::client_closed);
    }
    CHECK(state.expired());  // freed on the strand once drained
}

TEST_CASE("destroyed after its io_context stopped: freed when the io_context goes") {
    auto o = tls_server(backend(), {"h2"});
    o.handler = echo_path;
    TestServer server(o);
    std::weak_ptr<int> state;
    {
        asio::io_context io;
        auto alive = std::make_shared<int>(0);
        state = alive;
        ClientOptions opts = on(io.get_executor());
        opts.on_event = [alive = std::move(alive)](const Event&) {};
        Client c = make_client(client_json(backend().name(), "alpn"), std::move(opts));
        std::optional<Result> r;
        c.send_async({.method = "GET", .url = server.url("/idle")}, [&](Result res) {
            r = std::move(res);
            io.stop();  // with the connection still open and pooled
        });
        io.run();
        REQUIRE(r.has_value());
        CHECK(r->response.body == "h2 GET /idle");
        // `c` goes here, with nothing running io: its drain never runs...
    }
    // ...and io's shutdown freed what it left (LeakSanitizer would see it otherwise).
    CHECK(state.expired());
}

TEST_CASE("an executor from another Asio is refused, naming both") {
    asio::io_context io;
    ClientOptions opts;
    opts.executor = std::make_shared<const IoExecutor>(IoExecutor{io.get_executor(), 101200, 8});
    Error err;
    auto c = Client::from_json(client_json(backend().name(), "alpn"), err, opts);
    CHECK_FALSE(c.has_value());
    CHECK(err.code == config::errc::invalid_value);
    CHECK(origin_fits(err));
    bool threw = false;
    try {
        Client direct(policy::Config{}, opts);
    } catch (const std::system_error& e) {
        threw = true;
        const std::string what = e.what();
        CHECK(what.find("Asio 101200") != std::string::npos);
        CHECK(what.find(std::to_string(ASIO_VERSION)) != std::string::npos);
    }
    CHECK(threw);
    opts.executor = std::make_shared<const IoExecutor>(IoExecutor{});
    CHECK_THROWS_AS(Client(policy::Config{}, opts), std::system_error);
}
