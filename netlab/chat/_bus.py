"""
The chat bus: several chat nodes made one chat over Redis Streams.

Every node reads one cluster-wide stream with one blocking C{XREAD} loop
(on a connection of its own; commands go on another) and applies what it
reads to its own L{ChatHub}, in which the users of other nodes are
L{RemoteParticipant}s.  A node applies its own users' changes (joins,
parts, nicknames, quits) at once and publishes them; their room lines it
only publishes, and delivers when they come back from the stream, so every
member of a room, on every node, sees one order: the stream's.

Nicknames are claimed in one Redis hash (C{HSETNX}, regardless of case),
which is also what a starting node reads to learn who is where.  Presence
is a key per node with a time to live, renewed on every heartbeat; a node
whose key expired is lost, and its users quit everywhere.
"""

from __future__ import annotations

import os
from collections import deque
from functools import partial
from typing import Any, NoReturn

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from netlab._ratelog import RateLimitedLog
from netlab.chat._hub import ChatHub, IChatParticipant
from netlab.chat._redis import (
    DEFAULT_NODE_TIMEOUT,
    BusAddress,
    IRedis,
    busEndpoint,
    probe,
    redisFactory,
)
from netlab.chat._wire import (
    Error,
    Notice,
    cleanIRCText,
    formatLine,
    isValidNick,
    isValidNodeName,
    isValidRoom,
    normalizeNick,
)
from netlab.errors import ChatError
from netlab.policies import IDrainable

__all__ = [
    "DEFAULT_NODE_TIMEOUT",
    "DEFAULT_PENDING_LIMIT",
    "DEFAULT_STREAM_CAP",
    "BusService",
    "ChatBus",
    "RemoteParticipant",
    "decodeEntry",
]

_log = Logger()

DEFAULT_PENDING_LIMIT = 1000
"""
The most lines, private messages and room changes a node keeps, in order,
while it cannot reach Redis; past it, each is refused with
C{bus-unavailable}.
"""

DEFAULT_BURST_LIMIT = 10000
"""
The most lines, private messages and room changes that may wait for Redis
while the node has it: a burst (a thousand users each saying a line at
once) waits for the batches before it to be written, rather than be refused
as if Redis were unreachable; past it (a Redis that does not keep up), each
is refused with C{bus-unavailable}.
"""

DEFAULT_STREAM_CAP = 10000
"""
Entries the cluster-wide stream keeps (C{MAXLEN ~}): the catch-up window of
a node cut off from Redis.
"""

READ_COUNT = 500
"""
The most entries one C{XREAD} returns: what a node that fell behind holds
at once.
"""

FIRST_CONNECT_WAIT = 10.0
"""
How long, in seconds, a nickname claimed before the node has first reached
Redis (it is starting) waits for it, before it is refused with
C{bus-unavailable} as it is while the node is cut off.
"""

BLOCK_MS = 5000
"""
How long one C{XREAD} blocks, in milliseconds, before it is sent again.
"""

FORMAT = b"1"
"""
The version of the entries this node writes; others are skipped.
"""

