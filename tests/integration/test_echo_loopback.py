"""
The echo service as twistd builds it (L{netlab.tap.makeService}), on real
loopback sockets, against blocking socket clients and netlab's client
library.

pytest-twisted tests: run them with pytest, not trial.  Everything listens
on 127.0.0.1 or ::1, port 0, and is stopped in C{finally} (by
L{runningService}).  Blocking clients run in threads, with a timeout on
every socket operation and on the thread as a whole.

The UDP refusal tests bind a privileged source port (999, so they need
root or CAP_NET_BIND_SERVICE), 127.0.0.2 (Linux answers on all of
127.0.0.0/8) and netlab's default ports 21567 to 21569 on 127.0.0.1; each
is skipped, saying why, where that cannot be bound.
"""

from __future__ import annotations

import contextlib
import errno
import io
import random
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
from twisted.application.internet import StreamServerEndpointService, UDPServer
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IConsumer
from twisted.internet.threads import deferToThread
from twisted.web.client import FileBodyProducer
from zope.interface import implementer

from netlab import tap
from netlab._udpguard import Refusal
from netlab.echo import (
    EchoDatagramProtocol,
    connectEcho,
    echo,
    echoStream,
    echoUDP,
)

CLIENT_TIMEOUT = 10.0
"""
Seconds any blocking socket operation of a test client may take.
"""

TRANSFER_TIMEOUT = 60.0
"""
Seconds a large transfer may take in all.
"""

TIMEOUT = 15.0
"""
Seconds any other step of a test may take.
"""

QUIET = 0.5
"""
Seconds to wait for a datagram that should not come.
"""

MiB = 1024 * 1024

LOCAL = ("--listen", "tcp:0:interface=127.0.0.1")
"""
TCP on 127.0.0.1, a free port.
"""

LOCAL_UDP = ("--udp-port", "0", "--udp-interface", "127.0.0.1")
"""
UDP on 127.0.0.1, a free port.
"""


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _hasIPv6Loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needsIPv6 = pytest.mark.skipif(
    not _hasIPv6Loopback(), reason="this machine has no IPv6 loopback (::1)"
)


def _whenListening(service: StreamServerEndpointService) -> Deferred[Any]:
    """
    @return: a Deferred that fires with the service's listening port,
        leaving the service's own Deferred (which stopService uses) as it is.
        (C{_waitingForPort} is private: Twisted has no public way to tell
        which port a started endpoint service got.)
    """
    listening: Deferred[Any] = Deferred()

    def listened(port: Any) -> Any:
        listening.callback(port)
        return port

    service._waitingForPort.addCallback(listened)
    return listening.addTimeout(TIMEOUT, _reactor())


@contextlib.asynccontextmanager
async def running(*args: str) -> AsyncIterator[list[Any]]:
    """
    Build C{twistd netlab ARGS...} with L{tap.makeService} on the real
    reactor, start it, and stop it on the way out.

    @return: (as the context's value) the address each listening child
        service (TCP or UDP) is bound to, in order.
    """
    async with runningService(*args) as (_, addresses):
        yield addresses


@contextlib.asynccontextmanager
async def runningService(*args: str) -> AsyncIterator[tuple[Any, list[Any]]]:
    """
    Like L{running}, with the service too.

    @return: (as the context's value) the started service, and the address
        each of its listening children is bound to, in order.
    """
    reactor = _reactor()
    options = tap.Options()
    options.parseOptions(list(args))
    service = tap.makeService(options, reactor)
    service.startService()
    try:
        addresses = []
        for child in service:
            if isinstance(child, StreamServerEndpointService):
                port = await _whenListening(child)
            elif isinstance(child, UDPServer):
                port = child._port
            else:
                # Not a listener: the file-limit check, or a service's drain.
                continue
            addresses.append(port.getHost())
        yield service, addresses
    finally:
        await service.stopService().addTimeout(TIMEOUT, reactor)


def inThread(function: Any, *args: Any, timeout: float = TIMEOUT) -> Deferred[Any]:
    """
    Run a blocking function in a thread, bounded by C{timeout} seconds.
    """
    return deferToThread(function, *args).addTimeout(timeout, _reactor())


