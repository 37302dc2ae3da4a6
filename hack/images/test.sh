#!/usr/bin/env bash
# Runs the three images with podman the way the chart runs them (non-root, read-only root file
# system, no capabilities) and checks each one against a real peer:
#   - image metadata: non-root USER, OCI labels (source = the chart's `sources`, revision, version),
#     every shared library of the binary resolves inside the image (ldd);
#   - the chart's image.repository / trainerImage / serverImage defaults are what build.sh tags;
#   - sextant-trainer trains the demo CSV (hack/demo-data.py) inside the container, output on a
#     mounted volume;
#   - the trainer image as an MPIJob (Kubeflow MPI Operator v2beta1), podman playing the operator: an
#     SSH key pair as the operator's Secret at the image's sshAuthMountPath, a worker container running
#     sshd, a launcher container on the same podman network with the operator's hostfile and
#     OMPI_MCA_* environment running mpirun over 2 ranks (launcher + worker: runLauncherAsWorker);
#     the model must be byte-identical to the single-process one;
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
networks=()
cleanup() {
    for c in "${containers[@]}"; do podman rm -f -t 1 "$c" >/dev/null 2>&1 || true; done
    for n in "${networks[@]}"; do podman network rm -f "$n" >/dev/null 2>&1 || true; done
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

# --- sextant-trainer as an MPIJob's launcher and worker, podman playing the MPI Operator (v0.8,
# kubeflow.org/v2beta1) for what TrainingMPIJob.swift writes with spec.workers: 2. The two commands
# are the controller's (MPIJobOnLocalNodeTests compares them with the MPIJob it writes).
mpi_worker_command=(/usr/sbin/sshd -De)
mpi_launcher_command=(mpirun -np 2 --bind-to none sextant-trainer)
trainer_image="$registry/sextant-trainer:$tag"
ssh_mount=$(podman image inspect --format '{{index .Labels "dev.sextant.mpi.ssh-auth-mount-path"}}' "$trainer_image")
[ -n "$ssh_mount" ] || fail "$trainer_image has no label dev.sextant.mpi.ssh-auth-mount-path (where the MPIJob mounts its SSH Secret)"
trainer_user=$(podman run --rm --network none --entrypoint /bin/sh "$trainer_image" -c 'id -un; echo "$HOME"' | tr '\n' ' ')
read -r user_name user_home <<< "$trainer_user"
[ "$ssh_mount" = "$user_home/.ssh" ] || fail "$trainer_image: the SSH Secret goes to $ssh_mount, but its user's ~/.ssh is $user_home/.ssh"
start=$SECONDS
# The operator's Secret <job>-ssh: an ECDSA P-521 key as "EC PRIVATE KEY" PEM and its authorized_keys
# line, mounted as id_rsa, id_rsa.pub and authorized_keys, owned by root with the default mode 0644
# (0600 only when mounted at /root/.ssh).
mkdir -p "$work/ssh" "$work/mpi"
python3 -c '
import os, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP521R1())
private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b"\n"
for name, data in [("id_rsa", private), ("id_rsa.pub", public), ("authorized_keys", public)]:
    path = os.path.join(sys.argv[1], name)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
' "$work/ssh"
# The job's Pods share a network and find each other as <pod>.<job>.<namespace>.svc (the operator's
# headless Service); the hostfile lists the launcher first (runLauncherAsWorker), one slot each.
job=sextant-images-test-mpi-$$ ns=default
out=$(podman network create "$job" 2>&1) || fail "podman network create $job failed, the MPIJob's containers need a network: $out"
networks+=("$job")
launcher=$job-launcher worker=$job-worker-0
printf '%s slots=1\n%s slots=1\n' "$launcher.$job.$ns.svc" "$worker.$job.$ns.svc" > "$work/mpi/hostfile"
chmod 0444 "$work/mpi/hostfile"
sed 's|uri: /out/fraud-v1|uri: /out/fraud-mpi|' "$work/data/train.yaml" > "$work/data/train-mpi.yaml"
containers+=("$worker")
podman run -d --name "$worker" --hostname "$worker" --network "$job" --network-alias "$worker.$job.$ns.svc" \
    "${secure[@]}" -v "$work/ssh:$ssh_mount:ro" -v "$work/data:/data:ro" -e K_MPI_JOB_ROLE=worker \
    --entrypoint "${mpi_worker_command[0]}" "$trainer_image" "${mpi_worker_command[@]:1}" >/dev/null \
    || fail "the MPIJob worker container did not start (${mpi_worker_command[*]})"
