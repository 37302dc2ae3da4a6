#!/usr/bin/env python3
"""The mesh of the local demo (hack/run-local.sh): there is no Istio on a laptop, so this does what
the sidecars and Prometheus' Kubernetes discovery would do for the demo's namespace.

- Steady traffic: RATE prediction requests per second to the `sextant-server` Pods, split between
  the VirtualService's destinations by their weights (route ROUTE of VirtualService NAME; each
  destination's subset selects Pods through the DestinationRule's labels), as Envoy would.
- Discovery: writes TARGETS, a Prometheus file_sd list of every running server Pod with the
  `namespace` and `pod` labels that Kubernetes discovery adds (the analysis templates need them).

With --mesh-address FILE, once FILE names an address (the local node's HAProxy data plane writes
`<work-dir>/mesh/NS/NAME.address`), every request goes there instead and HAProxy splits them by the
VirtualService's weights, as the mesh's ingress would; the split above is the fallback until then.

Usage: demo-traffic.py --namespace NS --name NAME --targets FILE [--route primary] [--rate 20]
                       [--mesh-address FILE]
Needs kubectl and KUBECONFIG (set by hack/run-local.sh). Standard library only. Prints one line per
10 s to stdout: requests sent per version (answered / failed).

demo-traffic.py --describe-rollout < ROLLOUT.json prints `STATE|ANALYSIS|TIME|PHASE|STABLE`: what a
CanaryRollout is doing and its last analysis run (what hack/run-local.sh prints as it follows).
"""
import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time


def kubectl_json(*args):
    out = subprocess.run(["kubectl", *args, "-o", "json"], capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout)


def discover(namespace, name, route_name):
    """Returns ([(weight, [endpoint])], [(pod, endpoint, version)])."""
    pods = kubectl_json("get", "pods", "-n", namespace)
    servers = []
    for pod in (pods or {}).get("items", []):
        meta = pod.get("metadata", {})
        endpoint = meta.get("annotations", {}).get("mlops.sextant.dev/local-endpoint")
        if not endpoint or meta.get("deletionTimestamp") or pod.get("status", {}).get("phase") != "Running":
            continue
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in pod.get("status", {}).get("conditions") or [])
        if "mlops.sextant.dev/model-version" not in meta.get("labels", {}):
            continue
        servers.append((meta["name"], endpoint, meta.get("labels", {}), ready))
    vs = kubectl_json("get", "virtualservice", name, "-n", namespace)
    dr = kubectl_json("get", "destinationrule", name, "-n", namespace)
    subsets = {s.get("name"): s.get("labels", {}) for s in ((dr or {}).get("spec", {}).get("subsets") or [])}
    split = []
    for route in ((vs or {}).get("spec", {}).get("http") or []):
        if route.get("name") != route_name:
            continue
        for destination in route.get("route") or []:
            labels = subsets.get(destination.get("destination", {}).get("subset"), {})
            # Like Envoy's endpoints: ready Pods only.
            endpoints = [e for (_, e, l, r) in servers if r and all(l.get(k) == v for k, v in labels.items())]
            split.append((int(destination.get("weight") or 0), endpoints))
    targets = [(p, e, l.get("mlops.sextant.dev/model-version", "")) for (p, e, l, _) in servers]
    return split, targets


def write_targets(path, namespace, targets, previous):
    groups = [{"targets": [e], "labels": {"namespace": namespace, "pod": p}} for (p, e, _) in sorted(targets)]
    text = json.dumps(groups)
    if text != previous:
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    return text


def transaction(rng):
    return {"amount": rng.randrange(1000), "hour": rng.randrange(24), "merchant_risk": round(rng.random(), 2),
            "distance_km": rng.randrange(500)}


def post(connections, endpoint, path, body):
    """POST on the endpoint's kept-alive connection. A reused connection the server closed while it
    was idle (HAProxy closes them when it reloads) fails before the request was sent: that request
    is sent again once on a new connection, as HTTP clients such as Go's and urllib3 do."""
    for attempt in (0, 1):
        conn = connections.get(endpoint)
        reused = conn is not None
        if conn is None:
            host, port = endpoint.rsplit(":", 1)
            conn = connections[endpoint] = http.client.HTTPConnection(host, int(port), timeout=2)
        try:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            answer = conn.getresponse()
            answer.read()
            return answer
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            connections.pop(endpoint, None)
            conn.close()
            if not reused or attempt == 1:
                raise
        except (OSError, http.client.HTTPException):
            connections.pop(endpoint, None)
            conn.close()
            raise


