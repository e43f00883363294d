"""
Tests for L{netlab.chat._server}: L{ChatProtocol} and L{ChatFactory}, with
every limit a chat server has.

Everything runs in memory: L{StringTransport} stands in for the network, a
L{Clock} for the time.  A slow reader is simulated by calling the protocol's
C{pauseProducing}, as Twisted's TCP transport does when more than 64 KiB
wait in its output buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogEvent, LogLevel, capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.python.versions import Version
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab._flow import CLOSE_TIMEOUT
from netlab.chat import (
    Action,
    ChatFactory,
    ChatHub,
    ChatLimits,
    ChatProtocol,
    Error,
    IChatParticipant,
    Joined,
    NickChanged,
    Notice,
    Parted,
    PrivateMessage,
    Quit,
    Reply,
    RoomMessage,
    ServerLine,
    parseServerLine,
)
from netlab.policies import (
    ConnectionGuard,
    ConnectionLimits,
    GuardedConnection,
    IDrainable,
    TrafficStats,
)

PEER = IPv4Address("TCP", "192.0.2.7", 40000)

NO_RATE = ChatLimits(lineRate=0)
"""
Limits with no rate limit, so that tests can send many lines at once.
"""

GUARD_LIMITS = ConnectionLimits(maxConnections=0, maxPerSource=0, idleTimeout=0)
"""
A guard's limits that refuse nothing and have no idle timeout (chat has its
own, so C{twistd netlab chat}'s guard has none either), with the default
close deadline of 10 seconds.
"""


def isUnsafe(character: str) -> bool:
    """
    @return: whether C{character} is one a terminal might act on: a C0 or C1
        control, DEL, or a bidirectional embedding, override or isolate.
    """
    code = ord(character)
    return (
        code < 0x20
        or 0x7F <= code < 0xA0
        or 0x202A <= code <= 0x202E
        or 0x2066 <= code <= 0x2069
    )


def warnings(events: Sequence[LogEvent], text: str) -> list[LogEvent]:
    """
    @return: the warnings among C{events} whose text contains C{text}.
    """
    return [
        event
        for event in events
        if event.get("log_level") is LogLevel.warn and text in formatEvent(event)
    ]


class Client:
    """
    One connection to the chat server, in memory.

    The server queues output and sends it at the end of the reactor's turn
    (a zero-delay call), so every helper that sends or reads ends the turn
    with C{clock.advance(0)}.

    @ivar protocol: the server's protocol for this connection.
    @ivar transport: the transport it writes to.
    @ivar clock: the server's clock.
    """

    def __init__(
        self, protocol: ChatProtocol, transport: StringTransport, clock: Clock
    ) -> None:
        self.protocol = protocol
        self.transport = transport
        self.clock = clock

    def receive(self, data: bytes) -> None:
        """
        Deliver C{data} to the server in one read, and end the turn.
        """
        self.protocol.dataReceived(data)
        self.clock.advance(0)

    def send(self, *lines: bytes) -> None:
        """
        Send C{lines}, each with CRLF, in one read.
        """
        self.receive(b"".join(line + b"\r\n" for line in lines))

    def output(self) -> bytes:
        """
        @return: everything written to this client so far.
        """
        self.clock.advance(0)
        output: bytes = self.transport.value()
        return output

    def lines(self) -> list[bytes]:
        """
        @return: the lines written to this client so far, without their
            CRLF (every one of which must have it).
        """
        output = self.output()
        if output and not output.endswith(b"\r\n"):
            raise AssertionError(f"{output[-40:]!r} does not end with CRLF")
        return output.split(b"\r\n")[:-1]

    def received(self) -> list[ServerLine]:
        """
        @return: the lines written to this client so far, parsed.
        """
        return [parseServerLine(line) for line in self.lines()]

    def clear(self) -> None:
        """
        Forget what was written so far.
        """
        self.clock.advance(0)
        self.transport.clear()

    def lose(self) -> None:
        """
        Tell the protocol its connection is closed.
        """
        self.protocol.connectionLost(Failure(ConnectionDone()))


class ChatServerTestCase(SynchronousTestCase):
    """
    A chat factory on a hub and a clock, and helpers to connect to it.

    @cvar limits: the limits of the factory of each test.
    """

    limits = NO_RATE

    def setUp(self) -> None:
        self.clock = Clock()
        self.hub = ChatHub()
        self.factory = ChatFactory(self.hub, self.clock, self.limits)

    def connect(self, factory: ChatFactory | None = None) -> Client:
        """
        @return: a new connection to the factory.
        """
        protocol = (factory or self.factory).buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER)
        protocol.makeConnection(transport)
        clock = (factory or self.factory).clock
        assert isinstance(clock, Clock)
        client = Client(protocol, transport, clock)
        self.clock.advance(0)
        return client

    def connectGuarded(
        self, guard: ConnectionGuard
    ) -> tuple[Client, GuardedConnection]:
        """
        @return: a new connection to C{guard} (which wraps this test's
            factory), as a client of the chat protocol, and the guard's
            connection.
        """
        connection = guard.buildProtocol(PEER)
        assert isinstance(connection, GuardedConnection)
        transport = StringTransport(peerAddress=PEER)
        connection.makeConnection(transport)
        protocol = connection.wrappedProtocol
        assert isinstance(protocol, ChatProtocol)
        self.clock.advance(0)
        return Client(protocol, transport, self.clock), connection

    def registered(self, nick: str, factory: ChatFactory | None = None) -> Client:
        """
        @return: a new connection, registered as C{nick}, with what was
            written to it so far forgotten.
        """
        client = self.connect(factory)
        client.send(nick.encode())
        if client.protocol.factory.hub.nickOf(client.protocol) != nick:
            raise AssertionError(f"could not register {nick}: {client.lines()}")
        client.clear()
        return client

    def pendingCalls(self) -> list[object]:
        """
        @return: the delayed calls still pending once this turn of the
            reactor has ended.
        """
        self.clock.advance(0)
        return list(self.clock.getDelayedCalls())

    def assertError(self, client: Client, command: str, code: str) -> None:
        """
        Assert that the last line written to C{client} is an C{ERR} for
        C{command} with C{code}.
        """
        last = client.received()[-1]
        self.assertIsInstance(last, Error)
        assert isinstance(last, Error)
        self.assertEqual((last.command, last.code), (command, code))

    def assertSafe(self, output: bytes) -> None:
        """
        Assert that C{output} is CRLF-terminated UTF-8 lines holding no
        control character, escape sequence or bidirectional override.
        """
        self.assertTrue(output == b"" or output.endswith(b"\r\n"), output[-40:])
        for line in output.split(b"\r\n")[:-1]:
            self.assertEqual([b for b in line if b < 0x20 or b == 0x7F], [], line)
            text = line.decode("utf-8")
            self.assertEqual([c for c in text if isUnsafe(c)], [], line)


class ConnectionTests(ChatServerTestCase):
    """
    What a new connection gets.
    """

    def test_interfaces(self) -> None:
        """
        L{ChatProtocol} is a chat participant and a streaming producer.
        """
        client = self.connect()
        self.assertTrue(verifyObject(IChatParticipant, client.protocol))
        self.assertTrue(verifyObject(IPushProducer, client.protocol))

    def test_greeting(self) -> None:
        """
        A new connection is greeted with a notice telling how to choose a
        nickname.
        """
        client = self.connect()
        [greeting] = client.received()
        self.assertIsInstance(greeting, Notice)
        assert isinstance(greeting, Notice)
        self.assertIn("/nick", greeting.text)

    def test_producerOfItsTransport(self) -> None:
        """
        The protocol registers itself as its transport's streaming producer,
        so Twisted tells it when its output backs up.
        """
        client = self.connect()
        self.assertIs(client.transport.producer, client.protocol)
        self.assertTrue(client.transport.streaming)

    def test_defaultLimits(self) -> None:
        """
        A factory without limits uses L{ChatLimits}' defaults.
        """
        self.assertEqual(ChatFactory(self.hub, self.clock).limits, ChatLimits())
        self.assertEqual(ChatLimits().maxLineLength, 1024)
        self.assertEqual(ChatLimits().idleTimeout, 0)

    def test_drainable(self) -> None:
        """
        L{ChatProtocol} is L{IDrainable}, so that a L{ConnectionGuard}
        draining its service lets it say goodbye itself.
        """
        client = self.connect()
        self.assertTrue(verifyObject(IDrainable, client.protocol))

    def test_disconnect(self) -> None:
        """
        C{disconnect} tells the client the reason in a C{NOTE} line and
        closes once that is written; a second one says nothing more.
        """
        client = self.registered("alice")
        client.protocol.disconnect("maintenance")
        client.protocol.disconnect("again")
        self.assertEqual(client.lines(), [b"NOTE maintenance"])
        self.assertTrue(client.transport.disconnecting)
        self.assertIsNone(client.transport.producer)


class RegistrationTests(ChatServerTestCase):
    """
    Choosing a nickname, and what happens before.
    """

    limits = ChatLimits(lineRate=0, registrationTimeout=30)

    def test_plainLineRegisters(self) -> None:
        """
        Before registering, a plain line is the nickname to register.
        """
        client = self.connect()
        client.clear()
        client.send(b"alice")
        self.assertEqual(
            client.received(), [Reply("nick", ("alice",)), Joined("#lobby", "alice")]
        )
        self.assertEqual(self.hub.nickOf(client.protocol), "alice")

    def test_nickRegisters(self) -> None:
        """
        C{/nick NAME} registers.
        """
        client = self.connect()
        client.clear()
        client.send(b"/nick alice")
        self.assertEqual(client.lines(), [b"OK nick alice", b"JOIN #lobby alice"])

    def test_replyBeforeHistory(self) -> None:
        """
        C{OK nick} comes before the room's history and the C{JOIN}, which the
        room hears too.
        """
        bob = self.registered("bob")
        bob.send(b"hello", b"/me waves")
        bob.clear()
        alice = self.connect()
        alice.clear()
        alice.send(b"alice")
        self.assertEqual(
            alice.lines(),
            [
                b"OK nick alice",
                b"HIST MSG #lobby bob hello",
                b"HIST ACT #lobby bob waves",
                b"JOIN #lobby alice",
            ],
        )
        self.assertEqual(bob.lines(), [b"JOIN #lobby alice"])

    def test_refusedNick(self) -> None:
        """
        An invalid or taken nickname is refused with C{ERR nick}; another one
        can be tried.
        """
        self.registered("bob")
        client = self.connect()
        client.send(b"no way")
        self.assertError(client, "nick", "nick-invalid")
        client.send(b"/nick BOB")
        self.assertError(client, "nick", "nick-taken")
        self.assertIsNone(self.hub.nickOf(client.protocol))
        client.send(b"alice")
        self.assertEqual(self.hub.nickOf(client.protocol), "alice")

    def test_commandsBeforeRegistering(self) -> None:
        """
        Commands other than C{/nick}, C{/help} and C{/quit} are refused with
        C{ERR <command> not-registered} before registering.
        """
        client = self.connect()
        for line, command in [
            (b"/join #dev", "join"),
            (b"/part", "part"),
            (b"/rooms", "rooms"),
            (b"/who", "who"),
            (b"/msg bob hi", "msg"),
            (b"/me waves", "me"),
        ]:
            client.clear()
            client.send(line)
            self.assertEqual(len(client.lines()), 1)
            self.assertError(client, command, "not-registered")
        self.assertIsNone(self.hub.nickOf(client.protocol))
        self.assertEqual(self.hub.rooms(), [("#lobby", 0)])

    def test_sayCommandBeforeRegistering(self) -> None:
        """
        An explicit C{/say} before registering is refused like any other
        command, not taken as a nickname: only a plain line is.
        """
        client = self.connect()
        client.clear()
        client.send(b"/say hi")
        self.assertEqual(len(client.lines()), 1)
        self.assertError(client, "say", "not-registered")
        self.assertIsNone(self.hub.nickOf(client.protocol))

    def test_helpBeforeRegistering(self) -> None:
        """
        C{/help} works before registering.
        """
        client = self.connect()
        client.clear()
        client.send(b"/help")
        self.assertEqual(client.received()[-1], Reply("help"))

    def test_quitBeforeRegistering(self) -> None:
        """
        C{/quit} works before registering.
        """
        client = self.connect()
        client.clear()
        client.send(b"/quit")
        self.assertEqual(client.received(), [Reply("quit")])
        self.assertTrue(client.transport.disconnecting)

    def test_registerOnce(self) -> None:
        """
        Once registered, a plain line is said, not taken as a nickname.
        """
        alice = self.registered("alice")
        bob = self.registered("bob")
        alice.send(b"carol")
        self.assertEqual(self.hub.nickOf(alice.protocol), "alice")
        self.assertEqual(bob.lines(), [b"MSG #lobby alice carol"])

    def test_timeout(self) -> None:
        """
        A connection that has not chosen a nickname within
        C{registrationTimeout} is told so and closed.
        """
        client = self.connect()
        client.clear()
        self.clock.advance(29.9)
        self.assertFalse(client.transport.disconnecting)
        self.clock.advance(0.1)
        self.assertEqual(len(client.lines()), 1)
        self.assertError(client, "*", "registration-timeout")
        self.assertTrue(client.transport.disconnecting)
        client.lose()
        self.assertEqual(self.pendingCalls(), [])

    def test_registeringCancelsTimeout(self) -> None:
        """
        Registering in time cancels the registration timeout.
        """
        client = self.connect()
        self.clock.advance(29)
        client.send(b"alice")
        self.assertEqual(self.pendingCalls(), [])
        self.clock.advance(100)
        self.assertFalse(client.transport.disconnecting)

    def test_failedRegistrationKeepsTimeout(self) -> None:
        """
        A refused nickname does not stop the registration timeout.
        """
        client = self.connect()
        client.send(b"no way")
        self.clock.advance(30)
        self.assertError(client, "*", "registration-timeout")


class CommandTests(ChatServerTestCase):
    """
    Every command C{/help} lists, with the replies the wire grammar gives.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        self.alice.clear()

    def test_help(self) -> None:
        """
        C{/help} is notices describing every command, then C{OK help}.
        """
        self.alice.send(b"/help")
        *notes, reply = self.alice.received()
        self.assertEqual(reply, Reply("help"))
        texts = []
        for note in notes:
            self.assertIsInstance(note, Notice)
            assert isinstance(note, Notice)
            texts.append(note.text)
        for command in [
            "/nick",
            "/join",
            "/part",
            "/rooms",
            "/who",
            "/msg",
            "/me",
            "/quit",
            "//",
        ]:
            self.assertTrue(
                any(text.split(" ")[0].startswith(command) for text in texts), command
            )
        self.assertEqual(self.bob.lines(), [])

    def test_say(self) -> None:
        """
        A plain line is said to the room: everyone else hears C{MSG}, and
        the speaker gets no reply.
        """
        self.alice.send(b"hello there")
        self.assertEqual(self.alice.lines(), [])
        self.assertEqual(
            self.bob.received(), [RoomMessage("#lobby", "alice", "hello there")]
        )

    def test_sayUTF8(self) -> None:
        """
        Text is UTF-8 both ways.
        """
        self.alice.send("caf\u00e9 \U0001f600".encode())
        self.assertEqual(
            self.bob.lines(), ["MSG #lobby alice caf\u00e9 \U0001f600".encode()]
        )

    def test_doubleSlash(self) -> None:
        """
        C{//TEXT} says C{/TEXT}.
        """
        self.alice.send(b"//join is a command")
        self.assertEqual(self.bob.lines(), [b"MSG #lobby alice /join is a command"])
        self.assertEqual(self.hub.roomOf(self.alice.protocol), "#lobby")

    def test_me(self) -> None:
        """
        C{/me ACTION} is heard as C{ACT}, with no reply.
        """
        self.alice.send(b"/me waves")
        self.assertEqual(self.alice.lines(), [])
        self.assertEqual(self.bob.received(), [Action("#lobby", "alice", "waves")])

    def test_nick(self) -> None:
        """
        C{/nick NAME} renames: the room, the renamed included, hears
        C{NICK}, then the renamed gets C{OK nick NAME}.
        """
        self.alice.send(b"/nick alicia")
        self.assertEqual(self.alice.lines(), [b"NICK alice alicia", b"OK nick alicia"])
        self.assertEqual(self.bob.received(), [NickChanged("alice", "alicia")])
        self.assertEqual(self.hub.nickOf(self.alice.protocol), "alicia")

    def test_nickCaseOnly(self) -> None:
        """
        The case of one's own nickname can be changed.
        """
        self.alice.send(b"/nick ALICE")
        self.assertEqual(self.alice.received()[-1], Reply("nick", ("ALICE",)))

    def test_nickRefused(self) -> None:
        """
        A taken or invalid nickname is refused with C{ERR nick}.
        """
        self.alice.send(b"/nick Bob")
        self.assertError(self.alice, "nick", "nick-taken")
        self.alice.send(b"/nick 9lives")
        self.assertError(self.alice, "nick", "nick-invalid")
        self.assertEqual(self.bob.lines(), [])

    def test_join(self) -> None:
        """
        C{/join #ROOM} moves to the room: the old room hears C{PART}, the
        new one C{JOIN}, then the joiner gets C{OK join #ROOM}.
        """
        self.alice.send(b"/join #dev")
        self.assertEqual(
            self.alice.lines(),
            [b"PART #lobby alice joined #dev", b"JOIN #dev alice", b"OK join #dev"],
        )
        self.assertEqual(self.bob.lines(), [b"PART #lobby alice joined #dev"])

    def test_joinExistingName(self) -> None:
        """
        C{OK join} names the room as it was created, whatever the case used.
        """
        self.bob.send(b"/join #Dev")
        self.alice.send(b"/join #DEV")
        self.assertEqual(self.alice.received()[-1], Reply("join", ("#Dev",)))

    def test_joinRefused(self) -> None:
        """
        C{/join} without a room name is refused with C{ERR join
        room-invalid}.
        """
        for line in [b"/join", b"/join dev", b"/join #a b"]:
            self.alice.send(line)
            self.assertError(self.alice, "join", "room-invalid")
        self.assertEqual(self.hub.roomOf(self.alice.protocol), "#lobby")

    def test_part(self) -> None:
        """
        C{/part [REASON]} leaves the room, which hears C{PART}; the leaver
        gets C{OK part ROOM}.
        """
        self.alice.send(b"/part off to lunch")
        self.assertEqual(
            self.alice.lines(), [b"PART #lobby alice off to lunch", b"OK part #lobby"]
        )
        self.assertEqual(
            self.bob.received(), [Parted("#lobby", "alice", "off to lunch")]
        )

    def test_outsideAnyRoom(self) -> None:
        """
        Outside any room, saying, C{/me}, C{/who} and C{/part} are refused
        with C{not-in-room}; C{/msg} and C{/rooms} still work.
        """
        self.alice.send(b"/part")
        self.assertEqual(self.alice.lines(), [b"PART #lobby alice", b"OK part #lobby"])
        for line, command in [
            (b"hello", "say"),
            (b"/me waves", "me"),
            (b"/who", "who"),
            (b"/part", "part"),
        ]:
            self.alice.send(line)
            self.assertError(self.alice, command, "not-in-room")
        self.alice.send(b"/msg bob hi")
        self.assertEqual(self.alice.received()[-1], Reply("msg", ("bob",)))
        self.alice.send(b"/rooms")
        self.assertEqual(self.alice.received()[-1], Reply("rooms", ("#lobby", "1")))

    def test_rooms(self) -> None:
        """
        C{/rooms} replies C{OK rooms} with each room and how many are in it.
        """
        self.bob.send(b"/join #dev")
        self.alice.clear()
        self.alice.send(b"/rooms")
        self.assertEqual(self.alice.lines(), [b"OK rooms #dev 1 #lobby 1"])

    def test_who(self) -> None:
        """
        C{/who} replies C{OK who ROOM NICK...}.
        """
        self.registered("Carol")
        self.alice.clear()
        self.alice.send(b"/who")
        self.assertEqual(self.alice.lines(), [b"OK who #lobby alice bob Carol"])

    def test_msg(self) -> None:
        """
        C{/msg NICK TEXT} sends C{PRIV} to the recipient only, and replies
        C{OK msg NICK} with the nickname as registered.
        """
        carol = self.registered("carol")
        self.alice.clear()
        self.bob.clear()
        self.alice.send(b"/msg BOB psst, over here")
        self.assertEqual(self.alice.lines(), [b"OK msg bob"])
        self.assertEqual(
            self.bob.received(), [PrivateMessage("alice", "bob", "psst, over here")]
        )
        self.assertEqual(carol.lines(), [])

    def test_msgRefused(self) -> None:
        """
        C{/msg} without text is refused with C{ERR msg usage}; to a nickname
        nobody has, with C{ERR msg no-such-nick}.
        """
        for line in [b"/msg", b"/msg bob", b"/msg bob "]:
            self.alice.send(line)
            self.assertError(self.alice, "msg", "usage")
        self.alice.send(b"/msg dave hi")
        self.assertError(self.alice, "msg", "no-such-nick")
        self.assertEqual(self.bob.lines(), [])

    def test_quit(self) -> None:
        """
        C{/quit [REASON]} replies C{OK quit} and closes the connection; the
        room hears C{QUIT NICK REASON}.
        """
        self.alice.send(b"/quit gone home")
        self.assertEqual(self.alice.lines(), [b"OK quit"])
        self.assertTrue(self.alice.transport.disconnecting)
        self.assertEqual(self.bob.lines(), [b"QUIT alice gone home"])
        self.assertIsNone(self.hub.nickOf(self.alice.protocol))

    def test_quitWithoutReason(self) -> None:
        """
        Without a reason, C{QUIT} names only the nickname.
        """
        self.alice.send(b"/quit")
        self.assertEqual(self.bob.received(), [Quit("alice")])

    def test_nothingAfterQuit(self) -> None:
        """
        Lines sent after C{/quit}, in the same read or later, are ignored.
        """
        self.alice.send(b"/quit", b"after")
        self.alice.send(b"later")
        self.assertEqual(self.alice.lines(), [b"OK quit"])
        self.assertEqual(self.bob.lines(), [b"QUIT alice"])

    def test_quitFreesNick(self) -> None:
        """
        After C{/quit} and the connection closing, the nickname is free.
        """
        self.alice.send(b"/quit")
        self.alice.lose()
        self.assertEqual(self.bob.lines(), [b"QUIT alice"])
        again = self.registered("alice")
        self.assertEqual(self.hub.nickOf(again.protocol), "alice")

    def test_connectionLost(self) -> None:
        """
        When a connection is lost its nickname is freed and its room hears
        C{QUIT}.
        """
        self.alice.lose()
        self.assertEqual(self.bob.lines(), [b"QUIT alice connection closed"])
        self.assertIsNone(self.hub.nickOf(self.alice.protocol))
        self.registered("alice")

    def test_unregisteredConnectionLost(self) -> None:
        """
        A connection lost before registering goes unnoticed by the others.
        """
        self.connect().lose()
        self.assertEqual(self.bob.lines(), [])

    def test_caseInsensitive(self) -> None:
        """
        Command names are case-insensitive.
        """
        self.alice.send(b"/WHO")
        self.assertEqual(self.alice.lines(), [b"OK who #lobby alice bob"])
        self.alice.clear()
        self.alice.send(b"/Me waves")
        self.assertEqual(self.bob.lines(), [b"ACT #lobby alice waves"])

    def test_unknownCommand(self) -> None:
        """
        An unknown command is refused with C{ERR <command> unknown-command}.
        """
        self.alice.send(b"/frobnicate now")
        self.assertEqual(len(self.alice.lines()), 1)
        self.assertError(self.alice, "frobnicate", "unknown-command")

    def test_emptyCommandName(self) -> None:
        """
        A lone slash, or a slash and a space, is refused with an C{ERR} line
        that follows the grammar: it names a command, not an empty field.
        """
        for line in [b"/", b"/ hello"]:
            self.alice.clear()
            self.alice.send(line)
            [error] = self.alice.received()
            self.assertIsInstance(error, Error)
            assert isinstance(error, Error)
            self.assertEqual(error.code, "unknown-command")

    def test_oneReplyPerCommandInOrder(self) -> None:
        """
        Several commands in one read get one C{OK} or C{ERR} each, in order.
        """
        self.alice.send(b"/who", b"/join", b"/rooms", b"/frob", b"/msg bob x")
        self.assertEqual(
            [
                (type(line).__name__, getattr(line, "command", None))
                for line in self.alice.received()
            ],
            [
                ("Reply", "who"),
                ("Error", "join"),
                ("Reply", "rooms"),
                ("Error", "frob"),
                ("Reply", "msg"),
            ],
        )


