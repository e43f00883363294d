"""
Tests for L{netlab.chat._web}: the chat's web site, and L{WebChatProtocol},
each WebSocket client a participant of the hub, with every limit the line
protocol has.

Everything runs in memory, through the real site and Twisted's own
WebSocket layer: a L{StringTransport} stands in for the network, a
L{Clock} for the time, and wsproto's client for the browser.  A browser
that does not read is simulated by calling the HTTP channel's
C{pauseProducing}, as Twisted's TCP transport does when more than 64 KiB
wait in its output buffer.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from zope.interface.verify import verifyObject

from netlab.chat import ChatFactory, ChatHub, ChatLimits, IChatParticipant, _web
from netlab.chat._web import (
    MAX_FRAGMENTS,
    MAX_MESSAGE_SIZE,
    PING_INTERVAL,
    SECURITY_HEADERS,
    WebChatProtocol,
    _capMessages,
    chatWebSite,
    httpRefusal,
)
from netlab.policies import (
    ConnectionGuard,
    ConnectionLimits,
    IDrainable,
    TrafficStats,
)
from tests.chat.test_server import Client as LineClient

PEER = IPv4Address("TCP", "192.0.2.7", 40000)
HOST = "chat.example:8080"
ORIGIN = "http://chat.example:8080"

NO_RATE = ChatLimits(lineRate=0)
"""
Limits with no rate limit, so that tests can send many messages at once.
"""


class Browser:
    """
    One HTTP connection to the site, in memory, as a browser makes it.

    The server queues output and sends it at the end of the reactor's turn
    (a zero-delay call), so every helper that sends or reads ends the turn.

    @ivar channel: the server's protocol for this connection (the guard's
        connection, if there is a guard).
    @ivar transport: the transport it writes to.
    @ivar ws: the browser's side of the WebSocket.
    @ivar events: the JSON objects received so far.
    @ivar closed: the close code the server sent, once it has.
    """

    def __init__(self, protocol: Any, clock: Clock) -> None:
        self.channel = protocol
        self.clock = clock
        self.transport = StringTransport(peerAddress=PEER)
        protocol.makeConnection(self.transport)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.read = 0
        self.events: list[dict[str, Any]] = []
        self.closed: int | None = None
        self.http = b""

    def receive(self, data: bytes) -> None:
        """
        Deliver C{data} to the server, and end the turn.
        """
        self.channel.dataReceived(data)
        self.clock.advance(0)

    def upgrade(
        self, origin: str | None = ORIGIN, host: str = HOST, path: str = "/ws"
    ) -> bool:
        """
        Ask for the WebSocket.

        @return: whether the server accepted; if not, what it answered is
            in C{http}.
        """
        headers = [(b"Origin", origin.encode())] if origin is not None else []
        self.receive(
            self.ws.send(Request(host=host, target=path, extra_headers=headers))
        )
        data = self.transport.value()
        self.read = len(data)
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.flush()
                return True
            if isinstance(event, RejectConnection | RejectData):
                self.http = data
                return False
        self.http = data
        return False

    def flush(self) -> list[dict[str, Any]]:
        """
        End the turn, and read what the server sent since the last read.

        @return: the objects it sent.
        """
        self.clock.advance(0)
        data = self.transport.value()
        new, self.read = data[self.read :], len(data)
        self.ws.receive_data(new)
        got = []
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                got.append(json.loads(event.data))
            elif isinstance(event, CloseConnection):
                self.closed = event.code
        self.events += got
        return got

    def send(self, *messages: object, raw: str | None = None) -> list[dict[str, Any]]:
        """
        Send each message as JSON, in one read; then read.

        @return: what the server sent back.
        """
        data = b"".join(self.ws.send(TextMessage(json.dumps(m))) for m in messages)
        if raw is not None:
            data += self.ws.send(TextMessage(raw))
        self.receive(data)
        return self.flush()

    def types(self) -> list[str]:
        """
        @return: the type of each object received so far.
        """
        return [event["type"] for event in self.events]

    def clear(self) -> None:
        """
        Forget what was received so far.
        """
        self.flush()
        self.events.clear()

    @property
    def protocol(self) -> WebChatProtocol:
        """
        The participant of this connection.
        """
        channel = getattr(self.channel, "wrappedProtocol", self.channel)
        protocol = channel.webSocket
        assert isinstance(protocol, WebChatProtocol)
        return protocol


class WebTestCase(SynchronousTestCase):
    """
    A hub, a clock, and the chat's site on them.

    @cvar limits: the limits of the WebSocket clients of each test.
    @cvar origins: the site's C{--web-origin}s.
    """

    limits = NO_RATE
    origins: tuple[str, ...] = ()

    def setUp(self) -> None:
        self.clock = Clock()
        self.hub = ChatHub()
        self.stats = TrafficStats("chat", protocol="web")
        self.site = chatWebSite(
            self.hub, self.clock, self.limits, self.origins, self.stats
        )

    def browser(self) -> Browser:
        """
        @return: a new HTTP connection to the site.
        """
        return self.track(Browser(self.site.buildProtocol(PEER), self.clock))

    def track(self, browser: Browser) -> Browser:
        """
        Remember C{browser}, for L{quiet}.
        """
        if not hasattr(self, "browsers"):
            self.browsers: list[Browser | LineClient] = []
        self.browsers.append(browser)
        return browser

    def quiet(self) -> None:
        """
        Make every client forget what it received so far.
        """
        for client in getattr(self, "browsers", []):
            client.clear()

    def connected(self) -> Browser:
        """
        @return: a new WebSocket client, greeted.
        """
        browser = self.browser()
        self.assertTrue(browser.upgrade(), browser.http)
        return browser

    def registered(self, nick: str) -> Browser:
        """
        @return: a new WebSocket client registered as C{nick}, with what
            every client received so far forgotten.
        """
        browser = self.connected()
        browser.send({"type": "nick", "nick": nick})
        if self.hub.nickOf(browser.protocol) != nick:
            raise AssertionError(f"could not register {nick}: {browser.events}")
        self.quiet()
        return browser

    def lineUser(self, nick: str) -> LineClient:
        """
        @return: a user of the line protocol on the same hub, registered.
        """
        factory = ChatFactory(self.hub, self.clock, NO_RATE)
        protocol = factory.buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER)
        protocol.makeConnection(transport)
        client = LineClient(protocol, transport, self.clock)
        client.send(nick.encode())
        self.track(client)  # type: ignore[arg-type]
        self.quiet()
        return client

    def get(self, path: bytes, *headers: bytes, method: bytes = b"GET") -> bytes:
        """
        @return: the site's whole response to one HTTP/1.0 request.
        """
        browser = self.browser()
        request = b"%s %s HTTP/1.0\r\nHost: chat.example\r\n" % (method, path)
        browser.receive(request + b"".join(h + b"\r\n" for h in headers) + b"\r\n")
        response: bytes = browser.transport.value()
        return response

    def assertError(self, event: dict[str, Any], command: str, code: str) -> None:
        """
        Assert that C{event} is an C{err} for C{command} with C{code}.
        """
        self.assertEqual(
            (event["type"], event.get("command"), event.get("code")),
            ("err", command, code),
            event,
        )


def _headers(response: bytes) -> dict[bytes, bytes]:
    head = response.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    return {
        name.lower(): value.strip()
        for name, _, value in (line.partition(b":") for line in head)
    }


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _body(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1]


class PageTests(WebTestCase):
    """
    The page: its files, and the headers of every response.
    """

    def test_page(self) -> None:
        """
        C{/} is the page, as HTML, from the package's C{web/index.html},
        which loads the script and the style of the same site.
        """
        response = self.get(b"/")
        self.assertEqual(_status(response), 200)
        self.assertEqual(
            _headers(response)[b"content-type"], b"text/html; charset=utf-8"
        )
        page = (resources.files("netlab.chat") / "web" / "index.html").read_bytes()
        self.assertEqual(_body(response), page)
        self.assertIn(b'<script src="chat.js" defer></script>', page)
        self.assertIn(b'<link rel="stylesheet" href="chat.css">', page)

    def test_files(self) -> None:
        """
        The script, the style and the icon are served with their types.
        """
        for path, kind in [
            (b"/chat.js", b"text/javascript; charset=utf-8"),
            (b"/chat.css", b"text/css; charset=utf-8"),
            (b"/favicon.svg", b"image/svg+xml"),
        ]:
            response = self.get(path)
            self.assertEqual(_status(response), 200, path)
            self.assertEqual(_headers(response)[b"content-type"], kind)
            self.assertEqual(_headers(response)[b"x-content-type-options"], b"nosniff")

    def test_securityHeaders(self) -> None:
        """
        Every response, found or not, has the security headers: a
        Content-Security-Policy allowing no inline script or style and
        nothing from another site, no sniffing, no referrer, no framing.
        """
        for path in [b"/", b"/chat.js", b"/nothing", b"/ws"]:
            headers = _headers(self.get(path))
            for name, value in SECURITY_HEADERS.items():
                self.assertEqual(headers[name.lower()], value, (path, name))
        policy = SECURITY_HEADERS[b"Content-Security-Policy"]
        self.assertIn(b"default-src 'none'", policy)
        self.assertIn(b"script-src 'self';", policy)
        self.assertIn(b"connect-src 'self';", policy)
        self.assertNotIn(b"unsafe", policy)
        self.assertEqual(SECURITY_HEADERS[b"Referrer-Policy"], b"no-referrer")

    def test_notFound(self) -> None:
        """
        Any other path is 404, in plain text.
        """
        for path in [b"/index.html", b"/chat.js/x", b"/ws/x", b"/../setup.cfg"]:
            response = self.get(path)
            self.assertEqual(_status(response), 404, path)
            self.assertIn(b"text/plain", _headers(response)[b"content-type"])

    def test_etag(self) -> None:
        """
        A file comes with an ETag; asked for again with it, the answer is
        304 and no body.
        """
        etag = _headers(self.get(b"/chat.js"))[b"etag"]
        response = self.get(b"/chat.js", b"If-None-Match: " + etag)
        self.assertEqual(_status(response), 304)
        self.assertEqual(_body(response), b"")

    def test_head(self) -> None:
        """
        HEAD gives the headers without the body.
        """
        response = self.get(b"/", method=b"HEAD")
        self.assertEqual(_status(response), 200)
        self.assertEqual(_body(response), b"")

    def test_otherMethods(self) -> None:
        """
        A POST is not allowed, and its body is thrown away, not kept.
        """
        browser = self.browser()
        browser.receive(
            b"POST / HTTP/1.1\r\nHost: chat.example\r\nContent-Length: 200000\r\n\r\n"
        )
        request = browser.channel.requests[-1]
        browser.receive(b"x" * 199999)
        self.assertEqual(request.content.getvalue(), b"")
        browser.receive(b"x")
        response = browser.transport.value()
        self.assertEqual(_status(response), 405)
        self.assertEqual(_headers(response)[b"allow"], b"GET, HEAD")
        ws = self.get(b"/ws", method=b"POST")
        self.assertEqual(_status(ws), 405)
        self.assertEqual(_headers(ws)[b"allow"], b"GET")

    def test_noTracebacks(self) -> None:
        """
        The site shows no traceback to its visitors.
        """
        self.assertFalse(self.site.displayTracebacks)

    def test_pageHasNothingInline(self) -> None:
        """
        The page holds no inline script, style or event handler (the
        Content-Security-Policy would refuse them), loads nothing from
        another site, and its script never turns text into HTML.
        """
        web = resources.files("netlab.chat") / "web"
        page = (web / "index.html").read_text()
        self.assertEqual(re.findall(r"<script(?![^>]*\bsrc=)", page), [])
        self.assertEqual(re.findall(r"<style|\sstyle=|\son\w+=", page), [])
        self.assertEqual(re.findall(r"(?:src|href)=\"(?:https?:)?//", page), [])
        script = (web / "chat.js").read_text()
        for forbidden in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "http://",
            "https://",
        ]:
            self.assertNotIn(forbidden, script)


class UpgradeTests(WebTestCase):
    """
    Opening the WebSocket, and what a new one gets.
    """

    def test_greeting(self) -> None:
        """
        A new WebSocket is greeted with a C{note} saying how to choose a
        nickname.
        """
        browser = self.connected()
        [greeting] = browser.events
        self.assertEqual(greeting["type"], "note")
        self.assertIn('"nick"', greeting["text"])

    def test_interfaces(self) -> None:
        """
        L{WebChatProtocol} is a chat participant, a streaming producer and
        drainable.
        """
        protocol = self.connected().protocol
        self.assertTrue(verifyObject(IChatParticipant, protocol))
        self.assertTrue(verifyObject(IPushProducer, protocol))
        self.assertTrue(verifyObject(IDrainable, protocol))

    def test_producerOfTheRequest(self) -> None:
        """
        The participant is the streaming producer of the request that was
        upgraded, so that the HTTP channel tells it when its output backs
        up.
        """
        browser = self.connected()
        request = browser.channel.requests[-1]
        self.assertIs(request.producer, browser.protocol)

    def test_notAWebSocketRequest(self) -> None:
        """
        A plain GET of C{/ws} is refused (400), and no one joins the hub.
        """
        response = self.get(b"/ws")
        self.assertEqual(_status(response), 400)
        self.assertEqual(self.hub.participants(), [])


class OriginTests(WebTestCase):
    """
    A page of another site cannot open the WebSocket.
    """

    def test_sameOrigin(self) -> None:
        """
        A page whose host and port are the request's C{Host} may.
        """
        self.assertTrue(self.browser().upgrade(ORIGIN, HOST))
        self.assertTrue(
            self.browser().upgrade("http://127.0.0.1:8080", "127.0.0.1:8080")
        )

    def test_noOrigin(self) -> None:
        """
        A request without C{Origin}, from a program, may.
        """
        self.assertTrue(self.browser().upgrade(None))

    def test_otherOrigin(self) -> None:
        """
        Another site's page is refused with 403 before any upgrade, and the
        refusal is counted and logged.
        """
        with capturedLogs() as events:
            for origin in [
                "http://evil.example:8080",
                "http://chat.example:8081",
                "null",
            ]:
                browser = self.browser()
                self.assertFalse(browser.upgrade(origin))
                self.assertEqual(_status(browser.http), 403, origin)
                self.assertNotIn(b"Upgrade", browser.http)
                self.assertIn(b"--web-origin", _body(browser.http))
                self.assertEqual(
                    _headers(browser.http)[b"x-content-type-options"], b"nosniff"
                )
        self.assertEqual(self.hub.participants(), [])
        self.assertEqual(self.stats.refusals, {})
        # Logged at a bounded rate: one warning, the others counted.
        [warning] = [e for e in events if e.get("log_level") is LogLevel.warn]
        self.assertIn(
            "origin http://evil.example:8080 may not use the chat",
            formatEvent(warning),
        )


class GivenOriginTests(WebTestCase):
    """
    With C{--web-origin}, the origins given, and only those.
    """

    origins = ("https://chat.example", "http://localhost:8080")

    def test_given(self) -> None:
        """
        Pages of the origins given may open the WebSocket, from wherever
        the request says it is going; another, even of the request's own
        host, may not.
        """
        self.assertTrue(self.browser().upgrade("https://chat.example", "10.0.0.1:80"))
        self.assertTrue(self.browser().upgrade("http://localhost:8080", HOST))
        browser = self.browser()
        self.assertFalse(browser.upgrade(ORIGIN, HOST))
        self.assertEqual(_status(browser.http), 403)

    def test_badOrigin(self) -> None:
        """
        An origin that is not one is refused when the site is made.
        """
        with self.assertRaises(ValueError) as raised:
            chatWebSite(self.hub, self.clock, origins=["chat.example"])
        self.assertIn("scheme://host[:port]", str(raised.exception))


class CommandTests(WebTestCase):
    """
    Every command, and what it answers.
    """

    def test_register(self) -> None:
        """
        C{nick} registers: the reply first, then the default room's
        history, then the client's own C{join}.
        """
        bob = self.registered("bob")
        bob.send({"type": "say", "text": "earlier words"})
        alice = self.connected()
        alice.clear()
        self.assertEqual(
            alice.send({"type": "nick", "nick": "alice"}),
            [
                {"type": "ok", "command": "nick", "nick": "alice"},
                {
                    "type": "hist",
                    "event": {
                        "type": "msg",
                        "room": "#lobby",
                        "nick": "bob",
                        "text": "earlier words",
                    },
                },
                {"type": "join", "room": "#lobby", "nick": "alice"},
            ],
        )
        self.assertEqual(
            bob.flush(), [{"type": "join", "room": "#lobby", "nick": "alice"}]
        )

    def test_nickRefused(self) -> None:
        """
        A nickname taken or invalid is refused, and the client may try
        again.
        """
        self.registered("bob")
        alice = self.connected()
        alice.clear()
        [taken] = alice.send({"type": "nick", "nick": "BOB"})
        self.assertError(taken, "nick", "nick-taken")
        [invalid] = alice.send({"type": "nick", "nick": "9 lives"})
        self.assertError(invalid, "nick", "nick-invalid")
        self.assertEqual(
            alice.send({"type": "nick", "nick": "alice"})[0],
            {"type": "ok", "command": "nick", "nick": "alice"},
        )

    def test_notRegistered(self) -> None:
        """
        Before registering, every command but C{nick} and C{quit} is
        refused with C{not-registered}.
        """
        browser = self.connected()
        browser.clear()
        for message in [
            {"type": "say", "text": "hi"},
            {"type": "me", "text": "waves"},
            {"type": "join", "room": "#dev"},
            {"type": "part"},
            {"type": "msg", "to": "bob", "text": "hi"},
            {"type": "who"},
            {"type": "rooms"},
        ]:
            [error] = browser.send(message)
            self.assertError(error, str(message["type"]), "not-registered")

    def test_say(self) -> None:
        """
        C{say} reaches everyone else in the room, web and line protocol
        users alike, and not the sender.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        carol = self.lineUser("carol")
        alice.clear()
        self.assertEqual(alice.send({"type": "say", "text": "hi all"}), [])
        message = {"type": "msg", "room": "#lobby", "nick": "alice", "text": "hi all"}
        self.assertEqual(bob.flush(), [message])
        self.assertEqual(carol.lines(), [b"MSG #lobby alice hi all"])

    def test_lineUserHeard(self) -> None:
        """
        What a line protocol user says reaches the web users.
        """
        alice = self.registered("alice")
        carol = self.lineUser("carol")
        alice.clear()
        carol.send(b"hello web", b"/me waves")
        self.assertEqual(
            alice.flush(),
            [
                {"type": "msg", "room": "#lobby", "nick": "carol", "text": "hello web"},
                {"type": "act", "room": "#lobby", "nick": "carol", "text": "waves"},
            ],
        )

    def test_me(self) -> None:
        """
        C{me} is an action, for everyone else in the room.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        self.assertEqual(alice.send({"type": "me", "text": "waves"}), [])
        self.assertEqual(
            bob.flush(),
            [{"type": "act", "room": "#lobby", "nick": "alice", "text": "waves"}],
        )

    def test_blankSay(self) -> None:
        """
        A C{say} with nothing in it, as a blank line, is neither said nor
        answered.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        self.assertEqual(alice.send({"type": "say", "text": "  "}), [])
        self.assertEqual(bob.flush(), [])

    def test_msg(self) -> None:
        """
        C{msg} reaches its recipient only, web or line protocol user, as
        C{priv} with C{from} and C{to}; the sender gets C{ok} naming the
        recipient as registered.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        carol = self.lineUser("carol")
        self.assertEqual(
            alice.send({"type": "msg", "to": "BOB", "text": "psst"}),
            [{"type": "ok", "command": "msg", "to": "bob"}],
        )
        self.assertEqual(
            bob.flush(),
            [{"type": "priv", "from": "alice", "to": "bob", "text": "psst"}],
        )
        alice.send({"type": "msg", "to": "carol", "text": "hi carol"})
        self.assertEqual(carol.lines(), [b"PRIV alice carol hi carol"])
        carol.send(b"/msg alice hi back")
        self.assertEqual(
            alice.flush(),
            [{"type": "priv", "from": "carol", "to": "alice", "text": "hi back"}],
        )

    def test_msgRefused(self) -> None:
        """
        A private message to nobody, or without text, is refused.
        """
        alice = self.registered("alice")
        [nobody] = alice.send({"type": "msg", "to": "zed", "text": "hi"})
        self.assertError(nobody, "msg", "no-such-nick")
        [empty] = alice.send({"type": "msg", "to": "alice", "text": ""})
        self.assertError(empty, "msg", "usage")
        self.assertIn('"type": "msg"', empty["text"])

    def test_join(self) -> None:
        """
        C{join} moves to another room, one room at a time: the old room
        hears C{part} (the reason naming the new room), the new one
        C{join}, then the reply.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        bob.clear()
        self.assertEqual(
            alice.send({"type": "join", "room": "#dev"}),
            [
                {
                    "type": "part",
                    "room": "#lobby",
                    "nick": "alice",
                    "reason": "joined #dev",
                },
                {"type": "join", "room": "#dev", "nick": "alice"},
                {"type": "ok", "command": "join", "room": "#dev"},
            ],
        )
        self.assertEqual(
            bob.flush(),
            [
                {
                    "type": "part",
                    "room": "#lobby",
                    "nick": "alice",
                    "reason": "joined #dev",
                }
            ],
        )
        self.assertEqual(self.hub.roomsOf(alice.protocol), ["#dev"])
        [error] = alice.send({"type": "join", "room": "dev"})
        self.assertError(error, "join", "room-invalid")

    def test_part(self) -> None:
        """
        C{part} leaves the room; the client is then in none, and saying
        something is refused.
        """
        alice = self.registered("alice")
        self.assertEqual(
            alice.send({"type": "part", "reason": "lunch"}),
            [
                {"type": "part", "room": "#lobby", "nick": "alice", "reason": "lunch"},
                {"type": "ok", "command": "part", "room": "#lobby"},
            ],
        )
        [error] = alice.send({"type": "say", "text": "hi"})
        self.assertError(error, "say", "not-in-room")
        [error] = alice.send({"type": "who"})
        self.assertError(error, "who", "not-in-room")

    def test_whoAndRooms(self) -> None:
        """
        C{who} lists the room's nicknames; C{rooms} every room and its
        count.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        self.lineUser("carol")
        bob.send({"type": "join", "room": "#dev"})
        self.quiet()
        self.assertEqual(
            alice.send({"type": "who"}),
            [
                {
                    "type": "ok",
                    "command": "who",
                    "room": "#lobby",
                    "nicks": ["alice", "carol"],
                }
            ],
        )
        self.assertEqual(
            alice.send({"type": "rooms"}),
            [
                {
                    "type": "ok",
                    "command": "rooms",
                    "rooms": [
                        {"room": "#dev", "count": 1},
                        {"room": "#lobby", "count": 2},
                    ],
                }
            ],
        )

    def test_rename(self) -> None:
        """
        C{nick} once registered renames: the room and the client hear
        C{nick}, then the client gets the reply.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        bob.clear()
        change = {"type": "nick", "old": "alice", "new": "alicia"}
        self.assertEqual(
            alice.send({"type": "nick", "nick": "alicia"}),
            [change, {"type": "ok", "command": "nick", "nick": "alicia"}],
        )
        self.assertEqual(bob.flush(), [change])

    def test_quit(self) -> None:
        """
        C{quit} is answered, the room hears C{quit} with the reason, and
        the WebSocket closes normally (1000).
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        bob.clear()
        self.assertEqual(
            alice.send({"type": "quit", "reason": "bye"}),
            [{"type": "ok", "command": "quit"}],
        )
        self.assertEqual(alice.closed, 1000)
        self.assertTrue(alice.transport.disconnecting)
        self.assertEqual(
            bob.flush(), [{"type": "quit", "nick": "alice", "reason": "bye"}]
        )

    def test_quitBeforeRegistering(self) -> None:
        """
        C{quit} works before registering too.
        """
        browser = self.connected()
        browser.clear()
        self.assertEqual(
            browser.send({"type": "quit"}), [{"type": "ok", "command": "quit"}]
        )
        self.assertEqual(browser.closed, 1000)

    def test_repliesInOrder(self) -> None:
        """
        Commands sent at once are answered in order, each exactly once.
        """
        alice = self.registered("alice")
        replies = alice.send(
            {"type": "who"},
            {"type": "frob"},
            {"type": "rooms"},
            {"type": "msg", "to": "zed", "text": "x"},
            {"type": "say", "text": "hi"},
            {"type": "nick", "nick": "alice"},
        )
        self.assertEqual(
            [(r["type"], r.get("command")) for r in replies],
            [
                ("ok", "who"),
                ("err", "frob"),
                ("ok", "rooms"),
                ("err", "msg"),
                ("ok", "nick"),
            ],
        )


class BadMessageTests(WebTestCase):
    """
    What a client should not send: answered with an C{err}, and the
    connection kept.
    """

    def test_notJSON(self) -> None:
        """
        A message that is not a JSON object gets C{bad-json}; the next is
        handled.
        """
        alice = self.registered("alice")
        [error, reply] = alice.send({"type": "who"}, raw="not json")[1:] + alice.send(
            {"type": "rooms"}
        )
        self.assertError(error, "*", "bad-json")
        self.assertEqual(reply["command"], "rooms")
        self.assertFalse(alice.transport.disconnecting)

    def test_binary(self) -> None:
        """
        A binary message gets C{bad-json}.
        """
        alice = self.registered("alice")
        alice.receive(alice.ws.send(BytesMessage(b'{"type": "who"}')))
        [error] = alice.flush()
        self.assertError(error, "*", "bad-json")
        self.assertIn("binary", error["text"])

    def test_unknownType(self) -> None:
        """
        A message of no known type gets C{unknown-command}.
        """
        alice = self.registered("alice")
        [error] = alice.send({"type": "help"})
        self.assertError(error, "help", "unknown-command")

    def test_usage(self) -> None:
        """
        A field of the wrong kind gets C{usage}.
        """
        alice = self.registered("alice")
        [error] = alice.send({"type": "say", "text": ["hi"]})
        self.assertError(error, "say", "usage")

    def test_tooLong(self) -> None:
        """
        A message whose text is over C{maxLineLength} bytes gets
        C{line-too-long}, and is not said; the connection stays.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        [error] = alice.send({"type": "say", "text": "\u00e9" * 513})
        self.assertError(error, "say", "line-too-long")
        self.assertIn("1024 bytes", error["text"])
        self.assertEqual(bob.flush(), [])
        alice.send({"type": "say", "text": "\u00e9" * 512})
        self.assertEqual(len(bob.flush()), 1)

    def test_cleaned(self) -> None:
        """
        What a web user says reaches a line protocol user's terminal with
        no control character or escape sequence in it.
        """
        alice = self.registered("alice")
        carol = self.lineUser("carol")
        alice.send({"type": "say", "text": "\x1b[2Jgone\r\nQUIT bob\ud800"})
        self.assertEqual(
            carol.lines(),
            ["MSG #lobby alice \ufffd[2Jgone\ufffd\ufffdQUIT bob\ufffd".encode()],
        )

    def test_markup(self) -> None:
        """
        Markup is text like any other: sent on as it was written.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        alice.send({"type": "say", "text": "<img src=x onerror=alert(1)>"})
        [message] = bob.flush()
        self.assertEqual(message["text"], "<img src=x onerror=alert(1)>")

    def test_counted(self) -> None:
        """
        Each message received is counted in the site's counters, refused
        ones too, not a blank C{say}.
        """
        alice = self.registered("alice")
        before = self.stats.messages
        alice.send({"type": "who"}, {"type": "say", "text": " "}, raw="[")
        self.assertEqual(self.stats.messages - before, 2)


class MessageSizeTests(WebTestCase):
    """
    A message over L{MAX_MESSAGE_SIZE} bytes closes the connection (1009),
    counted as it arrives.
    """

    def test_closedBeforeWhole(self) -> None:
        """
        Once more than 64 KiB of a message has arrived, the client is told
        why and the WebSocket is closed with 1009, without waiting for the
        message's end: what is gathered of it never passes the bound.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        bob.clear()
        piece = "x" * 16384
        for _ in range(4):
            alice.receive(alice.ws.send(TextMessage(piece, message_finished=False)))
            alice.flush()
            self.assertIsNone(alice.closed)
        buffer = alice.protocol._ws._textBuffer  # type: ignore[union-attr]
        self.assertEqual(buffer._size, MAX_MESSAGE_SIZE)
        alice.receive(alice.ws.send(TextMessage("y", message_finished=False)))
        [error] = alice.flush()
        self.assertError(error, "*", "message-too-big")
        self.assertEqual(alice.closed, 1009)
        self.assertEqual(buffer._size, 0)
        self.assertTrue(alice.transport.disconnecting)
        self.assertEqual(bob.flush(), [])

    def test_binaryBounded(self) -> None:
        """
        Binary messages are bounded the same way.
        """
        alice = self.registered("alice")
        alice.receive(alice.ws.send(BytesMessage(b"x" * (MAX_MESSAGE_SIZE + 1))))
        alice.flush()
        self.assertEqual(alice.closed, 1009)

    def test_justUnder(self) -> None:
        """
        A message of 64 KiB is read: its text is over C{maxLineLength}, so
        it gets C{line-too-long}, and the connection stays.
        """
        alice = self.registered("alice")
        message = json.dumps({"type": "say", "text": ""})
        padding = "x" * (MAX_MESSAGE_SIZE - len(message))
        [error] = alice.send(raw=json.dumps({"type": "say", "text": padding}))
        self.assertError(error, "say", "line-too-long")
        self.assertIsNone(alice.closed)

    def test_unboundable(self) -> None:
        """
        If Twisted's WebSocket layer kept its buffers some other way, no
        message could be bounded: each client is closed with 1011, and an
        error logged.
        """

        class Wire:
            _textBuffer = None

        self.assertFalse(_capMessages(Wire(), 10, lambda: None))
        browser = self.browser()
        self.patch(_web, "_capMessages", lambda wire, cap, tooBig: False)
        with capturedLogs() as events:
            browser.upgrade()
        self.assertEqual(browser.closed, 1011)
        self.assertTrue(
            [e for e in events if e.get("log_level") is LogLevel.error],
            events,
        )


