"""
Tests for L{netlab.chat._cli}: the options of C{netlab chat}, how events
are shown to a person, and the terminal over a fake session and over a real
session to the real server in memory, line by line and with an input line
of its own (read back through a terminal emulator).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab._options import HandshakeFirst, clientEndpoint
from netlab._stdin import Emphasis, ILineHandler, ITerminalHandler, LineReader
from netlab._terminal import TerminalReader, TerminalServer
from netlab.chat._cli import (
    ChatClientOptions,
    ChatTerminal,
    _chatOn,
    client,
    emphasisFor,
    formatForPerson,
    mentions,
)
from netlab.chat._client import DEFAULT_TIMEOUT, ChatSession, connectChat
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
)
from netlab.errors import ChatError, ConnectionClosed, NetlabError
from netlab.service import INetlabClient
from netlab.testing import MemoryEndpoint
from tests.test_cli import parse
from tests.test_terminal import _Screen


class ClientTests(SynchronousTestCase):
    """
    Tests for L{client}, C{netlab chat} in the registry.
    """

    def test_client(self) -> None:
        """
        It is an L{INetlabClient} whose options are L{ChatClientOptions}.
        """
        self.assertTrue(verifyObject(INetlabClient, client))
        self.assertIs(client.options, ChatClientOptions)
        self.assertIs(parse("chat", "--nick", "alice").client, client)


class ChatClientOptionsTests(SynchronousTestCase):
    """
    Tests for L{ChatClientOptions}, the options of C{netlab chat}.
    """

    def _parse(self, *args: str) -> ChatClientOptions:
        options = ChatClientOptions()
        options.parseOptions(list(args))
        return options

    def test_defaults(self) -> None:
        """
        Only the nickname is needed: the server is localhost:21569, with the
        default timeout.
        """
        options = self._parse("--nick", "alice")
        self.assertEqual(options["nick"], "alice")
        self.assertEqual(options["host"], "localhost")
        self.assertEqual(options["port"], 21569)
        self.assertIsNone(options["connect"])
        self.assertEqual(options["timeout"], DEFAULT_TIMEOUT)

    def test_shortOptions(self) -> None:
        """
        Every option has a one-letter form.
        """
        options = self._parse(
            "-n", "bob", "-H", "chat.example", "-p", "2000", "-t", "2.5"
        )
        self.assertEqual(
            (options["nick"], options["host"], options["port"], options["timeout"]),
            ("bob", "chat.example", 2000, 2.5),
        )
        options = self._parse("-n", "bob", "-c", "unix:/tmp/chat")
        self.assertEqual(options["connect"], "unix:/tmp/chat")

    def test_nickRequired(self) -> None:
        """
        Without C{--nick}, parsing fails with a usage error saying so.
        """
        e = self.assertRaises(usage.UsageError, self._parse)
        self.assertIn("--nick", str(e))

    def test_invalidNick(self) -> None:
        """
        An invalid nickname is a usage error.
        """
        for nick in ("9lives", "has space", "x" * 17, "server"):
            self.assertRaises(usage.UsageError, self._parse, "--nick", nick)

    def test_badValues(self) -> None:
        """
        A port that is no number, or a timeout that is not positive, is a
        usage error.
        """
        for args in (("--port", "x"), ("--timeout", "0"), ("--timeout", "soon")):
            self.assertRaises(usage.UsageError, self._parse, "-n", "alice", *args)

    def test_tls(self) -> None:
        """
        C{--tls} is off by default; C{--tls} or C{--ca-file} turns it on.
        """
        self.assertFalse(self._parse("-n", "alice")["tls"])
        self.assertTrue(self._parse("-n", "alice", "--tls")["tls"])
        options = self._parse("-n", "alice", "--ca-file", "ca.pem")
        self.assertTrue(options["tls"])
        self.assertEqual(options["ca-file"], "ca.pem")

    def test_tlsWithConnect(self) -> None:
        """
        C{--tls} or C{--ca-file} with C{--connect} is a usage error that
        points to C{tls:} endpoint strings.
        """
        for option in (("--tls",), ("--ca-file", "ca.pem")):
            e = self.assertRaises(
                usage.UsageError,
                self._parse,
                "-n",
                "alice",
                *option,
                "-c",
                "tcp:example:2000",
            )
            self.assertIn("tls:", str(e))

    def test_plain(self) -> None:
        """
        C{--plain} asks for plain lines even on a terminal; it is off by
        default.
        """
        self.assertFalse(self._parse("-n", "alice")["plain"])
        self.assertTrue(self._parse("-n", "alice", "--plain")["plain"])

    def test_noMessageWords(self) -> None:
        """
        Words after the options are a usage error.
        """
        self.assertRaises(usage.UsageError, self._parse, "-n", "alice", "hello")


class EndpointTests(SynchronousTestCase):
    """
    Tests for the endpoint C{netlab chat} connects through.
    """

    def _options(self, *args: str) -> ChatClientOptions:
        options = ChatClientOptions()
        options.parseOptions(["-n", "alice", *args])
        return options

    def test_hostAndPort(self) -> None:
        """
        By default it is a L{HostnameEndpoint} to C{--host} and C{--port}.
        """
        endpoint = clientEndpoint(MemoryReactorClock(), self._options("-H", "example"))
        self.assertIsInstance(endpoint, HostnameEndpoint)

    def test_connect(self) -> None:
        """
        C{--connect} takes a client endpoint string.
        """
        reactor = MemoryReactorClock()
        endpoint = clientEndpoint(reactor, self._options("-c", "tcp:example:2000"))
        endpoint.connect(ChatClientOptions)  # type: ignore[arg-type]
        host, port = reactor.tcpClients[0][:2]
        self.assertEqual((host, port), ("example", 2000))

    def test_tls(self) -> None:
        """
        With C{--tls} it is a TLS endpoint, over TCP to C{--host} and
        C{--port}.
        """
        reactor = MemoryReactorClock()
        endpoint = clientEndpoint(
            reactor, self._options("--tls", "-H", "127.0.0.1", "-p", "2000")
        )
        self.assertIsInstance(endpoint, HandshakeFirst)
        endpoint.connect(Factory.forProtocol(Protocol))
        self.assertEqual(reactor.tcpClients[0][:2], ("127.0.0.1", 2000))

    def test_unreadableCAFile(self) -> None:
        """
        A C{--ca-file} that cannot be read is a L{NetlabError} naming it.
        """
        e = self.assertRaises(
            NetlabError,
            clientEndpoint,
            MemoryReactorClock(),
            self._options("--ca-file", "/nonexistent/ca.pem"),
        )
        self.assertIn("--ca-file /nonexistent/ca.pem", str(e))

    def test_badConnect(self) -> None:
        """
        A C{--connect} that is not an endpoint string is a L{NetlabError}
        naming it.
        """
        e = self.assertRaises(
            NetlabError,
            clientEndpoint,
            MemoryReactorClock(),
            self._options("-c", "nope:x"),
        )
        self.assertIn("nope:x", str(e))


class FormatForPersonTests(SynchronousTestCase):
    """
    Tests for L{formatForPerson}.
    """

    def test_message(self) -> None:
        """
        A message shows its room and who said it.
        """
        self.assertEqual(
            formatForPerson(RoomMessage("#lobby", "alice", "hi")), "[#lobby] <alice> hi"
        )

    def test_action(self) -> None:
        """
        An action reads as a sentence, after a star.
        """
        self.assertEqual(
            formatForPerson(Action("#lobby", "alice", "waves")),
            "[#lobby] * alice waves",
        )

    def test_privateReceived(self) -> None:
        """
        A private message to this client shows who sent it.
        """
        event = PrivateMessage("alice", "bob", "hi")
        self.assertEqual(formatForPerson(event, "bob"), "<- alice: hi")
        self.assertEqual(formatForPerson(event), "<- alice: hi")

    def test_privateSent(self) -> None:
        """
        A private message from this client, whatever the case of its
        nickname, shows whom it went to.
        """
        event = PrivateMessage("alice", "bob", "hi")
        self.assertEqual(formatForPerson(event, "ALICE"), "-> bob: hi")

    def test_joined(self) -> None:
        """
        A join is a notice line.
        """
        self.assertEqual(
            formatForPerson(Joined("#lobby", "alice")), "*** alice joined #lobby"
        )

    def test_parted(self) -> None:
        """
        A part shows its reason, if any.
        """
        self.assertEqual(
            formatForPerson(Parted("#lobby", "alice", "lunch")),
            "*** alice left #lobby (lunch)",
        )
        self.assertEqual(
            formatForPerson(Parted("#lobby", "alice")), "*** alice left #lobby"
        )

    def test_nickChanged(self) -> None:
        """
        A rename shows both names.
        """
        self.assertEqual(
            formatForPerson(NickChanged("alice", "bob")), "*** alice is now bob"
        )

    def test_quit(self) -> None:
        """
        A quit shows its reason, if any.
        """
        self.assertEqual(formatForPerson(Quit("alice", "bye")), "*** alice quit (bye)")
        self.assertEqual(formatForPerson(Quit("alice")), "*** alice quit")

    def test_notice(self) -> None:
        """
        A notice is shown as a notice line.
        """
        self.assertEqual(formatForPerson(Notice("Welcome!")), "*** Welcome!")

    def test_history(self) -> None:
        """
        History is marked as earlier.
        """
        self.assertEqual(
            formatForPerson(History(RoomMessage("#lobby", "alice", "hi"))),
            "(earlier) [#lobby] <alice> hi",
        )
        self.assertEqual(
            formatForPerson(History(Action("#lobby", "alice", "waves"))),
            "(earlier) [#lobby] * alice waves",
        )

    def test_error(self) -> None:
        """
        An error shows its code and text after a bang.
        """
        self.assertEqual(
            formatForPerson(Error("nick", "nick-taken", "that nick is taken")),
            "! nick-taken: that nick is taken",
        )

    def test_reply(self) -> None:
        """
        A reply shows its command and values, or that it succeeded.
        """
        self.assertEqual(
            formatForPerson(Reply("who", ("#lobby", "alice"))), "*** who: #lobby alice"
        )
        self.assertEqual(formatForPerson(Reply("help")), "*** help: ok")

    def test_controlsCleaned(self) -> None:
        """
        Nothing in an event can act on a terminal: escapes, bells and
        carriage returns become U+FFFD.
        """
        shown = formatForPerson(RoomMessage("#lobby", "alice", "\x1b[2J\x07\rhi"))
        self.assertEqual(shown, "[#lobby] <alice> \ufffd[2J\ufffd\ufffdhi")
        shown = formatForPerson(Notice("\x9b31m"))
        self.assertNotIn("\x9b", shown)


class MentionsTests(SynchronousTestCase):
    """
    Tests for L{mentions}.
    """

    def test_mentions(self) -> None:
        """
        A nickname is mentioned as a word of its own, in any case, with
        punctuation around it.
        """
        for text in ("hi alice", "ALICE: look", "(Alice)", "alice.", "@alice!"):
            self.assertTrue(mentions(text, "alice"), text)

    def test_notMentioned(self) -> None:
        """
        Part of a longer nickname, or of a word, is no mention.
        """
        for text in ("malice", "alice_", "alice-bot", "alices", "hi bob"):
            self.assertFalse(mentions(text, "alice"), text)


class EmphasisForTests(SynchronousTestCase):
    """
    Tests for L{emphasisFor}.
    """

    def test_private(self) -> None:
        """
        A private message received is said to the person alone; one sent
        is not emphasised.
        """
        self.assertIs(
            emphasisFor(PrivateMessage("bob", "alice", "psst"), "alice"),
            Emphasis.DIRECT,
        )
        self.assertIs(
            emphasisFor(PrivateMessage("ALICE", "bob", "hi"), "alice"), Emphasis.NONE
        )

    def test_mention(self) -> None:
        """
        Someone else's message or action that mentions the nickname is a
        highlight, in the history too; one's own is not.
        """
        for event in (
            RoomMessage("#lobby", "bob", "hi alice"),
            Action("#lobby", "bob", "waves at alice"),
            History(RoomMessage("#lobby", "bob", "alice: earlier")),
        ):
            self.assertIs(emphasisFor(event, "alice"), Emphasis.HIGHLIGHT, event)
        self.assertIs(
            emphasisFor(RoomMessage("#lobby", "alice", "I am alice"), "alice"),
            Emphasis.NONE,
        )

    def test_others(self) -> None:
        """
        Everything else is not emphasised.
        """
        for event in (
            RoomMessage("#lobby", "bob", "hi all"),
            Joined("#lobby", "alice"),
            Notice("alice, welcome"),
            Error("say", "not-in-room", "alice, join a room"),
            Reply("who", ("#lobby", "alice")),
        ):
            self.assertIs(emphasisFor(event, "alice"), Emphasis.NONE, event)


class _FakeSession:
    """
    Records what a L{ChatTerminal} asks of its session; each command's
    Deferred is fired by the test.
    """

    def __init__(self) -> None:
        self.nick = "alice"
        self.room: str | None = "#lobby"
        self.closed: Deferred[None] = Deferred()
        self.listeners: list[Any] = []
        self.said: list[str] = []
        self.acted: list[str] = []
        self.calls: list[tuple[str, tuple[str, ...], Deferred[Any]]] = []
        self.closes = 0

    def addListener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def removeListener(self, listener: Any) -> None:
        self.listeners.remove(listener)

    def hear(self, event: Any) -> None:
        for listener in list(self.listeners):
            listener(event)

    def say(self, text: str) -> None:
        if len(text) > 20:
            raise ValueError("the line is too long")
        self.said.append(text)

    def me(self, text: str) -> None:
        self.acted.append(text)

    def _call(self, name: str, *args: str) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.calls.append((name, args, d))
        return d

    def join(self, room: str) -> Deferred[str]:
        if not room.startswith("#"):
            raise ValueError(f"{room!r} is not a valid room name")
        return self._call("join", room)

    def part(self, reason: str = "") -> Deferred[str]:
        return self._call("part", reason)

    def tell(self, nick: str, text: str) -> Deferred[str]:
        return self._call("tell", nick, text)

    def who(self) -> Deferred[list[str]]:
        return self._call("who")

    def rooms(self) -> Deferred[list[tuple[str, int]]]:
        return self._call("rooms")

    def rename(self, nick: str) -> Deferred[str]:
        return self._call("rename", nick)

    def quit(self, reason: str = "") -> Deferred[None]:
        return self._call("quit", reason)

    def sendCommand(self, line: str) -> Deferred[Reply] | None:
        return self._call("sendCommand", line)

    def close(self) -> Deferred[None]:
        self.closes += 1
        return succeed(None)


class ChatTerminalTests(SynchronousTestCase):
    """
    Tests for L{ChatTerminal} over a fake session.
    """

    def setUp(self) -> None:
        self.session = _FakeSession()
        self.terminal = ChatTerminal(self.session)  # type: ignore[arg-type]
        self.transport = StringTransport()
        self.terminal.reader.makeConnection(self.transport)

    def _type(self, *lines: str) -> None:
        for line in lines:
            self.terminal.reader.dataReceived(line.encode("utf-8") + b"\n")

    def _shown(self) -> list[str]:
        shown: list[str] = self.transport.value().decode("utf-8").splitlines()
        self.transport.clear()
        return shown

    def _call(self, name: str, *args: str) -> Deferred[Any]:
        called, given, d = self.session.calls.pop(0)
        self.assertEqual((called, given), (name, args))
        return d

    def test_heldUntilConnected(self) -> None:
        """
        Events heard before the terminal is connected are shown once it is.
        """
        terminal = ChatTerminal(self.session)  # type: ignore[arg-type]
        self.session.hear(Joined("#lobby", "alice"))
        transport = StringTransport()
        terminal.reader.makeConnection(transport)
        self.assertEqual(transport.value(), b"*** alice joined #lobby\n")

    def test_events(self) -> None:
        """
        Events are shown as they come, formatted for a person.
        """
        self.session.hear(RoomMessage("#lobby", "bob", "hi"))
        self.session.hear(PrivateMessage("bob", "alice", "psst"))
        self.session.hear(Error("say", "not-in-room", "join a room"))
        self.assertEqual(
            self._shown(),
            ["[#lobby] <bob> hi", "<- bob: psst", "! not-in-room: join a room"],
        )

    def test_say(self) -> None:
        """
        A plain line is said, and shown as said, since the server does not
        echo it.
        """
        self._type("hello there")
        self.assertEqual(self.session.said, ["hello there"])
        self.assertEqual(self._shown(), ["[#lobby] <alice> hello there"])

    def test_sayOutsideRoom(self) -> None:
        """
        Outside any room a plain line is still sent (the server will say why
        it is refused), but not shown as said.
        """
        self.session.room = None
        self._type("hello")
        self.assertEqual(self.session.said, ["hello"])
        self.assertEqual(self._shown(), [])

    def test_doubleSlash(self) -> None:
        """
        C{//} says a line that starts with one slash.
        """
        self._type("//etc")
        self.assertEqual(self.session.said, ["/etc"])

    def test_emptyLines(self) -> None:
        """
        Empty lines are ignored; CRLF line endings are accepted.
        """
        self.terminal.reader.dataReceived(b"\n\r\nhi\r\n")
        self.assertEqual(self.session.said, ["hi"])

    def test_refusedLocally(self) -> None:
        """
        A line the session refuses to send is reported, and the terminal
        goes on.
        """
        self._type("x" * 30, "/join lobby", "ok")
        self.assertEqual(
            self._shown(),
            [
                "! the line is too long",
                "! 'lobby' is not a valid room name",
                "[#lobby] <alice> ok",
            ],
        )

    def test_notUTF8(self) -> None:
        """
        A line that is not UTF-8 is reported and not sent.
        """
        self.terminal.reader.dataReceived(b"caf\xe9\n")
        self.assertEqual(self.session.said, [])
        self.assertEqual(self._shown(), ["! that line is not UTF-8; it was not sent"])

    def test_me(self) -> None:
        """
        C{/me} acts, and is shown as acted.
        """
        self._type("/me waves")
        self.assertEqual(self.session.acted, ["waves"])
        self.assertEqual(self._shown(), ["[#lobby] * alice waves"])

    def test_join(self) -> None:
        """
        C{/join} joins; the server's JOIN line shows it, and a refusal is
        printed.
        """
        self._type("/join #dev", "/JOIN #ops")
        self._call("join", "#dev").callback("#dev")
        self._call("join", "#ops").errback(ChatError("room-full", "it is full"))
        self.assertEqual(self._shown(), ["! room-full: it is full"])

    def test_part(self) -> None:
        """
        C{/part} parts, with the reason.
        """
        self._type("/part lunch time")
        self._call("part", "lunch time").callback("#lobby")
        self.assertEqual(self._shown(), [])

    def test_who(self) -> None:
        """
        C{/who} shows who is in the room.
        """
        self._type("/who")
        self._call("who").callback(["alice", "bob"])
        self.assertEqual(self._shown(), ["*** in #lobby: alice bob"])

    def test_rooms(self) -> None:
        """
        C{/rooms} lists the rooms with their counts.
        """
        self._type("/rooms", "/rooms")
        self._call("rooms").callback([("#dev", 1), ("#lobby", 3)])
        self._call("rooms").callback([])
        self.assertEqual(
            self._shown(), ["*** rooms: #dev (1), #lobby (3)", "*** rooms: none"]
        )

    def test_msg(self) -> None:
        """
        C{/msg} sends privately, and shows it once the server accepted it.
        """
        self._type("/msg bob see you at 5")
        d = self._call("tell", "bob", "see you at 5")
        self.assertEqual(self._shown(), [])
        d.callback("bob")
        self.assertEqual(self._shown(), ["-> bob: see you at 5"])

    def test_msgNoSuchNick(self) -> None:
        """
        A refused C{/msg} is printed.
        """
        self._type("/msg carol hi")
        self._call("tell", "carol", "hi").errback(
            ChatError("no-such-nick", "nobody is called carol")
        )
        self.assertEqual(self._shown(), ["! no-such-nick: nobody is called carol"])

    def test_msgUsage(self) -> None:
        """
        C{/msg} without a nickname and text shows its usage.
        """
        self._type("/msg", "/msg bob")
        self.assertEqual(self._shown(), ["! usage: /msg NICK TEXT"] * 2)
        self.assertEqual(self.session.calls, [])

    def test_nick(self) -> None:
        """
        C{/nick} renames; a refusal is printed.
        """
        self._type("/nick bob")
        self._call("rename", "bob").errback(ChatError("nick-taken", "taken"))
        self.assertEqual(self._shown(), ["! nick-taken: taken"])

    def test_help(self) -> None:
        """
        C{/help} shows the client's help, then asks the server for its own,
        whose notices are events.
        """
        self._type("/help")
        self.assertIn("/join", "\n".join(self._shown()))
        self._call("sendCommand", "/help").callback(Reply("help"))
        self.assertEqual(self._shown(), [])

    def test_otherCommand(self) -> None:
        """
        Other commands are sent as typed, their reply or refusal printed.
        """
        self._type("/topic #dev fun", "/frob")
        self._call("sendCommand", "/topic #dev fun").callback(Reply("topic", ("#dev",)))
        self._call("sendCommand", "/frob").errback(
            ChatError("unknown-command", "no /frob")
        )
        self.assertEqual(
            self._shown(), ["*** topic: #dev", "! unknown-command: no /frob"]
        )

    def test_otherFailure(self) -> None:
        """
        A command that fails without a server error is printed too.
        """
        self._type("/who")
        self._call("who").errback(ConnectionClosed("the connection is closed"))
        self.assertEqual(self._shown(), ["! the connection is closed"])

    def test_quit(self) -> None:
        """
        C{/quit} quits with the reason; the chat is over once the session
        has closed, and nothing typed after is sent.
        """
        self._type("/quit see you", "hello?")
        d = self._call("quit", "see you")
        self.assertNoResult(self.terminal.done)
        self.session.closed.callback(None)
        d.callback(None)
        self.successResultOf(self.terminal.done)
        self.assertEqual(self.session.said, [])
        self.assertEqual(self._shown(), [])

    def test_endOfInput(self) -> None:
        """
        End of input quits, as C{/quit} does.
        """
        self.terminal.reader.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(self.terminal.closed)
        d = self._call("quit", "")
        self.assertNoResult(self.terminal.done)
        d.callback(None)
        self.successResultOf(self.terminal.done)

    def test_endOfInputHalfCloses(self) -> None:
        """
        At the end of input the terminal quits, but goes on printing until
        the session has closed.
        """
        self.assertTrue(verifyObject(IHalfCloseableProtocol, self.terminal.reader))
        self._type("/who")
        self.terminal.reader.readConnectionLost()
        who = self._call("who")
        quitting = self._call("quit", "")
        who.callback(["alice"])
        self.assertEqual(self._shown(), ["*** in #lobby: alice"])
        quitting.callback(None)
        self.successResultOf(self.terminal.done)
        self.assertNoResult(self.terminal.closed)

    def test_outputClosed(self) -> None:
        """
        When output is closed the terminal quits, writing nothing more.
        """
        self.terminal.reader.writeConnectionLost()
        self._call("quit", "")
        self.session.hear(Notice("unseen"))
        self.assertEqual(self.transport.value(), b"")

    def test_quitFails(self) -> None:
        """
        If quitting fails, the chat is over all the same.
        """
        self._type("/quit")
        self._call("quit", "").errback(ConnectionClosed("gone"))
        self.successResultOf(self.terminal.done)
        self.assertEqual(len(self.flushLoggedErrors(ConnectionClosed)), 1)

    def test_serverCloses(self) -> None:
        """
        When the server closes the connection first, that is shown and the
        chat fails with L{ConnectionClosed}.
        """
        self.session.hear(Notice("server shutting down"))
        self.session.closed.callback(None)
        self.assertEqual(
            self._shown(), ["*** server shutting down", "*** disconnected"]
        )
        self.failureResultOf(self.terminal.done, ConnectionClosed)
        self.assertEqual(self.session.listeners, [])

    def test_nothingAfterDisconnected(self) -> None:
        """
        Once the terminal is disconnected nothing more is written to it.
        """
        self.terminal.reader.connectionLost(Failure(ConnectionDone()))
        self.session.hear(Notice("late"))
        self.assertEqual(self.transport.value(), b"")

    def test_lineHandler(self) -> None:
        """
        The terminal is the L{ILineHandler} of its reader, and an
        L{ITerminalHandler}, for consoles with an input line of their own.
        """
        self.assertTrue(verifyObject(ILineHandler, self.terminal))
        self.assertTrue(verifyObject(ITerminalHandler, self.terminal))

    def test_emphasis(self) -> None:
        """
        Events are written with their emphasis: a private message received
        is said to the person alone, a mention of them is a highlight.
        """
        lines: list[tuple[str, Emphasis]] = []
        self.patch(
            self.terminal.reader,
            "writeLine",
            lambda text, emphasis=Emphasis.NONE: lines.append((text, emphasis)),
        )
        self.session.hear(PrivateMessage("bob", "alice", "psst"))
        self.session.hear(RoomMessage("#lobby", "bob", "alice: hi"))
        self.session.hear(RoomMessage("#lobby", "bob", "hi all"))
        self.assertEqual(
            lines,
            [
                ("<- bob: psst", Emphasis.DIRECT),
                ("[#lobby] <bob> alice: hi", Emphasis.HIGHLIGHT),
                ("[#lobby] <bob> hi all", Emphasis.NONE),
            ],
        )

    def test_prompt(self) -> None:
        """
        The prompt names the room and the nickname, or only the nickname
        outside any room.
        """
        self.assertEqual(self.terminal.prompt(), "[#lobby] alice> ")
        self.session.room = None
        self.session.nick = "alicia"
        self.assertEqual(self.terminal.prompt(), "alicia> ")

    def test_completeCommands(self) -> None:
        """
        A first word with a slash completes to the commands it starts.
        """
        self.assertEqual(self.terminal.completions("/j", True), ["/join "])
        self.assertEqual(self.terminal.completions("/M", True), ["/me ", "/msg "])
        self.assertEqual(len(self.terminal.completions("/", True)), 9)
        self.assertEqual(self.terminal.completions("/j", False), [])

    def test_completeNicknames(self) -> None:
        """
        Other words complete to the nicknames of the room heard of (not
        one's own), with C{": "} at the start of a line.
        """
        self.session.hear(Joined("#lobby", "bob"))
        self.session.hear(Joined("#lobby", "alicia"))
        self.session.hear(Joined("#dev", "bart"))
        self.assertEqual(self.terminal.completions("b", True), ["bob: "])
        self.assertEqual(self.terminal.completions("", False), ["alicia ", "bob "])
        self.session.hear(Quit("bob"))
        self.assertEqual(self.terminal.completions("b", True), [])

    def test_notTrackingRoom(self) -> None:
        """
        By default (line by line), joining asks the server nothing more.
        """
        self.session.hear(Joined("#dev", "alice"))
        self.assertEqual(self.session.calls, [])

    def test_lineTooLong(self) -> None:
        """
        A line too long to send is reported and dropped whole; the lines
        after it are sent.
        """
        self.terminal.reader.dataReceived(
            b"x" * (self.terminal.reader.maxLineLength + 1) + b"\nafter\n"
        )
        self.assertEqual(
            self._shown(),
            ["! that line is far too long; it was not sent", "[#lobby] <alice> after"],
        )
        self.assertEqual(self.session.said, ["after"])

    def test_lastLineWithoutEnding(self) -> None:
        """
        At the end of input, a last line without a line ending is said, then
        the terminal quits.
        """
        self.terminal.reader.dataReceived(b"bye all")
        self.terminal.reader.readConnectionLost()
        self.assertEqual(self.session.said, ["bye all"])
        self._call("quit", "")

    def test_outputClosedCloses(self) -> None:
        """
        When output is closed, the terminal counts as closed: nothing more
        can be printed, so nobody need wait for it.
        """
        self.terminal.reader.writeConnectionLost()
        self.successResultOf(self.terminal.closed)


class ChatTerminalTrackingTests(SynchronousTestCase):
    """
    Tests for L{ChatTerminal} with C{trackRoom}, as on a console with an
    input line of its own.
    """

    def setUp(self) -> None:
        self.session = _FakeSession()
        self.terminal = ChatTerminal(
            self.session,  # type: ignore[arg-type]
            trackRoom=True,
        )
        self.terminal.reader.makeConnection(StringTransport())

    def test_asksWhoOnJoin(self) -> None:
        """
        Joining a room asks who is in it, silently, for completing their
        nicknames.
        """
        self.session.hear(Joined("#dev", "alice"))
        [(name, args, d)] = self.session.calls
        self.assertEqual((name, args), ("who", ()))
        d.callback(["alice", "bob", "carol"])
        self.assertEqual(self.terminal.completions("", True), ["bob: ", "carol: "])
        self.session.hear(Joined("#dev", "dave"))
        self.assertEqual(len(self.session.calls), 1)

    def test_answerForAnotherRoom(self) -> None:
        """
        An answer that comes after leaving for another room is not used.
        """
        self.session.hear(Joined("#dev", "alice"))
        self.session.hear(Joined("#ops", "alice"))
        first = self.session.calls[0][2]
        first.callback(["alice", "bob"])
        self.assertEqual(self.terminal.completions("", True), [])

    def test_whoFails(self) -> None:
        """
        If asking fails, nobody is told.
        """
        self.session.hear(Joined("#dev", "alice"))
        self.session.calls[0][2].errback(ChatError("not-in-room", "no"))
        self.assertEqual(self.terminal.completions("", True), [])

    def test_helpTellsTheKeys(self) -> None:
        """
        C{/help} also tells the keys of the input line.
        """
        transport = StringTransport()
        terminal = ChatTerminal(
            self.session,  # type: ignore[arg-type]
            trackRoom=True,
        )
        terminal.reader.makeConnection(transport)
        terminal.reader.dataReceived(b"/help\n")
        self.assertIn(b"Tab completes", transport.value())


class _FakeStdio:
    """
    Standard input and output line by line, in memory: each console is a
    L{LineReader}, connected to C{transport}.
    """

    screen = False

    def __init__(self) -> None:
        self.transport = StringTransport()
        self.consoles: list[LineReader] = []

    def console(self, handler: Any, maxLineLength: int, echo: bool = False) -> Any:
        reader = LineReader(handler, maxLineLength)
        self.consoles.append(reader)
        return reader

    def connect(self, console: LineReader) -> StringTransport:
        console.makeConnection(self.transport)
        return self.transport


class ChatOnTests(SynchronousTestCase):
    """
    Tests for L{_chatOn}, the part of C{runChat} after registering.
    """

    def test_chatsUntilQuit(self) -> None:
        """
        It greets, chats until C{/quit}, then closes the terminal, waits
        for it to be closed, and closes the session.
        """
        session = _FakeSession()
        stdio = _FakeStdio()
        transport = stdio.transport
        terminals = stdio.consoles

        d = Deferred.fromCoroutine(
            _chatOn(session, stdio)  # type: ignore[arg-type]
        )
        self.assertIn(b"connected as alice", transport.value())
        terminals[0].dataReceived(b"/quit\n")
        session.calls[0][2].callback(None)
        self.assertTrue(transport.disconnecting)
        self.assertNoResult(d)
        terminals[0].connectionLost(Failure(ConnectionDone()))
        self.successResultOf(d)
        self.assertEqual(session.closes, 1)

    def test_serverCloses(self) -> None:
        """
        When the server closes the connection, it fails with
        L{ConnectionClosed} once the terminal is closed.
        """
        session = _FakeSession()
        stdio = _FakeStdio()
        terminals = stdio.consoles

        d = Deferred.fromCoroutine(
            _chatOn(session, stdio)  # type: ignore[arg-type]
        )
        session.closed.callback(None)
        self.assertNoResult(d)
        terminals[0].connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(d, ConnectionClosed)

    def test_sessionClosedWhateverHappens(self) -> None:
        """
        If the console fails as it closes, the session is closed all the
        same, and the failure is what the chat ends with.
        """
        session = _FakeSession()
        stdio = _FakeStdio()
        d = Deferred.fromCoroutine(
            _chatOn(session, stdio)  # type: ignore[arg-type]
        )
        stdio.consoles[0].dataReceived(b"/quit\n")
        session.calls[0][2].callback(None)
        stdio.consoles[0].closed.errback(Failure(ZeroDivisionError("a bug")))
        self.failureResultOf(d, ZeroDivisionError)
        self.assertEqual(session.closes, 1)

    def test_screenTracksTheRoom(self) -> None:
        """
        With standard input and output that draw an input line, the
        terminal asks who is in each room it joins.
        """
        session = _FakeSession()
        stdio = _FakeStdio()
        stdio.screen = True
        d = Deferred.fromCoroutine(_chatOn(session, stdio))  # type: ignore[arg-type]
        session.hear(Joined("#dev", "alice"))
        self.assertEqual(session.calls[0][0], "who")
        session.closed.callback(None)
        stdio.consoles[0].connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(d, ConnectionClosed)


class ChatTerminalMemoryTests(SynchronousTestCase):
    """
    Tests for L{ChatTerminal} over a real L{ChatSession} to the real server,
    in memory.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.endpoint = MemoryEndpoint(ChatFactory(ChatHub(), self.clock))

    def _flush(self) -> None:
        for _ in range(10):
            self.endpoint.flush()
            self.clock.advance(0)

    def _terminal(self, nick: str) -> tuple[ChatTerminal, StringTransport]:
        transport = StringTransport()
        terminals: list[ChatTerminal] = []

        def attach(session: ChatSession) -> None:
            terminals.append(ChatTerminal(session))

        connectChat(self.endpoint, nick, clock=self.clock).addCallback(attach)
        self._flush()
        terminals[0].reader.makeConnection(transport)
        return terminals[0], transport

    def _shown(self, transport: StringTransport) -> list[str]:
        shown: list[str] = transport.value().decode("utf-8").splitlines()
        transport.clear()
        return shown

    def test_conversation(self) -> None:
        """
        Two people chat through their terminals.
        """
        _, aliceOut = self._terminal("alice")
        bob, bobOut = self._terminal("bob")
        self.assertEqual(
            self._shown(aliceOut),
            ["*** alice joined #lobby", "*** bob joined #lobby"],
        )
        bob.reader.dataReceived(b"hi alice\n/me waves\n/msg alice psst\n/who\n")
        self._flush()
        self.assertEqual(
            self._shown(aliceOut),
            ["[#lobby] <bob> hi alice", "[#lobby] * bob waves", "<- bob: psst"],
        )
        self.assertEqual(
            self._shown(bobOut),
            [
                "*** bob joined #lobby",
                "[#lobby] <bob> hi alice",
                "[#lobby] * bob waves",
                "-> alice: psst",
                "*** in #lobby: alice bob",
            ],
        )
        bob.reader.dataReceived(b"/nick robert\n/quit later\n")
        self._flush()
        self.assertEqual(
            self._shown(aliceOut),
            ["*** bob is now robert", "*** robert quit (later)"],
        )
        self.successResultOf(bob.done)


class _Person:
    """
    Someone chatting on a terminal in memory.

    @ivar terminal: their L{ChatTerminal}.
    @ivar keys: where what they type goes: the insults protocol.
    @ivar screen: what they see.
    """

    def __init__(
        self, terminal: ChatTerminal, keys: TerminalServer, screen: _Screen
    ) -> None:
        self.terminal = terminal
        self.keys = keys
        self.screen = screen


class ChatTerminalScreenTests(SynchronousTestCase):
    """
    Tests for L{ChatTerminal} over a L{TerminalReader}, over a real
    L{ChatSession} to the real server in memory: what two people see on
    their terminals, read back through a terminal emulator.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.endpoint = MemoryEndpoint(ChatFactory(ChatHub(), self.clock))

    def _flush(self) -> None:
        for _ in range(10):
            self.endpoint.flush()
            self.clock.advance(0)

    def _person(self, nick: str) -> _Person:
        terminals: list[ChatTerminal] = []

        def console(handler: Any, maxLineLength: int) -> TerminalReader:
            return TerminalReader(handler, maxLineLength, interrupt=lambda: None)

        def attach(session: ChatSession) -> None:
            terminals.append(ChatTerminal(session, console, trackRoom=True))

        connectChat(self.endpoint, nick, clock=self.clock).addCallback(attach)
        self._flush()
        [terminal] = terminals
        reader = terminal.reader
        assert isinstance(reader, TerminalReader)
        screen = _Screen(50, 8)
        server = TerminalServer(reader)
        reader.terminalSize(50, 8)
        server.makeConnection(screen.transport)
        self._flush()
        return _Person(terminal, server, screen)

    def test_conversation(self) -> None:
        """
        What bob says arrives above alice's half-typed line, which stays
        intact at her prompt, the mention of her emphasised; Enter then
        says the whole line; Tab completes bob's nickname; the prompt
        follows her to another room.
        """
        alice = self._person("alice")
        bob = self._person("bob")
        alice.keys.dataReceived(b"half a li")
        bob.keys.dataReceived("hi alice, café?\r".encode())
        self._flush()
        rows = alice.screen.read()
        self.assertEqual(
            rows[-3:],
            [
                "*** bob joined #lobby",
                "[#lobby] <bob> hi alice, café?",
                "[#lobby] alice> half a li",
            ],
        )
        self.assertEqual(alice.screen.cursor, (25, 7))
        self.assertTrue(alice.screen.emulator.buffer[6][0].bold)
        alice.keys.dataReceived(b"ne\r")
        self._flush()
        self.assertEqual(
            bob.screen.read()[-2:], ["[#lobby] <alice> half a line", "[#lobby] bob>"]
        )
        alice.keys.dataReceived(b"b\tthanks\r")
        self._flush()
        self.assertEqual(bob.screen.read()[-2], "[#lobby] <alice> bob: thanks")
        alice.keys.dataReceived(b"/jo\t#dev\r")
        self._flush()
        self.assertEqual(alice.screen.read()[-1], "[#dev] alice>")

    def test_private(self) -> None:
        """
        A private message stands out on its recipient's screen.
        """
        alice = self._person("alice")
        bob = self._person("bob")
        bob.keys.dataReceived(b"/msg alice psst\r")
        self._flush()
        self.assertEqual(alice.screen.read()[-2], "<- bob: psst")
        cell = alice.screen.emulator.buffer[6][0]
        self.assertEqual((cell.bold, cell.fg), (True, "magenta"))

    def test_quit(self) -> None:
        """
        Ctrl-D on an empty line quits, as C{/quit} does.
        """
        alice = self._person("alice")
        bob = self._person("bob")
        alice.keys.dataReceived(b"\x04")
        self._flush()
        self.successResultOf(alice.terminal.done)
        self.assertEqual(bob.screen.read()[-2], "*** alice quit")
