"""
Several real C{twistd -n netlab chat --bus} nodes and a real
C{redis-server}, on loopback: one chat across processes.

pytest-twisted tests: run them with pytest, not trial.  Each test starts its
own C{redis-server} on a free port in a temporary directory and stops it by
its process; they are skipped without C{redis-server} unless C{CI} is set
(C{.ci/run} installs it), where they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.protocols.portforward import ProxyFactory, ProxyServer

from tests.integration.test_chat_loopback import ChatClient, connect, register, user
from tests.integration.test_twistd import (
    RUNNERS,
    STOP_TIMEOUT,
    _freePort,
    _Process,
    _reactor,
    _untilReady,
    acceptingTCP,
    assertOneErrorLine,
    run,
    serving,
)

REDIS = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
)

if REDIS is None and not os.environ.get("CI"):
    pytest.skip(
        "these tests need redis-server: apt-get install redis-server",
        allow_module_level=True,
    )


@contextlib.asynccontextmanager
async def redisServer(tmp_path: Path) -> AsyncIterator[int]:
    """
    Run C{redis-server} on a free loopback port, in a directory of its own,
    saving nothing; stop it by its process on the way out.

    @return: (as the context's value) its port.
    """
    assert REDIS is not None, (
        "redis-server is not installed: apt-get install redis-server"
    )
    port = _freePort()
    directory = tmp_path / f"redis-{port}"
    directory.mkdir()
    command = [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(directory)]
    process = _Process(command, b"")
    _reactor().spawnProcess(
        process, REDIS, command, env=os.environ, path=str(directory)
    )
    try:
        await _untilReady(process, acceptingTCP(port))
        yield port
    finally:
        await process.stop()


def node(port: int, bus: str, name: str, *options: str) -> list[str]:
    """
    @return: the command that runs chat node C{name} on 127.0.0.1:C{port}
        with C{--bus bus}.
    """
    return [
        *RUNNERS["twistd"],
        "netlab",
        "chat",
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
        "--bus",
        bus,
        "--node",
        name,
        *options,
    ]


@contextlib.asynccontextmanager
async def nodes(
    tmp_path: Path, bus: str, count: int, *options: str
) -> AsyncIterator[list[tuple[_Process, int]]]:
    """
    Run C{count} chat nodes, C{a}, C{b}, ..., on one bus.

    @return: (as the context's value) each node's process and port.
    """
    async with contextlib.AsyncExitStack() as stack:
        running = []
        for i in range(count):
            port = _freePort()
            name = "abcdefgh"[i]
            directory = tmp_path / name
            directory.mkdir(exist_ok=True)
            process = await stack.enter_async_context(
                serving(node(port, bus, name, *options), directory, acceptingTCP(port))
            )
            running.append((process, port))
        yield running


async def until(predicate: Any, what: str, timeout: float) -> None:
    """
    Wait, polling, for C{predicate()} to be true, for at most C{timeout}
    seconds.
    """
    reactor = _reactor()
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} in {timeout}s"
        await (
            defer.Deferred(lambda d: None)
            .addTimeout(0.05, reactor)
            .addErrback(lambda _: None)
        )


@pytest_twisted.ensureDeferred
async def test_oneChat(tmp_path: Path) -> None:
    """
    Users of two nodes are in one chat: room lines, C{/who}, C{/rooms},
    private messages and notices cross nodes, and a nickname is unique
    across them regardless of case.
    """
    async with redisServer(tmp_path) as redisPort:
        bus = f"redis://127.0.0.1:{redisPort}/0"
        async with nodes(tmp_path, bus, 2) as [(_, portA), (_, portB)]:
            alice = await user(portA, "alice")
            bob = await user(portB, "bob")
            await alice.untilLine(b"JOIN #lobby bob")
            alice.send(b"hello from a")
            await bob.untilLine(b"MSG #lobby alice hello from a")
            bob.send(b"/who")
            await bob.untilLine(b"OK who #lobby alice bob")
            bob.send(b"/rooms")
            await bob.untilLine(b"OK rooms #lobby 2")
            bob.send(b"/msg ALICE psst")
            await alice.untilLine(b"PRIV bob alice psst")
            other = await connect(portB, ChatClient())
            other.send(b"/nick ALICE")
            await other.until(
                lambda: any(
                    line.startswith(b"ERR nick nick-taken") for line in other.lines
                ),
                "nick-taken",
            )
            bob.send(b"/join #dev")
            await alice.untilLine(b"PART #lobby bob joined #dev")
            alice.send(b"/join #dev")
            await bob.untilLine(b"JOIN #dev alice")
            bob.send(b"/quit")
            await alice.untilLine(b"QUIT bob")
            await register(other, "bob")


@pytest_twisted.ensureDeferred
async def test_unixSocket(tmp_path: Path) -> None:
    """
    C{--bus unix:PATH} reaches Redis over its Unix socket.
    """
    assert REDIS is not None, (
        "redis-server is not installed: apt-get install redis-server"
    )
    directory = tmp_path / "redis-unix"
    directory.mkdir()
    path = directory / "redis.sock"
    command = [REDIS, "--port", "0", "--unixsocket", str(path), "--save", ""]
    command += ["--appendonly", "no", "--dir", str(directory)]
    process = _Process(command, b"")
    _reactor().spawnProcess(
        process, REDIS, command, env=os.environ, path=str(directory)
    )
    try:
        await until(path.exists, "Redis's socket", 30)
        async with nodes(tmp_path, f"unix:{path}", 2) as [(_, portA), (_, portB)]:
            alice = await user(portA, "alice")
            bob = await user(portB, "bob")
            await alice.untilLine(b"JOIN #lobby bob")
            bob.send(b"over a unix socket")
            await alice.untilLine(b"MSG #lobby bob over a unix socket")
    finally:
        await process.stop()


@pytest_twisted.ensureDeferred
async def test_redisUnreachable(tmp_path: Path) -> None:
    """
    A node whose Redis does not answer at startup writes one line naming
    the address and the reason, and exits with status 1.
    """
    port = _freePort()
    process = await run(node(_freePort(), f"redis://127.0.0.1:{port}/0", "a"), tmp_path)
    assert process.exitCode == 1, process.describe()
    assertOneErrorLine(
        process,
        "netlab chat: error: ",
        f"--bus redis://127.0.0.1:{port}/0: cannot reach",
    )


@pytest_twisted.ensureDeferred
async def test_nodeNameInUse(tmp_path: Path) -> None:
    """
    A node started under the name of a running one writes one line saying
    to choose another, and exits with status 1.
    """
    async with redisServer(tmp_path) as redisPort:
        bus = f"redis://127.0.0.1:{redisPort}/0"
        async with nodes(tmp_path, bus, 1):
            process = await run(node(_freePort(), bus, "a"), tmp_path)
            assert process.exitCode == 1, process.describe()
            assertOneErrorLine(process, "netlab chat: error: ", "--node a: a node")


@pytest_twisted.ensureDeferred
async def test_killedNode(tmp_path: Path) -> None:
    """
    A node killed with SIGKILL: its users quit on the other node with
    C{node lost} within C{--node-timeout}, and their nicknames are free.
    """
    async with redisServer(tmp_path) as redisPort:
        bus = f"redis://127.0.0.1:{redisPort}/0"
        timeout = 3.0
        async with nodes(tmp_path, bus, 2, "--node-timeout", str(timeout)) as [
            (a, portA),
            (_, portB),
        ]:
            alice = await user(portA, "alice")
            bob = await user(portB, "bob")
            await alice.untilLine(b"JOIN #lobby bob")
            killedAt = time.monotonic()
            a.kill("KILL")
            await bob.untilLine(b"QUIT alice node lost", timeout=timeout * 3)
            # Within the timeout, and a little for two busy processes.
            assert time.monotonic() - killedAt <= timeout + 1.5, bob.lines
            await user(portB, "alice")


@pytest_twisted.ensureDeferred
async def test_stoppedNode(tmp_path: Path) -> None:
    """
    A node stopped with SIGTERM tells its users goodbye, and the other node
    sees them quit at once, not after C{--node-timeout}.
    """
    async with redisServer(tmp_path) as redisPort:
        bus = f"redis://127.0.0.1:{redisPort}/0"
        async with nodes(tmp_path, bus, 2, "--node-timeout", "60") as [
            (a, portA),
            (_, portB),
        ]:
            alice = await user(portA, "alice")
            bob = await user(portB, "bob")
            await alice.untilLine(b"JOIN #lobby bob")
            a.kill("TERM")
            await alice.untilLine(b"NOTE the server is shutting down; goodbye")
            await bob.until(
                lambda: any(line.startswith(b"QUIT alice") for line in bob.lines),
                "QUIT alice",
                timeout=10,
            )
            assert b"QUIT alice node lost" not in bob.lines, bob.lines
            await a.whenEnded(STOP_TIMEOUT)
            assert a.exitCode == 0, a.describe()
            await user(portB, "alice")


class _CuttableProxy(ProxyFactory):
    """
    A TCP proxy to Redis whose connections the test can cut.
    """

    def __init__(self, port: int) -> None:
        super().__init__("127.0.0.1", port)
        self.open: list[ProxyServer] = []

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        self.open.append(protocol)
        return protocol

    def cut(self) -> None:
        for protocol in self.open:
            protocol.transport.abortConnection()
        self.open.clear()


@pytest_twisted.ensureDeferred
async def test_cutAndRestored(tmp_path: Path) -> None:
    """
    A node cut off from Redis keeps its users, tells them once, keeps what
    they say, and on reconnecting delivers what the other node said
    meanwhile, in order, none twice, and publishes what it kept.
    """
    reactor = _reactor()
    async with redisServer(tmp_path) as redisPort:
        proxyPort = _freePort()
        proxy = _CuttableProxy(redisPort)
        endpoint = TCP4ServerEndpoint(reactor, proxyPort, interface="127.0.0.1")
        listening = await endpoint.listen(proxy)
        try:
            direct = f"redis://127.0.0.1:{redisPort}/0"
            proxied = f"redis://127.0.0.1:{proxyPort}/0"
            async with contextlib.AsyncExitStack() as stack:
                portA, portB = _freePort(), _freePort()
                for port, bus, name in ((portA, proxied, "a"), (portB, direct, "b")):
                    (tmp_path / name).mkdir()
                    await stack.enter_async_context(
                        serving(
                            node(port, bus, name, "--node-timeout", "30"),
                            tmp_path / name,
                            acceptingTCP(port),
                        )
                    )
                alice = await user(portA, "alice")
                bob = await user(portB, "bob")
                await alice.untilLine(b"JOIN #lobby bob")
                await listening.stopListening()
                proxy.cut()
                await alice.until(
                    lambda: any(b"lost the rest of the chat" in x for x in alice.lines),
                    "NOTE of the cut",
                )
                for i in range(3):
                    bob.send(b"from b %d" % i)
                    alice.send(b"from a %d" % i)
                listening = await endpoint.listen(proxy)
                await alice.untilLine(b"MSG #lobby bob from b 2", timeout=30)
                await bob.untilLine(b"MSG #lobby alice from a 2", timeout=10)
                fromB = [x for x in alice.lines if x.startswith(b"MSG #lobby bob")]
                assert fromB == [b"MSG #lobby bob from b %d" % i for i in range(3)]
                fromA = [x for x in bob.lines if x.startswith(b"MSG #lobby alice")]
                assert fromA == [b"MSG #lobby alice from a %d" % i for i in range(3)]
                notes = [x for x in alice.lines if x.startswith(b"NOTE")]
                assert len([x for x in notes if b"lost the rest" in x]) == 1, notes
                assert notes.count(b"NOTE the rest of the chat is back") == 1, notes
        finally:
            await listening.stopListening()
            proxy.cut()


class _OrderClient(ChatClient):
    """
    A client of the ordering test: it keeps the room messages it hears, in
    order, as (sender, sequence number), and the other lines as they came.
    """

    def __init__(self, nick: str) -> None:
        super().__init__()
        self.nick = nick
        self.heard: list[tuple[bytes, int]] = []

    def lineReceived(self, line: bytes) -> None:
        if line.startswith(b"MSG #lobby "):
            _, _, sender, text = line.split(b" ", 3)
            self.heard.append((sender, int(text.split(b" ")[1])))
        else:
            self.lines.append(line)


NODES = 3
CLIENTS_PER_NODE = 100
LINES_EACH = 10


@pytest_twisted.ensureDeferred
async def test_oneOrderAcrossNodes(tmp_path: Path) -> None:
    """
    3 nodes with 100 clients each in #lobby, each client sending 10 lines
    at once: every line is delivered once to every other client, and every
    client, on every node, hears the room's lines in one order (that of a
    silent observer on each node, the same on all three, less its own
    lines), each sender's in the order it sent them.
    """
    reactor = _reactor()
    async with redisServer(tmp_path) as redisPort:
        bus = f"redis://127.0.0.1:{redisPort}/0"
        options = ("--max-per-source", "0", "--notice-limit", "10")
        async with nodes(tmp_path, bus, NODES, *options) as running:
            ports = [port for _, port in running]
            clients = [
                _OrderClient(f"u{n}x{i:03d}")
                for n in range(NODES)
                for i in range(CLIENTS_PER_NODE)
            ]
            observers = [_OrderClient(f"watch{n}") for n in range(NODES)]
            semaphore = defer.DeferredSemaphore(50)

            async def join(client: _OrderClient, port: int) -> None:
                await connect(port, client)
                client.send(client.nick.encode())
                await client.untilLine(b"OK nick " + client.nick.encode(), timeout=60)

            await defer.gatherResults(
                [
                    semaphore.run(join, client, ports[int(client.nick[1])])
                    for client in clients
                ]
                + [
                    semaphore.run(join, observer, ports[n])
                    for n, observer in enumerate(observers)
                ],
                consumeErrors=True,
            ).addTimeout(120, reactor)
            for client in clients:
                client.send(*(f"{client.nick} {k}".encode() for k in range(LINES_EACH)))
            total = len(clients) * LINES_EACH
            await defer.gatherResults(
                [
                    c.until(lambda c=c: len(c.heard) >= total - LINES_EACH, "all", 120)
                    for c in clients
                ]
                + [
                    o.until(lambda o=o: len(o.heard) >= total, "all", 120)
                    for o in observers
                ],
                consumeErrors=True,
            )
    order = observers[0].heard
    assert len(order) == total == len(set(order))
    for observer in observers[1:]:
        assert observer.heard == order, observer.nick
    for client in clients:
        mine = client.nick.encode()
        assert client.heard == [entry for entry in order if entry[0] != mine], (
            client.nick
        )
    for client in clients:
        sent = [k for sender, k in order if sender == client.nick.encode()]
        assert sent == list(range(LINES_EACH)), client.nick
