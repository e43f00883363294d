"""
The web chat in a real browser: C{twistd -n netlab chat --web} run as
people run it, two users in headless Chromium and one on the line protocol,
chatting in the same rooms.

The browser is Debian's C{chromium} (C{.ci/run} installs it; the builds
that test tools download cannot be fetched here), driven by Playwright's
synchronous API (C{chromium.launch(executable_path=...)}), which never
downloads a browser.  Without Chromium or Playwright the test is skipped,
saying what to install; under CI (the C{CI} environment variable set) it
fails instead.

A plain pytest test, synchronous (run it with pytest, not trial): the
server is the installed C{twistd}, started in a temporary directory on free
ports of 127.0.0.1 and stopped by its PID in C{finally}; every wait is
bounded.  Screenshots of the page go to C{build/screenshots/} of the
checkout, for people to look at.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.integration.test_twistd import _environment, _freePort

from ._missing import missing

CHROMIUM = "/usr/bin/chromium"
"""
Where Debian's C{chromium} package puts the browser.
"""

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""
Chromium's flags: headless, as root in a container (no sandbox), and
nothing fetched from the network of its own accord.
"""

INSTALL = (
    "the browser test needs Debian's chromium (apt-get install chromium; "
    "bash .ci/run installs it) and Playwright (pip install '.[test]')"
)

TIMEOUT = 15.0
"""
Seconds any one wait may take: for the server, the browser, a line.
"""

RECONNECT_TIMEOUT = 30.0
"""
Seconds the pages may take to reconnect once the server is back (their
backoff starts at about a second, and doubles).
"""

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
"""
Where the screenshots go: C{build/} is ignored by git.
"""

BIN = Path(sys.executable).parent


def _need(condition: bool) -> None:
    if not condition:
        missing(INSTALL)


def _playwright() -> Any:
    """
    @return: Playwright's C{sync_playwright}, if it and Chromium are here.
    """
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
    _need(sync_api is not None and os.access(CHROMIUM, os.X_OK))
    return sync_api.sync_playwright  # type: ignore[union-attr]


class _Server:
    """
    C{twistd -n netlab chat} with a web listener, in a directory of its own.
    """

    def __init__(self, directory: Path, linePort: int, webPort: int) -> None:
        self.directory = directory
        self.linePort = linePort
        self.webPort = webPort
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        log = (self.directory / f"twistd-{self.runs}.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(BIN / "twistd"),
                "-n",
                "--pidfile=",
                "netlab",
                "chat",
                "--listen",
                f"tcp:{self.linePort}:interface=127.0.0.1",
                "--web",
                f"tcp:{self.webPort}:interface=127.0.0.1",
            ],
            cwd=self.directory,
            env=_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + TIMEOUT
        for port in (self.linePort, self.webPort):
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(f"twistd ended: {self.describe()}")
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError(
                            f"nothing listens on {port}: {self.describe()}"
                        ) from None
                    time.sleep(0.05)

    def stop(self) -> int:
        """
        SIGTERM, as an operator stops it, then SIGKILL if it does not end.

        @return: its exit status.
        """
        process = self.process
        assert process is not None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(TIMEOUT)
        return process.returncode

    def describe(self) -> str:
        logs = sorted(self.directory.glob("twistd-*.log"))
        return "\n".join(f"{log.name}:\n{log.read_text()[-3000:]}" for log in logs)


