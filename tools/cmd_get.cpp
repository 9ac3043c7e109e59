// connmatrix get URL: one request (or -n of them on the pooled connection), like curl, with -v
// saying how the protocol was negotiated and by which rule.
#include "cli.hpp"
#include "write_out.hpp"

#include <connmatrix/errors.hpp>
#include <connmatrix/tls.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <thread>

namespace connmatrix::cli {

namespace {

Header parse_header(const std::string& h) {
    const auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0)
        throw Failure(exit_usage, "-H \"" + h + "\": expected \"Name: value\"");
    std::string name = h.substr(0, colon);
    std::string value = h.substr(colon + 1);
    const auto first = value.find_first_not_of(" \t");
    value = first == std::string::npos ? std::string() : value.substr(first);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    if (name.find_first_of(" \t") != std::string::npos)
        throw Failure(exit_usage, "-H \"" + h + "\": a header name has no spaces");
    return {name, value};
}

// The `-v` lines, on stderr, in the manner of curl -v ("* " for what happened).
class Verbose {
public:
    Verbose(int level, const Client& client) : level_(level), client_(client) {}

    void line(const std::string& text) const {
        if (level_ > 0) std::fprintf(stderr, "* %s\n", text.c_str());
    }

    // The rule, and its description from the configuration: known before connecting.
    void rule(const std::string& url) const {
        if (level_ == 0) return;
        if (auto o = policy::Origin::parse(url)) {
            const auto rp = client_.policy().resolve(*o);
            std::string rule = "defaults (no host rule matches " + o->to_string() + ")";
            if (const auto* m = rp.rule()) {
                rule = "hosts[" + std::to_string(m->index) + "] (" + m->pattern + ")";
                const auto& hosts = client_.policy().config().hosts;
                if (m->index < hosts.size() && !hosts[m->index].description.empty())
                    rule += ": " + hosts[m->index].description;
            }
            line("rule: " + rule);
            line("config: " + client_.policy().config().source);
            line("mode: " + std::string(policy::to_string(rp.policy.mode)) +
                 (https(*o) ? ", backend " + rp.policy.backend + ", ALPN offer [" +
                                  join(rp.policy.alpn, ", ") + "], no ALPN answer -> " +
                                  std::string(policy::to_string(rp.policy.no_alpn)) +
                                  ", fallback " + std::string(policy::to_string(rp.policy.fallback))
                            : ", cleartext " + std::string(policy::to_string(rp.policy.cleartext))));
        }
    }

    void connection(const ConnectionInfo& i, bool https) const {
        if (level_ == 0) return;
        if (!i.remote_address.empty())
            line(std::string(i.reused ? "reused connection to " : "connected to ") +
                 i.remote_address);
        if (https) {
            std::string backend = i.backend.empty() ? "-" : i.backend;
            if (const auto* b = registry_.find(i.backend)) backend += " (" + b->library_version() + ")";
            line("backend: " + backend);
            line("ALPN offered: " + (i.alpn_offered.empty() ? std::string("none (no ALPN extension sent)")
                                                            : join(i.alpn_offered, ", ")));
            if (!i.tls_version.empty()) {
                line("ALPN selected: " +
                     i.alpn_selected.value_or("none (the server answered without ALPN)"));
                line("TLS: " + i.tls_version + ", " + i.cipher + ", certificate " +
                     (i.verified ? "verified" : "NOT verified") + ", resumed: " +
                     (i.resumed ? (*i.resumed ? "yes" : "no") : "unknown"));
                if (i.client_certificate) line("client certificate: presented (the server asked)");
                if (i.early_data != EarlyData::not_attempted)
                    line("early data (0-RTT): " + std::string(to_string(i.early_data)) +
                         (i.early ? ", this request went in the first flight"
                          : i.early_data == EarlyData::rejected
                              ? ", the request was sent again after the handshake"
                              : ""));
            }
        }
        if (!i.decision.empty())
            line("protocol: " + std::string(to_string(i.protocol)) + " (" + i.decision + ")" +
                 (i.fallback ? ", after falling back from h2" : ""));
        timings(i);
    }

