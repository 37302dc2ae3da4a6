#!/usr/bin/env bash
# Runs the three images with podman the way the chart runs them (non-root, read-only root file
# system, no capabilities) and checks each one against a real peer:
#   - image metadata: non-root USER, OCI labels (source = the chart's `sources`, revision, version),
#     every shared library of the binary resolves inside the image (ldd);
#   - the chart's image.repository / trainerImage / serverImage defaults are what build.sh tags;
#   - sextant-trainer trains the demo CSV (hack/demo-data.py) inside the container, output on a
#     mounted volume;
#   - sextant-server serves that model: V2 ready and infer, answered through a published port;
#   - sextant-controller reaches the development API server with a kubeconfig mounted read-only where
#     a Secret volume would be, its token file next to it like a ServiceAccount token (the dev server
#     speaks plain HTTP on this branch), becomes leader (its Lease appears) and answers /readyz.
# Usage: hack/images/test.sh [--no-build]   (without --no-build: hack/images/build.sh --prebuilt first)
# A machine where podman cannot run a container skips with a message naming what failed (exit 0);
# any other failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/hack/images/containers.conf}"

registry=ghcr.io/sextant-dev
tag=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/sextant/Chart.yaml)
source_url=$(sed -n '/^sources:/,/^[a-z]/s/^ *- *\(http[^ ]*\)$/\1/p' charts/sextant/Chart.yaml | head -1)
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

command -v podman >/dev/null || fail "podman is not installed (Debian package podman, hack/apt-packages.txt)"
# Can this machine run containers at all? Needs an image: the runtime base (cheap when it exists).
if [ "${1:-}" != --no-build ]; then
    hack/images/build.sh --prebuilt
fi
if ! probe=$(podman run --rm --network none "localhost/sextant-base:bookworm" true 2>&1); then
    echo "SKIP: podman cannot run containers on this machine, the image tests did not run: $probe" >&2
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sextant-images-test.XXXXXX")
containers=()
pids=()
cleanup() {
    for c in "${containers[@]}"; do podman rm -f -t 1 "$c" >/dev/null 2>&1 || true; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
# The chart's securityContext, as podman flags.
secure=(--read-only --cap-drop=ALL --security-opt=no-new-privileges)

# --- image metadata, the chart's defaults, shared libraries
chart_image() { # values.yaml key → repository
    awk -v key="$1:" '$1 == key { inblock = 1; next } inblock && $1 == "repository:" { print $2; exit }' charts/sextant/values.yaml
}
for pair in image:controller trainerImage:trainer serverImage:server; do
    key=${pair%%:*} name=${pair#*:}
    [ "$(chart_image "$key")" = "$registry/sextant-$name" ] \
        || fail "charts/sextant/values.yaml $key.repository is '$(chart_image "$key")', build.sh tags $registry/sextant-$name"
done
pass "chart image repositories match build.sh ($registry/sextant-*:$tag, tag = appVersion)"
for name in controller trainer server; do
    image="$registry/sextant-$name:$tag"
    user=$(podman image inspect --format '{{.Config.User}}' "$image")
    [ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] || fail "$image runs as '$user', not a non-root user"
    label() { podman image inspect --format "{{index .Labels \"org.opencontainers.image.$1\"}}" "$image"; }
    [ "$(label source)" = "$source_url" ] || fail "$image label source '$(label source)' != $source_url (Chart.yaml sources)"
    [ "$(label version)" = "$tag" ] || fail "$image label version '$(label version)' != $tag"
    case "$(label revision)" in
        "$(git rev-parse HEAD)"*) ;;
        *) fail "$image label revision '$(label revision)' is not this checkout's commit $(git rev-parse HEAD)" ;;
    esac
    missing=$(podman run --rm --network none --entrypoint /usr/bin/ldd "$image" "/usr/local/bin/sextant-$name" | grep 'not found' || true)
    [ -z "$missing" ] || fail "$image: libraries not found: $missing"
    size=$(podman image inspect --format '{{.Size}}' "$image")
    pass "$image: user $user, labels source/version/revision=$(label revision | cut -c1-12), libraries resolve, $((size / 1000000)) MB"
done

# --- sextant-trainer: the demo CSV, output on a mounted volume
mkdir -p "$work/data" "$work/out"
python3 hack/demo-data.py "$work/data/fraud.csv" --rows 2000 >/dev/null
cat > "$work/data/train.yaml" <<'EOF'
modelName: fraud
data: {uri: /data/fraud.csv, version: demo}
target: is_fraud
algorithm: gradientBoosting
hyperparameters: {nEstimators: 30, maxDepth: 3}
output: {uri: /out/fraud-v1}
EOF
chmod -R a+rwX "$work/out"  # the image's user (65532) writes there
start=$SECONDS
podman run --rm --network none "${secure[@]}" \
    -v "$work/data:/data:ro" -v "$work/out:/out" \
    "$registry/sextant-trainer:$tag" --config /data/train.yaml --threads 1 --quiet --result-file /out/result.json \
    > "$work/trainer.log" 2>&1 || { cat "$work/trainer.log" >&2; fail "sextant-trainer exited non-zero"; }