class FramingTests(ChatServerTestCase):
    """
    Line endings, reads, and the line length limit.
    """

    limits = ChatLimits(lineRate=0, maxLineLength=10)

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        self.alice.clear()

    def test_lineEndings(self) -> None:
        """
        Lines may end with LF or CRLF.
        """
        self.alice.receive(b"one\ntwo\r\nthree\n")
        self.assertEqual(
            self.bob.lines(),
            [
                b"MSG #lobby alice one",
                b"MSG #lobby alice two",
                b"MSG #lobby alice three",
            ],
        )

    def test_splitAcrossReads(self) -> None:
        """
        A line split across reads, even between CR and LF, is handled once
        it is complete.
        """
        for chunk in [b"he", b"llo", b"\r"]:
            self.alice.receive(chunk)
            self.assertEqual(self.bob.lines(), [])
        self.alice.receive(b"\n/w")
        self.assertEqual(self.bob.lines(), [b"MSG #lobby alice hello"])
        self.alice.receive(b"ho\n")
        self.assertEqual(self.alice.lines(), [b"OK who #lobby alice bob"])

    def test_mergedInOneRead(self) -> None:
        """
        Several lines in one read are handled in order.
        """
        self.alice.receive(b"a\r\nb\n/who\r\nc\n")
        self.assertEqual(
            self.bob.lines(),
            [b"MSG #lobby alice a", b"MSG #lobby alice b", b"MSG #lobby alice c"],
        )
        self.assertEqual(self.alice.lines(), [b"OK who #lobby alice bob"])

    def test_longestLine(self) -> None:
        """
        A line of C{maxLineLength} bytes is accepted, with CRLF split from it
        or not.
        """
        self.alice.send(b"0123456789")
        self.alice.receive(b"abcdefghij\r")
        self.alice.receive(b"\n")
        self.assertEqual(
            self.bob.lines(),
            [b"MSG #lobby alice 0123456789", b"MSG #lobby alice abcdefghij"],
        )
        self.assertEqual(self.alice.lines(), [])

    def test_tooLong(self) -> None:
        """
        A longer line is refused with C{ERR * line-too-long} and dropped; the
        connection stays usable.
        """
        self.alice.send(b"x" * 11)
        self.assertEqual(len(self.alice.lines()), 1)
        self.assertError(self.alice, "*", "line-too-long")
        self.assertFalse(self.alice.transport.disconnecting)
        self.assertEqual(self.bob.lines(), [])
        self.alice.send(b"/who")
        self.assertEqual(
            self.alice.received()[-1], Reply("who", ("#lobby", "alice", "bob"))
        )

    def test_tooLongAmongOthers(self) -> None:
        """
        An over-long line between good ones in one read drops only itself.
        """
        self.alice.receive(b"one\n" + b"y" * 50 + b"\ntwo\n")
        self.assertEqual(
            self.bob.lines(), [b"MSG #lobby alice one", b"MSG #lobby alice two"]
        )
        self.assertEqual(len(self.alice.lines()), 1)
        self.assertError(self.alice, "*", "line-too-long")

    def test_tooLongOverManyReads(self) -> None:
        """
        A line too long, arriving a byte at a time, gets one C{ERR} and is
        dropped whole; the buffer never holds more than the limit and a CR.
        """
        for byte in b"z" * 100 + b"\r\n":
            self.alice.receive(bytes([byte]))
            # The protocol's line buffer: what it holds of a line so far.
            self.assertLessEqual(len(self.alice.protocol._lineBuffer.pending()), 11)
        self.assertEqual(len(self.alice.lines()), 1)
        self.assertError(self.alice, "*", "line-too-long")
        self.alice.send(b"ok")
        self.assertEqual(self.bob.lines(), [b"MSG #lobby alice ok"])

    def test_tooLongInBigReads(self) -> None:
        """
        A line too long arriving in big reads without a line ending gets
        one C{ERR}, and the buffer stays bounded.
        """
        for _ in range(20):
            self.alice.receive(b"q" * 1000)
            self.assertLessEqual(len(self.alice.protocol._lineBuffer.pending()), 11)
        self.alice.receive(b"tail\nok\n")
        self.assertEqual(len(self.alice.lines()), 1)
        self.assertError(self.alice, "*", "line-too-long")
        self.assertEqual(self.bob.lines(), [b"MSG #lobby alice ok"])

    def test_oneOverWithCR(self) -> None:
        """
        A line one byte too long is refused even when its CR arrives apart
        from its LF.
        """
        self.alice.receive(b"x" * 11)
        self.alice.receive(b"\r")
        self.alice.receive(b"\nok\n")
        self.assertEqual(len(self.alice.lines()), 1)
        self.assertError(self.alice, "*", "line-too-long")
        self.assertEqual(self.bob.lines(), [b"MSG #lobby alice ok"])

    def test_everyTooLongLine(self) -> None:
        """
        Each over-long line gets its own C{ERR}.
        """
        self.alice.receive(b"x" * 20 + b"\n" + b"y" * 20)
        self.alice.receive(b"\n" + b"z" * 11 + b"\nok\n")
        self.assertEqual(len(self.alice.lines()), 3)
        self.assertEqual(self.bob.lines(), [b"MSG #lobby alice ok"])

    def test_tooLongBeforeRegistering(self) -> None:
        """
        An over-long line before registering is refused the same way, and
        registers nothing.
        """
        client = self.connect()
        client.clear()
        client.send(b"a" * 11)
        self.assertError(client, "*", "line-too-long")
        self.assertIsNone(self.hub.nickOf(client.protocol))

    def test_defaultLimit(self) -> None:
        """
        By default lines of 1024 bytes are accepted and longer ones refused.
        """
        factory = ChatFactory(self.hub, self.clock)
        carol = self.registered("carol", factory)
        dave = self.registered("dave", factory)
        carol.send(b"c" * 1024)
        self.assertEqual(dave.lines(), [b"MSG #lobby carol " + b"c" * 1024])
        carol.send(b"c" * 1025)
        self.assertError(carol, "*", "line-too-long")
        self.assertEqual(len(dave.lines()), 1)


