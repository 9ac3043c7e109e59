#!/usr/bin/python3
"""The JSON schema and the loader agree on configs/ and tests/configs/invalid/.

Every configs/*.json (except the schema) must pass both the schema (JSON Schema 2020-12, with
python3-jsonschema) and the loader (policy_config_check --all-backends). Every
tests/configs/invalid/*.json must be rejected by the loader, and by the schema too unless
tests/configs/invalid-expectations.json marks it "schema": false (duplicate keys and rules,
cross-object contradictions, case-sensitivity, limits a schema cannot express) - in which case
the schema must accept it, so that list stays honest.

Fails loudly, never skips: a missing python3-jsonschema is a failure.
"""
import argparse
import json
import pathlib
import subprocess
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--schema", required=True, type=pathlib.Path)
    ap.add_argument("--configs", required=True, type=pathlib.Path)
    ap.add_argument("--invalid", required=True, type=pathlib.Path)
    ap.add_argument("--expectations", required=True, type=pathlib.Path)
    ap.add_argument("--checker", required=True, help="the policy_config_check executable")
    args = ap.parse_args()

    try:
        import jsonschema
    except ImportError as e:
        print(f"FAIL: python3-jsonschema is not importable by {sys.executable} ({e}); "
              "install the Debian package python3-jsonschema", file=sys.stderr)
        return 1

    schema = json.loads(args.schema.read_text())
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        print(f"FAIL: {args.schema} is not a valid 2020-12 schema: {e.message}", file=sys.stderr)
        return 1
    validator = jsonschema.Draft202012Validator(schema)

    def schema_errors(path: pathlib.Path) -> list:
        try:
            doc = json.loads(path.read_bytes().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            return [f"not JSON: {e}"]
        return [f"{'/'.join(map(str, err.absolute_path)) or '(root)'}: {err.message}"
                for err in validator.iter_errors(doc)]

    def loader(path: pathlib.Path) -> tuple:
        p = subprocess.run([args.checker, "--all-backends", str(path)],
                           capture_output=True, text=True, errors="replace")
        if p.returncode not in (0, 1):
            raise SystemExit(f"FAIL: {args.checker} exited {p.returncode} on {path}: {p.stderr}")
        return p.returncode == 0, p.stdout.strip()

    expectations = json.loads(args.expectations.read_text())
    failures = []
    checked = 0

    valid = sorted(p for p in args.configs.glob("*.json") if p.name != args.schema.name)
    if not valid:
        failures.append(f"no example configs in {args.configs}")
    for path in valid:
        checked += 1
        errs = schema_errors(path)
        if errs:
            failures.append(f"{path.name}: the schema rejects an example config:\n    " + "\n    ".join(errs))
        ok, out = loader(path)
        if not ok:
            failures.append(f"{path.name}: the loader rejects an example config:\n    {out}")
        print(f"valid    {path.name}: schema {'ok' if not errs else 'REJECTS'}, loader {'ok' if ok else 'REJECTS'}")

    invalid = sorted(args.invalid.glob("*.json"))
    if not invalid:
        failures.append(f"no invalid configs in {args.invalid}")
    for path in invalid:
        checked += 1
        exp = expectations.get(path.name)
        if exp is None:
            failures.append(f"{path.name}: no entry in {args.expectations.name}")
            continue
        errs = schema_errors(path)
        ok, out = loader(path)
        if ok:
            failures.append(f"{path.name}: the loader accepts an invalid config")
        if exp["schema"] and not errs:
            failures.append(f"{path.name}: the schema accepts it, but it is marked \"schema\": true")
        if not exp["schema"] and errs:
            failures.append(f"{path.name}: the schema rejects it, so mark it \"schema\": true:\n    "
                            + "\n    ".join(errs))
        verdict = "rejects" if errs else "accepts (loader-only)"
        print(f"invalid  {path.name}: schema {verdict}, loader {'ACCEPTS' if ok else 'rejects'}")

    for name in sorted(set(expectations) - {p.name for p in invalid}):
        failures.append(f"{args.expectations.name}: {name} names no file in {args.invalid}")

    if failures:
        print(f"\nFAIL: {len(failures)} disagreement(s) in {checked} files:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print(f"\n{checked} files: the schema and the loader agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
