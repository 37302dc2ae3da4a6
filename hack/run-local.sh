#!/usr/bin/env bash
# The local environment: the development API server on 127.0.0.1:6443 with Sextant's and Istio's
# CRDs, a local node in the same process that runs sextant-trainer/sextant-server Pods as local
# processes (docs/local-node.md), and sextant-controller (TrainingJob, ModelVersion, CanaryRollout)
# against it. Then the demo in manifests/examples/local/: a TrainingJob over a synthetic fraud CSV
# (hack/demo-data.py) trains a real model, registers a ModelVersion with its metrics and hashes,
# and hands it to a CanaryRollout whose sextant-server Pod the local node runs.
#
# Usage: hack/run-local.sh [--exit] [--examples]
#   --exit      wait (at most 120 s) for the demo's ModelVersion and rollout, list, and stop
#   --examples  also apply manifests/examples/*.yaml (they point at S3 and images in a registry:
#               with the controller running, their trainers fail and their servers crash-loop)
# Environment: SEXTANT_PORT (6443), SEXTANT_SHARED (../shared), PROMETHEUS_URL (passed to the
# controller as --prometheus-url when set), SEXTANT_BUILD_PATH (swift build --scratch-path).
set -euo pipefail
cd "$(dirname "$0")/.."
EXIT=0
EXAMPLES=0
for arg in "$@"; do
    case "$arg" in
        --exit) EXIT=1 ;;
        --examples) EXAMPLES=1 ;;
        *) echo "usage: hack/run-local.sh [--exit] [--examples]" >&2; exit 64 ;;
    esac
done

hack/install-deps.sh
# The local node runs the trainer and server executables found next to `sextant`.
BUILD=()
if [ -n "${SEXTANT_BUILD_PATH:-}" ]; then BUILD=(--scratch-path "$SEXTANT_BUILD_PATH"); fi
for product in sextant sextant-trainer sextant-server sextant-controller; do
    swift build "${BUILD[@]}" --product "$product"
done
BINDIR="$(swift build "${BUILD[@]}" --show-bin-path)"
BIN="$BINDIR/sextant"
mkdir -p .tmp/demo
export KUBECONFIG="$PWD/.tmp/kubeconfig"
pids=()
cleanup() {
    # Controller first (it would only log connection errors), then the API server and its node,
    # which stops every trainer and server process it started.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[$i]}" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "${pids[$i]}" 2>/dev/null || break; sleep 0.1; done
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN" dev apiserver --listen 127.0.0.1:${SEXTANT_PORT:-6443} --data-dir "$PWD/.tmp/apiserver" \
    --kubeconfig-out "$KUBECONFIG" --local-node > .tmp/apiserver.log 2>&1 &
pids+=($!)
up=0
for _ in $(seq 1 100); do
    if kubectl get --raw /version >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
done
if [ "$up" != 1 ]; then echo "the API server did not start; see .tmp/apiserver.log" >&2; exit 1; fi

SHARED="${SEXTANT_SHARED:-../shared}"
kubectl apply -f crds/
ISTIO=0
if [ -d "$SHARED/fixtures/istio" ]; then kubectl apply -f "$SHARED/fixtures/istio/"; ISTIO=1; fi
kubectl wait --for condition=established --timeout=30s crd --all >/dev/null 2>&1 || true

CONTROLLER=("$BINDIR/sextant-controller" --kubeconfig "$KUBECONFIG" --leader-elect=false
    --metrics-bind-address 127.0.0.1:8080 --health-probe-bind-address 127.0.0.1:8081)
if [ -n "${PROMETHEUS_URL:-}" ]; then CONTROLLER+=(--prometheus-url "$PROMETHEUS_URL"); fi
"${CONTROLLER[@]}" > .tmp/controller.log 2>&1 &
pids+=($!)

# Namespaces first (apply: the development API server accepts JSON and YAML bodies, not the
# protobuf that `kubectl create namespace` sends).
files=(manifests/examples/local/*.yaml)
if [ "$EXAMPLES" = 1 ]; then files+=(manifests/examples/*.yaml); fi
for ns in $(grep -h '^  namespace:' "${files[@]}" | awk '{print $2}' | sort -u); do
    printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" | kubectl apply -f -
done
if [ "$EXAMPLES" = 1 ]; then kubectl apply -f manifests/examples/; fi

# The demo: data first, then the rollout (it needs Istio's CRDs) and the TrainingJob, with
# @DEMO_DIR@ replaced by the absolute local path the trainer and server processes use.
# The API server keeps its objects in .tmp/apiserver between runs: start the demo afresh.
kubectl delete trainingjobs,canaryrollouts,modelversions --all -n sextant-demo --ignore-not-found --timeout=30s >/dev/null || true
python3 hack/demo-data.py .tmp/demo/fraud.csv
DEMO="$PWD/.tmp/demo"
rm -rf "$DEMO/models"
if [ "$ISTIO" = 1 ]; then sed "s|@DEMO_DIR@|$DEMO|g" manifests/examples/local/rollout.yaml | kubectl apply -f -; fi
sed "s|@DEMO_DIR@|$DEMO|g" manifests/examples/local/trainingjob.yaml | kubectl apply -f -

echo
if [ "$EXIT" = 1 ]; then
    # Bounded: never hangs (CI, scripts). The demo's first version is usually served in ~10 s.
    deadline=$((SECONDS + 120))
    while [ "$SECONDS" -lt "$deadline" ]; do
        phase="$(kubectl get cro fraud -n sextant-demo -o jsonpath='{.status.phase}' 2>/dev/null || true)"
        if [ "$ISTIO" = 1 ]; then [ "$phase" = Succeeded ] && break
        else kubectl get mv fraud-v1 -n sextant-demo >/dev/null 2>&1 && break; fi
        sleep 0.5
    done
else
    sleep 3
fi
"$BIN" get trainingjobs -A
"$BIN" get modelversions -A
"$BIN" get canaryrollouts -A
kubectl get pods -n sextant-demo \
    -o custom-columns='POD:.metadata.name,PHASE:.status.phase,ENDPOINT:.metadata.annotations.mlops\.sextant\.dev/local-endpoint'
echo
echo "API server: KUBECONFIG=$KUBECONFIG kubectl get sextant -A    (logs: .tmp/apiserver.log, .tmp/controller.log)"
echo "Controller: metrics http://127.0.0.1:8080/metrics, health http://127.0.0.1:8081/readyz"
echo "Retrain:    $BIN retrain fraud -n sextant-demo    (trains fraud-v2, then a canary rollout)"
if [ "$EXIT" = 1 ]; then
    if ! kubectl get mv fraud-v1 -n sextant-demo >/dev/null 2>&1; then
        echo "the demo registered no ModelVersion in 120 s; see .tmp/controller.log" >&2
        exit 1
    fi
    exit 0
fi
echo "Ctrl-C stops everything."
wait "${pids[0]}"
