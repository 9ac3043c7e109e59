// resumption: a second handshake with the exported session resumes on every pair, the
// "resumed" flag tells the truth on both sides, and the core's one rule holds on every backend:
// a blob that is not usable here (another backend, backend object, host, SNI, unverified,
// altered, garbage) never resumes and never fails session creation: a full, verified handshake,
// and info().resume_ignored says why.
#include "common.hpp"

#include <fstream>

using namespace connmatrix;
using namespace connmatrix::test;
using tls::Status;

namespace {

struct Connection {
    Outcome outcome;
    std::vector<std::uint8_t> exported;
};

// A full connection: handshake, a round of data so that TLS 1.3 tickets arrive, then export.
Connection connect(const std::shared_ptr<tls::ClientContext>& cctx,
                   const std::shared_ptr<tls::ServerContext>& sctx,
                   std::vector<std::uint8_t> resume, const std::string& host = "localhost") {
    Connection out;
    Error err;
    Pair p;
    p.client_ctx = cctx;
    p.server_ctx = sctx;
    p.server = sctx->new_session(err);
    tls::ClientSessionParams params;
    params.host = host;
    params.resume = std::move(resume);
    p.client = cctx->new_session(params, err);
    if (!p.client || !p.server) {
        out.outcome.build_error = err;
        return out;
    }
    out.outcome.built = true;
    const HandshakeResult r = do_handshake(p);
    out.outcome.client = r.client;
    out.outcome.server = r.server;
    out.outcome.stuck = r.stuck;
    out.outcome.client_error = p.client->error();
    if (r.client != Status::ok || r.server != Status::ok) return out;
    CHECK(send_and_receive(p, Direction::to_client, "ticket, please") == "ticket, please");
    CHECK(send_and_receive(p, Direction::to_server, "thanks") == "thanks");
    settle(p);
    out.outcome.client_info = p.client->info();
    out.outcome.server_info = p.server->info();
    out.exported = p.client->export_session();
    return out;
}

struct Contexts {
    std::shared_ptr<tls::ServerContext> server;
    std::shared_ptr<tls::ClientContext> client;
};

Contexts contexts(const tls::Backend& c, const tls::Backend& s, bool verify = true) {
    Error err;
    Contexts x;
    x.server = s.server_context(server_config({"h2"}), err);
    auto ccfg = client_config({"h2"});
    ccfg.verify = verify;
    x.client = c.client_context(ccfg, err);
    REQUIRE(x.server);
    REQUIRE(x.client);
    return x;
}

// A connection given `blob` that must not resume: full, verified, and saying why.
void expect_full_handshake(const Contexts& x, std::vector<std::uint8_t> blob,
                           const std::string& why, const std::string& host = "localhost") {
    const Connection c = connect(x.client, x.server, std::move(blob), host);
    REQUIRE(c.outcome.built);
    REQUIRE(c.outcome.client == Status::ok);
    CHECK(c.outcome.client_info.resumed == std::optional<bool>(false));
    CHECK(c.outcome.server_info.resumed == std::optional<bool>(false));
    CHECK(c.outcome.client_info.verified);
    INFO("resume_ignored: ", c.outcome.client_info.resume_ignored);
    CHECK(c.outcome.client_info.resume_ignored.find(why) != std::string::npos);
}

}  // namespace

TEST_CASE("a second handshake with the exported session resumes, on both sides") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        const Contexts x = contexts(c, s);
        const Connection first = connect(x.client, x.server, {});
        REQUIRE(first.outcome.client == Status::ok);
        REQUIRE_FALSE(first.exported.empty());
        CHECK(first.outcome.client_info.resumed == std::optional<bool>(false));
        CHECK(first.outcome.server_info.resumed == std::optional<bool>(false));

        const Connection second = connect(x.client, x.server, first.exported);
        REQUIRE(second.outcome.client == Status::ok);
        REQUIRE(second.outcome.server == Status::ok);
        CHECK(second.outcome.client_info.resumed == std::optional<bool>(true));
        CHECK(second.outcome.server_info.resumed == std::optional<bool>(true));
        CHECK(second.outcome.client_info.resume_ignored.empty());
        // ALPN is negotiated again on a resumed connection.
        CHECK(second.outcome.client_info.alpn == std::optional<std::string>("h2"));
        // A resumed session still counts as verified: the original chain was, for this host.
        CHECK(second.outcome.client_info.verified);
    });
}

