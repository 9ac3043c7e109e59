// The public Client: an I/O thread running Asio (or a strand over the caller's executor), the
// policy engine, and the pool.
#include <connmatrix/asio.hpp>
#include <connmatrix/client.hpp>

#include "lru.hpp"
#include "pool.hpp"
#include "resolver.hpp"

#include <asio.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stop_token>
#include <system_error>
#include <thread>

namespace connmatrix {

std::string_view to_string(LogLevel l) noexcept {
    switch (l) {
        case LogLevel::error: return "error";
        case LogLevel::warn: return "warn";
        case LogLevel::info: return "info";
        case LogLevel::debug: return "debug";
        case LogLevel::trace: return "trace";
    }
    return "?";
}

const std::string* Response::header(std::string_view name) const noexcept {
    for (const auto& h : headers) {
        if (h.name.size() != name.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < name.size() && same; ++i)
            same = std::tolower(static_cast<unsigned char>(h.name[i])) ==
                   std::tolower(static_cast<unsigned char>(name[i]));
        if (same) return &h.value;
    }
    return nullptr;
}

// --- the client ------------------------------------------------------------------------

namespace {

pool::Logger make_logger(const ClientOptions& o) {
    pool::Logger log;
    if (o.log) {
        log.sink = o.log;
        log.level = o.log_level;
        return log;
    }
    const char* env = std::getenv("CONNMATRIX_LOG");
    if (!env || !*env) return log;
    const std::string v = env;
    if (v == "error") log.level = LogLevel::error;
    else if (v == "warn") log.level = LogLevel::warn;
    else if (v == "info") log.level = LogLevel::info;
    else if (v == "debug") log.level = LogLevel::debug;
    else if (v == "trace") log.level = LogLevel::trace;
    else return log;
    auto mu = std::make_shared<std::mutex>();
    log.sink = [mu](LogLevel l, std::string_view msg) {
        std::lock_guard lock(*mu);
        std::fprintf(stderr, "connmatrix %-5s %.*s\n", std::string(to_string(l)).c_str(),
                     static_cast<int>(msg.size()), msg.data());
    };
    return log;
}

// Settles where secrets are logged, and proves the file can be appended to, at startup rather
// than at the first connection.
Error settle_keylog(ClientOptions& o) {
    const bool from_env = o.keylog_file.empty();
    if (from_env && o.keylog_from_environment)
        if (const char* env = std::getenv("SSLKEYLOGFILE"); env && *env) o.keylog_file = env;
    if (o.keylog_file.empty()) return {};
    const int fd = ::open(o.keylog_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return {tls::errc::invalid_config,
                "key log file \"" + o.keylog_file + "\"" + (from_env ? " (SSLKEYLOGFILE)" : "") +
                    ": cannot open it for appending: " + std::generic_category().message(errno),
                0, "tls"};
    ::close(fd);
    return {};
}

// An executor (ClientOptions::executor) crosses into the library as an any_io_executor: it
// must be laid out as the library's is (the same Asio, configured the same), and hold one.
Error check_executor(const ClientOptions& o) {
    const auto& run_on = o.executor;
    if (!run_on) return {};
    if (run_on->asio_version != ASIO_VERSION || run_on->executor_size != sizeof(asio::any_io_executor))
        return {config::errc::invalid_value,
                "ClientOptions::executor comes from Asio " + std::to_string(run_on->asio_version) +
                    " (an executor of " + std::to_string(run_on->executor_size) +
                    " bytes); the library was built with Asio " + std::to_string(ASIO_VERSION) + " (" +
                    std::to_string(sizeof(asio::any_io_executor)) +
                    " bytes): build both with the same Asio, configured the same",
                0, "config"};
    if (!run_on->executor)
        return {config::errc::invalid_value,
                "ClientOptions::executor holds no executor", 0, "config"};
    return {};
}

// What ClientOptions hold that can be wrong: the executor, the key log file (settled), the
// name servers.
Error settle_options(ClientOptions& o) {
    if (Error e = check_executor(o)) return e;
    if (Error e = settle_keylog(o)) return e;
    Error err;
    if (!o.dns.system) (void)net::dns_servers_csv(o.dns.servers, err);
    return err;
}

// Every client certificate the configuration names, loaded once by each backend that may use
// it, at startup: a wrong passphrase, a key of another certificate or a key format a library
// cannot read (mbedTLS and AES-encrypted PKCS#8) is said before the first request, with its
// JSON path. A layer's identity is used with its own backend (or the one it inherits) and,
// for defaults, with the backends of rules that keep the defaults' identity.
Error check_identities(const policy::Config& cfg, const tls::Registry& registry) {
    const std::string fallback_backend(registry.default_backend().name());
    const std::string defaults_backend = cfg.defaults.backend.value_or(fallback_backend);
    auto check = [&](const policy::Overrides& o, const std::string& backend,
                     const std::string& where) -> Error {
        const tls::Backend* b = registry.find(backend);
        if (!o.tls.client_cert || b == nullptr) return {};  // no identity; config::check names a bad backend
        const policy::ClientIdentity id{*o.tls.client_cert, o.tls.client_key.value_or(""),
                                        o.tls.client_key_password_file.value_or(""),
                                        o.tls.client_key_password_env.value_or("")};
        tls::ClientConfig c;
        c.verify = false;  // only the identity is being loaded: no trust store needed
        c.client_cert_file = id.cert;
        c.client_key_file = id.key;
        std::string why;
        auto pass = policy::read_key_password(id, &why);
        Error err;
        if (!pass)
            err = {tls::errc::invalid_config, why, 0, "tls"};
        else if (c.client_key_password = std::move(*pass); b->client_context(c, err))
            return {};
        err.detail = where + ".tls.client_cert (backend " + backend + "): " + err.detail;
        return err;
    };
    std::vector<std::string> defaults_backends{defaults_backend};
    for (const auto& r : cfg.hosts)
        if (!r.set.tls.client_cert && r.set.backend &&
            std::find(defaults_backends.begin(), defaults_backends.end(), *r.set.backend) ==
                defaults_backends.end())
            defaults_backends.push_back(*r.set.backend);
    for (const auto& backend : defaults_backends)
        if (Error e = check(cfg.defaults, backend, "defaults")) return e;
    for (std::size_t i = 0; i < cfg.hosts.size(); ++i) {
        const auto& set = cfg.hosts[i].set;
        if (Error e = check(set, set.backend.value_or(defaults_backend),
                            "hosts[" + std::to_string(i) + "]"))
            return e;
    }
    return {};
}

// tls.early_data on a backend without it (mbedTLS 2.28: no TLS 1.3) is refused when the
// Client starts, naming the layer that set it, rather than failing every connection later.
Error check_early_data(const policy::Config& cfg, const tls::Registry& registry) {
    const std::string defaults_backend =
        cfg.defaults.backend.value_or(std::string(registry.default_backend().name()));
    const bool defaults_early = cfg.defaults.tls.early_data.value_or(false);
    auto check = [&](bool early, const std::string& backend, const std::string& where) -> Error {
        const tls::Backend* b = registry.find(backend);
        if (!early || b == nullptr || b->capabilities().early_data) return {};
        return {tls::errc::unsupported,
                where + " (backend " + backend + "): TLS 1.3 early data is not supported by " +
                    backend + " (it has no TLS 1.3); set \"early_data\": false for this backend",
                0, "tls"};
    };
    if (Error e = check(defaults_early, defaults_backend, "defaults.tls.early_data")) return e;
    for (std::size_t i = 0; i < cfg.hosts.size(); ++i) {
        const auto& set = cfg.hosts[i].set;
        const std::string rule = "hosts[" + std::to_string(i) + "]";
        if (Error e = check(set.tls.early_data.value_or(defaults_early),
                            set.backend.value_or(defaults_backend),
                            set.tls.early_data ? rule + ".tls.early_data"
                                               : "defaults.tls.early_data (in " + rule + ")"))
            return e;
    }
    return {};
}

// What the Client checks when it starts, beyond the config's own checks.
Error check_startup(const policy::Config& cfg, const tls::Registry& registry) {
    if (Error e = check_identities(cfg, registry)) return e;
    return check_early_data(cfg, registry);
}

// "/path?query" of a URL (fragment dropped), "/" when empty.
std::string target_of(std::string_view url) {
    auto scheme_end = url.find("://");
    std::string_view rest = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
    const auto slash = rest.find_first_of("/?#");
    std::string_view t = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (auto hash = t.find('#'); hash != std::string_view::npos) t = t.substr(0, hash);
    if (t.empty() || t.front() == '?') return "/" + std::string(t);
    return std::string(t);
}

std::string authority_of(const policy::Origin& o) {
    std::string host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    const bool default_port = (o.scheme == policy::Scheme::https && o.port == 443) ||
                              (o.scheme == policy::Scheme::http && o.port == 80);
    return default_port ? host : host + ":" + std::to_string(o.port);
}

// What the Client's registry has, for the policy engine: the same names, the same default.
policy::BuildInfo build_info(const tls::Registry& registry) {
    policy::BuildInfo b;
    b.backends = registry.names();
    b.default_backend = std::string(registry.default_backend().name());
    return b;
}

}  // namespace

// What reaches a Client's I/O thread from outside it, shared with every RequestHandle: the
// handles outlive the Client, and post through this only while the loop still runs. `closed`
// (no new requests) and `stopped` (the pool has drained: nothing posted from then on would
// run) are set under `mu`, and everything is posted under it: so no work is posted after
// close() queued the drain, and none is lost when the loop stops.
struct [[gnu::visibility("hidden")]] ClientGate {
    std::mutex mu;
    bool closed = false;
    bool stopped = false;
    net::Executor ex;  // the pool's: the I/O thread's, or the strand over the caller's
    pool::Pool* pool = nullptr;
};

// Hidden, as Client::Impl: a RequestHandle's target. The Exchange holds it until it ends
// (pool::Exchange::canceller), so that the stop_token's registration lives as long as the
// request; a handle may keep it longer, harmlessly: then the weak pointers find nothing.
struct [[gnu::visibility("hidden")]] RequestHandle::State {
    std::weak_ptr<ClientGate> gate;
    std::weak_ptr<pool::Exchange> exchange;

