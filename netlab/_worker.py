"""
A worker of C{--workers}: L{main}, in a Python started by the
parent (L{netlab._workers.WorkerSupervisor}) with a spec of what to
serve, never by people; and its
role in L{netlab.tap.makeService} (L{WorkerRole}).

It builds the services of the parent's command line again (the same
options, so the same protocols, limits and drains), adopts the connections
the parent hands over on file descriptor 3, reads the UDP sockets it
inherits, writes its log events as JSON lines on standard output (the
parent puts them in its log), and stops gracefully on SIGTERM, or when
the parent goes away.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs
from prometheus_client import generate_latest
from twisted.application.service import Service
from twisted.internet.interfaces import IFileDescriptorReceiver
from twisted.logger import ILogObserver, Logger, formatEvent, globalLogBeginner
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer, provider

from netlab._metrics import newRegistry
from netlab._service import parseEndpoint, splitEndpoint
from netlab._workers import CONTROL_FD, _Control, _OneProtocol
from netlab.policies import ConnectionGuard, GuardedConnection

__all__ = ["Ready", "WorkerRole", "logRecords", "main"]

_log = Logger()


class _WorkerGuard(ConnectionGuard):
    """
    A worker's guard: it tells the parent when each connection it was
    handed has closed.
    """

    role: WorkerRole

    def registerProtocol(self, p: GuardedConnection) -> None:  # type: ignore[override]
        super().registerProtocol(p)
        adopting = self.role.adopting
        if adopting is not None:
            self.role.ids[p] = adopting
            self.role.adopting = None

    def unregisterProtocol(self, p: GuardedConnection) -> None:  # type: ignore[override]
        super().unregisterProtocol(p)
        id = self.role.ids.pop(p, None)
        if id is not None:
            self.role.closed(id)


class _RecordingReactor:
    """
    Parses a worker's copy of an endpoint: it listens on nothing, and keeps
    the factory the endpoint would accept connections with (a TLS one for
    C{ssl:} and C{tls:}).
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self.factory: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def listenTCP(self, port: int, factory: Any, *args: Any, **kwargs: Any) -> Any:
        self.factory = factory
        return object()

    def listenSSL(
        self, port: int, factory: Any, contextFactory: Any, *args: Any, **kwargs: Any
    ) -> Any:
        self.factory = TLSMemoryBIOFactory(contextFactory, False, factory)
        return object()

    def listenUNIX(self, address: str, factory: Any, *args: Any, **kwargs: Any) -> Any:
        self.factory = factory
        return object()


class _AdoptingListener(Service):
    """
    A worker's listener: it listens on nothing (the parent does), and starts
    and stops the factory that the connections it is handed are built with.
    """

    def __init__(self, role: WorkerRole, key: int, factory: Any) -> None:
        self.role = role
        self.key = key
        self.factory = factory

    def startService(self) -> None:
        super().startService()
        self.factory.doStart()
        self.role.listeners[self.key] = self.factory

    def stopService(self) -> None:
        super().stopService()
        self.role.listeners.pop(self.key, None)
        self.factory.doStop()


class _AdoptedDatagram(Service):
    """
    A worker's UDP service: it reads the socket the parent bound.
    """

    def __init__(
        self, reactor: Any, fd: int, family: int, protocol: Any, maxPacketSize: int
    ) -> None:
        self.reactor = reactor
        self.fd = fd
        self.family = family
        self.protocol = protocol
        self.maxPacketSize = maxPacketSize
        self.port: Any = None

    def startService(self) -> None:
        super().startService()
        self.port = self.reactor.adoptDatagramPort(
            self.fd,
            socket.AddressFamily(self.family),
            self.protocol,
            self.maxPacketSize,
        )
        os.close(self.fd)

    def stopService(self) -> Any:
        super().stopService()
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()
        return None


@implementer(IFileDescriptorReceiver)
class _WorkerControl(_Control):
    """
    A worker's end of its control socket: the connections it is handed
    come in as file descriptors, each followed by a line saying what it is.
    """

    def __init__(self, role: WorkerRole) -> None:
        super().__init__(role.received)
        self.fds: deque[int] = deque()

    def fileDescriptorReceived(self, descriptor: int) -> None:
        self.fds.append(descriptor)


