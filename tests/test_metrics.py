"""
Tests for L{netlab._metrics}: the counters of every service in the
Prometheus text format (C{--metrics}), read from real guards, factories and
protocols driven in memory, and the HTTP site that serves them.

No socket: connections are L{StringTransport}s or a L{MemoryEndpoint},
datagrams go to a L{FakeDatagramTransport}, and HTTP requests are
L{DummyRequest}s or bytes fed to the site's protocol.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport, StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site
from twisted.web.test.requesthelper import DummyRequest

from netlab._metrics import ServiceCollector, metricsSite, newRegistry
from netlab._udpguard import DatagramGuard
from netlab.chat import ChatFactory, ChatHub
from netlab.chat._metrics import chatGauges
from netlab.echo import EchoDatagramProtocol, EchoFactory
from netlab.policies import ConnectionGuard, ConnectionLimits, TrafficStats
from netlab.testing import MemoryEndpoint
from netlab.timestamp import Framing, TimestampDatagramProtocol, TimestampFactory

_Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

_UDP_REASONS = {
    "privileged-port",
    "own-port",
    "service-port",
    "not-unicast",
    "source-rate",
    "global-rate",
}
"""
Why a datagram guard refuses, as the metrics name it.
"""


def _scrape(collector: ServiceCollector) -> _Samples:
    """
    Scrape C{collector} as the metrics endpoint does, and read the text
    back.

    @return: the value of every sample, by its name and its labels.
    @raise AssertionError: if a sample appears twice (which Prometheus
        refuses).
    """
    text = generate_latest(newRegistry(collector)).decode("utf-8")
    samples: _Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in samples, f"{key} appears twice in:\n{text}"
            samples[key] = sample.value
    return samples


def _values(samples: _Samples, name: str) -> dict[tuple[str, ...], float]:
    """
    @return: the samples called C{name}, by the values of their labels
        C{service}, C{transport} and C{reason} (those they have, in that
        order).
    """
    found = {}
    for (sampleName, labels), value in samples.items():
        if sampleName == name:
            byName = dict(labels)
            key = tuple(
                byName[label]
                for label in ("service", "transport", "reason")
                if label in byName
            )
            found[key] = value
    return found


def _labelled(samples: _Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """
    @return: the samples called C{name}, by all their labels (sorted by
        name).
    """
    return {
        labels: value
        for (sampleName, labels), value in samples.items()
        if sampleName == name
    }


def _addChat(collector: ServiceCollector, service: str, hub: ChatHub) -> None:
    """
    Report a chat hub's gauges as the chat service does.
    """
    for name, documentation, read in chatGauges(hub):
        collector.addGauge(name, documentation, read, {"service": service})


def _connect(guard: Any, host: str = "127.0.0.1") -> tuple[Any, StringTransport]:
    """
    Connect a protocol of C{guard} (or of one of its listener factories)
    to a L{StringTransport}, as a listening port would for a connection
    from C{host}.
    """
    protocol = guard.buildProtocol(IPv4Address("TCP", host, 40000))
    assert protocol is not None
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def _lost(protocol: Any) -> None:
    """
    Tell a connection's protocol that it closed cleanly.
    """
    protocol.connectionLost(Failure(ConnectionDone()))


class ServiceCollectorTests(SynchronousTestCase):
    """
    Tests for L{ServiceCollector}, read through L{newRegistry} and
    C{generate_latest} as the metrics endpoint reads it.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.collector = ServiceCollector()

    def _stream(
        self, factory: Any, service: str, limits: ConnectionLimits | None = None
    ) -> ConnectionGuard:
        """
        @return: a guard for C{factory}, reported by the collector.
        """
        guard = ConnectionGuard(factory, self.clock, limits, service)
        self.collector.addStream(guard)
        return guard

    def test_streamStartsAtZero(self) -> None:
        """
        A stream service is reported from the start: nothing open, nothing
        accepted, sent, received or handled, and each reason to refuse a
        connection at 0, so that a rate can be taken of each.
        """
        self._stream(EchoFactory(TrafficStats("echo")), "echo")
        samples = _scrape(self.collector)
        for name in [
            "netlab_connections_open",
            "netlab_connections_total",
            "netlab_received_bytes_total",
            "netlab_sent_bytes_total",
            "netlab_messages_total",
        ]:
            self.assertEqual(_values(samples, name), {("echo", "tcp"): 0}, name)
        self.assertEqual(
            _values(samples, "netlab_refusals_total"),
            {
                ("echo", "tcp", "max-connections"): 0,
                ("echo", "tcp", "max-per-source"): 0,
                ("echo", "tcp", "idle-timeout"): 0,
            },
        )
        self.assertEqual(_values(samples, "netlab_chat_users"), {})

    def test_connections(self) -> None:
        """
        Connections open now and accepted so far are reported.
        """
        guard = self._stream(TimestampFactory(self.clock), "tsserv")
        first, _ = _connect(guard)
        _connect(guard)
        _connect(guard)
        _lost(first)
        samples = _scrape(self.collector)
        self.assertEqual(
            _values(samples, "netlab_connections_open"), {("tsserv", "tcp"): 2}
        )
        self.assertEqual(
            _values(samples, "netlab_connections_total"), {("tsserv", "tcp"): 3}
        )

    def test_bytes(self) -> None:
        """
        Bytes received and sent are reported, those of connections still
        open included, and those of a closed connection counted once.
        """
        guard = self._stream(EchoFactory(TrafficStats("echo")), "echo")
        first, _ = _connect(guard)
        first.dataReceived(b"hello")
        samples = _scrape(self.collector)
        self.assertEqual(
            _values(samples, "netlab_received_bytes_total"), {("echo", "tcp"): 5}
        )
        self.assertEqual(
            _values(samples, "netlab_sent_bytes_total"), {("echo", "tcp"): 5}
        )
        _lost(first)
        second, _ = _connect(guard)
        second.dataReceived(b"abc")
        samples = _scrape(self.collector)
        self.assertEqual(
            _values(samples, "netlab_received_bytes_total"), {("echo", "tcp"): 8}
        )
        self.assertEqual(
            _values(samples, "netlab_sent_bytes_total"), {("echo", "tcp"): 8}
        )

    def test_bytesThroughMemoryEndpoint(self) -> None:
        """
        What a client sends and the service answers over a
        L{MemoryEndpoint} is what the byte counters report.
        """
        guard = self._stream(
            TimestampFactory(self.clock, framing=Framing.LINE), "tsserv"
        )
        endpoint = MemoryEndpoint(guard, self.clock)
        client = self.successResultOf(endpoint.connect(Factory.forProtocol(Protocol)))
        received: list[bytes] = []
        client.dataReceived = received.append  # type: ignore[method-assign]
        client.transport.write(b"one\ntwo\n")
        endpoint.flush()
        answered = b"".join(received)
        self.assertEqual(answered.count(b"\n"), 2)
        samples = _scrape(self.collector)
        self.assertEqual(
            _values(samples, "netlab_received_bytes_total"), {("tsserv", "tcp"): 8}
        )
        self.assertEqual(
            _values(samples, "netlab_sent_bytes_total"),
            {("tsserv", "tcp"): len(answered)},
        )
        self.assertEqual(
            _values(samples, "netlab_messages_total"), {("tsserv", "tcp"): 2}
        )

    def test_messages(self) -> None:
        """
        Messages are what each service counts as one: a stamp sent (one per
        line with line framing), a chunk echoed, a chat line received.
        """
        tsserv = self._stream(
            TimestampFactory(
                self.clock, framing=Framing.LINE, stats=TrafficStats("tsserv")
            ),
            "tsserv",
        )
        echo = self._stream(EchoFactory(TrafficStats("echo")), "echo")
        chat = self._stream(
            ChatFactory(ChatHub(), self.clock, stats=TrafficStats("chat")), "chat"
        )
        _connect(tsserv)[0].dataReceived(b"a\nb\nc\n")
        connection, _ = _connect(echo)
        connection.dataReceived(b"x")
        connection.dataReceived(b"y")
        _connect(chat)[0].dataReceived(b"alice\r\nhello\r\n")
        self.clock.advance(0)
        self.assertEqual(
            _values(_scrape(self.collector), "netlab_messages_total"),
            {("tsserv", "tcp"): 3, ("echo", "tcp"): 2, ("chat", "tcp"): 2},
        )

    def test_refusals(self) -> None:
        """
        Connections refused are reported by the limit they were over, and
        connections closed for being idle as idle-timeout.
        """
        guard = self._stream(
            EchoFactory(TrafficStats("echo")),
            "echo",
            ConnectionLimits(maxConnections=3, maxPerSource=1, idleTimeout=10),
        )
        _connect(guard, "10.0.0.1")
        _connect(guard, "10.0.0.1")
        _connect(guard, "10.0.0.2")
        _connect(guard, "10.0.0.3")
        _connect(guard, "10.0.0.4")
        _connect(guard, "10.0.0.5")
        self.clock.pump([1.0] * 10)
        self.assertEqual(
            _values(_scrape(self.collector), "netlab_refusals_total"),
            {
                ("echo", "tcp", "max-connections"): 2,
                ("echo", "tcp", "max-per-source"): 1,
                ("echo", "tcp", "idle-timeout"): 3,
            },
        )

    def _datagrams(
        self, protocol: Any, *datagrams: tuple[bytes, tuple[str, int]]
    ) -> None:
        """
        Report C{protocol}, and have it receive C{datagrams}.
        """
        self.collector.addDatagram(protocol)
        protocol.makeConnection(FakeDatagramTransport())
        for data, address in datagrams:
            protocol.datagramReceived(data, address)

    def test_datagrams(self) -> None:
        """
        A datagram service reports bytes received and sent and datagrams
        answered, over udp, and no connections.
        """
        self._datagrams(
            EchoDatagramProtocol(self.clock),
            (b"hello", ("192.0.2.1", 5000)),
            (b"abc", ("192.0.2.2", 5000)),
        )
        samples = _scrape(self.collector)
        self.assertEqual(
            _values(samples, "netlab_received_bytes_total"), {("echo", "udp"): 8}
        )
        self.assertEqual(
            _values(samples, "netlab_sent_bytes_total"), {("echo", "udp"): 8}
        )
        self.assertEqual(
            _values(samples, "netlab_messages_total"), {("echo", "udp"): 2}
        )
        self.assertEqual(_values(samples, "netlab_connections_open"), {})
        self.assertEqual(_values(samples, "netlab_connections_total"), {})

    def test_datagramRefusals(self) -> None:
        """
        Datagrams refused are reported by the guard's reason, named in
        lower case with dashes (source-rate), every reason at 0 from the
        start.
        """
        guard = DatagramGuard(self.clock, sourceRate=1, sourceBurst=1)
        self._datagrams(
            TimestampDatagramProtocol(self.clock, guard=guard),
            (b"one", ("192.0.2.1", 5000)),
            (b"two", ("192.0.2.1", 5000)),
            (b"three", ("192.0.2.2", 53)),
        )
        refusals = _values(_scrape(self.collector), "netlab_refusals_total")
        self.assertEqual(
            refusals,
            {
                ("tsuserv", "udp", reason): {
                    "source-rate": 1,
                    "privileged-port": 1,
                }.get(reason, 0)
                for reason in _UDP_REASONS
            },
        )
        samples = _scrape(self.collector)
        self.assertEqual(
            _values(samples, "netlab_messages_total"), {("tsuserv", "udp"): 1}
        )

    def test_chat(self) -> None:
        """
        A chat service reports its users with a nickname and its rooms.
        """
        hub = ChatHub()
        _addChat(self.collector, "chat", hub)
        guard = self._stream(ChatFactory(hub, self.clock), "chat")
        _connect(guard)[0].dataReceived(b"alice\r\n")
        _connect(guard)[0].dataReceived(b"bob\r\n/join #dev\r\n")
        _connect(guard)
        self.clock.advance(0)
        samples = _scrape(self.collector)
        self.assertEqual(_values(samples, "netlab_chat_users"), {("chat",): 2})
        self.assertEqual(_values(samples, "netlab_chat_rooms"), {("chat",): 2})
        self.assertEqual(
            _values(samples, "netlab_connections_open"), {("chat", "tcp"): 3}
        )

    def test_sameNameAddedUp(self) -> None:
        """
        Two services of the same name (C{tsserv + tsserv}) are reported as
        one, their counts added up: connections, bytes, messages, refusals,
        datagrams, chat users and rooms.
        """
        limits = ConnectionLimits(maxConnections=1)
        first = self._stream(TimestampFactory(self.clock), "tsserv", limits)
        second = self._stream(TimestampFactory(self.clock), "tsserv", limits)
        _connect(first)[0].dataReceived(b"a")
        _connect(second)[0].dataReceived(b"bc")
        _connect(first)
        _connect(second)
        for port in [5000, 5001]:
            self._datagrams(
                EchoDatagramProtocol(self.clock), (b"hello", ("192.0.2.1", port))
            )
        for nick in [b"alice", b"bob"]:
            hub = ChatHub()
            _addChat(self.collector, "chat", hub)
            guard = ConnectionGuard(ChatFactory(hub, self.clock), self.clock)
            _connect(guard)[0].dataReceived(nick + b"\r\n")
        self.clock.advance(0)
        samples = _scrape(self.collector)
        self.assertEqual(
            _values(samples, "netlab_connections_open"), {("tsserv", "tcp"): 2}
        )
        self.assertEqual(
            _values(samples, "netlab_connections_total"), {("tsserv", "tcp"): 2}
        )
        self.assertEqual(
            _values(samples, "netlab_received_bytes_total"),
            {("tsserv", "tcp"): 3, ("echo", "udp"): 10},
        )
        self.assertEqual(
            _values(samples, "netlab_messages_total"),
            {("tsserv", "tcp"): 2, ("echo", "udp"): 2},
        )
        self.assertEqual(
            _values(samples, "netlab_refusals_total")[
                ("tsserv", "tcp", "max-connections")
            ],
            2,
        )
        self.assertEqual(_values(samples, "netlab_chat_users"), {("chat",): 2})
        self.assertEqual(_values(samples, "netlab_chat_rooms"), {("chat",): 2})

    def test_servicesApart(self) -> None:
        """
        Services of different names are reported apart.
        """
        tsserv = self._stream(TimestampFactory(self.clock), "tsserv")
        self._stream(EchoFactory(), "echo")
        _connect(tsserv)
        self.assertEqual(
            _values(_scrape(self.collector), "netlab_connections_open"),
            {("tsserv", "tcp"): 1, ("echo", "tcp"): 0},
        )

    def test_byTransport(self) -> None:
        """
        A service that listens on several kinds of endpoint through one
        guard reports each apart: connections, bytes, messages and
        refusals, every reason at 0 from the start for each.
        """
        guard = self._stream(
            EchoFactory(TrafficStats("echo")),
            "echo",
            ConnectionLimits(maxConnections=2, maxPerSource=0, idleTimeout=0),
        )
        tcp, tls = guard.listenerFactory("tcp"), guard.listenerFactory("tls")
        samples = _scrape(self.collector)
        self.assertEqual(
            _values(samples, "netlab_connections_open"),
            {("echo", "tcp"): 0, ("echo", "tls"): 0},
        )
        _connect(tcp)[0].dataReceived(b"abc")
        connection, _ = _connect(tls)
        connection.dataReceived(b"x")
        connection.dataReceived(b"y")
        with capturedLogs():
            _connect(tls)
        samples = _scrape(self.collector)
        for name, expected in [
            ("netlab_connections_open", (1, 1)),
            ("netlab_connections_total", (1, 1)),
            ("netlab_received_bytes_total", (3, 2)),
            ("netlab_sent_bytes_total", (3, 2)),
            ("netlab_messages_total", (1, 2)),
        ]:
            self.assertEqual(
                _values(samples, name),
                {("echo", "tcp"): expected[0], ("echo", "tls"): expected[1]},
                name,
            )
        refusals = _values(samples, "netlab_refusals_total")
        self.assertEqual(refusals[("echo", "tls", "max-connections")], 1)
        self.assertEqual(refusals[("echo", "tcp", "max-connections")], 0)
        self.assertEqual(refusals[("echo", "tcp", "idle-timeout")], 0)

    def test_onlyItsTransports(self) -> None:
        """
        A service that listens only on UNIX sockets is reported over
        C{unix}, and not over C{tcp}.
        """
        guard = self._stream(EchoFactory(TrafficStats("echo")), "echo")
        _connect(guard.listenerFactory("unix"))
        self.assertEqual(
            _values(_scrape(self.collector), "netlab_connections_open"),
            {("echo", "unix"): 1},
        )

    def test_transportsAddedUp(self) -> None:
        """
        Two services of one name are added up transport by transport.
        """
        first = self._stream(EchoFactory(TrafficStats("echo")), "echo")
        second = self._stream(EchoFactory(TrafficStats("echo")), "echo")
        _connect(first.listenerFactory("tls"))
        _connect(second.listenerFactory("tcp"))
        _connect(second.listenerFactory("tls"))
        self.assertEqual(
            _values(_scrape(self.collector), "netlab_connections_total"),
            {("echo", "tls"): 2, ("echo", "tcp"): 1},
        )

    def test_protocolLabel(self) -> None:
        """
        Series of counters that name a protocol have a C{protocol} label,
        on every transport; those of a service that speaks one have none.
        """
        line = ConnectionGuard(
            ChatFactory(ChatHub(), self.clock),
            self.clock,
            service="chat",
            protocol="line",
        )
        self.collector.addStream(line)
        line.listenerFactory("tcp")
        line.listenerFactory("tls")
        self._stream(EchoFactory(TrafficStats("echo")), "echo")
        samples = _scrape(self.collector)
        chat = (("protocol", "line"), ("service", "chat"))
        self.assertEqual(
            _labelled(samples, "netlab_connections_open"),
            {
                (*chat, ("transport", "tcp")): 0,
                (*chat, ("transport", "tls")): 0,
                (("service", "echo"), ("transport", "tcp")): 0,
            },
        )
        self.assertIn(
            (
                ("protocol", "line"),
                ("reason", "max-per-source"),
                ("service", "chat"),
                ("transport", "tls"),
            ),
            _labelled(samples, "netlab_refusals_total"),
        )

    def test_protocolsApart(self) -> None:
        """
        Two guards of one service with different protocols are reported
        apart; with the same protocol, added up.
        """
        for protocol in ["line", "irc", "irc"]:
            guard = ConnectionGuard(
                EchoFactory(), self.clock, service="chat", protocol=protocol
            )
            self.collector.addStream(guard)
            _connect(guard)
        self.assertEqual(
            _labelled(_scrape(self.collector), "netlab_connections_total"),
            {
                (("protocol", "line"), ("service", "chat"), ("transport", "tcp")): 1,
                (("protocol", "irc"), ("service", "chat"), ("transport", "tcp")): 2,
            },
        )

    def test_datagramProtocol(self) -> None:
        """
        A datagram service whose counters name a protocol has the label
        too.
        """
        self._datagrams(
            EchoDatagramProtocol(
                self.clock, stats=TrafficStats("echo", "udp", protocol="rfc862")
            ),
            (b"hi", ("192.0.2.1", 5000)),
        )
        self.assertEqual(
            _labelled(_scrape(self.collector), "netlab_messages_total"),
            {(("protocol", "rfc862"), ("service", "echo"), ("transport", "udp")): 1},
        )

    def test_gauge(self) -> None:
        """
        A gauge is reported with its help text and labels, from the first
        scrape, read anew at each.
        """
        value = [3.0]
        self.collector.addGauge(
            "netlab_test_things", "Things now.", lambda: value[0], {"service": "x"}
        )
        text = generate_latest(newRegistry(self.collector)).decode("utf-8")
        self.assertIn("# HELP netlab_test_things Things now.", text)
        self.assertIn("# TYPE netlab_test_things gauge", text)
        self.assertIn('netlab_test_things{service="x"} 3.0', text.splitlines())
        value[0] = 5
        self.assertEqual(
            _values(_scrape(self.collector), "netlab_test_things"), {("x",): 5}
        )

    def test_gaugesAddedUp(self) -> None:
        """
        Gauges of one name and labels, in whatever order the labels are
        given, are added up into one series; other labels are another
        series of the same family, whose help text is the first's.
        """
        self.collector.addGauge(
            "netlab_test_things", "Things.", lambda: 1, {"service": "a", "kind": "k"}
        )
        self.collector.addGauge(
            "netlab_test_things", "Other.", lambda: 2, {"kind": "k", "service": "a"}
        )
        self.collector.addGauge(
            "netlab_test_things", "Other.", lambda: 4, {"service": "b"}
        )
        text = generate_latest(newRegistry(self.collector)).decode("utf-8")
        self.assertEqual(text.count("# HELP netlab_test_things "), 1)
        self.assertIn("# HELP netlab_test_things Things.", text)
        self.assertEqual(
            _labelled(_scrape(self.collector), "netlab_test_things"),
            {(("kind", "k"), ("service", "a")): 3, (("service", "b"),): 4},
        )

    def test_gaugeLabelsCopied(self) -> None:
        """
        Changing the labels given after adding a gauge does not change its
        series.
        """
        labels = {"service": "a"}
        self.collector.addGauge("netlab_test_things", "Things.", lambda: 1, labels)
        labels["service"] = "b"
        self.assertEqual(
            _values(_scrape(self.collector), "netlab_test_things"), {("a",): 1}
        )

    def test_readWhenScraped(self) -> None:
        """
        The counters are read each time the metrics are scraped: a second
        scrape sees what happened since the first.
        """
        guard = self._stream(EchoFactory(TrafficStats("echo")), "echo")
        connection, _ = _connect(guard)
        connection.dataReceived(b"a")
        self.assertEqual(
            _values(_scrape(self.collector), "netlab_messages_total"),
            {("echo", "tcp"): 1},
        )
        connection.dataReceived(b"b")
        self.assertEqual(
            _values(_scrape(self.collector), "netlab_messages_total"),
            {("echo", "tcp"): 2},
        )