class _LineUser:
    """
    A user of the line protocol, as C{nc} would be: a blocking socket.
    """

    def __init__(self, port: int, nick: str) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), TIMEOUT)
        self.socket.settimeout(TIMEOUT)
        self.buffer = b""
        self.lines: list[bytes] = []
        self.send(nick)
        self.until(b"JOIN #lobby " + nick.encode())

    def send(self, line: str) -> None:
        self.socket.sendall(line.encode() + b"\r\n")

    def until(self, wanted: bytes) -> bytes:
        """
        @return: the first line (from now) that starts with C{wanted}.
        """
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b"\r\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\r\n", 1)
                self.lines.append(line)
                if line.startswith(wanted):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no {wanted!r} in {self.lines[-10:]!r}")
            data = self.socket.recv(65536)
            if not data:
                raise AssertionError(f"closed before {wanted!r}: {self.lines[-10:]!r}")
            self.buffer += data

    def closed(self) -> bool:
        """
        @return: whether the server closed the connection (reading what
            is left).
        """
        with contextlib.suppress(OSError):
            while data := self.socket.recv(65536):
                self.buffer += data
            return True
        return False

    def close(self) -> None:
        self.socket.close()


@contextlib.contextmanager
def _browser(sync_playwright: Any) -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=TIMEOUT * 1000
        )
        try:
            yield browser
        finally:
            browser.close()


def _page(browser: Any, url: str, **viewport: int) -> tuple[Any, list[str]]:
    """
    @return: a page of its own (its own storage), open at C{url}, and the
        list its dialogs, errors and failed requests are noted in.
    """
    context = browser.new_context(viewport=viewport or None)
    context.set_default_timeout(TIMEOUT * 1000)
    page = context.new_page()
    trouble: list[str] = []
    page.on(
        "dialog",
        lambda dialog: (trouble.append(f"dialog {dialog.message}"), dialog.dismiss()),
    )
    page.on("pageerror", lambda error: trouble.append(f"error {error}"))
    # The browser's own console errors, but for the reconnections that
    # fail while the server is down.
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and "WebSocket connection to" not in message.text
            and trouble.append(message.text)
        ),
    )
    page.goto(url)
    return page, trouble


def _logIn(page: Any, nick: str) -> None:
    """
    Choose a nickname with the keyboard alone: the page puts the focus in
    the nickname field.
    """
    page.keyboard.type(nick)
    page.keyboard.press("Enter")
    page.locator("#chat").wait_for(state="visible")


def _say(page: Any, line: str) -> None:
    page.locator("#say").fill(line)
    page.keyboard.press("Enter")


def _entry(page: Any, kind: str, text: str) -> Any:
    """
    @return: the log's entry of C{kind} whose text has C{text}, once it is
        there.
    """
    entry = page.locator(f"#log li.{kind}", has_text=text).last
    entry.wait_for()
    return entry


