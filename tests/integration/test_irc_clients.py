"""
Chat over IRC against IRC clients no one here wrote: C{ii} and
C{weechat-headless} (from Debian; C{.ci/run} installs them) and the Python
C{irc} library, each talking through C{twistd -n netlab chat --irc} with a
line-protocol user on netlab's own client (L{netlab.chat.connectChat}).

pytest-twisted tests: run them with pytest, not trial.  The server and the
clients are started by the test, on free ports of 127.0.0.1, in a
temporary directory, and stopped by their PIDs; every wait is bounded.
Where a program is missing, a test fails under CI (the C{CI} environment
variable set) and is skipped elsewhere, saying what to install.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import attrs
import pytest_twisted
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import deferLater

from netlab.chat import (
    ChatSession,
    Joined,
    PrivateMessage,
    RoomMessage,
    SessionEvent,
    connectChat,
)

from .test_chat_loopback import ChatClient
from .test_echo_loopback import inThread
from .test_inettime import _spawnProgram
from .test_operations import _netlab, _scrape, _value
from .test_twistd import (
    RUNNERS,
    STOP_TIMEOUT,
    _freePort,
    _Process,
    _reactor,
    acceptingTCP,
    both,
    serving,
)

INSTALL = "apt-get install ii weechat-headless"
"""
What provides the IRC clients these tests run, on Debian.
"""

TIMEOUT = 15.0
"""
Seconds any one thing these tests wait for may take.
"""


@attrs.frozen
class _Ports:
    line: int
    irc: int


@contextlib.asynccontextmanager
async def chatServing(
    tmp_path: Path, *options: str, server: list[_Process] | None = None
) -> AsyncIterator[_Ports]:
    """
    Run C{twistd -n netlab chat} with the line protocol and IRC on free
    ports of 127.0.0.1 while the context lasts; it must end cleanly.

    @param server: if given, the server's process is appended to it.
    """
    ports = _Ports(_freePort(), _freePort())
    command = [
        *RUNNERS["twistd"],
        "netlab",
        "chat",
        "--listen",
        f"tcp:{ports.line}:interface=127.0.0.1",
        "--irc",
        f"tcp:{ports.irc}:interface=127.0.0.1",
        *options,
    ]
    ready = both(acceptingTCP(ports.line), acceptingTCP(ports.irc))
    async with serving(command, tmp_path, ready) as process:
        if server is not None:
            server.append(process)
        yield ports
    assert process.exitCode == 0, process.describe()
    assert "Traceback" not in process.out + process.err, process.describe()


async def eventually(check: Callable[[], object], what: str) -> None:
    """
    Wait until C{check()} is true, for at most L{TIMEOUT} seconds.
    """
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await deferLater(_reactor(), 0.05, lambda: None)


class _Listener:
    """
    What a netlab chat session hears.
    """

    def __init__(self, session: ChatSession) -> None:
        self.events: list[SessionEvent] = []
        session.addListener(self.events.append)


async def lineUser(port: int, nick: str) -> tuple[ChatSession, _Listener]:
    """
    @return: a session of netlab's own chat client, registered as C{nick},
        and what it hears.
    """
    endpoint = TCP4ClientEndpoint(_reactor(), "127.0.0.1", port, timeout=10)
    session = await connectChat(endpoint, nick, timeout=TIMEOUT, clock=_reactor())
    return session, _Listener(session)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _writeFIFO(path: Path, line: str) -> bool:
    """
    Write one line to a client's FIFO, if it is there and being read.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENXIO):
            return False
        raise
    try:
        os.write(fd, line.encode("utf-8") + b"\n")
    finally:
        os.close(fd)
    return True


async def tell(path: Path, line: str) -> None:
    """
    Write a line to a client's FIFO, waiting for the FIFO to be there.
    """
    await eventually(lambda: _writeFIFO(path, line), f"{path} to be open")


async def _stopped(process: _Process) -> None:
    if not process.ended:
        process.kill("TERM")
        try:
            await process.whenEnded(STOP_TIMEOUT)
        except Exception:
            process.kill("KILL")
            await process.whenEnded(STOP_TIMEOUT)


