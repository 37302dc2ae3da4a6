#!/usr/bin/env python3
"""Scale benchmark of the CanaryRollout controller (issue 21): N rollouts in M namespaces progressing
at once. Driven by hack/bench/rollouts.sh, which starts the processes and passes their addresses:

  the development API server (`sextant dev apiserver`, its own process), hack/testservers/
  fleet_exporter.py standing in for every model server, a real Prometheus scraping it, and
  `sextant-controller` (external serving: the benchmark plays the Deployment controller).

Every rollout: external serving, canary steps 25 % and 50 %, analysis every INTERVAL with three
metrics (SuccessRate, LatencyP99, ModelAccuracy), failureLimit 1. A share of the candidates is
failing (success rate 0.6): those must be rolled back. Measured (printed as a table):

  controller RSS (VmRSS at the end, VmHWM) and CPU (cores over the progressing window),
  API requests/s by verb (the controller's sextant_kube_requests_total),
  Prometheus queries/s (its prometheus_http_requests_total{handler="/api/v1/query"}) and its CPU,
  breach -> weight 0: from the analysis run that failed (status.lastAnalysisTime of the RolledBack
  status) to the VirtualService showing canary weight 0 (a watch on VirtualServices), p50/p99,
  step advance: from a step's analysis being due (step start + INTERVAL) to the next step's start
  committed (status.stepStartTime), and from that commit to the VirtualService carrying the new
  weight, p50/p99.

Python 3 standard library only.
"""

import argparse
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime

MODEL = "fraud"


