// interop_spec.hpp: what the interop suite expects of every cell (backend x mode x server of the
// fixture), derived from documents, not from connmatrix. Shared by interop_matrix.cpp (which
// runs the cells with the Client and asserts them) and interop_expect.cpp (which prints them as
// a `connmatrix probe --expect` file, so the probe is checked against the same expectation).
//
// Two tables:
//   - `kServers`: what each server does, as tests/interop/README.md records it (probed with
//     openssl s_client, nghttp and raw sockets by check-servers.sh);
//   - `kModes`: the mode presets, as policy.hpp specifies them;
// and `expect()`: the rules of RFC 7301 section 3.2, RFC 9113 section 3, negotiate::decide()
// (negotiate.hpp) and the fallback rule (issue 4, item 4).
#pragma once

#include <connmatrix/client.hpp>
#include <connmatrix/errors.hpp>
#include <connmatrix/negotiate.hpp>
#include <connmatrix/policy.hpp>
#include <connmatrix/tls.hpp>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace connmatrix::interop {

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

// =============================================================================================
// The servers, as tests/interop/README.md ("Observed behaviour") describes them.

// The server's answer to an ALPN offer.
enum class Answer { none, h2, http1_1, alert };

// What it does with an HTTP/1.1 GET (sent after no ALPN, or ALPN http/1.1).
enum class OnHttp1 {
    ok,                   // a 200 with the hello body (HTTP/1.1, or HTTP/1.0 from s_server/gnutls)
    settings_then_close,  // an h2-only server: its binary SETTINGS frame (no line end), then close
    close_at_once,        // closes right after the handshake without answering
};

// What it does with an h2 preface that ALPN did not confirm (prior knowledge).
enum class OnPreface {
    ok,                    // speaks h2
    http1_400,             // HTTP/1.1 400 Bad Request, then close
    close_at_once,         // closes (close_notify) right after the handshake
    html_no_status_line,   // an HTML 501 page without a status line (HTTP/0.9 style), then close
    stall,                 // answers nothing and keeps the connection open
};

struct ServerFacts {
    const char* name;
    bool tls;
    Answer to_h2_http1, to_h2, to_http1;  // ALPN answer to [h2, http/1.1], [h2], [http/1.1];
                                          // to no ALPN extension every server answers none
    OnHttp1 http1;
    OnPreface preface;
    bool h2c_upgrade;                     // cleartext: answers `Upgrade: h2c` with 101 and h2
    bool one_connection_at_a_time;        // s_server: run its cells one by one
    const char* note;                     // for the matrix document
    bool tls13_only = false;              // ssl_protocols TLSv1.3: a client without TLS 1.3
                                          // (mbedTLS 2.28) gets the protocol_version alert
};

inline constexpr Answer N = Answer::none, H2 = Answer::h2, H1 = Answer::http1_1, ALERT = Answer::alert;

// clang-format off
inline const std::vector<ServerFacts> kServers = {
    //  name               tls    [h2,h1] [h2]   [h1]  HTTP/1.1 GET                   h2 preface without ALPN h2  Upgrade: h2c  serial
    {"nghttpd_alpn",      true,  H2,     H2,    N,    OnHttp1::close_at_once,        OnPreface::close_at_once,        false, false,
     "nghttpd, ALPN h2 only; closes (close_notify) right after a handshake that did not select h2"},
    {"nginx_h2",          true,  H2,     H2,    H1,   OnHttp1::ok,                   OnPreface::http1_400,            false, false,
     "nginx `listen ssl http2`; without ALPN h2 it speaks HTTP/1.1 and answers a preface with 400"},
    {"nginx_h1",          true,  H1,     ALERT, H1,   OnHttp1::ok,                   OnPreface::http1_400,            false, false,
     "nginx `listen ssl`, ALPN http/1.1 only: an offer of [h2] alone gets the no_application_protocol alert"},
    {"nginx_h2_tls12",    true,  H2,     H2,    H1,   OnHttp1::ok,                   OnPreface::http1_400,            false, false,
     "as nginx_h2, TLS 1.2 only: ALPN in the ServerHello"},
    {"nginx_early",       true,  H2,     H2,    H1,   OnHttp1::ok,                   OnPreface::http1_400,            false, false,
     "as nginx_h2, TLS 1.3 only, with `ssl_early_data on` (tests/interop/interop_early_data.cpp)", true},
    {"s_server_noalpn",   true,  N,      N,     N,    OnHttp1::ok,                   OnPreface::stall,                false, true,
     "openssl s_server -WWW: never answers ALPN; HTTP/1.0, close-delimited; never answers an h2 preface; one connection at a time"},
    {"s_server_alpn",     true,  H1,     ALERT, H1,   OnHttp1::ok,                   OnPreface::stall,                false, true,
     "openssl s_server -WWW -alpn http/1.1: [h2] alone gets the alert; otherwise as s_server_noalpn"},
    {"gnutls_serv",       true,  H1,     N,     H1,   OnHttp1::ok,                   OnPreface::html_no_status_line,  false, false,
     "gnutls-serv --alpn=http/1.1: [h2] alone completes without ALPN; HTTP/1.0 with Content-Length"},
    {"gnutls_alpn_fatal", true,  H1,     ALERT, H1,   OnHttp1::ok,                   OnPreface::html_no_status_line,  false, false,
     "gnutls-serv --alpn=http/1.1 --alpn-fatal: [h2] alone gets the alert"},
    {"h2_noalpn",         true,  N,      N,     N,    OnHttp1::settings_then_close,  OnPreface::ok,                   false, false,
     "stunnel (no ALPN) before nghttpd --no-tls: speaks only h2, never answers ALPN (a TLS-terminating load balancer)"},
    {"h1_noalpn",         true,  N,      N,     N,    OnHttp1::ok,                   OnPreface::http1_400,            false, false,
     "stunnel (no ALPN) before nginx HTTP/1.1: never answers ALPN, speaks only HTTP/1.1 (the exchange host)"},
    {"nghttpd_h2c",       false, N,      N,     N,    OnHttp1::settings_then_close,  OnPreface::ok,                   false, false,
     "nghttpd --no-tls: cleartext h2 by prior knowledge only"},
    {"nginx_plain",       false, N,      N,     N,    OnHttp1::ok,                   OnPreface::http1_400,            false, false,
     "nginx cleartext HTTP/1.1"},
    {"h2c_upgrade",       false, N,      N,     N,    OnHttp1::ok,                   OnPreface::ok,                   true,  false,
     "nghttpx cleartext: HTTP/1.1, Upgrade: h2c and h2c prior knowledge on one port"},
};
// clang-format on

