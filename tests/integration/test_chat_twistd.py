"""
The installed chat service run as people run it, C{twistd -n netlab chat}
and C{twist netlab chat}, as real processes on loopback.

pytest-twisted tests: run them with pytest, not trial.  Processes are
started as L{tests.integration.test_twistd} starts them (in a temporary
directory, with the executables of the Python running the tests); every
wait is bounded, and every process is ended in C{finally}.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.error import ConnectionDone

from tests.integration.test_chat_loopback import ChatClient, connect, user
from tests.integration.test_twistd import (
    RUNNERS,
    STOP_TIMEOUT,
    _freePort,
    acceptingTCP,
    run,
    serving,
)

GOODBYE = b"NOTE the server is shutting down; goodbye"
"""
What every chat user is told when the server stops.
"""

CHAT_OPTIONS = [
    "--listen",
    "--default-room",
    "--history",
    "--max-line-length",
    "--line-rate",
    "--line-burst",
    "--backlog-soft",
    "--backlog-soft-seconds",
    "--backlog-hard",
    "--registration-timeout",
    "--idle-timeout",
    "--max-rooms",
    "--irc",
    "--irc-ping-interval",
    "--web",
    "--web-origin",
    "--bus",
    "--node",
    "--node-timeout",
]


def _chatServer(port: int, runner: str) -> list[str]:
    """
    @return: the command that runs the chat service on 127.0.0.1:C{port}.
    """
    return [
        *RUNNERS[runner],
        "netlab",
        "chat",
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
    ]


@pytest_twisted.ensureDeferred
async def test_helpListsChat(tmp_path: Path) -> None:
    """
    C{twistd netlab --help} lists chat with its description.
    """
    process = await run(["twistd", "--pidfile=", "netlab", "--help"], tmp_path)
    assert process.exitCode == 0, process.describe()
    commands = {line.split()[0] for line in process.out.splitlines() if line.strip()}
    assert "chat" in commands, process.describe()
    assert "Line chat with nicknames, rooms and history" in process.out


@pytest_twisted.ensureDeferred
async def test_chatHelp(tmp_path: Path) -> None:
    """
    C{twistd netlab chat --help} describes every option of the chat service,
    and says that it listens on port 21569 and joins #lobby by default.
    """
    process = await run(["twistd", "--pidfile=", "netlab", "chat", "--help"], tmp_path)
    assert process.exitCode == 0, process.describe()
    for option in CHAT_OPTIONS:
        assert option in process.out, (option, process.describe())
    assert "21569" in process.out, process.describe()
    assert "#lobby" in process.out, process.describe()


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest_twisted.ensureDeferred
async def test_chatServesAndSaysGoodbye(runner: str, tmp_path: Path) -> None:
    """
    C{twistd -n netlab chat} and C{twist netlab chat} serve the chat: users
    register and hear each other.  On SIGTERM every connected user,
    registered or not, is told C{NOTE the server is shutting down; goodbye}
    before the server closes its connection (cleanly), and the process
    ends with exit status 0, with no traceback.
    """
    port = _freePort()
    async with serving(_chatServer(port, runner), tmp_path, acceptingTCP(port)) as (
        server
    ):
        alice = await user(port, "alice")
        bob = await user(port, "bob")
        stranger = await connect(port, ChatClient())
        alice.send(b"hello from alice")
        await bob.untilLine(b"MSG #lobby alice hello from alice")
        clients: dict[str, ChatClient] = {
            "alice": alice,
            "bob": bob,
            "stranger": stranger,
        }

        server.kill("TERM")
        for name, client in clients.items():
            try:
                await client.waitClosed(STOP_TIMEOUT)
            except defer.TimeoutError:
                raise AssertionError(
                    f"{name}'s connection was still open {STOP_TIMEOUT}s after "
                    f"SIGTERM; it heard {client.lines[-3:]!r}\n{server.describe()}"
                ) from None
        await server.whenEnded(STOP_TIMEOUT)

    description = server.describe()
    for name, client in clients.items():
        notes = [line for line in client.lines if line.startswith(b"NOTE the server")]
        assert notes == [GOODBYE], (name, client.lines, description)
        # Others leaving at the same moment may still be heard after it.
        after = client.lines[client.lines.index(GOODBYE) + 1 :]
        assert all(line.startswith(b"QUIT ") for line in after), (name, after)
        assert client.closeReason is not None
        assert client.closeReason.check(ConnectionDone), (name, client.closeReason)
        assert client.badEndings == [], (name, client.badEndings)
    assert server.endSignal is None, description
    assert server.exitCode == 0, description
    assert "Traceback" not in server.out + server.err, description
