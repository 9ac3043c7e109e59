// doctest printers for our types, so a failed CHECK says "tls:no_application_protocol (...)".
#pragma once

#include <doctest/doctest.h>

#include <connmatrix/tls.hpp>

#include <ostream>
#include <optional>
#include <string>
#include <system_error>

namespace doctest {

template <>
struct StringMaker<std::error_code> {
    static String convert(const std::error_code& ec) {
        return (connmatrix::error_name(ec) + " (" + ec.message() + ")").c_str();
    }
};

template <>
struct StringMaker<connmatrix::tls::Status> {
    static String convert(connmatrix::tls::Status s) {
        switch (s) {
            case connmatrix::tls::Status::ok: return "ok";
            case connmatrix::tls::Status::want_input: return "want_input";
            case connmatrix::tls::Status::closed: return "closed";
            case connmatrix::tls::Status::failed: return "failed";
        }
        return "?";
    }
};

template <>
struct StringMaker<std::optional<std::string>> {
    static String convert(const std::optional<std::string>& s) {
        return s ? ("\"" + *s + "\"").c_str() : "none";
    }
};

template <>
struct StringMaker<connmatrix::tls::Version> {
    static String convert(connmatrix::tls::Version v) {
        return std::string(connmatrix::tls::to_string(v)).c_str();
    }
};

}  // namespace doctest
