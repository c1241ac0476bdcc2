# The WSGI app behind the memory measurement: /down?size=N yields N bytes (with a
# Content-Length unless sized=0), /up reads the whole request body and answers its length.
# It allocates one 256 KiB block, so the bytes cost the app nothing and Portico's RSS is what
# the measurement shows.
from urllib.parse import parse_qs

BLOCK = b"\xa5" * (256 << 10)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/down":
        size = int(qs.get("size", ["0"])[0])
        headers = [("Content-Type", "application/octet-stream")]
        if qs.get("sized", ["1"])[0] == "1":
            headers.append(("Content-Length", str(size)))

        def gen():
            left = size
            while left > 0:
                n = min(left, len(BLOCK))
                left -= n
                yield BLOCK if n == len(BLOCK) else BLOCK[:n]

        start_response("200 OK", headers)
        return gen()
    if path == "/up":
        inp = environ["wsgi.input"]
        got = 0
        while True:
            b = inp.read(256 << 10)
            if not b:
                break
            got += len(b)
        body = b"%d %s\n" % (got, environ.get("CONTENT_LENGTH", "").encode())
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no route\n"]
