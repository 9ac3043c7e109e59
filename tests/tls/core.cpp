// tls_core: the pieces every backend shares, tested on their own: the hello reader (on the real
// hellos of every backend, and on broken ones), the record observer, the resumption envelope
// and its MAC, the configuration checks (the same verdict from every backend), the key log's
// line format and writer, the client identity reader and the reading of a server's verdict on a
// client certificate, the early data rules.
#include "common.hpp"

#include "alert.hpp"
#include "core.hpp"
#include "early.hpp"
#include "envelope.hpp"
#include "hello.hpp"
#include "identity.hpp"
#include "keylog.hpp"
#include "pin.hpp"
#include "records.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <thread>

using namespace connmatrix;
using namespace connmatrix::test;
using tls::errc;

namespace {

tls::envelope::Key counting_key() {
    tls::envelope::Key k{};
    std::iota(k.begin(), k.end(), std::uint8_t{0});
    return k;
}

// The first handshake message of a byte stream of records, as the observer reassembles it.
std::vector<std::uint8_t> first_message(const std::vector<std::uint8_t>& records) {
    tls::RecordObserver o;
    o.consume(records);
    REQUIRE(o.first_message() != nullptr);
    return *o.first_message();
}

// What a fresh client session of `b` sends first.
std::vector<std::uint8_t> client_hello_of(const tls::Backend& b, std::vector<std::string> alpn,
                                          const std::string& host = "localhost") {
    Error err;
    auto ctx = b.client_context(client_config(std::move(alpn)), err);
    REQUIRE(ctx);
    tls::ClientSessionParams params;
    params.host = host;
    auto s = ctx->new_session(params, err);
    REQUIRE(s);
    CHECK(s->handshake() == tls::Status::want_input);
    return s->take_output();
}

}  // namespace

TEST_CASE("SipHash-2-4 gives the reference vectors") {
    const auto key = counting_key();
    const std::uint64_t expected[] = {0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a};
    std::vector<std::uint8_t> msg;
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(tls::envelope::siphash24(key, msg) == expected[i]);
        msg.push_back(static_cast<std::uint8_t>(i));
    }
    msg.resize(8);
    std::iota(msg.begin(), msg.end(), std::uint8_t{0});
    CHECK(tls::envelope::siphash24(key, msg) == 0x93f5f5799a932462);
    msg.resize(15);
    std::iota(msg.begin(), msg.end(), std::uint8_t{0});
    CHECK(tls::envelope::siphash24(key, msg) == 0xa129ca6149be45e5);
    CHECK(tls::envelope::random_key() != tls::envelope::random_key());
}

