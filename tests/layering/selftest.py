#!/usr/bin/env python3
"""Proves scripts/check-layers.py can fail, on fabricated `ninja -t deps` listings.

- clean.deps (allowed includes of every layer, and a test object that includes anything) passes;
- violation.deps fails, with exactly the lines of violation.expected;
- a source under lib/ or backends/ with `#include "../` fails, with clean deps;
- an object in a folder the table does not know is an error, not silently skipped.

Each case runs in an empty temporary source tree (paths in the listings are relative to its
build/ directory), with --ignore-known so that KNOWN_VIOLATIONS plays no part.
Usage: selftest.py CHECK_LAYERS_PY
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = None  # a temporary directory holding every source tree, removed at the end
failures = []


def run(checker, source_root, deps_file):
    cmd = [sys.executable, checker, "--ignore-known", "--source-root", source_root,
           "--deps-file", deps_file, os.path.join(source_root, "build")]
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def expect(name, condition, output):
    print(("ok   " if condition else "FAIL ") + name)
    if not condition:
        failures.append(name)
        print("  output was:\n" + "".join("    " + line + "\n" for line in output.splitlines()))


def tree(files=None):
    root = tempfile.mkdtemp(dir=WORK)
    for folder in ("lib", "backends", "build"):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    for rel, text in (files or {}).items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return root


def main():
    checker = sys.argv[1]
    clean = os.path.join(HERE, "clean.deps")
    violation = os.path.join(HERE, "violation.deps")
    with open(os.path.join(HERE, "violation.expected"), encoding="utf-8") as f:
        expected = [line.rstrip("\n") for line in f if line.strip()]

    rc, out = run(checker, tree(), clean)
    expect("clean.deps passes", rc == 0 and out.startswith("layering ok: 13 objects"), out)

    rc, out = run(checker, tree(), violation)
    found = [line for line in out.splitlines() if " not allowed; " in line]
    expect("violation.deps fails (exit 1)", rc == 1, out)
    for line in expected:
        expect("reported: " + line.split(" (belongs to ")[0], line in found, out)
    extra = [line for line in found if line not in expected]
    expect("nothing else reported (tests/ objects are not checked)", not extra, "\n".join(extra))

    escaping = tree({
        "lib/pool/bad.cpp": '#include "pool.hpp"\n#include "../net/transport.hpp"\n',
        "backends/openssl/bad.hpp": "#pragma once\n#  include <../../lib/tls/alpn.hpp>\n",
        "lib/http1/fine.cpp": '#include "http1.hpp"  // "../" in a comment is fine\n',
    })
    rc, out = run(checker, escaping, clean)
    expect("relative includes fail (exit 1)", rc == 1, out)
    expect("reported: lib/pool/bad.cpp:2",
           'lib/pool/bad.cpp:2: #include "../net/transport.hpp": relative include' in out, out)
    expect("reported: backends/openssl/bad.hpp:2",
           "backends/openssl/bad.hpp:2: #  include <../../lib/tls/alpn.hpp>: relative" in out, out)
    expect("not reported: lib/http1/fine.cpp", "fine.cpp" not in out, out)

    unknown = os.path.join(tree(), "unknown.deps")
    with open(unknown, "w", encoding="utf-8") as f:
        f.write("lib/quic/libquic.a.p/quic.cpp.o: #deps 1, deps mtime 1 (VALID)\n"
                "    ../lib/quic/quic.cpp\n")
    rc, out = run(checker, os.path.dirname(unknown), unknown)
    expect("an object of no known layer is an error (exit 2)",
           rc == 2 and "lib/quic/libquic.a.p/quic.cpp.o: in no layer of the table" in out, out)

    print(f"{len(failures)} failure(s)" if failures else "layering self-test ok")
    return 1 if failures else 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="layering-selftest-") as WORK:
        sys.exit(main())
