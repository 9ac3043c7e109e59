// libFuzzer target for the policy's host patterns (a rule's "match", no_proxy entries) and
// origins (lib/policy/host.cpp). Any bytes in, never a crash, an exception or undefined
// behaviour out, and these invariants:
//   - a refusal always says why;
//   - a parsed pattern is normalised (lower case, no trailing dot, canonical IPv6), re-parses
//     from normalised() to an equal pattern with the same specificity, and normalised() is a
//     fixed point;
//   - a pattern matches the origin it names (for "*.suffix": a host one label below it) on its
//     scheme and port, and not on another port or scheme when it names one; a wildcard never
//     matches its own suffix, nor an IP address;
//   - without "://" the text parses the same way as a no_proxy entry (allow_scheme=false);
//     with it, a no_proxy entry is refused;
//   - a parsed origin re-parses from to_string() to itself, and the exact pattern written from
//     it matches it;
//   - when the input holds a newline, the text before it is a pattern and the text after it a
//     URL, and matches() agrees with the rule policy::resolve() picks for that URL.
#include <connmatrix/policy.hpp>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace {

using namespace connmatrix;
using policy::HostPattern;
using policy::Origin;
using policy::Scheme;

[[noreturn]] void invariant_broken(const char* what) {
    std::fprintf(stderr, "host_pattern invariant broken: %s\n", what);
    __builtin_trap();  // libFuzzer saves the input that broke the invariant
}

bool is_normalised_host(const std::string& h) {
    if (h.empty() || h.back() == '.') return false;
    for (char c : h)
        if (c >= 'A' && c <= 'Z') return false;
    return true;
}

std::string url_of(Scheme scheme, const std::string& host, std::uint16_t port) {
    const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return std::string(policy::to_string(scheme)) + "://" + h + ":" + std::to_string(port) + "/";
}

Scheme other(Scheme s) { return s == Scheme::https ? Scheme::http : Scheme::https; }

void pattern(std::string_view text) {
    std::string why;
    const auto p = HostPattern::parse(text, &why);
    std::string why_np;
    const auto np = HostPattern::parse(text, &why_np, false);
    if (text.find("://") == std::string_view::npos) {
        if (p.has_value() != np.has_value() || (p && !(*p == *np)))
            invariant_broken("no_proxy parsing differs for a pattern without a scheme");
    } else if (np) {
        invariant_broken("a no_proxy entry with a scheme was accepted");
    }
    if (!np && why_np.empty()) invariant_broken("a no_proxy refusal without a reason");
    if (!p) {
        if (why.empty()) invariant_broken("a refusal without a reason");
        return;
    }
    if (p->text() != text) invariant_broken("text() is not the pattern as written");
    if (!is_normalised_host(p->host())) invariant_broken("a pattern host that is not normalised");
    const std::string norm = p->normalised();
    const auto again = HostPattern::parse(norm);
    if (!again || !(*again == *p)) invariant_broken("normalised() does not re-parse to the pattern");
    if (again->normalised() != norm) invariant_broken("normalised() is not a fixed point");
    if (again->specificity() != p->specificity()) invariant_broken("specificity changed on re-parse");

    const Scheme scheme = p->scheme().value_or(Scheme::https);
    const std::uint16_t port = p->port().value_or(scheme == Scheme::https ? 443 : 80);
    const bool wildcard = p->kind() == HostPattern::Kind::wildcard;
    const std::string host = wildcard ? "x." + p->host() : p->host();
    const auto named = Origin::parse(url_of(scheme, host, port));
    if (!named) {
        // Only a wildcard's example host may be too long to be a host name.
        if (!wildcard || host.size() <= 253) invariant_broken("the origin a pattern names does not parse");
        return;
    }
    if (!p->matches(*named)) invariant_broken("a pattern does not match the origin it names");
    if (p->port()) {
        Origin o = *named;
        o.port = static_cast<std::uint16_t>(port == 1 ? 2 : port - 1);
        if (p->matches(o)) invariant_broken("a pattern with a port matches another port");
    }
    if (p->scheme()) {
        Origin o = *named;
        o.scheme = other(scheme);
        if (p->matches(o)) invariant_broken("a pattern with a scheme matches another scheme");
    }
    if (wildcard) {
        Origin o = *named;
        o.host = p->host();
        if (p->matches(o)) invariant_broken("a wildcard matches its own suffix");
    }
}

void origin(std::string_view url) {
    std::string why;
    const auto o = Origin::parse(url, &why);
    if (!o) {
        if (why.empty()) invariant_broken("an origin refused without a reason");
        return;
    }
    if (!is_normalised_host(o->host)) invariant_broken("an origin host that is not normalised");
    const auto again = Origin::parse(o->to_string());
    if (!again || !(*again == *o)) invariant_broken("to_string() does not re-parse to the origin");
    const std::string h = o->host.find(':') != std::string::npos ? "[" + o->host + "]" : o->host;
    const auto exact = HostPattern::parse(std::string(policy::to_string(o->scheme)) + "://" + h +
                                          ":" + std::to_string(o->port));
    if (!exact || !exact->matches(*o)) invariant_broken("an origin's own pattern does not match it");
}

// policy::resolve() picks the rule whose pattern matches: the same answer as matches().
void engine(std::string_view pattern_text, std::string_view url) {
    const auto p = HostPattern::parse(pattern_text);
    const auto o = Origin::parse(url);
    if (!p || !o) return;
    policy::Config cfg;
    policy::Rule rule;
    rule.match.push_back(*p);
    cfg.hosts.push_back(rule);
    const policy::ResolvedPolicy r = policy::resolve(cfg, *o, "openssl");
    if (r.matches.empty() == p->matches(*o)) invariant_broken("resolve() and matches() disagree");
    if (r.origin != *o) invariant_broken("resolve() changed the origin");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 4096) return 0;  // host names end at 253 bytes; longer inputs add nothing
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        pattern(text);
        origin(text);
        if (const auto nl = text.find('\n'); nl != std::string_view::npos) {
            pattern(text.substr(0, nl));
            origin(text.substr(nl + 1));
            engine(text.substr(0, nl), text.substr(nl + 1));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exception: %s\n", e.what());
        invariant_broken("parse threw");
    }
    return 0;
}
