// net::Resolver - names to addresses with c-ares, on the Client's executor: AAAA and A asked
// apart, so that a connection can start on the first useful answer (RFC 8305 section 3), and
// each answer kept for its records' TTL, capped. One per Client; lib-internal.
#pragma once

#include <connmatrix/error.hpp>

#include "executor.hpp"

#include <asio.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

struct ares_channeldata;

namespace connmatrix::net {

struct ResolverOptions {
    std::chrono::seconds max_ttl{60};  // the longest an answer is kept; 0: not at all
    std::vector<std::string> servers;  // "ADDR" or "ADDR:PORT"; empty: /etc/resolv.conf's
};

// The servers as c-ares takes them ("192.0.2.1:53,[2001:db8::1]:53"), or empty with `err`
// naming the entry that is not "ADDR", "ADDR:PORT" or "[V6]:PORT".
std::string dns_servers_csv(const std::vector<std::string>& servers, Error& err);

class Resolver {
public:
    enum class Family { v6, v4 };
    // One family's answer: its addresses, in the order c-ares sorted them (RFC 6724), or
    // `error` (net:resolve_failed, c-ares's code and message) with none. "No such record" is
    // an answer with neither: the name has no address of that family.
    struct Answer {
        Family family = Family::v6;
        std::vector<asio::ip::address> addresses;
        Error error;
    };
    using Handler = std::function<void(const Answer&)>;

    // A Resolver on `io`, or null with `err` saying why (a bad server address names it).
    static std::unique_ptr<Resolver> make(const Executor& ex, ResolverOptions options, Error& err);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Asks for `name`'s AAAA and A records; `on_answer` runs twice, once per family, in the
    // order the answers come, later on the loop (never inside this call). A family answered
    // within its TTL comes from the cache; one asked already joins that query. `name` as the
    // policy normalises hosts (lower case, no trailing dot): it is the cache's key.
    void lookup(const std::string& name, Handler on_answer);

private:
    struct Watch;
    struct Query;
    struct Slot {  // one family of one name
        std::vector<asio::ip::address> addresses;
        std::chrono::steady_clock::time_point expires{};
        bool asking = false;
        std::vector<Handler> waiting;
    };
    struct Entry {
        Slot v6, v4;
    };

    Resolver(const Executor& ex, ResolverOptions options);
    void prune(std::chrono::steady_clock::time_point now);  // names no longer kept or asked
    Slot& slot(const std::string& name, Family family);
    void reply(Handler h, Answer a);
    void ask(const std::string& name, Family family);
    void answered(const std::string& name, Family family, Answer answer, int ttl);
    static void on_socket_state(void* data, int fd, int readable, int writable);
    void watch(int fd, bool readable, bool writable);
    void arm(const std::shared_ptr<Watch>& w, bool write);
    void process(int read_fd, int write_fd);
    void rearm_timer();

    Executor ex_;
    ResolverOptions options_;
    ares_channeldata* channel_ = nullptr;
    std::map<std::string, Entry> cache_;
    std::map<int, std::shared_ptr<Watch>> watches_;
    asio::steady_timer timer_;
    std::size_t asking_ = 0;     // queries c-ares has not answered yet
    Alive alive_;  // for the timer's handler
    std::size_t prune_at_ = 64;  // the cache's size that makes lookup() prune it
};

}  // namespace connmatrix::net