[ -s "$work/out/fraud-v1/model.json" ] || fail "sextant-trainer wrote no model.json (files: $(ls -R "$work/out"))"
auc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["test"]["aucRoc"])' "$work/out/fraud-v1/metrics.json")
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0.75 else 1)' "$auc" || fail "demo model AUC $auc <= 0.75"
pass "sextant-trainer trained the demo CSV in the container in $((SECONDS - start)) s: model.json on the volume, AUC $auc"

# --- sextant-server: serve the model through a published port
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server=sextant-images-test-server-$$
containers+=("$server")
podman run -d --name "$server" "${secure[@]}" -p "127.0.0.1:$port:8080" -v "$work/out:/models:ro" \
    "$registry/sextant-server:$tag" --model-uri /models/fraud-v1/model.json --model-name fraud --model-version v1 >/dev/null
ready=0
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.1
done
[ "$ready" = 1 ] || { podman logs "$server" >&2; fail "sextant-server not ready on 127.0.0.1:$port after 10 s"; }
answer=$(curl -fsS -X POST -H 'content-type: application/json' "http://127.0.0.1:$port/v2/models/fraud/infer" \
    -d '{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP64","data":[[950,2,0.9,10],[20,14,0.1,3]]}]}') \
    || fail "V2 infer failed"
python3 - "$answer" <<'PY' || fail "V2 infer answer not as expected: $answer"
import json, sys
out = json.loads(sys.argv[1])["outputs"][0]
assert out["name"] == "probability" and out["shape"] == [2], out
assert out["data"][0] > out["data"][1], out   # the large night-time purchase at a risky merchant scores higher
PY
pass "sextant-server: V2 ready, V2 infer $answer"

# --- sextant-controller: the dev API server through a mounted kubeconfig
bin=$(swift build --show-bin-path)
[ -x "$bin/sextant" ] || fail "$bin/sextant is missing: run swift build first"
api_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Over TLS (the dev server's default) with a bearer token, as a ServiceAccount mount gives it:
# token, namespace and the cluster's CA.
"$bin/sextant" dev apiserver --listen "127.0.0.1:$api_port" --kubeconfig-out "$work/host.kubeconfig" \
    --tls-dir "$work/tls" --token dev-token > "$work/apiserver.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    curl -fsS --cacert "$work/tls/ca.crt" "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1 && break; sleep 0.1
done
KUBECONFIG="$work/host.kubeconfig" kubectl apply -f crds/ >/dev/null
# (kubectl create namespace sends protobuf, which the development API server does not read.)
curl -fsS --cacert "$work/tls/ca.crt" -H 'Authorization: Bearer dev-token' -X POST \
    -H 'content-type: application/json' "https://127.0.0.1:$api_port/api/v1/namespaces" \
    -d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"sextant-system"}}' >/dev/null
mkdir -p "$work/sa"
printf 'dev-token' > "$work/sa/token"
printf 'sextant-system' > "$work/sa/namespace"
cp "$work/tls/ca.crt" "$work/sa/ca.crt"
cat > "$work/sa/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: dev, cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: /var/run/secrets/sextant/ca.crt}}]
users: [{name: sextant-controller, user: {tokenFile: /var/run/secrets/sextant/token}}]
contexts: [{name: dev, context: {cluster: dev, user: sextant-controller, namespace: sextant-system}}]
current-context: dev
EOF
chmod a+r "$work/sa"/*
controller=sextant-images-test-controller-$$
containers+=("$controller")
health_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
podman run -d --name "$controller" "${secure[@]}" --network host -v "$work/sa:/var/run/secrets/sextant:ro" \
    -e POD_NAME=sextant-controller-test -e POD_NAMESPACE=sextant-system \
    "$registry/sextant-controller:$tag" --kubeconfig /var/run/secrets/sextant/kubeconfig \
    --health-probe-bind-address "127.0.0.1:$health_port" --metrics-bind-address "127.0.0.1:$metrics_port" >/dev/null
ok=0
for _ in $(seq 1 200); do
    if curl -fsS "http://127.0.0.1:$health_port/readyz" >/dev/null 2>&1 \
        && KUBECONFIG="$work/host.kubeconfig" kubectl get lease -n sextant-system -o name 2>/dev/null | grep -q .; then
        ok=1; break
    fi
    sleep 0.1
done
[ "$ok" = 1 ] || { podman logs "$controller" >&2; fail "sextant-controller not ready or no Lease after 20 s"; }
holder=$(KUBECONFIG="$work/host.kubeconfig" kubectl get lease -n sextant-system -o jsonpath='{.items[0].spec.holderIdentity}')
pass "sextant-controller: over TLS with a mounted token and CA, /readyz 200, leader Lease held by '$holder' on the dev API server"
echo "all image tests passed"