class EncodingTests(ChatServerTestCase):
    """
    Text is UTF-8, and nothing a terminal would act on passes from one user
    to another.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        self.alice.clear()

    def test_badUTF8(self) -> None:
        """
        A line that is not UTF-8 is refused with C{ERR * bad-utf8} and
        dropped; later lines work.
        """
        self.alice.send(b"caf\xe9")
        self.assertEqual(len(self.alice.lines()), 1)
        self.assertError(self.alice, "*", "bad-utf8")
        self.assertEqual(self.bob.lines(), [])
        self.assertFalse(self.alice.transport.disconnecting)
        self.alice.send(b"/nick \xff\xfe", "caf\u00e9".encode())
        self.assertError(self.alice, "*", "bad-utf8")
        self.assertEqual(self.bob.lines(), ["MSG #lobby alice caf\u00e9".encode()])

    def test_badUTF8BeforeRegistering(self) -> None:
        """
        Before registering, a line that is not UTF-8 is refused the same way.
        """
        client = self.connect()
        client.send(b"\xc3\x28")
        self.assertError(client, "*", "bad-utf8")
        client.send(b"carol")
        self.assertEqual(self.hub.nickOf(client.protocol), "carol")

    def test_escapesDefused(self) -> None:
        """
        ESC, CSI, OSC, C1 controls, bare CR, bell, backspace, NUL, DEL and
        bidirectional overrides sent in messages, actions, private messages
        and part and quit reasons never reach another user.
        """
        nasty = (
            b"a\x1b[2J\x1b[31mred\x1b]0;owned\x07 \xc2\x9b1m\rover\x07\x08\x08"
            b"\x00\x7f\xc2\x85\xe2\x80\xae\tend"
        )
        carol = self.registered("carol")
        self.bob.clear()
        self.alice.send(
            nasty,
            b"/me " + nasty,
            b"/msg bob " + nasty,
            b"//" + nasty,
            b"/part " + nasty,
            b"/join #lobby",
            b"/nick " + nasty,
            b"/quit " + nasty,
        )
        for client in (self.bob, carol):
            output = client.output()
            self.assertSafe(output)
            self.assertIn("\ufffd[2J".encode(), output)
        self.assertEqual(
            self.bob.received()[0],
            RoomMessage(
                "#lobby",
                "alice",
                "a\ufffd[2J\ufffd[31mred\ufffd]0;owned\ufffd \ufffd1m\ufffdover"
                "\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd end",
            ),
        )

    @settings(max_examples=60)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(
                    [b"", b"/me ", b"/msg bob ", b"//", b"/part ", b"/quit ", b"/nick "]
                ),
                st.one_of(
                    st.binary(max_size=40).map(lambda data: data.replace(b"\n", b"")),
                    st.text(max_size=40).map(
                        lambda text: text.encode("utf-8", "surrogatepass").replace(
                            b"\n", b""
                        )
                    ),
                ),
            ),
            min_size=1,
            max_size=5,
        )
    )
    def test_nothingUnsafeReachesOthers(self, lines: list[tuple[bytes, bytes]]) -> None:
        """
        Whatever lines one user sends, what another user receives holds no
        control character, escape sequence or bidirectional override.
        """
        factory = ChatFactory(ChatHub(), Clock(), NO_RATE)
        bob = self.registered("bob", factory)
        alice = self.registered("alice", factory)
        bob.clear()
        for prefix, payload in lines:
            alice.receive(prefix + payload + b"\n")
        self.assertSafe(bob.output())


class RateLimitTests(ChatServerTestCase):
    """
    A client sending faster than C{lineRate} is read from more slowly; none
    of its lines is lost.
    """

    limits = ChatLimits(lineRate=2, lineBurst=3)

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        # Let both buckets fill up again after registering.
        self.clock.advance(10)
        self.alice.clear()

    def said(self) -> list[bytes]:
        """
        @return: what bob heard alice say.
        """
        return [line.rpartition(b" ")[2] for line in self.bob.lines()]

    def test_flood(self) -> None:
        """
        Of ten lines sent at once, a burst of three is handled at once; then
        reading pauses and the rest are handled at the rate, none dropped;
        reading resumes once all are handled.
        """
        self.alice.send(*[b"m%d" % n for n in range(10)])
        self.assertEqual(self.said(), [b"m0", b"m1", b"m2"])
        self.assertEqual(self.alice.transport.producerState, "paused")
        for n in range(3, 10):
            self.clock.advance(0.25)
            self.assertEqual(len(self.said()), n)
            self.assertEqual(self.alice.transport.producerState, "paused")
            self.clock.advance(0.25)
            self.assertEqual(self.said(), [b"m%d" % i for i in range(n + 1)])
        self.assertEqual(self.alice.transport.producerState, "producing")
        self.assertEqual(self.pendingCalls(), [])
        self.assertEqual(self.alice.lines(), [])

    def test_repliesKeepOrder(self) -> None:
        """
        Commands held back by the rate limit are answered in order when
        they are handled.
        """
        self.alice.send(b"/who", b"/rooms", b"/who", b"/frob", b"/rooms")
        self.assertEqual(len(self.alice.lines()), 3)
        self.clock.advance(1)
        self.assertEqual(
            [line.split(b" ")[:2] for line in self.alice.lines()],
            [
                [b"OK", b"who"],
                [b"OK", b"rooms"],
                [b"OK", b"who"],
                [b"ERR", b"frob"],
                [b"OK", b"rooms"],
            ],
        )

    def test_steadyRateNotPaused(self) -> None:
        """
        A client within the rate is never paused.
        """
        for n in range(20):
            self.alice.send(b"m%d" % n)
            self.assertEqual(self.alice.transport.producerState, "producing")
            self.clock.advance(0.5)
        self.assertEqual(len(self.said()), 20)

    def test_othersUnaffected(self) -> None:
        """
        One client flooding does not slow down another.
        """
        self.alice.send(*[b"m%d" % n for n in range(10)])
        self.bob.send(b"/who")
        self.assertEqual(
            self.bob.received()[-1], Reply("who", ("#lobby", "alice", "bob"))
        )
        self.assertEqual(self.bob.transport.producerState, "producing")

    def test_noLimit(self) -> None:
        """
        With C{lineRate=0} there is no limit: a hundred lines at once are all
        handled, and reading never pauses.
        """
        factory = ChatFactory(
            ChatHub(), self.clock, ChatLimits(lineRate=0, lineBurst=1)
        )
        carol = self.registered("carol", factory)
        dave = self.registered("dave", factory)
        carol.send(*[b"m%d" % n for n in range(100)])
        self.assertEqual(len(dave.lines()), 100)
        self.assertEqual(carol.transport.producerState, "producing")
        self.assertEqual(self.pendingCalls(), [])

    def test_rateAndBacklogBothHold(self) -> None:
        """
        Reading resumes only once neither the rate limit nor a backed-up
        output holds it.
        """
        self.alice.send(*[b"m%d" % n for n in range(5)])
        self.alice.protocol.pauseProducing()
        self.clock.advance(10)
        self.assertEqual(len(self.said()), 5)
        self.assertEqual(self.alice.transport.producerState, "paused")
        self.alice.protocol.resumeProducing()
        self.assertEqual(self.alice.transport.producerState, "producing")


class MemoryTests(ChatServerTestCase):
    """
    A chat server holds thousands of connections: what each costs matters.
    """

    def test_stateInSlots(self) -> None:
        """
        A registered connection keeps its own state in slots: its instance
        dictionary holds only what Twisted sets (C{transport}, C{connected},
        C{factory}).  Past 30 attributes, CPython gives every instance a
        dictionary of its own, over a kilobyte more per connection.
        """
        client = self.connect()
        client.send(b"alice")
        self.assertLessEqual(
            set(vars(client.protocol)), {"transport", "connected", "factory"}
        )


class HandshakePauseTests(ChatServerTestCase):
    """
    A pause before the client has sent anything does not stop reading: over
    TLS, it is the TLS layer holding the welcome until the handshake is
    done, and the handshake needs reading to go on.
    """

    def test_pauseBeforeAnything(self) -> None:
        """
        Paused before any byte arrived, the connection keeps reading, and
        the client can register.
        """
        client = self.connect()
        client.protocol.pauseProducing()
        self.assertEqual(client.transport.producerState, "producing")
        client.send(b"alice")
        self.assertEqual(client.transport.producerState, "paused")
        client.protocol.resumeProducing()
        self.assertEqual(client.transport.producerState, "producing")
        self.assertIn(b"OK nick alice", client.transport.value())

    def test_pauseAfterFirstBytes(self) -> None:
        """
        Once the client has sent something, a pause stops reading, as a
        backed-up output should.
        """
        client = self.connect()
        client.send(b"alice")
        client.protocol.pauseProducing()
        self.assertEqual(client.transport.producerState, "paused")


class BacklogTests(ChatServerTestCase):
    """
    A client that does not read what it is sent is disconnected, with a
    reason, once its backlog is past its limits; until then it misses
    nothing.
    """

    limits = ChatLimits(
        lineRate=0, backlogSoft=200, backlogSoftSeconds=10, backlogHard=1000
    )

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        self.slow = self.registered("slow")
        for client in (self.alice, self.bob):
            client.clear()

    def say(self, count: int, start: int = 0) -> list[bytes]:
        """
        Make alice say C{count} lines, each heard as a 60-byte line.

        @return: the lines the others should hear, without CRLF.
        """
        said = []
        for n in range(start, start + count):
            line = b"m%03d " % n + b"x" * 36
            self.alice.send(line)
            said.append(b"MSG #lobby alice " + line)
        return said

    def assertConnected(self, client: Client) -> None:
        """
        Assert that the client was not disconnected and is still in the
        hub.
        """
        self.assertFalse(client.transport.disconnecting)
        self.assertIsNotNone(self.hub.nickOf(client.protocol))

    def assertDropped(self, client: Client) -> None:
        """
        Assert that the client was told it was too slow, disconnected and
        taken out of the hub, and that the others heard it quit.
        """
        self.assertTrue(client.lines()[-1].startswith(b"ERR * backlog "))
        self.assertError(client, "*", "backlog")
        self.assertTrue(client.transport.disconnecting)
        self.assertIsNone(self.hub.nickOf(client.protocol))
        self.assertIn(b"QUIT slow too slow to read", self.bob.lines())

    def test_pausesReading(self) -> None:
        """
        While its output is backed up, the server stops reading from the
        client, and starts again once it drains.
        """
        self.slow.protocol.pauseProducing()
        self.assertEqual(self.slow.transport.producerState, "paused")
        self.slow.protocol.resumeProducing()
        self.assertEqual(self.slow.transport.producerState, "producing")

    def test_hardLimit(self) -> None:
        """
        Past C{backlogHard} bytes the client is disconnected at once with
        C{ERR * backlog}; it got every line before that, and the others get
        everything.
        """
        self.slow.protocol.pauseProducing()
        said = self.say(16)
        self.assertConnected(self.slow)
        self.assertEqual(self.slow.lines(), said)
        said += self.say(1, 16)
        self.assertDropped(self.slow)
        self.assertEqual(self.slow.lines()[:-1], said[:16])
        said += self.say(5, 17)
        self.assertEqual(self.slow.lines()[:-1], said[:16])
        self.assertEqual(
            [line for line in self.bob.lines() if line.startswith(b"MSG")], said
        )

    def test_hardLimitLogged(self) -> None:
        """
        Disconnecting a slow client is logged as a warning naming it (its
        peer as C{host:port}), its backlog, the limit it passed and how long
        it was backlogged.
        """
        self.slow.protocol.pauseProducing()
        self.clock.advance(0.25)
        with capturedLogs() as events:
            self.say(20)
        [event] = warnings(events, "slow")
        self.assertEqual(event["nick"], "slow")
        self.assertEqual(event["peer"], "192.0.2.7:40000")
        self.assertGreater(event["backlog"], 1000)
        text = formatEvent(event)
        self.assertIn("over --backlog-hard (", text)
        self.assertIn("backlogged for 0.250s", text)
        self.assertNotIn("IPv4Address", text)

    def test_droppedThenAborted(self) -> None:
        """
        A dropped client whose connection does not close is aborted soon.
        """
        self.slow.protocol.pauseProducing()
        self.say(20)
        self.assertFalse(self.slow.transport.disconnected)
        self.clock.advance(5)
        self.assertTrue(self.slow.transport.disconnected)
        self.slow.lose()
        self.assertEqual(self.pendingCalls(), [])

    def test_droppedAndLost(self) -> None:
        """
        When a dropped client's connection closes, nothing more is said and
        no delayed call is left.
        """
        self.slow.protocol.pauseProducing()
        self.say(20)
        self.bob.clear()
        self.slow.lose()
        self.assertEqual(self.bob.lines(), [])
        self.assertEqual(self.pendingCalls(), [])
        self.assertFalse(self.slow.transport.disconnected)

    def test_softLimitHeld(self) -> None:
        """
        Past C{backlogSoft} bytes for C{backlogSoftSeconds}, the client is
        disconnected at the next line for it.
        """
        self.slow.protocol.pauseProducing()
        said = self.say(4)
        self.clock.advance(9.9)
        self.say(1, 4)
        self.assertConnected(self.slow)
        self.clock.advance(0.1)
        self.say(1, 5)
        self.assertDropped(self.slow)
        self.assertEqual(self.slow.lines()[:4], said)

    def test_softLimitHeldQuietly(self) -> None:
        """
        Past C{backlogSoft} bytes for C{backlogSoftSeconds}, the client is
        disconnected even if nothing more is sent to it.
        """
        self.slow.protocol.pauseProducing()
        self.say(4)
        self.assertConnected(self.slow)
        self.clock.advance(10)
        self.assertDropped(self.slow)

    def test_softLimitCountsFromPassingIt(self) -> None:
        """
        A client backed up below C{backlogSoft} for long, which then passes
        it, has C{backlogSoftSeconds} before it is disconnected.
        """
        self.slow.protocol.pauseProducing()
        self.say(3)
        self.clock.advance(100)
        self.say(1, 3)
        self.assertConnected(self.slow)
        self.clock.advance(9)
        self.say(1, 4)
        self.assertConnected(self.slow)
        self.clock.advance(1)
        self.say(1, 5)
        self.assertDropped(self.slow)

    def test_belowSoftLimit(self) -> None:
        """
        A client backed up below C{backlogSoft} for any time stays, and
        misses nothing.
        """
        self.slow.protocol.pauseProducing()
        said = []
        for n in range(3):
            said += self.say(1, n)
            self.clock.advance(1000)
        self.assertConnected(self.slow)
        self.assertEqual(self.slow.lines(), said)

    def test_resumedInTime(self) -> None:
        """
        A client whose output drains before a limit stays, misses nothing,
        and its backlog starts again from nothing.
        """
        self.slow.protocol.pauseProducing()
        said = self.say(15)
        self.clock.advance(9)
        self.slow.protocol.resumeProducing()
        self.clock.advance(100)
        said += self.say(15, 15)
        self.slow.protocol.pauseProducing()
        said += self.say(15, 30)
        self.clock.advance(9)
        said += self.say(1, 45)
        self.assertConnected(self.slow)
        self.assertEqual(self.slow.lines(), said)

    def test_unpausedNeverDropped(self) -> None:
        """
        A client whose output is not backed up is never dropped, however
        much it is sent.
        """
        said = self.say(100)
        self.clock.advance(100)
        said += self.say(1, 100)
        self.assertConnected(self.slow)
        self.assertEqual(self.slow.lines(), said)

    def test_droppedAfterOwnCommand(self) -> None:
        """
        A backed-up client whose own C{/join} takes it past the limit is
        dropped cleanly: it is in no room, the room it made vanishes, and
        nothing is raised.
        """
        factory = ChatFactory(
            self.hub, self.clock, ChatLimits(lineRate=0, backlogHard=10)
        )
        slower = self.registered("slower", factory)
        self.bob.clear()
        slower.protocol.pauseProducing()
        slower.send(b"/join #dev")
        self.assertIsNone(self.hub.nickOf(slower.protocol))
        self.assertEqual(self.bob.lines(), [b"PART #lobby slower joined #dev"])
        self.assertEqual(self.hub.rooms(), [("#lobby", 3)])
        self.assertEqual(slower.lines()[-1][:14], b"ERR * backlog ")


class IdleTimeoutTests(ChatServerTestCase):
    """
    An optional limit on how long a client may send nothing.
    """

    limits = ChatLimits(lineRate=0, idleTimeout=60, registrationTimeout=1000)

    def test_idle(self) -> None:
        """
        A client that sends no line for C{idleTimeout} seconds is told so and
        closed; every line resets the time.
        """
        client = self.registered("alice")
        self.clock.advance(59)
        client.send(b"/who")
        self.clock.advance(59)
        client.send(b"hello")
        self.clock.advance(59)
        self.assertFalse(client.transport.disconnecting)
        client.clear()
        self.clock.advance(1)
        self.assertEqual(len(client.lines()), 1)
        self.assertError(client, "*", "idle-timeout")
        self.assertTrue(client.transport.disconnecting)
        client.lose()
        self.assertEqual(self.pendingCalls(), [])

    def test_idleBeforeRegistering(self) -> None:
        """
        The idle limit applies before registering too.
        """
        client = self.connect()
        self.clock.advance(60)
        self.assertError(client, "*", "idle-timeout")

    def test_partialLineIsNotALine(self) -> None:
        """
        Bytes that do not end a line do not reset the time.
        """
        client = self.registered("alice")
        self.clock.advance(30)
        client.receive(b"hel")
        self.clock.advance(30)
        self.assertError(client, "*", "idle-timeout")

    def test_never(self) -> None:
        """
        With C{idleTimeout=0} (the default) a registered client may stay
        silent for ever.
        """
        factory = ChatFactory(self.hub, self.clock, NO_RATE)
        client = self.registered("alice", factory)
        self.assertEqual(self.pendingCalls(), [])
        self.clock.advance(10**7)
        self.assertFalse(client.transport.disconnecting)


class ShutdownTests(ChatServerTestCase):
    """
    Tests for the deprecated L{ChatFactory.shutdown}: the guard's drain,
    over the factory's connections, behind a guard or not.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        self.stranger = self.connect()
        self.clients = [self.alice, self.bob, self.stranger]
        for client in self.clients:
            client.clear()

    def shutdown(
        self,
        reason: str,
        grace: float | None = None,
        factory: ChatFactory | None = None,
    ) -> Deferred[None]:
        """
        Call C{factory.shutdown} (by default this test's factory's), and
        flush the one L{DeprecationWarning} it gives.
        """
        shutdown = (factory or self.factory).shutdown
        d = shutdown(reason) if grace is None else shutdown(reason, grace=grace)
        [warning] = self.flushWarnings([self.shutdown])
        self.assertIs(warning["category"], DeprecationWarning)
        return d

    def test_deprecated(self) -> None:
        """
        L{ChatFactory.shutdown} is deprecated since netlab 0.1.0 in favour
        of L{ConnectionGuard.drain}; the warning points at its caller.
        """
        self.factory.shutdown("bye")
        [warning] = self.flushWarnings([self.test_deprecated])
        self.assertIs(warning["category"], DeprecationWarning)
        self.assertEqual(
            warning["message"],
            "netlab.chat._server.ChatFactory.shutdown was deprecated in netlab "
            "0.1.0; please use netlab.policies.ConnectionGuard.drain instead",
        )
        self.assertEqual(warning["filename"], __file__)
        self.assertEqual(
            ChatFactory.shutdown.deprecatedVersion,  # type: ignore[attr-defined]
            Version("netlab", 0, 1, 0),
        )

    def test_everyoneTold(self) -> None:
        """
        Every connection, registered or not, gets C{NOTE <reason>} and is
        closed; the Deferred fires once every one has been lost.
        """
        d = self.shutdown("the server is going down", grace=5)
        for client in self.clients:
            self.assertEqual(client.lines()[-1], b"NOTE the server is going down")
            self.assertTrue(client.transport.disconnecting)
            self.assertFalse(client.transport.disconnected)
        self.assertNoResult(d)
        self.alice.lose()
        self.stranger.lose()
        self.assertNoResult(d)
        self.bob.lose()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.pendingCalls(), [])

    def test_stragglersAborted(self) -> None:
        """
        Connections not closed after C{grace} seconds are aborted.
        """
        d = self.shutdown("bye", grace=5)
        self.alice.lose()
        self.clock.advance(4.9)
        self.assertFalse(self.bob.transport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(self.bob.transport.disconnected)
        self.assertTrue(self.stranger.transport.disconnected)
        self.assertFalse(self.alice.transport.disconnected)
        self.assertNoResult(d)
        self.bob.lose()
        self.stranger.lose()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.pendingCalls(), [])

    def test_nothingToClose(self) -> None:
        """
        With no connection, or only lost ones, the Deferred has fired.
        """
        for client in self.clients:
            client.lose()
        self.assertIsNone(self.successResultOf(self.shutdown("bye")))
        empty = ChatFactory(ChatHub(), self.clock)
        self.assertIsNone(self.successResultOf(self.shutdown("bye", factory=empty)))
        self.assertEqual(self.pendingCalls(), [])

    def test_closingConnection(self) -> None:
        """
        A connection already closing (after C{/quit}) is not told again, and
        is waited for.
        """
        self.alice.send(b"/quit")
        self.alice.clear()
        d = self.shutdown("bye")
        self.assertEqual(self.alice.lines(), [])
        self.bob.lose()
        self.stranger.lose()
        self.assertNoResult(d)
        self.alice.lose()
        self.successResultOf(d)

    def test_behindGuard(self) -> None:
        """
        Behind a guard, each connection is drained by its guard: told the
        reason, closed once that is written, and bounded by C{grace} alone,
        neither by the guard's close deadline nor by chat's own.
        """
        for client in self.clients:
            client.lose()
        factory = ChatFactory(self.hub, self.clock, self.limits)
        guard = ConnectionGuard(
            factory, self.clock, attrs.evolve(GUARD_LIMITS, closeTimeout=2)
        )
        self.factory = factory
        guarded = [self.connectGuarded(guard) for _ in range(2)]
        guarded[0][0].send(b"carol")
        for client, _ in guarded:
            client.clear()
        with capturedLogs() as events:
            d = self.shutdown("bye", grace=12, factory=factory)
            for client, _ in guarded:
                self.assertEqual(client.lines(), [b"NOTE bye"])
                self.assertTrue(client.transport.disconnecting)
            self.clock.advance(11.5)
            self.assertFalse(guarded[0][0].transport.disconnected)
            self.clock.advance(0.5)
            for client, connection in guarded:
                self.assertTrue(client.transport.disconnected)
                connection.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(guard.openConnections(), 0)
        self.assertEqual(self.pendingCalls(), [])
        closed = [formatEvent(e) for e in events if "closed after" in formatEvent(e)]
        self.assertEqual(len(closed), 2)
        for line in closed:
            self.assertIn("(service stopping: bye)", line)
        # The guard's own drain finds nobody left to tell.
        self.successResultOf(guard.drain(reason="again"))