FREE_SCRIPT = """\
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and string.sub(held, 1, string.len(ARGV[2])) == ARGV[2] then
    return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""
"""
Deletes a field of a hash (C{KEYS[1]}, C{ARGV[1]}) only if its value starts
with C{ARGV[2]}: a nickname freed only while the node that held it still
holds it.
"""

_KINDS: dict[bytes, tuple[bytes, ...]] = {
    b"reg": (b"nick",),
    b"join": (b"nick", b"room", b"leave"),
    b"part": (b"nick", b"room", b"reason"),
    b"nick": (b"nick", b"new"),
    b"quit": (b"nick", b"reason"),
    b"say": (b"nick", b"room", b"text", b"act"),
    b"priv": (b"nick", b"to", b"text"),
}


_KEPT = frozenset({"say", "priv", "join", "part", "nick"})
"""
The kinds of change counted against L{ChatBus.pendingLimit} while they wait
for Redis: a user's quit is always kept (there is one per user), and so is
the node's own housekeeping.
"""


_LINES = frozenset({"say", "priv"})
"""
The kinds of entry that are lines (the rest are changes of who is where).
"""


def _unreachable() -> ChatError:
    """
    @return: the error of something that needs Redis, asked without it.
    """
    return ChatError(
        "bus-unavailable", "the rest of the chat is unreachable; try again shortly"
    )


def decodeEntry(fields: list[bytes]) -> dict[str, str] | None:
    """
    Read one stream entry's fields (C{[name, value, ...]}, as C{XREAD}
    returns them).

    @return: its fields as text (C{v}, C{k} and C{node} and those of its
        kind), or C{None} for an entry of another format, of an unknown
        kind, with a field missing or not UTF-8, or with a nickname, room
        or node name that is not one; control characters in free text
        (but IRC's formatting codes) are replaced, as in a user's line.
    """
    if len(fields) % 2:
        return None
    found = dict(zip(fields[::2], fields[1::2], strict=True))
    if found.get(b"v") != FORMAT:
        return None
    needed = _KINDS.get(found.get(b"k", b""))
    if needed is None or b"node" not in found:
        return None
    try:
        entry = {
            name.decode(): found[name].decode("utf-8")
            for name in (b"k", b"node", *needed)
        }
        for name in (b"inc", b"seq"):
            # Optional: how a reader tells an entry published twice.
            if name in found:
                entry[name.decode()] = found[name].decode("utf-8")
    except (KeyError, UnicodeDecodeError, AttributeError):
        return None
    # Another program may have written it: what goes into a line users
    # read must be what this server would have let a user say.
    if not isValidNodeName(entry["node"]):
        return None
    for field in ("nick", "new", "to"):
        if field in entry and not isValidNick(entry[field]):
            return None
    if "room" in entry and not isValidRoom(entry["room"]):
        return None
    for field in ("text", "reason"):
        if field in entry:
            entry[field] = cleanIRCText(entry[field])
    return entry


@implementer(IChatParticipant)
class RemoteParticipant:
    """
    A user of another node, as this node's hub holds it: in its rooms, with
    its nickname; what it should hear, its own node delivers.

    @ivar node: the name of its node.
    @ivar nick: its nickname.
    """

    def __init__(self, node: str, nick: str) -> None:
        self.node = node
        self.nick = nick

    def deliver(self, event: object, line: bytes) -> None:
        """
        Nothing: its own node delivers to it.
        """


class ChatBus:
    """
    One node's link to the others, between its hub and two Redis
    connections (L{attach}, L{detach}).

    @ivar node: this node's name.
    @ivar connected: whether it has Redis now.
    @ivar published: entries published.
    @ivar delivered: entries read and applied.
    @ivar skipped: entries read and skipped as bad.
    @ivar reconnects: times it got Redis back after losing it.
    """

    def __init__(
        self,
        hub: ChatHub,
        clock: IReactorTime,
        node: str,
        nodeTimeout: float = DEFAULT_NODE_TIMEOUT,
        pendingLimit: int = DEFAULT_PENDING_LIMIT,
        streamCap: int = DEFAULT_STREAM_CAP,
        prefix: str = "netlab:chat",
        burstLimit: int = DEFAULT_BURST_LIMIT,
    ) -> None:
        self.hub = hub
        self.clock = clock
        self.node = node
        self.nodeTimeout = nodeTimeout
        self.pendingLimit = pendingLimit
        self.burstLimit = max(burstLimit, pendingLimit)
        self.streamCap = streamCap
        self.stream = f"{prefix}:stream"
        self.users = f"{prefix}:users"
        self.presencePrefix = f"{prefix}:node:"
        self.roomPrefix = f"{prefix}:room:"
        self.said = f"{prefix}:said"
        self._said: dict[bytes, int] = {}
        # Every entry this node publishes carries this process's incarnation
        # and a sequence number: a batch whose EXEC ran but whose reply was
        # lost with the connection is published again, and readers skip
        # what they have already applied.
        self._incarnation = os.urandom(8).hex()
        self._sequence = 0
        # By node: the incarnation last heard from, and its last sequence
        # number applied (one pair per node, however often it restarts).
        self._applied: dict[str, tuple[str, int]] = {}
        self.duplicates = 0
        self.connected = False
        self.published = 0
        self.delivered = 0
        self.skipped = 0
        self.reconnects = 0
        self.behind = 0
        self._commands: IRedis | None = None
        self._reader: IRedis | None = None
        self._lastId: bytes | None = None
        self._everConnected = False
        self._holding = False
        # Claims made before the first connection, waiting for it.
        self._waitingFirst: list[Deferred[None]] = []
        # Each change to publish: its kind ("" for housekeeping) and its
        # commands, sent in one MULTI with others.
        self._pending: deque[tuple[str, list[tuple[Any, ...]]]] = deque()
        self._pendingLines = 0
        self._flushing = False
        self._remotes: dict[str, RemoteParticipant] = {}
        self._beat: IDelayedCall | None = None
        self._beating = False
        self._silent = False
        self._stopped = False
        self._badLog = RateLimitedLog(_log, clock, 60.0)
        self._refusedLog = RateLimitedLog(_log, clock, 60.0)
        self._refusedDelay = 0.0
        self._retry: IDelayedCall | None = None
        # This node's lines not yet back from the bus: who said each, by
        # its sequence number.
        self._saidBy: dict[int, IChatParticipant] = {}
        hub.bus = self

    # Connections

    def attach(self, commands: IRedis, reader: IRedis) -> Deferred[None]:
        """
        Redis is there: on the first call, read who is where and start
        reading the stream from now; on later ones, resume it where it was
        left, and publish what was kept meanwhile.

        @param commands: the connection for commands.
        @param reader: the connection for the blocking C{XREAD}.
        @return: fires once the node has caught up with who is where.
        """
        self._commands = commands
        self._reader = reader
        self.connected = True
        first = not self._everConnected
        if first:
            self._everConnected = True
            done = self._snapshot(commands)
        else:
            self.reconnects += 1
            # Nothing kept is published before the node knows it is still
            # a node: if the others declared it lost, its users' kept
            # changes are theirs no longer.
            self._holding = True
            done = self._stillPresent(commands).addCallback(
                lambda _: self._resume(commands)
            )

        def started(_: object) -> None:
            self._holding = False
            self._heartbeat()
            self._read(reader)
            self._flush()
            waiting, self._waitingFirst = self._waitingFirst, []
            for waited in waiting:
                waited.callback(None)

        def failed(failure: Failure) -> None:
            self._holding = False
            # Lost before it caught up: the next connection starts again.
            if first:
                self._everConnected = False
            _quiet(failure)

        return done.addCallbacks(started, failed)

    def detach(self) -> None:
        """
        Redis is gone (the connection dropped): keep the local users, keep
        what they say (up to L{pendingLimit} lines), and tell them once.
        """
        if not self.connected:
            return
        self.connected = False
        self._commands = self._reader = None
        if self._beat is not None and self._beat.active():
            self._beat.cancel()
        self._beat = None
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        if not self._stopped:
            self._tellLocal(
                "lost the rest of the chat (Redis is unreachable); what you "
                "say is kept and sent when it is back"
            )

    def stop(self) -> Deferred[None]:
        """
        The node stops: publish what is left, and remove its presence so
        the others see its users quit at once.
        """
        self._stopped = True
        for waited in list(self._waitingFirst):
            waited.cancel()
        if self._beat is not None and self._beat.active():
            self._beat.cancel()
        self._beat = None
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        commands = self._commands
        if commands is None:
            return succeed(None)
        self._pending.append(("", [("DEL", self.presencePrefix + self.node)]))
        done: Deferred[None] = Deferred()
        self._whenFlushed = done
        self._flush()
        return done

    _whenFlushed: Deferred[None] | None = None

    # What the hub asks

    def _afterFirstConnection(self, nick: str) -> Deferred[bool]:
        waited: Deferred[None] = Deferred()
        self._waitingFirst.append(waited)
        waited.addTimeout(FIRST_CONNECT_WAIT, self.clock)

        def gaveUp(failure: Failure) -> NoReturn:
            if waited in self._waitingFirst:
                self._waitingFirst.remove(waited)
            raise _unreachable()

        return waited.addCallbacks(lambda _: self.claim(nick), gaveUp)

    def claim(self, nick: str) -> Deferred[bool]:
        """
        Claim C{nick} for a user of this node, atomically across the
        cluster and regardless of case.

        Claimed while the node is starting, before it has first reached
        Redis, it waits for it, up to L{FIRST_CONNECT_WAIT} seconds: users
        who reconnect the moment a node (or a worker) starts again are not
        refused.

        @return: fires with whether it was free; fails with
            L{ChatError} C{bus-unavailable} without Redis.
        """
        commands = self._commands
        if commands is None and not self._everConnected and not self._stopped:
            return self._afterFirstConnection(nick)
        if commands is None:
            raise _unreachable()
        value = f"{self.node}\x1f{nick}\x1f"
        d = _execute(commands, "HSETNX", self.users, normalizeNick(nick), value)

        def lost(_: object) -> bool:
            raise _unreachable()

        return d.addCallbacks(lambda added: added in (1, b"1"), lost)

    def isRemote(self, participant: IChatParticipant) -> bool:
        """
        @return: whether C{participant} is a user of another node.
        """
        return isinstance(participant, RemoteParticipant)

    def release(self, nick: str) -> None:
        """
        Give back a nickname L{claim}ed for a user who left before taking it.
        """
        self._freeIfOwned(normalizeNick(nick), f"{self.node}\x1f{nick}\x1f")

    def mayKeep(self) -> None:
        """
        Check that one more change of a user's may wait for Redis.

        @raise ChatError: C{bus-unavailable} if L{pendingLimit} lines,
            private messages and room changes wait already and the node is
            cut off from Redis (not connected, checking it is still a node
            after a cut, or waiting to try again a batch Redis refused); or
            if L{burstLimit} of them wait although it is connected (Redis
            does not keep up).
        """
        waiting = self._pendingLines
        if waiting < self.pendingLimit:
            return
        if self._cutOff():
            raise ChatError(
                "bus-unavailable",
                "the rest of the chat is unreachable and too much waits for "
                "it; try again shortly",
            )
        if waiting >= self.burstLimit:
            raise ChatError(
                "bus-unavailable",
                "the rest of the chat is slow to take what this server "
                "sends it and too much waits; try again shortly",
            )

    def _cutOff(self) -> bool:
        """
        @return: whether what this node's users say cannot go out now: no
            connection to Redis, one back from a cut not yet checked, or a
            batch Redis refused waiting to be tried again.
        """
        return (
            self._commands is None
            or self._holding
            or (self._retry is not None and self._retry.active())
        )

    def publish(
        self,
        kind: str,
        user: tuple[str, str] | None,
        forget: str | None = None,
        sender: IChatParticipant | None = None,
        **fields: str,
    ) -> None:
        """
        Publish a change of one of this node's users.

        @param user: the user's folded nickname and what the users hash
            holds for it (its node, nickname and rooms), to set; or C{None}.
        @param forget: a folded nickname to remove from the users hash.
        @param sender: for a line, the participant who said it: it does
            not hear it when it comes back.
        @raise ChatError: C{bus-unavailable} for a line or a private
            message said while too much waits for Redis (L{mayKeep}).
        """
        if self._silent:
            return
        if kind in ("say", "priv"):
            self.mayKeep()
        if kind in _KEPT:
            self._pendingLines += 1
        self._sequence += 1
        if sender is not None:
            self._saidBy[self._sequence] = sender
        entry: list[Any] = ["v", FORMAT, "k", kind, "node", self.node]
        entry += ["inc", self._incarnation, "seq", str(self._sequence)]
        for name, value in fields.items():
            entry += [name, value]
        commands: list[tuple[Any, ...]] = [
            ("XADD", self.stream, "MAXLEN", "~", self.streamCap, "*", *entry)
        ]
        if kind == "say" and self.hub.historySize:
            room = self.roomPrefix + fields["room"].casefold()
            commands.append(
                ("XADD", room, "MAXLEN", "~", self.hub.historySize, "*", *entry)
            )
        if forget is not None and (user is None or forget != user[0]):
            commands.append(("HDEL", self.users, forget))
        if user is not None:
            commands.append(("HSET", self.users, user[0], user[1]))
        if kind == "say":
            # Counted in the same MULTI: a node back from a cut longer than
            # the stream keeps can tell how many lines of each room it missed.
            roomKey = fields["room"].casefold()
            commands.append(("HINCRBY", self.said, roomKey, 1))
        self._pending.append((kind, commands))
        self._flush()

    # Internals

    def _flush(self) -> None:
        commands = self._commands
        if self._flushing or self._holding or commands is None:
            return
        if self._retry is not None:
            if self._retry.active():
                # Waiting to try again after Redis refused a batch.
                return
            self._retry = None
        if not self._pending:
            if self._stopped and self._whenFlushed is not None:
                done, self._whenFlushed = self._whenFlushed, None
                done.callback(None)
            return
        batch = [self._pending.popleft() for _ in range(min(100, len(self._pending)))]
        self._flushing = True
        _send(commands, "MULTI")
        for _, group in batch:
            for command in group:
                _send(commands, *command)
        d = _execute(commands, "EXEC")

        def sent(_: object) -> None:
            self._flushing = False
            self._refusedDelay = 0.0
            for kind, _ in batch:
                if kind:
                    self.published += 1
                    if kind in _KEPT:
                        self._pendingLines -= 1
            self._flush()

        def failed(failure: Failure) -> None:
            # Kept, in order, for the next connection.
            self._flushing = False
            self._pending.extendleft(reversed(batch))
            if commands is self._commands and not self._stopped:
                # Redis refused it, and the connection is still up (out of
                # memory, a read-only replica): try again, with backoff.
                delay = min(max(2 * self._refusedDelay, 1.0), 10.0)
                self._refusedDelay = delay
                self._refusedLog.warn(
                    "chat bus {node}: Redis refused to publish {count} "
                    "changes ({error}); trying again in {delay:g}s",
                    node=self.node,
                    count=len(batch),
                    error=str(failure.value) or type(failure.value).__name__,
                    delay=delay,
                )
                self._retry = self.clock.callLater(delay, self._retryFlush)

        d.addCallbacks(sent, failed)

    def _retryFlush(self) -> None:
        self._retry = None
        self._flush()

    def _snapshot(self, commands: IRedis) -> Deferred[None]:
        _send(commands, "MULTI")
        _send(commands, "HGETALL", self.users)
        _send(commands, "XREVRANGE", self.stream, "+", "-", "COUNT", 1)
        _send(commands, "HGETALL", self.said)
        d = _execute(commands, "EXEC")

        def read(replies: list[Any]) -> Deferred[None]:
            users, last, said = replies
            self._lastId = last[0][0] if last else b"0-0"
            self._said = _counts(said)
            stale = []
            rooms: set[str] = set()
            for value in users[1::2]:
                user = readUserValue(value)
                if user is None:
                    self._bad("a user that is not of this format")
                    continue
                node, nick, joined = user
                if node == self.node:
                    stale.append(nick)
                    continue
                remote = self._remote(node, nick)
                if remote is None:
                    continue
                for room in joined:
                    try:
                        self.hub.join(remote, room, leaveOthers=False)
                        rooms.add(room)
                    except ChatError:
                        self._bad("a room that is not a room name")
            # This node is starting again (restarted before the others
            # declared it lost, as a worker is): it starts clean, and the
            # others hear its users quit, as if it had been declared lost.
            for nick in stale:
                # Only while it is still this node's: the others may have
                # declared it lost, and given the nickname to another user.
                self._freeIfOwned(normalizeNick(nick), f"{self.node}\x1f")
                self.publish("quit", None, nick=nick, reason="node lost")
            return self._loadHistory(commands, rooms | {self.hub.defaultRoom})

        return d.addCallback(read)

    def _resume(self, commands: IRedis) -> Deferred[None]:
        """
        Back after a cut: if the stream still holds the last entry this
        node delivered, it reads on from there; if not, the cut outlasted
        the stream, and it reads the stream from its start and tells its
        users how many lines of each of their rooms were missed.
        """
        last = self._lastId or b"0-0"
        d = _execute(commands, "XRANGE", self.stream, last, last)

        def check(found: Any) -> Deferred[None] | None:
            if found or last == b"0-0":
                self._tellLocal("the rest of the chat is back")
                return None
            _send(commands, "MULTI")
            _send(commands, "HGETALL", self.said)
            _send(commands, "XRANGE", self.stream, "-", "+")
            _send(commands, "HGETALL", self.users)
            return _execute(commands, "EXEC").addCallback(missed)

        def missed(replies: list[Any]) -> None:
            current, entries, users = _counts(replies[0]), replies[1], replies[2]
            kept: dict[bytes, int] = {}
            for _, fields in entries:
                entry = decodeEntry(fields)
                if entry is not None and entry["k"] == "say":
                    key = entry["room"].casefold().encode("utf-8")
                    kept[key] = kept.get(key, 0) + 1
            lost = {
                key: count - self._said.get(key, 0) - kept.get(key, 0)
                for key, count in current.items()
            }
            # What delivering the stream's lines adds brings them up to date.
            self._said = {
                key: count - kept.get(key, 0) for key, count in current.items()
            }
            self._tellMissed(lost)
            # The lines the stream still has, in order; who is where, from
            # the users hash read with them (the stream no longer has every
            # change since the cut), and the stream read on after them.
            for entryId, fields in entries:
                self._lastId = entryId
                self._apply(fields, only=_LINES)
            self._reconcile(users)

        return d.addCallback(check)

    def _reconcile(self, users: list[bytes]) -> None:
        """
        Make this node's users of other nodes those the users hash lists,
        in their rooms: back from a cut longer than the stream, it has not
        heard every registration, quit, rename and room change since.
        """
        listed: dict[str, tuple[str, str, list[str]]] = {}
        for value in users[1::2]:
            user = readUserValue(value)
            if user is not None and user[0] != self.node:
                listed[normalizeNick(user[1])] = user
        hub = self.hub
        for key, remote in list(self._remotes.items()):
            found = listed.get(key)
            if found is not None and found[0] == remote.node:
                if found[1] != remote.nick:
                    hub.rename(remote, found[1])
                    remote.nick = found[1]
                continue
            del self._remotes[key]
            hub.quit(remote, "left while this server was cut off")
        for key, (node, nick, rooms) in listed.items():
            held = self._remotes.get(key) or self._remote(node, nick)
            if held is None:
                continue
            wanted = {room.casefold() for room in rooms}
            for room in hub.roomsOf(held):
                if room.casefold() not in wanted:
                    hub.part(held, "", room)
            for room in rooms:
                try:
                    hub.join(held, room, leaveOthers=False)
                except ChatError:
                    self._bad("a room that is not a room name")

    def _tellMissed(self, lost: dict[bytes, int]) -> None:
        for participant in self.hub.participants():
            if self.isRemote(participant):
                continue
            rooms = [
                (room, lost.get(room.casefold().encode("utf-8"), 0))
                for room in self.hub.roomsOf(participant)
            ]
            missed = ", ".join(f"{n} of {room}" for room, n in rooms if n > 0)
            text = "the rest of the chat is back"
            if missed:
                text += f"; lines missed while this server was cut off: {missed}"
            event = Notice(text)
            participant.deliver(event, formatLine(event))

    def _loadHistory(self, commands: IRedis, rooms: set[str]) -> Deferred[None]:
        if not self.hub.historySize:
            return succeed(None)
        names = sorted(rooms)
        _send(commands, "MULTI")
        for room in names:
            _send(
                commands,
                "XREVRANGE",
                self.roomPrefix + room.casefold(),
                "+",
                "-",
                "COUNT",
                self.hub.historySize,
            )

        def read(replies: list[Any]) -> None:
            for entries in replies:
                for _, fields in reversed(entries):
                    entry = decodeEntry(fields)
                    if entry is not None and entry["k"] == "say":
                        self.hub.remember(
                            entry["room"],
                            entry["nick"],
                            entry["text"],
                            entry["act"] == "1",
                        )

        return _execute(commands, "EXEC").addCallback(read)

    def _remote(self, node: str, nick: str) -> RemoteParticipant | None:
        remote = RemoteParticipant(node, nick)
        try:
            self.hub.register(remote, nick, joinDefault=False)
        except ChatError:
            self._bad("a nickname already held")
            return None
        self._remotes[normalizeNick(nick)] = remote
        return remote

    def _read(self, reader: IRedis) -> None:
        if reader is not self._reader or self._lastId is None:
            return
        d = _execute(
            reader,
            "XREAD",
            "COUNT",
            READ_COUNT,
            "BLOCK",
            BLOCK_MS,
            "STREAMS",
            self.stream,
            self._lastId,
        )

        def got(reply: Any) -> None:
            behind = 0
            for _, entries in reply or ():
                for entryId, fields in entries:
                    self._lastId = entryId
                    self._apply(fields)
                if len(entries) >= READ_COUNT:
                    # A full read: more waits, at least as many as far as
                    # this node can tell; caught up once a read is not full.
                    behind = len(entries)
            self.behind = behind
            self._read(reader)

        d.addCallbacks(got, lambda _: None)

    def _apply(self, fields: list[bytes], only: frozenset[str] | None = None) -> None:
        entry = decodeEntry(fields)
        if entry is None:
            self._bad("an entry of another format, or with a field missing")
            return
        if only is not None and entry["k"] not in only:
            return
        incarnation, sequence = entry.get("inc"), entry.get("seq", "")
        if incarnation is not None and sequence.isdigit():
            number = int(sequence)
            last = self._applied.get(entry["node"])
            if last is not None and last[0] == incarnation and number <= last[1]:
                # Published again after a lost EXEC reply: applied already.
                self.duplicates += 1
                return
            self._applied[entry["node"]] = (incarnation, number)
        self.delivered += 1
        kind, node = entry["k"], entry["node"]
        hub = self.hub
        try:
            if kind == "say":
                roomKey = entry["room"].casefold().encode("utf-8")
                self._said[roomKey] = self._said.get(roomKey, 0) + 1
                sender = None
                if (
                    node == self.node
                    and incarnation == self._incarnation
                    and sequence.isdigit()
                ):
                    sender = self._saidBy.pop(int(sequence), None)
                hub.deliverSaid(
                    entry["room"],
                    entry["nick"],
                    entry["text"],
                    entry["act"] == "1",
                    sender,
                )
            elif kind == "priv":
                hub.deliverPrivate(entry["nick"], entry["to"], entry["text"])
            elif node == self.node:
                return
            elif kind == "reg":
                self._remote(node, entry["nick"])
            else:
                remote = self._remotes.get(normalizeNick(entry["nick"]))
                if remote is None and kind == "quit":
                    # Nobody here knew them: a nickname its node claimed
                    # but never used, freed as that node starts again.
                    return
                elif remote is None:
                    self._bad("a change of a user nobody registered")
                elif kind == "join":
                    hub.join(remote, entry["room"], leaveOthers=entry["leave"] == "1")
                elif kind == "part":
                    hub.part(remote, entry["reason"], entry["room"])
                elif kind == "nick":
                    hub.rename(remote, entry["new"])
                    del self._remotes[normalizeNick(entry["nick"])]
                    remote.nick = entry["new"]
                    self._remotes[normalizeNick(entry["new"])] = remote
                elif kind == "quit":
                    hub.quit(remote, entry["reason"])
                    del self._remotes[normalizeNick(entry["nick"])]
        except ChatError:
            self._bad("a change the hub refused")

    def _bad(self, what: str) -> None:
        self.skipped += 1
        self._badLog.warn(
            "chat bus {node}: skipped {what} ({skipped} skipped so far)",
            node=self.node,
            what=what,
            skipped=self.skipped,
        )

    def pendingCount(self) -> int:
        """
        @return: the changes waiting to be published.
        """
        return len(self._pending)

    def nodesSeen(self) -> int:
        """
        @return: the nodes with users, this one included.
        """
        return len({remote.node for remote in self._remotes.values()} | {self.node})

    def _heartbeat(self) -> None:
        commands = self._commands
        if commands is None or self._stopped:
            return
        key = self.presencePrefix + self.node
        ttl = self._ttl()
        if self._beating:
            # XX: if the key expired, the others have declared this node
            # lost and freed its users' nicknames.
            _execute(commands, "SET", key, b"1", "PX", ttl, "XX").addCallbacks(
                self._checkSelf, _quiet
            )
        else:
            self._beating = True
            _send(commands, "SET", key, b"1", "PX", ttl)
        others = sorted({remote.node for remote in self._remotes.values()})
        for node in others:
            _execute(commands, "EXISTS", self.presencePrefix + node).addCallbacks(
                self._checkNode, _quiet, (node,)
            )
        self._beat = self.clock.callLater(self.nodeTimeout / 3, self._heartbeat)

    def _ttl(self) -> int:
        """
        @return: the presence key's time to live, in milliseconds: two
            thirds of the node timeout, renewed every third, so that a live
            node's key outlasts one late heartbeat, and a dead node's
            expires and is noticed (at the next check, a third later)
            within the node timeout.
        """
        return max(1, round(self.nodeTimeout * 2000 / 3))

    def _stillPresent(self, commands: IRedis) -> Deferred[None]:
        """
        Back after a cut: renew this node's presence if it still has one,
        or learn that it was declared lost (L{_checkSelf}).
        """
        key = self.presencePrefix + self.node
        d = _execute(commands, "SET", key, b"1", "PX", self._ttl(), "XX")
        return d.addCallback(self._checkSelf)

    def _checkSelf(self, reply: Any) -> None:
        """
        The reply to renewing this node's presence (C{SET ... XX}): nil if
        its key expired while it was cut off, so that the others have
        declared it lost or will at their next check.  Then its users
        are disconnected with C{ERR * node-lost}, what they said meanwhile
        is dropped, and the node starts clean: it frees every nickname the
        users hash still gives it and publishes their quits, for the nodes
        that have not yet noticed.
        """
        if reply is not None:
            return
        self._pending.clear()
        self._saidBy.clear()
        self._pendingLines = 0
        local = [p for p in self.hub.participants() if not self.isRemote(p)]
        _log.warn(
            "chat bus: this node ({node}) was declared lost while cut off "
            "from Redis; its {count} users are disconnected",
            node=self.node,
            count=len(local),
        )
        event = Error(
            "*",
            "node-lost",
            "this server lost the rest of the chat for too long; reconnect",
        )
        line = formatLine(event)
        # Their nicknames are no longer theirs: nothing of them is published.
        self._silent = True
        try:
            for participant in local:
                # ERR * node-lost, as the line protocol writes it.
                participant.deliver(event, line)  # type: ignore[arg-type]
                self.hub.quit(participant, "node lost")
                if IDrainable.providedBy(participant):
                    participant.disconnect("reconnect to join the chat again")
        finally:
            self._silent = False
        commands = self._commands
        if commands is not None:
            key = self.presencePrefix + self.node
            _send(commands, "SET", key, b"1", "PX", self._ttl())
            _execute(commands, "HGETALL", self.users).addCallbacks(
                self._startClean, _quiet
            )

    def _startClean(self, users: list[bytes]) -> None:
        """
        Free the nicknames the users hash gives this node (each only if it
        still does), and publish their users' quits.
        """
        for key, value in zip(users[::2], users[1::2], strict=False):
            user = readUserValue(value)
            if user is not None and user[0] == self.node:
                self._freeIfOwned(key.decode("utf-8"), f"{self.node}\x1f")
                self.publish("quit", None, nick=user[1], reason="node lost")

    def _checkNode(self, exists: Any, node: str) -> None:
        if exists not in (0, b"0"):
            return
        gone = [r for r in self._remotes.values() if r.node == node]
        _log.warn(
            "chat bus: node {node} is lost; its {count} users quit",
            node=node,
            count=len(gone),
        )
        for remote in gone:
            del self._remotes[normalizeNick(remote.nick)]
            self.hub.quit(remote, "node lost")
            self._freeNick(remote)

    def _freeNick(self, remote: RemoteParticipant) -> None:
        self._freeIfOwned(normalizeNick(remote.nick), f"{remote.node}\x1f")

    def _freeIfOwned(self, key: str, owner: str) -> None:
        """
        Remove C{key} from the users hash if what it holds there starts
        with C{owner} (a node's name, or a node's claim of one nickname),
        in one step in Redis (L{FREE_SCRIPT}): a node that read it and then
        deleted it could delete the claim another node made between the
        two.
        """
        commands = self._commands
        if commands is None:
            return
        _execute(commands, "EVAL", FREE_SCRIPT, 1, self.users, key, owner).addErrback(
            _quiet
        )

    def _tellLocal(self, text: str) -> None:
        event = Notice(text)
        line = formatLine(event)
        for participant in self.hub.participants():
            if not isinstance(participant, RemoteParticipant):
                participant.deliver(event, line)


def userValue(node: str, nick: str, rooms: list[str]) -> str:
    """
    @return: what the users hash holds for a user: its node, nickname and
        rooms.
    """
    return f"{node}\x1f{nick}\x1f{' '.join(rooms)}"


def readUserValue(value: bytes) -> tuple[str, str, list[str]] | None:
    """
    @return: the node, nickname and rooms of what the users hash holds for
        a user (see L{userValue}), or C{None} if it is not of that format or
        its node or nickname is not a name.
    """
    try:
        node, nick, joined = value.decode("utf-8").split("\x1f")
    except ValueError:
        return None
    if not isValidNodeName(node) or not isValidNick(nick):
        return None
    return node, nick, joined.split()


def _counts(pairs: list[bytes]) -> dict[bytes, int]:
    """
    @return: a hash of counts, as C{HGETALL} gives it, as numbers; fields
        that are not numbers are left out.
    """
    counts = {}
    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
        if value.isdigit():
            counts[key] = int(value)
    return counts


def _execute(connection: IRedis, *args: Any) -> Deferred[Any]:
    """
    Send one command; a connection already lost (which C{txredisapi}
    reports by raising) fails the Deferred instead.
    """
    try:
        return connection.execute_command(*args)
    except Exception:
        return fail()


def _send(connection: IRedis, *args: Any) -> None:
    """
    Send one command whose reply does not matter (its C{EXEC}'s does, or
    the next heartbeat will do it again).
    """
    _execute(connection, *args).addErrback(_quiet)


def _quiet(failure: Failure) -> None:
    """
    A command lost with its connection: the bus hears of that from the
    connection itself (L{ChatBus.detach}).
    """
    _log.debug("chat bus: a command failed: {failure}", failure=failure)


class BusService(Service):
    """
    C{--bus}: checks at startup that Redis answers (a L{StartupError} if
    not), then keeps two connections to it (commands, and the blocking
    C{XREAD}), reconnecting with backoff, and hands them to its
    L{ChatBus}.  It is started before the listeners, so it stops after
    their users have quit, and publishes those quits before it goes.
    """

    def __init__(
        self,
        reactor: Any,
        address: BusAddress,
        bus: ChatBus,
        stopTimeout: float = 5.0,
        checkPresence: bool = True,
    ) -> None:
        self.reactor = reactor
        self.checkPresence = checkPresence
        """
        Whether starting checks that no live node has this node's name (a
        worker, whose parent checked, does not).
        """
        self.address = address
        self.bus = bus
        self.stopTimeout = stopTimeout
        self._ready: dict[str, IRedis] = {}
        self._clients: dict[str, ClientService] = {}
        self.drains: list[Any] = []
        """
        The drain services of the node's listeners: it stops once they
        have (its users' quits are published before it goes).
        """

    def privilegedStartService(self) -> None:
        presence = (self.bus.node, self.bus.presencePrefix + self.bus.node)
        probe(self.address, presence=presence if self.checkPresence else None)
        super().privilegedStartService()

    def startService(self) -> None:
        super().startService()
        for role in ("commands", "reader"):
            factory = redisFactory(
                self.reactor,
                self.address,
                partial(self._connected, role),
                partial(self._lost, role),
            )
            client = ClientService(
                busEndpoint(self.reactor, self.address),
                factory,
                retryPolicy=backoffPolicy(maxDelay=10.0),
                clock=self.reactor,
            )
            self._clients[role] = client
            client.startService()

    def _connected(self, role: str, redis: IRedis) -> None:
        self._ready[role] = redis
        if len(self._ready) == 2 and not self.bus.connected:
            _log.info(
                "chat bus: node {node} connected to {address}",
                node=self.bus.node,
                address=self.address.display(),
            )
            self.bus.attach(self._ready["commands"], self._ready["reader"])

    def _lost(self, role: str, redis: IRedis) -> None:
        if self._ready.get(role) is not redis:
            return
        del self._ready[role]
        if self.bus.connected and not self.running:
            # Stopping: the bus has published its users' quits.
            _log.info(
                "chat bus: node {node} left {address}",
                node=self.bus.node,
                address=self.address.display(),
            )
            self.bus.detach()
        elif self.bus.connected:
            _log.warn(
                "chat bus: lost {address}; reconnecting",
                address=self.address.display(),
            )
            self.bus.detach()
            # Both connections start again, so the bus resumes with both.
            for other in self._ready.values():
                transport = getattr(other, "transport", None)
                if transport is not None:
                    transport.loseConnection()

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        # Services stop together: wait for the users to have gone.
        drained = DeferredList(
            [drain.stopping for drain in self.drains if drain.stopping is not None],
            consumeErrors=True,
        )
        flushed = drained.addCallback(lambda _: self.bus.stop())
        flushed.addTimeout(self.stopTimeout, self.reactor)
        flushed.addErrback(lambda _: None)

        def stopClients(_: object) -> Deferred[Any]:
            return DeferredList(
                [client.stopService() for client in self._clients.values()],
                consumeErrors=True,
            )

        return flushed.addCallback(stopClients)
