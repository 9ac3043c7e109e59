// response_errors: every way a response can be wrong ends in one sticky error of category
// "http1" whose detail names what was wrong.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;
using http1::errc;
using http1::Status;

namespace {

// Parses `wire` (whole, then byte by byte): both must fail with `code`, and the message must
// contain `needle`.
void expect_error(std::string_view wire, errc code, std::string_view needle,
                  std::string_view method = "GET", bool eof = false,
                  http1::ParseOptions opts = {}) {
    for (std::size_t step : {std::string_view::npos, std::size_t{1}}) {
        INFO("wire: ", std::string(wire), " step: ", step);
        const auto r = parse_response(wire, method, eof, step, opts);
        CHECK(r.status == Status::failed);
        CHECK(r.error.code == make_error_code(code));
        CHECK(std::string(r.error.code.category().name()) == "http1");
        const std::string msg = r.error.message();
        INFO("message: ", msg);
        CHECK(msg.find(needle) != std::string::npos);
    }
}

}  // namespace

TEST_CASE("malformed status lines are named") {
    expect_error("HTTX/1.1 200 OK\r\n\r\n", errc::malformed_status_line, "does not start with \"HTTP/\"");
    expect_error("HTTP/1.x 200 OK\r\n\r\n", errc::malformed_status_line, "malformed HTTP version");
    expect_error("HTTP/1.1 20 OK\r\n\r\n", errc::malformed_status_line, "not three digits");
    expect_error("HTTP/1.1 099 Weird\r\n\r\n", errc::malformed_status_line, "099 outside 100..599");
    expect_error("HTTP/1.1 600 Weird\r\n\r\n", errc::malformed_status_line, "600 outside 100..599");
    expect_error("HTTP/1.1 2000 OK\r\n\r\n", errc::malformed_status_line, "instead of a space");
    expect_error("HTTP/1.11 200 OK\r\n\r\n", errc::malformed_status_line, "space after the HTTP version");
    expect_error(std::string_view("HTTP/1.1 200 O\0K\r\n\r\n", 20), errc::malformed_status_line,
                 "\\x00");
    expect_error("\r\nHTTP/1.1 200 OK\r\n\r\n", errc::malformed_status_line, "empty line");
}

TEST_CASE("a bare CR in the status line is not a line end") {
    expect_error("HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", errc::malformed_status_line, "\\r");
}

TEST_CASE("versions other than HTTP/1.x are unsupported") {
    expect_error("HTTP/2.0 200 OK\r\n\r\n", errc::version_unsupported, "HTTP/2.0");
    expect_error("HTTP/0.9 200 OK\r\n\r\n", errc::version_unsupported, "HTTP/0.9");
}

TEST_CASE("malformed header fields are named") {
    const std::string sl = "HTTP/1.1 200 OK\r\n";
    expect_error(sl + "Content-Length : 5\r\n\r\nhello", errc::malformed_header,
                 "whitespace between header field name and ':'");
    expect_error(sl + "X-A: 1\r\n  continued\r\nContent-Length: 0\r\n\r\n", errc::malformed_header,
                 "obs-fold");
    expect_error(sl + " X-A: 1\r\nContent-Length: 0\r\n\r\n", errc::malformed_header,
                 "whitespace-preceded line after the start line");
    expect_error(sl + "NoColonHere\r\n\r\n", errc::malformed_header, "without ':'");
    expect_error(sl + ": empty\r\n\r\n", errc::malformed_header, "empty name");
    expect_error(sl + "Bad\"Name: x\r\n\r\n", errc::malformed_header, "is not a token");
    expect_error(sl + std::string("X-Nul: a\0b\r\n\r\n", 13), errc::malformed_header,
                 "\\x00\" in the value of header field \"X-Nul\"");
    expect_error(sl + "X-CR: a\rb\r\n\r\n", errc::malformed_header, "\\r");
}

TEST_CASE("bare LF is an error when the options ask for CRLF") {
    http1::ParseOptions strict;
    strict.accept_bare_lf = false;
    expect_error("HTTP/1.1 200 OK\n\n", errc::malformed_status_line, "bare LF", "GET", false, strict);
    expect_error("HTTP/1.1 200 OK\r\nA: b\n\r\n", errc::malformed_header, "bare LF", "GET", false,
                 strict);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n",
                 errc::bad_chunk, "bare LF", "GET", false, strict);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\n0\r\n\r\n",
                 errc::bad_chunk, "not followed by CRLF", "GET", false, strict);
}

TEST_CASE("invalid or conflicting Content-Length is rejected") {
    const std::string sl = "HTTP/1.1 200 OK\r\n";
    expect_error(sl + "Content-Length: -1\r\n\r\n", errc::bad_content_length, "\"-1\"");
    expect_error(sl + "Content-Length: +5\r\n\r\n", errc::bad_content_length, "\"+5\"");
    expect_error(sl + "Content-Length: 0x10\r\n\r\n", errc::bad_content_length, "\"0x10\"");
    expect_error(sl + "Content-Length: 18446744073709551616\r\n\r\n", errc::bad_content_length,
                 "below 2^64");
    expect_error(sl + "Content-Length: \r\n\r\n", errc::bad_content_length, "empty Content-Length");
    expect_error(sl + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", errc::bad_content_length,
                 "conflicting Content-Length values \"5\" and \"6\"");
    expect_error(sl + "Content-Length: 5, 6\r\n\r\nhello!", errc::bad_content_length,
                 "conflicting");
}

