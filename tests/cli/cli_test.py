#!/usr/bin/python3
"""Tests of the connmatrix command-line tool, run as a user runs it: the built binary, its exit
codes, stdout and stderr.

    cli_test.py GROUP --connmatrix PATH --source-root DIR --backends openssl,gnutls --default-backend openssl

GROUP is one of: usage_errors, check_config, explain, version, retry (its own HTTP server on
127.0.0.1 that fails on purpose; no other network), and probe_json, probe_expect, probe_junit,
probe_html (renders its pages in headless Chromium), probe_timeout, get_against_servers,
curl_flags (get's curl flags and every -w variable), mutual_tls (starts its own openssl s_server
and nginx that require a client certificate), probe_agrees_with_interop (also needs
--interop-expect PATH), which need the interop servers: run them under
tests/interop/with-servers.sh (it sets $CONNMATRIX_FIXTURE_DIR). Every check
prints what it checked; the first failure prints the command, its exit code and output, and
exits 1.
"""
import argparse
import base64
import collections
import hashlib
import html.parser
import json
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

MODES = ["alpn", "h2-only", "http1", "prior-knowledge", "prior-knowledge-alpn",
         "h2-only-prior-knowledge"]
RESULT_FIELDS = ["backend", "mode", "alpn_offered", "alpn_selected", "protocol", "status",
                 "error", "tls_version", "handshake_ms", "tls_max", "resumed", "early_data",
                 "certificate_expires", "h2_settings"]
EXIT = {"ok": 0, "check_failed": 1, "usage": 2, "config": 3, "net": 4, "tls": 5,
        "protocol": 6, "http": 7, "local_io": 8}


class Ctx:
    def __init__(self, args):
        self.exe = args.connmatrix
        self.root = pathlib.Path(args.source_root)
        self.backends = [b for b in args.backends.split(",") if b]
        self.default_backend = args.default_backend
        self.interop_expect = args.interop_expect
        self.man_page = args.man_page
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="connmatrix-cli-test."))
        self.checks = 0
        self.fixture = {}
        fdir = os.environ.get("CONNMATRIX_FIXTURE_DIR")
        if fdir:
            for line in (pathlib.Path(fdir) / "servers.env").read_text().splitlines():
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    self.fixture[k] = v

    def run(self, *argv, env=None, timeout=60, input=None):
        e = dict(os.environ)
        e.pop("CONNMATRIX_CONFIG", None)
        e.pop("CONNMATRIX_LOG", None)
        e["NO_COLOR"] = "1"
        if env:
            e.update(env)
        t0 = time.monotonic()
        p = subprocess.run([self.exe, *argv], capture_output=True, text=True, env=e,
                           timeout=timeout, input=input)
        p.seconds = time.monotonic() - t0
        return p

    def check(self, cond, what, p=None):
        self.checks += 1
        if cond:
            print(f"ok   {what}")
            return
        print(f"FAIL {what}")
        if p is not None:
            print(f"  command: {' '.join(map(str, p.args))}")
            print(f"  exit code: {p.returncode}")
            print("  stdout:\n" + indent(p.stdout))
            print("  stderr:\n" + indent(p.stderr))
        sys.exit(1)

    def expect_exit(self, p, code, what):
        self.check(p.returncode == code, f"{what}: exit {code} (got {p.returncode})", p)

    def one_line_error(self, p, what, must_contain):
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        self.check(len(lines) == 1, f"{what}: one line on stderr", p)
        self.check(lines[0].startswith("connmatrix: "), f"{what}: the line starts with 'connmatrix: '", p)
        self.check(must_contain in lines[0], f"{what}: stderr says {must_contain!r}", p)
        self.check("terminate called" not in p.stderr and "Traceback" not in p.stderr,
                   f"{what}: no crash text", p)

    def url(self, server, path="hello.txt"):
        return self.fixture[server.upper() + "_URL"] + path

    def probe_json(self, server, *extra, path="hello.txt"):
        p = self.run("probe", "--json", "--cacert", self.fixture["CA_FILE"], *extra, self.url(server, path))
        self.expect_exit(p, 0, f"probe --json {server}")
        try:
            doc = json.loads(p.stdout)
        except json.JSONDecodeError as e:
            self.check(False, f"probe --json {server}: stdout is JSON ({e})", p)
        return p, doc

    def write(self, name, obj):
        path = self.tmp / name
        path.write_text(json.dumps(obj, indent=2) if not isinstance(obj, str) else obj)
        return str(path)


def indent(text):
    return "\n".join("    " + l for l in text.splitlines()[-60:])


def cell(doc, backend, mode):
    for r in doc["results"]:
        if r["backend"] == backend and r["mode"] == mode:
            return r
    return None


# --- groups that need no server --------------------------------------------------------------

def usage_errors(c):
    p = c.run()
    c.expect_exit(p, EXIT["usage"], "no command")
    c.check("get" in p.stderr and "probe" in p.stderr, "no command: the help lists the commands", p)

    p = c.run("get", "--no-such-flag", "https://example.com/")
    c.expect_exit(p, EXIT["usage"], "unknown flag")
    c.one_line_error(p, "unknown flag", "--no-such-flag")

    p = c.run("probe", "--frobnicate", "https://example.com/")
    c.expect_exit(p, EXIT["usage"], "unknown probe flag")
    c.one_line_error(p, "unknown probe flag", "--frobnicate")

    for url, says in [("ftp://example.com/", "use http:// or https://"),
                      ("https://", "bad URL"),
                      ("https://exa mple.com/", "bad URL")]:
        for cmd in ("get", "probe", "explain"):
            p = c.run(cmd, url)
            c.expect_exit(p, EXIT["usage"], f"{cmd} {url!r}")
            c.one_line_error(p, f"{cmd} {url!r}", says)

    p = c.run("get", "--backend", "wolfssl", "https://example.com/")
    c.expect_exit(p, EXIT["usage"], "unknown backend")
    c.one_line_error(p, "unknown backend", 'unknown backend "wolfssl"')
    c.check(all(b in p.stderr for b in c.backends), "unknown backend: lists the compiled ones", p)
    for b in {"openssl", "gnutls", "mbedtls"} - set(c.backends):
        p = c.run("probe", "--backends", b, "https://example.com/")
        c.expect_exit(p, EXIT["usage"], f"backend {b} not compiled in")
        c.one_line_error(p, f"backend {b} not compiled in", "not compiled into this build")

    p = c.run("get", "--mode", "fast", "https://example.com/")
    c.expect_exit(p, EXIT["usage"], "unknown mode")
    c.one_line_error(p, "unknown mode", 'unknown mode "fast"')
    p = c.run("probe", "--modes", "alpn,h3", "https://example.com/")
    c.expect_exit(p, EXIT["usage"], "unknown mode in --modes")
    c.one_line_error(p, "unknown mode in --modes", 'unknown mode "h3"')
    p = c.run("probe", "--modes", "config", "https://example.com/")
    c.expect_exit(p, EXIT["usage"], "--modes config without a configuration")

    for args, says in [(["get", "-n", "0"], "--repeat"), (["get", "--timeout", "soon"], "--timeout"),
                       (["get", "-H", "no colon"], "Name: value"),
                       (["get", "--proxy", "socks5://127.0.0.1:1080"], "--proxy"),
                       (["get", "--cacert", str(c.tmp / "missing.pem")], "--cacert"),
                       (["get", "--pinnedpubkey", "/etc/server-key.pem"], "not a key file"),
                       (["probe", "--pinnedpubkey", "sha256//AAAA"], "decodes to 3"),
                       (["get", "--pinnedpubkey",
                         "sha256//" + "A" * 43 + "=;sha256//" + "A" * 42 + "!="], "not base64")]:
        p = c.run(*args, "https://example.com/")
        c.expect_exit(p, EXIT["usage"], " ".join(args))
        c.one_line_error(p, " ".join(args), says)

    # curl's flags: conflicting ones name both; those connmatrix lacks say so (not "unknown").
    for args, says in [(["--http1.1", "--http2-prior-knowledge"], "--http1.1 and --http2-prior-knowledge"),
                       (["--http2", "--http1.1"], "--http1.1 and --http2"),
                       (["--http2-prior-knowledge", "--mode", "alpn"], "--http2-prior-knowledge and --mode alpn"),
                       (["--mode", "http1", "--http1.1"], "--http1.1 and --mode http1"),
                       (["--tlsv1.2", "--tlsv1.3"], "--tlsv1.2 and --tlsv1.3"),
                       (["--tlsv1.3", "--tls-max", "1.2"], "--tls-max 1.2 is below --tlsv1.3"),
                       (["--no-alpn", "--mode", "h2-only"], "--no-alpn and --mode h2-only"),
                       (["-L"], "-L/--location: not supported: connmatrix does not follow redirects"),
                       (["--location"], "-L/--location: not supported"),
                       (["--max-redirs", "5"], "--max-redirs: not supported"),
                       (["--compressed"], "--compressed: not supported: connmatrix does not decode"),
                       (["-s", "-L"], "-L/--location: not supported")]:
        p = c.run("get", *args, "https://127.0.0.1:1/")
        c.expect_exit(p, EXIT["usage"], "get " + " ".join(args))
        c.one_line_error(p, "get " + " ".join(args), says)
    p = c.run("get", "-w", "@" + str(c.tmp / "missing-format.txt"), "https://127.0.0.1:1/")
    c.expect_exit(p, EXIT["local_io"], "get -w @FILE, FILE missing")
    c.one_line_error(p, "get -w @FILE, FILE missing", "missing-format.txt: cannot read the file")
    # Configuration problems: exit 3, before any network.
    p = c.run("get", "--config", str(c.tmp / "missing.json"), "https://127.0.0.1:1/")
    c.expect_exit(p, EXIT["config"], "unreadable --config")
    c.one_line_error(p, "unreadable --config", "missing.json")
    bad = c.root / "tests/configs/invalid/many-errors.json"
    p = c.run("get", "--config", str(bad), "https://127.0.0.1:1/")
    c.expect_exit(p, EXIT["config"], "invalid --config")
    c.check("defaults.mode" in p.stderr and "hosts[2].tsl" in p.stderr,
            "invalid --config: every error with its JSON path", p)
    p = c.run("explain", "https://example.com/", env={"CONNMATRIX_CONFIG": str(bad)})
    c.expect_exit(p, EXIT["config"], "invalid $CONNMATRIX_CONFIG")
    p = c.run("probe", "--expect", str(c.tmp / "missing.json"), "https://127.0.0.1:1/")
    c.expect_exit(p, EXIT["config"], "unreadable --expect")

    # The network: nothing listens on port 1.
    p = c.run("get", "https://127.0.0.1:1/")
    c.expect_exit(p, EXIT["net"], "connection refused")
    c.one_line_error(p, "connection refused", "net:connect_failed")
    p = c.run("probe", "--backends", c.backends[0], "--modes", "alpn", "https://127.0.0.1:1/")
    c.expect_exit(p, EXIT["net"], "probe of an unreachable server")

    # -k is loud, even when the request then fails.
    p = c.run("get", "-k", "https://127.0.0.1:1/")
    c.check("WARNING" in p.stderr and "verification is OFF" in p.stderr, "-k: a loud warning", p)

    p = c.run("get", "--help")
    c.expect_exit(p, 0, "get --help")
    c.check("Examples:" in p.stdout and "Exit codes" in p.stdout, "get --help has examples and exit codes", p)
    for cmd in ("probe", "explain", "check-config"):
        p = c.run(cmd, "--help")
        c.check(p.returncode == 0 and "Examples:" in p.stdout, f"{cmd} --help has examples", p)


def check_config(c):
    configs = sorted(f for f in (c.root / "configs").glob("*.json") if f.name != "connmatrix.schema.json")
    c.check(len(configs) >= 3, "configs/ has the example configurations")
    p = c.run("check-config", "--all-backends", *map(str, configs))
    c.expect_exit(p, 0, "check-config configs/*.json")
    for f in configs:
        c.check(f"{f}: ok" in p.stdout, f"check-config: {f.name} ok", p)
    p = c.run("check-config", str(c.root / "configs/default.json"))
    c.expect_exit(p, 0, "check-config default.json against this build's backends")

    expectations = json.loads((c.root / "tests/configs/invalid-expectations.json").read_text())
    invalid = sorted((c.root / "tests/configs/invalid").glob("*.json"))
    c.check(len(invalid) >= 10, "tests/configs/invalid/ has the invalid configurations")
    for f in invalid:
        p = c.run("check-config", "--all-backends", str(f))
        c.expect_exit(p, EXIT["check_failed"], f"check-config {f.name}")
        want = expectations[f.name]["error"]
        line = re.compile(re.escape(str(f)) + r":\d+:\d+: " + re.escape(want))
        c.check(line.search(p.stdout) is not None,
                f"check-config {f.name}: FILE:LINE:COLUMN: {want.split(':')[0]}: ...", p)

    # Several files: every error of every file, exit 1 if any is invalid.
    many = c.root / "tests/configs/invalid/many-errors.json"
    p = c.run("check-config", "--all-backends", str(c.root / "configs/default.json"), str(many))
    c.expect_exit(p, EXIT["check_failed"], "check-config valid + invalid")
    n = len([l for l in p.stdout.splitlines() if l.startswith("  " + str(many) + ":")])
    c.check(n == 7, f"check-config many-errors.json: all 7 errors listed (got {n})", p)
    c.check("\x1b[" not in p.stdout, "check-config: no colour when stdout is not a terminal", p)

    p = c.run("check-config")
    c.expect_exit(p, EXIT["usage"], "check-config without a file")


EXPLAIN_CONFIG = {
    "description": "explain test",
    "defaults": {"mode": "alpn", "timeouts": {"connect": "3s"}, "on_http11_required": "fail"},
    "hosts": [
        {"match": "*.example.com", "description": "all of example.com over HTTP/1.1", "mode": "http1"},
        {"match": "api.example.com:8443", "description": "the API: h2 or nothing", "mode": "h2-only"},
    ],
}


