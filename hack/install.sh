#!/usr/bin/env bash
# Installs the Sextant binaries on this machine: sextant, sextant-controller, sextant-trainer and
# sextant-server in PREFIX/bin (side by side: `sextant dev node` runs the trainer and server found
# next to `sextant`), the kubectl plugin `kubectl-sextant` (a symlink to `sextant`, so that
# `kubectl sextant get cro -A` works) and shell completion scripts for bash, zsh and fish.
#
# Usage: hack/install.sh [--prefix DIR] [--from DIR]
#   --prefix DIR  install under DIR (default: $PREFIX, else $HOME/.local): binaries in DIR/bin,
#                 completions in DIR/share/{bash-completion/completions,zsh/site-functions,fish/vendor_completions.d}
#   --from DIR    install the binaries already built in DIR (e.g. .build/debug) instead of
#                 building them with `swift build -c release`
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: hack/install.sh [--prefix DIR] [--from DIR]" >&2; }
PREFIX="${PREFIX:-$HOME/.local}"
FROM=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { usage; exit 64; }; PREFIX="$2"; shift 2 ;;
        --from) [ $# -ge 2 ] || { usage; exit 64; }; FROM="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage; exit 64 ;;
    esac
done
PRODUCTS=(sextant sextant-controller sextant-trainer sextant-server)
if [ -z "$FROM" ]; then
    for product in "${PRODUCTS[@]}"; do swift build -c release --product "$product"; done
    FROM="$(swift build -c release --show-bin-path)"
fi
BIN="$PREFIX/bin"
mkdir -p "$BIN"
for product in "${PRODUCTS[@]}"; do
    if [ ! -x "$FROM/$product" ]; then
        echo "error: $FROM/$product is missing (build it with: swift build -c release --product $product)" >&2
        exit 1
    fi
    install -m 0755 "$FROM/$product" "$BIN/$product"
done
# kubectl finds plugins as executables named kubectl-<name> on PATH.
ln -sf sextant "$BIN/kubectl-sextant"

# Completion scripts where bash-completion, zsh (with $PREFIX/share/zsh/site-functions on fpath)
# and fish look for them.
COMPLETIONS=(
    "bash:$PREFIX/share/bash-completion/completions/sextant"
    "zsh:$PREFIX/share/zsh/site-functions/_sextant"
    "fish:$PREFIX/share/fish/vendor_completions.d/sextant.fish"
)
for entry in "${COMPLETIONS[@]}"; do
    shell="${entry%%:*}" file="${entry#*:}"
    mkdir -p "$(dirname "$file")"
    "$BIN/sextant" --generate-completion-script "$shell" > "$file"
done

echo "installed $("$BIN/sextant" version) into $BIN (with kubectl-sextant) and completions under $PREFIX/share"
case ":$PATH:" in
    *":$BIN:"*) ;;
    *) echo "note: $BIN is not on PATH; add it (export PATH=\"$BIN:\$PATH\") to run sextant and kubectl sextant" ;;
esac
