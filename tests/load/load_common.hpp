// Shared by the load suites: the process's resident memory, read from /proc.
#pragma once

#include <cstddef>
#include <fstream>
#include <string>

namespace connmatrix::test {

// A field of /proc/self/status in bytes ("VmRSS": now, "VmHWM": the peak so far); 0 if absent.
inline std::size_t proc_status_bytes(const std::string& field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, field.size() + 1, field + ":") != 0) continue;
        return std::stoull(line.substr(field.size() + 1)) * 1024;  // "VmRSS:   12345 kB"
    }
    return 0;
}

inline double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// AddressSanitizer keeps freed memory in quarantine (256 MiB by default) and its shadow: memory
// bounds stated for a plain build are widened under it, and say so.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool under_asan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool under_asan = true;
#else
inline constexpr bool under_asan = false;
#endif
#else
inline constexpr bool under_asan = false;
#endif

}  // namespace connmatrix::test
