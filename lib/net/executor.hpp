// net::Executor - what every I/O object, timer and post of a Client runs on: its own
// io_context's executor (the Client's I/O thread), or a strand over the executor of the
// caller's (ClientOptions::executor), so that a caller running that io_context on several
// threads still sees the Client's handlers one at a time. Lib-internal.
#pragma once

#include <asio/any_io_executor.hpp>

namespace connmatrix::net {

using Executor = asio::any_io_executor;

}  // namespace connmatrix::net
