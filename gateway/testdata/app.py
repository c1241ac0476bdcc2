# A WSGI app for the gateway's tests, run by real uwsgi.
import hashlib
import json
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    if path.endswith("/mark"):
        # Appends a line to the file named by ?f=, so that a test can tell whether the app ran.
        with open(qs["f"][0], "a") as f:
            f.write(environ.get("SERVER_PROTOCOL", "") + "\n")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    if path.endswith("/env"):
        env = {k: v for k, v in environ.items() if isinstance(v, str)}
        body = json.dumps(env, sort_keys=True).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    if path.endswith("/osenv"):
        import os
        body = json.dumps(dict(os.environ), sort_keys=True).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    if path.endswith("/echo"):
        h = hashlib.sha256()
        got = 0
        inp = environ["wsgi.input"]
        while True:
            b = inp.read(65536)
            if not b:
                break
            h.update(b)
            got += len(b)
        body = json.dumps({"length": got, "sha256": h.hexdigest(),
                           "content_length": environ.get("CONTENT_LENGTH", "")}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    if path.endswith("/stream"):
        n = int(qs.get("n", ["5"])[0])
        delay = float(qs.get("delay", ["0.2"])[0])

        def events():
            for i in range(n):
                yield b"data: event %d\n\n" % i
                time.sleep(delay)

        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Connection", "keep-alive"), ("X-Hop", "1")])
        return events()
    if path.endswith("/big"):
        size = int(qs.get("size", ["1048576"])[0])
        chunk = b"x" * 65536

        def gen():
            left = size
            while left > 0:
                piece = chunk[: min(left, len(chunk))]
                left -= len(piece)
                yield piece

        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return gen()
    if path.endswith("/sleep"):
        time.sleep(float(qs.get("s", ["1"])[0]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slept\n"]
    if path.endswith("/hdrs"):
        # Headers an app or its server commonly sends, for the `headers` tests.
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5"), ("Server", "gunicorn"),
                                  ("X-Powered-By", "Flask"), ("X-Frame-Options", "SAMEORIGIN"), ("X-App", "1")])
        return [b"hdrs\n"]
    if path.endswith("/status"):
        code = qs.get("code", ["418"])[0]
        start_response(code + " Custom Reason", [("Content-Type", "text/plain"), ("X-Multi", "a"), ("X-Multi", "b")])
        return [b"status\n"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no route\n"]
