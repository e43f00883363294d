"""
Flow control shared by every stream service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from twisted.internet import tcp
from twisted.internet.interfaces import (
    IConsumer,
    IDelayedCall,
    IPushProducer,
    IReactorTime,
    ITransport,
)


def pauseReadingWhenBacklogged(transport: ITransport) -> None:
    """
    Make a connection stop reading from its peer while its own output is
    backed up, and start again once the output has drained.

    The transport is registered as a streaming producer for itself: when
    its write buffer passes the transport's limit (64 KiB for Twisted's TCP
    transports) Twisted calls its C{pauseProducing}, which stops reading, and
    when the buffer has been written out it calls C{resumeProducing}.  So a
    peer that sends without reading cannot make the server hold more than
    that buffer plus one read's worth of replies.

    Transports that are not producers and consumers are left alone.

    @param transport: a connection's transport, from C{connectionMade}.
    """
    if IPushProducer.providedBy(transport) and IConsumer.providedBy(transport):
        transport.registerProducer(transport, True)  # type: ignore[attr-defined]


def directWriter(transport: ITransport) -> Callable[[bytes], None]:
    """
    Make a write function for a connection that sends straight to its
    socket while nothing is waiting in the transport's buffer.

    Twisted's TCP transport buffers every write and sends it on the next
    turn of the reactor, asking the reactor to watch the socket for
    writability and then to stop: two system calls and a reactor turn per
    reply, which is most of the cost of a small request-reply service.
    While the socket takes everything at once (the common case: a reply to
    a request is small and the peer reads), this sends it at once instead.
    The first time the socket takes less than all of it, the rest goes to
    the transport, and so does every later write on that connection: order
    is kept, and from then on Twisted's buffering and flow control (see
    L{pauseReadingWhenBacklogged}) apply as usual.

    Only a plain TCP server connection (not TLS) gets a direct writer, or
    one wrapped by L{netlab.policies.GuardedConnection}, which counts
    what is sent; anything else gets its own C{write}.  The writer
    keeps order only if everything is written through it: get it in
    C{connectionMade}, before anything was written, and never write to the
    transport directly afterwards.  Once the connection is closing, writes
    go to the transport, which knows what to do with them.

    @param transport: a connection's transport.
    @return: a function that writes bytes to the connection.
    """
    # A counting wrapper (netlab.policies.GuardedConnection) knows the real
    # transport underneath it.  Asked of the class: Twisted's protocol
    # wrappers (TLS among them) hand unknown attributes on to what they
    # wrap, and a TLS connection must not be given its TCP socket's writer.
    ownWriter = getattr(type(transport), "directWriter", None)
    if ownWriter is not None:
        return ownWriter(transport)  # type: ignore[no-any-return]
    if type(transport) is not tcp.Server or transport.TLS:
        return transport.write
    return sendDirect(transport, _Uncounted())


class _Account(Protocol):
    bytesSent: int


class _Uncounted:
    bytesSent = 0


def sendDirect(transport: tcp.Server, account: _Account) -> Callable[[bytes], None]:
    """
    The writer of L{directWriter} for a plain TCP server connection.

    @param transport: the connection.
    @param account: its C{bytesSent} is increased by what is written.
    """
    return _DirectWriter(transport, account).write


class _DirectWriter:
    """
    The state of a direct writer, in slots rather than a closure's cells:
    a connection's writer then costs about a third of the memory, which
    matters to a server holding thousands of idle connections.
    """

    __slots__ = ("_account", "_direct", "_send", "_transport", "_write")

    def __init__(self, transport: tcp.Server, account: _Account) -> None:
        self._transport = transport
        self._account = account
        self._write = transport.write
        self._send = transport.getHandle().send
        self._direct = True

    def write(self, data: bytes) -> None:
        self._account.bytesSent += len(data)
        if self._direct:
            transport = self._transport
            if not (transport.TLS or transport.disconnecting):
                try:
                    sent = self._send(data)
                except OSError:
                    # Would block, or the connection is failing: the
                    # transport knows how to wait for the first and report
                    # the second.
                    sent = 0
                if sent == len(data):
                    return
                self._direct = False
                data = data[sent:]
        self._write(data)


CLOSE_TIMEOUT = 10.0
"""
Seconds a connection that is closing may take to send what was written to it
before it is aborted (see L{closeWhenWritten}).
"""


def closeWhenWritten(
    transport: ITransport,
    clock: IReactorTime | None = None,
    timeout: float = CLOSE_TIMEOUT,
) -> IDelayedCall | None:
    """
    Close a connection once everything written to it has been sent, and,
    given a clock, abort it if that has not happened within C{timeout}
    seconds.

    C{loseConnection} alone is not enough on a transport that has a
    streaming producer registered (as L{pauseReadingWhenBacklogged} does):
    if that producer is paused when the output drains, Twisted resumes it
    instead of closing, and the connection stays open for good.  So the
    producer is unregistered first.

    And a close that waits for output waits for the peer: one that reads
    nothing (or never finishes a TLS handshake, so nothing can be sent)
    would hold the connection for ever.  The deadline is what stops it.

    @param transport: a connection's transport.
    @param clock: schedules the deadline; none if C{None}.
    @param timeout: seconds until the connection is aborted.
    @return: the deadline's call, which the caller cancels when the
        connection is lost (so that it does not hold the transport until
        then); C{None} without a clock.
    """
    if getattr(transport, "producer", None) is not None:
        transport.unregisterProducer()  # type: ignore[attr-defined]
    transport.loseConnection()
    if clock is None:
        return None
    return clock.callLater(timeout, transport.abortConnection)  # type: ignore[attr-defined]
