// coroutine_client: 100 concurrent GETs from C++20 coroutines (asio::co_spawn), each awaiting
// connmatrix::async_send with asio::use_awaitable; over h2 they share one connection.
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
};

asio::awaitable<void> get(Client& client, std::string url, Tally& tally) {
    // A named Request: GCC 12 destroys a braced temporary in a co_await expression twice.
    Request request;
    request.url = std::move(url);
    const Result r = co_await async_send(client, std::move(request), asio::use_awaitable);
    // Resumed on the io_context's thread (here: main's), so the tally needs no lock.
    if (!r) {
        ++tally.failures[error_name(r.error.code)];
        co_return;
    }
    ++tally.ok;
    ++tally.protocols[std::string(to_string(r.response.info.protocol))];
    if (r.response.info.reused) ++tally.reused;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: coroutine_client URL [CA_FILE]\n";
        return 2;
    }
    policy::Config config;
    if (argc > 2) config.defaults.tls.ca_file = argv[2];
    Client client(std::move(config));

    asio::io_context io;  // runs the coroutines; the Client keeps its own I/O thread
    Tally tally;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i) asio::co_spawn(io, get(client, argv[1], tally), asio::detached);
    io.run();  // until every request has completed: each is work on `io` until then
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);

    std::cout << tally.ok << " of 100 ok in " << ms.count() << " ms, " << tally.reused
              << " on a reused connection, " << client.stats().connections_opened
              << " connection(s) opened\n";
    for (const auto& [protocol, n] : tally.protocols) std::cout << "  " << protocol << ": " << n << "\n";
    for (const auto& [name, n] : tally.failures) std::cout << "  failed " << name << ": " << n << "\n";
    return tally.ok == 100 ? 0 : 1;
}
