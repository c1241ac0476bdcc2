"""Cookie authentication client of Portico's end-to-end tests (autobahn-python, asyncio),
after crossbar-examples authentication/cookie/client.py.

Usage: client.py WS_URL AUTHID SECRET

Opens four sessions one after the other, each offering authmethods ["cookie", "wampcra"] and
sending back (Cookie header) the cookie the first handshake set, as a browser does:
  1. no cookie yet: WAMP-CRA, and the router sets the cookie;
  2. with the cookie: joins by it, no CHALLENGE;
  3. with the cookie again, then leaves with wamp.close.logout;
  4. with the same cookie: WAMP-CRA again.
Each calls com.example.add2(23, 666). Prints {"runs": [...]}, one object per session; the Go
test judges.
"""

import asyncio
import json
import sys
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import ComponentConfig

URL, AUTHID, SECRET = sys.argv[1:4]


async def session(factory, reason):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    out = {"sent_cookie": factory.headers.get("Cookie")}

    class Client(ApplicationSession):
        def onConnect(self):
            out["set_cookie"] = self.transport.http_headers.get("set-cookie")
            self.join("realm1", ["cookie", "wampcra"], AUTHID)

        def onChallenge(self, challenge):
            out["challenge"] = challenge.method
            key = SECRET
            if "salt" in challenge.extra:
                key = auth.derive_key(SECRET, challenge.extra["salt"], challenge.extra["iterations"],
                                      challenge.extra["keylen"])
            return auth.compute_wcs(key, challenge.extra["challenge"]).decode("ascii")

        async def onJoin(self, details):
            out["joined"] = {"authid": details.authid, "authrole": details.authrole,
                             "authmethod": details.authmethod, "authprovider": details.authprovider}
            try:
                out["add2"] = await self.call("com.example.add2", 23, 666)
            except ApplicationError as e:
                out["add2"] = e.error
            self.leave(reason)

        def onLeave(self, details):
            out["left"] = details.reason
            if not done.done():
                done.set_result(out)
            self.disconnect()

        def onDisconnect(self):
            if not done.done():
                done.set_result(out)

    factory._factory = lambda: Client(ComponentConfig("realm1"))
    u = urlparse(URL)
    transport, _ = await loop.create_connection(factory, u.hostname, u.port)
    try:
        await asyncio.wait_for(done, 30)
    finally:
        transport.close()
    if out.get("set_cookie"):
        # What a browser sends back: name=value, without the attributes.
        factory.headers["Cookie"] = out["set_cookie"].split(";")[0]
    return out


async def main():
    factory = WampWebSocketClientFactory(None, url=URL, headers={})
    runs = []
    for reason in ("wamp.close.normal", "wamp.close.normal", "wamp.close.logout", "wamp.close.normal"):
        runs.append(await session(factory, reason))
    return runs


print(json.dumps({"runs": asyncio.run(main())}, sort_keys=True), flush=True)
