// Host names, IP literals, origins, host patterns and proxy URLs.
#include "internal.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace connmatrix::policy {
namespace detail {
namespace {

void set(std::string* why, std::string msg) {
    if (why) *why = std::move(msg);
}

bool is_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::string> canonical_ipv6(std::string_view s) {
    if (s.size() > 45) return std::nullopt;  // INET6_ADDRSTRLEN - 1
    std::string z(s);
    unsigned char buf[16];
    if (inet_pton(AF_INET6, z.c_str(), buf) != 1) return std::nullopt;
    char out[INET6_ADDRSTRLEN];
    if (!inet_ntop(AF_INET6, buf, out, sizeof out)) return std::nullopt;
    return std::string(out);
}

bool is_ipv4(std::string_view s) {
    if (s.size() > 15) return false;
    std::string z(s);
    unsigned char buf[4];
    return inet_pton(AF_INET, z.c_str(), buf) == 1;
}

// "1-65535", digits only.
std::optional<std::uint16_t> parse_port(std::string_view s, std::string* why) {
    if (s.empty()) {
        set(why, "empty port after ':'");
        return std::nullopt;
    }
    if (!is_digits(s) || s.size() > 5) {
        set(why, "port " + quote(s) + " is not a number from 1 to 65535");
        return std::nullopt;
    }
    unsigned long v = std::stoul(std::string(s));
    if (v == 0 || v > 65535) {
        set(why, "port " + std::string(s) + " is out of range (1 to 65535)");
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(v);
}

// Splits "host:port", "[v6]:port", "host", "[v6]"; host keeps its brackets.
bool split_host_port(std::string_view s, std::string_view& host, std::optional<std::string_view>& port,
                     std::string* why) {
    port.reset();
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos) {
            set(why, "missing ']' after the IPv6 address");
            return false;
        }
        host = s.substr(0, close + 1);
        std::string_view rest = s.substr(close + 1);
        if (rest.empty()) return true;
        if (rest.front() != ':') {
            set(why, "unexpected " + quote(rest) + " after the IPv6 address");
            return false;
        }
        port = rest.substr(1);
        return true;
    }
    auto colon = s.find(':');
    if (colon == std::string_view::npos) {
        host = s;
        return true;
    }
    if (s.find(':', colon + 1) != std::string_view::npos) {
        set(why, "IPv6 addresses need brackets, as in \"[::1]\" or \"[::1]:8443\"");
        return false;
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    return true;
}

}  // namespace

bool is_ip_literal(std::string_view h) noexcept {
    if (h.find(':') != std::string_view::npos) return true;  // normalised IPv6
    return is_ipv4(h);
}

std::optional<std::string> parse_host(std::string_view h, HostKind& kind, std::string* why) {
    if (h.empty()) {
        set(why, "empty host");
        return std::nullopt;
    }
    if (h.front() == '[') {
        if (h.size() < 3 || h.back() != ']') {
            set(why, "missing ']' after the IPv6 address");
            return std::nullopt;
        }
        std::string_view inner = h.substr(1, h.size() - 2);
        if (inner.find('%') != std::string_view::npos) {
            set(why, "IPv6 zone identifiers (\"%eth0\") are not supported");
            return std::nullopt;
        }
        auto v6 = canonical_ipv6(inner);
        if (!v6) {
            set(why, quote(inner) + " is not an IPv6 address");
            return std::nullopt;
        }
        kind = HostKind::ipv6;
        return v6;
    }
    if (h.find(':') != std::string_view::npos) {
        set(why, "IPv6 addresses need brackets, as in \"[::1]\"");
        return std::nullopt;
    }
    if (h.back() == '.') h.remove_suffix(1);  // the root label: "example.com." is example.com
    if (h.empty() || h.front() == '.') {
        set(why, "empty label in host name");
        return std::nullopt;
    }
    if (h.size() > 253) {
        set(why, "host name is longer than 253 bytes");
        return std::nullopt;
    }
    std::string s = lower(h);
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x80) {
            set(why, "non-ASCII host name: write its IDNA form (\"xn--...\")");
            return std::nullopt;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) {
            set(why, "invalid character " + quote(std::string_view(&c, 1)) + " in host name");
            return std::nullopt;
        }
    }
    if (is_ipv4(s)) {
        kind = HostKind::ipv4;
        return s;
    }
    std::string_view rest = s;
    std::string_view last;
    while (true) {
        auto dot = rest.find('.');
        std::string_view label = rest.substr(0, dot);
        if (label.empty()) {
            set(why, "empty label in host name");
            return std::nullopt;
        }
        if (label.size() > 63) {
            set(why, "label " + quote(label) + " is longer than 63 bytes");
            return std::nullopt;
        }
        if (label.front() == '-' || label.back() == '-') {
            set(why, "label " + quote(label) + " starts or ends with '-'");
            return std::nullopt;
        }
        last = label;
        if (dot == std::string_view::npos) break;
        rest.remove_prefix(dot + 1);
    }
    if (is_digits(last)) {
        set(why, quote(h) + " is neither an IPv4 address nor a host name");
        return std::nullopt;
    }
    kind = HostKind::name;
    return s;
}

