# Answers with its WSGI environ (string values only) as JSON, for the nginx parity test.
import json


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body_in = environ["wsgi.input"].read(length) if length else b""
    env = {k: v for k, v in environ.items() if isinstance(v, str)}
    env["_body"] = body_in.decode("latin-1")
    body = json.dumps(env, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
