// http2/nghttp2_glue.hpp - RAII for nghttp2 objects and the one place that knows which nghttp2
// API generation we compile against. Included by lib/http2/*.cpp only.
#pragma once

#include "http2.hpp"

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string_view>

// nghttp2 1.60 added the nghttp2_ssize API (nghttp2_session_mem_recv2 / mem_send2,
// nghttp2_data_provider2, nghttp2_submit_request2 / response2) and deprecated the ssize_t one.
// The *2 variants are preferred, but Debian 12 ships nghttp2 1.52, where they do not exist, so
// with an older library we fall back to nghttp2_session_mem_recv / mem_send and friends. Once the
// minimum version is >= 1.60 the #else branch can go.
#if NGHTTP2_VERSION_NUM >= 0x013c00
#define CONNMATRIX_NGHTTP2_SSIZE2 1
#else
#define CONNMATRIX_NGHTTP2_SSIZE2 0
#endif

namespace connmatrix::http2::glue {

#if CONNMATRIX_NGHTTP2_SSIZE2
using ssize = nghttp2_ssize;
using DataProvider = nghttp2_data_provider2;
#else
using ssize = ssize_t;
using DataProvider = nghttp2_data_provider;
#endif

// Same shape in both generations, only the return type differs.
using ReadCallback = ssize (*)(nghttp2_session*, std::int32_t, std::uint8_t*, std::size_t,
                               std::uint32_t*, nghttp2_data_source*, void*);

inline ssize mem_recv(nghttp2_session* s, const std::uint8_t* in, std::size_t n) {
#if CONNMATRIX_NGHTTP2_SSIZE2
    return nghttp2_session_mem_recv2(s, in, n);
#else
    return nghttp2_session_mem_recv(s, in, n);
#endif
}

inline ssize mem_send(nghttp2_session* s, const std::uint8_t** out) {
#if CONNMATRIX_NGHTTP2_SSIZE2
    return nghttp2_session_mem_send2(s, out);
#else
    return nghttp2_session_mem_send(s, out);
#endif
}

inline DataProvider data_provider(void* source, ReadCallback cb) {
    DataProvider d{};
    d.source.ptr = source;
    d.read_callback = cb;
    return d;
}

inline std::int32_t submit_request(nghttp2_session* s, const nghttp2_nv* nva, std::size_t n,
                                   const DataProvider* body, void* stream_user_data) {
#if CONNMATRIX_NGHTTP2_SSIZE2
    return nghttp2_submit_request2(s, nullptr, nva, n, body, stream_user_data);
#else
    return nghttp2_submit_request(s, nullptr, nva, n, body, stream_user_data);
#endif
}

inline int submit_response(nghttp2_session* s, std::int32_t id, const nghttp2_nv* nva,
                           std::size_t n, const DataProvider* body) {
#if CONNMATRIX_NGHTTP2_SSIZE2
    return nghttp2_submit_response2(s, id, nva, n, body);
#else
    return nghttp2_submit_response(s, id, nva, n, body);
#endif
}

// --- RAII --------------------------------------------------------------------------------------
struct SessionDeleter {
    void operator()(nghttp2_session* s) const noexcept { nghttp2_session_del(s); }
};
struct CallbacksDeleter {
    void operator()(nghttp2_session_callbacks* c) const noexcept {
        nghttp2_session_callbacks_del(c);
    }
};
struct OptionDeleter {
    void operator()(nghttp2_option* o) const noexcept { nghttp2_option_del(o); }
};
using SessionPtr = std::unique_ptr<nghttp2_session, SessionDeleter>;
using CallbacksPtr = std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter>;
using OptionPtr = std::unique_ptr<nghttp2_option, OptionDeleter>;

// A header field for nghttp2, pointing into strings the caller keeps alive until the submit
// call returns (nghttp2 copies them).
inline nghttp2_nv nv(std::string_view name, std::string_view value,
                     std::uint8_t flags = NGHTTP2_NV_FLAG_NONE) {
    // nghttp2_nv has non-const pointers for historical reasons; nghttp2 only reads through them.
    return {const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
            const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())),
            name.size(), value.size(), flags};
}

inline std::string_view view(const std::uint8_t* p, std::size_t n) {
    return {reinterpret_cast<const char*>(p), n};
}

// A connection error nghttp2 detected, from what its callbacks told us.
Error connection_error(int lib_error, std::string_view message, std::uint32_t h2_code);

}  // namespace connmatrix::http2::glue