def explain(c):
    cfg = c.write("explain.json", EXPLAIN_CONFIG)
    p = c.run("explain", "--config", cfg, "https://api.example.com:8443/v1")
    c.expect_exit(p, 0, "explain")
    c.check("origin  https://api.example.com:8443" in p.stdout, "explain: the origin", p)
    c.check("hosts[1] (api.example.com:8443): the API: h2 or nothing" in p.stdout,
            "explain: the winning rule and its description", p)
    c.check("also matches hosts[0] (*.example.com)" in p.stdout, "explain: the less specific rule", p)
    c.check(re.search(r"^mode\s+h2-only\s+hosts\[1\]", p.stdout, re.M) is not None,
            "explain: mode h2-only from hosts[1]", p)
    c.check(re.search(r"^timeouts\.connect\s+3s\s+defaults", p.stdout, re.M) is not None,
            "explain: timeouts.connect from defaults", p)
    c.check(re.search(r"^on_http11_required\s+fail\s+defaults$", p.stdout, re.M) is not None,
            "explain: on_http11_required from defaults", p)

    p = c.run("explain", "--json", "--config", cfg, "https://api.example.com:8443/v1")
    c.expect_exit(p, 0, "explain --json")
    doc = json.loads(p.stdout)
    c.check(set(doc) >= {"url", "origin", "config", "rule", "also_matched", "settings"},
            "explain --json: the documented fields", p)
    c.check(doc["origin"] == {"scheme": "https", "host": "api.example.com", "port": 8443},
            "explain --json: origin", p)
    c.check(doc["rule"]["index"] == 1 and doc["rule"]["match"] == "api.example.com:8443",
            "explain --json: rule", p)
    c.check(doc["settings"]["mode"]["value"] == "h2-only" and
            doc["settings"]["mode"]["source_kind"] == "rule", "explain --json: mode and its source", p)
    c.check(doc["settings"]["alpn"]["value"] == ["h2"], "explain --json: alpn from the mode", p)
    c.check(doc["settings"]["on_http11_required"] == {"value": "fail", "source": "defaults",
                                                      "source_kind": "defaults", "used": True},
            "explain --json: on_http11_required and its source", p)
    c.check(doc["settings"]["backend"]["value"] == c.default_backend,
            "explain --json: the build's default backend", p)

    p = c.run("explain", "https://www.example.com/", env={"CONNMATRIX_CONFIG": cfg})
    c.expect_exit(p, 0, "explain with $CONNMATRIX_CONFIG")
    c.check("hosts[0] (*.example.com)" in p.stdout, "explain: $CONNMATRIX_CONFIG is used", p)
    p = c.run("explain", "https://www.example.com/")
    c.check("none matches: defaults apply" in p.stdout and "<built-in>" in p.stdout,
            "explain without a configuration: the built-in defaults", p)


def version(c):
    p = c.run("--version")
    c.expect_exit(p, 0, "--version")
    c.check(p.stdout.startswith("connmatrix "), "--version: the version first", p)
    for b in c.backends:
        c.check(re.search(rf"^  {b}\s+\S.*\d", p.stdout, re.M) is not None,
                f"--version: {b} with its library version", p)
    for b in {"openssl", "gnutls", "mbedtls"} - set(c.backends):
        c.check(re.search(rf"^  {b}\b", p.stdout, re.M) is None, f"--version: no {b} (not built)", p)
    c.check(f"default backend: {c.default_backend}" in p.stdout, "--version: the default backend", p)



# --- the manual page and the bash completion ------------------------------------------------------

COMMANDS = ["get", "probe", "explain", "check-config"]


def help_flags(c):
    """Every flag each command's --help lists ("" for connmatrix itself), as CLI11 prints them:
    option lines of the Options: section, "-X,--request METHOD"."""
    flags = {}
    for cmd in [""] + COMMANDS:
        p = c.run(*([cmd] if cmd else []), "--help")
        c.expect_exit(p, 0, f"connmatrix {cmd} --help")
        section, found = None, set()
        for line in p.stdout.splitlines():
            if line and not line.startswith(" "):
                section = line.rstrip(":")
                continue
            m = re.match(r"^  (-[^\s]+)", line)
            if section == "Options" and m:
                found.update(m.group(1).split(","))
        c.check(len(found) >= 2 and "--help" in found, f"connmatrix {cmd} --help: its flags parsed ({len(found)})", p)
        flags[cmd] = found
    return flags


def man_page(c):
    c.check(bool(c.man_page), "--man-page names the built connmatrix.1")
    page = pathlib.Path(c.man_page)
    source = page.read_text()
    c.check("@VERSION@" not in source and re.search(r'^\.TH CONNMATRIX 1 "" "connmatrix \d+\.\d+\.\d+"', source, re.M),
            "connmatrix.1: .TH with the version filled in by the build")
    groff = shutil.which("groff")
    c.check(groff is not None, "groff is installed (scripts/deps.sh installs groff-base)")
    r = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", str(page)], capture_output=True, text=True)
    c.check(r.returncode == 0 and r.stderr == "", f"groff -man -ww renders connmatrix.1 without a warning:\n{r.stderr}")
    r = subprocess.run([groff, "-man", "-Tascii", "-P-cbou", str(page)], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C"))
    text = r.stdout
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "GET OPTIONS", "PROBE OPTIONS", "WRITE-OUT",
                    "ENVIRONMENT", "EXIT STATUS", "EXAMPLES", "SEE ALSO"]:
        c.check(re.search(rf"^{section}$", text, re.M) is not None, f"connmatrix(1) renders a {section} section")
    for cmd in COMMANDS:
        c.check(f"connmatrix {cmd}" in text, f"connmatrix(1): the synopsis of {cmd}")
    # Every flag of every --help is described: written \-\-flag in roff.
    plain = re.sub(r"\\f[BIRP]", "", source).replace("\\-", "-")
    for cmd, flags in help_flags(c).items():
        for f in sorted(flags):
            c.check(re.search(rf"(?<![\w-]){re.escape(f)}(?![\w.-])", plain) is not None,
                    f"connmatrix(1) describes {cmd or 'connmatrix'} {f}")
    # Every -w variable and exit code.
    p = c.run("get", "-w", "%{json}", "https://127.0.0.1:1/")
    names = list(json.loads(p.stdout))
    c.check(len(names) > 20, f"-w %{{json}} names the variables ({len(names)})", p)
    readme = (c.root / "README.md").read_text()
    for n in names:
        c.check(re.search(rf"^\.(B|BR) .*\b{n}\b", source, re.M) is not None, f"connmatrix(1) describes %{{{n}}}")
        c.check(f"`{n}`" in readme, f"README.md lists %{{{n}}}")
    for code in range(9):
        c.check(re.search(rf"^\.B {code}$", source, re.M) is not None, f"connmatrix(1): exit status {code}")


def completion(c):
    script = (c.root / "tools" / "connmatrix.bash").resolve()

    def complete(*words):
        """The completions bash offers after `connmatrix WORDS` (the last word is the one being
        completed), with the completion function itself, as bash calls it."""
        quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in (c.exe,) + words)
        prog = (f"source '{script}'\n"
                "complete -p connmatrix >/dev/null || exit 3\n"
                f"COMP_WORDS=({quoted}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMPREPLY=()\n"
                "_connmatrix; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], capture_output=True, text=True,
                           env=dict(os.environ, LC_ALL="C"), cwd=c.tmp)
        c.check(r.returncode == 0 and r.stderr == "", f"completing {' '.join(words)!r}: runs ({r.stderr})")
        return [l for l in r.stdout.splitlines() if l]

    def check(words, want, exact=True):
        got = complete(*words)
        ok = sorted(got) == sorted(want) if exact else set(want) <= set(got)
        c.check(ok, f"connmatrix {' '.join(words)}<TAB> -> {' '.join(want)} (got {' '.join(got)})")

    check([""], COMMANDS)
    check(["ch"], ["check-config"])
    check(["get", "--http2"], ["--http2", "--http2-prior-knowledge"])
    check(["get", "--ret"], ["--retry", "--retry-delay", "--retry-max-time", "--retry-connrefused",
                              "--retry-all-errors"])
    # --mode values are connmatrix's modes, as the unknown-mode error lists them.
    p = c.run("get", "--mode", "?", "https://127.0.0.1:1/")
    modes = re.search(r"\(modes: ([^)]*)\)", p.stderr).group(1).split(", ")
    c.check(len(modes) >= 6, f"the modes, from the error ({', '.join(modes)})", p)
    check(["get", "--mode", ""], modes)
    check(["get", "--mode", "=", "h2"], [m for m in modes if m.startswith("h2")])
    check(["probe", "--modes", "alpn,pr"], ["alpn," + m for m in modes if m.startswith("pr")])
    # --backend: the backends this binary was built with.
    check(["get", "--backend", ""], c.backends)
    check(["probe", "--backends", c.backends[0] + ","], [c.backends[0] + "," + b for b in c.backends])
    check(["get", "--tls-max", ""], ["1.2", "1.3"])
    (c.tmp / "policy-a.json").write_text("{}")
    (c.tmp / "policy-b.json").write_text("{}")
    check(["get", "--config", "policy-"], ["policy-a.json", "policy-b.json"])
    check(["check-config", "policy-"], ["policy-a.json", "policy-b.json"])
    check(["get", "-H", ""], [])
    # Every flag of every --help completes, and nothing else does.
    for cmd, flags in help_flags(c).items():
        got = set(complete(*([cmd] if cmd else []), "-"))
        c.check(got == flags, f"connmatrix {cmd} -<TAB>: exactly the flags of its --help "
                              f"(missing {sorted(flags - got)}, extra {sorted(got - flags)})")


# --- groups that need the interop servers -----------------------------------------------------

def need_fixture(c):
    c.check(bool(c.fixture), "the interop servers are up ($CONNMATRIX_FIXTURE_DIR, set by with-servers.sh)")


def probe_json(c):
    need_fixture(c)
    p, doc = c.probe_json("nginx_h2")
    c.check(list(doc) == ["url", "results"], "probe --json: top-level fields url, results", p)
    c.check(doc["url"] == c.url("nginx_h2"), "probe --json: url", p)
    c.check(len(doc["results"]) == len(c.backends) * len(MODES),
            f"probe --json: one result per backend x mode ({len(c.backends)} x {len(MODES)})", p)
    for r in doc["results"]:
        c.check(list(r) == RESULT_FIELDS, f"probe --json: {r['backend']} {r['mode']}: exactly the fields "
                                          + ", ".join(RESULT_FIELDS), p)
    # The leaf's notAfter as the openssl command reads it, the h2 SETTINGS nginx sends.
    pem = pathlib.Path(c.fixture["CA_FILE"]).parent / "localhost-ec.pem"
    end = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", str(pem)], capture_output=True,
                         text=True, check=True).stdout.strip().split("=", 1)[1]
    want_expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.strptime(end, "%b %d %H:%M:%S %Y GMT"))
    for r in doc["results"]:
        if r["tls_version"]:
            c.check(r["certificate_expires"] == want_expiry,
                    f"probe --json: {r['backend']} {r['mode']}: certificate_expires {want_expiry}", p)
        c.check(r["resumed"] is None, f"probe --json: {r['backend']} {r['mode']}: resumed null without --resumption", p)
        c.check(r["early_data"] is None, f"probe --json: {r['backend']} {r['mode']}: early_data null without --resumption", p)
        c.check((r["h2_settings"] is not None) == (r["protocol"] == "h2"),
                f"probe --json: {r['backend']} {r['mode']}: h2_settings exactly on h2 cells", p)
        if r["h2_settings"]:
            c.check(r["h2_settings"]["max_concurrent_streams"] == 128 and
                    r["h2_settings"]["initial_window_size"] == 65536,
                    f"probe --json: {r['backend']} {r['mode']}: nginx's SETTINGS (128 streams, 64 KiB window)", p)
    p, res = c.probe_json("nginx_h2", "--resumption", "--modes", "alpn,http1", "--tls", "1.2,1.3")
    for r in res["results"]:
        c.check(r["resumed"] is True,
                f"probe --resumption: {r['backend']} {r['mode']} tls{r['tls_max']}: the second connection resumed", p)
    # --tls-earlydata --resumption against nginx_early (ssl_early_data on): the second connection's
    # first flight carries the request where the backend has TLS 1.3 early data; mbedTLS 2.28 (no
    # TLS 1.3) refuses the policy when its Client starts, as that cell's error (a cell's error is
    # a result, not a failure of probe: it exits 0, in an mbedTLS-only build too).
    early_probe(c)

    p = c.run("probe", "-v", "--resumption", "--modes", "alpn", "--cacert", c.fixture["CA_FILE"], c.url("nginx_h2"))
    c.expect_exit(p, 0, "probe -v --resumption")
    c.check("resumed" in p.stdout.splitlines()[1] and f"certificate expires {want_expiry}" in p.stdout and
            "h2 SETTINGS max_concurrent_streams 128" in p.stdout,
            "probe -v --resumption: a resumed column, the expiry and the SETTINGS", p)
    for b in c.backends:
        r = cell(doc, b, "alpn")
        c.check(r["alpn_offered"] == ["h2", "http/1.1"] and r["alpn_selected"] == "h2" and
                r["protocol"] == "h2" and r["status"] == 200 and r["error"] is None and
                r["tls_version"] in ("TLSv1.2", "TLSv1.3") and isinstance(r["handshake_ms"], (int, float)),
                f"nginx_h2 {b} alpn: h2 by ALPN, 200", p)
        r = cell(doc, b, "http1")
        c.check(r["alpn_selected"] == "http/1.1" and r["protocol"] == "http/1.1", f"nginx_h2 {b} http1", p)
        r = cell(doc, b, "prior-knowledge")
        c.check(r["alpn_offered"] == [] and r["alpn_selected"] is None and r["protocol"] is None and
                r["status"] is None and r["error"] == "http2:not_h2",
                f"nginx_h2 {b} prior-knowledge: nginx answers the h2 preface with HTTP/1.1 400", p)
        r = cell(doc, b, "h2-only-prior-knowledge")
        c.check(r["alpn_offered"] == ["h2"] and r["alpn_selected"] == "h2" and r["protocol"] == "h2" and
                r["status"] == 200, f"nginx_h2 {b} h2-only-prior-knowledge: h2 by ALPN", p)
        c.check(all(x["tls_max"] == "1.3" for x in doc["results"]),
                "probe --json: tls_max is the policy's (1.3) without --tls", p)

    # --tls 1.2,1.3: a cell per backend x mode x version, each capped at its version.
    p, doc = c.probe_json("nginx_h2", "--modes", "alpn", "--tls", "1.2,1.3")
    c.check(len(doc["results"]) == len(c.backends) * 2, "probe --tls 1.2,1.3: two cells per backend x mode", p)
    for b in c.backends:
        got = {x["tls_max"]: x for x in doc["results"] if x["backend"] == b}
        c.check(set(got) == {"1.2", "1.3"}, f"probe --tls: {b} has a 1.2 and a 1.3 cell", p)
        if "1.2" in got:
            c.check(got["1.2"]["tls_version"] == "TLSv1.2" and got["1.2"]["status"] == 200,
                    f"probe --tls: {b} tls_max 1.2 negotiates TLSv1.2", p)
    p = c.run("probe", "--tls", "1.1", "--cacert", c.fixture["CA_FILE"], c.url("nginx_h2"))
    c.expect_exit(p, 2, "probe --tls 1.1: a usage error")

    p, doc = c.probe_json("h1_noalpn")
    for b in c.backends:
        r = cell(doc, b, "alpn")
        c.check(r["alpn_selected"] is None and r["protocol"] == "http/1.1" and r["status"] == 200,
                f"h1_noalpn {b} alpn: no ALPN answer -> HTTP/1.1", p)
        r = cell(doc, b, "h2-only")
        c.check(r["error"] == "negotiate:h2_required_but_no_alpn" and r["tls_version"] is not None and
                r["handshake_ms"] is not None,
                f"h1_noalpn {b} h2-only: refused by the policy after a completed handshake", p)
        r = cell(doc, b, "prior-knowledge-alpn")
        c.check(r["protocol"] == "http/1.1" and r["status"] == 200,
                f"h1_noalpn {b} prior-knowledge-alpn: falls back to HTTP/1.1", p)

    p, doc = c.probe_json("h2_noalpn")
    for b in c.backends:
        for mode in ("prior-knowledge", "prior-knowledge-alpn"):
            r = cell(doc, b, mode)
            c.check(r["alpn_selected"] is None and r["protocol"] == "h2" and r["status"] == 200,
                    f"h2_noalpn {b} {mode}: h2 without ALPN", p)

    p, doc = c.probe_json("nginx_h1", "--modes", "h2-only", "--backends", c.backends[0])
    r = doc["results"]
    c.check(len(r) == 1 and r[0]["error"] == "tls:no_application_protocol" and r[0]["tls_version"] is None,
            "nginx_h1 h2-only (--backends/--modes subset): no_application_protocol alert", p)

    # The table: a header and one line per cell.
    p = c.run("probe", "--cacert", c.fixture["CA_FILE"], c.url("nginx_h2"))
    c.expect_exit(p, 0, "probe (table)")
    lines = p.stdout.splitlines()
    c.check(lines[1].split()[:3] == ["backend", "mode", "ALPN"] and len(lines) == 2 + len(c.backends) * len(MODES),
            "probe: a table with a header and one row per cell", p)
    c.check("\x1b[" not in p.stdout, "probe: no colour when stdout is not a terminal", p)

    # With a configuration: its other settings apply, and the "config" column is its own choice.
    cfg = c.write("probe-config.json", {
        "defaults": {"tls": {"ca_file": c.fixture["CA_FILE"]}},
        "hosts": [{"match": "127.0.0.1:" + c.fixture["H2_NOALPN_PORT"], "mode": "prior-knowledge"}]})
    p = c.run("probe", "--json", "--config", cfg, "--backends", c.backends[0], c.url("h2_noalpn"))
    c.expect_exit(p, 0, "probe --config")
    doc = json.loads(p.stdout)
    c.check([r["mode"] for r in doc["results"]] == MODES + ["config"],
            "probe --config: every mode, then the configuration's own", p)
    c.check(cell(doc, c.backends[0], "config")["protocol"] == "h2" and
            cell(doc, c.backends[0], "alpn")["protocol"] is None,
            "probe --config: the host rule applies in the config column only", p)
    c.check(all(r["tls_version"] is not None for r in doc["results"]),
            "probe --config: its tls.ca_file applies to every cell (every handshake verified)", p)



