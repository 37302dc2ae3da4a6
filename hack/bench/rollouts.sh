#!/usr/bin/env bash
# Scale benchmark of the CanaryRollout controller (issue 21): N CanaryRollouts in M namespaces
# progressing at once, external serving, one metrics exporter standing in for every model server
# (hack/testservers/fleet_exporter.py), a real Prometheus scraping it, analysis every INTERVAL
# with 3 metrics each. Every process runs on its own: the development API server
# (`sextant dev apiserver`), Prometheus, the exporter, `sextant-controller`, and the driver
# (hack/bench/rollouts.py) which plays the Deployment controller and GitOps, watches the rollouts
# and VirtualServices, and prints the table (docs/benchmarks.md#canary-rollouts-at-scale-issue-21).
#
# Usage: hack/bench/rollouts.sh [ROLLOUTS]      (default 1000)
#   NAMESPACES=100 INTERVAL=30 FAILING_SHARE=0.2 CONCURRENCY=4 SCRAPE=5s CONFIG=release SCRATCH=.build
#   QPS=N sets --kube-api-qps N --kube-api-burst 2N (default: the controller's 50/100)
#   SKIP_BUILD=1 uses the binaries already in SCRATCH/CONFIG
#   CONTROLLER_BIN=path runs that sextant-controller (e.g. the image's --static-swift-stdlib build)
#   CONTROLLER_WRAPPER="heaptrack -o /tmp/ctl" runs the controller under a profiler (RSS and CPU
#   then measure the wrapper, not the controller)
set -euo pipefail
cd "$(dirname "$0")/../.."
rollouts="${1:-1000}"
config="${CONFIG:-release}"
scratch=(${SCRATCH:+--scratch-path "$SCRATCH"})
for tool in prometheus python3 kubectl; do
  command -v "$tool" >/dev/null || { echo "$tool is required (hack/install-deps.sh)" >&2; exit 1; }
done
bin="${scratch_dir:-${SCRATCH:-.build}}/$config"
if [ -z "${SKIP_BUILD:-}" ]; then
  swift build -c "$config" "${scratch[@]}" --product sextant >&2
  swift build -c "$config" "${scratch[@]}" --product sextant-controller >&2
  bin="$(swift build -c "$config" "${scratch[@]}" --show-bin-path)"
fi
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_line() {  # file pattern
  for _ in $(seq 1 600); do grep -q "$2" "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; exit 1
}

"$bin/sextant" dev apiserver --listen 127.0.0.1:0 --insecure-http --history 200000 \
  --kubeconfig-out "$tmp/kubeconfig" >"$tmp/api.log" 2>&1 &
apiserver_pid=$!
pids+=($apiserver_pid)
wait_line "$tmp/api.log" "listening on"
api="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/api.log" | head -1)"
kubectl --kubeconfig "$tmp/kubeconfig" apply -f crds/ -f hack/local-crds/virtualservices.networking.istio.io.yaml \
  -f hack/local-crds/destinationrules.networking.istio.io.yaml >/dev/null

python3 hack/testservers/fleet_exporter.py --port 0 >"$tmp/exporter.log" 2>&1 &
pids+=($!)
wait_line "$tmp/exporter.log" "listening on"
exporter="$(sed -n 's/listening on //p' "$tmp/exporter.log")"

pport="$(free_port)"
cat >"$tmp/prometheus.yml" <<YAML
global:
  scrape_interval: ${SCRAPE:-5s}
  scrape_timeout: ${SCRAPE:-5s}
scrape_configs:
  - job_name: fleet
    honor_labels: true
    static_configs:
      - targets: ['$exporter']
YAML
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom" \
  --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
prometheus_pid=$!
pids+=($prometheus_pid)
for _ in $(seq 1 300); do curl -sf "127.0.0.1:$pport/-/ready" >/dev/null && break; sleep 0.1; done

mport="$(free_port)"
${CONTROLLER_WRAPPER:-} "${CONTROLLER_BIN:-$bin/sextant-controller}" --kubeconfig "$tmp/kubeconfig" --leader-elect=false \
  --metrics-bind-address "127.0.0.1:$mport" --metrics-secure=false --health-probe-bind-address 0 \
  --prometheus-url "http://127.0.0.1:$pport" --concurrency "${CONCURRENCY:-4}" --log-level warning ${QPS:+--kube-api-qps "$QPS" --kube-api-burst "$((QPS * 2))"} \
  >"$tmp/controller.log" 2>&1 &
controller_pid=$!
pids+=($controller_pid)

echo "== $rollouts CanaryRollouts ($config build; API server $api, Prometheus 127.0.0.1:$pport, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
status=0
python3 hack/bench/rollouts.py --api "$api" --exporter "$exporter" --prometheus "http://127.0.0.1:$pport" \
  --controller-metrics "http://127.0.0.1:$mport/metrics" --controller-pid "$controller_pid" \
  --prometheus-pid "$prometheus_pid" --apiserver-pid "$apiserver_pid" --rollouts "$rollouts" --namespaces "${NAMESPACES:-100}" \
  --interval "${INTERVAL:-30}" --failing-share "${FAILING_SHARE:-0.2}" || status=$?
if ! kill -0 "$controller_pid" 2>/dev/null; then echo "the controller died:" >&2; tail -20 "$tmp/controller.log" >&2; status=1; fi
# grep -c exits 1 when it counts 0: not a failure of the run.
echo "controller log lines with \"error\": $(grep -ciE 'error' "$tmp/controller.log" || true)"
exit "$status"
