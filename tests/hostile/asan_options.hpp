// Under AddressSanitizer the peak RSS is the sanitizer allocator's: its quarantine keeps up to
// 256 MiB of freed memory resident to catch use after free, which the memory bounds of the
// hostile suites would count as ours. Their executables (each includes this from its one
// source file) run with no quarantine; bounds and leak checks still apply, and every other
// suite keeps it.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define CONNMATRIX_HOSTILE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONNMATRIX_HOSTILE_ASAN 1
#endif
#endif
#ifdef CONNMATRIX_HOSTILE_ASAN
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=0"; }
#endif
