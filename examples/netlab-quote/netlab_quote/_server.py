"""
The Quote of the Day server (RFC 865): over TCP, one quote to each
connection, which is then closed; over UDP, one quote in answer to each
datagram, behind netlab's reflection guard.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from twisted.internet.interfaces import IAddress, IReactorTime, ITransport
from twisted.internet.protocol import Protocol, ServerFactory

from netlab.policies import TrafficStats
from netlab.udp import DatagramGuard, GuardedDatagramProtocol
from netlab_quote._quotes import QUOTES, formatQuotes

__all__ = ["DEFAULT_PORT", "QuoteDatagramProtocol", "QuoteFactory", "QuoteProtocol"]

DEFAULT_PORT = 21517
"""
The quote service's port, for TCP and UDP.  RFC 865's port 17 needs
privileges.
"""

Choose = Callable[[Sequence[bytes]], bytes]
"""
How a server picks the reply to send among its quotes'.
"""


class QuoteProtocol(Protocol):
    """
    Sends its quote as soon as it is connected, then closes; anything the
    peer sends is thrown away, as RFC 865 says.
    """

    transport: ITransport

    def __init__(self, reply: bytes, stats: TrafficStats) -> None:
        """
        @param reply: the quote, as L{netlab_quote.formatQuote} makes it.
        @param stats: counts the quote sent as a message.
        """
        self._reply = reply
        self._stats = stats

    def connectionMade(self) -> None:
        self._stats.messages += 1
        self.transport.write(self._reply)
        self.transport.loseConnection()


class QuoteFactory(ServerFactory):
    """
    Builds a L{QuoteProtocol} with a quote for each connection, for any
    stream endpoint::

        serverFromString(reactor, "tcp:21517").listen(QuoteFactory())

    @ivar stats: the service's counters (see L{netlab.policies}).
    """

    def __init__(
        self,
        quotes: Sequence[str] = QUOTES,
        stats: TrafficStats | None = None,
        choose: Choose = random.choice,
    ) -> None:
        """
        @param quotes: what to tell; the built-in quotes by default.
        @param stats: the service's counters; new ones if C{None}.
        @param choose: picks each connection's quote (at random by default).
        @raise ValueError: if there is no quote, or one is too long.
        """
        self._replies = formatQuotes(quotes)
        self._choose = choose
        self.stats = stats if stats is not None else TrafficStats("quote")

    def buildProtocol(self, addr: IAddress | None) -> QuoteProtocol:
        protocol = QuoteProtocol(self._choose(self._replies), self.stats)
        protocol.factory = self
        return protocol


class QuoteDatagramProtocol(GuardedDatagramProtocol):
    """
    Answers each datagram with a quote, unless its L{DatagramGuard} refuses
    it.  What the datagram holds does not matter.
    """

    def __init__(
        self,
        clock: IReactorTime,
        quotes: Sequence[str] = QUOTES,
        guard: DatagramGuard | None = None,
        stats: TrafficStats | None = None,
        choose: Choose = random.choice,
    ) -> None:
        """
        @param clock: paces the guard and the logging.
        @param quotes: what to tell; the built-in quotes by default.
        @param guard: decides which datagrams are answered; one with its
            defaults if C{None}.
        @param stats: the service's counters; new ones if C{None}.
        @param choose: picks each answer's quote (at random by default).
        @raise ValueError: if there is no quote, or one is too long.
        """
        super().__init__(clock, guard, stats or TrafficStats("quote", "udp"))
        self._replies = formatQuotes(quotes)
        self._choose = choose

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        stats = self.stats
        stats.bytesReceived += len(datagram)
        if self.admit(addr[0], addr[1]):
            reply = self._choose(self._replies)
            stats.messages += 1
            stats.bytesSent += len(reply)
            self.sendReply(reply, addr)
