"""
The timestamp services as twistd builds them (L{netlab.tap.makeService}),
on real loopback sockets, against the classic blocking clients and netlab's
client library.

pytest-twisted tests: run them with pytest, not trial.  Everything listens
on 127.0.0.1 or ::1, port 0, and is stopped in C{finally}.

The bound port of a started service is read from private attributes of
Twisted's services (C{StreamServerEndpointService._waitingForPort},
C{UDPServer._port}): neither service has a public way to tell which port
it got.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
import pytest_twisted
from twisted.application.internet import StreamServerEndpointService, UDPServer
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.threads import deferToThread

from netlab import tap
from netlab.errors import ServerError
from netlab.timestamp import (
    Framing,
    TimeFormat,
    connectTimestamp,
    getTimestamp,
    getTimestampUDP,
)

TIMEOUT = 15.0
"""
Seconds any one step of a test (start, a request, stop) may take.
"""

CLIENT_TIMEOUT = 10.0
"""
Seconds any blocking socket operation of a test client may take.
"""


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


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _whenListening(service: StreamServerEndpointService) -> Deferred[Any]:
    """
    @return: a Deferred that fires with the service's listening port,
        leaving the service's own Deferred (which stopService uses) as it is.
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
        yield addresses
    finally:
        await service.stopService().addTimeout(TIMEOUT, reactor)


def _lines(
    address: tuple[Any, ...], steps: Sequence[tuple[bytes, int]], family: int
) -> tuple[list[list[bytes]], bytes]:
    """
    A blocking line client: for each step, send its bytes (from a second
    thread, so that replies are read while a large burst is still being
    sent) and read until its number of reply lines has come; then shut down
    the sending side and read until the server closes.

    @return: the reply lines of each step, without their line feeds, and the
        bytes read after the last step's lines.
    """
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(CLIENT_TIMEOUT)
        client.connect(address)
        buffer = b""
        replies = []
        for data, count in steps:
            failures: list[OSError] = []

            def send(data: bytes = data, failures: list[OSError] = failures) -> None:
                try:
                    client.sendall(data)
                except OSError as e:
                    failures.append(e)

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            chunks = [buffer]
            seen = buffer.count(b"\n")
            while seen < count:
                chunk = client.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                seen += chunk.count(b"\n")
            sender.join(CLIENT_TIMEOUT)
            assert not sender.is_alive(), "sending timed out"
            assert not failures, failures
            received = b"".join(chunks)
            lines = received.split(b"\n")
            buffer = b"\n".join(lines[count:])
            replies.append(lines[:count])
        client.shutdown(socket.SHUT_WR)
        while chunk := client.recv(65536):
            buffer += chunk
        return replies, buffer


def lineClient(
    address: tuple[Any, ...],
    steps: Sequence[tuple[bytes, int]],
    family: int = socket.AF_INET,
) -> Deferred[tuple[list[list[bytes]], bytes]]:
    """
    Run L{_lines} in a thread.
    """
    return deferToThread(_lines, address, steps, family).addTimeout(
        CLIENT_TIMEOUT * (len(steps) + 2), _reactor()
    )


def assertNearNow(when: datetime, slack: float = 3.0) -> None:
    """
    Assert that C{when} (naive local, or aware) is within C{slack} seconds
    of now.
    """
    now = datetime.now(when.tzinfo)
    assert abs(now - when) <= timedelta(seconds=slack), when


@pytest_twisted.ensureDeferred
async def test_classicClient(tsTclnt: Any, checkClassicReply: Any) -> None:
    """
    tsserv answers the classic blocking client's messages on one connection
    with C{[ctime] data}, and closes when the client has no more to send.
    """
    async with running("tsserv", "--listen", "tcp:0:interface=127.0.0.1") as [address]:
        assert address.host == "127.0.0.1"
        first, second, end = await tsTclnt(
            ("127.0.0.1", address.port), [b"hello", b"hello again"]
        )
    checkClassicReply(first, b"hello")
    checkClassicReply(second, b"hello again")
    assert end == b""


@pytest_twisted.ensureDeferred
async def test_twoEndpoints(tsTclnt: Any, checkClassicReply: Any) -> None:
    """
    tsserv with two --listen answers on both.
    """
    async with running(
        "tsserv",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--listen",
        "tcp:0:interface=127.0.0.1",
    ) as addresses:
        assert len({address.port for address in addresses}) == 2
        for address in addresses:
            reply, end = await tsTclnt(("127.0.0.1", address.port), [b"hi"])
            checkClassicReply(reply, b"hi")
            assert end == b""


@pytest_twisted.ensureDeferred
async def test_linePipelinedBurst(checkClassicReply: Any) -> None:
    """
    With line framing, 10,000 lines sent in one burst get exactly 10,000
    stamped reply lines, in order, none merged or split.
    """
    count = 10_000
    requests = [b"line-%05d" % i for i in range(count)]
    async with running(
        "tsserv", "--listen", "tcp:0:interface=127.0.0.1", "--framing", "line"
    ) as [address]:
        [replies], rest = await lineClient(
            ("127.0.0.1", address.port), [(b"\n".join(requests) + b"\n", count)]
        )
    assert rest == b""
    assert len(replies) == count
    for request, reply in zip(requests, replies, strict=True):
        checkClassicReply(reply, request)


