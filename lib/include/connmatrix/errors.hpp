/// \file
/// Every module's errors, and the list of their categories.
///
///     for (const connmatrix::ErrorCategory* c : connmatrix::error_categories())
///         for (int v = 1; v <= c->size(); ++v)
///             std::cout << c->name() << ":" << c->enumerator(v) << "  " << c->message(v) << "\n";
#pragma once

#include <connmatrix/error.hpp>
#include <connmatrix/errors/config.hpp>
#include <connmatrix/errors/http1.hpp>
#include <connmatrix/errors/http2.hpp>
#include <connmatrix/errors/negotiate.hpp>
#include <connmatrix/errors/net.hpp>
#include <connmatrix/errors/pool.hpp>
#include <connmatrix/errors/tls.hpp>
#include <connmatrix/export.hpp>

#include <vector>

namespace connmatrix {

/// Every category connmatrix has, each once: config, net, tls, negotiate, http1, http2, pool.
/// Any error the library reports has a code of one of these (or, in Error::library_code and
/// Error::detail only, an underlying library's).
/// \return the categories, in that order; the pointers stay valid for the whole program.
CONNMATRIX_API std::vector<const ErrorCategory*> error_categories();

}  // namespace connmatrix