    void timings(const ConnectionInfo& i) const {
        const auto& t = i.timings;
        line("timings: dns " + format_ms(t.dns) + " ms, connect " + format_ms(t.connect) +
             " ms, tls " + format_ms(t.tls) + " ms, first byte " + format_ms(t.first_byte) +
             " ms, total " + format_ms(t.total) + " ms" + (i.reused ? " (reused connection)" : ""));
    }

private:
    static bool https(const policy::Origin& o) { return o.scheme == policy::Scheme::https; }

    int level_;
    const Client& client_;
    tls::Registry registry_ = tls::Registry::compiled_in();
};

std::string status_line(const Response& r) {
    return std::string(r.info.protocol == Protocol::h2 ? "HTTP/2 " : "HTTP/1.1 ") +
           std::to_string(r.status);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

// --retry, as curl's: which outcomes are transient, and how long to wait before the next try.
class Retrier {
public:
    explicit Retrier(const GetOptions& o) : o_(o), wait_(o.retry_delay.value_or(initial_)) {}

    // What makes this outcome worth another try, in words; nullopt: it is final.
    std::optional<std::string> transient(const Result& r) const {
        if (!r) {
            const std::error_code& c = r.error.code;
            if (c == net::errc::connect_timeout || c == net::errc::tls_timeout ||
                c == net::errc::request_timeout)
                return "a timeout, " + error_name(c);
            if (c == net::errc::resolve_failed) return "the host name did not resolve";
            if (o_.retry_connrefused && c == net::errc::connect_failed) return "connection refused";
            if (o_.retry_all_errors) return error_name(c);
            return std::nullopt;
        }
        const int s = r.response.status;
        if (s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504)
            return "HTTP " + std::to_string(s);
        if (o_.retry_all_errors && o_.fail && s >= 400) return "HTTP " + std::to_string(s) + " (--fail)";
        return std::nullopt;
    }

    // After attempt number `done` (1-based) gave a transient outcome: the wait before the next,
    // or nullopt when no retry is left or --retry-max-time would be passed (with why on stderr).
    std::optional<std::chrono::milliseconds> next(const Result& r, int done, const std::string& why,
                                                  std::chrono::steady_clock::time_point started) {
        if (done > o_.retry) return std::nullopt;
        auto wait = wait_;
        if (r) {  // Retry-After (RFC 9110 10.2.3) lengthens the wait, never shortens it
            if (const auto* ra = r.response.header("retry-after"))
                if (auto after = retry_after(*ra)) wait = std::max(wait, *after);
        }
        const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - started);
        if (o_.retry_max_time && elapsed + wait > *o_.retry_max_time) {
            warn("transient problem (" + why + "), but waiting " + format_wait(wait) +
                 " would pass --retry-max-time " + format_wait(*o_.retry_max_time) + ": no retry");
            return std::nullopt;
        }
        const int left = o_.retry - done;
        warn("transient problem (" + why + "); will retry in " + format_wait(wait) + ", " +
             std::to_string(left + 1) + (left == 0 ? " retry" : " retries") + " left");
        if (!o_.retry_delay) wait_ = std::min(wait_ * 2, max_wait_);
        return wait;
    }

private:
    // delta-seconds, or an HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT"); nullopt otherwise.
    static std::optional<std::chrono::milliseconds> retry_after(const std::string& v) {
        if (!v.empty() && std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); })) {
            if (v.size() > 9) return max_wait_;
            return std::min<std::chrono::milliseconds>(std::chrono::seconds(std::stol(v)), max_wait_);
        }
        std::tm tm{};
        const char* end = ::strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (end == nullptr || *end != '\0') return std::nullopt;
        const auto when = std::chrono::system_clock::from_time_t(::timegm(&tm));
        const auto now = std::chrono::system_clock::now();
        if (when <= now) return std::chrono::milliseconds{0};
        return std::min(std::chrono::duration_cast<std::chrono::milliseconds>(when - now), max_wait_);
    }

    static std::string format_wait(std::chrono::milliseconds w) {
        if (w.count() % 1000 == 0) return std::to_string(w.count() / 1000) + " s";
        return std::to_string(w.count()) + " ms";
    }

    void warn(const std::string& text) const {
        if (!o_.silent) std::fprintf(stderr, "connmatrix: %s\n", text.c_str());
    }

    // curl's schedule: 1 s, doubled after every retry, at most 10 minutes.
    static constexpr std::chrono::milliseconds initial_{1000};
    static constexpr std::chrono::milliseconds max_wait_{600'000};
    const GetOptions& o_;
    std::chrono::milliseconds wait_;
};