TEST_CASE("the envelope keeps its fields, and any change to its bytes is refused") {
    namespace env = tls::envelope;
    const auto key = env::random_key();
    const env::Fields f{"gnutls", "api.example.com", std::string("api.example.com"), true,
                        std::string("h2"), 1'900'000'000};
    const std::vector<std::uint8_t> payload = {1, 2, 3, 4, 5};
    const auto blob = env::seal(f, payload, key);
    std::string why;
    auto opened = env::open(blob, key, why);
    REQUIRE(opened);
    CHECK(opened->fields.backend == f.backend);
    CHECK(opened->fields.host == f.host);
    CHECK(opened->fields.sni == f.sni);
    CHECK(opened->fields.verified);
    CHECK(opened->fields.alpn == f.alpn);
    CHECK(opened->fields.expires == f.expires);
    CHECK(opened->payload == payload);

    for (std::size_t i = 0; i < blob.size(); ++i) {
        auto bad = blob;
        bad[i] ^= 0x20;
        CHECK_FALSE(env::open(bad, key, why));
    }
    for (std::size_t n = 0; n < blob.size(); ++n)
        CHECK_FALSE(env::open(std::span(blob).first(n), key, why));
    CHECK_FALSE(env::open(blob, env::random_key(), why));
    CHECK(why == "envelope not sealed by this backend instance with these trust settings (or altered)");
    // A key per trust setting: deterministic, and different for any other label.
    CHECK(env::derive_key(key, "trust|a") == env::derive_key(key, "trust|a"));
    CHECK(env::derive_key(key, "trust|a") != env::derive_key(key, "trust|b"));
    CHECK(env::derive_key(key, "trust|a") != env::derive_key(env::random_key(), "trust|a"));
    CHECK_FALSE(env::open(blob, env::derive_key(key, "trust|a"), why));

    env::Fields no_sni = f;
    no_sni.sni.reset();
    no_sni.alpn.reset();
    auto o2 = env::open(env::seal(no_sni, payload, key), key, why);
    REQUIRE(o2);
    CHECK(o2->fields.sni == std::nullopt);
    CHECK(o2->fields.alpn == std::nullopt);
    CHECK_FALSE(env::open(env::seal(f, {}, key), key, why));  // no payload: nothing to resume
}

TEST_CASE("the one resumption rule") {
    namespace env = tls::envelope;
    const env::Fields sealed{"openssl", "localhost", std::string("localhost"), true, {}, 1000};
    env::Fields want{"openssl", "localhost", std::string("localhost"), true, {}, 0};
    CHECK(env::refusal(sealed, want, 999).empty());
    CHECK(env::refusal(sealed, want, 1000) == "expired");
    env::Fields w = want;
    w.backend = "mbedtls";
    CHECK(env::refusal(sealed, w, 0).find("openssl backend") != std::string::npos);
    w = want;
    w.host = "other.example";
    CHECK(env::refusal(sealed, w, 0).find("\"localhost\"") != std::string::npos);
    w = want;
    w.sni.reset();
    CHECK(env::refusal(sealed, w, 0) == "exported for another SNI");
    env::Fields unverified = sealed;
    unverified.verified = false;
    CHECK(env::refusal(unverified, want, 0).find("not verified") != std::string::npos);
    w = want;
    w.verified = false;  // this connection does not verify: an unverified session is fine
    CHECK(env::refusal(unverified, w, 0).empty());
}

TEST_CASE("the hello reader reads every backend's real ClientHello") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        const auto records = client_hello_of(*b, {"h2", "http/1.1"});
        const auto msg = first_message(records);
        auto ch = tls::hello::parse(msg);
        REQUIRE(ch);
        CHECK(ch->type == tls::hello::client_hello);
        CHECK(ch->alpn_present);
        CHECK_FALSE(ch->alpn_malformed);
        CHECK(ch->alpn == std::vector<std::string>{"h2", "http/1.1"});
        CHECK(ch->server_name == std::optional<std::string>("localhost"));
        // The random: bytes 6..37 of the message (type 1, length 3, version 2), never all zero.
        CHECK(std::equal(ch->random.begin(), ch->random.end(), msg.begin() + 6));
        CHECK(ch->random != std::array<std::uint8_t, 32>{});
        const auto versions = tls::hello::client_versions(*ch);
        CHECK(std::count(versions.begin(), versions.end(), 0x0303) == 1);
        CHECK(std::count(versions.begin(), versions.end(), 0x0304) ==
              (b->capabilities().tls13 ? 1 : 0));
        CHECK(ch->supported_versions.has_value() == b->capabilities().tls13);

        // Every strict prefix is refused, never read past its end.
        for (std::size_t n = 0; n < msg.size(); ++n)
            CHECK_FALSE(tls::hello::parse(std::span(msg).first(n)));

        const auto bare = tls::hello::parse(first_message(client_hello_of(*b, {}, "127.0.0.1")));
        REQUIRE(bare);
        CHECK_FALSE(bare->alpn_present);
        CHECK(bare->server_name == std::nullopt);  // no SNI for an IP literal (RFC 6066)
    }
}

