"""
Policies that wrap any stream service, the same way for every one: limits on
connections in total and per source address, an idle timeout, traffic
counters, a log line for each connection opened and closed, and a graceful
drain when the service stops.

They wrap a factory and leave it alone (in the manner of
C{twisted.protocols.policies}), so they serve netlab's factories and any
other::

    from netlab.policies import ConnectionGuard, ConnectionLimits

    guard = ConnectionGuard(
        EchoFactory(), reactor, ConnectionLimits(maxPerSource=10), service="echo"
    )
    serverFromString(reactor, "tcp:21568").listen(guard)
    ...
    yield guard.drain(grace=5)   # on the way out

A connection over a limit is accepted, told why in one line (if the service
says how its lines look: C{refusalLine}) and closed; the refusal is counted
in L{TrafficStats.refusals} and logged at a bounded rate.  Connections
already open are not affected.

One guard serves every endpoint of its service, so that the limits hold for
the service as a whole; to count each kind of endpoint apart (for the
C{transport} label of the metrics), listen on each through
L{ConnectionGuard.listenerFactory}::

    serverFromString(reactor, "tcp:21568").listen(guard.listenerFactory("tcp"))
    serverFromString(reactor, "ssl:21569:...").listen(guard.listenerFactory("tls"))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
from twisted.internet import tcp
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IHandshakeListener,
    ILoggingContext,
    INegotiated,
    IProtocolFactory,
    IReactorTime,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import Interface, directlyProvides, implementer, providedBy

from netlab._flow import CLOSE_TIMEOUT, closeWhenWritten, sendDirect
from netlab._peer import formatAddress, formatPeer
from netlab._ratelog import RateLimitedLog

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_PER_SOURCE",
    "DEFAULT_TLS_HANDSHAKE_TIMEOUT",
    "ConnectionGuard",
    "ConnectionLimits",
    "GuardedConnection",
    "IDrainable",
    "TrafficStats",
]

_log = Logger()

DEFAULT_MAX_CONNECTIONS = 10000
"""
Connections one service holds at once (C{--max-connections}).
"""

DEFAULT_MAX_PER_SOURCE = 100
"""
Connections one source address may hold at once (C{--max-per-source}).
"""

DEFAULT_IDLE_TIMEOUT = 300.0
"""
Seconds a connection may go without sending or receiving a byte
(C{--idle-timeout}).
"""

DEFAULT_GRACE = 5.0
"""
Seconds connections get to finish when their service stops (C{--grace}).
"""

DEFAULT_TLS_HANDSHAKE_TIMEOUT = 10.0
"""
Seconds a TLS connection may take to finish its handshake
(C{--tls-handshake-timeout}).
"""


@attrs.frozen
class ConnectionLimits:
    """
    What one stream service lets its peers hold.  0 turns a limit off.

    @ivar maxConnections: connections open at once, in all.
    @ivar maxPerSource: connections open at once from one source address
        (connections without one, such as UNIX sockets, count only
        towards C{maxConnections}).
    @ivar idleTimeout: seconds without a byte received or sent after which
        a connection is closed.  It is checked every tenth of that time (at
        least every 30 seconds), so a connection goes that much later at
        most.  One closed that way but still open at the next check (its
        peer reads nothing, so the goodbye cannot be sent) is aborted.
    @ivar tlsHandshakeTimeout: seconds a TLS connection may take to finish
        its handshake before it is aborted, whatever else it is waiting for;
        connections that are not TLS are not concerned.
    @ivar closeTimeout: seconds a connection that is closing (whoever
        closed it, except a drain, which has its own grace) may take to send
        what was written to it before it is aborted: a peer that reads
        nothing cannot hold it, or its slot, for ever.
    """

    maxConnections: int = DEFAULT_MAX_CONNECTIONS
    maxPerSource: int = DEFAULT_MAX_PER_SOURCE
    idleTimeout: float = DEFAULT_IDLE_TIMEOUT
    tlsHandshakeTimeout: float = DEFAULT_TLS_HANDSHAKE_TIMEOUT
    closeTimeout: float = CLOSE_TIMEOUT

    def __attrs_post_init__(self) -> None:
        if not (
            self.maxConnections >= 0
            and self.maxPerSource >= 0
            and self.idleTimeout >= 0  # and not NaN
            and self.tlsHandshakeTimeout >= 0
            and self.closeTimeout >= 0
        ):
            raise ValueError("a limit cannot be negative (0 turns it off)")


@attrs.define(eq=False)
class TrafficStats:
    """
    Counters of one service over one transport, as plain numbers: cheap to
    count on every message, read when someone asks (the metrics endpoint).

    Bytes of a connection are added when it closes; L{ConnectionGuard.bytes}
    adds those of the open ones.

    @ivar service: the service's name, e.g. C{"echo"}.
    @ivar transport: the kind of endpoint counted: C{"tcp"}, C{"tls"},
        C{"unix"} (or another kind, as
        L{netlab._service.transportOf} names it) for connections, C{"udp"}
        for datagrams.  A L{ConnectionGuard} sets it to its first
        listener's (see L{ConnectionGuard.listenerFactory}).
    @ivar connectionsTotal: connections accepted (not refused) so far.
    @ivar bytesReceived: bytes received, by closed connections or
        datagrams.
    @ivar bytesSent: bytes sent, likewise.
    @ivar messages: what the service counts as one message: a chunk or a
        line received (timestamp), a chunk echoed, a chat line received, a
        datagram answered.
    @ivar refusals: connections or datagrams refused, by reason, and
        connections closed for being idle (C{idle-timeout}).
    @ivar protocol: for a service with listeners of several kinds (chat's
        line protocol, IRC, the web), which one is counted; C{""} for a
        service that speaks one (the metrics then have no C{protocol}
        label).
    """

    service: str
    transport: str = "tcp"
    connectionsTotal: int = 0
    bytesReceived: int = 0
    bytesSent: int = 0
    messages: int = 0
    refusals: dict[str, int] = attrs.Factory(dict)
    protocol: str = ""


@attrs.frozen
class TransportCounts:
    """
    What a L{ConnectionGuard} has counted over one transport, as it is at
    one moment (see L{ConnectionGuard.byTransport}).

    @ivar transport: the kind of endpoint, e.g. C{"tls"}.
    @ivar protocol: the C{protocol} label, C{""} if none.
    @ivar openConnections: connections open now.
    @ivar connectionsTotal: connections accepted so far.
    @ivar bytesReceived: bytes received, by closed and open connections.
    @ivar bytesSent: bytes sent, likewise.
    @ivar messages: messages counted (see L{ConnectionGuard.listenerFactory}
        for how they are told apart by transport).
    @ivar refusals: connections refused or cut, by reason.
    """

    transport: str
    protocol: str
    openConnections: int
    connectionsTotal: int
    bytesReceived: int
    bytesSent: int
    messages: int
    refusals: Mapping[str, int]


class IDrainable(Interface):
    """
    A protocol that knows how to say goodbye when its service stops.

    L{ConnectionGuard.drain} calls it instead of simply closing the
    connection once everything written has been sent.
    """

    def disconnect(reason: str) -> None:
        """
        Tell the peer C{reason}, and close once everything is sent.
        """


LINGER_TIMEOUT = 5.0
"""
Seconds a closing connection waits, after its last byte was sent, for the
peer to close too (see L{GuardedConnection}).
"""

REFUSAL_TIMEOUT = 10.0
"""
Seconds a refused connection may take to be told why (over TLS, that waits
for the handshake) before it is cut.
"""


class _Refused(Protocol):
    """
    A connection over a limit: one line saying why, then closed; cut if
    that takes longer than L{REFUSAL_TIMEOUT}.
    """

    def __init__(self, line: bytes | None, clock: IReactorTime) -> None:
        self._line = line
        self._clock = clock
        self._abort: Any = None
        self._lost = False

    def connectionMade(self) -> None:
        transport: Any = self.transport
        if self._line:
            transport.write(self._line)
        transport.loseConnection()
        if not self._lost:
            self._abort = self._clock.callLater(
                REFUSAL_TIMEOUT, transport.abortConnection
            )

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._lost = True
        if self._abort is not None and self._abort.active():
            self._abort.cancel()
        self._abort = None


def _host(address: IAddress | None) -> str | None:
    host = getattr(address, "host", None)
    return host if isinstance(host, str) else None


class GuardedConnection(ProtocolWrapper):
    """
    One connection of a L{ConnectionGuard}: counts its bytes, and is the
    transport of the protocol it wraps.

    Closing (C{loseConnection}, whoever asks for it) is a lingering close
    on TCP and UNIX connections: once everything written is sent, the
    sending side is shut down, and what the peer still sends is read and
    discarded until it closes too (or L{LINGER_TIMEOUT} seconds pass).
    Closing a socket with unread input makes the kernel reset the
    connection and throw away what it had not yet delivered; a peer still
    sending when the server closes would otherwise lose the end of its
    replies.

    @ivar bytesReceived: bytes received on this connection so far.
    @ivar bytesSent: bytes written to it so far.
    @ivar opened: when it was made, by the guard's clock.
    @ivar host: its source address, or C{None} if it has none.
    @ivar stats: the counters of its transport, where it is counted when it
        opens and closes and when it is cut.
    """

    factory: ConnectionGuard
    transport: Any
    wrappedProtocol: Any

    def __init__(
        self,
        factory: ConnectionGuard,
        wrappedProtocol: Any,
        host: str | None,
        stats: TrafficStats | None = None,
        refusalLine: Callable[[str, str], bytes | None] | None = None,
    ) -> None:
        """
        @param factory: the guard.
        @param wrappedProtocol: the service's protocol.
        @param host: the source address, or C{None}.
        @param stats: the counters of the listener it came in by; the
            guard's own (L{ConnectionGuard.stats}) if C{None}.
        @param refusalLine: what it is told if the guard closes it for
            being idle, in its protocol's words; the guard's own line if
            C{None}.
        """
        super().__init__(factory, wrappedProtocol)  # type: ignore[arg-type]
        self.host = host
        self.refusalLine = refusalLine
        self.stats = stats if stats is not None else factory.stats
        self.bytesReceived = 0
        self.bytesSent = 0
        self.opened = 0.0
        self._quietSince = 0.0
        self._seen = 0
        self._closing: str | None = None
        self._closedIdle = False
        self._readClosed = False
        self._lingering = False
        self._lingerCall: Any = None
        self._closeCall: Any = None
        self._handshakeCall: Any = None
        self._draining = False

    def makeConnection(self, transport: Any) -> None:
        # The wrapper takes half-close whatever it wraps: it needs to hear
        # of both halves to close lingering.  And it hears when a TLS
        # handshake is done, to stop its clock.
        directlyProvides(
            self, providedBy(transport), IHalfCloseableProtocol, IHandshakeListener
        )
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self.wrappedProtocol.makeConnection(self)

    def connectionMade(self) -> None:
        guard = self.factory
        self.opened = self._quietSince = guard.clock.seconds()
        self.stats.connectionsTotal += 1
        if guard.logConnections:
            _log.info(
                "{service}: connection from {peer} opened",
                service=guard.service,
                peer=formatPeer(self.transport),
            )
        timeout = guard.limits.tlsHandshakeTimeout
        if timeout and INegotiated.providedBy(self.transport):
            self._handshakeCall = guard.clock.callLater(
                timeout, self._handshakeTimedOut
            )

    def handshakeCompleted(self) -> None:
        """
        The TLS handshake is done: the peer is no longer on its clock.
        """
        if self._handshakeCall is not None and self._handshakeCall.active():
            self._handshakeCall.cancel()
        self._handshakeCall = None
        if IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()

    def _handshakeTimedOut(self) -> None:
        self._handshakeCall = None
        timeout = self.factory.limits.tlsHandshakeTimeout
        self._closing = f"no TLS handshake within {timeout:g}s"
        self.factory._count(
            "tls-handshake-timeout",
            f"the TLS handshake was not done within {timeout:g}s "
            "(--tls-handshake-timeout); aborted",
            self.transport.getPeer(),
            self.stats,
            verb="cut",
        )
        self.transport.abortConnection()

    # From the peer

    def dataReceived(self, data: bytes) -> None:
        self.bytesReceived += len(data)
        self.wrappedProtocol.dataReceived(data)

    def readConnectionLost(self) -> None:
        self._readClosed = True
        if self._lingering:
            # The peer is done too: close for good.
            self.transport.loseConnection()
        elif IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.readConnectionLost()
        else:
            # What Twisted does for a protocol without half-close, except
            # that what was written is still sent.
            self.loseConnection()

    def writeConnectionLost(self) -> None:
        if self._lingering:
            # Everything is sent and the peer told so; give it a moment to
            # finish and close (that moment, not the close deadline, is what
            # bounds it now).
            self._cancelCloseDeadline()
            self._lingerCall = self.factory.clock.callLater(
                LINGER_TIMEOUT, self.transport.loseConnection
            )
        elif IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.writeConnectionLost()
        else:
            self.transport.abortConnection()

    def _discard(self, data: bytes) -> None:
        self.bytesReceived += len(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        guard = self.factory
        stats = self.stats
        stats.bytesReceived += self.bytesReceived
        stats.bytesSent += self.bytesSent
        if guard.logConnections:
            _log.info(
                "{service}: connection from {peer} closed after {duration:.3f}s, "
                "{bytesReceived} bytes received, {bytesSent} sent ({why})",
                service=guard.service,
                peer=formatPeer(self.transport),
                duration=guard.clock.seconds() - self.opened,
                bytesReceived=self.bytesReceived,
                bytesSent=self.bytesSent,
                why=self._closing or reason.getErrorMessage(),
            )
        for call in (self._lingerCall, self._closeCall, self._handshakeCall):
            if call is not None and call.active():
                call.cancel()
        self._lingerCall = self._closeCall = self._handshakeCall = None
        # The wrapped protocol hears of it before the guard forgets the
        # connection, so that whoever waits for a drain finds it gone (a
        # chat user out of the hub).
        try:
            self.wrappedProtocol.connectionLost(reason)
        finally:
            guard.unregisterProtocol(self)
            self.wrappedProtocol = None

    # To the peer

    def loseConnection(self) -> None:
        """
        Close once everything written is sent, lingering (see the class
        docstring) on TCP and UNIX connections still open for reading.
        """
        if self._lingering:
            return
        self.disconnecting = 1
        self._startCloseDeadline()
        transport = self.transport
        if (
            self._readClosed
            or not isinstance(transport, tcp.Server)
            or transport.TLS
            or transport.disconnecting
        ):
            transport.loseConnection()
            return
        self._lingering = True
        # Read on, whatever the wrapped protocol wanted, and throw it away.
        self.dataReceived = self._discard  # type: ignore[method-assign]
        if transport.producer is not None:
            transport.unregisterProducer()
        transport.resumeProducing()
        transport.loseWriteConnection()

    def _startCloseDeadline(self) -> None:
        timeout = self.factory.limits.closeTimeout
        if timeout and self._closeCall is None and not self._draining:
            self._closeCall = self.factory.clock.callLater(timeout, self._closeTimedOut)

    def _cancelCloseDeadline(self) -> None:
        if self._closeCall is not None and self._closeCall.active():
            self._closeCall.cancel()
        self._closeCall = None

    def _closeTimedOut(self) -> None:
        self._closeCall = None
        timeout = self.factory.limits.closeTimeout
        self._closing = (
            f"{self._closing or 'closing'}; aborted: what was written to it "
            f"was not taken within {timeout:g}s"
        )
        self.transport.abortConnection()

    def write(self, data: bytes) -> None:
        self.bytesSent += len(data)
        self.transport.write(data)

    def writeSequence(self, data: Any) -> None:
        data = list(data)
        self.bytesSent += sum(map(len, data))
        self.transport.writeSequence(data)

    def directWriter(self) -> Callable[[bytes], None]:
        """
        The write function for L{netlab._flow.directWriter}: it sends
        straight to the socket, as that does, and counts what it sends.
        """
        transport = self.transport
        if type(transport) is tcp.Server and not transport.TLS:
            return sendDirect(transport, self)
        return self.write

    # The guard's doing

    def _isIdle(self, now: float, timeout: float) -> bool:
        seen = self.bytesReceived + self.bytesSent
        if seen != self._seen:
            self._seen = seen
            self._quietSince = now
            return False
        return now - self._quietSince >= timeout

    def close(self, why: str, line: bytes | None) -> None:
        """
        Close the connection on the guard's behalf: C{line} first, if any,
        then once everything written is sent.

        @param why: for the log, e.g. C{idle for 300s}.
        """
        if self._closing is None:
            self._closing = why
            if line:
                self.write(line)
            closeWhenWritten(self)  # type: ignore[arg-type]

    def drain(self, reason: str) -> None:
        """
        Say goodbye for a service that is stopping: through the wrapped
        protocol if it is L{IDrainable}, or else by closing once everything
        written is sent (reading stops at once).
        """
        if self._closing is None:
            self._closing = f"service stopping: {reason}"
            # The drain's grace, not the close deadline, bounds it now.
            self._draining = True
            self._cancelCloseDeadline()
            if IDrainable.providedBy(self.wrappedProtocol):
                self.wrappedProtocol.disconnect(reason)
            else:
                closeWhenWritten(self)  # type: ignore[arg-type]


class ConnectionGuard(WrappingFactory):
    """
    Wraps a stream service's factory with L{ConnectionLimits}, traffic
    counters, connection logging and a graceful L{drain}.

    The guard is itself the factory to listen with, for a service counted
    as one transport (its C{stats}' one); to count several kinds of
    endpoint apart, listen on each with L{listenerFactory}.  Either way
    the limits hold for the guard as a whole.

    @ivar service: the service's name, for logs and metrics.
    @ivar limits: the limits in force.
    @ivar stats: the counters of the guard's first transport (that of its
        first L{listenerFactory}, or C{"tcp"} unless the stats say
        otherwise): the wrapped factory's C{stats} if it has a
        L{TrafficStats}, so that the factory's own counts (messages) and
        the guard's land in one place.  L{byTransport} has those of every
        transport.
    @ivar clock: paces the idle checks, the logging and the drain.
    @ivar logConnections: whether each connection opened and closed is
        logged (the parent of C{--workers} leaves that to the workers).
    """

    protocol = GuardedConnection  # type: ignore[assignment]
    noisy = False  # The wrapped factory says it is starting.
    logConnections = True
    protocols: dict[GuardedConnection, int]  # type: ignore[assignment]

    def __init__(
        self,
        wrappedFactory: IProtocolFactory,
        clock: IReactorTime,
        limits: ConnectionLimits | None = None,
        service: str = "",
        refusalLine: Callable[[str, str], bytes | None] | None = None,
        protocol: str = "",
    ) -> None:
        """
        @param wrappedFactory: the service's factory.
        @param clock: the reactor, or a C{Clock} in tests.
        @param limits: the limits; L{ConnectionLimits}' defaults if C{None}.
        @param service: the service's name, e.g. C{"echo"}.
        @param refusalLine: given a short code (C{max-connections},
            C{max-per-source}, C{idle-timeout}) and a sentence, the line
            the service's peers understand; C{None} (or a function that
            returns C{None}) to close without a word.
        @param protocol: the C{protocol} label of what this guard serves,
            for a service with listeners of several kinds; if given, it is
            set on C{stats} (the wrapped factory's, if it has some).
        """
        super().__init__(wrappedFactory)
        self.clock = clock
        self.limits = limits if limits is not None else ConnectionLimits()
        self.service = service or type(wrappedFactory).__name__
        stats = getattr(wrappedFactory, "stats", None)
        self.stats = (
            stats if isinstance(stats, TrafficStats) else TrafficStats(self.service)
        )
        if protocol:
            self.stats.protocol = protocol
        self._listeners: dict[tuple[str, int], _Listener] = {}
        # The first counters of each other protocol's factory.
        self._homes: dict[IProtocolFactory, TrafficStats] = {}
        self._refusalLine = refusalLine or (lambda code, text: None)
        self._sources: dict[str, int] = {}
        self._refusalLogs: dict[str, RateLimitedLog] = {}
        self._idleCall: Any = None
        self._drained: list[Deferred[None]] = []

    def __repr__(self) -> str:
        return f"<ConnectionGuard {self.service} ({len(self.protocols)} open)>"

    # Listeners

    def listenerFactory(
        self,
        transport: str,
        factory: IProtocolFactory | None = None,
        protocol: str = "",
        refusalLine: Callable[[str, str], bytes | None] | None = None,
    ) -> IProtocolFactory:
        """
        The factory to listen with on an endpoint of kind C{transport}: its
        connections go through this guard, under its limits (which hold for
        all its listeners together), and are counted (opened, bytes,
        refusals and cuts) under C{transport}.  Starting and stopping it
        starts and stops the guard, and so the wrapped factory, as
        listening on the guard itself would.

        The first transport asked for is the guard's own: L{stats} are
        its counters (their C{transport} becomes it), and connections the
        guard builds itself are counted there too.  Each other transport
        gets counters of its own, with the same C{protocol} label.  Ask
        before listening.

        A service that speaks several protocols (chat's line protocol and
        IRC, say) serves each behind one guard, so that the limits hold for
        its connections of every protocol together and its drain closes
        them all: C{factory} is the factory of another protocol, counted
        under C{protocol}, whose refused connections are told
        C{refusalLine}'s line (the guard's own, if C{None}).  Starting and
        stopping such a listener also starts and stops C{factory}.

        Messages are counted by the service's protocols, not here.  So
        that they are told apart by transport too, while the wrapped
        factory builds a protocol for a listener of another transport, its
        C{stats} attribute (if it is L{stats}) is that transport's
        counters: a factory that hands C{self.stats} to its protocols in
        C{buildProtocol}, as netlab's do, has its messages counted by
        transport.  Protocols that find their counters any other way count
        every message under the first transport.  The same goes for the
        factory of another protocol: its own C{stats}, if it has a
        L{TrafficStats}, are the counters of its first listener.

        @param transport: the kind of endpoint, as
            L{netlab._service.transportOf} names it: C{"tcp"}, C{"tls"},
            C{"unix"}...
        @param factory: the factory to build protocols with; the wrapped
            factory if C{None}.
        @param protocol: the C{protocol} label of C{factory}'s listeners
            (the guard's own label for the wrapped factory).
        @param refusalLine: see L{ConnectionGuard.__init__}.
        @return: the same factory each time for one transport and factory.
        """
        home: TrafficStats | None
        if factory is None or factory is self.wrappedFactory:
            factory = self.wrappedFactory
            home = self.stats
            protocol = self.stats.protocol
        else:
            home = self._homes.get(factory)
        key = (transport, id(factory))
        listener = self._listeners.get(key)
        if listener is None:
            if home is None:
                # Another protocol's first listener.
                own = getattr(factory, "stats", None)
                if isinstance(own, TrafficStats):
                    own.service, own.transport, own.protocol = (
                        self.service,
                        transport,
                        protocol,
                    )
                    home = own
                else:
                    home = TrafficStats(self.service, transport, protocol=protocol)
                self._homes[factory] = home
                stats = home
            elif not any(
                other.factory is factory for other in self._listeners.values()
            ):
                # The wrapped factory's first listener.
                home.transport = transport
                stats = home
            else:
                stats = TrafficStats(self.service, transport, protocol=protocol)
            line = self._refusalLine if refusalLine is None else refusalLine
            listener = self._listeners[key] = _Listener(
                self, stats, factory, home, line
            )
        return listener

    # Connections in and out

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:  # type: ignore[override]
        return self._admit(addr, self.stats)

    def _admit(
        self,
        addr: IAddress | None,
        stats: TrafficStats,
        factory: Any = None,
        home: TrafficStats | None = None,
        refusalLine: Callable[[str, str], bytes | None] | None = None,
    ) -> Protocol | None:
        """
        Build the protocol of a connection from C{addr}, or refuse it,
        counting it in C{stats}.

        @param factory: the factory to build with; the wrapped one if
            C{None}.
        @param home: the counters C{factory} holds as its own, which it
            holds C{stats} in place of while it builds.
        @param refusalLine: what a refused connection is told; the guard's
            own if C{None}.
        """
        limits = self.limits
        host = _host(addr)
        if limits.maxConnections and len(self.protocols) >= limits.maxConnections:
            return self._refuse(
                "max-connections",
                f"the server has too many connections ({limits.maxConnections}); "
                "try again later",
                addr,
                stats,
                refusalLine,
            )
        if (
            host is not None
            and limits.maxPerSource
            and self._sources.get(host, 0) >= limits.maxPerSource
        ):
            return self._refuse(
                "max-per-source",
                f"too many connections from your address ({limits.maxPerSource}); "
                "close one and try again",
                addr,
                stats,
                refusalLine,
            )
        if factory is None or home is None:
            factory = self.wrappedFactory
            home = self.stats
        if stats is home or not _holdsStats(factory, home):
            wrapped = factory.buildProtocol(addr)
        else:
            factory.stats = stats
            try:
                wrapped = factory.buildProtocol(addr)
            finally:
                factory.stats = home
        if wrapped is None:
            return None
        return GuardedConnection(self, wrapped, host, stats, refusalLine)

    def _refuse(
        self,
        code: str,
        text: str,
        addr: IAddress | None,
        stats: TrafficStats,
        refusalLine: Callable[[str, str], bytes | None] | None = None,
    ) -> Protocol:
        self._count(code, text, addr, stats)
        line = (refusalLine or self._refusalLine)(code, text)
        return _Refused(line, self.clock)

    def _count(
        self,
        code: str,
        text: str,
        addr: IAddress | None,
        stats: TrafficStats,
        verb: str = "refused",
    ) -> None:
        """
        Count a connection refused or cut for C{code} in C{stats}, and log
        it at a bounded rate.
        """
        refusals = stats.refusals
        refusals[code] = refusals.get(code, 0) + 1
        log = self._refusalLogs.get(code)
        if log is None:
            log = self._refusalLogs[code] = RateLimitedLog(_log, self.clock)
        log.warn(
            "{service}: {verb} a connection from {peer}: {text}",
            service=self.service,
            verb=verb,
            peer=formatAddress(addr),
            text=text,
            code=code,
        )

    def registerProtocol(self, p: GuardedConnection) -> None:  # type: ignore[override]
        self.protocols[p] = 1
        host = p.host
        if host is not None:
            self._sources[host] = self._sources.get(host, 0) + 1
        if self._idleCall is None and self.limits.idleTimeout:
            self._scheduleIdleCheck()

    def unregisterProtocol(self, p: GuardedConnection) -> None:  # type: ignore[override]
        del self.protocols[p]
        host = p.host
        if host is not None:
            left = self._sources[host] - 1
            if left:
                self._sources[host] = left
            else:
                del self._sources[host]
        if not self.protocols:
            if self._idleCall is not None:
                self._idleCall.cancel()
                self._idleCall = None
            drained, self._drained = self._drained, []
            for d in drained:
                d.callback(None)

    # What the metrics read

    def openConnections(self) -> int:
        """
        @return: how many connections are open now.
        """
        return len(self.protocols)

    def bytes(self) -> tuple[int, int]:
        """
        @return: bytes received and sent so far, by closed and open
            connections, over every transport.
        """
        received = sent = 0
        for stats in self._allStats():
            received += stats.bytesReceived
            sent += stats.bytesSent
        for p in self.protocols:
            received += p.bytesReceived
            sent += p.bytesSent
        return received, sent

    def byTransport(self) -> list[TransportCounts]:
        """
        @return: what has been counted over each transport, the guard's own
            (that of L{stats}) first, then those of the other listeners in
            the order they were made.
        """
        everyStats = self._allStats()
        live = {stats: [0, 0, 0] for stats in everyStats}
        for p in self.protocols:
            row = live.get(p.stats)
            if row is None:
                # Counters given by hand to a connection: not reported.
                continue
            row[0] += 1
            row[1] += p.bytesReceived
            row[2] += p.bytesSent
        return [
            TransportCounts(
                transport=stats.transport,
                protocol=stats.protocol,
                openConnections=live[stats][0],
                connectionsTotal=stats.connectionsTotal,
                bytesReceived=stats.bytesReceived + live[stats][1],
                bytesSent=stats.bytesSent + live[stats][2],
                messages=stats.messages,
                refusals=dict(stats.refusals),
            )
            for stats in everyStats
        ]

    def _allStats(self) -> list[TrafficStats]:
        """
        @return: L{stats}, then the counters of every other transport.
        """
        own = self.stats
        return [own] + [
            listener.stats
            for listener in self._listeners.values()
            if listener.stats is not own
        ]

    # Idle connections

    def _scheduleIdleCheck(self) -> None:
        interval = min(self.limits.idleTimeout / 10, 30.0)
        self._idleCall = self.clock.callLater(interval, self._checkIdle)

    def _checkIdle(self) -> None:
        self._idleCall = None
        timeout = self.limits.idleTimeout
        now = self.clock.seconds()
        idle = []
        for p in list(self.protocols):
            if p._closedIdle:
                # Closed at an earlier check and still open: its peer reads
                # nothing, so the goodbye cannot be sent.  Do not let it
                # hold the connection for ever.
                p.transport.abortConnection()
            elif p._closing is None and p._isIdle(now, timeout):
                idle.append(p)
        if idle:
            text = f"nothing sent or received for {timeout:g}s; goodbye"
            lines: dict[object, bytes | None] = {}
            for p in idle:
                refusal = p.refusalLine or self._refusalLine
                if refusal not in lines:
                    lines[refusal] = refusal("idle-timeout", text)
                line = lines[refusal]
                refusals = p.stats.refusals
                refusals["idle-timeout"] = refusals.get("idle-timeout", 0) + 1
                p._closedIdle = True
                p.close(f"idle for {timeout:g}s", line)
        if self.protocols:
            self._scheduleIdleCheck()

    # Stopping

    def drain(
        self, grace: float = DEFAULT_GRACE, reason: str = "the server is shutting down"
    ) -> Deferred[None]:
        """
        Close every connection gracefully: each gets C{reason} (if its
        protocol is L{IDrainable}) and is closed once what was written to
        it is sent; those still open after C{grace} seconds are aborted.
        Stop listening first, or new connections will keep coming.

        @param grace: seconds to wait before aborting; 0 aborts at once.
        @param reason: what to tell the peers.
        @return: a Deferred that fires once every connection is closed.
        """
        if not self.protocols:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._drained.append(d)
        for p in list(self.protocols):
            p.drain(reason)
        if self.protocols:
            abort = self.clock.callLater(grace, self.abortAll)

            def cancelAbort(result: None) -> None:
                if abort.active():
                    abort.cancel()

            d.addCallback(cancelAbort)
        return d

    def abortAll(self) -> None:
        """
        Abort every open connection now, without waiting for their output.
        """
        for p in list(self.protocols):
            p.transport.abortConnection()


def _holdsStats(factory: object, stats: TrafficStats) -> bool:
    """
    @return: whether C{stats} is what C{factory} holds as its own C{stats}
        attribute (in its instance dictionary, so that it can be set and
        set back).
    """
    try:
        return vars(factory).get("stats") is stats
    except TypeError:  # No instance dictionary.
        return False


@implementer(IProtocolFactory, ILoggingContext)
class _Listener:
    """
    The factory of one transport's listeners of a L{ConnectionGuard} (see
    L{ConnectionGuard.listenerFactory}): it builds through the guard,
    counting in its own L{TrafficStats}.

    @ivar guard: the guard.
    @ivar stats: the counters of its transport.
    @ivar factory: the factory it builds protocols with.
    """

    def __init__(
        self,
        guard: ConnectionGuard,
        stats: TrafficStats,
        factory: IProtocolFactory,
        home: TrafficStats,
        refusalLine: Callable[[str, str], bytes | None],
    ) -> None:
        self.guard = guard
        self.stats = stats
        self.factory = factory
        self._home = home
        self._refusalLine = refusalLine
        self._own = factory is guard.wrappedFactory

    def __repr__(self) -> str:
        return f"<listener {self.stats.transport} of {self.guard!r}>"

    @property
    def transport(self) -> str:
        """
        The kind of endpoint it counts, e.g. C{"tls"}.
        """
        return self.stats.transport

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        if self._own:
            return self.guard._admit(addr, self.stats, refusalLine=self._refusalLine)
        return self.guard._admit(
            addr, self.stats, self.factory, self._home, self._refusalLine
        )

    def doStart(self) -> None:
        self.guard.doStart()
        if not self._own:
            self.factory.doStart()

    def doStop(self) -> None:
        if not self._own:
            self.factory.doStop()
        self.guard.doStop()

    def logPrefix(self) -> str:
        if self._own:
            return self.guard.logPrefix()  # type: ignore[no-any-return]
        factory = self.factory
        name = getattr(factory, "logPrefix", lambda: type(factory).__name__)()
        return f"{name} ({type(self.guard).__name__})"