    // From any thread: the cancel goes to the I/O thread, which alone touches the exchange.
    // Nothing is locked there but the gate: the exchange is only looked at on the I/O thread.
    void cancel() const {
        const auto g = gate.lock();
        if (!g) return;  // the Client is gone, and its requests ended with it
        std::lock_guard lock(g->mu);
        if (g->stopped) return;  // drained: every request has ended
        asio::post(g->ex, [p = g->pool, weak = exchange] {
            if (auto ex = weak.lock()) p->cancel(ex);
        });
    }

    // As cancel(), for RequestHandle::resume().
    void resume() const {
        const auto g = gate.lock();
        if (!g) return;
        std::lock_guard lock(g->mu);
        if (g->stopped) return;
        asio::post(g->ex, [p = g->pool, weak = exchange] {
            if (auto ex = weak.lock()) p->resume(ex);
        });
    }

    struct OnStop {
        const State* state;
        void operator()() const noexcept {
            try {
                state->cancel();
            } catch (...) {  // out of memory posting: the request ends at its timeout instead
            }
        }
    };
    // Last: destroyed first, waiting for a callback running on another thread, before the
    // members it reads go.
    std::optional<std::stop_callback<OnStop>> on_stop;
};

RequestHandle::RequestHandle(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}

void RequestHandle::cancel() const {
    if (state_) state_->cancel();
}

void RequestHandle::resume() const {
    if (state_) state_->resume();
}

// On a caller's executor a Client's state outlives the Client: what its destructor started
// (the drain) finishes there, and the state is freed on the strand after it. When the
// executor's context shuts down first (an io_context stopped, then destroyed after the
// Client), nothing would be left to free it: this service of that context does, at its
// shutdown, before the context destroys the handlers still queued (a service added after the
// context's scheduler and reactor is shut down before them).
class [[gnu::visibility("hidden")]] Reaper final : public asio::execution_context::service {
public:
    using key_type = Reaper;
    static asio::execution_context::id id;  // Asio's key for the service: a tag, no state