std::optional<ProxyEndpoint> parse_proxy(std::string_view url, std::string* why) {
    constexpr std::string_view http = "http://";
    if (url.empty()) {
        set(why, "empty proxy URL: write \"http://host:port\", or false for no proxy");
        return std::nullopt;
    }
    auto sep = url.find("://");
    if (sep == std::string_view::npos) {
        set(why, quote(url) + " is not a proxy URL: write \"http://host:port\"");
        return std::nullopt;
    }
    if (lower(url.substr(0, sep + 3)) != http) {
        set(why, "only http:// (CONNECT) proxies are supported, not " + quote(url.substr(0, sep + 3)));
        return std::nullopt;
    }
    std::string_view rest = url.substr(http.size());
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.find('@') != std::string_view::npos) {
        set(why, "credentials in the proxy URL are not supported");
        return std::nullopt;
    }
    if (rest.find_first_of("/?#") != std::string_view::npos) {
        set(why, "a proxy URL has no path: write \"http://host:port\"");
        return std::nullopt;
    }
    std::string_view host;
    std::optional<std::string_view> port;
    if (!split_host_port(rest, host, port, why)) return std::nullopt;
    HostKind kind{};
    auto h = parse_host(host, kind, why);
    if (!h) return std::nullopt;
    if (!port) {
        set(why, "the proxy URL needs a port, as in \"http://" + std::string(host) + ":3128\"");
        return std::nullopt;
    }
    auto p = parse_port(*port, why);
    if (!p) return std::nullopt;
    return ProxyEndpoint{*h, *p};
}

std::optional<ConnectTo> parse_connect_to(std::string_view text, std::string* why) {
    if (text.empty()) {
        set(why, "empty: write \"host:port\" (an IPv6 address in brackets), or false");
        return std::nullopt;
    }
    if (text.find_first_of("/?#@") != std::string_view::npos) {
        set(why, quote(text) + " is not \"host:port\" (no scheme, path or user name)");
        return std::nullopt;
    }
    std::string_view host;
    std::optional<std::string_view> port;
    if (!split_host_port(text, host, port, why)) return std::nullopt;
    HostKind kind{};
    auto h = parse_host(host, kind, why);
    if (!h) return std::nullopt;
    if (!port) {
        set(why, quote(text) + " needs a port, as in \"" + std::string(text) + ":443\"");
        return std::nullopt;
    }
    auto p = parse_port(*port, why);
    if (!p) return std::nullopt;
    return ConnectTo{*h, *p};
}

std::optional<std::string> parse_ip_literal(std::string_view text, std::string* why) {
    std::string_view t = text;
    const bool bracketed = t.size() >= 2 && t.front() == '[' && t.back() == ']';
    HostKind kind{};
    std::string ignored;
    // parse_host() takes IPv6 in brackets, as URLs write it.
    const std::string as_host = bracketed || t.find(':') == std::string_view::npos
                                    ? std::string(t)
                                    : "[" + std::string(t) + "]";
    auto h = parse_host(as_host, kind, &ignored);
    if (!h || kind == HostKind::name) {
        set(why, quote(text) + " is not an IP address (write \"127.0.0.1\" or \"::1\"; a port "
                               "comes from the origin, host names are not resolved here)");
        return std::nullopt;
    }
    return h;
}

std::string to_string(const ConnectTo& c) {
    const bool v6 = c.host.find(':') != std::string::npos;
    return (v6 ? "[" + c.host + "]" : c.host) + ":" + std::to_string(c.port);
}

}  // namespace detail

using namespace detail;

// ---------------------------------------------------------------------------------------------
// Origins.

std::optional<Origin> Origin::parse(std::string_view url, std::string* why) {
    if (url.empty()) {
        set(why, "empty URL");
        return std::nullopt;
    }
    Origin o;
    std::string_view rest = url;
    auto sep = url.find("://");
    if (sep != std::string_view::npos) {
        std::string scheme = lower(url.substr(0, sep));
        if (scheme == "https")
            o.scheme = Scheme::https;
        else if (scheme == "http")
            o.scheme = Scheme::http;
        else {
            set(why, "unsupported scheme " + quote(url.substr(0, sep)) + ": use http:// or https://");
            return std::nullopt;
        }
        rest = url.substr(sep + 3);
    }
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
    std::string_view host;
    std::optional<std::string_view> port;
    if (!split_host_port(rest, host, port, why)) return std::nullopt;
    HostKind kind{};
    auto h = parse_host(host, kind, why);
    if (!h) return std::nullopt;
    o.host = std::move(*h);
    o.port = o.scheme == Scheme::https ? 443 : 80;
    if (port) {
        auto p = parse_port(*port, why);
        if (!p) return std::nullopt;
        o.port = *p;
    }
    return o;
}

