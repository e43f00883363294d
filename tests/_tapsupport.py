"""
Helpers for the tests of C{twistd netlab}: of the assembly in L{netlab.tap}
(C{tests/test_tap.py}), of each service's options and build
(C{tests/timestamp/test_tap.py}, C{tests/echo/test_tap.py},
C{tests/chat/test_tap.py}), and of L{netlab._lifecycle}
(C{tests/test_lifecycle.py}).

Reactor-free: in-memory reactors, ports and transports that note what is done
to them.  There are no tests here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from netlab import tap
from netlab._lifecycle import DrainService
from netlab._udpguard import DatagramGuard
from netlab.policies import ConnectionGuard, GuardedConnection


def parse(*args: str) -> tap.Options:
    """
    @return: L{tap.Options} that have parsed C{args}.
    """
    options = tap.Options()
    options.parseOptions(list(args))
    return options


class _FakeUDPPort:
    """
    What L{_UDPMemoryReactor.listenUDP} returns.
    """

    def __init__(self, port: int, interface: str) -> None:
        self.port = port
        self.interface = interface
        self.listening = True

    def stopListening(self) -> None:
        self.listening = False


class _UDPMemoryReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} that also records C{listenUDP} calls, which
    L{MemoryReactorClock} does not have.

    @ivar udpServers: C{(port, protocol, interface, maxPacketSize)} for each
        call.
    @ivar udpPorts: the fake ports returned.
    """

    def __init__(self) -> None:
        super().__init__()
        self.udpServers: list[tuple[int, Any, str, int]] = []
        self.udpPorts: list[_FakeUDPPort] = []

    def listenUDP(
        self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
    ) -> _FakeUDPPort:
        self.udpServers.append((port, protocol, interface, maxPacketSize))
        self.udpPorts.append(_FakeUDPPort(port, interface))
        return self.udpPorts[-1]


_STREAM_DEFAULTS: dict[str, Any] = {
    "max-connections": 10000,
    "max-per-source": 100,
    "tls-handshake-timeout": 10.0,
    "grace": 5.0,
    "metrics": None,
}
"""
What every stream service (tsserv, echo, chat) runs with unless told
otherwise, besides its own options.
"""


_CHAT_DEFAULTS: dict[str, Any] = {
    "listen": ["tcp:21569"],
    "default-room": "#lobby",
    "history": 20,
    "max-line-length": 1024,
    "line-rate": 5.0,
    "line-burst": 20.0,
    "backlog-soft": 262144,
    "backlog-soft-seconds": 10.0,
    "backlog-hard": 1048576,
    "registration-timeout": 60.0,
    "idle-timeout": 0.0,
    **_STREAM_DEFAULTS,
}
"""
What C{twistd netlab chat} runs with unless told otherwise.
"""


PEER = IPv4Address("TCP", "127.0.0.1", 40000)
"""
Where the connections of these tests come from.
"""


class _RecordingPort:
    """
    A listening port, returned by L{_RecordingReactor.listenTCP}, that notes
    in a shared log when it stops listening.
    """

    def __init__(self, log: list[tuple[Any, ...]], port: int) -> None:
        self.log = log
        self.port = port
        self.listening = True

    def startListening(self) -> None:
        pass

    def stopListening(self) -> None:
        self.listening = False
        self.log.append(("stopListening", self.port))

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "0.0.0.0", self.port)


class _RecordingReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} whose listening ports note when they stop
    listening, in C{log}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[Any, ...]] = []

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> _RecordingPort:
        self.tcpServers.append((port, factory, backlog, interface))
        return _RecordingPort(self.log, port)


class _RecordingTransport(StringTransport):
    """
    A L{StringTransport} that notes what is written to it, and when it is
    closed, in a shared log, and whether it was aborted.
    """

    def __init__(self, log: list[tuple[Any, ...]], name: str) -> None:
        super().__init__(peerAddress=PEER)
        self.log = log
        self.name = name
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.log.append(("write", self.name, data))
        super().write(data)

    def loseConnection(self) -> None:
        self.log.append(("loseConnection", self.name))
        super().loseConnection()

    def abortConnection(self) -> None:
        self.aborted = True
        super().abortConnection()


def _guards(service: Any) -> list[ConnectionGuard]:
    """
    @return: the guard of each stream service in C{service}, as its drain
        knows it, in order.
    """
    return [
        cast(ConnectionGuard, child.target)
        for child in service
        if isinstance(child, DrainService)
    ]


def _listened(reactor: MemoryReactorClock) -> list[ConnectionGuard]:
    """
    @return: the guard of the factory each started endpoint listens with,
        in order (each listens with one of its guard's listener factories).
    """
    guards = [cast(Any, factory).guard for _, factory, _, _ in reactor.tcpServers]
    for guard in guards:
        assert isinstance(guard, ConnectionGuard), guard
    return guards


def _connect(
    guard: ConnectionGuard,
    log: list[tuple[Any, ...]] | None = None,
    name: str = "peer",
    address: IPv4Address = PEER,
) -> tuple[Any, _RecordingTransport]:
    """
    Connect a protocol of C{guard} to a L{_RecordingTransport}, as the
    listening port would for a connection accepted from C{address}.

    @return: the protocol (a L{GuardedConnection}, or the refusal) and its
        transport.
    """
    protocol = guard.buildProtocol(address)
    assert protocol is not None
    transport = _RecordingTransport([] if log is None else log, name)
    protocol.makeConnection(transport)
    return protocol, transport


def _lost(connection: Any) -> None:
    """
    Tell a connection's protocol that it closed cleanly.
    """
    connection.connectionLost(Failure(ConnectionDone()))


def _types(service: Any) -> list[type]:
    """
    @return: the type of each child of C{service}, in order.
    """
    return [type(child) for child in service]


# The mixins are test cases to mypy only, so that it knows their assert
# methods; at run time they are plain classes, and hold no tests.
if TYPE_CHECKING:
    _TestCase = SynchronousTestCase
else:
    _TestCase = object


class _DatagramGuardTestsMixin(_TestCase):
    """
    For the tests of a service that answers datagrams through a
    L{DatagramGuard}; mix into a L{SynchronousTestCase}.
    """

    def assertGuard(
        self,
        guard: object,
        reactor: Any,
        sourceRate: float,
        sourceBurst: float,
        globalRate: float,
        globalBurst: float,
    ) -> None:
        """
        Assert that C{guard} is a L{DatagramGuard} with these rates, clocked
        by C{reactor}.
        """
        self.assertIsInstance(guard, DatagramGuard)
        assert isinstance(guard, DatagramGuard)
        self.assertEqual(
            (guard.sourceRate, guard.sourceBurst, guard.globalRate, guard.globalBurst),
            (sourceRate, sourceBurst, globalRate, globalBurst),
        )
        self.assertIs(guard._clock, reactor)


class _RefusalTestsMixin(_TestCase):
    """
    For the tests of what a stream service tells the connections its guard
    refuses; mix into a L{SynchronousTestCase}.
    """

    def _refused(self, *args: str) -> bytes:
        """
        Start the service that C{args} describe (one stream service with
        --max-connections 1), connect twice, and leave the first
        connection open.

        @return: what the second connection was sent before it was closed.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(parse(*args, "--max-connections", "1"), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        [guard] = _listened(reactor)
        first, _ = _connect(guard)
        self.assertIsInstance(first, GuardedConnection)
        second, transport = _connect(guard, address=IPv4Address("TCP", "10.0.0.2", 1))
        self.assertNotIsInstance(second, GuardedConnection)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(guard.stats.refusals, {"max-connections": 1})
        return cast(bytes, transport.value())