    explicit Reaper(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}
    void adopt(Client::Impl* impl) {
        std::lock_guard lock(mu_);
        orphans_.push_back(impl);
    }
    // True once for each adopted state: whoever hears it frees it.
    bool disown(Client::Impl* impl) {
        std::lock_guard lock(mu_);
        const auto it = std::find(orphans_.begin(), orphans_.end(), impl);
        if (it == orphans_.end()) return false;
        orphans_.erase(it);
        return true;
    }

private:
    void shutdown() override;  // frees what is left (below, once Impl is complete)
    std::mutex mu_;
    std::vector<Client::Impl*> orphans_;
};

asio::execution_context::id Reaper::id;

// Hidden: nested in an exported class, it would otherwise be exported with it.
struct [[gnu::visibility("hidden")]] Client::Impl {
    // The compiled-in backends, each constructed once for this Client. Everything below uses
    // this one: the engine for its names, routes for the backend objects.
    tls::Registry registry;
    policy::Engine engine;
    ClientOptions options;
    pool::Logger log;
    // Its own I/O thread's loop; null on a caller's executor.
    std::unique_ptr<asio::io_context> own_io;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    // On a caller's executor: the strand over it that every handler of the Client runs on
    // (its inner executor is the caller's), and, when that is an io_context's, that executor
    // (to tell a thread running it, where blocking would wait for itself).
    std::optional<asio::strand<asio::any_io_executor>> strand;
    std::optional<asio::io_context::executor_type> caller_io;
    net::Executor exec;  // what the pool runs on: own_io's, or the strand
    std::unique_ptr<pool::Pool> pool;
    std::thread thread;
    std::thread::id io_thread_id;
    std::shared_ptr<ClientGate> gate = std::make_shared<ClientGate>();
    std::once_flag join_once;
    // On a caller's executor: ready once the pool has drained (what close() waits for), and
    // whether the Client has let go of this state (then the drain frees it); under gate->mu.
    std::promise<void> drained_promise;
    std::shared_future<void> drained = drained_promise.get_future().share();
    Reaper* reaper = nullptr;  // set when orphaned
    // After close() no I/O thread runs: requests sent then are answered on this one, started
    // at the first of them, so that an answer never runs inside the call that sent it. Joined
    // by the destructor, once every answer queued has run. (On a caller's executor they go
    // there instead.)
    std::mutex late_mu;
    asio::io_context late_io;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> late_work;
    std::thread late_thread;
    std::atomic<std::thread::id> late_thread_id{};

