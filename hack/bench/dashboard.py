#!/usr/bin/env python3
"""First paint of `sextant dashboard` with many objects (issue 19): a development API server
with N CanaryRollouts, M ModelVersions and J TrainingJobs (each with its latest runs and their
validation-loss curves in status), the dashboard against it, and headless Chromium (Selenium)
loading the rollout, model, training and drift pages; prints the server's response time,
Chromium's first-contentful-paint and the dashboard's resident memory.

Usage: hack/bench/dashboard.py BIN_DIR [--rollouts 5000] [--versions 20000] [--jobs 1000] [--runs 10]
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

parser = argparse.ArgumentParser()
parser.add_argument("bin_dir")
parser.add_argument("--rollouts", type=int, default=5000)
parser.add_argument("--versions", type=int, default=20000)
parser.add_argument("--jobs", type=int, default=1000)
parser.add_argument("--runs", type=int, default=10, help="runs kept in each TrainingJob's status")
args = parser.parse_args()
sextant = os.path.join(args.bin_dir, "sextant")
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
work = tempfile.mkdtemp()
processes = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"{url} did not answer")


def send(request):
    try:
        urllib.request.urlopen(request, timeout=30).read()
    except urllib.error.HTTPError as e:
        sys.exit(f"{request.get_method()} {request.full_url}: {e.code} {e.read().decode(errors='replace')[:500]}")


def post(api, path, body, content_type="application/json"):
    send(urllib.request.Request(api + path, data=body, method="POST", headers={"Content-Type": content_type}))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# Chromium queues the paint entry after the frame is presented, which can be after `driver.get`
# returns (the load event): reading `performance.getEntriesByName` at once then finds nothing (the
# release build's rollout pages answered so fast that this happened every time). A buffered
# PerformanceObserver delivers the entry whenever it arrives; waiting up to 15 s for it.
PAINT_SCRIPT = """
var done = arguments[arguments.length - 1];
var nav = performance.getEntriesByType('navigation')[0];
var responseEnd = nav ? nav.responseEnd / 1000 : null;
var timer = setTimeout(function () { done([null, responseEnd]); }, 15000);
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (e) {
    if (e.name === 'first-contentful-paint') { clearTimeout(timer); done([e.startTime / 1000, responseEnd]); }
  });
}).observe({type: 'paint', buffered: true});
"""


def first_contentful_paint(driver):
    driver.set_script_timeout(20)
    paint, response_end = driver.execute_async_script(PAINT_SCRIPT)
    if paint is None:
        sys.exit(f"Chromium recorded no first-contentful-paint for {driver.current_url} within 15 s")
    return paint, response_end


try:
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    kubeconfig = os.path.join(work, "kubeconfig")
    processes.append(subprocess.Popen([sextant, "dev", "apiserver", "--insecure-http", "--listen", f"127.0.0.1:{api_port}",
                                       "--kubeconfig-out", kubeconfig], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_http(api + "/version")
    for plural in ["trainingjobs", "modelversions", "canaryrollouts"]:
        with open(os.path.join(root, "crds", f"{plural}.yaml"), "rb") as f:
            post(api, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", f.read(), "application/yaml")
    time.sleep(1)
    post(api, "/api/v1/namespaces", json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}).encode())

    def rollout(i):
        return {"apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout",
                "metadata": {"name": f"model-{i}", "namespace": "bench"},
                "spec": {"modelName": f"model-{i}", "modelVersion": f"model-{i}-v2",
                         "serving": {"managed": {"replicas": 1}},
                         "routing": {"virtualService": {"name": f"model-{i}"}, "services": {"stable": "s", "canary": "c"}},
                         "strategy": {"canary": {"steps": [{"setWeight": 25}, {"pause": {}}]}}},
                "status": {"phase": "Paused", "reason": "AwaitingPromoteRequest", "stableVersion": f"model-{i}-v1",
                           "canaryVersion": f"model-{i}-v2", "currentStepIndex": 1, "canaryWeight": 25}}

    def version(i):
        return {"apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "ModelVersion",
                "metadata": {"name": f"model-{i // 4}-v{i % 4 + 1}", "namespace": "bench"},
                "spec": {"modelName": f"model-{i // 4}", "version": i % 4 + 1, "artifact": {"uri": f"s3://m/{i}/model.json"},
                         "metrics": {"auc": 0.9 + (i % 7) / 100, "logloss": 0.3 - (i % 5) / 100}}}

    def job(i):
        return {"apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "TrainingJob",
                "metadata": {"name": f"model-{i}", "namespace": "bench"},
                "spec": {"modelName": f"model-{i}", "data": {"source": {"uri": f"s3://d/{i}/train.csv"}, "target": "label"},
                         "output": {"uri": f"s3://m/{i}/"}}}

    # Each run's validation curve at its largest: the CRD's bound on its points (the controller
    # thins a longer run's curve to it), read from the CRD rather than restated here.
    with open(os.path.join(root, "crds", "trainingjobs.yaml")) as f:
        schema = yaml.safe_load(f)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    curve_points = (schema["properties"]["status"]["properties"]["runs"]["items"]["properties"]
                    ["validationCurve"]["properties"]["rounds"]["maxItems"])
    curve_rounds = [round(r * 200 / curve_points) for r in range(1, curve_points + 1)]

    def job_status(i):
        # The latest runs, newest first.
        runs = []
        for k in range(args.runs):
            n = args.runs - k
            runs.append({"name": f"model-{i}-run-{n}", "jobName": f"model-{i}-run-{n}",
                         "trigger": {"type": "Schedule", "scheduledTime": "2026-12-07T00:00:00Z"},
                         "startTime": "2026-12-07T00:00:00Z", "completionTime": "2026-12-07T00:05:00Z",
                         "result": "Succeeded", "modelVersion": f"model-{i}-v{n}", "dataSha256": "ab" * 32,
                         "metrics": {"aucRoc": 0.9 + (i % 7) / 100, "logLoss": 0.3 - (n % 5) / 100},
                         "validationCurve": {"metric": "valid-logloss", "rounds": curve_rounds,
                                             "values": [round(0.69 / (1 + r / 40), 6) for r in curve_rounds]}})
        return {"status": {"phase": "Succeeded", "runCount": args.runs, "runs": runs,
                           "latestModelVersion": f"model-{i}-v{args.runs}"}}

    def patch_status(i):
        request = urllib.request.Request(f"{api}/apis/mlops.sextant.dev/v1alpha1/namespaces/bench/trainingjobs/model-{i}/status",
                                         data=json.dumps(job_status(i)).encode(), method="PATCH",
                                         headers={"Content-Type": "application/merge-patch+json"})
        send(request)

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: post(api, "/apis/mlops.sextant.dev/v1alpha1/namespaces/bench/canaryrollouts",
                                     json.dumps(rollout(i)).encode()), range(args.rollouts)))
        list(pool.map(lambda i: post(api, "/apis/mlops.sextant.dev/v1alpha1/namespaces/bench/modelversions",
                                     json.dumps(version(i)).encode()), range(args.versions)))
        list(pool.map(lambda i: post(api, "/apis/mlops.sextant.dev/v1alpha1/namespaces/bench/trainingjobs",
                                     json.dumps(job(i)).encode()), range(args.jobs)))
        list(pool.map(patch_status, range(args.jobs)))
    print(f"created {args.rollouts} CanaryRollouts, {args.versions} ModelVersions and {args.jobs} TrainingJobs "
          f"({args.runs} runs each) in {time.monotonic() - started:.1f} s")

    # The API server's own share of a list page: the first page of each kind, straight from it.
    for plural in ["canaryrollouts", "modelversions", "trainingjobs"]:
        t0 = time.monotonic()
        body = urllib.request.urlopen(f"{api}/apis/mlops.sextant.dev/v1alpha1/namespaces/bench/{plural}?limit=500", timeout=60).read()
        print(f"API server, first list page of {plural} (limit 500): {time.monotonic() - t0:.3f} s, {len(body) / 1e6:.1f} MB")

    port = free_port()
    dashboard = subprocess.Popen([sextant, "dashboard", "--port", str(port), "-n", "bench", "--kubeconfig", kubeconfig],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(dashboard)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz")
    print(f"dashboard RSS after start: {rss_mib(dashboard.pid):.1f} MiB")

    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    try:
        print("| page | rows | server response (s) | response end in Chromium (s) | first contentful paint (s) |")
        print("|---|---|---|---|---|")
        # The drift pages run without Prometheus here: the list and the detail page render, with
        # no drift series (the benchmark measures the dashboard, not a Prometheus query).
        pages = ["rollouts?namespace=bench", "rollouts/bench/model-42", "models?namespace=bench", "models/bench/model-42-v1",
                 "training?namespace=bench", "training/bench/model-42", f"training/bench/model-42/runs/model-42-run-{args.runs}",
                 "drift?namespace=bench", "drift/bench/model-42"]
        for page in pages:
            for attempt in range(3):
                t0 = time.monotonic()
                html = urllib.request.urlopen(f"{base}/{page}", timeout=60).read()
                server = time.monotonic() - t0
                # A fresh document each time: reloading the same URL in place can keep the old
                # document's timeline.
                driver.get("about:blank")
                driver.get(f"{base}/{page}")
                paint, response_end = first_contentful_paint(driver)
                rows = html.count(b"<tr>") - html.count(b"<thead>")
                if attempt == 2:
                    print(f"| /{page} | {rows} | {server:.3f} | {response_end:.3f} | {paint:.3f} |")
        print(f"dashboard RSS after the pages: {rss_mib(dashboard.pid):.1f} MiB")
    finally:
        driver.quit()
finally:
    for p in processes:
        p.terminate()
    for p in processes:
        p.wait(timeout=10)
    shutil.rmtree(work, ignore_errors=True)
