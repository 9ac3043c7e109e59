// stream: a download and an upload that never hold the body in memory. The body of GET URL is
// written to OUT as it arrives (Request::on_body); then, with IN given, IN is sent to URL with
// PUT, read from the file as the connection takes it (Request::body_source: framed by the
// file's size, rewound if the pool sends it again).
//   stream URL OUT [IN [CA_FILE]]    e.g. stream https://127.0.0.1:8443/big.bin big.bin
#include <connmatrix/client.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

using namespace connmatrix;

namespace {

int report(const char* what, const Result& r, std::uint64_t bytes) {
    if (!r) {
        std::cerr << what << ": " << error_name(r.error.code) << ": " << r.error.message() << "\n";
        return 1;
    }
    std::cout << what << ": " << r.response.status << ", " << bytes << " bytes over "
              << r.response.info.alpn_selected.value_or("no ALPN") << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: stream URL OUT [IN [CA_FILE]]\n";
        return 2;
    }
    policy::Config config;
    if (argc > 4) config.defaults.tls.ca_file = argv[4];
    Client client(std::move(config));

    // 1. Download: each piece goes to the file as it is decoded; Response::body stays empty.
    std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
    std::uint64_t received = 0;
    Request get;
    get.url = argv[1];
    get.on_body = [&](std::span<const std::uint8_t> piece) {
        out.write(reinterpret_cast<const char*>(piece.data()), static_cast<std::streamsize>(piece.size()));
        received += piece.size();
        return out ? BodyAction::proceed : BodyAction::abort;  // a full disk ends the request
    };
    const Result got = client.send(std::move(get));
    if (int rc = report("GET", got, received); rc != 0) return rc;
    out.close();
    if (argc < 4) return 0;

    // 2. Upload: read from the file a piece at a time as the connection has room.
    const std::string path = argv[3];
    auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
    if (!*in) {
        std::cerr << path << ": cannot read the file\n";
        return 1;
    }
    Request put;
    put.method = "PUT";
    put.url = argv[1];
    put.body_source.length = std::filesystem::file_size(path);
    put.body_source.read = [in, path](std::span<std::uint8_t> buf) {
        in->read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
        if (in->bad()) throw std::runtime_error("reading " + path);  // ends this request only
        const auto n = static_cast<std::size_t>(in->gcount());
        return BodyRead{n, n == 0};
    };
    put.body_source.rewind = [in] {  // lets the pool send it again (REFUSED_STREAM, ...)
        in->clear();
        return static_cast<bool>(in->seekg(0));
    };
    const std::uint64_t sent = *put.body_source.length;
    return report("PUT", client.send(std::move(put)), sent);
}
