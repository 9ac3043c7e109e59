// hostile_tls: TLS servers that are wrong or hostile, against a Client of every backend (the
// server is our own server backend of the same name, on a real socket). Each case ends with one
// specific tls (or net) error, on time, with the peak RSS growth bounded; default settings
// throughout (verification on, minimum TLS 1.2).
#include "hostile.hpp"

using namespace connmatrix;
using namespace connmatrix::test;

namespace {

constexpr std::string_view head_end = "\r\n\r\n";

// A server of `backend` presenting `cert_file`/`key_file` that answers every request with 200.
HostileOptions presenting(const tls::Backend& backend, std::string cert_file, std::string key_file) {
    HostileOptions o = tls_hostile(backend);
    o.tls.cert_file = std::move(cert_file);
    o.tls.key_file = std::move(key_file);
    return o;
}

const Script ok = [](Peer& p, std::size_t) {
    while (p.read_until(head_end)) {
        p.input().clear();
        if (!p.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) return;
    }
};

// On every backend: a GET to the server that `options_for` describes fails with `code`
// (`in_handshake`: before any certificate was accepted).
template <class Options>
void expect_tls_error(Options options_for, const Script& script, std::error_code code,
                      bool in_handshake = true) {
    for (const auto& b : registry().all()) {
        const Transport t{b.get()};
        INFO(t.name());
        HostileServer server(options_for(*b), script);
        Client c = hostile_client(t);
        PeakRss rss;
        const Timed r = timed_get(c, server.url());
        check_error(r, code, tls_timeout + margin);
        MESSAGE(t.name(), ": ", error_name(r.result.error.code), " after ", r.took.count(),
                " ms: ", r.result.error.message());
        if (in_handshake) CHECK_FALSE(r.result.response.info.verified);
        CHECK(rss.growth() < base_slack);
    }
}

}  // namespace

TEST_CASE("a certificate for another host: certificate_hostname_mismatch") {
    expect_tls_error(
        [](const tls::Backend& b) { return presenting(b, cert("other-host.pem"), cert("other-host.key")); },
        ok, tls::errc::certificate_hostname_mismatch);
}

TEST_CASE("an expired certificate: certificate_expired") {
    expect_tls_error(
        [](const tls::Backend& b) { return presenting(b, cert("expired.pem"), cert("expired.key")); },
        ok, tls::errc::certificate_expired);
}

TEST_CASE("a self-signed certificate: certificate_untrusted") {
    expect_tls_error(
        [](const tls::Backend& b) {
            return presenting(b, hostile_cert("self-signed.pem"), hostile_cert("self-signed.key"));
        },
        ok, tls::errc::certificate_untrusted);
}

TEST_CASE("a certificate from an unknown CA: certificate_untrusted") {
    expect_tls_error(
        [](const tls::Backend& b) { return presenting(b, cert("unknown-ca.pem"), cert("unknown-ca.key")); },
        ok, tls::errc::certificate_untrusted);
}

TEST_CASE("a server that speaks only TLS 1.0 and 1.1: protocol_version with the default minimum") {
    // The server is whichever backend can still be configured for TLS 1.0-1.1 (a library
    // built without them refuses, with unsupported); every client backend meets it.
    const tls::Backend* old_server = nullptr;
    for (const auto& b : registry().all()) {
        HostileOptions o = tls_hostile(*b);
        o.tls.min_version = tls::Version::tls1_0;
        o.tls.max_version = tls::Version::tls1_1;
        Error err;
        if (b->server_context(o.tls, err)) {
            old_server = b.get();
            break;
        }
        CHECK(err.code == tls::errc::unsupported);
    }
    REQUIRE_MESSAGE(old_server, "no backend of this build can serve TLS 1.0/1.1 to test against");
    MESSAGE("TLS 1.0/1.1 server: ", old_server->name());
    expect_tls_error(
        [old_server](const tls::Backend&) {
            HostileOptions o = tls_hostile(*old_server);
            o.tls.min_version = tls::Version::tls1_0;
            o.tls.max_version = tls::Version::tls1_1;
            return o;
        },
        ok, tls::errc::protocol_version);
}

TEST_CASE("the server closes in the middle of the handshake: truncated") {
    const Script read_hello_and_close = [](Peer& p, std::size_t) {
        p.read_some();  // the ClientHello
        p.shutdown_write();
        p.drain(1000ms);
    };
    expect_tls_error(
        [](const tls::Backend& b) {
            HostileOptions o = tls_hostile(b);
            o.handshake = false;
            return o;
        },
        read_hello_and_close, tls::errc::truncated);
}

TEST_CASE("the server sends its certificate, then closes before finishing: truncated") {
    // A real ServerHello flight, cut short: the server session's first output, then EOF.
    const Script half = [](Peer& p, std::size_t) {
        std::uint8_t buf[16384];
        p.read_some();
        p.tls()->feed({reinterpret_cast<const std::uint8_t*>(p.input().data()), p.input().size()});
        (void)buf;
        (void)p.tls()->handshake();
        auto out = p.tls()->take_output();
        out.resize(out.size() / 2);
        p.write_raw(out);
        p.shutdown_write();
        p.drain(1000ms);
    };
    expect_tls_error(
        [](const tls::Backend& b) {
            HostileOptions o = tls_hostile(b);
            o.handshake = false;
            return o;
        },
        half, tls::errc::truncated);
}

