"""
Tests for L{netlab._flow}: a connection stops reading from its peer while
its own output is backed up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.internet import main
from twisted.internet.abstract import FileDescriptor
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import (
    IAddress,
    IConsumer,
    IPushProducer,
    ITransport,
)
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from netlab._flow import closeWhenWritten, pauseReadingWhenBacklogged
from netlab.echo import EchoFactory
from netlab.timestamp import Framing, TimestampFactory

PREFIX = b"[Sun Nov 22 23:46:13 2026] "
"""
The ctime prefix of a UTC server whose clock reads 1795391173.
"""


class BackloggingTransport(StringTransport):
    """
    A L{StringTransport} that, like Twisted's C{FileDescriptor}, pauses its
    registered producer when its write buffer passes C{bufferSize}, and
    resumes it once L{drain} has emptied the buffer.

    @ivar bufferSize: how many unsent bytes it holds before pausing.
    """

    def __init__(self, bufferSize: int) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", "192.0.2.7", 40000))
        self.bufferSize = bufferSize
        self._producerPaused = False

    def write(self, data: bytes) -> None:
        super().write(data)
        if (
            self.producer is not None
            and not self._producerPaused
            and len(self.value()) > self.bufferSize
        ):
            self._producerPaused = True
            self.producer.pauseProducing()

    def drain(self) -> bytes:
        """
        Send everything buffered, as the reactor does once the socket is
        writable again, and resume the producer if it was paused.

        @return: the bytes sent.
        """
        sent: bytes = self.value()
        self.clear()
        if self._producerPaused and self.producer is not None:
            self._producerPaused = False
            self.producer.resumeProducing()
        return sent


class Peer:
    """
    A peer that sends requests only while the server is reading, and reads
    replies only when the server stops reading from it.

    @ivar received: every reply byte drained so far.
    @ivar pauses: how many times the server stopped reading.
    """

    def __init__(self, protocol: Protocol, transport: BackloggingTransport) -> None:
        self.protocol = protocol
        self.transport = transport
        self.received = b""
        self.pauses = 0

    def send(self, chunks: list[bytes]) -> bytes:
        """
        Send every chunk, draining the server's output whenever it stops
        reading, then drain what is left.

        @return: every reply received.
        """
        for chunk in chunks:
            if self.transport.producerState == "paused":
                self.pauses += 1
                self.received += self.transport.drain()
            assert self.transport.producerState == "producing"
            self.protocol.dataReceived(chunk)
        self.received += self.transport.drain()
        return self.received


@implementer(ITransport)
class PlainTransport:
    """
    A transport that is neither a producer nor a consumer.

    @ivar registered: the producers it was asked to register.
    """

    def __init__(self) -> None:
        self.registered: list[Any] = []

    def registerProducer(self, producer: object, streaming: bool) -> None:
        self.registered.append((producer, streaming))

    def write(self, data: bytes) -> None:
        pass

    def writeSequence(self, data: Iterable[bytes]) -> None:
        pass

    def loseConnection(self) -> None:
        pass

    def getPeer(self) -> IAddress:
        return IPv4Address("TCP", "192.0.2.7", 40000)

    def getHost(self) -> IAddress:
        return IPv4Address("TCP", "192.0.2.1", 21567)


@implementer(ITransport, IConsumer)
class ConsumerOnlyTransport(PlainTransport):
    """
    A transport that is a consumer but not a push producer.
    """

    def unregisterProducer(self) -> None:
        pass


@implementer(ITransport, IPushProducer)
class ProducerOnlyTransport(PlainTransport):
    """
    A transport that is a push producer but not a consumer.
    """

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class PauseReadingWhenBackloggedTests(SynchronousTestCase):
    """
    Tests for L{pauseReadingWhenBacklogged}.
    """

    def test_registersItself(self) -> None:
        """
        A transport that is a push producer and a consumer is registered as
        a streaming producer for itself.
        """
        transport = StringTransport()
        pauseReadingWhenBacklogged(transport)
        self.assertIs(transport.producer, transport)
        self.assertTrue(transport.streaming)

    def test_leavesOthersAlone(self) -> None:
        """
        A transport that is not both a push producer and a consumer is left
        alone.
        """
        for transport in (
            PlainTransport(),
            ConsumerOnlyTransport(),
            ProducerOnlyTransport(),
        ):
            pauseReadingWhenBacklogged(transport)  # type: ignore[arg-type]
            self.assertEqual(transport.registered, [], transport)

    def test_pausesAndResumes(self) -> None:
        """
        Once registered, the transport stops reading when its buffer passes
        its limit and starts again once it is drained.
        """
        transport = BackloggingTransport(bufferSize=10)
        pauseReadingWhenBacklogged(transport)
        transport.write(b"x" * 10)
        self.assertEqual(transport.producerState, "producing")
        transport.write(b"x")
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(transport.drain(), b"x" * 11)
        self.assertEqual(transport.producerState, "producing")


class TimestampFlowControlTests(SynchronousTestCase):
    """
    Timestamp connections stop reading from a peer that does not read their
    replies, and lose nothing when they start again.
    """

    def connect(
        self, framing: Framing, bufferSize: int = 1024
    ) -> tuple[Protocol, BackloggingTransport]:
        """
        Connect a UTC timestamp protocol to a L{BackloggingTransport}.
        """
        clock = Clock()
        clock.advance(1795391173)
        protocol = TimestampFactory(clock, utc=True, framing=framing).buildProtocol(
            None
        )
        transport = BackloggingTransport(bufferSize)
        protocol.makeConnection(transport)
        return protocol, transport

    def test_rawStopsReading(self) -> None:
        """
        A raw connection stops reading once its unsent replies pass the
        transport's limit, and reads again once they are sent.
        """
        protocol, transport = self.connect(Framing.RAW)
        sent = 0
        while transport.producerState == "producing":
            protocol.dataReceived(b"x" * 100)
            sent += 1
            self.assertLess(sent, 100, "the connection never stopped reading")
        self.assertEqual(sent, 1024 // (len(PREFIX) + 100) + 1)
        self.assertEqual(transport.drain(), (PREFIX + b"x" * 100) * sent)
        self.assertEqual(transport.producerState, "producing")

    def test_rawNoReplyLost(self) -> None:
        """
        With the peer reading only while the raw connection is paused, every
        chunk is still answered, in order.
        """
        protocol, transport = self.connect(Framing.RAW)
        chunks = [b"chunk %d " % i * 10 for i in range(500)]
        peer = Peer(protocol, transport)
        received = peer.send(chunks)
        self.assertEqual(received, b"".join(PREFIX + chunk for chunk in chunks))
        self.assertGreater(peer.pauses, 10)

    def test_lineStopsReading(self) -> None:
        """
        A line connection stops reading once its unsent replies pass the
        transport's limit, and reads again once they are sent.
        """
        protocol, transport = self.connect(Framing.LINE)
        lines = 0
        while transport.producerState == "producing":
            protocol.dataReceived(b"line %d\n" % lines)
            lines += 1
            self.assertLess(lines, 1000, "the connection never stopped reading")
        self.assertGreater(len(transport.value()), 1024)
        replies = transport.drain()
        self.assertEqual(len(replies.splitlines()), lines)
        self.assertEqual(transport.producerState, "producing")

    def test_lineNoReplyLost(self) -> None:
        """
        With the peer reading only while the line connection is paused,
        every line is answered exactly once, in order, however the lines are
        cut into reads.
        """
        protocol, transport = self.connect(Framing.LINE)
        request = b"".join(b"request %d\r\n" % i for i in range(5000))
        chunks = [request[i : i + 777] for i in range(0, len(request), 777)]
        peer = Peer(protocol, transport)
        received = peer.send(chunks)
        self.assertEqual(
            received,
            b"".join(PREFIX + b"request %d\r\n" % i for i in range(5000)),
        )
        self.assertGreater(peer.pauses, 10)


class SocketlessDescriptor(FileDescriptor):
    """
    Twisted's own L{FileDescriptor}, with its real buffering, producer and
    closing logic, over no socket: every C{doWrite} sends all that is
    buffered.  C{doWrite} is called by the test, as the reactor would once
    the socket is writable.

    @ivar sent: every byte sent so far.
    """

    def __init__(self, bufferSize: int) -> None:
        super().__init__(reactor=MemoryReactor())
        self.bufferSize = bufferSize
        self.connected = 1
        self.sent = b""

    def writeSomeData(self, data: bytes) -> int:
        self.sent += bytes(data)
        return len(data)

    def getPeer(self) -> IAddress:
        return IPv4Address("TCP", "192.0.2.7", 40000)

    def getHost(self) -> IAddress:
        return IPv4Address("TCP", "192.0.2.1", 21567)


@implementer(ITransport)
class ClosingTransport(PlainTransport):
    """
    A L{PlainTransport} that records C{loseConnection}.

    @ivar closed: how many times C{loseConnection} was called.
    """

    closed = 0

    def loseConnection(self) -> None:
        self.closed += 1


class CloseWhenWrittenTests(SynchronousTestCase):
    """
    Tests for L{closeWhenWritten}.
    """

    def test_unregistersProducer(self) -> None:
        """
        A transport registered as its own producer is unregistered, then
        asked to close once its output is written.
        """
        transport = StringTransport()
        pauseReadingWhenBacklogged(transport)
        closeWhenWritten(transport)
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)

    def test_noProducer(self) -> None:
        """
        A transport with no producer registered is just asked to close.
        """
        transport = StringTransport()
        closeWhenWritten(transport)
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)

    def test_notAConsumer(self) -> None:
        """
        A transport that has no producer attribute at all is just asked to
        close.
        """
        transport = ClosingTransport()
        closeWhenWritten(transport)  # type: ignore[arg-type]
        self.assertEqual(transport.closed, 1)

    def test_pausedClosesWhenDrained(self) -> None:
        """
        A Twisted transport that is its own producer, paused because its
        output is backed up when it is told to close, closes once that
        output is written, rather than resuming reading for good.
        """
        transport = SocketlessDescriptor(bufferSize=10)
        pauseReadingWhenBacklogged(transport)
        transport.write(b"x" * 11)
        self.assertTrue(transport.producerPaused)
        closeWhenWritten(transport)
        result = transport.doWrite()
        self.assertEqual(transport.sent, b"x" * 11)
        self.assertIs(result, main.CONNECTION_DONE)

    def test_lineLastReplyPausedCloses(self) -> None:
        """
        A line timestamp connection whose answer to a last unterminated line
        backs its output up closes once every reply is written.
        """
        clock = Clock()
        clock.advance(1795391173)
        protocol = TimestampFactory(
            clock, utc=True, framing=Framing.LINE
        ).buildProtocol(None)
        transport = SocketlessDescriptor(bufferSize=100)
        transport.protocol = protocol
        protocol.makeConnection(transport)
        protocol.dataReceived(b"early\n" + b"x" * 100)
        self.assertFalse(transport.producerPaused)
        protocol.readConnectionLost()
        self.assertTrue(transport.producerPaused)
        self.assertIs(transport.doWrite(), main.CONNECTION_DONE)
        self.assertEqual(
            transport.sent, PREFIX + b"early\n" + PREFIX + b"x" * 100 + b"\n"
        )

    def test_echoPausedCloses(self) -> None:
        """
        An echo connection whose output is backed up when its peer
        half-closes closes once all of the echo is written.
        """
        protocol = EchoFactory().buildProtocol(None)
        transport = SocketlessDescriptor(bufferSize=10)
        transport.protocol = protocol
        protocol.makeConnection(transport)
        protocol.dataReceived(b"y" * 11)
        self.assertTrue(transport.producerPaused)
        protocol.readConnectionLost()
        self.assertIs(transport.doWrite(), main.CONNECTION_DONE)
        self.assertEqual(transport.sent, b"y" * 11)
