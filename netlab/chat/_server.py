"""
The chat line protocol's server side: one L{ChatProtocol} per connection, a
participant of the L{ChatHub}, with every limit a chat server needs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import attrs
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IPushProducer,
    IReactorTime,
)
from twisted.internet.protocol import Protocol, ServerFactory, connectionDone
from twisted.logger import Logger
from twisted.python.deprecate import getDeprecationWarningString
from twisted.python.failure import Failure
from twisted.python.versions import Version
from zope.interface import implementer

from netlab._flow import CLOSE_TIMEOUT, closeWhenWritten, directWriter
from netlab._lines import LineBuffer
from netlab._peer import formatPeer
from netlab.chat._hub import ChatHub, IChatParticipant
from netlab.chat._wire import (
    ChatEvent,
    Error,
    History,
    Notice,
    Reply,
    formatLine,
    parseCommand,
)
from netlab.errors import ChatError, ProtocolError
from netlab.policies import GuardedConnection, IDrainable, TrafficStats

__all__ = ["DEFAULT_PORT", "ChatFactory", "ChatLimits", "ChatProtocol"]

DEFAULT_PORT = 21569
"""
netlab's chat port.
"""

_log = Logger()

_SLOW_CONSUMER_CLOSE_TIMEOUT = 5.0
"""
Seconds a client dropped for reading too slowly gets to take its last line.
"""

_HELP = (
    "Type a line to say it to your room. Commands:",
    "/nick NAME - change your nickname",
    "/join #ROOM - go to a room (created if need be)",
    "/part [REASON] - leave your room",
    "/rooms - list the rooms",
    "/who - who is in your room",
    "/msg NICK TEXT - a private message",
    "/me ACTION - act (shown as * you ACTION)",
    "/quit [REASON] - leave",
    "//TEXT - say a line that starts with /",
)


@attrs.frozen
class ChatLimits:
    """
    What one chat connection may make the server do or hold.

    @ivar maxLineLength: the longest line, in bytes without its ending;
        longer ones are refused whole.
    @ivar lineRate: lines per second a client may send, on average; 0 for
        no limit.  A client that sends faster is not read from until it is
        within the limit again: its lines wait, none is dropped.
    @ivar lineBurst: lines a client may send at once.
    @ivar backlogSoft: bytes waiting to be sent to a client (beyond the
        transport's own 64 KiB buffer) that, held for C{backlogSoftSeconds},
        get it disconnected.
    @ivar backlogSoftSeconds: see C{backlogSoft}.
    @ivar backlogHard: bytes waiting to be sent to a client that get it
        disconnected at once.
    @ivar registrationTimeout: seconds a connection may take to choose a
        nickname.
    @ivar idleTimeout: seconds without a line from a client before it is
        disconnected; 0 for never.
    """

    maxLineLength: int = 1024
    lineRate: float = 5.0
    lineBurst: float = 20.0
    backlogSoft: int = 256 * 1024
    backlogSoftSeconds: float = 10.0
    backlogHard: int = 1024 * 1024
    registrationTimeout: float = 60.0
    idleTimeout: float = 0.0


@implementer(IChatParticipant, IPushProducer, IDrainable)
class ChatProtocol(Protocol):
    """
    One chat connection: turns lines into hub calls, and what the hub
    delivers into lines.

    It is also the streaming producer of its own transport: Twisted pauses
    it when the client does not take its lines (more than 64 KiB waiting),
    which is when the backlog limits start counting.
    """

    transport: Any  # a TCP transport: also a producer and a consumer

    # Slots: a chat server holds thousands of these; past 30 attributes an
    # instance dictionary costs over a kilobyte more.
    __slots__ = (
        "_abortCall",
        "_backlog",
        "_backloggedSince",
        "_batch",
        "_clock",
        "_closing",
        "_forget",
        "_heard",
        "_hub",
        "_idleCall",
        "_isLost",
        "_limits",
        "_lineBuffer",
        "_lines",
        "_lost",
        "_output",
        "_pausedForBacklog",
        "_pausedForRate",
        "_refilled",
        "_registered",
        "_registrationCall",
        "_resumeCall",
        "_softCall",
        "_stats",
        "_tokens",
        "_write",
    )

    def __init__(
        self,
        hub: ChatHub,
        clock: IReactorTime,
        limits: ChatLimits,
        batch: _OutputBatch | None = None,
        forget: Callable[[ChatProtocol], object] | None = None,
        stats: TrafficStats | None = None,
    ) -> None:
        """
        @param hub: the hub to join.
        @param clock: drives the rate limit, the timeouts, the backlog
            limits and the sending of output.
        @param limits: this connection's limits.
        @param batch: where to queue this connection's output to be sent
            at the end of the reactor's turn; shared by a factory's
            connections.
        @param forget: called with this protocol when its connection is
            lost.
        @param stats: counts each line received as a message.
        """
        self._stats = stats if stats is not None else TrafficStats("chat")
        self._hub = hub
        self._forget = forget
        self._batch = batch or _OutputBatch(clock)
        self._output: list[bytes] = []
        self._clock = clock
        self._limits = limits
        self._lineBuffer = LineBuffer(limits.maxLineLength)
        # Lines received and not yet handled (the rate limit), None in
        # place of an over-long one: it is answered in its turn.
        self._lines: list[bytes | None] = []
        self._tokens = limits.lineBurst
        self._refilled = clock.seconds()
        self._pausedForRate = False
        self._pausedForBacklog = False
        self._resumeCall: IDelayedCall | None = None
        self._registrationCall: IDelayedCall | None = None
        self._idleCall: IDelayedCall | None = None
        self._abortCall: IDelayedCall | None = None
        self._softCall: IDelayedCall | None = None
        self._backloggedSince: float | None = None
        self._backlog = 0
        self._closing = False
        self._registered = False
        self._lost: list[Deferred[None]] | None = None
        self._isLost = False
        self._heard = False
        self._write: Callable[[bytes], None] = self._writeToTransport

    # Connection

    def connectionMade(self) -> None:
        self.transport.registerProducer(self, True)
        self._write = directWriter(self.transport)
        self._greet()
        if self._limits.registrationTimeout:
            self._registrationCall = self._clock.callLater(
                self._limits.registrationTimeout, self._registrationTimedOut
            )
        self._touch()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._closing = True
        for call in (
            self._resumeCall,
            self._registrationCall,
            self._idleCall,
            self._abortCall,
            self._softCall,
        ):
            if call is not None and call.active():
                call.cancel()
        self._isLost = True
        self._lines.clear()
        self._output.clear()
        self._hub.quit(self, "connection closed")
        if self._forget is not None:
            self._forget(self)
        waiting, self._lost = self._lost, None
        for d in waiting or ():
            d.callback(None)

    def _greet(self) -> None:
        """
        Greet a new connection.
        """
        self._send(
            Notice("Welcome to netlab chat. Choose a nickname: type it, or /nick NAME.")
        )

    def whenLost(self) -> Deferred[None]:
        """
        @return: a Deferred that fires once the connection is lost.
        """
        if self._isLost:
            return succeed(None)
        d: Deferred[None] = Deferred()
        if self._lost is None:
            self._lost = []
        self._lost.append(d)
        return d

    def _writeToTransport(self, data: bytes) -> None:
        self.transport.write(data)

    def _send(self, line: ChatEvent | History | Reply | Error) -> None:
        self.deliver(line, formatLine(line))

    def _close(self, line: ChatEvent | Error | None) -> None:
        """
        Tell the client why, and close once that is written, or abort after
        a deadline: a client that reads nothing (or never finishes its TLS
        handshake) must not hold the connection for ever.

        Behind a L{netlab.policies.ConnectionGuard} the deadline is the
        guard's (its C{closeTimeout}, or the grace of the drain that asked
        for the close), which also knows to let a lingering close finish;
        alone, or behind a guard whose C{closeTimeout} is 0, the protocol's
        own, L{CLOSE_TIMEOUT} seconds.
        """
        if not self._closing:
            if line is not None:
                self._send(line)
            self.flushOutput()
            self._closing = True
            transport = self.transport
            if (
                isinstance(transport, GuardedConnection)
                and transport.factory.limits.closeTimeout
            ):
                closeWhenWritten(transport)  # type: ignore[arg-type]
            else:
                # Alone, or behind a guard whose close deadline is off.
                self._closeWithin(CLOSE_TIMEOUT)

    def _closeWithin(self, timeout: float) -> None:
        call = closeWhenWritten(self.transport, self._clock, timeout)
        if self._isLost:
            # Closing was immediate.
            if call is not None and call.active():
                call.cancel()
        else:
            self._abortCall = call

    # Input

    def dataReceived(self, data: bytes) -> None:
        if not self._heard:
            self._heard = True
            if self._backloggedSince is not None:
                self._pauseReading(backlog=True)
        self._lines += self._lineBuffer.feed(data)[0]
        self._process()

    def _tooLong(self) -> None:
        self._send(
            Error(
                "*",
                "line-too-long",
                f"lines may be {self._limits.maxLineLength} bytes at most; "
                "that one was dropped",
            )
        )

    def _process(self) -> None:
        """
        Handle waiting lines as fast as the rate limit allows; past it, stop
        reading until the client is within it again.
        """
        lines = self._lines
        rate = self._limits.lineRate
        handled = 0
        while handled < len(lines) and not self._closing:
            if rate:
                now = self._clock.seconds()
                self._tokens = min(
                    self._limits.lineBurst,
                    self._tokens + (now - self._refilled) * rate,
                )
                self._refilled = now
                if self._tokens < 1:
                    del lines[:handled]
                    self._pauseReading(rate=True)
                    if self._resumeCall is None or not self._resumeCall.active():
                        self._resumeCall = self._clock.callLater(
                            (1 - self._tokens) / rate, self._process
                        )
                    return
                self._tokens -= 1
            line = lines[handled]
            handled += 1
            self._handle(line)
        del lines[:handled]
        self._resumeReading(rate=True)

    def _pauseReading(self, rate: bool = False, backlog: bool = False) -> None:
        if not (self._pausedForRate or self._pausedForBacklog):
            self.transport.pauseProducing()
        self._pausedForRate |= rate
        self._pausedForBacklog |= backlog

    def _resumeReading(self, rate: bool = False, backlog: bool = False) -> None:
        wasPaused = self._pausedForRate or self._pausedForBacklog
        if rate:
            self._pausedForRate = False
        if backlog:
            self._pausedForBacklog = False
        if (
            wasPaused
            and not (self._pausedForRate or self._pausedForBacklog)
            and not self._closing
        ):
            self.transport.resumeProducing()

    def _touch(self) -> None:
        idle = self._limits.idleTimeout
        if idle:
            if self._idleCall is not None and self._idleCall.active():
                self._idleCall.reset(idle)
            else:
                self._idleCall = self._clock.callLater(idle, self._idleTimedOut)

    def _registrationTimedOut(self) -> None:
        if not self._registered:
            self._close(
                Error(
                    "*",
                    "registration-timeout",
                    f"no nickname chosen in {self._limits.registrationTimeout:g}s; "
                    "goodbye",
                )
            )

    def _idleTimedOut(self) -> None:
        self._close(
            Error(
                "*",
                "idle-timeout",
                f"nothing received for {self._limits.idleTimeout:g}s; goodbye",
            )
        )

    # Commands

    def _handle(self, line: bytes | None) -> None:
        if line is None:
            self._tooLong()
            return
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip():
            # Someone pressed Enter: there is nothing to say, or answer.
            return
        self._stats.messages += 1
        self._touch()
        try:
            command = parseCommand(line)
        except ProtocolError:
            self._send(
                Error("*", "bad-utf8", "lines must be UTF-8; that one was dropped")
            )
            return
        name, args = command.name, command.args
        if not name:
            self._send(
                Error(
                    "*",
                    "unknown-command",
                    "a / must be followed by a command; try /help",
                )
            )
            return
        if not self._registered and not line.startswith(b"/"):
            # Before registering, a plain line is the nickname.
            name, args = "nick", args.strip()
        handler = getattr(self, f"command_{name}", None)
        if handler is None:
            self._send(Error(name, "unknown-command", f"no /{name} command; try /help"))
            return
        if not self._registered and name not in ("nick", "help", "quit"):
            self._send(
                Error(name, "not-registered", "choose a nickname first: /nick NAME")
            )
            return
        try:
            handler(args)
        except ChatError as e:
            self._send(Error(name, e.code, e.text))

    def command_say(self, text: str) -> None:
        self._hub.say(self, text)

    def command_me(self, text: str) -> None:
        self._hub.say(self, text, action=True)

    def command_nick(self, nick: str) -> None:
        nick = nick.strip()
        if not self._registered:
            # The reply comes first, then the automatic join's history and
            # JOIN, which registering delivers.
            self._hub.checkNick(nick)
            self._send(Reply("nick", (nick,)))
            self._hub.register(self, nick)
            self._registered = True
            if self._registrationCall is not None and self._registrationCall.active():
                self._registrationCall.cancel()
            return
        self._hub.rename(self, nick)
        self._send(Reply("nick", (nick,)))

    def command_join(self, room: str) -> None:
        self._hub.join(self, room.strip())
        self._send(Reply("join", (self._hub.roomOf(self) or room.strip(),)))

    def command_part(self, reason: str) -> None:
        room = self._hub.roomOf(self)
        self._hub.part(self, reason)
        self._send(Reply("part", (room or "",)))

    def command_rooms(self, args: str) -> None:
        values: list[str] = []
        for room, count in self._hub.rooms():
            values += [room, str(count)]
        self._send(Reply("rooms", tuple(values)))

    def command_who(self, args: str) -> None:
        nicks = self._hub.who(self)
        self._send(Reply("who", (self._hub.roomOf(self) or "", *nicks)))

    def command_msg(self, args: str) -> None:
        nick, _, text = args.partition(" ")
        if not nick or not text:
            raise ChatError("usage", "/msg NICK TEXT")
        self._send(Reply("msg", (self._hub.tell(self, nick, text),)))

    def command_help(self, args: str) -> None:
        for text in _HELP:
            self._send(Notice(text))
        self._send(Reply("help"))

    def command_quit(self, reason: str) -> None:
        self._send(Reply("quit"))
        self._hub.quit(self, reason)
        self._close(None)

    # IChatParticipant

    def deliver(self, event: object, line: bytes) -> None:
        """
        Queue a line for the client; it is sent, with whatever else was
        queued for it, at the end of the reactor's turn (see
        L{flushOutput}).
        """
        self._queue(line)

    def _queue(self, line: bytes) -> None:
        """
        Queue bytes for the client, to be sent at the end of the reactor's
        turn.
        """
        if not self._output:
            self._batch.add(self)
        self._output.append(line)

    def flushOutput(self) -> None:
        """
        Send what is queued for the client in one write, unless it has been
        backlogged for too long or by too much, in which case it is
        disconnected, with a reason: it never silently misses a line.
        """
        output = self._output
        if not output:
            return
        data = output[0] if len(output) == 1 else b"".join(output)
        output.clear()
        if self._backloggedSince is not None:
            self._backlog += len(data)
            limits = self._limits
            if self._backlog > limits.backlogHard:
                self._dropSlowConsumer()
                return
            if self._backlog > limits.backlogSoft and self._softCall is None:
                # Over the soft limit: it has that long to catch up.
                self._softCall = self._clock.callLater(
                    limits.backlogSoftSeconds, self._softLimitHeld
                )
        self._write(data)

    def disconnect(self, reason: str) -> None:
        """
        Tell the client C{reason} in a C{NOTE} line, and close once every
        line is sent (L{IDrainable}).
        """
        self._close(Notice(reason))

    def _softLimitHeld(self) -> None:
        self._softCall = None
        if (
            self._backloggedSince is not None
            and self._backlog > self._limits.backlogSoft
        ):
            self._dropSlowConsumer()

    def _dropSlowConsumer(self) -> None:
        if self._closing:
            return
        limits = self._limits
        if self._backlog > limits.backlogHard:
            limit = f"over --backlog-hard ({limits.backlogHard} bytes)"
        else:
            limit = (
                f"over --backlog-soft ({limits.backlogSoft} bytes) for "
                f"{limits.backlogSoftSeconds:g}s"
            )
        _log.warn(
            "chat: disconnecting {nick} ({peer}), too slow to read: {backlog} "
            "bytes waiting to be sent to it, {limit}; backlogged for "
            "{seconds:.3f}s",
            nick=self._hub.nickOf(self),
            peer=formatPeer(self.transport),
            backlog=self._backlog,
            limit=limit,
            seconds=self._clock.seconds() - (self._backloggedSince or 0),
        )
        self._closing = True
        self._output.clear()
        self._hub.quit(self, "too slow to read")
        self.transport.write(self._slowConsumerLine())
        # A client that reads nothing would keep the connection open for
        # ever waiting for that line: do not wait long (less long than a
        # guard's close deadline, so this one stays, guard or not).
        self._closeWithin(_SLOW_CONSUMER_CLOSE_TIMEOUT)

    def _slowConsumerLine(self) -> bytes:
        """
        @return: what a client disconnected for reading too slowly is told.
        """
        return b"ERR * backlog you did not read fast enough; disconnected\r\n"

    # IPushProducer: the transport's output buffer is full, or drained.

    def pauseProducing(self) -> None:
        if self._backloggedSince is None:
            self._backloggedSince = self._clock.seconds()
            self._backlog = 0
        if self._heard:
            self._pauseReading(backlog=True)
        # Until the client has sent anything, a pause is not a client that
        # does not read: over TLS it is the TLS layer holding the welcome
        # until the handshake is done, and reading must go on for that to
        # happen.  (The backlog limits still count.)

    def resumeProducing(self) -> None:
        self._backloggedSince = None
        self._backlog = 0
        if self._softCall is not None:
            if self._softCall.active():
                self._softCall.cancel()
            self._softCall = None
        self._resumeReading(backlog=True)

    def stopProducing(self) -> None:
        pass


class _OutputBatch:
    """
    Connections with output queued during this turn of the reactor, to be
    sent at its end: a burst of lines then costs each recipient one write,
    not one per line, and a single line still goes out at once.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._waiting: list[ChatProtocol] = []

    def add(self, protocol: ChatProtocol) -> None:
        if not self._waiting:
            self._clock.callLater(0, self.flush)
        self._waiting.append(protocol)

    def flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        for protocol in waiting:
            protocol.flushOutput()


