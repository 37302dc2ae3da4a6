#!/usr/bin/env bash
# Builds the images sextant-controller, sextant-trainer and sextant-server with podman, from Debian
# packages only (no image registry needed):
#   1. a runtime base (the bookworm-slim equivalent plus the shared libraries the binaries link,
#      hack/images/runtime-packages.txt) made with mmdebstrap and `podman import`, and for the trainer
#      a trainer base with hack/images/trainer-packages.txt on top (Open MPI's mpirun, ssh, sshd: the
#      MPIJob launcher and workers), so that the other two images do not carry them;
#   2. with --from-source, a build image: bookworm, the C headers the package links, and the Swift
#      toolchain of this machine copied in (plus the machine's git mirrors of the Swift packages when
#      git redirects github.com to a local directory);
#   3. `podman build -f hack/images/Dockerfile.<name>` for each image.
#
# Usage: hack/images/build.sh [--from-source | --prebuilt [--reuse-binaries]] [--registry R] [--tag T] [--push]
#                             [--rebuild-bases] [--bases-only] [controller] [trainer] [server]
#   --from-source  compile inside the build image (the documented path; a release build of the
#                  whole package on 2 cores takes long, see docs/install.md#images)
#   --prebuilt     (default) `swift build -c release --static-swift-stdlib` on this machine (must be
#                  Debian bookworm, the runtime's glibc) and copy the binaries into the images
#   --reuse-binaries  with --prebuilt: no release build, take the binaries already in
#                  .build/images/bin (e.g. copied from a checkout of the same commit that built them)
#   --registry     default ghcr.io/sextant-dev, the chart's image.repository prefix
#   --tag          default the chart's appVersion (charts/sextant/Chart.yaml)
#   --push         podman push every image after building it
#   --bases-only   make the base images (the build image too with --from-source) and stop
# Prints each image's name and size at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=hack/images

mode=prebuilt registry=ghcr.io/sextant-dev tag="" push=0 rebuild=0 bases_only=0 reuse=0 names=()
while [ $# -gt 0 ]; do
    case "$1" in
        --from-source) mode=source ;;
        --prebuilt) mode=prebuilt ;;
        --reuse-binaries) reuse=1 ;;
        --registry) registry="${2:?--registry needs a value}"; shift ;;
        --tag) tag="${2:?--tag needs a value}"; shift ;;
        --push) push=1 ;;
        --rebuild-bases) rebuild=1 ;;
        --bases-only) bases_only=1 ;;
        controller|trainer|server) names+=("$1") ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ "${#names[@]}" -gt 0 ] || names=(controller trainer server)
# One source for the tag: the chart's appVersion, which is also the chart's default image tag.
[ -n "$tag" ] || tag=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/sextant/Chart.yaml)
[ -n "$tag" ] || { echo "build.sh: no appVersion in charts/sextant/Chart.yaml" >&2; exit 1; }

for tool in podman mmdebstrap; do
    command -v "$tool" >/dev/null || { echo "build.sh: $tool is required (Debian package $tool, hack/apt-packages.txt)" >&2; exit 1; }
done
# runc (crun fails on these machines' cgroup setup) and default ulimits podman accepts here.
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/$here/containers.conf}"

# Runtime libraries, the union of what the three binaries link (hack/images/test.sh checks with
# ldd that each binary resolves every library in its image), and what only the trainer adds.
packages_of() { grep -vE '^\s*(#|$)' "$here/$1" | tr '\n' ' '; }
runtime_packages=$(packages_of runtime-packages.txt)
trainer_packages="$runtime_packages$(packages_of trainer-packages.txt)"
build_packages=$(packages_of build-packages.txt)
suite=bookworm
base_image=localhost/sextant-base:$suite
trainer_base_image=localhost/sextant-trainer-base:$suite
swift_version=$(swift --version 2>/dev/null | sed -n 's/.*Swift version \([0-9.]*\).*/\1/p' | head -1)
build_image=localhost/sextant-swift-build:${swift_version:-unknown}-$suite

# The recipe of a base image, kept as a label: a changed package list rebuilds it.
recipe_of() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }
has_recipe() {
    [ "$rebuild" = 0 ] || return 1
    [ "$(podman image inspect --format '{{index .Labels "dev.sextant.recipe"}}' "$1" 2>/dev/null)" = "$2" ]
}