def early_probe(c):
    p, res = c.probe_json("nginx_early", "--resumption", "--tls-earlydata", "--modes", "alpn,http1", path="")
    for r in res["results"]:
        if r["backend"] == "mbedtls":
            c.check(r["error"] == "tls:unsupported" and r["early_data"] is None,
                    f"probe --tls-earlydata: mbedtls {r['mode']}: tls:unsupported", p)
        else:
            c.check(r["status"] == 200 and r["resumed"] is True and r["early_data"] == "accepted",
                    f"probe --tls-earlydata: {r['backend']} {r['mode']}: the resumed connection's early data accepted", p)
    p = c.run("probe", "--resumption", "--tls-earlydata", "--modes", "alpn", "--cacert", c.fixture["CA_FILE"],
              c.url("nginx_early", ""))
    c.check("0-RTT" in p.stdout.splitlines()[1] and ("accepted" in p.stdout) == any(b != "mbedtls" for b in c.backends),
            "probe --tls-earlydata --resumption: a 0-RTT column, accepted", p)
    p, res = c.probe_json("nginx_early", "--resumption", "--modes", "alpn", path="")
    c.check(all(r["early_data"] is None for r in res["results"]),
            "probe --resumption without early data on: early_data null", p)


def expected_matrix(c):
    """What the h1_noalpn server gives, for every backend: the interop README's row."""
    results = []
    for b in c.backends:
        results += [
            {"backend": b, "mode": "alpn", "protocol": "http/1.1", "alpn_selected": None, "status": 200},
            {"backend": b, "mode": "h2-only", "error": "negotiate:h2_required_but_no_alpn"},
            {"backend": b, "mode": "http1", "protocol": "http/1.1", "error": None},
            {"backend": b, "mode": "prior-knowledge", "protocol": None, "error": "http2:not_h2"},
            {"backend": b, "mode": "prior-knowledge-alpn", "protocol": "http/1.1", "status": 200},
        ]
    return {"url": "h1_noalpn", "results": results}


def probe_expect(c):
    need_fixture(c)
    ca = c.fixture["CA_FILE"]
    good = expected_matrix(c)
    # A backend this build lacks is noted, not failed: one expected file serves every build.
    good["results"].append({"backend": "wolfssl", "mode": "alpn", "protocol": "h2"})
    path = c.write("expect-good.json", good)
    p = c.run("probe", "--cacert", ca, "--expect", path, c.url("h1_noalpn"))
    c.expect_exit(p, 0, "probe --expect (matching)")
    c.check("differ" not in p.stderr, "probe --expect (matching): no difference reported", p)
    c.check("wolfssl alpn not compared" in p.stderr, "probe --expect: a backend not built is a note", p)

    # Claim that prior knowledge works on the HTTP/1.1-only server: wrong in every backend.
    bad = expected_matrix(c)
    for r in bad["results"]:
        if r["mode"] == "prior-knowledge":
            r["protocol"] = "h2"
            r["error"] = None
    path = c.write("expect-bad.json", bad)
    p = c.run("probe", "--cacert", ca, "--expect", path, c.url("h1_noalpn"))
    c.expect_exit(p, EXIT["check_failed"], "probe --expect (mismatch)")
    c.check(f"{len(c.backends)} cell(s) differ" in p.stderr, "probe --expect: counts the differing cells", p)
    for b in c.backends:
        c.check(re.search(rf'^  {b} prior-knowledge: protocol: expected "h2", got null; '
                          rf'error: expected null, got "http2:not_h2"$', p.stderr, re.M) is not None,
                f"probe --expect: lists {b} prior-knowledge with each differing field", p)
    listed = [l for l in p.stderr.splitlines() if l.startswith("  ")]
    c.check(len(listed) == len(c.backends), "probe --expect: only the differing cells are listed", p)
    # --json still prints the results on stdout; the differences go to stderr.
    p = c.run("probe", "--json", "--cacert", ca, "--expect", path, c.url("h1_noalpn"))
    c.expect_exit(p, EXIT["check_failed"], "probe --json --expect (mismatch)")
    json.loads(p.stdout)

    # Only the fields given are compared: a cell with no fields always matches.
    path = c.write("expect-empty-cells.json", {"results": [{"backend": c.backends[0], "mode": "h2-only"}]})
    p = c.run("probe", "--cacert", ca, "--expect", path, c.url("h1_noalpn"))
    c.expect_exit(p, 0, "probe --expect with no fields to compare")

    # A typo in a field name is an error in the expected file, not a silent pass.
    path = c.write("expect-typo.json", {"results": [{"backend": c.backends[0], "mode": "alpn", "protcol": "h2"}]})
    p = c.run("probe", "--cacert", ca, "--expect", path, c.url("h1_noalpn"))
    c.expect_exit(p, EXIT["config"], "probe --expect with an unknown field")
    c.check("results[0].protcol: unknown field" in p.stderr, "probe --expect: names the unknown field", p)


def probe_junit(c):
    need_fixture(c)
    ca = c.fixture["CA_FILE"]
    bad = expected_matrix(c)
    bad["results"][0]["protocol"] = "h2"  # first backend, mode alpn
    path = c.write("expect-junit.json", bad)
    xml_path = c.tmp / "probe.xml"
    p = c.run("probe", "--cacert", ca, "--expect", path, "--junit", str(xml_path), c.url("h1_noalpn"))
    c.expect_exit(p, EXIT["check_failed"], "probe --junit --expect (one mismatch)")
    root = ET.parse(xml_path).getroot()
    c.check(root.tag == "testsuites", "junit: <testsuites> root", p)
    cases = root.findall("./testsuite/testcase")
    c.check(len(cases) == len(c.backends) * len(MODES), f"junit: one testcase per cell ({len(cases)})", p)
    names = {tc.get("name") for tc in cases}
    c.check(names == {f"{b} {m}" for b in c.backends for m in MODES}, "junit: testcases named backend mode", p)
    failed = [tc.get("name") for tc in cases if tc.find("failure") is not None]
    c.check(failed == [f"{c.backends[0]} alpn"], f"junit: exactly the differing cell fails ({failed})", p)
    suite = root.find("testsuite")
    c.check(suite.get("tests") == str(len(cases)) and suite.get("failures") == "1",
            "junit: tests and failures counts", p)
    fail = next(tc for tc in cases if tc.find("failure") is not None).find("failure")
    c.check('protocol: expected "h2", got "http/1.1"' in fail.text, "junit: the failure says what differs", p)
    c.check(all(float(tc.get("time")) >= 0 for tc in cases), "junit: each testcase has a time", p)

    # Without --expect: every cell passes, outcomes are in system-out.
    p = c.run("probe", "--cacert", ca, "--junit", str(xml_path), c.url("h1_noalpn"))
    c.expect_exit(p, 0, "probe --junit")
    root = ET.parse(xml_path).getroot()
    c.check(not root.findall(".//failure"), "junit without --expect: no failures", p)
    out = [tc.findtext("system-out") for tc in root.findall(".//testcase")]
    c.check(all(o and o.startswith("outcome: ") for o in out), "junit: each cell's outcome in system-out", p)

    p = c.run("probe", "--cacert", ca, "--junit", str(c.tmp / "no-such-dir" / "x.xml"), c.url("h1_noalpn"))
    c.expect_exit(p, EXIT["local_io"], "probe --junit to an unwritable path")


# --- probe --html, rendered by headless Chromium -----------------------------------------------

# The <td> class for an outcome: a success by protocol, an error by its category.
HTML_ERROR_CLASSES = {"negotiate": "refused-by-policy", "tls": "tls-error", "net": "network-error",
                      "http2": "http2-error", "http1": "http1-error", "pool": "pool-error",
                      "config": "config-error", "internal": "internal-error"}
HTML_OUTCOMES = ["h2", "http1", "fallback", *HTML_ERROR_CLASSES.values(), "other-error"]


def html_class(protocol, error, fell_back):
    if error is None:
        return "h2" if protocol == "h2" else ("fallback" if fell_back else "http1")
    return HTML_ERROR_CLASSES.get(error.split(":")[0], "other-error")


class PageDom(html.parser.HTMLParser):
    """What the checks read from a page's DOM: every <td> (attributes, text), the table headers,
    the legend's entries, the style sheet, the <h2> headings."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells, self.headers, self.legend, self.h2s = [], [], [], []
        self.style = ""
        self._td = self._th = self._h2 = None
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if self._h2 is not None:
            self._h2[1].append(tag)
        if tag == "td":
            self._td = {"attrs": a, "text": "", "marker": ""}
            self.cells.append(self._td)
        elif tag == "th":
            self._th = [a, ""]
            self.headers.append(self._th)
        elif tag == "li" and "data-outcome" in a:
            self.legend.append(a["data-outcome"])
        elif tag == "h2":
            self._h2 = ["", []]  # its text, the tags inside it
            self.h2s.append(self._h2)
        elif tag == "style":
            self._in_style = True
        elif tag == "span" and self._td is not None and a.get("class") == "marker":
            self._td["marker"] = None  # filled by the text that follows

    def handle_endtag(self, tag):
        if tag == "td":
            self._td = None
        elif tag == "th":
            self._th = None
        elif tag == "h2":
            self._h2 = None
        elif tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._td is not None:
            self._td["text"] += data
            if self._td["marker"] is None:
                self._td["marker"] = data
        if self._th is not None:
            self._th[1] += data
        if self._h2 is not None:
            self._h2[0] += data
        if self._in_style:
            self.style += data


class Chromium:
    """Headless Chromium, bounded in time, in a network namespace of its own where one can be
    made (root: unshare -n; else unshare -rn), so it could not reach the network if it tried:
    the pages are local files with nothing to fetch."""

    def __init__(self, c):
        self.c = c
        self.exe = shutil.which("chromium") or shutil.which("chromium-browser")
        c.check(self.exe is not None, "chromium is installed (test.sh installs it: scripts/deps.sh chromium)")
        self.prefix = []
        for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
            if shutil.which("unshare") and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
                self.prefix = prefix
                break
        print(f"note chromium {self.exe} runs {'under ' + ' '.join(self.prefix) if self.prefix else 'without a network namespace (none could be made)'}")
        self.profile = c.tmp / "chromium-profile"
        self.seconds = []

    def run(self, page, *args):
        argv = [*self.prefix, self.exe, "--headless", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--force-color-profile=srgb", "--hide-scrollbars",
                f"--user-data-dir={self.profile}", *args, pathlib.Path(page).resolve().as_uri()]
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.c.check(False, f"chromium {' '.join(args)} {page}: done within 90 s")
        self.seconds.append(time.monotonic() - t0)
        self.c.check(p.returncode == 0, f"chromium {' '.join(args)} {pathlib.Path(page).name}: exit 0", p)
        return p

    def dom(self, page):
        p = self.run(page, "--dump-dom")
        self.c.check("<td" in p.stdout, f"chromium --dump-dom {pathlib.Path(page).name}: a DOM with cells", p)
        dom = PageDom()
        dom.feed(p.stdout)
        return dom

    def screenshot(self, page, png, width, height):
        self.run(page, f"--screenshot={png}", f"--window-size={width},{height}")
        return pathlib.Path(png)


def png_rgb_counts(path, rows):
    """The PNG's size and how many pixels of each colour its first `rows` rows have (8-bit RGB or
    RGBA, not interlaced: what Chromium writes), decoded with zlib alone."""
    data = pathlib.Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("no PNG signature")
    pos, idat, head = 8, [], None
    while pos + 8 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    width, height, depth, ctype, _, _, interlace = head
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"unexpected PNG format: depth {depth}, colour type {ctype}, interlace {interlace}")
    bpp = 3 if ctype == 2 else 4
    stride = width * bpp
    raw = zlib.decompressobj().decompress(b"".join(idat), (stride + 1) * min(rows, height))
    counts = collections.Counter()
    prev = bytearray(stride)
    for y in range(min(rows, height)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, cc = prev[i], (prev[i - bpp] if i >= bpp else 0)
                pa, pb, pc = abs(b - cc), abs(a - cc), abs(a + b - 2 * cc)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else cc)) & 255
        counts.update(bytes(line[i:i + 3]).hex() for i in range(0, stride, bpp))
        prev = line
    return width, height, counts


def table_rows_of(stdout):
    """The text table: {(backend, mode, tls max): {column: value}}, from a --html run without --json."""
    lines = [l for l in stdout.splitlines() if l.strip()]
    header = re.split(r"\s{2,}", lines[1].strip())
    rows = {}
    for line in lines[2:]:
        values = re.split(r"\s{2,}", line.removesuffix("  <- differs from --expect").strip())
        if len(values) != len(header):
            return None  # not the table: the caller's check fails
        row = dict(zip(header, values))
        rows[(row["backend"], row["mode"].split(" ")[0], row.get("TLS max", ""))] = row
    return rows


def page_cells(c, dom, what, p):
    """The page's cells by (backend, mode, TLS axis); each key once."""
    cells = {}
    for td in dom.cells:
        a = td["attrs"]
        c.check({"data-backend", "data-mode", "data-tls-max", "data-tls-axis", "data-outcome", "title"} <= set(a),
                f"{what}: every <td> has data-backend, data-mode, data-tls-max, data-tls-axis, data-outcome and a title", p)
        key = (a["data-backend"], a["data-mode"], a["data-tls-axis"])
        c.check(key not in cells, f"{what}: one <td> for {' '.join(key)}", p)
        cells[key] = td
    return cells


