// writer.cpp - HTTP/1.1 request and response serialisation.
//
// Every string that reaches the wire is checked first: a CR or LF in a header value, target or
// method would let a caller (or whoever fed the caller) split one request into two (request
// splitting / header injection), so it is refused, not escaped. Framing headers are ours.
#include "http1.hpp"

#include "text.hpp"

#include <algorithm>

namespace connmatrix::http1 {

using text::quote;

namespace {

Error refuse(std::string detail) {
    return Error(make_error_code(errc::invalid_message), std::move(detail), 0, "http1");
}

std::span<const std::uint8_t> bytes_of(std::string_view s) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

void append(std::vector<std::uint8_t>& out, std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
}

void append_field(std::vector<std::uint8_t>& out, std::string_view name, std::string_view value) {
    append(out, name);
    append(out, ": ");
    append(out, value);
    append(out, "\r\n");
}

// A field's name must be a token and its value field-chars only (no CR, LF, NUL, other CTLs).
Error check_field(const Header& h, const char* what) {
    if (!text::is_token(h.name))
        return refuse(std::string(what) + " name " + quote(h.name) +
                          " is not a token (CR, LF, NUL, space, ':' ... are not allowed)");
    if (const auto i = text::find_bad_field_char(h.value); i != std::string_view::npos)
        return refuse("byte " + text::byte_name(h.value[i]) + " in the value of " + what +
                          " " + quote(h.name) + " (CR, LF, NUL and other controls would "
                                                "split or corrupt the message)");
    return {};
}

Error check_fields(const Headers& headers) {
    for (const auto& h : headers) {
        if (auto e = check_field(h, "header")) return e;
        if (text::iequals(h.name, "content-length") || text::iequals(h.name, "transfer-encoding"))
            return refuse("header " + quote(h.name) +
                              " is set by the writer from the body and options");
    }
    return {};
}

std::string hex(std::uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    do {
        s.insert(s.begin(), digits[v & 15]);
        v >>= 4;
    } while (v != 0);
    return s;
}

void append_body(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> body,
                 bool chunked) {
    if (chunked) {
        write_chunk(out, body);
        append(out, "0\r\n\r\n");
    } else {
        out.insert(out.end(), body.begin(), body.end());
    }
}

}  // namespace

Error write_request_head(std::vector<std::uint8_t>& out, std::string_view method,
                         std::string_view target, std::string_view host_authority,
                         const Headers& headers, std::size_t body_size,
                         const RequestOptions& options) {
    if (!text::is_token(method))
        return refuse("method " + quote(method) + " is not a token");
    if (target.empty()) return refuse("empty request target");
    for (char c : target) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f)
            return refuse("byte " + text::byte_name(c) + " in request target " +
                              quote(target) + " (percent-encode it)");
    }
    if (auto e = check_fields(headers)) return e;
    const Header* user_host = find_header(headers, "host");
    if (user_host && std::count_if(headers.begin(), headers.end(), [](const Header& h) {
            return text::iequals(h.name, "host");
        }) > 1)
        return refuse("more than one Host header");
    const std::string_view host = user_host ? std::string_view(user_host->value) : host_authority;
    if (host.empty()) return refuse("empty Host (host_authority)");
    for (char c : host) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f)
            return refuse("byte " + text::byte_name(c) + " in Host " + quote(host));
    }

    append(out, method);
    append(out, " ");
    append(out, target);
    append(out, " HTTP/1.1\r\n");
    append_field(out, "Host", host);
    for (const auto& h : headers)
        if (&h != user_host) append_field(out, h.name, h.value);
    if (options.chunked) {
        append_field(out, "Transfer-Encoding", "chunked");
    } else if (body_size > 0 || method == "POST" || method == "PUT" || method == "PATCH") {
        append_field(out, "Content-Length", std::to_string(body_size));
    }
    if (options.close) append_field(out, "Connection", "close");
    append(out, "\r\n");
    return {};
}

Error write_request(std::vector<std::uint8_t>& out, std::string_view method,
                    std::string_view target, std::string_view host_authority,
                    const Headers& headers, std::span<const std::uint8_t> body,
                    const RequestOptions& options) {
    if (auto e = write_request_head(out, method, target, host_authority, headers, body.size(),
                                    options))
        return e;
    append_body(out, body, options.chunked);
    return {};
}

Error write_request(std::vector<std::uint8_t>& out, std::string_view method,
                    std::string_view target, std::string_view host_authority,
                    const Headers& headers, std::string_view body,
                    const RequestOptions& options) {
    return write_request(out, method, target, host_authority, headers, bytes_of(body), options);
}

Error write_response(std::vector<std::uint8_t>& out, int status, std::string_view reason,
                     const Headers& headers, std::span<const std::uint8_t> body,
                     const ResponseOptions& options) {
    if (status < 100 || status > 599)
        return refuse("status " + std::to_string(status) + " outside 100..599");
    if (const auto i = text::find_bad_field_char(reason); i != std::string_view::npos)
        return refuse("byte " + text::byte_name(reason[i]) + " in reason phrase " +
                          quote(reason));
    if (auto e = check_fields(headers)) return e;
    const bool no_body = (status >= 100 && status < 200) || status == 204 || status == 304;
    if (no_body && !body.empty())
        return refuse("status " + std::to_string(status) + " cannot carry a body");
    if (options.chunked && (options.http10 || options.close_delimited || options.head))
        return refuse("chunked framing with http10, close_delimited or head");

    append(out, options.http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    append(out, std::to_string(status));
    append(out, " ");
    append(out, reason);
    append(out, "\r\n");
    for (const auto& h : headers) append_field(out, h.name, h.value);
    if (!no_body) {
        if (options.chunked) append_field(out, "Transfer-Encoding", "chunked");
        else if (!options.close_delimited)
            append_field(out, "Content-Length", std::to_string(body.size()));
    }
    if (options.close) append_field(out, "Connection", "close");
    append(out, "\r\n");
    if (!no_body && !options.head) append_body(out, body, options.chunked);
    return {};
}

Error write_response(std::vector<std::uint8_t>& out, int status, std::string_view reason,
                     const Headers& headers, std::string_view body,
                     const ResponseOptions& options) {
    return write_response(out, status, reason, headers, bytes_of(body), options);
}

void write_chunk(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> data) {
    if (data.empty()) return;
    append(out, hex(data.size()));
    append(out, "\r\n");
    out.insert(out.end(), data.begin(), data.end());
    append(out, "\r\n");
}

Error write_last_chunk(std::vector<std::uint8_t>& out, const Headers& trailers) {
    for (const auto& t : trailers)
        if (auto e = check_field(t, "trailer")) return e;
    append(out, "0\r\n");
    for (const auto& t : trailers) append_field(out, t.name, t.value);
    append(out, "\r\n");
    return {};
}

}  // namespace connmatrix::http1
