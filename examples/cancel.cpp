// cancel: two ways to give up on a request. A blocking send() stopped from another thread
// through Request::cancel (a std::stop_token), and a send_async() cancelled through the
// RequestHandle it returns. Either ends with pool:cancelled unless the response came first.
//   cancel URL [MS [CA_FILE]]    e.g. cancel https://127.0.0.1:8443/slow 100 ca.pem
#include <connmatrix/client.hpp>

#include <chrono>
#include <future>
#include <iostream>
#include <stop_token>
#include <string>
#include <thread>

using namespace connmatrix;

namespace {

void print(const char* how, const Result& r) {
    if (r) std::cout << how << ": " << r.response.status << " (completed before the cancel)\n";
    else std::cout << how << ": " << error_name(r.error.code) << ": " << r.error.message() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: cancel URL [MS [CA_FILE]]\n";
        return 2;
    }
    const std::chrono::milliseconds after{argc > 2 ? std::stoi(argv[2]) : 100};
    policy::Config config;
    if (argc > 3) config.defaults.tls.ca_file = argv[3];
    Client client(std::move(config));

    // 1. A blocking send(), stopped from another thread after `after`.
    std::stop_source stop;
    std::jthread canceller([&stop, after] {
        std::this_thread::sleep_for(after);
        stop.request_stop();
    });
    Request request;
    request.url = argv[1];
    request.cancel = stop.get_token();
    print("send() stopped by its token", client.send(request));

    // 2. send_async(): the handle it returns cancels; the callback still runs exactly once.
    std::promise<Result> done;
    request.cancel = {};
    const RequestHandle handle =
        client.send_async(request, [&done](Result r) { done.set_value(std::move(r)); });
    std::this_thread::sleep_for(after);
    handle.cancel();  // from any thread; a no-op if it has completed
    print("send_async() cancelled by its handle", done.get_future().get());
    return 0;
}
