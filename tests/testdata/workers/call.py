# Calls each procedure named on the command line with the JSON args that follow it and
# prints one JSON object of the results: call.py URL REALM PROC ARGS [PROC ARGS ...].
import asyncio, json, sys
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory

url, realm, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
out = {}


class Caller(ApplicationSession):
    async def onJoin(self, details):
        try:
            for i in range(0, len(rest), 2):
                try:
                    out[rest[i]] = await self.call(rest[i], *json.loads(rest[i + 1]))
                except Exception as e:
                    out[rest[i]] = "error: %s" % getattr(e, "error", e)
        finally:
            self.leave()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


from autobahn.wamp.types import ComponentConfig
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
f = WampWebSocketClientFactory(lambda: Caller(ComponentConfig(realm=realm)), url=url)
host, port = url.split("//")[1].split("/")[0].split(":")
loop.run_until_complete(asyncio.wait_for(loop.create_connection(f, host, int(port)), 30))
loop.call_later(60, loop.stop)
loop.run_forever()
print(json.dumps(out))
