// faults: a filter between the byte queues truncates, corrupts or drops the connection; both
// sides end with a clean error, never a hang (every loop is bounded) and never a crash.
#include "common.hpp"

#include <random>

using namespace connmatrix;
using namespace connmatrix::test;
using tls::errc;
using tls::Status;

namespace {

bool final_status(Status s) { return s == Status::ok || s == Status::failed; }

Pair pair_for(const tls::Backend& c, const tls::Backend& s) {
    Error err;
    tls::ClientSessionParams params;
    params.host = "localhost";
    Pair p = make_pair(c, client_config({"h2", "http/1.1"}), params, s,
                       server_config({"h2", "http/1.1"}), err);
    REQUIRE(p.client);
    REQUIRE(p.server);
    return p;
}

// A client of `b` that has sent its ClientHello and waits for the server's first bytes.
struct WaitingClient {
    std::shared_ptr<tls::ClientContext> ctx;
    std::unique_ptr<tls::Session> session;
};
WaitingClient waiting_client(const tls::Backend& b) {
    Error err;
    WaitingClient w;
    w.ctx = b.client_context(client_config({"h2"}), err);
    REQUIRE(w.ctx);
    tls::ClientSessionParams params;
    params.host = "localhost";
    w.session = w.ctx->new_session(params, err);
    REQUIRE(w.session);
    REQUIRE(w.session->handshake() == Status::want_input);
    return w;
}

// Feeds a server's bytes, then the end of the stream if the handshake still wants more.
Status handshake_on(tls::Session& client, std::span<const std::uint8_t> server_bytes) {
    client.feed(server_bytes);
    Status st = client.handshake();
    if (st == Status::want_input) {
        client.feed_eof();
        st = client.handshake();
    }
    return st;
}

}  // namespace

TEST_CASE("the connection dropped mid-handshake: truncated on both sides, no hang") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        // Drop at the first, second and third flight.
        for (int flight = 1; flight <= 3; ++flight) {
            INFO("dropped at flight ", flight);
            Pair p = pair_for(c, s);
            int seen = 0;
            p.filter = [&](Direction, std::vector<std::uint8_t>&) { return ++seen < flight; };
            const HandshakeResult r = do_handshake(p);
            CHECK_FALSE(r.stuck);
            // Whoever had not finished sees the truncation; nobody reports a complete
            // handshake they could not have completed.
            if (r.client != Status::ok) {
                CHECK(r.client == Status::failed);
                CHECK(p.client->error().code == errc::truncated);
            }
            if (r.server != Status::ok) {
                CHECK(r.server == Status::failed);
                CHECK(p.server->error().code == errc::truncated);
            }
            CHECK((r.client != Status::ok || r.server != Status::ok));
        }
    });
}

TEST_CASE("the handshake cut short inside a record: truncated, no hang") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        Pair p = pair_for(c, s);
        p.filter = [&](Direction d, std::vector<std::uint8_t>& b) {
            if (d == Direction::to_client) {
                b.resize(b.size() / 2);  // half of the server's first flight, then EOF
                p.close_after_delivery = true;
            }
            return true;
        };
        const HandshakeResult r = do_handshake(p);
        CHECK_FALSE(r.stuck);
        CHECK(r.client == Status::failed);
        CHECK(p.client->error().code == errc::truncated);
        CHECK(r.server == Status::failed);
    });
}

TEST_CASE("a corrupted handshake byte fails the handshake on both sides, cleanly") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        // Flip one byte at a spread of offsets in the server's first flight: each run ends in
        // errors or (for bytes a library may legitimately ignore) success, never a hang.
        std::size_t flight_size = 0;
        {
            Pair p = pair_for(c, s);
            p.filter = [&](Direction d, std::vector<std::uint8_t>& b) {
                if (d == Direction::to_client && flight_size == 0) flight_size = b.size();
                return true;
            };
            REQUIRE(do_handshake(p).client == Status::ok);
        }
        REQUIRE(flight_size > 100);
        int failures = 0, runs = 0;
        for (std::size_t offset = 5; offset < flight_size; offset += flight_size / 23 + 1) {
            INFO("offset ", offset, " of ", flight_size);
            Pair p = pair_for(c, s);
            bool done = false;
            p.filter = [&](Direction d, std::vector<std::uint8_t>& b) {
                if (d == Direction::to_client && !done) {
                    b[offset] ^= 0x5a;
                    done = true;
                }
                return true;
            };
            const HandshakeResult r = do_handshake(p);
            ++runs;
            CHECK_FALSE(r.stuck);
            CHECK(final_status(r.client));
            CHECK(final_status(r.server));
            if (r.client == Status::failed) {
                ++failures;
                CHECK(p.client->error().code != std::error_code{});
            }
            // A handshake that survived must have agreed on everything.
            if (r.client == Status::ok && r.server == Status::ok)
                CHECK(send_and_receive(p, Direction::to_server, "still fine") == "still fine");
        }
        // Nearly every byte of a handshake is authenticated by the Finished messages.
        CHECK(failures * 10 >= runs * 8);
    });
}