class MessageCountTests(ChatServerTestCase):
    """
    Each line received counts as one message in the factory's
    L{TrafficStats}.
    """

    def test_eachLine(self) -> None:
        """
        Every line received counts, whatever it is: a nickname, a command,
        a message, one the server refuses; every connection of the factory
        counts into the same counters.
        """
        alice = self.connect()
        alice.send(b"alice", b"/join lobby", b"hello", b"/nosuch")
        bob = self.connect()
        bob.send(b"/say too early")
        self.assertEqual(self.factory.stats.messages, 5)

    def test_wholeLinesOnly(self) -> None:
        """
        A line is counted once it ends, however it is cut into reads.
        """
        client = self.registered("alice")
        client.receive(b"hel")
        self.assertEqual(self.factory.stats.messages, 1)
        client.receive(b"lo\r\nwor")
        self.assertEqual(self.factory.stats.messages, 2)
        client.receive(b"ld\r\n")
        self.assertEqual(self.factory.stats.messages, 3)

    def test_stats(self) -> None:
        """
        The factory has the service's L{TrafficStats}: C{chat} over TCP by
        default, or the ones it is given, which its protocols count into.
        """
        stats = ChatFactory(self.hub, self.clock).stats
        self.assertEqual((stats.service, stats.transport), ("chat", "tcp"))
        given = TrafficStats("mine")
        factory = ChatFactory(ChatHub(), self.clock, NO_RATE, stats=given)
        self.assertIs(factory.stats, given)
        self.connect(factory).send(b"alice")
        self.assertEqual(given.messages, 1)


