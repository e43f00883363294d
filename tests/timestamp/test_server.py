"""
Tests for L{netlab.timestamp._server}: the TCP timestamp protocols for both
framings, L{TimestampFactory}, and the UDP L{TimestampDatagramProtocol}.

Everything runs in memory: L{StringTransport} and L{FakeDatagramTransport}
stand in for the network, a L{Clock} for the time.
"""

from __future__ import annotations

import errno
import itertools
import os
import time
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import MessageLengthError
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport, StringTransport
from twisted.logger import LogEvent, LogLevel, capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab.policies import TrafficStats
from netlab.timestamp import (
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_REPLY_SIZE,
    Framing,
    LineTimestampProtocol,
    RawTimestampProtocol,
    TimeFormat,
    TimestampDatagramProtocol,
    TimestampFactory,
)

NOV22 = 1795391173
"""
Sun Nov 22 23:46:13 2026 UTC.
"""

PREFIX = b"[Sun Nov 22 23:46:13 2026] "
"""
The ctime prefix of a UTC server whose clock reads L{NOV22}.
"""

PEER = IPv4Address("TCP", "192.0.2.7", 40000)


def clockAt(seconds: float) -> Clock:
    """
    @return: a L{Clock} reading C{seconds}.
    """
    clock = Clock()
    clock.advance(seconds)
    return clock


def connect(
    factory: TimestampFactory, transport: StringTransport | None = None
) -> tuple[Protocol, StringTransport]:
    """
    Connect a protocol built by C{factory} to an in-memory transport.

    @return: the protocol and its transport.
    """
    protocol = factory.buildProtocol(PEER)
    if transport is None:
        transport = StringTransport(peerAddress=PEER)
    protocol.makeConnection(transport)
    return protocol, transport


def sendInChunks(protocol: Protocol, data: bytes, size: int) -> None:
    """
    Deliver C{data} to C{protocol} in reads of C{size} bytes.
    """
    for start in range(0, len(data), size):
        protocol.dataReceived(data[start : start + size])


def replyLines(output: bytes) -> list[bytes]:
    """
    @return: C{output} cut after each LF (and only there), endings kept.
    """
    return [line + b"\n" for line in output.split(b"\n")[:-1]]


def expectedLineReplies(request: bytes, limit: int) -> list[bytes | None]:
    """
    What line framing should answer to C{request} followed by a half close,
    worked out line by line: a line ending is LF, a CR before it is part of
    the ending, and a last unterminated line is answered with LF.

    @return: one entry per line: the stamped reply, or L{None} for an error
        line.
    """
    *lines, last = request.split(b"\n")
    if last:
        lines.append(last)
    expected: list[bytes | None] = []
    for line in lines:
        content = line[:-1] if line.endswith(b"\r") else line
        expected.append(None if len(content) > limit else PREFIX + line + b"\n")
    return expected


def warnings(events: Sequence[LogEvent], text: str) -> list[LogEvent]:
    """
    @return: the warnings among C{events} whose text contains C{text}.
    """
    return [
        event
        for event in events
        if event.get("log_level") is LogLevel.warn and text in formatEvent(event)
    ]


