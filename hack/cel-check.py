#!/usr/bin/env python3
"""Evaluates the CEL rules (x-kubernetes-validations) of Sextant's CRDs on manifests, the way the
API server does: schema defaults applied first, `number` fields as doubles, each rule evaluated
with `self` bound to its node (and `oldSelf` = `self`, i.e. a no-op update).

The development API server does not evaluate CEL, so this checks that the rules compile and
accept the examples; tests also feed it invalid manifests that each rule must reject.

Usage: cel-check.py CRD_DIR [MANIFEST | --update OLD NEW]...   (needs: pip install cel-python pyyaml)
With --update, NEW is checked as an update of OLD: `oldSelf` is the old value at the same path
(transition rules run only where both exist).
Prints one JSON line per manifest: {"file", "kind", "errors": [{"path", "message", "rule"}]}.
Exit code: 0 when every manifest passes, 1 otherwise, 2 on a rule that fails to compile.
"""
import copy
import glob
import json
import os
import sys

import celpy
import yaml


def apply_defaults(schema, value):
    """Fills `default`s of absent properties, recursively, as the API server does."""
    if isinstance(value, dict):
        for name, prop in (schema.get("properties") or {}).items():
            if name not in value and "default" in prop:
                value[name] = copy.deepcopy(prop["default"])
            if name in value:
                value[name] = apply_defaults(prop, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for k in list(value):
                if k not in (schema.get("properties") or {}):
                    value[k] = apply_defaults(extra, value[k])
    elif isinstance(value, list) and "items" in schema:
        return [apply_defaults(schema["items"], v) for v in value]
    elif schema.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


ENV = celpy.Environment()
PROGRAMS = {}


def program(rule):
    if rule not in PROGRAMS:
        try:
            PROGRAMS[rule] = ENV.program(ENV.compile(rule))
        except Exception as error:  # a rule that does not compile is a bug in the CRD
            print(json.dumps({"compileError": rule, "message": str(error)}))
            sys.exit(2)
    return PROGRAMS[rule]


_ABSENT = object()


def evaluate(schema, value, path, errors, old=_ABSENT):
    for rule in schema.get("x-kubernetes-validations") or []:
        transition = "oldSelf" in rule["rule"]
        if transition and old is _ABSENT:
            continue  # the API server runs transition rules only on updates, where the old value exists
        cel_value = celpy.json_to_cel(value)
        old_value = celpy.json_to_cel(old) if old is not _ABSENT else cel_value
        try:
            ok = program(rule["rule"]).evaluate({"self": cel_value, "oldSelf": old_value})
        except Exception as error:
            ok = False
            rule = dict(rule, message=f"{rule['message']} (evaluation error: {error})")
        # cel-python returns (not raises) evaluation errors; only a true BoolType passes.
        if not (isinstance(ok, celpy.celtypes.BoolType) and bool(ok)):
            errors.append({"path": path + rule.get("fieldPath", ""), "message": rule["message"], "rule": rule["rule"]})
    if isinstance(value, dict):
        for name, prop in (schema.get("properties") or {}).items():
            if name in value:
                child_old = old.get(name, _ABSENT) if isinstance(old, dict) else _ABSENT
                evaluate(prop, value[name], f"{path}.{name}" if path else name, errors, child_old)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            # Like the API server for atomic lists: no old value per item.
            evaluate(schema["items"], item, f"{path}[{i}]", errors)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    schemas = {}
    for path in glob.glob(os.path.join(sys.argv[1], "*.yaml")):
        with open(path) as f:
            crd = yaml.safe_load(f)
        schemas[crd["spec"]["names"]["kind"]] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    failed = False
    args = sys.argv[2:]
    jobs = []
    while args:
        if args[0] == "--update" and len(args) >= 3:
            jobs.append((args[2], args[1]))
            args = args[3:]
        else:
            jobs.append((args[0], None))
            args = args[1:]
    for path, old_path in jobs:
        with open(path) as f:
            doc = yaml.safe_load(f)
        kind = doc.get("kind")
        if kind not in schemas:
            print(json.dumps({"file": path, "kind": kind, "errors": [{"path": "kind", "message": "no CRD", "rule": ""}]}))
            failed = True
            continue
        schema = schemas[kind]
        doc = apply_defaults(schema, doc)
        old = _ABSENT
        if old_path:
            with open(old_path) as f:
                old = apply_defaults(schema, yaml.safe_load(f))
        errors = []
        evaluate(schema, doc, "", errors, old)
        failed = failed or bool(errors)
        print(json.dumps({"file": path, "kind": kind, "errors": errors}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
