# Portico's component runner: runs the autobahn-python ApplicationSession classes of one
# Crossbar container worker (or of a router worker's `components`) in one Python process,
# as Crossbar's container worker (crossbar/worker/container.py) does.
#
# Portico writes the configuration as JSON on stdin and closes it. The runner imports every
# component's class, connects each to its router, and sends READY=1 over the sd_notify
# protocol to NOTIFY_SOCKET once all have joined. A component that fails before that ends
# the runner with exit status 1 and one message naming the component's config place. Later
# failures follow the container's `restart` and `shutdown` options.
#
# Twisted and asyncio sessions are told apart by their base class. They cannot share one
# process: txaio, which autobahn runs on, picks one framework per process.
import importlib
import json
import math
import os
import signal
import socket
import sys
import traceback

PREFIX = "portico-runner: "
# How long a component's onJoin may run before the component counts as started anyway.
ONJOIN_GRACE = 5.0
CLEAN_REASONS = ("wamp.close.normal", "wamp.close.goodbye_and_out", "wamp.close.close_realm")


def say(msg):
    sys.stderr.write(PREFIX + msg.rstrip("\n").replace("\n", "\n    ") + "\n")
    sys.stderr.flush()


def die(comp, msg):
    say("%s (%s): %s" % (comp["place"], comp["classname"], msg))
    sys.stderr.flush()
    os._exit(1)


def notify_ready():
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(b"READY=1", path)
    finally:
        s.close()


def missing(comp, modname, e):
    """Ends the runner for a ModuleNotFoundError raised importing modname: the component's
    own module is not on the Python path, or a module it imports is not installed for this
    interpreter."""
    if e.name and (modname == e.name or modname.startswith(e.name + ".")):
        die(comp, "module %r not found (No module named %r); Python path: %s"
            % (modname, e.name, json.dumps(sys.path)))
    if e.name:
        die(comp, "module %r imports %r, which %s cannot import (No module named %r): install it "
            "for this interpreter (or set the worker's options.python to one that has it); Python path: %s\n%s"
            % (modname, e.name, sys.executable, e.name, json.dumps(sys.path), traceback.format_exc()))
    die(comp, "importing module %r failed:\n%s" % (modname, traceback.format_exc()))


def load_function(comp, first):
    """A "function" component: Crossbar's _appsession_loader makes a Twisted ApplicationSession
    and hands it each callback ("module.function") as a listener; join(session, details) runs
    as its onJoin here, so that a raising join callback is reported like a raising onJoin."""
    callbacks = {}
    for event, ref in sorted((comp.get("callbacks") or {}).items()):
        modname, _, fname = ref.rpartition(".")
        c = dict(comp, classname=ref)
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            missing(c, modname, e)
        except BaseException:
            die(c, "importing module %r failed:\n%s" % (modname, traceback.format_exc()))
        fn = getattr(mod, fname, None)
        if not callable(fn):
            die(c, "function %r not found in module %r (%s)" % (fname, modname, getattr(mod, "__file__", "?")))
        callbacks[event] = fn
    if "autobahn.asyncio.wamp" in sys.modules and "autobahn.twisted.wamp" not in sys.modules:
        from autobahn.asyncio.wamp import ApplicationSession as Base
        flavor = "asyncio"
    else:
        from autobahn.twisted.wamp import ApplicationSession as Base
        flavor = "twisted"
    join = callbacks.pop("join", None)

    class FunctionSession(Base):
        def __init__(self, config=None):
            Base.__init__(self, config)
            for event, fn in callbacks.items():
                self.on(event, fn)

        def onJoin(self, details):
            if join is not None:
                return join(self, details)
    return FunctionSession, flavor


