"""
The chat client library: a session with a chat server, as Deferreds and
events.

L{connectChat} connects and registers a nickname; the L{ChatSession} it
gives has a method per command (L{ChatSession.join}, L{ChatSession.who},
...), each returning a Deferred of the server's reply, and hands everything
else the server says (messages, joins, notices...) to listeners and to
L{ChatSession.events} iterators::

    async def chat(reactor):
        endpoint = HostnameEndpoint(reactor, "localhost", 21569)
        session = await connectChat(endpoint, "alice", clock=reactor)
        print(await session.who())
        session.say("hello")
        async for event in session.events():
            print(event)

Lines are parsed and written by L{netlab.chat._wire}; nothing here imports
or starts the reactor at import time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import (
    IReactorTime,
    IStreamClientEndpoint,
    ITCPTransport,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from netlab._connect import connect
from netlab._lines import LineBuffer
from netlab._pending import PendingReplies
from netlab._udpclient import globalReactor
from netlab.chat._wire import (
    Action,
    Error,
    History,
    Joined,
    NickChanged,
    Notice,
    Parted,
    PrivateMessage,
    Quit,
    Reply,
    RoomMessage,
    isValidNick,
    isValidRoom,
    normalizeNick,
    parseCommand,
    parseServerLine,
)
from netlab.errors import (
    ChatError,
    ConnectionClosed,
    MalformedReply,
    ProtocolError,
)

__all__ = [
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_TIMEOUT",
    "MAX_RECEIVE_LENGTH",
    "ChatSession",
    "EventStream",
    "SessionEvent",
    "connectChat",
]

DEFAULT_TIMEOUT = 10.0
"""
Seconds to wait for a connection, for the nickname to be accepted, and then
for the reply to each command.
"""

DEFAULT_MAX_LINE_LENGTH = 1024
"""
The longest line, in bytes without its line ending, that a session sends:
the server's default limit.
"""

MAX_RECEIVE_LENGTH = 65536
"""
The longest line, in bytes without its line ending, that a session accepts
from the server; a server that sends more without a line feed is cut off.
"""

SessionEvent = (
    RoomMessage
    | Action
    | PrivateMessage
    | Joined
    | Parted
    | NickChanged
    | Quit
    | Notice
    | History
    | Error
)
"""
What a session's listeners hear: anything the server says that is not the
reply to a command, including an C{ERR} about no pending command (a refused
plain line or C{/me}, or C{ERR *}).
"""

_log = Logger()


@attrs.frozen
class _Command:
    """
    A slash command sent, waiting for its reply.

    @ivar name: the command's name, which its reply names too.
    @ivar line: the line sent, encoded and ended.
    """

    name: str
    line: bytes


def _sameNick(one: str, other: str) -> bool:
    return normalizeNick(one) == normalizeNick(other)


def _checkNick(nick: str) -> None:
    if not isValidNick(nick):
        raise ValueError(f"{nick!r} is not a valid nickname")


class EventStream:
    """
    An asynchronous iterator over a session's events, from when it was made
    until the connection closes; get one with L{ChatSession.events}.

    Events are queued until taken, so a stream that is no longer read should
    be closed with L{aclose}.
    """

    def __init__(self, session: ChatSession) -> None:
        self._session = session
        self._queue: deque[SessionEvent] = deque()
        self._waiting: Deferred[SessionEvent | None] | None = None
        self._ended = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> SessionEvent:
        if self._queue:
            return self._queue.popleft()
        if self._ended:
            raise StopAsyncIteration
        self._waiting = Deferred(self._cancelled)
        event = await self._waiting
        if event is None:
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        """
        Stop receiving events; the iteration ends.  Usable from anywhere,
        C{reactor.callLater} included.
        """
        self._session._streams.discard(self)
        self._end()

    async def aclose(self) -> None:
        """
        The same as L{close}, for C{async with}-style code.
        """
        self.close()

    def _cancelled(self, d: Deferred[SessionEvent | None]) -> None:
        self._waiting = None

    def _put(self, event: SessionEvent) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.callback(event)
        else:
            self._queue.append(event)

    def _end(self) -> None:
        self._ended = True
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.callback(None)


class ChatSession(Protocol):
    """
    One connection to a chat server, registered under a nickname; get one
    with L{connectChat}.

    Commands are pipelined: each is sent at once, and the server answers
    every slash command with exactly one C{OK} or C{ERR} line naming it, in
    order, so each reply goes to the oldest command still waiting.  Anything
    else the server sends is an event, given to every listener
    (L{addListener}) and every L{EventStream} (L{events}).

    @ivar nick: this session's nickname, kept current as it changes.
    @ivar room: the room this session is in, or C{None}; kept current from
        the server's C{JOIN} and C{PART} lines about this session.
    @ivar timeout: seconds to wait for each reply.
    @ivar maxLineLength: the longest line, in bytes, this session sends.
    @ivar closed: a Deferred that fires with C{None} when the connection is
        closed, whoever closed it.
    """

    transport: ITCPTransport

    def __init__(
        self,
        nick: str,
        timeout: float = DEFAULT_TIMEOUT,
        clock: IReactorTime | None = None,
        maxLineLength: int = DEFAULT_MAX_LINE_LENGTH,
    ) -> None:
        """
        @param nick: the nickname to register as the connection is made.
        @param timeout: seconds to wait for each reply.
        @param clock: the clock for timeouts; the global reactor if C{None}.
        @param maxLineLength: the longest line, in bytes without its line
            ending, to send; longer ones raise C{ValueError}.
        """
        self.nick = nick
        self.room: str | None = None
        self.timeout = timeout
        self.maxLineLength = maxLineLength
        self.closed: Deferred[None] = Deferred()
        self._replies: PendingReplies[_Command, Reply] = PendingReplies(
            clock or globalReactor(),
            self._write,
            self._abandoned,
            lambda command, t: (
                f"no reply to /{command.name} from the chat server in {t:g}s"
            ),
        )
        self._listeners: list[Callable[[SessionEvent], object]] = []
        self._streams: set[EventStream] = set()
        self._lines = LineBuffer(MAX_RECEIVE_LENGTH)
        self._lost = False
        self._aborted = False
        self._quitting = False
        self._whyLost: Exception = ConnectionClosed("the server closed the connection")
        self._closeWaiters: list[Deferred[None]] = []
        self._registered: Deferred[Reply] | None = None

    # Commands.

    def join(self, room: str) -> Deferred[str]:
        """
        Leave the current room, if any, and join C{room}.

        @return: a Deferred that fires with the room joined, or fails with
            L{ChatError} (for example C{room-invalid}), L{RequestTimedOut} or
            L{ConnectionClosed}.
        @raise ValueError: if C{room} is not a room name.
        """
        if not isValidRoom(room):
            raise ValueError(f"{room!r} is not a valid room name")
        return self._command("join", f"/join {room}").addCallback(
            lambda reply: reply.values[0] if reply.values else room
        )

    def part(self, reason: str = "") -> Deferred[str]:
        """
        Leave the current room.

        @param reason: why, told to the room.
        @return: a Deferred that fires with the room left, or fails with
            L{ChatError} (C{not-in-room}), L{RequestTimedOut} or
            L{ConnectionClosed}.
        @raise ValueError: for a reason with a line break, or too long.
        """
        line = f"/part {reason}" if reason else "/part"
        return self._command("part", line).addCallback(
            lambda reply: reply.values[0] if reply.values else ""
        )

    def say(self, text: str) -> None:
        """
        Say C{text} in the current room.  The server does not echo it back,
        and answers only if it refuses it: then listeners get an L{Error}
        whose command is C{"say"}.

        @param text: what to say; it may start with C{/}.
        @raise ValueError: for text with a line break, or too long.
        @raise ConnectionClosed: if the connection is closed.
        """
        self._send("/" + text if text.startswith("/") else text)

    def me(self, text: str) -> None:
        """
        Act C{text} in the current room (C{/me waves}).  As with L{say}, a
        refusal comes to listeners as an L{Error}, whose command is
        C{"me"}.

        @raise ValueError: for text with a line break, or too long.
        @raise ConnectionClosed: if the connection is closed.
        """
        self._send(f"/me {text}")

    def tell(self, nick: str, text: str) -> Deferred[str]:
        """
        Send C{text} privately to C{nick}.

        @return: a Deferred that fires with the recipient's nickname once
            the server has passed the message on, or fails with
            L{ChatError} (C{no-such-nick}), L{RequestTimedOut} or
            L{ConnectionClosed}.
        @raise ValueError: for an invalid nickname, or text with a line
            break or too long.
        """
        _checkNick(nick)
        return self._command("msg", f"/msg {nick} {text}").addCallback(
            lambda reply: reply.values[0] if reply.values else nick
        )

    def who(self) -> Deferred[list[str]]:
        """
        @return: a Deferred that fires with the nicknames in the current
            room, sorted, or fails with L{ChatError} (C{not-in-room}),
            L{RequestTimedOut} or L{ConnectionClosed}.
        """
        return self._command("who", "/who").addCallback(
            lambda reply: list(reply.values[1:])
        )

    def rooms(self) -> Deferred[list[tuple[str, int]]]:
        """
        @return: a Deferred that fires with every room and how many are in
            it, or fails with L{RequestTimedOut}, L{ConnectionClosed} or
            L{MalformedReply}.
        """
        return self._command("rooms", "/rooms").addCallback(_parseRooms)

    def rename(self, nick: str) -> Deferred[str]:
        """
        Change nickname.

        @return: a Deferred that fires with the new nickname, or fails with
            L{ChatError} (C{nick-taken}, C{nick-invalid}),
            L{RequestTimedOut} or L{ConnectionClosed}.
        @raise ValueError: for an invalid nickname.
        """
        _checkNick(nick)
        return self._command("nick", f"/nick {nick}").addCallback(
            lambda reply: reply.values[0] if reply.values else nick
        )

    def quit(self, reason: str = "") -> Deferred[None]:
        """
        Leave the chat: the others hear C{reason}, and the connection is
        closed.

        @return: a Deferred that fires once the connection is closed.
        @raise ValueError: for a reason with a line break, or too long.
        """
        if self._lost:
            return succeed(None)
        line = f"/quit {reason}" if reason else "/quit"
        quitting = self._command("quit", line)
        self._quitting = True
        self._whyLost = ConnectionClosed("the client quit")

        def done(result: object) -> Deferred[None]:
            return self.close()

        return quitting.addBoth(done)

    def close(self) -> Deferred[None]:
        """
        Close the connection without a word; commands still waiting fail
        with L{ConnectionClosed}.

        @return: a Deferred that fires when the connection is closed.
        """
        if self._lost:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._closeWaiters.append(d)
        if len(self._closeWaiters) == 1:
            if not self._quitting:
                self._whyLost = ConnectionClosed("the client closed the connection")
            self.transport.loseConnection()
        return d

    def sendCommand(self, line: str) -> Deferred[Reply] | None:
        """
        Send a line as a person typed it: a slash command (C{/who}), C{/me}
        or a plain line (C{//} starts a plain line beginning with a slash).

        @return: for a slash command other than C{/me}, a Deferred that
            fires with the server's L{Reply}, or fails with L{ChatError}
            (the server's C{ERR}), L{RequestTimedOut} or
            L{ConnectionClosed}; for a plain line or C{/me}, C{None} (the
            server answers only to refuse them, and that comes to listeners
            as an L{Error}).
        @raise ValueError: for a line with a line break, too long, or a
            slash with no command name.
        @raise ConnectionClosed: for a plain line or C{/me} once the
            connection is closed.
        """
        command = parseCommand(self._encode(line)[:-2])
        if command.name in ("say", "me"):
            self._send(line)
            return None
        if not command.name:
            raise ValueError(f"no command name in {line!r}")
        return self._command(command.name, line)

    # Events.

    def addListener(self, listener: Callable[[SessionEvent], object]) -> None:
        """
        Call C{listener} with every event from now on (see L{SessionEvent}),
        in the order the server sent them.  An exception it raises is logged
        and does not stop other listeners.
        """
        self._listeners.append(listener)

    def removeListener(self, listener: Callable[[SessionEvent], object]) -> None:
        """
        Stop calling a listener added with L{addListener}.

        @raise ValueError: if it is not a listener.
        """
        self._listeners.remove(listener)

    def events(self) -> EventStream:
        """
        Iterate over events asynchronously, from now until the connection
        closes: C{async for event in session.events(): ...} in a coroutine
        run by C{Deferred.fromCoroutine}.
        """
        stream = EventStream(self)
        if self._lost:
            stream._end()
        else:
            self._streams.add(stream)
        return stream

    # Sending.

    def _encode(self, line: str) -> bytes:
        if "\r" in line or "\n" in line:
            raise ValueError("a chat line cannot contain a line break")
        data = line.encode("utf-8")
        if len(data) > self.maxLineLength:
            raise ValueError(
                f"the line is {len(data)} bytes long; the limit is {self.maxLineLength}"
            )
        return data + b"\r\n"

    def _send(self, line: str) -> None:
        data = self._encode(line)
        if self._lost:
            raise ConnectionClosed("the connection to the chat server is closed")
        self.transport.write(data)

    def _command(self, name: str, line: str) -> Deferred[Reply]:
        return self._replies.push(_Command(name, self._encode(line)), self.timeout)

    def _write(self, command: _Command) -> None:
        self.transport.write(command.line)

    def _abandoned(self, command: _Command) -> None:
        # Replies could no longer be matched to commands once one is
        # abandoned.
        self._abort(
            ConnectionClosed(
                f"the connection was closed after /{command.name} "
                "timed out or was cancelled"
            )
        )

    def _abort(self, reason: Exception) -> None:
        if not self._lost and not self._aborted:
            self._aborted = True
            self._whyLost = reason
            self.transport.abortConnection()

    def _lostReason(self) -> Exception:
        reason = self._whyLost
        if isinstance(reason, ConnectionClosed):
            return ConnectionClosed(str(reason))
        return reason

    # Receiving.

    def connectionMade(self) -> None:
        self._registered = self._command("nick", f"/nick {self.nick}")

    def dataReceived(self, data: bytes) -> None:
        if self._aborted:
            # Lines still arriving after an abort are not read.
            return
        lines, _ = self._lines.feed(data)
        for line in lines:
            if line is None:
                self._tooLong()
                return
            self._lineReceived(line)
            if self._aborted:
                return

    def _tooLong(self) -> None:
        self._lines.clear()
        self._abort(
            MalformedReply(
                f"the chat server sent a line longer than {MAX_RECEIVE_LENGTH} bytes"
            )
        )

    def _lineReceived(self, line: bytes) -> None:
        try:
            parsed = parseServerLine(line)
        except ProtocolError as e:
            # A newer server may send kinds of line this client does not know.
            _log.warn(
                "ignoring a line from the chat server: {line!r} ({why})",
                line=_excerpt(line),
                why=str(e),
            )
            return
        if isinstance(parsed, (Reply, Error)):
            if self._replies and self._replies.first().name == parsed.command:
                self._answer(parsed)
                return
            if isinstance(parsed, Reply):
                _log.warn(
                    "ignoring a reply to no command waiting: {line!r}",
                    line=_excerpt(line),
                )
                return
            if parsed.command == "*":
                self._whyLost = ConnectionClosed(
                    f"the chat server closed the connection: {parsed.text} "
                    f"({parsed.code})"
                )
        self._track(parsed)
        self._dispatch(parsed)

    def _answer(self, answer: Reply | Error) -> None:
        if isinstance(answer, Error):
            self._replies.fail(ChatError(answer.code, answer.text))
            return
        if answer.values:
            if answer.command == "nick":
                self.nick = answer.values[0]
            elif answer.command == "join":
                self.room = answer.values[0]
        if answer.command == "part":
            self.room = None
        self._replies.resolve(answer)

    def _track(self, event: SessionEvent) -> None:
        """
        Keep L{nick} and L{room} current from events about this session.
        """
        if isinstance(event, Joined) and _sameNick(event.nick, self.nick):
            self.room = event.room
        elif isinstance(event, Parted) and _sameNick(event.nick, self.nick):
            if event.room == self.room:
                self.room = None
        elif isinstance(event, NickChanged) and _sameNick(event.old, self.nick):
            self.nick = event.new

    def _dispatch(self, event: SessionEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _log.failure("a chat session listener failed on {event!r}", event=event)
        for stream in list(self._streams):
            stream._put(event)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._lost = True
        self._replies.failAll(self._lostReason)
        streams, self._streams = self._streams, set()
        for stream in streams:
            stream._end()
        waiters, self._closeWaiters = self._closeWaiters, []
        for d in waiters:
            d.callback(None)
        self.closed.callback(None)


def _excerpt(line: bytes) -> bytes:
    """
    @return: the start of a line from the server, as it came with its line
        feed, for the log.
    """
    return line + b"\n" if len(line) < 200 else line[:200]


def _parseRooms(reply: Reply) -> list[tuple[str, int]]:
    values = reply.values
    if len(values) % 2:
        raise MalformedReply("the rooms reply does not pair rooms with counts")
    try:
        return [(values[i], int(values[i + 1], 10)) for i in range(0, len(values), 2)]
    except ValueError:
        raise MalformedReply("a room's count in the rooms reply is no number") from None


def connectChat(
    endpoint: IStreamClientEndpoint,
    nick: str,
    timeout: float = DEFAULT_TIMEOUT,
    clock: IReactorTime | None = None,
    maxLineLength: int = DEFAULT_MAX_LINE_LENGTH,
) -> Deferred[ChatSession]:
    """
    Connect to a chat server and register C{nick}.

    The Deferred fires as the server accepts the nickname, before it has
    sent the default room's history and the C{JOIN}: a listener or
    L{ChatSession.events} stream added in the callback (or right after
    C{await}) hears them.

    @param endpoint: where the server is, e.g.
        C{HostnameEndpoint(reactor, "localhost", 21569)}.
    @param nick: the nickname to register.
    @param timeout: seconds to wait for the connection, then for the
        nickname to be accepted, then for each command's reply.
    @param clock: the clock for timeouts; the global reactor if C{None}.
    @param maxLineLength: the longest line, in bytes, the session sends.
    @return: a Deferred that fires with a registered L{ChatSession}, or
        fails with L{ChatError} (C{nick-taken}, C{nick-invalid}),
        L{ConnectFailed}, L{RequestTimedOut} or L{ConnectionClosed}.
        Cancelling it closes the connection.
    @raise ValueError: if C{nick} is not a valid nickname.
    """
    _checkNick(nick)
    theClock = clock or globalReactor()
    factory = Factory.forProtocol(
        lambda: ChatSession(nick, timeout, theClock, maxLineLength)
    )

    async def register() -> ChatSession:
        session: ChatSession = await connect(
            endpoint, factory, timeout, theClock, "chat server"
        )
        assert session._registered is not None
        try:
            await session._registered
        except ChatError:
            session.close()
            raise
        return session

    return Deferred.fromCoroutine(register())
