// What crosses the wire: server preface detection, HTTP/1.x answers, garbage and bad frames,
// request header rules, the error category.
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

}  // namespace

TEST_CASE("classify_server_preface: h2, HTTP/1.x text, garbage, need more") {
    using P = ServerPreface;
    struct Row {
        Bytes in;
        P want;
    };
    const Row rows[] = {
        {{}, P::need_more},
        {bytes("HTTP/1.1 400 Bad Request\r\n"), P::http1},
        {bytes("HTTP/1.0 200 OK\r\n"), P::http1},
        {bytes("HTTP/1."), P::http1},
        {bytes("HTTP/"), P::need_more},
        {bytes("H"), P::need_more},
        {bytes("HTTP/2 200"), P::garbage},
        {bytes("SSH-2.0-OpenSSH_9.2\r\n"), P::garbage},
        {{0, 0, 0, 4, 0, 0, 0, 0, 0}, P::h2},                       // empty SETTINGS
        {{0, 0, 18, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100}, P::h2},  // SETTINGS + payload
        {{0, 0, 6, 4}, P::need_more},
        {{0, 0}, P::need_more},
        {{0, 0, 0, 4, 1, 0, 0, 0, 0}, P::garbage},                 // SETTINGS ACK first
        {{0, 0, 8, 6, 0, 0, 0, 0, 0}, P::garbage},                 // PING first
        {{0, 0, 7, 4, 0, 0, 0, 0, 0}, P::garbage},                 // length not a multiple of 6
        {{0, 0, 6, 4, 0, 0, 0, 0, 1}, P::garbage},                 // stream 1
        {{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28}, P::garbage},  // a TLS alert record
    };
    for (const Row& row : rows) {
        INFO("input: ", text(row.in));
        CHECK(classify_server_preface(row.in) == row.want);
    }
    CHECK(looks_like_http2_server_preface(Bytes{0, 0, 0, 4, 0, 0, 0, 0, 0}));
    CHECK_FALSE(looks_like_http2_server_preface(bytes("HTTP/1.1 200 OK")));
}

TEST_CASE("http1_answer_detected: HTTP/1.x text after our preface gives not_h2") {
    SUBCASE("from a server that speaks only HTTP/1.1") {
        ServerOptions so;
        so.faults.answer_http1 = true;
        ServerSession server(so);
        ClientSession client;
        Record r;
        Error err;
        const std::int32_t id = client.submit_request(get("/"), err);
        CHECK(pump(client, server, r, 50));
        CHECK(client.error().code == http2::errc::not_h2);
        CHECK(client.error().detail.find("HTTP/1.1 400 Bad Request") != std::string::npos);
        CHECK(client.server_preface() == ServerPreface::http1);
        CHECK(r.streams[id].closed.error.code == http2::errc::not_h2);
        CHECK(client.finished());
    }
    SUBCASE("one byte at a time") {
        ClientSession client;
        Error err;
        client.submit_request(get("/"), err);
        (void)client.take_output();
        const Bytes answer = bytes("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        for (std::size_t i = 0; i < 6; ++i) {
            CHECK_FALSE(client.feed(std::span(answer).subspan(i, 1)));
            CHECK(client.server_preface() == ServerPreface::need_more);
        }
        CHECK(client.feed(std::span(answer).subspan(6, 1)).code == http2::errc::not_h2);
        CHECK(client.feed(std::span(answer).subspan(7)).code == http2::errc::not_h2);  // sticky
    }
}

TEST_CASE("garbage_is_fatal_and_sticky") {
    ClientSession client;
    Error err;
    const std::int32_t a = client.submit_request(get("/a"), err);
    const std::int32_t b = client.submit_request(get("/b"), err);
    (void)client.take_output();

    const Error first = client.feed(bytes("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"));
    CHECK(first.code == http2::errc::protocol_error);
    CHECK(first.origin == "nghttp2");
    CHECK_FALSE(first.detail.empty());
    CHECK(first.library_code != 0);
    MESSAGE("garbage: ", first.message());
    CHECK(client.server_preface() == ServerPreface::garbage);

    // Every open stream was closed with it, exactly once.
    Record r;
    r.take(client);
    CHECK(r.streams[a].closes == 1);
    CHECK(r.streams[a].closed.error.code == http2::errc::protocol_error);
    CHECK(r.streams[b].closes == 1);
    // Sticky: the same error for everything afterwards.
    CHECK(client.feed(Bytes{0, 0, 0, 4, 0, 0, 0, 0, 0}).code == first.code);
    CHECK(client.submit_request(get("/c"), err) == 0);
    CHECK(err.code == first.code);
    CHECK(client.submit_ping().code == first.code);
    CHECK(client.error().code == first.code);
    CHECK_FALSE(client.can_submit());
    // Our GOAWAY(PROTOCOL_ERROR) may still go out, then nothing.
    const Bytes goaway = client.take_output();
    if (!goaway.empty()) CHECK(goaway[3] == 0x7);
    CHECK(client.take_output().empty());
    CHECK(client.finished());
    r.take(client);
    CHECK(r.streams[a].closes == 1);
}

