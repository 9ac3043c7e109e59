// interop_expect: the interop suite's expectation (interop_spec.hpp, the table interop_matrix
// asserts) as input for `connmatrix probe`, so that the command is checked against the same
// spec-derived matrix as the Client (test cli_probe_agrees_with_interop, tests/cli/cli_test.py).
//
//   interop_expect servers
//       one line per server of the spec: NAME http|https parallel|serial
//       (serial: one connection at a time, probe it with --parallel 1)
//   interop_expect config
//       the Client configuration every interop cell uses besides backend, mode and CA (the
//       timeouts), as a `probe --config` file
//   interop_expect expect SERVER BACKEND...
//       SERVER's expected cells for those backends and probe's modes, as a `probe --expect`
//       file. Per cell: "protocol", "status", "alpn_selected" and "error" (null) when the
//       request succeeds; "protocol" and "status" null and "error" "<category>:<enumerator>"
//       when it fails. The h2c-upgrade row of the interop matrix sets the cleartext axis, which
//       is no probe mode: it is left out. "why" (ignored by probe) says which rule decided.
#include "interop_spec.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

using namespace connmatrix;
using namespace connmatrix::interop;
using json = nlohmann::ordered_json;

namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: interop_expect servers\n"
                 "       interop_expect config\n"
                 "       interop_expect expect SERVER BACKEND...\n");
    return 2;
}

json expect_file(const ServerFacts& s, const std::vector<std::string>& backends) {
    json results = json::array();
    json why = json::object();
    for (const auto& b : backends) {
        const bool tls13 = backend_has_tls13(b);
        for (const auto& m : kModes) {
            if (m.cleartext_only) continue;  // not a probe mode
            const Outcome x = expect(m, s, tls13);
            json cell;
            cell["backend"] = b;
            cell["mode"] = m.name;
            if (x.error) {
                cell["protocol"] = nullptr;
                cell["status"] = nullptr;
                cell["error"] = error_name(x.error);
            } else {
                cell["protocol"] = std::string(to_string(x.protocol));
                cell["status"] = 200;
                cell["alpn_selected"] = x.alpn ? json(*x.alpn) : json(nullptr);
                cell["error"] = nullptr;
            }
            results.push_back(std::move(cell));
            why[m.name] = x.why;
        }
    }
    json doc;
    doc["server"] = s.name;
    doc["why"] = std::move(why);
    doc["results"] = std::move(results);
    return doc;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string cmd = argv[1];
    if (cmd == "servers" && argc == 2) {
        for (const auto& s : kServers)
            std::printf("%s %s %s\n", s.name, s.tls ? "https" : "http",
                        s.one_connection_at_a_time ? "serial" : "parallel");
        return 0;
    }
    if (cmd == "config" && argc == 2) {
        std::printf("%s\n", json::parse(std::string("{\"defaults\": {") + kTimeoutsJson + "}}")
                                .dump(2)
                                .c_str());
        return 0;
    }
    if (cmd == "expect" && argc >= 4) {
        for (const auto& s : kServers) {
            if (s.name != std::string(argv[2])) continue;
            try {
                std::printf("%s\n", expect_file(s, {argv + 3, argv + argc}).dump(2).c_str());
            } catch (const std::exception& e) {
                std::fprintf(stderr, "interop_expect: %s\n", e.what());
                return 1;
            }
            return 0;
        }
        std::fprintf(stderr, "interop_expect: no server \"%s\" in the spec (interop_spec.hpp)\n",
                     argv[2]);
        return 1;
    }
    return usage();
}
