// libFuzzer target for the TLS core's readers of bytes a peer (or a resumption cache) controls:
// the hello reader, the record observer, the resumption envelope and the NewSessionTicket's
// early data limit. Any bytes in, never a crash, a hang or undefined behaviour out, and these
// invariants for every input:
//   - parse() of a whole message agrees with parse_body() of its body;
//   - a parsed ALPN list is either malformed (and empty) or holds names of 1..255 bytes, and a
//     server's holds exactly one;
//   - the record observer gives the same first message however the stream is split;
//   - an envelope that opens re-seals to the same bytes;
//   - a NewSessionTicket's early data limit is read without reading past its body.
// The first input byte chooses what the rest is fed to. Seeds: tests/fuzz/corpus/tls_hello/
// (real hellos of the three backends, their records, an envelope, a ticket), made by the test
// suite's pair harness.
#include "early.hpp"
#include "envelope.hpp"
#include "hello.hpp"
#include "records.hpp"

#include <algorithm>
#include <cstdint>
#include <span>

namespace {

using namespace connmatrix::tls;

[[noreturn]] void invariant_broken(const char* what) {
    (void)what;        // readable in the debugger and in the source line of the report
    __builtin_trap();  // libFuzzer saves the input that broke the invariant
}

void check(const std::optional<hello::Message>& m) {
    if (!m) return;
    if (m->alpn_malformed && !m->alpn.empty()) invariant_broken("malformed ALPN with names");
    for (const auto& n : m->alpn)
        if (n.empty() || n.size() > 255) invariant_broken("ALPN name length");
    if (m->type != hello::client_hello && !m->alpn_malformed && m->alpn_present &&
        m->alpn.size() != 1)
        invariant_broken("a server's ALPN answer holds one name");
    if (m->session_id.size() > 32) invariant_broken("session id length");
    (void)hello::client_versions(*m);
}

void message(std::span<const std::uint8_t> data) {
    const auto m = hello::parse(data);
    check(m);
    if (m && data.size() >= 4) {
        const auto b = hello::parse_body(data[0], data.subspan(4));
        if (!b || b->alpn != m->alpn || b->server_name != m->server_name || b->random != m->random)
            invariant_broken("parse and parse_body disagree");
    }
}

void records(std::span<const std::uint8_t> data) {
    RecordObserver whole, split;
    whole.consume(data);
    // Split at a point chosen by the data itself, then byte by byte for the first few.
    const std::size_t cut = data.empty() ? 0 : data[0] % (data.size() + 1);
    for (std::size_t i = 0; i < cut; ++i) split.consume(data.subspan(i, 1));
    split.consume(data.subspan(cut));
    const auto* a = whole.first_message();
    const auto* b = split.first_message();
    if ((a == nullptr) != (b == nullptr) || (a && *a != *b)) invariant_broken("split changes the message");
    if (whole.records() != split.records() || whole.alerts() != split.alerts())
        invariant_broken("split changes the record count");
    if (a) check(hello::parse(*a));
}

void envelope_open(std::span<const std::uint8_t> data) {
    const envelope::Key key{};  // the seed was sealed with the zero key
    std::string why;
    auto opened = envelope::open(data, key, why);
    if (!opened) {
        if (why.empty()) invariant_broken("a refusal without a reason");
        return;
    }
    const auto again = envelope::seal(opened->fields, opened->payload, key);
    if (!std::equal(again.begin(), again.end(), data.begin(), data.end()))
        invariant_broken("open then seal changes the bytes");
    (void)envelope::refusal(opened->fields, opened->fields, 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::span<const std::uint8_t> rest(data + 1, size - 1);
    switch (data[0] % 7) {
        case 0: message(rest); break;
        case 1: check(hello::parse_body(hello::client_hello, rest)); break;
        case 2: check(hello::parse_body(hello::server_hello, rest)); break;
        case 3: check(hello::parse_body(hello::encrypted_extensions, rest)); break;
        case 4: records(rest); break;
        case 5: envelope_open(rest); break;
        case 6: (void)early::ticket_max_early_data(rest); break;
    }
    return 0;
}
