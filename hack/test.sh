#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every Swift test (which start their
# own Python servers, the development API server, kubectl and Prometheus on 127.0.0.1) and
# validates the CRDs and examples.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh
swift build --build-tests
hack/validate-manifests.sh
# Serially: many tests start servers and measure timeouts, which a 2-core machine running
# every suite at once cannot keep.
swift test --skip-build --no-parallel 2>&1 | tee .build/test-output.txt
