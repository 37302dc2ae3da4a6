#!/usr/bin/env bash
# The local environment and its demo, from the repository alone (nothing beside it is read):
# the development API server with Sextant's CRDs (crds/), the project's own Istio and Gateway
# API CRDs and the MPI Operator's MPIJob CRD (hack/local-crds/), a local node in the same process that runs sextant-trainer and
# sextant-server Pods as local processes (docs/local-node.md), a Prometheus, sextant-controller,
# and hack/demo-traffic.py standing in for the mesh (steady traffic split as the VirtualService
# says, and Prometheus' discovery of the server Pods).
#
# The demo (manifests/examples/local/): a TrainingJob over a synthetic fraud CSV trains fraud-v1,
# which the CanaryRollout `fraud` serves at once (nothing to compare it with). Then it retrains:
# fraud-v2 goes 20 % → 50 % → promoted, each step held until an analysis of its own success rate and
# p99 latency in Prometheus passes (SEXTANT_DEMO_STEP_SECONDS, default 25 s). Every change is printed.
#
# The controller runs with --mpi-jobs: a TrainingJob with spec.workers > 1 runs as an MPIJob, which
# the local node runs with Open MPI's mpirun, one rank per process (docs/local-node.md).
#
# Usage: hack/run-local.sh [--exit] [--examples] [--delta | --workers]
#   --exit      stop everything once fraud-v2 is promoted (exit 1 if it is not, or if the model
#               does not answer); for CI and scripts
#   --delta     train from a Delta Lake table at a pinned version instead of the CSV
#               (hack/demo-data.py --delta, manifests/examples/local/trainingjob-delta.yaml;
#               needs the deltalake package from hack/requirements-test.txt)
#   --workers   train on 2 MPI ranks (spec.workers: 2, manifests/examples/local/trainingjob-workers.yaml;
#               needs Open MPI's mpirun, hack/apt-packages.txt); the model is the one of 1 worker
#   --examples  also apply manifests/examples/*.yaml (they point at S3 and images in a registry:
#               with the controller running, their trainers fail and their servers crash-loop)
# Environment: SEXTANT_DEMO_STEP_SECONDS (25), SEXTANT_PORT (API server, 6443; 0 picks one),
#   SEXTANT_CONTROLLER_PORT (controller metrics 8080 as plain HTTP, health the next port; 0 turns both off),
#   SEXTANT_PROMETHEUS_PORT (9090), SEXTANT_DEMO_RATE (requests per second, 20),
#   SEXTANT_BUILD_PATH (swift build --scratch-path), SEXTANT_BIN_DIR (use the sextant,
#   sextant-controller, sextant-trainer and sextant-server already built there; no build).
set -euo pipefail
cd "$(dirname "$0")/.."
EXIT=0
EXAMPLES=0
TRAININGJOB=trainingjob
for arg in "$@"; do
    case "$arg" in
        --exit) EXIT=1 ;;
        --examples) EXAMPLES=1 ;;
        --delta) TRAININGJOB=trainingjob-delta ;;
        --workers) TRAININGJOB=trainingjob-workers ;;
        *) echo "usage: hack/run-local.sh [--exit] [--examples] [--delta | --workers]" >&2; exit 64 ;;
    esac
done
STEP="${SEXTANT_DEMO_STEP_SECONDS:-25}"
API_PORT="${SEXTANT_PORT:-6443}"
CONTROLLER_PORT="${SEXTANT_CONTROLLER_PORT:-8080}"
PROM_PORT="${SEXTANT_PROMETHEUS_PORT:-9090}"
RATE="${SEXTANT_DEMO_RATE:-20}"
for value in "$STEP" "$API_PORT" "$CONTROLLER_PORT" "$PROM_PORT"; do
    [[ "$value" =~ ^[0-9]+$ ]] || { echo "error: expected a number, got \"$value\" (see the Environment in hack/run-local.sh)" >&2; exit 64; }
done
die() { echo "error: $*" >&2; exit 1; }

hack/install-deps.sh
# A missing tool is an error naming it, never a part of the demo quietly left out.
for tool in kubectl python3 prometheus curl; do
    command -v "$tool" >/dev/null || die "hack/run-local.sh needs $tool (hack/install-deps.sh installs it; see hack/apt-packages.txt)"
done

# The local node runs the trainer and server executables found next to `sextant`.
if [ -n "${SEXTANT_BIN_DIR:-}" ]; then
    BINDIR="$SEXTANT_BIN_DIR"
    for product in sextant sextant-trainer sextant-server sextant-controller; do
        [ -x "$BINDIR/$product" ] || die "SEXTANT_BIN_DIR=$BINDIR has no $product (swift build --product $product)"
    done
else
    command -v swift >/dev/null || die "hack/run-local.sh needs swift (the Swift 6 toolchain)"
    BUILD=()
    if [ -n "${SEXTANT_BUILD_PATH:-}" ]; then BUILD=(--scratch-path "$SEXTANT_BUILD_PATH"); fi
    for product in sextant sextant-trainer sextant-server sextant-controller; do
        swift build "${BUILD[@]}" --product "$product"
    done
    BINDIR="$(swift build "${BUILD[@]}" --show-bin-path)"
