#!/usr/bin/env python3
"""Serves one watch stream of N ConfigMap events (about 1 KiB each, the size of a typical
ConfigMap with labels, annotations and managedFields) as fast as the reader takes it.
Used by hack/bench/watch-decode.sh; prints "PORT <n>"."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


def event(i):
    return {"type": "MODIFIED" if i % 3 else "ADDED", "object": {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": f"model-config-{i % 5000}", "namespace": "default", "uid": f"7c1e0a52-3b5e-4a51-9f0e-{i:012d}",
            "resourceVersion": str(1000 + i), "creationTimestamp": "2026-11-23T10:00:00Z",
            "labels": {"app.kubernetes.io/name": "fraud-model", "app.kubernetes.io/part-of": "sextant",
                       "mlops.sextant.dev/model": "fraud-detector"},
            "annotations": {"mlops.sextant.dev/data-sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
            "managedFields": [{"manager": "sextant-controller", "operation": "Update", "apiVersion": "v1",
                               "time": "2026-11-23T10:00:00Z", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:data": {".": {}, "f:config.yaml": {}, "f:threshold": {}}}}]},
        "data": {"config.yaml": "model: fraud-detector\nthreshold: 0.5\nfeatures: [" +
                 ", ".join(f"f{j}" for j in range(28)) + "]\n", "threshold": str(0.5 + (i % 10) / 100)}}}


BODY = b"".join(json.dumps(event(i), separators=(",", ":")).encode() + b"\n" for i in range(N))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if "watch" not in self.path:
            data = b'{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"999"},"items":[]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        step = 256 * 1024
        for start in range(0, len(BODY), step):
            part = BODY[start:start + step]
            self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print("PORT", server.server_address[1], "BYTES", len(BODY), flush=True)
server.serve_forever()