TEST_CASE("the hello reader reads every server's real ServerHello") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        Error err;
        tls::ClientSessionParams params;
        params.host = "localhost";
        Pair p = make_pair(c, client_config({"http/1.1", "h2"}), params, s,
                           server_config({"h2"}), err);
        REQUIRE(p.client);
        CHECK(p.client->handshake() == tls::Status::want_input);
        p.server->feed(p.client->take_output());
        CHECK(p.server->handshake() == tls::Status::want_input);
        auto sh = tls::hello::parse(first_message(p.server->take_output()));
        REQUIRE(sh);
        CHECK(sh->type == tls::hello::server_hello);
        CHECK_FALSE(sh->hello_retry_request);
        CHECK(sh->random != std::array<std::uint8_t, 32>{});
        const bool tls13 = c.capabilities().tls13 && s.capabilities().tls13 &&
                           max_version_from_env() == tls::Version::tls1_3;
        if (tls13) {
            // TLS 1.3: the version in supported_versions, ALPN in EncryptedExtensions.
            CHECK(sh->supported_versions == std::vector<std::uint16_t>{0x0304});
            CHECK_FALSE(sh->alpn_present);
        } else {
            CHECK(sh->legacy_version == 0x0303);
            CHECK(sh->alpn == std::vector<std::string>{"h2"});
        }
    });
}

TEST_CASE("the hello reader flags a malformed ALPN extension instead of trusting it") {
    // A ServerHello by hand: version, random, empty session id, cipher, compression, extensions.
    auto server_hello = [](std::vector<std::uint8_t> alpn_body) {
        std::vector<std::uint8_t> body = {0x03, 0x03};
        body.resize(2 + 32, 0x11);
        body.insert(body.end(), {0x00, 0x13, 0x01, 0x00});
        std::vector<std::uint8_t> ext = {0x00, 0x10, 0x00, static_cast<std::uint8_t>(alpn_body.size())};
        ext.insert(ext.end(), alpn_body.begin(), alpn_body.end());
        body.push_back(0x00);
        body.push_back(static_cast<std::uint8_t>(ext.size()));
        body.insert(body.end(), ext.begin(), ext.end());
        std::vector<std::uint8_t> msg = {tls::hello::server_hello, 0, 0, static_cast<std::uint8_t>(body.size())};
        msg.insert(msg.end(), body.begin(), body.end());
        return msg;
    };
    auto ok = tls::hello::parse(server_hello({0x00, 0x03, 0x02, 'h', '2'}));
    REQUIRE(ok);
    CHECK(ok->alpn == std::vector<std::string>{"h2"});
    for (const auto& bad : std::vector<std::vector<std::uint8_t>>{
             {0x00, 0x04, 0x02, 'h', '2'},                        // list length past the end
             {0x00, 0x03, 0x03, 'h', '2'},                        // name length past the end
             {0x00, 0x01, 0x00},                                  // an empty name
             {0x00, 0x06, 0x02, 'h', '2', 0x02, 'h', '3'},        // two names from a server
             {}}) {                                               // no list at all
        auto m = tls::hello::parse(server_hello(bad));
        REQUIRE(m);
        CHECK(m->alpn_present);
        CHECK(m->alpn_malformed);
        CHECK(m->alpn.empty());
    }
}