def _streamThrough(
    address: tuple[Any, ...], data: bytes, family: int = socket.AF_INET
) -> tuple[int, int | None]:
    """
    Send C{data} to an echo server from one thread while reading the echo
    in this one, comparing it as it arrives; then shut down the sending
    side and read until the server closes.

    @return: how many bytes came back, and the offset of the first that
        differed from what was sent (L{None} if none did).
    """
    view = memoryview(data)
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(CLIENT_TIMEOUT)
        client.connect(address)
        failures: list[OSError] = []

        def send() -> None:
            try:
                for start in range(0, len(view), MiB):
                    client.sendall(view[start : start + MiB])
                client.shutdown(socket.SHUT_WR)
            except OSError as e:
                failures.append(e)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        received = 0
        firstDifference = None
        buffer = bytearray(MiB)
        got = memoryview(buffer)
        while count := client.recv_into(buffer):
            expected = view[received : received + count]
            if firstDifference is None and expected != got[:count]:
                differing = (
                    i
                    for i, (a, b) in enumerate(zip(expected, got[:count], strict=True))
                    if a != b
                )
                firstDifference = received + next(differing, len(expected))
            received += count
        sender.join(CLIENT_TIMEOUT)
        assert not sender.is_alive(), "sending did not finish"
        assert not failures, failures
        return received, firstDifference


def _halfClose(
    address: tuple[Any, ...], data: bytes, family: int = socket.AF_INET
) -> bytes:
    """
    Send all of C{data} without reading, shut down the sending side, then
    read until the server closes.

    @return: everything read.
    """
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(CLIENT_TIMEOUT)
        client.connect(address)
        client.sendall(data)
        client.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _datagrams(
    address: tuple[Any, ...], messages: list[bytes], family: int = socket.AF_INET
) -> list[tuple[bytes, tuple[Any, ...]]]:
    """
    For each message, C{sendto} the server and C{recvfrom} the reply.

    @return: each reply with the address it came from.
    """
    with socket.socket(family, socket.SOCK_DGRAM) as client:
        client.settimeout(CLIENT_TIMEOUT)
        replies = []
        for message in messages:
            client.sendto(message, address)
            replies.append(client.recvfrom(65536))
        return replies


def _bindUDP(host: str, port: int) -> socket.socket:
    """
    @return: a UDP socket bound to C{(host, port)}.
    @raise pytest.skip.Exception: if that address cannot be bound here.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        reason = errno.errorcode.get(e.errno or 0, str(e))
        pytest.skip(f"cannot bind a UDP socket to {host}:{port} here ({reason})")
    return sock


def _refusedThenAnswered(
    server: tuple[str, int], refusedFrom: socket.socket, answeredFrom: tuple[str, int]
) -> tuple[bytes | None, bytes]:
    """
    Send one datagram from C{refusedFrom}, then one from a socket bound to
    C{answeredFrom}; wait for the second one's echo, then up to L{QUIET}
    seconds for an echo of the first.  The server reads datagrams in
    order, so once the second is answered, the first has been handled.

    @return: what C{refusedFrom} received (L{None} if nothing), and the
        echo of the second datagram.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(answeredFrom)
        other.settimeout(CLIENT_TIMEOUT)
        refusedFrom.sendto(b"loop?", server)
        other.sendto(b"answer me", server)
        answer, fromAddress = other.recvfrom(65536)
        assert fromAddress == server
        refusedFrom.settimeout(QUIET)
        try:
            return refusedFrom.recv(65536), answer
        except TimeoutError:
            return None, answer


def _guard(service: Any) -> Any:
    """
    @return: the L{DatagramGuard} of the UDP child of a running echo
        service (its protocol is the second argument of C{UDPServer}).
    """
    [protocol] = [child.args[1] for child in service if isinstance(child, UDPServer)]
    assert isinstance(protocol, EchoDatagramProtocol)
    return protocol.guard


def _stall(address: tuple[Any, ...], client: socket.socket) -> int:
    """
    Connect C{client} and send to it without reading until a send has made
    no progress for a second: the server has stopped reading.

    @return: how many bytes were sent.
    """
    client.settimeout(CLIENT_TIMEOUT)
    client.connect(address)
    client.settimeout(1.0)
    chunk = b"x" * 65536
    pushed = 0
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            pushed += client.send(chunk)
        except TimeoutError:
            return pushed
    raise AssertionError(f"the server kept reading: {pushed} bytes taken")


