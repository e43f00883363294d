"""
Tests for L{netlab.policies}: L{ConnectionGuard} and its
L{GuardedConnection}s (limits, idle timeout, traffic counters, connection
logging, half-close, drain), L{ConnectionLimits} and L{TrafficStats}.

Everything runs in memory: L{StringTransport} stands in for the network
(L{StringTransportWithDisconnection} where a close should take effect at
once), a L{Clock} for the time, and a socket object that is never connected
for the one test of Twisted's own TCP connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import (
    IAddress,
    IConsumer,
    IHalfCloseableProtocol,
    IHandshakeListener,
    ILoggingContext,
    INegotiated,
    IProtocol,
    IProtocolFactory,
    IPushProducer,
    ITransport,
)
from twisted.internet.protocol import Factory, Protocol, ServerFactory, connectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport, StringTransportWithDisconnection
from twisted.logger import LogEvent, LogLevel, capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from netlab._flow import directWriter, pauseReadingWhenBacklogged
from netlab.chat import ChatFactory, ChatHub
from netlab.echo import EchoFactory
from netlab.policies import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PER_SOURCE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    LINGER_TIMEOUT,
    REFUSAL_TIMEOUT,
    ConnectionGuard,
    ConnectionLimits,
    GuardedConnection,
    IDrainable,
    TrafficStats,
    TransportCounts,
)
from netlab.timestamp import Framing, TimestampFactory
from tests.test_flow import RecordingStreamSocket, tcpServer

ALICE = "192.0.2.7"
BOB = "198.51.100.2"

NO_LIMITS = ConnectionLimits(maxConnections=0, maxPerSource=0, idleTimeout=0)


def refusalLine(code: str, text: str) -> bytes:
    """
    A service's refusal line: C{error CODE: TEXT}, LF-terminated.
    """
    return b"error %s: %s\n" % (code.encode(), text.encode())


def events(captured: Sequence[LogEvent], text: str) -> list[LogEvent]:
    """
    @return: the events among C{captured} from L{netlab.policies} whose
        text contains C{text}.
    """
    return [
        event
        for event in captured
        if event.get("log_namespace") == "netlab.policies"
        and text in formatEvent(event)
    ]


class Recorder(Protocol):
    """
    A protocol that records what happens to it.

    @ivar received: every byte received.
    @ivar lost: the reason of each C{connectionLost}.
    """

    def __init__(self) -> None:
        self.received = b""
        self.lost: list[Failure] = []

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost.append(reason)


@implementer(IHalfCloseableProtocol)
class HalfCloser(Recorder):
    """
    A L{Recorder} that takes half-closes, and counts them.
    """

    readLost = 0
    writeLost = 0

    def readConnectionLost(self) -> None:
        self.readLost += 1

    def writeConnectionLost(self) -> None:
        self.writeLost += 1


@implementer(IDrainable)
class Goodbye(Recorder):
    """
    A L{Recorder} that says goodbye itself when its service stops: it
    writes C{bye: REASON} and leaves the connection open, as a protocol
    whose peer has yet to read that would.

    @ivar reasons: the reason of each C{disconnect}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reasons: list[str] = []

    def disconnect(self, reason: str) -> None:
        self.reasons.append(reason)
        assert self.transport is not None
        self.transport.write(b"bye: " + reason.encode() + b"\n")


class RecorderFactory(ServerFactory):
    """
    Builds a L{Recorder} (or a subclass) for each connection, and keeps
    them.

    @ivar built: every protocol built, in order.
    """

    def __init__(self, protocolClass: type[Recorder] = Recorder) -> None:
        self.protocolClass = protocolClass
        self.built: list[Recorder] = []

    def buildProtocol(self, addr: IAddress | None) -> Recorder:
        protocol = self.protocolClass()
        protocol.factory = self
        self.built.append(protocol)
        return protocol


