// client_certs: mutual TLS on every backend pair. A client sends the certificate of
// ClientConfig::client_cert_file when the server (ServerConfig::client_ca_file) asks; the
// server verifies it, or refuses a client without one when require_client_cert. A refusal
// reaches the client as tls:certificate_required: in the handshake (TLS 1.2) or, because a TLS
// 1.3 client finishes its handshake before the server judges its certificate, on its first
// read. Unusable files are tls:invalid_config naming them, when the context is made.
#include "common.hpp"

#include <fstream>
#include <iterator>
#include <utility>

using namespace connmatrix;
using namespace connmatrix::test;
using tls::errc;
using tls::Status;

namespace {

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::string passphrase(std::string_view file) {
    std::ifstream in(cert(file));
    REQUIRE_MESSAGE(in, "missing ", file, ": the build generates it with the certificates");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A client presenting `leaf` (its .pem and .key, or another key file).
tls::ClientConfig with_cert(const std::string& leaf, const std::string& key_file = {}) {
    tls::ClientConfig c = client_config({"h2"});
    c.client_cert_file = cert(leaf + ".pem");
    c.client_key_file = key_file.empty() ? cert(leaf + ".key") : cert(key_file);
    return c;
}

// A server that asks every client for a certificate from the client CA.
tls::ServerConfig asking(bool require = true) {
    tls::ServerConfig s = server_config({"h2"});
    s.client_ca_file = cert("client-ca.pem");
    s.require_client_cert = require;
    return s;
}

// A handshake, then, when the client's completed, reads on both sides until the client fails or
// nothing more moves: a TLS 1.3 server's verdict arrives after the client's handshake.
struct Driven : Outcome {
    bool failed_in_read = false;  // the client's error came from read(), after its handshake
    bool data_flows = false;      // both directions carried data (when both handshakes completed)
};

Driven drive(const tls::Backend& cb, const tls::ClientConfig& ccfg, const tls::Backend& sb,
             const tls::ServerConfig& scfg) {
    Driven d;
    Pair p;
    static_cast<Outcome&>(d) = run_handshake(cb, ccfg, sb, scfg, "localhost", &p);
    if (!d.built) return d;
    if (d.client == Status::ok && d.server == Status::ok) {
        d.data_flows = send_and_receive(p, Direction::to_server, "hello") == "hello" &&
                       send_and_receive(p, Direction::to_client, "world") == "world";
    } else if (d.client == Status::ok) {
        std::vector<std::uint8_t> sink;
        for (int i = 0; i < 8 && !p.client->error(); ++i) {
            transfer(p);
            if (p.client->read(sink) == Status::failed) d.failed_in_read = true;
        }
        d.client_error = p.client->error();
        CHECK_MESSAGE(origin_fits(d.client_error), "client error origin: ", d.client_error.origin);
    }
    return d;
}

void expect_accepted(const Driven& d) {
    REQUIRE_MESSAGE(d.built, d.build_error.message());
    CHECK_FALSE(d.stuck);
    CHECK(d.client == Status::ok);
    CHECK(d.server == Status::ok);
    CHECK_MESSAGE(!d.client_error, d.client_error.message());
    CHECK_MESSAGE(!d.server_error, d.server_error.message());
    CHECK(d.data_flows);
}

// The client failed with tls:certificate_required, the detail starting with `why`.
void expect_required(const Driven& d, const std::string& why) {
    REQUIRE_MESSAGE(d.built, d.build_error.message());
    CHECK_FALSE(d.stuck);
    CHECK(d.client_error.code == errc::certificate_required);
    CHECK(error_name(d.client_error.code) == "tls:certificate_required");
    INFO("client error: ", d.client_error.message());
    INFO("server error: ", d.server_error.message());
    CHECK(d.client_error.detail.rfind(why + "received fatal alert: ", 0) == 0);
    // Where it surfaced: the handshake, or (TLS 1.3) the first read after a completed one.
    CHECK((d.client == Status::failed) != d.failed_in_read);
    CHECK(d.server == Status::failed);
}

const std::string no_certificate =
    "the server requires a client certificate and none is configured (client_cert_file): ";

std::string refused(const std::string& leaf) {
    return "the server refused the client certificate " + cert(leaf + ".pem") + ": ";
}

// The context cannot be made: tls:invalid_config whose detail contains every `part`.
void expect_invalid(const tls::Backend& b, const tls::ClientConfig& cfg,
                    const std::vector<std::string>& parts, const std::string& origin) {
    Error err;
    CHECK(b.client_context(cfg, err) == nullptr);
    CHECK(err.code == errc::invalid_config);
    CHECK(err.origin == origin);
    for (const auto& part : parts)
        CHECK_MESSAGE(has(err.detail, part), err.detail, " lacks ", part);
}

}  // namespace

TEST_CASE("the right client certificate is accepted, EC and RSA, and both sides say so") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        for (const char* leaf : {"client-ec", "client-rsa"}) {
            INFO(leaf);
            const Driven d = drive(c, with_cert(leaf), s, asking());
            expect_accepted(d);
            CHECK(d.client_info.client_certificate);
            CHECK(d.server_info.client_certificate);
            CHECK(d.client_info.verified);
        }
    });
}

