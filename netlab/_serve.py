"""
C{twistd netlab serve}: any Twisted protocol factory (or datagram protocol)
with netlab's operations, and no code beyond the factory::

    twistd -n netlab serve --factory mypkg.mymodule:makeFactory \\
        --listen tcp:9000 --max-per-source 10 --idle-timeout 60 \\
        --metrics tcp:9100

Registered as the entry point C{serve} of the group C{netlab.services}.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from twisted.application.service import IService
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import AbstractDatagramProtocol, Protocol
from twisted.python import usage
from zope.interface import directlyProvides, providedBy

from netlab._udpserver import GuardedDatagramProtocol
from netlab.errors import StartupError
from netlab.policies import TrafficStats
from netlab.service import (
    IServiceContext,
    NetlabService,
    StreamOptions,
    datagramParameters,
    idleTimeoutParameter,
)

__all__ = ["ServeOptions", "resolve", "serve"]

DEFAULT_NAME = "serve"

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


class ServeOptions(StreamOptions):
    """
    C{twistd netlab serve}: a factory of your own behind netlab's guard.
    """

    synopsis = (
        "--factory MODULE:ATTRIBUTE --listen ENDPOINT... | "
        "--protocol MODULE:ATTRIBUTE --udp-port N"
    )
    longdesc = (
        "Serve any Twisted protocol factory with netlab's connection limits, "
        "metrics, drain on SIGTERM and startup errors. --factory names (as "
        "module:attribute, importable from this Python) an IProtocolFactory "
        "provider, a factory class, or a callable taking no arguments that "
        "returns one; it listens on every --listen endpoint. --protocol does "
        "the same for a DatagramProtocol on --udp-port, behind netlab's UDP "
        "reflection guard. netlab cannot know what idleness means to your "
        "protocol, nor how it says no: --idle-timeout is off unless given, "
        "and a connection over a limit is closed without a word (the "
        "refusal is logged and counted)."
    )
    optParameters: list[list[Any]] = [
        [
            "factory",
            None,
            None,
            "The stream protocol factory to serve, as module:attribute.",
        ],
        [
            "protocol",
            None,
            None,
            "The datagram protocol to serve, as module:attribute.",
        ],
        [
            "name",
            None,
            DEFAULT_NAME,
            "The service's name in logs and in its metrics' service label; "
            "services joined with '+' need different names.",
        ],
        idleTimeoutParameter(0),
        *datagramParameters(None),
    ]

    def serviceName(self) -> str:
        """
        @return: C{--name}.
        """
        return str(self["name"])

    def postOptions(self) -> None:
        super().postOptions()
        if not _NAME.match(self["name"]):
            raise usage.UsageError(
                f"--name {self['name']!r}: use up to 64 letters, digits, '.', "
                "'_' or '-'"
            )
        if self["factory"] is None and self["protocol"] is None:
            raise usage.UsageError(
                "give --factory MODULE:ATTRIBUTE (with --listen) or --protocol "
                "MODULE:ATTRIBUTE (with --udp-port)"
            )
        if self["factory"] is not None and not self["listen"]:
            raise usage.UsageError(
                "--factory needs somewhere to listen: give --listen ENDPOINT, "
                "e.g. --listen tcp:9000"
            )
        if self["factory"] is None and self["listen"]:
            raise usage.UsageError("--listen is for --factory")
        if self["protocol"] is not None and self["udp-port"] is None:
            raise usage.UsageError("--protocol needs --udp-port N")
        if self["protocol"] is None and self["udp-port"] is not None:
            raise usage.UsageError("--udp-port is for --protocol")


def _load(option: str, path: str) -> Any:
    module, colon, attribute = path.partition(":")
    if not colon or not module or not attribute:
        raise StartupError(
            f"{option} {path}: give MODULE:ATTRIBUTE, e.g. mypkg.server:makeFactory"
        )
    try:
        found: Any = importlib.import_module(module)
    except Exception as e:  # whatever the import raised
        raise StartupError(
            f"{option} {path}: cannot import {module}: {type(e).__name__}: {e}"
        ) from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise StartupError(
                f"{option} {path}: {module} has no attribute {attribute}"
            ) from None
        except Exception as e:  # a property or module __getattr__ that fails
            raise StartupError(
                f"{option} {path}: reading {attribute} failed: {type(e).__name__}: {e}"
            ) from None
    return found


def resolve(option: str, path: str, accept: Callable[[object], bool], kind: str) -> Any:
    """
    Find what C{path} names and make it the object wanted.

    @param option: the option that named it, for errors.
    @param path: C{module:attribute}.
    @param accept: whether an object is one of the kind wanted.
    @param kind: that kind, for errors, e.g. C{"protocol factory"}.
    @return: the object named, if C{accept}ed; else what calling it with no
        arguments returns (a class is instantiated).
    @raise StartupError: if it cannot be imported, or neither it nor what
        calling it returns is accepted.
    """
    found = _load(option, path)
    if not isinstance(found, type) and accept(found):
        return found
    if not callable(found):
        raise StartupError(
            f"{option} {path}: {type(found).__name__} is not a {kind}, a "
            f"{kind} class or a callable returning one"
        )
    try:
        made = found()
    except Exception as e:  # whatever the user's code raised
        raise StartupError(
            f"{option} {path}: calling it failed: {type(e).__name__}: {e}"
        ) from None
    if not accept(made):
        hint = ""
        if isinstance(found, type) and issubclass(found, Protocol):
            hint = (
                f"; for a Protocol class, name a factory such as "
                f"Factory.forProtocol({found.__name__})"
            )
        raise StartupError(
            f"{option} {path}: it returned {type(made).__name__}, not a {kind}{hint}"
        )
    return made


class _CountingTransport:
    """
    A datagram transport that counts the bytes written through it.
    """

    def __init__(self, transport: Any, stats: TrafficStats) -> None:
        self._transport = transport
        self._stats = stats
        directlyProvides(self, providedBy(transport))

    def write(self, packet: bytes, addr: Any = None) -> Any:
        self._stats.bytesSent += len(packet)
        return self._transport.write(packet, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedDatagram(GuardedDatagramProtocol):
    """
    Any datagram protocol behind a L{netlab.udp.DatagramGuard}: it is given
    only the datagrams the guard admits.  Each admitted datagram counts as
    a message.
    """

    def __init__(self, protocol: AbstractDatagramProtocol, clock: Any, **kw: Any):
        super().__init__(clock, **kw)
        self.wrapped = protocol

    def startProtocol(self) -> None:
        super().startProtocol()
        counting: Any = _CountingTransport(self.transport, self.stats)
        self.wrapped.makeConnection(counting)

    def stopProtocol(self) -> None:
        super().stopProtocol()
        self.wrapped.doStop()

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        stats = self.stats
        stats.bytesReceived += len(datagram)
        if self.admit(addr[0], addr[1]):
            stats.messages += 1
            self.wrapped.datagramReceived(datagram, addr)

    def connectionRefused(self) -> None:
        refused = getattr(self.wrapped, "connectionRefused", None)
        if refused is not None:
            refused()


def _isFactory(candidate: object) -> bool:
    return IProtocolFactory.providedBy(candidate)


def _isDatagramProtocol(candidate: object) -> bool:
    return isinstance(candidate, AbstractDatagramProtocol)


def _build(options: usage.Options, context: IServiceContext) -> list[IService]:
    services: list[IService] = []
    if options["factory"] is not None:
        factory = resolve(
            "--factory", options["factory"], _isFactory, "protocol factory"
        )
        # Refused connections are closed without a word: any text would be
        # read as the protocol's own.
        services.extend(context.listen(factory, options, refusalLine=None))
    if options["protocol"] is not None:
        protocol = resolve(
            "--protocol", options["protocol"], _isDatagramProtocol, "DatagramProtocol"
        )
        guarded = GuardedDatagram(
            protocol,
            context.reactor,
            guard=context.datagramGuard(options),
            stats=TrafficStats(context.name, "udp"),
        )
        services.append(context.bindDatagram(guarded, options))
    return services


serve = NetlabService(
    "Any Twisted factory (--factory) or datagram protocol (--protocol), "
    "with netlab's limits, metrics and drain.",
    ServeOptions,
    _build,
)
"""
C{twistd netlab serve}.
"""