TEST_CASE("a server without tickets gives a full handshake, truthfully reported") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        Error err;
        auto scfg = server_config();
        scfg.session_tickets = false;
        auto sctx = s.server_context(scfg, err);
        auto cctx = c.client_context(client_config(), err);
        REQUIRE(sctx);
        REQUIRE(cctx);
        const Connection first = connect(cctx, sctx, {});
        REQUIRE(first.outcome.client == Status::ok);
        // Without tickets there may be nothing to export (TLS 1.3) or a session id (TLS 1.2)
        // that this server does not cache: either way the next handshake is a full one.
        const Connection second = connect(cctx, sctx, first.exported);
        REQUIRE(second.outcome.client == Status::ok);
        CHECK(second.outcome.client_info.resumed == std::optional<bool>(false));
        CHECK(second.outcome.server_info.resumed == std::optional<bool>(false));
    });
}

TEST_CASE("garbage resumption data is ignored: a full, verified handshake, never a failure") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        const Contexts x = contexts(*b, registry().default_backend());
        expect_full_handshake(x, bytes("this is not a TLS session"), "not a connmatrix session");
        expect_full_handshake(x, {}, "");  // nothing given, nothing to say
        std::vector<std::uint8_t> long_garbage(5000, 0x43);
        expect_full_handshake(x, long_garbage, "not a connmatrix session");
    }
}

TEST_CASE("a session from another backend, backend object, host or SNI never resumes") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        const Contexts x = contexts(c, s);
        const Connection first = connect(x.client, x.server, {});
        REQUIRE_FALSE(first.exported.empty());

        SUBCASE("another backend, or another object of the same backend: its key differs") {
            for (const auto& other : registry().all()) {
                if (other.get() == &c) continue;
                expect_full_handshake(contexts(*other, s), first.exported, "not sealed by");
            }
            const tls::Registry fresh = tls::Registry::compiled_in();
            expect_full_handshake(contexts(*fresh.find(c.name()), s), first.exported,
                                  "not sealed by");
        }
        SUBCASE("a context that trusts other anchors (a CA file of its own)") {
            // The same CA plus another one, in another file: the handshake verifies, but a
            // session verified under the first context's anchors is not this one's to resume.
            const std::string both = cert_dir() + "/ca-and-rogue-" + std::string(c.name()) + ".pem";
            {
                std::ofstream out(both, std::ios::binary);
                for (const char* f : {"ca.pem", "rogue-ca.pem"}) {
                    std::ifstream in(cert(f), std::ios::binary);
                    out << in.rdbuf();
                }
            }
            Error err;
            auto ccfg = client_config({"h2"});
            ccfg.ca_file = both;
            Contexts other{x.server, c.client_context(ccfg, err)};
            REQUIRE(other.client);
            expect_full_handshake(other, first.exported, "not sealed by");
        }
        SUBCASE("another host (the certificate covers both)") {
            expect_full_handshake(x, first.exported, "exported for host \"localhost\"",
                                  "127.0.0.1");
        }
        SUBCASE("another SNI") {
            Error err;
            tls::ClientSessionParams params;
            params.host = "localhost";
            params.sni = std::string();  // no SNI this time
            params.resume = first.exported;
            auto session = x.client->new_session(params, err);
            REQUIRE(session);
            CHECK(session->info().resume_ignored == "exported for another SNI");
        }
        SUBCASE("any byte altered") {
            for (std::size_t at : {std::size_t{4}, std::size_t{6}, first.exported.size() / 2,
                                   first.exported.size() - 1}) {
                auto bad = first.exported;
                bad[at] ^= 0x01;
                expect_full_handshake(x, bad, at == 4 ? "envelope format" : "not sealed by");
            }
        }
    });
}

TEST_CASE("a session from an unverified connection never resumes a verified one") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        const Contexts unverified = contexts(c, s, false);
        const Connection first = connect(unverified.client, unverified.server, {});
        REQUIRE(first.outcome.client == Status::ok);
        CHECK_FALSE(first.outcome.client_info.verified);
        REQUIRE_FALSE(first.exported.empty());
        // Verification is part of the trust settings the envelope key is bound to, so the
        // envelope does not even open (and were it opened, the rule refuses an unverified one:
        // tls_core tests that).
        Contexts verified = contexts(c, s);
        verified.server = unverified.server;  // a server that would resume it
        expect_full_handshake(verified, first.exported, "not sealed by");
        // An unverified connection may resume an unverified session.
        const Connection again = connect(unverified.client, unverified.server, first.exported);
        CHECK(again.outcome.client_info.resumed == std::optional<bool>(true));
    });
}
