"""autobahn-python client of Portico's dynamic authorizer tests (asyncio flavour).

Usage: client.py WS_URL AUTHID TICKET [PROCEDURE]

Joins realm1 with WAMP-Ticket as AUTHID. With PROCEDURE, calls it and prints {"result": ...}
or {"error": URI}. Else it registers test.ok.echo and test.cached.echo, calls each twice,
calls test.denied.x and test.raise.x, and asks the authorizer (test.authz.asked) how often it
was asked about each call. Prints one JSON object of what it observed; the Go test judges.
"""

import asyncio
import json
import sys
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import ComponentConfig

URL, AUTHID, TICKET = sys.argv[1:4]
PROC = sys.argv[4] if len(sys.argv) > 4 else None


async def scenario(s, out):
    await s.register(lambda x: x, "test.ok.echo")
    await s.register(lambda x: x, "test.cached.echo")
    for proc in ("test.ok.echo", "test.cached.echo"):
        out[proc] = [await s.call(proc, i) for i in range(2)]
    for proc in ("test.denied.x", "test.raise.x"):
        try:
            await s.call(proc)
            out[proc] = "called"
        except ApplicationError as e:
            out[proc] = {"error": e.error, "message": e.args[0] if e.args else None}
    out["asked"] = {p: await s.call("test.authz.asked", p, "call")
                    for p in ("test.ok.echo", "test.cached.echo")}


async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    out = {}

    class Client(ApplicationSession):
        def onConnect(self):
            self.join("realm1", ["ticket"], AUTHID)

        def onChallenge(self, challenge):
            return TICKET

        async def onJoin(self, details):
            out["authrole"] = details.authrole
            try:
                if PROC:
                    out["result"] = await self.call(PROC)
                else:
                    await scenario(self, out)
            except ApplicationError as e:
                out["error"] = e.error
                out["message"] = e.args[0] if e.args else None
            self.leave()

        def onLeave(self, details):
            if not done.done():
                out.setdefault("left", details.reason)
                done.set_result(out)
            self.disconnect()

        def onDisconnect(self):
            if not done.done():
                done.set_result(out)

    factory = WampWebSocketClientFactory(lambda: Client(ComponentConfig("realm1")), url=URL)
    u = urlparse(URL)
    transport, _ = await loop.create_connection(factory, u.hostname, u.port)
    try:
        return await asyncio.wait_for(done, 60)
    finally:
        transport.close()


print(json.dumps(asyncio.run(main()), sort_keys=True), flush=True)
