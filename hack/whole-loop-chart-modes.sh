#!/usr/bin/env bash
# The whole loop (LocalNodeEndToEndTests.theWholeLoop) with sextant-controller holding exactly the
# chart's RBAC over TLS, in each mode of the chart: cluster-wide (the default, also run in CI) and
# namespaced (watchNamespace: a Role in the watched namespace, --namespace). Too long for CI twice.
# Usage: hack/whole-loop-chart-modes.sh   (after swift build --build-tests)
set -euo pipefail
cd "$(dirname "$0")/.."
for values in '{}' '{"watchNamespace":"ml-production"}'; do
    echo "== chart values $values"
    SEXTANT_LOOP_CHART_VALUES="$values" swift test --skip-build --filter 'LocalNodeEndToEndTests/theWholeLoop'
done
