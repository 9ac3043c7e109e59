// resumption: a second handshake with the exported session resumes on every pair whose
// backends support it, and the "resumed" flag tells the truth wherever it is knowable.
#include "common.hpp"

using namespace connmatrix;
using namespace connmatrix::test;
using tls::Status;

namespace {

struct Connection {
    Outcome outcome;
    std::vector<std::uint8_t> exported;
};

// A full connection: handshake, a round of data so that TLS 1.3 tickets arrive, then export.
Connection connect(const tls::Backend& c, const std::shared_ptr<tls::ClientContext>& cctx,
                   const std::shared_ptr<tls::ServerContext>& sctx,
                   std::vector<std::uint8_t> resume) {
    (void)c;
    Connection out;
    Error err;
    Pair p;
    p.client_ctx = cctx;
    p.server_ctx = sctx;
    p.server = sctx->new_session(err);
    tls::ClientSessionParams params;
    params.host = "localhost";
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
    if (r.client != Status::ok || r.server != Status::ok) return out;
    CHECK(send_and_receive(p, Direction::to_client, "ticket, please") == "ticket, please");
    CHECK(send_and_receive(p, Direction::to_server, "thanks") == "thanks");
    settle(p);
    out.outcome.client_info = p.client->info();
    out.outcome.server_info = p.server->info();
    out.exported = p.client->export_session();
    return out;
}

}  // namespace

TEST_CASE("a second handshake with the exported session resumes") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        if (!c.capabilities().session_resumption || !s.capabilities().session_resumption) {
            MESSAGE("resumption not supported by this pair");
            return;
        }
        Error err;
        auto sctx = s.server_context(server_config({"h2"}), err);
        auto cctx = c.client_context(client_config({"h2"}), err);
        REQUIRE(sctx);
        REQUIRE(cctx);

        const Connection first = connect(c, cctx, sctx, {});
        REQUIRE(first.outcome.client == Status::ok);
        REQUIRE_FALSE(first.exported.empty());
        if (c.capabilities().resumed_flag)
            CHECK(first.outcome.client_info.resumed == std::optional<bool>(false));

        const Connection second = connect(c, cctx, sctx, first.exported);
        REQUIRE(second.outcome.client == Status::ok);
        REQUIRE(second.outcome.server == Status::ok);
        if (c.capabilities().resumed_flag)
            CHECK(second.outcome.client_info.resumed == std::optional<bool>(true));
        else
            CHECK(second.outcome.client_info.resumed == std::nullopt);
        if (s.capabilities().resumed_flag)
            CHECK(second.outcome.server_info.resumed == std::optional<bool>(true));
        // ALPN is negotiated again on a resumed connection.
        CHECK(second.outcome.client_info.alpn == std::optional<std::string>("h2"));
        // A resumed session still counts as verified: the original chain was.
        CHECK(second.outcome.client_info.verified);
    });
}

TEST_CASE("a server without tickets gives a full handshake, truthfully reported") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        if (!c.capabilities().session_resumption || !c.capabilities().resumed_flag) return;
        Error err;
        auto scfg = server_config();
        scfg.session_tickets = false;
        auto sctx = s.server_context(scfg, err);
        auto cctx = c.client_context(client_config(), err);
        REQUIRE(sctx);
        REQUIRE(cctx);
        const Connection first = connect(c, cctx, sctx, {});
        REQUIRE(first.outcome.client == Status::ok);
        // Without tickets there may be nothing to export (TLS 1.3) or a session id (TLS 1.2)
        // that this server does not cache: either way the next handshake is a full one.
        const Connection second = connect(c, cctx, sctx, first.exported);
        REQUIRE(second.outcome.client == Status::ok);
        CHECK(second.outcome.client_info.resumed == std::optional<bool>(false));
    });
}

TEST_CASE("garbage resumption data is refused or ignored, never a crash") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        Error err;
        auto cctx = b->client_context(client_config(), err);
        REQUIRE(cctx);
        tls::ClientSessionParams params;
        params.host = "localhost";
        params.resume = bytes("this is not a TLS session");
        auto session = cctx->new_session(params, err);
        if (!session) {
            CHECK(err.code == tls::errc::invalid_config);
            continue;
        }
        // Accepted quietly: it must then do a full, verified handshake.
        auto sctx = registry().default_backend().server_context(server_config(), err);
        REQUIRE(sctx);
        Pair p;
        p.client = std::move(session);
        p.server = sctx->new_session(err);
        REQUIRE(p.server);
        const HandshakeResult r = do_handshake(p);
        CHECK(r.client == Status::ok);
        CHECK(p.client->info().resumed != std::optional<bool>(true));
        CHECK(p.client->info().verified);
    }
}