TEST_CASE("bad_frames_are_connection_errors") {
    struct Row {
        BadFrame frame;
        http2::errc want;
    };
    const Row rows[] = {
        {BadFrame::data_on_stream_zero, http2::errc::protocol_error},
        {BadFrame::bad_ping_length, http2::errc::frame_size},
        {BadFrame::garbage, http2::errc::frame_size},
    };
    for (const Row& row : rows) {
        INFO("bad frame ", static_cast<int>(row.frame));
        ServerOptions so;
        so.faults.bad_frame = row.frame;
        so.faults.bad_frame_after_requests = 1;  // after answering the first request
        ServerSession server(so);
        ClientSession client;
        Record r;
        Error err;
        const std::int32_t ok = client.submit_request(get("/ok"), err);
        REQUIRE(pump(client, server, r));
        CHECK(r.streams[ok].status == 200);
        CHECK_FALSE(r.streams[ok].closed.error);
        CHECK(client.error().code == row.want);
        MESSAGE(client.error().message());
        CHECK(client.submit_request(get("/late"), err) == 0);
        CHECK(err.code == row.want);
        CHECK(client.finished());
        // The server saw our GOAWAY with the error and gave up too.
        CHECK(server.finished());
    }
}

TEST_CASE("connection_specific_headers_dropped") {
    ServerSession server;
    ClientSession client;
    Record r;
    Request req;
    req.method = "POST";
    req.path = "/h";
    req.body = bytes("body");
    req.headers = {
        {"Host", "example.org:8443"},  // becomes :authority
        {"Connection", "keep-alive, X-Hop"},
        {"Keep-Alive", "timeout=5"},
        {"Proxy-Connection", "keep-alive"},
        {"Transfer-Encoding", "chunked"},
        {"Upgrade", "h2c"},
        {"X-Hop", "nominated by Connection"},
        {"TE", "trailers"},
        {"Content-Length", "999"},  // ours wins
        {"X-Mixed-Case", "  trimmed\t"},
        {"Authorization", "Bearer secret"},
    };
    Error err;
    const std::int32_t id = client.submit_request(req, err);
    REQUIRE_MESSAGE(id > 0, err.message());
    REQUIRE(pump(client, server, r));
    CHECK(r.streams[id].status == 200);
    REQUIRE(server.requests().size() == 1);
    const ServerRequest& got = server.requests().front();
    CHECK(got.authority == "example.org:8443");
    CHECK(got.method == "POST");
    CHECK(got.scheme == "https");
    const Headers want = {
        {"te", "trailers"},
        {"x-mixed-case", "trimmed"},
        {"authorization", "Bearer secret"},
        {"content-length", "4"},
    };
    CHECK(got.headers == want);

    SUBCASE("TE other than trailers is dropped") {
        Request r2 = get("/te");
        r2.headers = {{"TE", "gzip"}};
        const std::int32_t id2 = client.submit_request(r2, err);
        REQUIRE(pump(client, server, r));
        CHECK(r.streams[id2].status == 200);
        CHECK(server.requests().back().headers.empty());
    }
}

TEST_CASE("invalid_request_headers_rejected_before_sending") {
    ClientSession client;
    Error err;
    auto with = [](Headers h) {
        Request r = get("/");
        r.headers = std::move(h);
        return r;
    };
    CHECK(client.submit_request(with({{"Bad Name", "v"}}), err) == 0);
    CHECK(err.code == http2::errc::header_invalid);
    CHECK(client.submit_request(with({{"x-ok", "line\r\nbreak"}}), err) == 0);
    CHECK(err.code == http2::errc::header_invalid);
    CHECK(client.submit_request(with({{":path", "/other"}}), err) == 0);
    CHECK(err.code == http2::errc::header_invalid);
    Request no_authority = get("/");
    no_authority.authority.clear();
    CHECK(client.submit_request(no_authority, err) == 0);
    CHECK(err.code == http2::errc::header_invalid);
    Request bad_method = get("/");
    bad_method.method = "GE T";
    CHECK(client.submit_request(bad_method, err) == 0);
    CHECK(err.code == http2::errc::header_invalid);
    // None of that harmed the session.
    CHECK_FALSE(client.error());
    CHECK(client.submit_request(get("/fine"), err) == 1);
}

TEST_CASE("oversized_response_headers_reset_only_that_stream") {
    ClientOptions co;
    co.max_header_list_size = 1024;
    ServerSession server(ServerOptions{}, [](const ServerRequest& req) {
        ServerResponse resp;
        if (req.path == "/big") resp.headers = {{"x-big", std::string(4000, 'b')}};
        return resp;
    });
    ClientSession client(co);
    Record r;
    Error err;
    const std::int32_t big = client.submit_request(get("/big"), err);
    const std::int32_t small = client.submit_request(get("/small"), err);
    REQUIRE(pump(client, server, r));
    CHECK(r.streams[big].closed.error.code == http2::errc::header_invalid);
    CHECK(r.streams[big].responses == 0);
    CHECK(r.streams[small].status == 200);
    CHECK_FALSE(client.error());
}

