// Pair iteration shared by the tls suites.
#pragma once

#include "checks.hpp"
#include "pair.hpp"

#include <cstdlib>
#include <filesystem>
#include <string>

namespace connmatrix::test {

inline const tls::Registry& registry() {
    static const tls::Registry r = tls::Registry::compiled_in();
    return r;
}

// Runs body(client_backend, server_backend) for every compiled pair (9 with all three).
template <class F>
void for_each_pair(F&& body) {
    for (const auto& cb : registry().all())
        for (const auto& sb : registry().all()) {
            INFO("client ", cb->name(), " x server ", sb->name());
            body(*cb, *sb);
        }
}

inline std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

// A fresh directory for a test's files, removed with everything in it afterwards.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string t =
            (std::filesystem::temp_directory_path() / "connmatrix-test-XXXXXX").string();
        REQUIRE(::mkdtemp(t.data()) != nullptr);
        path = t;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace connmatrix::test