def test_browserChat(tmp_path: Path) -> None:
    """
    Two people in Chromium and one on the line protocol chat: each sees the
    room's history on joining, what the others say as they say it (their
    own lines at once), private messages, a room switch, and markup as
    text.  When the server shuts down the pages say so; once it is back,
    they reconnect by themselves, with the same nicknames, in the room
    they were in.
    """
    sync_playwright = _playwright()
    from playwright.sync_api import expect

    server = _Server(tmp_path, _freePort(), _freePort())
    url = f"http://127.0.0.1:{server.webPort}/"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    carol: _LineUser | None = None
    server.start()
    try:
        carol = _LineUser(server.linePort, "carol")
        carol.send("words from before")
        with _browser(sync_playwright) as browser:
            alice, aliceTrouble = _page(browser, url, width=1100, height=720)
            bob, bobTrouble = _page(browser, url, width=390, height=760)

            # History on joining; the person list and the room list.
            _logIn(alice, "alice")
            expect(_entry(alice, "hist", "words from before")).to_contain_text("carol")
            # A nickname refused is said in place, and another one taken.
            bob.keyboard.type("Alice")
            bob.keyboard.press("Enter")
            expect(bob.locator("#login-error")).to_contain_text("Alice is taken")
            expect(bob.locator("#nick")).to_be_focused()
            bob.locator("#nick").fill("")
            _logIn(bob, "bob")
            carol.until(b"JOIN #lobby bob")
            expect(alice.locator("#members")).to_contain_text("bob")
            expect(alice.locator("#members li")).to_have_count(3)
            expect(alice.locator("#rooms")).to_contain_text("#lobby3")

            # Said in the room: shown to the sayer at once, and to the others.
            _say(alice, "hello everyone")
            expect(_entry(alice, "own", "hello everyone")).to_contain_text("alice")
            _entry(bob, "msg", "hello everyone")
            carol.until(b"MSG #lobby alice hello everyone")
            carol.send("hi from the terminal")
            _entry(alice, "msg", "hi from the terminal")
            _entry(bob, "msg", "hi from the terminal")

            # Markup is text.
            markup = "<img src=x onerror=alert(1)>"
            _say(bob, markup)
            expect(_entry(alice, "msg", markup).locator(".text")).to_have_text(markup)
            expect(alice.locator("#log img")).to_have_count(0)
            carol.until(b"MSG #lobby bob " + markup.encode())

            # Private messages, both ways.
            _say(alice, "/msg bob just for you")
            _entry(bob, "priv", "just for you")
            carol.send("/msg alice psst from carol")
            carol.until(b"OK msg alice")
            _entry(alice, "priv", "psst from carol")

            # A room switch: one room at a time.
            _say(bob, "/join #dev")
            expect(bob.locator("#room-name")).to_have_text("#dev")
            carol.until(b"PART #lobby bob joined #dev")
            _entry(alice, "event", "left #lobby (joined #dev)")
            expect(alice.locator("#members li")).to_have_count(2)
            # With the keyboard: the room list's buttons are focusable.
            alice.locator("#rooms button", has_text="#dev").focus()
            alice.keyboard.press("Enter")

            expect(alice.locator("#room-name")).to_have_text("#dev")
            _entry(bob, "event", "joined #dev")
            _say(alice, "/me waves")
            expect(_entry(bob, "act", "waves")).to_contain_text("alice")
            _say(bob, "welcome to #dev")
            _entry(alice, "msg", "welcome to #dev")
            expect(alice.locator("#rooms")).to_contain_text("#dev2")
            expect(alice.locator("#members li")).to_have_count(2)
            alice.screenshot(path=str(SCREENSHOTS / "web-chat.png"))
            bob.screenshot(path=str(SCREENSHOTS / "web-chat-phone.png"))

            # On a phone-sized screen, the rooms and people are a button
            # away, and a button (or Escape) away from the messages.
            expect(bob.locator("#members")).to_be_hidden()
            bob.locator("#toggle-side").click()
            expect(bob.locator("#members")).to_contain_text("alice")
            bob.screenshot(path=str(SCREENSHOTS / "web-chat-phone-side.png"))
            bob.locator("#close-side").click()
            expect(bob.locator("#members")).to_be_hidden()
            expect(bob.locator("#say")).to_be_focused()
            bob.locator("#toggle-side").click()
            bob.keyboard.press("Escape")
            expect(bob.locator("#members")).to_be_hidden()
            expect(alice.locator("#close-side")).to_be_hidden()

            # The server shuts down: everyone is told.
            assert server.stop() == 0, server.describe()
            for page in (alice, bob):
                _entry(page, "note", "the server is shutting down; goodbye")
                expect(page.locator("#status")).to_contain_text("reconnecting")
            carol.until(b"NOTE the server is shutting down; goodbye")
            assert carol.closed()
            carol.close()
            alice.screenshot(path=str(SCREENSHOTS / "web-chat-disconnected.png"))

            # Back: the pages reconnect, as who they were, where they were.
            server.start()
            for page, nick in ((alice, "alice"), (bob, "bob")):
                expect(page.locator("#status")).to_have_text(
                    f"Connected as {nick}", timeout=RECONNECT_TIMEOUT * 1000
                )
                expect(page.locator("#room-name")).to_have_text("#dev")
            _say(bob, "we are back")
            _entry(alice, "msg", "we are back")

            assert aliceTrouble == [], aliceTrouble
            assert bobTrouble == [], bobTrouble
    finally:
        if carol is not None:
            carol.close()
        if server.process is not None:
            server.stop()
    assert "Traceback" not in server.describe(), server.describe()