    bool on_caller_executor() const noexcept { return strand.has_value(); }
    // The I/O thread (or the strand): the pool is ours.
    bool on_io_thread() const noexcept {
        return strand ? strand->running_in_this_thread()
                      : std::this_thread::get_id() == io_thread_id;
    }
    // A thread blocking calls must not wait on: one running the Client's callbacks (the I/O
    // thread, the late one), or the caller's io_context, which may be what would answer them.
    // The late thread does not own the pool.
    bool on_callback_thread() const noexcept {
        return on_io_thread() || on_caller_io_thread() ||
               std::this_thread::get_id() == late_thread_id.load(std::memory_order_relaxed);
    }
    // A thread running the caller's io_context (when the executor is one's).
    bool on_caller_io_thread() const noexcept {
        return caller_io && caller_io->running_in_this_thread();
    }
    // Where a blocking call was refused (on_callback_thread()), for its message.
    const char* refused_where() const noexcept {
        return on_caller_io_thread() && !on_io_thread()
                   ? "on a thread running the client's executor (ClientOptions::executor), which "
                     "may be what would answer it"
                   : "on the client's own I/O thread (from a callback)";
    }

    // Posts `fn` to the I/O thread unless the client is closed; false when closed.
    template <class F>
    bool post_if_open(F&& fn) {
        std::lock_guard lock(gate->mu);
        if (gate->closed) return false;
        asio::post(exec, std::forward<F>(fn));
        return true;
    }