def check_page_against_table(c, dom, rows, what, p, tls_axis):
    cells = page_cells(c, dom, what, p)
    c.check(len(cells) == len(rows) and rows, f"{what}: one <td> per row of the table ({len(rows)})", p)
    for (backend, mode, tls), row in rows.items():
        name = f"{what}: {backend} {mode}{' tls' + tls if tls else ''}"
        td = cells.get((backend, mode, tls if tls_axis else ""))
        c.check(td is not None, f"{name}: on the page", p)
        title = td["attrs"]["title"].split("\n")
        outcome = row["outcome"]
        ok = outcome.startswith("ok ")
        error = None if ok else outcome.split(": ")[0]
        want = html_class(row["protocol"], error, "fell back to http/1.1" in outcome)
        c.check(td["attrs"]["class"].split()[0] == want and td["attrs"]["data-outcome"] == want,
                f"{name}: class {want} ({outcome})", p)
        c.check(f"outcome: {outcome}" in title, f"{name}: the outcome in the title", p)
        for column, value in row.items():
            if column in ("backend", "mode", "outcome", "handshake"):
                continue
            c.check(f"{column}: {value}" in title, f"{name}: '{column}: {value}' in the title", p)
        hs = row["handshake"]
        c.check(f"handshake_ms: {hs[:-3] if hs != '-' else '-'}" in title,
                f"{name}: handshake_ms in the title ({hs})", p)
        c.check(any(re.fullmatch(r"seconds: \d+\.\d{3}", l) for l in title), f"{name}: seconds in the title", p)
        c.check((error or f"{row['protocol']} {outcome.split()[1]}") in td["text"],
                f"{name}: the cell shows {error or row['protocol']}", p)
    return cells


def check_page_against_json(c, dom, doc, what, p, fallbacks):
    cells = page_cells(c, dom, what, p)
    results = doc["results"]
    c.check(len(cells) == len(results), f"{what}: one <td> per --json cell ({len(results)})", p)
    on_axis = any(k[2] for k in cells)  # a --tls axis: the cells' tls_max is their version
    for r in results:
        axis = r["tls_max"] if on_axis else ""
        name = f"{what}: {r['backend']} {r['mode']}{' tls' + axis if axis else ''}"
        td = cells.get((r["backend"], r["mode"], axis))
        c.check(td is not None, f"{name}: on the page", p)
        a, title = td["attrs"], td["attrs"]["title"].split("\n")
        want = html_class(r["protocol"], r["error"], (r["backend"], r["mode"], axis) in fallbacks)
        c.check(a["class"].split()[0] == want and a["data-outcome"] == want,
                f"{name}: class {want} (protocol {r['protocol']}, error {r['error']}; got {a['class']!r})", p)
        c.check(a["data-tls-max"] == (r["tls_max"] or ""), f"{name}: data-tls-max {r['tls_max']}", p)
        hs = "-" if r["handshake_ms"] is None else json.dumps(r["handshake_ms"])
        c.check(f"handshake_ms: {hs}" in title, f"{name}: handshake_ms {hs} in the title", p)
        if r["tls_max"] is not None:
            c.check(f"TLS max: {r['tls_max']}" in title, f"{name}: TLS max in the title", p)
        if r["error"] is not None:
            c.check(f"error: {r['error']}" in title and any(l.startswith("detail: ") for l in title),
                    f"{name}: the error and its full text in the title", p)
            c.check(r["error"] in td["text"], f"{name}: the cell shows {r['error']}", p)
        else:
            c.check(f"{r['protocol']} {r['status']}" in td["text"], f"{name}: the cell shows {r['protocol']} {r['status']}", p)
        if r["resumed"] is not None:
            c.check(f"resumed: {'yes' if r['resumed'] else 'no'}" in title, f"{name}: resumed in the title", p)
        if r["certificate_expires"] is not None:
            c.check(f"certificate expires: {r['certificate_expires']}" in title, f"{name}: the expiry in the title", p)
    return cells


def check_page_basics(c, page, dom, url, what):
    raw = pathlib.Path(page).read_text()
    for pattern in (r"<script", r"<link", r"<img", r"<iframe", r"\bsrc\s*=", r"\bhref\s*=", r"url\(", r"@import"):
        c.check(re.search(pattern, raw, re.I) is None, f"{what}: self-contained (no {pattern!r})")
    c.check([h[0] for h in dom.h2s][0] == f"probe {url}", f"{what}: the URL as text in the heading")
    used = {td["attrs"]["data-outcome"] for td in dom.cells}
    c.check(set(HTML_OUTCOMES) <= set(dom.legend),
            f"{what}: the legend lists every outcome ({', '.join(sorted(set(HTML_OUTCOMES) - set(dom.legend))) or 'all there'})")
    fills = dict(re.findall(r"\.([a-z0-9-]+) \{ --fill: #([0-9a-f]{6});", dom.style))
    c.check(used <= set(fills) and len(set(fills[k] for k in HTML_OUTCOMES)) == len(HTML_OUTCOMES),
            f"{what}: each outcome has a colour of its own", None)
    return fills


def probe_html(c):
    """probe --html: the page Chromium renders has every cell of the table and of --json, with its
    outcome as class; a screenshot of it shows the outcomes' colours."""
    need_fixture(c)
    ca = c.fixture["CA_FILE"]
    chrome = Chromium(c)

    # 1. The table and the page from one run; --expect marks the cells that differ. The URL has
    #    characters HTML must escape.
    url = c.url("h1_noalpn", "hello.txt?q=<b>x</b>&r=\"'")
    bad = expected_matrix(c)
    for r in bad["results"]:
        if r["mode"] == "prior-knowledge":
            r["protocol"], r["error"] = "h2", None
    expect = c.write("expect-html.json", bad)
    page = c.tmp / "h1_noalpn.html"
    p = c.run("probe", "--cacert", ca, "--expect", expect, "--html", str(page), url)
    c.expect_exit(p, EXIT["check_failed"], "probe --html --expect (mismatch)")
    rows = table_rows_of(p.stdout)
    c.check(rows is not None, "probe --html: the table on stdout", p)
    dom = chrome.dom(page)
    fills = check_page_basics(c, page, dom, url, "h1_noalpn page")
    c.check(dom.h2s[0][1] == ["code"], "h1_noalpn page: the URL's <b> is text, not an element")
    cells = check_page_against_table(c, dom, rows, "h1_noalpn page", p, False)
    differing = {}
    for line in p.stderr.splitlines():
        m = re.match(r"^  (\S+) (\S+): (.*)$", line)
        if m:
            differing[(m[1], m[2], "")] = m[3].split("; ")
    c.check(len(differing) == len(c.backends), f"h1_noalpn: {len(c.backends)} cells differ on stderr", p)
    compared = {(r["backend"], r["mode"], "") for r in bad["results"]}
    for key, td in cells.items():
        classes, title = td["attrs"]["class"].split(), td["attrs"]["title"].split("\n")
        if key in differing:
            c.check("unexpected" in classes and td["marker"] == "\u2260 expected",
                    f"h1_noalpn page: {' '.join(key[:2])}: class unexpected and a visible marker", p)
            for d in differing[key]:
                c.check(f"differs from --expect: {d}" in title, f"h1_noalpn page: {' '.join(key[:2])}: {d!r} in the title", p)
        else:
            c.check("unexpected" not in classes and not any(l.startswith("differs") for l in title),
                    f"h1_noalpn page: {' '.join(key[:2])}: not marked", p)
            c.check(("as-expected" in classes) == (key in compared),
                    f"h1_noalpn page: {' '.join(key[:2])}: as-expected exactly when compared", p)
    c.check(any(td["attrs"]["data-outcome"] == "fallback" for td in cells.values()),
            "h1_noalpn page: the fallback cells are there (prior-knowledge-alpn)", p)

    # The screenshot: the size asked for, and the colours of the outcomes on the page in it.
    png = chrome.screenshot(page, c.tmp / "h1_noalpn.png", 1280, 720)
    size = png.stat().st_size if png.exists() else 0
    c.check(size > 20_000, f"screenshot: a PNG of {size} bytes (> 20 KB)")
    width, height, counts = png_rgb_counts(png, 460)
    c.check((width, height) == (1280, 720), f"screenshot: 1280 x 720 ({width} x {height})")
    c.check(len(counts) > 50, f"screenshot: {len(counts)} colours in the table's rows (not blank)")
    for cls in sorted({td["attrs"]["data-outcome"] for td in cells.values()}):
        n = counts.get(fills[cls], 0)
        c.check(n > 1000, f"screenshot: {n} pixels of {cls}'s colour #{fills[cls]}")

    # 2. The same server with --json: every cell of the JSON is on the page with its class (the
    #    table of run 1 says which cells fell back: --json has no such field).
    page = c.tmp / "h1_noalpn-json.html"
    p = c.run("probe", "--json", "--cacert", ca, "--html", str(page), c.url("h1_noalpn"))
    c.expect_exit(p, 0, "probe --json --html")
    doc = json.loads(p.stdout)
    fallbacks = {k for k, row in rows.items() if "fell back" in row["outcome"]}
    check_page_against_json(c, chrome.dom(page), doc, "h1_noalpn --json page", p, fallbacks)

    # 3. A TLS version axis (sub-columns) and --resumption.
    page = c.tmp / "nginx_h2-tls.html"
    p = c.run("probe", "--json", "--cacert", ca, "--tls", "1.2,1.3", "--resumption", "--html", str(page),
              c.url("nginx_h2"))
    c.expect_exit(p, 0, "probe --json --tls 1.2,1.3 --resumption --html")
    doc = json.loads(p.stdout)
    dom = chrome.dom(page)
    cells = check_page_against_json(c, dom, doc, "nginx_h2 --tls page", p, set())
    c.check({k[2] for k in cells} == {"1.2", "1.3"}, "nginx_h2 --tls page: cells of TLS 1.2 and 1.3", p)
    heads = [h[1] for h in dom.headers]
    c.check(heads.count("TLS 1.2") == len(MODES) and heads.count("TLS 1.3") == len(MODES),
            "nginx_h2 --tls page: a TLS 1.2 and a TLS 1.3 sub-column under each mode", p)
    c.check(all(h[0].get("colspan") == "2" for h in dom.headers if h[1] in MODES),
            "nginx_h2 --tls page: each mode heads its two sub-columns", p)
    c.check({td["attrs"]["data-outcome"] for td in cells.values()} >= {"h2", "http1", "http2-error"},
            "nginx_h2 --tls page: h2, http1 and http2-error cells", p)

    # 4. TLS errors, and 5. a server that is not there (exit 4, the page written all the same).
    page = c.tmp / "nginx_h1.html"
    p = c.run("probe", "--json", "--cacert", ca, "--modes", "alpn,h2-only", "--html", str(page), c.url("nginx_h1"))
    c.expect_exit(p, 0, "probe --json --html nginx_h1")
    cells = check_page_against_json(c, chrome.dom(page), json.loads(p.stdout), "nginx_h1 page", p, set())
    c.check(sum(td["attrs"]["data-outcome"] == "tls-error" for td in cells.values()) == len(c.backends),
            "nginx_h1 page: h2-only is a TLS error (no_application_protocol) in every backend", p)
    page = c.tmp / "unreachable.html"
    p = c.run("probe", "--json", "--modes", "alpn,http1", "--html", str(page), "https://127.0.0.1:1/")
    c.expect_exit(p, EXIT["net"], "probe --html of an unreachable server")
    cells = check_page_against_json(c, chrome.dom(page), json.loads(p.stdout), "unreachable page", p, set())
    c.check(all(td["attrs"]["data-outcome"] == "network-error" for td in cells.values()),
            "unreachable page: every cell a network error", p)

    # An unwritable file: exit 8 (local I/O), as --junit.
    target = c.tmp / "no-such-dir" / "matrix.html"
    p = c.run("probe", "--cacert", ca, "--modes", "alpn", "--html", str(target), c.url("nginx_h1"))
    c.expect_exit(p, EXIT["local_io"], "probe --html to an unwritable path")
    c.one_line_error(p, "probe --html to an unwritable path", f"--html {target}: cannot write the file")
    print(f"chromium: {len(chrome.seconds)} runs, {sum(chrome.seconds):.1f} s "
          f"({', '.join(f'{s:.1f}' for s in chrome.seconds)})")


def probe_timeout(c):
    need_fixture(c)
    # openssl s_server answers an h2 preface with nothing and keeps the connection open: only the
    # per-cell timeout ends those cells. One connection at a time: --parallel 1.
    p = c.run("probe", "--json", "--cacert", c.fixture["CA_FILE"], "--timeout", "1s", "--parallel", "1",
              "--backends", c.backends[0], "--modes", "prior-knowledge,alpn", c.url("s_server_noalpn"))
    c.expect_exit(p, 0, "probe of a server that stalls")
    doc = json.loads(p.stdout)
    c.check(cell(doc, c.backends[0], "prior-knowledge")["error"] == "net:request_timeout",
            "stalling cell: net:request_timeout", p)
    c.check(cell(doc, c.backends[0], "alpn")["status"] == 200, "the next cell still runs", p)
    c.check(p.seconds < 5, f"--timeout 1s bounds the stalled cell ({p.seconds:.1f} s)", p)

    p = c.run("probe", "--parallel", "0", c.url("s_server_noalpn"))
    c.expect_exit(p, EXIT["usage"], "probe --parallel 0")


