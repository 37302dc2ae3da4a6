#!/usr/bin/env python3
"""First paint of `sextant dashboard` with many objects (issue 19): a development API server
with N CanaryRollouts and M ModelVersions, the dashboard against it, and headless Chromium
(Selenium) loading the list pages; prints the server's response time, Chromium's
first-contentful-paint and the dashboard's resident memory.

Usage: hack/bench/dashboard.py BIN_DIR [--rollouts 5000] [--versions 20000]
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
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

parser = argparse.ArgumentParser()
parser.add_argument("bin_dir")
parser.add_argument("--rollouts", type=int, default=5000)
parser.add_argument("--versions", type=int, default=20000)
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


def post(api, path, body, content_type="application/json"):
    request = urllib.request.Request(api + path, data=body, method="POST", headers={"Content-Type": content_type})
    urllib.request.urlopen(request, timeout=30).read()


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

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: post(api, "/apis/mlops.sextant.dev/v1alpha1/namespaces/bench/canaryrollouts",
                                     json.dumps(rollout(i)).encode()), range(args.rollouts)))
        list(pool.map(lambda i: post(api, "/apis/mlops.sextant.dev/v1alpha1/namespaces/bench/modelversions",
                                     json.dumps(version(i)).encode()), range(args.versions)))
    print(f"created {args.rollouts} CanaryRollouts and {args.versions} ModelVersions in {time.monotonic() - started:.1f} s")

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
        for page in ["rollouts?namespace=bench", "rollouts/bench/model-42", "models?namespace=bench", "models/bench/model-42-v1"]:
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
