#!/usr/bin/env python3
"""Fails when a layer includes a header it may not (ARCHITECTURE.md, "Layers and folders").

The compiler is the witness: `ninja -t deps` lists, for every object the build compiled, every
header it really included (transitively). Each object is mapped to its layer by the folder of its
target, each header to what owns it (a layer's folder, the public headers, an external library,
the system), and every pair is checked against the table below. Sources under lib/ and backends/
are also scanned for `#include "../`: a layer reaches other code only through the include
directories Meson gives it.

Usage: check-layers.py [--source-root DIR] [--build] [--ninja NINJA] BUILD_DIR
       check-layers.py [--source-root DIR] --deps-file FILE BUILD_DIR
Exit status: 0 clean, 1 violations, 2 the check could not run (unknown layer, nothing built...).
Python 3 standard library only.
"""

import argparse
import os
import re
import subprocess
import sys

# --- the allowed dependencies, as in ARCHITECTURE.md ---------------------------------------------
# layer -> what it may depend on directly: other layers, and external libraries. A layer may use
# the closure of its dependencies (pool may use what net, negotiate, http1 and http2 may use),
# except the PRIVATE libraries below. Every layer may always use its own headers, the system's
# (libc, libstdc++, POSIX, Linux) and files generated in the build directory for it.
DEPENDS = {
    "public":       [],                              # lib/include/connmatrix: standard library only
    "tls_core":     ["public"],                      # lib/tls
    "tls_openssl":  ["tls_core", "openssl"],         # backends/openssl
    "tls_gnutls":   ["tls_core", "gnutls"],          # backends/gnutls
    "tls_mbedtls":  ["tls_core", "mbedtls"],         # backends/mbedtls
    "tls_registry": ["tls_core"],                    # backends/registry.cpp (generated)
    "policy":       ["public", "nlohmann-json"],     # lib/policy
    "negotiate":    ["policy"],                      # lib/negotiate
    "http1":        ["public"],                      # lib/http1
    "http2":        ["public", "nghttp2"],           # lib/http2
    "net":          ["public", "tls_core", "asio", "c-ares"],  # lib/net
    "pool":         ["net", "negotiate", "http1", "http2"],  # lib/pool
    "client":       ["pool", "policy"],              # lib/client
    "cli":          ["public", "CLI11", "nlohmann-json"],    # tools/: the public API only
    "examples":     ["public"],                      # examples/: the public API only
    "bench":        ["public"],                      # bench/: the public API only
    # connmatrix/asio.hpp, the one public header that needs Asio (completion tokens for Asio
    # programs), as its header check and its example use it: the public API and Asio.
    "asio_api":     ["public", "asio"],
}

# External libraries a layer wraps and does not pass on: they are not part of the closure a
# higher layer gets (as Meson's <layer>_dep does not carry them either). Since ninja's deps are
# transitive, this also means that no header of http2 that pool includes may pull in nghttp2,
# no header of policy may pull in nlohmann-json, and none of net c-ares: those stay in the
# layer's .cpp files (or in internal headers only that layer includes, like
# lib/http2/nghttp2_glue.hpp). Asio is not private: net's interface (lib/net/transport.hpp)
# is made of Asio types, so pool and client get it through net. TLS libraries are private to their backend: nothing depends on a backend.
PRIVATE = {"openssl", "gnutls", "mbedtls", "nghttp2", "nlohmann-json", "c-ares"}

# Folders and the layer whose headers (and objects) they hold.
LIB_FOLDERS = {            # lib/<folder>/
    "include": "public",   # lib/include/connmatrix/
    "tls": "tls_core",
    "policy": "policy",
    "negotiate": "negotiate",
    "http1": "http1",
    "http2": "http2",
    "net": "net",
    "pool": "pool",
    "client": "client",
}
BACKEND_FOLDERS = {"openssl": "tls_openssl", "gnutls": "tls_gnutls", "mbedtls": "tls_mbedtls"}
REGISTRY = "tls_registry"  # objects directly in backends/ (the generated registry.cpp)
TOP_FOLDERS = {"tools": "cli", "examples": "examples", "bench": "bench", "tests": "tests"}
# The targets in layer asio_api (see DEPENDS): connmatrix/asio.hpp's header check, its
# example, and the benchmark client (its executor mode runs the Client on its io_context).
ASIO_API_TARGETS = {"libheader_check_asio.a.p", "coroutine_client.p", "bench_client.p"}
# tests/ objects are not checked (tests may include anything), except this one: each of its
# objects compiles one public header alone, so its deps are exactly what that header pulls in.
PUBLIC_HEADER_CHECK_TARGET = "libheader_checks.a.p"

