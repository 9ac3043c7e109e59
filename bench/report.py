#!/usr/bin/env python3
"""Writes DIR/RESULTS.md and its gnuplot charts from what bench/run.sh measured and left in
DIR (standard library only): RESULTS.tsv (the rows), RESULTS.meta (machine, versions, times:
key=value lines) and RESULTS.commands (the first round's commands). Every number it writes
comes from those files; nothing is typed in here, so `bench/report.py bench` rewrites
bench/RESULTS.md and the charts from the committed run.

Rows, tab-separated: section peer backend mode key m round req_per_s cpu_us_per_req
p50_us p99_us server_cpu_percent.
"""
import argparse
import collections
import os
import statistics
import subprocess
import sys

SERVER_BOUND = 90  # % of the wall time the server was busy: at or above, its rate is the server's


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            rows.append({
                "section": p[0], "peer": p[1], "backend": p[2], "mode": p[3], "key": p[4],
                "m": int(p[5]), "round": int(p[6]), "rps": float(p[7]), "cpu": float(p[8]),
                "p50": float(p[9]), "p99": float(p[10]), "srv": float(p[11]),
            })
    return rows


def medians(rows):
    groups = collections.OrderedDict()
    for r in rows:
        groups.setdefault((r["section"], r["peer"], r["backend"], r["mode"], r["key"], r["m"]), []).append(r)
    out = collections.OrderedDict()
    for k, rs in groups.items():
        out[k] = {
            "rps": statistics.median(r["rps"] for r in rs),
            "cpu": statistics.median(r["cpu"] for r in rs),
            "p50": statistics.median(r["p50"] for r in rs),
            "p99": statistics.median(r["p99"] for r in rs),
            "srv": max(r["srv"] for r in rs),
            "rounds": len(rs),
            "rps_all": [r["rps"] for r in rs],
        }
    return out


def ratio(a, b):
    return "%.2f" % (a / b) if a and b else "-"


def label(peer, backend):
    return peer if backend == "-" else "%s %s" % (peer, backend)


def fmt_rate(x):
    return "%.1f k" % (x / 1000) if x >= 1000 else "%.0f" % x


def srv_cell(srv):
    return "%.0f%%%s" % (srv, " **server-bound**" if srv >= SERVER_BOUND else "")


