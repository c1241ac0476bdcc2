# twisted.web.wsgi on a thread pool, as Crossbar's WSGI host service runs an app: the app lives
# in this process and each request runs on a pool thread (crossbar/webservice/wsgi.py; pool
# sizes are Crossbar's minthreads/maxthreads defaults, 5 and 20).
#
# usage: python3 twisted_wsgi.py PORT APPDIR MODULE OBJECT
import importlib
import sys

from twisted.internet import epollreactor

epollreactor.install()

from twisted.internet import reactor  # noqa: E402
from twisted.python.threadpool import ThreadPool  # noqa: E402
from twisted.web.server import Site  # noqa: E402
from twisted.web.wsgi import WSGIResource  # noqa: E402


def main():
    port, appdir, module, obj = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    sys.path.insert(0, appdir)
    app = getattr(importlib.import_module(module), obj)
    pool = ThreadPool(minthreads=5, maxthreads=20, name="wsgi")
    pool.start()
    reactor.addSystemEventTrigger("after", "shutdown", pool.stop)
    site = Site(WSGIResource(reactor, pool, app))
    site.noisy = False
    site.log = lambda request: None  # access log off, as for the other gateways
    reactor.listenTCP(port, site, interface="127.0.0.1", backlog=1024)
    reactor.run()


if __name__ == "__main__":
    main()
