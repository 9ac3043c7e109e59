// keylog: tls::ClientConfig::keylog_file (the NSS key log format, SSLKEYLOGFILE) on every
// backend pair and TLS version. What the file must hold is worked out here, independently of
// the core: the labels from RFC 8446 / NSS, the client random from the first bytes the client
// sent (record header 5 + handshake header 4 + version 2: offset 11, 32 bytes), the secret's
// length from the negotiated suite's hash.
//
// GnuTLS by itself appends to the file $SSLKEYLOGFILE names, opened once, the first time a
// process derives a secret: meson runs this suite with SSLKEYLOGFILE set from the start (and
// the test sets it when run by hand), so a backend that lets its library log is caught.
#include "common.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using namespace connmatrix;
using namespace connmatrix::test;
using tls::errc;
using tls::Status;
namespace fs = std::filesystem;

namespace {

std::string hex(std::span<const std::uint8_t> b) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (const auto c : b) s += {digits[c >> 4], digits[c & 0xf]};
    return s;
}

bool is_hex(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
}

struct Line {
    std::string label, random, secret;  // the random and secret in hex, lowercased
};

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

// Every line of the file, each checked to be "LABEL <hex> <hex>" and newline-terminated.
std::vector<Line> read_log(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in, "cannot read ", path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK((text.empty() || text.back() == '\n'));
    std::vector<Line> lines;
    std::istringstream stream(text);
    for (std::string raw; std::getline(stream, raw);) {
        INFO("line: ", raw);
        std::istringstream fields(raw);
        Line l;
        std::string extra;
        fields >> l.label >> l.random >> l.secret >> extra;
        CHECK(extra.empty());
        CHECK(raw == l.label + " " + l.random + " " + l.secret);  // single spaces, nothing else
        CHECK(is_hex(l.random));
        CHECK(is_hex(l.secret));
        l.random = lower(l.random);
        l.secret = lower(l.secret);
        lines.push_back(l);
    }
    return lines;
}

// The ClientHello's random, from the first bytes a client sent: a handshake record whose first
// message is a ClientHello; offset 11 = record header (5) + handshake header (4) + version (2).
std::string hello_random(const std::vector<std::uint8_t>& first_flight) {
    REQUIRE(first_flight.size() >= 11 + 32);
    CHECK(first_flight[0] == 22);  // handshake record
    CHECK(first_flight[5] == 1);   // ClientHello
    return hex(std::span(first_flight).subspan(11, 32));
}

// One handshake on the given contexts, with data both ways and the tickets read.
struct Handshake {
    std::string client_random;  // hex, as the server received it
    tls::SessionInfo info;      // the client's
};

Handshake connect(const std::shared_ptr<tls::ClientContext>& cctx,
                  const std::shared_ptr<tls::ServerContext>& sctx) {
    Error err;
    Pair p;
    p.client_ctx = cctx;
    p.server_ctx = sctx;
    p.server = sctx->new_session(err);
    REQUIRE_MESSAGE(p.server, err.detail);
    tls::ClientSessionParams params;
    params.host = "localhost";
    p.client = cctx->new_session(params, err);
    REQUIRE_MESSAGE(p.client, err.detail);
    Handshake h;
    p.filter = [&h](Direction d, std::vector<std::uint8_t>& b) {
        if (d == Direction::to_server && h.client_random.empty()) h.client_random = hello_random(b);
        return true;
    };
    const HandshakeResult r = do_handshake(p);
    CHECK_FALSE(r.stuck);
    REQUIRE(r.client == Status::ok);
    REQUIRE(r.server == Status::ok);
    CHECK(send_and_receive(p, Direction::to_server, "ping") == "ping");
    CHECK(send_and_receive(p, Direction::to_client, "pong") == "pong");
    settle(p);
    h.info = p.client->info();
    return h;
}

// The TLS versions to run: 1.2 always, 1.3 unless the suite is capped (CONNMATRIX_TEST_MAX_TLS).
std::vector<tls::Version> versions() {
    std::vector<tls::Version> v = {tls::Version::tls1_2};
    if (max_version_from_env() == tls::Version::tls1_3) v.push_back(tls::Version::tls1_3);
    return v;
}

tls::Version expected_version(const tls::Backend& c, const tls::Backend& s, tls::Version max) {
    return max == tls::Version::tls1_3 && c.capabilities().tls13 && s.capabilities().tls13
               ? tls::Version::tls1_3
               : tls::Version::tls1_2;
}