class RawTimestampProtocolTests(SynchronousTestCase):
    """
    Tests for L{RawTimestampProtocol}, the classic framing.
    """

    def setUp(self) -> None:
        self.clock = clockAt(NOV22)
        self.protocol, self.transport = connect(TimestampFactory(self.clock, utc=True))

    def test_classicExchange(self) -> None:
        """
        With the default configuration, C{b"hello"} is answered with the
        local C{time.ctime()} in brackets and C{b"hello"}, no newline added.
        """
        previous = os.environ.get("TZ")

        def restore() -> None:
            if previous is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = previous
            time.tzset()

        self.addCleanup(restore)
        os.environ["TZ"] = "America/New_York"
        time.tzset()
        protocol, transport = connect(TimestampFactory(self.clock))
        protocol.dataReceived(b"hello")
        self.assertEqual(transport.value(), b"[Sun Nov 22 18:46:13 2026] hello")
        self.assertEqual(
            transport.value(), b"[" + time.ctime(NOV22).encode() + b"] hello"
        )

    def test_answeredAsItArrives(self) -> None:
        """
        Each chunk is answered as soon as it arrives, with no line ending
        added and without waiting for one.
        """
        self.protocol.dataReceived(b"hello")
        self.assertEqual(self.transport.value(), PREFIX + b"hello")

    def test_chunkPerReply(self) -> None:
        """
        Several chunks get several replies, one per chunk, in order.
        """
        self.protocol.dataReceived(b"one\n")
        self.protocol.dataReceived(b"two\nthree\n")
        self.clock.advance(1)
        self.protocol.dataReceived(b"four")
        self.assertEqual(
            self.transport.value(),
            PREFIX
            + b"one\n"
            + PREFIX
            + b"two\nthree\n"
            + b"[Sun Nov 22 23:46:14 2026] four",
        )

    def test_nonUTF8Untouched(self) -> None:
        """
        Bytes that are not UTF-8 are stamped and echoed unchanged.
        """
        data = b"\xff\xfe\x00\x80\r\n\xe9"
        self.protocol.dataReceived(data)
        self.assertEqual(self.transport.value(), PREFIX + data)

    def test_formatHonoured(self) -> None:
        """
        The factory's time format is the one the protocol writes.
        """
        protocol, transport = connect(
            TimestampFactory(self.clock, TimeFormat.ISO, utc=True)
        )
        protocol.dataReceived(b"hi")
        self.assertEqual(transport.value(), b"[2026-11-22T23:46:13Z] hi")
        protocol, transport = connect(TimestampFactory(self.clock, TimeFormat.UNIX))
        protocol.dataReceived(b"hi")
        self.assertEqual(transport.value(), b"[1795391173] hi")

    def test_halfCloseable(self) -> None:
        """
        The protocol provides L{IHalfCloseableProtocol}, so that it hears of
        a peer closing its sending side instead of being disconnected.
        """
        self.assertTrue(verifyObject(IHalfCloseableProtocol, self.protocol))

    def test_readConnectionLostCloses(self) -> None:
        """
        When the peer stops sending, the connection is closed after the
        replies already written.
        """
        self.protocol.dataReceived(b"last")
        self.assertFalse(self.transport.disconnecting)
        self.protocol.readConnectionLost()  # type: ignore[attr-defined]
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.transport.value(), PREFIX + b"last")

    def test_writeConnectionLostCloses(self) -> None:
        """
        When the peer stops reading, the connection is closed.
        """
        self.protocol.writeConnectionLost()  # type: ignore[attr-defined]
        self.assertTrue(self.transport.disconnecting)

    def test_flowControl(self) -> None:
        """
        The connection registers its transport as a streaming producer for
        itself, so that it stops reading while its output is backed up.
        """
        self.assertIs(self.transport.producer, self.transport)
        self.assertTrue(self.transport.streaming)

    def test_countsStamps(self) -> None:
        """
        Each stamp sent counts as one message in the factory's
        L{TrafficStats}, which every connection of the factory shares.
        """
        factory = TimestampFactory(self.clock, utc=True)
        first, _ = connect(factory)
        second, _ = connect(factory)
        first.dataReceived(b"one\ntwo\n")
        second.dataReceived(b"three")
        first.dataReceived(b"four")
        self.assertEqual(factory.stats.messages, 3)


