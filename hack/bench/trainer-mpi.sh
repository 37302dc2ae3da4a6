#!/usr/bin/env bash
# Data-parallel trainer benchmark (issue 20): the 1,000,000 x 28 benchmark CSV of
# hack/bench/trainer.sh trained by sextant-trainer on 1 rank (no mpirun), then under Open MPI's
# mpirun with 2 and 4 ranks (oversubscribed on a 2-core machine). Prints per run: wall time,
# allreduce bytes per boosting round (this rank's payload), peak RSS of every rank, and whether the
# model is byte-identical to the 1-rank model.
#
#   hack/bench/trainer-mpi.sh                  # full size, 50 rounds, depth 8
#   ROWS=200000 ROUNDS=20 hack/bench/trainer-mpi.sh
#   RANKS="1 2" hack/bench/trainer-mpi.sh
#   BIN=path/to/sextant-trainer hack/bench/trainer-mpi.sh   # use this binary, do not build
#   OBJECTIVE=reg:absoluteerror hack/bench/trainer-mpi.sh     # another objective (regression
#                                  # ones predict feature f0 from the other 27: TARGET=f0)
#
# Absolute and quantile error also gather every leaf's residuals to every rank once per tree:
# the `gathered` column is the bytes each rank received in the last logged round.
# Ranks use one thread each (THREADS), so the runs compare ranks, not threads.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS="${ROWS:-1000000}"
ROUNDS="${ROUNDS:-50}"
THREADS="${THREADS:-1}"
RANKS="${RANKS:-1 2 4}"
OBJECTIVE="${OBJECTIVE:-binary:logistic}"
case "$OBJECTIVE" in
  binary:logistic) TARGET="${TARGET:-label}"; FEATURES="" ;;
  multi:*) TARGET="${TARGET:-label}"; FEATURES="" ;;
  *) TARGET="${TARGET:-f0}"; FEATURES="features: [$(seq -s, -f 'f%g' 1 27 | sed 's/,/, /g')]" ;;
esac
DIR=.tmp/trainer-mpi-bench
mkdir -p "$DIR"
command -v mpirun >/dev/null || { echo "mpirun is required: apt-get install openmpi-bin libopenmpi-dev" >&2; exit 1; }

python3 -c "import numpy, sklearn, pandas" 2>/dev/null \
  || python3 -m pip install --quiet $(grep -E '^numpy==' hack/requirements-test.txt) scikit-learn pandas
DATA=".tmp/trainer-bench/data-$ROWS.csv"
[ "$ROWS" = 1000000 ] && DATA=".tmp/trainer-bench/data-1m.csv"
mkdir -p .tmp/trainer-bench
python3 hack/bench/trainer_data.py "$DATA" "$ROWS"

SCRATCH="${SCRATCH:-.build-ml}"
if [ -z "${BIN:-}" ]; then
  echo "building sextant-trainer (release, $SCRATCH)..." >&2
  swift build -c release --scratch-path "$SCRATCH" --product sextant-trainer >&2
  BIN="$SCRATCH/release/sextant-trainer"
fi
BIN="$(realpath "$BIN")"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
# Every rank under /usr/bin/time, its peak RSS in its own file.
cat > "$DIR/rank.sh" <<'SH'
#!/bin/sh
exec /usr/bin/time -f '%M' -o "$RSS_DIR/rss-${OMPI_COMM_WORLD_RANK:-0}.txt" "$@"
SH
chmod +x "$DIR/rank.sh"

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "objective $OBJECTIVE, target $TARGET, $ROUNDS rounds" >&2
printf '%-6s %10s %10s %12s %12s %22s %10s\n' ranks wall_s train_s bytes/round gathered "peak RSS MB per rank" identical
REFERENCE=""
for n in $RANKS; do
  out="$DIR/out-$n"; rm -rf "$out" "$DIR/rss-$n"; mkdir -p "$DIR/rss-$n"
  cat > "$DIR/config-$n.yaml" <<YAML
modelName: bench
data: {uri: $(realpath "$DATA")}
target: $TARGET
$FEATURES
objective: $OBJECTIVE
split: {column: split}
algorithm: gradientBoosting
hyperparameters: {nEstimators: $ROUNDS, maxDepth: 8, learningRate: 0.1, maxBin: 255, minChildWeight: 1, regLambda: 1, threads: $THREADS}
output: {uri: $(realpath -m "$out")}
YAML
  start=$(date +%s.%N)
  if [ "$n" = 1 ]; then
    RSS_DIR="$DIR/rss-$n" "$DIR/rank.sh" "$BIN" --config "$DIR/config-$n.yaml" --result-file "$DIR/result-$n.json" 2> "$DIR/log-$n.txt"
  else
    mpirun -np "$n" --oversubscribe --bind-to none -x RSS_DIR="$DIR/rss-$n" "$DIR/rank.sh" "$BIN" \
      --config "$DIR/config-$n.yaml" --result-file "$DIR/result-$n.json" 2> "$DIR/log-$n.txt"
  fi
  end=$(date +%s.%N)
  wall=$(python3 -c "print(round($end - $start, 2))")
  train=$(python3 -c "import json; print(json.load(open('$out/metrics.json'))['timings'].get('trainSeconds'))")
  # Payload each rank passes to allreduce in the last logged round (0 on one rank).
  bytes=$(grep -o 'allreduce=[0-9]*' "$DIR/log-$n.txt" | tail -1 | cut -d= -f2 || true); bytes=${bytes:-0}
  gathered=$(grep -o 'gathered=[0-9]*' "$DIR/log-$n.txt" | tail -1 | cut -d= -f2 || true); gathered=${gathered:-0}
  rss=$(for f in "$DIR/rss-$n"/rss-*.txt; do echo $(( $(tail -1 "$f") / 1024 )); done | paste -sd/ -)
  sha=$(sha256sum "$out/model.json" | cut -d' ' -f1)
  [ -z "$REFERENCE" ] && REFERENCE="$sha"
  same=$([ "$sha" = "$REFERENCE" ] && echo yes || echo NO)
  printf '%-6s %10s %10s %12s %12s %22s %10s\n' "$n" "$wall" "$train" "$bytes" "$gathered" "$rss" "$same"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