inline Answer answer_to(const ServerFacts& s, const std::vector<std::string>& offer) {
    const bool h2 = std::find(offer.begin(), offer.end(), "h2") != offer.end();
    const bool h1 = std::find(offer.begin(), offer.end(), "http/1.1") != offer.end();
    if (h2 && h1) return s.to_h2_http1;
    if (h2) return s.to_h2;
    if (h1) return s.to_http1;
    return Answer::none;  // RFC 7301 section 3.1: no extension in the ClientHello, none back
}

// =============================================================================================
// The modes, as policy.hpp's presets specify them.

struct ModeSpec {
    const char* name;                // as written in "mode"
    const char* label;               // the matrix row
    std::vector<std::string> offer;  // [] = no ALPN extension at all
    policy::NoAlpn no_alpn;
    bool fallback;                   // fallback: http/1.1
    policy::Cleartext cleartext;
    const char* extra_json = "";     // more "defaults" fields
    bool cleartext_only = false;     // a row about the cleartext rule alone
};

inline const std::vector<ModeSpec> kModes = {
    {"alpn", "alpn", {"h2", "http/1.1"}, policy::NoAlpn::http1_1, false, policy::Cleartext::http1_1},
    {"h2-only", "h2-only", {"h2"}, policy::NoAlpn::fail, false, policy::Cleartext::h2c},
    {"http1", "http1", {"http/1.1"}, policy::NoAlpn::http1_1, false, policy::Cleartext::http1_1},
    {"prior-knowledge", "prior-knowledge", {}, policy::NoAlpn::h2, false, policy::Cleartext::h2c},
    {"prior-knowledge-alpn", "prior-knowledge-alpn", {"h2", "http/1.1"}, policy::NoAlpn::h2, true,
     policy::Cleartext::h2c},
    {"h2-only-prior-knowledge", "h2-only-prior-knowledge", {"h2"}, policy::NoAlpn::h2, false,
     policy::Cleartext::h2c},
    // Not a mode: the cleartext axis set to h2c-upgrade (RFC 7540 3.2), on http:// servers only.
    {"alpn", "alpn + cleartext h2c-upgrade", {"h2", "http/1.1"}, policy::NoAlpn::http1_1, false,
     policy::Cleartext::h2c_upgrade, R"("cleartext": "h2c-upgrade")", true},
};

// The Client's timeouts in every cell ("defaults" fields). tls (2 s) is below request (3 s): a
// server that never answers an unconfirmed h2 preface (s_server) is found out within
// timeouts.tls, and counts as rejecting h2 (see expect()).
inline constexpr const char* kTimeoutsJson =
    R"("timeouts": {"connect": "2s", "tls": "2s", "request": "3s"})";

// =============================================================================================
// The rules.

struct Outcome {
    std::error_code error;  // set: the request ends with exactly this error
    Protocol protocol = Protocol::http1_1;
    std::optional<std::string> alpn;  // ALPN selected (nullopt: none)
    bool fallback = false;
    std::string why;  // the rule that decided, in words
};

inline Outcome failure(std::error_code e, std::string why) {
    Outcome o;
    o.error = e;
    o.why = std::move(why);
    return o;
}

inline std::optional<std::string> alpn_name(Answer a) {
    if (a == Answer::h2) return "h2";
    if (a == Answer::http1_1) return "http/1.1";
    return std::nullopt;
}

// Whether the compiled backend `name` can negotiate TLS 1.3, as its capabilities declare.
inline bool backend_has_tls13(const std::string& name) {
    const auto reg = tls::Registry::compiled_in();
    const tls::Backend* b = reg.find(name);
    if (b == nullptr) throw std::runtime_error("interop spec: backend " + name + " is not compiled in");
    return b->capabilities().tls13;
}

