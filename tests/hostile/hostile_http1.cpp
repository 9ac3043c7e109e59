// hostile_http1: HTTP/1.1 servers that misbehave, on cleartext and over TLS with every backend.
// Each case ends with one specific error (or, where the server is within its rights, the
// response), before its timeout plus a margin, with the peak RSS growth bounded.
#include "hostile.hpp"

using namespace connmatrix;
using namespace connmatrix::test;

namespace {

constexpr std::string_view head_end = "\r\n\r\n";

// Reads the request head, then sends `bytes` and closes (close_notify first over TLS).
Script answer(std::string bytes) {
    return [bytes = std::move(bytes)](Peer& p, std::size_t) {
        if (!p.read_until(head_end)) return;
        p.write(bytes);
        p.close_notify();
        p.shutdown_write();
        p.drain(1000ms);
    };
}

// Sends `piece` again and again after the request head, until the client hangs up.
Script endless(std::string start, std::string piece) {
    return [start = std::move(start), piece = std::move(piece)](Peer& p, std::size_t) {
        if (!p.read_until(head_end)) return;
        if (!p.write(start)) return;
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (!p.stopping() && std::chrono::steady_clock::now() < until)
            if (!p.write(piece)) return;
    };
}

// On every transport: a GET to a server running `script` fails with `code`, on time, within
// `bound` of peak RSS growth.
void expect_error(const Script& script, std::error_code code, std::size_t bound = base_slack,
                  ClientOptions opts = {}) {
    for (const auto& t : transports()) {
        INFO(t.name());
        HostileServer server(server_for(t), script);
        Client c = hostile_client(t, opts);
        PeakRss rss;
        const Timed r = timed_get(c, server.url());
        check_error(r, code);
        MESSAGE(t.name(), ": ", error_name(r.result.error.code), " after ", r.took.count(),
                " ms, peak RSS +", rss.growth() / 1024, " KiB");
        CHECK(rss.growth() < bound);
    }
}

}  // namespace

TEST_CASE("slowloris: one header byte a second, the request timeout fires while receiving") {
    const Script slow = [](Peer& p, std::size_t) {
        if (!p.read_until(head_end)) return;
        const std::string head = "HTTP/1.1 200 OK\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        for (char ch : head) {
            if (!p.write(std::string(1, ch))) return;
            for (int i = 0; i < 20 && !p.stopping(); ++i) std::this_thread::sleep_for(50ms);
        }
    };
    for (const auto& t : transports()) {
        INFO(t.name());
        HostileServer server(server_for(t), slow);
        Client c = hostile_client(t);
        PeakRss rss;
        const Timed r = timed_get(c, server.url());
        check_error(r, net::errc::request_timeout);
        CHECK(r.result.error.message().find("while receiving the response") != std::string::npos);
        CHECK(r.took >= request_timeout - 50ms);  // the timeout ended it, nothing sooner
        CHECK(rss.growth() < base_slack);
    }
}

TEST_CASE("endless header lines: long ones exceed the header section limit") {
    // 1 KB lines: the 64 KiB header budget runs out after some 64 of them, before the count.
    expect_error(endless("HTTP/1.1 200 OK\r\n", "X-Filler: " + std::string(1000, 'a') + "\r\n"),
                 http1::errc::header_too_large);
}

TEST_CASE("endless header lines: short ones exceed the header count") {
    expect_error(endless("HTTP/1.1 200 OK\r\n", "X-A: b\r\n"), http1::errc::too_many_headers);
}

TEST_CASE("endless body without Content-Length: max_response_body fires") {
    // The body is kept up to the limit (the buffered API hands out the whole body), so the
    // bound is the limit, once, over the base slack: not a second copy of it.
    ClientOptions o;
    o.max_response_body = 8 * MiB;
    expect_error(endless("HTTP/1.1 200 OK\r\n\r\n", std::string(64 * 1024, 'x')),
                 net::errc::response_too_large, base_slack + o.max_response_body, o);
}