    // `done` with `err`, never inside the caller's call: on the strand over the caller's
    // executor (one at a time with the Client's other callbacks; it touches nothing of the
    // Client's, so it may run after the state is freed), or on the late thread (the client is
    // closed: no I/O thread runs).
    void answer_late(std::function<void(Result)> done, Error err) {
        auto answer = [done = std::move(done), err = std::move(err)] {
            Result r;
            r.error = err;
            done(std::move(r));
        };
        if (on_caller_executor()) {
            asio::post(exec, std::move(answer));
            return;
        }
        std::lock_guard lock(late_mu);
        if (!late_thread.joinable()) {
            late_work.emplace(asio::make_work_guard(late_io));
            late_thread = std::thread([this] {
                late_thread_id.store(std::this_thread::get_id(), std::memory_order_relaxed);
                late_io.run();
            });
        }
        asio::post(late_io, std::move(answer));
    }
    void join_late() {
        {
            std::lock_guard lock(late_mu);
            late_work.reset();  // run() returns once the answers queued have run
        }
        if (late_thread.joinable()) late_thread.join();
    }
    // The route per origin (policy, pool key, backend object): the engine is immutable, so
    // this only saves the resolution, the key's formatting and the backend lookup on every
    // request after the first. Bounded, least recently used out: a client that talks to many
    // origins pays resolving again, not memory per origin forever.
    static constexpr std::size_t route_cache_capacity = 1024;
    std::mutex cache_mu;
    pool::Lru<pool::Route> cache{route_cache_capacity};

    // Certificate verification off is never silent: the first https origin that uses it logs a
    // warning naming where it was set, once per Client (once per request would bury the rest).
    // Here, while the resolution still says where each value came from; on the I/O thread, where
    // every other line is logged.
    std::atomic<bool> warned_unverified{false};
    void warn_if_unverified(const policy::ResolvedPolicy& rp) {
        if (rp.origin.scheme != policy::Scheme::https || rp.policy.tls.verify) return;
        if (warned_unverified.exchange(true)) return;
        const policy::Provenance* src = rp.source_of("tls.verify");
        std::string msg = "tls.verify is false (set in " + (src ? src->text : std::string("?")) +
                          "): certificates are NOT verified for " + rp.origin.to_string() +
                          " and any origin the same setting covers; anyone on the path can "
                          "impersonate the server (logged once per Client)";
        std::lock_guard lock(gate->mu);
        if (!gate->stopped) asio::post(exec, [this, msg = std::move(msg)] { log(LogLevel::warn, msg); });
    }

    pool::Route resolve(const policy::Origin& origin) {
        std::string id = origin.to_string();
        {
            std::lock_guard lock(cache_mu);
            if (const pool::Route* hit = cache.find(id)) return *hit;
        }
        policy::ResolvedPolicy rp = engine.resolve(origin);
        warn_if_unverified(rp);
        // Where each value came from is for explain(), and about half of a cached resolution
        // (some 1.2 KB per origin); the pool reads one: where a client certificate came from,
        // for its errors.
        std::erase_if(rp.provenance, [](const policy::Provenance& p) {
            return p.field != "tls.client_cert" || p.kind == policy::Provenance::Kind::builtin;
        });
        pool::Route r;
        r.policy = std::make_shared<const policy::ResolvedPolicy>(std::move(rp));
        r.key = pool::pool_key(*r.policy);
        if (origin.scheme == policy::Scheme::https) r.backend = registry.find(r.policy->policy.backend);
        std::lock_guard lock(cache_mu);
        cache.put(id, r);
        return r;
    }

