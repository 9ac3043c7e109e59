// limits: header bytes, header count, body size and chunk-line length are bounded, by default
// and as configured, for responses, trailers and requests.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;
using http1::errc;
using http1::Status;

namespace {
std::string many_headers(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += "X-H" + std::to_string(i) + ": v\r\n";
    return s;
}
}  // namespace

TEST_CASE("defaults: 64 KiB of header, 100 header fields, unlimited body") {
    const http1::ParseOptions d;
    CHECK(d.max_header_bytes == 64 * 1024);
    CHECK(d.max_headers == 100);
    CHECK(d.max_body == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("100 header fields pass, 101 are too many") {
    const auto ok = parse_response("HTTP/1.1 200 OK\r\n" + many_headers(99) +
                                   "Content-Length: 0\r\n\r\n");
    CHECK(ok.status == Status::complete);
    const auto bad = parse_response("HTTP/1.1 200 OK\r\n" + many_headers(100) +
                                    "Content-Length: 0\r\n\r\n");
    CHECK(bad.status == Status::failed);
    CHECK(bad.error.code == errc::too_many_headers);
    CHECK(bad.error.message().find("more than 100 header fields") != std::string::npos);
}

TEST_CASE("a header section over max_header_bytes fails, even before its line ends") {
    const std::string big(70 * 1024, 'a');
    const auto r = parse_response("HTTP/1.1 200 OK\r\nX-Big: " + big + "\r\n\r\n");
    CHECK(r.status == Status::failed);
    CHECK(r.error.code == errc::header_too_large);
    CHECK(r.error.message().find("header section longer than 65536 bytes") != std::string::npos);

    // Without any line end the parser must not buffer without bound.
    http1::ResponseParser p("GET");
    p.feed(std::string("HTTP/1.1 200 "));
    std::size_t fed = 0;
    while (p.status() == Status::want_input && fed < 1024 * 1024) {
        p.feed(std::string(1000, 'x'));
        fed += 1000;
    }
    CHECK(p.status() == Status::failed);
    CHECK(p.error().code == errc::header_too_large);
    CHECK(fed <= 66 * 1024);

    // Bytes that can never become "HTTP/" fail at once, without waiting for a line end that a
    // server speaking another protocol (h2's binary SETTINGS) may never send.
    http1::ResponseParser q("GET");
    const std::uint8_t settings[] = {0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00};
    CHECK(q.feed(std::span<const std::uint8_t>(settings)) == Status::failed);
    CHECK(q.error().code == errc::malformed_status_line);
}

TEST_CASE("the header byte limit counts exactly, line ends included") {
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";  // 38 bytes
    http1::ParseOptions o;
    o.max_header_bytes = head.size();
    CHECK(parse_response(head, "GET", false, std::string_view::npos, o).status == Status::complete);
    o.max_header_bytes = head.size() - 1;
    CHECK(parse_response(head, "GET", false, std::string_view::npos, o).error.code ==
          errc::header_too_large);
}

TEST_CASE("interim responses each get a fresh header budget") {
    http1::ParseOptions o;
    o.max_headers = 2;
    const auto r = parse_response(
        "HTTP/1.1 103 Early Hints\r\nLink: a\r\nLink: b\r\n\r\n"
        "HTTP/1.1 200 OK\r\nX: 1\r\nContent-Length: 0\r\n\r\n",
        "GET", false, std::string_view::npos, o);
    CHECK(r.status == Status::complete);
}

TEST_CASE("trailers have their own count and byte limits") {
    http1::ParseOptions o;
    o.max_headers = 2;
    const std::string te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    const auto r = parse_response(te + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", "GET", false,
                                  std::string_view::npos, o);
    CHECK(r.error.code == errc::too_many_headers);
    CHECK(r.error.message().find("trailer fields") != std::string::npos);
    o.max_headers = 100;
    o.max_header_bytes = 64;
    const auto big = parse_response(te + "A: " + std::string(80, 'x') + "\r\n\r\n", "GET", false,
                                    std::string_view::npos, o);
    CHECK(big.error.code == errc::header_too_large);
    CHECK(big.error.message().find("trailer section") != std::string::npos);
}

TEST_CASE("max_body: Content-Length over the limit fails at the head, before any body byte") {
    http1::ParseOptions o;
    o.max_body = 10;
    http1::ResponseParser p("GET", o);
    CHECK(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n") == Status::failed);
    CHECK(p.error().code == errc::body_too_large);
    CHECK(p.error().message().find("Content-Length 11 exceeds the body limit of 10") !=
          std::string::npos);
    CHECK(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", "GET", false,
                         std::string_view::npos, o)
              .status == Status::complete);
}

TEST_CASE("max_body: chunked bodies are counted across chunks") {
    http1::ParseOptions o;
    o.max_body = 10;
    const std::string te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(parse_response(te + "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", "GET", false,
                         std::string_view::npos, o)
              .status == Status::complete);
    const auto r = parse_response(te + "5\r\n01234\r\n6\r\n", "GET", false, std::string_view::npos, o);
    CHECK(r.error.code == errc::body_too_large);
    CHECK(r.error.message().find("a chunk of 6 bytes after 5 body bytes") != std::string::npos);
    // A huge chunk size fails at once instead of waiting for the bytes.
    CHECK(parse_response(te + "ffffffffffffffff\r\n", "GET", false, std::string_view::npos, o)
              .error.code == errc::body_too_large);
}

TEST_CASE("max_body: close-delimited bodies are counted as they arrive") {
    http1::ParseOptions o;
    o.max_body = 4;
    http1::ResponseParser p("GET", o);
    CHECK(p.feed("HTTP/1.1 200 OK\r\n\r\nabcd") == Status::want_input);
    CHECK(p.feed("e") == Status::failed);
    CHECK(p.error().code == errc::body_too_large);
}

TEST_CASE("a chunk-size line (with extensions) is bounded") {
    http1::ParseOptions o;
    o.max_chunk_line_bytes = 32;
    const std::string te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const auto r = parse_response(te + "1;" + std::string(40, 'e'), "GET", false,
                                  std::string_view::npos, o);
    CHECK(r.error.code == errc::bad_chunk);
    CHECK(r.error.message().find("chunk-size line longer than 32 bytes") != std::string::npos);
}

TEST_CASE("request parser limits") {
    http1::ParseOptions o;
    o.max_body = 3;
    const auto r = parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd", false, o);
    CHECK(r.error.code == errc::body_too_large);
    const auto many = parse_request("GET / HTTP/1.1\r\nHost: h\r\n" + many_headers(100) + "\r\n");
    CHECK(many.error.code == errc::too_many_headers);
    // Empty lines before the request line count against the header budget.
    o.max_header_bytes = 100;
    std::string blank;
    for (int i = 0; i < 60; ++i) blank += "\r\n";
    CHECK(parse_request(blank, false, o).error.code == errc::header_too_large);
}
