#!/usr/bin/env bash
# Overhead of the local data plane (HAProxy, docs/local-node.md "Data plane"): the same
# sextant-server Pod, V2 infer requests sent directly to its endpoint and through the address of the
# VirtualService that routes to it; wrk prints req/s and latency percentiles side by side.
#   hack/bench/data-plane.sh        (DURATION=10s CONNECTIONS=16 by default)
# Needs: swift, wrk, haproxy, kubectl (hack/install-deps.sh). The server is the one in
# SEXTANT_BIN_DIR when set, else the release build in .build-release when it exists
# (hack/images/build.sh makes it), else the debug build. The release binary of the image works too:
#   id=$(podman create ghcr.io/sextant-dev/sextant-server:0.1.0); mkdir -p /tmp/rel
#   podman cp $id:/usr/local/bin/sextant-server /tmp/rel/; podman rm $id; SEXTANT_BIN_DIR=/tmp/rel hack/bench/data-plane.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
WORK=$(mktemp -d /tmp/sextant-bench-dataplane.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$WORK"; }
trap cleanup EXIT
export no_proxy='*' NO_PROXY='*'
for tool in wrk haproxy kubectl; do command -v $tool >/dev/null || { echo "$tool is missing (hack/install-deps.sh)" >&2; exit 1; }; done

swift build --product sextant >/dev/null
CLI=$(swift build --show-bin-path)/sextant
BINDIR=$(swift build --show-bin-path)
[ -x .build-release/release/sextant-server ] && BINDIR=$(cd .build-release/release && pwd)
[ -n "${SEXTANT_BIN_DIR:-}" ] && BINDIR=$(cd "$SEXTANT_BIN_DIR" && pwd)
swift build --product sextant-trainer >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API=$(free_port)
"$CLI" dev apiserver --listen "127.0.0.1:$API" --kubeconfig-out "$WORK/kubeconfig" >"$WORK/apiserver.log" 2>&1 &
PIDS+=($!)
export KUBECONFIG=$WORK/kubeconfig
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$API/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
"$CLI" dev node --kubeconfig "$KUBECONFIG" --work-dir "$WORK/node" --bin-dir "$BINDIR" >"$WORK/node.log" 2>&1 &
PIDS+=($!)
kubectl apply -f hack/local-crds/virtualservices.networking.istio.io.yaml \
  -f hack/local-crds/destinationrules.networking.istio.io.yaml -f crds/canaryrollouts.yaml >/dev/null

python3 hack/demo-data.py "$WORK/fraud.csv" >/dev/null
cat >"$WORK/train.yaml" <<EOF
modelName: fraud
data: {uri: $WORK/fraud.csv, version: demo}
target: is_fraud
hyperparameters: {nEstimators: 30, maxDepth: 3}
output: {uri: $WORK/model}
EOF
"$(swift build --show-bin-path)/sextant-trainer" --config "$WORK/train.yaml" --quiet --result-file "$WORK/result.json"

kubectl apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: fraud-v1, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: fraud, mlops.sextant.dev/model-version: fraud-v1}}
  template:
    metadata: {labels: {app: fraud, mlops.sextant.dev/model-version: fraud-v1}}
    spec:
      containers:
        - name: server
          image: sextant-server
          args: [--model-uri, "$WORK/model/model.json", --model-name, fraud, --model-version, v1, --log-level, warning]
          readinessProbe: {httpGet: {path: /v2/health/ready, port: 8080}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: fraud, namespace: default}
spec:
  host: fraud
  subsets: [{name: stable, labels: {app: fraud, mlops.sextant.dev/model-version: fraud-v1}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: fraud, namespace: default}
spec:
  hosts: [fraud]
  http: [{name: primary, route: [{destination: {host: fraud, subset: stable}, weight: 100}]}]
---
apiVersion: mlops.sextant.dev/v1alpha1
kind: CanaryRollout
metadata: {name: fraud, namespace: default}
spec:
  modelName: fraud
  serving: {managed: {image: sextant-server, template: {metadata: {labels: {app: fraud}}}}}
  routing: {virtualService: {name: fraud, routes: [primary]}, destinationRule: {name: fraud, host: fraud}}
  strategy: {canary: {stepWeight: 10, maxWeight: 50}}
EOF
ADDRESS_FILE=$WORK/node/mesh/default/fraud.address
for _ in $(seq 1 300); do [ -s "$ADDRESS_FILE" ] && break; sleep 0.2; done
[ -s "$ADDRESS_FILE" ] || { tail -20 "$WORK/node.log" >&2; echo "no data plane address after 60 s" >&2; exit 1; }
PROXY=$(cat "$ADDRESS_FILE")
DIRECT=$(kubectl get pods -l app=fraud -o jsonpath='{.items[0].metadata.annotations.mlops\.sextant\.dev/local-endpoint}')
echo '{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[[950,2,0.9,10]]}]}' >"$WORK/body.json"
for _ in $(seq 1 100); do curl -sf -XPOST --data @"$WORK/body.json" "http://$PROXY/v2/models/fraud/infer" >/dev/null && break; sleep 0.2; done

run() {  # url -> "rps p50 p99 non2xx"
  local out
  out=$(BODY="$WORK/body.json" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s hack/bench/serving_post.lua "$1" 2>&1)
  echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="50%" {print $2}' <<<"$out") \
$(awk '$1=="99%" {print $2}' <<<"$out") $(awk '/Non-2xx/ {print $NF}' <<<"$out" | grep . || echo 0)"
}
echo "== load before: $(uptime)"
D=$(run "http://$DIRECT/v2/models/fraud/infer")
P=$(run "http://$PROXY/v2/models/fraud/infer")
echo "== load after:  $(uptime)"
echo "wrk -t1 -c$CONNECTIONS -d$DURATION, V2 infer (1 row), sextant-server from $BINDIR, HAProxy $(haproxy -v | head -1 | awk '{print $3}')"
printf "%-28s %10s %10s %10s %8s\n" path "req/s" p50 p99 non-2xx
printf "%-28s %10s %10s %10s %8s\n" "direct $DIRECT" $D
printf "%-28s %10s %10s %10s %8s\n" "data plane $PROXY" $P
