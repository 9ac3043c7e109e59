// error_categories(): every module's category. Here, in the top layer, because it is the one
// that may depend on every module.
#include <connmatrix/errors.hpp>

namespace connmatrix {

std::vector<const ErrorCategory*> error_categories() {
    return {&config::category(), &net::category(),   &tls::category(), &negotiate::category(),
            &http1::category(),  &http2::category(), &pool::category()};
}

}  // namespace connmatrix
