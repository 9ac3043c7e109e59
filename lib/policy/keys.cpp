// The keys of the JSON format, per object.
#include "internal.hpp"

namespace connmatrix::policy::detail {
namespace {

constexpr std::string_view top_keys[] = {"$schema", "description", "defaults", "hosts"};
constexpr std::string_view defaults_keys[] = {
    "description", "mode",     "backend",  "alpn", "no_alpn", "fallback", "on_http11_required",
    "remember",    "cleartext", "tls",     "timeouts", "pool", "proxy",   "no_proxy",
    "connect_to"};
constexpr std::string_view rule_keys[] = {
    "match",     "description", "mode",     "backend", "alpn", "no_alpn", "fallback",
    "on_http11_required", "remember", "cleartext", "tls", "timeouts", "pool", "proxy",
    "connect_to", "resolve"};
constexpr std::string_view tls_keys[] = {"verify",     "ca_file",    "min_version", "max_version",
                                         "sni",        "resumption", "early_data",  "early_data_methods", "pin",
                                         "client_cert", "client_key", "client_key_password_file",
                                         "client_key_password_env"};
constexpr std::string_view timeouts_keys[] = {"connect", "tls", "request", "idle",
                                              "happy_eyeballs"};
constexpr std::string_view pool_keys[] = {"max_connections_per_host", "max_idle_per_host",
                                          "max_concurrent_streams", "ping_interval", "ping_timeout",
                                          "max_connection_age"};

}  // namespace

std::span<const std::string_view> known_keys(Level level) noexcept {
    switch (level) {
        case Level::top: return top_keys;
        case Level::defaults: return defaults_keys;
        case Level::rule: return rule_keys;
        case Level::tls: return tls_keys;
        case Level::timeouts: return timeouts_keys;
        case Level::pool: return pool_keys;
    }
    return {};
}

}  // namespace connmatrix::policy::detail
