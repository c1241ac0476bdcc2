"""A dynamic authenticator for Portico's end-to-end tests, run in a container worker.

It registers com.example.authenticate(realm, authid, details), Crossbar's signature, and
answers each authmethod (details["authmethod"]) from a small principal database. Every answer
carries, in "extra" (the client's WELCOME authextra), what the router passed, so that the test
can check Crossbar's arguments. Some authids fail on purpose: "crash" raises a plain exception,
"slow" never answers, anything unknown raises ApplicationError com.example.no_such_user.
"""

from twisted.internet.defer import Deferred, inlineCallbacks

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError

# tests/testdata/crossbar-auth/cryptosign-static/.keys/client01.key (crossbar-examples)
CLIENT01 = "545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122"


class Authenticator(ApplicationSession):

    @inlineCallbacks
    def onJoin(self, details):

        def authenticate(realm, authid, details):
            method = details.get("authmethod")
            extra = details.get("authextra") or {}
            seen = {"realm": realm, "authid": authid, "authmethod": method,
                    "session": details.get("session"), "ticket": details.get("ticket"),
                    "transport_peer": (details.get("transport") or {}).get("peer"),
                    "authextra_x": extra.get("x")}
            if authid == "crash":
                raise RuntimeError("the principal database is down")
            if authid == "slow":
                return Deferred()  # never fires
            if method == "ticket" and authid == "joe":
                if details.get("ticket") != "secret!!!":
                    raise ApplicationError("com.example.invalid_ticket", "invalid ticket for joe")
                return {"role": "frontend", "extra": {"seen": seen}}
            if method == "ticket" and authid == "moved":
                return {"role": "frontend", "authid": "moved-2", "realm": "realm2", "extra": {"seen": seen}}
            if method == "wampcra" and authid == "joe":
                return {"secret": "secret2", "role": "frontend", "extra": {"seen": seen}}
            if method == "cryptosign" and extra.get("pubkey") == CLIENT01:
                return {"pubkey": CLIENT01, "authid": "device1", "role": "frontend", "extra": {"seen": seen}, "cache": True}
            if method == "tls":
                cert = (details.get("transport") or {}).get("peer_cert") or {}
                if not cert.get("sha1"):
                    raise ApplicationError("com.example.no_cert", "no client certificate presented")
                return {"role": "frontend", "authid": cert["subject"]["cn"], "extra": {"seen": seen, "sha1": cert["sha1"]}}
            if method == "anonymous":
                return {"role": "frontend", "extra": {"seen": seen}}
            raise ApplicationError("com.example.no_such_user", "no such principal {}".format(authid))

        yield self.register(authenticate, "com.example.authenticate")
