#!/usr/bin/env bash
# Lints crds/ and manifests/ with yamllint, validates every example in manifests/examples against
# the openAPIV3Schema of its CRD in crds/ with check-jsonschema, and evaluates the CRDs' CEL rules
# on them with hack/cel-check.py.
# Needs: yamllint (apt), check-jsonschema and cel-python (pip). Usage: hack/validate-manifests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in yamllint check-jsonschema python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (see hack/apt-packages.txt, hack/requirements-test.txt)" >&2; exit 2; }
done

echo "yamllint crds/ manifests/"
yamllint -c .yamllint --strict crds manifests

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Extract each CRD's schema (as JSON Schema) and group the examples by kind.
python3 - "$tmp" <<'PY'
import glob, json, os, sys, yaml
out = sys.argv[1]
kinds = {}
for path in sorted(glob.glob("crds/*.yaml")):
    with open(path) as f:
        crd = yaml.safe_load(f)
    kind = crd["spec"]["names"]["kind"]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    with open(os.path.join(out, kind + ".json"), "w") as f:
        json.dump(schema, f)
    kinds[kind] = []
for path in sorted(glob.glob("manifests/examples/*.yaml")):
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if doc is None:
                continue
            kind = doc.get("kind")
            if kind not in kinds:
                sys.exit(f"{path}: kind {kind!r} has no CRD in crds/")
            kinds[kind].append(path)
with open(os.path.join(out, "examples.txt"), "w") as f:
    for kind, paths in kinds.items():
        f.write(kind + " " + " ".join(paths) + "\n")
PY

while read -r kind files; do
  [ -n "$files" ] || continue
  echo "check-jsonschema $kind: $files"
  # shellcheck disable=SC2086
  check-jsonschema --schemafile "$tmp/$kind.json" $files
done < "$tmp/examples.txt"

echo "CEL rules (x-kubernetes-validations) on manifests/examples"
python3 hack/cel-check.py crds manifests/examples/*.yaml
echo "ok"
