"""
Tests for L{netlab.inettime._server}: the daytime and time protocols over
streams (L{DaytimeFactory}, L{TimeFactory}) and UDP
(L{DaytimeDatagramProtocol}, L{TimeDatagramProtocol}).

Everything runs in memory: L{StringTransport} and L{FakeDatagramTransport}
stand in for the network, a L{Clock} for the time.  Tests of the local time
set the C{TZ} environment variable to a known zone.
"""

from __future__ import annotations

import os
import time
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport, StringTransport
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from netlab.inettime import (
    DAYTIME_PORT,
    RFC868_OFFSET,
    TIME_PORT,
    DaytimeDatagramProtocol,
    DaytimeFactory,
    DaytimeProtocol,
    TimeDatagramProtocol,
    TimeFactory,
    TimeProtocol,
    packTime,
)
from netlab.policies import TrafficStats
from netlab.timestamp import TimeFormat
from netlab.udp import DatagramGuard, Refusal
from tests.inettime.test_wire import DEC2, WRAP

PEER = IPv4Address("TCP", "192.0.2.7", 40000)
ALICE = ("192.0.2.1", 40000)


def setZone(testCase: SynchronousTestCase, zone: str) -> None:
    """
    Make C{zone} the local time zone until C{testCase} ends.
    """
    old = os.environ.get("TZ")

    def restore() -> None:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()

    testCase.addCleanup(restore)
    os.environ["TZ"] = zone
    time.tzset()


def connect(factory: Any) -> tuple[Any, StringTransport]:
    """
    Connect a protocol of C{factory} to an in-memory transport.
    """
    protocol = factory.buildProtocol(PEER)
    transport = StringTransport(peerAddress=PEER)
    protocol.makeConnection(transport)
    return protocol, transport