class NewRegistryTests(SynchronousTestCase):
    """
    Tests for L{newRegistry}.
    """

    def test_processCounters(self) -> None:
        """
        Besides netlab's, the registry reports the Python process: its
        platform, its garbage collection, and (where the system says) its
        CPU time and memory.
        """
        names = {name for name, _ in _scrape(ServiceCollector())}
        self.assertIn("python_info", names)
        self.assertIn("python_gc_objects_collected_total", names)
        if os.path.exists("/proc/self/stat"):
            self.assertIn("process_cpu_seconds_total", names)
            self.assertIn("process_resident_memory_bytes", names)

    def test_apartFromTheGlobalRegistry(self) -> None:
        """
        Each registry is new: netlab's counters are not added to
        prometheus_client's global registry, and two registries do not
        see each other's services.
        """
        first = ServiceCollector()
        first.addStream(ConnectionGuard(EchoFactory(), Clock(), service="first"))
        second = ServiceCollector()
        second.addStream(ConnectionGuard(EchoFactory(), Clock(), service="second"))
        self.assertEqual(
            _values(_scrape(first), "netlab_connections_open"), {("first", "tcp"): 0}
        )
        self.assertEqual(
            _values(_scrape(second), "netlab_connections_open"),
            {("second", "tcp"): 0},
        )
        self.assertNotIn(b"netlab_", generate_latest(REGISTRY))


