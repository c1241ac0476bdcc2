# A WSGI app for the edge tests (streaming, failures), run by real uwsgi.
import json
import os
import signal
import time
from urllib.parse import parse_qs


def _write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    arg = lambda k, d="": qs.get(k, [d])[0]

    if path == "/progress":
        # Reads the body and writes how much has arrived to `file` after every read, so a
        # test can see the body reach the app while the client is still sending it.
        inp, got = environ["wsgi.input"], 0
        while True:
            b = inp.read(16384)
            if not b:
                break
            got += len(b)
            _write_atomic(arg("file"), str(got))
        body = json.dumps({"length": got, "content_length": environ.get("CONTENT_LENGTH", "")}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    if path == "/lockstep":
        # Yields event i, then waits for the client to acknowledge it (file ack-i in `dir`)
        # before the next: the stream only completes if every event reaches the client alone.
        d, n = arg("dir"), int(arg("n", "5"))

        def events():
            for i in range(n):
                yield b"data: event %d\n\n" % i
                ack = os.path.join(d, "ack-%d" % i)
                deadline = time.time() + 30
                while not os.path.exists(ack):
                    if time.time() > deadline:
                        return
                    time.sleep(0.01)

        start_response("200 OK", [("Content-Type", arg("type", "text/event-stream")), ("Cache-Control", "no-cache")])
        return events()

    if path == "/sse":
        n, delay = int(arg("n", "5")), float(arg("delay", "0.2"))

        def events():
            for i in range(n):
                if i:
                    time.sleep(delay)
                yield b"data: event %d\n\n" % i

        start_response("200 OK", [("Content-Type", "text/event-stream")])
        return events()

    if path == "/die-mid-response":
        # Announces a body, sends part of it, then the worker dies: the upstream connection
        # is cut mid-response.
        def gen():
            yield b"x" * 65536
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGKILL)
            yield b"never"

        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", "1000000")])
        return gen()

    if path == "/bytes":
        # `n` bytes in 64 KiB chunks, with a Content-Length unless sized=0; appends a line to
        # `file` (if given) when it starts and another when it has written them all; writes
        # the bytes handed to uwsgi so far to `progress` (if given) after each chunk.
        n, f, progress = int(arg("n", "0")), arg("file"), arg("progress")
        if f:
            with open(f, "a") as fh:
                fh.write("start\n")
        headers = [("Content-Type", arg("type", "application/octet-stream"))]
        if arg("sized", "1") == "1":
            headers.append(("Content-Length", str(n)))
        if arg("accel"):
            headers.append(("X-Accel-Buffering", arg("accel")))

        def gen():
            left, block = n, b"y" * 65536
            while left > 0:
                yield block[: min(left, 65536)]
                left -= 65536
                if progress:
                    _write_atomic(progress, str(n - max(left, 0)))
            if f:
                with open(f, "a") as fh:
                    fh.write("done\n")

        start_response("200 OK", headers)
        return gen()

    if path == "/accel":
        # Hands the answer over to the proxy: X-Accel-Redirect to `to`, or X-Sendfile of
        # `sendfile`, with the app's own headers and a body nobody should see.
        headers = [("Content-Type", arg("ct", "application/x-app")),
                   ("Content-Disposition", 'attachment; filename="x.bin"'),
                   ("X-Accel-Limit-Rate", "1024")]
        if arg("to"):
            headers.append(("X-Accel-Redirect", arg("to")))
        if arg("loop"):
            headers.append(("X-Accel-Redirect", "/accel?loop=1"))
        if arg("sendfile"):
            headers.append(("X-Sendfile", arg("sendfile")))
        start_response(arg("status", "200 OK"), headers)
        return [b"the app's own body"]

    if path == "/refuse":
        # Answers without reading the request body, as an app refusing an upload does.
        if arg("file"):
            _write_atomic(arg("file"), "started")
        start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("Content-Length", "7")])
        return [b"refused"]

    if path == "/refuse-stream":
        # The same, with a body of unknown length: it ends when uwsgi closes the connection.
        def gen():
            yield b"refused"

        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return gen()

    if path == "/boom":
        # Counts its runs in `file`, then fails before start_response: uwsgi logs the
        # traceback and closes the connection without a response.
        with open(arg("file"), "a") as f:
            f.write("run\n")
        raise RuntimeError("boom")

    if path == "/segv":
        # A real segmentation fault in the request's thread (a signal sent with os.kill may be
        # handled by another thread after the response is out).
        import ctypes
        ctypes.string_at(0)

    if path == "/sleep":
        if arg("file"):
            _write_atomic(arg("file"), "started")  # tells a test the request reached the app
        time.sleep(float(arg("s", "1")))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slept\n"]

    if path == "/chunked":
        # The app frames its body in chunks itself and says so (Transfer-Encoding: chunked),
        # as some frameworks do; uwsgi passes both on as they are. The decoded body is
        # "hello, chunked world\n" (`n` pieces when given), and a trailer ends it.
        start_response("200 OK", [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")])
        pieces = [b"hello, ", b"chunked ", b"world\n"] * int(arg("n", "1"))
        def gen():
            for p in pieces:
                yield b"%x\r\n%s\r\n" % (len(p), p)
            yield b"0\r\nX-Trailer: t\r\n\r\n"
        return gen()

    if path == "/pid":
        body = str(os.getppid()).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]
