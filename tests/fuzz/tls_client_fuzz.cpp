// libFuzzer target for a TLS client session of one backend (CONNMATRIX_FUZZ_BACKEND, one
// executable per compiled backend), through the public seam: tls::Registry::compiled_in(), a
// ClientContext, a Session. The session produces its real ClientHello; then the fuzzer's bytes
// arrive as the server's records, in feeds of a chosen size, then end of stream, and the target
// drives handshake() (and read(), write(), close() once connected) to the end. Never a crash, a
// hang or undefined behaviour, in our code (the TLS core, the backend's translation) or in the
// library, and:
//   - a failure is sticky: every later handshake(), read() and write() fails with the same code;
//   - every error is in category tls, has a text, an origin that fits (error.hpp), and is
//     neither invalid_state (we never misuse the API) nor internal (peer bytes always have a
//     name);
//   - the handshake never wants input once the transport ended: it completes or fails;
//   - a completed handshake selected nothing or a protocol we offered, on TLS 1.2 or 1.3.
// Input: two control bytes (tls_client_setup.hpp), then the server's bytes. Seeds
// (tests/fuzz/corpus/tls_client_<backend>/) are real server flights of every server backend,
// captured by the seed maker from in-memory pairs; their certificates chain to
// tests/fuzz/tls_client_ca.pem, which the target trusts unless the input turns verification off.
// The library draws the ClientHello's random and key share itself, so a replayed flight
// passes the ServerHello (in TLS 1.2 also the Certificate and the key exchange parameters) and
// then fails the first check bound to them: README.md says what that leaves uncovered.
#include "tls_client_setup.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string_view>

#ifndef CONNMATRIX_FUZZ_BACKEND
#error "the build defines CONNMATRIX_FUZZ_BACKEND: openssl, gnutls or mbedtls"
#endif

namespace {

using namespace connmatrix;
using tls::Status;
namespace flags = connmatrix::test::fuzz::tls_flags;

[[noreturn]] void invariant_broken(const char* what) {
    std::fprintf(stderr, "tls_client_%s invariant broken: %s\n", CONNMATRIX_FUZZ_BACKEND, what);
    __builtin_trap();  // libFuzzer saves the input that broke the invariant
}

// One client context per combination of the flags that shape the ClientHello (ALPN offer,
// verification, maximum version): built once, then only read (sessions are made from them).
constexpr std::size_t context_flags = flags::alpn_mask | flags::no_verify | flags::tls12;

tls::ClientContext& context(std::uint8_t f) {
    static const tls::Registry registry = tls::Registry::compiled_in();
    static const auto contexts = [] {
        const tls::Backend* b = registry.find(CONNMATRIX_FUZZ_BACKEND);
        if (b == nullptr) invariant_broken("the backend is not compiled in");
        std::array<std::shared_ptr<tls::ClientContext>, context_flags + 1> all;
        for (std::size_t i = 0; i < all.size(); ++i) {
            Error err;
            all[i] = b->client_context(
                test::fuzz::tls_client_config(static_cast<std::uint8_t>(i), CONNMATRIX_FUZZ_CA), err);
            if (!all[i]) {
                std::fprintf(stderr, "%s\n", err.message().c_str());
                invariant_broken("no client context");
            }
        }
        return all;
    }();
    return *contexts[f & context_flags];
}

class Driver {
public:
    Driver(tls::Session& s, std::uint8_t f) : s_(s), flags_(f) {}

    // Advances as far as the input allows; `at_end`: the transport has ended.
    void step(bool at_end) {
        for (int round = 0; round < 4096; ++round) {
            if (!s_.handshake_done()) {
                const Status st = observe(s_.handshake());
                if (st == Status::want_input && at_end) invariant_broken("handshake wants input after end of stream");
                if (st != Status::ok) return;
                connected();
            }
            std::vector<std::uint8_t> plain;
            const Status st = observe(s_.read(plain));
            (void)s_.take_output();
            if (st == Status::want_input && at_end) invariant_broken("read wants input after end of stream");
            if (st != Status::ok) return;
        }
        if (at_end) invariant_broken("read() never comes to an end");
    }

    void finish() {
        if (!failed_ && s_.handshake_done() && (flags_ & flags::talk)) s_.close();
        (void)s_.take_output();
        if (!failed_) return;
        // Sticky: every call fails again, with the same code.
        std::vector<std::uint8_t> plain;
        const std::uint8_t byte = 'x';
        if (s_.handshake() != Status::failed || s_.read(plain) != Status::failed ||
            s_.write({&byte, 1}) != Status::failed || s_.error().code != code_)
            invariant_broken("a failure that is not sticky");
    }

private:
    Status observe(Status st) {
        if (failed_) {
            if (st != Status::failed || s_.error().code != code_) invariant_broken("a failure that is not sticky");
            return st;
        }
        if (st != Status::failed) return st;
        const Error& e = s_.error();
        if (!e) invariant_broken("failed without an error");
        if (std::getenv("CONNMATRIX_FUZZ_VERBOSE")) std::fprintf(stderr, "%s\n", e.message().c_str());
        if (e.code.category() != tls::category()) invariant_broken("an error outside category tls");
        if (!origin_fits(e)) invariant_broken("an error whose origin does not fit");
        if (e.code == tls::errc::invalid_state) invariant_broken("invalid_state: the session thinks we misused it");
        if (e.code == tls::errc::internal) invariant_broken("internal: peer bytes the backend could not name");
        if (e.message().empty()) invariant_broken("an error without a text");
        failed_ = true;
        code_ = e.code;
        return st;
    }

    void connected() {
        const auto alpn = s_.alpn();
        const auto offer = test::fuzz::tls_offer(flags_);
        if (alpn && std::find(offer.begin(), offer.end(), *alpn) == offer.end())
            invariant_broken("connected with a protocol we did not offer");
        const tls::Version v = s_.info().version;
        if (v != tls::Version::tls1_2 && v != tls::Version::tls1_3) invariant_broken("connected below TLS 1.2");
        if (flags_ & flags::talk) {
            static constexpr std::string_view req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
            (void)observe(s_.write({reinterpret_cast<const std::uint8_t*>(req.data()), req.size()}));
        }
    }

    tls::Session& s_;
    std::uint8_t flags_;
    bool failed_ = false;
    std::error_code code_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t f = data[0];
    const std::size_t step = data[1] == 0 ? size : data[1];
    const std::span<const std::uint8_t> server(data + 2, size - 2);

    Error err;
    const auto session = context(f).new_session(test::fuzz::tls_client_params(f), err);
    if (!session) invariant_broken("no session");
    if (session->handshake() != Status::want_input || session->take_output().empty())
        invariant_broken("no ClientHello");

    Driver d(*session, f);
    for (std::size_t i = 0; i < server.size(); i += step) {
        session->feed(server.subspan(i, std::min(step, server.size() - i)));
        d.step(false);
    }
    session->feed_eof();
    d.step(true);
    d.finish();
    return 0;
}
