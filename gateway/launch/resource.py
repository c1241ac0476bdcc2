"""Portico's host of a Crossbar `resource` path service: imports the Twisted Web resource
class, makes it with `extra` (as crossbar/webservice/base.py RouterWebServiceTwistedWeb does),
puts it at the path's place in a resource tree and serves that tree with Twisted Web on the
private unix socket Portico proxies the path's requests to. Its configuration comes as JSON on
stdin: place, classname, extra, mount (the path's segments), pythonpath, socket.

Lines that start with "portico-runner: " name the service and the cause of a failure; Portico
shows them when the start fails.
"""
import importlib
import json
import os
import socket
import sys
import traceback

PREFIX = "portico-runner: "


def say(msg):
    sys.stderr.write(PREFIX + msg.rstrip("\n").replace("\n", "\n    ") + "\n")
    sys.stderr.flush()


def notify_ready():
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(b"READY=1", path)
    finally:
        s.close()


def main():
    cfg = json.load(sys.stdin)
    name, place = cfg["classname"], cfg["place"]

    def die(msg):
        say("%s (%s): %s" % (place, name, msg))
        os._exit(1)

    # As for components: the node directory first on the path, then options.pythonpath.
    sys.path[0] = os.getcwd()
    for p in reversed(cfg.get("pythonpath") or []):
        sys.path.insert(0, p)
    from twisted.internet import reactor
    from twisted.internet.address import IPv4Address, IPv6Address
    from twisted.web import resource, server

    module_name, _, class_name = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        die("module %r not found (%s); Python path: %s" % (module_name, e, sys.path))
    except BaseException:
        die("importing %s raised:\n%s" % (module_name, traceback.format_exc()))
    make = getattr(module, class_name, None)
    if make is None:
        die("module %s has no %r" % (module_name, class_name))
    try:
        res = make(cfg.get("extra") if cfg.get("extra") is not None else {})
    except BaseException:
        die("the constructor of %s raised:\n%s" % (name, traceback.format_exc()))
    if not resource.IResource.providedBy(res):
        die("%s is not a Twisted Web resource (twisted.web.resource.IResource)" % name)

    root = res
    for seg in reversed(cfg.get("mount") or []):
        parent = resource.Resource()
        parent.putChild(seg.encode(), root)
        root = parent

    class Request(server.Request):
        """The client is the one Portico served, not the unix socket's peer."""

        def getClientAddress(self):
            fwd = self.getHeader(b"x-portico-client")
            if fwd:
                host, _, port = fwd.decode().rpartition(":")
                host = host.strip("[]")
                cls = IPv6Address if ":" in host else IPv4Address
                try:
                    return cls("TCP", host, int(port))
                except ValueError:
                    pass
            return server.Request.getClientAddress(self)

    site = server.Site(root)
    site.requestFactory = Request
    site.displayTracebacks = False
    try:
        reactor.listenUNIX(cfg["socket"], site)
    except BaseException as e:
        die("cannot listen on %s: %s" % (cfg["socket"], e))
    say("%s (%s) serves at /%s" % (place, name, "/".join(cfg.get("mount") or [])))
    reactor.callWhenRunning(notify_ready)
    reactor.run()


if __name__ == "__main__":
    main()
