"""
What every kind of chat connection does the same way, whatever its wire:
the commands and what they answer, and the limits on what one connection may
make the server do or hold.

The line protocol (L{netlab.chat._server.ChatProtocol}) and the WebSocket
one (L{netlab.chat._web.WebChatProtocol}) are each a translator between
their wire and these collaborators:

    - L{ChatCommands}: a command's effect on the hub and its one reply
      (C{OK} or C{ERR}), the same for both;
    - L{InputPacer}: C{--line-rate} and C{--line-burst}, by not reading;
    - L{ReadGate}: reading stopped for one reason or several;
    - L{Backlog}: C{--backlog-soft} and C{--backlog-hard};
    - L{Deadlines}: C{--registration-timeout} and C{--idle-timeout};
    - L{OutputBatch}: output sent at the end of the reactor's turn.

No I/O happens here but through what the protocols hand in: a producer to
pause, a clock, and functions to call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from netlab._flow import CLOSE_TIMEOUT, closeWhenWritten
from netlab.chat._hub import ChatHub, IChatParticipant
from netlab.chat._wire import ChatEvent, Error, History, Reply
from netlab.errors import ChatError
from netlab.policies import GuardedConnection

__all__ = [
    "BACKLOG",
    "BACKLOG_ERROR",
    "RATE",
    "SLOW_CONSUMER_CLOSE_TIMEOUT",
    "Backlog",
    "ChatCommands",
    "Deadlines",
    "InputPacer",
    "OutputBatch",
    "ReadGate",
    "TokenBucket",
    "closeWithDeadline",
]

_log = Logger()

RATE = 1
"""
L{ReadGate}'s reason: the peer is over its line rate.
"""

BACKLOG = 2
"""
L{ReadGate}'s reason: the peer does not read what is sent to it.
"""

WAITING = 4
"""
L{ReadGate}'s reason: what the peer sent waits for the answer to one of its
commands (with a bus, a nickname claim the other nodes answer).
"""

_T = TypeVar("_T")


class _Pausable(Protocol):
    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...


class ReadGate:
    """
    Whether a connection is read from: it is not while any reason to stop
    holds (L{RATE}, L{BACKLOG}), and never again once L{stop}ped.

    @ivar producer: what is paused and resumed: the connection's transport.
    """

    __slots__ = ("_reasons", "_stopped", "producer")

    def __init__(self, producer: _Pausable | None = None) -> None:
        self.producer = producer
        self._reasons = 0
        self._stopped = False

    def pause(self, reason: int) -> None:
        """
        Stop reading, for C{reason}.
        """
        if not self._reasons and self.producer is not None:
            self.producer.pauseProducing()
        self._reasons |= reason

    def resume(self, reason: int) -> None:
        """
        C{reason} holds no longer: read again if no other holds.
        """
        wasPaused = self._reasons
        self._reasons &= ~reason
        if (
            wasPaused
            and not self._reasons
            and not self._stopped
            and self.producer is not None
        ):
            self.producer.resumeProducing()

    def stop(self) -> None:
        """
        The connection is closing: whatever stopped it stays so.
        """
        self._stopped = True


class TokenBucket:
    """
    A token bucket: C{burst} tokens, refilled at C{rate} a second, read on
    the clock as they are asked for (no timer of its own).
    """

    __slots__ = ("_burst", "_clock", "_rate", "_refilled", "tokens")

    def __init__(self, clock: IReactorTime, rate: float, burst: float) -> None:
        """
        @param rate: tokens a second; more than 0.
        @param burst: the most tokens it holds.
        """
        self._clock = clock
        self._rate = rate
        self._burst = burst
        self.tokens = burst
        self._refilled = clock.seconds()

    def level(self) -> float:
        """
        @return: the tokens there are now (refilled for the time since).
        """
        now = self._clock.seconds()
        self.tokens = min(
            self._burst, self.tokens + (now - self._refilled) * self._rate
        )
        self._refilled = now
        return self.tokens

    def spend(self, amount: float) -> None:
        """
        Take C{amount} tokens, into debt if there are fewer.
        """
        self.tokens -= amount

    def waitFor(self, level: float) -> float:
        """
        @return: seconds until it holds C{level} tokens again.
        """
        return (level - self.tokens) / self._rate


class InputPacer(Generic[_T]):
    """
    Handles what a peer sends (lines, messages) as fast as its rate allows:
    a token bucket of C{burst} tokens refilled at C{rate} a second, one
    spent per item (RFC 1459's flood penalty).  Past it, the connection is
    not read from (its L{ReadGate} is paused for L{RATE}) until the peer is
    within it again, and what is waiting is handled then, in order: nothing
    is dropped.

    It also holds what arrives while a command waits for an answer
    (L{waitFor}), so that what a peer sends is handled in order, each
    command after the one before has had its effect, as without a bus.
    """

    __slots__ = (
        "_bucket",
        "_call",
        "_clock",
        "_gate",
        "_handle",
        "_holds",
        "_stopped",
        "_waiting",
    )

    def __init__(
        self,
        clock: IReactorTime,
        rate: float,
        burst: float,
        gate: ReadGate,
        handle: Callable[[_T], object],
    ) -> None:
        """
        @param rate: items a second, on average; 0 for no limit.
        @param burst: items at once.
        @param gate: paused while the peer is over its rate.
        @param handle: called with each item, in turn.
        """
        self._clock = clock
        self._bucket = TokenBucket(clock, rate, burst) if rate else None
        self._gate = gate
        self._handle = handle
        self._waiting: list[_T] = []
        self._call: IDelayedCall | None = None
        self._stopped = False
        self._holds = 0

    def waitFor(self, answer: Deferred[Any]) -> None:
        """
        Handle nothing more until C{answer} has fired (and the callbacks
        added to it before have run): what arrives meanwhile waits, in
        order, and the connection is not read from.  Does nothing if it
        has fired already.
        """
        if answer.called:
            return
        self._holds += 1
        self._gate.pause(WAITING)

        def answered(result: object) -> object:
            self._holds -= 1
            if not self._holds and not self._stopped:
                self._gate.resume(WAITING)
                self._process()
            return result

        answer.addBoth(answered)

    def feed(self, items: Iterable[_T]) -> None:
        """
        Take what arrived, and handle as much of it as the rate allows.
        """
        self._waiting += items
        self._process()

    def _process(self) -> None:
        waiting = self._waiting
        bucket = self._bucket
        handled = 0
        while handled < len(waiting) and not self._stopped and not self._holds:
            if bucket is not None:
                if bucket.level() < 1:
                    del waiting[:handled]
                    self._gate.pause(RATE)
                    if self._call is None or not self._call.active():
                        self._call = self._clock.callLater(
                            bucket.waitFor(1), self._process
                        )
                    return
                bucket.spend(1)
            item = waiting[handled]
            handled += 1
            self._handle(item)
        if self._stopped:
            return
        del waiting[:handled]
        self._gate.resume(RATE)

    def stop(self) -> None:
        """
        Handle nothing more: the connection is closing, or gone.
        """
        self._stopped = True
        self._waiting.clear()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None


class Backlog:
    """
    Counts what is queued for a peer while its transport's own buffer is
    full (between its producer's C{pauseProducing} and C{resumeProducing}),
    and says when that is too much: over C{hard} bytes at once, or over
    C{soft} bytes for C{softSeconds}.

    @ivar since: when the transport's buffer filled, by the clock; C{None}
        while it is not full.
    @ivar size: bytes queued since then.
    """

    __slots__ = (
        "_clock",
        "_hard",
        "_onSoftHeld",
        "_soft",
        "_softCall",
        "_softSeconds",
        "since",
        "size",
    )

    def __init__(
        self,
        clock: IReactorTime,
        soft: int,
        softSeconds: float,
        hard: int,
        onSoftHeld: Callable[[], object],
    ) -> None:
        """
        @param onSoftHeld: called when the backlog has been over C{soft}
            bytes for C{softSeconds}.
        """
        self._clock = clock
        self._soft = soft
        self._softSeconds = softSeconds
        self._hard = hard
        self._onSoftHeld = onSoftHeld
        self._softCall: IDelayedCall | None = None
        self.since: float | None = None
        self.size = 0

    def paused(self) -> None:
        """
        The transport's buffer is full: count from now.
        """
        if self.since is None:
            self.since = self._clock.seconds()
            self.size = 0

    def resumed(self) -> None:
        """
        The transport's buffer has drained: nothing is backlogged.
        """
        self.since = None
        self.size = 0
        self.stop()

    def count(self, size: int) -> bool:
        """
        Count C{size} more bytes queued for the peer.

        @return: C{False} if that passes the hard limit: the peer must be
            dropped now.
        """
        if self.since is None:
            return True
        self.size += size
        if self.size > self._hard:
            return False
        if self.size > self._soft and self._softCall is None:
            # Over the soft limit: it has that long to catch up.
            self._softCall = self._clock.callLater(self._softSeconds, self._softHeld)
        return True

    def _softHeld(self) -> None:
        self._softCall = None
        if self.since is not None and self.size > self._soft:
            self._onSoftHeld()

    def stop(self) -> None:
        """
        Cancel the soft limit's clock.
        """
        if self._softCall is not None and self._softCall.active():
            self._softCall.cancel()
        self._softCall = None

    def logDrop(self, nick: str | None, peer: str) -> None:
        """
        Log that the peer is dropped for its backlog, and which limit it
        passed.
        """
        if self.size > self._hard:
            limit = f"over --backlog-hard ({self._hard} bytes)"
        else:
            limit = (
                f"over --backlog-soft ({self._soft} bytes) for {self._softSeconds:g}s"
            )
        _log.warn(
            "chat: disconnecting {nick} ({peer}), too slow to read: {backlog} "
            "bytes waiting to be sent to it, {limit}; backlogged for "
            "{seconds:.3f}s",
            nick=nick,
            peer=peer,
            backlog=self.size,
            limit=limit,
            seconds=self._clock.seconds() - (self.since or 0),
        )


SLOW_CONSUMER_CLOSE_TIMEOUT = 5.0
"""
Seconds a client dropped for reading too slowly gets to take its last line.
"""


BACKLOG_ERROR = Error("*", "backlog", "you did not read fast enough; disconnected")
"""
What a peer dropped for its backlog is told.
"""


class Deadlines:
    """
    C{--registration-timeout} and C{--idle-timeout}: a connection that has
    not chosen a nickname in time, or that has sent nothing that counts for
    too long, is told why (an L{Error}, given to C{expired}) to be closed.
    """

    __slots__ = ("_call", "_clock", "_expired", "_idle", "_idleCall", "_registration")

    def __init__(
        self,
        clock: IReactorTime,
        registrationTimeout: float,
        idleTimeout: float,
        expired: Callable[[Error], object],
    ) -> None:
        """
        @param registrationTimeout: seconds to choose a nickname; 0 for no
            limit.
        @param idleTimeout: seconds without activity; 0 for no limit.
        @param expired: called with the error to send before closing.
        """
        self._clock = clock
        self._registration = registrationTimeout
        self._idle = idleTimeout
        self._expired = expired
        self._call: IDelayedCall | None = None
        self._idleCall: IDelayedCall | None = None

    def start(self) -> None:
        """
        The connection is made: both clocks start.
        """
        if self._registration:
            self._call = self._clock.callLater(
                self._registration, self._registrationTimedOut
            )
        self.touch()

    def touch(self) -> None:
        """
        The peer did something that counts: the idle clock starts again.
        """
        idle = self._idle
        if idle:
            if self._idleCall is not None and self._idleCall.active():
                self._idleCall.reset(idle)
            else:
                self._idleCall = self._clock.callLater(idle, self._idleTimedOut)

    def registered(self) -> None:
        """
        The peer has a nickname: the registration clock stops.
        """
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def stop(self) -> None:
        """
        The connection is gone: both clocks stop.
        """
        self.registered()
        if self._idleCall is not None and self._idleCall.active():
            self._idleCall.cancel()
        self._idleCall = None

    def _registrationTimedOut(self) -> None:
        self._call = None
        self._expired(
            Error(
                "*",
                "registration-timeout",
                f"no nickname chosen in {self._registration:g}s; goodbye",
            )
        )

    def _idleTimedOut(self) -> None:
        self._expired(
            Error(
                "*",
                "idle-timeout",
                f"nothing received for {self._idle:g}s; goodbye",
            )
        )


BEFORE_REGISTERING = frozenset({"nick", "help", "quit"})
"""
The commands a connection may use before it has a nickname.
"""


class ChatCommands:
    """
    What each chat command does to the hub, for one participant, and the one
    reply it gets: an L{Reply} (C{OK}), or an L{Error} (C{ERR}) with the
    code of the L{ChatError} the hub refused it with.  C{say} and C{me} are
    answered only when refused.

    Every kind of participant runs its commands here, so they mean the same
    on every wire; what differs is how they are written and how replies are
    (L{netlab.chat._wire.formatLine}, L{netlab.chat._json.formatMessage}).
    """

    __slots__ = (
        "_close",
        "_hub",
        "_msgUsage",
        "_onRegistered",
        "_participant",
        "_send",
        "_waitFor",
        "registered",
    )

    def __init__(
        self,
        hub: ChatHub,
        participant: IChatParticipant,
        send: Callable[[ChatEvent | History | Reply | Error], object],
        onRegistered: Callable[[], object],
        close: Callable[[], object],
        msgUsage: str,
        waitFor: Callable[[Deferred[Any]], object] = lambda answer: None,
    ) -> None:
        """
        @param participant: who runs the commands, as the hub knows it.
        @param send: sends a reply to the participant, in turn with what
            the hub delivers to it.
        @param onRegistered: called once the participant has a nickname.
        @param close: closes the connection, after C{quit}.
        @param msgUsage: the text of the C{usage} error of a private
            message without a nickname or text, as the wire writes one.
        @param waitFor: called with the answer a command waits for (a
            nickname claim, with a bus): the participant's next commands
            wait for it (L{InputPacer.waitFor}).
        """
        self._waitFor = waitFor
        self._hub = hub
        self._participant = participant
        self._send = send
        self._onRegistered = onRegistered
        self._close = close
        self._msgUsage = msgUsage
        self.registered = False

    def knows(self, name: str) -> bool:
        """
        @return: whether C{name} is one of the commands run here.
        """
        return name in _COMMANDS

    def run(self, name: str, *args: str) -> None:
        """
        Run a command, or refuse it: C{not-registered} for one other than
        those of L{BEFORE_REGISTERING} before the participant has a
        nickname, or the hub's refusal.

        @param name: a command L{knows}.
        @param args: its arguments, as its method takes them.
        """
        if not self.registered and name not in BEFORE_REGISTERING:
            self._send(
                Error(name, "not-registered", "choose a nickname first: /nick NAME")
            )
            return
        try:
            _COMMANDS[name](self, *args)
        except ChatError as e:
            self._send(Error(name, e.code, e.text))

    def nick(self, nick: str) -> None:
        """
        Register under C{nick} (the reply comes first, then the default
        room's history and C{JOIN}), or change nickname.
        """
        nick = nick.strip()
        participant = self._participant
        claimed = self._hub.claimNick(participant, nick)
        # Registered or not is read once it is claimed: with a bus, an
        # earlier /nick may register the participant meanwhile.
        claimed.addCallback(
            lambda _: self._rename(nick) if self.registered else self._register(nick)
        )
        claimed.addErrback(self._refused, "nick")
        self._waitFor(claimed)

    def _register(self, nick: str) -> None:
        self._send(Reply("nick", (nick,)))
        self._hub.register(self._participant, nick)
        self.registered = True
        self._onRegistered()

    def _rename(self, nick: str) -> None:
        self._hub.rename(self._participant, nick)
        self._send(Reply("nick", (nick,)))

    def _refused(self, failure: Failure, name: str) -> None:
        """
        Reply to a command the hub refused later (with a bus), as to one it
        refused at once.
        """
        failure.trap(ChatError)
        e = failure.value
        assert isinstance(e, ChatError)
        if e.code != "gone":
            self._send(Error(name, e.code, e.text))

    def say(self, text: str) -> None:
        """
        Say C{text} in the participant's room.
        """
        self._hub.say(self._participant, text)

    def me(self, text: str) -> None:
        """
        Act C{text} in the participant's room.
        """
        self._hub.say(self._participant, text, action=True)

    def join(self, room: str) -> None:
        """
        Move to C{room} (one room at a time).
        """
        room = room.strip()
        self._hub.join(self._participant, room)
        self._send(Reply("join", (self._hub.roomOf(self._participant) or room,)))

    def part(self, reason: str = "") -> None:
        """
        Leave the participant's room.
        """
        room = self._hub.roomOf(self._participant)
        self._hub.part(self._participant, reason)
        self._send(Reply("part", (room or "",)))

    def rooms(self) -> None:
        """
        List the rooms, each with how many are in it.
        """
        values: list[str] = []
        for room, count in self._hub.rooms():
            values += [room, str(count)]
        self._send(Reply("rooms", tuple(values)))

    def who(self) -> None:
        """
        List who is in the participant's room.
        """
        nicks = self._hub.who(self._participant)
        self._send(Reply("who", (self._hub.roomOf(self._participant) or "", *nicks)))

    def msg(self, nick: str, text: str) -> None:
        """
        Send C{text} to C{nick} alone.
        """
        if not nick or not text:
            raise ChatError("usage", self._msgUsage)
        self._send(Reply("msg", (self._hub.tell(self._participant, nick, text),)))

    def quit(self, reason: str = "") -> None:
        """
        Leave the chat: the reply, then the connection closes.
        """
        self._send(Reply("quit"))
        self._hub.quit(self._participant, reason)
        self._close()


_COMMANDS: dict[str, Callable[..., None]] = {
    "nick": ChatCommands.nick,
    "say": ChatCommands.say,
    "me": ChatCommands.me,
    "join": ChatCommands.join,
    "part": ChatCommands.part,
    "rooms": ChatCommands.rooms,
    "who": ChatCommands.who,
    "msg": ChatCommands.msg,
    "quit": ChatCommands.quit,
}


class _Flushable(Protocol):
    def flushOutput(self) -> None: ...


_F = TypeVar("_F", bound=_Flushable)


class OutputBatch(Generic[_F]):
    """
    Connections with output queued during this turn of the reactor, to be
    sent at its end: a burst of events then costs each recipient one write,
    not one per event, and a single event still goes out at once.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._waiting: list[_F] = []

    def add(self, connection: _F) -> None:
        """
        Flush C{connection}'s output at the end of this turn.
        """
        if not self._waiting:
            self._clock.callLater(0, self.flush)
        self._waiting.append(connection)

    def flush(self) -> None:
        """
        Send every waiting connection's output; one that fails (a bug) is
        logged, and the others are still served.
        """
        waiting, self._waiting = self._waiting, []
        for connection in waiting:
            try:
                connection.flushOutput()
            except Exception:
                _log.failure("chat: sending to {connection!r}", connection=connection)


def closeWithDeadline(
    transport: Any,
    clock: IReactorTime,
    close: Callable[[], object] | None = None,
    timeout: float | None = None,
) -> IDelayedCall | None:
    """
    Close a connection once what was written to it is sent, with a
    deadline after which it is aborted: a peer that reads nothing (or never
    finishes its TLS handshake) must not hold it for ever.

    Behind a L{netlab.policies.ConnectionGuard} whose C{closeTimeout} is
    not 0, the deadline is the guard's (which also knows to let a lingering
    close finish, and gives a drain its own grace); alone, the one given
    here, L{CLOSE_TIMEOUT} seconds unless C{timeout} says otherwise.  A
    C{timeout} given is kept, guard or not.

    @param transport: the connection's transport.
    @param close: what closes it, if not its C{loseConnection} (a
        WebSocket's close, which says goodbye first); the transport's
        producer is unregistered before, as L{closeWhenWritten} does.
    @return: the deadline's call, to cancel once the connection is lost;
        C{None} if the guard's deadline holds.
    """
    guarded = isinstance(transport, GuardedConnection)
    if timeout is None and guarded and transport.factory.limits.closeTimeout:
        if close is None:
            closeWhenWritten(transport)
        else:
            _unregisterProducer(transport)
            close()
        return None
    if close is None:
        return closeWhenWritten(
            transport, clock, CLOSE_TIMEOUT if timeout is None else timeout
        )
    _unregisterProducer(transport)
    close()
    return clock.callLater(
        CLOSE_TIMEOUT if timeout is None else timeout, transport.abortConnection
    )


def _unregisterProducer(transport: Any) -> None:
    if getattr(transport, "producer", None) is not None:
        transport.unregisterProducer()