# External libraries by the first component of the include name (<openssl/ssl.h>, <asio.hpp>).
EXTERNAL = {
    "openssl": "openssl",
    "gnutls": "gnutls",
    "mbedtls": "mbedtls",
    "psa": "mbedtls",      # mbedTLS 2.28's PSA crypto headers
    "nghttp2": "nghttp2",
    "asio": "asio",
    "asio.hpp": "asio",
    "ares.h": "c-ares",
    "nlohmann": "nlohmann-json",
    "CLI": "CLI11",
    "doctest": "doctest",
}
SYSTEM = "system"          # everything else outside the project: always allowed
GENERATED = "generated"    # a file in the build directory: belongs to the object's layer
UNKNOWN = "unclassified"   # a project file in no folder of the table: allowed to no layer

# Real violations in today's code that are not fixed yet, so that the test stays green without
# hiding them: (source file, header as the check prints it) -> why it is there, one line, e.g.
#   ("lib/pool/pool.cpp", "<nghttp2/nghttp2.h>"): "reads NGHTTP2_* codes; move to http2's API",
# Fix the include and delete the entry: the check fails while an entry no longer happens (for a
# source this build compiled), so this set only shrinks. --ignore-known reports them all.
KNOWN_VIOLATIONS = {
}

RELATIVE_ESCAPE = re.compile(r'^\s*#\s*include\s*[<"](?:\./)*\.\./')
SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".cc", ".hh", ".ipp", ".inl", ".in")
# What an object is compiled from (the first of its deps that is not a compiler input file).
COMPILED_SUFFIXES = (".cpp", ".cc", ".c")


def fail(message):
    """The check could not run: exit status 2, not 1 (no verdict on the layering)."""
    print("check-layers: " + message)
    sys.exit(2)


def closure(layer):
    """What `layer` may use: its direct dependencies, and theirs minus the PRIVATE libraries."""
    allowed = set()
    for dep in DEPENDS[layer]:
        allowed.add(dep)
        if dep in DEPENDS:
            allowed |= {d for d in closure(dep) if d not in PRIVATE}
    return allowed


def check_table():
    """The table itself: every dependency names a layer or a library, and it has no cycle."""
    known = set(DEPENDS) | set(EXTERNAL.values())
    for layer, deps in DEPENDS.items():
        for dep in deps:
            if dep not in known:
                fail(f"DEPENDS[{layer!r}] names {dep!r}, neither a layer nor a library")
    state = {}

    def visit(layer, path):
        if state.get(layer) == "done":
            return
        if state.get(layer) == "visiting":
            fail("cycle in DEPENDS: " + " -> ".join(path + [layer]))
        state[layer] = "visiting"
        for dep in DEPENDS[layer]:
            if dep in DEPENDS:
                visit(dep, path + [layer])
        state[layer] = "done"

    for layer in DEPENDS:
        visit(layer, [])


def parse_deps(text):
    """`ninja -t deps` output -> {object: [dependency, ...]} in the compiler's order."""
    deps = {}
    current = None
    for line in text.splitlines():
        if not line.strip():
            current = None
        elif not line[0].isspace():
            obj = line.split(": #deps", 1)[0] if ": #deps" in line else line.rstrip(":")
            current = deps.setdefault(obj.strip(), [])
        elif current is not None:
            current.append(line.strip())
    return deps


def object_layer(obj):
    """The layer of an object, from the folder of its target; None for objects not checked."""
    parts = obj.replace("\\", "/").split("/")
    top = parts[0]
    if any(p in ASIO_API_TARGETS for p in parts):
        return "asio_api"
    if top == "lib" and len(parts) > 2:
        return LIB_FOLDERS.get(parts[1], UNKNOWN)
    if top == "backends" and len(parts) > 2:
        if parts[1].endswith(".p"):
            return REGISTRY
        return BACKEND_FOLDERS.get(parts[1], UNKNOWN)
    if top == "tests":
        return "public" if PUBLIC_HEADER_CHECK_TARGET in parts else None
    if top == "subprojects":
        return None
    return TOP_FOLDERS.get(top, UNKNOWN)


def external_of(include_name):
    first = include_name.split("/", 1)[0]
    return EXTERNAL.get(first)


def include_name(path):
    """/usr/include/x86_64-linux-gnu/openssl/conf.h -> openssl/conf.h (None: no include root)."""
    parts = path.split("/")
    if "include" not in parts:
        return None
    rest = parts[parts.index("include") + 1:]
    if rest and re.fullmatch(r"[a-z0-9_]+-linux-gnu[a-z0-9_]*", rest[0]):
        rest = rest[1:]  # the multiarch directory
    return "/".join(rest)