def get_against_servers(c):
    need_fixture(c)
    ca = c.fixture["CA_FILE"]
    p = c.run("get", "--cacert", ca, c.url("nginx_h2"))
    c.expect_exit(p, 0, "get")
    c.check(p.stdout == c.fixture["NGINX_H2_BODY"] + "\n", "get: the body on stdout", p)

    p = c.run("get", "-v", "--cacert", ca, "--backend", c.backends[-1], "--mode", "prior-knowledge-alpn",
              c.url("h1_noalpn"))
    c.expect_exit(p, 0, "get -v (fallback)")
    for want in [f"* backend: {c.backends[-1]}", "* ALPN offered: ", "* ALPN selected: none",
                 "* protocol: http/1.1", "after falling back from h2", "* TLS: TLSv1.", "resumed:",
                 "* timings: dns", "* rule: defaults", "* mode: prior-knowledge-alpn"]:
        c.check(want in p.stderr, f"get -v: {want!r}", p)
    c.check(p.stdout == c.fixture["H1_NOALPN_BODY"] + "\n", "get -v: only the body on stdout", p)

    p = c.run("get", "-n", "5", "--cacert", ca, c.url("nginx_h2"))
    c.expect_exit(p, 0, "get -n 5")
    c.check("5 requests, 1 connection(s) opened, 4 on a reused connection, protocol h2" in p.stderr,
            "get -n 5: one h2 connection, reused 4 times", p)
    c.check("median" in p.stderr, "get -n: a timings summary", p)

    p = c.run("get", "--fail", "--cacert", ca, c.url("nginx_h2", "no-such-file"))
    c.expect_exit(p, EXIT["http"], "get --fail on a 404")
    p = c.run("get", "--cacert", ca, c.url("nginx_h2", "no-such-file"))
    c.expect_exit(p, 0, "get on a 404 without --fail")
    p = c.run("get", c.url("nginx_h2"))
    c.expect_exit(p, EXIT["tls"], "get without the fixture's CA: certificate untrusted")
    c.one_line_error(p, "untrusted certificate", "tls:certificate_untrusted")
    p = c.run("get", "--cacert", ca, "--mode", "h2-only", c.url("h1_noalpn"))
    c.expect_exit(p, EXIT["protocol"], "get --mode h2-only on an HTTP/1.1 server without ALPN")
    c.one_line_error(p, "h2-only refused", "negotiate:h2_required_but_no_alpn")
    p = c.run("get", "-i", "-o", str(c.tmp / "body.txt"), "--cacert", ca, c.url("nginx_h1"))
    c.expect_exit(p, 0, "get -i -o")
    text = (c.tmp / "body.txt").read_bytes().decode()
    c.check(text.startswith("HTTP/1.1 200\r\n") and text.endswith(c.fixture["NGINX_H1_BODY"] + "\n"),
            "get -i -o: status line, headers and body in the file", p)
    p = c.run("get", "-k", c.url("nginx_h2"))
    c.expect_exit(p, 0, "get -k")
    c.check("WARNING" in p.stderr, "get -k: warns", p)
    # --pinnedpubkey, against the pin the openssl command computes from what the server sends.
    hostport = urllib.parse.urlsplit(c.url("nginx_h2")).netloc
    pem = subprocess.run(["openssl", "s_client", "-connect", hostport, "-servername", "localhost"],
                         input=b"", capture_output=True, check=False).stdout
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=pem, capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, capture_output=True,
                         check=True).stdout
    pin = "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()
    zero = "sha256//" + "A" * 43 + "="
    p = c.run("get", "--cacert", ca, "--pinnedpubkey", f"{zero};{pin}", c.url("nginx_h2"))
    c.expect_exit(p, 0, "get --pinnedpubkey with the server's pin among others")
    p = c.run("get", "-k", "--pinnedpubkey", zero, c.url("nginx_h2"))
    c.expect_exit(p, EXIT["tls"], "get --pinnedpubkey with a wrong pin, even with -k")
    c.check(f"expected {zero}, got {pin}" in p.stderr and "[tls:pin_mismatch]" in p.stderr,
            "wrong pin: tls:pin_mismatch naming both hashes", p)
    # Through the CONNECT proxy.
    p = c.run("get", "-v", "--cacert", ca, "--proxy", c.fixture["CONNECT_PROXY_URL"].rstrip("/"), c.url("nginx_h2"))
    c.expect_exit(p, 0, "get --proxy")



# --- get in curl's language: protocol flags and -w, against the interop servers ------------------

# Every -w variable, as README.md and connmatrix(1) list them; %{json} has exactly these.
WRITE_OUT_VARS = ["content_type", "errormsg", "exitcode", "http_code", "http_version", "method",
                  "num_connects", "num_redirects", "remote_ip", "remote_port", "response_code",
                  "size_download", "time_appconnect", "time_connect", "time_namelookup",
                  "time_pretransfer", "time_redirect", "time_starttransfer", "time_total", "url",
                  "url_effective", "alpn", "alpn_offered", "backend", "mode", "rule", "tls_version"]
TIMES = ["time_namelookup", "time_connect", "time_appconnect", "time_pretransfer",
         "time_starttransfer", "time_total"]
OURS = {"alpn", "alpn_offered", "backend", "mode", "rule", "tls_version"}  # "none" when absent


def write_out(c, what, url, *flags, exit=0):
    """get -w with every variable on one tab-separated line, then %{json}: checks that the JSON
    parses, has every variable and agrees with each %{name}; returns the values as text."""
    fmt = "\\t".join("%{" + v + "}" for v in WRITE_OUT_VARS) + "\\n%{json}\\n"
    p = c.run("get", "-s", "-o", os.devnull, "--cacert", c.fixture["CA_FILE"], *flags, "-w", fmt, url)
    c.expect_exit(p, exit, what)
    lines = p.stdout.split("\n")
    c.check(len(lines) == 3 and lines[2] == "", f"{what}: -w wrote two lines", p)
    text = dict(zip(WRITE_OUT_VARS, lines[0].split("\t")))
    c.check(len(text) == len(WRITE_OUT_VARS) == len(lines[0].split("\t")), f"{what}: every variable", p)
    try:
        doc = json.loads(lines[1])
    except json.JSONDecodeError as e:
        c.check(False, f"{what}: %{{json}} parses ({e})", p)
    c.check(list(doc) == WRITE_OUT_VARS, f"{what}: %{{json}} has exactly the variables", p)
    for name in WRITE_OUT_VARS:
        v, t = doc[name], text[name]
        if v is None:
            want = "none" if name in OURS else ""
        elif name in ("http_code", "response_code"):
            want = f"{v:03d}"
        elif isinstance(v, float) or name.startswith("time_"):
            want = f"{v:.6f}"
        else:
            want = str(v)
        c.check(t == want, f"{what}: %{{{name}}} {t!r} agrees with %{{json}} ({v!r})", p)
    for name in TIMES:
        c.check(re.fullmatch(r"\d+\.\d{6}", text[name]) is not None,
                f"{what}: %{{{name}}} in seconds with 6 decimals ({text[name]})", p)
    text["_p"] = p
    return text


def check_times(c, what, t, tls):
    """curl's points in time, cumulative from the start: in order (time_appconnect is 0 without TLS)."""
    p = t["_p"]
    chain = [n for n in TIMES if tls or n != "time_appconnect"]
    v = {n: float(t[n]) for n in TIMES}
    c.check(all(v[a] <= v[b] for a, b in zip(chain, chain[1:])) and v["time_total"] > 0,
            f"{what}: {' <= '.join(n[5:] for n in chain)} ({', '.join(t[n] for n in chain)})", p)
    if tls:
        c.check(v["time_appconnect"] > v["time_connect"],
                f"{what}: the TLS handshake lies between connect and appconnect", p)
    else:
        c.check(v["time_appconnect"] == 0 and v["time_pretransfer"] == v["time_connect"],
                f"{what}: no TLS: time_appconnect 0, pretransfer = connect", p)


def curl_flags(c):
    need_fixture(c)
    tls13 = {b: ("TLSv1.2" if b == "mbedtls" else "TLSv1.3") for b in c.backends}  # mbedTLS 2.28: no 1.3

    def port(server):
        return c.fixture[server.upper() + "_PORT"]

    # The HTTP version flags, on every backend, against nginx (ALPN h2, http/1.1) and the
    # terminator that answers without ALPN in front of an h2-only server.
    cases = [
        ("nginx_h2", [], "200", "2", "h2", "h2,http/1.1", "alpn"),
        ("nginx_h2", ["--http1.1"], "200", "1.1", "http/1.1", "http/1.1", "http1"),
        ("nginx_h2", ["--http2"], "200", "2", "h2", "h2,http/1.1", "alpn"),
        ("nginx_h2", ["--http2-prior-knowledge"], "200", "2", "h2", "h2", "h2-only-prior-knowledge"),
        ("nginx_h2", ["--no-alpn"], "200", "1.1", "none", "none", "alpn"),
        ("nginx_h2", ["--http1.1", "--no-alpn"], "200", "1.1", "none", "none", "http1"),
        # nginx answers an h2 preface sent without ALPN with HTTP/1.1 400: http2:not_h2.
        ("nginx_h2", ["--http2-prior-knowledge", "--no-alpn"], "000", "0", "none", "none", "prior-knowledge"),
        ("h2_noalpn", ["--http2-prior-knowledge"], "200", "2", "none", "h2", "h2-only-prior-knowledge"),
        ("h2_noalpn", ["--http2-prior-knowledge", "--no-alpn"], "200", "2", "none", "none", "prior-knowledge"),
    ]
    for b in c.backends:
        for server, flags, code, version, alpn, offered, mode in cases:
            what = f"get {' '.join(flags) or '(no flag)'} --backend {b} {server}"
            t = write_out(c, what, c.url(server), "--backend", b, *flags, exit=0 if code == "200" else EXIT["protocol"])
            got = (t["http_code"], t["http_version"], t["alpn"], t["alpn_offered"], t["mode"])
            c.check(got == (code, version, alpn, offered, mode),
                    f"{what}: http_code, http_version, alpn, alpn_offered, mode = {code} {version} {alpn} "
                    f"{offered} {mode} (got {' '.join(got)})", t["_p"])
            c.check(t["backend"] == b and t["tls_version"] == tls13[b] and t["remote_ip"] == "127.0.0.1" and
                    t["remote_port"] == port(server) and t["num_connects"] == "1",
                    f"{what}: backend {b}, {tls13[b]}, 127.0.0.1:{port(server)}, one connection", t["_p"])
            if code == "200":
                check_times(c, what, t, tls=True)
                c.check(t["exitcode"] == "0" and t["errormsg"] == "" and t["size_download"] ==
                        str(len(c.fixture[server.upper() + "_BODY"]) + 1), f"{what}: exitcode 0, the body's size", t["_p"])
            else:
                c.check(t["exitcode"] == str(EXIT["protocol"]) and "[http2:not_h2]" in t["errormsg"],
                        f"{what}: exitcode 6, errormsg names http2:not_h2", t["_p"])

    # The rest on the default backend: servers that refuse or cannot speak what is asked.
    b = c.default_backend
    t = write_out(c, "get --http2 nginx_h1", c.url("nginx_h1"), "--http2")
    c.check((t["http_version"], t["alpn"]) == ("1.1", "http/1.1"), "--http2 to an HTTP/1.1 server: HTTP/1.1 by ALPN", t["_p"])
    t = write_out(c, "get --http2-prior-knowledge nginx_h1", c.url("nginx_h1"), "--http2-prior-knowledge",
                  exit=EXIT["tls"])
    c.check(t["http_code"] == "000" and "[tls:no_application_protocol]" in t["errormsg"] and
            t["tls_version"] == "none", "--http2-prior-knowledge to an HTTP/1.1 server: the "
                                        "no_application_protocol alert", t["_p"])
    t = write_out(c, "get --http2-prior-knowledge h1_noalpn", c.url("h1_noalpn"), "--http2-prior-knowledge",
                  exit=EXIT["protocol"])
    c.check("[http2:not_h2]" in t["errormsg"] and t["alpn"] == "none",
            "--http2-prior-knowledge, no ALPN answer, an HTTP/1.1 server: http2:not_h2", t["_p"])
    t = write_out(c, "get --no-alpn h1_noalpn", c.url("h1_noalpn"), "--no-alpn")
    c.check((t["http_code"], t["http_version"], t["alpn_offered"]) == ("200", "1.1", "none"),
            "--no-alpn to the no-ALPN HTTP/1.1 server: HTTP/1.1", t["_p"])
    # Two connections when h2 that ALPN did not confirm is refused and HTTP/1.1 follows.
    t = write_out(c, "get --mode prior-knowledge-alpn h1_noalpn", c.url("h1_noalpn"), "--mode", "prior-knowledge-alpn")
    c.check((t["http_code"], t["http_version"], t["num_connects"]) == ("200", "1.1", "2"),
            "the fallback to HTTP/1.1: num_connects 2", t["_p"])

    # Over a configuration whose rule names a mode, --no-alpn still empties the offer there (the
    # rule's preset would bring it back), and the rest of the rule applies.
    cfg = c.write("rule-mode.json", {"hosts": [{"match": "127.0.0.1", "mode": "h2-only-prior-knowledge"}]})
    t = write_out(c, "get --config (a rule's mode)", c.url("nginx_h2"), "--config", cfg)
    c.check((t["mode"], t["alpn_offered"], t["http_version"]) == ("h2-only-prior-knowledge", "h2", "2"),
            "a rule's mode h2-only-prior-knowledge: ALPN h2 offered, h2", t["_p"])
    t = write_out(c, "get --no-alpn --config (a rule's mode)", c.url("nginx_h2"), "--config", cfg, "--no-alpn",
                  exit=EXIT["protocol"])
    c.check((t["mode"], t["alpn_offered"], t["rule"]) == ("h2-only-prior-knowledge", "none", "hosts[0] (127.0.0.1)")
            and "[http2:not_h2]" in t["errormsg"],
            "--no-alpn over the rule's mode: nothing offered, h2 spoken at once (nginx: not h2)", t["_p"])

    # Cleartext: --http2 is an Upgrade: h2c request, --http2-prior-knowledge h2c at once.
    for server, flags, version in [("h2c_upgrade", [], "1.1"), ("h2c_upgrade", ["--http2"], "2"),
                                   ("h2c_upgrade", ["--http1.1"], "1.1"),
                                   ("h2c_upgrade", ["--http2-prior-knowledge"], "2"),
                                   ("nginx_plain", ["--http2"], "1.1"),  # nginx ignores the Upgrade
                                   ("nghttpd_h2c", ["--http2-prior-knowledge"], "2"),
                                   ("nghttpd_h2c", ["--http2-prior-knowledge", "--no-alpn"], "2")]:
        what = f"get {' '.join(flags) or '(no flag)'} {server}"
        t = write_out(c, what, c.url(server), *flags)
        c.check((t["http_code"], t["http_version"]) == ("200", version), f"{what}: HTTP/{version} 200", t["_p"])
        c.check((t["alpn"], t["tls_version"], t["backend"], t["remote_port"]) == ("none", "none", "none", port(server)),
                f"{what}: alpn, tls_version and backend none; the server's port", t["_p"])
        check_times(c, what, t, tls=False)

    # --tlsv1.2 / --tlsv1.3 (tls.min_version), with --tls-max.
    for backend in c.backends:
        what = f"get --tlsv1.3 --backend {backend}"
        if backend == "mbedtls":
            t = write_out(c, what, c.url("nginx_h2"), "--backend", backend, "--tlsv1.3", exit=EXIT["tls"])
            c.check("[tls:unsupported]" in t["errormsg"], f"{what}: mbedTLS 2.28 has no TLS 1.3", t["_p"])
        else:
            t = write_out(c, what, c.url("nginx_h2"), "--backend", backend, "--tlsv1.3")
            c.check(t["tls_version"] == "TLSv1.3", f"{what}: TLSv1.3", t["_p"])
            t = write_out(c, what + " to a TLS 1.2 server", c.url("nginx_h2_tls12"), "--backend", backend,
                          "--tlsv1.3", exit=EXIT["tls"])
            c.check(t["http_code"] == "000" and t["errormsg"].startswith("tls"),
                    f"{what} to a TLS 1.2 server: a TLS error", t["_p"])
        t = write_out(c, f"get --tlsv1.2 --tls-max 1.2 --backend {backend}", c.url("nginx_h2"), "--backend", backend,
                      "--tlsv1.2", "--tls-max", "1.2")
        c.check(t["tls_version"] == "TLSv1.2", f"--tlsv1.2 --tls-max 1.2 --backend {backend}: TLSv1.2", t["_p"])

    ca = c.fixture["CA_FILE"]
    body = c.fixture["NGINX_H2_BODY"] + "\n"
    # -n: a -w line per transfer; the first opens the connection, the others reuse it.
    for server in ("nginx_h2", "nginx_h1"):
        p = c.run("get", "-n", "3", "--cacert", ca, "-o", os.devnull, "-w", "%{num_connects} %{http_code}\\n",
                  c.url(server))
        c.expect_exit(p, 0, f"get -n 3 -w {server}")
        c.check(p.stdout == "1 200\n0 200\n0 200\n", f"get -n 3 {server}: num_connects 1, 0, 0", p)
    # After the body, on stdout even with -o; %header{}, %{content_type}, %{url}, %{method}.
    p = c.run("get", "--cacert", ca, "-w", "[%{http_code} %{content_type} %header{content-type} %{method} %{url}]",
              c.url("nginx_h2"))
    c.check(p.stdout == body + f"[200 text/plain text/plain GET {c.url('nginx_h2')}]",
            "-w: after the body; content_type, %header{content-type}, method, url", p)
    out = c.tmp / "body-w.txt"
    p = c.run("get", "--cacert", ca, "-o", str(out), "-w", "%{size_download}", c.url("nginx_h2"))
    c.check(out.read_text() == body and p.stdout == str(len(body)), "-w -o FILE: the body in the file, -w on stdout", p)
    # The format language: escapes, %%, literal %{ without }, %{stderr}, @FILE, @-.
    p = c.run("get", "--cacert", ca, "-o", os.devnull, "-w", r"a\tb\nc%%d\qe %{http_code", c.url("nginx_h2"))
    c.check(p.stdout == "a\tb\nc%d\\qe %{http_code", "-w: \\t, \\n, %%, other backslashes and an unclosed %{ as "
                                                    "curl writes them", p)
    p = c.run("get", "--cacert", ca, "-o", os.devnull, "-w", "%{http_code}%{stderr}%{http_version}%{stdout}!",
              c.url("nginx_h2"))
    c.check(p.stdout == "200!" and p.stderr == "2", "-w %{stderr} and %{stdout} switch the stream", p)
    fmt = c.write("format.txt", "%{http_version} from a file\n")
    p = c.run("get", "--cacert", ca, "-o", os.devnull, "-w", "@" + fmt, c.url("nginx_h2"))
    c.check(p.stdout == "2 from a file\n", "-w @FILE reads the format from the file", p)
    p = c.run("get", "--cacert", ca, "-o", os.devnull, "-w", "@-", c.url("nginx_h2"), input="%{alpn} from stdin")
    c.check(p.stdout == "h2 from stdin", "-w @- reads the format from stdin", p)
    p = c.run("get", "--cacert", ca, "-o", os.devnull, "-w", "%{http_code} %{nope} %{time_total_ms}.", c.url("nginx_h2"))
    c.expect_exit(p, 0, "-w with unknown variables")
    c.check(p.stdout == "200  ." and
            p.stderr.splitlines() == ["connmatrix: unknown --write-out variable: 'nope'",
                                      "connmatrix: unknown --write-out variable: 'time_total_ms'"],
            "-w: an unknown variable writes nothing and says so on stderr, as curl", p)
    # A status >= 400 with --fail, and a failed request: -w still runs (curl's 000).
    p = c.run("get", "--cacert", ca, "--fail", "-w", "%{http_code} %{exitcode}", c.url("nginx_h2", "no-such-file"))
    c.expect_exit(p, EXIT["http"], "get --fail -w on a 404")
    c.check(p.stdout == "404 7", "--fail -w: the status and exit code 7, no body", p)
    p = c.run("get", "-w", "%{http_code} %{http_version} %{exitcode} %{remote_ip} %{time_total}", "https://127.0.0.1:1/")
    c.expect_exit(p, EXIT["net"], "get -w, connection refused")
    c.check(re.fullmatch(r"000 0 4  \d+\.\d{6}", p.stdout) is not None and "net:connect_failed" in p.stderr,
            "-w on a failed request: 000, http_version 0, exitcode 4, no remote_ip", p)

    # -s: no error line and no warnings; -sS: the error line again; usage errors always.
    p = c.run("get", "-s", "https://127.0.0.1:1/")
    c.expect_exit(p, EXIT["net"], "get -s, connection refused")
    c.check(p.stderr == "", "get -s: nothing on stderr", p)
    p = c.run("get", "-sS", "https://127.0.0.1:1/")
    c.expect_exit(p, EXIT["net"], "get -sS, connection refused")
    c.one_line_error(p, "get -sS", "net:connect_failed")
    p = c.run("get", "-s", "-k", c.url("nginx_h2"))
    c.check(p.returncode == 0 and p.stdout == body and p.stderr == "", "get -s -k: the body, no warning", p)
    p = c.run("get", "-s", "--http1.1", "--http2", c.url("nginx_h2"))
    c.expect_exit(p, EXIT["usage"], "get -s with conflicting flags")
    c.one_line_error(p, "get -s with conflicting flags", "--http1.1 and --http2")