class MetricsSiteTests(SynchronousTestCase):
    """
    Tests for L{metricsSite}, the HTTP site of C{--metrics}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        collector = ServiceCollector()
        self.guard = ConnectionGuard(
            EchoFactory(TrafficStats("echo")), self.clock, service="echo"
        )
        collector.addStream(self.guard)
        self.site = metricsSite(newRegistry(collector), self.clock)

    def _get(self, path: bytes) -> tuple[bytes, DummyRequest]:
        """
        GET C{path} from the site, in memory.

        @return: the body, and the request (for its code and headers).
        """
        request = DummyRequest(path.lstrip(b"/").split(b"/"))
        body = self.site.getResourceFor(request).render(request)
        assert isinstance(body, bytes)
        return body, request

    def test_metrics(self) -> None:
        """
        GET /metrics answers the counters in the Prometheus text format,
        with its content type, as they are when asked.
        """
        _connect(self.guard)
        body, request = self._get(b"/metrics")
        self.assertEqual(
            request.responseHeaders.getRawHeaders(b"content-type"),
            [CONTENT_TYPE_LATEST.encode("ascii")],
        )
        self.assertIn(
            b'netlab_connections_open{service="echo",transport="tcp"} 1.0',
            body.splitlines(),
        )
        families = {
            family.name
            for family in text_string_to_metric_families(body.decode("utf-8"))
        }
        self.assertIn("netlab_connections", families)

    def test_index(self) -> None:
        """
        GET / answers a short plain-text line that points to /metrics.
        """
        body, request = self._get(b"/")
        self.assertEqual(body, b"netlab metrics: GET /metrics\n")
        self.assertEqual(
            request.responseHeaders.getRawHeaders(b"content-type"),
            [b"text/plain; charset=utf-8"],
        )

    def test_elsewhere(self) -> None:
        """
        Any other path is not found.
        """
        _, request = self._get(b"/other")
        self.assertEqual(request.responseCode, 404)

    def test_reactor(self) -> None:
        """
        The site runs on the reactor it is given.
        """
        self.assertIsInstance(self.site, Site)
        self.assertIs(self.site.reactor, self.clock)

    def test_overHTTP(self) -> None:
        """
        A scrape over an HTTP connection is answered with the counters, and
        not logged: a scraper asks every few seconds.
        """
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        assert channel is not None
        transport = StringTransport()
        channel.makeConnection(transport)
        with capturedLogs() as events:
            channel.dataReceived(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response = transport.value()
        self.assertTrue(response.startswith(b"HTTP/1.1 200 OK\r\n"), response[:80])
        self.assertIn(
            b"content-type: " + CONTENT_TYPE_LATEST.encode("ascii"),
            response.lower(),
        )
        self.assertIn(
            b'netlab_connections_open{service="echo",transport="tcp"} 0.0',
            response.splitlines(),
        )
        self.assertEqual(list(events), [])
        channel.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.clock.getDelayedCalls(), [])
