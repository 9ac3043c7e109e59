// early_data: TLS 1.3 0-RTT (RFC 8446 2.3, 4.2.10, 8) on every pair of backends that have it.
// A first connection gets a ticket; the second resumes it and sends a request as early data in
// its first flight: the server has it before the client's second flight, exactly once, and both
// sides say accepted. A server that cannot use the ticket rejects it: nothing is delivered, and
// the request written again after the handshake arrives once. The core's rules: no early data
// without a ticket allowing it, with early_data off, with another first ALPN protocol, on a TLS
// 1.2 ticket, beyond the ticket's limit, or after handshake(); a replayed first flight delivers
// nothing; a backend without early data refuses the configuration.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;
using tls::EarlyData;
using tls::errc;
using tls::Status;

namespace doctest {
template <>
struct StringMaker<EarlyData> {
    static String convert(EarlyData e) { return std::string(tls::to_string(e)).c_str(); }
};
}  // namespace doctest

namespace {

constexpr std::uint32_t limit = 16384;
const std::string request = "GET /early HTTP/1.1\r\nHost: localhost\r\n\r\n";

bool has_early_data(const tls::Backend& b) { return b.capabilities().early_data; }

// Runs body for every pair whose two backends both have early data (at least OpenSSL and GnuTLS
// in all four combinations when both are built).
template <class F>
int for_each_early_pair(F&& body) {
    int pairs = 0;
    for_each_pair([&](const tls::Backend& c, const tls::Backend& s) {
        if (!has_early_data(c) || !has_early_data(s)) return;
        ++pairs;
        body(c, s);
    });
    return pairs;
}

std::shared_ptr<tls::ServerContext> server(const tls::Backend& s, std::uint32_t max_early = limit,
                                           tls::Version max = tls::Version::tls1_3) {
    auto cfg = server_config({"h2", "http/1.1"});
    cfg.max_early_data = max_early;
    cfg.max_version = max;
    Error err;
    auto ctx = s.server_context(cfg, err);
    REQUIRE_MESSAGE(ctx, err.detail);
    return ctx;
}

std::shared_ptr<tls::ClientContext> client(const tls::Backend& c,
                                           std::vector<std::string> alpn = {"h2"},
                                           bool early = true,
                                           tls::Version max = tls::Version::tls1_3) {
    auto cfg = client_config(std::move(alpn));
    cfg.early_data = early;
    cfg.max_version = max;
    Error err;
    auto ctx = c.client_context(cfg, err);
    REQUIRE_MESSAGE(ctx, err.detail);
    return ctx;
}

Pair pair_of(const std::shared_ptr<tls::ClientContext>& cctx,
             const std::shared_ptr<tls::ServerContext>& sctx, std::vector<std::uint8_t> resume) {
    Pair p;
    p.client_ctx = cctx;
    p.server_ctx = sctx;
    Error err;
    p.server = sctx->new_session(err);
    REQUIRE_MESSAGE(p.server, err.detail);
    tls::ClientSessionParams params;
    params.host = "localhost";
    params.resume = std::move(resume);
    p.client = cctx->new_session(params, err);
    REQUIRE_MESSAGE(p.client, err.detail);
    return p;
}

// A full connection that reads its tickets, and the session it exports.
std::vector<std::uint8_t> ticket(const std::shared_ptr<tls::ClientContext>& cctx,
                                 const std::shared_ptr<tls::ServerContext>& sctx) {
    Pair p = pair_of(cctx, sctx, {});
    const HandshakeResult r = do_handshake(p);
    REQUIRE(r.client == Status::ok);
    REQUIRE(r.server == Status::ok);
    CHECK(p.client->early_data() == EarlyData::not_attempted);
    CHECK(p.server->early_data() == EarlyData::not_attempted);
    CHECK(send_and_receive(p, Direction::to_client, "ticket, please") == "ticket, please");
    settle(p);
    auto blob = p.client->export_session();
    REQUIRE_FALSE(blob.empty());
    // A clean end: OpenSSL forgets the (stateful, single-use) tickets of a server connection
    // freed without close_notify.
    p.server->close();
    p.client->close();
    transfer(p);
    return blob;
}

// The record types in a flight of TLS records, in order.
std::vector<std::uint8_t> record_types(const std::vector<std::uint8_t>& flight) {
    std::vector<std::uint8_t> types;
    std::size_t at = 0;
    while (at + 5 <= flight.size()) {
        types.push_back(flight[at]);
        at += 5 + ((std::size_t{flight[at + 3]} << 8) | flight[at + 4]);
    }
    CHECK(at == flight.size());  // whole records only
    return types;
}

std::string text(const std::vector<std::uint8_t>& b) { return {b.begin(), b.end()}; }

// Everything the server delivers from now on (read_early() and read()), until the handshake is
// done on both sides and the exchange is quiet.
std::string drain_server(Pair& p, int rounds = 8) {
    std::string got;
    for (int i = 0; i < rounds; ++i) {
        std::vector<std::uint8_t> buf;
        (void)p.server->read_early(buf);
        if (p.server->handshake_done()) (void)p.server->read(buf);
        got += text(buf);
        std::vector<std::uint8_t> sink;
        if (p.client->handshake_done()) (void)p.client->read(sink);
        transfer(p);
    }
    return got;
}

// Client flights until the server has the whole request: the client writes it as early data
// when `early`, else once its handshake is done (what a resumed connection without 0-RTT does).
int client_flights_until_request(Pair& p, bool early) {
    if (early) REQUIRE(p.client->write_early(bytes(request)) == Status::ok);
    bool written = early;
    int flights = 0;
    std::string got;
    for (int round = 0; round < 20; ++round) {
        (void)p.client->handshake();
        if (!written && p.client->handshake_done()) {
            REQUIRE(p.client->write(bytes(request)) == Status::ok);
            written = true;
        }
        auto out = p.client->take_output();
        if (!out.empty()) {
            ++flights;
            p.server->feed(out);
        }
        (void)p.server->handshake();
        std::vector<std::uint8_t> buf;
        (void)p.server->read_early(buf);
        if (p.server->handshake_done()) (void)p.server->read(buf);
        got += text(buf);
        if (got == request) return flights;
        p.client->feed(p.server->take_output());
    }
    FAIL("the server never got the request");
    return -1;
}

}  // namespace