bool Origin::is_ip_literal() const noexcept { return detail::is_ip_literal(host); }

std::string Origin::to_string() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return std::string(policy::to_string(scheme)) + "://" + h + ":" + std::to_string(port);
}

// ---------------------------------------------------------------------------------------------
// Host patterns.

std::optional<HostPattern> HostPattern::parse(std::string_view text, std::string* why,
                                              bool allow_scheme) {
    HostPattern p;
    p.text_ = std::string(text);
    if (text.empty()) {
        set(why, "empty pattern");
        return std::nullopt;
    }
    std::string_view rest = text;
    if (auto sep = text.find("://"); sep != std::string_view::npos) {
        std::string scheme = lower(text.substr(0, sep));
        if (!allow_scheme) {
            set(why, "no_proxy entries name hosts, without a scheme");
            return std::nullopt;
        }
        if (scheme == "https")
            p.scheme_ = Scheme::https;
        else if (scheme == "http")
            p.scheme_ = Scheme::http;
        else {
            set(why, "unknown scheme " + quote(text.substr(0, sep)) + ": use http:// or https://");
            return std::nullopt;
        }
        rest = text.substr(sep + 3);
    }
    if (rest.find_first_of("/?#") != std::string_view::npos) {
        set(why, "a pattern names a host and an optional port, not a path or URL");
        return std::nullopt;
    }
    if (rest.find('@') != std::string_view::npos) {
        set(why, "a pattern has no user name ('@')");
        return std::nullopt;
    }
    std::string_view host;
    std::optional<std::string_view> port;
    if (!split_host_port(rest, host, port, why)) return std::nullopt;
    if (port) {
        auto v = parse_port(*port, why);
        if (!v) return std::nullopt;
        p.port_ = *v;
    }
    if (host.empty()) {
        set(why, "empty host in pattern");
        return std::nullopt;
    }
    if (host.find('*') != std::string_view::npos) {
        if (host == "*" || host == "*.") {
            set(why, "\"*\" alone would match every host: put those settings in \"defaults\"");
            return std::nullopt;
        }
        if (host.substr(0, 2) != "*.") {
            if (host.front() == '*')
                set(why, "'*' must be a whole label, the first one: write " +
                             quote("*." + std::string(host.substr(1))));
            else
                set(why, "'*' is only allowed as the whole first label, as in \"*.example.com\"");
            return std::nullopt;
        }
        std::string_view suffix = host.substr(2);
        if (suffix.find('*') != std::string_view::npos) {
            set(why, "only one '*' is allowed, as the whole first label, as in \"*.example.com\"");
            return std::nullopt;
        }
        HostKind kind{};
        std::string inner_why;
        auto h = parse_host(suffix, kind, &inner_why);
        if (!h) {
            set(why, inner_why);
            return std::nullopt;
        }
        if (kind != HostKind::name) {
            set(why, "wildcards apply to host names, not to IP addresses");
            return std::nullopt;
        }
        p.kind_ = Kind::wildcard;
        p.host_ = std::move(*h);
        return p;
    }
    HostKind kind{};
    auto h = parse_host(host, kind, why);
    if (!h) return std::nullopt;
    p.kind_ = kind == HostKind::ipv4 ? Kind::ipv4 : kind == HostKind::ipv6 ? Kind::ipv6 : Kind::host;
    p.host_ = std::move(*h);
    return p;
}

bool HostPattern::matches(const Origin& o) const noexcept {
    if (scheme_ && *scheme_ != o.scheme) return false;
    if (port_ && *port_ != o.port) return false;
    if (kind_ != Kind::wildcard) return o.host == host_;
    // "*.example.com": any host below example.com, never example.com itself, never an IP.
    if (o.host.size() <= host_.size() + 1) return false;
    if (o.host.compare(o.host.size() - host_.size(), host_.size(), host_) != 0) return false;
    if (o.host[o.host.size() - host_.size() - 1] != '.') return false;
    return !o.is_ip_literal();
}

HostPattern::Specificity HostPattern::specificity() const noexcept {
    Specificity s;
    s.exact = kind_ == Kind::wildcard ? 0 : 1;
    if (kind_ == Kind::wildcard)
        s.labels = static_cast<std::uint16_t>(std::count(host_.begin(), host_.end(), '.') + 1);
    s.port = port_ ? 1 : 0;
    s.scheme = scheme_ ? 1 : 0;
    return s;
}

std::string HostPattern::normalised() const {
    std::string out;
    if (scheme_) out += std::string(policy::to_string(*scheme_)) + "://";
    if (kind_ == Kind::wildcard) out += "*.";
    out += kind_ == Kind::ipv6 ? "[" + host_ + "]" : host_;
    if (port_) out += ":" + std::to_string(*port_);
    return out;
}

}  // namespace connmatrix::policy
