"""
Tests for L{netlab._flow}: a connection stops reading from its peer while
its own output is backed up, closes once it is written, and sends small
replies straight to its socket.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet import main, tcp
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

from netlab._flow import (
    closeWhenWritten,
    directWriter,
    pauseReadingWhenBacklogged,
    sendDirect,
)
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


class RecordingStreamSocket(socket.socket):
    """
    A TCP socket object that is never connected: its C{send} takes at most
    C{room} bytes (all of them if C{room} is L{None}) and records them, or
    raises C{error}.

    @ivar sent: every byte it took.
    """

    def __init__(self, room: int | None = None, error: Exception | None = None) -> None:
        super().__init__(socket.AF_INET, socket.SOCK_STREAM)
        self.room = room
        self.error = error
        self.sent = b""

    def send(self, data: bytes, flags: int = 0) -> int:  # type: ignore[override]
        if self.error is not None:
            raise self.error
        taken = len(data) if self.room is None else min(self.room, len(data))
        if self.room is not None:
            self.room -= taken
        self.sent += bytes(data[:taken])
        return taken


def tcpServer(
    testCase: SynchronousTestCase, protocol: Protocol, sock: RecordingStreamSocket
) -> tcp.Server:
    """
    Twisted's own TCP server connection, with its real buffering, over
    C{sock} and a L{MemoryReactor}, connected to C{protocol}.  The socket is
    closed when the test ends.

    @return: the connection, which is C{protocol}'s transport.
    """
    testCase.addCleanup(sock.close)
    server = tcp.Server(sock, protocol, ("192.0.2.7", 40000), None, 1, MemoryReactor())
    protocol.makeConnection(server)
    return server


class HandleTransport:
    """
    What L{sendDirect} uses of a TCP transport: C{TLS}, C{disconnecting},
    C{write} (recorded) and a handle whose C{send} is a
    L{RecordingStreamSocket}'s.

    @ivar written: every byte given to C{write}.
    """

    TLS = False
    disconnecting = False

    def __init__(self, handle: RecordingStreamSocket) -> None:
        self.handle = handle
        self.written = b""

    def getHandle(self) -> RecordingStreamSocket:
        return self.handle

    def write(self, data: bytes) -> None:
        self.written += data


class Account:
    """
    Counts what a direct writer sends.
    """

    bytesSent = 0


class SendDirectTests(SynchronousTestCase):
    """
    Tests for L{sendDirect}: writes go straight to the socket while it takes
    everything, and through the transport from the first time it does not.
    """

    def writer(
        self, room: int | None = None, error: Exception | None = None
    ) -> tuple[Callable[[bytes], None], HandleTransport, Account]:
        """
        @return: a direct writer over a L{HandleTransport}, the transport,
            and the account it counts into.
        """
        sock = RecordingStreamSocket(room, error)
        self.addCleanup(sock.close)
        transport = HandleTransport(sock)
        account = Account()
        write = sendDirect(transport, account)  # type: ignore[arg-type]
        return write, transport, account

    def test_straightToSocket(self) -> None:
        """
        While the socket takes everything, each write is sent to it at once
        and nothing goes through the transport.
        """
        write, transport, account = self.writer()
        write(b"hello ")
        write(b"world")
        self.assertEqual(transport.handle.sent, b"hello world")
        self.assertEqual(transport.written, b"")
        self.assertEqual(account.bytesSent, 11)

    def test_restThroughTransport(self) -> None:
        """
        The first time the socket takes only part of a write, the rest goes
        to the transport, and so does every later write, in order.
        """
        write, transport, account = self.writer(room=3)
        write(b"hello")
        transport.handle.room = None
        write(b" world")
        self.assertEqual(transport.handle.sent, b"hel")
        self.assertEqual(transport.written, b"lo world")
        self.assertEqual(account.bytesSent, 11)

    def test_wouldBlock(self) -> None:
        """
        A socket that would block (or fails) takes nothing: the write goes
        to the transport, which knows how to wait or report the failure,
        and so do later ones.
        """
        write, transport, account = self.writer(
            error=BlockingIOError(errno.EAGAIN, "would block")
        )
        write(b"one")
        transport.handle.error = None
        write(b"two")
        self.assertEqual(transport.handle.sent, b"")
        self.assertEqual(transport.written, b"onetwo")
        self.assertEqual(account.bytesSent, 6)

    def test_closingThroughTransport(self) -> None:
        """
        Once the connection is closing, writes go to the transport.
        """
        write, transport, account = self.writer()
        transport.disconnecting = True
        write(b"late")
        self.assertEqual(transport.handle.sent, b"")
        self.assertEqual(transport.written, b"late")
        self.assertEqual(account.bytesSent, 4)

    def test_tlsThroughTransport(self) -> None:
        """
        Once TLS has started on the connection, writes go to the transport,
        which encrypts them.
        """
        write, transport, _ = self.writer()
        transport.TLS = True
        write(b"secret")
        self.assertEqual(transport.handle.sent, b"")
        self.assertEqual(transport.written, b"secret")


class DirectWriterTests(SynchronousTestCase):
    """
    Tests for L{directWriter}: which write function a connection gets.
    """

    def test_tcpServerDirect(self) -> None:
        """
        A plain TCP server connection gets a writer that sends straight to
        its socket, bypassing the transport's buffer.
        """
        sock = RecordingStreamSocket()
        server = tcpServer(self, Protocol(), sock)
        write = directWriter(server)
        write(b"reply")
        self.assertEqual(sock.sent, b"reply")
        server.doWrite()
        self.assertEqual(sock.sent, b"reply", "something was left buffered")

    def test_tcpServerPartialSend(self) -> None:
        """
        Over a real TCP server connection, what the socket does not take is
        buffered by the transport, followed by every later write, and sent
        in order once the socket is writable again.
        """
        sock = RecordingStreamSocket(room=2)
        server = tcpServer(self, Protocol(), sock)
        write = directWriter(server)
        write(b"abcd")
        sock.room = None
        write(b"ef")
        self.assertEqual(sock.sent, b"ab")
        server.doWrite()
        self.assertEqual(sock.sent, b"abcdef")

    def test_tlsServerWrites(self) -> None:
        """
        A TCP server connection with TLS started gets its own C{write}.
        """
        server = tcpServer(self, Protocol(), RecordingStreamSocket())
        server.TLS = True
        self.assertEqual(directWriter(server), server.write)

    def test_otherTransportWrites(self) -> None:
        """
        Any other transport gets its own C{write}.
        """
        transport = StringTransport()
        self.assertEqual(directWriter(transport), transport.write)

    def test_wrapperAsked(self) -> None:
        """
        A transport with its own C{directWriter} method (a counting wrapper
        such as L{netlab.policies.GuardedConnection}) is asked for the
        writer.
        """
        written: list[bytes] = []

        class Wrapper(StringTransport):
            def directWriter(self) -> Callable[[bytes], None]:
                return written.append

        self.assertEqual(directWriter(Wrapper()), written.append)
