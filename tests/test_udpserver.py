"""
Tests for L{netlab._udpserver}: L{GuardedDatagramProtocol}, the server side
shared by every datagram service.

No datagram is sent: L{FakeDatagramTransport} stands in for the port, and a
socket object whose C{sendto} only records stands in for its handle.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence

from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.error import MessageLengthError
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport
from twisted.logger import LogEvent, LogLevel, capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from netlab._udpguard import DEFAULT_SOURCE_BURST, DatagramGuard, Refusal
from netlab._udpserver import GuardedDatagramProtocol
from netlab.policies import TrafficStats

ALICE = ("192.0.2.1", 5000)


def warnings(events: Sequence[LogEvent]) -> list[LogEvent]:
    """
    @return: the warnings among C{events} about a reply not sent.
    """
    return [
        event
        for event in events
        if event.get("log_level") is LogLevel.warn
        and "could not answer" in formatEvent(event)
    ]


class RecordingSocket(socket.socket):
    """
    A UDP socket object that is never used for I/O: its C{sendto} records
    what it is given, or raises C{error}.

    @ivar sent: the C{(data, address)} of each C{sendto}.
    @ivar error: what C{sendto} raises, if not L{None}.
    """

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__(socket.AF_INET, socket.SOCK_DGRAM)
        self.sent: list[tuple[bytes, object]] = []
        self.error = error

    def sendto(self, data: bytes, address: object) -> int:  # type: ignore[override]
        if self.error is not None:
            raise self.error
        self.sent.append((data, address))
        return len(data)


class PortTransport(FakeDatagramTransport):
    """
    A datagram transport that, like a listening UDP port, has a host
    address and a handle.

    @ivar host: what C{getHost} returns.
    @ivar handle: what C{getHandle} returns.
    """

    def __init__(self, host: object, handle: object = None) -> None:
        super().__init__()
        self.host = host
        self.handle = handle

    def getHost(self) -> object:
        return self.host

    def getHandle(self) -> object:
        return self.handle


class FailingDatagramTransport(FakeDatagramTransport):
    """
    A datagram transport whose every write fails with C{error}.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.attempts = 0

    def write(self, packet: bytes, addr: object = None) -> None:
        self.attempts += 1
        raise self.error


