// The seed maker: captures what our own in-memory servers really send, as seeds for the
// h2_client and tls_client_<backend> fuzz targets, into $CONNMATRIX_FUZZ_SEEDS_DIR (laid out as
// tests/fuzz/ is):
//   corpus/h2_client/<scenario>            the test-support h2 server (tests/harness/h2_server.hpp)
//                                          in one of its modes, answering the target's requests
//   corpus/tls_client_<client>/<server>-…  a server session of each backend answering a client
//                                          session of the target's backend (tests/harness/pair.hpp)
//   tls_client_ca.pem                      the CA the captured server certificates chain to
// Each seed starts with the target's two control bytes. Every capture is checked to be what its
// name says (the client saw the outcome the scenario is about), so this runs as a test in the
// fuzz suite, writing into the build directory; README.md says how to refresh the corpus.
#include "checks.hpp"
#include "h2_client_setup.hpp"
#include "h2_server.hpp"
#include "pair.hpp"
#include "tls_client_setup.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

using namespace connmatrix;
namespace fs = std::filesystem;
namespace fz = connmatrix::test::fuzz;

namespace {

fs::path out_dir() {
    const char* d = std::getenv("CONNMATRIX_FUZZ_SEEDS_DIR");
    REQUIRE_MESSAGE(d != nullptr, "set CONNMATRIX_FUZZ_SEEDS_DIR to the directory to write into");
    return d;
}

void write_seed(const std::string& target, const std::string& name, std::uint8_t flags,
                std::uint8_t step, const std::vector<std::uint8_t>& bytes) {
    const fs::path dir = out_dir() / "corpus" / target;
    fs::create_directories(dir);
    std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
    f.put(static_cast<char>(flags));
    f.put(static_cast<char>(step));
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(f.good());
}

// --- h2_client ------------------------------------------------------------------------------

struct H2Capture {
    std::vector<std::uint8_t> to_client;
    std::map<std::int32_t, http2::StreamClosed> closed;
    std::map<std::int32_t, int> status;
    bool goaway = false;
    Error error;
};

http2::ServerResponse answer(const http2::ServerRequest& r) {
    http2::ServerResponse resp;
    resp.headers = {{"content-type", "text/plain"}, {"server", "connmatrix-test"}};
    if (r.path == "/upload") {
        resp.status = 201;
        resp.body = {'g', 'o', 't', ' '};
        const std::string n = std::to_string(r.body.size());
        resp.body.insert(resp.body.end(), n.begin(), n.end());
    } else if (r.method == "HEAD") {
        resp.headers.push_back({"content-length", "5"});
    } else {
        resp.body = {'h', 'e', 'l', 'l', 'o'};
    }
    return resp;
}

// Runs the target's conversation against `server` (bounded) and records what it sent back.
H2Capture converse(http2::ServerSession& server) {
    H2Capture cap;
    http2::ClientSession client(fz::h2_client_options());
    for (auto& r : fz::h2_client_requests()) {
        Error err;
        REQUIRE(client.submit_request(std::move(r), err) > 0);
    }
    for (int round = 0; round < 1000; ++round) {
        const auto up = client.take_output();
        if (!up.empty()) (void)server.feed(up);
        const auto down = server.take_output();
        if (!down.empty()) {
            cap.to_client.insert(cap.to_client.end(), down.begin(), down.end());
            (void)client.feed(down);
        }
        for (auto& ev : client.take_events()) {
            if (auto* c = std::get_if<http2::StreamClosed>(&ev)) cap.closed[c->stream_id] = *c;
            if (auto* h = std::get_if<http2::ResponseHeaders>(&ev)) cap.status[h->stream_id] = h->status;
            if (std::holds_alternative<http2::GoawayReceived>(ev)) cap.goaway = true;
        }
        if (up.empty() && down.empty() && !client.has_events()) break;
    }
    cap.error = client.error();
    return cap;
}

void h2_seed(const std::string& name, const H2Capture& cap) {
    REQUIRE_FALSE(cap.to_client.empty());
    write_seed("h2_client", name, 0, 0, cap.to_client);
}

}  // namespace

TEST_CASE("h2_client seeds: a server answering every request") {
    http2::ServerSession server({}, answer);
    const H2Capture cap = converse(server);
    REQUIRE(cap.closed.size() == 3);
    for (const auto& entry : cap.closed) {
        INFO("stream ", entry.first);
        CHECK_FALSE(entry.second.error);
    }
    CHECK(cap.status.at(3) == 201);
    h2_seed("ok", cap);
    // The same bytes with every control flag, and fed in small pieces.
    using namespace fz::h2_flags;
    write_seed("h2_client", "ok-preface-late-request", preface | late_request, 0, cap.to_client);
    write_seed("h2_client", "ok-cancel-ping-goaway", cancel | ping | goaway, 0, cap.to_client);
    write_seed("h2_client", "ok-lazy-in-7-byte-pieces", lazy, 7, cap.to_client);
}

