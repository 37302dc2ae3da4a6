#!/usr/bin/env bash
# Model server benchmark: sextant-server (release build) vs KServe's Python XGBoost server on the
# same XGBoost JSON model, loopback, wrk with single-row and 100-row KServe V1 requests, 100 rows as
# an Open Inference Protocol request with binary tensor data and as a gRPC ModelInfer with raw
# contents (h2load), single rows paced near 10,000 req/s, and XGBoost's own in-process
# inplace_predict for the 100-row comparison.
#   hack/bench/serving.sh            (DURATION=10s CONNECTIONS=16 by default)
# Needs: swift, wrk and h2load (apt: wrk, nghttp2-client), python3 with xgboost, numpy and
# tritonclient[grpc]; KServe goes into a venv ($KSERVE_VENV).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
KSERVE_VENV=${KSERVE_VENV:-/tmp/sextant-kserve-venv}
WORK=$(mktemp -d /tmp/sextant-bench-serving.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
export no_proxy='*' NO_PROXY='*'

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
command -v h2load >/dev/null || { echo "h2load is missing: apt-get install -y nghttp2-client" >&2; exit 1; }
# BIN=path/to/sextant-server uses that release binary (e.g. the one hack/images/build.sh built in
# .build-release) instead of building one here.
if [ -z "${BIN:-}" ]; then
  echo "== building sextant-server (release)"
  swift build -c release --product sextant-server >/dev/null
  BIN=$(swift build -c release --show-bin-path)/sextant-server
fi

if [ ! -x "$KSERVE_VENV/bin/python" ]; then
  echo "== creating $KSERVE_VENV with kserve xgboost numpy"
  python3 -m venv "$KSERVE_VENV"
  "$KSERVE_VENV/bin/pip" install -q kserve xgboost numpy
fi
PY="$KSERVE_VENV/bin/python"
"$PY" hack/bench/serving_train.py "$WORK"
python3 hack/bench/serving_grpc.py body "$WORK"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 150); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "not ready: $1" >&2; return 1; }

SPORT=$(free_port); SGPORT=$(free_port)
"$BIN" --model-uri "$WORK/model/model.json" --model-name bench --listen "127.0.0.1:$SPORT" --grpc-port "$SGPORT" --log-level warning \
  >"$WORK/sextant.log" 2>&1 &
PIDS+=($!)
KPORT=$(free_port); KGPORT=$(free_port)
"$PY" hack/bench/serving_kserve_xgb.py --model_dir "$WORK/model" --model_name bench --http_port "$KPORT" --grpc_port "$KGPORT" \
  --nthread 1 >"$WORK/kserve.log" 2>&1 &
PIDS+=($!)
wait_ready "http://127.0.0.1:$SPORT/v2/health/ready"
wait_ready "http://127.0.0.1:$KPORT/v2/health/ready" || { cat "$WORK/kserve.log" >&2; exit 1; }

# Same model, same answers: compare the 100-row predictions before measuring.
curl -s -XPOST -H 'Content-Type: application/json' --data @"$WORK/body100.json" "http://127.0.0.1:$SPORT/v1/models/bench:predict" >"$WORK/s.json"
curl -s -XPOST -H 'Content-Type: application/json' --data @"$WORK/body100.json" "http://127.0.0.1:$KPORT/v1/models/bench:predict" >"$WORK/k.json"
python3 - "$WORK/s.json" "$WORK/k.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["predictions"]; k = json.load(open(sys.argv[2]))["predictions"]
assert len(s) == len(k) == 100, (len(s), len(k))
d = max(abs(a - b) for a, b in zip(s, k))
print(f"predictions agree: max |sextant - kserve| = {d:.2e} over 100 rows")
assert d <= 1e-6
PY
python3 hack/bench/serving_grpc.py check "127.0.0.1:$SGPORT" "$WORK"
python3 hack/bench/serving_grpc.py check "127.0.0.1:$KGPORT" "$WORK"

run() {  # name url body [connections] -> "rps p50 p99 errors"; CONTENT_TYPE, HEADER_LENGTH, DELAY_MS pass through
  local out
  out=$(BODY="$3" wrk -t1 -c"${4:-$CONNECTIONS}" -d"$DURATION" --latency -s hack/bench/serving_post.lua "$2" 2>&1)
  echo "$out" >"$WORK/wrk-$1.txt"
  local rps p50 p99 errs
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); errs=${errs:-0}
  echo "$rps $p50 $p99 $errs"
}

grpc_run() {  # name port [connections] -> "rps mean - errors" (h2load prints no percentiles; errors: non-2xx or failed)
  local out
  out=$(h2load -D "${DURATION%s}" -c"${3:-$CONNECTIONS}" -m1 -t1 -d "$WORK/body100.grpc" \
    -H 'content-type: application/grpc' -H 'te: trailers' "http://127.0.0.1:$2/inference.GRPCInferenceService/ModelInfer" 2>&1)
  echo "$out" >"$WORK/h2load-$1.txt"
  local rps mean errs
  rps=$(awk '/^finished in/ {print $4}' <<<"$out")
  mean=$(awk '/^time for request:/ {print $6}' <<<"$out")
  errs=$(awk '/^requests:/ {print $10 + $12}' <<<"$out")
  echo "$rps $mean - ${errs:-0}"
}