TEST_CASE("a resumed session sends its request as early data in the first flight, accepted") {
    const int pairs = for_each_early_pair([](const tls::Backend& c, const tls::Backend& s) {
        const auto sctx = server(s);
        const auto cctx = client(c);
        Pair p = pair_of(cctx, sctx, ticket(cctx, sctx));

        REQUIRE(p.client->early_data_capacity() == limit);
        REQUIRE(p.client->write_early(bytes(request)) == Status::ok);
        CHECK(p.client->early_data_capacity() == limit - request.size());

        // The first flight: the ClientHello, then (after a middlebox-compatibility CCS, maybe)
        // the early data in application_data records, before any byte came from the server.
        CHECK(p.client->handshake() == Status::want_input);
        const auto flight = p.client->take_output();
        const auto types = record_types(flight);
        REQUIRE_FALSE(types.empty());
        CHECK(types.front() == 22);  // handshake: the ClientHello
        CHECK(std::count(types.begin(), types.end(), std::uint8_t{23}) >= 1);
        CHECK(p.client->early_data_capacity() == 0);  // nothing more once handshake() began

        // The server has the request before its handshake is complete.
        p.server->feed(flight);
        CHECK(p.server->handshake() == Status::want_input);
        std::vector<std::uint8_t> early;
        CHECK(p.server->read_early(early) == Status::ok);
        CHECK(text(early) == request);

        p.client->feed(p.server->take_output());
        const HandshakeResult r = do_handshake(p);
        REQUIRE(r.client == Status::ok);
        REQUIRE(r.server == Status::ok);
        CHECK(p.client->info().resumed == std::optional<bool>(true));
        CHECK(p.client->early_data() == EarlyData::accepted);
        CHECK(p.server->early_data() == EarlyData::accepted);
        CHECK(p.client->info().early_data == EarlyData::accepted);
        CHECK(p.server->info().early_data == EarlyData::accepted);
        CHECK(p.client->alpn() == std::optional<std::string>("h2"));

        // Exactly once: nothing more arrives, and the response goes the normal way.
        CHECK(drain_server(p) == "");
        CHECK(send_and_receive(p, Direction::to_client, "HTTP/1.1 200 OK") == "HTTP/1.1 200 OK");
        CHECK(send_and_receive(p, Direction::to_server, "more") == "more");
    });
    int capable = 0;
    for (const auto& b : registry().all()) capable += has_early_data(*b) ? 1 : 0;
    CHECK(pairs == capable * capable);
    if (registry().find("openssl") && registry().find("gnutls")) CHECK(pairs >= 4);
}

