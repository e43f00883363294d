"""
A Redis in memory with the command surface the chat bus uses, answering as
C{txredisapi} does with C{charset=None} and C{convertNumbers=False}: bulk
replies as bytes (C{b"42"} stays bytes), integer replies as ints, C{None}
for a nil reply.  Keys with a time to live expire on a L{Clock}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from netlab.chat._bus import FREE_SCRIPT


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _parseId(entryId: bytes) -> tuple[int, int]:
    ms, _, seq = entryId.partition(b"-")
    return int(ms), int(seq or 0)


class ConnectionLost(Exception):
    """
    The fake connection was cut.
    """


class ResponseError(Exception):
    """
    An error Redis answered with.
    """


class FakeRedisServer:
    """
    The data: strings (with expiry), hashes and streams.

    @ivar commands: every command received, as bytes tuples.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.strings: dict[bytes, tuple[bytes, float | None]] = {}
        self.hashes: dict[bytes, dict[bytes, bytes]] = {}
        self.streams: dict[bytes, list[tuple[bytes, list[bytes]]]] = {}
        self.commands: list[tuple[bytes, ...]] = []
        self._lastId = (0, 0)
        self._blocked: list[tuple[FakeRedis, bytes, bytes, int, Deferred[Any]]] = []

    def connect(self) -> FakeRedis:
        """
        @return: a new connection.
        """
        return FakeRedis(self)

    def _live(self, key: bytes) -> bytes | None:
        found = self.strings.get(key)
        if found is None:
            return None
        value, expires = found
        if expires is not None and self.clock.seconds() >= expires:
            del self.strings[key]
            return None
        return value

    def _nextId(self) -> bytes:
        ms = int(self.clock.seconds() * 1000)
        last = self._lastId
        self._lastId = (ms, 0) if ms > last[0] else (last[0], last[1] + 1)
        return b"%d-%d" % self._lastId

    def run(self, args: tuple[bytes, ...]) -> Any:
        name = args[0].upper()
        self.commands.append(args)
        rest = args[1:]
        if name in (b"AUTH", b"SELECT", b"PING"):
            return b"OK"
        if name == b"SET":
            key, value, *options = rest
            upper = [o.upper() for o in options]
            if b"XX" in upper and self._live(key) is None:
                return None
            if b"NX" in upper and self._live(key) is not None:
                return None
            expires = None
            if b"EX" in upper:
                expires = self.clock.seconds() + int(options[upper.index(b"EX") + 1])
            if b"PX" in upper:
                ms = int(options[upper.index(b"PX") + 1])
                expires = self.clock.seconds() + ms / 1000
            self.strings[key] = (value, expires)
            return b"OK"
        if name == b"EXISTS":
            return sum(self._live(key) is not None for key in rest)
        if name == b"DEL":
            return sum(self.strings.pop(key, None) is not None for key in rest)
        if name == b"HSETNX":
            table = self.hashes.setdefault(rest[0], {})
            if rest[1] in table:
                return 0
            table[rest[1]] = rest[2]
            return 1
        if name == b"HSET":
            self.hashes.setdefault(rest[0], {})[rest[1]] = rest[2]
            return 1
        if name == b"HGET":
            return self.hashes.get(rest[0], {}).get(rest[1])
        if name == b"HDEL":
            table = self.hashes.get(rest[0], {})
            return sum(table.pop(field, None) is not None for field in rest[1:])
        if name == b"HGETALL":
            out: list[bytes] = []
            for field, value in self.hashes.get(rest[0], {}).items():
                out += [field, value]
            return out
        if name == b"EVAL":
            return self._eval(rest)
        if name == b"XADD":
            key = rest[0]
            assert rest[1].upper() == b"MAXLEN" and rest[2] == b"~", rest
            cap = int(rest[3])
            assert rest[4] == b"*"
            entry = (self._nextId(), list(rest[5:]))
            stream = self.streams.setdefault(key, [])
            stream.append(entry)
            # Approximate trimming trims by whole blocks; so does this.
            if len(stream) > cap + 10:
                del stream[: len(stream) - cap]
            self._wake()
            return entry[0]
        if name == b"HINCRBY":
            table = self.hashes.setdefault(rest[0], {})
            value = int(table.get(rest[1], b"0")) + int(rest[2])
            table[rest[1]] = b"%d" % value
            return value
        if name == b"XRANGE":
            key, start, end = rest[:3]
            low = (0, 0) if start == b"-" else _parseId(start)
            high = (2**64, 2**64) if end == b"+" else _parseId(end)
            return [
                e for e in self.streams.get(key, []) if low <= _parseId(e[0]) <= high
            ]
        if name == b"XREVRANGE":
            key, _, _, _, count = rest
            return list(reversed(self.streams.get(key, [])))[: int(count)]
        if name == b"XREAD":
            count = int(rest[1])
            key, after = rest[5], rest[6]
            found = self._after(key, after, count)
            return found
        raise NotImplementedError(name)

    def _eval(self, rest: tuple[bytes, ...]) -> Any:
        """
        Run the one script the bus sends, L{FREE_SCRIPT}, as Redis runs
        it: in one step.
        """
        script, keyCount, *keysAndArgs = rest
        if script != FREE_SCRIPT.encode():
            raise NotImplementedError(script)
        keys, args = keysAndArgs[: int(keyCount)], keysAndArgs[int(keyCount) :]
        held = self.hashes.get(keys[0], {}).get(args[0])
        if held is not None and held.startswith(args[1]):
            del self.hashes[keys[0]][args[0]]
            return 1
        return 0

    def _after(self, key: bytes, after: bytes, count: int) -> Any:
        threshold = _parseId(after)
        entries = [e for e in self.streams.get(key, []) if _parseId(e[0]) > threshold]
        return [[key, entries[:count]]] if entries else None

    def block(
        self, connection: FakeRedis, key: bytes, after: bytes, count: int
    ) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self._blocked.append((connection, key, after, count, d))
        return d

    def _wake(self) -> None:
        blocked, self._blocked = self._blocked, []
        for connection, key, after, count, d in blocked:
            if connection.cut:
                continue
            found = self._after(key, after, count)
            if found is None:
                self._blocked.append((connection, key, after, count, d))
            else:
                # Redis answers a blocked client after the command that
                # woke it has been answered.
                self.clock.callLater(0, d.callback, found)

    def dropBlocked(self, connection: FakeRedis) -> None:
        for entry in list(self._blocked):
            if entry[0] is connection:
                self._blocked.remove(entry)
                entry[4].errback(ConnectionLost())


