"""
The server side shared by every datagram service: answer through a
L{DatagramGuard}, and send replies straight to the socket.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from twisted.internet.error import MessageLengthError
from twisted.internet.interfaces import IReactorTime, IUDPTransport
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from netlab._peer import formatHostPort
from netlab._ratelog import RateLimitedLog
from netlab._udpguard import DatagramGuard
from netlab.policies import TrafficStats

_log = Logger()


class GuardedDatagramProtocol(DatagramProtocol):
    """
    A datagram protocol that answers only what its L{DatagramGuard} admits.

    Subclasses call L{admit} and then L{sendReply} from C{datagramReceived}.
    Replies go to the address each datagram came from: the kernel's own,
    as C{recvfrom} reported it, so it is sent with the socket's C{sendto}
    without Twisted's check that it is a numeric address.  A reply that
    cannot be sent (the socket's buffer is full, the address is
    unreachable) is dropped, as UDP would drop it, and logged at a bounded
    rate.

    @ivar guard: decides which datagrams are answered.
    @ivar stats: the service's counters.
    """

    transport: IUDPTransport

    def __init__(
        self,
        clock: IReactorTime,
        guard: DatagramGuard | None = None,
        stats: TrafficStats | None = None,
    ) -> None:
        """
        @param clock: paces the logging of failures (and the default guard).
        @param guard: the guard; a L{DatagramGuard} with its defaults if
            C{None}.
        @param stats: the service's counters: datagrams received and
            answered (messages), and their bytes.
        """
        self.stats = stats if stats is not None else TrafficStats("", "udp")
        self.guard = guard if guard is not None else DatagramGuard(clock)
        self.admit = self.guard.admit
        self._sendto: Callable[[bytes, Any], object] = self._write
        self._failedLog = RateLimitedLog(_log, clock)

    def startProtocol(self) -> None:
        getHost = getattr(self.transport, "getHost", None)
        if getHost is not None:
            self.guard.ownPort = getattr(getHost(), "port", -1)
        getHandle = getattr(self.transport, "getHandle", None)
        handle = getHandle() if getHandle is not None else None
        self._sendto = (
            handle.sendto if isinstance(handle, socket.socket) else self._write
        )

    def stopProtocol(self) -> None:
        self._sendto = self._write

    def _write(self, reply: bytes, addr: Any) -> None:
        self.transport.write(reply, addr)

    def sendReply(self, reply: bytes, addr: tuple[str, int]) -> None:
        """
        Send C{reply} to C{addr}, dropping it (logged) if that fails.
        """
        try:
            self._sendto(reply, addr)
        except (OSError, MessageLengthError) as e:
            self.sendFailed(addr, e)

    def sendFailed(self, addr: tuple[str, int], error: Exception) -> None:
        """
        Log, at a bounded rate, that a reply to C{addr} could not be sent.
        """
        self._failedLog.warn(
            "could not answer {peer}: {error}",
            peer=formatHostPort(addr[0], addr[1]),
            host=addr[0],
            port=addr[1],
            error=error,
        )
