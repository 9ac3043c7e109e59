// Streams over one in-memory HTTP/2 connection: concurrency, limits, the first write, flow
// control, PING, interim responses and trailers.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test::h2;

namespace {

std::string body_for(int i) {
    std::string b = "request-" + std::to_string(i) + ":";
    for (int k = 0; k < i % 37; ++k) b += static_cast<char>('a' + (i + k) % 26);
    return b;
}

Request post(std::string path, std::string body) {
    Request r;
    r.method = "POST";
    r.authority = "example.test";
    r.path = std::move(path);
    r.body = bytes(body);
    return r;
}

// Exchange prefaces and SETTINGS so the client knows the server's limits.
void handshake(ClientSession& c, ServerSession& s, Record& r) {
    REQUIRE(pump(c, s, r));
    REQUIRE(r.settings.size() == 1);
}

struct Frame {
    std::uint32_t length = 0;
    std::uint8_t type = 0, flags = 0;
    std::int32_t stream = 0;
    Bytes payload;
};

std::vector<Frame> parse_frames(const Bytes& b, std::size_t pos) {
    std::vector<Frame> out;
    while (pos + 9 <= b.size()) {
        Frame f;
        f.length = (std::uint32_t{b[pos]} << 16) | (std::uint32_t{b[pos + 1]} << 8) | b[pos + 2];
        f.type = b[pos + 3];
        f.flags = b[pos + 4];
        f.stream = static_cast<std::int32_t>(((std::uint32_t{b[pos + 5]} & 0x7f) << 24) |
                                             (std::uint32_t{b[pos + 6]} << 16) |
                                             (std::uint32_t{b[pos + 7]} << 8) | b[pos + 8]);
        REQUIRE(pos + 9 + f.length <= b.size());
        f.payload.assign(b.begin() + static_cast<std::ptrdiff_t>(pos + 9),
                         b.begin() + static_cast<std::ptrdiff_t>(pos + 9 + f.length));
        pos += 9 + f.length;
        out.push_back(std::move(f));
    }
    CHECK(pos == b.size());
    return out;
}

}  // namespace

TEST_CASE(
    "many_concurrent_streams: 1000 requests, each response matches its request, none "
    "lost or duplicated") {
    ServerOptions so;
    so.max_concurrent_streams = 1000;
    ServerSession server(so);  // echoes each body
    ClientSession client;
    Record r;
    handshake(client, server, r);
    REQUIRE(client.remote_max_concurrent_streams() == 1000);

    std::map<std::int32_t, std::string> sent;
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(client.can_submit());
        Error err;
        const std::int32_t id =
            client.submit_request(post("/echo/" + std::to_string(i), body_for(i)), err);
        REQUIRE_MESSAGE(id > 0, err.message());
        REQUIRE(sent.emplace(id, body_for(i)).second);
    }
    CHECK(client.active_streams() == 1000);
    CHECK_FALSE(client.can_submit());

    REQUIRE(pump(client, server, r));
    CHECK(server.requests_received() == 1000);
    CHECK(server.peak_open_streams() > 100);  // they really were in flight together
    REQUIRE(r.streams.size() == 1000);
    for (const auto& entry : sent) {
        const std::int32_t id = entry.first;  // plain names: INFO's lambda captures them
        const std::string& body = entry.second;
        const StreamRecord& s = r.streams[id];
        INFO("stream ", id);
        CHECK(s.responses == 1);
        CHECK(s.closes == 1);
        CHECK(s.status == 200);
        CHECK_FALSE(s.closed.error);
        CHECK(s.body == body);
    }
    CHECK(client.active_streams() == 0);
    CHECK(client.can_submit());
    CHECK_FALSE(client.error());
}

TEST_CASE("requests_beyond_the_limit_are_queued_not_lost") {
    ServerOptions so;
    so.max_concurrent_streams = 7;
    ServerSession server(so);
    ClientSession client;
    Record r;
    handshake(client, server, r);
    std::map<std::int32_t, std::string> sent;
    for (int i = 0; i < 50; ++i) {  // far beyond 7: nghttp2 holds the rest back
        Error err;
        const std::int32_t id = client.submit_request(post("/q", body_for(i)), err);
        REQUIRE(id > 0);
        sent[id] = body_for(i);
    }
    REQUIRE(pump(client, server, r));
    CHECK(server.peak_open_streams() <= 7);
    CHECK(server.requests_received() == 50);
    for (const auto& entry : sent) {
        const std::int32_t id = entry.first;  // plain names: INFO's lambda captures them
        const std::string& body = entry.second;
        INFO("stream ", id);
        CHECK(r.streams[id].closes == 1);
        CHECK(r.streams[id].body == body);
    }
}