TEST_CASE("garbage instead of a ServerHello: bad_record") {
    // Bytes that cannot be a TLS record: an HTTP/1.1 server on the TLS port.
    const Script plaintext_server = [](Peer& p, std::size_t) {
        p.read_some();
        p.write_raw(std::string_view("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
        p.shutdown_write();
        p.drain(1000ms);
    };
    expect_tls_error(
        [](const tls::Backend& b) {
            HostileOptions o = tls_hostile(b);
            o.handshake = false;
            return o;
        },
        plaintext_server, tls::errc::bad_record);
}

// --- the end of the stream without close_notify -------------------------------------------
//
// TLS says the end of data is close_notify; a bare TCP FIN may be an attacker cutting the
// stream. What it cuts decides:
// - a close-delimited body (no Content-Length, not chunked) ends only at the end of the
//   stream: without close_notify it may have been cut anywhere, so it is tls:truncated, never
//   handed out as complete;
// - a body whose framing says it is complete (Content-Length reached, or the last chunk) was
//   received whole before the stream ended: it is delivered, and the missing close_notify only
//   ends the connection (as browsers and curl do: many servers never send close_notify).

namespace {

// Answers with `response`, then ends the stream: with close_notify or a bare FIN.
Script answer_then_end(std::string response, bool close_notify) {
    return [response = std::move(response), close_notify](Peer& p, std::size_t) {
        if (!p.read_until(head_end)) return;
        if (!p.write(response)) return;
        if (close_notify) p.close_notify();
        p.shutdown_write();
        p.drain(1000ms);
    };
}

}  // namespace

TEST_CASE("EOF without close_notify in a close-delimited body: truncated, not complete") {
    expect_tls_error([](const tls::Backend& b) { return tls_hostile(b); },
                     answer_then_end("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe body, or some of it",
                                     false),
                     tls::errc::truncated, false);
}

TEST_CASE("a close-delimited body ended by close_notify is complete") {
    for (const auto& b : registry().all()) {
        const Transport t{b.get()};
        INFO(t.name());
        HostileServer server(tls_hostile(*b),
                             answer_then_end("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe whole body", true));
        Client c = hostile_client(t);
        const Timed r = timed_get(c, server.url());
        INFO(r.result.error.message());
        REQUIRE(r.result);
        CHECK(r.result.response.body == "the whole body");
        CHECK(r.took < request_timeout);
    }
}

TEST_CASE("EOF without close_notify after a complete Content-Length body: delivered") {
    for (const auto& b : registry().all()) {
        const Transport t{b.get()};
        INFO(t.name());
        HostileServer server(
            tls_hostile(*b),
            answer_then_end("HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nthe whole body", false));
        Client c = hostile_client(t);
        const Timed r = timed_get(c, server.url());
        INFO(r.result.error.message());
        REQUIRE(r.result);
        CHECK(r.result.response.body == "the whole body");
        CHECK(r.took < request_timeout);
        // The connection is gone, not reused: the next request opens another.
        HostileServer again(tls_hostile(*b), ok);
        CHECK(c.send({.method = "GET", .url = again.url()}));
    }
}

TEST_CASE("EOF without close_notify before a Content-Length body is complete: truncated") {
    expect_tls_error([](const tls::Backend& b) { return tls_hostile(b); },
                     answer_then_end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nnot all of it", false),
                     tls::errc::truncated, false);
}

TEST_CASE("a huge certificate chain (100 intermediates): a specific error or success, bounded") {
    // The server sends a leaf and 100 intermediates (some 59 KB in one Certificate message)
    // that do lead to a root the client trusts. The libraries cap what they take (OpenSSL
    // verifies up to depth 100, GnuTLS keeps 16 certificates, mbedTLS 2.28 takes a handshake
    // message of at most 16 KB: unsupported): each client must end on time with a specific
    // error, or accept the chain, never hang or grow without bound. An mbedTLS server cannot send such a
    // message at all; where no other server backend is compiled in, the chain has 20
    // intermediates (12 KB), which it can send and which is still beyond two of the caps
    // (mbedTLS verifies at most 8 intermediates: certificate_invalid, not handshake_failed).
    const tls::Backend* server_backend = registry().find("openssl");
    if (!server_backend) server_backend = registry().find("gnutls");
    const std::string chain = server_backend ? "chain-100" : "chain-20";
    if (!server_backend) server_backend = &registry().default_backend();
    MESSAGE("server: ", server_backend->name(), ", ", chain);
    const std::string json_tail =
        timeouts_json() + R"(, "tls": {"ca_file": ")" + hostile_cert(chain + "-root.pem") + "\"}";
    for (const auto& b : registry().all()) {
        INFO(b->name());
        HostileServer server(presenting(*server_backend, hostile_cert(chain + "-leaf.pem"),
                                        hostile_cert(chain + "-leaf.key")),
                             ok);
        Client c = make_client("{\"defaults\": {\"backend\": \"" + std::string(b->name()) +
                               "\", \"mode\": \"http1\", " + json_tail + "}}");
        PeakRss rss;
        const Timed r = timed_get(c, server.url());
        MESSAGE(b->name(), ": ", r.result ? "ok" : error_name(r.result.error.code), " after ",
                r.took.count(), " ms, peak RSS +", rss.growth() / 1024, " KiB: ",
                r.result.error.message());
        CHECK(r.took < tls_timeout + margin);
        CHECK(rss.growth() < base_slack);
        if (r.result) {
            CHECK(r.result.response.info.verified);
            CHECK(r.result.response.body == "ok");
            continue;
        }
        CHECK(origin_fits(r.result.error));
        const std::error_code e = r.result.error.code;
        CHECK((e == tls::errc::certificate_invalid || e == tls::errc::certificate_untrusted ||
               e == tls::errc::unsupported));
    }
}
