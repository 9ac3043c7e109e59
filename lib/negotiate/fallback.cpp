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

bool may_speak_http1(const policy::Policy& p, Transport transport) noexcept {
    if (p.fallback == policy::Fallback::http1_1) return true;
    if (transport == Transport::cleartext) return p.cleartext != policy::Cleartext::h2c;
    return std::find(p.alpn.begin(), p.alpn.end(), "http/1.1") != p.alpn.end() ||
           p.no_alpn == policy::NoAlpn::http1_1;
}

std::string http11_retry_refusal(const policy::Policy& p, Transport transport) {
    if (p.on_http11_required == policy::OnHttp11Required::fail)
        return "the policy says on_http11_required \"fail\"";
    if (!may_speak_http1(p, transport))
        return "mode " + std::string(policy::to_string(p.mode)) +
               " does not speak HTTP/1.1 (" +
               (transport == Transport::cleartext
                    ? "cleartext " + std::string(policy::to_string(p.cleartext))
                    : "no http/1.1 in the ALPN offer, no_alpn " +
                          std::string(policy::to_string(p.no_alpn))) +
               ", fallback " + std::string(policy::to_string(p.fallback)) + ")";
    return {};
}

}  // namespace connmatrix::negotiate
