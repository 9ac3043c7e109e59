// request_writing: the writers produce exact bytes, own the framing, and refuse to write
// anything that could split or smuggle a message.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;
using http1::errc;

namespace {

std::string request(std::string_view method, std::string_view target, const Headers& headers,
                    std::string_view body, http1::RequestOptions opts = {},
                    std::string_view host = "example.com:8443") {
    std::vector<std::uint8_t> out;
    const Error e = http1::write_request(out, method, target, host, headers, body, opts);
    REQUIRE_MESSAGE(!e, e.message());
    return str(out);
}

Error refused(std::string_view method, std::string_view target, const Headers& headers,
              std::string_view host = "example.com") {
    std::vector<std::uint8_t> out = bytes("previous");
    const Error e = http1::write_request(out, method, target, host, headers, std::string_view{});
    CHECK(str(out) == "previous");  // nothing appended on refusal
    return e;
}

}  // namespace

TEST_CASE("GET: request line, Host first, caller headers in order, no framing headers") {
    CHECK(request("GET", "/path?q=1", {{"Accept", "*/*"}, {"User-Agent", "cm"}}, "") ==
          "GET /path?q=1 HTTP/1.1\r\nHost: example.com:8443\r\nAccept: */*\r\n"
          "User-Agent: cm\r\n\r\n");
}

TEST_CASE("a body gets Content-Length; an empty POST/PUT/PATCH gets Content-Length: 0") {
    CHECK(request("POST", "/submit", {{"Content-Type", "text/plain"}}, "hello") ==
          "POST /submit HTTP/1.1\r\nHost: example.com:8443\r\nContent-Type: text/plain\r\n"
          "Content-Length: 5\r\n\r\nhello");
    for (const char* m : {"POST", "PUT", "PATCH"}) {
        INFO(m);
        CHECK(request(m, "/", {}, "") ==
              std::string(m) + " / HTTP/1.1\r\nHost: example.com:8443\r\nContent-Length: 0\r\n\r\n");
    }
    CHECK(request("DELETE", "/x", {}, "") == "DELETE /x HTTP/1.1\r\nHost: example.com:8443\r\n\r\n");
}

TEST_CASE("Connection: close and chunked framing only when asked") {
    http1::RequestOptions o;
    o.close = true;
    CHECK(request("GET", "/", {}, "", o) ==
          "GET / HTTP/1.1\r\nHost: example.com:8443\r\nConnection: close\r\n\r\n");
    http1::RequestOptions c;
    c.chunked = true;
    CHECK(request("POST", "/up", {}, "abcdefghijklmnopq", c) ==
          "POST /up HTTP/1.1\r\nHost: example.com:8443\r\nTransfer-Encoding: chunked\r\n\r\n"
          "11\r\nabcdefghijklmnopq\r\n0\r\n\r\n");
}

TEST_CASE("a caller's Host header replaces host_authority and still comes first") {
    CHECK(request("GET", "/", {{"Accept", "x"}, {"host", "other.test"}}, "") ==
          "GET / HTTP/1.1\r\nHost: other.test\r\nAccept: x\r\n\r\n");
}

