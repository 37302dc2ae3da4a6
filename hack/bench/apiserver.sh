#!/usr/bin/env bash
# Benchmark of the development API server: 10,000 objects, 100 watchers (see docs/dev-apiserver.md).
# Runs three configurations one after the other, on the same build and machine, so they can be read
# side by side: plain HTTP with JSON bodies (the earlier numbers' setup), HTTPS with JSON bodies,
# HTTPS with protobuf bodies (client-go's default for built-in kinds).
# Usage: hack/bench/apiserver.sh [--objects N] [--watchers W] [--updates U] [--connections C] [--rate R]
#        BENCH_CONFIGS="tls=on,body=protobuf" hack/bench/apiserver.sh   (only the listed configurations)
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product bench-apiserver ${SCRATCH:+--scratch-path "$SCRATCH"} >&2
bin="$(swift build -c release --product bench-apiserver ${SCRATCH:+--scratch-path "$SCRATCH"} --show-bin-path)/bench-apiserver"
configs="${BENCH_CONFIGS:-tls=off,body=json tls=on,body=json tls=on,body=protobuf}"
for config in $configs; do
    tls="$(sed -n 's/.*tls=\([a-z]*\).*/\1/p' <<<"$config")"
    body="$(sed -n 's/.*body=\([a-z]*\).*/\1/p' <<<"$config")"
    echo "== $config"
    "$bin" --tls "${tls:-on}" --body "${body:-json}" "$@"
done
