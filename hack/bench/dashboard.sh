#!/usr/bin/env bash
# First paint of `sextant dashboard` with 5,000 CanaryRollouts, 20,000 ModelVersions and 1,000
# TrainingJobs (10 runs each, with validation curves) in headless Chromium, and the dashboard's
# memory (docs/dashboard.md). Usage: hack/bench/dashboard.sh [--rollouts N] [--versions M] [--jobs J] [--runs R]
# BIN_DIR=.build/debug uses binaries already built instead of a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${BIN_DIR:-}" ]]; then
    swift build -c release --product sextant >&2
    BIN_DIR="$(swift build -c release --show-bin-path)"
fi
exec python3 hack/bench/dashboard.py "$BIN_DIR" "$@"