class CleanupTests(ChatServerTestCase):
    """
    A lost connection leaves no delayed call behind, whatever it was doing.
    """

    limits = ChatLimits(lineRate=2, lineBurst=3, idleTimeout=60, backlogHard=100)

    def callsFor(self, client: Client) -> list[object]:
        """
        @return: the delayed calls pending for C{client}'s protocol, its
            collaborators (its rate, backlog and deadlines) or its
            transport.
        """
        protocol = client.protocol
        owners: list[object] = [protocol, client.transport]
        owners += [getattr(protocol, name, None) for name in protocol.__slots__]
        return [
            call
            for call in self.pendingCalls()
            if any(
                getattr(getattr(call, "func", None), "__self__", None) is owner
                for owner in owners
            )
        ]

    def assertCleanAfterLost(self, client: Client) -> None:
        """
        Assert that once C{client} is lost, no delayed call is left for it.
        """
        self.assertNotEqual(self.callsFor(client), [])
        client.lose()
        self.assertEqual(self.callsFor(client), [])
        self.clock.advance(1000)
        self.assertFalse(client.transport.disconnected)

    def test_unregistered(self) -> None:
        """
        A connection lost before registering.
        """
        self.assertCleanAfterLost(self.connect())

    def test_registered(self) -> None:
        """
        A registered connection, with its idle timer running.
        """
        self.assertCleanAfterLost(self.registered("alice"))

    def test_throttled(self) -> None:
        """
        A connection with lines held back by the rate limit; they are never
        handled.
        """
        alice = self.registered("alice")
        bob = self.registered("bob")
        alice.send(*[b"m%d" % n for n in range(10)])
        self.assertCleanAfterLost(alice)
        self.assertEqual(
            [line for line in bob.lines() if line.startswith(b"MSG")],
            [b"MSG #lobby alice m0", b"MSG #lobby alice m1"],
        )

    def test_dropped(self) -> None:
        """
        A connection dropped for its backlog, its abort pending.
        """
        alice = self.registered("alice")
        bob = self.registered("bob")
        alice.protocol.pauseProducing()
        self.clock.advance(10)
        bob.send(b"x" * 200)
        self.assertTrue(alice.transport.disconnecting)
        self.assertCleanAfterLost(alice)

    def test_timedOut(self) -> None:
        """
        A connection closed by its registration timeout.
        """
        client = self.connect()
        self.clock.advance(60)
        self.assertTrue(client.transport.disconnecting)
        client.lose()
        self.assertEqual(self.callsFor(client), [])

    def test_lostTwice(self) -> None:
        """
        A second C{connectionLost} does no harm.
        """
        alice = self.registered("alice")
        alice.lose()
        alice.lose()
        self.assertEqual(self.callsFor(alice), [])
        self.successResultOf(alice.protocol.whenLost())


