"""
The chat service as twistd builds it (L{netlab.tap.makeService}), on real
loopback sockets: many Twisted clients at once, a blocking C{nc}-style
client, line endings and lengths, history, and a client that does not read.

pytest-twisted tests: run them with pytest, not trial.  Everything listens
on 127.0.0.1, port 0, and is stopped in C{finally} (by L{runningChat});
every wait is bounded in time.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
import pytest_twisted
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import defer
from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure

from netlab import tap
from tests.integration.test_echo_loopback import _whenListening, inThread

TIMEOUT = 15.0
"""
Seconds any one step of a test may take.
"""

FAN_OUT_TIMEOUT = 60.0
"""
Seconds the 200 clients may take, in all, to hear every line of the others.
"""

CLOSE_AFTER_READING = 3.0
"""
Seconds a connection the server has closed may stay open once the client
has read everything sent on it.
"""

CLIENT_TIMEOUT = 10.0
"""
Seconds any blocking socket operation of a test client may take.
"""

LOCAL = ("--listen", "tcp:0:interface=127.0.0.1")
"""
TCP on 127.0.0.1, a free port.
"""

WELCOME = b"NOTE Welcome"
"""
How the server's greeting starts.
"""


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


@contextlib.asynccontextmanager
async def runningChat(*options: str) -> AsyncIterator[tuple[Any, int]]:
    """
    Build C{twistd netlab chat --listen tcp:0:interface=127.0.0.1
    OPTIONS...} with L{tap.makeService} on the real reactor, start it, and
    stop it on the way out (which tells the users and closes their
    connections).

    @return: (as the context's value) the started service and the port it
        listens on.
    """
    reactor = _reactor()
    options_ = tap.Options()
    options_.parseOptions(["chat", *LOCAL, *options])
    service = tap.makeService(options_, reactor)
    service.startService()
    try:
        [listening] = [
            child for child in service if isinstance(child, StreamServerEndpointService)
        ]
        port = await _whenListening(listening)
        yield service, port.getHost().port
    finally:
        await service.stopService().addTimeout(TIMEOUT, reactor)


class ChatClient(Protocol):
    """
    A chat client that keeps the lines the server sends it (without their
    CRLF), and lets a test wait, for a bounded time, until what it has
    received satisfies a condition.

    @ivar lines: the lines received, in order.
    @ivar badEndings: lines that did not end with CRLF.
    @ivar closed: fires when the connection is closed.
    @ivar isClosed: whether it is.
    @ivar closeReason: why it closed: L{ConnectionDone} when the server
        closed it cleanly.
    """

    transport: Any  # a TCP transport: also a producer

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.badEndings: list[bytes] = []
        self.closed: Deferred[None] = Deferred()
        self.isClosed = False
        self.closeReason: Failure | None = None
        self._buffer = b""
        self._waiters: list[tuple[Callable[[], bool], str, Deferred[None]]] = []

    def dataReceived(self, data: bytes) -> None:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            else:
                self.badEndings.append(line)
            self.lineReceived(line)
        self._check()

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.isClosed = True
        self.closeReason = reason
        self._check()
        waiters, self._waiters = self._waiters, []
        for _, what, waiter in waiters:
            if not waiter.called:
                waiter.errback(
                    AssertionError(
                        f"the connection closed while waiting for {what}; "
                        f"last lines: {self.lines[-5:]!r}"
                    )
                )
        self.closed.callback(None)

    def _check(self) -> None:
        waiting = []
        for entry in self._waiters:
            predicate, _, waiter = entry
            if waiter.called:
                continue
            if predicate():
                waiter.callback(None)
            else:
                waiting.append(entry)
        self._waiters = waiting

    def send(self, *lines: bytes, ending: bytes = b"\r\n") -> None:
        """
        Send lines, each with C{ending}, in one write.
        """
        self.transport.write(b"".join(line + ending for line in lines))

    def until(
        self, predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT
    ) -> Deferred[None]:
        """
        @return: a Deferred that fires once C{predicate()} is true (checked
            after each read), or fails with an L{AssertionError} naming
            C{what} after C{timeout} seconds or if the connection closes
            first.
        """
        if predicate():
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append((predicate, what, waiter))

        def timedOut(failure: Failure) -> None:
            failure.trap(defer.TimeoutError)
            raise AssertionError(
                f"no {what} in {timeout}s; last lines: {self.lines[-5:]!r}"
            )

        return waiter.addTimeout(timeout, _reactor()).addErrback(timedOut)

    def untilLine(self, line: bytes, timeout: float = TIMEOUT) -> Deferred[None]:
        """
        @return: a Deferred that fires once C{line} has been received.
        """
        return self.until(lambda: line in self.lines, repr(line), timeout)

    def waitClosed(self, timeout: float = TIMEOUT) -> Deferred[None]:
        """
        @return: a Deferred that fires once the connection is closed, or
            fails after C{timeout} seconds.
        """
        if self.isClosed:
            return succeed(None)
        waiter: Deferred[None] = Deferred()

        def closed(result: None) -> None:
            if not waiter.called:
                waiter.callback(None)

        self.closed.addCallback(closed)
        return waiter.addTimeout(timeout, _reactor())


_Client = TypeVar("_Client", bound=ChatClient)


async def connect(port: int, client: _Client) -> _Client:
    """
    Connect C{client} to 127.0.0.1:C{port}, and wait for the server's
    greeting.
    """
    reactor = _reactor()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=int(TIMEOUT))
    await connectProtocol(endpoint, client).addTimeout(TIMEOUT, reactor)
    await client.until(
        lambda: any(line.startswith(WELCOME) for line in client.lines), "greeting"
    )
    return client


async def register(client: ChatClient, nick: str, command: bytes = b"") -> None:
    """
    Choose a nickname (with a plain line, or C{command} and the nickname),
    and wait until the client hears itself join #lobby.
    """
    client.send(command + nick.encode())
    await client.untilLine(b"JOIN #lobby " + nick.encode())


async def user(port: int, nick: str) -> ChatClient:
    """
    @return: a L{ChatClient} connected and registered as C{nick}.
    """
    client = await connect(port, ChatClient())
    await register(client, nick)
    return client


def messagesFrom(client: ChatClient, nick: bytes) -> list[bytes]:
    """
    @return: the texts of the room messages C{client} received from C{nick}.
    """
    prefix = b"MSG #lobby " + nick + b" "
    return [line[len(prefix) :] for line in client.lines if line.startswith(prefix)]


class _FanOutClient(ChatClient):
    """
    A client of the 200-client test: it registers as C{nick} and counts the
    room messages it receives, keeping each sender's sequence numbers in the
    order they arrived, rather than every line.

    @ivar bySender: sender nickname to the sequence numbers received.
    @ivar mismatched: messages whose text did not name their sender.
    """

    def __init__(self, nick: str) -> None:
        super().__init__()
        self.nick = nick
        self.messages = 0
        self.bySender: defaultdict[bytes, list[int]] = defaultdict(list)
        self.mismatched: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        if line.startswith(b"MSG #lobby "):
            _, _, sender, text = line.split(b" ", 3)
            author, sequence = text.split(b" ")
            if author != sender:
                self.mismatched.append(line)
            self.bySender[sender].append(int(sequence))
            self.messages += 1
        else:
            self.lines.append(line)


def _hasHeard(client: _FanOutClient, count: int) -> Callable[[], bool]:
    """
    @return: whether C{client} has received C{count} room messages.
    """
    return lambda: client.messages >= count


CLIENTS = 200
LINES_EACH = 20


@pytest.mark.parametrize(
    "rateOptions",
    [("--line-rate", "0"), ()],
    ids=["no-rate-limit", "default-rate-limit"],
)
@pytest_twisted.ensureDeferred
async def test_twoHundredClients(rateOptions: tuple[str, ...]) -> None:
    """
    200 clients, all registered in #lobby, each send 20 lines at once (each
    naming its sender and its sequence number): every client receives every
    other client's 20 lines, none missing, none twice, each sender's in the
    order it sent them, and none of its own; nobody is refused or
    disconnected (the per-source limit is lifted: they all come from one
    address).  Without a rate limit, and with the default one (5 lines
    a second in bursts of 20: 20 lines fit the burst, so it completes just
    as well, the slower lines waiting rather than being dropped).
    """
    reactor = _reactor()
    nicks = [f"u{i:03d}" for i in range(CLIENTS)]
    expected = (CLIENTS - 1) * LINES_EACH
    started = time.monotonic()
    # All 200 come from 127.0.0.1: more than --max-per-source allows.
    async with runningChat(*rateOptions, "--max-per-source", "0") as (_, port):
        clients = [_FanOutClient(nick) for nick in nicks]
        semaphore = DeferredSemaphore(50)

        async def join(client: _FanOutClient) -> None:
            await connect(port, client)
            await register(client, client.nick)

        await gatherResults(
            [semaphore.run(join, client) for client in clients],
            consumeErrors=True,
        ).addTimeout(FAN_OUT_TIMEOUT, reactor)
        registered = time.monotonic()

        for client in clients:
            client.send(*(f"{client.nick} {n}".encode() for n in range(LINES_EACH)))
        try:
            await gatherResults(
                [
                    client.until(
                        _hasHeard(client, expected),
                        f"{expected} messages for {client.nick}",
                        FAN_OUT_TIMEOUT,
                    )
                    for client in clients
                ],
                consumeErrors=True,
            )
        except defer.FirstError as e:
            counts = sorted(client.messages for client in clients)
            raise AssertionError(
                f"not every client heard everyone: message counts from "
                f"{counts[0]} to {counts[-1]} of {expected}; {e.subFailure.value}"
            ) from None
        delivered = time.monotonic()
        # What came before the shutdown notice that leaving this block sends.
        linesBefore = {client.nick: list(client.lines) for client in clients}

    print(
        f"\n{CLIENTS} clients x {LINES_EACH} lines {rateOptions or '(default rate)'}: "
        f"registration {registered - started:.2f}s, "
        f"fan-out of {CLIENTS * expected} lines {delivered - registered:.2f}s, "
        f"total {delivered - started:.2f}s"
    )
    for client in clients:
        others = {nick.encode() for nick in nicks if nick != client.nick}
        assert set(client.bySender) == others, client.nick
        for sender, sequence in client.bySender.items():
            assert sequence == list(range(LINES_EACH)), (client.nick, sender)
        assert client.messages == expected, client.nick
        assert client.mismatched == [], client.nick
        assert client.badEndings == [], client.nick
        unexpected = [
            line
            for line in linesBefore[client.nick]
            if not line.startswith((WELCOME, b"OK nick ", b"JOIN #lobby "))
        ]
        assert unexpected == [], (client.nick, unexpected[:5])


def _ncSession(address: tuple[str, int]) -> dict[str, list[bytes]]:
    """
    What two people with C{nc} do: connect, read the greeting, type a
    nickname, then chat; alice ends her lines with LF only (as C{nc} does),
    bob with CRLF (as C{telnet} does).

    @return: the lines each read, endings included.
    """
    with (
        socket.create_connection(address, timeout=CLIENT_TIMEOUT) as alice,
        socket.create_connection(address, timeout=CLIENT_TIMEOUT) as bob,
    ):
        aliceIn = alice.makefile("rb")
        bobIn = bob.makefile("rb")
        seen: dict[str, list[bytes]] = {"alice": [], "bob": []}

        def read(name: str, reader: Any, count: int) -> None:
            seen[name].extend(reader.readline() for _ in range(count))

        read("alice", aliceIn, 1)
        alice.sendall(b"alice\n")
        read("alice", aliceIn, 2)
        read("bob", bobIn, 1)
        bob.sendall(b"bob\r\n")
        read("bob", bobIn, 2)
        read("alice", aliceIn, 1)
        alice.sendall(b"hello bob\n")
        read("bob", bobIn, 1)
        bob.sendall(b"hi alice, with spaces  and all\r\n")
        read("alice", aliceIn, 1)
        alice.sendall(b"/who\n")
        read("alice", aliceIn, 1)
        return seen


@pytest_twisted.ensureDeferred
async def test_ncClient() -> None:
    """
    Two blocking-socket clients, as people with C{nc} or C{telnet}: each is
    greeted with a NOTE, registers by typing a nickname, and hears the
    other's lines, whether sent with LF or CRLF; every line the server sends
    ends with CRLF.
    """
    async with runningChat() as (_, port):
        seen = await inThread(_ncSession, ("127.0.0.1", port))
    alice, bob = seen["alice"], seen["bob"]
    assert alice[0].startswith(WELCOME) and alice[0].endswith(b"\r\n"), alice
    assert bob[0] == alice[0], bob
    assert alice[1:] == [
        b"OK nick alice\r\n",
        b"JOIN #lobby alice\r\n",
        b"JOIN #lobby bob\r\n",
        b"MSG #lobby bob hi alice, with spaces  and all\r\n",
        b"OK who #lobby alice bob\r\n",
    ]
    assert bob[1:] == [
        b"OK nick bob\r\n",
        b"JOIN #lobby bob\r\n",
        b"MSG #lobby alice hello bob\r\n",
    ]


@pytest_twisted.ensureDeferred
async def test_lineEndings() -> None:
    """
    LF and CRLF endings both end a line, even mixed in one write; what the
    server sends always ends with CRLF.
    """
    async with runningChat() as (_, port):
        bob = await user(port, "bob")
        alice = await connect(port, ChatClient())
        alice.transport.write(b"alice\nby LF\r\nby CRLF\r\nby LF again\n")
        await bob.untilLine(b"MSG #lobby alice by LF again")
        await alice.untilLine(b"JOIN #lobby alice")
    assert messagesFrom(bob, b"alice") == [b"by LF", b"by CRLF", b"by LF again"]
    assert alice.lines[1:3] == [b"OK nick alice", b"JOIN #lobby alice"]
    assert alice.badEndings == bob.badEndings == []


@pytest_twisted.ensureDeferred
async def test_overLongLines() -> None:
    """
    A line of 1024 bytes (the default limit) is said; one of 1025 bytes, or
    one of 5000 that arrives in pieces, is refused with one
    C{ERR * line-too-long} each, and the connection goes on working.
    """
    async with runningChat() as (_, port):
        alice = await user(port, "alice")
        bob = await user(port, "bob")

        longest = b"a" * 1024
        alice.send(longest)
        await bob.untilLine(b"MSG #lobby alice " + longest)

        alice.send(b"b" * 1025, b"after one too long")
        await bob.untilLine(b"MSG #lobby alice after one too long")

        alice.transport.write(b"c" * 2000)
        await alice.until(
            lambda: len(errors(alice)) == 2, "the ERR for a line still arriving"
        )
        alice.transport.write(b"c" * 3000 + b"\r\n")
        alice.send(b"after the pieces", b"/who")
        await alice.untilLine(b"OK who #lobby alice bob")
        await bob.untilLine(b"MSG #lobby alice after the pieces")
    assert messagesFrom(bob, b"alice") == [
        longest,
        b"after one too long",
        b"after the pieces",
    ]
    [first, second] = errors(alice)
    assert first == second
    assert first.startswith(b"ERR * line-too-long "), first
    assert b"1024" in first


def errors(client: ChatClient) -> list[bytes]:
    """
    @return: the ERR lines C{client} received.
    """
    return [line for line in client.lines if line.startswith(b"ERR ")]


@pytest.mark.parametrize(
    "options, replayed",
    [((), [b"one", b"two", b"three"]), (("--history", "2"), [b"two", b"three"])],
    ids=["default-history", "history-2"],
)
@pytest_twisted.ensureDeferred
async def test_historyReplay(options: tuple[str, ...], replayed: list[bytes]) -> None:
    """
    After 3 lines said in #lobby, a newcomer hears its nickname accepted,
    then the room's last lines (up to --history of them) as C{HIST MSG},
    oldest first, then its own JOIN, which the room hears too.
    """
    async with runningChat(*options) as (_, port):
        alice = await user(port, "alice")
        alice.send(b"one", b"two", b"three", b"/who")
        await alice.untilLine(b"OK who #lobby alice")
        bob = await connect(port, ChatClient())
        await register(bob, "bob", b"/nick ")
        await alice.untilLine(b"JOIN #lobby bob")
        heard = list(bob.lines)
    assert heard[1:] == [
        b"OK nick bob",
        *(b"HIST MSG #lobby alice " + text for text in replayed),
        b"JOIN #lobby bob",
    ]


@pytest_twisted.ensureDeferred
async def test_rateLimitSlowsNotDrops() -> None:
    """
    With --line-rate 20 and --line-burst 5, 25 lines sent at once all reach
    the room, in order, none refused, but no faster than the rate allows:
    at most 5 at once, then 20 a second, so at least a second for the last.
    """
    async with runningChat("--line-rate", "20", "--line-burst", "5") as (_, port):
        alice = await user(port, "alice")
        bob = await user(port, "bob")
        lines = [b"line %d" % n for n in range(25)]
        started = time.monotonic()
        alice.send(*lines)
        await bob.untilLine(b"MSG #lobby alice line 24")
        elapsed = time.monotonic() - started
        alice.send(b"/who")
        await alice.untilLine(b"OK who #lobby alice bob")
    assert messagesFrom(bob, b"alice") == lines
    assert errors(alice) == []
    assert elapsed >= 0.9, f"25 lines took only {elapsed:.2f}s"


class _Flooded(ChatClient):
    """
    A client that keeps only the sequence numbers of the flood's lines (the
    first word of each), so that megabytes of them are cheap to check.
    """

    def __init__(self) -> None:
        super().__init__()
        self.flood: list[int] = []

    def lineReceived(self, line: bytes) -> None:
        if line.startswith(b"MSG #lobby flooder "):
            self.flood.append(int(line.split(b" ", 4)[3]))
        else:
            self.lines.append(line)


def _hasFlood(client: _Flooded, count: int) -> Callable[[], bool]:
    """
    @return: whether C{client} has received C{count} lines of the flood.
    """
    return lambda: len(client.flood) >= count


@pytest_twisted.ensureDeferred
async def test_slowConsumerDisconnected() -> None:
    """
    A client that stops reading while another floods the room with large
    lines is disconnected once more than --backlog-hard bytes wait for it:
    the room hears it QUIT as too slow, and, once it reads again, it gets
    the lines it had been sent, in order, then C{ERR * backlog}, and its
    connection is closed, cleanly, as soon as it has read them (not by the
    abort that the server keeps, 5 seconds later, for a client that never
    reads).  The others keep receiving every line, in order, and stay
    connected.
    """
    batch, size, maximum = 20, 16000, 4000
    filler = b"x" * (size - 20)
    deadline = time.monotonic() + 60
    async with runningChat(
        "--line-rate",
        "0",
        "--backlog-hard",
        "65536",
        "--max-line-length",
        str(size + 100),
    ) as (_, port):
        reader = await connect(port, _Flooded())
        await register(reader, "reader")
        slow = await connect(port, _Flooded())
        await register(slow, "slow")
        flooder = await user(port, "flooder")
        slow.transport.pauseProducing()

        quitLine = b"QUIT slow too slow to read"
        sent = 0
        while quitLine not in reader.lines:
            assert sent < maximum, f"slow was not disconnected after {sent} lines"
            assert time.monotonic() < deadline, f"still flooding after {sent} lines"
            flooder.send(*(b"%d %s" % (sent + n, filler) for n in range(batch)))
            sent += batch
            await reader.until(_hasFlood(reader, sent), f"{sent} flood lines")
        await flooder.untilLine(quitLine)

        slow.transport.resumeProducing()
        try:
            await slow.waitClosed(CLOSE_AFTER_READING)
        except defer.TimeoutError:
            raise AssertionError(
                f"the slow client read everything (last line "
                f"{slow.lines[-1]!r}) but its connection was still open "
                f"{CLOSE_AFTER_READING}s later"
            ) from None

        flooder.send(b"%d after" % sent)
        sent += 1
        await reader.until(_hasFlood(reader, sent), "the line after")
        assert not reader.isClosed and not flooder.isClosed
        flooder.send(b"/who")
        await flooder.untilLine(b"OK who #lobby flooder reader")
    print(
        f"\nslow consumer dropped after {sent} lines of {size} bytes; "
        f"{len(slow.flood)} of them reached it"
    )
    assert reader.flood == list(range(sent))
    assert slow.flood == list(range(len(slow.flood)))
    assert len(slow.flood) < sent
    assert slow.lines[-1] == b"ERR * backlog you did not read fast enough; disconnected"
    assert slow.closeReason is not None
    assert slow.closeReason.check(ConnectionDone), slow.closeReason
    assert reader.badEndings == slow.badEndings == []