    Impl(policy::Config cfg, ClientOptions o)
        : registry(tls::Registry::compiled_in()), engine(std::move(cfg), build_info(registry)),
          options(std::move(o)), log(make_logger(options)) {
        // Refused to start: what() is the detail, then the code's own text.
        if (Error e = settle_options(options)) throw std::system_error(e.code, e.detail);
        if (Error e = check_startup(engine.config(), registry))
            throw std::system_error(e.code, e.detail);
        if (const auto& run_on = options.executor) {  // settle_options() checked it
            strand.emplace(asio::make_strand(run_on->executor));
            exec = *strand;
            if (const auto* io_ex = run_on->executor.target<asio::io_context::executor_type>())
                caller_io.emplace(*io_ex);
        } else {
            own_io = std::make_unique<asio::io_context>();
            work.emplace(asio::make_work_guard(*own_io));
            exec = own_io->get_executor();
        }
        if (!options.keylog_file.empty() && log.on(LogLevel::warn))
            log(LogLevel::warn, "TLS key logging is on: the secrets of every connection go to \"" +
                                    options.keylog_file +
                                    "\"; whoever reads that file can decrypt the traffic");
        pool = std::make_unique<pool::Pool>(exec, log, options);
        gate->ex = exec;
        gate->pool = pool.get();
        if (own_io) {
            thread = std::thread([this] { own_io->run(); });
            io_thread_id = thread.get_id();
        }
    }

    // Its own thread: prompt, requests still in flight end with client_closed now, not at
    // their timeouts. On a caller's executor this runs once the drain is over (release()), or
    // at the executor's shutdown: the pool goes, and what its handlers left queued finds it
    // gone.
    ~Impl() {
        if (on_caller_executor()) return;
        shutdown(std::chrono::milliseconds::zero());
        {
            // The loop has stopped (joined): handles that outlive us must not post to it.
            std::lock_guard lock(gate->mu);
            gate->stopped = true;
        }
        join_late();
    }

    // The pool has drained (on the I/O thread): nothing posted from now on would run (its own
    // thread) or find the pool (a caller's executor, where a Client already gone frees this
    // state now, after whatever was queued for the pool before).
    void on_drained() {
        Reaper* orphaned = nullptr;
        {
            std::lock_guard l(gate->mu);
            gate->stopped = true;
            orphaned = reaper;
        }
        if (on_caller_executor()) {
            drained_promise.set_value();
            if (orphaned) free_on_strand(orphaned);
            return;
        }
        work.reset();
        // Let what close() queued (close_notify) be started, then stop.
        asio::post(exec, [this] { own_io->stop(); });
    }

    // Later on the strand, after everything queued there before; unless the executor's
    // context shuts down first, when the reaper frees it.
    void free_on_strand(Reaper* r) {
        asio::post(exec, [this, r] {
            if (r->disown(this)) delete this;
        });
    }

    // Stops taking requests; the pool drains (requests in flight finish, or end with
    // client_closed at the deadline), closes every connection, then the loop stops. Safe from
    // any thread, the I/O thread too; a second call can only bring the deadline nearer.
    void begin_close(std::optional<std::chrono::milliseconds> deadline) {
        std::lock_guard lock(gate->mu);
        if (gate->stopped) return;
        if (gate->closed) {
            if (deadline) asio::post(exec, [this, deadline] { pool->close_all({}, deadline); });
            return;
        }
        gate->closed = true;
        asio::post(exec, [this, deadline] { pool->close_all([this] { on_drained(); }, deadline); });
    }

    // begin_close(), then wait for the I/O thread to finish (or, on a caller's executor, the
    // drain). On the I/O thread itself (a callback called close()), or a thread running the
    // caller's io_context, it cannot wait: the drain goes on, and the destructor joins. With a
    // deadline, what is still in flight then ends with client_closed (the pool's timer), so
    // the wait is bounded by it; a later call may shorten it, never lengthen it.
    void shutdown(std::optional<std::chrono::milliseconds> deadline) {
        begin_close(deadline);
        if (on_callback_thread()) return;
        if (on_caller_executor()) {
            drained.wait();
            return;
        }
        std::call_once(join_once, [this] {
            if (thread.joinable()) thread.join();
        });
    }

