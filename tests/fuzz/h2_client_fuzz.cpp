// libFuzzer target for the HTTP/2 client session (lib/http2, nghttp2 underneath): a session with
// a GET, a POST with a 70000-byte body and a HEAD in flight is fed arbitrary server bytes
// (frames, HPACK), then end of stream. Never a crash, a hang or undefined behaviour, and:
//   - every request we submitted ends exactly once (one StreamClosed), at the latest once the
//     input is exhausted and feed_eof() was given, and already when the session says it is
//     finished or failed;
//   - no event names a stream we did not open; a stream's events come in order (one final
//     head, then data and trailers, then its end) and nothing follows its end;
//   - a response reported complete has its final head, with a status of 200..599;
//   - an error is sticky, in category http2, with an origin that fits (error.hpp).
// Input: two control bytes (h2_client_setup.hpp: flags, then the size of each feed, 0 for all
// at once), then the server's bytes. Seeds (tests/fuzz/corpus/h2_client/) are real server
// output, captured by the seed maker from the test-support h2 server in many fault modes.
#include "h2_client_setup.hpp"

#include <cstdio>
#include <map>
#include <span>

namespace {

using namespace connmatrix;
using namespace connmatrix::http2;
namespace flags = connmatrix::test::fuzz::h2_flags;

[[noreturn]] void invariant_broken(const char* what) {
    std::fprintf(stderr, "h2_client invariant broken: %s\n", what);
    __builtin_trap();  // libFuzzer saves the input that broke the invariant
}

void check_error(const Error& e) {
    if (e.code.category() != http2::category()) invariant_broken("an error outside category http2");
    if (!origin_fits(e)) invariant_broken("an error whose origin does not fit");
}

struct StreamState {
    bool head = false;
    bool closed = false;
};

class Conversation {
public:
    explicit Conversation(ClientSession& c) : c_(c) {}

    void submit(Request r) {
        Error err;
        const std::int32_t id = c_.submit_request(std::move(r), err);
        if (id <= 0) {
            if (!err) invariant_broken("a refused request without an error");
            check_error(err);
            return;
        }
        if (streams_.count(id) != 0) invariant_broken("a stream id handed out twice");
        streams_[id] = {};
    }

    void take() {
        for (const Event& ev : c_.take_events()) check(ev);
        if (c_.active_streams() != open()) invariant_broken("active_streams() != streams not ended");
    }

    std::size_t open() const {
        std::size_t n = 0;
        for (const auto& [id, s] : streams_) n += s.closed ? 0 : 1;
        return n;
    }

    void all_ended(const char* when) const {
        if (open() != 0) invariant_broken(when);
    }

private:
    void check(const Event& ev) {
        const std::int32_t id = stream_of(ev);
        if (id == 0) {
            if (std::holds_alternative<ResponseHeaders>(ev) || std::holds_alternative<Data>(ev) ||
                std::holds_alternative<Trailers>(ev) || std::holds_alternative<StreamClosed>(ev))
                invariant_broken("a stream event on stream 0");
            return;
        }
        const auto it = streams_.find(id);
        if (it == streams_.end()) invariant_broken("an event names a stream we did not open");
        StreamState& s = it->second;
        if (s.closed) invariant_broken("an event after the stream ended");
        if (const auto* h = std::get_if<ResponseHeaders>(&ev)) {
            if (s.head) invariant_broken("two final heads on one stream");
            if (h->status < 200 || h->status > 599) invariant_broken("a final status outside 200..599");
            s.head = true;
        } else if (std::holds_alternative<Data>(ev) || std::holds_alternative<Trailers>(ev)) {
            if (!s.head) invariant_broken("data or trailers before the final head");
        } else if (const auto* cl = std::get_if<StreamClosed>(&ev)) {
            s.closed = true;
            if (!cl->error && !s.head) invariant_broken("a complete response without a head");
            if (cl->error) check_error(cl->error);
        }
    }

    ClientSession& c_;
    std::map<std::int32_t, StreamState> streams_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t f = data[0];
    const std::size_t step = data[1] == 0 ? size : data[1];
    const bool lazy = (f & flags::lazy) != 0;
    std::span<const std::uint8_t> server(data + 2, size - 2);

    ClientSession c(test::fuzz::h2_client_options());
    if (c.error()) invariant_broken("the session could not start");
    Conversation conv(c);
    for (auto& r : test::fuzz::h2_client_requests()) conv.submit(std::move(r));
    (void)c.take_output();  // preface, SETTINGS, WINDOW_UPDATE, HEADERS: to the server

    std::vector<std::span<const std::uint8_t>> chunks;
    static constexpr std::uint8_t empty_settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    if (f & flags::preface) chunks.emplace_back(empty_settings);
    for (std::size_t i = 0; i < server.size(); i += step)
        chunks.push_back(server.subspan(i, std::min(step, server.size() - i)));

    bool first = true;
    for (const auto chunk : chunks) {
        const Error e = c.feed(chunk);
        if (e) {
            check_error(e);
            if (c.error().code != e.code) invariant_broken("feed() returned an error the session does not hold");
        }
        if (first) {
            first = false;
            if (f & flags::late_request) conv.submit(test::fuzz::h2_client_late_request());
            if (f & flags::cancel) (void)c.submit_rst_stream(1);
            if (f & flags::ping) (void)c.submit_ping();
            if (f & flags::goaway) (void)c.submit_goaway();
        }
        if (lazy) continue;
        (void)c.take_output();
        conv.take();
        if (c.error()) conv.all_ended("a failed session left a request open");
        if (c.finished()) conv.all_ended("a finished session left a request open");
    }
    const std::error_code sticky = c.error().code;
    c.feed_eof();
    (void)c.take_output();
    conv.take();
    conv.all_ended("a request still open after end of stream");
    if (sticky && c.error().code != sticky) invariant_broken("the sticky error changed");
    if (c.error()) check_error(c.error());
    if (!c.finished()) invariant_broken("not finished after end of stream");
    Error err;
    if (c.submit_request(test::fuzz::h2_client_late_request(), err) != 0 || !err)
        invariant_broken("a request accepted after end of stream");
    return 0;
}
