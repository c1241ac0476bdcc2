"""WAMP client for Portico's cluster end-to-end test: autobahn-python (asyncio), JSON.

Usage: cluster_client.py MODE URL [ARG]

The realm is $WAMP_REALM, default realm1.

MODE
  subscribe  subscribe to ARG (default com.ex.topic), print {"ready": true}, then {"event": ARG0,
             "publisher": ID} per event
  callee     register ARG (default com.ex.add; adds) and com.ex.hang (never answers;
             prints {"hanging": true}, and {"interrupted": true} when the call is canceled),
             print {"ready": true, "session": ID}, then stay
  publish    publish ARG on com.ex.topic with acknowledge (the role discloses publishers); print
             {"published": true, "session": ID}
  publish_every  publish "ARG-N" (N = 1, 2, ...) on com.ex.topic every 0.1 s, until killed
  testament  add a testament publishing ARG on com.ex.topic (wamp.session.add_testament),
             print {"ready": true, "session": ID}, then stay
  call       call ARG (default com.ex.add) with (2, 3), retrying while the procedure is unknown (the nodes may not
             have heard of each other yet; at most 60 s); print {"result": R}
  hang       call com.ex.hang; print {"calling": true}, then {"error": URI} or {"result": R}
  retain     publish ARG on com.ex.retained with retain and acknowledge; print
             {"published": true, "session": ID}
  retained   subscribe to com.ex.retained with get_retained, then publish "end" there to itself
             (not retained); print {"event": X, "retained": B, "publisher": ID} for the first
             event: the retained one, or "end" when the node had none
  stay       print {"ready": true, "session": ID}, stay; when the router ends the session,
             print {"left": REASON, "message": MESSAGE} and exit
  meta       call the meta procedure ARG with the arguments in the JSON list ARG2; print
             {"result": R} or {"error": URI}
  meta_subscribe  subscribe to the meta topic ARG, print {"ready": true}, then {"meta": ARGS}
             per event
  revocable  register ARG (adds), print {"ready": true, "session": ID, "registration": RID};
             print {"unregistered": RID, "reason": R} when the router takes the registration
             away (UNREGISTERED with request 0: autobahn-python announces
             registration_revocation), then stay
  count      subscribe to com.ex.big, print {"ready": true}, then {"n": N} per event (its
             first argument, not its payload)
  flood      joined, stop the process ARG4 (SIGSTOP: the NATS server), print {"stopped": true};
             then with two sessions at once: one publishes ARG events ([N, payload of ARG2
             bytes]) on com.ex.big with acknowledge, each acknowledgement awaited; the other
             calls com.ex.local until the first is done; print {"acked": N, "calls": C} when
             both are done, or {"error": "timeout", ...} if not within ARG3 seconds
"""

import asyncio
import json
import os
import signal
import sys
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import message
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import JsonSerializer
from autobahn.wamp.types import ComponentConfig, PublishOptions, SubscribeOptions


def out(d):
    print(json.dumps(d), flush=True)


async def connect(url, left=None):
    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class Session(ApplicationSession):
        def onJoin(self, details):
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details):
            if not joined.done():
                joined.set_exception(ConnectionError("left: %s" % details.reason))
            elif left is not None and not left.done():
                left.set_result(details)
            self.disconnect()

    factory = WampWebSocketClientFactory(lambda: Session(ComponentConfig(os.environ.get("WAMP_REALM", "realm1"))), url=url,
                                         serializers=[JsonSerializer()])
    u = urlparse(url)
    await loop.create_connection(factory, u.hostname, u.port)
    return await asyncio.wait_for(joined, 30)


