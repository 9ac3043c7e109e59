/* curl_peer: libcurl as the peer of bench_client in bench/run.sh, with the same shapes and the
 * same output line, so the two can be compared in one run.
 *
 *   curl_peer multi URL CA_FILE N M   N requests over one h2 connection (CURLPIPE_MULTIPLEX,
 *                                     CURLMOPT_MAX_HOST_CONNECTIONS 1), M in flight
 *   curl_peer easy  URL CA_FILE N     N requests one after another on one reused easy handle
 *   curl_peer setup URL CA_FILE N     N new connections (TCP + full TLS handshake + the first
 *                                     response each: FRESH_CONNECT, FORBID_REUSE, no session
 *                                     cache), one after another
 *                                     Only CA_FILE is trusted (CURLOPT_CAPATH off).
 *   curl_peer version                 libcurl's version line (curl_version())
 *
 * Prints one line: "requests=N failed=F seconds=S req_per_s=R cpu_us_per_req=C p50_us=P
 * p99_us=Q protocol=h2". One warm-up request (not counted) opens the connection first in multi
 * and easy; in setup a "request" is a connection. CPU is getrusage(RUSAGE_SELF) user + sys over
 * the timed part. The exit status is 0 only when every response was a 200 over HTTP/2. */
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static size_t discard(char* data, size_t size, size_t nmemb, void* user) {
    (void)data;
    (void)user;
    return size * nmemb;
}

static int cmp_long(const void* a, const void* b) {
    const long x = *(const long*)a, y = *(const long*)b;
    return (x > y) - (x < y);
}

/* The results of a timed run, printed as one line. */
struct tally {
    long n, failed, count;
    long* latencies_us;
    double t0, cpu0;
};

static void tally_start(struct tally* t, long n) {
    t->n = n;
    t->failed = 0;
    t->count = 0;
    t->latencies_us = calloc((size_t)(n > 0 ? n : 1), sizeof(long));
    if (!t->latencies_us) {
        fprintf(stderr, "curl_peer: out of memory\n");
        exit(3);
    }
    t->cpu0 = cpu_s();
    t->t0 = now_s();
}

static int tally_print(struct tally* t) {
    const double secs = now_s() - t->t0;
    const double cpu = cpu_s() - t->cpu0;
    qsort(t->latencies_us, (size_t)t->count, sizeof(long), cmp_long);
    const long p50 = t->count ? t->latencies_us[(size_t)(0.5 * (double)(t->count - 1))] : 0;
    const long p99 = t->count ? t->latencies_us[(size_t)(0.99 * (double)(t->count - 1))] : 0;
    printf("requests=%ld failed=%ld seconds=%.3f req_per_s=%.0f cpu_us_per_req=%.1f p50_us=%ld "
           "p99_us=%ld protocol=h2\n",
           t->n, t->failed, secs, (double)t->n / secs, cpu * 1e6 / (double)(t->n > 0 ? t->n : 1),
           p50, p99);
    free(t->latencies_us);
    return t->failed == 0 && t->count == t->n ? 0 : 1;
}

/* Whether a finished transfer was a 200 over HTTP/2. */
static int ok(CURL* h, CURLcode rc) {
    long status = 0, version = 0;
    if (rc != CURLE_OK) {
        fprintf(stderr, "curl_peer: %s\n", curl_easy_strerror(rc));
        return 0;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version);
    if (status != 200 || version != CURL_HTTP_VERSION_2_0) {
        fprintf(stderr, "curl_peer: status %ld, HTTP version %ld (want 200 over h2)\n", status, version);
        return 0;
    }
    return 1;
}

