// client_mtls: client certificates and key logging end to end over real sockets, on every
// backend: our server backends require a certificate from the client CA; the Client presents
// the one its policy names (defaults or a host rule), or ends with tls:certificate_required.
// Key logging through ClientOptions::keylog_file writes NSS lines and warns once.
#include "client_common.hpp"

#include <connmatrix/config.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

using namespace connmatrix;
using namespace connmatrix::test;

namespace {

// {"backend": B, "tls": {"ca_file": CA, <identity>}}, and a localhost rule when given.
std::string mtls_json(std::string_view backend, const std::string& defaults_identity,
                      const std::string& rule_identity = {}) {
    std::string j = "{\"defaults\": {\"backend\": \"" + std::string(backend) +
                    "\", \"mode\": \"alpn\", \"tls\": {\"ca_file\": \"" + cert("ca.pem") + "\"" +
                    (defaults_identity.empty() ? "" : ", " + defaults_identity) + "}}";
    if (!rule_identity.empty())
        j += ", \"hosts\": [{\"match\": \"localhost\", \"tls\": {" + rule_identity + "}}]";
    return j + "}";
}

std::string identity(const std::string& name, const std::string& key = {},
                     const std::string& extra = {}) {
    return "\"client_cert\": \"" + cert(name + ".pem") + "\", \"client_key\": \"" +
           cert((key.empty() ? name : key) + ".key") + "\"" + (extra.empty() ? "" : ", " + extra);
}

TestServerOptions mtls_server(const tls::Backend& b) {
    auto o = tls_server(b, {"h2", "http/1.1"});
    o.tls.client_ca_file = cert("client-ca.pem");
    o.tls.require_client_cert = true;
    o.handler = echo_path;
    return o;
}

std::string read_all(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("a server that requires a client certificate: presented from the policy, or certificate_required") {
    for (const auto& b : registry().all()) {
        INFO("backend ", b->name());
        TestServer server(mtls_server(*b));
        const std::string url = server.url("/m");
        REQUIRE(url.find("localhost") != std::string::npos);

        Client ok = make_client(mtls_json(b->name(), identity("client-ec")));
        Result r = ok.send({.method = "GET", .url = url});
        INFO(r.error.message());
        REQUIRE(r);
        CHECK(r.response.status == 200);
        CHECK(r.response.body == "h2 GET /m");
        CHECK(r.response.info.client_certificate);

        Client none = make_client(mtls_json(b->name(), ""));
        Result n = none.send({.method = "GET", .url = url});
        CHECK_FALSE(n);
        CHECK(error_name(n.error.code) == "tls:certificate_required");
        CHECK(n.error.detail.find("none is configured") != std::string::npos);
        CHECK_FALSE(n.response.info.client_certificate);

        Client rogue = make_client(mtls_json(b->name(), identity("client-rogue")));
        Result g = rogue.send({.method = "GET", .url = url});
        CHECK_FALSE(g);
        CHECK(error_name(g.error.code) == "tls:certificate_required");
        CHECK(g.error.detail.find("refused") != std::string::npos);

        // A POST is processed exactly once: the refusal comes before any request is read.
        Result p = none.send({.method = "POST", .url = url, .body = "once"});
        CHECK(error_name(p.error.code) == "tls:certificate_required");
        CHECK(server.served().size() == 1);  // only `ok`'s GET
    }
}

TEST_CASE("a host rule's identity is used for its host only; the pool keeps identities apart") {
    for (const auto& b : registry().all()) {
        INFO("backend ", b->name());
        TestServer server(mtls_server(*b));
        const std::string url = server.url("/r");
        std::string by_ip = url;
        by_ip.replace(by_ip.find("localhost"), 9, "127.0.0.1");
        // An encrypted RSA key whose passphrase comes from a variable, for localhost only.
        ::setenv("CONNMATRIX_TEST_CLIENT_PASS", read_all(cert("client-rsa-trad.pass")).c_str(), 1);
        Client c = make_client(mtls_json(b->name(), "",
                                         identity("client-rsa", "client-rsa-trad",
                                                  "\"client_key_password_env\": "
                                                  "\"CONNMATRIX_TEST_CLIENT_PASS\"")));
        Result r = c.send({.method = "GET", .url = url});
        INFO(r.error.message());
        CHECK(r);
        CHECK(r.response.info.client_certificate);
        Result i = c.send({.method = "GET", .url = by_ip});
        CHECK(error_name(i.error.code) == "tls:certificate_required");
        ::unsetenv("CONNMATRIX_TEST_CLIENT_PASS");
    }
}

TEST_CASE("a key that does not belong to the certificate: the Client does not start, naming file and rule") {
    for (const auto& b : registry().all()) {
        INFO("backend ", b->name());
        // In defaults, and in a rule (whose backend is the defaults').
        const std::string bad = identity("client-ec", "client-rsa");
        for (const auto& c_w :
             {std::pair{mtls_json(b->name(), bad), std::string("defaults")},
              std::pair{mtls_json(b->name(), identity("client-ec"), bad), std::string("hosts[0]")}}) {
            const std::string& json = c_w.first;
            const std::string& where = c_w.second;
            Error err;
            auto c = Client::from_json(json, err);
            CHECK_FALSE(c);
            CHECK(err.code == tls::errc::invalid_config);
            INFO(err.detail);
            CHECK(err.detail.rfind(where + ".tls.client_cert (backend " + std::string(b->name()) +
                                       "): ", 0) == 0);
            CHECK(err.detail.find(cert("client-rsa.key")) != std::string::npos);
            // Built in code, the same check throws.
            auto loaded = config::load_string(json);
            REQUIRE(loaded);
            CHECK_THROWS_AS(Client(std::move(*loaded.config)), std::system_error);
        }
    }
}

TEST_CASE("a key that stops loading after startup: the connection names the file and the rule") {
    const auto& b = registry().default_backend();
    TestServer server(mtls_server(b));
    const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                      ("connmatrix-mtls-key-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string key = (dir / "client.key").string();
    std::filesystem::copy_file(cert("client-ec.key"), key,
                               std::filesystem::copy_options::overwrite_existing);
    Client c = make_client(mtls_json(b.name(), "\"client_cert\": \"" + cert("client-ec.pem") +
                                                   "\", \"client_key\": \"" + key + "\""));
    std::filesystem::copy_file(cert("client-rsa.key"), key,
                               std::filesystem::copy_options::overwrite_existing);
    Result r = c.send({.method = "GET", .url = server.url("/x")});
    std::filesystem::remove_all(dir);
    CHECK_FALSE(r);
    CHECK(r.error.code == tls::errc::invalid_config);
    INFO(r.error.detail);
    CHECK(r.error.detail.find(key) != std::string::npos);
    CHECK(r.error.detail.find("tls.client_cert from defaults") != std::string::npos);
    CHECK(server.served().size() == 0);
}

TEST_CASE("key logging: ClientOptions::keylog_file gets NSS lines, a warning is logged once") {
    for (const auto& b : registry().all()) {
        INFO("backend ", b->name());
        TempDir dir;
        const std::string file = (dir.path / "keys.log").string();
        auto o = tls_server(*b, {"h2", "http/1.1"});
        o.handler = echo_path;
        TestServer server(o);
        auto mu = std::make_shared<std::mutex>();
        auto warnings = std::make_shared<std::vector<std::string>>();
        ClientOptions opts;
        opts.keylog_file = file;
        opts.log = [mu, warnings](LogLevel l, std::string_view m) {
            std::lock_guard lock(*mu);
            if (l == LogLevel::warn) warnings->emplace_back(m);
        };
        opts.log_level = LogLevel::warn;
        {
            Client c = make_client(client_json(b->name(), "http1"), opts);
            REQUIRE(c.send({.method = "GET", .url = server.url("/k")}));
            // A second connection to another origin (the same server by IP) appends.
            std::string by_ip = server.url("/k");
            by_ip.replace(by_ip.find("localhost"), 9, "127.0.0.1");
            REQUIRE(c.send({.method = "GET", .url = by_ip}));
        }
        {
            std::lock_guard lock(*mu);
            REQUIRE(warnings->size() == 1);
            CHECK(warnings->front().find(file) != std::string::npos);
        }
        struct stat st{};
        REQUIRE(::stat(file.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        std::istringstream lines(read_all(file));
        std::set<std::string> randoms;
        std::size_t n = 0;
        for (std::string line; std::getline(lines, line); ++n) {
            std::istringstream f(line);
            std::string label, random, secret;
            f >> label >> random >> secret;
            CHECK(random.size() == 64);
            CHECK(secret.size() >= 64);
            randoms.insert(random);
        }
        CHECK(n >= 2);
        CHECK(randoms.size() == 2);  // two handshakes
    }
}

TEST_CASE("key logging: a file that cannot be opened stops the Client from starting") {
    Error err;
    ClientOptions opts;
    opts.keylog_file = "/nonexistent-dir/keys.log";
    auto c = Client::from_json("{}", err, opts);
    CHECK_FALSE(c);
    CHECK(err.code == tls::errc::invalid_config);
    CHECK(err.detail.find("/nonexistent-dir/keys.log") != std::string::npos);
    // SSLKEYLOGFILE is read when keylog_file is empty, and named in the message.
    ::setenv("SSLKEYLOGFILE", "/nonexistent-dir/env.log", 1);
    auto e = Client::from_json("{}", err, {});
    ::unsetenv("SSLKEYLOGFILE");
    CHECK_FALSE(e);
    CHECK(err.detail.find("/nonexistent-dir/env.log\" (SSLKEYLOGFILE)") != std::string::npos);
    ClientOptions off;
    off.keylog_from_environment = false;
    ::setenv("SSLKEYLOGFILE", "/nonexistent-dir/env.log", 1);
    auto f = Client::from_json("{}", err, off);
    ::unsetenv("SSLKEYLOGFILE");
    CHECK(f);
}