_SHUTDOWN_DEPRECATED = Version("netlab", 0, 1, 0)
"""
The version that deprecated L{ChatFactory.shutdown}.
"""


class ChatFactory(ServerFactory):
    """
    Builds L{ChatProtocol}s for one L{ChatHub}.  Serve it behind a
    L{ConnectionGuard<netlab.policies.ConnectionGuard>}, as C{twistd netlab
    chat} does: the guard's limits protect it, and its
    L{drain<netlab.policies.ConnectionGuard.drain>} stops it, each user
    told why in a C{NOTE} line::

        hub = ChatHub()
        guard = ConnectionGuard(
            ChatFactory(hub, reactor),
            reactor,
            ConnectionLimits(idleTimeout=0),  # chat has its own idle timeout
            service="chat",
        )
        port = await serverFromString(reactor, "tcp:21569").listen(guard)
        ...
        await port.stopListening()
        await guard.drain(grace=5, reason="the server is shutting down; goodbye")

    @ivar hub: the hub every connection joins.
    @ivar limits: the limits of every connection.
    """

    def __init__(
        self,
        hub: ChatHub,
        clock: IReactorTime,
        limits: ChatLimits | None = None,
        stats: TrafficStats | None = None,
    ) -> None:
        """
        @param hub: the hub every connection joins.
        @param clock: the reactor, or a C{Clock} in tests.
        @param limits: the limits of every connection; the defaults if
            C{None}.
        @param stats: the service's counters (see L{netlab.policies}); new
            ones if C{None}.
        """
        self.stats = stats if stats is not None else TrafficStats("chat")
        self.hub = hub
        self.clock = clock
        self.limits = limits or ChatLimits()
        self._connections: set[ChatProtocol] = set()
        self._batch = _OutputBatch(clock)

    def buildProtocol(self, addr: IAddress | None) -> ChatProtocol:
        protocol = ChatProtocol(
            self.hub,
            self.clock,
            self.limits,
            self._batch,
            self._connections.discard,
            self.stats,
        )
        protocol.factory = self
        self._connections.add(protocol)
        return protocol

    def shutdown(self, reason: str, grace: float = 5.0) -> Deferred[None]:
        """
        Tell every connection C{reason} and close them all.

        Deprecated since netlab 0.1.0: serve the factory behind a
        L{ConnectionGuard<netlab.policies.ConnectionGuard>} and drain that.

        This is the guard's drain, over the connections this factory
        built, behind a guard or not: each connection is drained as
        L{ConnectionGuard.drain<netlab.policies.ConnectionGuard.drain>}
        drains it (through its L{GuardedConnection} if it has one, or else
        by asking the protocol, which is L{IDrainable}, to say goodbye), and
        those still open after C{grace} seconds are aborted.

        @param reason: what to tell the users, in a C{NOTE} line.
        @param grace: seconds to wait for connections to close by
            themselves (after their last lines are written) before aborting
            them.
        @return: a Deferred that fires once every connection is closed.
        """
        # Twisted's deprecate machinery, called rather than applied as a
        # decorator: pydoctor cannot read a Version whose major number is 0.
        warnings.warn(
            getDeprecationWarningString(
                ChatFactory.shutdown,
                _SHUTDOWN_DEPRECATED,
                replacement="netlab.policies.ConnectionGuard.drain",
            ),
            DeprecationWarning,
            stacklevel=2,
        )
        connections = list(self._connections)
        if not connections:
            return succeed(None)
        for protocol in connections:
            transport = protocol.transport
            if isinstance(transport, GuardedConnection):
                transport.drain(reason)
            else:
                protocol.disconnect(reason)

        def abortStragglers() -> None:
            for protocol in connections:
                if protocol in self._connections:
                    protocol.transport.abortConnection()

        call = self.clock.callLater(grace, abortStragglers)
        done = DeferredList([protocol.whenLost() for protocol in connections])

        def finished(result: object) -> None:
            if call.active():
                call.cancel()

        return done.addCallback(finished)

    # What twisted.python.deprecate.deprecated would set.
    shutdown.deprecatedVersion = _SHUTDOWN_DEPRECATED  # type: ignore[attr-defined]