static CURL* make_easy(const char* url, const char* ca) {
    CURL* h = curl_easy_init();
    if (!h) {
        fprintf(stderr, "curl_peer: curl_easy_init failed\n");
        exit(3);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    /* Only CA_FILE, as bench_client: without this, libcurl on GnuTLS also loads every
     * certificate of Debian's default CA path (/etc/ssl/certs) for each new connection. */
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    return h;
}

static int run_easy(const char* url, const char* ca, long n, int fresh) {
    CURL* h = make_easy(url, ca);
    if (fresh) {
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    } else if (!ok(h, curl_easy_perform(h))) { /* warm-up: opens the connection */
        curl_easy_cleanup(h);
        return 1;
    }
    struct tally t;
    tally_start(&t, n);
    for (long i = 0; i < n; ++i) {
        const double t0 = now_s();
        if (!ok(h, curl_easy_perform(h))) ++t.failed;
        t.latencies_us[t.count++] = (long)((now_s() - t0) * 1e6);
    }
    const int rc = tally_print(&t);
    curl_easy_cleanup(h);
    return rc;
}

static int run_multi(const char* url, const char* ca, long n, long m) {
    CURLM* multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
    curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, m > 100 ? m : 100L);
    if (m > n) m = n;
    if (m < 1) m = 1;
    CURL** handles = calloc((size_t)m, sizeof(CURL*));
    double* started = calloc((size_t)m, sizeof(double));
    if (!handles || !started) {
        fprintf(stderr, "curl_peer: out of memory\n");
        return 3;
    }
    for (long i = 0; i < m; ++i) {
        handles[i] = make_easy(url, ca);
        curl_easy_setopt(handles[i], CURLOPT_PIPEWAIT, 1L);
        curl_easy_setopt(handles[i], CURLOPT_PRIVATE, (void*)(size_t)i);
    }
    /* Warm-up: one request on the first handle opens the connection the others then share. */
    int warm_ok = 0, running = 1;
    curl_multi_add_handle(multi, handles[0]);
    while (running) {
        curl_multi_perform(multi, &running);
        if (running) curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    for (CURLMsg* msg; (msg = curl_multi_info_read(multi, &running)) != NULL;)
        if (msg->msg == CURLMSG_DONE) warm_ok = ok(msg->easy_handle, msg->data.result);
    curl_multi_remove_handle(multi, handles[0]);
    int rc = 1;
    if (warm_ok) {
        struct tally t;
        tally_start(&t, n);
        long launched = 0;
        for (long i = 0; i < m; ++i, ++launched) {
            started[i] = now_s();
            curl_multi_add_handle(multi, handles[i]);
        }
        running = 1;
        while (t.count < n) {
            curl_multi_perform(multi, &running);
            int queued = 0;
            for (CURLMsg* msg; (msg = curl_multi_info_read(multi, &queued)) != NULL;) {
                if (msg->msg != CURLMSG_DONE) continue;
                CURL* h = msg->easy_handle;
                const CURLcode result = msg->data.result;
                void* priv = NULL;
                curl_easy_getinfo(h, CURLINFO_PRIVATE, &priv);
                const size_t i = (size_t)priv;
                if (!ok(h, result)) ++t.failed;
                t.latencies_us[t.count++] = (long)((now_s() - started[i]) * 1e6);
                curl_multi_remove_handle(multi, h);
                if (launched < n) {
                    ++launched;
                    started[i] = now_s();
                    curl_multi_add_handle(multi, h);
                }
            }
            if (t.count < n) curl_multi_poll(multi, NULL, 0, 1000, NULL);
        }
        rc = tally_print(&t);
    }
    for (long i = 0; i < m; ++i) curl_easy_cleanup(handles[i]);
    free(handles);
    free(started);
    curl_multi_cleanup(multi);
    return rc;
}

int main(int argc, char** argv) {
    if (argc == 2 && strcmp(argv[1], "version") == 0) {
        printf("%s\n", curl_version());
        return 0;
    }
    const int multi = argc == 6 && strcmp(argv[1], "multi") == 0;
    const int easy = argc == 5 && strcmp(argv[1], "easy") == 0;
    const int setup = argc == 5 && strcmp(argv[1], "setup") == 0;
    if (!multi && !easy && !setup) {
        fprintf(stderr,
                "usage: %s multi URL CA_FILE N M | easy URL CA_FILE N | setup URL CA_FILE N | version\n",
                argv[0]);
        return 2;
    }
    if (!(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2)) {
        fprintf(stderr, "curl_peer: this libcurl has no HTTP/2\n");
        return 3;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const long n = atol(argv[4]);
    const int rc = multi ? run_multi(argv[2], argv[3], n, atol(argv[5]))
                         : run_easy(argv[2], argv[3], n, setup);
    curl_global_cleanup();
    return rc;
}