TEST_CASE("accepted early data nobody read_early()s comes first from read(), once") {
    for_each_early_pair([](const tls::Backend& c, const tls::Backend& s) {
        const auto sctx = server(s);
        const auto cctx = client(c);
        Pair p = pair_of(cctx, sctx, ticket(cctx, sctx));
        REQUIRE(p.client->write_early(bytes(request)) == Status::ok);
        const HandshakeResult r = do_handshake(p);
        REQUIRE(r.client == Status::ok);
        REQUIRE(r.server == Status::ok);
        CHECK(p.server->early_data() == EarlyData::accepted);
        CHECK(send_and_receive(p, Direction::to_server, "after") == request + "after");
        CHECK(drain_server(p) == "");
    });
}

TEST_CASE("0-RTT: the server has the request after one client flight instead of two") {
    for_each_early_pair([](const tls::Backend& c, const tls::Backend& s) {
        const auto sctx = server(s);
        const auto cctx = client(c);
        const auto plain_cctx = client(c, {"h2"}, false);
        Pair with = pair_of(cctx, sctx, ticket(cctx, sctx));
        Pair without = pair_of(plain_cctx, sctx, ticket(plain_cctx, sctx));
        const int early_flights = client_flights_until_request(with, true);
        const int plain_flights = client_flights_until_request(without, false);
        MESSAGE(c.name(), " -> ", s.name(), ": request at the server after ", early_flights,
                " client flight(s) with 0-RTT, ", plain_flights, " without");
        CHECK(early_flights == 1);
        CHECK(plain_flights == 2);
        CHECK_FALSE(with.server->handshake_done());  // it had the request before its Finished
        CHECK(do_handshake(with).server == Status::ok);
        CHECK(do_handshake(without).server == Status::ok);
        CHECK(with.server->early_data() == EarlyData::accepted);
        CHECK(without.server->early_data() == EarlyData::not_attempted);
        CHECK(without.server->info().resumed == std::optional<bool>(true));
    });
}

TEST_CASE("rejected: a server that cannot use the ticket delivers nothing; written again, once") {
    for_each_early_pair([](const tls::Backend& c, const tls::Backend& s) {
        const auto cctx = client(c);
        const auto blob = ticket(cctx, server(s));
        for (std::uint32_t max_early : {limit, std::uint32_t{0}}) {
            INFO("the other server's max_early_data: ", max_early);
            // Another context: other ticket keys, so a full handshake.
            Pair p = pair_of(cctx, server(s, max_early), blob);
            REQUIRE(p.client->early_data_capacity() == limit);  // the client cannot know
            REQUIRE(p.client->write_early(bytes(request)) == Status::ok);
            std::string early_seen;
            for (int i = 0; i < 100 && !(p.client->handshake_done() && p.server->handshake_done());
                 ++i) {
                (void)p.client->handshake();
                (void)p.server->handshake();
                std::vector<std::uint8_t> buf;
                (void)p.server->read_early(buf);
                early_seen += text(buf);
                transfer(p);
            }
            REQUIRE(p.client->handshake_done());
            REQUIRE(p.server->handshake_done());
            CHECK(early_seen == "");
            CHECK(p.client->info().resumed == std::optional<bool>(false));
            CHECK(p.client->early_data() == EarlyData::rejected);
            CHECK(p.server->early_data() == EarlyData::rejected);
            CHECK(p.client->info().early_data == EarlyData::rejected);
            CHECK(drain_server(p) == "");
            // The caller writes it again, and it arrives once.
            CHECK(send_and_receive(p, Direction::to_server, request) == request);
            CHECK(drain_server(p) == "");
        }
    });
}

