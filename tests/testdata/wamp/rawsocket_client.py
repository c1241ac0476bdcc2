"""WAMP-over-RawSocket client for Portico's end-to-end tests: autobahn-python, Twisted flavour
(Debian's autobahn 22.7 asyncio RawSocket client fails on WELCOME, its Twisted one works).

Usage: rawsocket_client.py ADDR REALM SERIALIZER

ADDR is tcp:HOST:PORT or unix:PATH. Two sessions: one registers and subscribes, the other
calls and publishes, a burst of EVENTs among it. Prints one JSON object of what was observed;
the Go test judges it.
"""

import json
import sys

from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint, UNIXClientEndpoint

from autobahn.twisted.rawsocket import WampRawSocketClientFactory
from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer, UBJSONSerializer
from autobahn.wamp.types import ComponentConfig, PublishOptions

SERIALIZERS = {
    "json": JsonSerializer,
    "msgpack": MsgPackSerializer,
    "cbor": CBORSerializer,
    "ubjson": UBJSONSerializer,  # python3-ubjson (py-ubjson)
}
STEP = 10  # seconds any one step may take
BURST = 300  # EVENTs published back to back


def burst_payload(i):
    # Every tenth one over 4 KiB (the router writes such a frame's header and payload apart).
    return ("%d:" % i) + "y" * (20000 if i % 10 == 0 else i)


def endpoint(reactor, addr):
    kind, _, rest = addr.partition(":")
    if kind == "unix":
        return UNIXClientEndpoint(reactor, rest, timeout=STEP)
    host, _, port = rest.rpartition(":")
    return TCP4ClientEndpoint(reactor, host, int(port), timeout=STEP)


@defer.inlineCallbacks
def connect(reactor, addr, realm, ser):
    joined = defer.Deferred()

    class Session(ApplicationSession):
        def onJoin(self, details):
            if not joined.called:
                joined.callback(self)

        def onLeave(self, details):
            if not joined.called:
                joined.errback(ConnectionError("left before joining: %s %s" % (details.reason, details.message)))
            self.disconnect()

        def onDisconnect(self):
            if not joined.called:
                joined.errback(ConnectionError("disconnected before joining"))

    factory = WampRawSocketClientFactory(lambda: Session(ComponentConfig(realm)), serializer=SERIALIZERS[ser]())
    yield endpoint(reactor, addr).connect(factory)
    session = yield joined.addTimeout(STEP, reactor)
    return session


@defer.inlineCallbacks
def main(reactor, addr, realm, ser):
    out = {}
    a = yield connect(reactor, addr, realm, ser)
    b = yield connect(reactor, addr, realm, ser)
    events = []
    got = defer.Deferred()

    def on_event(*args, **kwargs):
        events.append({"args": list(args), "kwargs": kwargs})
        if len(events) == 2 and not got.called:
            got.callback(None)

    yield a.register(lambda x, y: x + y, "com.example.rs.add2")
    yield a.register(lambda b: b, "com.example.rs.echo")
    yield a.subscribe(on_event, "com.example.rs.topic")
    out["add2"] = yield b.call("com.example.rs.add2", 20, 22)
    echoed = yield b.call("com.example.rs.echo", bytes([0, 1, 254, 255]))
    out["echo_bytes"] = list(echoed)
    big = "x" * 60000
    out["echo_big"] = len((yield b.call("com.example.rs.echo", big)))
    try:
        yield b.call("com.example.rs.nothing")
        out["no_such_procedure"] = "no error"
    except ApplicationError as e:
        out["no_such_procedure"] = e.error
    yield b.publish("com.example.rs.topic", "hello", 1, options=PublishOptions(acknowledge=True))
    yield b.publish("com.example.rs.topic", key="v", options=PublishOptions(acknowledge=True))
    yield got.addTimeout(STEP, reactor)
    out["events"] = events
    out["transport"] = (yield b.call("wamp.session.get", b._session_id)).get("transport", {}).get("type")

    # A burst: EVENTs queued for a go out several to a write; each must arrive whole, in order.
    burst = []
    all_in = defer.Deferred()

    def on_burst(i, s):
        burst.append((i, s))
        if len(burst) == BURST and not all_in.called:
            all_in.callback(None)

    yield a.subscribe(on_burst, "com.example.rs.burst")
    for i in range(BURST):
        b.publish("com.example.rs.burst", i, burst_payload(i))
    yield b.publish("com.example.rs.burst.end", options=PublishOptions(acknowledge=True))
    yield all_in.addTimeout(STEP, reactor)
    out["burst"] = {
        "count": len(burst),
        "in_order": [i for i, _ in burst] == list(range(BURST)),
        "intact": all(s == burst_payload(i) for i, s in burst),
    }
    yield a.leave()
    yield b.leave()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    task.react(main, sys.argv[1:4])