TEST_CASE("encrypted keys, PKCS#8 and traditional, work with their passphrase") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        auto pkcs8 = with_cert("client-ec", "client-ec-enc.key");
        pkcs8.client_key_password = passphrase("client-ec-enc.pass");
        auto traditional = with_cert("client-rsa", "client-rsa-trad.key");
        traditional.client_key_password = passphrase("client-rsa-trad.pass");
        for (const auto& cfg : {pkcs8, traditional}) {
            INFO(cfg.client_key_file);
            const Driven d = drive(c, cfg, s, asking());
            expect_accepted(d);
            CHECK(d.server_info.client_certificate);
        }
    });
}

TEST_CASE("a certificate is sent only when asked, and a server that does not ask sees none") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        const Driven d = drive(c, with_cert("client-ec"), s, server_config({"h2"}));
        expect_accepted(d);
        CHECK_FALSE(d.client_info.client_certificate);
        CHECK_FALSE(d.server_info.client_certificate);
    });
}

TEST_CASE("no client certificate where one is required: tls:certificate_required, saying so") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        const Driven d = drive(c, client_config({"h2"}), s, asking());
        expect_required(d, no_certificate);
        CHECK(d.server_error.code == errc::certificate_required);
        CHECK(has(d.server_error.detail, "the client sent no certificate"));
    });
}

TEST_CASE("a certificate from a CA the server does not trust: refused, naming the alert") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        for (const bool require : {true, false}) {
            INFO("require_client_cert ", require);
            const Driven d = drive(c, with_cert("client-rogue"), s, asking(require));
            expect_required(d, refused("client-rogue"));
            CHECK(has(d.client_error.detail, "unknown_ca (48)"));
            CHECK(d.server_error.code == errc::certificate_untrusted);
        }
    });
}

TEST_CASE("an optional request: a client without a certificate is let in, one with is verified") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        const Driven none = drive(c, client_config({"h2"}), s, asking(false));
        expect_accepted(none);
        CHECK_FALSE(none.client_info.client_certificate);
        CHECK_FALSE(none.server_info.client_certificate);
        const Driven some = drive(c, with_cert("client-rsa"), s, asking(false));
        expect_accepted(some);
        CHECK(some.client_info.client_certificate);
        CHECK(some.server_info.client_certificate);
    });
}

