/* LD_PRELOAD shim for servers that cannot be told which address to listen on (gnutls-serv
 * binds the wildcard addresses of getaddrinfo(NULL, port, AI_PASSIVE), IPv4 and IPv6).
 * A passive lookup without a host name is answered for 127.0.0.1 only, so the server listens
 * on IPv4 loopback and nowhere else. Built by tests/interop/servers.sh into its state dir. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    typedef int (*real_t)(const char *, const char *, const struct addrinfo *,
                          struct addrinfo **);
    real_t real = (real_t)dlsym(RTLD_NEXT, "getaddrinfo");
    if (node == NULL && hints != NULL && (hints->ai_flags & AI_PASSIVE)) {
        struct addrinfo h;
        memcpy(&h, hints, sizeof h);
        h.ai_family = AF_INET;
        h.ai_flags &= ~AI_PASSIVE;
        h.ai_flags |= AI_NUMERICHOST;
        return real("127.0.0.1", service, &h, res);
    }
    return real(node, service, hints, res);
}