class LineTimestampProtocolTests(SynchronousTestCase):
    """
    Tests for L{LineTimestampProtocol}, line framing.
    """

    def setUp(self) -> None:
        self.clock = clockAt(NOV22)
        self.factory = TimestampFactory(self.clock, utc=True, framing=Framing.LINE)
        self.protocol, self.transport = connect(self.factory)

    def connectWithLimit(self, limit: int) -> None:
        """
        Replace this test's connection with one whose factory has
        C{maxLineLength=limit}.
        """
        self.factory = TimestampFactory(
            self.clock, utc=True, framing=Framing.LINE, maxLineLength=limit
        )
        self.protocol, self.transport = connect(self.factory)

    def replies(self) -> list[bytes]:
        """
        @return: the reply lines written so far, with their line endings.
        """
        return replyLines(self.transport.value())

    def test_onePerLine(self) -> None:
        """
        Each line gets one stamped reply line.
        """
        self.protocol.dataReceived(b"one\n")
        self.assertEqual(self.transport.value(), PREFIX + b"one\n")
        self.protocol.dataReceived(b"two\n")
        self.assertEqual(self.replies(), [PREFIX + b"one\n", PREFIX + b"two\n"])

    def test_partialLineWaits(self) -> None:
        """
        Nothing is answered before a line is complete; a line split across
        reads is answered once, whole.
        """
        self.protocol.dataReceived(b"hel")
        self.assertEqual(self.transport.value(), b"")
        self.protocol.dataReceived(b"lo\nwor")
        self.assertEqual(self.transport.value(), PREFIX + b"hello\n")
        self.protocol.dataReceived(b"ld")
        self.protocol.dataReceived(b"\n")
        self.assertEqual(self.replies(), [PREFIX + b"hello\n", PREFIX + b"world\n"])

    def test_severalLinesInOneRead(self) -> None:
        """
        Several lines arriving in one read get one reply each, in order.
        """
        self.protocol.dataReceived(b"a\nb\n\nc\n")
        self.assertEqual(
            self.replies(),
            [PREFIX + b"a\n", PREFIX + b"b\n", PREFIX + b"\n", PREFIX + b"c\n"],
        )

    def test_lineEndingKept(self) -> None:
        """
        A reply ends the way its request did: LF for LF, CRLF for CRLF.
        """
        self.protocol.dataReceived(b"lf\ncrlf\r\nlf\n")
        self.assertEqual(
            self.replies(),
            [PREFIX + b"lf\n", PREFIX + b"crlf\r\n", PREFIX + b"lf\n"],
        )

    def test_crlfSplitAcrossReads(self) -> None:
        """
        A CRLF split between two reads still ends one line, answered with
        CRLF.
        """
        self.protocol.dataReceived(b"hi\r")
        self.protocol.dataReceived(b"\nthere\r\n")
        self.assertEqual(self.replies(), [PREFIX + b"hi\r\n", PREFIX + b"there\r\n"])

    def test_nonUTF8Untouched(self) -> None:
        """
        A line of bytes that are not UTF-8 is stamped unchanged.
        """
        self.protocol.dataReceived(b"\xff\x00\xe9\r\n")
        self.assertEqual(self.transport.value(), PREFIX + b"\xff\x00\xe9\r\n")

    def test_stampPerLineTime(self) -> None:
        """
        Each line is stamped with the time it was answered.
        """
        self.protocol.dataReceived(b"a\n")
        self.clock.advance(1)
        self.protocol.dataReceived(b"b\n")
        self.assertEqual(
            self.replies(),
            [PREFIX + b"a\n", b"[Sun Nov 22 23:46:14 2026] b\n"],
        )

    def assertPipelined(self, count: int, size: int | None) -> None:
        """
        Send C{count} numbered lines, all at once or in reads of C{size}
        bytes, and assert that exactly C{count} replies come back, in order,
        none merged or split.
        """
        self.protocol, self.transport = connect(self.factory)
        request = b"".join(b"line %d\n" % i for i in range(count))
        if size is None:
            self.protocol.dataReceived(request)
        else:
            sendInChunks(self.protocol, request, size)
        self.assertEqual(
            self.transport.value(),
            b"".join(PREFIX + b"line %d\n" % i for i in range(count)),
        )
        self.assertEqual(len(self.replies()), count)

    def test_pipelinedInOneRead(self) -> None:
        """
        Ten thousand lines pipelined in one read get exactly ten thousand
        reply lines, in order.
        """
        self.assertPipelined(10_000, None)

    def test_pipelinedAwkwardChunks(self) -> None:
        """
        Ten thousand lines delivered in reads of sizes that cut lines
        anywhere get exactly ten thousand reply lines, in order.
        """
        for size in (1, 3, 7, 1000, 4093, 65537):
            self.assertPipelined(10_000, size)

    @settings(max_examples=200)
    @given(
        limit=st.integers(min_value=1, max_value=6),
        lines=st.lists(
            st.binary(max_size=10).map(lambda line: line.replace(b"\n", b"")),
            max_size=8,
        ),
        ending=st.sampled_from([b"\n", b"\r\n"]),
        last=st.binary(max_size=8).map(lambda line: line.replace(b"\n", b"")),
        cuts=st.lists(st.integers(min_value=1, max_value=9), min_size=1),
    )
    def test_oneReplyPerRequest(
        self,
        limit: int,
        lines: list[bytes],
        ending: bytes,
        last: bytes,
        cuts: list[int],
    ) -> None:
        """
        However lines of any length are cut into reads, every line gets
        exactly one reply in order: stamped if it fits, an error line if
        not, including a last unterminated line answered on half close.
        """
        self.connectWithLimit(limit)
        request = b"".join(line + ending for line in lines) + last
        start = 0
        for size in itertools.cycle(cuts):
            if start >= len(request):
                break
            self.protocol.dataReceived(request[start : start + size])
            start += size
        self.protocol.readConnectionLost()  # type: ignore[attr-defined]
        replies = replyLines(self.transport.value())
        self.assertEqual(b"".join(replies), self.transport.value())
        self.assertEqual(
            [None if reply.startswith(b"error: ") else reply for reply in replies],
            expectedLineReplies(request, limit),
        )

    def test_lineOfMaxLengthAnswered(self) -> None:
        """
        A line of exactly C{maxLineLength} bytes is answered, with LF or
        CRLF (the line ending does not count).
        """
        self.connectWithLimit(10)
        self.protocol.dataReceived(b"x" * 10 + b"\n")
        self.protocol.dataReceived(b"y" * 10 + b"\r\n")
        self.assertEqual(
            self.replies(),
            [PREFIX + b"x" * 10 + b"\n", PREFIX + b"y" * 10 + b"\r\n"],
        )

    def test_lineOfMaxLengthInPieces(self) -> None:
        """
        A line of exactly C{maxLineLength} bytes is answered when it arrives
        in pieces, even with its CR and LF in separate reads.
        """
        self.connectWithLimit(10)
        self.protocol.dataReceived(b"x" * 6)
        self.protocol.dataReceived(b"x" * 4)
        self.protocol.dataReceived(b"\r")
        self.protocol.dataReceived(b"\n")
        self.assertEqual(self.replies(), [PREFIX + b"x" * 10 + b"\r\n"])

    def test_defaultLimit(self) -> None:
        """
        By default a line of L{DEFAULT_MAX_LINE_LENGTH} bytes is answered and
        a longer one refused.
        """
        line = b"x" * DEFAULT_MAX_LINE_LENGTH
        self.protocol.dataReceived(line + b"\n" + line + b"y\n")
        replies = self.replies()
        self.assertEqual(len(replies), 2)
        self.assertEqual(replies[0], PREFIX + line + b"\n")
        self.assertTrue(replies[1].startswith(b"error: "))

    def test_tooLongRefusedInPlace(self) -> None:
        """
        A line of C{maxLineLength + 1} bytes is answered, in its place, with
        one line starting with C{b"error: "}, so replies stay one per
        request; the connection stays open.
        """
        self.connectWithLimit(10)
        self.protocol.dataReceived(b"before\n" + b"x" * 11 + b"\nafter\n")
        replies = self.replies()
        self.assertEqual(len(replies), 3)
        self.assertEqual(replies[0], PREFIX + b"before\n")
        self.assertTrue(replies[1].startswith(b"error: "), replies[1])
        self.assertTrue(replies[1].endswith(b"\n"))
        self.assertEqual(replies[2], PREFIX + b"after\n")
        self.assertFalse(self.transport.disconnecting)

    def test_tooLongWithCRLF(self) -> None:
        """
        A line of C{maxLineLength + 1} bytes is refused when it ends with
        CRLF too.
        """
        self.connectWithLimit(10)
        self.protocol.dataReceived(b"x" * 11 + b"\r\n")
        replies = self.replies()
        self.assertEqual(len(replies), 1)
        self.assertTrue(replies[0].startswith(b"error: "))

    def test_tooLongOverManyReads(self) -> None:
        """
        A line that is too long and arrives over many reads is discarded
        whole, with one error line, and the next line is answered normally.
        """
        self.connectWithLimit(10)
        for _ in range(50):
            self.protocol.dataReceived(b"x" * 4)
        self.protocol.dataReceived(b"tail\nnext\n")
        self.assertEqual(len(self.replies()), 2)
        error, reply = self.replies()
        self.assertTrue(error.startswith(b"error: "), error)
        self.assertEqual(reply, PREFIX + b"next\n")
        self.assertFalse(self.transport.disconnecting)

    def test_tooLongRefusedBeforeItEnds(self) -> None:
        """
        A line that is already too long is refused without waiting for its
        end, so the server never holds it.
        """
        self.connectWithLimit(10)
        self.protocol.dataReceived(b"x" * 12)
        self.assertTrue(self.transport.value().startswith(b"error: "))
        self.protocol.dataReceived(b"x" * 1000 + b"\nok\n")
        self.assertEqual(len(self.replies()), 2)
        self.assertEqual(self.replies()[1], PREFIX + b"ok\n")

    def test_tooLongEveryTime(self) -> None:
        """
        Each over-long line gets its own error line, however it arrives.
        """
        self.connectWithLimit(10)
        self.protocol.dataReceived(b"x" * 20 + b"\n" + b"y" * 20)
        self.protocol.dataReceived(b"\n" + b"z" * 11 + b"\nok\n")
        replies = self.replies()
        self.assertEqual(len(replies), 4)
        self.assertEqual(
            [reply.startswith(b"error: ") for reply in replies],
            [True, True, True, False],
        )
        self.assertEqual(replies[3], PREFIX + b"ok\n")

    def test_tooLongLogged(self) -> None:
        """
        An over-long line is logged as a warning, with the limit and the
        peer.
        """
        self.connectWithLimit(10)
        with capturedLogs() as events:
            self.protocol.dataReceived(b"x" * 11 + b"\n")
        [event] = warnings(events, "longer than")
        self.assertEqual(event["limit"], 10)
        self.assertEqual(event["peer"], "192.0.2.7:40000")

    def test_tooLongLogRateLimited(self) -> None:
        """
        Many over-long lines, on one connection or several, do not make one
        log event each; after the interval the next is logged with the count
        of those that were not.
        """
        self.connectWithLimit(10)
        other, otherTransport = connect(self.factory)
        with capturedLogs() as events:
            for _ in range(100):
                self.protocol.dataReceived(b"x" * 11 + b"\n")
                other.dataReceived(b"x" * 11 + b"\n")
        self.assertEqual(len(warnings(events, "longer than")), 1)
        self.assertEqual(len(self.replies()), 100)
        self.assertEqual(len(otherTransport.value().splitlines()), 100)

        self.clock.advance(60)
        with capturedLogs() as events:
            self.protocol.dataReceived(b"x" * 11 + b"\n")
        [event] = warnings(events, "longer than")
        self.assertEqual(event["suppressed"], 199)

    def test_lastLineAnsweredOnHalfClose(self) -> None:
        """
        A last line with no line ending is answered, with LF, when the peer
        closes its sending side; then the connection closes.
        """
        self.protocol.dataReceived(b"one\nlast")
        self.assertEqual(self.transport.value(), PREFIX + b"one\n")
        self.assertFalse(self.transport.disconnecting)
        self.protocol.readConnectionLost()  # type: ignore[attr-defined]
        self.assertEqual(self.replies(), [PREFIX + b"one\n", PREFIX + b"last\n"])
        self.assertTrue(self.transport.disconnecting)

    def test_halfCloseWithNothingPending(self) -> None:
        """
        When the peer closes its sending side after a complete line, nothing
        more is written and the connection closes.
        """
        self.protocol.dataReceived(b"one\n")
        self.protocol.readConnectionLost()  # type: ignore[attr-defined]
        self.assertEqual(self.transport.value(), PREFIX + b"one\n")
        self.assertTrue(self.transport.disconnecting)

    def test_halfCloseDuringDiscardedLine(self) -> None:
        """
        The unterminated rest of an over-long line is not answered on half
        close: it was already refused.
        """
        self.connectWithLimit(10)
        self.protocol.dataReceived(b"x" * 20)
        self.protocol.dataReceived(b"tail")
        self.protocol.readConnectionLost()  # type: ignore[attr-defined]
        replies = self.replies()
        self.assertEqual(len(replies), 1)
        self.assertTrue(replies[0].startswith(b"error: "))
        self.assertTrue(self.transport.disconnecting)

    def test_writeConnectionLostCloses(self) -> None:
        """
        When the peer stops reading, the connection is closed.
        """
        self.protocol.writeConnectionLost()  # type: ignore[attr-defined]
        self.assertTrue(self.transport.disconnecting)

    def test_halfCloseable(self) -> None:
        """
        The protocol provides L{IHalfCloseableProtocol}.
        """
        self.assertTrue(verifyObject(IHalfCloseableProtocol, self.protocol))

    def test_flowControl(self) -> None:
        """
        The connection registers its transport as a streaming producer for
        itself.
        """
        self.assertIs(self.transport.producer, self.transport)
        self.assertTrue(self.transport.streaming)

    def test_countsLines(self) -> None:
        """
        Each line answered counts as one message, however the lines are cut
        into reads; a line not yet ended is not counted until it is.
        """
        self.protocol.dataReceived(b"one\ntwo\r\nthr")
        self.assertEqual(self.factory.stats.messages, 2)
        self.protocol.dataReceived(b"ee")
        self.assertEqual(self.factory.stats.messages, 2)
        self.protocol.dataReceived(b"\n\n")
        self.assertEqual(self.factory.stats.messages, 4)
        self.assertEqual(len(self.replies()), 4)


