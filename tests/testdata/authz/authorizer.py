"""A dynamic authorizer for Portico's end-to-end tests (router component, role "authorizer").

test.ok.*: allowed, not cached; test.cached.*: allowed and cached; test.denied.*: denied;
test.raise.*: raises; test.authz.asked: allowed (the count below). It counts how often it was
asked per (uri, action): test.authz.asked(uri, action) answers that count.
"""

from collections import Counter

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError
from twisted.internet.defer import inlineCallbacks


class Authorizer(ApplicationSession):
    asked = Counter()

    @inlineCallbacks
    def onJoin(self, details):
        yield self.register(self.authorize, "test.authz.authorize")
        yield self.register(lambda uri, action: self.asked[(uri, action)], "test.authz.asked")

    def authorize(self, session, uri, action, options):
        self.asked[(uri, action)] += 1
        if session["authrole"] != "app":
            return False
        if uri.startswith("test.ok.") or uri == "test.authz.asked":
            return True
        if uri.startswith("test.cached."):
            return {"allow": True, "cache": True, "disclose": True}
        if uri.startswith("test.raise."):
            raise ApplicationError("test.error.database", "database down")
        return {"allow": False, "cache": False}