// Secret length in bytes: TLS 1.2's master secret, or the TLS 1.3 suite's hash.
std::size_t secret_size(const tls::SessionInfo& info) {
    if (info.version != tls::Version::tls1_3) return 48;
    return info.cipher.find("SHA384") != std::string::npos ? 48 : 32;
}

// The lines one handshake must have left: TLS 1.3's four traffic secrets once each (and at
// most one EXPORTER_SECRET), TLS 1.2's CLIENT_RANDOM once; all with this handshake's random
// and a secret of the suite's length.
void check_handshake_lines(const std::vector<Line>& lines, const Handshake& h) {
    INFO("version ", std::string(tls::to_string(h.info.version)), ", cipher ", h.info.cipher);
    REQUIRE_FALSE(h.client_random.empty());
    std::map<std::string, int> count;
    for (const Line& l : lines) {
        INFO("label ", l.label);
        CHECK(l.random == h.client_random);
        CHECK(l.secret.size() == 2 * secret_size(h.info));
        ++count[l.label];
    }
    std::map<std::string, int> want;
    if (h.info.version == tls::Version::tls1_3) {
        want = {{"CLIENT_HANDSHAKE_TRAFFIC_SECRET", 1}, {"SERVER_HANDSHAKE_TRAFFIC_SECRET", 1},
                {"CLIENT_TRAFFIC_SECRET_0", 1}, {"SERVER_TRAFFIC_SECRET_0", 1}};
        if (count.count("EXPORTER_SECRET") != 0) {
            CHECK(count["EXPORTER_SECRET"] == 1);
            want["EXPORTER_SECRET"] = 1;
        }
    } else {
        want = {{"CLIENT_RANDOM", 1}};
    }
    CHECK(count == want);
}

tls::ClientConfig logging_to(const std::string& file, tls::Version max) {
    tls::ClientConfig c = client_config({"h2"});
    c.max_version = max;
    c.keylog_file = file;
    return c;
}

tls::ServerConfig server_up_to(tls::Version max) {
    tls::ServerConfig s = server_config({"h2"});
    s.max_version = max;
    return s;
}

// The file $SSLKEYLOGFILE names (meson sets it; set here, in a directory that lasts as long as
// the process, when the suite runs by hand). Never removed by the tests: a library that opened
// it already would go on writing to the unlinked file, unseen. They look at what it gains.
std::string environment_keylog() {
    static const TempDir dir;
    if (const char* set = std::getenv("SSLKEYLOGFILE"); set == nullptr || *set == '\0')
        REQUIRE(::setenv("SSLKEYLOGFILE", dir.file("environment.log").c_str(), 1) == 0);
    return std::getenv("SSLKEYLOGFILE");
}

// A file's size; nullopt when it does not exist.
std::optional<std::uintmax_t> size_of(const std::string& path) {
    std::error_code ec;
    const auto n = fs::file_size(path, ec);
    if (ec) return std::nullopt;
    return n;
}

}  // namespace

TEST_CASE("each session's secrets are logged with its ClientHello's random, per TLS version") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        for (const tls::Version max : versions()) {
            INFO("max_version ", std::string(tls::to_string(max)));
            TempDir dir;
            const std::string file = dir.file("keys.log");
            Error err;
            auto sctx = s.server_context(server_up_to(max), err);
            REQUIRE_MESSAGE(sctx, err.detail);
            auto cctx = c.client_context(logging_to(file, max), err);
            REQUIRE_MESSAGE(cctx, err.detail);
            const Handshake h = connect(cctx, sctx);
            CHECK(h.info.version == expected_version(c, s, max));
            check_handshake_lines(read_log(file), h);
        }
    });
}

TEST_CASE("two sessions of one context append to one file, each with its own random") {
    for_each_pair([](const tls::Backend& c, const tls::Backend& s) {
        TempDir dir;
        const std::string file = dir.file("keys.log");
        const tls::Version max = max_version_from_env();
        Error err;
        auto sctx = s.server_context(server_up_to(max), err);
        auto cctx = c.client_context(logging_to(file, max), err);
        REQUIRE(sctx);
        REQUIRE(cctx);
        const Handshake first = connect(cctx, sctx);
        const std::size_t after_first = read_log(file).size();
        const Handshake second = connect(cctx, sctx);
        CHECK(first.client_random != second.client_random);
        const std::vector<Line> lines = read_log(file);
        REQUIRE(lines.size() > after_first);
        // The first session's lines stay first, untouched; the second's follow.
        const auto split = lines.begin() + static_cast<std::ptrdiff_t>(after_first);
        check_handshake_lines({lines.begin(), split}, first);
        check_handshake_lines({split, lines.end()}, second);
    });
}

