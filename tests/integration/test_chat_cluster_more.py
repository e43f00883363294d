"""
More real C{twistd -n netlab chat --bus} nodes on a real C{redis-server}:
Redis over TLS (C{rediss://}) and with a password, and IRC users in the
same chat as line users of another node.

pytest-twisted tests: run them with pytest, not trial.  Like those of
L{tests.integration.test_chat_cluster}, they are skipped without
C{redis-server} unless C{CI} is set, where they fail instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest_twisted
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

from tests._certificates import selfSigned
from tests.integration.test_chat_cluster import REDIS, node, redisServer
from tests.integration.test_chat_loopback import TIMEOUT, ChatClient, user
from tests.integration.test_twistd import (
    _freePort,
    _Process,
    _reactor,
    _untilReady,
    acceptingTCP,
    assertOneErrorLine,
    run,
    serving,
)

PASSWORD = "s3cret-word"


@contextlib.asynccontextmanager
async def secureRedis(tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    """
    Run C{redis-server} on a free loopback port that speaks only TLS, with
    a certificate of its own for C{localhost}, and with the password
    L{PASSWORD}; stop it by its process on the way out.

    @return: (as the context's value) its port, and the certificate, which
        a client trusts as its certificate authority.
    """
    assert REDIS is not None, (
        "redis-server is not installed: apt-get install redis-server"
    )
    port = _freePort()
    directory = tmp_path / f"redis-{port}"
    directory.mkdir()
    files = selfSigned(directory, stem="redis")
    command = [REDIS, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"]
    command += ["--tls-cert-file", str(files.certificate)]
    command += ["--tls-key-file", str(files.key), "--tls-auth-clients", "no"]
    command += ["--requirepass", PASSWORD, "--save", "", "--appendonly", "no"]
    command += ["--dir", str(directory)]
    process = _Process(command, b"")
    _reactor().spawnProcess(
        process, REDIS, command, env=os.environ, path=str(directory)
    )
    try:
        await _untilReady(process, acceptingTCP(port))
        yield port, files.certificate
    finally:
        await process.stop()


@contextlib.asynccontextmanager
async def twoNodes(
    tmp_path: Path,
    bus: str,
    environment: Mapping[str, str] | None = None,
    optionsOfA: tuple[str, ...] = (),
) -> AsyncIterator[tuple[_Process, int, _Process, int]]:
    """
    Run chat nodes C{a} (with C{optionsOfA}) and C{b} on one bus, with
    C{environment}.

    @return: (as the context's value) each node's process and port.
    """
    async with contextlib.AsyncExitStack() as stack:
        running: list[_Process | int] = []
        for name, options in (("a", optionsOfA), ("b", ())):
            port = _freePort()
            directory = tmp_path / name
            directory.mkdir()
            process = await stack.enter_async_context(
                serving(
                    node(port, bus, name, *options),
                    directory,
                    acceptingTCP(port),
                    environment,
                )
            )
            running += [process, port]
        yield tuple(running)  # type: ignore[misc]


@pytest_twisted.ensureDeferred
async def test_tlsWithPassword(tmp_path: Path) -> None:
    """
    C{--bus rediss://:password@host:port/db}: the nodes reach Redis over
    TLS, verifying its certificate against the authorities the process
    trusts (here the test's own, given with C{SSL_CERT_FILE}), and log in
    with the password; their users are in one chat.  The password is in no
    log line.
    """
    async with secureRedis(tmp_path) as (redisPort, authority):
        bus = f"rediss://:{PASSWORD}@localhost:{redisPort}/0"
        trust = {"SSL_CERT_FILE": str(authority)}
        async with twoNodes(tmp_path, bus, trust) as (a, portA, b, portB):
            alice = await user(portA, "alice")
            bob = await user(portB, "bob")
            await alice.untilLine(b"JOIN #lobby bob")
            alice.send(b"over TLS")
            await bob.untilLine(b"MSG #lobby alice over TLS")
            bob.send(b"/msg alice and back")
            await alice.untilLine(b"PRIV bob alice and back")
    for name, process in (("a", a), ("b", b)):
        log = process.out + process.err
        assert f"node {name} connected to rediss://:***@localhost" in log, log
        assert PASSWORD not in log, log


@pytest_twisted.ensureDeferred
async def test_untrustedCertificate(tmp_path: Path) -> None:
    """
    A node that does not trust Redis's certificate does not talk to it: one
    line naming the address (without the password) and the failed
    verification, and exit status 1.
    """
    other = selfSigned(tmp_path, stem="other")
    async with secureRedis(tmp_path) as (redisPort, _):
        bus = f"rediss://:{PASSWORD}@localhost:{redisPort}/0"
        process = await run(
            node(_freePort(), bus, "a"),
            tmp_path,
            environment={"SSL_CERT_FILE": str(other.certificate)},
        )
    assert process.exitCode == 1, process.describe()
    assertOneErrorLine(
        process,
        "netlab chat: error: ",
        f"--bus rediss://:***@localhost:{redisPort}/0: cannot reach Redis "
        "([SSL: CERTIFICATE_VERIFY_FAILED]",
    )
    assert PASSWORD not in process.out + process.err, process.describe()


@pytest_twisted.ensureDeferred
async def test_wrongPassword(tmp_path: Path) -> None:
    """
    A wrong password, or none where Redis needs one: one line saying that
    Redis refused the node, without the password, and exit status 1.
    """
    async with secureRedis(tmp_path) as (redisPort, authority):
        trust = {"SSL_CERT_FILE": str(authority)}
        for secret, shown, reason in [
            (":wrong-word@", ":***@", "WRONGPASS"),
            ("", "", "NOAUTH"),
        ]:
            bus = f"rediss://{secret}localhost:{redisPort}/0"
            process = await run(
                node(_freePort(), bus, "a"), tmp_path, environment=trust
            )
            assert process.exitCode == 1, process.describe()
            assertOneErrorLine(
                process,
                "netlab chat: error: ",
                f"--bus rediss://{shown}localhost:{redisPort}/0: Redis refused "
                f"us ({reason}",
            )
            output = process.out + process.err
            assert "wrong-word" not in output, process.describe()


class _IRCClient(ChatClient):
    """
    A raw IRC client: it keeps the lines, as L{ChatClient} does.
    """


async def ircUser(port: int, nick: str) -> _IRCClient:
    """
    @return: an IRC client connected to 127.0.0.1:C{port}, registered as
        C{nick} and in C{#lobby}.
    """
    reactor = _reactor()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=int(TIMEOUT))
    client = _IRCClient()
    await connectProtocol(endpoint, client).addTimeout(TIMEOUT, reactor)
    name = nick.encode()
    client.send(b"NICK " + name, b"USER " + name + b" 0 * :" + name)
    await client.until(
        lambda: any(b" 001 " + name + b" " in line for line in client.lines),
        "the IRC welcome",
    )
    client.send(b"JOIN #lobby")
    await client.until(
        lambda: any(b" 366 " + name + b" #lobby " in line for line in client.lines),
        "the end of #lobby's names",
    )
    return client


@pytest_twisted.ensureDeferred
async def test_ircAndLineUsersOnTwoNodes(tmp_path: Path) -> None:
    """
    An IRC user of one node and a line user of another are in one chat:
    each sees the other join, hears the other's lines in #lobby, and gets
    the other's private messages.
    """
    async with redisServer(tmp_path) as redisPort:
        bus = f"redis://127.0.0.1:{redisPort}/0"
        ircPort = _freePort()
        irc = ("--irc", f"tcp:{ircPort}:interface=127.0.0.1")
        async with twoNodes(tmp_path, bus, optionsOfA=irc) as (_, _, _, portB):
            bob = await user(portB, "bob")
            carol = await ircUser(ircPort, "carol")
            await bob.untilLine(b"JOIN #lobby carol")
            # Bob's JOIN came before Carol's from the bus, so her node has
            # it too: he is in the room's names.
            carol.send(b"NAMES #lobby")
            await carol.until(
                lambda: any(
                    line.startswith(b":netlab 353 carol = #lobby :")
                    and sorted(line.split(b":")[2].split()) == [b"bob", b"carol"]
                    for line in carol.lines
                ),
                "bob and carol in #lobby's names",
            )
            carol.send(b"PRIVMSG #lobby :hello from IRC")
            await bob.untilLine(b"MSG #lobby carol hello from IRC")
            bob.send(b"hello from a line client")
            await carol.until(
                lambda: any(
                    line.startswith(b":bob!")
                    and line.endswith(b" PRIVMSG #lobby :hello from a line client")
                    for line in carol.lines
                ),
                "bob's line",
            )
            bob.send(b"/msg carol psst")
            await carol.until(
                lambda: any(
                    line.startswith(b":bob!") and line.endswith(b" PRIVMSG carol :psst")
                    for line in carol.lines
                ),
                "bob's private message",
            )
            carol.send(b"PRIVMSG bob :right back")
            await bob.untilLine(b"PRIV carol bob right back")
