# A Twisted Web resource that answers what it saw of the request, as JSON.
import json

from twisted.web import resource


class Probe(resource.Resource):
    isLeaf = True

    def __init__(self, extra):
        resource.Resource.__init__(self)
        self.extra = extra

    def render(self, request):
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"x-probe", b"yes")
        return json.dumps({
            "method": request.method.decode(),
            "uri": request.uri.decode(),
            "prepath": [p.decode() for p in request.prepath],
            "postpath": [p.decode() for p in request.postpath],
            "args": {k.decode(): [x.decode() for x in v] for k, v in request.args.items()},
            "body": request.content.read().decode(),
            "client": request.getClientAddress().host,
            "extra": self.extra,
        }).encode()


class Broken(resource.Resource):
    def __init__(self, extra):
        raise ValueError("no database for the resource")