class Classifier:
    def __init__(self, source_root, build_dir):
        self.source_root = os.path.normpath(os.path.abspath(source_root))
        self.build_dir = os.path.normpath(os.path.abspath(build_dir))

    @staticmethod
    def _under(path, root):
        return path == root or path.startswith(root + os.sep)

    def classify(self, dep):
        """A dependency as ninja prints it -> (owner, name to print)."""
        path = os.path.normpath(os.path.join(self.build_dir, dep))
        if self._under(path, self.build_dir):
            return GENERATED, os.path.relpath(path, self.build_dir) + " (generated)"
        if self._under(path, self.source_root):
            rel = os.path.relpath(path, self.source_root).replace(os.sep, "/")
            return self._project_owner(rel), rel
        name = include_name(path)
        if name is None:
            return SYSTEM, path
        return external_of(name) or SYSTEM, "<" + name + ">"

    @staticmethod
    def _project_owner(rel):
        parts = rel.split("/")
        top = parts[0]
        if top == "lib" and len(parts) > 2:
            return LIB_FOLDERS.get(parts[1], UNKNOWN)
        if top == "backends" and len(parts) > 2:
            return BACKEND_FOLDERS.get(parts[1], UNKNOWN)
        if top == "subprojects":
            # A wrap's copy of a library (nlohmann_json-3.11.2/single_include/nlohmann/...).
            for i in range(2, len(parts)):
                ext = external_of("/".join(parts[i:]))
                if ext:
                    return ext
            return UNKNOWN
        if top in TOP_FOLDERS and len(parts) > 1:
            return TOP_FOLDERS[top]
        return UNKNOWN


def run_ninja(ninja, build_dir, *args, env=None):
    """The output of `ninja -C build_dir args...`; exits (status 2) when ninja fails."""
    try:
        out = subprocess.run([ninja, "-C", build_dir, *args], check=True,
                             capture_output=True, text=True, env=env)
    except (OSError, subprocess.CalledProcessError) as e:
        detail = (getattr(e, "stdout", "") or "") + (getattr(e, "stderr", "") or "") or str(e)
        print(detail.strip())
        fail(f"`{ninja} -C {build_dir} {' '.join(args[:3])}{' ...' if len(args) > 3 else ''}` "
             "failed")
    return out.stdout


def compiled_objects(ninja, build_dir):
    """Every object the current build.ninja compiles (`ninja -t targets all`)."""
    objects = set()
    for line in run_ninja(ninja, build_dir, "-t", "targets", "all").splitlines():
        target, _, rule = line.rpartition(": ")
        if rule.strip().endswith("_COMPILER"):
            objects.add(target)
    return objects


def build(ninja, build_dir, objects):
    """Compiles what is out of date among `objects`, one at a time (tests run meanwhile)."""
    run_ninja(ninja, build_dir, "-j1", *sorted(objects))


def out_of_date(ninja, build_dir, objects):
    """What a dry run would still compile among `objects`: their deps would be out of date."""
    out = run_ninja(ninja, build_dir, "-n", *sorted(objects),
                    env=dict(os.environ, NINJA_STATUS=""))
    return [line for line in out.splitlines() if line and not line.startswith("ninja: ")]