// --data-binary @FILE of a regular file: read as it is sent, never whole in memory. Its size
// when opened is its Content-Length; a file that grows or shrinks meanwhile ends the request
// (pool:body_length_mismatch, exit 8) rather than sending a body that is not the file.
struct FileBody {
    int fd = -1;
    std::uint64_t offset = 0;
    explicit FileBody(int f) : fd(f) {}
    FileBody(const FileBody&) = delete;
    FileBody& operator=(const FileBody&) = delete;
    ~FileBody() { ::close(fd); }
};

// The source for `path`; for what is not a regular file (a pipe, a device) nullopt, with all
// it gave read into `whole` first, as curl does, since reading it as it goes could block the
// I/O thread. (From the descriptor opened here: a FIFO opened twice could lose its writer.)
std::optional<BodySource> file_body(const std::string& path, const char* flag, std::string& whole) {
    auto cannot = [&](const char* what) {
        return Failure(exit_local_io, std::string(flag) + " @" + path + ": " + what + ": " +
                                          std::strerror(errno));
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw cannot("cannot read the file");
    auto file = std::make_shared<FileBody>(fd);
    struct stat st{};
    if (::fstat(fd, &st) != 0) throw cannot("cannot read the file");
    if (!S_ISREG(st.st_mode)) {
        char buf[65536];
        for (;;) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n == 0) return std::nullopt;
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw cannot("cannot read the file");
            whole.append(buf, static_cast<std::size_t>(n));
        }
    }
    BodySource src;
    src.length = static_cast<std::uint64_t>(st.st_size);
    src.read = [file, path](std::span<std::uint8_t> buf) -> BodyRead {
        ssize_t n = 0;
        do {
            n = ::pread(file->fd, buf.data(), buf.size(), static_cast<off_t>(file->offset));
        } while (n < 0 && errno == EINTR);
        if (n < 0) throw std::runtime_error("reading " + path + ": " + std::strerror(errno));
        file->offset += static_cast<std::uint64_t>(n);
        return {static_cast<std::size_t>(n), n == 0};
    };
    src.rewind = [file] {
        file->offset = 0;
        return true;
    };
    return src;
}

struct Attempt {
    Result result;
    std::size_t connects = 0;  // connections the last try opened (curl's num_connects)
};

// One request as the user sees it: sent, and sent again while --retry says so.
Attempt send_with_retries(Client& client, const Request& req, const GetOptions& o, const Verbose& v,
                          bool https) {
    Retrier retrier(o);
    const auto started = std::chrono::steady_clock::now();
    for (int n = 1;; ++n) {
        const std::size_t before = client.stats().connections_opened;
        if (req.body_source.rewind) (void)req.body_source.rewind();  // each try: the whole file
        Attempt a{client.send(req), 0};
        a.connects = client.stats().connections_opened - before;
        const auto why = retrier.transient(a.result);
        if (!why) return a;
        // -v shows the attempts that are not the last; the caller shows the last.
        const auto wait = retrier.next(a.result, n, *why, started);
        if (!wait) return a;
        if (o.verbose > 0) {
            v.connection(a.result.response.info, https);
            v.line("attempt " + std::to_string(n) + ": " + *why);
        }
        std::this_thread::sleep_for(*wait);
        v.line("retry " + std::to_string(n) + " of " + std::to_string(o.retry) + ": " + req.method +
               " " + req.url);
    }
}

}  // namespace

