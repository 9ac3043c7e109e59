// corpus_replay: every fuzz seed in tests/http1/corpus/ goes through the fuzz oracle in every
// build (no clang needed), and its name says what it must give: ok-* completes as the answer to
// a GET, bad-* fails.
#include "common.hpp"
#include "fuzz_check.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

using namespace connmatrix;

namespace {

std::vector<std::filesystem::path> seeds() {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(CONNMATRIX_HTTP1_CORPUS_DIR))
        if (e.is_regular_file()) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::uint8_t> read(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("the corpus has seeds of both kinds") {
    const auto all = seeds();
    const auto ok = std::count_if(all.begin(), all.end(), [](const auto& p) {
        return p.filename().string().starts_with("ok-");
    });
    CHECK(ok >= 10);
    CHECK(all.size() - static_cast<std::size_t>(ok) >= 10);
}

TEST_CASE("every corpus seed keeps the fuzz invariants and gives the result its name says") {
    for (const auto& path : seeds()) {
        const std::string name = path.filename().string();
        INFO("seed ", name);
        const auto wire = read(path);
        for (const auto& opts : {http1::ParseOptions{}, test::fuzz::fuzz_options()}) {
            const auto r = test::fuzz::check_one(wire, opts);
            CHECK_MESSAGE(r.problem.empty(), r.problem);
        }
        const auto r = test::fuzz::check_one(wire, {});
        INFO("error: ", r.outcome.code.message());
        if (name.starts_with("ok-")) CHECK(r.outcome.status == http1::Status::complete);
        else if (name.starts_with("bad-")) CHECK(r.outcome.status == http1::Status::failed);
        else FAIL("seed name must start with ok- or bad-");
    }
}
