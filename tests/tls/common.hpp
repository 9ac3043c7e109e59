// Pair iteration shared by the tls suites.
#pragma once

#include "checks.hpp"
#include "temp_dir.hpp"
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

}  // namespace connmatrix::test