TEST_CASE("an existing key log is appended to, and a new one is created with mode 0600") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        TempDir dir;
        const std::string fresh = dir.file("fresh.log");
        const mode_t old_mask = ::umask(0);  // whatever the umask, the file is the owner's only
        Error err;
        auto ctx = b->client_context(logging_to(fresh, max_version_from_env()), err);
        ::umask(old_mask);
        REQUIRE_MESSAGE(ctx, err.detail);
        struct stat st {};
        REQUIRE(::stat(fresh.c_str(), &st) == 0);
        CHECK(S_ISREG(st.st_mode));
        CHECK((st.st_mode & 0777) == 0600);
        CHECK(st.st_size == 0);  // nothing before a handshake

        const std::string existing = dir.file("existing.log");
        {
            std::ofstream out(existing);
            out << "# kept\n";
        }
        Error serr;
        auto sctx = b->server_context(server_config({"h2"}), serr);
        REQUIRE(sctx);
        auto appending = b->client_context(logging_to(existing, max_version_from_env()), err);
        REQUIRE(appending);
        (void)connect(appending, sctx);
        std::ifstream in(existing);
        std::string first;
        std::getline(in, first);
        CHECK(first == "# kept");
        std::string next;
        CHECK(static_cast<bool>(std::getline(in, next)));
        CHECK_FALSE(next.empty());
    }
}

TEST_CASE("an unwritable key log is tls:invalid_config naming the file, when the context is made") {
    for (const auto& b : registry().all()) {
        INFO(b->name());
        TempDir dir;
        const std::string missing_dir = dir.file("no-such-dir/keys.log");
        const std::string a_directory = dir.path.string();
        for (const std::string& path : {missing_dir, a_directory}) {
            INFO(path);
            Error err;
            CHECK(b->client_context(logging_to(path, max_version_from_env()), err) == nullptr);
            CHECK(err.code == errc::invalid_config);
            CHECK(err.origin == "tls");
            CHECK(err.detail.find("key log file " + path + ": ") == 0);
        }
        CHECK_FALSE(fs::exists(missing_dir));
    }
}

TEST_CASE("without keylog_file nothing is logged anywhere, even with SSLKEYLOGFILE set") {
    TempDir dir;
    const std::string env_file = environment_keylog();
    const auto env_before = size_of(env_file);
    for_each_pair([&](const tls::Backend& c, const tls::Backend& s) {
        for (const tls::Version max : versions()) {
            INFO("max_version ", std::string(tls::to_string(max)));
            Error err;
            auto sctx = s.server_context(server_up_to(max), err);
            tls::ClientConfig quiet = client_config({"h2"});
            quiet.max_version = max;
            auto cctx = c.client_context(quiet, err);
            REQUIRE(sctx);
            REQUIRE(cctx);
            (void)connect(cctx, sctx);
            CHECK(size_of(env_file) == env_before);
            // A configured key log gets every line once; the environment's file still nothing.
            const std::string file = dir.file("configured.log");
            std::error_code ec;
            fs::remove(file, ec);
            auto logging = c.client_context(logging_to(file, max), err);
            REQUIRE(logging);
            const Handshake h = connect(logging, sctx);
            check_handshake_lines(read_log(file), h);
            CHECK(size_of(env_file) == env_before);
        }
    });
    CHECK(std::vector<fs::path>(fs::directory_iterator(dir.path), fs::directory_iterator()) ==
          std::vector<fs::path>{dir.path / "configured.log"});
}

TEST_CASE("keylog_file naming the SSLKEYLOGFILE file gets each secret once, not twice") {
    const std::string env_file = environment_keylog();
    // Emptied, not removed: a library holding it open would still be seen appending.
    { std::ofstream(env_file, std::ios::trunc); }
    for_each_pair([&](const tls::Backend& c, const tls::Backend& s) {
        for (const tls::Version max : versions()) {
            INFO("max_version ", std::string(tls::to_string(max)));
            Error err;
            auto sctx = s.server_context(server_up_to(max), err);
            auto cctx = c.client_context(logging_to(env_file, max), err);
            REQUIRE(sctx);
            REQUIRE(cctx);
            const std::size_t before = read_log(env_file).size();
            const Handshake h = connect(cctx, sctx);
            const std::vector<Line> lines = read_log(env_file);
            const auto fresh = lines.begin() + static_cast<std::ptrdiff_t>(before);
            check_handshake_lines({fresh, lines.end()}, h);
        }
    });
}