def load(comp, first):
    if comp.get("type") == "function":
        return load_function(comp, first)
    modname, _, clsname = comp["classname"].rpartition(".")
    try:
        mod = importlib.import_module(modname)
    except RuntimeError as e:
        if "Explicitly using" in str(e) and first is not None:
            die(comp, "importing module %r failed: it uses the other of Twisted and asyncio than %s (%s), "
                "and they cannot share one worker process (txaio picks one framework per process, %s); "
                "put them in two container workers" % (modname, first["place"], first["classname"], e))
        die(comp, "importing module %r failed:\n%s" % (modname, traceback.format_exc()))
    except ModuleNotFoundError as e:
        missing(comp, modname, e)
    except BaseException:
        die(comp, "importing module %r failed:\n%s" % (modname, traceback.format_exc()))
    cls = getattr(mod, clsname, None)
    if cls is None:
        die(comp, "class %r not found in module %r (%s)" % (clsname, modname, getattr(mod, "__file__", "?")))
    # Only a flavor the class's module imported can be its base: importing the other one
    # would make txaio refuse ("Explicitly using 'asyncio' already").
    flavor = None
    for name, mod_name in (("twisted", "autobahn.twisted.wamp"), ("asyncio", "autobahn.asyncio.wamp")):
        base = getattr(sys.modules.get(mod_name), "ApplicationSession", None)
        if base is not None and isinstance(cls, type) and issubclass(cls, base):
            flavor = name
            break
    if flavor is None:
        die(comp, "%r is not a subclass of autobahn.twisted.wamp.ApplicationSession or "
            "autobahn.asyncio.wamp.ApplicationSession" % comp["classname"])
    return cls, flavor


