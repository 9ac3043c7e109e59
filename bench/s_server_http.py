#!/usr/bin/env python3
"""Answers HTTP/1.1 through `openssl s_server -early_data`, for bench/zero_rtt.sh.

OpenSSL 3.0's s_server takes early data only in its default mode ("Can't use -early_data in
combination with -www, -WWW, -HTTP, or -rev"): there it writes what a client sends on its
stdout (early data after a line "Early data received:", up to "End of early data") and sends
what it reads on its stdin to the client. This runs s_server so, reads its stdout, and for each
request head it sees (up to the empty line; the bench sends GETs without a body) writes a 200
answer on its stdin, whose body says whether that request came as early data: "early=1\\n" or
"early=\\n", as nginx_early's $ssl_early_data does. TLS, the tickets and early data are all
s_server's; only the HTTP answer is written here. s_server serves one connection at a time.

usage: s_server_http.py PORT CERT KEY [more s_server arguments]
Prints "listening 127.0.0.1:PORT" once s_server accepts. Ends with s_server (SIGTERM ends both).
"""
import os
import re
import signal
import subprocess
import sys

EARLY_START = b"Early data received:\n"
EARLY_END = b"\nEnd of early data\n"
REQUEST = re.compile(rb"(GET|HEAD|OPTIONS) \S+ HTTP/1\.1\r\n.*?\r\n\r\n", re.S)


def answer(early):
    body = b"early=1\n" if early else b"early=\n"
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)) + body


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.split("\n\n")[-2])
    port, cert, key = sys.argv[1:4]
    # stdbuf -o0: s_server prints its own lines through stdio (buffered when stdout is a pipe)
    # and what it receives with write(2); unbuffered, "Early data received:" comes before the
    # early bytes, as on a terminal.
    cmd = ["stdbuf", "-o0", "openssl", "s_server", "-accept", "127.0.0.1:" + port, "-cert", cert,
           "-key", key, "-early_data"] + sys.argv[4:]
    server = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    # $S_SERVER_HTTP_LOG=FILE: everything s_server printed, for seeing what it did.
    log = open(os.environ["S_SERVER_HTTP_LOG"], "ab") if os.environ.get("S_SERVER_HTTP_LOG") else None
    buf = b""
    early = False
    announced = False
    out = server.stdout.fileno()
    while True:
        chunk = os.read(out, 65536)
        if not chunk:
            break
        buf += chunk
        if log:
            log.write(chunk)
            log.flush()
        if not announced and b"ACCEPT\n" in buf:
            print("listening 127.0.0.1:" + port, flush=True)
            announced = True
        # Consume markers and complete request heads in the order they appear.
        while True:
            found = [(buf.find(EARLY_START), "start"), (buf.find(EARLY_END), "end")]
            m = REQUEST.search(buf)
            if m:
                found.append((m.start(), "request"))
            found = [f for f in found if f[0] >= 0]
            if not found:
                # Keep what may still become a marker or a request head.
                buf = buf[-4096:]
                break
            at, what = min(found)
            if what == "start":
                early = True
                buf = buf[at + len(EARLY_START):]
            elif what == "end":
                early = False
                buf = buf[at + len(EARLY_END):]
            else:
                server.stdin.write(answer(early))
                server.stdin.flush()
                buf = buf[m.end():]
    sys.exit(server.wait())


if __name__ == "__main__":
    main()
