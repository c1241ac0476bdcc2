# A component module that imports a package the interpreter does not have.
import no_such_dependency_pkg  # noqa: F401

from autobahn.twisted.wamp import ApplicationSession


class Session(ApplicationSession):
    pass