class TimestampFactoryTests(SynchronousTestCase):
    """
    Tests for L{TimestampFactory}.
    """

    def test_rejectsMaxLineLengthBelowOne(self) -> None:
        """
        A C{maxLineLength} below 1 is refused with L{ValueError}.
        """
        for limit in (0, -1):
            self.assertRaises(
                ValueError, TimestampFactory, Clock(), maxLineLength=limit
            )
        self.assertEqual(TimestampFactory(Clock(), maxLineLength=1).maxLineLength, 1)

    def test_rawByDefault(self) -> None:
        """
        By default the factory builds L{RawTimestampProtocol}s, the classic
        framing.
        """
        factory = TimestampFactory(Clock())
        protocol = factory.buildProtocol(PEER)
        self.assertIsInstance(protocol, RawTimestampProtocol)
        self.assertIs(protocol.factory, factory)
        self.assertIsInstance(
            TimestampFactory(Clock(), framing=Framing.RAW).buildProtocol(PEER),
            RawTimestampProtocol,
        )

    def test_lineFraming(self) -> None:
        """
        With L{Framing.LINE} the factory builds L{LineTimestampProtocol}s
        with its C{maxLineLength}.
        """
        factory = TimestampFactory(Clock(), framing=Framing.LINE, maxLineLength=5)
        protocol = factory.buildProtocol(PEER)
        self.assertIsInstance(protocol, LineTimestampProtocol)
        self.assertIs(protocol.factory, factory)
        self.assertEqual(protocol.maxLineLength, 5)  # type: ignore[attr-defined]

    def test_maxLineLengthOne(self) -> None:
        """
        With C{maxLineLength=1}, one-byte lines are answered and two-byte
        lines refused.
        """
        factory = TimestampFactory(
            clockAt(NOV22), utc=True, framing=Framing.LINE, maxLineLength=1
        )
        protocol, transport = connect(factory)
        protocol.dataReceived(b"a\n\nbc\nd\r\n")
        replies = transport.value().splitlines(keepends=True)
        self.assertEqual(len(replies), 4)
        self.assertEqual(replies[0], PREFIX + b"a\n")
        self.assertEqual(replies[1], PREFIX + b"\n")
        self.assertTrue(replies[2].startswith(b"error: "))
        self.assertEqual(replies[3], PREFIX + b"d\r\n")

    def test_connectionsShareClock(self) -> None:
        """
        Every connection of a factory stamps the time of the factory's clock.
        """
        clock = clockAt(NOV22)
        factory = TimestampFactory(clock, TimeFormat.UNIX)
        first, firstTransport = connect(factory)
        second, secondTransport = connect(factory)
        first.dataReceived(b"a")
        clock.advance(5)
        second.dataReceived(b"b")
        self.assertEqual(firstTransport.value(), b"[1795391173] a")
        self.assertEqual(secondTransport.value(), b"[1795391178] b")

    def test_stats(self) -> None:
        """
        The factory has the service's L{TrafficStats}: C{tsserv} over TCP
        by default, or the ones it is given.
        """
        stats = TimestampFactory(Clock()).stats
        self.assertEqual((stats.service, stats.transport), ("tsserv", "tcp"))
        given = TrafficStats("mine")
        factory = TimestampFactory(clockAt(NOV22), framing=Framing.LINE, stats=given)
        self.assertIs(factory.stats, given)
        protocol, _ = connect(factory)
        protocol.dataReceived(b"counted\n")
        self.assertEqual(given.messages, 1)


