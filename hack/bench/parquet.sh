#!/usr/bin/env bash
# Parquet load benchmark (issue 17): sextant-trainer loading the 1,000,000 x 28 benchmark data
# (hack/bench/trainer_data.py) as snappy and zstd Parquet (written by pyarrow) and as CSV, side by
# side with pyarrow.parquet.read_table on the same files, 2 threads each. Prints the load time
# and the peak RSS of each process.
#
#   hack/bench/parquet.sh                 # full size
#   ROWS=200000 hack/bench/parquet.sh     # smaller
#   BIN=path/to/sextant-trainer hack/bench/parquet.sh  # use this binary, do not build
#
# The trainer's load time is its `parseSeconds` (decode into the final columns; the file is
# memory-mapped, `readSeconds`/`hashSeconds` are printed apart). Its peak RSS is that of a whole
# run with one boosting round (the binned matrix adds to it), so it is an upper bound of the load's.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS="${ROWS:-1000000}"
THREADS="${THREADS:-2}"
DIR=.tmp/trainer-bench
mkdir -p "$DIR"

python3 -c "import pyarrow, numpy, sklearn, pandas" 2>/dev/null \
  || python3 -m pip install --quiet $(grep -E '^(pyarrow|numpy)==' hack/requirements-test.txt) scikit-learn pandas

DATA="$DIR/data-$ROWS.csv"
[ "$ROWS" = 1000000 ] && DATA="$DIR/data-1m.csv"
python3 hack/bench/trainer_data.py "$DATA" "$ROWS"
for codec in snappy zstd; do
  out="${DATA%.csv}-$codec.parquet"
  [ -f "$out" ] || python3 - "$DATA" "$out" "$codec" <<'PY'
import sys, pyarrow.csv as pc, pyarrow.parquet as pq
t = pc.read_csv(sys.argv[1])
pq.write_table(t, sys.argv[2], compression=sys.argv[3])
print(f"wrote {sys.argv[2]}", file=sys.stderr)
PY
done

SCRATCH="${SCRATCH:-.build-ml}"
if [ -z "${BIN:-}" ]; then
  echo "building sextant-trainer (release, $SCRATCH)..." >&2
  swift build -c release --scratch-path "$SCRATCH" --product sextant-trainer >&2
  BIN="$SCRATCH/release/sextant-trainer"
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '%-28s %-10s %10s %12s\n' "reader" "format" "load (s)" "peak RSS MB"
for input in "$DATA" "${DATA%.csv}-snappy.parquet" "${DATA%.csv}-zstd.parquet"; do
  case "$input" in *.csv) fmt=csv ;; *snappy*) fmt=snappy ;; *) fmt=zstd ;; esac
  cat > "$DIR/parquet-config.yaml" <<YAML
modelName: bench-load
data: {uri: $input}
target: label
split: {column: split}
hyperparameters: {nEstimators: 1, maxDepth: 2, threads: $THREADS}
output: {uri: $DIR/out-parquet-load}
YAML
  /usr/bin/time -f '%M' -o "$DIR/parquet-time.txt" "$BIN" --config "$DIR/parquet-config.yaml" \
    --result-file "$DIR/parquet-result.json" 2> "$DIR/parquet-sextant.log" || { cat "$DIR/parquet-sextant.log" >&2; exit 1; }
  python3 - "$DIR/out-parquet-load/metrics.json" "$(cat "$DIR/parquet-time.txt")" "$fmt" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["timings"]
print(f"{'sextant-trainer':<28} {sys.argv[3]:<10} {t['parseSeconds']:>10.3f} {int(sys.argv[2]) / 1024:>12.0f}"
      f"   (read {t['readSeconds']:.3f} s, sha256 {t['hashSeconds']:.3f} s)")
PY
  if [ "$fmt" != csv ]; then
    /usr/bin/time -f '%M' -o "$DIR/parquet-time.txt" python3 - "$input" "$THREADS" "$fmt" > "$DIR/parquet-py.txt" <<'PY'
import sys, time, pyarrow as pa, pyarrow.parquet as pq
pa.set_cpu_count(int(sys.argv[2])); pa.set_io_thread_count(int(sys.argv[2]))
t0 = time.perf_counter(); t = pq.read_table(sys.argv[1], use_threads=True); dt = time.perf_counter() - t0
print(f"{dt:.3f} {t.num_rows}")
PY
    read -r secs _ < "$DIR/parquet-py.txt"
    printf '%-28s %-10s %10s %12.0f\n' "pyarrow.parquet.read_table" "$fmt" "$secs" "$(awk '{print $1 / 1024}' "$DIR/parquet-time.txt")"
  fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