@pytest_twisted.ensureDeferred
async def test_hundredMiBByteExact() -> None:
    """
    100 MiB of (seeded pseudo-)random bytes sent through the TCP echo, and
    read while they are being sent, come back exactly: the same bytes, in
    the same order, and the server closes once the client has shut down
    its sending side.
    """
    size = 100 * MiB
    data = random.Random(862).randbytes(size)
    async with running("echo", *LOCAL, "--no-udp") as [address]:
        received, firstDifference = await inThread(
            _streamThrough,
            ("127.0.0.1", address.port),
            data,
            timeout=TRANSFER_TIMEOUT,
        )
    assert firstDifference is None, f"the echo differs from byte {firstDifference}"
    assert received == size


@implementer(IConsumer)
class _Collect:
    """
    A consumer that keeps what is written to it.
    """

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.producer: Any = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.chunks.append(data)


@pytest_twisted.ensureDeferred
async def test_echoStream() -> None:
    """
    L{echoStream} streams 16 MiB through the server with flow control and
    fires with the byte count once the echo, checked, is complete; the sink
    got exactly what was sent.
    """
    reactor = _reactor()
    data = random.Random(7).randbytes(16 * MiB)
    sink = _Collect()
    async with running("echo", *LOCAL, "--no-udp") as [address]:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", address.port)
        count = await echoStream(
            endpoint,
            FileBodyProducer(io.BytesIO(data)),
            sink,
            timeout=TIMEOUT,
            clock=reactor,
        ).addTimeout(TRANSFER_TIMEOUT, reactor)
    assert count == len(data)
    assert b"".join(sink.chunks) == data


@pytest.mark.parametrize("size", [5, 4 * MiB])
@pytest_twisted.ensureDeferred
async def test_halfClose(size: int) -> None:
    """
    A client that sends its data and then shuts down its sending side, having
    read nothing, gets all of it echoed before the server closes.
    """
    data = random.Random(size).randbytes(size)
    async with running("echo", *LOCAL, "--no-udp") as [address]:
        echoed = await inThread(_halfClose, ("127.0.0.1", address.port), data)
    assert len(echoed) == len(data)
    assert echoed == data


@pytest_twisted.ensureDeferred
async def test_stalledPeerDoesNotBlockOthers() -> None:
    """
    While one client has pushed data until the server stopped reading from
    it, and reads nothing, another client on the same server gets its echo.
    """
    reactor = _reactor()
    async with running("echo", *LOCAL, "--no-udp") as [address]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as stalled:
            pushed = await inThread(_stall, ("127.0.0.1", address.port), stalled)
            assert pushed > 0
            endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", address.port)
            reply = await echo(
                endpoint, b"still there?", timeout=TIMEOUT, clock=reactor
            )
    assert reply == b"still there?"


@pytest_twisted.ensureDeferred
async def test_connectEchoPipelined() -> None:
    """
    On one connection, requests sent before their echoes arrive are each
    answered with their own bytes, in order.
    """
    reactor = _reactor()
    messages = [b"one", b"two" * 1000, bytes(range(256)), b"\r\n\x00"]
    async with running("echo", *LOCAL, "--no-udp") as [address]:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", address.port)
        client = await connectEcho(endpoint, timeout=TIMEOUT, clock=reactor)
        try:
            requests = [client.request(message) for message in messages]
            replies = [await request for request in requests]
        finally:
            await client.close()
    assert replies == messages


@pytest_twisted.ensureDeferred
async def test_udpBlockingClient() -> None:
    """
    Each datagram, empty, short, binary or near the largest UDP allows over
    IPv4, comes back unchanged to its sender, from the port it was sent to.
    """
    messages = [
        b"hello",
        b"",
        bytes(range(256)),
        random.Random(1).randbytes(65507),
    ]
    async with running("echo", *LOCAL_UDP, "--no-tcp") as [address]:
        server = ("127.0.0.1", address.port)
        replies = await inThread(_datagrams, server, messages)
    assert [reply for reply, _ in replies] == messages
    assert {fromAddress for _, fromAddress in replies} == {server}


