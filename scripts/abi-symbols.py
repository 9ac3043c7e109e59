#!/usr/bin/env python3
"""The exported symbols of libconnmatrix.so, against the list kept in abi/connmatrix.symbols.

Usage: abi-symbols.py [--nm NM] [--cxxfilt CXXFILT] LIBRARY              print the list
       abi-symbols.py [--nm NM] [--cxxfilt CXXFILT] --check LIBRARY FILE  compare (the abi_symbols test)
       abi-symbols.py [--nm NM] [--cxxfilt CXXFILT] --update LIBRARY FILE write FILE

The list holds every dynamic symbol the library defines, demangled, sorted, one per line, except
weak functions (nm's W): those are inline functions and template code that the compiler chose
to emit out of line, differently with GCC and clang and at each optimisation level; a consumer
always has its own copy of them, so they are not part of what it links against. Vtables and
typeinfo are kept, weak or not (GCC makes some weak that clang does not), except the typeinfo of
function types ("typeinfo for connmatrix::Error (int)"), which clang's -fsanitize=function (part
of UBSan's "undefined") emits for functions called through pointers. Demangled, because a
reviewer reads the list's diff; only the constructor and destructor variants (C1/C2, D0/D1/D2)
fold into one line.

--check also fails when the library exports anything outside namespace connmatrix, which the
version script (abi/connmatrix.map) is there to prevent, but for SHARED: Asio's per-thread
record of which io_context the thread is running, one variable that must be the consumer's
and the library's alike for a Client on the consumer's io_context (ClientOptions::executor). Exit status: 0 same, 1 different,
2 the check could not run. Python 3 standard library only.
"""

import argparse
import subprocess
import sys

HEADER = """\
# The symbols libconnmatrix.so exports (scripts/abi-symbols.py, which says what is left out).
# The abi_symbols test fails when the library's differ. A change here is a change of the ABI:
# removing or changing a line breaks consumers (the SONAME must change, README.md "Install and
# use"), adding one does not. Regenerate: ninja -C BUILD abi-symbols-update
"""

OURS = ("connmatrix::", "typeinfo for connmatrix::", "typeinfo name for connmatrix::",
        "vtable for connmatrix::", "VTT for connmatrix::")
# Exported on purpose, outside namespace connmatrix (abi/connmatrix.map says why).
SHARED = ("asio::detail::keyword_tss_ptr<asio::detail::call_stack<asio::detail::thread_context, "
          "asio::detail::thread_info_base>::context>::value_",)


def run(cmd, stdin=None):
    try:
        return subprocess.run(cmd, input=stdin, check=True, capture_output=True,
                              text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"abi-symbols: `{' '.join(cmd)}` failed: {getattr(e, 'stderr', '') or e}")
        sys.exit(2)


def exported(nm, cxxfilt, library):
    """[(type letter, demangled name)] of every dynamic symbol the library defines."""
    rows = []
    for line in run([nm, "-D", "--defined-only", "--format=posix", library]).splitlines():
        parts = line.split()
        if len(parts) >= 2:
            rows.append((parts[1], parts[0]))
    names = run([cxxfilt], "\n".join(name for _, name in rows) + "\n").splitlines()
    if len(names) != len(rows):
        print("abi-symbols: c++filt returned a different number of names")
        sys.exit(2)
    return [(kind, name) for (kind, _), name in zip(rows, names)]


def function_type_rtti(name):
    """typeinfo (name) for a function type: the name ends with its parameter list."""
    return name.startswith(("typeinfo for ", "typeinfo name for ")) and name.endswith(")")


def listed(symbols):
    return sorted({name for kind, name in symbols
                   if kind not in ("W", "w") and name.startswith(OURS)
                   and not function_type_rtti(name)})


def foreign(symbols):
    return sorted({name for kind, name in symbols
                   if not name.startswith(OURS) and not name.startswith(("_init", "_fini"))
                   and name not in SHARED and kind not in ("W", "w")})


def read_list(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    except OSError as e:
        print(f"abi-symbols: {e}")
        sys.exit(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--cxxfilt", default="c++filt")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--update", action="store_true")
    ap.add_argument("library")
    ap.add_argument("file", nargs="?")
    args = ap.parse_args()
    if (args.check or args.update) and not args.file:
        ap.error("--check and --update need FILE")

    symbols = exported(args.nm, args.cxxfilt, args.library)
    now = listed(symbols)
    if not now:
        print(f"abi-symbols: {args.library} exports nothing of connmatrix's")
        sys.exit(2)
    if args.update:
        with open(args.file, "w", encoding="utf-8") as f:
            f.write(HEADER + "".join(s + "\n" for s in now))
        print(f"{args.file}: {len(now)} symbols")
        return 0
    if not args.check:
        print("\n".join(now))
        return 0

    want = read_list(args.file)
    added = sorted(set(now) - set(want))
    removed = sorted(set(want) - set(now))
    stray = foreign(symbols)
    for s in removed:
        print(f"removed: {s}")
    for s in added:
        print(f"added:   {s}")
    for s in stray:
        print(f"exported outside namespace connmatrix (abi/connmatrix.map): {s}")
    if removed or added:
        print(f"{args.library}: {len(removed)} removed, {len(added)} added against {args.file}. "
              "Deliberate? Regenerate with `ninja -C BUILD abi-symbols-update` and commit it "
              "(a removal breaks consumers: README.md, \"Install and use\").")
    if removed or added or stray:
        return 1
    print(f"{args.library}: the {len(now)} symbols of {args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
