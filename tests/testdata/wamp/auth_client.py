"""WAMP authentication client for Portico's end-to-end tests: autobahn-python (asyncio flavour).

Usage: auth_client.py BASE_URL SERIALIZER ATTEMPTS_JSON

ATTEMPTS_JSON is a list of objects {"name", "path", "realm", "method", "authid", "secret"}:
each attempt opens a session at BASE_URL + path, joins realm offering authmethods [method]
("" offers none) as authid, and answers a CHALLENGE as autobahn's own clients do: the ticket
itself, or for wampcra the signature auth.compute_wcs(key, challenge), where key is secret or,
when the CHALLENGE carries a salt, auth.derive_key(secret, salt, iterations, keylen).

Prints one JSON object: by attempt name, {"joined": WELCOME details, "register": "ok" or the
error URI, "challenge": what the CHALLENGE carried} or {"aborted": {"reason", "message"}}. The
Go test judges; this script does not.
"""

import asyncio
import json
import sys
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}
STEP = 10  # seconds any one attempt may take


async def attempt(base, ser, a):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    seen = {}

    class Session(ApplicationSession):
        def onConnect(self):
            methods = [a["method"]] if a["method"] else None
            self.join(a["realm"], authmethods=methods, authid=a["authid"] or None)

        def onChallenge(self, challenge):
            seen["method"] = challenge.method
            seen["salted"] = "salt" in challenge.extra
            if challenge.method == "ticket":
                return a["secret"]
            if challenge.method == "wampcra":
                key = a["secret"]
                if "salt" in challenge.extra:
                    key = auth.derive_key(a["secret"], challenge.extra["salt"],
                                          challenge.extra.get("iterations", 1000),
                                          challenge.extra.get("keylen", 32))
                return auth.compute_wcs(key, challenge.extra["challenge"]).decode("ascii")
            raise Exception("unexpected challenge %s" % challenge.method)

        async def onJoin(self, details):
            out = {"joined": {"realm": details.realm, "authid": details.authid,
                              "authrole": details.authrole, "authmethod": details.authmethod,
                              "authprovider": details.authprovider},
                   "challenge": seen}
            try:
                await self.register(lambda: None, "com.example.auth." + a["name"])
                out["register"] = "ok"
            except ApplicationError as e:
                out["register"] = e.error
            if not done.done():
                done.set_result(out)
            self.leave()

        def onLeave(self, details):
            if not done.done():
                done.set_result({"aborted": {"reason": details.reason, "message": details.message},
                                 "challenge": seen})
            self.disconnect()

        def onDisconnect(self):
            if not done.done():
                done.set_result({"aborted": {"reason": "disconnected"}, "challenge": seen})

    url = base + a["path"]
    factory = WampWebSocketClientFactory(lambda: Session(ComponentConfig(a["realm"])), url=url,
                                         serializers=[SERIALIZERS[ser]()])
    u = urlparse(url)
    transport, _ = await loop.create_connection(factory, u.hostname, u.port)
    try:
        return await asyncio.wait_for(done, STEP)
    finally:
        transport.close()


async def run(base, ser, attempts):
    out = {}
    for a in attempts:
        try:
            out[a["name"]] = await attempt(base, ser, a)
        except Exception as e:  # recorded, so that the other attempts still run
            out[a["name"]] = {"error": "%s: %s" % (type(e).__name__, e)}
    return out


def main():
    base, ser, attempts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    print(json.dumps(asyncio.run(run(base, ser, attempts)), sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