TEST_CASE("endless chunked body: max_response_body fires") {
    ClientOptions o;
    o.max_response_body = 8 * MiB;
    expect_error(endless("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                         "10000\r\n" + std::string(0x10000, 'x') + "\r\n"),
                 net::errc::response_too_large, base_slack + o.max_response_body, o);
}

TEST_CASE("Content-Length longer than the body, then close: unexpected_eof") {
    expect_error(answer("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this"),
                 http1::errc::unexpected_eof);
}

TEST_CASE("chunked body cut in the middle of a chunk: unexpected_eof") {
    expect_error(answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nnot 256 bytes"),
                 http1::errc::unexpected_eof);
}

TEST_CASE("bad chunk size: bad_chunk") {
    expect_error(answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
                 http1::errc::bad_chunk);
}

TEST_CASE("chunk data longer than its size: bad_chunk") {
    expect_error(answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n"),
                 http1::errc::bad_chunk);
}

TEST_CASE("conflicting Content-Length: bad_content_length") {
    expect_error(answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
                 http1::errc::bad_content_length);
}

TEST_CASE("Content-Length and Transfer-Encoding together: request_smuggling") {
    expect_error(answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\nhello\r\n0\r\n\r\n"),
                 http1::errc::request_smuggling);
}

TEST_CASE("a flood of 1xx responses: too_many_interim_responses") {
    expect_error(endless("", "HTTP/1.1 100 Continue\r\n\r\n"),
                 http1::errc::too_many_interim_responses);
}

TEST_CASE("1xx responses up to the limit are fine; one more is not") {
    auto interim_then_ok = [](int n) {
        std::string s;
        for (int i = 0; i < n; ++i) s += i % 2 ? "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                                               : "HTTP/1.1 100 Continue\r\n\r\n";
        return answer(s + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    };
    const Transport t;  // the parser's business: cleartext says it all
    {
        HostileServer server(interim_then_ok(32));
        Client c = hostile_client(t);
        const Timed r = timed_get(c, server.url());
        INFO(r.result.error.message());
        REQUIRE(r.result);
        CHECK(r.result.response.status == 200);
        CHECK(r.result.response.body == "ok");
    }
    {
        HostileServer server(interim_then_ok(33));
        Client c = hostile_client(t);
        check_error(timed_get(c, server.url()), http1::errc::too_many_interim_responses);
    }
    {
        ClientOptions o;
        o.max_interim_responses = 2;
        HostileServer server(interim_then_ok(3));
        Client c = hostile_client(t, o);
        const Timed r = timed_get(c, server.url());
        check_error(r, http1::errc::too_many_interim_responses);
        CHECK(r.result.error.message().find("more than 2 ") != std::string::npos);
    }
}

TEST_CASE("an unsolicited 101 Switching Protocols is a protocol error, not a response") {
    // Regression: it was handed out as a successful response with status 101 and no body.
    expect_error(answer("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\n\r\n"),
                 http1::errc::unsolicited_upgrade);
}

TEST_CASE("101 to an h2c upgrade offer, but to another protocol: unsolicited_upgrade") {
    HostileServer server(answer("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\n\r\n"));
    Client c = make_client(client_json(registry().default_backend().name(), "alpn",
                                       timeouts_json() + R"(, "cleartext": "h2c-upgrade")"));
    const Timed r = timed_get(c, server.url());
    check_error(r, http1::errc::unsolicited_upgrade);
    CHECK(r.result.error.message().find("only h2c was offered") != std::string::npos);
}

TEST_CASE("garbage instead of a status line: malformed_status_line") {
    std::string junk = "\x16\x03\x01\x02garbage that is no HTTP at all\r\n\r\n";
    junk[3] = '\0';
    expect_error(answer(junk), http1::errc::malformed_status_line);
}

TEST_CASE("close right after accept") {
    const Script close_at_once = [](Peer& p, std::size_t) { p.shutdown_write(); };
    for (const auto& t : transports()) {
        INFO(t.name());
        HostileOptions o = server_for(t);
        o.handshake = false;
        HostileServer server(o, close_at_once);
        Client c = hostile_client(t);
        PeakRss rss;
        // Cleartext: the request went out, the server closed without a word. TLS: the
        // handshake was cut short.
        check_error(timed_get(c, server.url()),
                    t.backend ? std::error_code(tls::errc::truncated)
                              : std::error_code(net::errc::connection_closed));
        CHECK(rss.growth() < base_slack);
    }
}

TEST_CASE("accept and never speak") {
    const Script silent = [](Peer& p, std::size_t) { p.drain(10s); };
    for (const auto& t : transports()) {
        INFO(t.name());
        HostileOptions o = server_for(t);
        o.handshake = false;
        HostileServer server(o, silent);
        Client c = hostile_client(t);
        PeakRss rss;
        const Timed r = timed_get(c, server.url());
        // Cleartext: no response; TLS: no ServerHello.
        if (t.backend) {
            check_error(r, net::errc::tls_timeout, tls_timeout + margin);
            CHECK(r.took >= tls_timeout - 50ms);
        } else {
            check_error(r, net::errc::request_timeout);
            CHECK(r.result.error.message().find("waiting for the response") != std::string::npos);
            CHECK(r.took >= request_timeout - 50ms);
        }
        CHECK(rss.growth() < base_slack);
    }
}

TEST_CASE("a response before the request is fully sent is delivered, and the rest not sent") {
    // RFC 9112 9.3 / 9110 15.5.14: a server may answer a large upload early (413). This one
    // answers after the head, keeps the connection (no "Connection: close") and stops reading
    // for a while, so the client's upload stalls on a full socket: the client must hand out the
    // 413, stop sending the body and not reuse the connection (the server would read the rest
    // of the body as the next request).
    const std::size_t body_size = 32 * MiB;
    std::atomic<std::uint64_t> seen{0};
    const Script early = [&seen](Peer& p, std::size_t n) {
        if (n == 1) {
            if (!p.read_until(head_end)) return;
            p.write("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large");
            std::this_thread::sleep_for(300ms);
            p.drain(3000ms);  // until the client hangs up
            seen = p.received();
            return;
        }
        if (!p.read_until(head_end)) return;
        p.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        p.drain(1000ms);
    };
    for (const auto& t : transports()) {
        INFO(t.name());
        seen = 0;
        HostileServer server(server_for(t), early);
        Client c = hostile_client(t);
        const Timed r = timed_send(c, {.method = "POST", .url = server.url("/upload"),
                                       .body = std::string(body_size, 'u')});
        INFO(r.result.error.message());
        REQUIRE(r.result);
        CHECK(r.result.response.status == 413);
        CHECK(r.result.response.body == "too large");
        CHECK(r.took < request_timeout);
        // The next request goes on a new connection, and is answered as itself.
        const Timed next = timed_get(c, server.url("/next"));
        INFO(next.result.error.message());
        CHECK(next.result);
        CHECK(next.result.response.body == "ok");
        CHECK(server.connections() == 2);
        server.stop();
        MESSAGE(t.name(), ": the server received ", seen.load() / 1024, " KiB of the ",
                body_size / 1024, " KiB body before the client hung up");
        CHECK(seen.load() < body_size);
    }
}

TEST_CASE("a response, then the server resets the connection under the upload: delivered") {
    // The server answers and closes at once with most of the body unread: its kernel resets
    // the connection, and the client's write fails. The response had arrived before the reset:
    // it is delivered, not lost to the write error.
    const Script answer_and_reset = [](Peer& p, std::size_t) {
        if (!p.read_until(head_end)) return;
        p.write("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
                "too large");
        std::this_thread::sleep_for(100ms);
        p.reset();
    };
    for (const auto& t : transports()) {
        INFO(t.name());
        HostileServer server(server_for(t), answer_and_reset);
        Client c = hostile_client(t);
        const Timed r = timed_send(c, {.method = "POST", .url = server.url("/upload"),
                                       .body = std::string(32 * MiB, 'u')});
        INFO(error_name(r.result.error.code), ": ", r.result.error.message());
        REQUIRE(r.result);
        CHECK(r.result.response.status == 413);
        CHECK(r.took < request_timeout);
    }
}

TEST_CASE("an upload that times out against a server that stopped reading: the client hangs up") {
    // Found in review: a timed-out exchange closed its connection gracefully, which went on
    // writing the rest of the body to a server that had stopped reading, holding the socket and
    // the body for as long as that server liked. Now the connection is dropped at the timeout:
    // the server gets only what its socket buffers took before it stopped reading.
    const std::size_t body_size = 32 * MiB;
    std::atomic<std::uint64_t> seen{0};
    std::atomic<bool> ended{false};  // the script saw the end of the stream (not our stop())
    const Script stop_reading = [&seen, &ended](Peer& p, std::size_t) {
        if (!p.read_until(head_end)) return;
        std::this_thread::sleep_for(request_timeout + 500ms);  // the client's timeout passes
        p.drain(4000ms);  // what is still coming, until the client hangs up
        seen = p.received();
        ended = !p.stopping() && !p.timed_out();
    };
    for (const auto& t : transports()) {
        INFO(t.name());
        seen = 0;
        ended = false;
        HostileServer server(server_for(t), stop_reading);
        Client c = hostile_client(t);
        const Timed r = timed_send(c, {.method = "POST", .url = server.url("/upload"),
                                       .body = std::string(body_size, 'u')});
        check_error(r, net::errc::request_timeout);
        // The script's own end: its drain stops at the client's hang-up, or after 4 s of silence.
        const auto give_up = std::chrono::steady_clock::now() + 8s;
        while (!ended && seen.load() == 0 && std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(20ms);
        server.stop();
        CHECK(ended.load());
        MESSAGE(t.name(), ": the server received ", seen.load() / 1024, " KiB of the ",
                body_size / 1024, " KiB body");
        CHECK(seen.load() < body_size / 2);
    }
}
