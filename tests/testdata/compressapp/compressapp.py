# A WSGI app for the response compression tests, run by real uwsgi: text pages of a chosen size,
# sized or streamed, and the responses that must pass uncompressed.
import os
import time
from urllib.parse import parse_qs


def page(n):
    # Text like an HTML page: repetitive markup around varying numbers, so that it compresses
    # about as real pages do (4-6x), deterministically.
    out, i = [], 0
    size = 0
    while size < n:
        row = '<tr class="row"><td>%d</td><td>item %d</td><td>%s</td></tr>\n' % (i, i * 7919 % 1000, "x" * (i % 13))
        out.append(row)
        size += len(row)
        i += 1
    return "".join(out).encode()[:n]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    arg = lambda k, d="": qs.get(k, [d])[0]
    typ = arg("type", "text/html; charset=utf-8")
    n = int(arg("n", "20000"))

    if path == "/page":
        body = page(n)
        headers = [("Content-Type", typ), ("Content-Length", str(len(body)))]
        for h in ("etag", "vary", "cache_control", "content_encoding", "content_range"):
            if arg(h):
                headers.append((h.replace("_", "-").title().replace("Etag", "ETag"), arg(h)))
        status = arg("status", "200 OK")
        start_response(status, headers)
        return [body]

    if path == "/stream":
        # The same page without Content-Length, in pieces.
        body, piece = page(n), int(arg("piece", "4096"))

        def gen():
            for i in range(0, len(body), piece):
                yield body[i : i + piece]

        start_response("200 OK", [("Content-Type", typ)])
        return gen()

    if path == "/lockstep":
        # Yields line i, then waits for the client to acknowledge it (file ack-i in `dir`)
        # before the next: the response only completes if every line reaches the client alone.
        d, count = arg("dir"), int(arg("count", "4"))

        def lines():
            for i in range(count):
                if typ == "text/event-stream":
                    yield b"data: event %d\n\n" % i
                else:
                    yield b"line %d\n" % i
                ack = os.path.join(d, "ack-%d" % i)
                deadline = time.time() + float(arg("wait", "30"))
                while not os.path.exists(ack):
                    if time.time() > deadline:
                        # Says so, for the test to see that line i was held back.
                        yield b"gave up waiting for ack-%d\n" % i
                        return
                    time.sleep(0.01)

        start_response("200 OK", [("Content-Type", typ)])
        return lines()

    if path == "/big":
        # mb MiB of compressible text without Content-Length.
        chunk = page(1 << 16)
        mb = int(arg("mb", "1"))

        def gen():
            for _ in range(mb * 16):
                yield chunk

        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()

    start_response("204 No Content", [])
    return [b""]
