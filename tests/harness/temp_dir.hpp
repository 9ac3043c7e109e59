// A fresh directory for a test's files (tls and client suites), removed with its contents.
#pragma once

#include <doctest/doctest.h>

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace connmatrix::test {

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
