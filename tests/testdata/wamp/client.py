"""WAMP interop client for Portico's end-to-end tests: autobahn-python (asyncio flavour).

Usage: client.py MODE URL REALM SERIALIZER [TOPIC]

MODE
  interop  run every scenario below with several sessions and print one JSON object of what
           each scenario observed (the Go test asserts on it; this script judges nothing)
  basic    one call and one publish between two sessions (the seed example's check)
  await    subscribe to TOPIC (the argument after SERIALIZER), print {"ready": true}, then
           print {"event": FIRST_ARG} for the first event and leave
  stay     print {"ready": true}, then {"left": REASON} when the router ends the session

Each scenario has its own time bound; a failure is recorded as {"error": "..."} for that
scenario and the others still run.
"""

import asyncio
import json
import sys
import traceback
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer, UBJSONSerializer
from autobahn.wamp.types import (CallOptions, ComponentConfig, PublishOptions,
                                 RegisterOptions, SubscribeOptions)

SERIALIZERS = {
    "json": JsonSerializer,
    "msgpack": MsgPackSerializer,
    "cbor": CBORSerializer,
    "ubjson": UBJSONSerializer,  # python3-ubjson (py-ubjson)
}
STEP = 10  # seconds any one scenario may take


async def connect(url, realm, serializer):
    """Open a session and wait for WELCOME."""
    loop = asyncio.get_running_loop()
    joined = loop.create_future()
    left = loop.create_future()

    class Session(ApplicationSession):
        def onJoin(self, details):
            self.left = left
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details):
            if not left.done():
                left.set_result(details.reason)
            if not joined.done():
                joined.set_exception(ConnectionError("left before joining: %s %s" % (details.reason, details.message)))
            self.disconnect()

        def onDisconnect(self):
            if not joined.done():
                joined.set_exception(ConnectionError("disconnected before joining"))

    factory = WampWebSocketClientFactory(lambda: Session(ComponentConfig(realm)), url=url,
                                         serializers=[SERIALIZERS[serializer]()])
    u = urlparse(url)
    await loop.create_connection(factory, u.hostname, u.port)
    return await asyncio.wait_for(joined, STEP)


def error_of(e):
    if isinstance(e, ApplicationError):
        return {"error": e.error, "args": list(e.args)}
    return {"error": "%s: %s" % (type(e).__name__, e)}


async def waiter(n):
    """A list that completes a future once it holds n items."""
    fut = asyncio.get_running_loop().create_future()
    got = []

    def add(x):
        got.append(x)
        if len(got) >= n and not fut.done():
            fut.set_result(got)
    return got, fut, add


async def settle(sessions):
    """A round trip through the router for each session: anything sent before has been routed."""
    for s in sessions:
        await s.call("wamp.session.count")


# --- scenarios -----------------------------------------------------------------------------

async def s_rpc(a, b):
    reg = await a.register(lambda x, y: x + y, "com.example.add2")
    await a.register(lambda v: v, "com.example.echo")

    def oops():
        raise ApplicationError("com.example.oops", "bad thing", 7)
    await a.register(oops, "com.example.oops")
    out = {"add2": await b.call("com.example.add2", 2, 3)}
    out["echo_bytes"] = list(await b.call("com.example.echo", b"\x00\x01\xfe\xff"))
    out["echo_kw"] = await b.call("com.example.echo", {"nested": [1, "two", None, True, 2.5]})
    out["echo_bigint"] = await b.call("com.example.echo", 2**53)
    try:
        await b.call("com.example.oops")
    except ApplicationError as e:
        out["oops"] = error_of(e)
    try:
        await b.call("com.example.nothing")
    except ApplicationError as e:
        out["no_such_procedure"] = e.error
    await reg.unregister()
    try:
        await b.call("com.example.add2", 1, 1)
    except ApplicationError as e:
        out["after_unregister"] = e.error
    return out