TEST_CASE("a corrupted application record: bad_record, and the error is sticky") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        Pair p = pair_for(c, s);
        REQUIRE(do_handshake(p).client == Status::ok);
        settle(p);
        p.filter = [&](Direction d, std::vector<std::uint8_t>& b) {
            if (d == Direction::to_server && b.size() > 10) b[b.size() - 3] ^= 0x01;
            return true;
        };
        REQUIRE(p.client->write(bytes("GET / HTTP/1.1\r\n\r\n")) == Status::ok);
        transfer(p);
        std::vector<std::uint8_t> got;
        CHECK(p.server->read(got) == Status::failed);
        CHECK(got.empty());
        CHECK(p.server->error().code == errc::bad_record);
        // Sticky: the same error again, whatever is called next.
        CHECK(p.server->read(got) == Status::failed);
        CHECK(p.server->write(bytes("x")) == Status::failed);
        CHECK(p.server->error().code == errc::bad_record);
    });
}

TEST_CASE("EOF without close_notify after data: truncated, never a clean end") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        Pair p = pair_for(c, s);
        REQUIRE(do_handshake(p).client == Status::ok);
        settle(p);
        REQUIRE(p.server->write(bytes("partial body")) == Status::ok);
        transfer(p);
        p.client->feed_eof();
        std::vector<std::uint8_t> got;
        Status st = Status::ok;
        for (int i = 0; i < 5 && st == Status::ok; ++i) st = p.client->read(got);
        CHECK(std::string(got.begin(), got.end()) == "partial body");
        CHECK(st == Status::failed);
        CHECK(p.client->error().code == errc::truncated);
    });
}

TEST_CASE("a plaintext HTTP server or random bytes instead of TLS: a clean failure") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        Error err;
        auto cctx = b->client_context(client_config({"h2"}), err);
        REQUIRE(cctx);
        tls::ClientSessionParams params;
        params.host = "localhost";
        auto client = cctx->new_session(params, err);
        REQUIRE(client);
        CHECK(client->handshake() == Status::want_input);
        CHECK(client->has_output());
        client->feed(bytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
        Status st = Status::want_input;
        for (int i = 0; i < 5 && st == Status::want_input; ++i) st = client->handshake();
        if (st == Status::want_input) {  // some libraries wait for the rest of a "record"
            client->feed_eof();
            st = client->handshake();
        }
        CHECK(st == Status::failed);
        CHECK(client->error().code != std::error_code{});

        // A server fed a megabyte of noise gives up, quickly and cleanly.
        auto sctx = b->server_context(server_config(), err);
        REQUIRE(sctx);
        auto server = sctx->new_session(err);
        REQUIRE(server);
        std::mt19937 rng(42);
        std::vector<std::uint8_t> noise(1 << 20);
        for (auto& x : noise) x = static_cast<std::uint8_t>(rng());
        noise[0] = 0x16;  // looks like a handshake record at first glance
        server->feed(noise);
        st = Status::want_input;
        for (int i = 0; i < 5 && st == Status::want_input; ++i) st = server->handshake();
        CHECK(st == Status::failed);
        CHECK(server->error().code != std::error_code{});
    }
}