TEST_CASE("h2_client seeds: interim responses, trailers, a larger body") {
    http2::ServerSession server({}, [](const http2::ServerRequest& r) {
        http2::ServerResponse resp = answer(r);
        if (r.path == "/index.html") {
            resp.interim = {103};
            resp.trailers = {{"x-checksum", "5d41402a"}};
            resp.body.assign(12000, 'b');  // the whole seed stays below run-fuzz.sh's -max_len
        }
        return resp;
    });
    const H2Capture cap = converse(server);
    REQUIRE(cap.closed.size() == 3);
    CHECK_FALSE(cap.closed.at(1).error);
    h2_seed("interim-trailers-body", cap);
}

TEST_CASE("h2_client seeds: default 65535-byte windows, one stream at a time") {
    http2::ServerOptions so;
    so.stream_window = 65535;
    so.connection_window = 65535;
    so.max_concurrent_streams = 1;
    http2::ServerSession server(so, answer);
    const H2Capture cap = converse(server);
    REQUIRE(cap.closed.size() == 3);
    CHECK_FALSE(cap.closed.at(1).error);
    // Streams 3 and 5 left before the server's SETTINGS said one at a time: it refuses them.
    for (const std::int32_t id : {3, 5}) {
        INFO("stream ", id);
        CHECK(cap.closed.at(id).error.code == http2::errc::refused_stream);
        CHECK(cap.closed.at(id).retryable);
    }
    h2_seed("small-windows-one-stream", cap);
}

TEST_CASE("h2_client seeds: GOAWAY and RST_STREAM") {
    SUBCASE("graceful GOAWAY after the first request") {
        http2::ServerOptions so;
        so.faults.goaway_after_requests = 1;
        http2::ServerSession server(so, answer);
        const H2Capture cap = converse(server);
        CHECK(cap.goaway);
        REQUIRE(cap.closed.size() == 3);
        CHECK(cap.closed.at(5).retryable);
        h2_seed("goaway-after-first", cap);
    }
    SUBCASE("GOAWAY PROTOCOL_ERROR with last_stream_id 0") {
        http2::ServerOptions so;
        so.faults.goaway_after_requests = 1;
        so.faults.goaway_last_stream_id = 0;
        so.faults.goaway_error_code = http2::h2_error::protocol_error;
        http2::ServerSession server(so, answer);
        const H2Capture cap = converse(server);
        CHECK(cap.goaway);
        REQUIRE(cap.closed.size() == 3);
        h2_seed("goaway-error-last-0", cap);
    }
    SUBCASE("RST_STREAM: stream 1 CANCEL, stream 3 REFUSED_STREAM") {
        http2::ServerOptions so;
        so.faults.reset_streams = {{1, http2::h2_error::cancel}, {3, http2::h2_error::refused_stream}};
        http2::ServerSession server(so, answer);
        const H2Capture cap = converse(server);
        REQUIRE(cap.closed.size() == 3);
        CHECK(cap.closed.at(1).error.code == http2::errc::stream_reset);
        CHECK(cap.closed.at(3).retryable);
        CHECK_FALSE(cap.closed.at(5).error);
        h2_seed("rst-cancel-refused", cap);
    }
}

TEST_CASE("h2_client seeds: a stalled server that pings") {
    http2::ServerOptions so;
    so.faults.stall = true;
    http2::ServerSession server(so, answer);
    REQUIRE_FALSE(server.submit_ping());
    const H2Capture cap = converse(server);
    CHECK(cap.closed.empty());  // nothing answered: the seed ends with every request open
    CHECK_FALSE(cap.error);
    h2_seed("stall-ping", cap);
}

TEST_CASE("h2_client seeds: response headers over the client's 4 KiB limit") {
    http2::ServerSession server({}, [](const http2::ServerRequest& r) {
        http2::ServerResponse resp = answer(r);
        if (r.path == "/index.html")
            for (int i = 0; i < 40; ++i)
                resp.headers.push_back({"x-filler-" + std::to_string(i), std::string(100, 'f')});
        return resp;
    });
    const H2Capture cap = converse(server);
    REQUIRE(cap.closed.size() == 3);
    CHECK(cap.closed.at(1).error.code == http2::errc::header_invalid);
    h2_seed("headers-over-limit", cap);
}

TEST_CASE("h2_client seeds: bad frames and HTTP/1.1 text") {
    const std::pair<const char*, http2::BadFrame> bad[] = {
        {"bad-data-on-stream-0", http2::BadFrame::data_on_stream_zero},
        {"bad-ping-length", http2::BadFrame::bad_ping_length},
        {"bad-garbage", http2::BadFrame::garbage},
    };
    for (const auto& b : bad) {
        INFO(b.first);
        http2::ServerOptions so;
        so.faults.bad_frame = b.second;
        so.faults.bad_frame_after_requests = 1;
        http2::ServerSession server(so, answer);
        const H2Capture cap = converse(server);
        CHECK(cap.error);
        h2_seed(b.first, cap);
    }
    http2::ServerOptions so;
    so.faults.answer_http1 = true;
    http2::ServerSession server(so, answer);
    const H2Capture cap = converse(server);
    CHECK(cap.error.code == http2::errc::not_h2);
    h2_seed("http1-answer", cap);
}

