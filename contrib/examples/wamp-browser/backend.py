"""The Python side of the example: a WAMP component (autobahn-python, asyncio) that the page
in web/ calls and talks to through Portico's router.

    python3 backend.py [ws://127.0.0.1:8080/ws]
"""

import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession


class Backend(ApplicationSession):
    async def onJoin(self, details):
        await self.register(lambda x, y: x + y, "com.example.add2")
        await self.register(lambda: "python", "com.example.whoami")
        # Every greeting published to com.example.hello comes back on com.example.echoed.
        await self.subscribe(lambda msg: self.publish("com.example.echoed", msg), "com.example.hello")
        print("backend ready", flush=True)


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080/ws"
    ApplicationRunner(url, "realm1").run(Backend)