TEST_CASE("max_concurrent_streams_respected: server advertises 10, can_submit is false at 10") {
    ServerOptions so;
    so.max_concurrent_streams = 10;
    so.faults.stall = true;  // keep every stream open
    ServerSession server(so);
    ClientSession client;
    Record r;
    CHECK(client.remote_max_concurrent_streams() == 100);  // nghttp2's assumption before SETTINGS
    handshake(client, server, r);
    CHECK(r.settings.front().max_concurrent_streams == 10);
    CHECK(client.remote_max_concurrent_streams() == 10);

    std::vector<std::int32_t> ids;
    while (client.can_submit() && ids.size() < 100) {
        Error err;
        ids.push_back(client.submit_request(post("/slow", "x"), err));
        REQUIRE(ids.back() > 0);
    }
    CHECK(ids.size() == 10);
    CHECK(client.active_streams() == 10);
    REQUIRE(pump(client, server, r));
    CHECK(server.open_streams() == 10);
    CHECK_FALSE(client.can_submit());

    // One stream ends: room for one more.
    REQUIRE_FALSE(client.submit_rst_stream(ids.front()));
    REQUIRE(pump(client, server, r));
    CHECK(client.active_streams() == 9);
    CHECK(client.can_submit());

    // Submitting past the limit anyway is accepted, but never reaches the server early.
    for (int i = 0; i < 3; ++i) {
        Error err;
        CHECK(client.submit_request(post("/more", "y"), err) > 0);
    }
    REQUIRE(pump(client, server, r));
    CHECK(server.peak_open_streams() == 10);
    CHECK(server.open_streams() == 10);
    CHECK(client.active_streams() == 12);
}

TEST_CASE("first_write_contains_preface_settings_and_request") {
    ClientOptions co;
    co.stream_window = 1u << 20;
    co.connection_window = 16u << 20;
    ClientSession client(co);
    Error err;
    const std::int32_t id = client.submit_request(post("/first", "hello"), err);
    REQUIRE(id == 1);

    const Bytes first = client.take_output();
    constexpr std::string_view magic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    REQUIRE(first.size() > magic.size());
    CHECK(std::string_view(reinterpret_cast<const char*>(first.data()), magic.size()) == magic);

    const auto frames = parse_frames(first, magic.size());
    REQUIRE(frames.size() == 4);
    // SETTINGS: ENABLE_PUSH=0, MAX_CONCURRENT_STREAMS=0, INITIAL_WINDOW_SIZE, header list size.
    CHECK(frames[0].type == 0x4);
    CHECK(frames[0].stream == 0);
    std::map<int, std::uint32_t> settings;
    for (std::size_t i = 0; i + 6 <= frames[0].payload.size(); i += 6) {
        const auto& p = frames[0].payload;
        settings[(p[i] << 8) | p[i + 1]] = (std::uint32_t{p[i + 2]} << 24) |
                                           (std::uint32_t{p[i + 3]} << 16) |
                                           (std::uint32_t{p[i + 4]} << 8) | p[i + 5];
    }
    CHECK(settings.at(0x2) == 0);         // ENABLE_PUSH
    CHECK(settings.at(0x3) == 0);         // MAX_CONCURRENT_STREAMS (for pushes)
    CHECK(settings.at(0x4) == 1u << 20);  // INITIAL_WINDOW_SIZE
    CHECK(settings.count(0x6) == 1);      // MAX_HEADER_LIST_SIZE
    // WINDOW_UPDATE on the connection: 65535 -> 16 MiB.
    CHECK(frames[1].type == 0x8);
    CHECK(frames[1].stream == 0);
    const auto& w = frames[1].payload;
    CHECK(((std::uint32_t{w[0]} << 24) | (w[1] << 16) | (w[2] << 8) | w[3]) == (16u << 20) - 65535);
    CHECK(frames[2].type == 0x1);  // HEADERS
    CHECK(frames[2].stream == id);
    CHECK(frames[3].type == 0x0);  // DATA, ending the stream
    CHECK(frames[3].stream == id);
    CHECK((frames[3].flags & 0x1) == 0x1);
    CHECK(text(frames[3].payload) == "hello");

    CHECK(client.take_output().empty());  // nothing was left for a second write

    // That one write is a complete request for a server.
    ServerSession server;
    REQUIRE_FALSE(server.feed(first));
    CHECK(server.requests_received() == 1);
    CHECK(text(server.requests().front().body) == "hello");
}

