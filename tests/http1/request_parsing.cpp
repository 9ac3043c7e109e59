// request_parsing: the request parser (for in-process test and fault servers) frames requests
// by Content-Length or chunked, with the same strictness as responses.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;
using http1::errc;
using http1::Status;

TEST_CASE("a GET without body is complete at the end of its head") {
    const auto r = parse_request("GET /index.html?x=1 HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\n");
    REQUIRE(r.status == Status::complete);
    CHECK(r.head->method == "GET");
    CHECK(r.head->target == "/index.html?x=1");
    CHECK(r.head->version_minor == 1);
    CHECK(r.head->headers == Headers{{"Host", "a.test"}, {"Accept", "*/*"}});
    CHECK(r.body.empty());
    CHECK(r.keep_alive);
}

TEST_CASE("request bodies by Content-Length and by chunked with trailers") {
    const auto cl = parse_request("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody");
    REQUIRE(cl.status == Status::complete);
    CHECK(cl.body == "body");
    const auto ch = parse_request(
        "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4;ext\r\nbody\r\n0\r\nX-T: 1\r\n\r\n");
    REQUIRE(ch.status == Status::complete);
    CHECK(ch.body == "body");
    CHECK(ch.trailers == Headers{{"X-T", "1"}});
}

TEST_CASE("pipelined requests and the keep-alive rules") {
    http1::RequestParser p;
    REQUIRE(p.feed("\r\nGET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.0\r\n\r\n") ==
            Status::complete);  // a leading empty line is skipped (RFC 9112 2.2)
    auto ev = p.take_events();
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].head.target == "/1");
    CHECK(ev[1].keep_alive);
    REQUIRE(p.start_next() == Status::complete);
    ev = p.take_events();
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].head.target == "/2");
    CHECK(ev[0].head.version_minor == 0);  // HTTP/1.0: Host not required
    CHECK_FALSE(ev[1].keep_alive);
    CHECK_FALSE(p.has_leftover());
    CHECK_FALSE(parse_request("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive);
}

TEST_CASE("an absolute-form target and CONNECT's authority-form are accepted") {
    CHECK(parse_request("GET http://a.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n").head->target ==
          "http://a.test/x");
    CHECK(parse_request("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n").head->target ==
          "a.test:443");
}

TEST_CASE("malformed requests are rejected with a named reason") {
    struct Case {
        std::string wire;
        errc code;
        const char* needle;
    };
    const Case cases[] = {
        {"GET /\r\n\r\n", errc::malformed_request_line, "not \"method SP target SP version\""},
        {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", errc::malformed_request_line, "empty request target"},
        {"G(T / HTTP/1.1\r\n\r\n", errc::malformed_request_line, "method \"G(T\" is not a token"},
        {"GET /a\x7f HTTP/1.1\r\n\r\n", errc::malformed_request_line, "not allowed in request target"},
        {"GET / HTTX/1.1\r\n\r\n", errc::malformed_request_line, "malformed HTTP version"},
        {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", errc::version_unsupported, "HTTP/2.0"},
        {"GET / HTTP/1.1\r\n\r\n", errc::malformed_header, "without a Host"},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", errc::malformed_header, "2 Host headers"},
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", errc::malformed_header, "whitespace between"},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", errc::malformed_header, "obs-fold"},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
         errc::request_smuggling, "request has both Content-Length"},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
         errc::transfer_encoding_unsupported, "\"chunked, gzip\""},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
         errc::bad_content_length, "conflicting"},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nq\r\n",
         errc::bad_chunk, "not hexadecimal"},
    };
    for (const auto& c : cases) {
        INFO(c.wire);
        const auto r = parse_request(c.wire);
        CHECK(r.status == Status::failed);
        CHECK(r.error.code == make_error_code(c.code));
        INFO(r.error.message());
        CHECK(r.error.message().find(c.needle) != std::string::npos);
        CHECK(r.error.origin == "http1");
    }
}

TEST_CASE("EOF: before any byte is an idle close, mid-body is unexpected_eof") {
    http1::RequestParser idle;
    CHECK(idle.feed_eof() == Status::failed);
    CHECK_FALSE(idle.started());
    CHECK(idle.error().message().find("before any byte of the request") != std::string::npos);
    const auto cut = parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc", true);
    CHECK(cut.status == Status::failed);
    CHECK(cut.error.code == errc::unexpected_eof);
    CHECK(cut.error.message().find("after 3 of 9") != std::string::npos);
}