echo "== XGBoost in process (the 100-row peer)"
python3 hack/bench/serving_xgb_inplace.py "$WORK" | tee "$WORK/inplace.txt"

echo "== load before: $(uptime)"
declare -A R
for server in sextant kserve; do
  port=$SPORT; [ "$server" = kserve ] && port=$KPORT
  for rows in 1 100; do
    R[$server-$rows]=$(run "$server-$rows" "http://127.0.0.1:$port/v1/models/bench:predict" "$WORK/body$rows.json")
  done
  # The same 100 rows as a V2 request with binary tensor data (tritonclient's default form).
  R[$server-bin]=$(CONTENT_TYPE=application/octet-stream HEADER_LENGTH=$(cat "$WORK/body100.bin.header") \
    run "$server-bin" "http://127.0.0.1:$port/v2/models/bench/infer" "$WORK/body100.bin")
  # The same 100 rows as a gRPC ModelInfer with raw_input_contents (tritonclient[grpc]'s form).
  gport=$SGPORT; [ "$server" = kserve ] && gport=$KGPORT
  R[$server-grpc]=$(grpc_run "$server-grpc" "$gport")
done
# Single rows paced near 10,000 req/s: PACED_CONNECTIONS connections, each waiting 1 ms after
# every response (wrk's delay()), so the rate is set by the pacing, not by the server's limit.
PACED_CONNECTIONS=${PACED_CONNECTIONS:-11}
R[sextant-paced]=$(DELAY_MS=1 run sextant-paced "http://127.0.0.1:$SPORT/v1/models/bench:predict" "$WORK/body1.json" "$PACED_CONNECTIONS")
echo "== load after:  $(uptime)"
echo
echo "wrk -t1 -c$CONNECTIONS -d$DURATION, XGBoost 100 trees depth 6, 20 features"
printf "%-30s %-22s %12s %12s %10s %10s %8s\n" server request "req/s" "rows/s" p50 p99 non-2xx
row() {  # label request key rows
  read -r rps p50 p99 errs <<<"${R[$3]}"
  rowsps=$(python3 -c "print(f'{float(\"${rps:-0}\") * $4:,.0f}')")
  printf "%-30s %-22s %12s %12s %10s %10s %8s\n" "$1" "$2" "$rps" "$rowsps" "$p50" "$p99" "$errs"
}
row "sextant-server (Swift)" "V1 1 row" sextant-1 1
row "KServe xgbserver (Python)" "V1 1 row" kserve-1 1
row "sextant-server (Swift)" "V1 100 rows" sextant-100 100
row "KServe xgbserver (Python)" "V1 100 rows" kserve-100 100
row "sextant-server (Swift)" "V2 binary 100 rows" sextant-bin 100
row "KServe xgbserver (Python)" "V2 binary 100 rows" kserve-bin 100
row "sextant-server (Swift)" "gRPC raw 100 rows" sextant-grpc 100
row "KServe xgbserver (Python)" "gRPC raw 100 rows" kserve-grpc 100
row "sextant-server (Swift)" "V1 1 row, paced" sextant-paced 1
echo "(gRPC rows: h2load -m1, p50 column = mean latency, no p99; non-2xx = failed or errored requests)"
python3 - "${R[sextant-1]}" "${R[kserve-1]}" "${R[sextant-100]}" "${R[kserve-100]}" "${R[sextant-bin]}" "$WORK/inplace.txt" "${R[sextant-grpc]}" "${R[kserve-grpc]}" <<'PY'
import re, sys
def rps(s): return float(s.split()[0] or 0)
inplace = [float(m.replace(",", "")) for m in re.findall(r": ([\d,]+) rows/s", open(sys.argv[6]).read())]
print(f"throughput ratio sextant/kserve: single-row {rps(sys.argv[1]) / rps(sys.argv[2]):.1f}x, "
      f"100-row {rps(sys.argv[3]) / rps(sys.argv[4]):.1f}x, gRPC 100-row {rps(sys.argv[7]) / max(rps(sys.argv[8]), 1e-9):.1f}x")
print(f"100-row rows/s vs XGBoost inplace_predict (all cores / 1 thread): V1 {rps(sys.argv[3]) * 100 / inplace[0]:.2f}x / "
      f"{rps(sys.argv[3]) * 100 / inplace[1]:.2f}x, V2 binary {rps(sys.argv[5]) * 100 / inplace[0]:.2f}x / {rps(sys.argv[5]) * 100 / inplace[1]:.2f}x")
PY