@pytest_twisted.ensureDeferred
async def test_ii(tmp_path: Path) -> None:
    """
    C{ii} (FIFO in, files out) registers, joins C{#lobby}, and talks with a
    line-protocol user both ways; it receives the line user's private
    message, and its own reaches the line user.
    """
    async with chatServing(tmp_path) as ports:
        bob, heard = await lineUser(ports.line, "bob")
        bob.say("before ii came")
        files = tmp_path / "ii"
        ii = _spawnProgram(
            [
                "ii",
                "-s",
                "127.0.0.1",
                "-p",
                str(ports.irc),
                "-n",
                "iiuser",
                "-i",
                str(files),
            ],
            tmp_path,
            install=INSTALL,
        )
        try:
            server = files / "127.0.0.1"
            await eventually(
                lambda: "Welcome to the netlab IRC network" in _read(server / "out"),
                "ii to register",
            )
            await tell(server / "in", "/j #lobby")
            await eventually(
                lambda: Joined("#lobby", "iiuser") in heard.events, "ii to join"
            )
            lobby = server / "#lobby"
            await tell(lobby / "in", "hello from ii, café")
            await eventually(
                lambda: (
                    RoomMessage("#lobby", "iiuser", "hello from ii, café")
                    in heard.events
                ),
                "bob to hear ii",
            )
            bob.say("hi ii")
            await eventually(
                lambda: "<bob> hi ii" in _read(lobby / "out"), "ii to hear bob"
            )
            await bob.tell("iiuser", "a secret")
            await eventually(
                lambda: "<bob> a secret" in _read(server / "bob" / "out"),
                "ii to get bob's private message",
            )
            await tell(server / "in", "/j bob psst")
            await eventually(
                lambda: PrivateMessage("iiuser", "bob", "psst") in heard.events,
                "bob to get ii's private message",
            )
            # ii joined after the line; it heard it as history.
            assert "<bob> before ii came" in _read(lobby / "out")
        finally:
            await _stopped(ii)
            await bob.close()


@pytest_twisted.ensureDeferred
async def test_weechat(tmp_path: Path) -> None:
    """
    C{weechat-headless} registers asking for capabilities (none are
    granted), autojoins C{#lobby}, and exchanges messages with a
    line-protocol user, both ways.
    """
    async with chatServing(tmp_path) as ports:
        bob, heard = await lineUser(ports.line, "bob")
        home = tmp_path / "weechat"
        home.mkdir()
        commands = ";".join(
            [
                "/set logger.file.flush_delay 0",
                '/set fifo.file.path "${weechat_data_dir}/fifo"',
                "/fifo enable",
                f"/server add nl 127.0.0.1/{ports.irc} -notls -nicks=wee "
                "-username=wee -realname=Wee -autojoin=#lobby",
                '/set irc.server.nl.capabilities "server-time,multi-prefix,sasl"',
                "/connect nl",
            ]
        )
        weechat = _spawnProgram(
            ["weechat-headless", "--dir", str(home), "--stdout", "-r", commands],
            tmp_path,
            install=INSTALL,
        )
        try:
            await eventually(
                lambda: Joined("#lobby", "wee") in heard.events, "weechat to autojoin"
            )
            bob.say("hello weechat")
            log = home / "logs" / "irc.nl.#lobby.weechatlog"
            await eventually(
                lambda: "bob\thello weechat" in _read(log), "weechat to hear bob"
            )
            await tell(home / "fifo", "irc.nl.#lobby *hello from weechat")
            await eventually(
                lambda: (
                    RoomMessage("#lobby", "wee", "hello from weechat") in heard.events
                ),
                "bob to hear weechat",
            )
            await tell(home / "fifo", "irc.nl.#lobby */me waves")
            await eventually(
                lambda: any(
                    getattr(event, "text", None) == "waves"
                    and type(event).__name__ == "Action"
                    for event in heard.events
                ),
                "bob to see weechat's action",
            )
        finally:
            await _stopped(weechat)
            await bob.close()


