// net::Executor - what every I/O object, timer and post of a Client runs on: its own
// io_context's executor (the Client's I/O thread), or a strand over the executor of the
// caller's (ClientOptions::executor), so that a caller running that io_context on several
// threads still sees the Client's handlers one at a time. Lib-internal.
#pragma once

#include <asio/any_io_executor.hpp>

#include <memory>

namespace connmatrix::net {

using Executor = asio::any_io_executor;

// What a handler that captures `this` holds beside it, weakly: a timer's or a post's handler
// may still be queued on the executor when its object goes (a cancelled wait still runs; a
// caller's executor outlives the Client), and then finds the token expired and does nothing.
// Handlers run one at a time on the executor, as does the owner's destruction. One per object:
// not copied with it.
class Alive {
public:
    Alive() = default;
    Alive(const Alive&) = delete;
    Alive& operator=(const Alive&) = delete;
    std::weak_ptr<const void> token() const noexcept { return token_; }

private:
    std::shared_ptr<const char> token_ = std::make_shared<const char>();
};

}  // namespace connmatrix::net