class DaytimeProtocolTests(SynchronousTestCase):
    """
    Tests for L{DaytimeProtocol}, as built by L{DaytimeFactory}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(DEC2 + 0.75)

    def test_buildsDaytime(self) -> None:
        """
        The factory builds L{DaytimeProtocol}s that know their factory.
        """
        factory = DaytimeFactory(self.clock)
        protocol = factory.buildProtocol(PEER)
        self.assertIsInstance(protocol, DaytimeProtocol)
        self.assertIs(protocol.factory, factory)

    def test_oneLineThenClose(self) -> None:
        """
        On connect the server sends one ISO line in UTC (with --utc), CR LF,
        and closes.
        """
        _, transport = connect(DaytimeFactory(self.clock, utc=True))
        self.assertEqual(transport.value(), b"2026-12-02T13:37:20Z\r\n")
        self.assertTrue(transport.disconnecting)

    def test_formats(self) -> None:
        """
        The factory's format is used.
        """
        for format, line in [
            (TimeFormat.CTIME, b"Wed Dec  2 13:37:20 2026\r\n"),
            (TimeFormat.UNIX, b"1796218640\r\n"),
        ]:
            _, transport = connect(DaytimeFactory(self.clock, format, utc=True))
            self.assertEqual(transport.value(), line)

    def test_localTime(self) -> None:
        """
        Without C{utc}, the local time is sent, with its offset.
        """
        setZone(self, "Europe/Berlin")
        _, transport = connect(DaytimeFactory(self.clock))
        self.assertEqual(transport.value(), b"2026-12-02T14:37:20+01:00\r\n")

    def test_clockFollowed(self) -> None:
        """
        Each connection gets the clock's time when it connects.
        """
        factory = DaytimeFactory(self.clock, TimeFormat.UNIX)
        _, first = connect(factory)
        self.clock.advance(1)
        _, second = connect(factory)
        self.clock.advance(WRAP - DEC2)
        _, third = connect(factory)
        self.assertEqual(
            [first.value(), second.value(), third.value()],
            [b"1796218640\r\n", b"1796218641\r\n", b"%d\r\n" % (WRAP + 1)],
        )

    def test_inputIgnored(self) -> None:
        """
        What the peer sends is ignored.
        """
        protocol, transport = connect(DaytimeFactory(self.clock, utc=True))
        protocol.dataReceived(b"what time is it?\r\n")
        self.assertEqual(transport.value(), b"2026-12-02T13:37:20Z\r\n")

    def test_stats(self) -> None:
        """
        Each reply counts as a message in the factory's stats, given or its
        own (C{daytime}).
        """
        stats = TrafficStats("mine")
        factory = DaytimeFactory(self.clock, stats=stats)
        self.assertIs(factory.stats, stats)
        connect(factory)
        connect(factory)
        self.assertEqual(stats.messages, 2)
        self.assertEqual(DaytimeFactory(self.clock).stats.service, "daytime")


class TimeProtocolTests(SynchronousTestCase):
    """
    Tests for L{TimeProtocol}, as built by L{TimeFactory}.
    """

    def sent(self, seconds: float) -> bytes:
        """
        @return: what a connection is sent at C{seconds}, once it is closed.
        """
        clock = Clock()
        clock.advance(seconds)
        _, transport = connect(TimeFactory(clock))
        self.assertTrue(transport.disconnecting)
        sent: bytes = transport.value()
        return sent

    def test_buildsTime(self) -> None:
        """
        The factory builds L{TimeProtocol}s that know their factory.
        """
        factory = TimeFactory(Clock())
        protocol = factory.buildProtocol(PEER)
        self.assertIsInstance(protocol, TimeProtocol)
        self.assertIs(protocol.factory, factory)

    def test_fourBytesThenClose(self) -> None:
        """
        On connect the server sends 4 bytes, seconds since 1900 in network
        order, and closes: 1970, 2026, just before the wrap, and at it.
        """
        self.assertEqual(self.sent(0), b"\x83\xaa\x7e\x80")
        self.assertEqual(
            self.sent(DEC2 + 0.5), (DEC2 + RFC868_OFFSET).to_bytes(4, "big")
        )
        self.assertEqual(self.sent(WRAP - 1), b"\xff\xff\xff\xff")
        self.assertEqual(self.sent(WRAP), b"\x00\x00\x00\x00")

    def test_inputIgnored(self) -> None:
        """
        What the peer sends is ignored.
        """
        protocol, transport = connect(TimeFactory(Clock()))
        protocol.dataReceived(b"\x00" * 10)
        self.assertEqual(transport.value(), packTime(0))

    def test_stats(self) -> None:
        """
        Each reply counts as a message in the factory's stats, given or its
        own (C{time}).
        """
        stats = TrafficStats("mine")
        factory = TimeFactory(Clock(), stats)
        connect(factory)
        self.assertEqual((factory.stats, stats.messages), (stats, 1))
        self.assertEqual(TimeFactory(Clock()).stats.service, "time")


class _DatagramTestsMixin:
    """
    What both datagram protocols must do; mixed into a L{SynchronousTestCase}
    whose C{make(clock, guard=None, stats=None)} builds the protocol and
    whose C{reply} is what it sends at L{DEC2}.
    """

    reply: bytes
    service: str

    def make(self, clock: Clock, **kwargs: Any) -> Any:
        raise NotImplementedError

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(DEC2)
        self.transport = FakeDatagramTransport()
        self.protocol = self.make(self.clock)
        self.protocol.makeConnection(self.transport)

    def test_answers(self: Any) -> None:
        """
        Any datagram, empty or not, from an admitted source gets one reply,
        to its sender.
        """
        bob = ("2001:db8::1", 5000)
        self.protocol.datagramReceived(b"", ALICE)
        self.protocol.datagramReceived(b"anything", bob)
        self.assertEqual(
            self.transport.written, [(self.reply, ALICE), (self.reply, bob)]
        )

    def test_lowPortsRefused(self: Any) -> None:
        """
        Datagrams from ports below 1024 (13 and 37 too) get no reply.
        """
        with capturedLogs():
            for port in (0, 7, 13, 19, 37, 1023):
                self.protocol.datagramReceived(b"x", ("192.0.2.1", port))
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.protocol.guard.refused[Refusal.PRIVILEGED_PORT], 6)

    def test_servicePortsRefused(self: Any) -> None:
        """
        The default guard refuses the daytime and time ports, and netlab's
        others, as sources.
        """
        with capturedLogs():
            for port in (DAYTIME_PORT, TIME_PORT, 21567, 21568):
                self.protocol.datagramReceived(b"x", ("192.0.2.1", port))
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.protocol.guard.refused[Refusal.SERVICE_PORT], 4)

    def test_givenGuard(self: Any) -> None:
        """
        A guard given is the one used.
        """
        guard = DatagramGuard(self.clock, servicePorts=frozenset({4000}))
        protocol = self.make(self.clock, guard=guard)
        transport = FakeDatagramTransport()
        protocol.makeConnection(transport)
        with capturedLogs():
            protocol.datagramReceived(b"x", ("192.0.2.1", 4000))
        protocol.datagramReceived(b"x", ("192.0.2.1", TIME_PORT))
        self.assertIs(protocol.guard, guard)
        self.assertEqual(transport.written, [(self.reply, ("192.0.2.1", TIME_PORT))])

    def test_counts(self: Any) -> None:
        """
        Every datagram's bytes count as received; each one answered is a
        message, with the reply's bytes as sent.
        """
        with capturedLogs():
            self.protocol.datagramReceived(b"hello", ALICE)
            self.protocol.datagramReceived(b"loop?", ("192.0.2.1", 13))
            self.protocol.datagramReceived(b"", ALICE)
        stats = self.protocol.stats
        self.assertEqual(stats.bytesReceived, 10)
        self.assertEqual(stats.messages, 2)
        self.assertEqual(stats.bytesSent, 2 * len(self.reply))

    def test_stats(self: Any) -> None:
        """
        The protocol counts into the stats given, or its own.
        """
        self.assertEqual(
            (self.protocol.stats.service, self.protocol.stats.transport),
            (self.service, "udp"),
        )
        given = TrafficStats("mine", "udp")
        self.assertIs(self.make(self.clock, stats=given).stats, given)


class DaytimeDatagramProtocolTests(_DatagramTestsMixin, SynchronousTestCase):
    """
    Tests for L{DaytimeDatagramProtocol}.
    """

    reply = b"2026-12-02T13:37:20Z\r\n"
    service = "daytime"

    def make(self, clock: Clock, **kwargs: Any) -> DaytimeDatagramProtocol:
        return DaytimeDatagramProtocol(clock, utc=True, **kwargs)

    def test_format(self) -> None:
        """
        The format and zone given are used.
        """
        setZone(self, "Europe/Berlin")
        for format, reply in [
            (TimeFormat.ISO, b"2026-12-02T14:37:20+01:00\r\n"),
            (TimeFormat.CTIME, b"Wed Dec  2 14:37:20 2026\r\n"),
        ]:
            protocol = DaytimeDatagramProtocol(self.clock, format)
            transport = FakeDatagramTransport()
            protocol.makeConnection(transport)
            protocol.datagramReceived(b"", ALICE)
            self.assertEqual(transport.written, [(reply, ALICE)])


class TimeDatagramProtocolTests(_DatagramTestsMixin, SynchronousTestCase):
    """
    Tests for L{TimeDatagramProtocol}.
    """

    reply = packTime(DEC2)
    service = "time"

    def make(self, clock: Clock, **kwargs: Any) -> TimeDatagramProtocol:
        return TimeDatagramProtocol(clock, **kwargs)

    def test_wrap(self) -> None:
        """
        Just before the wrap the count is the largest, at it 0.
        """
        self.clock.advance(WRAP - 1 - DEC2)
        self.protocol.datagramReceived(b"", ALICE)
        self.clock.advance(1)
        self.protocol.datagramReceived(b"", ALICE)
        self.assertEqual(
            self.transport.written,
            [(b"\xff\xff\xff\xff", ALICE), (b"\x00\x00\x00\x00", ALICE)],
        )
