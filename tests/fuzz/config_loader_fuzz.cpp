// libFuzzer target for the configuration loader: any bytes in, never a crash, a hang, an
// exception or undefined behaviour out; and a few invariants that must hold for every input:
//   - a load either yields a Config and no errors, or errors (each with a message) and no Config;
//   - a Config that loaded passes config::check() again unchanged;
//   - explain() of any URL gives text and JSON that parses back, and decide() never fails to
//     decide on a resolved policy.
// Built from the policy sources directly (see meson.build), with -fsanitize=fuzzer,address,undefined.
#include <connmatrix/config.hpp>
#include <connmatrix/negotiate.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using namespace connmatrix;

[[noreturn]] void invariant_broken(const char* what) {
    (void)what;        // readable in the debugger and in the source line of the report
    __builtin_trap();  // libFuzzer saves the input that broke the invariant
}

void exercise(const policy::Engine& engine, const std::string& url) {
    const policy::Explanation x = engine.explain(url);
    const std::string text = x.text();
    const std::string json = x.json();
    if (text.empty() || json.empty()) invariant_broken("explain produced nothing");
    if (!nlohmann::json::accept(json)) invariant_broken("explain().json() is not JSON");
    if (!x.resolved) return;
    for (auto t : {negotiate::Transport::tls, negotiate::Transport::cleartext})
        for (const auto& o : {negotiate::AlpnOutcome::none(), negotiate::AlpnOutcome::h2(),
                              negotiate::AlpnOutcome::http1_1(), negotiate::AlpnOutcome::other("x")}) {
            const negotiate::Decision d = negotiate::decide(*x.resolved, t, o);
            if (d.reason.empty()) invariant_broken("decide() gave no reason");
        }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const policy::BuildInfo build{{"openssl", "gnutls"}, "openssl"};
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    config::LoadResult r = config::load_string(text, "<fuzz>", build);
    if (r.config.has_value() == !r.errors.empty()) invariant_broken("config and errors both or neither");
    for (const auto& d : r.errors) {
        if (d.message.empty() || !d.code) invariant_broken("an error without a message or code");
        (void)d.to_string();
    }
    (void)r.report();
    (void)r.error();

    if (r.config) {
        if (!config::check(*r.config, build).empty()) invariant_broken("a loaded config fails check()");
        const policy::Engine engine(*r.config, build);
        exercise(engine, "https://example.com/");
        exercise(engine, "http://127.0.0.1:8080/");
        std::size_t n = 0;
        for (const auto& rule : r.config->hosts)
            for (const auto& m : rule.match) {
                if (++n > 16) break;
                std::string host = m.normalised();
                if (auto star = host.find("*."); star != std::string::npos) host.replace(star, 1, "x");
                exercise(engine, host.find("://") == std::string::npos ? "https://" + host : host);
            }
    }

    // The same bytes as a URL, a host pattern and a duration.
    if (size <= 1024) {
        const policy::Engine empty(policy::Config{}, build);
        exercise(empty, std::string(text));
        std::string why;
        (void)policy::HostPattern::parse(text, &why);
        (void)policy::HostPattern::parse(text, &why, false);
        if (auto d = policy::parse_duration(text)) (void)policy::format_duration(*d);
    }
    return 0;
}