@pytest_twisted.ensureDeferred
async def test_echoUDP() -> None:
    """
    L{echoUDP} gets its datagram back from the UDP echo service.
    """
    reactor = _reactor()
    async with running("echo", *LOCAL_UDP, "--no-tcp") as [address]:
        reply = await echoUDP(
            "127.0.0.1", address.port, b"ping", reactor=reactor, tries=3, interval=1.0
        )
    assert reply == b"ping"


@pytest_twisted.ensureDeferred
async def test_udpRefusesPrivilegedSourcePort() -> None:
    """
    A datagram from a source port below 1024 (here 999) is not answered,
    while one from an ordinary port, sent right after it from the same
    address, is; the guard counts the refusal as a privileged port.
    """
    with _bindUDP("127.0.0.1", 999) as privileged:
        async with runningService("echo", *LOCAL_UDP, "--no-tcp") as (
            service,
            [address],
        ):
            server = ("127.0.0.1", address.port)
            refused, answer = await inThread(
                _refusedThenAnswered, server, privileged, ("127.0.0.1", 0)
            )
            guard = _guard(service)
    assert refused is None, f"a privileged source port was answered: {refused!r}"
    assert answer == b"answer me"
    assert guard.refused[Refusal.PRIVILEGED_PORT] == 1
    assert sum(guard.refused.values()) == 1, guard.refused


@pytest_twisted.ensureDeferred
async def test_udpRefusesOwnPort() -> None:
    """
    A datagram whose source port is the service's own port (sent from
    127.0.0.2, so that the port can be bound) is not answered, while one
    from an ordinary port of the same address is; the guard counts the
    refusal as its own port.
    """
    async with runningService("echo", *LOCAL_UDP, "--no-tcp") as (
        service,
        [address],
    ):
        guard = _guard(service)
        assert guard.ownPort == address.port
        server = ("127.0.0.1", address.port)
        with _bindUDP("127.0.0.2", address.port) as own:
            refused, answer = await inThread(
                _refusedThenAnswered, server, own, ("127.0.0.2", 0)
            )
    assert refused is None, f"the service's own port was answered: {refused!r}"
    assert answer == b"answer me"
    assert guard.refused[Refusal.OWN_PORT] == 1
    assert sum(guard.refused.values()) == 1, guard.refused


@pytest.mark.parametrize("sourcePort", [21567, 21568, 21569])
@pytest_twisted.ensureDeferred
async def test_udpRefusesServicePort(sourcePort: int) -> None:
    """
    A datagram from the default port of a netlab service (another netlab
    server that would answer back) is not answered, while one from an
    ordinary port of the same address is; the guard counts the refusal as
    a service port.
    """
    with _bindUDP("127.0.0.1", sourcePort) as servicePort:
        async with runningService("echo", *LOCAL_UDP, "--no-tcp") as (
            service,
            [address],
        ):
            server = ("127.0.0.1", address.port)
            refused, answer = await inThread(
                _refusedThenAnswered, server, servicePort, ("127.0.0.1", 0)
            )
            guard = _guard(service)
    assert refused is None, f"port {sourcePort} was answered: {refused!r}"
    assert answer == b"answer me"
    assert guard.refused[Refusal.SERVICE_PORT] == 1
    assert sum(guard.refused.values()) == 1, guard.refused