int run_get(const GetOptions& o) {
    const policy::Origin origin = require_url(o.url);
    if (o.repeat < 1) throw Failure(exit_usage, "-n must be at least 1");
    if (o.data && o.data_binary) throw Failure(exit_usage, "give -d or --data-binary, not both");

    Request req;
    req.url = o.url;
    for (const auto& h : o.headers) req.headers.push_back(parse_header(h));
    const bool has_body = o.data || o.data_binary;
    if (has_body) {
        const std::string& d = o.data ? *o.data : *o.data_binary;
        const bool from_file = !d.empty() && d[0] == '@';
        if (from_file && o.data_binary && d != "@-") {
            if (auto src = file_body(d.substr(1), "--data-binary", req.body))
                req.body_source = std::move(*src);
        } else {
            req.body = from_file ? read_input_file(d.substr(1), o.data ? "-d" : "--data-binary") : d;
        }
        const bool has_type = std::any_of(req.headers.begin(), req.headers.end(), [](const Header& h) {
            std::string n = h.name;
            std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
            return n == "content-type";
        });
        if (o.data && !has_type)
            req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
    }
    req.method = !o.method.empty() ? o.method : has_body ? "POST" : "GET";
    if (o.flags.timeout) req.timeout = *o.flags.timeout;

    policy::Config cfg = apply_flags(load_config(o.config), o.flags);
    if (o.flags.insecure && !o.silent) warn_insecure();

    ClientOptions copts;
    if (o.verbose > 0) {
        auto mu = std::make_shared<std::mutex>();
        copts.log = [mu](LogLevel l, std::string_view msg) {
            std::lock_guard lock(*mu);
            std::fprintf(stderr, "* [%s] %.*s\n", std::string(to_string(l)).c_str(),
                         static_cast<int>(msg.size()), msg.data());
        };
        copts.log_level = o.verbose >= 2 ? LogLevel::debug : LogLevel::info;
    }
    copts.dns.servers = o.dns_servers;
    if (o.expect100_timeout) copts.expect_continue_timeout = *o.expect100_timeout;
    std::optional<Client> made;
    try {
        made.emplace(std::move(cfg), std::move(copts));
    } catch (const std::system_error& e) {
        // The one option of ours the Client checks: a malformed --dns-servers entry.
        if (e.code() != net::errc::resolve_failed) throw;
        throw Failure(exit_usage, std::string("--dns-servers: ") + e.what());
    }
    Client& client = *made;
    Verbose v(o.verbose, client);
    const bool https = origin.scheme == policy::Scheme::https;

    std::FILE* out = stdout;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(nullptr, &std::fclose);
    if (!o.output.empty() && o.output != "-") {
        file.reset(std::fopen(o.output.c_str(), "wb"));
        if (!file) throw Failure(exit_local_io, "-o " + o.output + ": cannot write the file");
        out = file.get();
    }
    // -o FILE: the body goes to the file as it arrives (Request::on_body), in constant memory,
    // whatever its size. Each attempt (--retry) writes it again from where this request's
    // output began (a regular file is rewound and cut there; a pipe or a device such as
    // /dev/null cannot be, so a retry after bytes went to one is an error, never a file with
    // two bodies); -i's head goes first; under --fail an error status's body is dropped.
    struct Streamed {
        long start = 0;          // where this request's output begins in the file
        bool seekable = false;   // a regular file: a retry rewinds it
        bool appendable = false; // a character device (/dev/null, a terminal): a retry goes on
        std::uint64_t bytes = 0; // body bytes of the current attempt
        bool write_failed = false;
        std::string why = "cannot write the response body";
        bool dropped = false;    // --fail and a status >= 400: nothing written
        bool wrote = false;      // this request's attempts have written body bytes
    };
    const auto streamed = file ? std::make_shared<Streamed>() : nullptr;
    if (streamed) {
        struct stat st {};
        const bool known = ::fstat(::fileno(out), &st) == 0;
        streamed->seekable = known && S_ISREG(st.st_mode);
        streamed->appendable = known && S_ISCHR(st.st_mode);
        req.on_response = [streamed, out, fail = o.fail, include = o.include](const Response& r) {
            std::fflush(out);
            if (streamed->seekable && std::ftell(out) != streamed->start) {
                if (std::fseek(out, streamed->start, SEEK_SET) != 0 ||
                    ::ftruncate(::fileno(out), streamed->start) != 0)
                    streamed->write_failed = true;
            } else if (!streamed->seekable && !streamed->appendable && streamed->wrote) {
                streamed->write_failed = true;
                streamed->why = "a retry cannot rewind what was already written (not a regular file)";
            }
            streamed->bytes = 0;
            streamed->dropped = fail && r.status >= 400;
            if (include && !streamed->dropped) {
                std::string head = status_line(r) + "\r\n";
                for (const auto& h : r.headers) head += h.name + ": " + h.value + "\r\n";
                head += "\r\n";
                streamed->wrote = true;
                if (std::fwrite(head.data(), 1, head.size(), out) != head.size())
                    streamed->write_failed = true;
            }
        };
        req.on_body = [streamed, out](std::span<const std::uint8_t> piece) {
            streamed->bytes += piece.size();
            if (streamed->dropped) return BodyAction::proceed;
            streamed->wrote = true;
            if (streamed->write_failed ||
                std::fwrite(piece.data(), 1, piece.size(), out) != piece.size()) {
                streamed->write_failed = true;
                return BodyAction::abort;
            }
            return BodyAction::proceed;
        };
    }
    // -w goes to stdout after the body, whatever -o says (as curl's).
    auto write_out_for = [&](const Attempt& a, int exit_code) {
        if (!o.write_out) return;
        std::fflush(out);
        write_out(*o.write_out, Transfer{req, a.result, a.connects, exit_code,
                           streamed ? std::optional<std::uint64_t>(streamed->bytes) : std::nullopt}, stdout, stderr);
    };

    std::vector<double> totals, first_bytes;
    std::vector<ConnectionInfo> infos;
    for (int n = 0; n < o.repeat; ++n) {
        if (o.repeat > 1) v.line("request " + std::to_string(n + 1) + " of " + std::to_string(o.repeat));
        v.line(req.method + " " + o.url);
        if (n == 0) v.rule(o.url);
        if (streamed) {
            std::fflush(out);
            streamed->start = streamed->seekable ? std::ftell(out) : 0;
            streamed->wrote = false;
        }
        const Attempt a = send_with_retries(client, req, o, v, https);
        const Result& r = a.result;
        if (streamed && streamed->write_failed) {
            client.close();
            write_out_for(a, exit_local_io);
            throw Failure(exit_local_io, "-o " + o.output + ": " + streamed->why);
        }
        if (!r) {
            if (o.verbose > 0 && !r.response.info.mode.empty()) v.connection(r.response.info, https);
            client.close();
            const int code = exit_code_for(r.error);
            write_out_for(a, code);
            throw Failure(code, describe_failure(r.error));
        }
        const Response& resp = r.response;
        v.connection(resp.info, https);
        if (o.verbose > 0) {
            std::fprintf(stderr, "< %s\n", status_line(resp).c_str());
            for (const auto& h : resp.headers)
                std::fprintf(stderr, "< %s: %s\n", h.name.c_str(), h.value.c_str());
            std::fprintf(stderr, "<\n");
        }
        infos.push_back(resp.info);
        totals.push_back(static_cast<double>(resp.info.timings.total.count()) / 1000.0);
        first_bytes.push_back(static_cast<double>(resp.info.timings.first_byte.count()) / 1000.0);

        if (o.fail && resp.status >= 400) {
            client.close();
            write_out_for(a, exit_http);
            throw Failure(exit_http, "the server answered " + std::to_string(resp.status) + " to " +
                                         req.method + " " + o.url + " (--fail)");
        }
        if (o.include && !streamed) {
            std::string head = status_line(resp) + "\r\n";
            for (const auto& h : resp.headers) head += h.name + ": " + h.value + "\r\n";
            head += "\r\n";
            std::fwrite(head.data(), 1, head.size(), out);
        }
        if (std::fwrite(resp.body.data(), 1, resp.body.size(), out) != resp.body.size())
            throw Failure(exit_local_io, "cannot write the response body");
        if (o.include && !resp.trailers.empty() && !streamed) {  // as curl -i shows them
            std::string tail;
            for (const auto& h : resp.trailers) tail += h.name + ": " + h.value + "\r\n";
            std::fwrite(tail.data(), 1, tail.size(), out);
        }
        write_out_for(a, exit_ok);
    }
    std::fflush(out);

    if (o.repeat > 1) {
        const auto stats = client.stats();
        std::size_t reused = 0;
        for (const auto& i : infos) reused += i.reused ? 1 : 0;
        auto summary = [](const std::vector<double>& x) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "min %.3f / median %.3f / max %.3f ms",
                          *std::min_element(x.begin(), x.end()), median(x),
                          *std::max_element(x.begin(), x.end()));
            return std::string(buf);
        };
        std::fprintf(stderr,
                     "%d requests, %zu connection(s) opened, %zu on a reused connection, "
                     "protocol %s\n  total:      %s\n  first byte: %s\n",
                     o.repeat, stats.connections_opened, reused,
                     std::string(to_string(infos.back().protocol)).c_str(),
                     summary(totals).c_str(), summary(first_bytes).c_str());
    }
    client.close();
    return exit_ok;
}

}  // namespace connmatrix::cli