// Found by the tls_client_gnutls fuzz target: GnuTLS reports an ECDHE public value of the wrong
// length in the server's key exchange as GNUTLS_E_INVALID_REQUEST, which the backend called
// internal, as if the library had failed, where the server sent bad bytes. Every backend names
// it a handshake failure.
TEST_CASE("an ECDHE public value of the wrong length in the ServerKeyExchange: handshake_failed") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        Error err;
        tls::ClientSessionParams params;
        params.host = "localhost";
        tls::ServerConfig scfg = server_config({"http/1.1"});
        scfg.max_version = tls::Version::tls1_2;  // TLS 1.3 has no ServerKeyExchange
        Pair p = make_pair(c, client_config({"http/1.1"}), params, s, scfg, err);
        REQUIRE(p.client);
        REQUIRE(p.server);
        std::uint16_t curve = 0;
        p.filter = [&](Direction d, std::vector<std::uint8_t>& b) {
            // Walk the server's handshake records to the ServerKeyExchange (type 12):
            // curve_type 3 (named), the curve, the length of the public value, the value.
            for (std::size_t r = 0; d == Direction::to_client && r + 5 <= b.size();) {
                const std::size_t len = std::size_t{b[r + 3]} << 8 | b[r + 4];
                for (std::size_t m = r + 5; b[r] == 22 && m + 8 <= std::min(r + 5 + len, b.size());) {
                    if (b[m] == 12 && b[m + 4] == 3) {
                        curve = static_cast<std::uint16_t>(b[m + 5] << 8 | b[m + 6]);
                        b[m + 7] = 112;  // no curve here has points of 112 bytes
                        return true;
                    }
                    m += 4 + (std::size_t{b[m + 1]} << 16 | std::size_t{b[m + 2]} << 8 | b[m + 3]);
                }
                r += 5 + len;
            }
            return true;
        };
        const HandshakeResult r = do_handshake(p);
        INFO("curve ", curve);
        REQUIRE(curve != 0);
        CHECK_FALSE(r.stuck);
        CHECK(r.client == Status::failed);
        const Error& e = p.client->error();
        INFO(e.message());
        CHECK(e.code == errc::handshake_failed);
        CHECK(origin_fits(e));
    });
}

// Found by the tls_client_mbedtls fuzz target: mbedTLS reports a record longer than its input
// buffer as MBEDTLS_ERR_SSL_BAD_INPUT_DATA, which the backend called internal. A record longer
// than TLS allows is the peer's bad record, on every backend.
TEST_CASE("a record longer than TLS allows, in place of the ServerHello: bad_record") {
    for (const auto& b : registry().all()) {
        for (const std::uint8_t type : {22, 21}) {  // handshake, alert
            INFO(b->name(), " record type ", int{type});
            auto client = waiting_client(*b);
            std::vector<std::uint8_t> record = {type, 3, 3, 0xec, 0x0b};  // 60427 bytes
            record.resize(5 + 0xec0b, 0x02);
            CHECK(handshake_on(*client.session, record) == Status::failed);
            const Error& e = client.session->error();
            INFO(e.message());
            CHECK(e.code == errc::bad_record);
            CHECK(origin_fits(e));
        }
    }
}

// Found by the tls_client_gnutls fuzz target: GnuTLS 3.7 takes 16 warning alerts in a handshake
// and fails on the 17th with GNUTLS_E_INTERNAL_ERROR, which said tls:internal for a server's
// alert flood. OpenSSL names it ("too many warn alerts") and so does the GnuTLS backend now;
// mbedTLS 2.28 ignores warning alerts, so the flood there ends when the input does. On no
// backend is it our misuse or a library fault.
TEST_CASE("a flood of warning alerts in place of the ServerHello: never internal") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        auto client = waiting_client(*b);
        std::vector<std::uint8_t> flood;
        for (int i = 0; i < 40; ++i)  // warning(1) unrecognized_name(112), 40 times
            flood.insert(flood.end(), {21, 3, 3, 0, 2, 1, 112});
        CHECK(handshake_on(*client.session, flood) == Status::failed);
        const Error& e = client.session->error();
        INFO(e.message());
        CHECK(e.code != errc::internal);
        CHECK(e.code != errc::invalid_state);
        if (b->name() == "mbedtls")
            CHECK(e.code == errc::truncated);
        else
            CHECK(e.code == errc::handshake_failed);
        CHECK(origin_fits(e));
    }
}