// --- tls_client_<backend> ---------------------------------------------------------------------

namespace {

struct TlsScenario {
    std::string name;     // the seed's name after "<server backend>-"
    std::uint8_t flags;   // the target's control byte: the client's offer and versions
    tls::ServerConfig server;
    bool connects;        // the client completes the handshake
};

std::vector<TlsScenario> tls_scenarios(bool tls13) {
    using namespace fz::tls_flags;
    std::vector<TlsScenario> all;
    auto add = [&](std::string name, std::uint8_t f, tls::ServerConfig s, bool ok) {
        all.push_back({std::move(name), f, std::move(s), ok});
    };
    for (const bool v12 : {true, false}) {
        if (!v12 && !tls13) continue;
        const std::string v = v12 ? "tls12-" : "tls13-";
        const std::uint8_t vf = v12 ? tls12 : 0;
        tls::ServerConfig s = test::server_config({"h2", "http/1.1"});
        s.max_version = v12 ? tls::Version::tls1_2 : tls::Version::tls1_3;
        add(v + "h2", 1 | vf | talk, s, true);
        add(v + "no-alpn-offered", vf | talk, s, true);
        tls::ServerConfig ignore = s;
        ignore.alpn_mode = tls::ServerAlpn::ignore;
        add(v + "server-ignores-alpn", 1 | vf | talk, ignore, true);
        tls::ServerConfig refuse = s;
        refuse.alpn = {"spdy/3"};
        add(v + "no-overlap-alert", 3 | vf, refuse, false);
        tls::ServerConfig rsa = test::server_config({"http/1.1"}, "localhost-rsa");
        rsa.max_version = s.max_version;
        add(v + "rsa-http1", 2 | vf | talk, rsa, true);
        tls::ServerConfig expired = test::server_config({}, "expired");
        expired.max_version = s.max_version;
        add(v + "expired-certificate", vf, expired, false);
        tls::ServerConfig other = test::server_config({}, "other-host");
        other.max_version = s.max_version;
        add(v + "no-sni-other-host", vf | no_sni, other, false);
    }
    return all;
}

// The server's bytes of one whole conversation: handshake, tickets, a response, close_notify.
std::vector<std::uint8_t> capture(const tls::Backend& client, const tls::Backend& server,
                                  const TlsScenario& sc, const std::string& ca) {
    Error err;
    test::Pair p = test::make_pair(client, fz::tls_client_config(sc.flags, ca),
                                   fz::tls_client_params(sc.flags), server, sc.server, err);
    REQUIRE_MESSAGE(p.client, err.message());
    REQUIRE_MESSAGE(p.server, err.message());
    std::vector<std::uint8_t> to_client;
    p.filter = [&](test::Direction d, std::vector<std::uint8_t>& bytes) {
        if (d == test::Direction::to_client) to_client.insert(to_client.end(), bytes.begin(), bytes.end());
        return true;
    };
    const test::HandshakeResult r = test::do_handshake(p);
    REQUIRE_FALSE(r.stuck);
    CHECK_MESSAGE((r.client == tls::Status::ok) == sc.connects, p.client->error().message());
    if (r.client == tls::Status::ok && r.server == tls::Status::ok) {
        test::settle(p);
        CHECK(test::send_and_receive(p, test::Direction::to_client,
                                     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello") ==
              "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        p.server->close();
        transfer(p);
    }
    return to_client;
}

}  // namespace

TEST_CASE("tls_client seeds: every server backend answering every client backend") {
    const tls::Registry reg = tls::Registry::compiled_in();
    const fs::path dir = out_dir();
    fs::create_directories(dir);
    const std::string ca = (dir / "tls_client_ca.pem").string();
    fs::copy_file(test::cert("ca.pem"), ca, fs::copy_options::overwrite_existing);
    for (const auto& client : reg.all()) {
        for (const auto& server : reg.all()) {
            const bool tls13 = client->capabilities().tls13 && server->capabilities().tls13;
            for (const TlsScenario& sc : tls_scenarios(tls13)) {
                INFO(client->name(), " client, ", server->name(), " server: ", sc.name);
                const auto bytes = capture(*client, *server, sc, ca);
                REQUIRE_FALSE(bytes.empty());
                write_seed("tls_client_" + std::string(client->name()),
                           std::string(server->name()) + "-" + sc.name, sc.flags, 0, bytes);
            }
        }
    }
}
