"""An HTTP server for the tests of Portico's RESTCallee and MessageForwarder components.

Usage: http_sink.py  (listens on 127.0.0.1, a free port)

Prints {"port": N}, then one JSON line per request:
{"request": {"method", "path", "query", "headers": {name: value}, "body"}}. Answers 200 with
{"ok": true, "path": PATH} (application/json; charset=utf-8, and X-Sink: yes); a path
/status/NNN answers NNN. Stays until killed.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit


class Handler(BaseHTTPRequestHandler):
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf8") if n else ""
        u = urlsplit(self.path)
        print(json.dumps({"request": {"method": self.command, "path": u.path, "query": u.query,
                                      "headers": dict(self.headers.items()), "body": body}}), flush=True)
        status = 200
        if u.path.startswith("/status/"):
            status = int(u.path.rsplit("/", 1)[1])
        out = json.dumps({"ok": True, "path": u.path}).encode("utf8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("X-Sink", "yes")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, *args):
        pass


srv = HTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"port": srv.server_address[1]}), flush=True)
srv.serve_forever()
