"""
Counters of every service in one process, in the Prometheus text format over
HTTP (C{--metrics ENDPOINT}, C{GET /metrics}).

Nothing is counted here: the services count in plain numbers as they go
(L{netlab.policies.TrafficStats}, the UDP guards' refusals, whatever a
service reports as a gauge), and L{ServiceCollector} reads them only when
the endpoint is scraped, so that serving metrics costs the services nothing
per message.

One label scheme holds for every series: C{service} (its name),
C{transport} (C{tcp}, C{udp}, C{unix}, C{tls}, or the kind of any other
endpoint), and, only where it is not empty, C{protocol} (which of a
service's protocols, for a service with listeners of several kinds).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import attrs
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
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from netlab._udpserver import GuardedDatagramProtocol
from netlab.policies import ConnectionGuard

_log = Logger()

__all__ = ["ServiceCollector", "metricsSite", "newRegistry"]

_STREAM_REASONS = ("max-connections", "max-per-source", "idle-timeout")
"""
Reported from the start, at 0, so that a rate can be taken of each.
"""

_Series = tuple[str, str, str]
"""
What tells one service's series apart: its C{service}, C{transport} and
C{protocol} labels.
"""


def _labels(series: _Series) -> dict[str, str]:
    """
    @return: the labels of C{series}, without C{protocol} if it is empty.
    """
    service, transport, protocol = series
    labels = {"service": service, "transport": transport}
    if protocol:
        labels["protocol"] = protocol
    return labels


@attrs.define
class _Gauges:
    """
    The gauges of one name: its help text, and what to read for each set
    of labels (the reads of one set are added up).
    """

    documentation: str
    reads: dict[tuple[tuple[str, str], ...], list[Callable[[], float]]] = attrs.Factory(
        dict
    )


class ServiceCollector(Collector):
    """
    Reads the counters of the services added to it, each time the metrics
    are scraped.

    Every series of a service is labelled with C{service} (C{tsserv},
    C{echo}...), C{transport} (C{tcp}, C{tls}, C{unix} for connections, by
    the listener they came in by; C{udp} for datagrams) and, if its
    counters have one, C{protocol}.  Series with the same labels, from
    several guards, protocols or gauges (two services of one name joined
    with C{+}), are added up: the same series twice would spoil the
    scrape.
    """

    def __init__(self) -> None:
        self._streams: list[ConnectionGuard] = []
        self._datagrams: list[GuardedDatagramProtocol] = []
        self._gauges: dict[str, _Gauges] = {}

    def addStream(self, guard: ConnectionGuard) -> None:
        """
        Report a stream service: its connections, bytes, messages and
        refusals, over each transport it listens on (see
        L{ConnectionGuard.byTransport}).
        """
        self._streams.append(guard)

    def addDatagram(self, protocol: GuardedDatagramProtocol) -> None:
        """
        Report a datagram service: its bytes, datagrams answered and
        datagrams refused by its guard.
        """
        self._datagrams.append(protocol)

    def addGauge(
        self,
        name: str,
        documentation: str,
        read: Callable[[], float],
        labels: dict[str, str],
    ) -> None:
        """
        Report a number that C{read} gives at each scrape, as a gauge.

        Gauges of one name and labels are added up into one series; the
        help text is that of the first gauge of the name.  A gauge is
        reported from the first scrape after it is added.

        @param name: the metric's name, e.g. C{netlab_chat_users}.
        @param documentation: its help text.
        @param read: gives the value, quickly, in the reactor's thread.
        @param labels: its labels, C{service} among them.
        """
        gauges = self._gauges.get(name)
        if gauges is None:
            gauges = self._gauges[name] = _Gauges(documentation)
        key = tuple(sorted(labels.items()))
        gauges.reads.setdefault(key, []).append(read)

    def collect(self) -> Iterator[Metric]:
        opened = GaugeMetricFamily("netlab_connections_open", "Connections open now.")
        total = CounterMetricFamily(
            "netlab_connections", "Connections accepted (not refused)."
        )
        received = CounterMetricFamily(
            "netlab_received_bytes", "Bytes received from peers."
        )
        sent = CounterMetricFamily("netlab_sent_bytes", "Bytes sent to peers.")
        messages = CounterMetricFamily(
            "netlab_messages",
            "Messages handled: chunks or lines received (tsserv), chunks "
            "echoed (echo over tcp), lines received (chat), datagrams answered "
            "(udp).",
        )
        refusals = CounterMetricFamily(
            "netlab_refusals",
            "Connections or datagrams refused, and connections closed for "
            "being idle, by reason.",
        )
        # Bytes received and sent, messages, and for streams connections
        # open and accepted, by series.
        sums: dict[_Series, list[int]] = {}
        streams: set[_Series] = set()
        refused: Counter[tuple[_Series, str]] = Counter()

        def add(series: _Series, *values: int) -> None:
            row = sums.setdefault(series, [0, 0, 0, 0, 0])
            for i, value in enumerate(values):
                row[i] += value

        for guard in self._streams:
            for counts in guard.byTransport():
                series = (guard.service, counts.transport, counts.protocol)
                streams.add(series)
                add(
                    series,
                    counts.bytesReceived,
                    counts.bytesSent,
                    counts.messages,
                    counts.openConnections,
                    counts.connectionsTotal,
                )
                for reason in _STREAM_REASONS:
                    refused[series, reason] += 0
                for reason, count in counts.refusals.items():
                    refused[series, reason] += count
        for protocol in self._datagrams:
            stats = protocol.stats
            series = (stats.service, stats.transport, stats.protocol)
            add(series, stats.bytesReceived, stats.bytesSent, stats.messages)
            for refusal, count in protocol.guard.refused.items():
                refused[series, refusal.name.lower().replace("_", "-")] += count
        for series, (bytesIn, bytesOut, handled, nowOpen, accepted) in sums.items():
            labels = _labels(series)
            if series in streams:
                opened.add_sample(opened.name, labels, nowOpen)
                total.add_sample("netlab_connections_total", labels, accepted)
            received.add_sample("netlab_received_bytes_total", labels, bytesIn)
            sent.add_sample("netlab_sent_bytes_total", labels, bytesOut)
            messages.add_sample("netlab_messages_total", labels, handled)
        for (series, reason), count in refused.items():
            refusals.add_sample(
                "netlab_refusals_total", {**_labels(series), "reason": reason}, count
            )
        yield from (opened, total, received, sent, messages, refusals)

        for name, gauges in self._gauges.items():
            family = GaugeMetricFamily(name, gauges.documentation)
            for key, reads in gauges.reads.items():
                family.add_sample(name, dict(key), sum(map(self._read, reads)))
            yield family

    def _read(self, read: Callable[[], float]) -> float:
        """
        Read one gauge; one that fails (a bug of the service that added it)
        reads 0 and is logged, once per scrape, rather than spoiling the
        scrape of every service.
        """
        try:
            return float(read())
        except Exception:
            _log.failure("reading a gauge for --metrics")
            return 0.0


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


def metricsSite(
    registry: CollectorRegistry, reactor: Any = None, metrics: Resource | None = None
) -> Site:
    """
    The HTTP site of C{--metrics}: C{/metrics} in the Prometheus text
    format, read in the reactor's thread (the counters are not
    thread-safe, and reading them takes well under a millisecond).

    @param registry: what to serve.
    @param reactor: the reactor the site runs on (it times out idle HTTP
        connections with it); the global reactor if C{None}.
    @param metrics: what serves C{/metrics} instead of C{registry} (the
        parent of C{--workers}, which asks its workers).
    """
    root = _Root()
    root.putChild(b"", _Index())
    root.putChild(b"metrics", metrics if metrics is not None else _Metrics(registry))
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