class Runner:
    def __init__(self, cfg, flavor):
        self.cfg = cfg
        self.flavor = flavor
        self.restart = cfg.get("restart", "restart-never")
        self.shutdown = cfg.get("shutdown", "shutdown-manual")
        self.ready = False
        self.pending = set()  # components not joined yet (startup)
        self.running = set()
        self.stopping = False

    # --- the event loop of the flavor ---
    def call_later(self, delay, f):
        if self.flavor == "twisted":
            from twisted.internet import reactor
            reactor.callLater(delay, f)
        else:
            self.loop.call_later(delay, f)

    def stop_loop(self, code):
        self.exit_code = code
        if self.flavor == "twisted":
            from twisted.internet import reactor
            if reactor.running:
                reactor.stop()
        else:
            self.loop.stop()

    def run(self, comps):
        self.exit_code = 0
        for comp, cls in comps:
            self.pending.add(comp["place"])
        if self.flavor == "twisted":
            from twisted.internet import reactor
            # Twisted's own SIGTERM handler stops the reactor; what ends then is no failure.
            reactor.addSystemEventTrigger("before", "shutdown", lambda: setattr(self, "stopping", True))
            for comp, cls in comps:
                reactor.callWhenRunning(self.start, comp, cls, 0)
            reactor.run()
        else:
            import asyncio
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.loop.add_signal_handler(signal.SIGTERM, self.terminate)
            self.loop.add_signal_handler(signal.SIGINT, self.terminate)
            for comp, cls in comps:
                self.loop.call_soon(self.start, comp, cls, 0)
            self.loop.run_forever()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(self.exit_code)

    def terminate(self):
        self.stopping = True
        self.stop_loop(0)

    # --- one component ---
    def start(self, comp, cls, attempt):
        from autobahn.wamp.types import ComponentConfig
        import txaio
        try:
            sess = cls(ComponentConfig(realm=comp["realm"], extra=comp.get("extra")))
        except BaseException:
            return self.failed(comp, cls, attempt, "the constructor of %s raised:\n%s"
                               % (comp["classname"], traceback.format_exc()))
        st = {"joined": False, "failed": None, "reason": None, "left_with": None}
        user_join, user_leave, user_disconnect = sess.onJoin, sess.onLeave, sess.onDisconnect
        session_leave = sess.leave

        def leave(reason=None, message=None):
            # The router answers GOODBYE with its own reason (wamp.close.normal) whatever the reason
            # the session gave: that one tells a failure from a normal end.
            st["left_with"] = reason or "wamp.close.normal"
            return session_leave(reason, message)
        sess.leave = leave

        def on_join(details):
            d = txaio.as_future(user_join, details)

            def ok(res):
                st["joined"] = True
                self.joined(comp, st)
                return res

            def still_running():
                # Many components loop in onJoin for as long as they live (crossbar-examples'
                # hello: publish, call, sleep, forever): Crossbar runs them all the same. One
                # whose onJoin has neither returned nor raised after ONJOIN_GRACE counts as
                # started; should it raise later, that is a failure of a running component.
                if st["failed"] is None and st.get("done") is None and not st["joined"]:
                    st["joined"] = True
                    self.joined(comp, st, " (its onJoin still runs)")
            self.call_later(ONJOIN_GRACE, still_running)

            def err(f):
                st["failed"] = "onJoin raised:\n%s" % txaio.failure_format_traceback(f)
                try:
                    sess.leave("wamp.error.component_failed", "onJoin raised")
                except BaseException:
                    pass
                return None
            txaio.add_callbacks(d, ok, err)
            return d

        def on_leave(details):
            st["reason"] = (details.reason, details.message)
            if not st["joined"] and st["failed"] is None and details.reason not in CLEAN_REASONS:
                st["failed"] = "the router refused the join: %s%s" % (
                    details.reason, (": " + details.message) if details.message else "")
            return user_leave(details)

        def on_disconnect(*a, **kw):
            r = user_disconnect(*a, **kw) if user_disconnect else None
            self.ended(comp, cls, attempt, st)
            return r

        user_connect = sess.onConnect

        def on_connect(*a, **kw):
            st["opened"] = True  # the transport is up: its end now reaches onDisconnect
            return user_connect(*a, **kw)

        sess.onJoin, sess.onLeave, sess.onDisconnect, sess.onConnect = on_join, on_leave, on_disconnect, on_connect
        self.connect(comp, cls, attempt, sess, st)

    def connect(self, comp, cls, attempt, sess, st):
        t = comp["transport"]
        ep = t["endpoint"]
        where = "unix:" + ep["path"] if ep["type"] == "unix" else "%s:%s" % (ep["host"], ep["port"])
        url = t.get("url") or ("ws://localhost/" if ep["type"] == "unix" else "ws://%s:%s/" % (ep["host"], ep["port"]))

        def conn_failed(e):
            st["failed"] = "could not connect to %s (%s): %s" % (url if t["type"] == "websocket" else where, where, e)
            self.ended(comp, cls, attempt, st)

        def watch(proto, twisted):
            # A connection that ends before the session opened (a TLS handshake that fails
            # its certificate check, a refused WebSocket upgrade: wrong path, 404) reaches no
            # session callback: say so here, with the reason autobahn gives, or the component
            # would wait for ever.
            lost = proto.connectionLost if twisted else proto.connection_lost

            def connection_lost(reason):
                try:
                    return lost(reason)
                finally:
                    if not st.get("opened") and not st.get("done"):
                        why = getattr(proto, "wasNotCleanReason", None) or reason or "closed by the router"
                        if hasattr(why, "getErrorMessage"):
                            why = why.getErrorMessage()
                        st["failed"] = "the connection to %s closed before the WAMP session opened: %s" % (
                            url if t["type"] == "websocket" else where, why)
                        self.ended(comp, cls, attempt, st)
            if twisted:
                proto.connectionLost = connection_lost
            else:
                proto.connection_lost = connection_lost
            return proto

        if self.flavor == "twisted":
            from twisted.internet import reactor
            from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, UNIXClientEndpoint
            if t["type"] == "websocket":
                from autobahn.twisted.websocket import WampWebSocketClientFactory
                factory = WampWebSocketClientFactory(lambda: sess, url=url)
            else:
                from autobahn.twisted.rawsocket import WampRawSocketClientFactory
                factory = WampRawSocketClientFactory(lambda: sess, serializer=serializer(t, "twisted"))
            if t.get("max_message_size"):
                # Crossbar's set_rawsocket_options / set_websocket_options on the client
                # factory (crossbar/worker/container.py).
                factory.setProtocolOptions(maxMessagePayloadSize=t["max_message_size"])
            if ep["type"] == "unix":
                e = UNIXClientEndpoint(reactor, ep["path"], timeout=ep.get("timeout", 10))
            elif ep.get("version") == 6:
                e = TCP6ClientEndpoint(reactor, ep["host"], ep["port"], timeout=ep.get("timeout", 10))
            else:
                e = TCP4ClientEndpoint(reactor, ep["host"], ep["port"], timeout=ep.get("timeout", 10))
            if ep.get("tls"):
                from twisted.internet.endpoints import wrapClientTLS
                try:
                    e = wrapClientTLS(twisted_tls(ep["tls"]), e)
                except Exception as ex:
                    return conn_failed("TLS setup: %s" % (ex,))
            build = factory.buildProtocol
            factory.buildProtocol = lambda addr: watch(build(addr), True)
            d = e.connect(factory)
            d.addErrback(lambda f: conn_failed(f.getErrorMessage()))
        else:
            import asyncio
            if t["type"] == "websocket":
                from autobahn.asyncio.websocket import WampWebSocketClientFactory
                factory = WampWebSocketClientFactory(lambda: sess, url=url)
            else:
                from autobahn.asyncio import rawsocket
                # autobahn 22.7 (Debian bookworm's): the asyncio RawSocket protocol keeps its
                # details in _transport_details, while the session reads transport_details
                # when it joins (AttributeError "While firing onWelcome"); the Twisted one has it.
                if not hasattr(rawsocket.WampRawSocketClientProtocol, "transport_details"):
                    rawsocket.WampRawSocketClientProtocol.transport_details = property(lambda p: p._transport_details)
                factory = rawsocket.WampRawSocketClientFactory(lambda: sess, serializer=serializer(t, "asyncio"))
            max_size = t.get("max_message_size")
            if max_size and t["type"] == "websocket":
                factory.setProtocolOptions(maxMessagePayloadSize=max_size)

            def build():
                proto = factory()
                if max_size and t["type"] == "rawsocket":
                    # autobahn's asyncio RawSocket protocol has no option for it: ask the
                    # router for the same length Twisted's asks for (the next power of two).
                    exp = max(int(math.ceil(math.log(max_size, 2))), 9)
                    proto.max_length, proto._length_exp = 2 ** exp, exp - 9
                return watch(proto, False)
            watched = build
            if ep["type"] == "unix":
                coro = self.loop.create_unix_connection(watched, ep["path"])
            elif ep.get("tls"):
                try:
                    ctx = asyncio_tls(ep["tls"])
                except Exception as ex:
                    return conn_failed("TLS setup: %s" % (ex,))
                coro = self.loop.create_connection(watched, ep["host"], ep["port"], ssl=ctx,
                                                   server_hostname=ep["tls"]["hostname"])
            else:
                coro = self.loop.create_connection(watched, ep["host"], ep["port"])
            task = asyncio.ensure_future(asyncio.wait_for(coro, ep.get("timeout", 10) or None))

            def done(f):
                if not f.cancelled() and f.exception() is not None:
                    conn_failed(f.exception() or "timeout")
            task.add_done_callback(done)

    def joined(self, comp, st, note=""):
        if st.get("announced"):
            return
        st["announced"] = True
        self.running.add(comp["place"])
        say("%s (%s) joined realm %r%s" % (comp["place"], comp["classname"], comp["realm"], note))
        self.pending.discard(comp["place"])
        if not self.ready and not self.pending:
            self.ready = True
            notify_ready()

    def failed(self, comp, cls, attempt, msg):
        self.ended(comp, cls, attempt, {"joined": False, "failed": msg, "reason": None})

    def ended(self, comp, cls, attempt, st):
        if st.get("done"):
            return
        st["done"] = True
        self.running.discard(comp["place"])
        if self.stopping:
            return
        if st["failed"] is not None:
            failed = True
        elif st["left_with"] is not None:
            failed = st["left_with"] not in CLEAN_REASONS
        else:
            failed = (st["reason"] or ("connection lost",))[0] not in CLEAN_REASONS
        if not self.ready:
            die(comp, st["failed"] or "the connection closed before the component joined (%s)" % (st["reason"],))
        if st["failed"]:
            say("%s (%s) failed: %s" % (comp["place"], comp["classname"], st["failed"]))
        else:
            why = st["left_with"] or (st["reason"] or ("connection lost",))[0]
            say("%s (%s) %s (%s)" % (comp["place"], comp["classname"], "failed" if failed else "stopped", why))
        # An end the `shutdown` mode asks for exits 0: Portico restarts the runner only when
        # it crashed (restart-on-failed) or whatever its status (restart-always, which goes
        # only with shutdown-manual).
        if failed and self.shutdown == "shutdown-on-any-component-failed":
            say("a component failed: the container ends (%s)" % self.shutdown)
            return self.stop_loop(0)
        if self.shutdown == "shutdown-on-any-component-stopped":
            say("a component stopped: the container ends (%s)" % self.shutdown)
            return self.stop_loop(0)
        if self.restart == "restart-always" or (self.restart == "restart-on-failed" and failed):
            delay = min(2 ** min(attempt, 5) * 0.1, 5.0)
            say("%s (%s) restarting in %.1fs" % (comp["place"], comp["classname"], delay))
            self.running.add(comp["place"])
            return self.call_later(delay, lambda: self.start(comp, cls, attempt + 1 if failed else 0))
        if not self.running and self.shutdown == "shutdown-on-last-component-stopped":
            say("no component left: the container ends (%s)" % self.shutdown)
            return self.stop_loop(0)