class GuardTestCase(SynchronousTestCase):
    """
    A clock, and helpers to build a guard and connect to it.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.asked: list[tuple[str, str]] = []

    def refusalLine(self, code: str, text: str) -> bytes:
        """
        L{refusalLine}, recording in C{asked} the code and text it was
        asked for.
        """
        self.asked.append((code, text))
        return refusalLine(code, text)

    def guard(
        self,
        limits: ConnectionLimits = NO_LIMITS,
        factory: ServerFactory | None = None,
        refusal: bool = True,
    ) -> ConnectionGuard:
        """
        @return: a guard named C{test} with C{limits} over C{factory} (by
            default a L{RecorderFactory}), that refuses with
            L{refusalLine} if C{refusal}, silently if not.
        """
        return ConnectionGuard(
            factory if factory is not None else RecorderFactory(),
            self.clock,
            limits,
            service="test",
            refusalLine=self.refusalLine if refusal else None,
        )

    def connect(
        self,
        guard: ConnectionGuard,
        peer: IAddress | None = None,
        closesAtOnce: bool = False,
    ) -> tuple[Protocol, StringTransport]:
        """
        Connect to C{guard} from C{peer} (by default L{ALICE}, port 40000).

        @param closesAtOnce: use a L{StringTransportWithDisconnection}, which
            calls C{connectionLost} as soon as it is asked to close, rather
            than a L{StringTransport}, which only records that it was.
        @return: the protocol the guard built (a L{GuardedConnection}, or
            the one a refused connection gets) and its transport.
        """
        if peer is None:
            peer = IPv4Address("TCP", ALICE, 40000)
        protocol = guard.buildProtocol(peer)
        assert protocol is not None
        transport: StringTransport
        if closesAtOnce:
            transport = StringTransportWithDisconnection(peerAddress=peer)
            transport.protocol = protocol
        else:
            transport = StringTransport(peerAddress=peer)
        protocol.makeConnection(transport)
        return protocol, transport

    def accepted(
        self,
        guard: ConnectionGuard,
        peer: IAddress | None = None,
        closesAtOnce: bool = False,
    ) -> tuple[GuardedConnection, StringTransport]:
        """
        L{connect}, and assert that the connection was accepted.
        """
        protocol, transport = self.connect(guard, peer, closesAtOnce)
        self.assertIsInstance(protocol, GuardedConnection)
        assert isinstance(protocol, GuardedConnection)
        return protocol, transport

    def assertRefused(
        self, guard: ConnectionGuard, code: str, peer: IAddress | None = None
    ) -> StringTransport:
        """
        L{connect}, and assert that the connection was refused with the
        refusal line for C{code}: that line, exactly, then closed.

        @return: the refused connection's transport.
        """
        del self.asked[:]
        protocol, transport = self.connect(guard, peer)
        self.assertNotIsInstance(protocol, GuardedConnection)
        [(actualCode, text)] = self.asked
        self.assertEqual(actualCode, code)
        self.assertEqual(transport.value(), refusalLine(code, text))
        self.assertTrue(transport.disconnecting)
        return transport

    def wrapped(self, connection: GuardedConnection) -> Recorder:
        """
        @return: the protocol C{connection} wraps.
        """
        protocol = connection.wrappedProtocol
        assert isinstance(protocol, Recorder)
        return protocol

    def lose(self, connection: GuardedConnection) -> None:
        """
        Tell C{connection} it is closed, as its transport would once it is.
        """
        connection.connectionLost(Failure(ConnectionDone()))

    def assertAbortedAfter(
        self, connection: GuardedConnection, transport: StringTransport, seconds: float
    ) -> None:
        """
        Assert that C{connection} is aborted C{seconds} from now and not
        before, and that once it is lost no call is left pending.
        """
        self.clock.advance(seconds - 0.5)
        self.assertFalse(transport.disconnected)
        self.clock.advance(0.5)
        self.assertTrue(transport.disconnected)
        self.lose(connection)
        self.assertEqual(self.clock.getDelayedCalls(), [])


def at(host: str, port: int = 40000) -> IPv4Address:
    """
    @return: the IPv4 address of a TCP peer at C{host}, C{port}.
    """
    return IPv4Address("TCP", host, port)


class ConnectionLimitsTests(SynchronousTestCase):
    """
    Tests for L{ConnectionLimits}.
    """

    def test_defaults(self) -> None:
        """
        The defaults are 10000 connections in all, 100 per source address
        and five minutes of idleness, the module's constants.
        """
        limits = ConnectionLimits()
        self.assertEqual(
            (limits.maxConnections, limits.maxPerSource, limits.idleTimeout),
            (DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PER_SOURCE, DEFAULT_IDLE_TIMEOUT),
        )
        self.assertEqual(
            (DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PER_SOURCE, DEFAULT_IDLE_TIMEOUT),
            (10000, 100, 300),
        )

    def test_zeroAllowed(self) -> None:
        """
        0, which turns a limit off, is accepted for every limit.
        """
        limits = ConnectionLimits(maxConnections=0, maxPerSource=0, idleTimeout=0)
        self.assertEqual(
            (limits.maxConnections, limits.maxPerSource, limits.idleTimeout),
            (0, 0, 0),
        )

    def test_negativeRejected(self) -> None:
        """
        A negative limit, any of them, is rejected with L{ValueError}, and so
        is an idle timeout that is not a number.
        """
        for limits in (
            {"maxConnections": -1},
            {"maxPerSource": -1},
            {"idleTimeout": -0.5},
            {"idleTimeout": float("nan")},
        ):
            with self.assertRaises(ValueError, msg=str(limits)):
                ConnectionLimits(**limits)  # type: ignore[arg-type]

    def test_value(self) -> None:
        """
        Limits are a frozen value: equal when their fields are, and not
        changed once made.
        """
        self.assertEqual(
            ConnectionLimits(maxPerSource=5), ConnectionLimits(10000, 5, 300.0)
        )
        with self.assertRaises(attrs.exceptions.FrozenInstanceError):
            ConnectionLimits().maxConnections = 1  # type: ignore[misc]


class TrafficStatsTests(SynchronousTestCase):
    """
    Tests for L{TrafficStats}.
    """

    def test_startsAtZero(self) -> None:
        """
        New counters are at zero, over TCP unless told otherwise, with no
        refusals.
        """
        stats = TrafficStats("echo")
        self.assertEqual(
            (
                stats.service,
                stats.transport,
                stats.connectionsTotal,
                stats.bytesReceived,
                stats.bytesSent,
                stats.messages,
                stats.refusals,
            ),
            ("echo", "tcp", 0, 0, 0, 0, {}),
        )
        self.assertEqual(TrafficStats("echo", "udp").transport, "udp")

    def test_protocol(self) -> None:
        """
        Counters have no protocol unless told one.
        """
        self.assertEqual(TrafficStats("chat").protocol, "")
        self.assertEqual(TrafficStats("chat", protocol="irc").protocol, "irc")

    def test_ownRefusals(self) -> None:
        """
        Each service's counters have their own refusals.
        """
        one, two = TrafficStats("one"), TrafficStats("two")
        one.refusals["max-connections"] = 1
        self.assertEqual(two.refusals, {})

    def test_identity(self) -> None:
        """
        Counters have identity: two at the same numbers are not equal, and
        can be kept in a set.
        """
        one, two = TrafficStats("echo"), TrafficStats("echo")
        self.assertNotEqual(one, two)
        self.assertEqual(len({one, two}), 2)


class ConnectionGuardTests(GuardTestCase):
    """
    How L{ConnectionGuard} is put together around a factory.
    """

    def test_sharesFactoryStats(self) -> None:
        """
        A guard over a factory that has L{TrafficStats} counts into them,
        so that the factory's messages and the guard's bytes land in one
        place.
        """
        factory = EchoFactory()
        guard = ConnectionGuard(factory, self.clock, service="echo")
        self.assertIs(guard.stats, factory.stats)

    def test_ownStats(self) -> None:
        """
        A guard over a factory without L{TrafficStats} has its own, named
        after the service, over TCP.
        """
        factory = RecorderFactory()
        factory.stats = "not counters"  # type: ignore[attr-defined]
        guard = ConnectionGuard(factory, self.clock, service="plain")
        self.assertIsInstance(guard.stats, TrafficStats)
        self.assertEqual((guard.stats.service, guard.stats.transport), ("plain", "tcp"))

    def test_serviceNamedAfterFactory(self) -> None:
        """
        Without a service name, the guard goes by its factory's class name.
        """
        guard = ConnectionGuard(Factory.forProtocol(Recorder), self.clock)
        self.assertEqual(guard.service, "Factory")
        self.assertEqual(guard.stats.service, "Factory")

    def test_defaultLimits(self) -> None:
        """
        Without limits, the guard enforces L{ConnectionLimits}' defaults.
        """
        guard = ConnectionGuard(RecorderFactory(), self.clock)
        self.assertEqual(guard.limits, ConnectionLimits())

    def test_wrapsProtocol(self) -> None:
        """
        Each accepted connection is a L{GuardedConnection} around the
        factory's protocol, which it is the transport of, and which gets
        every byte received.
        """
        factory = RecorderFactory()
        connection, transport = self.accepted(self.guard(factory=factory))
        [wrapped] = factory.built
        self.assertIs(connection.wrappedProtocol, wrapped)
        self.assertIs(wrapped.transport, connection)
        self.assertIs(connection.transport, transport)
        connection.dataReceived(b"hello")
        self.assertEqual(wrapped.received, b"hello")
        self.assertEqual(connection.host, ALICE)

    def test_factoryDeclines(self) -> None:
        """
        When the wrapped factory builds no protocol, neither does the
        guard, and nothing is counted.
        """

        class Declining(ServerFactory):
            def buildProtocol(self, addr: IAddress | None) -> None:
                return None

        guard = ConnectionGuard(Declining(), self.clock, NO_LIMITS)
        self.assertIsNone(guard.buildProtocol(at(ALICE)))
        self.assertEqual(
            (guard.openConnections(), guard.stats.connectionsTotal), (0, 0)
        )

    def test_openConnections(self) -> None:
        """
        L{ConnectionGuard.openConnections} is the number of connections
        open now.
        """
        guard = self.guard()
        self.assertEqual(guard.openConnections(), 0)
        one, _ = self.accepted(guard)
        self.accepted(guard, at(BOB))
        self.assertEqual(guard.openConnections(), 2)
        self.lose(one)
        self.assertEqual(guard.openConnections(), 1)

    def test_repr(self) -> None:
        """
        A guard's C{repr} names its service and how many connections it
        holds.
        """
        guard = self.guard()
        self.accepted(guard)
        self.assertEqual(repr(guard), "<ConnectionGuard test (1 open)>")

    def test_startAndStopReachFactory(self) -> None:
        """
        Starting and stopping the guard starts and stops the wrapped
        factory.
        """
        factory = RecorderFactory()
        guard = self.guard(factory=factory)
        guard.doStart()
        self.assertEqual(factory.numPorts, 1)
        guard.doStop()
        self.assertEqual(factory.numPorts, 0)


class LimitTests(GuardTestCase):
    """
    Limits on connections in total and per source address.
    """

    def test_totalLimit(self) -> None:
        """
        Past C{maxConnections}, from any address, a connection is refused
        with the service's refusal line for C{max-connections}, and the
        wrapped factory never sees it.
        """
        factory = RecorderFactory()
        guard = self.guard(ConnectionLimits(2, 0, 0), factory)
        self.accepted(guard, at(ALICE))
        self.accepted(guard, at(BOB))
        self.assertRefused(guard, "max-connections", at("203.0.113.9"))
        self.assertEqual(len(factory.built), 2)
        self.assertEqual(guard.openConnections(), 2)

    def test_refusedCutAfterTimeout(self) -> None:
        """
        A refused connection that does not close once told why (a TLS peer
        that never finishes its handshake never even gets the line) is cut
        after L{REFUSAL_TIMEOUT} seconds; one that closes in time leaves no
        timer behind.
        """
        guard = self.guard(ConnectionLimits(1, 0, 0))
        self.accepted(guard, at(ALICE))
        transport = self.assertRefused(guard, "max-connections", at(BOB))
        # StringTransport records an abort as "disconnected".
        self.clock.advance(REFUSAL_TIMEOUT - 1)
        self.assertFalse(getattr(transport, "disconnected", False))
        self.clock.advance(1)
        self.assertTrue(getattr(transport, "disconnected", False))

        _, closing = self.connect(guard, at(BOB), closesAtOnce=True)
        self.assertFalse(closing.connected)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_totalLimitText(self) -> None:
        """
        The refusal for C{max-connections} says what the limit is and to
        try again later.
        """
        guard = self.guard(ConnectionLimits(1, 0, 0))
        self.accepted(guard)
        transport = self.assertRefused(guard, "max-connections")
        self.assertEqual(
            transport.value(),
            b"error max-connections: the server has too many connections (1); "
            b"try again later\n",
        )

    def test_perSourceLimit(self) -> None:
        """
        Past C{maxPerSource} from one address, a connection from it is
        refused with the refusal line for C{max-per-source}; another
        address is still accepted.
        """
        guard = self.guard(ConnectionLimits(0, 2, 0))
        self.accepted(guard, at(ALICE, 1))
        self.accepted(guard, at(ALICE, 2))
        transport = self.assertRefused(guard, "max-per-source", at(ALICE, 3))
        self.assertEqual(
            transport.value(),
            b"error max-per-source: too many connections from your address (2); "
            b"close one and try again\n",
        )
        self.accepted(guard, at(BOB))

    def test_perSourceIPv6(self) -> None:
        """
        IPv6 addresses are sources like any other.
        """
        guard = self.guard(ConnectionLimits(0, 1, 0))
        self.accepted(guard, IPv6Address("TCP", "2001:db8::1", 1))
        self.assertRefused(
            guard, "max-per-source", IPv6Address("TCP", "2001:db8::1", 2)
        )
        self.accepted(guard, IPv6Address("TCP", "2001:db8::2", 1))

    def test_unixOnlyTowardsTotal(self) -> None:
        """
        Connections without a source address (UNIX sockets) are not held
        to C{maxPerSource}, but count towards C{maxConnections}.
        """
        guard = self.guard(ConnectionLimits(3, 1, 0))
        for name in (b"/run/netlab.sock", None):
            self.accepted(guard, UNIXAddress(name))
        self.accepted(guard, at(ALICE))
        self.assertRefused(guard, "max-connections", UNIXAddress(None))
        self.assertEqual(guard.stats.refusals, {"max-connections": 1})

    def test_unixNoPerSourceLimit(self) -> None:
        """
        Any number of UNIX connections are accepted while only
        C{maxPerSource} is set, and they leave room for the addresses that
        have one.
        """
        guard = self.guard(ConnectionLimits(0, 1, 0))
        for _ in range(5):
            self.accepted(guard, UNIXAddress(None))
        self.accepted(guard, at(ALICE))
        self.assertRefused(guard, "max-per-source", at(ALICE, 2))

    def test_silentRefusal(self) -> None:
        """
        With no refusal line (the guard has no C{refusalLine}, or it
        returns L{None}), a refused connection is closed without a word.
        """
        guard = self.guard(ConnectionLimits(1, 0, 0), refusal=False)
        self.accepted(guard)
        protocol, transport = self.connect(guard, at(BOB))
        self.assertNotIsInstance(protocol, GuardedConnection)
        self.assertEqual(transport.value(), b"")
        self.assertTrue(transport.disconnecting)
        guard = ConnectionGuard(
            RecorderFactory(),
            self.clock,
            ConnectionLimits(1, 0, 0),
            refusalLine=lambda code, text: None,
        )
        self.accepted(guard)
        _, transport = self.connect(guard, at(BOB))
        self.assertEqual(transport.value(), b"")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(guard.stats.refusals, {"max-connections": 1})

    def test_refusalsCountedByCode(self) -> None:
        """
        Refusals are counted in the service's L{TrafficStats.refusals},
        under their code; they are not counted as connections.
        """
        guard = self.guard(ConnectionLimits(3, 2, 0))
        self.accepted(guard, at(ALICE, 1))
        self.accepted(guard, at(ALICE, 2))
        with capturedLogs():
            self.assertRefused(guard, "max-per-source", at(ALICE, 3))
            self.accepted(guard, at(BOB))
            self.assertRefused(guard, "max-connections", at(BOB, 2))
            self.assertRefused(guard, "max-connections", at(ALICE, 4))
        self.assertEqual(
            guard.stats.refusals, {"max-per-source": 1, "max-connections": 2}
        )
        self.assertEqual(guard.stats.connectionsTotal, 3)
        self.assertEqual(guard.openConnections(), 3)

    def test_refusalLogged(self) -> None:
        """
        A refusal is logged as a warning naming the service, the peer's
        address and why, with its code.
        """
        guard = self.guard(ConnectionLimits(0, 1, 0))
        self.accepted(guard)
        with capturedLogs() as captured:
            self.assertRefused(guard, "max-per-source", at(ALICE, 2))
        [event] = events(captured, "refused")
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertEqual(
            (event["service"], event["peer"], event["code"]),
            ("test", ALICE + ":2", "max-per-source"),
        )
        self.assertIn(
            "test: refused a connection from 192.0.2.7:2: too many connections",
            formatEvent(event),
        )

    def test_refusalsLoggedAtBoundedRate(self) -> None:
        """
        A flood of refusals makes one warning per code every ten seconds;
        the next one says how many were not logged.
        """
        guard = self.guard(ConnectionLimits(2, 1, 0))
        self.accepted(guard, at(ALICE))
        self.accepted(guard, at(BOB))
        with capturedLogs() as captured:
            for port in range(100):
                self.connect(guard, at(ALICE, port))
            self.clock.advance(9.9)
            self.connect(guard, at(ALICE))
        self.assertEqual(len(events(captured, "refused")), 1)
        self.assertEqual(guard.stats.refusals, {"max-connections": 101})
        with capturedLogs() as captured:
            self.clock.advance(0.1)
            self.connect(guard, at(ALICE))
        [event] = events(captured, "refused")
        self.assertEqual(event["suppressed"], 100)

    def test_refusalLogPerCode(self) -> None:
        """
        Each kind of refusal has its own pace: a flood of one does not hide
        the first of another.
        """
        guard = self.guard(ConnectionLimits(2, 1, 0))
        self.accepted(guard, at(ALICE))
        with capturedLogs() as captured:
            for port in range(10):
                self.connect(guard, at(ALICE, port))
            self.accepted(guard, at(BOB))
            self.connect(guard, at("203.0.113.9"))
        self.assertEqual(
            [event["code"] for event in events(captured, "refused")],
            ["max-per-source", "max-connections"],
        )

    def test_openConnectionsUnaffected(self) -> None:
        """
        A refusal leaves the connections already open alone: still open,
        still receiving, nothing written to them.
        """
        factory = RecorderFactory()
        guard = self.guard(ConnectionLimits(1, 0, 0), factory)
        connection, transport = self.accepted(guard)
        with capturedLogs():
            for _ in range(3):
                self.assertRefused(guard, "max-connections", at(BOB))
        connection.dataReceived(b"still here")
        [wrapped] = factory.built
        self.assertEqual(wrapped.received, b"still here")
        self.assertEqual(wrapped.lost, [])
        self.assertFalse(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_acceptedAfterOneCloses(self) -> None:
        """
        Once a connection closes, its place (in all, and for its source)
        is free again.
        """
        guard = self.guard(ConnectionLimits(1, 0, 0))
        connection, transport = self.accepted(guard, closesAtOnce=True)
        self.assertRefused(guard, "max-connections", at(BOB))
        transport.loseConnection()
        self.accepted(guard, at(BOB))
        guard = self.guard(ConnectionLimits(0, 1, 0))
        connection, _ = self.accepted(guard)
        self.assertRefused(guard, "max-per-source")
        self.lose(connection)
        self.accepted(guard)

    def test_sourceCountedPerConnection(self) -> None:
        """
        Each connection from a source frees one place when it closes, no
        more.
        """
        guard = self.guard(ConnectionLimits(0, 2, 0))
        one, _ = self.accepted(guard, at(ALICE, 1))
        self.accepted(guard, at(ALICE, 2))
        self.lose(one)
        self.accepted(guard, at(ALICE, 3))
        self.assertRefused(guard, "max-per-source", at(ALICE, 4))

    def test_zeroMeansNoLimit(self) -> None:
        """
        With every limit at 0, any number of connections from one address
        are accepted and nothing is scheduled.
        """
        guard = self.guard(NO_LIMITS)
        for port in range(500):
            self.accepted(guard, at(ALICE, port))
        self.assertEqual(guard.openConnections(), 500)
        self.assertEqual(guard.stats.refusals, {})
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_zeroTotalOnly(self) -> None:
        """
        C{maxConnections} at 0 lifts the total limit while the per-source
        limit holds.
        """
        guard = self.guard(ConnectionLimits(0, 3, 0))
        for host in range(100):
            self.accepted(guard, at(f"10.0.0.{host}"))
        self.assertEqual(guard.openConnections(), 100)

    def test_zeroPerSourceOnly(self) -> None:
        """
        C{maxPerSource} at 0 lifts the per-source limit while the total
        limit holds.
        """
        guard = self.guard(ConnectionLimits(50, 0, 0))
        for port in range(50):
            self.accepted(guard, at(ALICE, port))
        self.assertRefused(guard, "max-connections", at(ALICE, 50))


class IdleTimeoutTests(GuardTestCase):
    """
    Connections with no byte received or sent for C{idleTimeout} seconds
    are closed, checked every tenth of that (at most every 30 seconds).
    """

    limits = ConnectionLimits(0, 0, idleTimeout=10)

    def closedAfter(self, transport: StringTransport, step: float = 0.25) -> float:
        """
        Advance the clock by C{step} until C{transport} is told to close.

        @return: how long that took.
        """
        start = self.clock.seconds()
        while not transport.disconnecting:
            self.clock.advance(step)
            self.assertLess(self.clock.seconds() - start, 10000, "never closed")
        return self.clock.seconds() - start

    def test_closedWhenIdle(self) -> None:
        """
        A connection that neither sends nor receives for C{idleTimeout} is
        sent the service's line for C{idle-timeout} and closed once that is
        written.
        """
        guard = self.guard(self.limits)
        _, transport = self.accepted(guard)
        self.clock.advance(9)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(
            transport.value(),
            b"error idle-timeout: nothing sent or received for 10s; goodbye\n",
        )

    def test_closedWithinOneInterval(self) -> None:
        """
        However its time falls between two checks, an idle connection is
        closed between C{idleTimeout} and C{idleTimeout} plus one check
        interval after it went quiet.
        """
        guard = self.guard(self.limits)
        self.accepted(guard, at(BOB))  # Starts the checks, on the second.
        for offset in (0.25, 0.5, 0.75, 1.0):
            self.clock.advance(offset)
            _, transport = self.accepted(guard)
            waited = self.closedAfter(transport)
            self.assertGreaterEqual(waited, 10, offset)
            self.assertLessEqual(waited, 11, offset)

    def test_receivingKeepsOpen(self) -> None:
        """
        Bytes received keep a connection open; it is closed once they stop
        for long enough.
        """
        guard = self.guard(self.limits)
        connection, transport = self.accepted(guard)
        for _ in range(30):
            self.clock.advance(5)
            connection.dataReceived(b"x")
        self.assertFalse(transport.disconnecting)
        waited = self.closedAfter(transport)
        self.assertGreaterEqual(waited, 10)
        self.assertLessEqual(waited, 11)

    def test_sendingKeepsOpen(self) -> None:
        """
        Bytes sent keep a connection open too: a peer that only listens is
        not idle.
        """
        guard = self.guard(self.limits)
        connection, transport = self.accepted(guard)
        for _ in range(30):
            self.clock.advance(5)
            connection.write(b"tick\n")
        self.assertFalse(transport.disconnecting)
        waited = self.closedAfter(transport)
        self.assertGreaterEqual(waited, 10)
        self.assertLessEqual(waited, 11)

    def test_othersStayOpen(self) -> None:
        """
        Closing an idle connection leaves the busy ones alone.
        """
        guard = self.guard(self.limits)
        _, idleTransport = self.accepted(guard, at(ALICE))
        busy, busyTransport = self.accepted(guard, at(BOB))
        for _ in range(12):
            self.clock.advance(1)
            busy.dataReceived(b"x")
        self.assertTrue(idleTransport.disconnecting)
        self.assertFalse(busyTransport.disconnecting)
        self.assertEqual(busyTransport.value(), b"")

    def test_silentClose(self) -> None:
        """
        A service without a refusal line closes idle connections without
        a word.
        """
        guard = self.guard(self.limits, refusal=False)
        _, transport = self.accepted(guard)
        self.clock.advance(10)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_producerUnregistered(self) -> None:
        """
        An idle connection whose transport is its own producer (as flow
        control makes it) is unregistered first, so that it closes rather
        than resume reading once its output drains.
        """
        guard = self.guard(self.limits)
        connection, transport = self.accepted(guard)
        pauseReadingWhenBacklogged(connection)
        self.assertIsNotNone(transport.producer)
        self.clock.advance(10)
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)

    def test_countedAndLogged(self) -> None:
        """
        An idle close is counted under C{idle-timeout}, once, and the
        connection's closing log line says it was idle.
        """
        guard = self.guard(self.limits)
        connection, _ = self.accepted(guard)
        self.clock.advance(10)
        self.assertEqual(guard.stats.refusals, {"idle-timeout": 1})
        self.clock.advance(0.5)
        with capturedLogs() as captured:
            self.lose(connection)
        [event] = events(captured, "closed")
        self.assertEqual(event["why"], "idle for 10s")
        self.clock.advance(100)
        self.assertEqual(guard.stats.refusals, {"idle-timeout": 1})

    def test_stuckAborted(self) -> None:
        """
        An idle connection still open at the next check after it was closed
        (its peer reads nothing, so even the goodbye cannot be sent) is
        aborted, and counted only once.
        """
        guard = self.guard(self.limits)
        connection, transport = self.accepted(guard)
        self.clock.advance(10)
        self.assertTrue(transport.disconnecting)
        self.clock.advance(0.9)
        self.assertFalse(transport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(transport.disconnected)
        self.lose(connection)
        self.assertEqual(guard.stats.refusals, {"idle-timeout": 1})
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_drainedNotIdleClosed(self) -> None:
        """
        A connection already closing because its service stops is left to
        the drain: the idle check neither writes to it nor counts it.
        """
        guard = self.guard(self.limits)
        _, transport = self.accepted(guard)
        guard.drain(grace=60)
        for _ in range(30):
            self.clock.advance(1)
        self.assertEqual(transport.value(), b"")
        self.assertFalse(transport.disconnected)
        self.assertEqual(guard.stats.refusals, {})

    def test_checksStopWithNoConnections(self) -> None:
        """
        Idle checks run only while there are connections: they stop when
        the last one closes and start again with the next one.
        """
        guard = self.guard(self.limits)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        one, _ = self.accepted(guard)
        two, _ = self.accepted(guard)
        [check] = self.clock.getDelayedCalls()
        self.assertEqual(check.getTime(), self.clock.seconds() + 1)
        self.lose(one)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.lose(two)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        _, transport = self.accepted(guard)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(10)
        self.assertTrue(transport.disconnecting)

    def test_checksStopWhenIdleClosed(self) -> None:
        """
        When the check closes the last connections, and they close at
        once, no further check is scheduled.
        """
        guard = self.guard(self.limits)
        self.accepted(guard, closesAtOnce=True)
        self.accepted(guard, at(BOB), closesAtOnce=True)
        self.clock.advance(10)
        self.assertEqual(guard.openConnections(), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_intervalAtMost30Seconds(self) -> None:
        """
        Long timeouts are checked every 30 seconds, not every tenth.
        """
        guard = self.guard(ConnectionLimits(0, 0, idleTimeout=3600))
        _, transport = self.accepted(guard)
        [check] = self.clock.getDelayedCalls()
        self.assertEqual(check.getTime(), self.clock.seconds() + 30)
        waited = self.closedAfter(transport, 5)
        self.assertGreaterEqual(waited, 3600)
        self.assertLessEqual(waited, 3630)

    def test_zeroNeverCloses(self) -> None:
        """
        With C{idleTimeout} at 0, quiet connections are never closed, and
        nothing is scheduled.
        """
        guard = self.guard(ConnectionLimits(0, 0, idleTimeout=0))
        _, transport = self.accepted(guard)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10**6)
        self.assertFalse(transport.disconnecting)


class TrafficTests(GuardTestCase):
    """
    Bytes received and sent, and connections accepted.
    """

    def test_bothDirections(self) -> None:
        """
        A connection counts every byte it receives, and every byte written
        to it with C{write} or C{writeSequence}, which still reach the
        transport.
        """
        guard = self.guard()
        connection, transport = self.accepted(guard)
        connection.dataReceived(b"12345")
        connection.dataReceived(b"678")
        connection.write(b"abc")
        connection.writeSequence(iter([b"de", b"", b"fgh"]))
        self.assertEqual((connection.bytesReceived, connection.bytesSent), (8, 8))
        self.assertEqual(transport.value(), b"abcdefgh")

    def test_directWriterCounted(self) -> None:
        """
        A protocol that writes through L{netlab._flow.directWriter} gets a
        writer that counts; over a transport other than plain TCP it is the
        connection's own C{write}.
        """
        guard = self.guard()
        connection, transport = self.accepted(guard)
        write = directWriter(connection)
        self.assertEqual(write, connection.write)
        write(b"reply")
        self.assertEqual(connection.bytesSent, 5)
        self.assertEqual(transport.value(), b"reply")

    def test_directWriterOverTCP(self) -> None:
        """
        Over Twisted's own TCP connection, the wrapped protocol's direct
        writer sends straight to the socket and still counts what it sends.
        """
        guard = self.guard()
        connection = guard.buildProtocol(at(ALICE))
        assert isinstance(connection, GuardedConnection)
        sock = RecordingStreamSocket(room=6)
        server = tcpServer(self, connection, sock)
        write = directWriter(connection)
        write(b"direct")
        write(b"buffered")
        self.assertEqual(sock.sent, b"direct")
        self.assertEqual(connection.bytesSent, 14)
        sock.room = None
        server.doWrite()
        self.assertEqual(sock.sent, b"directbuffered")

    def test_directWriterNotThroughForwarding(self) -> None:
        """
        A wrapper that hands unknown attributes on to a guarded connection
        (as Twisted's TLS layer does) does not get the connection's direct
        writer, which would send around it (in clear, for TLS): it gets
        its own C{write}.
        """
        guard = self.guard()
        connection = guard.buildProtocol(at(ALICE))
        assert isinstance(connection, GuardedConnection)
        tcpServer(self, connection, RecordingStreamSocket())

        class Forwarding:
            def write(self, data: bytes) -> None:
                pass

            def __getattr__(self, name: str) -> Any:
                return getattr(connection, name)

        forwarding = Forwarding()
        self.assertEqual(directWriter(forwarding), forwarding.write)  # type: ignore[arg-type]

    def test_directWriterOverTLS(self) -> None:
        """
        Over a TCP connection with TLS started, the direct writer is the
        connection's own C{write}, so that everything is encrypted.
        """
        guard = self.guard()
        connection = guard.buildProtocol(at(ALICE))
        assert isinstance(connection, GuardedConnection)
        server = tcpServer(self, connection, RecordingStreamSocket())
        server.TLS = True
        self.assertEqual(directWriter(connection), connection.write)

    def test_statsAtClose(self) -> None:
        """
        A connection's bytes are added to the service's counters when it
        closes; L{ConnectionGuard.bytes} adds those of the open ones.
        """
        guard = self.guard()
        one, _ = self.accepted(guard)
        two, _ = self.accepted(guard, at(BOB))
        one.dataReceived(b"abc")
        one.write(b"abcdef")
        two.dataReceived(b"z" * 10)
        self.assertEqual((guard.stats.bytesReceived, guard.stats.bytesSent), (0, 0))
        self.assertEqual(guard.bytes(), (13, 6))
        self.lose(one)
        self.assertEqual((guard.stats.bytesReceived, guard.stats.bytesSent), (3, 6))
        self.assertEqual(guard.bytes(), (13, 6))
        two.write(b"x")
        self.lose(two)
        self.assertEqual((guard.stats.bytesReceived, guard.stats.bytesSent), (13, 7))
        self.assertEqual(guard.bytes(), (13, 7))

    def test_connectionsTotal(self) -> None:
        """
        Every accepted connection is counted, open or closed; refused ones
        are not.
        """
        guard = self.guard(ConnectionLimits(2, 0, 0))
        one, _ = self.accepted(guard)
        self.accepted(guard)
        with capturedLogs():
            self.connect(guard)
        self.lose(one)
        self.accepted(guard)
        self.assertEqual(guard.stats.connectionsTotal, 3)

    def test_echoBehindGuard(self) -> None:
        """
        netlab's echo service behind a guard still echoes, and its counters
        hold the guard's bytes and connections and the factory's messages.
        """
        factory = EchoFactory()
        guard = ConnectionGuard(factory, self.clock, NO_LIMITS, "echo")
        connection, transport = self.accepted(guard)
        connection.dataReceived(b"hello")
        connection.dataReceived(b", world")
        self.assertEqual(transport.value(), b"hello, world")
        self.assertEqual(guard.bytes(), (12, 12))
        self.lose(connection)
        stats = factory.stats
        self.assertEqual(
            (
                stats.connectionsTotal,
                stats.bytesReceived,
                stats.bytesSent,
                stats.messages,
            ),
            (1, 12, 12, 2),
        )

    def test_echoFlowControlThroughGuard(self) -> None:
        """
        Behind a guard, echo still registers the real transport's flow
        control (through the connection), and half-closes still finish the
        echo and close.
        """
        guard = ConnectionGuard(EchoFactory(), self.clock, NO_LIMITS, "echo")
        connection, transport = self.accepted(guard)
        self.assertIs(transport.producer, connection)
        self.assertTrue(transport.streaming)
        connection.dataReceived(b"last words")
        connection.readConnectionLost()
        self.assertEqual(transport.value(), b"last words")
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)


class LogTests(GuardTestCase):
    """
    A log event for each connection opened and closed.
    """

    def test_opened(self) -> None:
        """
        A connection opened is logged, at info level, with the service and
        the peer.
        """
        guard = self.guard()
        with capturedLogs() as captured:
            self.accepted(guard)
        [event] = events(captured, "opened")
        self.assertEqual(event["log_level"], LogLevel.info)
        self.assertEqual((event["service"], event["peer"]), ("test", "192.0.2.7:40000"))
        self.assertEqual(
            formatEvent(event), "test: connection from 192.0.2.7:40000 opened"
        )

    def test_closed(self) -> None:
        """
        A connection closed is logged, at info level, with the service, the
        peer, how long it was open, its bytes each way, and why.
        """
        guard = self.guard()
        connection, _ = self.accepted(guard)
        connection.dataReceived(b"12345")
        connection.write(b"123")
        self.clock.advance(2.5)
        with capturedLogs() as captured:
            connection.connectionLost(Failure(ConnectionLost("reset by peer")))
        [event] = events(captured, "closed")
        self.assertEqual(event["log_level"], LogLevel.info)
        self.assertEqual(
            {
                key: event[key]
                for key in (
                    "service",
                    "peer",
                    "duration",
                    "bytesReceived",
                    "bytesSent",
                )
            },
            {
                "service": "test",
                "peer": "192.0.2.7:40000",
                "duration": 2.5,
                "bytesReceived": 5,
                "bytesSent": 3,
            },
        )
        self.assertIn("reset by peer", event["why"])
        self.assertEqual(
            formatEvent(event),
            "test: connection from 192.0.2.7:40000 closed after 2.500s, "
            f"5 bytes received, 3 sent ({event['why']})",
        )

    def test_peers(self) -> None:
        """
        IPv6 peers are shown with their address in brackets, UNIX peers by
        their socket's name.
        """
        guard = self.guard()
        with capturedLogs() as captured:
            self.accepted(guard, IPv6Address("TCP", "2001:db8::1", 40000))
            self.accepted(guard, UNIXAddress(b"/run/netlab.sock"))
        self.assertEqual(
            [event["peer"] for event in events(captured, "opened")],
            ["[2001:db8::1]:40000", "unix:/run/netlab.sock"],
        )


class LingeringCloseTests(GuardTestCase):
    """
    Tests for the lingering close of L{GuardedConnection} over Twisted's own
    TCP connection: the sending side is shut once everything is written,
    and what the peer still sends is read and discarded until it closes.
    """

    def closing(self) -> tuple[GuardedConnection, Any, Recorder]:
        """
        @return: an accepted connection over a real C{tcp.Server} with one
            reply waiting to be sent, just asked to close; its transport;
            and the protocol it wraps.
        """
        guard = self.guard()
        connection = guard.buildProtocol(at(ALICE))
        assert isinstance(connection, GuardedConnection)
        server = tcpServer(self, connection, RecordingStreamSocket(room=0))
        connection.write(b"reply")
        connection.loseConnection()
        return connection, server, self.wrapped(connection)

    def test_readsAndDiscards(self) -> None:
        """
        Once closing, the connection goes on reading, but what arrives is
        counted and thrown away, not given to the wrapped protocol; the
        socket is not closed while the reply is unsent.
        """
        connection, server, wrapped = self.closing()
        connection.dataReceived(b"more")
        self.assertEqual(wrapped.received, b"")
        self.assertEqual(connection.bytesReceived, 4)
        self.assertTrue(server._writeDisconnecting)
        self.assertFalse(server.disconnecting)

    def test_closesWhenPeerDoes(self) -> None:
        """
        When the peer closes its side too, the connection closes for good.
        """
        connection, server, _ = self.closing()
        connection.readConnectionLost()
        self.assertTrue(server.disconnecting)

    def test_lingerTimeout(self) -> None:
        """
        Once the reply is sent and the sending side shut, a peer that does
        not close gets L{LINGER_TIMEOUT} seconds, then the connection is
        closed.
        """
        _, server, wrapped = self.closing()
        server.socket.room = None
        server.doWrite()
        self.assertEqual(server.socket.sent, b"reply")
        self.clock.advance(LINGER_TIMEOUT - 1)
        self.assertEqual(wrapped.lost, [])
        self.clock.advance(1)
        self.assertEqual(len(wrapped.lost), 1)


class HalfCloseTests(GuardTestCase):
    """
    A wrapped protocol that takes half-closes still gets them; one that
    does not is not offered them.
    """

    def test_forwarded(self) -> None:
        """
        Around an L{IHalfCloseableProtocol}, the connection provides it too,
        and passes C{readConnectionLost} and C{writeConnectionLost} on.
        """
        guard = self.guard(factory=RecorderFactory(HalfCloser))
        connection, _ = self.accepted(guard)
        self.assertTrue(verifyObject(IHalfCloseableProtocol, connection))
        wrapped = self.wrapped(connection)
        assert isinstance(wrapped, HalfCloser)
        connection.readConnectionLost()
        connection.writeConnectionLost()
        self.assertEqual((wrapped.readLost, wrapped.writeLost), (1, 1))
        self.assertEqual(wrapped.lost, [])

    def test_notHalfCloseable(self) -> None:
        """
        Around a protocol that does not take half-closes, the peer shutting
        down its sending side closes the connection, once what was written
        to it is sent (Twisted would close it at once, losing that), and
        the protocol is not asked about half-closes it does not know.
        """
        guard = self.guard(factory=RecorderFactory(Recorder))
        connection, transport = self.accepted(guard)
        self.assertTrue(IHalfCloseableProtocol.providedBy(connection))
        connection.write(b"last words")
        connection.readConnectionLost()
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"last words")

    def test_transportInterfacesKept(self) -> None:
        """
        Either way, the connection provides what its transport does, so
        that the wrapped protocol can use it for flow control.
        """
        for protocol in (Recorder, HalfCloser):
            guard = self.guard(factory=RecorderFactory(protocol))
            connection, transport = self.accepted(guard)
            for interface in (ITransport, IConsumer, IPushProducer):
                self.assertTrue(interface.providedBy(connection), (protocol, interface))
            self.assertIs(connection.transport, transport)
            self.assertEqual(guard.openConnections(), 1)


class DrainTests(GuardTestCase):
    """
    Tests for L{ConnectionGuard.drain}.
    """

    def test_firesAfterProtocolHeard(self) -> None:
        """
        The drain's Deferred fires after the wrapped protocol has heard its
        connection is lost, so that whoever waits for the drain finds it
        gone (a chat user out of its hub).
        """
        guard = self.guard()
        connection, _ = self.accepted(guard)
        wrapped = self.wrapped(connection)
        heard: list[int] = []
        guard.drain(grace=5).addCallback(lambda _: heard.append(len(wrapped.lost)))
        self.lose(connection)
        self.assertEqual(heard, [1])

    def test_nothingOpen(self) -> None:
        """
        With no connection open, the drain is over at once.
        """
        guard = self.guard()
        self.assertIsNone(self.successResultOf(guard.drain()))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_drainableToldWhy(self) -> None:
        """
        An L{IDrainable} protocol is asked to C{disconnect} with the reason,
        and left to close itself.
        """
        guard = self.guard(factory=RecorderFactory(Goodbye))
        connection, transport = self.accepted(guard)
        d = guard.drain(grace=5, reason="maintenance")
        wrapped = self.wrapped(connection)
        assert isinstance(wrapped, Goodbye)
        self.assertEqual(wrapped.reasons, ["maintenance"])
        self.assertEqual(transport.value(), b"bye: maintenance\n")
        self.assertFalse(transport.disconnecting)
        self.assertNoResult(d)

    def test_drainableToldOnce(self) -> None:
        """
        Draining again does not ask a protocol already told to say goodbye
        a second time.
        """
        guard = self.guard(factory=RecorderFactory(Goodbye))
        connection, _ = self.accepted(guard)
        guard.drain(reason="one")
        guard.drain(reason="two")
        wrapped = self.wrapped(connection)
        assert isinstance(wrapped, Goodbye)
        self.assertEqual(wrapped.reasons, ["one"])

    def test_defaultReason(self) -> None:
        """
        The default reason says the server is shutting down.
        """
        guard = self.guard(factory=RecorderFactory(Goodbye))
        connection, _ = self.accepted(guard)
        guard.drain()
        wrapped = self.wrapped(connection)
        assert isinstance(wrapped, Goodbye)
        self.assertEqual(wrapped.reasons, ["the server is shutting down"])

    def test_othersClosedWhenWritten(self) -> None:
        """
        A protocol that is not L{IDrainable} has its connection closed once
        what was written to it is sent: the producer flow control
        registered is unregistered first, and the output is kept.
        """
        guard = self.guard()
        connection, transport = self.accepted(guard)
        pauseReadingWhenBacklogged(connection)
        connection.write(b"pending")
        d = guard.drain()
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        self.assertEqual(transport.value(), b"pending")
        self.assertNoResult(d)

    def test_firesWhenAllClosed(self) -> None:
        """
        The drain's Deferred fires once every connection has closed, not
        before.
        """
        guard = self.guard(factory=RecorderFactory(Goodbye))
        one, _ = self.accepted(guard)
        two, _ = self.accepted(guard, at(BOB))
        d = guard.drain(grace=5)
        self.lose(one)
        self.assertNoResult(d)
        self.lose(two)
        self.assertIsNone(self.successResultOf(d))

    def test_closedAtOnce(self) -> None:
        """
        Connections that close as soon as they are asked end the drain
        then and there, with nothing left scheduled.
        """
        guard = self.guard()
        self.accepted(guard, closesAtOnce=True)
        self.accepted(guard, at(BOB), closesAtOnce=True)
        d = guard.drain(grace=5)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(guard.openConnections(), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stragglersAborted(self) -> None:
        """
        Connections still open C{grace} seconds after the drain began are
        aborted; the drain is over once they have closed.
        """
        guard = self.guard(factory=RecorderFactory(Goodbye))
        quick, quickTransport = self.accepted(guard)
        slow, slowTransport = self.accepted(guard, at(BOB))
        d = guard.drain(grace=5)
        self.clock.advance(1)
        self.lose(quick)
        self.clock.advance(3.9)
        self.assertFalse(slowTransport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(slowTransport.disconnected)
        self.assertFalse(quickTransport.disconnected)
        self.assertNoResult(d)
        self.lose(slow)
        self.assertIsNone(self.successResultOf(d))

    def test_zeroGrace(self) -> None:
        """
        With a grace of 0, connections are aborted on the next turn of the
        reactor.
        """
        guard = self.guard(factory=RecorderFactory(Goodbye))
        _, transport = self.accepted(guard)
        guard.drain(grace=0)
        self.assertFalse(transport.disconnected)
        self.clock.advance(0)
        self.assertTrue(transport.disconnected)

    def test_graceCancelled(self) -> None:
        """
        When every connection closes before the grace is over, the abort is
        cancelled: nothing is left scheduled.
        """
        guard = self.guard(factory=RecorderFactory(Goodbye))
        connection, _ = self.accepted(guard)
        d = guard.drain(grace=5)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(1)
        self.lose(connection)
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_closeLogged(self) -> None:
        """
        The log line of a connection closed by a drain says so, with the
        reason.
        """
        guard = self.guard()
        connection, _ = self.accepted(guard)
        guard.drain(reason="maintenance")
        with capturedLogs() as captured:
            self.lose(connection)
        [event] = events(captured, "closed")
        self.assertEqual(event["why"], "service stopping: maintenance")

    def test_abortAll(self) -> None:
        """
        L{ConnectionGuard.abortAll} aborts every open connection at once,
        without waiting for its output.
        """
        guard = self.guard()
        _, one = self.accepted(guard)
        _, two = self.accepted(guard, at(BOB))
        guard.abortAll()
        self.assertTrue(one.disconnected)
        self.assertTrue(two.disconnected)

    def test_chat(self) -> None:
        """
        A chat connection behind a guard is told the reason in a C{NOTE}
        line when its service drains, and closed once that is written.
        """
        factory = ChatFactory(ChatHub(), self.clock)
        guard = ConnectionGuard(factory, self.clock, NO_LIMITS, "chat")
        connection, transport = self.accepted(guard)
        self.clock.advance(0)
        transport.clear()
        d = guard.drain(grace=5, reason="the server is shutting down")
        self.assertEqual(transport.value(), b"NOTE the server is shutting down\r\n")
        self.assertTrue(transport.disconnecting)
        self.lose(connection)
        self.successResultOf(d)


@implementer(INegotiated)
class TLSStringTransport(StringTransport):
    """
    A L{StringTransport} that looks like a TLS connection, as Twisted's
    C{TLSMemoryBIOProtocol} does to the protocol above it.
    """

    negotiatedProtocol = None


@implementer(IHandshakeListener)
class HandshakeRecorder(Recorder):
    """
    A L{Recorder} that wants to hear when the TLS handshake is done.
    """

    handshakes = 0

    def handshakeCompleted(self) -> None:
        self.handshakes += 1


class TLSHandshakeTimeoutTests(GuardTestCase):
    """
    A TLS connection whose handshake is not done in time is aborted,
    whatever else it waits for.
    """

    def tlsConnection(
        self,
        limits: ConnectionLimits = NO_LIMITS,
        factory: ServerFactory | None = None,
    ) -> tuple[GuardedConnection, StringTransport, ConnectionGuard]:
        """
        @return: a connection accepted by a guard with C{limits} over a
            transport that looks like TLS, its transport and the guard.
        """
        guard = self.guard(limits, factory)
        connection = guard.buildProtocol(at(ALICE))
        assert isinstance(connection, GuardedConnection)
        transport = TLSStringTransport(peerAddress=at(ALICE))
        connection.makeConnection(transport)
        return connection, transport, guard

    def test_defaultTenSeconds(self) -> None:
        """
        By default a TLS connection has 10 seconds to finish its handshake.
        """
        self.assertEqual(DEFAULT_TLS_HANDSHAKE_TIMEOUT, 10)
        self.assertEqual(ConnectionLimits().tlsHandshakeTimeout, 10)
        connection, transport, _ = self.tlsConnection()
        self.assertAbortedAfter(connection, transport, 10)

    def test_countedAndLogged(self) -> None:
        """
        A handshake timeout is counted as a C{tls-handshake-timeout}
        refusal and logged as a warning naming the peer and the option.
        """
        connection, _, guard = self.tlsConnection(
            attrs.evolve(NO_LIMITS, tlsHandshakeTimeout=2)
        )
        with capturedLogs() as captured:
            self.clock.advance(2)
        self.assertEqual(guard.stats.refusals, {"tls-handshake-timeout": 1})
        [event] = events(captured, "TLS handshake")
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertIn(
            "test: cut a connection from 192.0.2.7:40000: the TLS handshake "
            "was not done within 2s (--tls-handshake-timeout)",
            formatEvent(event),
        )
        self.lose(connection)

    def test_whateverElseWaits(self) -> None:
        """
        The handshake deadline holds even when a longer close deadline is
        running (a goodbye that cannot be sent before the handshake).
        """
        connection, transport, _ = self.tlsConnection(
            attrs.evolve(NO_LIMITS, tlsHandshakeTimeout=3, closeTimeout=100)
        )
        connection.write(b"goodbye\n")
        connection.loseConnection()
        self.clock.advance(3)
        self.assertTrue(transport.disconnected)
        self.lose(connection)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_handshakeDone(self) -> None:
        """
        Once the handshake is done, the connection is off its clock, and a
        wrapped protocol that wants to hear of it does.
        """
        factory = RecorderFactory(HandshakeRecorder)
        connection, transport, _ = self.tlsConnection(factory=factory)
        connection.handshakeCompleted()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(100)
        self.assertFalse(transport.disconnected)
        [wrapped] = factory.built
        assert isinstance(wrapped, HandshakeRecorder)
        self.assertEqual(wrapped.handshakes, 1)
        self.assertTrue(IHandshakeListener.providedBy(connection))

    def test_handshakeDoneNotForwardedToOthers(self) -> None:
        """
        A wrapped protocol that does not want to hear of the handshake is
        not told.
        """
        connection, _, _ = self.tlsConnection()
        connection.handshakeCompleted()
        self.assertIsInstance(self.wrapped(connection), Recorder)

    def test_notTLS(self) -> None:
        """
        A connection that is not TLS has no handshake deadline.
        """
        guard = self.guard()
        _, transport = self.accepted(guard)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(1000)
        self.assertFalse(transport.disconnected)

    def test_zeroNoLimit(self) -> None:
        """
        With C{tlsHandshakeTimeout=0} a handshake may take for ever.
        """
        _, transport, _ = self.tlsConnection(
            attrs.evolve(NO_LIMITS, tlsHandshakeTimeout=0)
        )
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(1000)
        self.assertFalse(transport.disconnected)

    def test_negativeRefused(self) -> None:
        """
        A negative or NaN handshake or close timeout is a L{ValueError}.
        """
        for name in ("tlsHandshakeTimeout", "closeTimeout"):
            for value in (-1, float("nan")):
                self.assertRaises(ValueError, ConnectionLimits, **{name: value})


class CloseDeadlineTests(GuardTestCase):
    """
    A connection asked to close, whoever asked, is aborted if what was
    written to it is not taken in time.
    """

    def test_abortedAfterTimeout(self) -> None:
        """
        A connection the wrapped protocol closes, and that is still open
        C{closeTimeout} seconds later (its peer reads nothing), is aborted.
        """
        self.assertEqual(ConnectionLimits().closeTimeout, 10)
        connection, transport = self.accepted(self.guard())
        connection.write(b"last words\n")
        self.wrapped(connection).transport.loseConnection()  # type: ignore[union-attr]
        self.assertAbortedAfter(connection, transport, 10)

    def test_closeLogSaysAborted(self) -> None:
        """
        The log line of a connection aborted that way says why.
        """
        connection, _ = self.accepted(self.guard())
        connection.loseConnection()
        self.clock.advance(10)
        with capturedLogs() as captured:
            self.lose(connection)
        [event] = events(captured, "closed after")
        self.assertIn("was not taken within 10s", formatEvent(event))

    def test_idleCloseDeadline(self) -> None:
        """
        A connection closed for being idle is aborted after the close
        deadline, when that is sooner than the next idle check.
        """
        guard = self.guard(attrs.evolve(NO_LIMITS, idleTimeout=300, closeTimeout=5))
        connection, transport = self.accepted(guard)
        self.clock.advance(300)
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        self.clock.advance(5)
        self.assertTrue(transport.disconnected)
        self.lose(connection)

    def test_closedInTime(self) -> None:
        """
        A connection that closes before the deadline leaves no call behind.
        """
        connection, _ = self.accepted(self.guard())
        connection.loseConnection()
        self.lose(connection)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_drainHasItsGrace(self) -> None:
        """
        A drain's grace, not the close deadline, bounds a connection it
        closes, however long the grace.
        """
        guard = self.guard(factory=RecorderFactory(Goodbye))
        connection, transport = self.accepted(guard)
        guard.drain(grace=30)
        connection.loseConnection()
        self.clock.advance(29)
        self.assertFalse(transport.disconnected)
        self.clock.advance(1)
        self.assertTrue(transport.disconnected)

    def test_zeroNoDeadline(self) -> None:
        """
        With C{closeTimeout=0}, a closing connection waits for its peer for
        ever.
        """
        connection, _ = self.accepted(
            self.guard(attrs.evolve(NO_LIMITS, closeTimeout=0))
        )
        connection.loseConnection()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class _OwnStatsProtocol(Protocol):
    """
    Counts a message for each chunk received, in the counters it was made
    with.
    """

    def __init__(self, stats: TrafficStats) -> None:
        self.stats = stats

    def dataReceived(self, data: bytes) -> None:
        self.stats.messages += 1


class _OwnStatsFactory(ServerFactory):
    """
    A factory with L{TrafficStats} whose protocols do not get them from its
    C{stats} attribute when they are built, but from a reference it took
    when it was made.
    """

    def __init__(self) -> None:
        self.stats = TrafficStats("own")
        self._counters = self.stats

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        return _OwnStatsProtocol(self._counters)


class _StartCounter(ServerFactory):
    """
    Counts how often it is really started and stopped.
    """

    started = 0
    stopped = 0

    def startFactory(self) -> None:
        self.started += 1

    def stopFactory(self) -> None:
        self.stopped += 1


class ListenerTestCase(GuardTestCase):
    """
    Helpers to connect through a guard's listener factories.
    """

    def via(
        self,
        listener: IProtocolFactory,
        peer: IAddress | None = None,
        transport: StringTransport | None = None,
    ) -> tuple[IProtocol | None, StringTransport]:
        """
        Connect through C{listener} from C{peer} (by default L{ALICE}), as
        its listening port would.

        @param transport: the connection's transport, a L{StringTransport}
            by default.
        @return: the protocol built and its transport.
        """
        if peer is None:
            peer = at(ALICE)
        protocol = listener.buildProtocol(peer)
        if transport is None:
            transport = StringTransport(peerAddress=peer)
        if protocol is not None:
            protocol.makeConnection(transport)
        return protocol, transport

    def acceptedVia(
        self, listener: IProtocolFactory, peer: IAddress | None = None
    ) -> GuardedConnection:
        """
        L{via}, and assert that the connection was accepted.
        """
        protocol, _ = self.via(listener, peer)
        assert isinstance(protocol, GuardedConnection)
        return protocol

    def counts(self, guard: ConnectionGuard) -> dict[str, TransportCounts]:
        """
        @return: L{ConnectionGuard.byTransport}, by transport.
        """
        return {counts.transport: counts for counts in guard.byTransport()}


class ListenerTests(ListenerTestCase):
    """
    Tests for L{ConnectionGuard.listenerFactory}: one guard, several kinds
    of endpoint, each counted apart under limits that hold for them all.
    """

    def test_interfaces(self) -> None:
        """
        A listener factory is a protocol factory with the guard's log
        prefix.
        """
        guard = self.guard()
        listener = guard.listenerFactory("tls")
        self.assertTrue(verifyObject(IProtocolFactory, listener))
        self.assertTrue(verifyObject(ILoggingContext, listener))
        self.assertEqual(listener.logPrefix(), guard.logPrefix())  # type: ignore[attr-defined]

    def test_onePerTransport(self) -> None:
        """
        Asked again for a transport, the guard gives the same listener
        factory; each transport has its own.
        """
        guard = self.guard()
        tcp = guard.listenerFactory("tcp")
        self.assertIs(guard.listenerFactory("tcp"), tcp)
        self.assertIsNot(guard.listenerFactory("tls"), tcp)

    def test_firstIsTheGuardsOwn(self) -> None:
        """
        The first transport asked for is that of the guard's own counters
        (the wrapped factory's); the others get new counters, with the
        guard's service name and protocol.
        """
        factory = EchoFactory()
        guard = ConnectionGuard(factory, self.clock, service="echo", protocol="raw")
        unix = guard.listenerFactory("unix")
        tls = guard.listenerFactory("tls")
        self.assertIs(unix.stats, guard.stats)  # type: ignore[attr-defined]
        self.assertIs(guard.stats, factory.stats)
        self.assertEqual(guard.stats.transport, "unix")
        stats = tls.stats  # type: ignore[attr-defined]
        self.assertIsNot(stats, guard.stats)
        self.assertEqual(
            (stats.service, stats.transport, stats.protocol), ("echo", "tls", "raw")
        )

    def test_protocol(self) -> None:
        """
        A guard told a protocol sets it on its counters (the wrapped
        factory's); one not told leaves theirs as it is.
        """
        guard = ConnectionGuard(EchoFactory(), self.clock, protocol="line")
        self.assertEqual(guard.stats.protocol, "line")
        factory = EchoFactory(TrafficStats("echo", protocol="web"))
        self.assertEqual(ConnectionGuard(factory, self.clock).stats.protocol, "web")

    def test_withoutListeners(self) -> None:
        """
        A guard listened on by itself counts everything in its own
        counters, under their transport.
        """
        guard = self.guard()
        connection, _ = self.accepted(guard)
        connection.dataReceived(b"abc")
        self.assertEqual(
            guard.byTransport(),
            [TransportCounts("tcp", "", 1, 1, 3, 0, 0, {})],
        )

    def test_countedByTransport(self) -> None:
        """
        Connections open and accepted and bytes, of open and of closed
        connections, are counted under the transport of the listener they
        came in by; the guard's totals add them up.
        """
        guard = self.guard()
        tcp, tls = guard.listenerFactory("tcp"), guard.listenerFactory("tls")
        one = self.acceptedVia(tcp)
        two = self.acceptedVia(tls, at(BOB))
        three = self.acceptedVia(tls)
        one.dataReceived(b"12345")
        two.dataReceived(b"ab")
        two.write(b"xyz")
        three.dataReceived(b"c")
        self.lose(two)
        counts = self.counts(guard)
        self.assertEqual(counts["tcp"], TransportCounts("tcp", "", 1, 1, 5, 0, 0, {}))
        self.assertEqual(counts["tls"], TransportCounts("tls", "", 1, 2, 3, 3, 0, {}))
        self.assertEqual(list(counts), ["tcp", "tls"])
        self.assertEqual(guard.openConnections(), 2)
        self.assertEqual(guard.bytes(), (8, 3))
        self.assertIs(one.stats, guard.stats)
        self.assertIsNot(two.stats, guard.stats)

    def test_limitsShared(self) -> None:
        """
        C{maxConnections} and C{maxPerSource} hold for every listener of
        the guard together; each refusal is counted under the transport of
        the listener it came by.
        """
        guard = self.guard(ConnectionLimits(3, 2, 0))
        tcp, tls = guard.listenerFactory("tcp"), guard.listenerFactory("tls")
        with capturedLogs():
            self.acceptedVia(tcp)
            self.acceptedVia(tls)
            refused, transport = self.via(tls)
            self.assertNotIsInstance(refused, GuardedConnection)
            self.assertTrue(transport.disconnecting)
            self.acceptedVia(tcp, at(BOB))
            refused, _ = self.via(tcp, at(BOB))
            self.assertNotIsInstance(refused, GuardedConnection)
        counts = self.counts(guard)
        self.assertEqual(counts["tcp"].refusals, {"max-connections": 1})
        self.assertEqual(counts["tls"].refusals, {"max-per-source": 1})
        self.assertEqual(
            (counts["tcp"].openConnections, counts["tls"].openConnections), (2, 1)
        )
        self.assertEqual(guard.stats.refusals, {"max-connections": 1})

    def test_idleByTransport(self) -> None:
        """
        Connections closed for being idle are counted under their own
        transport.
        """
        guard = self.guard(ConnectionLimits(0, 0, idleTimeout=10))
        tcp, unix = guard.listenerFactory("tcp"), guard.listenerFactory("unix")
        self.acceptedVia(tcp)
        self.acceptedVia(unix)
        self.acceptedVia(unix, at(BOB))
        self.clock.advance(10)
        counts = self.counts(guard)
        self.assertEqual(counts["tcp"].refusals, {"idle-timeout": 1})
        self.assertEqual(counts["unix"].refusals, {"idle-timeout": 2})

    def test_handshakeTimeoutByTransport(self) -> None:
        """
        A TLS connection cut for not finishing its handshake is counted
        under its listener's transport.
        """
        guard = self.guard(attrs.evolve(NO_LIMITS, tlsHandshakeTimeout=2))
        guard.listenerFactory("tcp")
        tls = guard.listenerFactory("tls")
        connection, transport = self.via(
            tls, transport=TLSStringTransport(peerAddress=at(ALICE))
        )
        with capturedLogs():
            self.clock.advance(2)
        self.assertTrue(transport.disconnected)
        counts = self.counts(guard)
        self.assertEqual(counts["tls"].refusals, {"tls-handshake-timeout": 1})
        self.assertEqual(counts["tcp"].refusals, {})
        assert isinstance(connection, GuardedConnection)
        self.lose(connection)

    def test_startAndStopOnce(self) -> None:
        """
        Listening on several endpoints through listener factories starts
        the wrapped factory once, when the first starts, and stops it once,
        when the last stops, as listening on the guard itself does.
        """
        factory = _StartCounter()
        guard = self.guard(factory=factory)
        tcp, tls = guard.listenerFactory("tcp"), guard.listenerFactory("tls")
        tcp.doStart()
        tls.doStart()
        tcp.doStart()
        self.assertEqual((factory.started, factory.numPorts), (1, 3))
        tcp.doStop()
        tls.doStop()
        self.assertEqual(factory.stopped, 0)
        tcp.doStop()
        self.assertEqual((factory.started, factory.stopped), (1, 1))
        self.assertEqual((guard.numPorts, factory.numPorts), (0, 0))

    def test_declined(self) -> None:
        """
        When the wrapped factory builds no protocol, neither does the
        listener, and nothing is counted.
        """

        class Declining(ServerFactory):
            def buildProtocol(self, addr: IAddress | None) -> None:
                return None

        guard = ConnectionGuard(Declining(), self.clock, NO_LIMITS)
        guard.listenerFactory("tcp")
        self.assertIsNone(guard.listenerFactory("tls").buildProtocol(at(ALICE)))
        self.assertEqual(
            [counts.connectionsTotal for counts in guard.byTransport()], [0, 0]
        )

    def test_guardItselfCountsAsFirst(self) -> None:
        """
        Connections the guard builds itself, besides its listeners', are
        counted under its first transport.
        """
        guard = self.guard()
        guard.listenerFactory("tls")
        guard.listenerFactory("tcp")
        self.accepted(guard)
        self.assertEqual(
            [(c.transport, c.connectionsTotal) for c in guard.byTransport()],
            [("tls", 1), ("tcp", 0)],
        )

    def test_messagesByTransport(self) -> None:
        """
        netlab's factories count each message under the transport of the
        connection it came by, and keep their own counters once the
        protocol is built.
        """
        chatHub = ChatHub()
        cases: list[tuple[Any, bytes, bytes, tuple[int, int]]] = [
            (EchoFactory(), b"a", b"b", (1, 1)),
            (
                TimestampFactory(self.clock, framing=Framing.LINE),
                b"1\n2\n",
                b"3\n",
                (2, 1),
            ),
            (
                ChatFactory(chatHub, self.clock),
                b"alice\r\nhi\r\nthere\r\n",
                b"bob\r\n",
                (3, 1),
            ),
        ]
        for factory, first, second, messages in cases:
            guard = ConnectionGuard(factory, self.clock, NO_LIMITS)
            tcp, tls = guard.listenerFactory("tcp"), guard.listenerFactory("tls")
            self.acceptedVia(tcp).dataReceived(first)
            self.acceptedVia(tls).dataReceived(second)
            self.assertIs(factory.stats, guard.stats)
            self.clock.advance(0)
            counts = self.counts(guard)
            self.assertEqual(
                (counts["tcp"].messages, counts["tls"].messages), messages, factory
            )

    def test_messagesOwnReference(self) -> None:
        """
        A factory whose protocols find their counters otherwise than by its
        C{stats} attribute as they are built has every message counted
        under the first transport.
        """
        factory = _OwnStatsFactory()
        guard = ConnectionGuard(factory, self.clock, NO_LIMITS)
        tcp, tls = guard.listenerFactory("tcp"), guard.listenerFactory("tls")
        self.acceptedVia(tcp).dataReceived(b"a")
        self.acceptedVia(tls).dataReceived(b"b")
        counts = self.counts(guard)
        self.assertEqual((counts["tcp"].messages, counts["tls"].messages), (2, 0))
        self.assertEqual(counts["tls"].connectionsTotal, 1)

    def test_statsSetBackOnError(self) -> None:
        """
        A wrapped factory that fails to build a protocol for another
        transport still has its own counters afterwards.
        """

        class Failing(ServerFactory):
            def __init__(self) -> None:
                self.stats = TrafficStats("failing")

            def buildProtocol(self, addr: IAddress | None) -> Protocol:
                raise RuntimeError("no")

        factory = Failing()
        guard = ConnectionGuard(factory, self.clock, NO_LIMITS)
        guard.listenerFactory("tcp")
        tls = guard.listenerFactory("tls")
        self.assertRaises(RuntimeError, tls.buildProtocol, at(ALICE))
        self.assertIs(factory.stats, guard.stats)

    def test_drainsEveryListener(self) -> None:
        """
        A drain closes the connections of every listener.
        """
        guard = self.guard()
        tcp, tls = guard.listenerFactory("tcp"), guard.listenerFactory("tls")
        one, two = self.acceptedVia(tcp), self.acceptedVia(tls)
        d = guard.drain(grace=5)
        self.assertTrue(one.transport.disconnecting)
        self.assertTrue(two.transport.disconnecting)
        self.lose(one)
        self.lose(two)
        self.assertIsNone(self.successResultOf(d))


class OtherProtocolListenerTests(ListenerTestCase):
    """
    Tests for L{ConnectionGuard.listenerFactory} given the factory of
    another protocol: one service, two protocols, one set of limits and
    one drain.
    """

    def setUp(self) -> None:
        super().setUp()
        self.line = RecorderFactory()
        self.other = RecorderFactory()
        self.guardOf = ConnectionGuard(
            self.line, self.clock, ConnectionLimits(3, 2, 0), "chat", refusalLine
        )

    def test_buildsWithItsFactory(self) -> None:
        """
        A listener of another factory builds that factory's protocols,
        through the guard; the same transport and factory give the same
        listener, another factory another one.
        """
        guard = self.guardOf
        irc = guard.listenerFactory("tcp", self.other, "irc")
        self.assertIs(guard.listenerFactory("tcp", self.other, "irc"), irc)
        own = guard.listenerFactory("tcp")
        self.assertIsNot(own, irc)
        self.assertIs(guard.listenerFactory("tcp", self.line), own)
        connection = self.acceptedVia(irc)
        self.assertIs(connection.wrappedProtocol, self.other.built[0])
        self.assertEqual(self.line.built, [])

    def test_countedUnderItsProtocol(self) -> None:
        """
        The other protocol's connections are counted apart, under its
        C{protocol} label and the guard's service name.
        """
        guard = self.guardOf
        line = guard.listenerFactory("tcp")
        irc = guard.listenerFactory("tcp", self.other, "irc")
        ircs = guard.listenerFactory("tls", self.other, "irc")
        self.acceptedVia(line).dataReceived(b"12")
        self.acceptedVia(irc, at(BOB)).dataReceived(b"345")
        self.acceptedVia(ircs, at(BOB))
        rows = [
            (c.transport, c.protocol, c.openConnections, c.bytesReceived)
            for c in guard.byTransport()
        ]
        self.assertEqual(
            rows, [("tcp", "", 1, 2), ("tcp", "irc", 1, 3), ("tls", "irc", 1, 0)]
        )
        stats = irc.stats  # type: ignore[attr-defined]
        self.assertEqual(stats.service, "chat")

    def test_itsOwnStatsFirst(self) -> None:
        """
        A factory of another protocol that has L{TrafficStats} of its own
        has them as the counters of its first listener, relabelled; while
        it builds for another transport, it holds that transport's.
        """
        factory = EchoFactory(TrafficStats("whatever"))
        guard = self.guardOf
        first = guard.listenerFactory("tcp", factory, "irc")
        second = guard.listenerFactory("tls", factory, "irc")
        self.assertIs(first.stats, factory.stats)  # type: ignore[attr-defined]
        self.assertEqual(
            (factory.stats.service, factory.stats.transport, factory.stats.protocol),
            ("chat", "tcp", "irc"),
        )
        connection = self.acceptedVia(second)
        connection.dataReceived(b"x")
        self.assertIs(factory.stats, first.stats)  # type: ignore[attr-defined]
        tls = second.stats  # type: ignore[attr-defined]
        self.assertEqual((tls.transport, tls.protocol, tls.messages), ("tls", "irc", 1))

    def test_limitsSharedAcrossProtocols(self) -> None:
        """
        C{maxConnections} and C{maxPerSource} count the connections of
        every protocol together; a refused connection is told the line of
        its own protocol's listener.
        """
        guard = self.guardOf
        line = guard.listenerFactory("tcp")
        irc = guard.listenerFactory(
            "tcp", self.other, "irc", lambda code, text: b"ERROR :" + code.encode()
        )
        with capturedLogs():
            self.acceptedVia(line)
            self.acceptedVia(irc)
            refused, transport = self.via(irc)
            self.assertNotIsInstance(refused, GuardedConnection)
            self.assertEqual(transport.value(), b"ERROR :max-per-source")
            self.acceptedVia(irc, at(BOB))
            refused, transport = self.via(line, at(BOB))
            self.assertTrue(transport.value().startswith(b"error max-connections"))

    def test_drainedTogether(self) -> None:
        """
        The guard's drain closes the connections of every protocol.
        """
        guard = self.guardOf
        self.acceptedVia(guard.listenerFactory("tcp"))
        _, transport = self.via(
            guard.listenerFactory("tcp", self.other, "irc"), at(BOB)
        )
        d = guard.drain(grace=5)
        self.clock.advance(5)
        self.assertTrue(transport.disconnecting or transport.disconnected)
        self.assertEqual(len(guard.protocols), 2)
        for connection in list(guard.protocols):
            self.lose(connection)
        self.successResultOf(d)

    def test_startsAndStopsItsFactory(self) -> None:
        """
        Starting a listener of another factory starts that factory too
        (and the guard's), stopping it stops both.
        """
        other = _StartCounter()
        line = _StartCounter()
        guard = self.guard(factory=line)
        irc = guard.listenerFactory("tcp", other, "irc")
        irc.doStart()
        self.assertEqual((line.started, other.started), (1, 1))
        irc.doStop()
        self.assertEqual((line.stopped, other.stopped), (1, 1))


class OtherProtocolIdleTests(ListenerTestCase):
    """
    A connection the guard closes for being idle is told so in its own
    protocol's words.
    """

    def test_idleLineByProtocol(self) -> None:
        """
        Each listener's refusal line is the one its idle connections get.
        """
        guard = ConnectionGuard(
            RecorderFactory(),
            self.clock,
            ConnectionLimits(0, 0, idleTimeout=10),
            "chat",
            refusalLine,
        )
        line = guard.listenerFactory("tcp")
        other = guard.listenerFactory(
            "tcp",
            RecorderFactory(),
            "irc",
            lambda code, text: b"ERROR :" + code.encode(),
        )
        _, lineTransport = self.via(line)
        _, otherTransport = self.via(other, at(BOB))
        with capturedLogs():
            self.clock.advance(10)
        self.assertTrue(lineTransport.value().startswith(b"error idle-timeout"))
        self.assertEqual(otherTransport.value(), b"ERROR :idle-timeout")
