"""WAMP authentication client for Portico's end-to-end tests: autobahn-python (asyncio flavour).

Usage: auth_client.py BASE_URL SERIALIZER ATTEMPTS_JSON

ATTEMPTS_JSON is a list of objects {"name", "path", "realm", "method", "authid", "secret"}:
each attempt opens a session at BASE_URL + path, joins realm offering authmethods [method]
("" offers none) as authid, and answers a CHALLENGE as autobahn's own clients do: the ticket
itself, or for wampcra the signature auth.compute_wcs(key, challenge), where key is secret or,
when the CHALLENGE carries a salt, auth.derive_key(secret, salt, iterations, keylen). For
cryptosign, "key" names the private key file (raw 32 bytes, or OpenSSH), whose public key goes
in HELLO authextra.pubkey, and the CHALLENGE is signed with autobahn's CryptosignKey.
Optional keys: "authextra" (more HELLO authextra), "cafile" (TLS: BASE_URL is wss:// and the
server's certificate is checked against this CA), "tls12" (TLS 1.2 at most), "bind" (sign
the cryptosign challenge XOR SHA-256 of the connection's tls-unique, RFC 5929, as Python's
ssl module gives it), "certfile" and "keyfile" (a TLS client certificate),
"rawsocket": "host:port" (a RawSocket
transport instead of BASE_URL + path), "wait": true (while the ABORT is
wamp.error.no_such_procedure, the authenticator is not registered yet: try again, for up to
a minute; "retries" counts how often).

Prints one JSON object: by attempt name, {"joined": WELCOME details, "register": "ok" or the
error URI, "challenge": what the CHALLENGE carried} or {"aborted": {"reason", "message"}}. The
Go test judges; this script does not.
"""

import asyncio
import hashlib
import json
import ssl
import sys
from urllib.parse import urlparse

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory, WampRawSocketClientProtocol
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import auth, cryptosign
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig, TransportDetails

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}
STEP = 10  # seconds any one attempt may take


class RawSocketProtocol(WampRawSocketClientProtocol):
    # Debian's autobahn 22.7 asyncio RawSocket client lacks the attribute its session reads
    # on WELCOME.
    transport_details = TransportDetails()


async def attempt(base, ser, a):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    seen = {}
    conn = {}

    cskey = None
    if a.get("key"):
        try:
            cskey = cryptosign.CryptosignKey.from_file(a["key"])
        except ValueError:
            cskey = cryptosign.CryptosignKey.from_ssh_file(a["key"])

    class Session(ApplicationSession):
        def onConnect(self):
            methods = [a.get("method")] if a.get("method") else None
            extra = {}
            if cskey is not None:
                extra["pubkey"] = cskey.public_key()
            extra.update(a.get("authextra") or {})
            self.join(a["realm"], authmethods=methods, authid=a.get("authid") or None,
                      authextra=extra or None)

        def onChallenge(self, challenge):
            seen["method"] = challenge.method
            seen["salted"] = "salt" in challenge.extra
            if challenge.method == "ticket":
                return a.get("secret")
            if challenge.method == "wampcra":
                key = a.get("secret")
                if "salt" in challenge.extra:
                    key = auth.derive_key(a.get("secret"), challenge.extra["salt"],
                                          challenge.extra.get("iterations", 1000),
                                          challenge.extra.get("keylen", 32))
                return auth.compute_wcs(key, challenge.extra["challenge"]).decode("ascii")
            if challenge.method == "cryptosign":
                seen["channel_binding"] = challenge.extra.get("channel_binding")
                if a.get("bind"):
                    tls_unique = conn["transport"].get_extra_info("ssl_object").get_channel_binding("tls-unique")
                    return cskey.sign_challenge(challenge, channel_id=hashlib.sha256(tls_unique).digest(),
                                                channel_id_type="tls-unique")
                return cskey.sign_challenge(challenge)
            raise Exception("unexpected challenge %s" % challenge.method)

        async def onJoin(self, details):
            out = {"joined": {"realm": details.realm, "authid": details.authid,
                              "authrole": details.authrole, "authmethod": details.authmethod,
                              "authprovider": details.authprovider},
                   "challenge": seen}
            if details.authextra is not None:
                out["joined"]["authextra"] = details.authextra
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

    make = lambda: Session(ComponentConfig(a["realm"]))
    if a.get("rawsocket"):
        host, port = a["rawsocket"].rsplit(":", 1)
        factory = WampRawSocketClientFactory(make, serializer=SERIALIZERS[ser]())
        factory.protocol = RawSocketProtocol
    else:
        url = base + a.get("path", "")
        factory = WampWebSocketClientFactory(make, url=url, serializers=[SERIALIZERS[ser]()])
        u = urlparse(url)
        host, port = u.hostname, u.port
    ctx = None
    if a.get("cafile"):
        ctx = ssl.create_default_context(cafile=a["cafile"])
        if a.get("tls12"):
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if a.get("certfile"):
            ctx.load_cert_chain(a["certfile"], a["keyfile"])
    transport, _ = await loop.create_connection(factory, host, int(port), ssl=ctx)
    conn["transport"] = transport
    try:
        return await asyncio.wait_for(done, STEP)
    finally:
        transport.close()


async def run(base, ser, attempts):
    out = {}
    for a in attempts:
        try:
            res = await attempt(base, ser, a)
            retries, deadline = 0, asyncio.get_running_loop().time() + 60
            while (a.get("wait") and res.get("aborted", {}).get("reason") == "wamp.error.no_such_procedure"
                   and asyncio.get_running_loop().time() < deadline):
                retries += 1
                await asyncio.sleep(0.1)  # the authenticator component is still starting
                res = await attempt(base, ser, a)
            if retries:
                res["retries"] = retries
            out[a["name"]] = res
        except Exception as e:  # recorded, so that the other attempts still run
            out[a["name"]] = {"error": "%s: %s" % (type(e).__name__, e)}
    return out


def main():
    base, ser, attempts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    print(json.dumps(asyncio.run(run(base, ser, attempts)), sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
