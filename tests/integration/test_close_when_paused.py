"""
A stream connection whose output is backed up when its peer shuts down its
sending side still closes once everything is written, on real loopback
sockets.

The server's send buffer and the client's receive buffer are made small and
the client reads nothing until it has sent everything and half-closed: the
server stops reading while its output is backed up, sees the end of input
with its transport paused, and must still close.  (Twisted resumes a paused
producer, rather than closing, when the output drains: see
L{netlab._flow.closeWhenWritten}.)  Only line framing gets there: its
answer to an unterminated last line is written when the end of input is
read, which can back the output up again; an echo or raw timestamp
connection writes nothing then, and reads again only once its output has
drained.

pytest-twisted tests: run them with pytest, not trial.  Everything listens
on 127.0.0.1, port 0, and is stopped in C{finally}; the blocking client runs
in a thread with a timeout on every socket operation and on the thread.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest_twisted
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import ServerFactory
from twisted.internet.threads import deferToThread

from netlab.timestamp import Framing, TimestampFactory

SMALL_BUFFER = 4096
"""
The server's SO_SNDBUF and the client's SO_RCVBUF, in bytes.
"""

LINES = [b"%04d" % i + b"x" * 1996 for i in range(32)]
"""
32 lines of 2000 bytes, without their line endings.
"""

LAST = b"L" * 8190
"""
A last line sent without a line ending: the server answers it when its
peer shuts down its sending side.
"""

WAIT = 1.0
"""
Seconds the client waits, once it has half-closed, before reading.
"""

CLIENT_TIMEOUT = 5.0
"""
Seconds a blocking socket operation of the client may take: the server must
have sent everything and closed within that.
"""

TIMEOUT = 20.0
"""
Seconds the client thread may take in all.
"""


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _smallSendBuffer(factory: ServerFactory) -> ServerFactory:
    """
    Make C{factory}'s connections have a send buffer of L{SMALL_BUFFER}
    bytes, set before the protocol's own C{connectionMade} runs.
    """
    buildProtocol = factory.buildProtocol

    def build(addr: Any) -> Any:
        protocol = buildProtocol(addr)
        connectionMade = protocol.connectionMade

        def made() -> None:
            protocol.transport.getHandle().setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER
            )
            connectionMade()

        protocol.connectionMade = made
        return protocol

    factory.buildProtocol = build  # type: ignore[method-assign]
    return factory


def _sendAllThenRead(port: int, request: bytes) -> tuple[bytes, bool, float]:
    """
    Connect with a small receive buffer, send C{request}, shut down the
    sending side, wait L{WAIT} seconds, then read until the server closes.

    @return: everything received, whether the server closed, and the
        seconds reading took.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        client.settimeout(CLIENT_TIMEOUT)
        client.connect(("127.0.0.1", port))
        client.sendall(request)
        client.shutdown(socket.SHUT_WR)
        time.sleep(WAIT)
        started = time.monotonic()
        received = []
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    return b"".join(received), True, time.monotonic() - started
                received.append(data)
        except TimeoutError:
            return b"".join(received), False, time.monotonic() - started


async def _exchange(factory: ServerFactory, request: bytes) -> tuple[bytes, bool]:
    """
    Serve C{factory} on 127.0.0.1 with a small send buffer, and have the
    client of L{_sendAllThenRead} talk to it.

    @return: what the client received, and whether the server closed.
    """
    reactor = _reactor()
    endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    listening = await endpoint.listen(_smallSendBuffer(factory))
    try:
        port = listening.getHost().port
        received, closed, _ = await deferToThread(
            _sendAllThenRead, port, request
        ).addTimeout(TIMEOUT, reactor)
    finally:
        await listening.stopListening()
    return received, closed


@pytest_twisted.ensureDeferred
async def test_lineTimestampClosesWhenPaused() -> None:
    """
    A line timestamp server answers every line, the unterminated last one
    too, and closes, though its output was backed up when its peer
    half-closed.
    """
    factory = TimestampFactory(_reactor(), utc=True, framing=Framing.LINE)
    request = b"".join(line + b"\n" for line in LINES) + LAST
    received, closed = await _exchange(factory, request)
    replies = received.split(b"\n")
    assert replies[-1] == b"", "the last reply does not end with a line feed"
    replies.pop()
    assert [reply[reply.index(b"] ") + 2 :] for reply in replies] == [
        *LINES,
        LAST,
    ], f"{len(replies)} replies, {len(received)} bytes"
    assert closed, (
        f"the server did not close in {CLIENT_TIMEOUT}s after sending every reply"
    )