def _ircLibrarySession(port: int) -> dict[str, list[list[str]]]:
    """
    With the Python C{irc} library, in a thread: register while a
    line-protocol user holds the first nickname tried, join, and ask
    C{NAMES}, C{WHO} and C{WHOIS}.

    @return: the arguments of each kind of event the library reported.
    """
    import irc.client

    seen: dict[str, list[list[str]]] = {}
    reactor = irc.client.Reactor()

    def record(connection: object, event: irc.client.Event) -> None:
        seen.setdefault(event.type, []).append([str(a) for a in event.arguments])
        if event.type == "nicknameinuse":
            reactor.connections[0].nick("pyirc2")
        elif event.type == "welcome":
            reactor.connections[0].join("#lobby")
        elif event.type == "endofnames":
            reactor.connections[0].who("#lobby")
        elif event.type == "endofwho":
            reactor.connections[0].whois(["bob"])

    reactor.add_global_handler("all_events", record)
    reactor.server().connect("127.0.0.1", port, "bob")
    deadline = time.monotonic() + TIMEOUT
    while "endofwhois" not in seen and time.monotonic() < deadline:
        reactor.process_once(0.1)
    reactor.disconnect_all()
    return seen


@pytest_twisted.ensureDeferred
async def test_ircLibrary(tmp_path: Path) -> None:
    """
    The Python C{irc} library's finer cases: a nickname held by a
    line-protocol user is C{433} (the library retries with another), the
    ISUPPORT tokens, and C{NAMES}, C{WHO} and C{WHOIS} as it parses them,
    with no address anywhere.
    """
    async with chatServing(tmp_path) as ports:
        bob, _ = await lineUser(ports.line, "bob")
        try:
            seen = await inThread(_ircLibrarySession, ports.irc, timeout=TIMEOUT + 5)
        finally:
            await bob.close()
    assert "nicknameinuse" in seen, seen
    assert seen["welcome"], seen
    isupport = " ".join(" ".join(args) for args in seen["featurelist"])
    for token in ("CHANTYPES=#", "NICKLEN=16", "CASEMAPPING=ascii", "NETWORK=netlab"):
        assert token in isupport, seen["featurelist"]
    names = " ".join(args[-1] for args in seen["namreply"]).split()
    assert sorted(names) == ["bob", "pyirc2"], seen["namreply"]
    who = {args[4]: args for args in seen["whoreply"]}
    assert sorted(who) == ["bob", "pyirc2"], seen["whoreply"]
    assert who["bob"][2] == "netlab", who
    assert seen["whoisuser"][0][:3] == ["bob", "bob", "netlab"], seen["whoisuser"]
    assert "127.0.0.1" not in repr(seen)


@pytest_twisted.ensureDeferred
async def test_metricsAndDrain(tmp_path: Path) -> None:
    """
    IRC connections are counted in C{--metrics} under C{protocol="irc"},
    beside the line protocol's; on SIGTERM an IRC user is told why in a
    C{NOTICE} and an C{ERROR} line before its connection closes, and the
    server exits 0.
    """
    metrics = _freePort()
    processes: list[_Process] = []
    async with chatServing(
        tmp_path,
        "--metrics",
        f"tcp:{metrics}:interface=127.0.0.1",
        server=processes,
    ) as ports:
        irc = ChatClient()
        endpoint = TCP4ClientEndpoint(_reactor(), "127.0.0.1", ports.irc, timeout=10)
        await connectProtocol(endpoint, irc).addTimeout(TIMEOUT, _reactor())
        irc.send(b"NICK alice", b"USER alice 0 * :Alice")
        await irc.until(lambda: any(b" 376 " in line for line in irc.lines), "the MOTD")
        _, samples = await inThread(_scrape, metrics)
        labels = {"service": "chat", "transport": "tcp"}
        assert (
            _value(samples, "netlab_connections_open", protocol="irc", **labels) == 1
        ), _netlab(samples)
        assert _value(samples, "netlab_connections_open", **labels) == 0, _netlab(
            samples
        )
        processes[0].kill("TERM")
        await irc.waitClosed(STOP_TIMEOUT)
        assert irc.lines[-2:] == [
            b":netlab NOTICE alice :the server is shutting down; goodbye",
            b"ERROR :Closing link: the server is shutting down; goodbye",
        ], irc.lines
        await processes[0].whenEnded(STOP_TIMEOUT)