# --- --retry, against a server that fails on purpose --------------------------------------------

def serve_http(handler):
    """A threading HTTP server on 127.0.0.1 and an ephemeral port, serving in a daemon thread:
    (the server, its base URL)."""
    import http.server
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


class FlakyServer:
    """An HTTP/1.1 server on 127.0.0.1 for --retry: /fail<N>/... answers 503 to its first N
    requests (GET or POST), /after/... 503 with Retry-After: 1 once, /stall/... does not answer its
    first request for 3 s, /gone/... is always 404. Counts the requests per path."""

    def __init__(self):
        import http.server
        self.hits = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self):
                if "Content-Length" in self.headers:
                    self.rfile.read(int(self.headers["Content-Length"]))
                n = server.hits[self.path] = server.hits.get(self.path, 0) + 1
                kind = self.path.split("/")[1]
                headers = {}
                if kind.startswith("fail") and n <= int(kind[4:]):
                    code = 503
                elif kind == "after" and n == 1:
                    code, headers = 503, {"Retry-After": "1"}
                elif kind == "gone":
                    code = 404
                else:
                    code = 200
                if kind == "stall" and n == 1:
                    time.sleep(3)
                body = f"{self.command} {self.path}: attempt {n}\n".encode()
                try:
                    self.send_response(code)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            do_GET = do_POST = answer

        self.httpd, self.url = serve_http(Handler)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def retry(c):
    s = FlakyServer()
    try:
        fast = ["--retry-delay", "100ms"]
        p = c.run("get", "--retry", "3", *fast, "-w", "%{http_code}", s.url + "/fail2/a")
        c.expect_exit(p, 0, "--retry 3 on two 503s")
        c.check(p.stdout == "GET /fail2/a: attempt 3\n200" and s.hits["/fail2/a"] == 3,
                "--retry: the third attempt's body only, and -w of that attempt", p)
        c.check(p.stderr.splitlines() == [
            "connmatrix: transient problem (HTTP 503); will retry in 100 ms, 3 retries left",
            "connmatrix: transient problem (HTTP 503); will retry in 100 ms, 2 retries left"],
            "--retry: a warning per retry, with the wait and the retries left (curl's)", p)
        p = c.run("get", "--retry", "1", *fast, "-w", " %{http_code}", s.url + "/fail2/b")
        c.expect_exit(p, 0, "--retry 1 on two 503s: the last 503 is the answer (no --fail)")
        c.check(p.stdout == "GET /fail2/b: attempt 2\n 503" and s.hits["/fail2/b"] == 2, "--retry 1: two attempts", p)
        p = c.run("get", "--retry", "1", *fast, "--fail", s.url + "/fail2/c")
        c.expect_exit(p, EXIT["http"], "--retry 1 --fail on two 503s")
        p = c.run("get", "-s", "--retry", "2", *fast, "-d", "x=1", s.url + "/fail1/post")
        c.check(p.returncode == 0 and p.stdout == "POST /fail1/post: attempt 2\n" and p.stderr == "",
                "--retry retries a POST too, as curl (-s: no warnings)", p)
        p = c.run("get", "--retry", "3", *fast, s.url + "/gone/x")
        c.check(p.returncode == 0 and s.hits["/gone/x"] == 1 and p.stderr == "", "--retry: a 404 is not retried", p)
        p = c.run("get", "--retry", "3", *fast, "--fail", "--retry-all-errors", s.url + "/gone/y")
        c.check(p.returncode == EXIT["http"] and s.hits["/gone/y"] == 4,
                "--retry-all-errors --fail: a 404 is retried 3 times", p)
        # Retry-After lengthens the wait (curl 7.66+); --retry-max-time stops a retry that would pass it.
        p = c.run("get", "--retry", "2", *fast, s.url + "/after/a")
        c.check(p.returncode == 0 and "will retry in 1 s" in p.stderr and s.hits["/after/a"] == 2,
                "Retry-After: 1 beats --retry-delay 100ms", p)
        p = c.run("get", "--retry", "2", "--retry-max-time", "500ms", s.url + "/after/b")
        c.check(p.returncode == 0 and s.hits["/after/b"] == 1 and
                "waiting 1 s would pass --retry-max-time 500 ms: no retry" in p.stderr,
                "--retry-max-time: no retry past it", p)
        # curl's backoff: 1 s, then 2 s; the second would pass --retry-max-time 2.
        p = c.run("get", "--retry", "5", "--retry-max-time", "2", s.url + "/fail9/backoff")
        c.check(p.returncode == 0 and s.hits["/fail9/backoff"] == 2 and
                "will retry in 1 s, 5 retries left" in p.stderr and
                "waiting 2 s would pass --retry-max-time 2 s: no retry" in p.stderr,
                "the default backoff doubles: 1 s, then 2 s", p)
        # A timeout is transient; a refused connection only with --retry-connrefused.
        p = c.run("get", "--timeout", "500ms", "--retry", "1", *fast, s.url + "/stall/a")
        c.check(p.returncode == 0 and p.stdout == "GET /stall/a: attempt 2\n" and
                "transient problem (a timeout, net:request_timeout)" in p.stderr,
                "--retry after net:request_timeout", p)
        p = c.run("get", "--retry", "2", *fast, "http://127.0.0.1:1/")
        c.check(p.returncode == EXIT["net"] and "will retry" not in p.stderr,
                "--retry: a refused connection is final without --retry-connrefused", p)
        p = c.run("get", "--retry", "2", *fast, "--retry-connrefused", "http://127.0.0.1:1/")
        c.check(p.returncode == EXIT["net"] and p.stderr.count("will retry") == 2 and
                "connection refused" in p.stderr, "--retry-connrefused: retried twice, then exit 4", p)
        for args, says in [(["--retry", "-1"], "--retry"), (["--retry-delay", "soon"], "--retry-delay"),
                           (["--retry-max-time", "-3"], "--retry-max-time")]:
            p = c.run("get", *args, s.url + "/x")
            c.expect_exit(p, EXIT["usage"], " ".join(args))
            c.one_line_error(p, " ".join(args), says)
    finally:
        s.close()


# --- get -o FILE streams the body: constant memory, a retry rewrites the file -------------------

