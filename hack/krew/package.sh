#!/usr/bin/env bash
# Packages `kubectl sextant` for krew: a release archive holding the plugin binary, and the krew
# plugin manifest (krew.googlecontainertools.github.com/v1alpha2 Plugin) that points at it with
# its sha256. The manifest is written per release because the sha256 is the archive's.
#
# Usage: hack/krew/package.sh VERSION OUTDIR [BINARY]
#   VERSION  release version without the v (0.1.0); the manifest's spec.version is vVERSION
#   OUTDIR   where kubectl-sextant_linux_amd64.tar.gz and sextant.yaml are written
#   BINARY   the sextant binary to package (default: a release build of this tree); only the
#            platform of this machine can be packaged here (linux/amd64 or linux/arm64)
# Environment: SEXTANT_RELEASE_URL (default https://github.com/sextant-dev/sextant/releases/download),
# the base of the archives' download URIs: <base>/vVERSION/<archive>; SEXTANT_GZIP_LEVEL (9), the
# gzip level of the archive (tests use 1: a debug binary is 80 MB).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: hack/krew/package.sh VERSION OUTDIR [BINARY]" >&2
    exit 64
fi
VERSION="$1" OUT="$2" BINARY="${3:-}"
if ! [[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
    echo "error: VERSION must be semantic (1.2.3), got \"$VERSION\"" >&2
    exit 64
fi
if [ -z "$BINARY" ]; then
    swift build -c release --product sextant
    BINARY="$(swift build -c release --show-bin-path)/sextant"
fi
[ -x "$BINARY" ] || { echo "error: $BINARY is not an executable" >&2; exit 1; }
case "$(uname -m)" in
    x86_64) ARCH=amd64 ;;
    aarch64|arm64) ARCH=arm64 ;;
    *) echo "error: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
OS=linux
ARCHIVE="kubectl-sextant_${OS}_${ARCH}.tar.gz"
BASE="${SEXTANT_RELEASE_URL:-https://github.com/sextant-dev/sextant/releases/download}"
mkdir -p "$OUT"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
install -m 0755 "$BINARY" "$STAGE/kubectl-sextant"
tar -C "$STAGE" -cf - kubectl-sextant | gzip -"${SEXTANT_GZIP_LEVEL:-9}" > "$OUT/$ARCHIVE"
SHA="$(sha256sum "$OUT/$ARCHIVE" | cut -d' ' -f1)"
cat > "$OUT/sextant.yaml" <<YAML
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: sextant
spec:
  version: v$VERSION
  homepage: https://github.com/sextant-dev/sextant
  shortDescription: Train, register and roll out ML models (TrainingJob, ModelVersion, CanaryRollout)
  description: |
    The Sextant command line as a kubectl plugin: get TrainingJobs, ModelVersions and
    CanaryRollouts with their printer columns (kubectl sextant get sextant -A), approve or
    reject a ModelVersion, retrain a TrainingJob, promote, abort or retry a canary rollout.
  platforms:
  - selector:
      matchLabels:
        os: $OS
        arch: $ARCH
    uri: $BASE/v$VERSION/$ARCHIVE
    sha256: $SHA
    bin: kubectl-sextant
YAML
echo "wrote $OUT/$ARCHIVE (sha256 $SHA) and $OUT/sextant.yaml"
