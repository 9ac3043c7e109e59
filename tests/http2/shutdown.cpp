// Ending streams and connections: GOAWAY either way, RST_STREAM either way, end of stream.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test::h2;

namespace {

Request get(std::string path) {
    Request r;
    r.authority = "example.test";
    r.path = std::move(path);
    return r;
}

std::vector<std::int32_t> submit_n(ClientSession& c, int n) {
    std::vector<std::int32_t> ids;
    for (int i = 0; i < n; ++i) {
        Error err;
        ids.push_back(c.submit_request(get("/" + std::to_string(i)), err));
        REQUIRE_MESSAGE(ids.back() > 0, err.message());
    }
    return ids;
}

}  // namespace

TEST_CASE("goaway_refuses_higher_streams: above last_stream_id retryable, below complete") {
    ServerOptions so;
    so.faults.goaway_after_requests = 5;  // GOAWAY with last_stream_id = the 5th stream (9)
    ServerSession server(so);
    ClientSession client;
    Record r;
    const auto ids = submit_n(client, 10);  // streams 1, 3, ..., 19, all in the first write
    REQUIRE(pump(client, server, r));

    REQUIRE(r.goaways.size() == 1);
    CHECK(r.goaways[0].last_stream_id == 9);
    CHECK(r.goaways[0].error_code == h2_error::no_error);
    CHECK(client.goaway_received());
    CHECK(client.goaway_last_stream_id() == 9);
    for (std::int32_t id : ids) {
        INFO("stream ", id);
        const StreamRecord& s = r.streams[id];
        CHECK(s.closes == 1);
        if (id <= 9) {
            CHECK(s.status == 200);
            CHECK_FALSE(s.closed.error);
        } else {
            CHECK(s.responses == 0);
            CHECK(s.closed.error.code == http2::errc::refused_stream);
            CHECK(s.closed.retryable);
        }
    }
    // No new streams on this connection, and once the old ones are done it is finished.
    CHECK_FALSE(client.can_submit());
    Error err;
    CHECK(client.submit_request(get("/late"), err) == 0);
    CHECK(err.code == http2::errc::goaway);
    CHECK(client.active_streams() == 0);
    CHECK(client.finished());
    CHECK_FALSE(client.error());
}

TEST_CASE("goaway_refuses_queued_requests_never_sent") {
    ServerOptions so;
    so.max_concurrent_streams = 2;
    so.faults.goaway_after_requests = 1;
    ServerSession server(so);
    ClientSession client;
    Record r;
    REQUIRE(pump(client, server, r));      // learn the limit of 2 first
    const auto ids = submit_n(client, 6);  // 2 go out, 4 wait inside nghttp2
    REQUIRE(pump(client, server, r));
    CHECK(r.streams[ids[0]].status == 200);
    for (std::size_t i = 1; i < ids.size(); ++i) {
        INFO("stream ", ids[i]);
        CHECK(r.streams[ids[i]].closes == 1);
        CHECK(r.streams[ids[i]].closed.error.code == http2::errc::refused_stream);
        CHECK(r.streams[ids[i]].closed.retryable);
    }
    CHECK(server.requests_received() == 2);  // the queued ones never reached it
}

TEST_CASE("rst_stream_reported") {
    SUBCASE("INTERNAL_ERROR: stream_reset with the code, not retryable, others unaffected") {
        ServerOptions so;
        so.faults.reset_streams = {{3, h2_error::internal_error}};
        ServerSession server(so);
        ClientSession client;
        Record r;
        const auto ids = submit_n(client, 3);
        REQUIRE(pump(client, server, r));
        const StreamClosed& c = r.streams[3].closed;
        CHECK(c.error.code == http2::errc::stream_reset);
        CHECK(c.error_code == h2_error::internal_error);
        CHECK(c.error.library_code == h2_error::internal_error);
        CHECK(c.error.origin == "http2");
        CHECK(c.error.detail == "RST_STREAM INTERNAL_ERROR from the server");
        CHECK_FALSE(c.retryable);
        CHECK(r.streams[1].status == 200);
        CHECK(r.streams[5].status == 200);
        CHECK_FALSE(r.streams[5].closed.error);
        CHECK(client.can_submit());
    }
    SUBCASE("REFUSED_STREAM: refused_stream, retryable") {
        ServerOptions so;
        so.faults.reset_streams = {{1, h2_error::refused_stream}};
        ServerSession server(so);
        ClientSession client;
        Record r;
        submit_n(client, 1);
        REQUIRE(pump(client, server, r));
        CHECK(r.streams[1].closed.error.code == http2::errc::refused_stream);
        CHECK(r.streams[1].closed.retryable);
    }
    SUBCASE("HTTP_1_1_REQUIRED: http_1_1_required with the code, never not_h2 (the peer speaks h2)") {
        ServerOptions so;
        so.faults.reset_streams = {{1, h2_error::http_1_1_required}};
        ServerSession server(so);
        ClientSession client;
        Record r;
        submit_n(client, 1);
        REQUIRE(pump(client, server, r));
        CHECK(r.streams[1].closed.error.code == http2::errc::http_1_1_required);
        CHECK(r.streams[1].closed.error_code == h2_error::http_1_1_required);
        CHECK(r.streams[1].closed.error.detail == "RST_STREAM HTTP_1_1_REQUIRED from the server");
    }
}