class RateTests(WebTestCase):
    """
    C{lineRate} and C{lineBurst} hold for messages.
    """

    limits = ChatLimits(lineRate=2, lineBurst=3)

    def test_paced(self) -> None:
        """
        Past the burst, messages wait and the connection is not read from;
        they are handled, in order, as the rate allows.
        """
        alice = self.registered("alice")
        self.clock.advance(10)
        alice.clear()
        replies = alice.send(*[{"type": "who"}] * 5)
        self.assertEqual(len(replies), 3)
        self.assertEqual(alice.transport.producerState, "paused")
        self.clock.advance(0.5)
        self.assertEqual(len(alice.flush()), 1)
        self.clock.advance(0.5)
        self.assertEqual(len(alice.flush()), 1)
        self.assertEqual(alice.transport.producerState, "producing")


class BacklogTests(WebTestCase):
    """
    A client that does not read is cut by the backlog limits.
    """

    limits = ChatLimits(
        lineRate=0, backlogSoft=1000, backlogSoftSeconds=5, backlogHard=5000
    )

    def test_hard(self) -> None:
        """
        Past C{backlogHard} bytes queued while the transport's buffer is
        full, the client is told, its room hears C{quit} (too slow to
        read), and the WebSocket is closed (1008); it stops being read from
        as soon as its buffer fills.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        bob.clear()
        alice.channel.pauseProducing()
        self.assertEqual(alice.transport.producerState, "paused")
        with capturedLogs() as events:
            for _ in range(60):
                bob.send({"type": "say", "text": "x" * 100})
        events2 = alice.flush()
        self.assertError(events2[-1], "*", "backlog")
        self.assertEqual(alice.closed, 1008)
        bob.flush()
        self.assertIn(
            {"type": "quit", "nick": "alice", "reason": "too slow to read"}, bob.events
        )
        self.assertIsNone(self.hub.nickOf(alice.protocol))
        self.assertTrue([e for e in events if "too slow to read" in formatEvent(e)])

    def test_soft(self) -> None:
        """
        Over C{backlogSoft} bytes for C{backlogSoftSeconds}, the client is
        cut; caught up before, it is not.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        alice.channel.pauseProducing()
        for _ in range(15):
            bob.send({"type": "say", "text": "x" * 100})
        self.clock.advance(4)
        alice.channel.resumeProducing()
        self.assertEqual(alice.transport.producerState, "producing")
        self.clock.advance(10)
        self.assertIsNone(alice.closed)
        alice.channel.pauseProducing()
        for _ in range(15):
            bob.send({"type": "say", "text": "x" * 100})
        self.clock.advance(5)
        alice.flush()
        self.assertEqual(alice.closed, 1008)