# mmdebstrap options shared by both bases: merged /usr without the usrmerge package (which pulls
# perl), no documentation, man pages or translations (what debian:bookworm-slim drops).
mmdebstrap_common=(--variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
    --dpkgopt=force-unsafe-io
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*')

make_runtime_base() { # image packages
    local image=$1 packages=$2
    local recipe; recipe=$(recipe_of runtime "$suite" "$packages" "${mmdebstrap_common[*]}")
    if has_recipe "$image" "$recipe"; then echo "== $image is up to date"; return; fi
    echo "== $image: mmdebstrap $suite + $packages"
    local start=$SECONDS
    mmdebstrap "${mmdebstrap_common[@]}" --include="${packages// /,}" "$suite" - \
        | podman import --change "LABEL dev.sextant.recipe=$recipe" --change 'CMD ["/bin/sh"]' - "$image" >/dev/null
    echo "== $image made in $((SECONDS - start)) s"
}

make_build_image() {
    command -v swift >/dev/null || { echo "build.sh: --from-source copies this machine's Swift toolchain: swift is not on PATH" >&2; exit 1; }
    local toolchain; toolchain=$(dirname "$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")")
    # The machine's git mirrors of the Swift packages: a url.<dir>.insteadOf of github.com that points
    # at a local directory is copied into the image with the same gitconfig, so that SwiftPM inside
    # the build resolves github.com URLs as it does here (no network needed).
    local mirror; mirror=$(git config --get-regexp '^url\..*\.insteadof$' 'https://github.com/' 2>/dev/null \
        | sed -n 's/^url\.\(.*\)\.insteadof .*/\1/p' | head -1)
    [ -n "$mirror" ] && [ -d "$mirror" ] || mirror=""
    local recipe; recipe=$(recipe_of build "$suite" "$build_packages" "$toolchain" "$swift_version" "$mirror" "${mmdebstrap_common[*]}")
    if has_recipe "$build_image" "$recipe"; then echo "== $build_image is up to date"; return; fi
    echo "== $build_image: mmdebstrap $suite + build packages + toolchain $toolchain${mirror:+ + package mirrors $mirror}"
    local start=$SECONDS hooks=(--customize-hook="mkdir -p \"\$1/opt\" && cp -a '$toolchain' \"\$1/opt/swift\"")
    if [ -n "$mirror" ]; then
        hooks+=(--customize-hook="mkdir -p \"\$1$mirror\" && cp -a '$mirror/.' \"\$1$mirror/\""
                --customize-hook="printf '[url \"%s\"]\n\tinsteadOf = https://github.com/\n' '$mirror' >> \"\$1/etc/gitconfig\"")
    fi
    mmdebstrap "${mmdebstrap_common[@]}" --include="${build_packages// /,}" "${hooks[@]}" "$suite" - \
        | podman import --change "LABEL dev.sextant.recipe=$recipe" \
            --change 'ENV PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["/bin/bash"]' - "$build_image" >/dev/null
    echo "== $build_image made in $((SECONDS - start)) s"
}

# Release binaries on this machine, for --prebuilt: the three products (they share every module) in
# their own build folder (.build-release: a debug build in .build can go on meanwhile), stripped, in
# .build/images/bin (the only part of the build folders the .dockerignore lets in).
build_on_host() {
    local start=$SECONDS
    for n in "${names[@]}"; do
        echo "== release build on this machine: sextant-$n"
        swift build -c release --static-swift-stdlib --scratch-path .build-release --product "sextant-$n"
    done
    local bin; bin=$(swift build -c release --scratch-path .build-release --show-bin-path)
    mkdir -p .build/images/bin
    for n in "${names[@]}"; do
        cp "$bin/sextant-$n" ".build/images/bin/sextant-$n"
        strip ".build/images/bin/sextant-$n"
    done
    echo "== release build took $((SECONDS - start)) s"
}

make_runtime_base "$base_image" "$runtime_packages"
case " ${names[*]} " in *" trainer "*) make_runtime_base "$trainer_base_image" "$trainer_packages" ;; esac
if [ "$mode" = source ]; then make_build_image; fi
[ "$bases_only" = 0 ] || exit 0
if [ "$mode" = prebuilt ] && [ "$reuse" = 1 ]; then
    for n in "${names[@]}"; do
        [ -x ".build/images/bin/sextant-$n" ] || { echo "build.sh: --reuse-binaries: .build/images/bin/sextant-$n is missing" >&2; exit 1; }
    done
    echo "== reusing the binaries in .build/images/bin (no release build)"
elif [ "$mode" = prebuilt ]; then
    build_on_host
fi

source_url=$(sed -n '/^sources:/,/^[a-z]/s/^ *- *\(http[^ ]*\)$/\1/p' charts/sextant/Chart.yaml | head -1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || revision="$revision-dirty"
built=()
for n in "${names[@]}"; do
    image="$registry/sextant-$n:$tag"
    echo "== podman build $image ($mode)"
    start=$SECONDS
    base=$base_image
    [ "$n" = trainer ] && base=$trainer_base_image
    args=(--build-arg "BASE_IMAGE=$base" --build-arg "BINARIES=$mode"
          --build-arg "VERSION=$tag" --build-arg "REVISION=$revision"
          ${source_url:+--build-arg "SOURCE=$source_url"})
    [ "$mode" = source ] && args+=(--build-arg "SWIFT_IMAGE=$build_image")
    # Also as --label: buildah reuses a cached LABEL step whose build args changed (a stale revision).
    args+=(--label "org.opencontainers.image.revision=$revision" --label "org.opencontainers.image.version=$tag"
           ${source_url:+--label "org.opencontainers.image.source=$source_url"})
    podman build -f "$here/Dockerfile.$n" "${args[@]}" -t "$image" .
    echo "== $image built in $((SECONDS - start)) s"
    built+=("$image")
    [ "$push" = 0 ] || podman push "$image"
done

echo "== images"
for image in "${built[@]}"; do
    size=$(podman image inspect --format '{{.Size}}' "$image")
    awk -v i="$image" -v s="$size" 'BEGIN { printf "%-50s %6.1f MB\n", i, s / 1e6 }'
done
