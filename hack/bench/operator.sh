#!/usr/bin/env bash
# Operator runtime benchmark: reconcile throughput (objects/s) and the controller's peak RSS with
# 1,000 and 10,000 watched ConfigMaps (trivial reconciler reading the cache). The API server runs
# in a separate process so the RSS is the controller's own. See docs/operator-runtime.md.
# Usage: hack/bench/operator.sh [counts...]   (default: 1000 10000)
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product bench-operator ${SCRATCH:+--scratch-path "$SCRATCH"} >&2
BIN="$(swift build -c release --product bench-operator ${SCRATCH:+--scratch-path "$SCRATCH"} --show-bin-path)/bench-operator"
counts=("$@")
[ ${#counts[@]} -eq 0 ] && counts=(1000 10000)
for n in "${counts[@]}"; do
    out="$(mktemp)"
    "$BIN" apiserver --objects "$n" >"$out" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null || true' EXIT
    for _ in $(seq 1 600); do grep -q '^URL ' "$out" && break; sleep 0.1; done
    url="$(sed -n 's/^URL //p' "$out")"
    [ -n "$url" ] || { cat "$out" >&2; exit 1; }
    echo "== $n ConfigMaps (controller: release build, separate process; API server: $url)"
    "$BIN" controller --server "$url" --objects "$n" --workers 4 --rounds 5
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -f "$out"
done