def relative_escapes(source_root):
    """Every `#include "../...` in the sources under lib/ and backends/."""
    found = []
    scanned = 0
    for top in ("lib", "backends"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(source_root, top)):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                scanned += 1
                with open(path, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        if RELATIVE_ESCAPE.match(line):
                            rel = os.path.relpath(path, source_root).replace(os.sep, "/")
                            found.append(f"{rel}:{number}: {line.strip()}: relative include "
                                         "escapes the layer's folder; include through the "
                                         "include directories the layer was given")
    return found, scanned


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("build_dir", metavar="BUILD_DIR",
                    help="the build directory (paths in the deps listing are relative to it)")
    ap.add_argument("--source-root", default=os.path.join(os.path.dirname(__file__), ".."),
                    help="the project's source root (default: this script's parent folder)")
    ap.add_argument("--deps-file", help="read this saved `ninja -t deps` listing instead of "
                    "running ninja (then every object in it is checked)")
    ap.add_argument("--ninja", default=os.environ.get("NINJA", "ninja"), help="ninja to run")
    ap.add_argument("--build", action="store_true",
                    help="first compile the objects to check that are out of date (`meson test "
                    "NAME` builds only what the selected tests depend on)")
    ap.add_argument("--ignore-known", action="store_true",
                    help="report KNOWN_VIOLATIONS as violations too (and do not check them)")
    args = ap.parse_args()

    check_table()
    known = {} if args.ignore_known else dict(KNOWN_VIOLATIONS)
    classifier = Classifier(args.source_root, args.build_dir)

    if args.deps_file:
        with open(args.deps_file, encoding="utf-8") as f:
            deps = parse_deps(f.read())
        current = set(deps)
    else:
        current = compiled_objects(args.ninja, args.build_dir)
        if args.build:
            build(args.ninja, args.build_dir,
                  [o for o in current if object_layer(o) not in (None, UNKNOWN)])
        deps = parse_deps(run_ninja(args.ninja, args.build_dir, "-t", "deps"))

    problems = []        # the check could not be done
    violations = []
    known_seen = set()
    layers_seen = set()
    headers = set()
    includes = 0
    checked = 0
    checked_objects = []
    checked_sources = set()

    for obj in sorted(current):
        layer = object_layer(obj)
        if layer is None:
            continue
        if layer == UNKNOWN or layer not in DEPENDS:
            problems.append(f"{obj}: in no layer of the table (add its folder to check-layers.py)")
            continue
        if obj not in deps or not deps[obj]:
            problems.append(f"{obj} (layer {layer}): no deps record, it was not compiled yet "
                            f"(build first: ninja -C {args.build_dir})")
            continue
        checked += 1
        checked_objects.append(obj)
        layers_seen.add(layer)
        allowed = closure(layer) | {layer, SYSTEM, GENERATED}
        source = None
        bad = {}  # owner -> the headers of it this object may not include, in include order
        for dep in deps[obj]:
            if source is None and not dep.endswith(COMPILED_SUFFIXES):
                # Before the source, clang's sanitizers list their ignorelist
                # (share/asan_ignorelist.txt): an input, not an include.
                continue
            owner, name = classifier.classify(dep)
            if source is None:
                source = name.replace(" (generated)", "")  # the compiler lists the source first
                checked_sources.add(source)
                continue
            includes += 1
            headers.add(name)
            if owner in allowed:
                continue
            key = (source, name)
            if key in known:
                known_seen.add(key)
                continue
            bad.setdefault(owner, []).append(name)
        may = (", ".join(sorted(allowed - {layer, SYSTEM, GENERATED}))
               or "nothing but the system headers")
        for owner, names in bad.items():
            # Project headers each; of a library, only the first (the one an #include named:
            # the compiler lists them in include order) and a count of those it pulled in.
            shown = names if owner in DEPENDS or owner == UNKNOWN else names[:1]
            more = len(names) - len(shown)
            tail = f" (and {more} more {owner} headers it pulls in)" if more else ""
            for name in shown:
                violations.append(f"{obj} (layer {layer}) includes {name} (belongs to {owner}): "
                                  f"not allowed; {layer} may use: {may}{tail}")

    if not args.deps_file and checked:
        # `meson test NAME` builds only what the selected tests depend on: an object it did not
        # rebuild (a changed example, say) would be checked against its previous includes.
        for line in out_of_date(args.ninja, args.build_dir, checked_objects):
            problems.append(f"out of date, its deps may be stale: {line} (build first: "
                            f"ninja -C {args.build_dir})")

    escapes, scanned = relative_escapes(classifier.source_root)
    violations += escapes

    # A known violation that no longer happens: delete it, so the list only shrinks. Only for
    # sources this build compiled (a single-backend build has none of the other backends'), or
    # that are gone from the source tree.
    for key in sorted(set(known) - known_seen):
        src = key[0]
        gone = not any(os.path.exists(os.path.join(root, src))
                       for root in (classifier.source_root, classifier.build_dir))
        if src in checked_sources or gone:
            violations.append(f"KNOWN_VIOLATIONS entry {key} no longer happens: delete it "
                              "from scripts/check-layers.py")

    for key in sorted(known_seen):
        print(f"known violation, listed in KNOWN_VIOLATIONS: {key[0]} includes {key[1]}: "
              f"{known[key]}")
    for line in problems + violations:
        print(line)
    if problems:
        print(f"check-layers: {len(problems)} object(s) could not be checked")
        return 2
    if violations:
        print(f"check-layers: {len(violations)} layering violation(s) in {checked} objects "
              "checked (ARCHITECTURE.md, \"Layers and folders\", says who may include what)")
        return 1
    note = f", {len(known_seen)} known violation(s) still listed" if known_seen else ""
    print(f"layering ok: {checked} objects in {len(layers_seen)} layers checked, "
          f"{len(headers)} distinct headers ({includes} includes), "
          f"{scanned} sources under lib/ and backends/ without relative includes{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
