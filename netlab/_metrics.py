"""
Counters of every service in one process, in the Prometheus text format over
HTTP (C{--metrics ENDPOINT}, C{GET /metrics}).

Nothing is counted here: the services count in plain numbers as they go
(L{netlab.policies.TrafficStats}, the UDP guards' refusals, the chat hubs),
and L{ServiceCollector} reads them only when the endpoint is scraped, so
that serving metrics costs the services nothing per message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from netlab._udpserver import GuardedDatagramProtocol
from netlab.chat._hub import ChatHub
from netlab.policies import ConnectionGuard

__all__ = ["ServiceCollector", "metricsSite", "newRegistry"]

_STREAM_REASONS = ("max-connections", "max-per-source", "idle-timeout")
"""
Reported from the start, at 0, so that a rate can be taken of each.
"""


class ServiceCollector(Collector):
    """
    Reads the counters of the services added to it, each time the metrics
    are scraped.

    Every series is labelled with C{service} (C{tsserv}, C{echo}...) and
    C{transport} (C{tcp} for connections over any stream endpoint, C{udp}
    for datagrams).
    """

    def __init__(self) -> None:
        self._streams: list[ConnectionGuard] = []
        self._datagrams: list[GuardedDatagramProtocol] = []
        self._hubs: list[tuple[str, ChatHub]] = []

    def addStream(self, guard: ConnectionGuard) -> None:
        """
        Report a stream service: its connections, bytes, messages and
        refusals.
        """
        self._streams.append(guard)

    def addDatagram(self, protocol: GuardedDatagramProtocol) -> None:
        """
        Report a datagram service: its bytes, datagrams answered and
        datagrams refused by its guard.
        """
        self._datagrams.append(protocol)

    def addChat(self, service: str, hub: ChatHub) -> None:
        """
        Report a chat hub's users and rooms.
        """
        self._hubs.append((service, hub))

    def collect(self) -> Iterator[Metric]:
        labels = ["service", "transport"]
        opened = GaugeMetricFamily(
            "netlab_connections_open", "Connections open now.", labels=labels
        )
        total = CounterMetricFamily(
            "netlab_connections", "Connections accepted (not refused).", labels=labels
        )
        received = CounterMetricFamily(
            "netlab_received_bytes", "Bytes received from peers.", labels=labels
        )
        sent = CounterMetricFamily(
            "netlab_sent_bytes", "Bytes sent to peers.", labels=labels
        )
        messages = CounterMetricFamily(
            "netlab_messages",
            "Messages handled: chunks or lines received (tsserv), chunks "
            "echoed (echo over tcp), lines received (chat), datagrams answered "
            "(udp).",
            labels=labels,
        )
        refusals = CounterMetricFamily(
            "netlab_refusals",
            "Connections or datagrams refused, and connections closed for "
            "being idle, by reason.",
            labels=[*labels, "reason"],
        )
        # Two services of one name (tsserv + tsserv) are added up.
        sums: dict[tuple[str, str], list[int]] = {}
        refused: Counter[tuple[str, ...]] = Counter()

        def add(key: tuple[str, str], *values: int) -> None:
            row = sums.setdefault(key, [0, 0, 0, 0, 0])
            for i, value in enumerate(values):
                row[i] += value

        for guard in self._streams:
            stats = guard.stats
            key = (guard.service, stats.transport)
            bytesIn, bytesOut = guard.bytes()
            add(
                key,
                guard.openConnections(),
                stats.connectionsTotal,
                bytesIn,
                bytesOut,
                stats.messages,
            )
            reasons = dict.fromkeys(_STREAM_REASONS, 0)
            reasons.update(stats.refusals)
            for reason, count in reasons.items():
                series = (*key, reason)
                refused[series] += count
        for protocol in self._datagrams:
            stats = protocol.stats
            key = (stats.service, stats.transport)
            add(key, 0, 0, stats.bytesReceived, stats.bytesSent, stats.messages)
            for refusal, count in protocol.guard.refused.items():
                series = (*key, refusal.name.lower().replace("_", "-"))
                refused[series] += count
        for pair, (nowOpen, accepted, bytesIn, bytesOut, handled) in sums.items():
            if pair[1] != "udp":
                opened.add_metric(list(pair), nowOpen)
                total.add_metric(list(pair), accepted)
            received.add_metric(list(pair), bytesIn)
            sent.add_metric(list(pair), bytesOut)
            messages.add_metric(list(pair), handled)
        for labelValues, count in refused.items():
            refusals.add_metric(list(labelValues), count)
        yield from (opened, total, received, sent, messages, refusals)

        if self._hubs:
            users = GaugeMetricFamily(
                "netlab_chat_users", "Chat users with a nickname.", labels=["service"]
            )
            rooms = GaugeMetricFamily(
                "netlab_chat_rooms", "Chat rooms that exist.", labels=["service"]
            )
            # Two chat services of one name (chat + chat) are added up, as
            # above: the same series twice would spoil the scrape.
            counts: dict[str, list[int]] = {}
            for service, hub in self._hubs:
                row = counts.setdefault(service, [0, 0])
                row[0] += len(hub.participants())
                row[1] += len(hub.rooms())
            for service, (userCount, roomCount) in counts.items():
                users.add_metric([service], userCount)
                rooms.add_metric([service], roomCount)
            yield from (users, rooms)


def newRegistry(collector: ServiceCollector) -> CollectorRegistry:
    """
    A registry of netlab's counters and the process's own (CPU, memory,
    open files, garbage collection), apart from prometheus_client's global
    one.
    """
    registry = CollectorRegistry()
    registry.register(collector)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class _Metrics(Resource):
    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
        return generate_latest(self._registry)


class _Index(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"netlab metrics: GET /metrics\n"


def metricsSite(registry: CollectorRegistry, reactor: Any = None) -> Site:
    """
    The HTTP site of C{--metrics}: C{/metrics} in the Prometheus text
    format, read in the reactor's thread (the counters are not
    thread-safe, and reading them takes well under a millisecond).

    @param registry: what to serve.
    @param reactor: the reactor the site runs on (it times out idle HTTP
        connections with it); the global reactor if C{None}.
    """
    root = _Root()
    root.putChild(b"", _Index())
    root.putChild(b"metrics", _Metrics(registry))
    site = _MetricsSite(root, reactor=reactor)
    site.noisy = False
    return site


class _NotFound(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        request.setResponseCode(404)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"not found: netlab serves GET /metrics\n"


class _Root(Resource):
    def getChild(self, path: bytes, request: Any) -> Any:
        return _NotFound()


class _MetricsSite(Site):
    """
    A site that does not log each request: a scraper asks every few
    seconds.
    """

    def log(self, request: Any) -> None:
        pass
