// libFuzzer target for the HTTP/1.1 parsers: any input, fed whole and in pieces, as the answer
// to GET, HEAD and CONNECT, must give identical results, never crash, never read out of bounds,
// and round-trip through write_response when accepted; the request parser survives the same
// bytes fed whole and byte by byte alike. The oracle is tests/http1/fuzz_check.hpp, shared with
// the http1 suite's corpus_replay test, which replays the seeds (tests/http1/corpus/) in every
// build, clang or not.
#include "fuzz_check.hpp"

#include <cstdio>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto opts = connmatrix::test::fuzz::fuzz_options();  // immutable after init
    const auto r = connmatrix::test::fuzz::check_one({data, size}, opts);
    if (!r.problem.empty()) {
        std::fprintf(stderr, "http1 invariant broken: %s\n", r.problem.c_str());
        __builtin_trap();  // libFuzzer saves the input that broke the invariant
    }
    return 0;
}