TEST_CASE("client_cancel_sends_rst_stream") {
    ServerOptions so;
    so.faults.stall = true;
    ServerSession server(so);
    ClientSession client;
    Record r;
    const auto ids = submit_n(client, 2);
    REQUIRE(pump(client, server, r));
    REQUIRE(server.open_streams() == 2);
    REQUIRE_FALSE(client.submit_rst_stream(ids[0]));
    REQUIRE(pump(client, server, r));
    CHECK(server.open_streams() == 1);
    const StreamClosed& c = r.streams[ids[0]].closed;
    CHECK(c.error.code == http2::errc::stream_reset);
    CHECK(c.error_code == h2_error::cancel);
    CHECK(c.error.origin == "http2");
    CHECK(c.error.detail == "cancelled by us with RST_STREAM CANCEL");
    CHECK(client.active_streams() == 1);
    CHECK(client.submit_rst_stream(ids[0]).code == http2::errc::invalid_state);  // already gone
}

TEST_CASE("graceful_goaway_lets_open_streams_finish") {
    ServerSession server;
    ClientSession client;
    Record r;
    const auto ids = submit_n(client, 3);
    REQUIRE_FALSE(client.submit_goaway());
    CHECK_FALSE(client.can_submit());
    Error err;
    CHECK(client.submit_request(get("/after"), err) == 0);
    CHECK(err.code == http2::errc::goaway);
    REQUIRE(pump(client, server, r));
    for (std::int32_t id : ids) {
        CHECK(r.streams[id].status == 200);
        CHECK_FALSE(r.streams[id].closed.error);
    }
    CHECK(client.finished());
    CHECK_FALSE(client.error());
}

TEST_CASE("terminating_goaway_closes_open_streams") {
    ServerOptions so;
    so.faults.stall = true;
    ServerSession server(so);
    ClientSession client;
    Record r;
    const auto ids = submit_n(client, 2);
    REQUIRE(pump(client, server, r));
    REQUIRE_FALSE(client.submit_goaway(h2_error::enhance_your_calm));
    REQUIRE(pump(client, server, r));
    for (std::int32_t id : ids) {
        CHECK(r.streams[id].closes == 1);
        CHECK(r.streams[id].closed.error.code == http2::errc::closed);
    }
    CHECK(client.finished());
    CHECK_FALSE(client.error());  // we ended it: not a failure of the connection
}

TEST_CASE("eof_closes_open_streams: sent ones not retryable, never-sent ones retryable") {
    ServerOptions so;
    so.max_concurrent_streams = 1;
    so.faults.stall = true;
    ServerSession server(so);
    ClientSession client;
    Record r;
    REQUIRE(pump(client, server, r));
    const auto ids = submit_n(client, 2);
    REQUIRE(pump(client, server, r));
    client.feed_eof();
    r.take(client);
    CHECK(r.streams[ids[0]].closed.error.code == http2::errc::closed);
    CHECK_FALSE(r.streams[ids[0]].closed.retryable);
    CHECK(r.streams[ids[1]].closed.error.code == http2::errc::closed);
    CHECK(r.streams[ids[1]].closed.retryable);
    CHECK(client.finished());
    CHECK_FALSE(client.can_submit());
    Error err;
    CHECK(client.submit_request(get("/"), err) == 0);
    CHECK(err.code == http2::errc::closed);
}
