"""
The installed C{netlab chat} (and C{netlab ts}) as a person runs them: in a
real terminal, tmux's, typing with C{tmux send-keys} and reading the screen
with C{tmux capture-pane}, against a real C{twistd -n netlab chat} on
loopback.

pytest-twisted tests: run them with pytest, not trial.  Each test starts a
tmux server of its own (its own socket, no configuration, fixed window
sizes), polls the screen with a bounded deadline, and kills the server in
C{finally}; the chat server is started and stopped as in
L{tests.integration.test_chat_twistd}.  tmux comes from Debian (C{.ci/run}
installs it): where it is missing, the tests fail under CI (the C{CI}
environment variable set) and are skipped elsewhere, saying what to install.

Each command runs under C{sh}, which compares C{stty -g} before and after
and says C{terminal restored}, so that every way out is seen to put the
terminal back.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest_twisted
from twisted.internet.task import deferLater
from twisted.internet.utils import getProcessOutputAndValue

from tests.integration.test_chat_twistd import _chatServer
from tests.integration.test_twistd import (
    BIN,
    POLL_INTERVAL,
    RUNNERS,
    _environment,
    _freePort,
    _reactor,
    acceptingTCP,
    serving,
)

from ._missing import missing

INSTALL = "apt-get install tmux"
"""
What provides tmux, on Debian.
"""

WIDTH, HEIGHT = 100, 30
"""
The size of every tmux window here.
"""

SCREEN_TIMEOUT = 20.0
"""
Seconds the screen may take to show what is waited for.
"""

RESTORED = "terminal restored"
"""
What the shell around each command says once it has ended, if the terminal
is in the mode it was in before.
"""


def _tmuxProgram() -> str:
    """
    @return: the path of tmux.

    Fails the test if it is missing and C{CI} is set; skips it otherwise.
    """
    found = shutil.which("tmux")
    if found is None:
        missing(f"tmux is not installed: {INSTALL}")
    return found


class Tmux:
    """
    A tmux server of a test's own: its own socket (C{-L}), no configuration
    (C{-f /dev/null}), UTF-8 (C{-u}), and windows that stay once their
    command has ended, so that its last screen can be read.
    """

    def __init__(self, program: str) -> None:
        self._program = program
        self.socket = f"netlab-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._started = False
        self._path: Path | None = None

    async def tmux(self, *args: str) -> str:
        """
        Run a tmux command against this server.

        @return: what it printed.
        @raise AssertionError: if it failed.
        """
        out, err, code = await getProcessOutputAndValue(
            self._program,
            ["-u", "-L", self.socket, "-f", "/dev/null", *args],
            env=_environment(),
        )
        assert code == 0, f"tmux {' '.join(args)}: {code} {err!r}"
        return out.decode("utf-8", "replace")

    async def start(self, name: str, command: list[str]) -> None:
        """
        Start C{command} in a new window C{name}, under C{sh}, which says
        how it ended and whether the terminal's mode was put back.
        """
        script = (
            'before=$(stty -g); "$@"; status=$?; after=$(stty -g); '
            'echo "exit status $status"; '
            f'[ "$before" = "$after" ] && echo "{RESTORED}"'
        )
        shell = shlex.join(["sh", "-c", script, "sh", *command])
        window = ["-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), shell]
        if self._started:
            await self.tmux("new-session", "-d", *window)
            return
        self._started = True
        await self.tmux(
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "new-session",
            "-d",
            *window,
        )
        found = await self.tmux("display-message", "-p", "#{socket_path}")
        self._path = Path(found.strip())

    async def screen(self, name: str) -> list[str]:
        """
        @return: the rows of window C{name} as shown, without trailing
            spaces.
        """
        out = await self.tmux("capture-pane", "-p", "-t", name)
        return [row.rstrip() for row in out.removesuffix("\n").split("\n")]

    async def cursor(self, name: str) -> tuple[int, int]:
        """
        @return: the column and row of the cursor in window C{name}.
        """
        out = await self.tmux(
            "display-message", "-p", "-t", name, "#{cursor_x} #{cursor_y}"
        )
        column, row = out.split()
        return int(column), int(row)

    async def type(self, name: str, text: str) -> None:
        """
        Type C{text} in window C{name}, as it is.
        """
        await self.tmux("send-keys", "-t", name, "-l", text)

    async def press(self, name: str, *keys: str) -> None:
        """
        Press keys, by tmux's names (C{Enter}, C{C-c}, C{Tab}).
        """
        await self.tmux("send-keys", "-t", name, *keys)

    async def until(
        self, name: str, shown: Callable[[list[str]], bool], what: str
    ) -> list[str]:
        """
        Poll window C{name} until C{shown} is true of its rows.

        @return: the rows.
        @raise AssertionError: after L{SCREEN_TIMEOUT} seconds, showing the
            screen.
        """
        deadline = time.monotonic() + SCREEN_TIMEOUT
        while True:
            rows = await self.screen(name)
            if shown(rows):
                return rows
            if time.monotonic() > deadline:
                screen = "\n".join(rows)
                raise AssertionError(f"{name}'s screen never showed {what}:\n{screen}")
            await deferLater(_reactor(), POLL_INTERVAL, lambda: None)

    async def kill(self) -> None:
        """
        Kill the server, and with it whatever still runs in its windows, and
        remove its socket.
        """
        if self._started:
            await getProcessOutputAndValue(
                self._program,
                ["-L", self.socket, "-f", "/dev/null", "kill-server"],
                env=_environment(),
            )
        if self._path is not None and self._path.name == self.socket:
            self._path.unlink(missing_ok=True)


def _lastRow(rows: list[str]) -> str:
    """
    @return: the last row that is not empty, or nothing.
    """
    shown = [row for row in rows if row]
    return shown[-1] if shown else ""


def _has(text: str) -> Callable[[list[str]], bool]:
    return lambda rows: any(text in row for row in rows)


def _chat(port: int, nick: str, *options: str) -> list[str]:
    return [
        str(BIN / "netlab"),
        "chat",
        "--nick",
        nick,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]


@pytest_twisted.ensureDeferred
async def test_twoPeopleChat(tmp_path: Path) -> None:
    """
    Two people chat in C{netlab chat} on real terminals: a message that
    arrives while alice has typed half a line shows above her input line,
    whose half line, prompt and cursor stay as they were; Enter then says
    the whole line.  A resize draws the screen again at the new size.  Tab
    completes a nickname.  Ctrl-D on an empty line
    leaves (status 0), Ctrl-C leaves at once (status 130); both put the
    terminal back as it was.
    """
    tmux = Tmux(_tmuxProgram())
    port = _freePort()
    async with serving(_chatServer(port, "twistd"), tmp_path, acceptingTCP(port)):
        try:
            await tmux.start("alice", _chat(port, "alice"))
            await tmux.until(
                "alice",
                lambda rows: _lastRow(rows) == "[#lobby] alice>",
                "alice's prompt",
            )
            await tmux.start("bob", _chat(port, "bob"))
            await tmux.until(
                "bob", lambda rows: _lastRow(rows) == "[#lobby] bob>", "bob's prompt"
            )
            await tmux.until("alice", _has("*** bob joined #lobby"), "bob joining")

            # Half a line, then a message arrives.
            await tmux.type("alice", "half a li")
            half = "[#lobby] alice> half a li"
            await tmux.until("alice", lambda rows: rows[-1] == half, "the half line")
            await tmux.type("bob", "hi alice, café 中文")
            await tmux.press("bob", "Enter")
            message = "[#lobby] <bob> hi alice, café 中文"
            rows = await tmux.until("alice", _has(message), "bob's message")
            assert rows[-1] == half, rows
            assert rows[-2] == message, rows
            assert await tmux.cursor("alice") == (len(half), HEIGHT - 1)

            # A resize (SIGWINCH) draws it all again at the new size.
            await tmux.tmux("resize-window", "-t", "alice", "-x", "80", "-y", "20")
            rows = await tmux.until(
                "alice",
                lambda rows: len(rows) == 20 and rows[-1] == half,
                "the screen at its new size",
            )
            assert rows[-2] == message, rows
            assert await tmux.cursor("alice") == (len(half), 19)

            # Enter sends the whole line.
            await tmux.type("alice", "ne")
            await tmux.press("alice", "Enter")
            await tmux.until(
                "bob", _has("[#lobby] <alice> half a line"), "alice's line"
            )
            rows = await tmux.until(
                "alice",
                lambda rows: rows[-1] == "[#lobby] alice>",
                "alice's empty input line",
            )
            assert rows[-2] == "[#lobby] <alice> half a line", rows

            # Tab completes bob's nickname.
            await tmux.type("alice", "b")
            await tmux.press("alice", "Tab")
            await tmux.type("alice", "see you")
            await tmux.press("alice", "Enter")
            await tmux.until("bob", _has("[#lobby] <alice> bob: see you"), "the tab")

            # Ctrl-D on an empty line leaves.
            await tmux.press("alice", "C-d")
            rows = await tmux.until("alice", _has(RESTORED), "alice leaving")
            assert "exit status 0" in rows, rows
            await tmux.until("bob", _has("*** alice quit"), "alice quitting")

            # Ctrl-C, half way through a line, leaves at once.
            await tmux.type("bob", "never sent")
            await tmux.press("bob", "C-c")
            rows = await tmux.until("bob", _has(RESTORED), "bob leaving")
            assert "netlab: error: interrupted" in rows, rows
            assert "exit status 130" in rows, rows
        finally:
            await tmux.kill()


@pytest_twisted.ensureDeferred
async def test_serverGone(tmp_path: Path) -> None:
    """
    When the chat server goes away, C{netlab chat} says so, exits with
    status 1 and one error line, and the terminal is put back.
    """
    tmux = Tmux(_tmuxProgram())
    port = _freePort()
    try:
        async with serving(
            _chatServer(port, "twistd"), tmp_path, acceptingTCP(port)
        ) as server:
            await tmux.start("alice", _chat(port, "alice"))
            await tmux.until(
                "alice",
                lambda rows: _lastRow(rows) == "[#lobby] alice>",
                "alice's prompt",
            )
            await tmux.type("alice", "half")
            server.kill("TERM")
            rows = await tmux.until("alice", _has(RESTORED), "alice leaving")
        assert "*** disconnected" in rows, rows
        assert "exit status 1" in rows, rows
        errors = [row for row in rows if row.startswith("netlab: error: ")]
        assert len(errors) == 1, rows
    finally:
        await tmux.kill()


@pytest_twisted.ensureDeferred
async def test_plainOnATerminal(tmp_path: Path) -> None:
    """
    C{netlab chat --plain} on a terminal is the plain line loop: no input
    line of its own, what is typed echoed by the terminal.
    """
    tmux = Tmux(_tmuxProgram())
    port = _freePort()
    async with serving(_chatServer(port, "twistd"), tmp_path, acceptingTCP(port)):
        try:
            await tmux.start("alice", _chat(port, "alice", "--plain"))
            await tmux.until("alice", _has("*** alice joined #lobby"), "alice joining")
            await tmux.type("alice", "/who")
            await tmux.press("alice", "Enter")
            rows = await tmux.until("alice", _has("*** in #lobby: alice"), "/who")
            assert "/who" in rows, rows
            assert not any(row.startswith("[#lobby] alice>") for row in rows), rows
            await tmux.type("alice", "/quit")
            await tmux.press("alice", "Enter")
            rows = await tmux.until("alice", _has(RESTORED), "alice leaving")
            assert "exit status 0" in rows, rows
        finally:
            await tmux.kill()


@pytest_twisted.ensureDeferred
async def test_timestampsOnATerminal(tmp_path: Path) -> None:
    """
    C{netlab ts} on a terminal has the same input line, with the classic
    C{> } prompt: each line asked shows after it, then its reply, and an
    empty line quits, as documented.
    """
    tmux = Tmux(_tmuxProgram())
    port = _freePort()
    command = [*RUNNERS["twistd"], "netlab", "tsserv"]
    command += ["--listen", f"tcp:{port}:interface=127.0.0.1"]
    async with serving(command, tmp_path, acceptingTCP(port)):
        try:
            ts = [str(BIN / "netlab"), "ts", "-H", "127.0.0.1", "-p", str(port)]
            await tmux.start("ts", ts)
            await tmux.until("ts", lambda rows: _lastRow(rows) == ">", "the prompt")
            await tmux.type("ts", "hello")
            await tmux.press("ts", "Enter")
            rows = await tmux.until("ts", _has("] hello"), "the reply")
            assert rows[-3] == "> hello", rows
            assert rows[-2].startswith("[") and rows[-2].endswith("] hello"), rows
            assert rows[-1] == ">", rows
            await tmux.press("ts", "Enter")
            rows = await tmux.until("ts", _has(RESTORED), "ts ending")
            assert "exit status 0" in rows, rows
        finally:
            await tmux.kill()