class BigServer:
    """An HTTP/1.1 server on 127.0.0.1 for get -o: /big/N answers N bytes (Content-Length, 1 MiB
    writes of a repeating pattern); /chunked/N the same in chunked coding; /fail1/... answers
    503 with a 64 KiB body to its first request, then 200 with a short body."""

    BLOCK = bytes((i * 7 + 3) % 251 for i in range(1 << 20))

    def __init__(self):
        import http.server
        self.hits = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                n = server.hits[self.path] = server.hits.get(self.path, 0) + 1
                kind = self.path.split("/")[1]
                try:
                    if kind in ("big", "chunked"):
                        size = int(self.path.split("/")[2])
                        self.send_response(200)
                        if kind == "big":
                            self.send_header("Content-Length", str(size))
                        else:
                            self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        left = size
                        while left > 0:
                            piece = BigServer.BLOCK[:min(left, len(BigServer.BLOCK))]
                            if kind == "chunked":
                                self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                            else:
                                self.wfile.write(piece)
                            left -= len(piece)
                        if kind == "chunked":
                            self.wfile.write(b"0\r\n\r\n")
                        return
                    body = (b"e" * 65536) if n == 1 else f"GET {self.path}: attempt {n}\n".encode()
                    self.send_response(503 if n == 1 else 200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def do_POST(self):
                import hashlib
                n = server.hits[self.path] = server.hits.get(self.path, 0) + 1
                cl, te = self.headers.get("Content-Length"), self.headers.get("Transfer-Encoding")
                digest, count = hashlib.sha256(), 0
                try:
                    if cl is not None:
                        left = int(cl)
                        while left > 0:
                            piece = self.rfile.read(min(left, 1 << 20))
                            if not piece:
                                break
                            digest.update(piece)
                            count += len(piece)
                            left -= len(piece)
                    elif te == "chunked":
                        while True:
                            size = int(self.rfile.readline().split(b";")[0], 16)
                            if size == 0:
                                while self.rfile.readline() not in (b"\r\n", b""):
                                    pass
                                break
                            piece = self.rfile.read(size)
                            digest.update(piece)
                            count += len(piece)
                            self.rfile.read(2)
                    server.uploads.append((self.command, self.path, cl, te, count))
                    fail = self.path.startswith("/fail1/") and n == 1
                    body = f"{count} {digest.hexdigest()}".encode()
                    self.send_response(503 if fail else 200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            do_PUT = do_POST

        self.uploads = []
        self.httpd, self.url = serve_http(Handler)

    @staticmethod
    def pattern(size):
        whole, rest = divmod(size, len(BigServer.BLOCK))
        return BigServer.BLOCK * whole + BigServer.BLOCK[:rest]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def run_measured(c, *argv, env=None):
    """Runs connmatrix; returns (exit code, stdout, stderr, peak RSS in KiB) from its own rusage."""
    e = dict(os.environ)
    e.pop("CONNMATRIX_CONFIG", None)
    e["NO_COLOR"] = "1"
    e.update(env or {})
    out, err = c.tmp / "measured.out", c.tmp / "measured.err"
    with open(out, "wb") as o, open(err, "wb") as r:
        proc = subprocess.Popen([c.exe, *argv], stdout=o, stderr=r, env=e)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out.read_text(errors="replace"), err.read_text(errors="replace"), usage.ru_maxrss


def measured_size():
    """(asan, env, size) for a constant-memory check. Under AddressSanitizer (the sanitizer job
    sets ASAN_OPTIONS) the allocator's quarantine and shadow memory make an absolute RSS figure
    meaningless: there 256 MiB go with a small quarantine and the bound is on the growth over a
    1 MiB run; otherwise 1 GiB under an absolute 64 MiB."""
    asan = "ASAN_OPTIONS" in os.environ
    env = {"ASAN_OPTIONS": os.environ["ASAN_OPTIONS"] + ":quarantine_size_mb=4"} if asan else None
    return asan, env, (256 if asan else 1024) << 20


def check_peak(c, what, asan, low, peak, size):
    """The peak RSS of moving `size` bytes (`peak` KiB) against `low` KiB for 1 MiB."""
    print(f"     peak RSS: {low} KiB for 1 MiB, {peak} KiB for {size >> 20} MiB")
    if asan:
        c.check(peak - low < 48 * 1024,
                f"{what} of {size >> 20} MiB under ASan: peak RSS grows by under 48 MiB over 1 MiB ({peak - low} KiB)")
    else:
        c.check(peak < 64 * 1024, f"{what} of 1 GiB: peak RSS under 64 MiB ({peak} KiB)")


def stream_output(c):
    s = BigServer()
    try:
        asan, env, size = measured_size()
        rc, out, err, small = run_measured(c, "get", "-s", "-o", "/dev/null", "-w", "%{size_download}",
                                           f"{s.url}/big/{1 << 20}", env=env)
        c.check(rc == 0 and out == str(1 << 20), f"get -o /dev/null of 1 MiB: exit 0, size_download 1048576 (got {rc}, {out!r}, {err!r})")
        rc, out, err, peak = run_measured(c, "get", "-s", "-o", "/dev/null", "-w", "%{size_download}",
                                          f"{s.url}/big/{size}", env=env)
        c.check(rc == 0 and out == str(size),
                f"get -o /dev/null of {size >> 20} MiB: exit 0, size_download {size} (got {rc}, {out!r}, {err!r})")
        check_peak(c, "get -o", asan, small, peak, size)
        # To a regular file: every byte, in order, as Content-Length and as chunks.
        for kind in ("big", "chunked"):
            dest = c.tmp / f"{kind}.bin"
            want = BigServer.pattern(5 * (1 << 20) + 12345)
            p = c.run("get", "-s", "-o", str(dest), f"{s.url}/{kind}/{len(want)}")
            c.check(p.returncode == 0 and p.stdout == "" and dest.read_bytes() == want,
                    f"get -o FILE ({kind}): the file is the body, byte for byte", p)
        # --retry: the 503's body went to the file first; the file ends with the last attempt's only.
        dest = c.tmp / "retried.txt"
        p = c.run("get", "-s", "--retry", "1", "--retry-delay", "100ms", "-o", str(dest), f"{s.url}/fail1/file")
        c.check(p.returncode == 0 and dest.read_text() == "GET /fail1/file: attempt 2\n",
                "get -o FILE --retry: the file holds the last attempt's body only", p)
        dest = c.tmp / "retried-include.txt"
        p = c.run("get", "-s", "-i", "--retry", "1", "--retry-delay", "100ms", "-o", str(dest), f"{s.url}/fail1/inc")
        text = dest.read_bytes()
        c.check(p.returncode == 0 and text.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 503" not in text and
                text.endswith(b"\r\n\r\nGET /fail1/inc: attempt 2\n"),
                "get -i -o FILE --retry: the last attempt's head and body only", p)
        # --fail: an error status's body is not written.
        dest = c.tmp / "failed.txt"
        p = c.run("get", "-s", "--fail", "-o", str(dest), f"{s.url}/fail1/failed")
        c.check(p.returncode == EXIT["http"] and dest.read_bytes() == b"",
                "get --fail -o FILE on a 503: exit 7, nothing written", p)
        # A pipe cannot be rewound: a retry after bytes went there is an error, not two bodies.
        fifo = c.tmp / "pipe"
        os.mkfifo(fifo)
        got = []
        reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()), daemon=True)
        reader.start()
        p = c.run("get", "-s", "-S", "--retry", "1", "--retry-delay", "100ms", "-o", str(fifo), f"{s.url}/fail1/pipe")
        reader.join(10)
        c.expect_exit(p, EXIT["local_io"], "get -o FIFO --retry after a body was written")
        c.one_line_error(p, "get -o FIFO --retry", "cannot rewind")
        c.check(got == [b"e" * 65536], "get -o FIFO: the first attempt's body, once, nothing after it")
        # A file that cannot be written: exit 8, naming it.
        p = c.run("get", "-s", "-S", "-o", "/dev/full", f"{s.url}/big/{1 << 20}")
        c.expect_exit(p, EXIT["local_io"], "get -o /dev/full")
        c.one_line_error(p, "get -o /dev/full", "-o /dev/full: cannot write the response body")
    finally:
        s.close()