class TimeoutTests(WebTestCase):
    """
    The registration and idle timeouts.
    """

    limits = ChatLimits(lineRate=0, registrationTimeout=30, idleTimeout=100)

    def test_registration(self) -> None:
        """
        A client with no nickname after C{registrationTimeout} seconds is
        told, and closed (1008).
        """
        browser = self.connected()
        self.clock.advance(30)
        self.assertError(browser.flush()[-1], "*", "registration-timeout")
        self.assertEqual(browser.closed, 1008)

    def test_idle(self) -> None:
        """
        A client that sends nothing for C{idleTimeout} seconds is told,
        and closed; a message puts the clock back.
        """
        alice = self.registered("alice")
        self.clock.advance(90)
        alice.send({"type": "who"})
        self.clock.advance(90)
        self.assertIsNone(alice.closed)
        self.clock.advance(10)
        self.assertError(alice.flush()[-1], "*", "idle-timeout")
        self.assertEqual(alice.closed, 1008)


class LostTests(WebTestCase):
    """
    When the connection goes.
    """

    def test_lost(self) -> None:
        """
        A client whose connection is lost leaves the hub (its room hears
        C{quit}), and leaves no delayed call behind.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        bob.clear()
        alice.channel.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(
            bob.flush(),
            [{"type": "quit", "nick": "alice", "reason": "connection closed"}],
        )
        self.clock.advance(0)
        self.assertEqual(
            [
                call
                for call in self.clock.getDelayedCalls()
                if any(
                    getattr(getattr(call, "func", None), "__self__", None) is owner
                    for owner in (
                        alice.protocol,
                        alice.protocol._deadlines,
                        alice.protocol._pacer,
                    )
                )
            ],
            [],
        )
        self.assertTrue(alice.protocol.whenLost().called)

    def test_clientClosesFirst(self) -> None:
        """
        A client that closes the WebSocket while events are queued for it
        is not sent them, and nothing fails.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        alice.receive(alice.ws.send(CloseConnection(1000)))
        with capturedLogs() as events:
            bob.send({"type": "say", "text": "hi"})
            self.clock.advance(0)
        self.assertEqual([e for e in events if e.get("log_failure")], [])
        self.assertTrue(alice.transport.disconnecting)

    def test_closeDeadline(self) -> None:
        """
        Alone (no guard), a client that does not take its last messages
        is cut after a deadline.
        """
        alice = self.registered("alice")
        alice.send({"type": "quit"})
        self.assertTrue(alice.transport.disconnecting)
        self.assertFalse(alice.transport.disconnected)
        self.clock.advance(10)
        self.assertTrue(alice.transport.disconnected)


