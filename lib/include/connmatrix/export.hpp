// connmatrix/export.hpp - CONNMATRIX_API: what the shared library exports.
//
// The library is compiled with hidden symbols (gnu_symbol_visibility 'hidden'): libconnmatrix.so
// exports only what a public header marks CONNMATRIX_API, and abi/connmatrix.symbols lists that
// (the abi_symbols test fails on any difference). In a public header it goes on
//   - every class with a member function defined in the library or a virtual function:
//     `class CONNMATRIX_API Session {`; its members, nested classes, vtable and typeinfo follow;
//   - every function defined in the library: `CONNMATRIX_API std::string_view to_string(Mode m);`
//     (a class's members need none of their own).
// Inline functions, constexpr values, enums and structs made only of data need none. Nothing
// here changes the API: a consumer includes this through the other headers and never needs a
// define of its own, whether it links the shared library or the static one.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define CONNMATRIX_API __attribute__((visibility("default")))
#else
#define CONNMATRIX_API
#endif