def api(base, method, path, body=None, content_type="application/json", timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("User-Agent", "sextant-bench/1")
    if data is not None:
        req.add_header("Content-Type", content_type)
    for attempt in range(5):
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            if e.code == 409 and method == "POST":
                return None
            if e.code >= 500 and attempt < 4:
                time.sleep(0.2)
                continue
            raise RuntimeError("%s %s: %s %s" % (method, path, e.code, e.read()[:300]))


def parse_time(text):
    if not text:
        return None
    text = text.replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def metric_sum(text, name, match=None):
    """Sum of the samples of `name` whose label text contains every `match` item, by a label."""
    total = {}
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        labels, _, value = line.rpartition(" ")
        if match and not all(m in labels for m in match):
            continue
        total[labels] = float(value)
    return total


def http_text(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode()


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    import os
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu(pid):
    """CPU seconds of a process (pid 0: this driver, all its threads)."""
    if pid:
        return proc_cpu_seconds(pid)
    import os
    t = os.times()
    return t.user + t.system


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def proc_memory(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) / 1024
    return out


class Watch(threading.Thread):
    """A watch on a collection; calls on_event(time, type, object) for each event, re-watching."""

    def __init__(self, base, path, on_event):
        super().__init__(daemon=True)
        self.base, self.path, self.on_event = base, path, on_event
        self.rv = None

    def run(self):
        while True:
            try:
                if self.rv is None:
                    listing = api(self.base, "GET", self.path)
                    self.rv = listing["metadata"]["resourceVersion"]
                    for item in listing.get("items", []):
                        self.on_event(time.time(), "ADDED", item)
                url = "%s%s?watch=true&allowWatchBookmarks=true&resourceVersion=%s" % (self.base, self.path, self.rv)
                with urllib.request.urlopen(url, timeout=600) as r:
                    for line in r:
                        event = json.loads(line)
                        now = time.time()
                        obj = event.get("object", {})
                        if event.get("type") == "ERROR":
                            self.rv = None
                            break
                        self.rv = obj.get("metadata", {}).get("resourceVersion", self.rv)
                        if event.get("type") != "BOOKMARK":
                            self.on_event(now, event["type"], obj)
            except Exception as e:  # noqa: BLE001 - a benchmark watcher re-watches on anything
                print("watch %s: %s, re-watching" % (self.path, e), file=sys.stderr)
                time.sleep(0.5)


def objects(namespace, index, interval):
    """The user's side of one rollout: Deployments, Services, routing, versions, the rollout."""
    ns = namespace
    name = "fraud-%d" % index
    out = []
    for role, version in (("stable", name + "-v1"), ("canary", name + "-v1")):
        labels = {"app": name, "role": role, "mlops.sextant.dev/model-version": version}
        out.append(("/apis/apps/v1/namespaces/%s/deployments" % ns, {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "%s-%s" % (name, role), "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name, "role": role}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "server", "image": "sextant-server"}]}}}}))
    out.append(("/apis/networking.istio.io/v1beta1/namespaces/%s/destinationrules" % ns, {
        "apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"host": name, "subsets": [{"name": "stable", "labels": {"app": name, "role": "stable"}},
                                           {"name": "canary", "labels": {"app": name, "role": "canary"}}]}}))
    out.append(("/apis/networking.istio.io/v1beta1/namespaces/%s/virtualservices" % ns, {
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"hosts": [name], "http": [{"name": "primary", "route": [
            {"destination": {"host": name, "subset": "stable"}, "weight": 100},
            {"destination": {"host": name, "subset": "canary"}, "weight": 0}]}]}}))
    for n, version in enumerate((name + "-v1", name + "-v2")):
        out.append(("/apis/mlops.sextant.dev/v1alpha1/namespaces/%s/modelversions" % ns, {
            "apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "ModelVersion",
            "metadata": {"name": version, "namespace": ns},
            "spec": {"modelName": name, "version": n + 1, "approval": {"state": "Approved", "by": "bench"},
                     "artifact": {"uri": "s3://models/%s/%s/model.json" % (name, version), "format": "SextantJSON"}}}))
    metric = {"interval": interval, "noDataPolicy": "Error"}
    out.append(("/apis/mlops.sextant.dev/v1alpha1/namespaces/%s/canaryrollouts" % ns, {
        "apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"modelName": name, "modelVersion": name + "-v1",
                 "serving": {"external": {"stableDeployment": name + "-stable", "canaryDeployment": name + "-canary"}},
                 "routing": {"virtualService": {"name": name, "routes": ["primary"]},
                             "destinationRule": {"name": name, "host": name}},
                 "strategy": {"canary": {"stepWeight": 25, "maxWeight": 50}},
                 "analysis": {"interval": interval, "failureLimit": 1, "consecutiveErrorLimit": 10, "metrics": [
                     dict(metric, name="success-rate", template="SuccessRate", thresholdRange={"min": 0.95}),
                     dict(metric, name="latency-p99", template="LatencyP99", thresholdRange={"max": 0.5}),
                     dict(metric, name="accuracy", template="ModelAccuracy", thresholdRange={"min": 0.8})]},
                 "progressDeadlineSeconds": 3600}}))
    return name, out


class Recorder:
    """What the watches saw: per rollout, status changes and VirtualService canary weights."""

    def __init__(self, interval_seconds):
        self.lock = threading.Lock()
        self.interval = interval_seconds
        self.status = {}        # key -> latest status
        self.weights = {}       # key -> [(time, canary weight)]
        self.step_lateness = []  # due (step start + interval) -> next step committed, seconds
        self.step_to_route = []  # committed -> VirtualService shows the step's weight
        self.pending_route = {}  # key -> (commit time, weight wanted)
        self.breach_to_zero = []
        self.rolled_back = set()
        self.promoted = set()

    def on_rollout(self, now, kind, obj):
        key = obj["metadata"]["namespace"] + "/" + obj["metadata"]["name"]
        status = obj.get("status") or {}
        with self.lock:
            old = self.status.get(key) or {}
            self.status[key] = status
            if status.get("canaryVersion", "").endswith("-v2") and status.get("phase") == "Progressing":
                if old.get("stepStartTime") and status.get("stepStartTime") != old.get("stepStartTime") \
                        and (old.get("currentStepIndex") or 0) < (status.get("currentStepIndex") or 0):
                    due = parse_time(old["stepStartTime"]) + self.interval
                    started = parse_time(status["stepStartTime"])
                    self.step_lateness.append(started - due)
                    self.pending_route[key] = (started, status.get("canaryWeight"), (status.get("currentStepIndex") or 0))
            if status.get("phase") == "RolledBack" and key not in self.rolled_back:
                self.rolled_back.add(key)
                breach = parse_time(status.get("lastAnalysisTime"))
                zero = next((t for t, w in self.weights.get(key, []) if w == 0 and breach and t >= breach), None)
                if breach:
                    self.pending_route[key + "#zero"] = (breach, 0, -1) if zero is None else None
                    if zero is not None:
                        self.breach_to_zero.append(zero - breach)
            if status.get("phase") == "Succeeded" and status.get("stableVersion", "").endswith("-v2"):
                self.promoted.add(key)

    def on_virtual_service(self, now, kind, obj):
        key = obj["metadata"]["namespace"] + "/" + obj["metadata"]["name"]
        weight = None
        for http in obj.get("spec", {}).get("http", []):
            for dest in http.get("route", []):
                if dest.get("destination", {}).get("subset") == "canary":
                    weight = dest.get("weight", 0)
        with self.lock:
            self.weights.setdefault(key, []).append((now, weight))
            zero = self.pending_route.get(key + "#zero")
            if zero and weight == 0:
                self.breach_to_zero.append(now - zero[0])
                self.pending_route[key + "#zero"] = None
            pending = self.pending_route.get(key)
            if pending:
                started, _, _ = pending
                self.step_to_route.append(now - started)
                self.pending_route[key] = None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--api", required=True, help="development API server base URL (plain HTTP)")
    p.add_argument("--exporter", required=True, help="fleet exporter host:port")
    p.add_argument("--prometheus", required=True, help="Prometheus base URL")
    p.add_argument("--controller-metrics", required=True, help="the controller's /metrics URL")
    p.add_argument("--controller-pid", type=int, required=True)
    p.add_argument("--prometheus-pid", type=int, required=True)
    p.add_argument("--apiserver-pid", type=int, default=0, help="the development API server's pid (its CPU is reported)")
    p.add_argument("--rollouts", type=int, default=1000)
    p.add_argument("--namespaces", type=int, default=100)
    p.add_argument("--interval", type=int, default=30, help="analysis interval, seconds")
    p.add_argument("--failing-share", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rnd = random.Random(a.seed)
    base = a.api.rstrip("/")
    interval = "%ds" % a.interval
    rec = Recorder(a.interval)

    t0 = time.time()
    namespaces = ["bench-%03d" % i for i in range(a.namespaces)]
    for ns in namespaces:
        api(base, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    rollouts = []  # (namespace, name, failing)
    series = []
    for i in range(a.rollouts):
        ns = namespaces[i % a.namespaces]
        name, objs = objects(ns, i, interval)
        failing = rnd.random() < a.failing_share
        rollouts.append((ns, name, failing))
        for version, bad in ((name + "-v1", False), (name + "-v2", failing)):
            series.append({"namespace": ns, "model": name, "version": version,
                           "successRate": 0.6 if bad else 0.999, "latencySeconds": 0.05})
        for path, obj in objs:
            api(base, "POST", path, obj)
    req = urllib.request.Request("http://%s/series" % a.exporter, data=json.dumps(series).encode(), method="POST")
    urllib.request.urlopen(req, timeout=60).read()
    print("created %d rollouts in %d namespaces in %.1f s" % (a.rollouts, a.namespaces, time.time() - t0), flush=True)

    # The Deployment controller and GitOps, played by the benchmark: every Deployment is rolled out
    # and available; a rollout awaiting the stable update gets its stable Deployment updated.
    stop = threading.Event()

    def kubelet():
        while not stop.is_set():
            try:
                for d in api(base, "GET", "/apis/apps/v1/deployments")["items"]:
                    gen = d["metadata"].get("generation", 1)
                    st = d.get("status") or {}
                    if st.get("observedGeneration") == gen and st.get("availableReplicas") == d["spec"].get("replicas", 1):
                        continue
                    n = d["spec"].get("replicas", 1)
                    api(base, "PATCH", "/apis/apps/v1/namespaces/%s/deployments/%s/status" % (
                        d["metadata"]["namespace"], d["metadata"]["name"]),
                        {"status": {"observedGeneration": gen, "replicas": n, "updatedReplicas": n,
                                    "readyReplicas": n, "availableReplicas": n}}, "application/merge-patch+json")
                with rec.lock:
                    waiting = [k for k, s in rec.status.items()
                               if s.get("phase") == "Promoting" and s.get("canaryVersion", "").endswith("-v2")]
                for key in waiting:
                    ns, name = key.split("/")
                    api(base, "PATCH", "/apis/apps/v1/namespaces/%s/deployments/%s-stable" % (ns, name),
                        {"spec": {"template": {"metadata": {"labels": {"mlops.sextant.dev/model-version": name + "-v2"}}}}},
                        "application/merge-patch+json")
            except Exception as e:  # noqa: BLE001
                print("kubelet: %s" % e, file=sys.stderr)
            stop.wait(1.0)

    threading.Thread(target=kubelet, daemon=True).start()
    Watch(base, "/apis/mlops.sextant.dev/v1alpha1/canaryrollouts", rec.on_rollout).start()
    Watch(base, "/apis/networking.istio.io/v1beta1/virtualservices", rec.on_virtual_service).start()

    def count(phase, version):
        with rec.lock:
            return sum(1 for s in rec.status.values() if s.get("phase") == phase and s.get("stableVersion", "").endswith(version))

    deadline = time.time() + 600
    last_report = time.time()
    while count("Succeeded", "-v1") < a.rollouts and time.time() < deadline:
        time.sleep(1)
        if time.time() - last_report >= 30:
            last_report = time.time()
            print("  %.0f s: %d/%d first versions stable, controller %.1f CPU-s" % (
                time.time() - t0, count("Succeeded", "-v1"), a.rollouts, proc_cpu_seconds(a.controller_pid)), flush=True)
    print("first versions stable: %d/%d after %.1f s" % (count("Succeeded", "-v1"), a.rollouts, time.time() - t0), flush=True)

    # The canary Deployments run the candidates (GitOps), then every rollout gets its candidate.
    for ns, name, _ in rollouts:
        api(base, "PATCH", "/apis/apps/v1/namespaces/%s/deployments/%s-canary" % (ns, name),
            {"spec": {"template": {"metadata": {"labels": {"mlops.sextant.dev/model-version": name + "-v2"}}}}},
            "application/merge-patch+json")
    time.sleep(2)
    metrics_before = http_text(a.controller_metrics)
    prom_before = http_text(a.prometheus + "/metrics")
    cpu_before = proc_cpu_seconds(a.controller_pid), proc_cpu_seconds(a.prometheus_pid), own_cpu(a.apiserver_pid), own_cpu(0)
    start = time.time()
    for ns, name, _ in rollouts:
        api(base, "PATCH", "/apis/mlops.sextant.dev/v1alpha1/namespaces/%s/canaryrollouts/%s" % (ns, name),
            {"spec": {"modelVersion": name + "-v2"}}, "application/merge-patch+json")
    print("candidates set in %.1f s" % (time.time() - start), flush=True)
    failing = sum(1 for r in rollouts if r[2])
    deadline = start + 12 * a.interval + 120
    last_report = time.time()
    while time.time() < deadline:
        with rec.lock:
            done = len(rec.promoted) + len(rec.rolled_back)
        if done >= a.rollouts:
            break
        time.sleep(1)
        if time.time() - last_report >= 30:
            last_report = time.time()
            print("  %.0f s: %d/%d rollouts done, load %s" % (time.time() - start, done, a.rollouts, load_average()), flush=True)
    elapsed = time.time() - start
    cpu_after = proc_cpu_seconds(a.controller_pid), proc_cpu_seconds(a.prometheus_pid), own_cpu(a.apiserver_pid), own_cpu(0)
    metrics_after = http_text(a.controller_metrics)
    prom_after = http_text(a.prometheus + "/metrics")
    memory = proc_memory(a.controller_pid)
    time.sleep(1)
    stop.set()

    by_verb = {}
    before = metric_sum(metrics_before, "sextant_kube_requests_total")
    for labels, value in metric_sum(metrics_after, "sextant_kube_requests_total").items():
        verb = labels.split('verb="')[1].split('"')[0] if 'verb="' in labels else "?"
        by_verb[verb] = by_verb.get(verb, 0) + value - before.get(labels, 0)
    throttled = sum(v - before.get(k, 0) for k, v in metric_sum(metrics_after, "sextant_kube_requests_total").items()
                    if 'code="429"' in k)
    q = lambda text: sum(metric_sum(text, "prometheus_http_requests_total", ['handler="/api/v1/query"']).values())
    queries = q(prom_after) - q(prom_before)
    with rec.lock:
        wrong = [k for k in rec.promoted if any(k == "%s/%s" % (ns, n) and f for ns, n, f in rollouts)]
        rows = [
            ("rollouts (namespaces)", "%d (%d), %d failing" % (a.rollouts, a.namespaces, failing)),
            ("analysis interval, metrics", "%s, 3 (SuccessRate, LatencyP99, ModelAccuracy)" % interval),
            ("outcomes", "%d promoted, %d rolled back, %d unfinished, %d failing promoted"
             % (len(rec.promoted), len(rec.rolled_back), a.rollouts - len(rec.promoted) - len(rec.rolled_back), len(wrong))),
            ("window (candidates set -> all done)", "%.0f s" % elapsed),
            ("controller RSS now / peak", "%.1f / %.1f MiB" % (memory.get("VmRSS", 0), memory.get("VmHWM", 0))),
            ("controller CPU", "%.2f cores" % ((cpu_after[0] - cpu_before[0]) / elapsed)),
            ("API requests/s by verb", ", ".join("%s %.1f" % (v, n / elapsed) for v, n in sorted(by_verb.items()))),
            ("API answers 429 (server throttling)", "%d" % throttled),
            ("API server CPU, driver CPU", "%s, %.2f cores" % (
                "%.2f cores" % ((cpu_after[2] - cpu_before[2]) / elapsed) if a.apiserver_pid else "-",
                (cpu_after[3] - cpu_before[3]) / elapsed)),
            ("load average (1 min) at the end", load_average()),
            ("Prometheus queries/s, its CPU", "%.1f, %.2f cores" % (queries / elapsed, (cpu_after[1] - cpu_before[1]) / elapsed)),
            ("breach -> weight 0 p50 / p99 (n)", "%.2f / %.2f s (%d)" % (pct(rec.breach_to_zero, 0.5), pct(rec.breach_to_zero, 0.99),
                                                                        len(rec.breach_to_zero))),
            ("step due -> advanced p50 / p99 (n)", "%.2f / %.2f s (%d)" % (pct(rec.step_lateness, 0.5), pct(rec.step_lateness, 0.99),
                                                                          len(rec.step_lateness))),
            ("step committed -> VirtualService p50 / p99", "%.2f / %.2f s" % (pct(rec.step_to_route, 0.5), pct(rec.step_to_route, 0.99))),
        ]
    width = max(len(r[0]) for r in rows)
    print("\n| measure | value |\n|---|---|")
    for k, v in rows:
        print("| %s | %s |" % (k.ljust(width), v))
    return 0 if not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
