"""Advanced-profile client for Portico's end-to-end tests: autobahn-python (asyncio).

Usage: advanced_client.py URL REALM SERIALIZER

Runs the scenarios below against REALM, which the test configures with a memory store
(event-history on com.adv.hist.counter with limit 3, call-queue on com.adv.queued with limit
10) and an anonymous role that may do everything, and prints one JSON object of what each
scenario observed (the Go test asserts on it; this script judges nothing).
"""

import asyncio
import json
import sys
import traceback

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.interfaces import IPayloadCodec
from autobahn.wamp.types import EncodedPayload, PublishOptions, RegisterOptions

from client import STEP, connect, error_of, settle, waiter


class MqttJsonCodec(IPayloadCodec):
    """Payload passthru (Autobahn's payload transparency): args and kwargs travel as one
    opaque JSON blob under enc_algo "mqtt", which the router must pass on untouched, with its
    enc_* details."""

    def encode(self, is_originating, uri, args=None, kwargs=None):
        blob = json.dumps({"args": list(args or []), "kwargs": kwargs or {}}).encode()
        return EncodedPayload(blob, "mqtt", "json")

    def decode(self, is_originating, uri, encoded_payload):
        d = json.loads(encoded_payload.payload)
        return uri, d["args"], d["kwargs"]


async def s_passthru(a, b):
    a.set_payload_codec(MqttJsonCodec())
    b.set_payload_codec(MqttJsonCodec())
    got, fut, add = await waiter(1)

    def on_event(*args, details=None, **kwargs):
        add({"args": list(args), "kwargs": kwargs, "enc_algo": details.enc_algo})
    from autobahn.wamp.types import SubscribeOptions
    await b.subscribe(on_event, "com.adv.ppt.topic", options=SubscribeOptions(details_arg="details"))
    await b.register(lambda *args: list(reversed(args)), "com.adv.ppt.reverse")

    def fail():
        raise ApplicationError("com.adv.ppt.failed", "opaque error")
    await b.register(fail, "com.adv.ppt.fail")
    await a.publish("com.adv.ppt.topic", "hello", 1, k="v", options=PublishOptions(acknowledge=True))
    out = {"event": (await asyncio.wait_for(fut, STEP))[0]}
    out["call"] = await a.call("com.adv.ppt.reverse", 1, 2, 3)
    try:
        await a.call("com.adv.ppt.fail")
    except ApplicationError as e:
        out["error"] = error_of(e)
    return out


async def s_concurrency(a, b):
    release = asyncio.get_running_loop().create_future()
    started, started_fut, start = await waiter(1)

    async def slow(n):
        start(n)
        await release
        return n
    await b.register(slow, "com.adv.slow", options=RegisterOptions(concurrency=1))
    first = asyncio.ensure_future(a.call("com.adv.slow", 1))
    await asyncio.wait_for(started_fut, STEP)
    out = {}
    try:
        await a.call("com.adv.slow", 2)
        out["second"] = "answered"
    except ApplicationError as e:
        out["second"] = e.error
    release.set_result(None)
    out["first"] = await asyncio.wait_for(first, STEP)
    out["after"] = await a.call("com.adv.slow", 3)
    return out


async def s_queued(a, b):
    release = asyncio.get_running_loop().create_future()
    order = []

    async def compute(n):
        order.append(n)
        await release
        return n * 10
    await b.register(compute, "com.adv.queued", options=RegisterOptions(concurrency=1))
    calls = [asyncio.ensure_future(a.call("com.adv.queued", n)) for n in (1, 2, 3)]
    await settle([a, b])
    out = {"started_before_release": list(order)}
    release.set_result(None)
    out["results"] = await asyncio.wait_for(asyncio.gather(*calls), STEP)
    out["order"] = order
    return out


async def s_force(a, b, c):
    await b.register(lambda: "b", "com.adv.force")
    out = {}
    try:
        await c.register(lambda: "c", "com.adv.force")
        out["plain"] = "registered"
    except ApplicationError as e:
        out["plain"] = e.error
    await c.register(lambda: "c", "com.adv.force", options=RegisterOptions(force_reregister=True))
    out["served_by"] = await a.call("com.adv.force")
    return out


async def s_remove_callee(a, b):
    reg = await b.register(lambda: "b", "com.adv.removed")
    await a.call("wamp.registration.remove_callee", reg.id, b._session_id, reason="com.adv.gone")
    out = {}
    try:
        await a.call("com.adv.removed")
        out["after"] = "answered"
    except ApplicationError as e:
        out["after"] = e.error
    try:
        await a.call("wamp.registration.remove_callee", reg.id, b._session_id)
    except ApplicationError as e:
        out["again"] = e.error
    return out


async def s_history(a, b):
    for n in range(5):
        await a.publish("com.adv.hist.counter", n, options=PublishOptions(acknowledge=True))
    sub = await b.subscribe(lambda *args: None, "com.adv.hist.counter")
    events = await b.call("wamp.subscription.get_events", sub.id, 10)
    out = {"args": [e["args"] for e in events], "topics": sorted({e["topic"] for e in events})}
    other = await b.subscribe(lambda *args: None, "com.adv.hist.other")
    try:
        await b.call("wamp.subscription.get_events", other.id)
    except ApplicationError as e:
        out["without_history"] = e.error
    return out


SCENARIOS = [
    ("passthru", s_passthru, 2),
    ("concurrency", s_concurrency, 2),
    ("queued", s_queued, 2),
    ("force", s_force, 3),
    ("remove_callee", s_remove_callee, 2),
    ("history", s_history, 2),
]


async def run(url, realm, ser):
    out = {}
    for name, fn, n in SCENARIOS:
        sessions = []
        try:
            for _ in range(n):
                sessions.append(await connect(url, realm, ser))
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


def main():
    url, realm, ser = sys.argv[1:4]
    out = asyncio.run(asyncio.wait_for(run(url, realm, ser), 300))
    print(json.dumps(out, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