TEST_CASE("malformed_response_fields_reset_only_that_stream") {
    ServerSession server(ServerOptions{}, [](const ServerRequest& req) {
        ServerResponse resp;
        if (req.path == "/conn") resp.headers = {{"connection", "close"}};  // RFC 9113 8.2.2
        if (req.path == "/badname") resp.headers = {{"bad name", "x"}};     // not a token
        return resp;
    });
    ClientSession client;
    Record r;
    Error err;
    const std::int32_t conn = client.submit_request(get("/conn"), err);
    const std::int32_t bad = client.submit_request(get("/badname"), err);
    const std::int32_t fine = client.submit_request(get("/fine"), err);
    REQUIRE(pump(client, server, r));
    for (std::int32_t id : {conn, bad}) {
        INFO("stream ", id);
        CHECK(r.streams[id].closed.error.code == http2::errc::header_invalid);
        CHECK(r.streams[id].closed.error.library_code != 0);
        CHECK(r.streams[id].responses == 0);
        CHECK_FALSE(r.streams[id].closed.retryable);
    }
    MESSAGE(r.streams[conn].closed.error.message());
    CHECK(r.streams[fine].status == 200);
    CHECK_FALSE(r.streams[fine].closed.error);
    CHECK_FALSE(client.error());
    CHECK(client.can_submit());
}

TEST_CASE("server_closing_before_any_answer") {
    ServerOptions so;
    so.faults.silent = true;
    ServerSession server(so);
    ClientSession client;
    Record r;
    Error err;
    const std::int32_t id = client.submit_request(get("/"), err);
    REQUIRE(pump(client, server, r));
    CHECK(client.server_preface() == ServerPreface::need_more);
    client.feed_eof();
    r.take(client);
    CHECK(r.streams[id].closed.error.code == http2::errc::closed);
    CHECK(client.finished());
}

TEST_CASE("error_category") {
    const std::error_code ec = http2::errc::refused_stream;
    CHECK(std::string(ec.category().name()) == "http2");
    CHECK(ec.message().find("refused") != std::string::npos);
    CHECK(&ec.category() == &http2::category());
    CHECK(h2_error_name(h2_error::enhance_your_calm) == "ENHANCE_YOUR_CALM");
    CHECK(h2_error_name(0xff) == "unknown");
    const Error e = error_from_library(-505);  // NGHTTP2_ERR_PROTO
    CHECK(e.code == http2::errc::protocol_error);
    CHECK(e.library_code == -505);
    CHECK(e.message().find("http2: ") == 0);
    for (int v = 1; v <= static_cast<int>(http2::errc::internal); ++v)
        CHECK(http2::category().message(v).find("unknown") == std::string::npos);
}

// Found by the h2_client fuzz target's invariants: nghttp2 checks only that :status is three
// digits, so "000", "099", "600" and "999" were delivered as final responses.
TEST_CASE("response_status_outside_100_599_resets_only_that_stream") {
    auto frame = [](std::uint8_t type, std::uint8_t flags, std::uint8_t stream, Bytes payload) {
        Bytes f = {0, 0, static_cast<std::uint8_t>(payload.size()), type, flags, 0, 0, 0, stream};
        f.insert(f.end(), payload.begin(), payload.end());
        return f;
    };
    // HPACK: :status (static index 8) as a literal without indexing, three bytes of value.
    auto status = [](std::string_view v) {
        Bytes b = {0x08, 0x03};
        b.insert(b.end(), v.begin(), v.end());
        return b;
    };
    ClientSession client;
    Error err;
    std::vector<std::int32_t> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(client.submit_request(get("/"), err));
    REQUIRE(ids.back() == 9);
    (void)client.take_output();
    Bytes server = frame(4, 0, 0, {});  // SETTINGS
    const std::string_view statuses[] = {"000", "099", "600", "999", "200"};
    for (std::size_t i = 0; i < 5; ++i) {
        const Bytes f = frame(1, 0x5, static_cast<std::uint8_t>(ids[i]), status(statuses[i]));
        server.insert(server.end(), f.begin(), f.end());  // HEADERS, END_STREAM | END_HEADERS
    }
    CHECK_FALSE(client.feed(server));
    Record r;
    r.take(client);
    for (std::size_t i = 0; i < 4; ++i) {
        INFO(":status ", statuses[i]);
        const StreamRecord& s = r.streams[ids[i]];
        CHECK(s.closes == 1);
        CHECK(s.responses == 0);
        CHECK(s.closed.error.code == http2::errc::header_invalid);
        CHECK(s.closed.error.detail.find("outside 100..599") != std::string::npos);
        CHECK_FALSE(s.closed.retryable);
    }
    CHECK(r.streams[9].status == 200);
    CHECK_FALSE(r.streams[9].closed.error);
    CHECK_FALSE(client.error());
}
