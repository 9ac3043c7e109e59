// The in-memory pair harness shared by the TLS, HTTP/2 and HTTP/1.1 tests: a client Session of
// one backend and a server Session of another, joined by two byte queues, with an optional
// filter that can alter or drop bytes in flight. Every loop here is bounded: a stuck exchange
// fails the test instead of hanging it.
#pragma once

#include <connmatrix/tls.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::test {

// The directory the build generated the test certificates into, and a file in it.
std::string cert_dir();
std::string cert(std::string_view file);
// "sha256//BASE64", the public key pin of a leaf (e.g. "localhost-ec"), as the openssl command
// computed it when the build made the certificates: not by the library under test.
std::string cert_pin(std::string_view leaf);

// Highest TLS version the suite may use: CONNMATRIX_TEST_MAX_TLS=1.2 reruns a suite with TLS 1.2
// forced everywhere (as glib-networking does); tls1_3 otherwise.
tls::Version max_version_from_env();

enum class Direction { to_server, to_client };

// Sees each chunk before delivery; may rewrite it in place. Returning false drops the
// connection: both sides see end of stream and nothing further is delivered. Setting
// Pair::close_after_delivery inside the filter delivers this chunk, then ends the stream.
using Filter = std::function<bool(Direction, std::vector<std::uint8_t>&)>;

struct Pair {
    std::shared_ptr<tls::ClientContext> client_ctx;
    std::shared_ptr<tls::ServerContext> server_ctx;
    std::unique_ptr<tls::Session> client;
    std::unique_ptr<tls::Session> server;
    Filter filter;
    bool dropped = false;      // the filter dropped the connection
    bool close_after_delivery = false;  // set by a filter: deliver the chunk, then EOF
    bool client_eof = false;   // client's transport was closed (server gone)
    bool server_eof = false;
};

// Both contexts and sessions; on failure `err` says which side could not be built.
Pair make_pair(const tls::Backend& client_backend, const tls::ClientConfig& ccfg,
               const tls::ClientSessionParams& params, const tls::Backend& server_backend,
               const tls::ServerConfig& scfg, Error& err);

// One step: each side's pending output is delivered to the other (through the filter).
// A side that has failed closes its transport once its last bytes (the alert) are out, as a
// real peer closes its socket. Returns the number of bytes moved.
std::size_t transfer(Pair& p);

struct HandshakeResult {
    tls::Status client = tls::Status::want_input;
    tls::Status server = tls::Status::want_input;
    int rounds = 0;
    bool stuck = false;  // hit the round limit without finishing or failing: a hang
};

// Drives both handshakes until both complete, or one fails and the other has seen the
// consequence, or `max_rounds` pass (stuck = true).
HandshakeResult do_handshake(Pair& p, int max_rounds = 100);

// New sessions of two existing contexts joined in `p` (which keeps the contexts alive), the
// client given `resume` (an export_session()), and their handshake. Both sessions are REQUIREd.
HandshakeResult connect(Pair& p, const std::shared_ptr<tls::ClientContext>& client_ctx,
                        const std::shared_ptr<tls::ServerContext>& server_ctx,
                        std::vector<std::uint8_t> resume = {},
                        const std::string& host = "localhost");

// Sends `data` from one side and reads it on the other (bounded). Returns what arrived.
std::string send_and_receive(Pair& p, Direction dir, std::string_view data, int max_rounds = 100);

// Lets the client process what the server sent after the handshake (TLS 1.3 tickets).
void settle(Pair& p, int rounds = 4);

// A whole handshake between two backends, summarised for table-driven tests.
struct Outcome {
    bool built = false;        // contexts and sessions could be created
    Error build_error;         // why not
    bool stuck = false;        // the bounded loop ran out: a hang
    tls::Status client = tls::Status::want_input;
    tls::Status server = tls::Status::want_input;
    Error client_error, server_error;
    std::optional<std::string> client_alpn, server_alpn;
    tls::SessionInfo client_info, server_info;
};
// `keep`, when given, receives the pair afterwards, for a test that goes on with it.
Outcome run_handshake(const tls::Backend& client_backend, const tls::ClientConfig& ccfg,
                      const tls::Backend& server_backend, const tls::ServerConfig& scfg,
                      const std::string& host = "localhost", Pair* keep = nullptr);

// Typical server config: the EC localhost leaf, given ALPN preference.
tls::ServerConfig server_config(std::vector<std::string> alpn = {},
                                std::string leaf = "localhost-ec");
// A server ALPN selector that answers `protocol` whatever the client offered (a broken server:
// the forced-ALPN mode of the tests).
tls::AlpnSelector force_alpn(std::string protocol);

// Typical client config: the test CA, the given offer.
tls::ClientConfig client_config(std::vector<std::string> alpn = {});

}  // namespace connmatrix::test
