#!/usr/bin/env python3
"""Synthetic sextant-server metrics for many model versions in many namespaces, from one process.

Stands in for a fleet of model servers in the chaos suite and the rollout benchmark: every
series carries the `namespace` label itself (scrape it with `honor_labels: true`), so one target
serves every namespace. Counters grow with elapsed time at each series' settings, exactly as in
metrics_exporter.py (whose helpers this reuses), so rate() gives the configured values.

    python3 hack/testservers/fleet_exporter.py --port 0
    curl -s -XPOST 127.0.0.1:PORT/series -d '[{"namespace": "ns1", "model": "fraud", "version": "v2",
        "successRate": 0.6, "latencySeconds": 0.9}]'
    curl -s 127.0.0.1:PORT/metrics

POST /series adds or changes series (fields: namespace, model, version required; successRate,
latencySeconds, accuracy, rps optional, defaults 0.999, 0.05, 0.9, 20). GET /series lists them.
Python 3 standard library only.
"""

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_exporter import check_range, exposition, reply, serve, Traffic  # noqa: E402

DEFAULTS = {"successRate": 0.999, "latencySeconds": 0.05, "accuracy": 0.9, "rps": 20.0}


class Fleet:
    def __init__(self):
        self.lock = threading.Lock()
        self.series = {}  # (namespace, model, version) -> (namespace, Traffic)
        self.scrapes = 0

    def upsert(self, items):
        if not isinstance(items, list):
            raise ValueError("body must be a JSON list of series")
        parsed = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValueError("series[%d] must be an object" % i)
            for key in ("namespace", "model", "version"):
                if not isinstance(item.get(key), str) or not item[key]:
                    raise ValueError("series[%d].%s must be a non-empty string" % (i, key))
            unknown = set(item) - {"namespace", "model", "version"} - set(DEFAULTS)
            if unknown:
                raise ValueError("series[%d]: unknown fields: %s" % (i, ", ".join(sorted(unknown))))
            parsed.append(item)
        with self.lock:
            for item in parsed:
                key = (item["namespace"], item["model"], item["version"])
                settings = {k: item[k] for k in DEFAULTS if k in item}
                if key in self.series:
                    self.series[key][1].configure(settings)
                else:
                    values = dict(DEFAULTS)
                    values.update(settings)
                    for name, (low, high) in {"successRate": (0, 1), "latencySeconds": (0, 1e6),
                                              "accuracy": (0, 1), "rps": (0, 1e6)}.items():
                        check_range("series.%s" % name, values[name], low, high)
                    self.series[key] = (item["namespace"], Traffic(
                        item["model"], item["version"], "v2", float(values["rps"]), float(values["successRate"]),
                        float(values["latencySeconds"]), float(values["accuracy"])))
            return len(self.series)

    def exposition(self):
        with self.lock:
            self.scrapes += 1
            sets = []
            for namespace, traffic in self.series.values():
                with traffic.lock:
                    sets.append(traffic.samples(namespace))
        return exposition(sets)

    def listing(self):
        with self.lock:
            out = []
            for namespace, traffic in self.series.values():
                settings = traffic.settings()
                settings["namespace"] = namespace
                out.append(settings)
            return {"series": out, "scrapes": self.scrapes}


def make_handler(fleet):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        reply = reply

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self.reply(200, fleet.exposition(), "text/plain; version=0.0.4; charset=utf-8")
            elif path == "/series":
                self.reply(200, json.dumps(fleet.listing()) + "\n")
            elif path in ("/healthz", "/"):
                self.reply(200, "ok\n", "text/plain")
            else:
                self.reply(404, "not found\n", "text/plain")

        def do_POST(self):
            if self.path.split("?", 1)[0] != "/series":
                self.reply(404, "not found\n", "text/plain")
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                count = fleet.upsert(json.loads(self.rfile.read(length) or b"[]"))
            except ValueError as e:
                self.reply(400, json.dumps({"error": str(e)}) + "\n")
                return
            self.reply(200, json.dumps({"series": count}) + "\n")

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    a = p.parse_args()
    serve(a.port, make_handler(Fleet()))

if __name__ == "__main__":
    sys.exit(main())
