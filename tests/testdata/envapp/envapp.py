# Answers with its WSGI environ (string values only) as JSON, for the nginx parity test; /_accel
# hands a file over to the proxy instead (the X-Accel parity test); /_bytes answers n bytes of
# "y" (the slow readers test).
import json
from urllib.parse import parse_qs


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/_accel":
        return accel(environ, start_response)
    if environ.get("PATH_INFO") == "/_bytes":
        return nbytes(environ, start_response)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body_in = environ["wsgi.input"].read(length) if length else b""
    env = {k: v for k, v in environ.items() if isinstance(v, str)}
    env["_body"] = body_in.decode("latin-1")
    body = json.dumps(env, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def accel(environ, start_response):
    """X-Accel-Redirect to `to` (or X-Sendfile of `sendfile`), with the headers a download view
    sends, some nginx keeps over the redirect and some it drops, and a body nobody should see."""
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    arg = lambda k, d="": qs.get(k, [d])[0]
    headers = [("Content-Disposition", 'attachment; filename="report.pdf"'),
               ("Set-Cookie", "downloaded=1; Path=/"),
               ("X-App", "dropped over the redirect"),
               ("X-Accel-Limit-Rate", "1048576"), ("X-Accel-Expires", "60"),
               ("X-Accel-Charset", "utf-8"), ("X-Accel-Buffering", "no")]
    if arg("ct"):
        headers.append(("Content-Type", arg("ct")))
    if arg("to"):
        headers.append(("X-Accel-Redirect", arg("to")))
    if arg("sendfile"):
        headers.append(("X-Sendfile", arg("sendfile")))
    start_response(arg("status", "200 OK"), headers)
    return [b"the app's own body"]


def nbytes(environ, start_response):
    """n bytes of "y" with a Content-Length, in 64 KiB writes; with `log`, "start" is appended to
    that file when the answer begins and "done" once uwsgi has written all of it to the proxy."""
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    n = int(qs.get("n", ["0"])[0])
    log = qs.get("log", [""])[0]
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(n))])

    def note(what):
        if log:
            with open(log, "a") as f:
                f.write(what + "\n")

    def body():
        note("start")
        chunk = b"y" * 65536
        left = n
        while left > 0:
            yield chunk[:left]
            left -= len(chunk)
        note("done")

    return body()