TEST_CASE("Content-Length together with Transfer-Encoding is rejected as smuggling") {
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n0\r\n\r\n",
                 errc::request_smuggling,
                 "response has both Content-Length \"3\" and Transfer-Encoding \"chunked\"");
}

TEST_CASE("transfer codings other than chunked alone are unsupported") {
    const std::string sl = "HTTP/1.1 200 OK\r\n";
    expect_error(sl + "Transfer-Encoding: gzip\r\n\r\n", errc::transfer_encoding_unsupported, "\"gzip\"");
    expect_error(sl + "Transfer-Encoding: gzip, chunked\r\n\r\n", errc::transfer_encoding_unsupported,
                 "\"gzip, chunked\"");
    expect_error(sl + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                 errc::transfer_encoding_unsupported, "\"chunked, chunked\"");
    expect_error(sl + "Transfer-Encoding: chunked, identity\r\n\r\n",
                 errc::transfer_encoding_unsupported, "only \"chunked\" alone");
    expect_error("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                 errc::transfer_encoding_unsupported, "HTTP/1.0");
}

TEST_CASE("bad chunks are named") {
    const std::string te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    expect_error(te + "zz\r\n", errc::bad_chunk, "\"zz\" is not hexadecimal");
    expect_error(te + "\r\n", errc::bad_chunk, "is not hexadecimal");
    expect_error(te + "-1\r\n", errc::bad_chunk, "is not hexadecimal");
    expect_error(te + "10000000000000000\r\n", errc::bad_chunk, "overflows 64 bits");
    expect_error(te + "5x\r\nhello\r\n", errc::bad_chunk, "\"x\" after the chunk size");
    expect_error(te + "3\r\nhello\r\n0\r\n\r\n", errc::bad_chunk, "does not match its data");
    expect_error(te + "5\r\nhello\rX", errc::bad_chunk, "CR and \"X\"");
    expect_error(te + std::string("5;a\0\r\nhello\r\n0\r\n\r\n", 16), errc::bad_chunk,
                 "in chunk extension");
    expect_error(te + "0\r\nBad Trailer: x\r\n\r\n", errc::malformed_header, "trailer field");
}

TEST_CASE("EOF before the message is complete is unexpected_eof, never the end of the body") {
    expect_error("", errc::unexpected_eof, "before any byte of the response", "GET", true);
    expect_error("HTTP/1.1 200 OK\r\nContent-", errc::unexpected_eof, "middle of the response head",
                 "GET", true);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", errc::unexpected_eof,
                 "after 5 of 10 Content-Length body bytes", "GET", true);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                 errc::unexpected_eof, "before the last chunk", "GET", true);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n",
                 errc::unexpected_eof, "trailers", "GET", true);
    expect_error("HTTP/1.1 100 Continue\r\n\r\n", errc::unexpected_eof,
                 "after a 1xx interim response, before the final response", "GET", true);
}

TEST_CASE("started() tells an idle close apart from a truncated response") {
    http1::ResponseParser idle("GET");
    CHECK(idle.feed_eof() == Status::failed);
    CHECK_FALSE(idle.started());
    http1::ResponseParser cut("GET");
    cut.feed("HTTP/1.1 2");
    CHECK(cut.feed_eof() == Status::failed);
    CHECK(cut.started());
    CHECK(cut.error().code == errc::unexpected_eof);
}

TEST_CASE("errors are sticky and misuse is invalid_state") {
    http1::ResponseParser p("GET");
    REQUIRE(p.feed("BOGUS\r\n") == Status::failed);
    const auto first = p.error().message();
    CHECK(p.feed("HTTP/1.1 200 OK\r\n\r\n") == Status::failed);
    CHECK(p.feed_eof() == Status::failed);
    CHECK(p.start_next("GET") == Status::failed);
    CHECK(p.error().message() == first);

    http1::ResponseParser early("GET");
    early.feed("HTTP/1.1 200 OK\r\n");
    CHECK(early.start_next("GET") == Status::failed);
    CHECK(early.error().code == errc::invalid_state);
    CHECK(early.error().message().find("before the current message is complete") != std::string::npos);

    http1::ResponseParser closing("GET");
    REQUIRE(closing.feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n") ==
            Status::complete);
    CHECK(closing.start_next("GET") == Status::failed);
    CHECK(closing.error().code == errc::invalid_state);

    http1::ResponseParser fed("GET");
    fed.feed("HTTP/1.1 200 OK\r\n");
    fed.feed_eof();
    CHECK(fed.feed("more") == Status::failed);

    http1::ResponseParser eof_then_feed("GET");
    REQUIRE(eof_then_feed.feed("HTTP/1.1 200 OK\r\n\r\n") == Status::want_input);  // until close
    REQUIRE(eof_then_feed.feed_eof() == Status::complete);
    CHECK(eof_then_feed.feed("x") == Status::failed);
    CHECK(eof_then_feed.error().code == errc::invalid_state);
    CHECK(eof_then_feed.error().message().find("after feed_eof") != std::string::npos);
}

TEST_CASE("the http1 category names every code") {
    for (int v = static_cast<int>(errc::malformed_status_line);
         v <= static_cast<int>(errc::invalid_state); ++v) {
        const std::error_code ec = make_error_code(static_cast<errc>(v));
        CHECK(std::string(ec.category().name()) == "http1");
        CHECK(ec.message().find("unknown") == std::string::npos);
    }
    CHECK(make_error_code(static_cast<errc>(999)).message() == "unknown http1 error 999");
    const std::error_code ec = errc::bad_chunk;  // is_error_code_enum
    CHECK(ec == make_error_code(errc::bad_chunk));
}
