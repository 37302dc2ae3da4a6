#!/usr/bin/env bash
# The local environment: the development API server on 127.0.0.1:6443 with Sextant's and Istio's
# CRDs and the example resources applied, reachable with kubectl and `sextant get`, and a local
# node in the same process that runs sextant-trainer/sextant-server Pods (docs/local-node.md).
# Usage: hack/run-local.sh [--exit]   (--exit: apply, list and stop instead of serving)
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh
# The local node runs the trainer and server executables found next to `sextant`.
for product in sextant sextant-trainer sextant-server; do swift build --product "$product"; done
BIN="$(swift build --show-bin-path)/sextant"
mkdir -p .tmp
export KUBECONFIG="$PWD/.tmp/kubeconfig"
"$BIN" dev apiserver --listen 127.0.0.1:${SEXTANT_PORT:-6443} --data-dir .tmp/apiserver \
    --kubeconfig-out "$KUBECONFIG" --local-node &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do kubectl get --raw /version >/dev/null 2>&1 && break; sleep 0.1; done

SHARED="${SEXTANT_SHARED:-../shared}"
kubectl apply -f crds/
if [ -d "$SHARED/fixtures/istio" ]; then kubectl apply -f "$SHARED/fixtures/istio/"; fi
kubectl wait --for condition=established --timeout=30s crd --all >/dev/null 2>&1 || true
# The examples live in their own namespaces; create them first (apply: the development API server
# accepts JSON and YAML bodies, not the protobuf that `kubectl create namespace` sends).
for ns in $(grep -h '^  namespace:' manifests/examples/*.yaml | awk '{print $2}' | sort -u); do
    printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" | kubectl apply -f -
done
kubectl apply -f manifests/examples/
echo
"$BIN" get trainingjobs -A
"$BIN" get modelversions -A
"$BIN" get canaryrollouts -A
echo
echo "API server: KUBECONFIG=$KUBECONFIG kubectl get sextant"
echo "(the controllers are not built yet: see docs/status.md)"
if [ "${1:-}" = "--exit" ]; then exit 0; fi
wait $server