// `client_tls13`: the client's backend can negotiate TLS 1.3 (backend_has_tls13()).
inline Outcome expect(const ModeSpec& m, const ServerFacts& s, bool client_tls13) {
    Outcome o;
    bool h2 = false;
    bool confirmed = false;
    if (s.tls && s.tls13_only && !client_tls13)
        return failure(tls::errc::protocol_version,
                       "RFC 8446 4.2.1: a TLS 1.3-only server and a client offering TLS 1.2 at "
                       "most: the server sends the protocol_version alert");
    if (s.tls) {
        const Answer a = answer_to(s, m.offer);
        o.alpn = alpn_name(a);
        switch (a) {
            case Answer::alert:
                return failure(tls::errc::no_application_protocol,
                               "RFC 7301 3.2: no protocol in common, the server sends the "
                               "no_application_protocol alert");
            case Answer::h2:
                h2 = confirmed = true;
                o.why = "ALPN selected h2";
                break;
            case Answer::http1_1:
                o.why = "ALPN selected http/1.1";
                break;
            case Answer::none: {
                const bool h1_offered =
                    std::find(m.offer.begin(), m.offer.end(), "http/1.1") != m.offer.end();
                switch (m.no_alpn) {
                    case policy::NoAlpn::http1_1:
                        o.why = "no ALPN answer: http/1.1 (RFC 7301 3.2, no_alpn http/1.1)";
                        break;
                    case policy::NoAlpn::h2:
                        h2 = true;
                        o.why = "no ALPN answer: h2 by prior knowledge (no_alpn h2)";
                        break;
                    case policy::NoAlpn::fail:
                        return failure(h1_offered ? negotiate::make_error_code(
                                                        negotiate::errc::alpn_required_but_none)
                                                  : negotiate::make_error_code(
                                                        negotiate::errc::h2_required_but_no_alpn),
                                       "no ALPN answer and no_alpn fail: decide() refuses");
                }
                break;
            }
        }
    } else if (m.cleartext == policy::Cleartext::h2c) {
        h2 = true;
        o.why = "cleartext h2c: h2 by prior knowledge (RFC 9113 3.3)";
    } else if (m.cleartext == policy::Cleartext::h2c_upgrade) {
        // HTTP/1.1 with `Upgrade: h2c`: h2 on 101 Switching Protocols, else the HTTP/1.1 answer.
        h2 = confirmed = s.h2c_upgrade && s.http1 == OnHttp1::ok;
        o.why = h2 ? "cleartext h2c-upgrade: 101, then h2" : "cleartext h2c-upgrade: no 101, HTTP/1.1";
    } else {
        o.why = "cleartext http/1.1";
    }

    if (h2 && !confirmed) {
        // h2 that ALPN did not confirm: the server's first answer decides.
        switch (s.preface) {
            case OnPreface::ok: break;
            case OnPreface::stall:
                // No SETTINGS within timeouts.tls (2 s here, below the 3 s request timeout):
                // unconfirmed h2 counts as rejected, like an answer in HTTP/1.1 text.
            case OnPreface::http1_400:
            case OnPreface::close_at_once:
            case OnPreface::html_no_status_line:
                if (m.fallback) {
                    // The fallback rule: retry once over HTTP/1.1, offering the same ALPN list
                    // without h2.
                    h2 = false;
                    o.fallback = true;
                    if (s.tls) {
                        std::vector<std::string> offer = m.offer;
                        std::erase(offer, std::string("h2"));
                        o.alpn = alpn_name(answer_to(s, offer));
                    }
                    o.why += "; h2 rejected, fallback to http/1.1";
                    break;
                }
                if (s.preface == OnPreface::stall)
                    return failure(http2::errc::not_h2,
                                   "no SETTINGS after the h2 preface within timeouts.tls; no fallback");
                if (s.preface == OnPreface::http1_400)
                    return failure(http2::errc::not_h2,
                                   "the server answered the h2 preface with HTTP/1.1 text; no fallback");
                if (s.preface == OnPreface::close_at_once)
                    return failure(net::errc::connection_closed,
                                   "the server closed instead of answering the preface; no fallback");
                return failure(http2::errc::protocol_error,
                               "the server answered the h2 preface with bytes that are neither "
                               "SETTINGS nor HTTP/1.x: an h2 protocol error; no fallback");
        }
    }
    if (!h2) {
        switch (s.http1) {
            case OnHttp1::ok: break;
            case OnHttp1::settings_then_close:
                return failure(http1::errc::malformed_status_line,
                               "an h2-only server answers with a binary SETTINGS frame: the "
                               "first byte already shows it is no HTTP/1.x status line");
            case OnHttp1::close_at_once:
                return failure(net::errc::connection_closed,
                               "the server closes without answering the HTTP/1.1 request");
        }
    }
    o.protocol = h2 ? Protocol::h2 : Protocol::http1_1;
    return o;
}

#pragma GCC diagnostic pop

}  // namespace connmatrix::interop
