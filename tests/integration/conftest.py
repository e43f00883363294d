"""
Fixtures shared by the loopback integration tests: the classic blocking
clients of the textbook exercises (run in a thread, so that the reactor keeps
serving), and a check of the classic C{[ctime] data} reply.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from twisted.internet.defer import Deferred

CLIENT_TIMEOUT = 10.0
"""
Seconds any blocking socket operation of a test client may take.
"""

CTIME = rb"[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d \d{4}"
"""
What C{time.ctime()} prints, e.g. C{Sat Nov 21 23:46:13 2026}.
"""

CLASSIC_REPLY = re.compile(rb"\[(?P<stamp>" + CTIME + rb")\] (?P<data>.*)", re.DOTALL)


def _tsTclnt(
    address: tuple[Any, ...], family: int, messages: Sequence[bytes]
) -> list[bytes]:
    """
    What the classic C{tsTclnt} does: connect, then for each message
    C{send} it (no newline) and C{recv(1024)} the reply; then shut down the
    sending side and read once more.

    @return: the reply to each message, then what that last read returned
        (C{b""} once the server has closed the connection).
    """
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(CLIENT_TIMEOUT)
        client.connect(address)
        replies = []
        for message in messages:
            client.sendall(message)
            replies.append(client.recv(1024))
        client.shutdown(socket.SHUT_WR)
        replies.append(client.recv(1024))
        return replies


def _tsUclnt(
    address: tuple[Any, ...], family: int, messages: Sequence[bytes]
) -> list[tuple[bytes, tuple[Any, ...]]]:
    """
    What the classic C{tsUclnt} does: for each message, C{sendto} the server
    and C{recvfrom(1024)} the reply.

    @return: each reply datagram with the address it came from.
    """
    with socket.socket(family, socket.SOCK_DGRAM) as client:
        client.settimeout(CLIENT_TIMEOUT)
        replies = []
        for message in messages:
            client.sendto(message, address)
            replies.append(client.recvfrom(1024))
        return replies


@pytest.fixture
def tsTclnt() -> Callable[..., Deferred[list[bytes]]]:
    """
    The classic blocking TCP client, run in a thread:
    C{tsTclnt(address, messages, family=AF_INET)} returns a Deferred that
    fires with what L{_tsTclnt} returns.
    """
    from twisted.internet import reactor
    from twisted.internet.threads import deferToThread

    def run(
        address: tuple[Any, ...],
        messages: Sequence[bytes],
        family: int = socket.AF_INET,
    ) -> Deferred[list[bytes]]:
        d = deferToThread(_tsTclnt, address, family, messages)
        return d.addTimeout(CLIENT_TIMEOUT * (len(messages) + 2), reactor)

    return run


@pytest.fixture
def tsUclnt() -> Callable[..., Deferred[list[tuple[bytes, tuple[Any, ...]]]]]:
    """
    The classic blocking UDP client, run in a thread:
    C{tsUclnt(address, messages, family=AF_INET)} returns a Deferred that
    fires with what L{_tsUclnt} returns.
    """
    from twisted.internet import reactor
    from twisted.internet.threads import deferToThread

    def run(
        address: tuple[Any, ...],
        messages: Sequence[bytes],
        family: int = socket.AF_INET,
    ) -> Deferred[list[tuple[bytes, tuple[Any, ...]]]]:
        d = deferToThread(_tsUclnt, address, family, messages)
        return d.addTimeout(CLIENT_TIMEOUT * (len(messages) + 1), reactor)

    return run


def _parseCtime(stamp: bytes) -> float:
    """
    @return: the local time written as C{time.ctime()} writes it, as
        seconds since the epoch.
    """
    return time.mktime(time.strptime(stamp.decode("ascii"), "%a %b %d %H:%M:%S %Y"))


@pytest.fixture
def checkClassicReply() -> Callable[[bytes, bytes], None]:
    """
    C{checkClassicReply(reply, data)} asserts that C{reply} is exactly
    C{b"[" + ctime + b"] " + data}, with the local ctime of (about) now.
    """

    def check(reply: bytes, data: bytes, slack: float = 3.0) -> None:
        match = CLASSIC_REPLY.fullmatch(reply)
        assert match is not None, f"not a classic reply: {reply!r}"
        assert match["data"] == data
        assert abs(_parseCtime(match["stamp"]) - time.time()) <= slack, reply

    return check
