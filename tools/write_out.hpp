// write_out.hpp - get -w/--write-out FORMAT, as curl's: after each transfer, the format with its
// %{variables} replaced, on stdout (or stderr after %{stderr}).
#pragma once

#include <connmatrix/client.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace connmatrix::cli {

// What one transfer (the last attempt, after --retry) gives the variables.
struct Transfer {
    const Request& request;
    const Result& result;        // the response, or the error and what the attempt learnt
    std::size_t num_connects;    // connections opened for it
    int exit_code;               // what the command exits with for it (0: success)
    // The body bytes of the last attempt when they were streamed to -o (then the response's
    // body is empty); unset: the body is result.response.body.
    std::optional<std::uint64_t> streamed_body = std::nullopt;
};

// One variable's value, rendered both ways from one place: as %{name} prints it and as it
// stands in %{json}.
struct WriteOutVariable {
    std::string name;
    std::string text;
    std::string json;  // a JSON value: a number, a string, or null
};

// Every variable, in the order %{json} lists them (README.md and connmatrix(1) describe each).
std::vector<WriteOutVariable> write_out_variables(const Transfer& t);

// Writes the expanded format: %{name}, %{json}, %header{name}, %{stdout}, %{stderr}, %% and the
// escapes \n \r \t. An unknown variable writes nothing and, as curl, one line on `err`:
// "connmatrix: unknown --write-out variable: 'name'" (whatever -s says; the exit code stays).
void write_out(std::string_view format, const Transfer& t, std::FILE* out, std::FILE* err);

}  // namespace connmatrix::cli
