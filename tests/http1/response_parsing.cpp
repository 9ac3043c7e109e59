// response_parsing: the response parser frames every kind of valid response right, in any split.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;
using http1::Status;

TEST_CASE("content-length body is read exactly and the connection stays alive") {
    const auto r = parse_response(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
    REQUIRE(r.status == Status::complete);
    REQUIRE(r.head);
    CHECK(r.head->status == 200);
    CHECK(r.head->reason == "OK");
    CHECK(r.head->version_minor == 1);
    CHECK(r.head->headers == Headers{{"Content-Type", "text/plain"}, {"Content-Length", "5"}});
    CHECK(r.body == "hello");
    CHECK(r.completes == 1);
    CHECK(r.keep_alive);
    CHECK(r.leftover.empty());
}

TEST_CASE("a content-length body waits for all its bytes") {
    http1::ResponseParser p("GET");
    CHECK(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345") == Status::want_input);
    CHECK(p.body_bytes() == 5);
    CHECK(p.feed("67890") == Status::complete);
    CHECK(p.body_bytes() == 10);
}

TEST_CASE("field values lose surrounding whitespace, names keep their case") {
    const auto r = parse_response("HTTP/1.1 200 OK\r\nX-Thing: \t a b \t\r\nContent-Length:0\r\n\r\n");
    REQUIRE(r.head);
    CHECK(r.head->headers == Headers{{"X-Thing", "a b"}, {"Content-Length", "0"}});
    CHECK(r.status == Status::complete);
}

TEST_CASE("chunked body with extensions and trailers") {
    const auto r = parse_response(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=value\r\nhello\r\n"
        "6 ; ext\r\n world\r\n"
        "A\r\n0123456789\r\n"
        "0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n");
    REQUIRE(r.status == Status::complete);
    CHECK(r.body == "hello world0123456789");
    CHECK(r.trailers == Headers{{"X-Checksum", "abc"}, {"X-Other", "1"}});
    CHECK(r.keep_alive);
}

TEST_CASE("chunked transfer-encoding is matched case-insensitively and sizes may have leading zeros") {
    const auto r = parse_response(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n0003\r\nabc\r\n000\r\n\r\n");
    REQUIRE(r.status == Status::complete);
    CHECK(r.body == "abc");
    CHECK(r.trailers.empty());
}

TEST_CASE("close-delimited body needs feed_eof and ends the connection") {
    http1::ResponseParser p("GET");
    CHECK(p.feed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome ") == Status::want_input);
    CHECK(p.feed("bytes") == Status::want_input);
    CHECK(p.feed_eof() == Status::complete);
    CHECK_FALSE(p.keep_alive());
    std::string body;
    for (auto& ev : p.take_events())
        if (ev.kind == http1::EventKind::data) body += str(ev.data);
    CHECK(body == "some bytes");
}

TEST_CASE("1xx interim responses are reported separately, then the final response") {
    const auto r = parse_response(
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    REQUIRE(r.status == Status::complete);
    REQUIRE(r.interim.size() == 2);
    CHECK(r.interim[0].status == 100);
    CHECK(r.interim[1].status == 103);
    CHECK(r.interim[1].headers == Headers{{"Link", "</s.css>; rel=preload"}});
    REQUIRE(r.head);
    CHECK(r.head->status == 200);
    CHECK(r.head->headers == Headers{{"Content-Length", "2"}});  // nothing of the 1xx leaks in
    CHECK(r.body == "ok");
}

TEST_CASE("101 Switching Protocols is final, has no body, and leaves the new protocol's bytes") {
    const std::string h2_settings("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
    const auto r = parse_response(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" +
        h2_settings);
    REQUIRE(r.status == Status::complete);
    REQUIRE(r.head);
    CHECK(r.head->status == 101);
    CHECK(r.interim.empty());
    CHECK(r.body.empty());
    CHECK_FALSE(r.keep_alive);
    CHECK(r.leftover == h2_settings);
}

TEST_CASE("2xx to CONNECT opens a tunnel: no body, tunnel bytes are leftover") {
    const auto r = parse_response("HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01",
                                  "CONNECT");
    REQUIRE(r.status == Status::complete);
    CHECK(r.body.empty());
    CHECK_FALSE(r.keep_alive);
    CHECK(r.leftover == "\x16\x03\x01");
}

TEST_CASE("a response to HEAD has no body whatever its Content-Length says") {
    const auto r = parse_response(
        "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\n", "HEAD");
    REQUIRE(r.status == Status::complete);
    CHECK(header_value(r.head->headers, "content-length") == "1234");
    CHECK(r.body.empty());
    CHECK(r.keep_alive);
    CHECK(r.leftover == "HTTP/1.1 200 OK\r\n");
}

TEST_CASE("204 and 304 have no body") {
    for (int code : {204, 304}) {
        INFO("status ", code);
        const auto r = parse_response("HTTP/1.1 " + std::to_string(code) +
                                      " X\r\nContent-Length: 10\r\n\r\n");
        CHECK(r.status == Status::complete);
        CHECK(r.body.empty());
        CHECK(r.keep_alive);
    }
    // Without any Content-Length, 204 is still not close-delimited.
    CHECK(parse_response("HTTP/1.1 204 No Content\r\n\r\n").status == Status::complete);
}

TEST_CASE("keep-alive rules for HTTP/1.1 and HTTP/1.0") {
    const std::string cl0 = "Content-Length: 0\r\n";
    CHECK(parse_response("HTTP/1.1 200 OK\r\n" + cl0 + "\r\n").keep_alive);
    CHECK_FALSE(parse_response("HTTP/1.1 200 OK\r\n" + cl0 + "Connection: close\r\n\r\n").keep_alive);
    CHECK_FALSE(parse_response("HTTP/1.1 200 OK\r\n" + cl0 + "Connection: Upgrade, CLOSE\r\n\r\n").keep_alive);
    CHECK_FALSE(parse_response("HTTP/1.0 200 OK\r\n" + cl0 + "\r\n").keep_alive);
    CHECK(parse_response("HTTP/1.0 200 OK\r\n" + cl0 + "Connection: keep-alive\r\n\r\n").keep_alive);
    CHECK(parse_response("HTTP/1.0 200 OK\r\n" + cl0 + "connection: Keep-Alive\r\n\r\n").keep_alive);
    // A close-delimited body ends the connection whatever the headers say.
    CHECK_FALSE(parse_response("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nx", "GET", true)
                    .keep_alive);
    // HTTP/1.2 is processed as HTTP/1.1 (RFC 9110 2.5).
    const auto r12 = parse_response("HTTP/1.2 200 OK\r\n" + cl0 + "\r\n");
    CHECK(r12.status == Status::complete);
    CHECK(r12.keep_alive);
}

TEST_CASE("pipelined responses in one feed are parsed one after the other with start_next") {
    const std::string wire =
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
        "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"  // answer to HEAD
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\n";
    http1::ResponseParser p("GET");
    ParsedResponse a, b, c;
    REQUIRE(p.feed(wire) == Status::complete);
    collect(p, a);
    CHECK(a.body == "one");
    CHECK(p.has_leftover());
    REQUIRE(p.start_next("HEAD") == Status::complete);
    collect(p, b);
    CHECK(b.body.empty());
    CHECK(header_value(b.head->headers, "Content-Length") == "999");
    REQUIRE(p.start_next("GET") == Status::complete);
    collect(p, c);
    CHECK(c.body == "three");
    CHECK_FALSE(p.has_leftover());
}

TEST_CASE("bytes after a complete response are visible as unsolicited leftover") {
    http1::ResponseParser p("GET");
    REQUIRE(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx") == Status::complete);
    CHECK_FALSE(p.has_leftover());
    CHECK(p.feed("garbage") == Status::complete);  // the response stays complete
    CHECK(p.has_leftover());
    CHECK(str(p.leftover()) == "garbage");
    CHECK(str(p.take_leftover()) == "garbage");
    CHECK_FALSE(p.has_leftover());
}

TEST_CASE("EOF after a complete response is not an error, and pending pipelined bytes then fail") {
    http1::ResponseParser p("GET");
    REQUIRE(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 2") == Status::complete);
    CHECK(p.feed_eof() == Status::complete);
    CHECK(p.start_next("GET") == Status::failed);
    CHECK(p.error().code == http1::errc::unexpected_eof);
}

TEST_CASE("bare LF line ends are accepted by default") {
    const auto r = parse_response("HTTP/1.1 200 OK\nContent-Length: 2\n\nok");
    REQUIRE(r.status == Status::complete);
    CHECK(r.body == "ok");
    const auto c = parse_response("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n");
    REQUIRE(c.status == Status::complete);
    CHECK(c.body == "ok");
}

TEST_CASE("a status line without reason phrase is accepted, with or without the space") {
    CHECK(parse_response("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n").status == Status::complete);
    const auto r = parse_response("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n");
    REQUIRE(r.status == Status::complete);
    CHECK(r.head->status == 404);
    CHECK(r.head->reason.empty());
}

TEST_CASE("identical duplicate Content-Length values are accepted as one") {
    const auto r = parse_response(
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc");
    REQUIRE(r.status == Status::complete);
    CHECK(r.body == "abc");
}

TEST_CASE("feeding byte by byte gives the same result as one feed") {
    const std::string wires[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nT: v\r\n\r\nNEXT",
        "HTTP/1.0 200 OK\nServer: old\n\nuntil close",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\nPRI",
    };
    for (const auto& wire : wires) {
        INFO(wire);
        const auto whole = parse_response(wire, "GET", true);
        for (std::size_t step : {1, 2, 3, 7}) {
            INFO("step ", step);
            const auto split = parse_response(wire, "GET", true, step);
            CHECK(split.status == whole.status);
            CHECK(split.status != Status::failed);
            REQUIRE(split.head);
            CHECK(split.head->status == whole.head->status);
            CHECK(split.head->headers == whole.head->headers);
            CHECK(split.interim.size() == whole.interim.size());
            CHECK(split.body == whole.body);
            CHECK(split.trailers == whole.trailers);
            CHECK(split.keep_alive == whole.keep_alive);
            CHECK(split.leftover == whole.leftover);
            CHECK(split.completes == 1);
        }
    }
}

TEST_CASE("looks_like_http1_response decides from the first bytes") {
    CHECK(http1::looks_like_http1_response("HTTP/1.1 400 Bad Request\r\n"));
    CHECK(http1::looks_like_http1_response("HTTP/1.0 200 OK"));
    CHECK(http1::looks_like_http1_response("HT"));  // consistent so far
    CHECK_FALSE(http1::looks_like_http1_response(""));
    CHECK_FALSE(http1::looks_like_http1_response("HTTP/2 200"));
    CHECK_FALSE(http1::looks_like_http1_response(std::string("\x00\x00\x12\x04", 4)));  // SETTINGS
    CHECK(http1::looks_like_http1_response(bytes("HTTP/1.1 505")));
}