# launcherCreationPolicy WaitForWorkersReady: the launcher starts once the worker's sshd listens.
listening=0
for _ in $(seq 1 300); do
    # The log is read whole before grep: under pipefail, `grep -q` quitting at its first match can
    # fail the pipe when `podman logs` then writes into the closed pipe (SIGPIPE).
    log=$(podman logs "$worker" 2>&1 || true)
    if grep -q 'Server listening on .* port' <<< "$log"; then listening=1; break; fi
    [ "$(podman inspect --format '{{.State.Running}}' "$worker" 2>/dev/null)" = true ] || break
    sleep 0.1
done
[ "$listening" = 1 ] || { podman logs "$worker" >&2; fail "the MPIJob worker's sshd (${mpi_worker_command[*]}) is not listening"; }
containers+=("$launcher")
podman run --rm --name "$launcher" --hostname "$launcher" --network "$job" --network-alias "$launcher.$job.$ns.svc" \
    "${secure[@]}" -v "$work/ssh:$ssh_mount:ro" -v "$work/mpi:/etc/mpi:ro" -v "$work/data:/data:ro" -v "$work/out:/out" \
    -e K_MPI_JOB_ROLE=launcher -e OMPI_MCA_orte_keep_fqdn_hostnames=true -e OMPI_MCA_orte_default_hostfile=/etc/mpi/hostfile \
    -e 'OMPI_MCA_plm_rsh_args=-o ConnectionAttempts=10' -e OMPI_MCA_orte_set_default_slots=1 \
    --entrypoint "${mpi_launcher_command[0]}" "$trainer_image" "${mpi_launcher_command[@]:1}" \
    --config /data/train-mpi.yaml --threads 1 --quiet --result-file /out/mpi-result.json > "$work/mpi.log" 2>&1 \
    || { cat "$work/mpi.log" >&2; echo "--- worker:" >&2; podman logs "$worker" >&2
         fail "the MPIJob launcher (${mpi_launcher_command[*]}) exited non-zero"; }
log=$(podman logs "$worker" 2>&1 || true)
grep -q "Accepted publickey for $user_name " <<< "$log" \
    || { printf '%s\n' "$log" >&2; fail "mpirun did not log in to the worker as $user_name (no 'Accepted publickey' in its sshd log)"; }
ranks=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings"]["ranks"])' "$work/out/fraud-mpi/metrics.json")
[ "$ranks" = 2 ] || fail "the MPIJob trained on $ranks ranks, not 2 (metrics.json timings.ranks)"
one=$(sha256sum < "$work/out/fraud-v1/model.json" | cut -d' ' -f1)
two=$(sha256sum < "$work/out/fraud-mpi/model.json" | cut -d' ' -f1)
[ "$one" = "$two" ] || fail "the MPIJob's model (sha256 $two) differs from the single-process model ($one)"
pass "sextant-trainer as MPIJob launcher + worker (2 containers on a podman network, ssh/sshd as $user_name, Secret at $ssh_mount): 2 ranks in $((SECONDS - start)) s, model sha256 ${two:0:12}… = the single-process model"
podman rm -f -t 1 "$worker" >/dev/null 2>&1 || true

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
        && [ -n "$(KUBECONFIG="$work/host.kubeconfig" kubectl get lease -n sextant-system -o name 2>/dev/null)" ]; then
        ok=1; break
    fi
    sleep 0.1
done
[ "$ok" = 1 ] || { podman logs "$controller" >&2; fail "sextant-controller not ready or no Lease after 20 s"; }
holder=$(KUBECONFIG="$work/host.kubeconfig" kubectl get lease -n sextant-system -o jsonpath='{.items[0].spec.holderIdentity}')
pass "sextant-controller: over TLS with a mounted token and CA, /readyz 200, leader Lease held by '$holder' on the dev API server"
echo "all image tests passed"