TEST_CASE("the record observer follows records in any split") {
    for (const auto& b : registry().all()) {
        const auto records = client_hello_of(*b, {"h2"});
        const auto whole = first_message(records);
        tls::RecordObserver bytewise;
        for (auto c : records) bytewise.consume({&c, 1});
        REQUIRE(bytewise.first_message() != nullptr);
        CHECK(*bytewise.first_message() == whole);
        CHECK(bytewise.records() >= 1);
        CHECK(bytewise.alerts() == 0);
    }
    tls::RecordObserver o;
    o.consume(std::vector<std::uint8_t>{21, 3, 3, 0, 2, 2, 40});  // fatal handshake_failure
    CHECK(o.last_plaintext_alert() == std::optional<std::uint8_t>(40));
    CHECK(o.first_message() == nullptr);  // an alert first: no hello to reassemble
    o.consume(std::vector<std::uint8_t>{21, 3, 3, 0, 2, 1, 112});  // a warning: not fatal
    CHECK(o.last_plaintext_alert() == std::nullopt);
    CHECK(o.alerts() == 2);
    o.consume(std::vector<std::uint8_t>{23, 3, 3, 0, 3, 1, 2, 3});  // application data
    CHECK(o.records() == 3);
    // A hello claiming more than the observer will hold is given up on, not buffered.
    tls::RecordObserver big;
    big.consume(std::vector<std::uint8_t>{22, 3, 3, 0x40, 0x00, 1, 0x10, 0x00, 0x00});
    big.consume(std::vector<std::uint8_t>(0x4000 - 4, 0));
    CHECK(big.first_message() == nullptr);
}

TEST_CASE("a configuration is judged by the core, the same on every backend") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        Error err;
        auto cfg = client_config({"h2"});
        cfg.min_version = tls::Version::tls1_3;
        cfg.max_version = tls::Version::tls1_2;
        CHECK(b->client_context(cfg, err) == nullptr);
        CHECK(err.code == errc::invalid_config);
        CHECK(err.origin == "tls");
        CHECK(err.detail.find("above max_version") != std::string::npos);

        cfg = client_config({"h2"});
        cfg.min_version = tls::Version::unknown;
        CHECK(b->client_context(cfg, err) == nullptr);
        CHECK(err.code == errc::invalid_config);

        auto scfg = server_config({"h2"});
        scfg.key_file.clear();
        CHECK(b->server_context(scfg, err) == nullptr);
        CHECK(err.code == errc::invalid_config);
        CHECK(err.origin == "tls");

        cfg = client_config({"h2"});
        cfg.min_version = tls::Version::tls1_3;
        cfg.max_version = tls::Version::tls1_3;
        auto ctx = b->client_context(cfg, err);
        if (b->capabilities().tls13) {
            CHECK(ctx != nullptr);
        } else {
            CHECK(ctx == nullptr);
            CHECK(err.code == errc::unsupported);
        }

        ctx = b->client_context(client_config({"h2"}), err);
        REQUIRE(ctx);
        tls::ClientSessionParams params;  // no host, verification on
        CHECK(ctx->new_session(params, err) == nullptr);
        CHECK(err.code == errc::invalid_config);
        CHECK(err.origin == "tls");
    }
}

