"""
Keeps a UDP service from being used as a reflector or to build a loop
(CVE-1999-0103, the "echo/chargen" loop), shared by every datagram service.

A UDP server answers whatever address a datagram claims to come from, and
that address can be forged.  So a datagram is not answered when:

  - its source port is below 1024: the well-known services (echo 7,
    discard 9, daytime 13, chargen 19, time 37, DNS 53...) that would answer
    back, starting a loop, and that no ordinary client sends from;
  - its source port is the service's own port, or the default port of any
    netlab service (21567 to 21569): another server of the same kind or of
    another netlab kind (or this one, forged), which would answer back too;
  - its source address is multicast, the limited broadcast address
    255.255.255.255, or unspecified (0.0.0.0, ::): no single host sent it;
  - its source has sent more than its share (a token bucket per source
    address), or the service as a whole is answering more than its global
    share (one more token bucket), so that a forged flood turns into at
    most a bounded trickle towards its victim.

Refusals are counted by reason and logged at a bounded rate.
"""

from __future__ import annotations

import enum
import ipaddress

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from netlab._peer import formatHostPort
from netlab._ratelog import RateLimitedLog

__all__ = [
    "DEFAULT_GLOBAL_BURST",
    "DEFAULT_GLOBAL_RATE",
    "DEFAULT_SOURCE_BURST",
    "DEFAULT_SOURCE_RATE",
    "DatagramGuard",
    "Refusal",
]

DEFAULT_SOURCE_RATE = 1000
"""
Datagrams per second answered for one source address, on average.
"""

DEFAULT_SOURCE_BURST = 2000
"""
Datagrams answered for one source address in a burst.
"""

DEFAULT_GLOBAL_RATE = 20000
"""
Datagrams per second answered by one service, on average.
"""

DEFAULT_GLOBAL_BURST = 40000
"""
Datagrams answered by one service in a burst.
"""

_log = Logger()


class Refusal(enum.Enum):
    """
    Why a datagram was not answered.
    """

    PRIVILEGED_PORT = "source port below 1024"
    OWN_PORT = "source port is the service's own"
    SERVICE_PORT = "source port is a netlab service's"
    NOT_UNICAST = "source address is not a single host"
    SOURCE_RATE = "over the per-source rate (--udp-rate/--udp-burst)"
    GLOBAL_RATE = "over the service's rate (--udp-global-rate/--udp-global-burst)"


SERVICE_PORTS = frozenset({21567, 21568, 21569})
"""
The default ports of netlab's built-in services: a datagram from one of them
is refused, so that two netlab UDP services cannot be made to answer each
other for ever.  Under C{twistd netlab}, the guards refuse the default UDP
ports of every registered service instead (see L{netlab.service}).
"""

_BANNED = [0.0, 0.0]
"""
The bucket of a source that is never answered.
"""


