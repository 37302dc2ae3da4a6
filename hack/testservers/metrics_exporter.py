#!/usr/bin/env python3
"""A synthetic sextant-server for Prometheus tests: same metric names and labels, made-up traffic.

Counters grow with elapsed time (rps x seconds, split by the success rate into code="200" and
code="500"), so rate() over them gives exactly the configured values. Every request "takes"
--latency-seconds, so the latency histogram puts all of them in the bucket holding that value.

    python3 hack/testservers/metrics_exporter.py --port 0 --model churn --version v2 \
        --success-rate 0.6 --latency-seconds 0.9
    curl -s 127.0.0.1:PORT/metrics
    curl -s -XPOST 127.0.0.1:PORT/config -d '{"successRate": 0.99, "latencySeconds": 0.05}'

Python 3 standard library only.
"""

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# sextant-server's latency buckets (Sources/SextantServing/ServingMetrics.swift), 100 us ... 2.5 s.
BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]


def fmt(value):
    """A sample value in the text format (Go-style +Inf/-Inf/NaN)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def escape(value):
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Traffic:
    """Accumulated synthetic traffic. Counters only ever grow, also across /config changes."""

    def __init__(self, model, version, protocol, rps, success_rate, latency, accuracy):
        self.lock = threading.Lock()
        self.model, self.version, self.protocol = model, version, protocol
        self.rps, self.success_rate, self.latency, self.accuracy = rps, success_rate, latency, accuracy
        self.psi = 0.05
        self.ok = 0.0
        self.failed = 0.0
        self.bucket_counts = [0.0] * len(BUCKETS)
        self.duration_sum = 0.0
        self.last = time.monotonic()

    def advance(self):
        """Adds the requests since the last call at the current settings (call with the lock)."""
        now = time.monotonic()
        n = self.rps * max(0.0, now - self.last)
        self.last = now
        self.ok += n * self.success_rate
        self.failed += n * (1.0 - self.success_rate)
        for i, le in enumerate(BUCKETS):
            if self.latency <= le:
                self.bucket_counts[i] += n
        self.duration_sum += n * self.latency

    def configure(self, changes):
        with self.lock:
            self.advance()  # the old settings apply up to now
            if "rps" in changes:
                self.rps = check_range("rps", changes["rps"], 0, 1e6)
            if "successRate" in changes:
                self.success_rate = check_range("successRate", changes["successRate"], 0, 1)
            if "latencySeconds" in changes:
                self.latency = check_range("latencySeconds", changes["latencySeconds"], 0, 1e6)
            if "accuracy" in changes:
                self.accuracy = check_range("accuracy", changes["accuracy"], 0, 1)
            if "psi" in changes:
                self.psi = check_range("psi", changes["psi"], 0, 100)
            return self.settings()

    def settings(self):
        return {"model": self.model, "version": self.version, "rps": self.rps,
                "successRate": self.success_rate, "latencySeconds": self.latency, "accuracy": self.accuracy,
                "psi": self.psi}

    def samples(self, namespace=None):
        """This series' sample lines per metric family, advanced to now (call with the lock).

        `namespace` adds the label itself, for one target serving many namespaces."""
        self.advance()
        mv = 'model="%s",version="%s"' % (escape(self.model), escape(self.version))
        if namespace is not None:
            mv = 'namespace="%s",%s' % (escape(namespace), mv)
        mvp = '%s,protocol="%s"' % (mv, escape(self.protocol))
        total = self.ok + self.failed
        duration = ['sextant_request_duration_seconds_bucket{%s,le="%s"} %s' % (mvp, repr(le), fmt(count))
                    for le, count in zip(BUCKETS, self.bucket_counts)]
        duration += [
            'sextant_request_duration_seconds_bucket{%s,le="+Inf"} %s' % (mvp, fmt(total)),
            "sextant_request_duration_seconds_sum{%s} %s" % (mvp, fmt(self.duration_sum)),
            "sextant_request_duration_seconds_count{%s} %s" % (mvp, fmt(total)),
        ]
        return {
            "sextant_requests_total": ['sextant_requests_total{%s,code="200"} %s' % (mvp, fmt(self.ok)),
                                       'sextant_requests_total{%s,code="500"} %s' % (mvp, fmt(self.failed))],
            "sextant_request_duration_seconds": duration,
            "sextant_model_accuracy": ["sextant_model_accuracy{%s} %s" % (mv, fmt(self.accuracy))],
            "sextant_model_loaded": ["sextant_model_loaded{%s} 1.0" % mv],
            # Drift as sextant-server exports it: PSI per feature, KS for numeric features only.
            "sextant_feature_psi": ['sextant_feature_psi{%s,feature="amount"} %s' % (mv, fmt(self.psi)),
                                    'sextant_feature_psi{%s,feature="country"} %s' % (mv, fmt(self.psi / 2))],
            "sextant_feature_ks": ['sextant_feature_ks{%s,feature="amount"} %s' % (mv, fmt(self.psi * 1.5))],
        }

    def exposition(self):
        with self.lock:
            return exposition([self.samples()])


# Metric families as sextant-server exports them: name -> (type, help).
FAMILIES = {
    "sextant_requests_total": ("counter", "Inference requests by HTTP status."),
    "sextant_request_duration_seconds": ("histogram", "Inference request latency."),
    "sextant_model_accuracy": ("gauge", "Accuracy over labelled rows."),
    "sextant_model_loaded": ("gauge", "1 once the model is loaded."),
    "sextant_feature_psi": ("gauge", "Population stability index of the feature over the live window against the training reference."),
    "sextant_feature_ks": ("gauge", "Kolmogorov-Smirnov statistic of the feature over the live window against the training reference."),
}


def exposition(sample_sets):
    """The text format for several series' `samples()`, each family's lines together."""
    lines = []
    for name, (kind, help_text) in FAMILIES.items():
        lines += ["# HELP %s %s" % (name, help_text), "# TYPE %s %s" % (name, kind)]
        for samples in sample_sets:
            lines += samples[name]
    return "\n".join(lines) + "\n"


def check_range(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low <= value <= high):
        raise ValueError("%s must be a number in [%s, %s], got %r" % (name, low, high, value))
    return float(value)


def reply(handler, code, body, content_type="application/json"):
    """Writes a whole response with its length (HTTP/1.1 keep-alive needs it)."""
    data = body.encode()
    handler.send_response(code)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def make_handler(traffic):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass  # keep test output quiet

        reply = reply

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self.reply(200, traffic.exposition(), "text/plain; version=0.0.4; charset=utf-8")
            elif path == "/config":
                with traffic.lock:
                    self.reply(200, json.dumps(traffic.settings()) + "\n", "application/json")
            elif path in ("/healthz", "/"):
                self.reply(200, "ok\n", "text/plain")
            else:
                self.reply(404, "not found\n", "text/plain")

        def do_POST(self):
            if self.path.split("?", 1)[0] != "/config":
                self.reply(404, "not found\n", "text/plain")
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                changes = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("body must be a JSON object")
                unknown = set(changes) - {"rps", "successRate", "latencySeconds", "accuracy"}
                if unknown:
                    raise ValueError("unknown fields: %s" % ", ".join(sorted(unknown)))
                settings = traffic.configure(changes)
            except ValueError as e:  # json.JSONDecodeError is a ValueError
                self.reply(400, json.dumps({"error": str(e)}) + "\n", "application/json")
                return
            self.reply(200, json.dumps(settings) + "\n", "application/json")

    return Handler


def exit_with_parent():
    """Exits when the process that started us is gone, so a crashed test leaves nothing behind."""
    parent = os.getppid()
    while True:
        time.sleep(1)
        if os.getppid() != parent:
            os._exit(0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--model", default="churn")
    p.add_argument("--version", default="v1")
    p.add_argument("--protocol", default="v2", help="the protocol label (v1 or v2)")
    p.add_argument("--rps", type=float, default=50.0, help="synthetic requests per second")
    p.add_argument("--success-rate", type=float, default=1.0, help="share of code=200 (0..1)")
    p.add_argument("--latency-seconds", type=float, default=0.01, help="latency of every request")
    p.add_argument("--accuracy", type=float, default=0.9)
    a = p.parse_args()
    try:
        check_range("--rps", a.rps, 0, 1e6)
        check_range("--success-rate", a.success_rate, 0, 1)
        check_range("--latency-seconds", a.latency_seconds, 0, 1e6)
        check_range("--accuracy", a.accuracy, 0, 1)
    except ValueError as e:
        p.error(str(e))
    traffic = Traffic(a.model, a.version, a.protocol, a.rps, a.success_rate, a.latency_seconds, a.accuracy)
    serve(a.port, make_handler(traffic))


def serve(port, handler_class):
    """Serves on 127.0.0.1 until SIGTERM or the parent's exit; prints the line tests wait for."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler_class)
    server.daemon_threads = True
    # A parent may start us with SIGTERM blocked (Foundation's Process does); unblock it so that
    # a test's stop() ends us at once instead of waiting for SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    threading.Thread(target=exit_with_parent, daemon=True).start()
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
