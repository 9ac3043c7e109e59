// The names of errors: every enumerator of every category has a stable name and its own text,
// error_name() spells them "category:name", and errors made for real name an origin that fits
// their category (error.hpp's origin rule).
#include "checks.hpp"
#include "server.hpp"

#include "http1.hpp"
#include "http2.hpp"

#include <connmatrix/client.hpp>
#include <connmatrix/config.hpp>
#include <connmatrix/errors.hpp>
#include <connmatrix/negotiate.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>
#include <stop_token>
#include <string>
#include <thread>

using namespace connmatrix;
using test::TestServer;
using test::TestServerOptions;

namespace {

Request get(std::string url) {
    Request r;
    r.url = std::move(url);
    return r;
}

bool is_identifier(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

// Reports what does not fit before checking, so a failure names the error.
void check_origin(const Error& err, std::string_view expected_origin) {
    INFO(error_name(err.code), " origin \"", err.origin, "\": ", err.message());
    REQUIRE(err);
    CHECK(origin_fits(err));
    CHECK(err.origin == expected_origin);
}

}  // namespace

TEST_CASE("error_categories: each module once, each category its module's own") {
    const auto cats = error_categories();
    const std::vector<const ErrorCategory*> expected = {
        &config::category(), &net::category(),   &tls::category(), &negotiate::category(),
        &http1::category(),  &http2::category(), &pool::category()};
    CHECK(cats == expected);
    std::set<std::string> names;
    for (const ErrorCategory* c : cats) {
        CHECK(is_identifier(c->name()));
        CHECK(names.insert(c->name()).second);
    }
    CHECK(names == std::set<std::string>{"config", "http1", "http2", "negotiate", "net", "pool",
                                         "tls"});
}

TEST_CASE("every enumerator has a unique name and a unique text of its own") {
    for (const ErrorCategory* c : error_categories()) {
        const std::string cat = c->name();
        INFO(cat);
        REQUIRE(c->size() >= 1);
        std::set<std::string_view> names;
        std::set<std::string> messages;
        for (int v = 1; v <= c->size(); ++v) {
            const std::string_view name = c->enumerator(v);
            const std::string message = c->message(v);
            INFO(v, " ", name, ": ", message);
            CHECK(is_identifier(name));
            CHECK(names.insert(name).second);
            CHECK_FALSE(message.empty());
            CHECK(message != "unknown " + cat + " error " + std::to_string(v));
            CHECK(messages.insert(message).second);
            CHECK(error_name(std::error_code(v, *c)) == cat + ":" + std::string(name));
        }
        // Outside 1..size(): no name, the fallback text, the number.
        for (int v : {0, -1, c->size() + 1}) {
            CHECK(c->enumerator(v).empty());
            CHECK(c->message(v) == "unknown " + cat + " error " + std::to_string(v));
            CHECK(error_name(std::error_code(v, *c)) == cat + ":" + std::to_string(v));
        }
    }
}

TEST_CASE("size() is each enum's last enumerator; make_error_code agrees with the table") {
    auto last = [](auto e, std::string_view expected) {
        const std::error_code code = make_error_code(e);
        const auto& c = dynamic_cast<const ErrorCategory&>(code.category());
        CHECK(c.size() == static_cast<int>(e));
        CHECK(error_name(code) == expected);
    };
    last(tls::errc::certificate_required, "tls:certificate_required");
    last(negotiate::errc::alpn_on_cleartext, "negotiate:alpn_on_cleartext");
    last(http1::errc::unsolicited_response, "http1:unsolicited_response");
    last(http2::errc::http_1_1_required, "http2:http_1_1_required");
    last(net::errc::response_too_large, "net:response_too_large");
    last(pool::errc::body_length_mismatch, "pool:body_length_mismatch");
    last(config::errc::internal, "config:internal");
    // The names the CLI had wrong once, and a first enumerator of each numbering.
    CHECK(error_name(pool::errc::retries_exhausted) == "pool:retries_exhausted");
    CHECK(error_name(tls::errc::no_application_protocol) == "tls:no_application_protocol");
    CHECK(error_name(http2::errc::not_h2) == "http2:not_h2");
    CHECK(error_name(net::errc::bad_url) == "net:bad_url");
}

TEST_CASE("error_name of a foreign category: its name and the number") {
    CHECK(error_name(std::make_error_code(std::errc::connection_refused)) ==
          "generic:" + std::to_string(ECONNREFUSED));
    CHECK(error_name(std::error_code(ECONNRESET, std::system_category())) ==
          "system:" + std::to_string(ECONNRESET));
}

TEST_CASE("origin_fits: the module, one of its libraries, or nothing to attribute") {
    CHECK(origin_fits(Error{}));
    CHECK(origin_fits(Error(tls::errc::internal)));
    CHECK_FALSE(origin_fits(Error(tls::errc::internal, "text with no author")));
    CHECK(origin_fits(Error(tls::errc::internal, "ours", 0, "tls")));
    CHECK(origin_fits(Error(tls::errc::internal, "theirs", 42, "gnutls")));
    CHECK_FALSE(origin_fits(Error(tls::errc::internal, "theirs", 42, "nghttp2")));
    CHECK_FALSE(origin_fits(Error(tls::errc::unsupported, "ours", 0, "pool")));
    CHECK(origin_fits(Error(http2::errc::protocol_error, "theirs", -505, "nghttp2")));
    CHECK(origin_fits(Error(net::errc::io_error, "reset", ECONNRESET, "system")));
    CHECK(origin_fits(Error(net::errc::io_error, "end of file", 2, "asio")));
    CHECK_FALSE(origin_fits(Error(pool::errc::client_closed, "closed", 0, "net")));
    CHECK(origin_fits(Error(std::make_error_code(std::errc::io_error), "x", 5, "generic")));
    CHECK_FALSE(origin_fits(Error(std::make_error_code(std::errc::io_error), "x", 5, "system")));
}

TEST_CASE("errors made for real name an origin that fits their category") {
    SUBCASE("config: a load failure") {
        const auto r = config::load_string("{\"defaults\": ", "bad.json");
        REQUIRE_FALSE(r);
        CHECK(r.error().code == config::errc::syntax_error);
        check_origin(r.error(), "config");
        check_origin(r.errors.front().to_error(), "config");
    }
    SUBCASE("negotiate: decide() refusing the outcome") {
        policy::Policy p;
        p.alpn = {"h2"};
        p.no_alpn = policy::NoAlpn::fail;
        const auto d = negotiate::decide(p, negotiate::Transport::tls,
                                         negotiate::AlpnOutcome::none());
        REQUIRE_FALSE(d.ok());
        CHECK(d.error == negotiate::errc::h2_required_but_no_alpn);
        check_origin(d.to_error(), "negotiate");
    }
    SUBCASE("http1: a parse error and a writer refusal") {
        http1::ResponseParser parser{"GET"};
        REQUIRE(parser.feed(std::string_view("HTTP/1.1 2x0 OK\r\n\r\n")) ==
                http1::Status::failed);
        CHECK(parser.error().code == http1::errc::malformed_status_line);
        check_origin(parser.error(), "http1");
        std::vector<std::uint8_t> out;
        const Error e = http1::write_request(out, "GET", "/", "", {}, std::string_view{});
        CHECK(e.code == http1::errc::invalid_message);
        check_origin(e, "http1");
    }
    SUBCASE("http2: nghttp2's own error, and ours") {
        http2::ClientSession c;
        (void)c.take_output();
        const std::string garbage(64, '\xff');
        const Error lib = c.feed({reinterpret_cast<const std::uint8_t*>(garbage.data()),
                                  garbage.size()});
        CHECK(lib.code == http2::errc::protocol_error);
        check_origin(lib, "nghttp2");
        http2::ClientSession closed;
        closed.feed_eof();
        Error err;
        CHECK(closed.submit_request({}, err) == 0);
        CHECK(err.code == http2::errc::closed);
        check_origin(err, "http2");
    }
    SUBCASE("net: a refused port (the OS's errno), an unknown host, a bad URL (ours)") {
        TestServer tmp(TestServerOptions{});
        const auto port = tmp.port();
        tmp.stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        Client c(policy::Config{});
        Result r = c.send(get("http://127.0.0.1:" + std::to_string(port) + "/"));
        CHECK(r.error.code == net::errc::connect_failed);
        check_origin(r.error, "system");
        CHECK(r.error.library_code == ECONNREFUSED);
        r = c.send(get("https://no-such-host.invalid/"));
        CHECK(r.error.code == net::errc::resolve_failed);
        INFO(r.error.message());
        CHECK(origin_fits(r.error));
        r = c.send(get("https://"));
        CHECK(r.error.code == net::errc::bad_url);
        check_origin(r.error, "net");
    }
    SUBCASE("pool: a send after close()") {
        Client c(policy::Config{});
        c.close();
        const Result r = c.send(get("http://127.0.0.1:1/"));
        CHECK(r.error.code == pool::errc::client_closed);
        check_origin(r.error, "pool");
    }
    SUBCASE("pool: a request cancelled through its stop_token") {
        TestServer server(TestServerOptions{});  // cleartext HTTP/1.1
        Client c(policy::Config{});
        std::stop_source stop;
        stop.request_stop();
        Request req = get("http://127.0.0.1:" + std::to_string(server.port()) + "/");
        req.cancel = stop.get_token();
        const Result r = c.send(std::move(req));
        CHECK(r.error.code == pool::errc::cancelled);
        check_origin(r.error, "pool");
    }
    SUBCASE("config: a hand-made policy naming a backend this build lacks") {
        const policy::BuildInfo pretend{{"wolfssl"}, "wolfssl"};
        auto loaded = config::load_string(R"({"defaults": {"backend": "wolfssl"}})", "<test>",
                                          pretend);
        INFO(loaded.report());
        REQUIRE(loaded);
        TestServer server(TestServerOptions{});  // cleartext: TCP connects, TLS never starts
        Client c(std::move(*loaded.config));
        const Result r =
            c.send(get("https://127.0.0.1:" + std::to_string(server.port()) + "/"));
        CHECK(r.error.code == config::errc::backend_not_compiled_in);
        check_origin(r.error, "config");
    }
}