TEST_CASE("a replayed first flight delivers no early data (the server's anti-replay)") {
    for_each_early_pair([](const tls::Backend& c, const tls::Backend& s) {
        const auto sctx = server(s);
        const auto cctx = client(c);
        Pair p = pair_of(cctx, sctx, ticket(cctx, sctx));
        REQUIRE(p.client->write_early(bytes(request)) == Status::ok);
        CHECK(p.client->handshake() == Status::want_input);
        const auto flight = p.client->take_output();
        p.server->feed(flight);
        (void)p.server->handshake();
        std::vector<std::uint8_t> first;
        CHECK(p.server->read_early(first) == Status::ok);
        CHECK(text(first) == request);

        // An attacker sends the same bytes to the same server again.
        Error err;
        auto replay = sctx->new_session(err);
        REQUIRE(replay);
        replay->feed(flight);
        const Status st = replay->handshake();
        CHECK(st == Status::want_input);  // it cannot finish without the client's keys
        std::vector<std::uint8_t> again;
        CHECK(replay->read_early(again) != Status::ok);
        CHECK(again.empty());
    });
}

TEST_CASE("no early data without a ticket, with early_data off, or with another first ALPN") {
    for_each_early_pair([](const tls::Backend& c, const tls::Backend& s) {
        const auto sctx = server(s);
        const auto cctx = client(c);
        const auto blob = ticket(cctx, sctx);

        SUBCASE("no ticket: capacity 0, write_early is invalid_state") {
            Pair p = pair_of(cctx, sctx, {});
            CHECK(p.client->early_data_capacity() == 0);
            CHECK(p.client->write_early(bytes(request)) == Status::failed);
            CHECK(p.client->error().code == errc::invalid_state);
            CHECK(p.client->error().detail.find("no early data") != std::string::npos);
        }
        SUBCASE("early_data off: resumed, not attempted on either side") {
            const auto off = client(c, {"h2"}, false);
            Pair p = pair_of(off, sctx, ticket(off, sctx));
            CHECK(p.client->early_data_capacity() == 0);
            const HandshakeResult r = do_handshake(p);
            REQUIRE(r.client == Status::ok);
            REQUIRE(r.server == Status::ok);
            CHECK(p.client->info().resumed == std::optional<bool>(true));
            CHECK(p.client->early_data() == EarlyData::not_attempted);
            CHECK(p.server->early_data() == EarlyData::not_attempted);
        }
        SUBCASE("capacity, but nothing written: not attempted") {
            Pair p = pair_of(cctx, sctx, blob);
            CHECK(p.client->early_data_capacity() == limit);
            const HandshakeResult r = do_handshake(p);
            REQUIRE(r.client == Status::ok);
            CHECK(p.client->early_data() == EarlyData::not_attempted);
            CHECK(p.server->early_data() == EarlyData::not_attempted);
            CHECK(p.client->info().resumed == std::optional<bool>(true));
        }
        SUBCASE("the ticket's ALPN is not the first of our offer (RFC 8446 4.2.10)") {
            const std::vector<std::vector<std::string>> offers = {{"http/1.1", "h2"}, {}};
            for (const auto& offer : offers) {
                INFO("offer: ", offer.size());
                Pair p = pair_of(client(c, offer), sctx, blob);
                CHECK(p.client->info().resume_ignored == "");  // it resumes, without 0-RTT
                CHECK(p.client->early_data_capacity() == 0);
                const HandshakeResult r = do_handshake(p);
                REQUIRE(r.client == Status::ok);
                CHECK(p.client->early_data() == EarlyData::not_attempted);
            }
        }
    });
}