class GuardedDatagramProtocolTests(SynchronousTestCase):
    """
    Tests for L{GuardedDatagramProtocol}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)

    def recordingSocket(self, error: Exception | None = None) -> RecordingSocket:
        """
        @return: a L{RecordingSocket}, closed when the test ends.
        """
        sock = RecordingSocket(error)
        self.addCleanup(sock.close)
        return sock

    def test_defaultGuard(self) -> None:
        """
        Without a guard, the protocol makes a L{DatagramGuard} with the
        defaults, and C{admit} is that guard's.
        """
        protocol = GuardedDatagramProtocol(self.clock)
        self.assertIsInstance(protocol.guard, DatagramGuard)
        with capturedLogs():
            self.assertFalse(protocol.admit("192.0.2.1", 7))
            count = sum(protocol.admit(*ALICE) for _ in range(DEFAULT_SOURCE_BURST + 5))
        self.assertEqual(count, DEFAULT_SOURCE_BURST)
        self.assertEqual(protocol.guard.refused[Refusal.PRIVILEGED_PORT], 1)

    def test_givenGuard(self) -> None:
        """
        The protocol answers through the guard it is given.
        """
        guard = DatagramGuard(self.clock, sourceRate=1, sourceBurst=2)
        protocol = GuardedDatagramProtocol(self.clock, guard)
        self.assertIs(protocol.guard, guard)
        with capturedLogs():
            self.assertEqual([protocol.admit(*ALICE) for _ in range(3)], [1, 1, 0])
        self.assertEqual(guard.refused[Refusal.SOURCE_RATE], 1)

    def test_stats(self) -> None:
        """
        The protocol has the service's L{TrafficStats}: the ones it is
        given, or its own, over UDP, at zero.
        """
        stats = GuardedDatagramProtocol(self.clock).stats
        self.assertEqual(
            (stats.transport, stats.bytesReceived, stats.messages), ("udp", 0, 0)
        )
        given = TrafficStats("mine", "udp")
        self.assertIs(GuardedDatagramProtocol(self.clock, stats=given).stats, given)

    def test_ownPortFromHost(self) -> None:
        """
        On starting, the guard's C{ownPort} is taken from the transport's
        host address, so datagrams from that port are refused.
        """
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.makeConnection(PortTransport(IPv4Address("UDP", "0.0.0.0", 21568)))
        self.assertEqual(protocol.guard.ownPort, 21568)
        with capturedLogs():
            self.assertFalse(protocol.admit("192.0.2.1", 21568))
        self.assertTrue(protocol.admit("192.0.2.1", 21570))

    def test_ownPortUnknown(self) -> None:
        """
        A transport without C{getHost}, or whose host has no port, leaves
        C{ownPort} unset.
        """
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.makeConnection(FakeDatagramTransport())
        self.assertEqual(protocol.guard.ownPort, -1)
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.makeConnection(PortTransport(UNIXAddress(b"/tmp/dgram.sock")))
        self.assertEqual(protocol.guard.ownPort, -1)

    def test_repliesThroughSocket(self) -> None:
        """
        When the transport's handle is a socket, replies go to its
        C{sendto} with the address as given, not through the transport.
        """
        sock = self.recordingSocket()
        transport = PortTransport(IPv4Address("UDP", "0.0.0.0", 21568), sock)
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.makeConnection(transport)
        protocol.sendReply(b"one", ALICE)
        protocol.sendReply(b"two", ("fe80::1%eth0", 6000))
        self.assertEqual(sock.sent, [(b"one", ALICE), (b"two", ("fe80::1%eth0", 6000))])
        self.assertEqual(transport.written, [])

    def test_repliesThroughTransport(self) -> None:
        """
        When the transport has no handle, replies go to its C{write}.
        """
        transport = FakeDatagramTransport()
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.makeConnection(transport)
        protocol.sendReply(b"one", ALICE)
        self.assertEqual(transport.written, [(b"one", ALICE)])

    def test_handleNotASocket(self) -> None:
        """
        When the transport's handle is not a socket, replies go to its
        C{write}.
        """
        transport = PortTransport(IPv4Address("UDP", "0.0.0.0", 21568), object())
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.makeConnection(transport)
        protocol.sendReply(b"one", ALICE)
        self.assertEqual(transport.written, [(b"one", ALICE)])

    def test_beforeStartThroughTransport(self) -> None:
        """
        Before the protocol is started, replies go to the transport's
        C{write}.
        """
        transport = FakeDatagramTransport()
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.transport = transport
        protocol.sendReply(b"one", ALICE)
        self.assertEqual(transport.written, [(b"one", ALICE)])

    def test_afterStopThroughTransport(self) -> None:
        """
        Once stopped, the protocol no longer uses the socket: replies go to
        the transport's C{write}.
        """
        sock = self.recordingSocket()
        transport = PortTransport(IPv4Address("UDP", "0.0.0.0", 21568), sock)
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.makeConnection(transport)
        protocol.stopProtocol()
        protocol.sendReply(b"late", ALICE)
        self.assertEqual(sock.sent, [])
        self.assertEqual(transport.written, [(b"late", ALICE)])

    def test_socketErrorLogged(self) -> None:
        """
        A reply the socket refuses (its buffer full) is dropped and logged,
        with the address and the error, not raised.
        """
        sock = self.recordingSocket(
            BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        )
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.makeConnection(
            PortTransport(IPv4Address("UDP", "0.0.0.0", 21568), sock)
        )
        with capturedLogs() as events:
            protocol.sendReply(b"one", ALICE)
        [event] = warnings(events)
        self.assertEqual((event["host"], event["port"]), ALICE)
        self.assertIn("Resource temporarily unavailable", formatEvent(event))

    def test_writeOSErrorLogged(self) -> None:
        """
        An L{OSError} from the transport's C{write} is logged, not raised.
        """
        transport = FailingDatagramTransport(
            OSError(errno.ENETUNREACH, "Network is unreachable")
        )
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.makeConnection(transport)
        with capturedLogs() as events:
            protocol.sendReply(b"one", ALICE)
        self.assertEqual(transport.attempts, 1)
        [event] = warnings(events)
        self.assertIn("Network is unreachable", formatEvent(event))

    def test_messageLengthErrorLogged(self) -> None:
        """
        A L{MessageLengthError} from the transport's C{write} is logged, not
        raised.
        """
        transport = FailingDatagramTransport(MessageLengthError("too long"))
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.makeConnection(transport)
        with capturedLogs() as events:
            protocol.sendReply(b"x" * 70000, ALICE)
        self.assertEqual(len(warnings(events)), 1)

    def test_failuresLoggedRateLimited(self) -> None:
        """
        Many failed replies make one log event per interval; the next one
        after it reports how many were not logged.
        """
        transport = FailingDatagramTransport(OSError(errno.ENOBUFS, "No buffers"))
        protocol = GuardedDatagramProtocol(self.clock)
        protocol.makeConnection(transport)
        with capturedLogs() as events:
            for _ in range(100):
                protocol.sendReply(b"x", ALICE)
        self.assertEqual(len(warnings(events)), 1)
        self.assertEqual(transport.attempts, 100)
        self.clock.advance(10)
        with capturedLogs() as events:
            protocol.sendReply(b"x", ALICE)
        [event] = warnings(events)
        self.assertEqual(event["suppressed"], 99)