class GuardedTests(WebTestCase):
    """
    Behind the guard of the line protocol, as C{twistd netlab chat --web}
    serves it: shared limits, a drain, a refusal in HTTP.
    """

    def setUp(self) -> None:
        super().setUp()
        self.guard = ConnectionGuard(
            ChatFactory(self.hub, self.clock),
            self.clock,
            ConnectionLimits(maxConnections=3, maxPerSource=0, idleTimeout=0),
            "chat",
        )
        self.guard.listenerFactory("tcp")
        self.listener = self.guard.listenerFactory("tcp", self.site, "web", httpRefusal)
        self.listener.doStart()
        self.addCleanup(self.listener.doStop)

    def browser(self) -> Browser:
        return self.track(Browser(self.listener.buildProtocol(PEER), self.clock))

    def test_drain(self) -> None:
        """
        Draining tells each WebSocket client why in a C{note}, and closes
        it with 1001 (going away); an HTTP connection between requests is
        closed at once; the drain ends once all are gone.
        """
        alice = self.registered("alice")
        idle = self.browser()
        idle.receive(b"GET / HTTP/1.1\r\nHost: chat.example\r\n\r\n")
        self.assertEqual(_status(idle.transport.value()), 200)
        d = self.guard.drain(5, "the server is shutting down; goodbye")
        self.assertEqual(
            alice.flush(),
            [{"type": "note", "text": "the server is shutting down; goodbye"}],
        )
        self.assertEqual(alice.closed, 1001)
        self.assertTrue(idle.transport.disconnecting)
        for browser in (alice, idle):
            browser.channel.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(self.successResultOf(d))

    def test_drainLetsARequestFinish(self) -> None:
        """
        An HTTP request under way when the drain starts is answered, then
        the connection closes.
        """
        browser = self.browser()
        browser.receive(b"GET / HTTP/1.1\r\nHost: chat.example\r\n")
        self.guard.drain(5, "bye")
        self.assertFalse(browser.transport.disconnecting)
        browser.receive(b"\r\n")
        response = browser.transport.value()
        self.assertEqual(_status(response), 200)
        self.assertEqual(_headers(response)[b"connection"], b"close")
        self.assertTrue(browser.transport.disconnecting)

    def test_refusedInHTTP(self) -> None:
        """
        A connection over the guard's limits gets an HTTP 503 response
        saying why, and is closed.
        """
        for _ in range(3):
            self.browser()
        refused = self.browser()
        response = refused.transport.value()
        self.assertTrue(response.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"))
        self.assertIn(b"too many connections (3)", _body(response))
        self.assertEqual(
            int(_headers(response)[b"content-length"]), len(_body(response))
        )
        self.assertTrue(refused.transport.disconnecting)
        self.assertIsNone(httpRefusal("idle-timeout", "idle"))

    def test_countedAsWeb(self) -> None:
        """
        The site's connections and messages are counted under the
        C{protocol} label C{web}.
        """
        alice = self.registered("alice")
        alice.send({"type": "who"})
        web = [c for c in self.guard.byTransport() if c.protocol == "web"]
        [counts] = web
        self.assertEqual((counts.transport, counts.openConnections), ("tcp", 1))
        self.assertEqual(counts.messages, 2)

    def test_originRefusalCounted(self) -> None:
        """
        A WebSocket refused for its page's origin is counted as a
        C{web-origin} refusal of the web's transport.
        """
        self.assertFalse(self.browser().upgrade("http://evil.example:8080"))
        [counts] = [c for c in self.guard.byTransport() if c.protocol == "web"]
        self.assertEqual(counts.refusals, {"web-origin": 1})

    def test_guardedCloseDeadline(self) -> None:
        """
        Behind a guard, closing leaves the deadline to the guard's close
        timeout.
        """
        alice = self.registered("alice")
        alice.send({"type": "quit"})
        self.assertIsNone(alice.protocol._abortCall)
        self.assertTrue(alice.transport.disconnecting)


class FrameLimitTests(WebTestCase):
    """
    What is not a whole message (empty frames, pings) is bounded too: by a
    count of frames per message, and by a byte budget on reading.
    """

    limits = ChatLimits(lineRate=5, lineBurst=20)

    def test_tooManyFragments(self) -> None:
        """
        A message in more than L{MAX_FRAGMENTS} frames closes the
        connection with 1009, as one too big does.
        """
        alice = self.registered("alice")
        frames = b"".join(
            alice.ws.send(TextMessage("", message_finished=False))
            for _ in range(MAX_FRAGMENTS + 1)
        )
        alice.receive(frames)
        alice.flush()
        self.assertEqual(alice.closed, 1009)

    def test_byteBudget(self) -> None:
        """
        Past its byte budget (twice the longest line per line allowed, a
        burst of at least one biggest message), a client is not read from
        until the budget allows again; what arrived is still read.
        """
        alice = self.registered("alice")
        transport = alice.transport
        pings = b"".join(alice.ws.send(Ping(b"x" * 100)) for _ in range(700))
        alice.receive(pings)
        # About 74 KB against a burst of 64 KiB and 10 KiB/s: 0.85 s over.
        self.assertEqual(transport.producerState, "paused")
        self.clock.advance(0.8)
        self.assertEqual(transport.producerState, "paused")
        self.clock.advance(0.1)
        self.assertEqual(transport.producerState, "producing")

    def test_noBudgetWithoutRate(self) -> None:
        """
        With no line rate, there is no byte budget either.
        """
        self.site = chatWebSite(self.hub, self.clock, NO_RATE, (), self.stats)
        alice = self.registered("alice")
        alice.receive(b"".join(alice.ws.send(Ping(b"x" * 100)) for _ in range(2000)))
        self.assertEqual(alice.transport.producerState, "producing")


class PingTests(WebTestCase):
    """
    The server pings every L{PING_INTERVAL} seconds, and closes a
    connection that answers none of two pings.
    """

    def pings(self, browser: Browser) -> int:
        browser.flush()
        return sum(1 for event in browser.ws.events() if isinstance(event, Ping))

    def test_unanswered(self) -> None:
        """
        Two pings unanswered, and the connection is closed with 1001; the
        nickname is free once it is gone.
        """
        alice = self.registered("alice")
        data = alice.transport.value()
        self.clock.advance(PING_INTERVAL)
        self.assertIn(b"netlab", alice.transport.value()[len(data) :])
        self.clock.advance(PING_INTERVAL)
        self.assertFalse(alice.transport.disconnecting)
        self.clock.advance(PING_INTERVAL)
        alice.flush()
        self.assertEqual(alice.closed, 1001)
        self.assertTrue(alice.transport.disconnecting)

    def test_answered(self) -> None:
        """
        A client that answers (as browsers do by themselves) stays, however
        long it is quiet.
        """
        alice = self.registered("alice")
        for _ in range(5):
            self.clock.advance(PING_INTERVAL)
            alice.flush()
            alice.receive(alice.ws.send(Pong(b"netlab")))
        self.assertIsNone(alice.closed)
        self.assertFalse(alice.transport.disconnecting)

    def test_lostCancels(self) -> None:
        """
        A lost connection leaves no ping or budget timer behind.
        """
        alice = self.registered("alice")
        alice.channel.connectionLost(Failure(ConnectionDone()))
        self.assertEqual([c for c in self.clock.getDelayedCalls() if c.active()], [])


class AfterCloseTests(WebTestCase):
    """
    What arrives in the same read as what closes the connection is not
    acted on, and raises nothing.
    """

    def test_tooBigThenPing(self) -> None:
        """
        A message too big followed by a ping in one read closes with 1009,
        and answering the ping is not attempted.
        """
        alice = self.registered("alice")
        data = alice.ws.send(BytesMessage(b"x" * (MAX_MESSAGE_SIZE + 1)))
        data += alice.ws.send(Ping(b"after"))
        alice.receive(data)
        alice.flush()
        self.assertEqual(alice.closed, 1009)

    def test_quitThenPing(self) -> None:
        """
        A quit followed by a ping in one read closes normally.
        """
        alice = self.registered("alice")
        data = alice.ws.send(TextMessage(json.dumps({"type": "quit"})))
        data += alice.ws.send(Ping(b"after"))
        alice.receive(data)
        alice.flush()
        self.assertEqual(alice.closed, 1000)