@attrs.define
class WorkerRole:
    """
    How L{netlab.tap.makeService} builds a worker: the services of the
    command line, whose listeners adopt the connections the parent hands
    over, whose datagram services read the parent's sockets, with their
    rates split among the workers.

    @ivar index: this worker's number, from 1.
    @ivar count: how many workers there are.
    @ivar datagrams: the inherited UDP sockets by key, as file descriptor
        and address family.
    """

    reactor: Any
    index: int
    count: int
    datagrams: dict[int, tuple[int, int]] = attrs.Factory(dict)
    listeners: dict[int, Any] = attrs.Factory(dict)
    ids: dict[Any, int] = attrs.Factory(dict)
    adopting: int | None = None
    stopping: bool = False
    """
    Whether the worker has begun to stop: a connection handed over for a
    listener it has stopped goes back to the parent.
    """
    control: _WorkerControl | None = None
    collector: Any = None
    stopper: Any = None
    """
    The worker's L{netlab._lifecycle.StopGracefullyOnSignals}: the parent's
    C{stop} and C{cut} messages go to it.
    """
    onLost: Callable[[], None] = lambda: None
    _keys: int = 0
    _datagramKeys: int = 0

    def newGuard(self, *args: Any, **kwargs: Any) -> ConnectionGuard:
        """
        @return: the guard of one of the worker's services, made with the
            arguments of L{ConnectionGuard}: it tells the parent of every
            close.
        """
        guard = _WorkerGuard(*args, **kwargs)
        guard.role = self
        return guard

    def listener(self, key: int, description: str, factory: Any) -> _AdoptingListener:
        """
        @param key: the listener's number, counted as the parent counts
            its listeners (both build the same services in the same order).
        @param description: the endpoint string: for C{ssl:} and C{tls:},
            the TLS context is made from it, as the endpoint would make it.
        @param factory: the guard's factory for the endpoint.
        @return: the service that serves the connections the parent hands
            over for that listener.
        """
        kind = splitEndpoint(description)[0][0].lower()
        accepting = factory
        if kind in ("ssl", "tls"):
            recording = _RecordingReactor(self.reactor)
            parseEndpoint(recording, description).listen(factory)
            accepting = recording.factory
        return _AdoptingListener(self, key, accepting)

    def nextKey(self) -> int:
        """
        @return: the number of the next listener.
        """
        self._keys += 1
        return self._keys

    def nextDatagramKey(self) -> int:
        self._datagramKeys += 1
        return self._datagramKeys

    def datagram(self, protocol: Any, maxPacketSize: int = 65536) -> _AdoptedDatagram:
        """
        @return: the service that reads the next inherited UDP socket with
            C{protocol}.
        """
        key = self.nextDatagramKey()
        fd, family = self.datagrams[key]
        return _AdoptedDatagram(self.reactor, fd, family, protocol, maxPacketSize)

    def share(self, rate: float) -> float:
        """
        @return: this worker's share of a rate.
        """
        return rate / self.count

    def shareBurst(self, burst: float) -> float:
        """
        @return: this worker's share of a burst (at least 1).
        """
        return max(1.0, burst / self.count)

    # The control channel

    def connect(self, fd: int = CONTROL_FD) -> None:
        """
        Adopt the control socket the parent passed in.
        """
        control = _WorkerControl(self)
        control.lost = self.onLost
        self.control = control
        self.reactor.adoptStreamConnection(fd, socket.AF_UNIX, _OneProtocol(control))
        os.close(fd)

    def ready(self) -> None:
        assert self.control is not None
        self.control.send(op="ready", pid=os.getpid())

    def draining(self) -> None:
        """
        Tell the parent this worker is stopping: it hands it no more
        connections.
        """
        control = self.control
        if control is not None and control.transport is not None:
            control.send(op="draining")

    def received(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        control = self.control
        assert control is not None
        if op == "connection":
            fd = control.fds.popleft() if control.fds else -1
            self._adopt(fd, message)
        elif op == "stop" and self.stopper is not None:
            self.stopper.stop("the parent is stopping")
        elif op == "cut" and self.stopper is not None:
            self.stopper.cut("the parent's grace is over")
        elif op == "metrics":
            text = ""
            if self.collector is not None:
                text = generate_latest(newRegistry(self.collector)).decode("utf-8")
            control.send(op="metrics", id=message.get("id"), text=text)

    def _adopt(self, fd: int, message: dict[str, Any]) -> None:
        id = message.get("id")
        control = self.control
        assert control is not None
        factory = self.listeners.get(message.get("listener", -1))
        try:
            if fd >= 0 and factory is None and self.stopping:
                # Handed over as this worker began to drain, before the
                # parent heard it: the parent gives it to another worker.
                control.send(op="returned", id=id)
                return
            if fd < 0 or factory is None:
                _log.warn("a connection handed over without its listener: closing it")
                control.send(op="took", id=id)
                control.send(op="closed", id=id)
                return
            self.adopting = id
            try:
                self.reactor.adoptStreamConnection(
                    fd, socket.AddressFamily(message.get("family", 0)), factory
                )
            except Exception:
                _log.failure("adopting a connection")
            finally:
                if self.adopting is not None:
                    # Not registered with a guard (refused, or failed):
                    # the parent may forget it at once.
                    self.adopting = None
                    control.send(op="took", id=id)
                    control.send(op="closed", id=id)
                else:
                    control.send(op="took", id=id)
        finally:
            if fd >= 0:
                os.close(fd)

    def closed(self, id: int) -> None:
        if self.control is not None and self.control.transport is not None:
            self.control.send(op="closed", id=id)


class Ready(Service):
    """
    The last service of a worker: once every other has started, the worker
    tells the parent it is ready for connections.
    """

    def __init__(self, role: WorkerRole) -> None:
        self.role = role

    def startService(self) -> None:
        super().startService()
        self.role.ready()

    def stopService(self) -> None:
        # The first service to stop (the last started): the parent hears
        # that this worker drains before its listeners stop.
        self.role.stopping = True
        self.role.draining()
        super().stopService()


_PLAIN = (str, int, float, bool, type(None))


def logRecords(output: Any) -> ILogObserver:
    """
    A log observer for a worker: each event as one line of JSON on
    C{output}, for the parent to put in its log: its text, formatted here
    (a field's format, such as C{{duration:.3f}}, does not survive JSON),
    with a failure's traceback; its time, level and namespace; and those of
    its fields that are plain values, for a JSON log.  Flat and plain, so
    that the parent reads it fast: it reads two for every connection.
    """

    @provider(ILogObserver)
    def observe(event: dict[str, Any]) -> None:
        record = {
            key: value
            for key, value in event.items()
            if isinstance(value, _PLAIN) and not key.startswith("log_")
        }
        text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            try:
                text += "\n" + failure.getTraceback()
            except Exception:
                pass
        level = event.get("log_level")
        record.update(
            netlab_text=text,
            log_time=event.get("log_time"),
            log_namespace=str(event.get("log_namespace", "")),
            log_level=getattr(level, "name", "info"),
        )
        output.write(json.dumps(record) + "\n")
        output.flush()

    return observe  # type: ignore[no-any-return]


def _installReactor(moduleName: str) -> None:
    """
    Install the reactor the parent runs on, if it is one twistd knows by
    name (the default one otherwise).
    """
    from twisted.application.reactors import getReactorTypes, installReactor

    for kind in getReactorTypes():
        if getattr(kind, "moduleName", None) == moduleName:
            try:
                installReactor(kind.shortName)
            except Exception:
                pass
            return


def main(argv: list[str] | None = None) -> int:
    """
    Run one worker.

    @param argv: C{[program, SPEC]}, SPEC being the JSON object the parent
        gives (its command line, this worker's number, the number of
        workers, its reactor and the inherited UDP sockets).
    @return: the exit status.
    """
    argv = sys.argv if argv is None else argv
    # Until the services handle it: SIGTERM (the parent stopping) ends a
    # worker still starting at once, quietly; SIGINT is the parent's.
    signal.signal(signal.SIGTERM, _stopStarting)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec: dict[str, Any] = json.loads(argv[1])
    globalLogBeginner.beginLoggingTo([logRecords(sys.stdout)], redirectStandardIO=False)
    _installReactor(spec.get("reactor", ""))
    from twisted.internet import reactor

    from netlab import tap

    role = WorkerRole(
        reactor,
        int(spec["worker"]),
        int(spec["workers"]),
        {int(key): (int(fd), int(family)) for key, fd, family in spec["datagrams"]},
    )
    options = tap.Options(warn=lambda line: None)
    options.parseOptions(spec["arguments"])
    try:
        service = tap.makeService(options, reactor, role=role)
        role.onLost = lambda: _parentGone(reactor)
        role.connect()
        service.privilegedStartService()
        service.startService()
    except SystemExit as e:
        if e.code in (0, None):
            return 0
        sys.stderr.write(f"{e}\n")
        return 1
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return 0


def _stopStarting(number: int, frame: object) -> None:
    raise SystemExit(0)


def _parentGone(reactor: Any) -> None:
    if reactor.running:
        _log.warn("the parent process went away: stopping")
        try:
            reactor.stop()
        except Exception:
            # It is stopping already.
            pass
