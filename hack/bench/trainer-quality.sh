#!/usr/bin/env bash
# Quality table (issue 16): sextant-trainer vs XGBoost vs LightGBM on three binary data sets with a
# 250-level long-tail categorical, 15 % missing values, and a presence-only feature, then on
# regression, weighted regression, Poisson, 5-class, Tweedie, absolute-error and quantile data. Same rows, same split, matched
# hyperparameters (hack/bench/trainer_quality.py documents them). Prints test metrics, fit time
# and the gap of sextant to the baselines.
#
#   hack/bench/trainer-quality.sh               # 200,000 rows per set
#   ROWS=50000 hack/bench/trainer-quality.sh    # quicker
#   BIN=path/to/sextant-trainer hack/bench/trainer-quality.sh  # use this binary, do not build
#   ONLY=objectives hack/bench/trainer-quality.sh  # only the objectives table (regression, Poisson, ...)
#   ONLY=objectives SETS=tweedie,absolute,quantile hack/bench/trainer-quality.sh  # some of its sets
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS="${ROWS:-200000}"
python3 -c "import numpy, sklearn, xgboost, lightgbm, pandas" 2>/dev/null \
  || python3 -m pip install --quiet $(grep -E '^(xgboost|numpy|lightgbm)==' hack/requirements-test.txt) scikit-learn pandas
SCRATCH="${SCRATCH:-.build-ml}"
if [ -z "${BIN:-}" ]; then
  echo "building sextant-trainer (release, $SCRATCH)..." >&2
  swift build -c release --scratch-path "$SCRATCH" --product sextant-trainer >&2
  BIN="$SCRATCH/release/sextant-trainer"
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 hack/bench/trainer_quality.py "$BIN" "$ROWS"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
