"""
The chat in a browser: an HTTP site serving one page (HTML, CSS and
JavaScript shipped in C{netlab/chat/web/}) and, at C{/ws}, a WebSocket on
which each browser is one more participant of the hub (L{WebChatProtocol}),
in the same rooms as the line protocol's users.

The messages are JSON (L{netlab.chat._json}); the commands, limits and
timers are the line protocol's own collaborators
(L{netlab.chat._participant}).  Twisted's C{twisted.web.websocket} speaks
the WebSocket protocol.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from twisted.web.websocket import WebSocketResource, WebSocketTransport
from wsproto.utilities import LocalProtocolError
from zope.interface import implementer

from netlab._peer import formatPeer
from netlab._ratelog import RateLimitedLog
from netlab.chat._hub import ChatHub, IChatParticipant
from netlab.chat._json import formatMessage, parseMessage
from netlab.chat._origin import normalizeOrigin, originAllowed
from netlab.chat._participant import (
    BACKLOG,
    BACKLOG_ERROR,
    SLOW_CONSUMER_CLOSE_TIMEOUT,
    Backlog,
    ChatCommands,
    Deadlines,
    InputPacer,
    OutputBatch,
    ReadGate,
    TokenBucket,
    closeWithDeadline,
)
from netlab.chat._server import ChatLimits
from netlab.chat._wire import ChatEvent, Error, History, Notice, Reply
from netlab.errors import StartupError
from netlab.policies import IDrainable, TrafficStats

__all__ = [
    "MAX_FRAGMENTS",
    "MAX_MESSAGE_SIZE",
    "PING_INTERVAL",
    "SECURITY_HEADERS",
    "WebChatProtocol",
    "chatWebSite",
    "httpRefusal",
]

_log = Logger()

MAX_MESSAGE_SIZE = 64 * 1024
"""
The most bytes a WebSocket message from a client may have; one more, and
the connection is closed with status 1009 (message too big), counted as
they arrive, before Twisted's WebSocket layer would hold the whole message.
"""

MAX_FRAGMENTS = 1024
"""
The most frames one WebSocket message from a client may come in; one more,
and the connection is closed with status 1009, as for a message too big
(empty frames would otherwise cost the server without ever adding up).
"""

PING_INTERVAL = 30.0
"""
Seconds between the server's pings; a client that has not answered two is
gone (a phone that changed networks, a laptop asleep), and its connection
is closed, freeing its nickname.
"""

READ = 4
"""
L{ReadGate}'s reason: the client sent more bytes than its byte budget.
"""

NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011

SECURITY_HEADERS = {
    b"Content-Security-Policy": (
        b"default-src 'none'; script-src 'self'; style-src 'self'; "
        b"img-src 'self'; connect-src 'self'; base-uri 'none'; "
        b"form-action 'none'; frame-ancestors 'none'"
    ),
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
    b"X-Frame-Options": b"DENY",
    b"Cross-Origin-Opener-Policy": b"same-origin",
}
"""
The headers of every response of the site: no script, style or connection
but the site's own (so none inline), nothing sniffed, no referrer, never in
a frame.
"""

_WELCOME = Notice('Welcome to netlab chat. Choose a nickname: {"type": "nick", ...}.')

_BINARY = Error(
    "*",
    "bad-json",
    "messages are JSON objects in text frames; a binary one was dropped",
)


@implementer(IChatParticipant, IPushProducer, IDrainable)
class WebChatProtocol:
    """
    One WebSocket client of the chat (a browser, or a program): turns JSON
    messages into commands, and what the hub delivers into JSON messages
    (L{netlab.chat._json}).

    Its limits are the line protocol's, through the same collaborators: a
    message's text over C{maxLineLength} bytes is refused with an C{err}
    (the connection stays); messages are handled at C{lineRate}, reading
    stopped beyond it; a client that does not read is disconnected by the
    backlog limits; the registration and idle timeouts close it.  A message
    over L{MAX_MESSAGE_SIZE} closes the connection with status 1009.

    It is a streaming producer of the HTTP request that was upgraded, so
    that it hears when the client does not take what is sent (more than
    64 KiB waiting in the transport).
    """

    def __init__(
        self,
        hub: ChatHub,
        clock: IReactorTime,
        limits: ChatLimits,
        connection: Any,
        consumer: Any,
        batch: OutputBatch[WebChatProtocol] | None = None,
        stats: TrafficStats | None = None,
        forget: Callable[[WebChatProtocol], object] | None = None,
        pingInterval: float = PING_INTERVAL,
    ) -> None:
        """
        @param hub: the hub to join.
        @param clock: drives the limits, the timeouts and the output.
        @param limits: this connection's limits.
        @param connection: the transport under the WebSocket: read from
            (paused and resumed), closed and aborted.
        @param consumer: what it registers with as a producer (the HTTP
            request that was upgraded).
        @param batch: where output waits for the end of the reactor's turn;
            shared by a site's connections.
        @param stats: counts each message received.
        @param forget: called with this protocol when its connection is
            lost.
        @param pingInterval: seconds between pings (see L{PING_INTERVAL});
            0 for none.
        """
        self._hub = hub
        self._clock = clock
        self._limits = limits
        self._connection = connection
        self._consumer = consumer
        self._batch = batch or OutputBatch(clock)
        self._stats = stats if stats is not None else TrafficStats("chat")
        self._forget = forget
        self._ws: WebSocketTransport | None = None
        self._output: list[ChatEvent | History | Reply | Error] = []
        self._gate = ReadGate()
        self._pacer: InputPacer[str | None] = InputPacer(
            clock, limits.lineRate, limits.lineBurst, self._gate, self._handle
        )
        self._backlog = Backlog(
            clock,
            limits.backlogSoft,
            limits.backlogSoftSeconds,
            limits.backlogHard,
            self._dropSlowConsumer,
        )
        self._deadlines = Deadlines(
            clock,
            limits.registrationTimeout,
            limits.idleTimeout,
            lambda error: self._close(error, POLICY_VIOLATION),
        )
        self._commands = ChatCommands(
            hub,
            self,
            self._send,
            self._deadlines.registered,
            self._closeAfterQuit,
            '{"type": "msg", "to": NICK, "text": TEXT}',
            self._pacer.waitFor,
        )
        self._capped = False
        self._pingInterval = pingInterval
        self._pingCall: IDelayedCall | None = None
        self._unanswered = 0
        # Bytes, whole messages or not (pings, empty frames), paced as the
        # lines are: a budget of twice the longest line per line allowed,
        # and a burst of at least one message of the biggest size.
        byteRate = 2.0 * limits.lineRate * limits.maxLineLength
        self._bytes = (
            TokenBucket(
                clock,
                byteRate,
                max(
                    float(MAX_MESSAGE_SIZE),
                    2.0 * limits.lineBurst * limits.maxLineLength,
                ),
            )
            if byteRate
            else None
        )
        self._byteResumeCall: IDelayedCall | None = None
        self._closing = False
        self._isLost = False
        self._abortCall: IDelayedCall | None = None
        self._lost: list[Deferred[None]] = []

    def __repr__(self) -> str:
        return f"<WebChatProtocol {self._hub.nickOf(self) or '(no nickname)'}>"

    # The WebSocket

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        """
        The upgrade is under way: nothing may be written yet.
        """
        self._ws = transport
        self._capped = _capMessages(transport, MAX_MESSAGE_SIZE, self._tooBig)

    def negotiationFinished(self) -> None:
        """
        The WebSocket is open: greet the client, and start the clocks.
        """
        if not self._capped:
            _log.error(
                "chat: this Twisted's WebSocket has no message buffers netlab "
                "can bound; refusing WebSocket clients (upgrade netlab)"
            )
            self._close(
                Error("*", "server-error", "the server cannot take messages"),
                INTERNAL_ERROR,
            )
            return
        self._consumer.registerProducer(self, True)
        self._gate.producer = self._connection
        self._send(_WELCOME)
        self._deadlines.start()
        if self._pingInterval:
            self._pingCall = self._clock.callLater(self._pingInterval, self._ping)

    @property
    def closing(self) -> bool:
        """
        Whether the connection is being closed: what the client sends now
        is not read.
        """
        return self._closing

    def received(self, size: int) -> None:
        """
        C{size} bytes arrived from the client, before the WebSocket layer
        reads them: past the byte budget, reading stops until the budget
        allows again (what arrived is still read).
        """
        bucket = self._bytes
        if bucket is None:
            return
        bucket.level()
        bucket.spend(size)
        if bucket.tokens < 0 and self._byteResumeCall is None:
            self._gate.pause(READ)
            self._byteResumeCall = self._clock.callLater(
                bucket.waitFor(0), self._byteBudgetBack
            )

    def _byteBudgetBack(self) -> None:
        self._byteResumeCall = None
        self._gate.resume(READ)

    def _ping(self) -> None:
        self._pingCall = None
        ws = self._ws
        if self._closing or ws is None:
            return
        if self._unanswered >= 2:
            _log.info(
                "chat: closing the WebSocket of {peer}: no answer to two pings",
                peer=formatPeer(self._connection),
            )
            self._close(None, GOING_AWAY)
            return
        self._unanswered += 1
        ws.ping(b"netlab")
        self._pingCall = self._clock.callLater(self._pingInterval, self._ping)

    def textMessageReceived(self, message: str) -> None:
        """
        A message: handled in turn, as the rate allows.
        """
        if not self._closing:
            self._pacer.feed((message,))

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        """
        A binary message: refused in its turn.
        """
        if not self._closing:
            self._pacer.feed((None,))

    def pongReceived(self, payload: bytes) -> None:
        """
        The client answered a ping: it is there (which is not activity for
        the idle timeout).
        """
        self._unanswered = 0

    def connectionLost(self, reason: Failure) -> None:
        """
        The connection is gone: the participant leaves the hub.
        """
        self._closing = True
        self._isLost = True
        self._gate.stop()
        self._pacer.stop()
        self._backlog.stop()
        self._deadlines.stop()
        for call in (self._abortCall, self._pingCall, self._byteResumeCall):
            if call is not None and call.active():
                call.cancel()
        self._abortCall = self._pingCall = self._byteResumeCall = None
        self._output.clear()
        self._hub.quit(self, "connection closed")
        if self._forget is not None:
            self._forget(self)
        waiting, self._lost = self._lost, []
        for d in waiting:
            d.callback(None)

    def whenLost(self) -> Deferred[None]:
        """
        @return: a Deferred that fires once the connection is lost.
        """
        if self._isLost:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._lost.append(d)
        return d

    # Input

    def _handle(self, message: str | None) -> None:
        if message is None:
            self._send(_BINARY)
            return
        command = parseMessage(message, self._limits.maxLineLength)
        if isinstance(command, Error):
            self._stats.messages += 1
            self._send(command)
            return
        name, args = command.name, command.args
        if name == "say" and not args[0].strip():
            # Nothing to say, and nothing to answer (a blank line).
            return
        self._stats.messages += 1
        self._deadlines.touch()
        self._commands.run(name, *args)

    def _tooBig(self) -> None:
        if self._closing:
            return
        _log.info(
            "chat: closing the WebSocket of {peer}: a message over {limit} bytes",
            peer=formatPeer(self._connection),
            limit=MAX_MESSAGE_SIZE,
        )
        self._close(
            Error(
                "*",
                "message-too-big",
                f"messages may be {MAX_MESSAGE_SIZE} bytes at most; goodbye",
            ),
            MESSAGE_TOO_BIG,
        )

    # Output

    def _send(self, line: ChatEvent | History | Reply | Error) -> None:
        if self._closing:
            # The close is under way: nothing more can be sent.
            return
        if not self._output:
            self._batch.add(self)
        self._output.append(line)

    def deliver(self, event: object, line: bytes) -> None:
        """
        Queue an event for the client, sent at the end of the reactor's
        turn (see L{flushOutput}).
        """
        self._send(event)  # type: ignore[arg-type]

    def flushOutput(self) -> None:
        """
        Send what is queued, one message per event, unless the client has
        been backlogged for too long or by too much, in which case it is
        disconnected with a reason: it never silently misses an event.
        """
        output = self._output
        if not output or self._ws is None:
            return
        texts = [formatMessage(line) for line in output]
        output.clear()
        if self._backlog.since is not None and not self._backlog.count(
            sum(len(text.encode("utf-8")) for text in texts)
        ):
            self._dropSlowConsumer()
            return
        for text in texts:
            if not self._sendText(text):
                return

    def _sendText(self, text: str) -> bool:
        """
        @return: whether C{text} was sent: not once the client has begun
            to close the WebSocket.
        """
        ws = self._ws
        if ws is None:
            return False
        try:
            ws.sendTextMessage(text)
        except LocalProtocolError:
            # The client closed the WebSocket; the connection goes next.
            self._output.clear()
            self._stopReading()
            return False
        return True

    # Closing

    def disconnect(self, reason: str) -> None:
        """
        Tell the client C{reason} in a C{note}, and close the WebSocket
        with status 1001 (going away) once everything is sent
        (L{IDrainable}).
        """
        self._close(Notice(reason), GOING_AWAY)

    def _closeAfterQuit(self) -> None:
        self._close(None, NORMAL_CLOSURE)

    def _close(self, line: ChatEvent | Error | None, code: int) -> None:
        if self._closing:
            return
        if line is not None:
            self._send(line)
        self.flushOutput()
        self._stopReading()
        self._closeWebSocket(code)

    def _closeWebSocket(self, code: int, timeout: float | None = None) -> None:
        ws = self._ws

        def close() -> None:
            if ws is None:
                self._connection.loseConnection()
                return
            try:
                ws.loseConnection(code)
            except LocalProtocolError:
                # Already closing: the client closed first.
                self._connection.loseConnection()

        call = closeWithDeadline(self._connection, self._clock, close, timeout)
        if self._isLost:
            if call is not None and call.active():
                call.cancel()
        else:
            self._abortCall = call

    def _stopReading(self) -> None:
        self._closing = True
        self._gate.stop()
        self._pacer.stop()

    def _dropSlowConsumer(self) -> None:
        if self._closing:
            return
        self._backlog.logDrop(self._hub.nickOf(self), formatPeer(self._connection))
        self._stopReading()
        self._output.clear()
        self._hub.quit(self, "too slow to read")
        self._sendText(formatMessage(BACKLOG_ERROR))
        self._closeWebSocket(POLICY_VIOLATION, SLOW_CONSUMER_CLOSE_TIMEOUT)

    # IPushProducer: the transport's output buffer is full, or drained.

    def pauseProducing(self) -> None:
        self._backlog.paused()
        self._gate.pause(BACKLOG)

    def resumeProducing(self) -> None:
        self._backlog.resumed()
        self._gate.resume(BACKLOG)

    def stopProducing(self) -> None:
        pass


class _CappedBuffer:
    """
    Where Twisted's WebSocket layer gathers the pieces of a message (its
    own buffer's interface: C{add} and C{done}), holding at most C{cap}
    bytes: past that, the message is thrown away and C{tooBig} is called.
    """

    __slots__ = ("_cap", "_data", "_empty", "_over", "_pieces", "_size", "_tooBig")

    def __init__(self, empty: Any, cap: int, tooBig: Callable[[], object]) -> None:
        self._empty = empty[0:0]
        self._data = self._empty
        self._cap = cap
        self._size = 0
        self._pieces = 0
        self._over = False
        self._tooBig = tooBig

    def add(self, new: Any) -> None:
        if self._over:
            return
        size = len(new.encode("utf-8")) if isinstance(new, str) else len(new)
        self._pieces += 1
        if self._size + size > self._cap or self._pieces > MAX_FRAGMENTS:
            self._over = True
            self._data = self._empty
            self._size = 0
            self._tooBig()
            return
        self._data += new
        self._size += size

    def done(self) -> Any:
        data = self._data
        self._data = self._empty
        self._size = 0
        self._pieces = 0
        self._over = False
        return data


def _capMessages(wire: object, cap: int, tooBig: Callable[[], object]) -> bool:
    """
    Bound the messages Twisted's WebSocket layer gathers on C{wire} (its
    private C{_WebSocketWireProtocol}): it keeps the pieces of a message
    in a buffer for text and one for bytes until the message is whole,
    with no limit.  wsproto hands it the pieces as they arrive, so a
    bounded buffer is a bound before any message is held whole.

    @return: whether it could: C{False} if this Twisted keeps its buffers
        some other way.
    """
    for name in ("_textBuffer", "_bytesBuffer"):
        buffer = getattr(wire, name, None)
        if not (
            callable(getattr(buffer, "add", None))
            and callable(getattr(buffer, "done", None))
            and isinstance(getattr(buffer, "data", None), (str, bytes, bytearray))
        ):
            return False
    for name in ("_textBuffer", "_bytesBuffer"):
        buffer = getattr(wire, name)
        setattr(wire, name, _CappedBuffer(buffer.data, cap, tooBig))
    return True


class _OriginCheck(Resource):
    """
    The WebSocket resource, behind a check of the request's C{Origin}
    (see L{originAllowed}): a request from another site's page is refused
    with 403 before any upgrade.  A request without C{Origin} comes from a
    program, not a browser page, and is let through.
    """

    isLeaf = True

    def __init__(
        self, wrapped: Resource, allowed: frozenset[str], clock: IReactorTime
    ) -> None:
        super().__init__()
        self._wrapped = wrapped
        self._allowed = allowed
        self._refusals = RateLimitedLog(_log, clock)

    def render(self, request: Any) -> Any:
        if request.postpath not in ([], [b""]):
            return _NotFound().render(request)
        if request.method != b"GET":
            return _notAllowed(request, b"GET")
        origin = request.getHeader(b"origin")
        if origin is not None:
            host = request.getHeader(b"host")
            if not originAllowed(
                origin.decode("latin-1"),
                host.decode("latin-1") if host is not None else None,
                request.isSecure(),
                self._allowed,
            ):
                stats = getattr(request.channel.transport, "stats", None)
                if isinstance(stats, TrafficStats):
                    stats.refusals["web-origin"] = (
                        stats.refusals.get("web-origin", 0) + 1
                    )
                self._refusals.warn(
                    "chat: refused a WebSocket from {peer}: its page's origin "
                    "{origin} may not use the chat (--web-origin)",
                    peer=formatPeer(request.channel.transport),
                    origin=origin.decode("latin-1")[:200],
                )
                return _plain(
                    request,
                    403,
                    "a page of another site may not use this chat; "
                    "its server allows the origins given with --web-origin\n",
                )
        return self._wrapped.render(request)


# The site


def _plain(request: Any, code: int, text: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return text.encode("utf-8")


def _notAllowed(request: Any, allow: bytes = b"GET, HEAD") -> bytes:
    request.setHeader(b"Allow", allow)
    return _plain(request, 405, f"use {allow.decode()}\n")


class _NotFound(Resource):
    isLeaf = True

    def render(self, request: Any) -> bytes:
        return _plain(request, 404, "not found: this chat serves / and /ws\n")


class _File(Resource):
    """
    One file of the page, held in memory, with an C{ETag}.
    """

    isLeaf = True

    def __init__(self, body: bytes, contentType: bytes) -> None:
        super().__init__()
        self._body = body
        self._type = contentType
        self._etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'

    def render(self, request: Any) -> bytes:
        if request.postpath not in ([], [b""]):
            return _NotFound().render(request)
        if request.method not in (b"GET", b"HEAD"):
            return _notAllowed(request)
        request.setHeader(b"Content-Type", self._type)
        request.setHeader(b"Cache-Control", b"no-cache")
        if request.setETag(self._etag):
            return b""
        return self._body


PAGE_FILES = {
    b"": ("index.html", b"text/html; charset=utf-8"),
    b"chat.js": ("chat.js", b"text/javascript; charset=utf-8"),
    b"chat.css": ("chat.css", b"text/css; charset=utf-8"),
    b"favicon.svg": ("favicon.svg", b"image/svg+xml"),
}
"""
The page's files, by the path they are served at: package data of
C{netlab.chat}, in C{web/}.
"""


def _pageFiles() -> dict[bytes, _File]:
    """
    @raise StartupError: if a file is missing from the installed netlab.
    """
    folder = resources.files("netlab.chat") / "web"
    files = {}
    for path, (name, contentType) in PAGE_FILES.items():
        try:
            body = (folder / name).read_bytes()
        except OSError as e:
            raise StartupError(
                f"the chat's web page is missing from this netlab ({name}: "
                f"{e.strerror or e}); reinstall netlab"
            ) from None
        files[path] = _File(body, contentType)
    return files


class _Root(Resource):
    def __init__(self, files: dict[bytes, _File], ws: Resource) -> None:
        super().__init__()
        self._files = files
        self._ws = ws

    def getChild(self, path: bytes, request: Any) -> Resource:
        if path == b"ws":
            return self._ws
        return self._files.get(path) or _NotFound()


class _Request(Request):
    """
    A request of the chat's site: every response has the
    L{SECURITY_HEADERS}, and a request's body, which nothing here reads, is
    thrown away as it comes rather than kept (in memory, or in a file once
    it is large).
    """

    def gotLength(self, length: int | None) -> None:
        self.content = io.BytesIO()

    def handleContentChunk(self, data: bytes) -> None:
        pass

    def process(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.setHeader(name, value)
        super().process()


@implementer(IDrainable)
class _Channel(HTTPChannel):
    """
    An HTTP connection of the chat's site, which knows how to end when the
    service stops: through its WebSocket participant once upgraded (which
    says goodbye), after the response to the request it is answering, or
    at once if it is answering none.

    @ivar webSocket: its participant, once upgraded.
    """

    webSocket: WebChatProtocol | None = None
    _draining = False

    def disconnect(self, reason: str) -> None:
        self._draining = True
        if self.webSocket is not None:
            self.webSocket.disconnect(reason)
        elif self.requests:
            # Closed once the response is sent.
            self.persistent = False
        else:
            self.loseConnection()

    def _protocolUpgradeForWebsockets(self, protocol: Any) -> None:
        super()._protocolUpgradeForWebsockets(protocol)
        deliver = protocol.dataReceived

        def dataReceived(data: bytes) -> None:
            webSocket = self.webSocket
            if webSocket is not None:
                if webSocket.closing:
                    # Closing: what the client sends now is not read.
                    return
                webSocket.received(len(data))
            try:
                deliver(data)
            except LocalProtocolError:
                # The connection began to close within this read (a message
                # too big, a quit): the rest of it (a ping to answer, say)
                # cannot be acted on.
                if webSocket is None or not webSocket.closing:
                    raise

        self.dataReceived = dataReceived  # type: ignore[method-assign]

    def checkPersistence(self, request: Any, version: bytes) -> bool:
        if self._draining:
            request.responseHeaders.setRawHeaders(b"Connection", [b"close"])
            return False
        return bool(super().checkPersistence(request, version))


class _Site(Site):
    """
    The chat's site: the page, C{/ws}, and a C{stats} attribute for the
    guard to count the web in.
    """

    protocol = _Channel  # type: ignore[assignment]
    requestFactory = _Request
    displayTracebacks = False
    noisy = False
    stats: TrafficStats


class _WebChatFactory:
    """
    Builds a L{WebChatProtocol} for each upgraded request.
    """

    def __init__(
        self,
        hub: ChatHub,
        clock: IReactorTime,
        limits: ChatLimits,
        site: _Site,
    ) -> None:
        self._hub = hub
        self._clock = clock
        self._limits = limits
        self._site = site
        self._batch: OutputBatch[WebChatProtocol] = OutputBatch(clock)

    def buildProtocol(self, request: Request) -> WebChatProtocol:
        channel: Any = request.channel
        connection = channel.transport
        # Behind a guard, the connection's own counters: those of the
        # listener it came in by.
        stats = getattr(connection, "stats", None)
        if not isinstance(stats, TrafficStats):
            stats = self._site.stats
        protocol = WebChatProtocol(
            self._hub,
            self._clock,
            self._limits,
            connection,
            request,
            self._batch,
            stats,
        )
        if isinstance(channel, _Channel):
            channel.webSocket = protocol
        return protocol


def chatWebSite(
    hub: ChatHub,
    clock: IReactorTime,
    limits: ChatLimits | None = None,
    origins: Iterable[str] = (),
    stats: TrafficStats | None = None,
) -> Site:
    """
    The chat's web site: the page at C{/}, the WebSocket at C{/ws}.  Serve
    it on any stream endpoint (C{ssl:} and C{tls:} give HTTPS and WSS),
    behind a L{netlab.policies.ConnectionGuard} (which C{twistd netlab chat
    --web} shares with the line protocol): its connections are
    L{IDrainable}, WebSocket users told why in a C{note}.

    @param hub: the hub every WebSocket client joins.
    @param clock: the reactor, or a C{Clock} in tests.
    @param limits: the limits of every WebSocket client; the defaults if
        C{None}.
    @param origins: the origins (C{https://chat.example.org}) whose pages
        may open the WebSocket; if none, a page whose origin has the host
        and port of the request's C{Host}.
    @param stats: the counters of the site's messages (its C{stats}); new
        ones if C{None}.
    @raise ValueError: if an origin is not one (see L{normalizeOrigin}).
    @raise StartupError: if the page's files are missing.
    """
    allowed = set()
    for origin in origins:
        normal = normalizeOrigin(origin)
        if normal is None:
            raise ValueError(
                f"{origin!r} is not an origin: give scheme://host[:port], "
                "e.g. https://chat.example.org"
            )
        allowed.add(normal)
    files = _pageFiles()
    root = _Root(files, _NotFound())
    site = _Site(root, reactor=clock)
    site.stats = stats if stats is not None else TrafficStats("chat", protocol="web")
    factory = _WebChatFactory(hub, clock, limits or ChatLimits(), site)
    root._ws = _OriginCheck(WebSocketResource(factory), frozenset(allowed), clock)
    return site


def httpRefusal(code: str, text: str) -> bytes | None:
    """
    What a web connection refused by the guard gets: an HTTP 503 response
    saying why (a browser's WebSocket then fails, and tries again later);
    nothing for a connection cut when it was open (C{idle-timeout}).
    """
    if code == "idle-timeout":
        return None
    body = f"{text}\n".encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: %d\r\n"
        b"Retry-After: 10\r\n"
        b"Connection: close\r\n"
        b"\r\n" % len(body)
    ) + body