def throughput_tables(med, ms):
    lines = []
    for m in ms:
        base = med.get(("throughput", "h2load", "-", "-", "ec", m))
        curl = med.get(("throughput", "curl_peer multi", "-", "-", "ec", m))
        lines += ["", "#### %d in flight" % m, "",
                  "| client | req/s (per round) | / h2load | / libcurl multi | CPU µs/req | CPU / h2load | CPU / libcurl multi | p50 / p99 µs | server CPU |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for k, v in med.items():
            if k[0] != "throughput" or k[5] != m:
                continue
            lat = "-" if k[1] == "h2load" else "%.0f / %.0f" % (v["p50"], v["p99"])
            lines.append("| %s | %s (%s) | %s | %s | %.1f | %s | %s | %s | %s |" % (
                label(k[1], k[2]), fmt_rate(v["rps"]), ", ".join(fmt_rate(x) for x in v["rps_all"]),
                ratio(v["rps"], base["rps"]) if base else "-",
                ratio(v["rps"], curl["rps"]) if curl else "-",
                v["cpu"], ratio(v["cpu"], base["cpu"]) if base else "-",
                ratio(v["cpu"], curl["cpu"]) if curl else "-", lat, srv_cell(v["srv"])))
    return lines


def sequential_table(med):
    curl = med.get(("throughput", "curl_peer easy", "-", "-", "ec", 1))
    lines = ["| client | p50 µs | p99 µs | p50 / libcurl easy | p99 / libcurl easy | CPU µs/req | CPU / libcurl easy |",
             "|---|---|---|---|---|---|---|"]
    for k, v in med.items():
        if k[0] == "throughput" and k[5] == 1 and (k[1].endswith(" easy") or k[1].endswith(" blocking")):
            lines.append("| %s | %.0f | %.0f | %s | %s | %.1f | %s |" % (
                label(k[1], k[2]), v["p50"], v["p99"],
                ratio(v["p50"], curl["p50"]) if curl else "-",
                ratio(v["p99"], curl["p99"]) if curl else "-",
                v["cpu"], ratio(v["cpu"], curl["cpu"]) if curl else "-"))
    return lines


def same_tls_curl(med, backend, key):
    peer = {"openssl": "curl_peer", "gnutls": "curl_peer_gnutls"}.get(backend)
    return med.get(("setup", peer, "-", "alpn", key, 1)) if peer else None


def setup_tables(med, keys):
    lines = []
    for key in keys:
        lines += ["", "#### %s server key" % {"ec": "ECDSA P-256", "rsa": "RSA 2048"}[key], "",
                  "| client | server | mode | wall p50 / p99 ms | CPU µs/conn | wall p50 / libcurl (same TLS) | CPU / libcurl (same TLS) | server CPU |",
                  "|---|---|---|---|---|---|---|---|"]
        for k, v in med.items():
            if k[0] != "setup" or k[4] != key:
                continue
            if k[2] == "-":
                name, server, ref = k[1], "nghttpd", None
            else:
                name, server = "connmatrix " + k[2], k[1].split("/")[1]
                ref = same_tls_curl(med, k[2], key)
            lines.append("| %s | %s | %s | %.2f / %.2f | %.0f | %s | %s | %s |" % (
                name, server, k[3], v["p50"] / 1000, v["p99"] / 1000, v["cpu"],
                ratio(v["p50"], ref["p50"]) if ref else "-",
                ratio(v["cpu"], ref["cpu"]) if ref else "-", srv_cell(v["srv"])))
    return lines


def charts(med, ms, out):
    """gnuplot SVGs: requests/s and CPU/request against concurrency; setup per backend x mode."""
    data = os.path.join(out, ".charts")
    os.makedirs(data, exist_ok=True)
    series = [k for k in med if k[0] == "throughput" and not k[1].endswith((" easy", " blocking"))]
    names = []
    for k in series:
        name = label(k[1], k[2])
        if name not in names:
            names.append(name)
    files = []
    for i, name in enumerate(names):
        fn = os.path.join(data, "tp%d.dat" % i)
        with open(fn, "w") as f:
            for m in ms:
                for k, v in med.items():
                    if k[0] == "throughput" and k[5] == m and label(k[1], k[2]) == name:
                        f.write("%d %f %f\n" % (m, v["rps"], v["cpu"]))
        files.append((fn, name))
    setup_fn = os.path.join(data, "setup.dat")
    with open(setup_fn, "w") as f:
        for k, v in med.items():
            if k[0] == "setup" and k[4] == "ec":
                name = k[1] if k[2] == "-" else "%s %s (%s)" % (k[2], k[3], k[1].split("/")[1])
                f.write('"%s" %f %f\n' % (name, v["cpu"], v["p50"]))
    common = 'set terminal svg size 900,520 dynamic noenhanced font "sans,12"\nset grid\nset key outside right\n'
    plot_tp = ", ".join('"%s" using 1:%%d with linespoints title "%s"' % (fn, name) for fn, name in files)
    script = common + (
        'set output "%s"\nset logscale x\nset xtics (1, 10, 100)\nset xlabel "requests in flight (one h2 connection)"\n'
        'set ylabel "requests/s"\nset title "Throughput, one warm connection"\nplot %s\n'
        'set output "%s"\nset ylabel "client CPU µs per request"\nset logscale y\n'
        'set title "Client CPU per request (user + sys)"\nplot %s\n'
        'unset logscale\nset output "%s"\nset style data histograms\nset style histogram clustered gap 1\n'
        'set style fill solid 0.8 border -1\nset xtics rotate by -40 scale 0 font ",9"\nset xlabel ""\n'
        'set ylabel "µs per connection"\nset title "Connection setup: TCP + full TLS handshake + first response (ECDSA key)"\n'
        'set bmargin 12\nplot "%s" using 2:xtic(1) title "client CPU", "" using 3 title "wall p50"\n'
    ) % (os.path.join(out, "throughput.svg"), plot_tp % tuple([2] * len(files)),
         os.path.join(out, "cpu.svg"), plot_tp % tuple([3] * len(files)),
         os.path.join(out, "setup.svg"), setup_fn)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    for fn, _ in files:
        os.remove(fn)
    os.remove(setup_fn)
    os.rmdir(data)
    for svg in ("throughput.svg", "cpu.svg", "setup.svg"):
        path = os.path.join(out, svg)
        if not os.path.exists(path) or os.path.getsize(path) < 1000:
            sys.exit("report.py: %s was not written" % path)


def main():
    ap = argparse.ArgumentParser(description="RESULTS.md and charts from bench/run.sh's files")
    ap.add_argument("dir", help="the directory with RESULTS.tsv, RESULTS.meta, RESULTS.commands")
    d = ap.parse_args().dir
    rows = parse(os.path.join(d, "RESULTS.tsv"))
    with open(os.path.join(d, "RESULTS.meta")) as f:
        meta = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    with open(os.path.join(d, "RESULTS.commands")) as f:
        commands = [line.rstrip("\n") for line in f]
    a = argparse.Namespace(out=d, command=meta["command"], total_seconds=meta["total_seconds"])
    med = medians(rows)
    ms = sorted({k[5] for k in med if k[0] == "throughput"})
    keys = [k for k in ("ec", "rsa") if any(x[0] == "setup" and x[4] == k for x in med)]
    curls = [k for k in meta if k.startswith("curl_peer")]
    md = [
        "# Benchmark results",
        "",
        "Written by `%s`; every number below comes from that one run, whose rows are in" % a.command,
        "RESULTS.tsv (`bench/report.py bench` rewrites this file and the charts from them). Compare",
        "ratios within this run, never absolute numbers across runs or machines. How to read it,",
        "and what each peer is: [README.md](README.md).",
        "",
        "## Machine and run",
        "",
        "| | |", "|---|---|",
        "| CPUs | %s × %s |" % (meta["nproc"], meta["cpu"]),
        "| kernel | %s |" % meta["kernel"],
        "| load average (1, 5, 15 min) | %s at the start, %s at the end |" % (meta["load_start"], meta["load_end"]),
        "| pinning | %s |" % meta["pinning"],
        "| rounds | %s (medians; the peers alternate within each round) |" % meta["rounds"],
        "| requests per throughput run | %s with 1 in flight, %s with 10 and 100 (after one warm-up request or `warm()`) |" % (meta["n"], int(meta["n"]) * 10),
        "| connections per setup run | %s |" % meta["setup_n"],
        "| time | build %s s, measurements %s s, whole run %s s |" % (meta["build_seconds"], meta["bench_seconds"], a.total_seconds),
        "",
        "## Versions",
        "",
        "| | |", "|---|---|",
        "| connmatrix | %s, buildtype %s, backends %s |" % (meta["connmatrix"], meta["buildtype"], meta["backends"]),
        "| compiler | %s |" % meta["compiler"],
        "| server | %s; %s (prior-knowledge rows) |" % (meta["nghttpd"], meta["stunnel"]),
        "| h2load | %s |" % meta["h2load"],
        "| libnghttp2, OpenSSL, GnuTLS, mbedTLS (Debian) | %s, %s, %s, %s |" % (meta["libnghttp2"], meta["openssl"], meta["gnutls"], meta["mbedtls"]),
    ] + ["| %s | %s |" % (c, meta[c]) for c in curls] + [
        "| gnuplot | %s |" % meta["gnuplot"],
        "",
        "## Throughput over one warm h2 connection",
        "",
        "Requests/s and the client's CPU per request (user + sys of the whole client process over",
        "the timed part, all its threads; h2load's is its process's, taken by its parent, less that",
        "of the same command with -n 1: its start-up).",
        "Ratios against h2load (nghttp2's own client: the floor) and libcurl multi (OpenSSL), medians.",
        "Server CPU: the largest share of the wall time nghttpd was busy in any round; at %d%% or" % SERVER_BOUND,
        "more the row measures the server. Latency: from the call to the callback (or return).",
        "",
        "![requests/s against requests in flight](throughput.svg)",
        "![client CPU per request against requests in flight](cpu.svg)",
    ] + throughput_tables(med, ms) + [
        "",
        "## Sequential latency (1 in flight, blocking)",
        "",
        "connmatrix's blocking `send()` against libcurl easy with one reused handle, one request",
        "after another on one warm connection.",
        "",
    ] + sequential_table(med) + [
        "",
        "## Connection setup",
        "",
        "One after another, each a new TCP connection, a full TLS handshake (resumption off; libcurl",
        "without its session cache) and the first response. Mode prior-knowledge sends no ALPN, which",
        "nghttpd refuses; those rows run against stunnel (no ALPN) in front of nghttpd --no-tls, with",
        "prior-knowledge-alpn there too for comparison. libcurl uses ALPN against nghttpd. CPU per",
        "connection: the client process's user + sys over the run / connections. mbedTLS has no",
        "libcurl build in Debian to compare with.",
        "",
        "![connection setup per backend and mode](setup.svg)",
    ] + setup_tables(med, keys) + [
        "",
        "## Commands",
        "",
        "As run in the first round (each pinned as shown; URLs on ports picked at start):",
        "",
        "```",
    ] + commands + ["```", ""]
    with open(os.path.join(a.out, "RESULTS.md"), "w") as f:
        f.write("\n".join(md))
    charts(med, ms, a.out)


if __name__ == "__main__":
    main()