class FailingDatagramTransport(FakeDatagramTransport):
    """
    A datagram transport whose every write fails.

    @ivar error: the exception each write raises.
    @ivar attempts: how many writes were tried.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.attempts = 0

    def write(self, packet: bytes, addr: object = None) -> None:
        self.attempts += 1
        raise self.error


class TimestampDatagramProtocolTests(SynchronousTestCase):
    """
    Tests for L{TimestampDatagramProtocol}.
    """

    alice = ("192.0.2.1", 5000)
    bob = ("198.51.100.2", 6000)

    def setUp(self) -> None:
        self.clock = clockAt(NOV22)
        self.transport = FakeDatagramTransport()
        self.protocol = self.listen(TimestampDatagramProtocol(self.clock, utc=True))

    def listen(
        self,
        protocol: TimestampDatagramProtocol,
        transport: FakeDatagramTransport | None = None,
    ) -> TimestampDatagramProtocol:
        """
        Start C{protocol} on C{transport} (by default this test's transport).
        """
        protocol.makeConnection(transport or self.transport)
        return protocol

    def test_answersSender(self) -> None:
        """
        Each datagram is answered with exactly one stamped datagram, to the
        address it came from.
        """
        self.protocol.datagramReceived(b"hello", self.alice)
        self.protocol.datagramReceived(b"hi", self.bob)
        self.protocol.datagramReceived(b"again", self.alice)
        self.assertEqual(
            self.transport.written,
            [
                (PREFIX + b"hello", self.alice),
                (PREFIX + b"hi", self.bob),
                (PREFIX + b"again", self.alice),
            ],
        )

    def test_dataUntouched(self) -> None:
        """
        The data is echoed byte for byte, with no line ending added or
        removed, UTF-8 or not, empty or not.
        """
        for data in (b"\xff\x00\xe9", b"line\r\n", b""):
            self.protocol.datagramReceived(data, self.alice)
        self.assertEqual(
            [packet for packet, _ in self.transport.written],
            [PREFIX + b"\xff\x00\xe9", PREFIX + b"line\r\n", PREFIX],
        )

    def test_localCtimeByDefault(self) -> None:
        """
        By default the reply carries the local C{time.ctime()}.
        """
        previous = os.environ.get("TZ")

        def restore() -> None:
            if previous is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = previous
            time.tzset()

        self.addCleanup(restore)
        os.environ["TZ"] = "Asia/Kolkata"
        time.tzset()
        transport = FakeDatagramTransport()
        protocol = self.listen(TimestampDatagramProtocol(self.clock), transport)
        protocol.datagramReceived(b"hello", self.alice)
        self.assertEqual(
            transport.written, [(b"[Mon Nov 23 05:16:13 2026] hello", self.alice)]
        )

    def test_formatHonoured(self) -> None:
        """
        The protocol writes the time format it was given.
        """
        transport = FakeDatagramTransport()
        protocol = self.listen(
            TimestampDatagramProtocol(self.clock, TimeFormat.UNIX), transport
        )
        protocol.datagramReceived(b"x", self.alice)
        self.assertEqual(transport.written, [(b"[1795391173] x", self.alice)])

    def test_replyAtLimitSent(self) -> None:
        """
        A reply of exactly C{maxReplySize} bytes is sent.
        """
        transport = FakeDatagramTransport()
        protocol = self.listen(
            TimestampDatagramProtocol(self.clock, utc=True, maxReplySize=100),
            transport,
        )
        data = b"x" * (100 - len(PREFIX))
        protocol.datagramReceived(data, self.alice)
        self.assertEqual(transport.written, [(PREFIX + data, self.alice)])

    def test_oversizeNotAnswered(self) -> None:
        """
        A datagram whose reply would be larger than C{maxReplySize} is not
        answered, and that is logged; other datagrams still are answered.
        """
        transport = FakeDatagramTransport()
        protocol = self.listen(
            TimestampDatagramProtocol(self.clock, utc=True, maxReplySize=100),
            transport,
        )
        with capturedLogs() as events:
            protocol.datagramReceived(b"x" * (101 - len(PREFIX)), self.alice)
        self.assertEqual(transport.written, [])
        [event] = warnings(events, "not answering")
        self.assertEqual(event["limit"], 100)
        self.assertEqual((event["host"], event["port"]), self.alice)
        protocol.datagramReceived(b"ok", self.bob)
        self.assertEqual(transport.written, [(PREFIX + b"ok", self.bob)])

    def test_defaultMaxReplySize(self) -> None:
        """
        By default replies are bounded by the largest IPv4 UDP payload,
        L{DEFAULT_MAX_REPLY_SIZE} (65507 bytes).
        """
        self.assertEqual(DEFAULT_MAX_REPLY_SIZE, 65507)
        fits = b"x" * (DEFAULT_MAX_REPLY_SIZE - len(PREFIX))
        with capturedLogs():
            self.protocol.datagramReceived(fits, self.alice)
            self.protocol.datagramReceived(fits + b"x", self.alice)
        self.assertEqual(self.transport.written, [(PREFIX + fits, self.alice)])

    def test_oversizeLogRateLimited(self) -> None:
        """
        Many oversize datagrams make a bounded number of log events; once the
        interval has passed, the next one is logged with the count of those
        that were not.
        """
        transport = FakeDatagramTransport()
        protocol = self.listen(
            TimestampDatagramProtocol(self.clock, utc=True, maxReplySize=100),
            transport,
        )
        big = b"x" * 200
        with capturedLogs() as events:
            for _ in range(500):
                protocol.datagramReceived(big, self.alice)
        self.assertEqual(len(warnings(events, "not answering")), 1)
        self.assertEqual(transport.written, [])

        self.clock.advance(10)
        with capturedLogs() as events:
            protocol.datagramReceived(big, self.bob)
            protocol.datagramReceived(big, self.bob)
        [event] = warnings(events, "not answering")
        self.assertEqual(event["suppressed"], 499)
        self.assertIn("499 more like this not logged", formatEvent(event))

    def test_writeErrorLogged(self) -> None:
        """
        A reply the network refuses (L{OSError}) does not crash the protocol:
        it is logged, and later datagrams are still answered.
        """
        transport = FailingDatagramTransport(
            OSError(errno.ENOBUFS, "No buffer space available")
        )
        protocol = self.listen(
            TimestampDatagramProtocol(self.clock, utc=True), transport
        )
        with capturedLogs() as events:
            protocol.datagramReceived(b"one", self.alice)
            protocol.datagramReceived(b"two", self.bob)
        self.assertEqual(transport.attempts, 2)
        [event] = warnings(events, "could not answer")
        self.assertEqual((event["host"], event["port"]), self.alice)
        self.assertIn("No buffer space available", formatEvent(event))

    def test_messageLengthErrorLogged(self) -> None:
        """
        A reply too long for the network (L{MessageLengthError}) is logged,
        not raised.
        """
        transport = FailingDatagramTransport(MessageLengthError())
        protocol = self.listen(
            TimestampDatagramProtocol(self.clock, utc=True), transport
        )
        with capturedLogs() as events:
            protocol.datagramReceived(b"one", self.alice)
        self.assertEqual(len(warnings(events, "could not answer")), 1)

    def test_counts(self) -> None:
        """
        Every datagram's bytes count as received; each one answered counts
        as a message, with its reply's bytes as sent.  Refused and
        oversize datagrams are not answered, so not counted as messages.
        """
        transport = FakeDatagramTransport()
        protocol = self.listen(
            TimestampDatagramProtocol(self.clock, utc=True, maxReplySize=100),
            transport,
        )
        with capturedLogs():
            protocol.datagramReceived(b"hello", self.alice)
            protocol.datagramReceived(b"loop?", ("192.0.2.1", 7))
            protocol.datagramReceived(b"x" * 100, self.bob)
            protocol.datagramReceived(b"hi", self.bob)
        stats = protocol.stats
        self.assertEqual(stats.bytesReceived, 5 + 5 + 100 + 2)
        self.assertEqual(stats.messages, 2)
        self.assertEqual(stats.bytesSent, 2 * len(PREFIX) + 5 + 2)
        self.assertEqual(
            stats.bytesSent, sum(len(reply) for reply, _ in transport.written)
        )

    def test_stats(self) -> None:
        """
        The protocol counts into the L{TrafficStats} it is given, or its
        own: C{tsuserv} over UDP.
        """
        self.assertEqual(
            (self.protocol.stats.service, self.protocol.stats.transport),
            ("tsuserv", "udp"),
        )
        given = TrafficStats("mine", "udp")
        protocol = self.listen(
            TimestampDatagramProtocol(self.clock, stats=given), FakeDatagramTransport()
        )
        self.assertIs(protocol.stats, given)
