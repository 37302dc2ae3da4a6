#!/usr/bin/env bash
# Benchmark of the development API server: 10,000 objects, 100 watchers (see docs/dev-apiserver.md).
# Usage: hack/bench/apiserver.sh [--objects N] [--watchers W] [--updates U] [--connections C]
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product bench-apiserver ${SCRATCH:+--scratch-path "$SCRATCH"} >&2
exec "$(swift build -c release --product bench-apiserver ${SCRATCH:+--scratch-path "$SCRATCH"} --show-bin-path)/bench-apiserver" "$@"
