// Shared by the client suites: a Client configured from JSON for one backend and mode, and
// in-process servers with our test certificates.
#pragma once

// GCC 12 warns about designated initializers that leave members to their defaults
// (-Wmissing-field-initializers); Request{.method, .url} is the intended style here.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "checks.hpp"
#include "pair.hpp"
#include "server.hpp"
#include "temp_dir.hpp"

#include <connmatrix/client.hpp>
#include <connmatrix/negotiate.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <string>

namespace connmatrix::test {

inline const tls::Registry& registry() {
    static const tls::Registry r = tls::Registry::compiled_in();
    return r;
}

// {"defaults": {"backend": B, "mode": M, "tls": {"ca_file": CA}, <extra>}}
inline std::string client_json(std::string_view backend, std::string_view mode,
                               std::string_view extra = {}) {
    std::string j = "{\"defaults\": {\"backend\": \"" + std::string(backend) + "\", \"mode\": \"" +
                    std::string(mode) + "\", \"tls\": {\"ca_file\": \"" + cert("ca.pem") + "\"}";
    if (!extra.empty()) j += ", " + std::string(extra);
    return j + "}}";
}

inline Client make_client(const std::string& json, ClientOptions opts = {}) {
    Error err;
    auto c = Client::from_json(json, err, std::move(opts));
    INFO(err.message());
    REQUIRE(c.has_value());
    return std::move(*c);
}

// A TLS test server of `backend` with the EC localhost leaf.
inline TestServerOptions tls_server(const tls::Backend& backend, std::vector<std::string> alpn,
                                    tls::ServerAlpn mode = tls::ServerAlpn::prefer_server) {
    TestServerOptions o;
    o.backend = &backend;
    o.tls.cert_file = cert("localhost-ec.pem");
    o.tls.key_file = cert("localhost-ec.key");
    o.tls.alpn = std::move(alpn);
    o.tls.alpn_mode = mode;
    return o;
}

inline ServedResponse echo_path(const ServedRequest& r) {
    return {200, {{"content-type", "text/plain"}}, r.protocol + " " + r.method + " " + r.target +
                                                       (r.body.empty() ? "" : " " + r.body)};
}

// A socket of `type` (SOCK_STREAM, SOCK_DGRAM, with `flags` or'ed in) bound to an IPv4
// `address` (host order: INADDR_LOOPBACK, INADDR_ANY) and an ephemeral port, which goes to
// `port`: for the suites' own raw-socket servers.
inline int bind_ipv4(int type, std::uint32_t address, std::uint16_t& port, int flags = 0) {
    const int fd = ::socket(AF_INET, type | flags, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(address);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return fd;
}

// The same, TCP and listening.
inline int listen_tcp(std::uint32_t address, int backlog, std::uint16_t& port, int flags = 0) {
    const int fd = bind_ipv4(SOCK_STREAM, address, port, flags);
    REQUIRE(::listen(fd, backlog) == 0);
    return fd;
}

// The callback's side of a send_async: how often it ran, and the last Result.
struct Answer {
    std::atomic<int> calls{0};
    std::promise<Result> promise;
    std::future<Result> future = promise.get_future();

    std::function<void(Result)> callback() {
        return [this](Result r) {
            if (++calls == 1) promise.set_value(std::move(r));
        };
    }
    // The Result, within `limit`; a failed Result naming the wait when it did not come.
    Result wait(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        if (future.wait_for(limit) != std::future_status::ready) {
            Result r;
            r.error = {net::errc::request_timeout, "the test waited in vain", 0, "net"};
            return r;
        }
        return future.get();
    }
    bool ready() const { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }
};

}  // namespace connmatrix::test