TEST_CASE("write_early: at most the ticket's limit in total, and only before handshake()") {
    for_each_early_pair([](const tls::Backend& c, const tls::Backend& s) {
        const auto sctx = server(s, 64);
        const auto cctx = client(c);
        const auto blob = ticket(cctx, sctx);
        SUBCASE("beyond the limit") {
            Pair p = pair_of(cctx, sctx, blob);
            REQUIRE(p.client->early_data_capacity() == 64);
            CHECK(p.client->write_early(std::vector<std::uint8_t>(40, 'a')) == Status::ok);
            CHECK(p.client->early_data_capacity() == 24);
            CHECK(p.client->write_early(std::vector<std::uint8_t>(25, 'b')) == Status::failed);
            CHECK(p.client->error().code == errc::invalid_state);
            const std::string& why = p.client->error().detail;
            CHECK(why.find("25 bytes exceed the 24 left") != std::string::npos);
            CHECK(p.client->handshake() == Status::failed);  // sticky, as every misuse
        }
        SUBCASE("exactly the limit is accepted") {
            Pair p = pair_of(cctx, sctx, blob);
            CHECK(p.client->write_early(std::vector<std::uint8_t>(64, 'a')) == Status::ok);
            const HandshakeResult r = do_handshake(p);
            REQUIRE(r.client == Status::ok);
            CHECK(p.client->early_data() == EarlyData::accepted);
            CHECK(drain_server(p) == std::string(64, 'a'));
        }
        SUBCASE("after handshake()") {
            Pair p = pair_of(cctx, sctx, blob);
            CHECK(p.client->handshake() == Status::want_input);
            CHECK(p.client->early_data_capacity() == 0);
            CHECK(p.client->write_early(bytes(request)) == Status::failed);
            CHECK(p.client->error().code == errc::invalid_state);
            CHECK(p.client->error().detail.find("first flight") != std::string::npos);
        }
        SUBCASE("on the wrong side") {
            Pair p = pair_of(cctx, sctx, blob);
            std::vector<std::uint8_t> buf;
            CHECK(p.client->read_early(buf) == Status::failed);
            CHECK(p.client->error().code == errc::invalid_state);
            CHECK(p.server->write_early(bytes(request)) == Status::failed);
            CHECK(p.server->error().code == errc::invalid_state);
            CHECK(p.server->early_data_capacity() == 0);
        }
    });
}

TEST_CASE("a TLS 1.2 session's ticket allows no early data") {
    for_each_early_pair([](const tls::Backend& c, const tls::Backend& s) {
        const auto sctx = server(s, limit, tls::Version::tls1_2);
        const auto cctx = client(c, {"h2"}, true, tls::Version::tls1_2);
        Pair p = pair_of(cctx, sctx, ticket(cctx, sctx));
        CHECK(p.client->early_data_capacity() == 0);
        const HandshakeResult r = do_handshake(p);
        REQUIRE(r.client == Status::ok);
        CHECK(p.client->info().version == tls::Version::tls1_2);
        CHECK(p.client->info().resumed == std::optional<bool>(true));
        CHECK(p.client->early_data() == EarlyData::not_attempted);
    });
}

TEST_CASE("a backend without early data refuses it, naming why; the core's other rules") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        Error err;
        auto ccfg = client_config({"h2"});
        ccfg.early_data = true;
        auto scfg = server_config({"h2"});
        scfg.max_early_data = limit;
        auto cctx = b->client_context(ccfg, err);
        if (b->capabilities().early_data) {
            CHECK(cctx != nullptr);
            CHECK(b->server_context(scfg, err) != nullptr);
            scfg.session_tickets = false;
            CHECK(b->server_context(scfg, err) == nullptr);
            CHECK(err.code == errc::invalid_config);
            CHECK(err.detail.find("session_tickets") != std::string::npos);
        } else {
            CHECK(cctx == nullptr);
            CHECK(err.code == errc::unsupported);
            CHECK(err.origin == "tls");
            CHECK(err.detail.find("TLS 1.3") != std::string::npos);
            CHECK(b->server_context(scfg, err) == nullptr);
            CHECK(err.code == errc::unsupported);
            CHECK(err.detail.find("max_early_data") != std::string::npos);
        }
    }
    CHECK(tls::to_string(EarlyData::not_attempted) == "not_attempted");
    CHECK(tls::to_string(EarlyData::accepted) == "accepted");
    CHECK(tls::to_string(EarlyData::rejected) == "rejected");
    // mbedTLS 2.28 has no TLS 1.3, hence no early data; OpenSSL and GnuTLS have both.
    if (const auto* m = registry().find("mbedtls")) CHECK_FALSE(m->capabilities().early_data);
    if (const auto* o = registry().find("openssl")) CHECK(o->capabilities().early_data);
    if (const auto* g = registry().find("gnutls")) CHECK(g->capabilities().early_data);
}
