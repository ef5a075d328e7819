"""A small HTTP proxy in front of cloudbox's Firestore REST emulator.

It bridges two deviations of cloudbox 0.2.3 from the real Firestore REST API
(the discovery document `firestore.v1.json` is the authority), so that our
client keeps the real paths and semantics:

1. Paths. The real API serves `POST v1/{+database}/documents:commit` (and
   `:beginTransaction`, `:rollback`, `:batchWrite`); cloudbox serves them at
   `v1/{+database}:commit`. The proxy rewrites those paths; every other request
   is forwarded untouched.

2. Atomic preconditions (on unless `CLOUDBOX_FIRESTORE_PROXY_PRECHECK=0`).
   cloudbox applies a commit's writes one by one, so a failed precondition on
   a later write leaves the earlier writes applied, and a failed `exists: false`
   answers 412 FAILED_PRECONDITION. Real Firestore commits atomically and
   answers 409 ALREADY_EXISTS (`exists: false` on an existing document) or
   404 NOT_FOUND (`exists: true` on a missing one). The proxy serialises
   commits, checks every `currentDocument.exists` precondition first (one GET
   per document) and, if one fails, answers as real Firestore does without
   applying any write.

Standard library only. Run standalone:
    python firestore_proxy.py --listen 127.0.0.1:8081 --upstream 127.0.0.1:8080
or from launch.py (CLOUDBOX_FIRESTORE_PROXY_PORT), inside the cloudbox process.
"""

import argparse
import http.client
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse

# `/v1/projects/{p}/databases/{d}/documents:{verb}` -> `/v1/projects/{p}/databases/{d}:{verb}`
_DATABASE_VERB = re.compile(
    r"^(/v1/projects/[^/]+/databases/[^/:]+)/documents:(commit|beginTransaction|rollback|batchWrite)$"
)
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
}


def rewrite_path(path):
    """Returns (upstream path, verb or None) for a request path with its query."""
    parts = urllib.parse.urlsplit(path)
    m = _DATABASE_VERB.match(parts.path)
    if not m:
        return path, None
    new = f"{m.group(1)}:{m.group(2)}"
    if parts.query:
        new += "?" + parts.query
    return new, m.group(2)


def _error(code, status, message):
    body = json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()
    return code, [("Content-Type", "application/json")], body


class _Proxy:
    def __init__(self, upstream_host, upstream_port, precheck):
        self.upstream = (upstream_host, upstream_port)
        self.precheck = precheck
        self.commit_lock = threading.Lock()

    def forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
            return resp.status, out, data
        finally:
            conn.close()

    def failed_precondition(self, headers, body):
        """The answer of real Firestore when a commit's `exists` precondition fails, else None."""
        try:
            writes = json.loads(body or b"{}").get("writes") or []
        except (ValueError, AttributeError):
            return None  # let the emulator answer
        auth = {k: v for k, v in headers.items() if k.lower() == "authorization"}
        for w in writes:
            if not isinstance(w, dict):
                continue
            cd = w.get("currentDocument")
            if not isinstance(cd, dict) or "exists" not in cd:
                continue
            name = (w.get("update") or {}).get("name") or w.get("delete")
            if not isinstance(name, str) or not name:
                continue
            status, _, _ = self.forward("GET", "/v1/" + urllib.parse.quote(name), auth, None)
            exists = status == 200
            if cd["exists"] is False and exists:
                return _error(409, "ALREADY_EXISTS", f"Document already exists: {name}")
            if cd["exists"] is True and not exists:
                return _error(404, "NOT_FOUND", f"No document to update: {name}")
        return None

    def handle(self, method, path, headers, body):
        upstream_path, verb = rewrite_path(path)
        headers = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        if verb == "commit" and self.precheck:
            with self.commit_lock:
                failed = self.failed_precondition(headers, body)
                if failed is not None:
                    return failed
                return self.forward(method, upstream_path, headers, body)
        return self.forward(method, upstream_path, headers, body)


def _handler_class(proxy):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = self._read_chunked()
            try:
                status, headers, data = proxy.handle(
                    self.command, self.path, dict(self.headers.items()), body
                )
            except OSError as e:
                status, headers, data = _error(502, "UNAVAILABLE", f"firestore proxy: {e}")
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _read_chunked(self):
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, fmt, *args):
            if os.environ.get("CLOUDBOX_FIRESTORE_PROXY_LOG"):
                sys.stderr.write("firestore-proxy: " + (fmt % args) + "\n")

    return Handler


def serve(listen_host, listen_port, upstream_host, upstream_port, precheck=True):
    """Starts the proxy in a daemon thread and returns the server."""
    proxy = _Proxy(upstream_host, upstream_port, precheck)
    server = http.server.ThreadingHTTPServer((listen_host, listen_port), _handler_class(proxy))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="firestore-proxy", daemon=True).start()
    return server


def _addr(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", required=True, help="host:port to listen on")
    p.add_argument("--upstream", required=True, help="host:port of cloudbox's Firestore")
    p.add_argument("--no-precheck", action="store_true", help="forward commits as they are")
    a = p.parse_args()
    server = serve(*_addr(a.listen), *_addr(a.upstream), precheck=not a.no_precheck)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
