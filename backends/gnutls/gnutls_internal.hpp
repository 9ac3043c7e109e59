// Private declarations shared by the GnuTLS backend's files: RAII wrappers for GnuTLS's C
// handles, the immutable state a context shares with its sessions, and the error mapping.
// Nothing here is visible outside backends/gnutls/.
#pragma once

#include <connmatrix/tls.hpp>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

namespace connmatrix::tls::gtls {

inline constexpr std::string_view gnutls_name = "gnutls";  // Backend::name(), Error::origin

// GnuTLS's own limits for gnutls_alpn_set_protocols() (lib/ext/alpn.h: MAX_ALPN_PROTOCOLS 8,
// MAX_ALPN_PROTOCOL_NAME 32, where a name must be *shorter* than 32 bytes). Longer lists or names
// are valid RFC 7301 but this library cannot send them: contexts refuse them as unsupported.
inline constexpr std::size_t max_alpn_protocols = 8;
inline constexpr std::size_t max_alpn_name = 31;

// ---------------------------------------------------------------------------------------------
// RAII for every C handle.

template <auto Free>
struct Deleter {
    template <typename T>
    void operator()(T* p) const noexcept {
        if (p) Free(p);
    }
};

using SessionHandle = std::unique_ptr<std::remove_pointer_t<gnutls_session_t>, Deleter<&gnutls_deinit>>;
using CredentialsHandle = std::unique_ptr<std::remove_pointer_t<gnutls_certificate_credentials_t>,
                                          Deleter<&gnutls_certificate_free_credentials>>;
using PriorityHandle =
    std::unique_ptr<std::remove_pointer_t<gnutls_priority_t>, Deleter<&gnutls_priority_deinit>>;

// A gnutls_datum_t whose bytes GnuTLS allocated (gnutls_session_get_data2, ...). A secret datum
// is wiped before it is freed (the session ticket encryption key).
class Datum {
public:
    explicit Datum(bool secret = false) noexcept : secret_(secret) {}
    ~Datum() { reset(); }
    Datum(const Datum&) = delete;
    Datum& operator=(const Datum&) = delete;

    gnutls_datum_t* out() noexcept {
        reset();
        return &d_;
    }
    const gnutls_datum_t* get() const noexcept { return &d_; }
    bool empty() const noexcept { return d_.data == nullptr || d_.size == 0; }
    void reset() noexcept {
        if (d_.data) {
            if (secret_) gnutls_memset(d_.data, 0, d_.size);
            gnutls_free(d_.data);
        }
        d_ = {};
    }

private:
    gnutls_datum_t d_{};
    bool secret_;
};

// ---------------------------------------------------------------------------------------------
// What a context shares, read-only, with every session it made (GnuTLS credentials and priority
// caches may be used by many sessions at once). Sessions hold a shared_ptr, so dropping the
// context while sessions live is fine.

struct ClientState {
    std::shared_ptr<const void> library;  // gnutls_global_init reference; declared first, freed last
    ClientConfig cfg;
    CredentialsHandle cred;
    PriorityHandle priority;
};

struct ServerState {
    std::shared_ptr<const void> library;  // gnutls_global_init reference; declared first, freed last
    ServerConfig cfg;
    CredentialsHandle cred;
    PriorityHandle priority;
    Datum ticket_key{true};  // empty when tickets are off
};

std::unique_ptr<Session> new_client_session(std::shared_ptr<const ClientState> state,
                                            const ClientSessionParams& params, Error& err);
std::unique_ptr<Session> new_server_session(std::shared_ptr<const ServerState> state, Error& err);

// ---------------------------------------------------------------------------------------------
// Errors (gnutls_error.cpp). Every Error carries GnuTLS's own message and code, origin "gnutls".

// `code` with `context` and gnutls_strerror(gnutls_code) as the detail.
Error library_error(errc code, int gnutls_code, std::string_view context = {});

// What a failed gnutls_handshake / gnutls_record_* call means. Looks at the session for the
// alert that was received and the certificate verification status.
Error session_error(gnutls_session_t session, int gnutls_code, Role role, bool handshake_done);

// An alert received from the peer: no_application_protocol and protocol_version keep their own
// codes, every other one is alert_received; the detail names it ("handshake_failure (40)").
Error received_alert_error(int alert, bool fatal, int gnutls_code, std::string_view note = {});

// The alert to send for a failed certificate verification, from the verification status.
gnutls_alert_description_t alert_for_verify_status(unsigned status) noexcept;

// "handshake_failure (40)": the RFC name of an alert and its number.
std::string alert_text(int alert);

}  // namespace connmatrix::tls::gtls