def twisted_tls(tls):
    """The client TLS options of a connecting endpoint's `tls`, as Crossbar's
    _create_tls_client_context makes them: trust only ca_certificates when given (else the
    platform's roots), check the certificate against hostname, show certificate + key."""
    from OpenSSL import crypto
    from twisted.internet.ssl import (Certificate, KeyPair, PrivateCertificate, optionsForClientTLS,
                                      trustRootFromCertificates)
    trust = None
    if tls.get("ca_certificates"):
        trust = trustRootFromCertificates([Certificate.loadPEM(open(f, "rb").read()) for f in tls["ca_certificates"]])
    client = None
    if tls.get("certificate") and tls.get("key"):
        client = PrivateCertificate.fromCertificateAndKeyPair(
            Certificate.loadPEM(open(tls["certificate"], "rb").read()),
            KeyPair.load(open(tls["key"], "rb").read(), crypto.FILETYPE_PEM))
    return optionsForClientTLS(tls["hostname"], trustRoot=trust, clientCertificate=client)


def asyncio_tls(tls):
    """The same for asyncio, with the standard library's ssl."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and the hostname
    if tls.get("ca_certificates"):
        for f in tls["ca_certificates"]:
            ctx.load_verify_locations(cafile=f)
    else:
        ctx.load_default_certs()
    if tls.get("certificate") and tls.get("key"):
        ctx.load_cert_chain(tls["certificate"], tls["key"])
    return ctx


def serializer(t, flavor):
    name = t.get("serializer") or "json"
    mod = importlib.import_module("autobahn.wamp.serializer")
    return getattr(mod, {"json": "JsonSerializer", "msgpack": "MsgPackSerializer", "cbor": "CBORSerializer"}[name])()


def main():
    cfg = json.load(sys.stdin)
    # As `python -m crossbar.worker.main` has it in Crossbar: the working directory (the node
    # directory) first on the path, not this script's directory; then options.pythonpath.
    sys.path[0] = os.getcwd()
    for p in reversed(cfg.get("pythonpath") or []):
        sys.path.insert(0, p)
    comps = []
    flavors = {}
    for comp in cfg["components"]:
        cls, flavor = load(comp, comps[0][0] if comps else None)
        comps.append((comp, cls))
        flavors.setdefault(flavor, comp)
    if len(flavors) > 1:
        die(flavors["asyncio"], "is an asyncio session, and %s (%s) a Twisted one: they cannot share one "
            "worker process (txaio picks one framework per process); put them in two container workers"
            % (flavors["twisted"]["place"], flavors["twisted"]["classname"]))
    if not comps:
        notify_ready()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
        return
    flavor = next(iter(flavors))
    # What the components log (self.log.info(...), txaio.make_logger()) reaches Portico's log
    # as it reaches Crossbar's node log; without this Twisted keeps it in memory.
    start_logging(flavor)
    Runner(cfg, flavor).run(comps)


def start_logging(flavor):
    """Sends what the components log (self.log.info(...), txaio.make_logger()) to stdout,
    level info and up, one event a line, as Crossbar's node log shows it; Portico adds the
    time. Without this Twisted keeps the events in memory and shows none."""
    import txaio
    if flavor == "asyncio":
        txaio.use_asyncio()
        txaio.start_logging(out=sys.stdout, level="info")
        return
    txaio.use_twisted()
    from twisted.logger import (globalLogBeginner, FileLogObserver, FilteringLogObserver,
                                LogLevel, LogLevelFilterPredicate, formatEvent)

    def fmt(event):
        text = formatEvent(event)
        f = event.get("log_failure")
        if f is not None:
            try:
                text += "\n" + f.getTraceback()
            except Exception:
                pass
        return text.rstrip("\n") + "\n"
    obs = FilteringLogObserver(FileLogObserver(sys.stdout, fmt), [LogLevelFilterPredicate(LogLevel.info)])
    # stdout and stderr stay as they are: print() and the runner's own lines go out unchanged.
    globalLogBeginner.beginLoggingTo([obs], redirectStandardIO=False)


if __name__ == "__main__":
    main()
