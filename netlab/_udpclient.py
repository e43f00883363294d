"""
One request, one reply, over UDP: the client side shared by every datagram
service, with bounded retransmission.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from twisted.internet import error
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IDelayedCall,
    IReactorTime,
    IReactorUDP,
    IUDPTransport,
)
from twisted.internet.protocol import DatagramProtocol

from netlab.errors import ConnectFailed, MalformedReply, RequestTimedOut

_T = TypeVar("_T")


def globalReactor() -> Any:
    """
    @return: the global reactor, imported only when called.
    """
    from twisted.internet import reactor

    return reactor


class DatagramRequest(DatagramProtocol, Generic[_T]):
    """
    Sends one datagram to a connected peer until a reply is accepted, the
    tries run out, or the peer is found unreachable.
    """

    transport: IUDPTransport

    def __init__(
        self,
        data: bytes,
        address: tuple[str, int],
        accept: Callable[[bytes], _T],
        clock: IReactorTime,
        tries: int,
        interval: float,
    ) -> None:
        self._data = data
        self._address = address
        self._accept = accept
        self._clock = clock
        self._triesLeft = tries
        self._tries = tries
        self._interval = interval
        self._timer: IDelayedCall | None = None
        self._done = False
        self.deferred: Deferred[_T] = Deferred(lambda d: self._cancel())

    def startProtocol(self) -> None:
        self.transport.connect(*self._address)
        self._send()

    def _send(self) -> None:
        if self._triesLeft == 0:
            host, port = self._address
            self._finish(
                RequestTimedOut(
                    f"no reply from {host}:{port} over UDP after {self._tries} "
                    f"tries in {self._tries * self._interval:g}s"
                )
            )
            return
        self._triesLeft -= 1
        self._timer = self._clock.callLater(self._interval, self._send)
        try:
            self.transport.write(self._data, None)
        except (error.MessageLengthError, OSError) as e:
            self._finish(ConnectFailed(f"could not send the request: {e}"))

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        try:
            result = self._accept(datagram)
        except MalformedReply as e:
            self._finish(e)
        else:
            self._finish(result)

    def connectionRefused(self) -> None:
        self._finish(self._unreachable())

    def stopProtocol(self) -> None:
        # The reactor closes a connected UDP socket that reports an error it
        # cannot read past, as Linux does after an ICMP port unreachable.
        self._finish(self._unreachable())

    def _unreachable(self) -> ConnectFailed:
        host, port = self._address
        return ConnectFailed(f"nothing answers on UDP {host}:{port} (port unreachable)")

    def _cancel(self) -> None:
        self._done = True
        self._stop()

    def _stop(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self.transport is not None:
            self.transport.stopListening()

    def _finish(self, result: _T | Exception) -> None:
        if self._done:
            return
        self._done = True
        self._stop()
        if isinstance(result, Exception):
            self.deferred.errback(result)
        else:
            self.deferred.callback(result)


def requestDatagram(
    host: str,
    port: int,
    data: bytes,
    accept: Callable[[bytes], _T],
    reactor: Any,
    tries: int,
    interval: float,
) -> Deferred[_T]:
    """
    Send C{data} to C{host}:C{port} over UDP, up to C{tries} times,
    C{interval} seconds apart, until a reply comes.

    @param host: an IPv4 or IPv6 address, or a host name (looked up with the
        reactor's resolver).
    @param port: the UDP port.
    @param data: the request, one datagram.
    @param accept: turns a reply into the result, or raises
        L{MalformedReply}.
    @param reactor: an C{IReactorUDP} and C{IReactorTime}; the global
        reactor if C{None}.
    @param tries: how many times to send, at least 1.
    @param interval: seconds to wait for a reply after each send.
    @return: a Deferred that fires with what C{accept} returned, or fails
        with L{RequestTimedOut}, L{ConnectFailed} or L{MalformedReply}.
        Cancelling it closes the socket.
    @raise ValueError: if C{tries} is less than 1.
    """
    if tries < 1:
        raise ValueError("tries must be at least 1")
    if reactor is None:
        reactor = globalReactor()
    udp = cast(IReactorUDP, reactor)

    def send(address: str) -> Deferred[_T]:
        protocol = DatagramRequest(
            data, (address, port), accept, reactor, tries, interval
        )
        interface = "::" if isIPv6Address(address) else "0.0.0.0"
        try:
            udp.listenUDP(0, protocol, interface=interface, maxPacketSize=65536)
        except error.CannotListenError as e:
            raise ConnectFailed(f"could not open a UDP socket: {e}") from e
        return protocol.deferred

    async def request() -> _T:
        if isIPAddress(host) or isIPv6Address(host):
            address = host
        else:
            try:
                address = await reactor.resolve(host)
            except error.DNSLookupError as e:
                raise ConnectFailed(f"could not look up {host!r}: {e}") from e
        return await send(address)

    return Deferred.fromCoroutine(request())
