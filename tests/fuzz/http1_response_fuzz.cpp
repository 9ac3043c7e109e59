// libFuzzer target for the HTTP/1.1 parsers: any input, fed whole and in pieces, as the answer
// to GET, HEAD and CONNECT, must give identical results, never crash, never read out of bounds,
// and round-trip through write_response when accepted (see fuzz_check.hpp).
//   seeds: tests/http1/corpus/ (also replayed by the corpus_replay test in every build)
//   build: CXX=clang++-14 meson setup build-fuzz -Dfuzzing=true &&
//          ninja -C build-fuzz tests/http1/http1_fuzz_response
//   run:   mkdir -p /tmp/http1-corpus && build-fuzz/tests/http1/http1_fuzz_response
//            -max_total_time=30 -max_len=4096 -dict=tests/http1/http1.dict
//            /tmp/http1-corpus tests/http1/corpus
//          (libFuzzer writes new inputs into the FIRST directory: keep the seeds second.)
#include "fuzz_check.hpp"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto opts = connmatrix::test::fuzz::fuzz_options();  // immutable after init
    const auto r = connmatrix::test::fuzz::check_one({data, size}, opts);
    if (!r.problem.empty()) {
        std::fprintf(stderr, "http1 invariant broken: %s\n", r.problem.c_str());
        std::abort();
    }
    return 0;
}