async def s_pubsub(a, b):
    got, fut, add = await waiter(2)
    await b.subscribe(lambda *args, **kw: add({"args": list(args), "kwargs": kw}), "com.example.topic1")
    self_got = []
    await a.subscribe(lambda *args, **kw: self_got.append(args), "com.example.topic1")
    pub = await a.publish("com.example.topic1", "hello", 1, options=PublishOptions(acknowledge=True))
    await a.publish("com.example.topic1", key="v", options=PublishOptions(acknowledge=True, exclude_me=False))
    events = await asyncio.wait_for(fut, STEP)
    await settle([a, b])
    return {"events": events, "acknowledged": pub.id is not None,
            # exclude_me defaults to true: the publisher gets only the second event
            "publisher_got": len(self_got)}


async def s_patterns(a, b):
    pgot, pfut, padd = await waiter(2)
    wgot, wfut, wadd = await waiter(1)
    await b.subscribe(lambda *args, details=None: padd({"topic": details.topic, "args": list(args)}),
                      "com.example.pfx", options=SubscribeOptions(match="prefix", details=True))
    await b.subscribe(lambda *args, details=None: wadd({"topic": details.topic, "args": list(args)}),
                      "com.example..temp", options=SubscribeOptions(match="wildcard", details=True))
    for t, v in [("com.example.pfx.a", 1), ("com.example.pfx.a.b", 2), ("com.example.room1.temp", 3)]:
        await a.publish(t, v, options=PublishOptions(acknowledge=True))
    prefix = await asyncio.wait_for(pfut, STEP)
    wildcard = await asyncio.wait_for(wfut, STEP)
    # A pattern registration: the callee sees the concrete procedure.
    await b.register(lambda details=None: details.procedure, "com.example.rpcpfx",
                     options=RegisterOptions(match="prefix", details=True))
    proc = await a.call("com.example.rpcpfx.deep.name")
    return {"prefix": sorted(prefix, key=lambda e: e["args"]), "wildcard": wildcard, "procedure": proc}


async def s_lists(a, b, c):
    events = {"b": [], "c": []}
    await b.subscribe(lambda v: events["b"].append(v), "com.example.lists")
    await c.subscribe(lambda v: events["c"].append(v), "com.example.lists")
    await a.publish("com.example.lists", "exclude_b", options=PublishOptions(acknowledge=True, exclude=[b._session_id]))
    await a.publish("com.example.lists", "eligible_b", options=PublishOptions(acknowledge=True, eligible=[b._session_id]))
    await a.publish("com.example.lists", "all", options=PublishOptions(acknowledge=True))
    # Events are in publication order per subscriber: "all" last means the others were routed.
    for _ in range(STEP * 100):
        if "all" in events["b"] and "all" in events["c"]:
            break
        await asyncio.sleep(0.01)
    return events


async def s_shared(a, b, c):
    await a.register(lambda: "a", "com.example.shared", options=RegisterOptions(invoke="roundrobin"))
    await b.register(lambda: "b", "com.example.shared", options=RegisterOptions(invoke="roundrobin"))
    seq = [await c.call("com.example.shared") for _ in range(4)]
    try:
        await c.register(lambda: "c", "com.example.shared", options=RegisterOptions(invoke="single"))
        mismatch = None
    except ApplicationError as e:
        mismatch = e.error
    return {"sequence": seq, "mismatched_policy": mismatch}


async def s_progressive(a, b):
    async def counted(n, details=None):
        for i in range(1, n):
            if details.progress:
                details.progress(i)
        return n
    await a.register(counted, "com.example.progress", options=RegisterOptions(details=True))
    progress = []
    result = await b.call("com.example.progress", 4, options=CallOptions(on_progress=lambda i: progress.append(i)))
    return {"progress": progress, "result": result}


async def s_cancel(a, b):
    started = asyncio.get_running_loop().create_future()
    interrupted = asyncio.get_running_loop().create_future()

    async def slow():
        started.set_result(True)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            interrupted.set_result(True)
            raise
        return "finished"
    await a.register(slow, "com.example.slow")
    call = asyncio.ensure_future(b.call("com.example.slow"))
    await asyncio.wait_for(started, STEP)
    call.cancel()
    out = {}
    try:
        await call
        out["caller"] = "returned"
    except asyncio.CancelledError:
        out["caller"] = "cancelled"
    except Exception as e:
        out["caller"] = error_of(e)
    try:
        out["callee_interrupted"] = await asyncio.wait_for(interrupted, STEP)
    except asyncio.TimeoutError:
        out["callee_interrupted"] = False
    return out


