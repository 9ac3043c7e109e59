/// \file
/// Asio completion tokens for a Client: async_send() sends a request as any Asio asynchronous
/// operation does, with a callback, `asio::use_awaitable` (C++20 coroutines), `asio::use_future`
/// or `asio::deferred` (`asio::experimental::deferred` before Asio 1.24).
///
///     asio::awaitable<void> fetch(connmatrix::Client& client) {
///         connmatrix::Request req{.method = "GET", .url = "https://example.com/"};
///         connmatrix::Result r = co_await connmatrix::async_send(client, std::move(req),
///                                                                asio::use_awaitable);
///         if (r) std::cout << r.response.status << "\n";
///     }
///
/// (A named Request: GCC 12 destroys a braced temporary in a `co_await` expression twice.)
///
/// The only public header that needs a third-party one: standalone Asio (`<asio.hpp>`, Debian's
/// libasio-dev, the Asio the library itself is built with); include it only where you use Asio.
/// A Client may also run on the caller's executor, with no thread of its own (run_on()):
///
///     asio::io_context io;
///     connmatrix::ClientOptions o;
///     o.executor = connmatrix::run_on(io.get_executor());
///     connmatrix::Client client(config, o);   // its sockets and timers are io's now
///     asio::co_spawn(io, fetch(client), asio::detached);
///     io.run();
#pragma once

#include <connmatrix/client.hpp>

#include <asio.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>

namespace connmatrix {

/// The executor a Client runs on (ClientOptions::executor): make it with run_on(). The
/// library checks that it was made by the Asio it was built with, configured the same way
/// (an any_io_executor of another layout would be undefined behaviour across the boundary).
struct IoExecutor {
    asio::any_io_executor executor;  ///< What the Client runs on (a strand over it).
    long asio_version = ASIO_VERSION;  ///< The Asio the executor was made with (ASIO_VERSION).
    std::size_t executor_size = sizeof(asio::any_io_executor);  ///< Its any_io_executor's size there.
};

/// A Client on `executor`, with no thread of its own: ClientOptions::executor. The Client's
/// handlers run on a strand over it, one at a time, so the io_context behind it may be run
/// by one thread or many.
/// \param executor an io_context's executor, a thread_pool's, a strand, ...
/// \return the value for ClientOptions::executor.
inline std::shared_ptr<const IoExecutor> run_on(asio::any_io_executor executor) {
    return std::make_shared<const IoExecutor>(IoExecutor{std::move(executor)});
}

/// Internal to async_send(); not part of the API.
namespace asio_detail {

// One operation in flight: the handler, and the executor (tracking work, so that an
// io_context running only this coroutine does not run out of work) it is invoked through.
template <class Handler>
struct SendOp {
    using Executor = std::decay_t<decltype(asio::prefer(asio::get_associated_executor(std::declval<Handler&>()),
                                                        asio::execution::outstanding_work.tracked))>;
    Handler handler;
    Executor executor;
    // A cancellation signal bound to the handler (asio::bind_cancellation_slot, a coroutine's
    // own) may be emitted before send_async() has returned the handle: then it cancels at once.
    std::mutex mu;
    RequestHandle request;
    bool cancel_requested = false;

    explicit SendOp(Handler&& h)
        : handler(std::move(h)),
          executor(asio::prefer(asio::get_associated_executor(handler),
                                asio::execution::outstanding_work.tracked)) {}

    void cancel() {
        std::lock_guard lock(mu);
        if (request) request.cancel();
        else cancel_requested = true;
    }
    void started(RequestHandle h) {
        std::lock_guard lock(mu);
        request = std::move(h);
        if (cancel_requested) request.cancel();
    }
};

struct InitiateSend {
    template <class Handler>
    void operator()(Handler&& handler, Client* client, Request request) const {
        using Op = SendOp<std::decay_t<Handler>>;
        auto op = std::make_shared<Op>(std::forward<Handler>(handler));
        auto slot = asio::get_associated_cancellation_slot(op->handler);
        // Any cancellation type ends the request: a request cannot be partly cancelled.
        if (slot.is_connected()) slot.assign([raw = op.get()](asio::cancellation_type) { raw->cancel(); });
        RequestHandle h = client->send_async(std::move(request), [op](Result r) {
            // On the Client's I/O thread, never inside async_send(): on to the handler's executor.
            auto ex = op->executor;
            asio::dispatch(ex, [op, r = std::move(r)]() mutable {
                auto s = asio::get_associated_cancellation_slot(op->handler);
                if (s.is_connected()) s.clear();
                auto h = std::move(op->handler);
                std::move(h)(std::move(r));
            });
        });
        op->started(std::move(h));
    }
};

}  // namespace asio_detail

/// Sends `request` on `client` as an Asio asynchronous operation, completing with
/// `void(Result)`: whatever the outcome, one Result (an error is a value, with its detail and
/// the ConnectionInfo learnt, as Client::send() returns it; a coroutine gets it from
/// `co_await` without an exception to catch).
///
/// The handler is invoked exactly once, through its associated executor (asio::dispatch, from
/// the Client's I/O thread), never inside this call; until then the operation counts as work
/// on that executor. A cancellation slot associated with the handler (a coroutine's, or
/// asio::bind_cancellation_slot) cancels the request as RequestHandle::cancel() does, for any
/// cancellation type: the Result then carries pool::errc::cancelled. Request::cancel and
/// Request::deadline apply as well.
///
/// `client` must outlive the call; if it is destroyed first, the operation completes with
/// pool::errc::client_closed.
/// \tparam CompletionToken a completion token for `void(connmatrix::Result)`.
/// \param client the Client that sends it.
/// \param request the request (moved in).
/// \param token the completion token: a callback, `asio::use_awaitable`, `asio::use_future`,
///        `asio::deferred`, ...
/// \return what the token makes of the operation (nothing for a callback, an awaitable, a
///         std::future<Result>, a deferred operation, ...).
template <class CompletionToken>
auto async_send(Client& client, Request request, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(Result)>(
        asio_detail::InitiateSend{}, token, &client, std::move(request));
}

}  // namespace connmatrix
