# A Twisted component: registers com.tx.add2 and says which authrole it joined with.
from autobahn.twisted.wamp import ApplicationSession
from twisted.internet.defer import inlineCallbacks


class Adder(ApplicationSession):
    @inlineCallbacks
    def onJoin(self, details):
        extra = self.config.extra or {}
        yield self.register(lambda a, b: a + b + extra.get("bias", 0), extra.get("proc", "com.tx.add2"))
        yield self.register(lambda: details.authrole, extra.get("proc", "com.tx.add2") + ".role")


class BadJoin(ApplicationSession):
    def onJoin(self, details):
        raise RuntimeError("no database in onJoin")


class BadInit(ApplicationSession):
    def __init__(self, config=None):
        raise ValueError("bad extra in constructor")


JOINS = [0]


class Flaky(ApplicationSession):
    """Counts its joins; com.flaky.die makes it leave as failed (restart-on-failed)."""

    @inlineCallbacks
    def onJoin(self, details):
        from twisted.internet import reactor
        JOINS[0] += 1
        yield self.register(lambda: JOINS[0], "com.flaky.joins")

        def die():
            reactor.callLater(0, self.leave, "com.example.error.crashed", "asked to")
            return "dying"
        yield self.register(die, "com.flaky.die")


def on_join(session, details):
    """A function component's join callback."""
    return session.register(lambda: "fn:" + details.authrole, "com.fn.hello")


def on_leave(session, details):
    pass
