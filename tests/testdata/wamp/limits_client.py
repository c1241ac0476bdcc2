"""WAMP client for Portico's end-to-end tests of the router's bounds: autobahn-python (asyncio).

Usage: limits_client.py BASE_URL SERIALIZER JUNK_REALMS

BASE_URL is the node's ws://host:port; the node serves /ws (no auth, no realms configured,
max_subscriptions 3, max_uri_length 64) and /wsticket (ticket only, a short auth_timeout).

Prints one JSON object with what each scenario observed; the Go test judges:
  meta     an anonymous client calls wamp.session.kill_by_authrole("anonymous") and
           wamp.session.get on another session; then whether that session is still served
  junk     JUNK_REALMS sessions, one after the other, each on a made-up realm it then leaves;
           then whether "realm1" still admits a session
  limits   four SUBSCRIBEs on one session, a call of a 65-byte procedure URI, then whether the
           session is still served
  timeout  a ticket HELLO whose CHALLENGE is never answered: how the session ends
"""

import asyncio
import json
import sys
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}
STEP = 10  # seconds any one step may take


async def session(url, realm, ser, authmethods=None, authid=None, answer=True):
    """Open a session; returns (joined future, left future)."""
    loop = asyncio.get_running_loop()
    joined, left = loop.create_future(), loop.create_future()

    class Session(ApplicationSession):
        def onConnect(self):
            self.join(realm, authmethods=authmethods, authid=authid)

        def onChallenge(self, challenge):
            return loop.create_future()  # never answered

        def onJoin(self, details):
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details):
            if not left.done():
                left.set_result({"reason": details.reason, "message": details.message})
            if not joined.done():
                joined.set_exception(ConnectionError("left before joining: %s" % details.reason))
            self.disconnect()

        def onDisconnect(self):
            if not left.done():
                left.set_result({"reason": "disconnected"})
            if not joined.done():
                joined.set_exception(ConnectionError("disconnected before joining"))

    factory = WampWebSocketClientFactory(lambda: Session(ComponentConfig(realm)), url=url,
                                         serializers=[SERIALIZERS[ser]()])
    u = urlparse(url)
    await loop.create_connection(factory, u.hostname, u.port)
    return joined, left


async def join(url, realm, ser):
    joined, left = await session(url, realm, ser)
    s = await asyncio.wait_for(joined, STEP)
    s.left_future = left
    return s


async def leave(*sessions):
    """Leave and wait for the router's GOODBYE, so that the next scenario finds them gone."""
    for s in sessions:
        s.leave()
    for s in sessions:
        await asyncio.wait_for(s.left_future, STEP)


def error_of(e):
    if isinstance(e, ApplicationError):
        return {"error": e.error, "args": list(e.args), "kwargs": e.kwargs}
    return {"error": "%s: %s" % (type(e).__name__, e)}


async def s_meta(ws, ser):
    a = await join(ws, "realm1", ser)
    b = await join(ws, "realm1", ser)
    out = {}
    try:
        out["kill"] = await b.call("wamp.session.kill_by_authrole", "anonymous")
    except ApplicationError as e:
        out["kill"] = error_of(e)
    got = await b.call("wamp.session.get", a._session_id)
    out["transport_keys"] = sorted(got.get("transport", {}).keys())
    out["victim_served"] = await a.call("wamp.session.count")
    await leave(a, b)
    return out


async def s_junk(ws, ser, n):
    joined = 0
    for i in range(n):
        await leave(await join(ws, "junk.%d" % i, ser))
        joined += 1
    s = await join(ws, "realm1", ser)
    out = {"junk_joined": joined, "realm1": await s.call("wamp.session.count")}
    await leave(s)
    return out


async def s_limits(ws, ser):
    s = await join(ws, "realm1", ser)
    out = {"subscribed": 0}
    for topic in ["com.example.a", "com.example.b", "com.example.c", "com.example.d"]:
        try:
            await s.subscribe(lambda *a: None, topic)
            out["subscribed"] += 1
        except ApplicationError as e:
            out["refused"] = error_of(e)
    try:
        await s.call("com.example." + "x" * 53)  # 65 bytes
    except ApplicationError as e:
        out["long_uri"] = error_of(e)["error"]
    out["still_served"] = (await s.call("wamp.session.get", s._session_id))["session"] == s._session_id
    await leave(s)
    return out


async def s_timeout(wsticket, ser):
    joined, left = await session(wsticket, "realm1", ser, authmethods=["ticket"], authid="backend1")
    return await asyncio.wait_for(left, STEP)


async def run(base, ser, junk):
    ws, wsticket = base + "/ws", base + "/wsticket"
    out = {}
    for name, coro in [("meta", lambda: s_meta(ws, ser)), ("junk", lambda: s_junk(ws, ser, junk)),
                       ("limits", lambda: s_limits(ws, ser)), ("timeout", lambda: s_timeout(wsticket, ser))]:
        try:
            out[name] = await asyncio.wait_for(coro(), STEP * 10)
        except Exception as e:  # recorded, so that the other scenarios still run
            out[name] = error_of(e)
    await asyncio.sleep(0)  # let the GOODBYEs go out
    return out


def main():
    base, ser, junk = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(run(base, ser, junk)), sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