    // The Client lets go of its state. Its own thread: freed now (close(0ms), joined). On a
    // caller's executor: close(0ms) is started, and the state is freed on the strand once
    // the pool has drained, or by the reaper if the executor's context shuts down first.
    static void release(std::unique_ptr<Impl> impl) noexcept {
        if (!impl || !impl->on_caller_executor()) return;  // freed here, as it goes
        // (Out of memory in here ends the program: freeing the state now, under handlers
        // still queued for it, would be worse.)
        Impl* raw = impl.release();  // the strand, or the reaper, frees it from here on
        Reaper& r = asio::use_service<Reaper>(
            asio::query(raw->strand->get_inner_executor(), asio::execution::context));
        r.adopt(raw);
        bool stopped = false;
        {
            std::lock_guard l(raw->gate->mu);
            raw->reaper = &r;
            stopped = raw->gate->stopped;
        }
        if (stopped) raw->free_on_strand(&r);
        else raw->begin_close(std::chrono::milliseconds::zero());
    }

    RequestHandle send_async(Request req, std::function<void(Result)> done) {
        auto fail = [&](Error e) {
            auto answer = [done, e] {
                Result r;
                r.error = e;
                done(std::move(r));
            };
            // Closed: no I/O thread will run it any more.
            if (!post_if_open(std::move(answer))) answer_late(done, std::move(e));
        };
        std::string why;
        const auto sep = req.url.find("://");
        if (sep != std::string::npos) {
            const std::string scheme = req.url.substr(0, sep);
            if (scheme != "http" && scheme != "https" && scheme != "HTTP" && scheme != "HTTPS") {
                fail({net::errc::unsupported_scheme,
                      "\"" + scheme + "\" in " + req.url + " (use http:// or https://)", 0, "net"});
                return {};
            }
        }
        auto origin = policy::Origin::parse(req.url, &why);
        if (!origin) {
            fail({net::errc::bad_url, req.url + ": " + why, 0, "net"});
            return {};
        }
        if (req.body_source && !req.body.empty()) {
            fail({pool::errc::body_source_failed,
                  req.method + " " + req.url +
                      ": the request has both a body and a body source (Request::body_source); "
                      "give one",
                  0, "pool"});
            return {};
        }
        auto ex = std::make_shared<pool::Exchange>();
        ex->origin = *origin;
        ex->target = target_of(req.url);
        ex->authority = authority_of(*origin);
        ex->route = resolve(*origin);
        const std::stop_token token = req.cancel;
        ex->request = std::move(req);
        ex->done = done;
        auto state = std::make_shared<RequestHandle::State>();
        state->gate = gate;
        state->exchange = ex;
        ex->canceller = state;
        if (!post_if_open([p = pool.get(), ex] { p->submit(ex); })) {
            answer_late(std::move(done), {pool::errc::client_closed, "the client is closed", 0, "pool"});
            return {};
        }
        // Only now that the submit is queued: a token stopped already runs the callback here,
        // and its cancel must reach the pool after the submit (the loop runs posts in order).
        // `state` is ours until we return; the I/O thread only lets go of its own reference.
        if (token.stop_possible()) state->on_stop.emplace(token, RequestHandle::State::OnStop{state.get()});
        return RequestHandle(std::move(state));
    }
};

void Reaper::shutdown() {
    std::vector<Client::Impl*> left;
    {
        std::lock_guard lock(mu_);
        left.swap(orphans_);
    }
    for (Client::Impl* impl : left) delete impl;
}

namespace {
policy::Config config_from_environment() {
    auto loaded = config::from_environment();
    if (!loaded) {
        const Error e = loaded.error();
        throw std::system_error(e.code, std::string(config::environment_variable) + ": " +
                                            loaded.report());
    }
    return std::move(*loaded.config);
}
}  // namespace

Client::Client() : Client(config_from_environment()) {}

Client::Client(policy::Config config, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(options))) {}

std::optional<Client> Client::from_file(const std::string& path, Error& err,
                                        ClientOptions options) {
    auto loaded = config::load_file(path);
    if (!loaded) {
        err = loaded.error();
        return std::nullopt;
    }
    if ((err = settle_options(options))) return std::nullopt;
    if ((err = check_startup(*loaded.config, tls::Registry::compiled_in()))) return std::nullopt;
    return Client(std::move(*loaded.config), std::move(options));
}

std::optional<Client> Client::from_json(std::string_view json, Error& err,
                                        ClientOptions options) {
    auto loaded = config::load_string(json);
    if (!loaded) {
        err = loaded.error();
        return std::nullopt;
    }
    if ((err = settle_options(options))) return std::nullopt;
    if ((err = check_startup(*loaded.config, tls::Registry::compiled_in()))) return std::nullopt;
    return Client(std::move(*loaded.config), std::move(options));
}

std::optional<Client> Client::from_environment(Error& err, ClientOptions options) {
    auto loaded = config::from_environment();
    if (!loaded) {
        err = loaded.error();
        return std::nullopt;
    }
    if ((err = settle_options(options))) return std::nullopt;
    if ((err = check_startup(*loaded.config, tls::Registry::compiled_in()))) return std::nullopt;
    return Client(std::move(*loaded.config), std::move(options));
}

Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&& other) noexcept {
    if (this != &other) {
        Impl::release(std::move(impl_));
        impl_ = std::move(other.impl_);
    }
    return *this;
}