class CloseDeadlineTests(ChatServerTestCase):
    """
    Every close that waits for the client to take its last lines has a
    deadline, after which the connection is aborted.
    """

    limits = ChatLimits(lineRate=0, idleTimeout=60, registrationTimeout=30)

    def assertAbortedAfter(self, client: Client, seconds: float) -> None:
        """
        Assert that C{client}'s connection, closing but with its output not
        taken, is aborted C{seconds} later and not before, and that nothing
        is left pending once it is lost.
        """
        self.assertTrue(client.transport.disconnecting)
        self.clock.advance(seconds - 0.5)
        self.assertFalse(client.transport.disconnected)
        self.clock.advance(0.5)
        self.assertTrue(client.transport.disconnected)
        client.lose()
        self.assertEqual(self.pendingCalls(), [])

    def test_idleNonReader(self) -> None:
        """
        A registered client that stopped reading, with less than the soft
        backlog waiting for it, is aborted 10 seconds after its idle
        timeout's goodbye could not be sent.
        """
        client = self.registered("alice")
        client.protocol.pauseProducing()
        self.clock.advance(60)
        self.assertError(client, "*", "idle-timeout")
        self.assertAbortedAfter(client, 10)

    def test_registrationNonReader(self) -> None:
        """
        A connection that never registers and does not take its goodbye (a
        TLS client that never finished its handshake) is aborted 10 seconds
        after its registration timeout.
        """
        client = self.connect()
        self.clock.advance(30)
        self.assertError(client, "*", "registration-timeout")
        self.assertAbortedAfter(client, 10)

    def test_quitNonReader(self) -> None:
        """
        A client that quits and does not read its C{OK quit} is aborted
        after 10 seconds.
        """
        client = self.registered("alice")
        client.send(b"/quit")
        self.assertAbortedAfter(client, 10)

    def test_drainNonReader(self) -> None:
        """
        A client told the server is stopping that does not read it is
        aborted after 10 seconds too, if nothing cut it before.
        """
        client = self.registered("alice")
        client.protocol.disconnect("going down")
        self.assertAbortedAfter(client, 10)

    def test_closedInTime(self) -> None:
        """
        A connection that closes before the deadline leaves no call behind.
        """
        client = self.registered("alice")
        self.clock.advance(60)
        client.lose()
        self.assertEqual(self.pendingCalls(), [])