def _isUnicast(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_multicast or address.is_unspecified:
        return False
    return not (
        isinstance(address, ipaddress.IPv4Address)
        and address == ipaddress.IPv4Address("255.255.255.255")
    )


class DatagramGuard:
    """
    Decides, per datagram, whether a UDP service may answer it.

    A rate of 0 turns that token bucket off.  The number of sources tracked
    at once is bounded: when C{maxSources} is reached, sources whose bucket
    has refilled are forgotten (forgetting them loses nothing), and if that
    is not enough, all are.

    @ivar refused: how many datagrams were refused, by L{Refusal}.
    @ivar ownPort: the service's own port, once it listens.
    @ivar servicePorts: the source ports refused besides it.
    """

    def __init__(
        self,
        clock: IReactorTime,
        sourceRate: float = DEFAULT_SOURCE_RATE,
        sourceBurst: float = DEFAULT_SOURCE_BURST,
        globalRate: float = DEFAULT_GLOBAL_RATE,
        globalBurst: float = DEFAULT_GLOBAL_BURST,
        maxSources: int = 65536,
        servicePorts: frozenset[int] = SERVICE_PORTS,
    ) -> None:
        """
        @param clock: what the buckets are refilled by.
        @param sourceRate: datagrams per second per source address; 0 for no
            limit.
        @param sourceBurst: the per-source bucket's size, at least 1.
        @param globalRate: datagrams per second for the whole service; 0 for
            no limit.
        @param globalBurst: the global bucket's size, at least 1.
        @param maxSources: the most source addresses tracked at once.
        @param servicePorts: source ports always refused: the default ports
            of the services a datagram could have come from.
        @raise ValueError: for a negative rate or a burst below 1.
        """
        if sourceRate < 0 or globalRate < 0:
            raise ValueError("a rate cannot be negative")
        if sourceBurst < 1 or globalBurst < 1:
            raise ValueError("a burst must be at least 1")
        self._clock = clock
        self._seconds = clock.seconds
        self.sourceRate = sourceRate
        self.sourceBurst = sourceBurst
        self.globalRate = globalRate
        self.globalBurst = globalBurst
        self.maxSources = maxSources
        self.servicePorts = frozenset(servicePorts)
        self.ownPort = -1
        self._globalTokens = globalBurst
        self._globalLast = clock.seconds()
        # host -> [tokens, time of last refill]; _BANNED for never.
        self._sources: dict[str, list[float]] = {}
        self.refused = dict.fromkeys(Refusal, 0)
        self._logs = {reason: RateLimitedLog(_log, clock) for reason in Refusal}

    def admit(self, host: str, port: int) -> bool:
        """
        Decide whether to answer a datagram, and count it as answered if so.

        @param host: the datagram's source address.
        @param port: its source port.
        @return: C{True} to answer it; C{False} if it was refused (and
            counted and maybe logged).
        """
        # This runs for every datagram: it is written for speed.
        if port < 1024 or port == self.ownPort or port in self.servicePorts:
            return self._refuse(
                Refusal.PRIVILEGED_PORT
                if port < 1024
                else Refusal.OWN_PORT
                if port == self.ownPort
                else Refusal.SERVICE_PORT,
                host,
                port,
            )
        bucket = self._sources.get(host)
        if bucket is None:
            bucket = self._track(host)
        if bucket is _BANNED:
            return self._refuse(Refusal.NOT_UNICAST, host, port)
        globalRate = self.globalRate
        sourceRate = self.sourceRate
        if not (sourceRate or globalRate):
            return True
        now = self._seconds()
        globalTokens = self._globalTokens
        if globalRate:
            globalTokens += (now - self._globalLast) * globalRate
            if globalTokens > self.globalBurst:
                globalTokens = self.globalBurst
            self._globalLast = now
            if globalTokens < 1:
                self._globalTokens = globalTokens
                return self._refuse(Refusal.GLOBAL_RATE, host, port)
        if sourceRate:
            tokens = bucket[0] + (now - bucket[1]) * sourceRate
            if tokens > self.sourceBurst:
                tokens = self.sourceBurst
            bucket[1] = now
            if tokens < 1:
                bucket[0] = tokens
                self._globalTokens = globalTokens
                return self._refuse(Refusal.SOURCE_RATE, host, port)
            bucket[0] = tokens - 1
        self._globalTokens = globalTokens - 1
        return True

    def _track(self, host: str) -> list[float]:
        if len(self._sources) >= self.maxSources:
            self._forget()
        bucket = (
            [self.sourceBurst, self._clock.seconds()] if _isUnicast(host) else _BANNED
        )
        self._sources[host] = bucket
        return bucket

    def _forget(self) -> None:
        now = self._clock.seconds()
        full = self.sourceBurst
        rate = self.sourceRate
        self._sources = {
            host: bucket
            for host, bucket in self._sources.items()
            if bucket is not _BANNED
            and rate
            and bucket[0] + (now - bucket[1]) * rate < full
        }
        if len(self._sources) >= self.maxSources:
            self._sources.clear()

    def _refuse(self, reason: Refusal, host: str, port: int) -> bool:
        self.refused[reason] += 1
        self._logs[reason].warn(
            "not answering a datagram from {peer}: {reason}",
            peer=formatHostPort(host, port),
            host=host,
            port=port,
            reason=reason.value,
        )
        return False
