#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every Swift test (which start their
# own Python servers, the development API server, kubectl and Prometheus on 127.0.0.1) and
# validates the CRDs and examples.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh
swift build --build-tests
hack/validate-manifests.sh
status=0
# The images (docs/install.md#images): built with podman from Debian packages, then run and checked;
# skipped with a message where podman cannot run containers. Before the Swift tests, so that the
# test runner's summary is the last thing the log says.
hack/images/test.sh || status=$?
# Serially: many tests start servers and measure timeouts, which a 2-core machine running
# every suite at once cannot keep.
tests=0
swift test --skip-build --no-parallel 2>&1 | tee .build/test-output.txt || tests=$?
if [ "$tests" -ne 0 ]; then
  status=$tests
  # The log is long and CI may show only its tail: repeat what failed at the end.
  echo "=== failures (whole log: .build/test-output.txt) ==="
  grep -E '✘|error:|Fatal error|Crash' .build/test-output.txt | grep -v 'HummingbirdCore' | tail -40 || true
  # A crash ends the run without a ✘: name the test that was running and the crashed thread's frames.
  if grep -q 'Program crashed' .build/test-output.txt; then
    echo "=== crash: the last tests started, then the crashed thread ==="
    sed -n '1,/Program crashed/p' .build/test-output.txt | grep -E '◇ Test .* started' | tail -3 || true
    sed -n '/Program crashed/,/^Registers:/p' .build/test-output.txt | head -60 || true
  fi
fi
exit "$status"
