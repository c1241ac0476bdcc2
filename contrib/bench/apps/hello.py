# The smallest WSGI app: what is left of a request's cost is the gateway and the protocol.
def application(environ, start_response):
    body = b"Hello, world!\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