class GuardedCloseDeadlineTests(ChatServerTestCase):
    """
    Behind a L{ConnectionGuard}, a chat close has one deadline, the
    guard's: its C{closeTimeout}, or while it drains, its grace.  Only the
    slow consumer's shorter one is chat's own.
    """

    limits = ChatLimits(
        lineRate=0, idleTimeout=60, registrationTimeout=30, backlogHard=100
    )

    def guard(self, closeTimeout: float = 10.0) -> ConnectionGuard:
        """
        @return: a guard over this test's factory, with C{closeTimeout}.
        """
        return ConnectionGuard(
            self.factory,
            self.clock,
            attrs.evolve(GUARD_LIMITS, closeTimeout=closeTimeout),
            service="chat",
        )

    def callsFor(
        self, client: Client, connection: GuardedConnection
    ) -> list[Callable[[], object]]:
        """
        @return: what the delayed calls pending for C{client}'s connection
            (its chat protocol, its guard's connection or its transport)
            will call.
        """
        ours = [client.protocol, connection, client.transport]
        funcs: list[Callable[[], object]] = [
            call.func  # type: ignore[attr-defined]
            for call in self.pendingCalls()
        ]
        return [func for func in funcs if getattr(func, "__self__", None) in ours]

    def deadlines(
        self, client: Client, connection: GuardedConnection
    ) -> list[Callable[[], object]]:
        """
        @return: the pending calls that would abort C{client}'s connection:
            its guard's close deadline, or an abort of chat's own.
        """
        aborts = (connection._closeTimedOut, client.transport.abortConnection)
        return [call for call in self.callsFor(client, connection) if call in aborts]

    def assertAbortedAfter(
        self, client: Client, connection: GuardedConnection, seconds: float
    ) -> None:
        """
        Assert that C{client}'s connection, closing but with its output not
        taken, is aborted C{seconds} later and not before, and that nothing
        is left pending for it once it is lost.
        """
        self.assertTrue(client.transport.disconnecting)
        self.clock.advance(seconds - 0.5)
        self.assertFalse(client.transport.disconnected)
        self.clock.advance(0.5)
        self.assertTrue(client.transport.disconnected)
        connection.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.callsFor(client, connection), [])

    def closes(self) -> list[tuple[str, Callable[[Client], object]]]:
        """
        @return: every way chat closes a connection that waits for its
            last lines, named, each a function that makes a client's
            connection close that way.
        """

        def quitting(client: Client) -> None:
            client.send(b"alice", b"/quit")

        def idle(client: Client) -> None:
            client.send(b"alice")
            self.clock.advance(60)

        def unregistered(client: Client) -> None:
            self.clock.advance(30)

        def drained(client: Client) -> None:
            client.protocol.disconnect("going down")

        return [
            ("quit", quitting),
            ("idle", idle),
            ("registration", unregistered),
            ("disconnect", drained),
        ]

    def test_theGuardsDeadline(self) -> None:
        """
        However chat closes it, a guarded connection whose client does not
        take its last lines is aborted after the guard's C{closeTimeout},
        shorter or longer than chat's own 10 seconds, and by nothing else:
        the guard's deadline is the only one pending.
        """
        for closeTimeout in (3.0, 25.0):
            for name, close in self.closes():
                self.setUp()
                client, connection = self.connectGuarded(self.guard(closeTimeout))
                client.protocol.pauseProducing()
                close(client)
                self.assertEqual(
                    self.deadlines(client, connection),
                    [connection._closeTimedOut],
                    name,
                )
                self.assertAbortedAfter(client, connection, closeTimeout)

    def test_noGuardDeadline(self) -> None:
        """
        Behind a guard with its close deadline turned off (C{closeTimeout=0})
        chat's closes keep a deadline: its own 10 seconds, as without a guard.
        """
        client, connection = self.connectGuarded(self.guard(0))
        client.send(b"alice", b"/quit")
        self.assertTrue(client.transport.disconnecting)
        self.assertAbortedAfter(client, connection, CLOSE_TIMEOUT)

    def test_drainGrace(self) -> None:
        """
        While the guard drains, its grace bounds the close, however long:
        a user who does not read the goodbye is cut when it ends, not after
        chat's 10 seconds or the guard's close deadline.
        """
        guard = self.guard(closeTimeout=3)
        client, connection = self.connectGuarded(guard)
        client.send(b"alice")
        client.clear()
        d = guard.drain(grace=30, reason="going down")
        self.assertEqual(client.lines(), [b"NOTE going down"])
        self.assertAbortedAfter(client, connection, 30)
        self.successResultOf(d)

    def test_slowConsumer(self) -> None:
        """
        A client dropped for reading too slowly is still aborted 5 seconds
        after its C{ERR * backlog}, sooner than the guard's close deadline.
        """
        client, connection = self.connectGuarded(self.guard())
        client.send(b"slow")
        other = self.registered("bob")
        client.protocol.pauseProducing()
        other.send(b"x" * 200)
        self.assertError(client, "*", "backlog")
        self.assertAbortedAfter(client, connection, 5)


