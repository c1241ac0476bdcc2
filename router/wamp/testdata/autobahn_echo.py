"""Reads lines "<serializer> <hex>" on stdin; parses each message with Autobahn's serializers
(which validate as Autobahn's message classes do), serializes it again with the same serializer
and prints "ok <hex>", or "err <reason>" when Autobahn refuses it."""
import sys

import txaio

txaio.use_asyncio()  # the serializers keep statistics with txaio's clock

from autobahn.wamp.serializer import (  # noqa: E402
    CBORSerializer,
    JsonSerializer,
    MsgPackSerializer,
    UBJSONSerializer,  # present when py-ubjson (python3-ubjson) is importable
)

serializers = {
    "json": JsonSerializer(),
    "msgpack": MsgPackSerializer(),
    "cbor": CBORSerializer(),
    "ubjson": UBJSONSerializer(),
}

for line in sys.stdin:
    name, data = line.split()
    s = serializers[name]
    try:
        msgs = s.unserialize(bytes.fromhex(data), isBinary=(name != "json"))
        if len(msgs) != 1:
            raise ValueError("%d messages" % len(msgs))
        out, _ = s.serialize(msgs[0])
        print("ok", out.hex())
    except Exception as e:  # noqa: BLE001 - any refusal is reported to the Go test
        print("err", type(e).__name__, str(e).replace("\n", " "))
    sys.stdout.flush()
