"""Callee and subscriber behind Portico's HTTP bridge tests: autobahn-python (asyncio).

Usage: bridge_peer.py URL REALM SERIALIZER PREFIX

Registers under PREFIX (e.g. "com.example.py"):
  PREFIX.add2(a, b)        -> a + b
  PREFIX.echo(*args, **kw) -> the same args and kwargs (CallResult)
  PREFIX.nothing()         -> None
  PREFIX.fail(*args, **kw) -> raises ApplicationError("com.example.error.failed", *args, **kw)
  PREFIX.crash()           -> raises a plain ValueError (autobahn: wamp.error.runtime_error)
  PREFIX.wait()            -> prints {"waiting": true}, returns "released" once an event on
                              PREFIX.topic.release arrives
subscribes to PREFIX.topic (prefix match) and prints each event as one JSON line
{"event": {"topic": ..., "args": [...], "kwargs": {...}, "publisher": id or null}}, after
{"ready": true, "session": ID} once everything is registered. Stays until killed.
"""

import asyncio
import json
import sys
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import CallResult, ComponentConfig, SubscribeOptions

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}

url, realm, serializer, prefix = sys.argv[1:5]


def out(obj):
    print(json.dumps(obj), flush=True)


class Peer(ApplicationSession):
    async def onJoin(self, details):
        def echo(*args, **kwargs):
            return CallResult(*args, **kwargs)

        def fail(*args, **kwargs):
            raise ApplicationError("com.example.error.failed", *args, **kwargs)

        def crash():
            raise ValueError("boom")

        waiters = []

        async def wait():
            fut = asyncio.get_running_loop().create_future()
            waiters.append(fut)
            out({"waiting": True})
            return await fut

        await self.register(lambda a, b: a + b, prefix + ".add2")
        await self.register(echo, prefix + ".echo")
        await self.register(lambda: None, prefix + ".nothing")
        await self.register(fail, prefix + ".fail")
        await self.register(crash, prefix + ".crash")
        await self.register(wait, prefix + ".wait")

        def on_event(*args, **kwargs):
            details = kwargs.pop("details")
            if details.topic == prefix + ".topic.release":
                while waiters:
                    waiters.pop().set_result("released")
            out({"event": {"topic": details.topic, "args": list(args), "kwargs": kwargs,
                           "publisher": details.publisher}})

        await self.subscribe(on_event, prefix + ".topic", options=SubscribeOptions(match="prefix", details_arg="details"))
        out({"ready": True, "session": details.session})

    def onLeave(self, details):
        out({"left": details.reason})
        self.disconnect()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


def main():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    factory = WampWebSocketClientFactory(lambda: Peer(ComponentConfig(realm)), url=url,
                                         serializers=[SERIALIZERS[serializer]()])
    u = urlparse(url)
    loop.run_until_complete(loop.create_connection(factory, u.hostname, u.port))
    loop.run_forever()


if __name__ == "__main__":
    main()