def _burst(server: tuple[str, int], count: int) -> list[bytes]:
    """
    Send C{count} datagrams at once, then collect echoes until none has
    come for L{QUIET} seconds.

    @return: the echoes received.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        for i in range(count):
            client.sendto(b"%d" % i, server)
        client.settimeout(QUIET)
        echoes = []
        with contextlib.suppress(TimeoutError):
            while True:
                echoes.append(client.recv(65536))
        return echoes


@pytest.mark.parametrize(
    "options, reason",
    [
        (["--udp-rate", "0.01", "--udp-burst", "3"], Refusal.SOURCE_RATE),
        (
            ["--udp-rate", "0", "--udp-global-rate", "0.01", "--udp-global-burst", "3"],
            Refusal.GLOBAL_RATE,
        ),
    ],
)
@pytest_twisted.ensureDeferred
async def test_udpRates(options: list[str], reason: Refusal) -> None:
    """
    With a burst of 3 and a rate far below what arrives, per source
    (--udp-rate, --udp-burst) or in all (--udp-global-rate,
    --udp-global-burst), 8 datagrams sent at once get 3 echoes, the first
    3, and the other 5 are counted as refused for that reason.
    """
    async with runningService("echo", *LOCAL_UDP, "--no-tcp", *options) as (
        service,
        [address],
    ):
        echoes = await inThread(_burst, ("127.0.0.1", address.port), 8)
        guard = _guard(service)
    assert echoes == [b"0", b"1", b"2"]
    assert guard.refused[reason] == 5, guard.refused
    assert sum(guard.refused.values()) == 5, guard.refused


@pytest_twisted.ensureDeferred
async def test_tcpAndUDPTogether() -> None:
    """
    By default the echo service serves both TCP and UDP: the TCP child
    echoes a stream and the UDP child a datagram.
    """
    reactor = _reactor()
    async with running("echo", *LOCAL, *LOCAL_UDP) as [tcp, udp]:
        assert tcp.type == "TCP"
        assert udp.type == "UDP"
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcp.port)
        streamed = await echo(endpoint, b"by TCP", timeout=TIMEOUT, clock=reactor)
        [(datagram, _)] = await inThread(
            _datagrams, ("127.0.0.1", udp.port), [b"by UDP"]
        )
    assert streamed == b"by TCP"
    assert datagram == b"by UDP"


@pytest_twisted.ensureDeferred
async def test_twoEndpoints() -> None:
    """
    With two --listen, the echo service answers on both.
    """
    reactor = _reactor()
    async with running("echo", *LOCAL, *LOCAL, "--no-udp") as addresses:
        assert len({address.port for address in addresses}) == 2
        for address in addresses:
            endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", address.port)
            reply = await echo(endpoint, b"hi", timeout=TIMEOUT, clock=reactor)
            assert reply == b"hi"


@pytest_twisted.ensureDeferred
async def test_noUDP() -> None:
    """
    With --no-udp, only the TCP endpoint is served.
    """
    async with running("echo", *LOCAL, *LOCAL_UDP, "--no-udp") as addresses:
        assert [address.type for address in addresses] == ["TCP"]
        echoed = await inThread(_halfClose, ("127.0.0.1", addresses[0].port), b"tcp")
    assert echoed == b"tcp"


@pytest_twisted.ensureDeferred
async def test_noTCP() -> None:
    """
    With --no-tcp, only UDP is served, even when --listen is given.
    """
    async with running("echo", *LOCAL, *LOCAL_UDP, "--no-tcp") as addresses:
        assert [address.type for address in addresses] == ["UDP"]
        [(reply, _)] = await inThread(
            _datagrams, ("127.0.0.1", addresses[0].port), [b"udp"]
        )
    assert reply == b"udp"


@needsIPv6
@pytest_twisted.ensureDeferred
async def test_ipv6() -> None:
    """
    On ::1 the echo service echoes a TCP stream (with half-close) and a
    datagram, and L{echo} and L{echoUDP} reach it.
    """
    reactor = _reactor()
    async with running(
        "echo",
        "--listen",
        r"tcp6:port=0:interface=\:\:1",
        "--udp-port",
        "0",
        "--udp-interface",
        "::1",
    ) as [tcp, udp]:
        assert tcp.host == udp.host == "::1"
        data = random.Random(6).randbytes(256 * 1024)
        echoed = await inThread(_halfClose, ("::1", tcp.port), data, socket.AF_INET6)
        endpoint = TCP6ClientEndpoint(reactor, "::1", tcp.port)
        reply = await echo(endpoint, b"over six", timeout=TIMEOUT, clock=reactor)
        [(datagram, fromAddress)] = await inThread(
            _datagrams, ("::1", udp.port), [b"datagram six"], socket.AF_INET6
        )
        viaClient = await echoUDP(
            "::1", udp.port, b"client six", reactor=reactor, tries=3, interval=1.0
        )
    assert echoed == data
    assert reply == b"over six"
    assert datagram == b"datagram six"
    assert fromAddress[:2] == ("::1", udp.port)
    assert viaClient == b"client six"