class LineOrderTests(ChatServerTestCase):
    """
    Replies come in the order of the lines they answer, refusals of lines
    included.
    """

    limits = ChatLimits()

    def replies(self, client: Client) -> list[tuple[str, str | None]]:
        """
        Let the rate limit handle every waiting line.

        @return: the command (and error code) of each reply C{client} got.
        """
        self.clock.pump([1] * 20)
        return [
            (line.command, getattr(line, "code", None))
            for line in client.received()
            if isinstance(line, (Reply, Error))
        ]

    def test_tooLongInItsPlace(self) -> None:
        """
        C{alice}, thirty C{/rooms}, a 3,000-byte line and C{/who} in one
        write get the nick reply, thirty rooms replies, then C{ERR *
        line-too-long}, then the who reply, although the rate limit makes
        most of them wait.
        """
        client = self.connect()
        client.clear()
        client.receive(b"alice\n" + b"/rooms\n" * 30 + b"x" * 3000 + b"\n" + b"/who\n")
        replies = self.replies(client)
        self.assertEqual(
            replies,
            [("nick", None)]
            + [("rooms", None)] * 30
            + [("*", "line-too-long"), ("who", None)],
        )

    def test_tooLongUnfinishedInItsPlace(self) -> None:
        """
        An over-long line still arriving is refused after the replies to
        the lines before it, even when those wait for the rate limit.
        """
        client = self.registered("alice")
        self.clock.advance(10)
        client.clear()
        client.receive(b"/rooms\n" * 25 + b"y" * 2000)
        client.receive(b"y" * 2000 + b"\n/who\n")
        replies = self.replies(client)
        self.assertEqual(
            replies,
            [("rooms", None)] * 25 + [("*", "line-too-long"), ("who", None)],
        )


class EmptyLineTests(ChatServerTestCase):
    """
    A line that is empty or only white space is ignored.
    """

    def test_notBroadcast(self) -> None:
        """
        Empty and white-space lines from a registered user reach nobody and
        get no reply; the next real line is said as usual.
        """
        alice = self.registered("alice")
        bob = self.registered("bob")
        alice.clear()
        alice.receive(b"\n\r\n   \n\t \r\n")
        self.assertEqual(bob.lines(), [])
        self.assertEqual(alice.lines(), [])
        alice.send(b"hi")
        self.assertEqual(bob.lines(), [b"MSG #lobby alice hi"])

    def test_beforeRegistering(self) -> None:
        """
        An empty line before registering is not taken for a nickname, and
        gets no reply.
        """
        client = self.connect()
        client.clear()
        client.receive(b"\r\n  \n")
        self.assertEqual(client.lines(), [])
        client.send(b"alice")
        self.assertEqual(self.hub.nickOf(client.protocol), "alice")
