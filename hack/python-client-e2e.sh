#!/usr/bin/env bash
# Fetches the `kubernetes` sdist pinned in hack/requirements-test.txt (cached in
# .build/python-client-sdist) and runs its dynamic-client tests against the server of KUBECONFIG.
# usage: hack/python-client-e2e.sh KUBECONFIG   (prints the JSON summary of hack/python-client-e2e.py)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kubeconfig="$1"
version="$(sed -n 's/^kubernetes==\([0-9.]*\).*/\1/p' "$root/hack/requirements-test.txt")"
[ -n "$version" ] || { echo "no kubernetes==VERSION pin in hack/requirements-test.txt" >&2; exit 2; }
cache="${PYTHON_CLIENT_SDIST_CACHE:-$root/.build/python-client-sdist}"
mkdir -p "$cache"
archive="$cache/kubernetes-$version.tar.gz"
if [ ! -f "$archive" ]; then
  python3 -m pip download --quiet --no-binary :all: --no-deps -d "$cache" "kubernetes==$version" >&2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xzf "$archive" -C "$work"
exec python3 "$root/hack/python-client-e2e.py" "$work/kubernetes-$version" "$kubeconfig"