async def s_timeout(a, b):
    async def sleepy():
        await asyncio.sleep(5)
        return "late"
    await a.register(sleepy, "com.example.sleepy")
    try:
        r = await b.call("com.example.sleepy", options=CallOptions(timeout=200))  # ms on the wire (spec "Call Timeouts")
        return {"result": r}
    except ApplicationError as e:
        return error_of(e)


async def s_meta(a, b):
    reg = await a.register(lambda: None, "com.example.meta.proc")
    sub = await b.subscribe(lambda: None, "com.example.meta.topic")
    out = {
        "session_count": await a.call("wamp.session.count"),
        "session_list": sorted(await a.call("wamp.session.list")),
        "sessions": sorted([a._session_id, b._session_id]),
        "registration_lookup_matches": (await b.call("wamp.registration.lookup", "com.example.meta.proc")) == reg.id,
        "registration_lookup_missing": await b.call("wamp.registration.lookup", "com.example.meta.none"),
        "callees": await b.call("wamp.registration.list_callees", reg.id),
        "callee": a._session_id,
        "subscription_lookup_matches": (await a.call("wamp.subscription.lookup", "com.example.meta.topic")) == sub.id,
        "subscribers": await a.call("wamp.subscription.list_subscribers", sub.id),
        "subscriber": b._session_id,
    }
    got = await a.call("wamp.session.get", b._session_id)
    out["session_get_id_matches"] = got.get("session") == b._session_id
    return out


SCENARIOS = [
    ("rpc", s_rpc, 2), ("pubsub", s_pubsub, 2), ("patterns", s_patterns, 2), ("lists", s_lists, 3),
    ("shared", s_shared, 3), ("progressive", s_progressive, 2), ("cancel", s_cancel, 2),
    ("timeout", s_timeout, 2), ("meta", s_meta, 2),
]


async def interop(url, realm, ser):
    out = {}
    for name, fn, n in SCENARIOS:
        sessions = []
        try:
            # A realm per scenario keeps counts and lookups exact.
            r = "%s.%s" % (realm, name)
            for _ in range(n):
                sessions.append(await connect(url, r, ser))
            out[name] = await asyncio.wait_for(fn(*sessions), STEP * 2)
        except Exception as e:
            out[name] = error_of(e)
            out[name]["trace"] = traceback.format_exc(limit=3)
        for s in sessions:
            try:
                s.leave()
            except Exception:
                pass
    await asyncio.sleep(0)  # let the GOODBYEs go out
    return out


async def basic(url, realm, ser):
    a = await connect(url, realm, ser)
    b = await connect(url, realm, ser)
    got, fut, add = await waiter(1)
    await a.register(lambda x, y: x + y, "com.example.basic.add2")
    await a.subscribe(lambda v: add(v), "com.example.basic.topic")
    out = {"call": await b.call("com.example.basic.add2", 20, 22)}
    await b.publish("com.example.basic.topic", "hi " + ser, options=PublishOptions(acknowledge=True))
    out["event"] = (await asyncio.wait_for(fut, STEP))[0]
    a.leave()
    b.leave()
    return out


async def await_event(url, realm, ser, topic):
    a = await connect(url, realm, ser)
    got, fut, add = await waiter(1)
    await a.subscribe(lambda v: add(v), topic)
    print(json.dumps({"ready": True}), flush=True)
    v = (await asyncio.wait_for(fut, 120))[0]
    a.leave()
    return {"event": v}


async def stay(url, realm, ser):
    a = await connect(url, realm, ser)
    print(json.dumps({"ready": True}), flush=True)
    return {"left": await asyncio.wait_for(a.left, 120)}


def main():
    mode, url, realm, ser = sys.argv[1:5]
    fn = {"interop": interop, "basic": basic, "await": await_event, "stay": stay}[mode]
    out = asyncio.run(asyncio.wait_for(fn(url, realm, ser, *sys.argv[5:]), 300))
    if out is not None:
        print(json.dumps(out, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