async def main(mode, url, arg):
    left = asyncio.get_running_loop().create_future()
    s = await connect(url, left)
    if mode == "subscribe":
        def on(x, details=None):
            out({"event": x, "publisher": details.publisher})
        await s.subscribe(on, arg or "com.ex.topic", SubscribeOptions(details=True))
        out({"ready": True})
        await asyncio.Future()
    elif mode == "callee":
        await s.register(lambda a, b: a + b, arg or "com.ex.add")

        async def hang():
            out({"hanging": True})
            try:
                await asyncio.Future()
            except asyncio.CancelledError:
                out({"interrupted": True})  # the router sent INTERRUPT
                raise
        await s.register(hang, "com.ex.hang")
        out({"ready": True, "session": s._session_id})
        await asyncio.Future()
    elif mode == "publish":
        await s.publish("com.ex.topic", arg, options=PublishOptions(acknowledge=True))
        out({"published": True, "session": s._session_id})
    elif mode == "publish_every":
        n = 0
        while True:
            n += 1
            s.publish("com.ex.topic", "%s-%d" % (arg, n))
            await asyncio.sleep(0.1)  # a steady stream, until the test has what it waits for
    elif mode == "testament":
        await s.call("wamp.session.add_testament", "com.ex.topic", [arg], {})
        out({"ready": True, "session": s._session_id})
        await asyncio.Future()
    elif mode == "call":
        loop = asyncio.get_running_loop()
        end = loop.time() + 60
        while True:
            try:
                out({"result": await s.call(arg or "com.ex.add", 2, 3)})
                return
            except ApplicationError as e:
                if e.error != "wamp.error.no_such_procedure" or loop.time() > end:
                    out({"error": e.error})
                    return
                await asyncio.sleep(0.1)  # poll: the nodes learn of each other's callees
    elif mode == "retain":
        await s.publish("com.ex.retained", arg, options=PublishOptions(acknowledge=True, retain=True))
        out({"published": True, "session": s._session_id})
    elif mode == "retained":
        first = asyncio.get_running_loop().create_future()

        def on(x, details=None):
            if not first.done():
                first.set_result({"event": x, "retained": bool(details.retained), "publisher": details.publisher})
        await s.subscribe(on, "com.ex.retained", SubscribeOptions(details=True, get_retained=True))
        await s.publish("com.ex.retained", "end", options=PublishOptions(acknowledge=True, exclude_me=False,
                                                                         eligible=[s._session_id]))
        out(await asyncio.wait_for(first, 30))
    elif mode == "stay":
        out({"ready": True, "session": s._session_id})
        details = await left
        out({"left": details.reason, "message": details.message})
    elif mode == "meta":
        try:
            out({"result": await s.call(arg, *json.loads(sys.argv[4]))})
        except ApplicationError as e:
            out({"error": e.error, "args": list(e.args)})
    elif mode == "meta_subscribe":
        await s.subscribe(lambda *a: out({"meta": list(a)}), arg)
        out({"ready": True})
        await asyncio.Future()
    elif mode == "revocable":
        received = s.onMessage

        def on_message(msg):
            if isinstance(msg, message.Unregistered) and msg.request == 0:
                out({"unregistered": msg.registration, "reason": msg.reason})
            received(msg)
        s.onMessage = on_message
        reg = await s.register(lambda a, b: a + b, arg)
        out({"ready": True, "session": s._session_id, "registration": reg.id})
        await asyncio.Future()
    elif mode == "count":
        await s.subscribe(lambda n, payload=None: out({"n": n}), "com.ex.big")
        out({"ready": True})
        await asyncio.Future()
    elif mode == "flood":
        count, size, within = int(arg), int(sys.argv[4]), float(sys.argv[5])
        os.kill(int(sys.argv[6]), signal.SIGSTOP)
        out({"stopped": True})
        payload = "x" * size
        state = {"acked": 0, "calls": 0}

        async def publish():
            for i in range(count):
                await s.publish("com.ex.big", i, payload, options=PublishOptions(acknowledge=True))
                state["acked"] += 1

        async def call(publishing):
            caller = await connect(url)  # its join is a meta event too
            while True:
                await caller.call("com.ex.local", 2, 3)
                state["calls"] += 1
                if publishing.done():
                    return

        async def both():
            p = asyncio.ensure_future(publish())
            await asyncio.gather(p, call(p))
        try:
            await asyncio.wait_for(both(), within)
        except asyncio.TimeoutError:
            out(dict(state, error="timeout"))
            return
        out(state)
    elif mode == "hang":
        out({"calling": True})
        try:
            out({"result": await s.call("com.ex.hang")})
        except ApplicationError as e:
            out({"error": e.error, "args": list(e.args)})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
