# An asyncio component: registers com.aio.mul2.
from autobahn.asyncio.wamp import ApplicationSession


class Multiplier(ApplicationSession):
    async def onJoin(self, details):
        await self.register(lambda a, b: a * b, "com.aio.mul2")


class BadJoin(ApplicationSession):
    async def onJoin(self, details):
        raise KeyError("no queue in onJoin")


class Doubler(ApplicationSession):
    """Registers extra["proc"], which doubles its argument."""

    async def onJoin(self, details):
        await self.register(lambda x: x * 2, self.config.extra["proc"])
