#!/usr/bin/env python3
"""A webhook receiver for rollout webhook tests.

POST /status/<code>  answers <code>;  POST /sleep/<seconds>  answers 200 after sleeping;
POST /flaky/<n>      fails with 503 the first <n> times, then 200.
POST /flaky-each/<n>/<code>  answers <code> (503, 429, ...) the first <n> times for each distinct
                     X-Sextant-Notification-Id, then 200; a 429 carries "Retry-After: 1".
POST /ok/<anything>  answers 200.
GET /calls           the JSON list of calls received so far ({"path", "body", "id" (the
                     X-Sextant-Notification-Id header), "event", "authorization" (the header),
                     "code" answered, "time"}).
Prints "listening on 127.0.0.1:PORT" once bound (--port 0 picks a free port). With --tls-cert and
--tls-key it serves HTTPS with that certificate chain and key (PEM).
"""
import argparse
import json
import os
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

calls = []
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body=b"{}", headers=None):
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/calls":
            with lock:
                self.answer(200, json.dumps(calls).encode())
        else:
            self.answer(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = raw.decode(errors="replace")
        nid = self.headers.get("X-Sextant-Notification-Id")
        call = {"path": self.path, "body": body, "id": nid, "event": self.headers.get("X-Sextant-Event"),
                "authorization": self.headers.get("Authorization"), "time": time.time()}
        with lock:
            calls.append(call)
            seen = sum(1 for c in calls if c["path"] == self.path)
            seen_id = sum(1 for c in calls if c["path"] == self.path and c["id"] == nid)
        parts = self.path.strip("/").split("/")
        try:
            if parts[0] == "flaky-each":
                code = int(parts[2]) if len(parts) > 2 else 503
                code = code if seen_id <= int(parts[1]) else 200
                call["code"] = code
                headers = {"Retry-After": "1"} if code == 429 else {}
                self.answer(code, b'{"message":"as asked"}' if code != 200 else b"ok", headers)
            elif parts[0] == "ok":
                call["code"] = 200
                self.answer(200, b"ok")
            elif parts[0] == "status":
                self.answer(int(parts[1]), b'{"message":"as asked"}')
            elif parts[0] == "sleep":
                time.sleep(float(parts[1]))
                self.answer(200)
            elif parts[0] == "flaky":
                self.answer(503 if seen <= int(parts[1]) else 200)
            else:
                self.answer(404)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        # Handshakes happen per connection in the handler threads, so a client that refuses the
        # certificate never blocks the accept loop.
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
