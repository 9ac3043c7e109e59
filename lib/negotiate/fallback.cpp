// The fallback's rewrite of one connection attempt: what it offers, what judges its outcome.
#include <connmatrix/negotiate.hpp>

#include <algorithm>

namespace connmatrix::negotiate {

std::vector<std::string> alpn_offer(const policy::Policy& p, bool http1_forced) {
    std::vector<std::string> out = p.alpn;
    if (http1_forced) std::erase(out, std::string("h2"));
    return out;
}

policy::Policy attempt_policy(const policy::Policy& p, bool http1_forced) {
    policy::Policy out = p;
    if (!http1_forced) return out;
    out.alpn = alpn_offer(p, true);
    out.no_alpn = policy::NoAlpn::http1_1;
    out.cleartext = policy::Cleartext::http1_1;
    return out;
}

bool may_speak_h2(const policy::Policy& p, Transport transport) noexcept {
    if (transport == Transport::cleartext) return p.cleartext != policy::Cleartext::http1_1;
    return std::find(p.alpn.begin(), p.alpn.end(), "h2") != p.alpn.end() ||
           p.no_alpn == policy::NoAlpn::h2;
}

}  // namespace connmatrix::negotiate