def describe_rollout(rollout):
    """`STATE|ANALYSIS|ANALYSIS_TIME|PHASE|STABLE`: what the rollout does, its last analysis run."""
    status = rollout.get("status") or {}
    phase = status.get("phase")
    if not phase:
        return "||||"
    stable, canary, weight = status.get("stableVersion"), status.get("canaryVersion"), status.get("canaryWeight", 0)
    if phase in ("Progressing", "Paused") and canary:
        state = "%-12s %s takes %s %% of the traffic, %s the rest" % (phase, canary, weight, stable)
    else:
        state = "%-12s stable %s" % (phase, stable or "-") + (", candidate %s" % canary if canary else "")
    last = status.get("lastAnalysisTime")
    runs = [m for m in status.get("measurements") or [] if m.get("time") == last]
    analysis = ""
    if runs:
        analysis = "%-12s analysis: " % "" + ", ".join(
            "%s %.4g %s" % (m.get("metric"), m.get("value", float("nan")), m.get("outcome")) for m in runs)
    return "%s|%s|%s|%s|%s" % (state, analysis, last or "", phase, stable or "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--describe-rollout", action="store_true")
    parser.add_argument("--namespace")
    parser.add_argument("--name")
    parser.add_argument("--route", default="primary")
    parser.add_argument("--targets")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--mesh-address")
    args = parser.parse_args()
    if args.describe_rollout:
        print(describe_rollout(json.load(sys.stdin)))
        return
    if not (args.namespace and args.name and args.targets):
        parser.error("--namespace, --name and --targets are required")

    # Discovery runs on its own thread (kubectl takes a few hundred ms), so the rate stays steady.
    state = {"split": [], "mesh": None}
    versions = {}

    def discovery():
        written = ""
        while True:
            try:
                split, targets = discover(args.namespace, args.name, args.route)
                written = write_targets(args.targets, args.namespace, targets, written)
                versions.update({e: v for (_, e, v) in targets})
                state["split"] = split
                if args.mesh_address and os.path.exists(args.mesh_address):
                    with open(args.mesh_address, encoding="utf-8") as f:
                        address = f.read().strip()
                    if address and address != state["mesh"]:
                        print(f"traffic: through the mesh at http://{address}", flush=True)
                        versions[address] = "through the mesh"
                    state["mesh"] = address or None
            except (subprocess.SubprocessError, OSError, ValueError) as error:
                print(f"discovery failed: {error}", file=sys.stderr, flush=True)
            time.sleep(1.0)

    threading.Thread(target=discovery, daemon=True).start()
    rng = random.Random(11)
    connections = {}
    counts = {}  # endpoint -> [answered, failed]
    failures = []  # what went wrong, printed with the next summary (at most 5 each time)
    reported = time.monotonic()
    period = 1.0 / args.rate
    while True:
        now = time.monotonic()
        live = [(w, e) for (w, e) in state["split"] if w > 0 and e]
        if state["mesh"] and live:
            # Once the route has ready Pods (before that HAProxy would answer 503 as Envoy would).
            live = [(1, [state["mesh"]])]
        if live:
            pick = rng.uniform(0, sum(w for w, _ in live))
            for weight, endpoints in live:
                pick -= weight
                if pick <= 0:
                    break
            endpoint = rng.choice(endpoints)
            count = counts.setdefault(endpoint, [0, 0])
            body = json.dumps({"instances": [transaction(rng)]})
            try:
                answer = post(connections, endpoint, f"/v1/models/{args.name}:predict", body)
                count[0 if answer.status == 200 else 1] += 1
                if answer.status != 200:
                    failures.append(f"{endpoint} answered {answer.status}")
            except (OSError, http.client.HTTPException) as error:
                count[1] += 1
                failures.append(f"{endpoint}: {type(error).__name__} {error}")
        if now - reported >= 10:
            per_version = {}
            for endpoint, (ok, failed) in counts.items():
                total = per_version.setdefault(versions.get(endpoint, endpoint), [0, 0])
                total[0] += ok
                total[1] += failed
            summary = ", ".join(f"{v} {ok} answered / {failed} failed" for v, (ok, failed) in sorted(per_version.items()))
            print(f"traffic: {summary or 'no server yet'}", flush=True)
            for failure in failures[:5]:
                print(f"traffic: failed: {failure}", flush=True)
            failures.clear()
            reported = now
        time.sleep(max(0.0, period - (time.monotonic() - now)))


if __name__ == "__main__":
    # A parent may have started this with signals blocked (a thread of a test runner): SIGTERM and
    # SIGINT must stop it, or it outlives hack/run-local.sh.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        main()
    except KeyboardInterrupt:
        pass