def stream_upload(c):
    """--data-binary @FILE streams a regular file: Content-Length from its size, constant memory
    for 1 GiB (peak RSS under 64 MiB), the whole file again on --retry; a FIFO is read whole."""
    import hashlib
    s = BigServer()
    try:
        asan, env, size = measured_size()
        small = c.tmp / "small.bin"
        small.write_bytes(BigServer.pattern(1 << 20))
        big = c.tmp / "zeros.bin"
        with open(big, "wb") as f:
            f.truncate(size)  # sparse: reading it costs no disk
        zeros = hashlib.sha256()
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            zeros.update(block)
        rc, out, err, low = run_measured(c, "get", "-s", "--data-binary", f"@{small}", f"{s.url}/up/small", env=env)
        want = f"{1 << 20} {hashlib.sha256(small.read_bytes()).hexdigest()}"
        c.check(rc == 0 and out == want, f"--data-binary @FILE of 1 MiB: the server got it whole (got {rc}, {out!r}, {err!r})")
        rc, out, err, peak = run_measured(c, "get", "-s", "--data-binary", f"@{big}", f"{s.url}/up/big", env=env)
        c.check(rc == 0 and out == f"{size} {zeros.hexdigest()}",
                f"--data-binary @FILE of {size >> 20} MiB: the server got every byte (got {rc}, {out[:80]!r}, {err!r})")
        check_peak(c, "--data-binary @FILE", asan, low, peak, size)
        up = [u for u in s.uploads if u[1] == "/up/big"]
        c.check(up == [("POST", "/up/big", str(size), None, size)],
                f"--data-binary @FILE: one POST framed by Content-Length {size}, no chunked coding ({up})")
        # -X PUT, a patterned file: byte for byte.
        odd = c.tmp / "odd.bin"
        odd.write_bytes(BigServer.pattern(3 * (1 << 20) + 777))
        p = c.run("get", "-s", "-X", "PUT", "--data-binary", f"@{odd}", f"{s.url}/up/put")
        c.check(p.returncode == 0 and p.stdout == f"{odd.stat().st_size} {hashlib.sha256(odd.read_bytes()).hexdigest()}",
                "--data-binary @FILE -X PUT: the file, byte for byte", p)
        # --retry: the 503 came after the whole upload; the retry sends the whole file again.
        p = c.run("get", "-s", "--retry", "1", "--retry-delay", "100ms", "--data-binary", f"@{odd}", f"{s.url}/fail1/up")
        sizes = [u[4] for u in s.uploads if u[1] == "/fail1/up"]
        c.check(p.returncode == 0 and sizes == [odd.stat().st_size] * 2,
                f"--data-binary @FILE --retry: each attempt sent the whole file ({sizes})", p)
        # Not a regular file: read whole first (as curl does), then sent.
        fifo = c.tmp / "upload-pipe"
        os.mkfifo(fifo)
        def write_fifo():
            with open(fifo, "wb") as f:
                f.write(b"from a pipe")
        writer = threading.Thread(target=write_fifo, daemon=True)
        writer.start()
        p = c.run("get", "-s", "--data-binary", f"@{fifo}", f"{s.url}/up/fifo")
        writer.join(10)
        c.check(p.returncode == 0 and p.stdout == f"11 {hashlib.sha256(b'from a pipe').hexdigest()}",
                "--data-binary @FIFO: read whole, then sent", p)
        p = c.run("get", "-s", "-S", "--data-binary", f"@{c.tmp / 'missing.bin'}", f"{s.url}/up/missing")
        c.expect_exit(p, EXIT["local_io"], "--data-binary @missing")
        c.one_line_error(p, "--data-binary @missing", "cannot read the file")
    finally:
        s.close()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, what, seconds=10):
    import socket
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def mutual_tls(c):
    """Client certificates and key logging against real servers that require a certificate:
    openssl s_server -Verify and nginx ssl_verify_client, each started here on a free port."""
    certs = pathlib.Path(os.environ["CONNMATRIX_CERT_DIR"])
    ca, client_ca = str(certs / "ca.pem"), str(certs / "client-ca.pem")
    www = c.tmp / "www"
    www.mkdir()
    (www / "hello.txt").write_text("hello from a server that checked our certificate\n")
    procs = []
    try:
        s_port = free_port()
        s_server = subprocess.Popen(
            ["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{s_port}", "-naccept", "1000",
             "-cert", str(certs / "localhost-ec.pem"), "-key", str(certs / "localhost-ec.key"),
             "-Verify", "1", "-CAfile", client_ca, "-verify_return_error", "-WWW"],
            cwd=www, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(s_server)
        n_port = free_port()
        ndir = c.tmp / "nginx"
        (ndir / "tmp").mkdir(parents=True)
        user = "user root;" if os.geteuid() == 0 else ""
        (ndir / "nginx.conf").write_text(f"""{user}
worker_processes 1; daemon off; master_process off; pid {ndir}/nginx.pid; error_log stderr notice;
events {{ worker_connections 64; }}
http {{
  access_log off; client_body_temp_path {ndir}/tmp/body; proxy_temp_path {ndir}/tmp/proxy;
  fastcgi_temp_path {ndir}/tmp/fastcgi; uwsgi_temp_path {ndir}/tmp/uwsgi; scgi_temp_path {ndir}/tmp/scgi;
  types {{ text/plain txt; }}
  server {{
    listen 127.0.0.1:{n_port} ssl http2; root {www};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate {certs / "localhost-ec.pem"}; ssl_certificate_key {certs / "localhost-ec.key"};
    ssl_client_certificate {client_ca}; ssl_verify_client on;
  }}
}}
""")
        nginx = subprocess.Popen(["nginx", "-p", str(ndir), "-c", str(ndir / "nginx.conf")],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(nginx)
        c.check(wait_listening(s_port, s_server, "s_server"), "openssl s_server -Verify 1 listens")
        c.check(wait_listening(n_port, nginx, "nginx"), "nginx with ssl_verify_client on listens")
        body = (www / "hello.txt").read_text()
        servers = [("s_server", f"https://127.0.0.1:{s_port}/hello.txt"),
                   ("nginx", f"https://127.0.0.1:{n_port}/hello.txt")]
        ec = ["--cert", str(certs / "client-ec.pem"), "--key", str(certs / "client-ec.key")]
        rsa_enc = ["--cert", str(certs / "client-rsa.pem"), "--key", str(certs / "client-rsa-trad.key"),
                   "--key-pass-file", str(certs / "client-rsa-trad.pass")]
        rogue = ["--cert", str(certs / "client-rogue.pem"), "--key", str(certs / "client-rogue.key")]
        for backend in c.backends:
            for name, url in servers:
                what = f"{name}, {backend}"
                p = c.run("get", "-v", "--cacert", ca, "--backend", backend, *ec, url)
                c.expect_exit(p, 0, f"{what}: get --cert --key")
                c.check(p.stdout == body, f"{what}: the body", p)
                c.check("* client certificate: presented" in p.stderr, f"{what}: -v says it was presented", p)
                p = c.run("get", "--cacert", ca, "--backend", backend, *rsa_enc, url)
                c.expect_exit(p, 0, f"{what}: an encrypted RSA key, passphrase from a file")
                if name == "nginx":
                    # nginx completes the handshake and answers 400 itself: an HTTP answer, which
                    # get delivers (and --fail turns into exit 7), not a TLS error.
                    for extra, says in [([], "No required SSL certificate was sent"),
                                        (rogue, "The SSL certificate error")]:
                        p = c.run("get", "--fail", "--cacert", ca, "--backend", backend, *extra, url)
                        c.expect_exit(p, EXIT["http"], f"{what}: nginx answers 400 ({says})")
                        p = c.run("get", "--cacert", ca, "--backend", backend, *extra, url)
                        c.check(says in p.stdout, f"{what}: nginx's 400 says {says!r}", p)
                    continue
                p = c.run("get", "--cacert", ca, "--backend", backend, url)
                c.expect_exit(p, EXIT["tls"], f"{what}: no certificate")
                c.one_line_error(p, f"{what}: no certificate", "tls:certificate_required")
                p = c.run("get", "--cacert", ca, "--backend", backend, *rogue, url)
                c.expect_exit(p, EXIT["tls"], f"{what}: a certificate from a CA the server does not trust")
                c.one_line_error(p, f"{what}: refused certificate", "tls:certificate_required")
            # SSLKEYLOGFILE, as curl reads it: lines for this connection, and a warning.
            keylog = c.tmp / f"keys-{backend}.log"
            p = c.run("get", "--cacert", ca, "--backend", backend, *ec, servers[1][1],
                      env={"SSLKEYLOGFILE": str(keylog), "CONNMATRIX_LOG": "warn"})
            c.expect_exit(p, 0, f"{backend}: get with SSLKEYLOGFILE")
            c.check("key logging is on" in p.stderr, f"{backend}: key logging warns", p)
            lines = keylog.read_text().splitlines() if keylog.exists() else []
            labels = {l.split(" ")[0] for l in lines}
            c.check(bool(labels) and labels <= {"CLIENT_RANDOM", "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                                                "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
                                                "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"},
                    f"{backend}: the key log has NSS labels ({sorted(labels)})", p)
            c.check(all(re.fullmatch(r"[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,96}", l) for l in lines),
                    f"{backend}: each key log line is LABEL CLIENT_RANDOM SECRET in hex", p)
        p = c.run("get", "--cacert", ca, servers[0][1], env={"SSLKEYLOGFILE": "/nonexistent-dir/keys.log"})
        c.expect_exit(p, EXIT["tls"], "SSLKEYLOGFILE in a missing directory")
        c.one_line_error(p, "unwritable key log", '"/nonexistent-dir/keys.log" (SSLKEYLOGFILE)')
        p = c.run("get", "--cacert", ca, *ec, "--key-pass-env", "CONNMATRIX_NO_SUCH_VAR", servers[0][1])
        c.expect_exit(p, EXIT["config"], "--key-pass-env naming an unset variable")
        c.check("defaults.tls.client_key_password_env: the environment variable CONNMATRIX_NO_SUCH_VAR"
                in p.stderr, "unset passphrase variable: named with its JSON path", p)
        p = c.run("get", "--cacert", ca, "--cert", str(certs / "client-ec.pem"), "--key",
                  str(certs / "client-rsa.key"), servers[0][1])
        c.expect_exit(p, EXIT["tls"], "a key that belongs to another certificate")
        c.check("client-rsa.key" in p.stderr and "tls:invalid_config" in p.stderr,
                "mismatched key: tls:invalid_config naming the key file", p)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def probe_agrees_with_interop(c):
    """Issue 5: `probe --json` on every interop server agrees with the interop test matrix.

    The expected cells are not written here: interop_expect prints the interop suite's own
    spec-derived expectation (tests/interop/interop_spec.hpp, what interop_matrix asserts) as
    a `probe --expect` file per server. Each server is probed with the interop cells' timeouts
    (interop_expect config, --timeout its request timeout), the fixture's CA, probe's five
    modes, and --parallel 1 where the server takes one connection at a time."""
    need_fixture(c)
    c.check(bool(c.interop_expect), "--interop-expect names the interop_expect program")

    def tool(*argv):
        p = subprocess.run([c.interop_expect, *argv], capture_output=True, text=True, timeout=30)
        c.check(p.returncode == 0, f"interop_expect {' '.join(argv[:2])}", p)
        return p.stdout

    spec = {}
    for line in tool("servers").splitlines():
        name, scheme, how = line.split()
        spec[name] = (scheme, how == "serial")
    # Every origin server of the fixture is in the spec, and the other way round. (The CONNECT
    # proxy is no origin: the interop suite probes through it separately.)
    fixture = [n for n in c.fixture["SERVERS"].split() if c.fixture[n.upper() + "_SPEAKS"] != "proxy"]
    c.check(sorted(fixture) == sorted(spec),
            f"the spec covers every origin server of the fixture ({len(spec)}): "
            f"fixture only {sorted(set(fixture) - set(spec))}, spec only {sorted(set(spec) - set(fixture))}")
    for name, (scheme, _) in spec.items():
        c.check(c.fixture[name.upper() + "_SCHEME"] == scheme, f"{name}: {scheme} in the spec and the fixture")

    config_text = tool("config")
    request_timeout = json.loads(config_text)["defaults"]["timeouts"]["request"]
    config = c.write("interop-timeouts.json", config_text)

    expect = {}
    for name in spec:
        text = tool("expect", name, *c.backends)
        doc = json.loads(text)
        modes = list(dict.fromkeys(r["mode"] for r in doc["results"]))
        c.check(modes == MODES, f"{name}: the spec's cells cover probe's modes ({', '.join(MODES)})")
        expect[name] = (doc, c.write(f"expect-{name}.json", text))

    runs = {}

    def probe(name):  # in a thread: no checks here
        path = expect[name][1]
        p = c.run("probe", "--json", "--cacert", c.fixture["CA_FILE"], "--config", config,
                  "--timeout", request_timeout, "--modes", ",".join(MODES),
                  "--parallel", "1" if spec[name][1] else "4", "--expect", path, c.url(name),
                  timeout=100)
        runs[name] = p

    # The one-connection-at-a-time servers (whose stalled h2 cells take timeouts.tls each) run
    # alongside the others; the others run one after another, four cells at a time.
    serial = [n for n in spec if spec[n][1]]
    rest = [n for n in spec if not spec[n][1]]
    t0 = time.monotonic()
    threads = [threading.Thread(target=probe, args=(n,)) for n in serial]
    threads.append(threading.Thread(target=lambda: [probe(n) for n in rest]))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0

    disagreements = []
    for name in spec:
        c.check(name in runs, f"{name}: probed")
        p, expected = runs[name], expect[name][0]
        c.check(p.returncode in (EXIT["ok"], EXIT["check_failed"]), f"{name}: probe --expect ran", p)
        doc = json.loads(p.stdout)
        c.check(len(doc["results"]) == len(expected["results"]) and "not compared" not in p.stderr,
                f"{name}: every probed cell is an expected one and the other way round "
                f"({len(expected['results'])})", p)
        if p.returncode == EXIT["check_failed"]:
            for line in p.stderr.splitlines():
                if line.startswith("  "):
                    mode = line.split()[1].rstrip(":")
                    disagreements.append(f"{name} {line.strip()}  [spec: {expected['why'].get(mode)}]")
        else:
            print(f"ok   {name}: probe agrees with the interop matrix in all "
                  f"{len(doc['results'])} cells")
    if disagreements:
        print("probe disagrees with the interop matrix:\n" + "\n".join("  " + d for d in disagreements))
    c.check(not disagreements, f"probe agrees with the interop matrix on every server "
                               f"({len(disagreements)} cell(s) differ)")
    print(f"probed {len(spec)} servers in {seconds:.1f} s")


class NameServer:
    """A DNS server over UDP on 127.0.0.1 (RFC 1035 4.1, what a client's queries need): A
    queries for the names in `v4` get that address (TTL 60), AAAA queries an answer with no
    record, other names NXDOMAIN. Counts the queries per (name, type)."""

    def __init__(self, v4):
        import socket
        self.v4 = v4
        self.asked = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        import socket
        while not self.stop:
            try:
                q, peer = self.sock.recvfrom(1500)
            except socket.timeout:
                continue
            at, labels = 12, []
            while at < len(q) and q[at]:
                labels.append(q[at + 1:at + 1 + q[at]].decode().lower())
                at += 1 + q[at]
            name, qtype = ".".join(labels), int.from_bytes(q[at + 1:at + 3], "big")
            self.asked[(name, qtype)] = self.asked.get((name, qtype), 0) + 1
            known = name in self.v4
            head = q[:2] + bytes([0x84 | (q[2] & 1), 0x80 if known else 0x83]) + b"\0\1"
            answers = b""
            if known and qtype == 1:
                answers = (b"\xc0\x0c\0\1\0\1" + (60).to_bytes(4, "big") + b"\0\4" +
                           bytes(int(x) for x in self.v4[name].split(".")))
            count = 1 if answers else 0
            self.sock.sendto(head + count.to_bytes(2, "big") + b"\0\0\0\0" + q[12:at + 5] + answers, peer)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def dns_servers(c, port):
    """get --dns-servers: names resolved by the name server given (c-ares), not the system's."""
    ns = NameServer({"api.test": "127.0.0.1"})
    try:
        p = c.run("get", "-w", "%{remote_ip}", "--dns-servers", f"127.0.0.1:{ns.port}",
                  f"http://api.test:{port}/ok/dns")
        c.expect_exit(p, 0, "get --dns-servers ADDR:PORT")
        c.check(p.stdout == "GET /ok/dns: attempt 1\n127.0.0.1", "--dns-servers: api.test answered by ours", p)
        c.check(ns.asked.get(("api.test", 1)) == 1 and ns.asked.get(("api.test", 28)) == 1,
                f"--dns-servers: one A and one AAAA query went to our server ({ns.asked})")
        p = c.run("get", "--dns-servers", f"127.0.0.1:{ns.port}", f"http://nx.test:{port}/")
        c.check(p.returncode == EXIT["net"] and "cannot resolve nx.test" in p.stderr,
                "--dns-servers: NXDOMAIN from ours is net:resolve_failed naming the name", p)
        p = c.run("get", "--dns-servers", f"127.0.0.1:{ns.port},dns.example", f"http://api.test:{port}/")
        c.check(p.returncode == EXIT["usage"] and "--dns-servers" in p.stderr and "dns.example" in p.stderr,
                "--dns-servers with a name, not an address: a usage error naming it", p)
    finally:
        ns.close()


def expect_continue(c, url):
    """get -H 'Expect: 100-continue': Python's http.server answers 100 Continue, and the body goes
    on it, not after --expect100-timeout (60 s here, beyond --timeout: a wait for it would fail)."""
    p = c.run("get", "-H", "Expect: 100-continue", "--data-binary", "hello", "--expect100-timeout", "60",
              "--timeout", "10", url + "/ok/expect")
    c.expect_exit(p, 0, "get -H 'Expect: 100-continue' to a server that says 100")
    c.check(p.stdout == "POST /ok/expect: attempt 1\n", "Expect: 100-continue: the body went on the 100", p)
    p = c.run("get", "--expect100-timeout", "soon", url + "/ok/x")
    c.check(p.returncode == EXIT["usage"] and "--expect100-timeout" in p.stderr,
            "--expect100-timeout soon: a usage error naming the flag", p)


def connect_overrides(c):
    """--resolve and --connect-to against a local HTTP server, without DNS (.invalid names never
    resolve, RFC 6761), and their usage errors; --dns-servers with a name server of ours;
    --expect100-timeout with Python's http.server."""
    s = FlakyServer()
    try:
        port = s.httpd.server_address[1]
        url = f"http://never.invalid:{port}/ok/resolve"
        p = c.run("get", "-w", "%{remote_ip} %{remote_port}", "--resolve", f"never.invalid:{port}:127.0.0.1", url)
        c.expect_exit(p, 0, "get --resolve HOST:PORT:ADDR")
        c.check(p.stdout == f"GET /ok/resolve: attempt 1\n127.0.0.1 {port}", "--resolve: the fixed address", p)
        # Several addresses, IPv6 first (Happy Eyeballs): nothing listens on ::1 here, 127.0.0.1 wins.
        p = c.run("get", "-w", "%{remote_ip}", "--resolve", f"never.invalid:{port}:[::1],127.0.0.1", url)
        c.check(p.returncode == 0 and p.stdout.endswith("attempt 2\n127.0.0.1"),
                "--resolve with ::1 (refused) and 127.0.0.1: IPv4 wins", p)
        # Another port of the same host is not covered.
        p = c.run("get", "--resolve", f"never.invalid:{port + 1 if port < 65535 else 1}:127.0.0.1", url)
        c.expect_exit(p, EXIT["net"], "--resolve for another port: DNS, which fails for .invalid")
        p = c.run("get", "-w", "%{remote_ip} %{remote_port}", "--connect-to",
                  f"example.invalid:80:127.0.0.1:{port}", "http://example.invalid/ok/to")
        c.expect_exit(p, 0, "get --connect-to HOST1:PORT1:HOST2:PORT2")
        c.check(p.stdout == f"GET /ok/to: attempt 1\n127.0.0.1 {port}", "--connect-to: bytes went to HOST2:PORT2", p)
        p = c.run("get", "--connect-to", f"::127.0.0.1:{port}", "http://any.invalid:8080/ok/any")
        c.expect_exit(p, 0, "--connect-to with empty HOST1 and PORT1: every host")
        p = c.run("get", "--connect-to", f"other.invalid::127.0.0.1:{port}", "http://other.invalid:81/ok/anyport")
        c.expect_exit(p, 0, "--connect-to with an empty PORT1: any port of HOST1")
        p = c.run("get", "--connect-to", f"example.invalid:81:127.0.0.1:{port}", "http://example.invalid/ok/no")
        c.expect_exit(p, EXIT["net"], "--connect-to for another port leaves the URL's alone")
        # The rule the configuration had for the host still applies, with the address added.
        with tempfile.TemporaryDirectory() as d:
            cfg = pathlib.Path(d) / "c.json"
            cfg.write_text(json.dumps({"hosts": [{"match": "*.invalid", "timeouts": {"request": "4s"}}]}))
            p = c.run("get", "--config", str(cfg), "-v", "--resolve", f"never.invalid:{port}:127.0.0.1", url)
            c.check(p.returncode == 0 and "from the command line" in p.stderr, "--resolve with a config file", p)
        for args, why in [(["--resolve", "x.invalid:80"], "no address"),
                          (["--resolve", "x.invalid:80:db.internal"], "is not an IP address"),
                          (["--resolve", "x.invalid:0:127.0.0.1"], "PORT must be 1 to 65535"),
                          (["--resolve", "*:80:127.0.0.1"], "HOST must be a host name"),
                          (["--resolve", "x.invalid:80:+127.0.0.1"], "'+'"),
                          (["--connect-to", ":80:127.0.0.1:1"], "an empty HOST1 with a PORT1"),
                          (["--connect-to", "a.invalid:80:b.invalid:"], "HOST2 and PORT2 are both needed"),
                          (["--connect-to", "a.invalid:80"], "no HOST2:PORT2"),
                          (["--connect-to", "a.invalid:80:b.invalid:99999"], "PORT2 must be 1 to 65535")]:
            p = c.run("get", *args, "http://x.invalid/")
            c.check(p.returncode == EXIT["usage"] and why in p.stderr and args[0] in p.stderr,
                    f"{' '.join(args)}: a usage error saying {why!r}", p)
        p = c.run("get", "--resolve", f"x.invalid:80:127.0.0.1", "--connect-to", "x.invalid:80:127.0.0.1:1",
                  "http://x.invalid/")
        c.check(p.returncode == EXIT["config"] and "resolve and connect_to in one rule" in p.stderr,
                "--resolve and --connect-to for the same HOST:PORT contradict", p)
        dns_servers(c, port)
        expect_continue(c, s.url)
    finally:
        s.close()


GROUPS = {f.__name__: f for f in [usage_errors, check_config, explain, version, probe_json,
                                  probe_expect, probe_junit, probe_html, probe_timeout, get_against_servers,
                                  probe_agrees_with_interop, mutual_tls, curl_flags, retry, man_page,
                                  completion, connect_overrides, stream_output,
                                  stream_upload]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("group", choices=sorted(GROUPS))
    ap.add_argument("--connmatrix", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--backends", required=True)
    ap.add_argument("--default-backend", required=True)
    ap.add_argument("--interop-expect", help="the interop_expect program (probe_agrees_with_interop)")
    ap.add_argument("--man-page", help="the built connmatrix.1 (man_page)")
    c = Ctx(ap.parse_args())
    GROUPS[ap.parse_args().group](c)
    print(f"{c.checks} checks passed")


if __name__ == "__main__":
    main()
