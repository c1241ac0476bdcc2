"""WebSocket client (autobahn-python, asyncio) for a websocket-testee: runs one scenario
against the echo server at URL and prints what it saw as one JSON object.

usage: client.py URL echo|invalid_utf8|too_big|ping
"""
import asyncio
import json
import sys

from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateResponse, \
    PerMessageDeflateResponseAccept

url, scenario = sys.argv[1], sys.argv[2]
result = {}


class Client(WebSocketClientProtocol):
    def onOpen(self):
        self.sent, self.got = [], []
        result["extensions"] = [str(e.EXTENSION_NAME) for e in self.websocket_extensions_in_use]
        if scenario == "echo":
            big = ("0123456789abcdef" * 65536 * 2).encode()  # 2 MiB: over the WAMP default limit
            self.sent = [
                ("héllo wörld".encode(), False, None),
                (bytes(range(256)), True, None),
                (big, False, None),
                ("fragmented ✓ ".encode() * 300, False, 100),  # 100-byte frames, cut inside characters
                (b"", False, None),
            ]
            for payload, binary, frag in self.sent:
                if frag:
                    self.sendMessage(payload, isBinary=binary, fragmentSize=frag)
                else:
                    self.sendMessage(payload, isBinary=binary)
        elif scenario == "invalid_utf8":
            self.sendMessage(b"valid", isBinary=False)
            self.sendMessage(b"not \xff utf-8", isBinary=False)
        elif scenario == "too_big":
            self.sendMessage(b"x" * 100, isBinary=True)
            self.sendMessage(b"x" * 100000, isBinary=True)

    def onPing(self, payload):
        # auto_ping_interval: the server pings; the answer is the pong autobahn owes it.
        self.sendPong(payload)
        if scenario == "ping":
            result["pinged"] = True
            self.sendClose(1000)

    def onMessage(self, payload, isBinary):
        self.got.append((payload, isBinary))
        if scenario == "echo" and len(self.got) == len(self.sent):
            result["echoed"] = [
                g == (s[0], s[1]) for g, s in zip(self.got, self.sent)
            ]
            result["sizes"] = [len(p) for p, _ in self.got]
            self.sendClose(1000)

    def onClose(self, wasClean, code, reason):
        result["close"] = code
        result["clean"] = wasClean
        result["messages"] = len(getattr(self, "got", []))
        asyncio.get_event_loop().stop()


def accept(response):
    if isinstance(response, PerMessageDeflateResponse):
        return PerMessageDeflateResponseAccept(response)


loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
factory = WebSocketClientFactory(url, loop=loop)
factory.protocol = Client
factory.setProtocolOptions(perMessageCompressionOffers=[PerMessageDeflateOffer(accept_no_context_takeover=True, request_no_context_takeover=False)],
                           perMessageCompressionAccept=accept, maxMessagePayloadSize=0)
host, port = factory.host, factory.port
loop.run_until_complete(loop.create_connection(factory, host, port))
loop.call_later(60, loop.stop)
loop.run_forever()
print(json.dumps(result))