TEST_CASE("large_body_flow_control: 5 MB both ways through small and large windows") {
    std::string big(5 * 1000 * 1000, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>('A' + (i * 7 + i / 4096) % 53);

    SUBCASE("64 KiB windows: many WINDOW_UPDATE round trips") {
        ClientOptions co;
        co.stream_window = 65535;
        co.connection_window = 65535;
        ServerOptions so;
        so.stream_window = 65535;
        so.connection_window = 65535;
        ServerSession server(so);
        ClientSession client(co);
        Record r;
        Error err;
        const std::int32_t id = client.submit_request(post("/big", big), err);
        REQUIRE(id > 0);
        REQUIRE(pump(client, server, r));
        REQUIRE(server.requests_received() == 1);
        CHECK(server.requests().front().body.size() == big.size());
        CHECK(r.streams[id].closes == 1);
        CHECK_FALSE(r.streams[id].closed.error);
        CHECK(r.streams[id].body.size() == big.size());
        CHECK(r.streams[id].body == big);
    }
    SUBCASE("default windows (1 MiB stream, 16 MiB connection)") {
        ServerSession server;
        ClientSession client;
        Record r;
        Error err;
        const std::int32_t a = client.submit_request(post("/a", big), err);
        const std::int32_t b = client.submit_request(post("/b", big.substr(1)), err);
        REQUIRE(pump(client, server, r));
        CHECK(r.streams[a].body == big);
        CHECK(r.streams[b].body == big.substr(1));
    }
}

TEST_CASE("request_body_in_place: read where it is, DATA made only while the output has room") {
    ServerOptions so;  // windows far larger than the body: only our output bound holds it back
    so.stream_window = 16u << 20;
    so.connection_window = 16u << 20;
    ServerSession server(so);
    ClientSession client;
    const std::size_t room = ClientOptions{}.max_output;
    auto body = std::make_shared<std::string>(4u << 20, 'b');
    for (std::size_t i = 0; i < body->size(); i += 4096) (*body)[i] = static_cast<char>('a' + i % 26);
    Request rq = post("/in-place", "");
    rq.shared_body = {reinterpret_cast<const std::uint8_t*>(body->data()), body->size()};
    rq.body_owner = body;
    Error err;
    const std::int32_t id = client.submit_request(std::move(rq), err);
    REQUIRE(id > 0);
    CHECK(body.use_count() == 2);  // the stream keeps the body alive, it did not copy it

    // The first flight: preface, SETTINGS, HEADERS, and DATA within the default 65,535 window.
    (void)server.feed(client.take_output());
    (void)client.feed(server.take_output());  // SETTINGS and WINDOW_UPDATE: no DATA made here
    // The caller says its queue is full: control frames only (our SETTINGS ACK).
    const Bytes control = client.take_output(room);
    CHECK(control.size() < 100);
    (void)server.feed(control);
    CHECK(client.want_write());  // the body waits
    // Room again: at most `room` of DATA, and a frame beyond.
    const Bytes some = client.take_output();
    CHECK(some.size() >= room);
    CHECK(some.size() <= room + 16384 + 9);
    (void)server.feed(some);

    Record r;
    REQUIRE(pump(client, server, r));
    REQUIRE(server.requests_received() == 1);
    CHECK(server.requests().front().body.size() == body->size());
    CHECK(text(server.requests().front().body) == *body);
    CHECK(r.streams[id].closes == 1);
    CHECK_FALSE(r.streams[id].closed.error);
    CHECK(body.use_count() == 1);  // the closed stream let go of it
}

TEST_CASE("taking_events_is_what_opens_the_window: a client that stops reading stops the server") {
    ClientOptions co;
    co.stream_window = 65535;
    co.connection_window = 65535;
    ServerSession server(ServerOptions{}, [](const ServerRequest&) {
        ServerResponse resp;
        resp.body.assign(1 << 20, 'z');
        return resp;
    });
    ClientSession client(co);
    Error err;
    const std::int32_t id = client.submit_request(post("/", ""), err);
    REQUIRE(id > 0);
    std::size_t to_client = 0;
    for (int i = 0; i < 50; ++i) {  // move bytes, but never take events
        if (Bytes up = client.take_output(); !up.empty()) (void)server.feed(up);
        Bytes down = server.take_output();
        to_client += down.size();
        if (!down.empty()) (void)client.feed(down);
    }
    CHECK(to_client < 65535 + 4096);  // one window plus frame headers, HEADERS, SETTINGS

    Record r;
    REQUIRE(pump(client, server, r));  // now take events: the rest flows
    CHECK(r.streams[id].body.size() == (1u << 20));
}

TEST_CASE("ping_acked") {
    ServerSession server;
    ClientSession client;
    Record r;
    handshake(client, server, r);
    REQUIRE_FALSE(client.submit_ping());
    REQUIRE_FALSE(client.submit_ping());
    REQUIRE(pump(client, server, r));
    REQUIRE(r.pings.size() == 2);
    CHECK(r.pings[0].opaque != r.pings[1].opaque);
    CHECK(r.pings[0].rtt >= std::chrono::steady_clock::duration::zero());
    CHECK(server.pings_received() == 2);
}

TEST_CASE("interim_responses_skipped_and_trailers_delivered") {
    ServerSession server(ServerOptions{}, [](const ServerRequest& req) {
        ServerResponse resp;
        resp.interim = {103, 100};
        resp.headers = {{"content-type", "text/plain"}};
        resp.body = req.body;
        resp.trailers = {{"x-checksum", "42"}};
        return resp;
    });
    ClientSession client;
    Record r;
    Error err;
    const std::int32_t id = client.submit_request(post("/t", "payload"), err);
    REQUIRE(pump(client, server, r));
    const StreamRecord& s = r.streams[id];
    CHECK(s.responses == 1);
    CHECK(s.status == 200);
    REQUIRE(find_header(s.headers, "content-type"));
    CHECK(*find_header(s.headers, "content-type") == "text/plain");
    CHECK(s.body == "payload");
    REQUIRE(find_header(s.trailers, "x-checksum"));
    CHECK(*find_header(s.trailers, "x-checksum") == "42");
    CHECK(s.closes == 1);
    CHECK_FALSE(s.closed.error);
}
