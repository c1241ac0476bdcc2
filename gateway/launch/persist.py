# Portico's wrapper around a WSGI app launched with a persistent uwsgi socket
# (uwsgi_persistent). On that socket a connection carries one response after another, so the
# front end must see where each ends: a request carrying the uwsgi var PORTICO_CHUNKED gets a
# response without Content-Length framed in HTTP/1.1 chunks ("Transfer-Encoding: chunked"),
# which Portico decodes. Everything else passes through untouched.
import importlib
import os

# Left in the environment: a reloading uWSGI master execs itself again and imports this anew.
_target = os.environ["PORTICO_WSGI_APP"]
_module, _, _object = _target.partition(":")
_app = getattr(importlib.import_module(_module), _object)

def _chunk(data):
    if isinstance(data, str):
        data = data.encode("latin-1")
    if not data:
        return b""
    return b"%x\r\n" % len(data) + data + b"\r\n"


class _Body:
    """The app's body iterable; framed in chunks, and ended by the last chunk, when the app's
    start_response (called before the first item at the latest) asked for no length."""

    def __init__(self, inner, state):
        self._inner, self._state = inner, state

    def __iter__(self):
        for data in self._inner:
            if not self._state["chunked"]:
                yield data
                continue
            c = _chunk(data)
            if c:
                yield c
        if self._state["chunked"]:
            yield b"0\r\n\r\n"

    def close(self):
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def application(environ, start_response):
    if environ.pop("PORTICO_CHUNKED", None) is None or environ.get("REQUEST_METHOD") == "HEAD":
        return _app(environ, start_response)
    state = {"chunked": None}

    def start(status, headers, exc_info=None):
        code = status.split(" ", 1)[0]
        sized = any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers)
        chunked = not sized and not code.startswith("1") and code not in ("204", "304")
        if chunked:
            headers = list(headers) + [("Transfer-Encoding", "chunked")]
        state["chunked"] = chunked
        write = start_response(status, headers, exc_info) if exc_info else start_response(status, headers)
        if not chunked:
            return write
        return lambda data: write(_chunk(data)) if data else None

    body = _app(environ, start)
    if state["chunked"] is False:
        # Sized (or bodyless): passed as it is, so that uWSGI may still sendfile it.
        return body
    return _Body(body, state)