TEST_CASE("requests append, so pipelined requests share one buffer") {
    std::vector<std::uint8_t> out;
    REQUIRE_FALSE(http1::write_request(out, "GET", "/a", "h", {}, std::string_view{}));
    REQUIRE_FALSE(http1::write_request(out, "GET", "/b", "h", {}, std::string_view{}));
    CHECK(str(out) == "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST_CASE("CRLF injection in header values, names, target, method and host is refused") {
    struct Case {
        const char* what;
        Error err;
        const char* needle;
    };
    const Case cases[] = {
        {"value CRLF", refused("GET", "/", {{"X-A", "1\r\nX-Injected: yes"}}), "\"\\r\" in the value of header \"X-A\""},
        {"value LF", refused("GET", "/", {{"X-A", "1\nGET /evil HTTP/1.1"}}), "\"\\n\""},
        {"value NUL", refused("GET", "/", {{"X-A", std::string("a\0b", 3)}}), "\\x00"},
        {"name CRLF", refused("GET", "/", {{"X-A\r\nEvil", "1"}}), "is not a token"},
        {"name colon", refused("GET", "/", {{"X-A:", "1"}}), "is not a token"},
        {"name empty", refused("GET", "/", {{"", "1"}}), "is not a token"},
        {"target CRLF", refused("GET", "/ HTTP/1.1\r\nX: y", {}), "in request target"},
        {"target space", refused("GET", "/a b", {}), "\" \" in request target"},
        {"target non-ASCII", refused("GET", "/\xc3\xa9", {}), "percent-encode"},
        {"target empty", refused("GET", "", {}), "empty request target"},
        {"method", refused("GE T", "/", {}), "method \"GE T\" is not a token"},
        {"host CRLF", refused("GET", "/", {}, "a.test\r\nX: 1"), "in Host"},
        {"host empty", refused("GET", "/", {}, ""), "empty Host"},
        {"two Hosts", refused("GET", "/", {{"Host", "a"}, {"Host", "b"}}), "more than one Host"},
        {"caller CL", refused("GET", "/", {{"Content-Length", "5"}}), "set by the writer"},
        {"caller TE", refused("GET", "/", {{"transfer-encoding", "chunked"}}), "set by the writer"},
    };
    for (const auto& c : cases) {
        INFO(c.what, ": ", c.err.message());
        CHECK(c.err.code == errc::invalid_message);
        CHECK(c.err.message().find(c.needle) != std::string::npos);
    }
}

TEST_CASE("write_response: content-length, chunked, close-delimited, HEAD, no-body statuses") {
    std::vector<std::uint8_t> out;
    REQUIRE_FALSE(http1::write_response(out, 200, "OK", {{"Server", "t"}}, std::string_view("hi")));
    CHECK(str(out) == "HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 2\r\n\r\nhi");

    out.clear();
    http1::ResponseOptions chunked;
    chunked.chunked = true;
    REQUIRE_FALSE(http1::write_response(out, 200, "OK", {}, std::string_view("hello"), chunked));
    CHECK(str(out) == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");

    out.clear();
    http1::ResponseOptions old;
    old.http10 = true;
    old.close_delimited = true;
    REQUIRE_FALSE(http1::write_response(out, 200, "OK", {}, std::string_view("body"), old));
    CHECK(str(out) == "HTTP/1.0 200 OK\r\n\r\nbody");

    out.clear();
    http1::ResponseOptions head;
    head.head = true;
    head.close = true;
    REQUIRE_FALSE(http1::write_response(out, 200, "OK", {}, std::string_view("12345"), head));
    CHECK(str(out) == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n");

    out.clear();
    REQUIRE_FALSE(http1::write_response(out, 204, "No Content", {}, std::string_view{}));
    CHECK(str(out) == "HTTP/1.1 204 No Content\r\n\r\n");

    out.clear();
    const Error e = http1::write_response(out, 304, "Not Modified", {}, std::string_view("x"));
    CHECK(e.code == errc::invalid_message);
    CHECK(e.message().find("304 cannot carry a body") != std::string::npos);
    CHECK(http1::write_response(out, 200, "OK\r\nX: 1", {}, std::string_view{}).code ==
          errc::invalid_message);
    CHECK(http1::write_response(out, 200, "OK", {{"X", "a\nb"}}, std::string_view{}).code ==
          errc::invalid_message);
    CHECK(http1::write_response(out, 1000, "OK", {}, std::string_view{}).code ==
          errc::invalid_message);
    CHECK(out.empty());
}

TEST_CASE("write_chunk and write_last_chunk stream a body with trailers") {
    std::vector<std::uint8_t> out;
    http1::write_chunk(out, bytes("abc"));
    http1::write_chunk(out, bytes(""));  // nothing: an empty chunk would end the body
    REQUIRE_FALSE(http1::write_last_chunk(out, {{"X-Sum", "1"}}));
    CHECK(str(out) == "3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n");
    CHECK(http1::write_last_chunk(out, {{"X", "\r\n"}}).code == errc::invalid_message);
}

TEST_CASE("what the writers write, the parsers read back") {
    std::vector<std::uint8_t> req;
    REQUIRE_FALSE(http1::write_request(req, "PUT", "/obj", "h.test", {{"X-A", "1"}},
                                       std::string_view("payload")));
    const auto r = parse_request(str(req));
    REQUIRE(r.status == http1::Status::complete);
    CHECK(r.head->method == "PUT");
    CHECK(r.head->target == "/obj");
    CHECK(r.head->headers ==
          Headers{{"Host", "h.test"}, {"X-A", "1"}, {"Content-Length", "7"}});
    CHECK(r.body == "payload");

    std::vector<std::uint8_t> resp;
    http1::ResponseOptions chunked;
    chunked.chunked = true;
    REQUIRE_FALSE(http1::write_response(resp, 201, "Created", {}, std::string_view("made"), chunked));
    const auto p = parse_response(str(resp));
    REQUIRE(p.status == http1::Status::complete);
    CHECK(p.head->status == 201);
    CHECK(p.body == "made");
}