TEST_CASE("unusable client certificate settings are tls:invalid_config naming the file") {
    for (const auto& bp : registry().all()) {
        const tls::Backend& b = *bp;
        const std::string lib(b.name());
        INFO(lib);
        // The key of another certificate, of the same type and of another.
        for (const char* key : {"client-rogue.key", "client-rsa.key"}) {
            expect_invalid(b, with_cert("client-ec", key),
                           {"client_key_file " + cert(key) + " does not match client_cert_file " +
                            cert("client-ec.pem")},
                           lib);
        }
        auto missing = with_cert("client-ec");
        missing.client_cert_file = cert("no-such-client.pem");
        expect_invalid(b, missing, {"cannot read client_cert_file " + cert("no-such-client.pem")},
                       "tls");
        missing = with_cert("client-ec", "no-such-client.key");
        expect_invalid(b, missing, {"cannot read client_key_file " + cert("no-such-client.key")},
                       "tls");
        auto swapped = with_cert("client-ec");
        std::swap(swapped.client_cert_file, swapped.client_key_file);
        expect_invalid(b, swapped,
                       {"client_cert_file " + cert("client-ec.key") + " holds no PEM certificate"},
                       "tls");
        swapped.client_cert_file = cert("client-ec.pem");
        expect_invalid(b, swapped,
                       {"client_key_file " + cert("client-ec.pem") + " holds no PEM private key"},
                       "tls");
        const std::pair<const char*, const char*> encrypted[] = {
            {"client-ec", "client-ec-enc.key"}, {"client-rsa", "client-rsa-trad.key"}};
        for (const auto& e : encrypted) {
            const char* leaf = e.first;
            const char* key = e.second;
            INFO(key);
            auto enc = with_cert(leaf, key);
            expect_invalid(b, enc,
                           {"client_key_file " + cert(key) +
                            " is encrypted: set client_key_password"},
                           "tls");
            enc.client_key_password = "not the passphrase";
            expect_invalid(b, enc, {"cannot decrypt client_key_file " + cert(key)}, lib);
        }
        auto half = client_config({"h2"});
        half.client_cert_file = cert("client-ec.pem");
        expect_invalid(b, half,
                       {"client_cert_file " + cert("client-ec.pem"), "without client_key_file"},
                       "tls");
        half = client_config({"h2"});
        half.client_key_file = cert("client-ec.key");
        expect_invalid(b, half,
                       {"client_key_file " + cert("client-ec.key"), "without client_cert_file"},
                       "tls");
        half = client_config({"h2"});
        half.client_key_password = "secret";
        expect_invalid(b, half, {"client_key_password is set without client_key_file"}, "tls");

        // The server's bundle is checked too.
        auto scfg = asking();
        scfg.client_ca_file = cert("no-such-ca.pem");
        Error err;
        CHECK(b.server_context(scfg, err) == nullptr);
        CHECK(err.code == errc::invalid_config);
        CHECK(has(err.detail, "client_ca_file " + cert("no-such-ca.pem")));
        scfg.client_ca_file = cert("client-ec.key");
        CHECK(b.server_context(scfg, err) == nullptr);
        CHECK(err.code == errc::invalid_config);
        CHECK(has(err.detail, "holds no PEM certificate"));
    }
}

TEST_CASE("a resumed session keeps its client authentication, and never crosses identities") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        Error err;
        auto sctx = s.server_context(asking(false), err);
        auto ec = c.client_context(with_cert("client-ec"), err);
        auto anonymous = c.client_context(client_config({"h2"}), err);
        REQUIRE(sctx);
        REQUIRE(ec);
        REQUIRE(anonymous);
        // A connection that carries data both ways, so TLS 1.3 tickets arrive.
        auto use = [&](const std::shared_ptr<tls::ClientContext>& cctx,
                       std::vector<std::uint8_t> resume, Pair& p) {
            const HandshakeResult r = connect(p, cctx, sctx, std::move(resume));
            CHECK(r.client == Status::ok);
            CHECK(r.server == Status::ok);
            CHECK(send_and_receive(p, Direction::to_client, "ticket, please") == "ticket, please");
            CHECK(send_and_receive(p, Direction::to_server, "thanks") == "thanks");
            settle(p);
        };
        Pair first;
        use(ec, {}, first);
        CHECK(first.server->info().client_certificate);
        const auto exported = first.client->export_session();
        REQUIRE_FALSE(exported.empty());

        Pair again;
        use(ec, exported, again);
        CHECK(again.client->info().resumed == std::optional<bool>(true));
        CHECK(again.server->info().client_certificate);

        // Another identity (here: none) never picks up the first one's authentication.
        Pair other;
        use(anonymous, exported, other);
        CHECK_FALSE(other.client->info().resume_ignored.empty());
        CHECK(other.client->info().resumed != std::optional<bool>(true));
        CHECK_FALSE(other.server->info().client_certificate);
    });
}
