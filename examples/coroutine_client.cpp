// coroutine_client: 100 concurrent GETs from C++20 coroutines (asio::co_spawn), each awaiting
// connmatrix::async_send with asio::use_awaitable; over h2 they share one connection. The
// Client runs on the same io_context as the coroutines (ClientOptions::executor): one thread
// in all, main's.
//   coroutine_client URL [CA_FILE]    e.g. coroutine_client https://127.0.0.1:8443/ ca.pem
#include <connmatrix/asio.hpp>
#include <connmatrix/client.hpp>

#include <asio.hpp>

#include <chrono>
#include <iostream>
#include <map>
#include <string>

using namespace connmatrix;

namespace {

struct Tally {
    int ok = 0;
    std::map<std::string, int> failures;           // error name -> count
    std::map<std::string, int> protocols;          // "h2", "http/1.1"
    int reused = 0;
    int finished = 0;
};

constexpr int total = 100;

asio::awaitable<void> get(Client& client, std::string url, Tally& tally) {
    // A named Request: GCC 12 destroys a braced temporary in a co_await expression twice.
    Request request;
    request.url = std::move(url);
    const Result r = co_await async_send(client, std::move(request), asio::use_awaitable);
    // Resumed on the io_context's thread (here: main's), so the tally needs no lock.
    if (!r) {
        ++tally.failures[error_name(r.error.code)];
    } else {
        ++tally.ok;
        ++tally.protocols[std::string(to_string(r.response.info.protocol))];
        if (r.response.info.reused) ++tally.reused;
    }
    // The pooled connection is work on the io_context (a socket being read): the last one to
    // finish closes the client, and io.run() returns once it has. On this thread close()
    // starts that and returns at once.
    if (++tally.finished == total) client.close();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: coroutine_client URL [CA_FILE]\n";
        return 2;
    }
    policy::Config config;
    if (argc > 2) config.defaults.tls.ca_file = argv[2];
    asio::io_context io;  // runs the coroutines and the Client: no other thread
    ClientOptions options;
    options.executor = run_on(io.get_executor());
    Client client(std::move(config), options);

    Tally tally;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < total; ++i) asio::co_spawn(io, get(client, argv[1], tally), asio::detached);
    io.run();  // until every request has completed and the client has closed
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);

    std::cout << tally.ok << " of " << total << " ok in " << ms.count() << " ms, " << tally.reused
              << " on a reused connection\n";
    for (const auto& [protocol, n] : tally.protocols) std::cout << "  " << protocol << ": " << n << "\n";
    for (const auto& [name, n] : tally.failures) std::cout << "  failed " << name << ": " << n << "\n";
    return tally.ok == total ? 0 : 1;
}
