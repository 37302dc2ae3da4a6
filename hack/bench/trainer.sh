#!/usr/bin/env bash
# Trainer benchmark (issue 7): sextant-trainer vs XGBoost (hist) vs LightGBM on the same
# 1,000,000 x 28 make_classification CSV, same stratified 80/20 split, 200 rounds, depth 8,
# learning rate 0.1, 256 bins, 2 threads. Prints wall time, peak RSS and test AUC.
#
#   hack/bench/trainer.sh            # full size
#   ROWS=200000 hack/bench/trainer.sh  # smaller, for a quick look
#   BASELINES=xgboost hack/bench/trainer.sh  # skip LightGBM
#   SCRATCH=.build-ml2 hack/bench/trainer.sh  # SwiftPM scratch path to build in (default .build-ml)
#   BIN=path/to/sextant-trainer hack/bench/trainer.sh  # use this binary, do not build
#
# Runs are sequential; other processes on the machine distort times (the load is printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS="${ROWS:-1000000}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-200}"
BASELINES="${BASELINES:-xgboost lightgbm}"
DIR=.tmp/trainer-bench
mkdir -p "$DIR"

python3 -c "import numpy, sklearn, xgboost, lightgbm, pandas" 2>/dev/null \
  || python3 -m pip install --quiet $(grep -E '^(xgboost|numpy)==' hack/requirements-test.txt) scikit-learn lightgbm pandas

DATA="$DIR/data-$ROWS.csv"
[ "$ROWS" = 1000000 ] && DATA="$DIR/data-1m.csv"
python3 hack/bench/trainer_data.py "$DATA" "$ROWS"

SCRATCH="${SCRATCH:-.build-ml}"
if [ -z "${BIN:-}" ]; then
  echo "building sextant-trainer (release, $SCRATCH)..." >&2
  swift build -c release --scratch-path "$SCRATCH" --product sextant-trainer >&2
  BIN="$SCRATCH/release/sextant-trainer"
fi

cat > "$DIR/config.yaml" <<YAML
modelName: bench
data: {uri: $DATA}
target: label
split: {column: split}
algorithm: gradientBoosting
hyperparameters: {nEstimators: $ROUNDS, maxDepth: 8, learningRate: 0.1, maxBin: 255, minChildWeight: 1, regLambda: 1, threads: $THREADS}
output: {uri: $DIR/out-sextant}
YAML

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
RESULTS="$DIR/results.jsonl"
: > "$RESULTS"
/usr/bin/time -f '%e %M' -o "$DIR/time.txt" "$BIN" --config "$DIR/config.yaml" \
  --result-file "$DIR/result.json" 2> "$DIR/sextant.log"
python3 hack/bench/trainer_sextant_result.py "$DIR" >> "$RESULTS"
for lib in $BASELINES; do
  python3 hack/bench/trainer_baseline.py "$lib" "$DATA" "$THREADS" "$ROUNDS" >> "$RESULTS"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 hack/bench/trainer_table.py "$RESULTS"