fi
BIN="$BINDIR/sextant"
NS=sextant-demo
mkdir -p .tmp/demo .tmp/prometheus
export KUBECONFIG="$PWD/.tmp/kubeconfig"
rm -f "$KUBECONFIG"
pids=()
cleanup() {
    # Traffic and controller first (they would only log connection errors), then Prometheus, then
    # the API server and its node, which stops every trainer and server process it started.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[$i]}" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "${pids[$i]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${pids[$i]}" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A previous run's data-plane address is stale (the node picks a new port when it starts).
rm -rf .tmp/apiserver/local-node/mesh
"$BIN" dev apiserver --listen "127.0.0.1:$API_PORT" --data-dir "$PWD/.tmp/apiserver" \
    --kubeconfig-out "$KUBECONFIG" --local-node > .tmp/apiserver.log 2>&1 &
pids+=($!)
up=0
for _ in $(seq 1 100); do
    if [ -f "$KUBECONFIG" ] && kubectl get --raw /version >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
done
[ "$up" = 1 ] || die "the API server did not start; see .tmp/apiserver.log"

kubectl apply -f crds/ -f hack/local-crds/ >/dev/null
kubectl wait --for condition=established --timeout=30s crd --all >/dev/null

# Prometheus scrapes the server Pods that hack/demo-traffic.py finds (file-based discovery).
rm -rf .tmp/prometheus/data
echo '[]' > .tmp/prometheus/targets.json
cat > .tmp/prometheus/prometheus.yml <<EOF
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: model-servers
    file_sd_configs:
      - files: ['$PWD/.tmp/prometheus/targets.json']
        refresh_interval: 1s
EOF
prometheus --config.file=.tmp/prometheus/prometheus.yml --storage.tsdb.path=.tmp/prometheus/data \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn > .tmp/prometheus.log 2>&1 &
pids+=($!)
up=0
for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
done
[ "$up" = 1 ] || die "Prometheus did not start on 127.0.0.1:$PROM_PORT; see .tmp/prometheus.log"

if [ "$CONTROLLER_PORT" = 0 ]; then METRICS=0; HEALTH=0
else METRICS="127.0.0.1:$CONTROLLER_PORT"; HEALTH="127.0.0.1:$((CONTROLLER_PORT + 1))"; fi
"$BINDIR/sextant-controller" --kubeconfig "$KUBECONFIG" --leader-elect=false --prometheus-url "http://127.0.0.1:$PROM_PORT" \
    --mpi-jobs --metrics-bind-address "$METRICS" --metrics-secure=false --health-probe-bind-address "$HEALTH" > .tmp/controller.log 2>&1 &
pids+=($!)

# Namespaces first (apply: the development API server accepts JSON and YAML bodies, not the
# protobuf that `kubectl create namespace` sends).
files=(manifests/examples/local/*.yaml)
if [ "$EXAMPLES" = 1 ]; then files+=(manifests/examples/*.yaml); fi
for ns in $(grep -h '^  namespace:' "${files[@]}" | awk '{print $2}' | sort -u); do
    printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" | kubectl apply -f - >/dev/null
done
if [ "$EXAMPLES" = 1 ]; then kubectl apply -f manifests/examples/; fi

# The demo, afresh (the API server keeps its objects in .tmp/apiserver between runs), with
# @DEMO_DIR@ replaced by the absolute local path the trainer and server processes use.
kubectl delete trainingjobs,canaryrollouts,modelversions,virtualservices,destinationrules,deployments,mpijobs,jobs,pods \
    --all -n "$NS" --ignore-not-found --timeout=30s >/dev/null
python3 hack/demo-data.py .tmp/demo/fraud.csv
if [ "$TRAININGJOB" = trainingjob-delta ]; then python3 hack/demo-data.py --delta .tmp/demo/fraud-delta; fi
DEMO="$PWD/.tmp/demo"
rm -rf "$DEMO/models"
for file in rollout "$TRAININGJOB"; do
    sed -e "s|@DEMO_DIR@|$DEMO|g" -e "s|@STEP_SECONDS@|$STEP|g" "manifests/examples/local/$file.yaml" | kubectl apply -f - >/dev/null
done
# Through the local node's HAProxy data plane once it routes the VirtualService (when haproxy is installed).
python3 hack/demo-traffic.py --namespace "$NS" --name fraud --targets "$PWD/.tmp/prometheus/targets.json" \
    --rate "$RATE" --mesh-address "$PWD/.tmp/apiserver/local-node/mesh/$NS/fraud.address" > .tmp/traffic.log 2>&1 &
pids+=($!)

# Prints the rollout's changes and analysis runs since the last call; sets $phase and $stable.
shown_state=""
shown_analysis=""
phase=""
stable=""
show_rollout() {
    local line state analysis time
    line="$(kubectl get cro fraud -n "$NS" -o json 2>/dev/null | python3 hack/demo-traffic.py --describe-rollout 2>/dev/null || true)"
    IFS='|' read -r state analysis time phase stable <<< "$line"
    if [ -n "$analysis" ] && [ "$time" != "$shown_analysis" ]; then
        shown_analysis="$time"
        printf '  %s  %s\n' "$(date +%H:%M:%S)" "$analysis"
    fi
    if [ -n "$state" ] && [ "$state" != "$shown_state" ]; then
        shown_state="$state"
        printf '  %s  %s\n' "$(date +%H:%M:%S)" "$state"
    fi
}

# Follows the rollout until `fraud` serves VERSION as stable (fails on a rollback, a failure, or
# after LIMIT seconds).
follow() {
    local version="$1" limit="$2" deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
        show_rollout
        if [ "$phase" = Succeeded ] && [ "$stable" = "$version" ]; then return 0; fi
        if [ "$phase" = RolledBack ] || [ "$phase" = Failed ]; then
            echo "the rollout of $version ended $phase; see kubectl describe cro fraud -n $NS and .tmp/controller.log" >&2
            return 1
        fi
        sleep 1
    done
    echo "fraud did not serve $version within $limit s; see .tmp/controller.log and .tmp/apiserver.log" >&2
    return 1
}

echo
echo "Training fraud-v1 and serving it (the first version has nothing to compare with: served at once)"
follow fraud-v1 180
echo
echo "Retraining: fraud-v2 rolls out 20 % → 50 % → promoted, each step held ${STEP} s for analysis"
"$BIN" retrain fraud -n "$NS" >/dev/null
follow fraud-v2 $((240 + 4 * STEP))

# The promoted model answers.
endpoint="$(kubectl get pods -n "$NS" -l mlops.sextant.dev/model-version=fraud-v2 \
    -o jsonpath='{.items[?(@.status.phase=="Running")].metadata.annotations.mlops\.sextant\.dev/local-endpoint}')"
endpoint="${endpoint%% *}"
answer="$(curl -fsS -X POST "http://$endpoint/v1/models/fraud:predict" -H 'Content-Type: application/json' \
    -d '{"instances": [{"amount": 900, "hour": 23, "merchant_risk": 0.9, "distance_km": 12}]}')" \
    || die "fraud-v2 at $endpoint did not answer a prediction; see .tmp/apiserver.log"
echo
echo "fraud-v2 answered: $answer"
echo
"$BIN" get trainingjobs -n "$NS"
"$BIN" get modelversions -n "$NS"
"$BIN" get canaryrollouts -n "$NS"
kubectl get pods -n "$NS" \
    -o custom-columns='POD:.metadata.name,PHASE:.status.phase,ENDPOINT:.metadata.annotations.mlops\.sextant\.dev/local-endpoint'
echo
if [ "$EXIT" = 1 ]; then
    cleanup
    trap - EXIT
    echo "Stopped. Left behind: the logs (.tmp/apiserver.log, .tmp/controller.log, .tmp/prometheus.log,"
    echo ".tmp/traffic.log), the models in .tmp/demo/models/ and the API server's data in .tmp/apiserver/."
    exit 0
fi
cat <<EOF
Try next (in another shell: export KUBECONFIG=$KUBECONFIG):
  $BIN retrain fraud -n $NS    trains fraud-v3 and rolls it out the same way
  kubectl get cro fraud -n $NS -w       the phase and weight as they change (also printed below)
  $BIN promote fraud -n $NS    during a rollout: skip the remaining steps
  $BIN abort fraud -n $NS      during a rollout: all traffic back on the stable version
  Prometheus http://127.0.0.1:$PROM_PORT/graph?g0.expr=sum%20by%20(version)(rate(sextant_requests_total%5B30s%5D))
  fraud-v2   curl -X POST http://$endpoint/v1/models/fraud:predict -d '{"instances": [{"amount": 900, "hour": 23, "merchant_risk": 0.9, "distance_km": 12}]}'
EOF
# The local node's HAProxy routes the VirtualService's host by its weights (docs/local-node.md).
mesh_address=".tmp/apiserver/local-node/mesh/$NS/fraud.address"
if [ -s "$mesh_address" ]; then
    echo "  through the mesh  curl -X POST http://$(cat "$mesh_address")/v1/models/fraud:predict -d '{\"instances\": [{\"amount\": 900, \"hour\": 23, \"merchant_risk\": 0.9, \"distance_km\": 12}]}'   (HAProxy, split by the VirtualService's weights)"
fi
cat <<EOF
Logs: .tmp/apiserver.log, .tmp/controller.log, .tmp/prometheus.log, .tmp/traffic.log. Ctrl-C stops everything.

The rollout, as it changes:
EOF
while kill -0 "${pids[0]}" 2>/dev/null; do
    show_rollout
    sleep 1
done
