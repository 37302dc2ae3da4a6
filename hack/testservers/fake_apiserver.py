#!/usr/bin/env python3
"""A scripted stand-in for the Kubernetes API server, used by SextantKubeTests and
SextantTransportTests to exercise the client against a server Sextant did not write.

It answers a small fixed set of paths with the behaviours a real API server (or a bad network)
shows: pagination, chunked watch streams with events split across chunks, ERROR/410 events,
409/429/5xx answers, stalls, bearer-token auth and TLS with client certificates.

Prints "PORT <n>" on stdout once listening.
"""
import argparse
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

STATE = {"counts": {}, "requests": [], "objects": {}}
LOCK = threading.Lock()


def configmap(name, rv, ns="default", data=None):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv), "uid": "uid-" + name},
        "data": data or {"key": "value-" + name},
    }


def status(code, reason, message, causes=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if causes:
        body["details"] = {"causes": causes}
    return body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    token = None

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def count(self, key):
        with LOCK:
            STATE["counts"][key] = STATE["counts"].get(key, 0) + 1
            return STATE["counts"][key]

    def send_json(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self, method):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self.read_body()
        with LOCK:
            STATE["requests"].append({"method": method, "path": url.path, "query": q,
                                      "contentType": self.headers.get("Content-Type"),
                                      "authorization": self.headers.get("Authorization"),
                                      "host": self.headers.get("Host"),
                                      "body": body.decode(errors="replace")})
        if url.path == "/_requests":
            with LOCK:
                return self.send_json(200, {"requests": STATE["requests"]})
        if Handler.token and self.headers.get("Authorization") != "Bearer " + Handler.token:
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        p = url.path

        if p == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"]})
        if p == "/apis":
            return self.send_json(200, {"kind": "APIGroupList", "groups": [{
                "name": "mlops.sextant.dev",
                "versions": [{"groupVersion": "mlops.sextant.dev/v1alpha1", "version": "v1alpha1"}],
                "preferredVersion": {"groupVersion": "mlops.sextant.dev/v1alpha1", "version": "v1alpha1"}}]})
        if p == "/api/v1":
            return self.send_json(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
                 "verbs": ["get", "list", "watch"], "shortNames": ["cm"]},
                {"name": "configmaps/status", "singularName": "", "namespaced": True, "kind": "ConfigMap"},
                {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
                 "shortNames": ["ns"]}]})
        if p == "/apis/mlops.sextant.dev/v1alpha1":
            return self.send_json(200, {"kind": "APIResourceList", "groupVersion": "mlops.sextant.dev/v1alpha1",
                                        "resources": [{"name": "canaryrollouts", "singularName": "canaryrollout",
                                                       "namespaced": True, "kind": "CanaryRollout",
                                                       "shortNames": ["cro"], "categories": ["sextant"]}]})

        if p.startswith("/flaky/"):  # 503 twice, then success
            if self.count(p) <= 2:
                return self.send_json(503, status(503, "ServiceUnavailable", "try again"))
            return self.send_json(200, {"ok": True, "attempts": STATE["counts"][p]})
        if p.startswith("/ratelimited/"):
            if self.count(p) == 1:
                return self.send_json(429, status(429, "TooManyRequests", "slow down"), {"Retry-After": "1"})
            return self.send_json(200, {"ok": True, "attempts": STATE["counts"][p]})
        if p.startswith("/always500/"):
            self.count(p)
            return self.send_json(500, status(500, "InternalError", "boom"))
        if p == "/stall":
            time.sleep(float(q.get("seconds", "30")))
            return self.send_json(200, {"ok": True})
        if p == "/echo":
            return self.send_json(200, {"method": method, "contentType": self.headers.get("Content-Type"),
                                        "body": body.decode(errors="replace"), "query": q,
                                        "host": self.headers.get("Host")})
        if p == "/notstatus":
            data = b"<html>bad gateway</html>"
            self.send_response(502)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)

        if "/namespaces/forbidden/" in p:  # RBAC refusing the user, as a real API server words it
            resource = p.split("/namespaces/forbidden/")[1].split("/")[0]
            return self.send_json(403, status(403, "Forbidden",
                                              f'{resource}.mlops.sextant.dev is forbidden: User "ana" cannot {method.lower()} '
                                              f'resource "{resource}" in API group "mlops.sextant.dev" in the namespace "forbidden"'))

        parts = p.strip("/").split("/")
        # /api/v1/namespaces/{ns}/configmaps[/{name}]
        if len(parts) >= 5 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "configmaps":
            ns = parts[3]
            name = parts[5] if len(parts) > 5 else None
            if name is None and method == "GET" and q.get("watch") in ("1", "true"):
                return self.watch(ns, q)
            if name is None and method == "GET":
                return self.list(ns, q)
            if name is None and method == "POST":
                obj = json.loads(body)
                n = obj["metadata"]["name"]
                if n == "exists":
                    return self.send_json(409, status(409, "AlreadyExists", 'configmaps "exists" already exists'))
                if n == "invalid":
                    return self.send_json(422, status(422, "Invalid", 'ConfigMap "invalid" is invalid',
                                                      [{"reason": "FieldValueInvalid", "field": "data.key",
                                                        "message": "Invalid value: must be short"}]))
                obj["metadata"]["resourceVersion"] = "101"
                obj["metadata"]["uid"] = "uid-" + n
                return self.send_json(201, obj)
            if name == "conflict" and method == "PUT":
                return self.send_json(409, status(409, "Conflict",
                                                  'Operation cannot be fulfilled on configmaps "conflict": '
                                                  "the object has been modified; please apply your changes "
                                                  "to the latest version and try again"))
            if name and method == "PUT":
                obj = json.loads(body)
                obj["metadata"]["resourceVersion"] = "102"
                return self.send_json(200, obj)
            if name and method == "PATCH":
                obj = configmap(name, 103, ns)
                obj["metadata"]["annotations"] = {"patch-type": self.headers.get("Content-Type"),
                                                  "patch-body": body.decode(), "query": json.dumps(q)}
                return self.send_json(200, obj)
            if name and method == "DELETE":
                return self.send_json(200, {"kind": "Status", "status": "Success", "details": {"body": body.decode()}})
            if name and method == "GET":
                if name.startswith("missing"):
                    return self.send_json(404, status(404, "NotFound", f'configmaps "{name}" not found'))
                return self.send_json(200, configmap(name, 100, ns))
        return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))

    def list(self, ns, q):
        total = 5
        start = int(q.get("continue") or 0)
        limit = int(q.get("limit") or total)
        items = [configmap(f"cm-{i}", 10 + i, ns) for i in range(start, min(total, start + limit))]
        meta = {"resourceVersion": "50"}
        if start + limit < total:
            meta["continue"] = str(start + limit)
        return self.send_json(200, {"apiVersion": "v1", "kind": "ConfigMapList", "metadata": meta, "items": items})

    def watch(self, ns, q):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(b):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
            self.wfile.flush()

        if q.get("resourceVersion") == "expired":
            chunk((json.dumps({"type": "ERROR", "object": status(410, "Expired",
                                                                 "too old resource version: 1 (50)")}) + "\n").encode())
            chunk(b"")
            return
        selector = q.get("fieldSelector") or ""
        if selector.startswith("events="):
            # events=N[,broken=K]: N MODIFIED events written at once (so a reader gets them in
            # large batches), line K (0-based) not JSON.
            opts = dict(part.split("=", 1) for part in selector.split(","))
            lines = [json.dumps({"type": "MODIFIED", "object": configmap(f"cm-{i}", 1000 + i, ns)})
                     for i in range(int(opts["events"]))]
            if "broken" in opts:
                lines[int(opts["broken"])] = '{"type": "MODIFIED", "object": {"metadata": '
            chunk(("\n".join(lines) + "\n").encode())
            chunk(b"")
            return
        events = [
            {"type": "ADDED", "object": configmap("a", 51, ns)},
            {"type": "MODIFIED", "object": configmap("a", 52, ns, {"key": "changed"})},
            {"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1",
                                            "metadata": {"resourceVersion": "60"}}},
            {"type": "DELETED", "object": configmap("a", 61, ns)},
        ]
        stream = "".join(json.dumps(e) + "\n" for e in events).encode()
        # Split at odd places so that events span chunks and chunks hold several events.
        cuts = [7, 13, 200, 201, len(stream) - 3]
        last = 0
        for c in cuts:
            chunk(stream[last:c])
            time.sleep(0.01)
            last = c
        chunk(stream[last:])
        if q.get("hold") == "1":
            time.sleep(30)
        chunk(b"")

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--client-ca", help="require client certificates signed by this CA")
    ap.add_argument("--token")
    args = ap.parse_args()
    Handler.token = args.token
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(args.client_ca)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("PORT", server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