class FakeRedis:
    """
    One connection: C{execute_command}, as C{txredisapi}'s protocol has it,
    with C{MULTI}/C{EXEC} queueing.

    @ivar cut: whether the connection is cut (every command then fails).
    @ivar held: replies held back, while L{hold} is set, until L{answer}.
    """

    def __init__(self, server: FakeRedisServer) -> None:
        self.server = server
        self.cut = False
        self.hold = False
        self.held: list[tuple[Deferred[Any], Any]] = []
        self.refusing: str | None = None
        """
        If set, C{EXEC} fails with this error and runs nothing, as a Redis
        out of memory does (C{EXECABORT}), the connection staying up.
        """
        self._queued: list[tuple[bytes, ...]] | None = None

    def answer(self) -> None:
        """
        Send the replies held back, in order.
        """
        held, self.held = self.held, []
        for d, result in held:
            d.callback(result)

    def execute_command(self, *args: Any) -> Deferred[Any]:
        d = self._execute(*args)
        if not self.hold:
            return d
        later: Deferred[Any] = Deferred()
        d.addBoth(lambda result: self.held.append((later, result)))
        return later

    def _execute(self, *args: Any) -> Deferred[Any]:
        if self.cut:
            return fail(ConnectionLost())
        command = tuple(_bytes(arg) for arg in args)
        name = command[0].upper()
        if name == b"MULTI":
            self._queued = []
            return succeed(b"OK")
        if name == b"EXEC" and self.refusing is not None:
            self._queued = None
            return fail(ResponseError(self.refusing))
        if name == b"EXEC":
            queued, self._queued = self._queued or [], None
            return succeed([self.server.run(c) for c in queued])
        if self._queued is not None:
            self._queued.append(command)
            return succeed(b"QUEUED")
        if name == b"XREAD":
            found = self.server.run(command)
            if found is None:
                return self.server.block(self, command[6], command[7], int(command[2]))
            return succeed(found)
        return succeed(self.server.run(command))

    def disconnect(self) -> None:
        """
        Cut the connection: a blocked C{XREAD} fails, later commands fail.
        """
        self.cut = True
        self.server.dropBlocked(self)
