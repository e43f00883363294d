"""
Tests for L{netlab.chat._client}: a L{ChatSession} over a L{StringTransport}
where the test plays the server, with lines written by the wire module's
L{formatLine}; and a few against the real L{ChatFactory} in memory.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.interfaces import IProtocolFactory, IStreamClientEndpoint
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from netlab.chat._client import (
    DEFAULT_MAX_LINE_LENGTH,
    MAX_RECEIVE_LENGTH,
    ChatSession,
    SessionEvent,
    connectChat,
)
from netlab.chat._hub import ChatHub
from netlab.chat._server import ChatFactory
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
    ServerLine,
    formatLine,
)
from netlab.errors import (
    ChatError,
    ConnectFailed,
    ConnectionClosed,
    MalformedReply,
    RequestTimedOut,
)
from netlab.testing import MemoryEndpoint
from tests.timestamp.test_client import _FailingEndpoint, _HangingEndpoint

TIMEOUT = 5.0


@implementer(IStreamClientEndpoint)
class _StringEndpoint:
    """
    An endpoint whose one connection is to a L{StringTransport}: the test
    plays the server.
    """

    def __init__(self) -> None:
        self.transport = StringTransport()
        self.protocol: Any = None

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        self.protocol = protocolFactory.buildProtocol(
            IPv4Address("TCP", "127.0.0.1", 21569)
        )
        self.protocol.makeConnection(self.transport)
        return succeed(self.protocol)


def _lines(*lines: ServerLine) -> bytes:
    return b"".join(formatLine(line) for line in lines)


def _feed(session: ChatSession, *lines: ServerLine) -> None:
    session.dataReceived(_lines(*lines))


def _sent(transport: StringTransport) -> bytes:
    """
    What the client wrote since the last call.
    """
    data = transport.value()
    transport.clear()
    return bytes(data)


def _lost(session: ChatSession) -> None:
    session.connectionLost(Failure(ConnectionDone()))


def _session(
    nick: str = "alice", maxLineLength: int = DEFAULT_MAX_LINE_LENGTH
) -> tuple[ChatSession, StringTransport, Clock]:
    """
    A session registered as C{nick}, in C{#lobby}, with nothing sent yet.
    """
    clock = Clock()
    session = ChatSession(nick, TIMEOUT, clock, maxLineLength)
    transport = StringTransport()
    session.makeConnection(transport)
    _feed(session, Reply("nick", (nick,)), Joined("#lobby", nick))
    transport.clear()
    return session, transport, clock


class ConnectChatTests(SynchronousTestCase):
    """
    Tests for L{connectChat}: connecting and registering a nickname.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.endpoint = _StringEndpoint()

    def test_registers(self) -> None:
        """
        The client sends C{/nick} and fires with the session once the
        server says C{OK nick}.
        """
        d = connectChat(self.endpoint, "alice", TIMEOUT, self.clock)
        self.assertEqual(_sent(self.endpoint.transport), b"/nick alice\r\n")
        self.assertNoResult(d)
        _feed(self.endpoint.protocol, Notice("Welcome"), Reply("nick", ("alice",)))
        session = self.successResultOf(d)
        self.assertIs(session, self.endpoint.protocol)
        self.assertEqual(session.nick, "alice")
        self.assertIsNone(session.room)

    def test_listenerHearsJoin(self) -> None:
        """
        A listener added as registration fires hears the history and the
        C{JOIN} sent right after C{OK nick}, even in the same chunk.
        """
        heard: list[SessionEvent] = []
        d = connectChat(self.endpoint, "alice", TIMEOUT, self.clock)
        d.addCallback(lambda session: session.addListener(heard.append))
        said = RoomMessage("#lobby", "bob", "earlier")
        _feed(
            self.endpoint.protocol,
            Reply("nick", ("alice",)),
            History(said),
            Joined("#lobby", "alice"),
        )
        self.assertEqual(heard, [History(said), Joined("#lobby", "alice")])
        self.assertEqual(self.endpoint.protocol.room, "#lobby")

    def test_nickTaken(self) -> None:
        """
        A taken nickname fails with L{ChatError} C{nick-taken}, and the
        connection is closed.
        """
        d = connectChat(self.endpoint, "alice", TIMEOUT, self.clock)
        _feed(self.endpoint.protocol, Error("nick", "nick-taken", "taken"))
        failure = self.failureResultOf(d, ChatError)
        self.assertEqual(failure.value.code, "nick-taken")
        self.assertEqual(failure.value.text, "taken")
        self.assertTrue(self.endpoint.transport.disconnecting)

    def test_nickInvalid(self) -> None:
        """
        A nickname the server does not accept fails with L{ChatError}
        C{nick-invalid}.
        """
        d = connectChat(self.endpoint, "server_", TIMEOUT, self.clock)
        _feed(self.endpoint.protocol, Error("nick", "nick-invalid", "no"))
        self.assertEqual(self.failureResultOf(d, ChatError).value.code, "nick-invalid")

    def test_invalidNick(self) -> None:
        """
        An invalid nickname raises L{ValueError} before connecting.
        """
        for nick in ("", "9lives", "has space", "x" * 17, "server"):
            self.assertRaises(
                ValueError, connectChat, self.endpoint, nick, TIMEOUT, self.clock
            )
        self.assertIsNone(self.endpoint.protocol)

    def test_refused(self) -> None:
        """
        A refused connection fails with L{ConnectFailed}.
        """
        d = connectChat(
            _FailingEndpoint(ConnectionRefusedError()), "alice", TIMEOUT, self.clock
        )
        self.failureResultOf(d, ConnectFailed)

    def test_connectTimeout(self) -> None:
        """
        A connection that takes longer than the timeout fails with
        L{RequestTimedOut}, and the attempt is cancelled.
        """
        endpoint = _HangingEndpoint()
        d = connectChat(endpoint, "alice", TIMEOUT, self.clock)
        self.clock.advance(TIMEOUT)
        self.failureResultOf(d, RequestTimedOut)
        self.assertTrue(endpoint.cancelled)

    def test_registrationTimeout(self) -> None:
        """
        A server that does not answer C{/nick} in time fails the
        registration with L{RequestTimedOut}, and the connection is aborted.
        """
        d = connectChat(self.endpoint, "alice", TIMEOUT, self.clock)
        self.clock.advance(TIMEOUT)
        self.failureResultOf(d, RequestTimedOut)
        self.assertTrue(self.endpoint.transport.disconnected)

    def test_closedBeforeRegistered(self) -> None:
        """
        A connection closed before C{OK nick} fails with
        L{ConnectionClosed}, naming the server's last C{ERR *}.
        """
        d = connectChat(self.endpoint, "alice", TIMEOUT, self.clock)
        _feed(self.endpoint.protocol, Error("*", "shutdown", "going down"))
        _lost(self.endpoint.protocol)
        failure = self.failureResultOf(d, ConnectionClosed)
        self.assertIn("going down", str(failure.value))

    def test_cancel(self) -> None:
        """
        Cancelling the registration aborts the connection.
        """
        d = connectChat(self.endpoint, "alice", TIMEOUT, self.clock)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertTrue(self.endpoint.transport.disconnected)

    def test_async(self) -> None:
        """
        The session can be used from a coroutine: connect, ask, iterate
        over events until the connection closes.
        """

        async def chat() -> tuple[list[str], list[SessionEvent]]:
            session = await connectChat(self.endpoint, "alice", TIMEOUT, self.clock)
            events = session.events()
            nicks = await session.who()
            heard = [event async for event in events]
            return nicks, heard

        d = Deferred.fromCoroutine(chat())
        protocol = self.endpoint.protocol
        _feed(protocol, Reply("nick", ("alice",)), Joined("#lobby", "alice"))
        _feed(protocol, Reply("who", ("#lobby", "alice", "bob")))
        _feed(protocol, RoomMessage("#lobby", "bob", "hi"))
        _lost(protocol)
        self.assertEqual(
            self.successResultOf(d),
            (
                ["alice", "bob"],
                [Joined("#lobby", "alice"), RoomMessage("#lobby", "bob", "hi")],
            ),
        )


class CommandTests(SynchronousTestCase):
    """
    Tests for each of L{ChatSession}'s commands: what it sends, and what its
    reply becomes.
    """

    def setUp(self) -> None:
        self.session, self.transport, self.clock = _session()

    def test_join(self) -> None:
        """
        C{join} sends C{/join} and fires with the room joined; the session's
        room follows.
        """
        d = self.session.join("#dev")
        self.assertEqual(_sent(self.transport), b"/join #dev\r\n")
        _feed(
            self.session,
            Parted("#lobby", "alice", "joined #dev"),
            Joined("#dev", "alice"),
            Reply("join", ("#dev",)),
        )
        self.assertEqual(self.successResultOf(d), "#dev")
        self.assertEqual(self.session.room, "#dev")

    def test_joinRefused(self) -> None:
        """
        A refused C{join} fails with L{ChatError}, and the room is kept.
        """
        d = self.session.join("#dev")
        _feed(self.session, Error("join", "room-full", "full"))
        self.assertEqual(self.failureResultOf(d, ChatError).value.code, "room-full")
        self.assertEqual(self.session.room, "#lobby")

    def test_joinInvalidRoom(self) -> None:
        """
        C{join} raises L{ValueError} for an invalid room name, sending
        nothing.
        """
        for room in ("dev", "#", "#has space", "#" + "x" * 32):
            self.assertRaises(ValueError, self.session.join, room)
        self.assertEqual(self.transport.value(), b"")

    def test_part(self) -> None:
        """
        C{part} sends C{/part} with the reason and fires with the room left;
        the session is then in no room.
        """
        d = self.session.part("bye now")
        self.assertEqual(_sent(self.transport), b"/part bye now\r\n")
        _feed(
            self.session,
            Parted("#lobby", "alice", "bye now"),
            Reply("part", ("#lobby",)),
        )
        self.assertEqual(self.successResultOf(d), "#lobby")
        self.assertIsNone(self.session.room)

    def test_partWithoutReason(self) -> None:
        """
        Without a reason, C{part} sends C{/part} alone.
        """
        self.session.part()
        self.assertEqual(_sent(self.transport), b"/part\r\n")

    def test_partNotInRoom(self) -> None:
        """
        C{part} outside any room fails with L{ChatError} C{not-in-room}.
        """
        d = self.session.part()
        _feed(self.session, Error("part", "not-in-room", "no room"))
        self.assertEqual(self.failureResultOf(d, ChatError).value.code, "not-in-room")

    def test_say(self) -> None:
        """
        C{say} sends the text as a plain line and expects no reply.
        """
        self.assertIsNone(self.session.say("hi there"))  # type: ignore[func-returns-value]
        self.assertEqual(_sent(self.transport), b"hi there\r\n")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_saySlash(self) -> None:
        """
        Text starting with a slash is sent with C{//}, so it is said rather
        than taken as a command.
        """
        self.session.say("/etc/passwd")
        self.assertEqual(_sent(self.transport), b"//etc/passwd\r\n")

    def test_me(self) -> None:
        """
        C{me} sends C{/me} and expects no reply.
        """
        self.session.me("waves")
        self.assertEqual(_sent(self.transport), b"/me waves\r\n")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_tell(self) -> None:
        """
        C{tell} sends C{/msg} and fires with the recipient.
        """
        d = self.session.tell("bob", "psst, hi")
        self.assertEqual(_sent(self.transport), b"/msg bob psst, hi\r\n")
        _feed(self.session, Reply("msg", ("bob",)))
        self.assertEqual(self.successResultOf(d), "bob")

    def test_tellNoSuchNick(self) -> None:
        """
        C{tell} to nobody fails with L{ChatError} C{no-such-nick}.
        """
        d = self.session.tell("carol", "hi")
        _feed(self.session, Error("msg", "no-such-nick", "nobody"))
        self.assertEqual(self.failureResultOf(d, ChatError).value.code, "no-such-nick")

    def test_tellInvalidNick(self) -> None:
        """
        C{tell} raises L{ValueError} for an invalid nickname, sending
        nothing.
        """
        self.assertRaises(ValueError, self.session.tell, "no one", "hi")
        self.assertEqual(self.transport.value(), b"")

    def test_who(self) -> None:
        """
        C{who} fires with the nicknames in the room.
        """
        d = self.session.who()
        self.assertEqual(_sent(self.transport), b"/who\r\n")
        _feed(self.session, Reply("who", ("#lobby", "alice", "bob")))
        self.assertEqual(self.successResultOf(d), ["alice", "bob"])

    def test_whoNotInRoom(self) -> None:
        """
        C{who} outside any room fails with L{ChatError}.
        """
        d = self.session.who()
        _feed(self.session, Error("who", "not-in-room", "no room"))
        self.assertEqual(self.failureResultOf(d, ChatError).value.code, "not-in-room")

    def test_rooms(self) -> None:
        """
        C{rooms} fires with each room and its count.
        """
        d = self.session.rooms()
        self.assertEqual(_sent(self.transport), b"/rooms\r\n")
        _feed(self.session, Reply("rooms", ("#dev", "1", "#lobby", "3")))
        self.assertEqual(self.successResultOf(d), [("#dev", 1), ("#lobby", 3)])

    def test_roomsNone(self) -> None:
        """
        C{rooms} fires with an empty list when there are no rooms.
        """
        d = self.session.rooms()
        _feed(self.session, Reply("rooms"))
        self.assertEqual(self.successResultOf(d), [])

    def test_roomsMalformed(self) -> None:
        """
        A C{rooms} reply that does not pair rooms with counts fails with
        L{MalformedReply}.
        """
        for values in (("#dev",), ("#dev", "many"), ("#dev", "1", "#lobby")):
            d = self.session.rooms()
            _feed(self.session, Reply("rooms", values))
            self.failureResultOf(d, MalformedReply)

    def test_rename(self) -> None:
        """
        C{rename} sends C{/nick} and fires with the new nickname; the
        session's nickname follows.
        """
        d = self.session.rename("bob")
        self.assertEqual(_sent(self.transport), b"/nick bob\r\n")
        _feed(self.session, NickChanged("alice", "bob"), Reply("nick", ("bob",)))
        self.assertEqual(self.successResultOf(d), "bob")
        self.assertEqual(self.session.nick, "bob")

    def test_renameTaken(self) -> None:
        """
        A refused C{rename} fails with L{ChatError}, and the nickname is
        kept.
        """
        d = self.session.rename("bob")
        _feed(self.session, Error("nick", "nick-taken", "taken"))
        self.assertEqual(self.failureResultOf(d, ChatError).value.code, "nick-taken")
        self.assertEqual(self.session.nick, "alice")

    def test_renameInvalid(self) -> None:
        """
        C{rename} raises L{ValueError} for an invalid nickname.
        """
        self.assertRaises(ValueError, self.session.rename, "-bob")
        self.assertEqual(self.transport.value(), b"")

    def test_sendCommand(self) -> None:
        """
        C{sendCommand} sends a slash command as typed and fires with its
        L{Reply}, matched case-insensitively by name.
        """
        d = self.session.sendCommand("/WHO")
        self.assertIsNotNone(d)
        self.assertEqual(_sent(self.transport), b"/WHO\r\n")
        _feed(self.session, Reply("who", ("#lobby", "alice")))
        assert d is not None
        self.assertEqual(self.successResultOf(d), Reply("who", ("#lobby", "alice")))

    def test_sendCommandRefused(self) -> None:
        """
        C{sendCommand} fails with the server's C{ERR} as L{ChatError}.
        """
        d = self.session.sendCommand("/frob it")
        _feed(self.session, Error("frob", "unknown-command", "no /frob"))
        assert d is not None
        self.assertEqual(
            self.failureResultOf(d, ChatError).value.code, "unknown-command"
        )

    def test_sendCommandPlain(self) -> None:
        """
        Plain lines, C{//} lines and C{/me} are sent as typed, with no
        reply expected.
        """
        for line in ("hello", "//etc", "/me waves", "/ME shrugs"):
            self.assertIsNone(self.session.sendCommand(line))
            self.assertEqual(_sent(self.transport), line.encode() + b"\r\n")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_sendCommandNoName(self) -> None:
        """
        A slash alone is not a command: L{ValueError}.
        """
        self.assertRaises(ValueError, self.session.sendCommand, "/")
        self.assertEqual(self.transport.value(), b"")


class ValidationTests(SynchronousTestCase):
    """
    Tests for what a session refuses to send.
    """

    def setUp(self) -> None:
        self.session, self.transport, self.clock = _session(maxLineLength=20)

    def test_lineBreaks(self) -> None:
        """
        Text with CR or LF raises L{ValueError}, for every way of sending.
        """
        s = self.session
        for bad in ("a\nb", "a\rb", "a\r\n"):
            self.assertRaises(ValueError, s.say, bad)
            self.assertRaises(ValueError, s.me, bad)
            self.assertRaises(ValueError, s.tell, "bob", bad)
            self.assertRaises(ValueError, s.part, bad)
            self.assertRaises(ValueError, s.quit, bad)
            self.assertRaises(ValueError, s.sendCommand, bad)
            self.assertRaises(ValueError, s.sendCommand, "/who " + bad)
        self.assertEqual(self.transport.value(), b"")

    def test_tooLong(self) -> None:
        """
        A line longer than C{maxLineLength} bytes, line ending aside,
        raises L{ValueError}; one exactly that long is sent.
        """
        self.session.say("x" * 20)
        self.assertEqual(_sent(self.transport), b"x" * 20 + b"\r\n")
        self.assertRaises(ValueError, self.session.say, "x" * 21)
        self.assertRaises(ValueError, self.session.me, "x" * 17)
        self.assertRaises(ValueError, self.session.tell, "bob", "x" * 14)
        self.assertEqual(self.transport.value(), b"")

    def test_tooLongInBytes(self) -> None:
        """
        Length is counted in UTF-8 bytes, not characters.
        """
        self.assertRaises(ValueError, self.session.say, "é" * 11)
        self.session.say("é" * 10)
        self.assertEqual(_sent(self.transport), "é".encode() * 10 + b"\r\n")

    def test_notEncodable(self) -> None:
        """
        Text that is not encodable as UTF-8 raises L{ValueError}.
        """
        self.assertRaises(ValueError, self.session.say, "\udcff")

    def test_sayAfterClose(self) -> None:
        """
        C{say} and C{me} raise L{ConnectionClosed} once the connection is
        closed.
        """
        _lost(self.session)
        self.assertRaises(ConnectionClosed, self.session.say, "hi")
        self.assertRaises(ConnectionClosed, self.session.me, "waves")

    def test_commandAfterClose(self) -> None:
        """
        A command once the connection is closed fails with
        L{ConnectionClosed}, sending nothing.
        """
        _lost(self.session)
        self.failureResultOf(self.session.who(), ConnectionClosed)
        self.assertEqual(self.transport.value(), b"")


class MatchingTests(SynchronousTestCase):
    """
    Tests for matching replies to commands, first in first out, among
    events.
    """

    def setUp(self) -> None:
        self.session, self.transport, self.clock = _session()
        self.heard: list[SessionEvent] = []
        self.session.addListener(self.heard.append)

    def test_inOrder(self) -> None:
        """
        Replies go to the commands in the order sent, whatever events come
        in between.
        """
        who = self.session.who()
        rooms = self.session.rooms()
        tell = self.session.tell("bob", "hi")
        _feed(
            self.session,
            RoomMessage("#lobby", "bob", "one"),
            Reply("who", ("#lobby", "alice", "bob")),
            Action("#lobby", "bob", "waves"),
            Reply("rooms", ("#lobby", "2")),
        )
        self.assertEqual(self.successResultOf(who), ["alice", "bob"])
        self.assertEqual(self.successResultOf(rooms), [("#lobby", 2)])
        self.assertNoResult(tell)
        _feed(
            self.session, PrivateMessage("bob", "alice", "yo"), Reply("msg", ("bob",))
        )
        self.assertEqual(self.successResultOf(tell), "bob")
        self.assertEqual(
            self.heard,
            [
                RoomMessage("#lobby", "bob", "one"),
                Action("#lobby", "bob", "waves"),
                PrivateMessage("bob", "alice", "yo"),
            ],
        )

    def test_sameCommandTwice(self) -> None:
        """
        Two of the same command get their replies in order.
        """
        first = self.session.who()
        second = self.session.who()
        _feed(
            self.session, Reply("who", ("#lobby", "a")), Reply("who", ("#lobby", "b"))
        )
        self.assertEqual(self.successResultOf(first), ["a"])
        self.assertEqual(self.successResultOf(second), ["b"])

    def test_errSayIsEvent(self) -> None:
        """
        C{ERR say}, C{ERR me} and C{ERR *} are events, not replies, even
        while a command waits.
        """
        who = self.session.who()
        errors = [
            Error("say", "not-in-room", "no room"),
            Error("me", "not-in-room", "no room"),
            Error("*", "line-too-long", "too long"),
        ]
        _feed(self.session, *errors)
        self.assertNoResult(who)
        self.assertEqual(self.heard, errors)

    def test_unmatchedErrIsEvent(self) -> None:
        """
        An C{ERR} naming no waiting command is an event.
        """
        error = Error("who", "not-in-room", "no room")
        _feed(self.session, error)
        self.assertEqual(self.heard, [error])

    def test_unmatchedReplyIgnored(self) -> None:
        """
        An C{OK} naming no waiting command is logged and ignored.
        """
        who = self.session.who()
        with capturedLogs() as events:
            _feed(self.session, Reply("rooms", ()))
        self.assertEqual(len(events), 1)
        self.assertIn(b"OK rooms", events[0]["line"])
        self.assertNoResult(who)
        self.assertEqual(self.heard, [])


class EventTests(SynchronousTestCase):
    """
    Tests for listeners and L{ChatSession.events}.
    """

    def setUp(self) -> None:
        self.session, self.transport, self.clock = _session()

    def test_everyKind(self) -> None:
        """
        Listeners get every kind of event, in order, as values of the wire
        module.
        """
        heard: list[SessionEvent] = []
        self.session.addListener(heard.append)
        events: list[SessionEvent] = [
            RoomMessage("#lobby", "bob", "hi"),
            Action("#lobby", "bob", "waves"),
            PrivateMessage("bob", "alice", "psst"),
            Joined("#lobby", "carol"),
            Parted("#lobby", "carol", "later"),
            Parted("#lobby", "dave"),
            NickChanged("bob", "robert"),
            Quit("robert", "bye"),
            Quit("eve"),
            Notice("server going down"),
            History(RoomMessage("#lobby", "bob", "old")),
            History(Action("#lobby", "bob", "old")),
            Error("*", "backlog", "you read too slowly"),
        ]
        _feed(self.session, *events)
        self.assertEqual(heard, events)

    def test_severalListeners(self) -> None:
        """
        Every listener hears every event; a removed one hears no more.
        """
        first: list[SessionEvent] = []
        second: list[SessionEvent] = []
        self.session.addListener(first.append)
        self.session.addListener(second.append)
        _feed(self.session, Notice("one"))
        self.session.removeListener(first.append)
        _feed(self.session, Notice("two"))
        self.assertEqual(first, [Notice("one")])
        self.assertEqual(second, [Notice("one"), Notice("two")])

    def test_removeUnknown(self) -> None:
        """
        Removing a listener that was never added raises L{ValueError}.
        """
        self.assertRaises(ValueError, self.session.removeListener, print)

    def test_failingListener(self) -> None:
        """
        A listener that raises is logged, and the others still hear the
        event.
        """
        heard: list[SessionEvent] = []

        def broken(event: SessionEvent) -> None:
            raise ZeroDivisionError()

        self.session.addListener(broken)
        self.session.addListener(heard.append)
        _feed(self.session, Notice("hi"))
        self.assertEqual(heard, [Notice("hi")])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_stream(self) -> None:
        """
        An event stream yields events from when it was made, queued until
        taken, and ends when the connection closes.
        """
        _feed(self.session, Notice("before"))
        stream = self.session.events()
        _feed(self.session, Notice("queued"))

        async def read() -> list[SessionEvent]:
            return [event async for event in stream]

        d = Deferred.fromCoroutine(read())
        self.assertNoResult(d)
        _feed(self.session, Notice("waited for"))
        self.assertNoResult(d)
        _lost(self.session)
        self.assertEqual(
            self.successResultOf(d), [Notice("queued"), Notice("waited for")]
        )

    def test_twoStreams(self) -> None:
        """
        Each stream gets every event.
        """
        streams = [self.session.events(), self.session.events()]
        _feed(self.session, Notice("hi"))
        _lost(self.session)

        async def read() -> list[list[SessionEvent]]:
            result = []
            for stream in streams:
                result.append([event async for event in stream])
            return result

        self.assertEqual(
            self.successResultOf(Deferred.fromCoroutine(read())),
            [[Notice("hi")], [Notice("hi")]],
        )

    def test_streamAfterClose(self) -> None:
        """
        A stream made once the connection is closed ends at once.
        """
        _lost(self.session)

        async def read() -> list[SessionEvent]:
            return [event async for event in self.session.events()]

        self.assertEqual(self.successResultOf(Deferred.fromCoroutine(read())), [])

    def test_streamClose(self) -> None:
        """
        A closed stream ends, even while waited on, and gets no more.
        """
        stream = self.session.events()

        async def read() -> list[SessionEvent]:
            return [event async for event in stream]

        d = Deferred.fromCoroutine(read())
        Deferred.fromCoroutine(stream.aclose())
        self.assertEqual(self.successResultOf(d), [])
        _feed(self.session, Notice("hi"))
        self.assertEqual(list(stream._queue), [])

    def test_streamCloseSync(self) -> None:
        """
        L{EventStream.close}, callable without a coroutine (from
        C{callLater}, say), ends a stream that is waited on.
        """
        stream = self.session.events()

        async def read() -> list[SessionEvent]:
            return [event async for event in stream]

        d = Deferred.fromCoroutine(read())
        stream.close()
        self.assertEqual(self.successResultOf(d), [])

    def test_streamCancelled(self) -> None:
        """
        Cancelling a coroutine that waits on a stream leaves the stream
        usable.
        """
        stream = self.session.events()

        async def next() -> SessionEvent:
            return await stream.__anext__()

        d = Deferred.fromCoroutine(next())
        d.cancel()
        self.failureResultOf(d, CancelledError)
        _feed(self.session, Notice("hi"))
        self.assertEqual(
            self.successResultOf(Deferred.fromCoroutine(next())), Notice("hi")
        )

    def test_unparseableIgnored(self) -> None:
        """
        A line the client cannot parse is logged and ignored; the lines
        after it are still read.
        """
        heard: list[SessionEvent] = []
        self.session.addListener(heard.append)
        with capturedLogs() as events:
            self.session.dataReceived(b"WHAT is this\r\nMSG #lobby\r\n\xff\r\n")
            _feed(self.session, Notice("after"))
        self.assertEqual(heard, [Notice("after")])
        self.assertEqual(len(events), 3)
        self.assertEqual(events[0]["line"], b"WHAT is this\r\n")

    def test_lineEndings(self) -> None:
        """
        Lines may end with LF or CRLF, and arrive in any pieces.
        """
        heard: list[SessionEvent] = []
        self.session.addListener(heard.append)
        for piece in (b"NOTE o", b"ne\nNOTE two\r", b"\nNOTE three\r\n"):
            self.session.dataReceived(piece)
        self.assertEqual(heard, [Notice("one"), Notice("two"), Notice("three")])


class TrackingTests(SynchronousTestCase):
    """
    Tests for keeping L{ChatSession.nick} and L{ChatSession.room} current.
    """

    def setUp(self) -> None:
        self.session, self.transport, self.clock = _session()

    def test_othersIgnored(self) -> None:
        """
        Joins, parts and renames of others change nothing.
        """
        _feed(
            self.session,
            Joined("#dev", "bob"),
            Parted("#lobby", "bob"),
            NickChanged("bob", "alice2"),
        )
        self.assertEqual((self.session.nick, self.session.room), ("alice", "#lobby"))

    def test_selfCaseInsensitive(self) -> None:
        """
        Events about this session's nickname are recognised whatever its
        case.
        """
        _feed(self.session, Joined("#dev", "ALICE"))
        self.assertEqual(self.session.room, "#dev")
        _feed(self.session, NickChanged("Alice", "bob"))
        self.assertEqual(self.session.nick, "bob")
        _feed(self.session, Parted("#dev", "BOB"))
        self.assertIsNone(self.session.room)

    def test_partOtherRoom(self) -> None:
        """
        Leaving a room other than the current one keeps the current room.
        """
        _feed(self.session, Parted("#old", "alice"))
        self.assertEqual(self.session.room, "#lobby")

    def test_rawCommands(self) -> None:
        """
        Commands sent with C{sendCommand} are tracked too.
        """
        self.session.sendCommand("/nick bob")
        _feed(self.session, NickChanged("alice", "bob"), Reply("nick", ("bob",)))
        self.session.sendCommand("/join #dev")
        _feed(self.session, Joined("#dev", "bob"), Reply("join", ("#dev",)))
        self.assertEqual((self.session.nick, self.session.room), ("bob", "#dev"))
        self.session.sendCommand("/part")
        _feed(self.session, Reply("part", ("#dev",)))
        self.assertIsNone(self.session.room)


class TimeoutTests(SynchronousTestCase):
    """
    Tests for commands that get no reply in time.
    """

    def setUp(self) -> None:
        self.session, self.transport, self.clock = _session()

    def test_timesOut(self) -> None:
        """
        A command with no reply in time fails with L{RequestTimedOut} and
        the connection is aborted; the others then fail with
        L{ConnectionClosed}.
        """
        who = self.session.who()
        self.clock.advance(1)
        rooms = self.session.rooms()
        self.clock.advance(TIMEOUT - 1)
        self.assertIn("/who", str(self.failureResultOf(who, RequestTimedOut).value))
        self.assertTrue(self.transport.disconnected)
        self.assertNoResult(rooms)
        _lost(self.session)
        self.failureResultOf(rooms, ConnectionClosed)

    def test_linesAfterTimeoutIgnored(self) -> None:
        """
        Once the connection is aborted, lines still arriving are not read.
        """
        heard: list[SessionEvent] = []
        self.session.addListener(heard.append)
        who = self.session.who()
        self.clock.advance(1)
        rooms = self.session.rooms()
        self.clock.advance(TIMEOUT - 1)
        self.failureResultOf(who, RequestTimedOut)
        _feed(self.session, Notice("late"), Reply("who", ()))
        self.assertEqual(heard, [])
        self.assertNoResult(rooms)

    def test_answeredInTime(self) -> None:
        """
        A reply in time cancels the command's timer.
        """
        d = self.session.who()
        self.clock.advance(TIMEOUT - 1)
        _feed(self.session, Reply("who", ("#lobby",)))
        self.assertEqual(self.successResultOf(d), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancel(self) -> None:
        """
        Cancelling a command aborts the connection, since later replies
        could not be matched.
        """
        d = self.session.who()
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertTrue(self.transport.disconnected)


class CloseTests(SynchronousTestCase):
    """
    Tests for closing, quitting and losing the connection.
    """

    def setUp(self) -> None:
        self.session, self.transport, self.clock = _session()

    def test_close(self) -> None:
        """
        C{close} closes the connection and fires once it is closed; waiting
        commands fail with L{ConnectionClosed}.
        """
        who = self.session.who()
        d = self.session.close()
        self.assertTrue(self.transport.disconnecting)
        self.assertFalse(self.transport.disconnected)
        self.assertNoResult(d)
        _lost(self.session)
        self.assertIsNone(self.successResultOf(d))
        failure = self.failureResultOf(who, ConnectionClosed)
        self.assertIn("client closed", str(failure.value))
        self.assertIsNone(self.successResultOf(self.session.closed))

    def test_closeTwice(self) -> None:
        """
        Closing twice is harmless; both fire; closing a closed session fires
        at once.
        """
        first = self.session.close()
        second = self.session.close()
        _lost(self.session)
        self.successResultOf(first)
        self.successResultOf(second)
        self.successResultOf(self.session.close())

    def test_quit(self) -> None:
        """
        C{quit} sends C{/quit} with the reason, and fires once the
        connection is closed after C{OK quit}.
        """
        d = self.session.quit("bye all")
        self.assertEqual(_sent(self.transport), b"/quit bye all\r\n")
        _feed(self.session, Reply("quit"))
        self.assertTrue(self.transport.disconnecting)
        self.assertNoResult(d)
        _lost(self.session)
        self.assertIsNone(self.successResultOf(d))

    def test_quitWithoutReason(self) -> None:
        """
        Without a reason, C{quit} sends C{/quit} alone.
        """
        self.session.quit()
        self.assertEqual(_sent(self.transport), b"/quit\r\n")

    def test_quitClosedFirst(self) -> None:
        """
        C{quit} fires even if the server closes before its C{OK}.
        """
        d = self.session.quit()
        _lost(self.session)
        self.assertIsNone(self.successResultOf(d))

    def test_quitAfterClose(self) -> None:
        """
        C{quit} on a closed session fires at once, sending nothing.
        """
        _lost(self.session)
        self.successResultOf(self.session.quit())
        self.assertEqual(self.transport.value(), b"")

    def test_serverCloses(self) -> None:
        """
        When the server closes the connection, waiting commands fail with
        L{ConnectionClosed}, streams end and C{closed} fires.
        """
        who = self.session.who()
        _lost(self.session)
        self.assertIn("server closed", str(self.failureResultOf(who).value))
        self.assertIsNone(self.successResultOf(self.session.closed))

    def test_serverSaysWhy(self) -> None:
        """
        After an C{ERR *}, the server's reason is what waiting commands fail
        with.
        """
        who = self.session.who()
        _feed(self.session, Error("*", "backlog", "you read too slowly"))
        _lost(self.session)
        failure = self.failureResultOf(who, ConnectionClosed)
        self.assertIn("you read too slowly", str(failure.value))


class BufferTests(SynchronousTestCase):
    """
    Tests for the bound on what a session holds from the server.
    """

    def setUp(self) -> None:
        self.session, self.transport, self.clock = _session()

    def test_noLineFeed(self) -> None:
        """
        More than L{MAX_RECEIVE_LENGTH} bytes without a line feed abort the
        connection; waiting commands fail with L{MalformedReply}.
        """
        who = self.session.who()
        self.session.dataReceived(b"NOTE " + b"x" * (MAX_RECEIVE_LENGTH - 5))
        self.assertFalse(self.transport.disconnected)
        self.session.dataReceived(b"x")
        self.assertTrue(self.transport.disconnected)
        _lost(self.session)
        self.failureResultOf(who, MalformedReply)

    def test_longLineInOneChunk(self) -> None:
        """
        A whole line longer than L{MAX_RECEIVE_LENGTH} aborts the connection
        too.
        """
        heard: list[SessionEvent] = []
        self.session.addListener(heard.append)
        self.session.dataReceived(b"NOTE " + b"x" * MAX_RECEIVE_LENGTH + b"\n")
        self.assertTrue(self.transport.disconnected)
        self.assertEqual(heard, [])

    def test_longestLine(self) -> None:
        """
        A line of L{MAX_RECEIVE_LENGTH} bytes before its line feed is read.
        """
        heard: list[SessionEvent] = []
        self.session.addListener(heard.append)
        self.session.dataReceived(b"NOTE " + b"x" * (MAX_RECEIVE_LENGTH - 5) + b"\n")
        self.assertFalse(self.transport.disconnected)
        self.assertEqual(heard, [Notice("x" * (MAX_RECEIVE_LENGTH - 5))])

    def test_longestLineWithCR(self) -> None:
        """
        A line of L{MAX_RECEIVE_LENGTH} bytes before CR LF is read too, in
        pieces: the CR is part of its ending.
        """
        heard: list[SessionEvent] = []
        self.session.addListener(heard.append)
        self.session.dataReceived(b"NOTE " + b"x" * (MAX_RECEIVE_LENGTH - 5) + b"\r")
        self.session.dataReceived(b"\n")
        self.assertFalse(self.transport.disconnected)
        self.assertEqual(heard, [Notice("x" * (MAX_RECEIVE_LENGTH - 5))])

    def test_linesAfterLongLineIgnored(self) -> None:
        """
        Once a line too long has aborted the connection, the lines after it
        in the same read are not read.
        """
        heard: list[SessionEvent] = []
        self.session.addListener(heard.append)
        self.session.dataReceived(
            b"NOTE " + b"x" * MAX_RECEIVE_LENGTH + b"\n" + _lines(Notice("after"))
        )
        self.assertTrue(self.transport.disconnected)
        self.assertEqual(heard, [])


class MemoryTests(SynchronousTestCase):
    """
    Tests for sessions against the real L{ChatFactory}, in memory.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.endpoint = MemoryEndpoint(ChatFactory(ChatHub(), self.clock))

    def _flush(self) -> None:
        """
        Deliver everything both ways; the server sends what it queued in a
        turn of the reactor at the end of that turn (C{callLater(0)}).
        """
        for _ in range(10):
            self.endpoint.flush()
            self.clock.advance(0)

    def _connect(self, nick: str) -> tuple[ChatSession, list[SessionEvent]]:
        heard: list[SessionEvent] = []
        d = connectChat(self.endpoint, nick, TIMEOUT, self.clock)

        def listen(session: ChatSession) -> ChatSession:
            session.addListener(heard.append)
            return session

        d.addCallback(listen)
        self._flush()
        return self.successResultOf(d), heard

    def _ask(self, d: Deferred[Any]) -> Any:
        self._flush()
        return self.successResultOf(d)

    def test_chat(self) -> None:
        """
        Two sessions register, see each other, talk in a room and in
        private.
        """
        alice, aliceHeard = self._connect("alice")
        bob, bobHeard = self._connect("bob")
        self.assertEqual((alice.room, bob.room), ("#lobby", "#lobby"))
        self.assertEqual(self._ask(alice.who()), ["alice", "bob"])
        bob.say("hi")
        bob.me("waves")
        self.assertEqual(self._ask(bob.tell("alice", "psst")), "alice")
        self.assertEqual(
            aliceHeard,
            [
                Joined("#lobby", "alice"),
                Joined("#lobby", "bob"),
                RoomMessage("#lobby", "bob", "hi"),
                Action("#lobby", "bob", "waves"),
                PrivateMessage("bob", "alice", "psst"),
            ],
        )
        self.assertEqual(bobHeard, [Joined("#lobby", "bob")])

    def test_rooms(self) -> None:
        """
        Joining, renaming and parting are tracked, and counted in C{rooms}.
        """
        alice, _ = self._connect("alice")
        self._connect("bob")
        self.assertEqual(self._ask(alice.join("#dev")), "#dev")
        self.assertEqual(self._ask(alice.rooms()), [("#dev", 1), ("#lobby", 1)])
        self.assertEqual(self._ask(alice.rename("carol")), "carol")
        self.assertEqual((alice.nick, alice.room), ("carol", "#dev"))
        self.assertEqual(self._ask(alice.part("bye")), "#dev")
        self.assertIsNone(alice.room)
        d = alice.who()
        self._flush()
        self.assertEqual(self.failureResultOf(d, ChatError).value.code, "not-in-room")

    def test_history(self) -> None:
        """
        Someone joining later hears the room's history.
        """
        alice, _ = self._connect("alice")
        alice.say("first")
        self._flush()
        _, bobHeard = self._connect("bob")
        self.assertEqual(
            bobHeard,
            [History(RoomMessage("#lobby", "alice", "first")), Joined("#lobby", "bob")],
        )

    def test_nickTaken(self) -> None:
        """
        A nickname in use, whatever its case, is refused with C{nick-taken}.
        """
        self._connect("alice")
        d = connectChat(self.endpoint, "ALICE", TIMEOUT, self.clock)
        self._flush()
        self.assertEqual(self.failureResultOf(d, ChatError).value.code, "nick-taken")

    def test_refusedLines(self) -> None:
        """
        Unknown commands fail with C{unknown-command}; a plain line outside
        any room comes back as an C{ERR say} event.
        """
        alice, heard = self._connect("alice")
        d = alice.sendCommand("/frob")
        assert d is not None
        self._flush()
        self.assertEqual(
            self.failureResultOf(d, ChatError).value.code, "unknown-command"
        )
        self._ask(alice.part())
        alice.say("anyone?")
        self._flush()
        error = heard[-1]
        assert isinstance(error, Error)
        self.assertEqual((error.command, error.code), ("say", "not-in-room"))

    def test_help(self) -> None:
        """
        C{/help} sends notices, then its reply.
        """
        alice, heard = self._connect("alice")
        del heard[:]
        d = alice.sendCommand("/help")
        assert d is not None
        self.assertEqual(self._ask(d), Reply("help"))
        self.assertTrue(heard)
        self.assertTrue(all(isinstance(event, Notice) for event in heard))

    def test_quit(self) -> None:
        """
        C{quit} fires once the server has closed the connection, and the
        others hear the reason.
        """
        _, aliceHeard = self._connect("alice")
        bob, _ = self._connect("bob")
        d = bob.quit("gone fishing")
        self._flush()
        self.assertIsNone(self.successResultOf(d))
        self.assertTrue(bob.closed.called)
        self.assertEqual(aliceHeard[-1], Quit("bob", "gone fishing"))