Client::~Client() { Impl::release(std::move(impl_)); }

RequestHandle Client::send_async(Request request, std::function<void(Result)> done) {
    return impl_->send_async(std::move(request), std::move(done));
}

std::future<Result> Client::send_future(Request request) {
    auto promise = std::make_shared<std::promise<Result>>();
    auto fut = promise->get_future();
    impl_->send_async(std::move(request),
                      [promise](Result r) { promise->set_value(std::move(r)); });
    return fut;
}

Result Client::send(Request request) {
    if (impl_->on_callback_thread()) {
        Result r;
        r.error = {pool::errc::wrong_thread,
                   std::string("send() blocks, and was called ") + impl_->refused_where() +
                       ": use send_async() (or async_send()) there",
                   0, "pool"};
        return r;
    }
    return send_future(std::move(request)).get();
}

Error Client::warm(std::string_view url, unsigned n) {
    std::string why;
    auto origin = policy::Origin::parse(url, &why);
    if (!origin) return {net::errc::bad_url, std::string(url) + ": " + why, 0, "net"};
    if (impl_->on_callback_thread())
        return {pool::errc::wrong_thread,
                std::string("warm() blocks, and was called ") + impl_->refused_where(), 0, "pool"};
    auto done = std::make_shared<std::promise<Error>>();
    auto fut = done->get_future();
    if (!impl_->post_if_open([p = impl_->pool.get(), route = impl_->resolve(*origin), n, done] {
            p->warm(route, n, [done](Error e) { done->set_value(std::move(e)); });
        }))
        return {pool::errc::client_closed, "the client is closed", 0, "pool"};
    return fut.get();
}

void Client::close_idle_connections() {
    if (impl_->on_io_thread()) {  // from a callback: the pool is ours right now
        impl_->pool->close_idle();
        return;
    }
    if (impl_->on_caller_io_thread()) {  // waiting could block what would answer
        (void)impl_->post_if_open([p = impl_->pool.get()] { p->close_idle(); });
        return;
    }
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    if (impl_->post_if_open([p = impl_->pool.get(), done] {
            p->close_idle();
            done->set_value();
        }))
        fut.get();
}

void Client::close() { impl_->shutdown(std::nullopt); }

void Client::close(std::chrono::milliseconds deadline) {
    impl_->shutdown(std::max(deadline, std::chrono::milliseconds::zero()));
}

const policy::Engine& Client::policy() const noexcept { return impl_->engine; }

Client::Stats Client::stats() const {
    if (impl_->on_io_thread()) return impl_->pool->stats();  // we are the I/O thread
    if (impl_->on_caller_io_thread())
        throw std::system_error(pool::errc::wrong_thread,
                                std::string("stats() waits for the client's I/O, and was called ") +
                                    impl_->refused_where());
    auto p = std::make_shared<std::promise<Stats>>();
    auto f = p->get_future();
    if (!impl_->post_if_open([pool = impl_->pool.get(), p] { p->set_value(pool->stats()); }))
        return {};
    return f.get();
}

}  // namespace connmatrix