@pytest_twisted.ensureDeferred
async def test_lineTooLong(checkClassicReply: Any) -> None:
    """
    With line framing, a line over --max-line-length is answered with one
    error line, the lines after it are answered, and the connection stays
    usable.
    """
    async with running(
        "tsserv",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--framing",
        "line",
        "--max-line-length",
        "16",
    ) as [address]:
        (refused, again), rest = await lineClient(
            ("127.0.0.1", address.port),
            [(b"x" * 100 + b"\nshort\n", 2), (b"again\n", 1)],
        )
    assert refused[0] == b"error: line longer than 16 bytes; it was discarded"
    checkClassicReply(refused[1], b"short")
    checkClassicReply(again[0], b"again")
    assert rest == b""


@pytest_twisted.ensureDeferred
async def test_classicUDPClient(tsUclnt: Any, checkClassicReply: Any) -> None:
    """
    tsuserv answers each datagram of the classic blocking UDP client with
    one datagram, C{[ctime] data}, from the port it was sent to.
    """
    async with running(
        "tsuserv", "--udp-port", "0", "--udp-interface", "127.0.0.1"
    ) as [address]:
        assert address.port != 0
        server = ("127.0.0.1", address.port)
        (first, fromFirst), (second, fromSecond) = await tsUclnt(
            server, [b"hello", b"hello again"]
        )
    checkClassicReply(first, b"hello")
    checkClassicReply(second, b"hello again")
    assert fromFirst == fromSecond == server


@pytest_twisted.ensureDeferred
async def test_getTimestamp() -> None:
    """
    L{getTimestamp} over a TCP endpoint gets the local ctime and the data
    back from tsserv.
    """
    reactor = _reactor()
    async with running("tsserv", "--listen", "tcp:0:interface=127.0.0.1") as [address]:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", address.port)
        reply = await getTimestamp(endpoint, b"hello", timeout=TIMEOUT, clock=reactor)
    assert reply.data == b"hello"
    assert reply.format is TimeFormat.CTIME
    assertNearNow(reply.when)


@pytest.mark.parametrize("format", [TimeFormat.ISO, TimeFormat.UNIX])
@pytest_twisted.ensureDeferred
async def test_getTimestampUTCFormats(format: TimeFormat) -> None:
    """
    tsserv with --format iso or unix and --utc stamps the current time in
    that format, in UTC.
    """
    reactor = _reactor()
    async with running(
        "tsserv",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--format",
        format.value,
        "--utc",
    ) as [address]:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", address.port)
        reply = await getTimestamp(endpoint, b"hi", timeout=TIMEOUT, clock=reactor)
    assert reply.format is format
    assert reply.when.utcoffset() == timedelta(0)
    assertNearNow(reply.when)


@pytest_twisted.ensureDeferred
async def test_connectTimestampLine() -> None:
    """
    On one line-framed connection, pipelined requests are answered in
    order, and an over-long one fails with L{ServerError} without breaking
    the requests around it.
    """
    reactor = _reactor()
    async with running(
        "tsserv",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--framing",
        "line",
        "--max-line-length",
        "16",
    ) as [address]:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", address.port)
        client = await connectTimestamp(
            endpoint, Framing.LINE, timeout=TIMEOUT, clock=reactor
        )
        try:
            first = client.request(b"one")
            tooLong = client.request(b"y" * 17)
            last = client.request(b"three")
            replies = await gatherResults([first, last])
            with pytest.raises(ServerError):
                await tooLong
        finally:
            await client.close().addTimeout(TIMEOUT, reactor)
    assert [reply.data for reply in replies] == [b"one", b"three"]


@pytest_twisted.ensureDeferred
async def test_getTimestampUDP() -> None:
    """
    L{getTimestampUDP} gets the local ctime and the data back from tsuserv.
    """
    reactor = _reactor()
    async with running(
        "tsuserv", "--udp-port", "0", "--udp-interface", "127.0.0.1"
    ) as [address]:
        reply = await getTimestampUDP(
            "127.0.0.1", address.port, b"hello", reactor=reactor
        ).addTimeout(TIMEOUT, reactor)
    assert reply.data == b"hello"
    assert reply.format is TimeFormat.CTIME
    assertNearNow(reply.when)


@needsIPv6
@pytest_twisted.ensureDeferred
async def test_ipv6(tsTclnt: Any, checkClassicReply: Any) -> None:
    """
    tsserv listening on ::1 answers the classic client over IPv6 and
    L{getTimestamp} with a TCP6 endpoint.
    """
    reactor = _reactor()
    async with running("tsserv", "--listen", r"tcp6:0:interface=\:\:1") as [address]:
        assert address.host == "::1"
        reply, end = await tsTclnt(
            ("::1", address.port), [b"hello"], family=socket.AF_INET6
        )
        endpoint = TCP6ClientEndpoint(reactor, "::1", address.port)
        parsed = await getTimestamp(endpoint, b"six", timeout=TIMEOUT, clock=reactor)
    checkClassicReply(reply, b"hello")
    assert end == b""
    assert parsed.data == b"six"
    assertNearNow(parsed.when)


@needsIPv6
@pytest_twisted.ensureDeferred
async def test_ipv6UDP(tsUclnt: Any, checkClassicReply: Any) -> None:
    """
    tsuserv bound to ::1 answers the classic UDP client over IPv6 and
    L{getTimestampUDP}.
    """
    reactor = _reactor()
    async with running("tsuserv", "--udp-port", "0", "--udp-interface", "::1") as [
        address
    ]:
        [(reply, _)] = await tsUclnt(
            ("::1", address.port), [b"hello"], family=socket.AF_INET6
        )
        parsed = await getTimestampUDP(
            "::1", address.port, b"six", reactor=reactor
        ).addTimeout(TIMEOUT, reactor)
    checkClassicReply(reply, b"hello")
    assert parsed.data == b"six"
    assertNearNow(parsed.when)
