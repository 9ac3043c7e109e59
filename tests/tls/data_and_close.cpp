// data_and_close: application data both ways after the handshake, large and small, then
// close_notify both ways; and the API refuses use in the wrong state.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;
using tls::errc;
using tls::Status;

TEST_CASE("data both ways, then close_notify both ways") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        Error err;
        tls::ClientSessionParams params;
        params.host = "localhost";
        Pair p = make_pair(c, client_config({"http/1.1"}), params, s, server_config({"http/1.1"}),
                           err);
        REQUIRE(p.client);
        const HandshakeResult r = do_handshake(p);
        REQUIRE(r.client == Status::ok);
        REQUIRE(r.server == Status::ok);

        CHECK(send_and_receive(p, Direction::to_server, "GET / HTTP/1.1\r\n\r\n") ==
              "GET / HTTP/1.1\r\n\r\n");
        CHECK(send_and_receive(p, Direction::to_client, "HTTP/1.1 200 OK\r\n\r\n") ==
              "HTTP/1.1 200 OK\r\n\r\n");

        // Larger than any record: split and reassembled in order.
        std::string big(300 * 1024, '\0');
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
        CHECK(send_and_receive(p, Direction::to_client, big, 1000) == big);
        CHECK(send_and_receive(p, Direction::to_server, big, 1000) == big);

        // Client closes: the server reads a clean end.
        p.client->close();
        transfer(p);
        std::vector<std::uint8_t> got;
        Status st = Status::ok;
        for (int i = 0; i < 5 && st == Status::ok; ++i) st = p.server->read(got);
        CHECK(st == Status::closed);
        CHECK(p.server->error().code == std::error_code{});
        // Writing after our own close is misuse, reported as such.
        CHECK(p.client->write(bytes("late")) == Status::failed);
        CHECK(p.client->error().code == errc::invalid_state);

    });
}

TEST_CASE("server closes first: the client reads its data, then a clean end") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        Error err;
        tls::ClientSessionParams params;
        params.host = "localhost";
        Pair p = make_pair(c, client_config(), params, s, server_config(), err);
        REQUIRE(p.client);
        REQUIRE(do_handshake(p).client == Status::ok);
        REQUIRE(p.server->write(bytes("last words")) == Status::ok);
        p.server->close();
        transfer(p);
        std::vector<std::uint8_t> got;
        Status st = Status::ok;
        for (int i = 0; i < 8 && st == Status::ok; ++i) st = p.client->read(got);
        CHECK(std::string(got.begin(), got.end()) == "last words");
        CHECK(st == Status::closed);
        // A clean close is not an error, and reading again says the same.
        CHECK(p.client->error().code == std::error_code{});
        CHECK(p.client->read(got) == Status::closed);
        // Even when the transport then ends, as a socket would.
        p.client->feed_eof();
        CHECK(p.client->read(got) == Status::closed);
    });
}

TEST_CASE("wrong-state calls are refused, not undefined") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        Error err;
        auto cctx = b->client_context(client_config(), err);
        REQUIRE(cctx);
        tls::ClientSessionParams params;
        params.host = "localhost";
        auto s = cctx->new_session(params, err);
        REQUIRE(s);
        CHECK(s->export_session().empty());
        CHECK(s->write(bytes("too early")) == Status::failed);
        CHECK(s->error().code == errc::invalid_state);
    }
}
