// Reads STATE_DIR/servers.env, written by tests/interop/servers.sh (format: README.md beside
// this file): one KEY=VALUE per line, the value is the rest of the line verbatim, '#' starts a
// comment line. Header-only, standard library only.
#pragma once

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace connmatrix::interop {

struct FixtureServer {
    std::string name;         // e.g. "h2_noalpn"
    std::string scheme;       // "https" or "http"
    std::string url;          // origin with a trailing slash: "https://127.0.0.1:40123/"
    int port = 0;
    std::string alpn;         // ALPN the server is configured with, "h2,http/1.1", or "none"
    std::string speaks;       // protocols it serves: h2, http/1.1, http/1.0, h2c (comma-separated)
    std::string body;         // body of GET /hello.txt without its final '\n'
    std::string description;
};

class FixtureEnv {
public:
    // Loads DIR/servers.env; throws std::runtime_error naming the file.
    static FixtureEnv load(const std::string& state_dir) {
        const std::string path = state_dir + "/servers.env";
        std::ifstream in(path);
        if (!in) throw std::runtime_error("cannot read " + path + " (start the servers with "
                                          "tests/interop/servers.sh start DIR)");
        FixtureEnv env;
        std::string line;
        while (std::getline(in, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty() || line[0] == '#') continue;
            const auto eq = line.find('=');
            if (eq == std::string::npos || eq == 0)
                throw std::runtime_error(path + ": not KEY=VALUE: " + line);
            env.values_[line.substr(0, eq)] = line.substr(eq + 1);
        }
        if (env.get("FIXTURE_FORMAT") != std::optional<std::string>("1"))
            throw std::runtime_error(path + ": FIXTURE_FORMAT=1 expected");
        return env;
    }

    // From $CONNMATRIX_FIXTURE_DIR (set by tests/interop/with-servers.sh); none when unset.
    static std::optional<FixtureEnv> from_environment() {
        const char* dir = std::getenv("CONNMATRIX_FIXTURE_DIR");
        if (dir == nullptr || *dir == '\0') return std::nullopt;
        return load(dir);
    }

    // The fixture of $CONNMATRIX_FIXTURE_DIR, loaded once per program; throws when it is unset,
    // naming `test`, the meson test that runs the program through with-servers.sh.
    static const FixtureEnv& required(const std::string& test) {
        static const std::optional<FixtureEnv> env = from_environment();
        if (!env)
            throw std::runtime_error(
                "CONNMATRIX_FIXTURE_DIR is not set: run this through tests/interop/with-servers.sh "
                "(meson test -C BUILD " + test + " does)");
        return *env;
    }

    std::optional<std::string> get(const std::string& key) const {
        const auto it = values_.find(key);
        if (it == values_.end()) return std::nullopt;
        return it->second;
    }

    const std::string& at(const std::string& key) const {
        const auto it = values_.find(key);
        if (it == values_.end()) throw std::runtime_error("servers.env has no " + key);
        return it->second;
    }

    std::vector<std::string> servers() const {
        std::vector<std::string> names;
        std::istringstream in(at("SERVERS"));
        for (std::string n; in >> n;) names.push_back(n);
        return names;
    }

    FixtureServer server(const std::string& name) const {
        std::string up;
        for (const char c : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        FixtureServer s;
        s.name = name;
        s.scheme = at(up + "_SCHEME");
        s.url = at(up + "_URL");
        s.port = std::stoi(at(up + "_PORT"));
        s.alpn = at(up + "_ALPN");
        s.speaks = at(up + "_SPEAKS");
        s.body = at(up + "_BODY");
        s.description = at(up + "_DESC");
        return s;
    }

    std::string ca_file() const { return at("CA_FILE"); }

private:
    std::map<std::string, std::string> values_;
};

}  // namespace connmatrix::interop
