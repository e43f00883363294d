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

from netlab._flow import directWriter
from netlab._lines import LineBuffer
from netlab._peer import formatPeer
from netlab.chat._hub import ChatHub, IChatParticipant
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
    closeWithDeadline,
)
from netlab.chat._wire import (
    ChatEvent,
    Error,
    History,
    Notice,
    Reply,
    formatLine,
    parseCommand,
)
from netlab.errors import ProtocolError
from netlab.policies import GuardedConnection, IDrainable, TrafficStats

__all__ = ["DEFAULT_PORT", "ChatFactory", "ChatLimits", "ChatProtocol"]

DEFAULT_PORT = 21569
"""
netlab's chat port.
"""

_log = Logger()

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
    One chat connection: turns lines into commands, and what the hub
    delivers into lines.

    What the commands do, and the limits, are collaborators shared with the
    other kinds of chat connection (see L{netlab.chat._participant}): this
    class only reads and writes lines.

    It is also the streaming producer of its own transport: Twisted pauses
    it when the client does not take its lines (more than 64 KiB waiting),
    which is when the backlog limits start counting.
    """

    transport: Any  # a TCP transport: also a producer and a consumer

    # Slots: a chat server holds thousands of these.
    __slots__ = (
        "_abortCall",
        "_backlog",
        "_batch",
        "_clock",
        "_closing",
        "_commands",
        "_deadlines",
        "_forget",
        "_gate",
        "_heard",
        "_hub",
        "_isLost",
        "_limits",
        "_lineBuffer",
        "_lost",
        "_output",
        "_pacer",
        "_stats",
        "_write",
    )

    def __init__(
        self,
        hub: ChatHub,
        clock: IReactorTime,
        limits: ChatLimits,
        batch: OutputBatch[ChatProtocol] | None = None,
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
        self._batch = batch or OutputBatch(clock)
        self._output: list[bytes] = []
        self._clock = clock
        self._limits = limits
        self._lineBuffer = LineBuffer(limits.maxLineLength)
        self._gate = ReadGate()
        # Lines are handled as the rate limit allows, None in place of an
        # over-long one: it is answered in its turn.
        self._pacer: InputPacer[bytes | None] = InputPacer(
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
            clock, limits.registrationTimeout, limits.idleTimeout, self._close
        )
        self._commands = ChatCommands(
            hub,
            self,
            self._send,
            self._deadlines.registered,
            self._closeAfterQuit,
            "/msg NICK TEXT",
            self._pacer.waitFor,
        )
        self._abortCall: IDelayedCall | None = None
        self._closing = False
        self._lost: list[Deferred[None]] | None = None
        self._isLost = False
        self._heard = False
        self._write: Callable[[bytes], None] = self._writeToTransport

    # Connection

    def connectionMade(self) -> None:
        self.transport.registerProducer(self, True)
        self._gate.producer = self.transport
        self._write = directWriter(self.transport)
        self._greet()
        self._deadlines.start()

    def _greet(self) -> None:
        """
        Greet a new connection.
        """
        self._send(
            Notice("Welcome to netlab chat. Choose a nickname: type it, or /nick NAME.")
        )

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._closing = True
        self._gate.stop()
        self._pacer.stop()
        self._backlog.stop()
        self._deadlines.stop()
        if self._abortCall is not None and self._abortCall.active():
            self._abortCall.cancel()
        self._isLost = True
        self._output.clear()
        self._hub.quit(self, "connection closed")
        if self._forget is not None:
            self._forget(self)
        waiting, self._lost = self._lost, None
        for d in waiting or ():
            d.callback(None)

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
        a deadline (see L{closeWithDeadline}): a client that reads nothing
        (or never finishes its TLS handshake) must not hold the connection
        for ever.
        """
        if not self._closing:
            if line is not None:
                self._send(line)
            self.flushOutput()
            self._stopReading()
            self._keepDeadline(closeWithDeadline(self.transport, self._clock))

    def _closeAfterQuit(self) -> None:
        self._close(None)

    def _stopReading(self) -> None:
        self._closing = True
        self._gate.stop()
        self._pacer.stop()

    def _keepDeadline(self, call: IDelayedCall | None) -> None:
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
            if self._backlog.since is not None:
                self._gate.pause(BACKLOG)
        self._pacer.feed(self._lineBuffer.feed(data)[0])

    def _tooLong(self) -> None:
        self._send(
            Error(
                "*",
                "line-too-long",
                f"lines may be {self._limits.maxLineLength} bytes at most; "
                "that one was dropped",
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
        self._deadlines.touch()
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
        commands = self._commands
        if not commands.registered and not line.startswith(b"/"):
            # Before registering, a plain line is the nickname.
            name, args = "nick", args.strip()
        if name == "help":
            self._help()
        elif not commands.knows(name):
            self._send(Error(name, "unknown-command", f"no /{name} command; try /help"))
        elif name == "msg":
            nick, _, text = args.partition(" ")
            commands.run(name, nick, text)
        elif name in ("rooms", "who"):
            commands.run(name)
        else:
            commands.run(name, args)

    def _help(self) -> None:
        for text in _HELP:
            self._send(Notice(text))
        self._send(Reply("help"))

    # IChatParticipant

    def deliver(self, event: object, line: bytes) -> None:
        """
        Queue a line for the client; it is sent, with whatever else was
        queued for it, at the end of the reactor's turn (see
        L{flushOutput}).
        """
        # The fan-out's hot path: what _queue does, without the call.
        if not self._output:
            self._batch.add(self)
        self._output.append(line)

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
        if self._backlog.since is not None and not self._backlog.count(len(data)):
            self._dropSlowConsumer()
            return
        self._write(data)

    def disconnect(self, reason: str) -> None:
        """
        Tell the client C{reason} in a C{NOTE} line, and close once every
        line is sent (L{IDrainable}).
        """
        self._close(Notice(reason))

    def _dropSlowConsumer(self) -> None:
        if self._closing:
            return
        self._backlog.logDrop(self._hub.nickOf(self), formatPeer(self.transport))
        self._stopReading()
        self._output.clear()
        self._hub.quit(self, "too slow to read")
        self.transport.write(self._slowConsumerLine())
        # A client that reads nothing would keep the connection open for
        # ever waiting for that line: do not wait long (less long than a
        # guard's close deadline, so this one stays, guard or not).
        self._keepDeadline(
            closeWithDeadline(
                self.transport, self._clock, timeout=SLOW_CONSUMER_CLOSE_TIMEOUT
            )
        )

    def _slowConsumerLine(self) -> bytes:
        """
        @return: what a client disconnected for reading too slowly is told.
        """
        return formatLine(BACKLOG_ERROR)

    # IPushProducer: the transport's output buffer is full, or drained.

    def pauseProducing(self) -> None:
        self._backlog.paused()
        if self._heard:
            self._gate.pause(BACKLOG)
        # Until the client has sent anything, a pause is not a client that
        # does not read: over TLS it is the TLS layer holding the welcome
        # until the handshake is done, and reading must go on for that to
        # happen.  (The backlog limits still count.)

    def resumeProducing(self) -> None:
        self._backlog.resumed()
        self._gate.resume(BACKLOG)

    def stopProducing(self) -> None:
        pass


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
        self._batch: OutputBatch[ChatProtocol] = OutputBatch(clock)

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