TEST_CASE("the core's SHA-256 and base64, against FIPS 180-4 and RFC 4648 vectors") {
    auto hex = [](const std::array<std::uint8_t, 32>& h) {
        static constexpr char digits[] = "0123456789abcdef";
        std::string s;
        for (auto b : h) s += {digits[b >> 4], digits[b & 0xf]};
        return s;
    };
    auto sha = [&](std::string_view m) {
        return hex(tls::pin::sha256({reinterpret_cast<const std::uint8_t*>(m.data()), m.size()}));
    };
    CHECK(sha("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // 56 bytes: the length no longer fits the first padding block.
    CHECK(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    auto b64 = [](std::string_view m) {
        return tls::pin::base64({reinterpret_cast<const std::uint8_t*>(m.data()), m.size()});
    };
    CHECK(b64("") == "");
    CHECK(b64("f") == "Zg==");
    CHECK(b64("fo") == "Zm8=");
    CHECK(b64("foo") == "Zm9v");
    CHECK(b64("foobar") == "Zm9vYmFy");
    // The check itself: no pins, no check; no key from the library is a mismatch, not a pass.
    CHECK_FALSE(tls::pin::check({}, {}));
    const tls::Pin zero{};
    const Error none = tls::pin::check({zero}, {});
    CHECK(none.code == errc::pin_mismatch);
    CHECK(none.detail.find("gave no public key") != std::string::npos);
}

TEST_CASE("the key log line: one format, and lines from a library are checked, not trusted") {
    namespace kl = tls::keylog;
    std::array<std::uint8_t, 32> random{};
    std::iota(random.begin(), random.end(), std::uint8_t{0xe0});
    const std::vector<std::uint8_t> secret = {0x00, 0x01, 0xab, 0xff};
    const std::string random_hex =
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    CHECK(kl::format_line("CLIENT_RANDOM", random, secret) ==
          "CLIENT_RANDOM " + random_hex + " 0001abff\n");
    // What cannot be a line is no line.
    CHECK(kl::format_line("", random, secret).empty());
    CHECK(kl::format_line("client_random", random, secret).empty());
    CHECK(kl::format_line("A B", random, secret).empty());
    CHECK(kl::format_line("A\nB", random, secret).empty());
    CHECK(kl::format_line("LABEL", std::span(random).first(31), secret).empty());
    CHECK(kl::format_line("LABEL", random, {}).empty());
    CHECK(kl::format_line("LABEL", random, std::vector<std::uint8_t>(65, 1)).empty());
    CHECK(kl::format_line("LABEL", random, std::vector<std::uint8_t>(64, 1)).size() ==
          5 + 1 + 64 + 1 + 128 + 1);
    CHECK(kl::valid_label("SERVER_TRAFFIC_SECRET_0"));
    CHECK_FALSE(kl::valid_label(std::string(65, 'A')));

    // OpenSSL's ready-made lines: read back to the same fields, upper-case hex too.
    for (const std::string& line : {"CLIENT_RANDOM " + random_hex + " 0001abff",
                                    "CLIENT_RANDOM " + random_hex + " 0001ABFF\n"}) {
        INFO(line);
        const auto e = kl::parse_line(line);
        REQUIRE(e);
        CHECK(e->label == "CLIENT_RANDOM");
        CHECK(e->client_random == random);
        CHECK(e->secret == secret);
    }
    for (const std::string& bad : {
             std::string(),
             "CLIENT_RANDOM " + random_hex,                          // no secret
             "CLIENT_RANDOM " + random_hex + " 0001abff extra",      // a fourth field
             "CLIENT_RANDOM " + random_hex + " 0001abff ",           // a trailing space
             "CLIENT_RANDOM  " + random_hex + " 0001abff",           // a doubled space
             "CLIENT_RANDOM " + random_hex.substr(2) + " 0001abff",  // a short random
             "CLIENT_RANDOM " + random_hex + " 0001abf",             // an odd secret
             "CLIENT_RANDOM " + random_hex + " 0001abfg",            // not hex
             "client_random " + random_hex + " 0001abff",            // not a label
             "CLIENT_RANDOM " + random_hex + " " + std::string(130, '1'),  // too long a secret
             "CLIENT_RANDOM " + random_hex + " 0001abff\n\n"}) {
        INFO(bad);
        CHECK_FALSE(kl::parse_line(bad));
    }
}

TEST_CASE("the key log writer: whole lines from many threads, errors naming the file") {
    const TempDir tmp;
    const std::filesystem::path dir = tmp.path;
    const std::string path = tmp.file("keys.log");
    Error err;
    auto log = tls::detail::KeyLog::open(path, err);
    REQUIRE_MESSAGE(log, err.detail);
    CHECK(log->path() == path);
    // A line the format refuses is not written.
    CHECK_FALSE(log->log_secret("bad label", std::array<std::uint8_t, 32>{},
                                std::vector<std::uint8_t>{1}));
    constexpr int threads = 8, per_thread = 250;
    std::vector<std::thread> pool;
    std::atomic<int> failed_writes{0};
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&log, &failed_writes, t] {
            std::array<std::uint8_t, 32> random{};
            random.fill(static_cast<std::uint8_t>(t));
            const std::vector<std::uint8_t> secret(48, static_cast<std::uint8_t>(0x10 + t));
            for (int i = 0; i < per_thread; ++i)
                if (!log->log_secret("CLIENT_RANDOM", random, secret)) ++failed_writes;
        });
    for (auto& th : pool) th.join();
    CHECK(failed_writes == 0);
    log.reset();  // closes it
    std::ifstream in(path);
    std::vector<int> seen(threads, 0);
    int lines = 0;
    for (std::string line; std::getline(in, line); ++lines) {
        const auto e = tls::keylog::parse_line(line);
        REQUIRE_MESSAGE(e, "torn line: ", line);
        const int t = e->client_random[0];
        REQUIRE(t < threads);
        CHECK(e->secret == std::vector<std::uint8_t>(48, static_cast<std::uint8_t>(0x10 + t)));
        ++seen[static_cast<std::size_t>(t)];
    }
    CHECK(lines == threads * per_thread);
    CHECK(std::all_of(seen.begin(), seen.end(), [](int n) { return n == per_thread; }));

    for (const std::string& bad : {dir.string(), (dir / "missing" / "keys.log").string()}) {
        INFO(bad);
        Error e;
        CHECK(tls::detail::KeyLog::open(bad, e) == nullptr);
        CHECK(e.code == errc::invalid_config);
        CHECK(e.origin == "tls");
        CHECK(e.detail.rfind("key log file " + bad + ": ", 0) == 0);
    }
    // None configured: nothing opened, no error.
    Error none;
    CHECK(tls::detail::open_keylog(tls::ClientConfig{}, none) == nullptr);
    CHECK_FALSE(none);
}

TEST_CASE("a session logs only secrets of its own handshake, through the core's format") {
    const TempDir tmp;
    const std::filesystem::path dir = tmp.path;
    const std::string path = tmp.file("keys.log");
    tls::detail::ClientSetup setup;
    setup.backend = "test";
    setup.config = std::make_shared<const tls::ClientConfig>();
    Error err;
    setup.keylog = tls::detail::KeyLog::open(path, err);
    REQUIRE(setup.keylog);
    tls::detail::SessionCore core(setup);
    CHECK(core.keylog_enabled());
    CHECK(core.client_random() == std::nullopt);  // no ClientHello went out yet

    const auto records = client_hello_of(*registry().all().front(), {"h2"});
    core.output.consume(records);
    const auto ours = core.client_random();
    REQUIRE(ours);
    CHECK(std::equal(ours->begin(), ours->end(), records.begin() + 11));
    std::array<std::uint8_t, 32> other = *ours;
    other[31] ^= 1;
    const std::vector<std::uint8_t> secret(32, 0x5a);
    CHECK(core.log_secret("CLIENT_TRAFFIC_SECRET_0", *ours, secret));
    CHECK_FALSE(core.log_secret("CLIENT_TRAFFIC_SECRET_0", other, secret));  // not our handshake
    static constexpr char digits[] = "0123456789abcdef";
    std::string random_hex;
    for (const auto b : *ours) random_hex += {digits[b >> 4], digits[b & 0xf]};
    // A library's line is re-read and written in the core's format (lowercase hex).
    CHECK(core.log_line("SERVER_TRAFFIC_SECRET_0 " + random_hex + " ABCD"));
    CHECK_FALSE(core.log_line("SERVER_TRAFFIC_SECRET_0 " + random_hex));

    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string secret_hex;
    for (int i = 0; i < 32; ++i) secret_hex += "5a";
    CHECK(text == "CLIENT_TRAFFIC_SECRET_0 " + random_hex + " " + secret_hex + "\n" +
                      "SERVER_TRAFFIC_SECRET_0 " + random_hex + " abcd\n");

    // Without a key log nothing is logged, and no file is needed.
    tls::detail::ClientSetup quiet;
    quiet.config = setup.config;
    tls::detail::SessionCore silent(quiet);
    CHECK_FALSE(silent.keylog_enabled());
    CHECK_FALSE(silent.log_secret("CLIENT_RANDOM", *ours, secret));
}

TEST_CASE("the core reads a client identity: the certificates, the one key, whether encrypted") {
    Error err;
    tls::ClientConfig cfg;
    CHECK_FALSE(tls::detail::load_client_identity(cfg, err));
    CHECK_FALSE(err);  // none configured

    cfg.client_cert_file = cert("client-ec.pem");
    cfg.client_key_file = cert("client-ec.key");
    auto id = tls::detail::load_client_identity(cfg, err);
    REQUIRE_MESSAGE(id, err.message());
    CHECK(id->cert_pem.rfind("-----BEGIN CERTIFICATE-----", 0) == 0);
    CHECK(id->key_pem.view().rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
    CHECK(id->key_pem.view().find("-----END PRIVATE KEY-----") != std::string_view::npos);
    CHECK_FALSE(id->encrypted);
    CHECK(id->password.empty());
    CHECK(id->describe(tls::detail::ClientIdentity::Problem::key_mismatch) ==
          "client_key_file " + cfg.client_key_file + " does not match client_cert_file " +
              cfg.client_cert_file);

    for (const char* key : {"client-ec-enc.key", "client-rsa-trad.key"}) {
        INFO(key);
        cfg.client_key_file = cert(key);
        cfg.client_key_password.clear();
        CHECK_FALSE(tls::detail::load_client_identity(cfg, err));
        CHECK(err.code == errc::invalid_config);
        CHECK(err.detail == "client_key_file " + cert(key) +
                                " is encrypted: set client_key_password to its passphrase");
        cfg.client_key_password = "pass";
        id = tls::detail::load_client_identity(cfg, err);
        REQUIRE(id);
        CHECK(id->encrypted);
        CHECK(id->password.view() == "pass");
    }

    // A secret moves without leaving a copy behind.
    tls::detail::Secret a("bytes"), b;
    b = std::move(a);
    CHECK(a.empty());
    CHECK(a.view().empty());
    CHECK(b.view() == "bytes");
    CHECK(b.c_str()[b.size()] == '\0');
}

TEST_CASE("a server's alert after it asked for a certificate is its verdict on it") {
    using tls::alert::received_description;
    const Error required = tls::alert::received_error(116, true, 7, "openssl", "(more)");
    CHECK(required.code == errc::certificate_required);
    CHECK(received_description(required) == std::optional<int>(116));
    CHECK(received_description(tls::alert::received_error(40, true, 0, "gnutls")) ==
          std::optional<int>(40));
    CHECK_FALSE(received_description(tls::alert::received_error(40, false, 0, "gnutls")));
    CHECK_FALSE(received_description(Error{errc::handshake_failed, "received fatal alert: x"}));

    tls::ClientConfig none;
    const auto r = tls::detail::certificate_refusal(none, required);
    REQUIRE(r);
    CHECK(r->code == errc::certificate_required);
    CHECK(r->detail ==
          "the server requires a client certificate and none is configured "
          "(client_cert_file): received fatal alert: certificate_required (116) (more)");
    CHECK(r->library_code == 7);
    CHECK(r->origin == "openssl");
    tls::ClientConfig some;
    some.client_cert_file = "me.pem";
    const auto u = tls::detail::certificate_refusal(
        some, tls::alert::received_error(48, true, 0, "mbedtls"));
    REQUIRE(u);
    CHECK(u->detail == "the server refused the client certificate me.pem: received fatal alert: "
                       "unknown_ca (48)");
    // Alerts about anything else are left alone.
    const Error no_overlap = tls::alert::received_error(120, true, 0, "x");
    CHECK_FALSE(tls::detail::certificate_refusal(some, no_overlap));
    CHECK_FALSE(tls::detail::certificate_refusal(some, Error{errc::truncated, "closed"}));
}

TEST_CASE("early data: the envelope keeps the ticket's limit; the core's plan and ticket reader") {
    namespace env = tls::envelope;
    const auto key = env::random_key();
    env::Fields f{"openssl", "localhost", std::string("localhost"), true, std::string("h2"),
                  1'900'000'000};
    f.max_early_data = 0x12345678;
    std::string why;
    const auto opened = env::open(env::seal(f, std::vector<std::uint8_t>{1}, key), key, why);
    REQUIRE(opened);
    CHECK(opened->fields.max_early_data == 0x12345678);

    // RFC 8446 4.2.10: early data only in the ticket's protocol, which must be our first.
    tls::ClientConfig cfg;
    cfg.early_data = true;
    cfg.alpn = {"h2", "http/1.1"};
    auto plan = tls::early::plan(cfg, f);
    CHECK(plan.capacity == 0x12345678);
    CHECK(plan.alpn == std::optional<std::string>("h2"));
    cfg.alpn = {"http/1.1", "h2"};
    CHECK(tls::early::plan(cfg, f).capacity == 0);
    cfg.alpn = {};
    CHECK(tls::early::plan(cfg, f).capacity == 0);
    f.alpn.reset();  // a session without ALPN: early data only when we offer none either
    CHECK(tls::early::plan(cfg, f).capacity == 0x12345678);
    cfg.alpn = {"h2"};
    CHECK(tls::early::plan(cfg, f).capacity == 0);
    cfg.alpn = {};
    cfg.early_data = false;
    CHECK(tls::early::plan(cfg, f).capacity == 0);
    cfg.early_data = true;
    f.max_early_data = 0;
    CHECK(tls::early::plan(cfg, f).capacity == 0);

    // NewSessionTicket: lifetime, age_add, nonce<1>, ticket<2>, extensions<2>.
    const std::vector<std::uint8_t> head = {0, 0, 0x1c, 0x20, 1, 2, 3, 4, 1, 0, 0, 4, 9, 9, 9, 9};
    auto ticket = [&](std::vector<std::uint8_t> exts) {
        auto t = head;
        t.push_back(static_cast<std::uint8_t>(exts.size() >> 8));
        t.push_back(static_cast<std::uint8_t>(exts.size()));
        t.insert(t.end(), exts.begin(), exts.end());
        return t;
    };
    const std::vector<std::uint8_t> early = {0, 42, 0, 4, 0, 0, 0x40, 0};
    const std::vector<std::uint8_t> grease = {0x0a, 0x0a, 0, 0};
    CHECK(tls::early::ticket_max_early_data(ticket(early)) == std::optional<std::uint32_t>(16384));
    auto both = grease;
    both.insert(both.end(), early.begin(), early.end());
    CHECK(tls::early::ticket_max_early_data(ticket(both)) == std::optional<std::uint32_t>(16384));
    CHECK_FALSE(tls::early::ticket_max_early_data(ticket({})));
    CHECK_FALSE(tls::early::ticket_max_early_data(ticket(grease)));
    CHECK_FALSE(tls::early::ticket_max_early_data(ticket({0, 42, 0, 2, 0, 0})));  // not a u32
    auto twice = early;
    twice.insert(twice.end(), early.begin(), early.end());
    CHECK_FALSE(tls::early::ticket_max_early_data(ticket(twice)));
    auto truncated = ticket(early);
    truncated.pop_back();
    CHECK_FALSE(tls::early::ticket_max_early_data(truncated));
    auto trailing = ticket(early);
    trailing.push_back(0);
    CHECK_FALSE(tls::early::ticket_max_early_data(trailing));
    CHECK_FALSE(tls::early::ticket_max_early_data({}));
}

// (A ClientHello that offers it, on a resumed 0-RTT session: tests/tls/early_data.cpp, where a
// server's "rejected" rests on this flag.)
TEST_CASE("the hello reader sees no early_data offer in a fresh session's ClientHello") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        const auto ch = tls::hello::parse(first_message(client_hello_of(*b, {"h2"})));
        REQUIRE(ch);
        CHECK_FALSE(ch->early_data);
    }
}
