// The client identity's passphrase, read where the config says it is (never from the config).
#include <connmatrix/policy.hpp>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <system_error>

namespace connmatrix::policy {

std::optional<std::string> read_key_password(const ClientIdentity& id, std::string* why) {
    auto fail = [&](std::string w) -> std::optional<std::string> {
        if (why) *why = std::move(w);
        return std::nullopt;
    };
    if (!id.key_password_env.empty()) {
        const char* v = std::getenv(id.key_password_env.c_str());  // read at each use: no cache
        if (v == nullptr)
            return fail("the environment variable " + id.key_password_env +
                        " (the client key's passphrase) is not set");
        return std::string(v);
    }
    if (!id.key_password_file.empty()) {
        // Its first line, as openssl's -passin file: takes it; the line end is not part of it.
        std::ifstream in(id.key_password_file, std::ios::binary);
        if (!in)
            return fail("cannot read the client key's passphrase file \"" + id.key_password_file +
                        "\": " + std::generic_category().message(errno));
        std::string line;
        std::getline(in, line);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty())
            return fail("the client key's passphrase file \"" + id.key_password_file +
                        "\" is empty (its first line is the passphrase)");
        return line;
    }
    return std::string();
}

}  // namespace connmatrix::policy
