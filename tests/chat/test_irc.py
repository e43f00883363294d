"""
Tests for L{netlab.chat._irc}: IRC users in the chat, driven over
L{StringTransport}s beside line-protocol users of the same hub.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab.chat import ChatFactory, ChatHub, ChatLimits, IChatParticipant
from netlab.chat._irc import IRCFactory, IRCProtocol, ircRefusalLine
from netlab.chat._server import ChatProtocol
from netlab.policies import IDrainable


class _Peer:
    """
    One connection to the hub, and what it has been sent.
    """

    def __init__(self, protocol: ChatProtocol, clock: Clock) -> None:
        self.protocol = protocol
        self.clock = clock
        self.transport = StringTransport()
        protocol.makeConnection(self.transport)

    def send(self, *lines: str | bytes) -> None:
        """
        Send lines, each ended with CR LF, and let the output go out.
        """
        data = b"".join(
            (line if isinstance(line, bytes) else line.encode("utf-8")) + b"\r\n"
            for line in lines
        )
        self.protocol.dataReceived(data)
        self.clock.advance(0)

    def lines(self) -> list[str]:
        """
        @return: the lines received since the last call, without CR LF.
        """
        self.clock.advance(0)
        data = self.transport.value()
        self.transport.clear()
        return [line for line in data.decode("utf-8").split("\r\n") if line]


class IRCTestCase(SynchronousTestCase):
    """
    A hub with an IRC factory and a line-protocol factory.
    """

    limits = ChatLimits(lineRate=0)

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.hub = ChatHub()
        self.irc = IRCFactory(self.hub, self.clock, self.limits, pingInterval=90)
        self.line = ChatFactory(self.hub, self.clock, self.limits)

    def ircUser(self, nick: str, join: str = "") -> _Peer:
        """
        @return: an IRC user registered as C{nick} (and in C{join}, if
            given), what it was sent so far forgotten.
        """
        peer = _Peer(self.irc.buildProtocol(None), self.clock)
        peer.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        if join:
            peer.send(f"JOIN {join}")
        peer.lines()
        return peer

    def lineUser(self, nick: str) -> _Peer:
        """
        @return: a line-protocol user registered as C{nick} (in the
            default room), what it was sent so far forgotten.
        """
        peer = _Peer(self.line.buildProtocol(None), self.clock)
        peer.send(nick)
        peer.lines()
        return peer

    def numerics(self, lines: list[str]) -> list[str]:
        """
        @return: the numeric codes among C{lines}.
        """
        codes = []
        for line in lines:
            words = line.split(" ")
            if len(words) > 1 and words[1].isdigit():
                codes.append(words[1])
        return codes


class InterfaceTests(IRCTestCase):
    """
    An IRC connection is a chat participant the guard can drain.
    """

    def test_provides(self) -> None:
        """
        L{IRCProtocol} provides L{IChatParticipant} and L{IDrainable}.
        """
        protocol = self.irc.buildProtocol(None)
        self.assertIsInstance(protocol, IRCProtocol)
        self.assertTrue(verifyObject(IChatParticipant, protocol))
        self.assertTrue(verifyObject(IDrainable, protocol))


class RegistrationTests(IRCTestCase):
    """
    Registration as IRC clients expect it.
    """

    def test_welcome(self) -> None:
        """
        C{NICK} and C{USER}, in either order, get C{001} to C{005} and the
        message of the day; the user is in no room.
        """
        for first, second in (
            ("NICK alice", "USER a 0 * :A"),
            ("USER b 0 * :B", "NICK bob"),
        ):
            peer = _Peer(self.irc.buildProtocol(None), self.clock)
            self.assertEqual(peer.lines(), [])
            peer.send(first)
            self.assertEqual(peer.lines(), [])
            peer.send(second)
            lines = peer.lines()
            self.assertEqual(
                self.numerics(lines),
                [
                    "001",
                    "002",
                    "003",
                    "004",
                    "005",
                    "375",
                    "372",
                    "372",
                    "372",
                    "372",
                    "376",
                ],
            )
        self.assertEqual(self.hub.roomsOf(peer.protocol), [])
        self.assertEqual(self.hub.nickOf(peer.protocol), "bob")

    def test_isupport(self) -> None:
        """
        C{005} says what an IRC client needs to know of netlab's names.
        """
        peer = _Peer(self.irc.buildProtocol(None), self.clock)
        peer.send("NICK alice", "USER a 0 * :A")
        (isupport,) = [line for line in peer.lines() if " 005 " in line]
        for token in (
            "CHANTYPES=#",
            "NICKLEN=16",
            "CHANNELLEN=32",
            "CASEMAPPING=ascii",
            "NETWORK=netlab",
        ):
            self.assertIn(f" {token} ", isupport)

    def test_capabilities(self) -> None:
        """
        C{CAP LS} is answered with no capabilities and holds registration
        until C{CAP END}; a capability asked for is refused; C{PASS} is
        ignored.
        """
        peer = _Peer(self.irc.buildProtocol(None), self.clock)
        peer.send("CAP LS 302", "PASS secret", "NICK alice", "USER a 0 * :A")
        self.assertEqual(peer.lines(), [":netlab CAP * LS :"])
        peer.send("CAP REQ :multi-prefix")
        self.assertEqual(peer.lines(), [":netlab CAP alice NAK :multi-prefix"])
        peer.send("CAP END")
        self.assertIn("001", self.numerics(peer.lines()))

    def test_nickInUseByEitherProtocol(self) -> None:
        """
        A nickname held by a line-protocol user, in any case, gets C{433};
        the client may then choose another.
        """
        self.lineUser("Alice")
        peer = _Peer(self.irc.buildProtocol(None), self.clock)
        peer.send("NICK alice", "USER a 0 * :A")
        self.assertEqual(
            peer.lines(), [":netlab 433 * alice :Nickname is already in use"]
        )
        peer.send("NICK alice_")
        self.assertIn("001", self.numerics(peer.lines()))

    def test_lineUserRefusedIRCNick(self) -> None:
        """
        A line-protocol user cannot take an IRC user's nickname.
        """
        self.ircUser("alice")
        peer = _Peer(self.line.buildProtocol(None), self.clock)
        peer.lines()
        peer.send("ALICE")
        self.assertEqual(
            peer.lines(), ["ERR nick nick-taken ALICE is taken; choose another"]
        )

    def test_invalidNick(self) -> None:
        """
        A nickname outside netlab's rules (C{bob|away}) gets C{432}.
        """
        peer = _Peer(self.irc.buildProtocol(None), self.clock)
        peer.send("NICK bob|away")
        (line,) = peer.lines()
        self.assertTrue(line.startswith(":netlab 432 * bob|away :"), line)

    def test_commandsBeforeRegistering(self) -> None:
        """
        Before registering, other commands get C{451}.
        """
        peer = _Peer(self.irc.buildProtocol(None), self.clock)
        peer.send("JOIN #lobby")
        self.assertEqual(peer.lines(), [":netlab 451 * :You have not registered"])

    def test_registrationTimeout(self) -> None:
        """
        A connection that does not register in time is closed with an
        C{ERROR} line.
        """
        peer = _Peer(self.irc.buildProtocol(None), self.clock)
        self.clock.advance(self.limits.registrationTimeout)
        lines = peer.lines()
        self.assertTrue(lines[-1].startswith("ERROR :Closing link: no nickname"), lines)
        self.assertTrue(peer.transport.disconnecting)

    def test_reregister(self) -> None:
        """
        A second C{USER} gets C{462}.
        """
        peer = self.ircUser("alice")
        peer.send("USER a 0 * :A")
        self.assertEqual(self.numerics(peer.lines()), ["462"])


class ChannelTests(IRCTestCase):
    """
    IRC users join several rooms, and share them with line-protocol users.
    """

    def test_join(self) -> None:
        """
        C{JOIN} of several rooms: each answers with the user's C{JOIN},
        C{331}, C{NAMES}, and the room's history between two notices;
        line-protocol users there hear the C{JOIN}.
        """
        bob = self.lineUser("bob")
        bob.send("hello")
        alice = self.ircUser("alice")
        alice.send("JOIN #lobby,#dev")
        self.assertEqual(
            alice.lines(),
            [
                ":alice!alice@netlab JOIN #lobby",
                ":netlab 331 alice #lobby :No topic is set",
                ":netlab 353 alice = #lobby :alice bob",
                ":netlab 366 alice #lobby :End of /NAMES list",
                ":netlab NOTICE #lobby :-- history of #lobby --",
                ":bob!bob@netlab PRIVMSG #lobby :hello",
                ":netlab NOTICE #lobby :-- end of history --",
                ":alice!alice@netlab JOIN #dev",
                ":netlab 331 alice #dev :No topic is set",
                ":netlab 353 alice = #dev :alice",
                ":netlab 366 alice #dev :End of /NAMES list",
            ],
        )
        self.assertEqual(bob.lines(), ["JOIN #lobby alice"])
        self.assertEqual(self.hub.roomsOf(alice.protocol), ["#lobby", "#dev"])

    def test_joinAgain(self) -> None:
        """
        Joining a room one is in sends nothing.
        """
        alice = self.ircUser("alice", "#lobby")
        alice.send("JOIN #LOBBY")
        self.assertEqual(alice.lines(), [])

    def test_joinInvalid(self) -> None:
        """
        A room name outside netlab's rules gets C{403}.
        """
        alice = self.ircUser("alice")
        alice.send("JOIN #bad.name")
        self.assertEqual(self.numerics(alice.lines()), ["403"])

    def test_tooManyRooms(self) -> None:
        """
        Past the hub's room limit (advertised as C{CHANLIMIT}), a C{JOIN}
        gets C{405}.
        """
        self.hub.roomLimit = 2
        peer = _Peer(self.irc.buildProtocol(None), self.clock)
        peer.send("NICK alice", "USER a 0 * :A")
        self.assertIn(" CHANLIMIT=#:2 ", " ".join(peer.lines()))
        peer.send("JOIN #a,#b,#c")
        self.assertEqual(self.numerics(peer.lines())[-1], "405")
        self.assertEqual(self.hub.roomsOf(peer.protocol), ["#a", "#b"])

    def test_echoedWordsStayWords(self) -> None:
        """
        What a client sent, echoed in a reply as a middle parameter, is
        written as C{*} when it is not one clean word, so that it cannot
        be read as more parameters.
        """
        alice = self.ircUser("alice")
        alice.send("JOIN :#a b", "NICK :\x1b[2Jx y")
        lines = alice.lines()
        self.assertTrue(lines[0].startswith(":netlab 403 alice * :"), lines)
        self.assertTrue(lines[1].startswith(":netlab 432 alice * :"), lines)

    def test_joinZero(self) -> None:
        """
        C{JOIN 0} leaves every room.
        """
        alice = self.ircUser("alice", "#a,#b")
        alice.send("JOIN 0")
        self.assertEqual(
            alice.lines(),
            [":alice!alice@netlab PART #a :", ":alice!alice@netlab PART #b :"],
        )

    def test_part(self) -> None:
        """
        C{PART} leaves the rooms named; line-protocol users hear it; a
        room one is not in gets C{442}.
        """
        bob = self.lineUser("bob")
        alice = self.ircUser("alice", "#lobby,#dev")
        bob.lines()
        alice.send("PART #lobby :see you", "PART #nowhere")
        self.assertEqual(
            alice.lines(),
            [
                ":alice!alice@netlab PART #lobby :see you",
                ":netlab 442 alice #nowhere :You're not on that channel",
            ],
        )
        self.assertEqual(bob.lines(), ["PART #lobby alice see you"])

    def test_lineUserMovesIRCUserStays(self) -> None:
        """
        A line-protocol user's C{/join} still moves it (it leaves its
        room), while IRC users keep all theirs.
        """
        bob = self.lineUser("bob")
        alice = self.ircUser("alice", "#lobby,#dev")
        bob.send("/join #dev")
        self.assertEqual(
            alice.lines(),
            [
                ":bob!bob@netlab PART #lobby :joined #dev",
                ":bob!bob@netlab JOIN #dev",
            ],
        )
        self.assertEqual(self.hub.roomsOf(bob.protocol), ["#dev"])


class MessageTests(IRCTestCase):
    """
    Messages between IRC and line-protocol users.
    """

    def setUp(self) -> None:
        super().setUp()
        self.bob = self.lineUser("bob")
        self.alice = self.ircUser("alice", "#lobby")
        self.bob.lines()

    def test_ircToLine(self) -> None:
        """
        An IRC user's C{PRIVMSG} to a room reaches line-protocol users as
        C{MSG}; the sender gets no echo.
        """
        self.alice.send("PRIVMSG #lobby :hi bob")
        self.assertEqual(self.bob.lines(), ["MSG #lobby alice hi bob"])
        self.assertEqual(self.alice.lines(), [])

    def test_lineToIRC(self) -> None:
        """
        A line-protocol user's line reaches IRC users as C{PRIVMSG}.
        """
        self.bob.send("hi alice")
        self.assertEqual(
            self.alice.lines(), [":bob!bob@netlab PRIVMSG #lobby :hi alice"]
        )

    def test_actionsBothWays(self) -> None:
        """
        CTCP C{ACTION} is C{ACT} for line-protocol users, and C{/me} is
        CTCP C{ACTION} for IRC users.
        """
        self.alice.send("PRIVMSG #lobby :\x01ACTION waves\x01")
        self.assertEqual(self.bob.lines(), ["ACT #lobby alice waves"])
        self.bob.send("/me bows")
        self.assertEqual(
            self.alice.lines(), [":bob!bob@netlab PRIVMSG #lobby :\x01ACTION bows\x01"]
        )

    def test_privateBothWays(self) -> None:
        """
        C{PRIVMSG} to a nick is a private message, both ways; an action to
        a nick reads as one.
        """
        self.alice.send("PRIVMSG Bob :psst")
        self.assertEqual(self.bob.lines(), ["PRIV alice bob psst"])
        self.bob.send("/msg alice hello")
        self.assertEqual(self.alice.lines(), [":bob!bob@netlab PRIVMSG alice :hello"])
        self.bob.lines()
        self.alice.send("PRIVMSG bob :\x01ACTION nods\x01")
        self.assertEqual(self.bob.lines(), ["PRIV alice bob * alice nods"])

    def test_noticeToRoom(self) -> None:
        """
        A C{NOTICE} to a room is said there.
        """
        self.alice.send("NOTICE #lobby :heads up")
        self.assertEqual(self.bob.lines(), ["MSG #lobby alice heads up"])

    def test_errors(self) -> None:
        """
        No such nick: C{401}; a room one is not in: C{404}; no recipient:
        C{411}; no text: C{412}.  A C{NOTICE} is never answered so.
        """
        self.alice.send(
            "PRIVMSG carol :hi",
            "PRIVMSG #dev :hi",
            "PRIVMSG",
            "PRIVMSG #lobby",
            "NOTICE carol :hi",
            "NOTICE #dev :x",
        )
        self.assertEqual(
            self.numerics(self.alice.lines()), ["401", "404", "411", "412"]
        )

    def test_tooManyTargets(self) -> None:
        """
        Targets past the fourth get C{407}; the first four get the message.
        """
        self.alice.send("PRIVMSG bob,bob,bob,bob,carol,dave :hi")
        self.assertEqual(
            self.alice.lines(),
            [
                ":netlab 407 alice carol :Too many targets",
                ":netlab 407 alice dave :Too many targets",
            ],
        )
        self.assertEqual(len(self.bob.lines()), 4)

    def test_longReasonsFitTheLine(self) -> None:
        """
        A line-protocol user's long part or quit reason reaches IRC users
        in one line of at most 512 bytes, so that nothing after the cut
        can read as another line.
        """
        forged = " " + "x" * 480 + " :bob!bob@netlab PRIVMSG #lobby :not bob"
        self.bob.send("/part" + forged)
        self.bob.send("/join #lobby")
        self.bob.send("/quit" + forged)
        self.clock.advance(0)
        lines = self.alice.transport.value().split(b"\r\n")[:-1]
        self.assertEqual(
            [line.split(b" ")[1] for line in lines], [b"PART", b"JOIN", b"QUIT"]
        )
        for line in lines:
            self.assertLessEqual(len(line) + 2, 512, line)
            self.assertNotIn(b"not bob", line)

    def test_otherCTCPNotRelayed(self) -> None:
        """
        CTCP requests other than C{ACTION} go nowhere.
        """
        self.alice.send("PRIVMSG bob :\x01VERSION\x01")
        self.assertEqual(self.bob.lines(), [])

    def test_formattingCodes(self) -> None:
        """
        IRC's formatting codes pass to IRC users and are taken out for
        line-protocol users; other control characters are made harmless
        for everyone.
        """
        carol = self.ircUser("carol", "#lobby")
        self.alice.lines()
        self.bob.lines()
        carol.send("PRIVMSG #lobby :\x02bold\x02 \x0304red\x03 \x1b[2J")
        self.assertEqual(self.bob.lines(), ["MSG #lobby carol bold red \ufffd[2J"])
        self.assertEqual(
            self.alice.lines(),
            [
                ":carol!carol@netlab PRIVMSG #lobby "
                ":\x02bold\x02 \x0304red\x03 \ufffd[2J"
            ],
        )

    def test_longLineSplit(self) -> None:
        """
        A line-protocol user's long line reaches IRC users in as many
        messages as IRC's 512-byte lines need, at spaces, nothing lost.
        """
        text = " ".join(["wordé"] * 140)  # 979 bytes
        self.bob.send(f"{text}")
        lines = self.alice.lines()
        self.assertGreater(len(lines), 2)
        prefix = ":bob!bob@netlab PRIVMSG #lobby :"
        pieces = []
        for line in lines:
            self.assertLessEqual(len(line.encode("utf-8")) + 2, 512)
            self.assertTrue(line.startswith(prefix))
            pieces.append(line[len(prefix) :])
        self.assertEqual(" ".join(pieces), text)

    def test_splitUTF8AcrossSegments(self) -> None:
        """
        A character split between two TCP segments arrives whole; bytes
        that are not UTF-8 are read as Latin-1; the connection stays.
        """
        data = "PRIVMSG #lobby :café\r\n".encode()
        self.alice.protocol.dataReceived(data[:20])
        self.alice.protocol.dataReceived(data[20:])
        self.alice.send(b"PRIVMSG #lobby :caf\xe9")
        self.assertEqual(
            self.bob.lines(), ["MSG #lobby alice café", "MSG #lobby alice café"]
        )
        self.assertFalse(self.alice.transport.disconnecting)

    def test_inputTooLong(self) -> None:
        """
        A line over 512 bytes gets C{417} and is dropped; the connection
        stays.
        """
        self.alice.send("PRIVMSG #lobby :" + "x" * 600, "PRIVMSG #lobby :after")
        self.assertEqual(self.numerics(self.alice.lines()), ["417"])
        self.assertEqual(self.bob.lines(), ["MSG #lobby alice after"])

    def test_nickChange(self) -> None:
        """
        C{NICK} renames; line-protocol users hear C{NICK}, the user its own
        C{NICK} message; a line-protocol user's rename reaches IRC users.
        """
        self.alice.send("NICK alicia")
        self.assertEqual(self.alice.lines(), [":alice!alice@netlab NICK :alicia"])
        self.assertEqual(self.bob.lines(), ["NICK alice alicia"])
        self.bob.send("/nick robert")
        self.assertEqual(self.alice.lines(), [":bob!bob@netlab NICK :robert"])

    def test_quitAfterRename(self) -> None:
        """
        The C{ERROR} line of a C{QUIT} names the nickname the user had
        last.
        """
        self.alice.send("NICK alicia", "QUIT")
        self.assertEqual(self.alice.lines()[-1], "ERROR :Closing link: alicia (Quit: )")

    def test_quit(self) -> None:
        """
        C{QUIT} closes with an C{ERROR} line; the others hear C{QUIT}, and
        the nickname is free.
        """
        self.alice.send("QUIT :gone fishing")
        self.assertEqual(
            self.alice.lines(), ["ERROR :Closing link: alice (Quit: gone fishing)"]
        )
        self.assertTrue(self.alice.transport.disconnecting)
        self.assertEqual(self.bob.lines(), ["QUIT alice gone fishing"])
        self.assertIsNone(self.hub.whois("alice"))

    def test_lineUserQuits(self) -> None:
        """
        A line-protocol user who goes is seen to C{QUIT} by IRC users.
        """
        self.bob.protocol.connectionLost()
        self.assertEqual(
            self.alice.lines(), [":bob!bob@netlab QUIT :connection closed"]
        )


class QueryTests(IRCTestCase):
    """
    C{NAMES}, C{WHO}, C{WHOIS}, C{LIST}, C{TOPIC}, C{MODE} and others:
    answered as clients expect, with no address anywhere.
    """

    def setUp(self) -> None:
        super().setUp()
        self.bob = self.lineUser("bob")
        self.alice = self.ircUser("alice", "#lobby,#dev")

    def test_names(self) -> None:
        """
        C{NAMES} of a room lists its nicknames (C{353}, C{366}).
        """
        self.alice.send("NAMES #lobby")
        self.assertEqual(
            self.alice.lines(),
            [
                ":netlab 353 alice = #lobby :alice bob",
                ":netlab 366 alice #lobby :End of /NAMES list",
            ],
        )

    def test_namesSplit(self) -> None:
        """
        A room with more names than one line holds gets several C{353}s.
        """
        for n in range(60):
            self.lineUser(f"user{n:02d}_padding")
        self.alice.lines()
        self.alice.send("NAMES #lobby")
        lines = self.alice.lines()
        self.assertEqual(self.numerics(lines)[-1], "366")
        self.assertGreater(len(lines), 2)
        names = " ".join(line.split(" :", 1)[1] for line in lines[:-1]).split()
        self.assertEqual(len(names), 62)
        for line in lines:
            self.assertLessEqual(len(line.encode()) + 2, 512)

    def test_who(self) -> None:
        """
        C{WHO} of a room (C{352}, C{315}) shows no address.
        """
        self.alice.send("WHO #lobby", "WHO bob")
        self.assertEqual(
            self.alice.lines(),
            [
                ":netlab 352 alice #lobby alice netlab netlab alice H :0 alice",
                ":netlab 352 alice #lobby bob netlab netlab bob H :0 bob",
                ":netlab 315 alice #lobby :End of /WHO list",
                ":netlab 352 alice #lobby bob netlab netlab bob H :0 bob",
                ":netlab 315 alice bob :End of /WHO list",
            ],
        )

    def test_whois(self) -> None:
        """
        C{WHOIS} gives C{311}, C{319}, C{312} and C{318}; an unknown nick
        C{401} and C{318}.
        """
        self.alice.send("WHOIS bob", "WHOIS nobody")
        self.assertEqual(
            self.numerics(self.alice.lines()),
            ["311", "319", "312", "318", "401", "318"],
        )

    def test_list(self) -> None:
        """
        C{LIST} gives every room with its count (C{321}, C{322}, C{323}).
        """
        self.alice.send("LIST")
        self.assertEqual(
            self.alice.lines(),
            [
                ":netlab 321 alice Channel :Users  Name",
                ":netlab 322 alice #dev 1 :",
                ":netlab 322 alice #lobby 2 :",
                ":netlab 323 alice :End of /LIST",
            ],
        )

    def test_topicAndMode(self) -> None:
        """
        There are no topics or modes: C{TOPIC} gets C{331}, setting one
        C{482}; C{MODE} of a room C{324}, its ban list C{368}, of oneself
        C{221}, of another C{502}.
        """
        self.alice.send(
            "TOPIC #lobby",
            "TOPIC #lobby :new",
            "MODE #lobby",
            "MODE #lobby b",
            "MODE alice +i",
            "MODE bob",
        )
        self.assertEqual(
            self.numerics(self.alice.lines()),
            ["331", "482", "324", "368", "221", "502"],
        )

    def test_userhostIsonAway(self) -> None:
        """
        C{USERHOST}, C{ISON} and C{AWAY} get their usual replies.
        """
        self.alice.send(
            "USERHOST bob nobody", "ISON bob nobody alice", "AWAY :lunch", "AWAY"
        )
        self.assertEqual(
            self.alice.lines(),
            [
                ":netlab 302 alice :bob=+bob@netlab",
                ":netlab 303 alice :bob alice",
                ":netlab 306 alice :You have been marked as being away",
                ":netlab 305 alice :You are no longer marked as being away",
            ],
        )

    def test_unknown(self) -> None:
        """
        Anything else gets C{421}.
        """
        self.alice.send("FROB x")
        self.assertEqual(
            self.alice.lines(), [":netlab 421 alice FROB :Unknown command"]
        )


class PingTests(IRCTestCase):
    """
    C{PING} and C{PONG} both ways, with a timeout for dead clients.
    """

    limits = ChatLimits(lineRate=0, idleTimeout=300)

    def test_clientPing(self) -> None:
        """
        A client's C{PING} gets a C{PONG} with its token.
        """
        alice = self.ircUser("alice")
        alice.send("PING :abc")
        self.assertEqual(alice.lines(), [":netlab PONG netlab :abc"])

    def test_serverPings(self) -> None:
        """
        After an interval of silence the server sends C{PING}; a client
        silent for twice the interval is disconnected with C{ERROR}.
        """
        alice = self.ircUser("alice")
        self.clock.advance(90)
        self.assertEqual(alice.lines(), ["PING :netlab"])
        self.clock.advance(89)
        self.assertEqual(alice.lines(), [])
        self.clock.advance(1)
        lines = alice.lines()
        self.assertEqual(lines[-1], "ERROR :Closing link: Ping timeout: 180 seconds")
        self.assertTrue(alice.transport.disconnecting)

    def test_pongKeepsTheConnection(self) -> None:
        """
        A C{PONG} keeps the connection open against the ping timeout.
        """
        alice = self.ircUser("alice")
        for _ in range(3):
            self.clock.advance(90)
            self.assertEqual(alice.lines(), ["PING :netlab"])
            alice.send("PONG :netlab")
        self.assertFalse(alice.transport.disconnecting)

    def test_pongIsNotActivity(self) -> None:
        """
        C{PONG}s do not count as lines for chat's C{--idle-timeout}: a
        client that only answers pings is idle.
        """
        alice = self.ircUser("alice")
        for _ in range(3):
            self.clock.advance(90)
            alice.send("PONG :netlab")
        self.clock.advance(30)
        self.assertTrue(alice.transport.disconnecting)

    def test_anyLineIsHeard(self) -> None:
        """
        Any line from the client puts the next C{PING} off.
        """
        alice = self.ircUser("alice")
        self.clock.advance(60)
        alice.send("LIST")
        alice.lines()
        self.clock.advance(60)
        self.assertEqual(alice.lines(), [])
        self.clock.advance(30)
        self.assertEqual(alice.lines(), ["PING :netlab"])

    def test_noPings(self) -> None:
        """
        With an interval of 0 the server never pings.
        """
        self.irc = IRCFactory(self.hub, self.clock, ChatLimits(), pingInterval=0)
        alice = self.ircUser("alice")
        self.clock.advance(10000)
        self.assertFalse(alice.transport.disconnecting)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        alice.protocol.connectionLost()


class DrainTests(IRCTestCase):
    """
    Shutdown and the other ways the server closes an IRC connection.
    """

    def test_disconnect(self) -> None:
        """
        Drained, the client is told why in a C{NOTICE} and an C{ERROR}.
        """
        alice = self.ircUser("alice")
        alice.protocol.disconnect("the server is shutting down; goodbye")
        self.assertEqual(
            alice.lines(),
            [
                ":netlab NOTICE alice :the server is shutting down; goodbye",
                "ERROR :Closing link: the server is shutting down; goodbye",
            ],
        )
        self.assertTrue(alice.transport.disconnecting)

    def test_lostCancelsTimers(self) -> None:
        """
        A lost connection leaves no timer behind.
        """
        alice = self.ircUser("alice")
        alice.protocol.connectionLost()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_slowConsumer(self) -> None:
        """
        An IRC client that does not read is cut with an C{ERROR} line.
        """
        limits = ChatLimits(lineRate=0, backlogHard=1000)
        self.irc = IRCFactory(self.hub, self.clock, limits)
        alice = self.ircUser("alice", "#lobby")
        bob = self.lineUser("bob")
        alice.protocol.pauseProducing()
        for _ in range(30):
            bob.send("x" * 100)
        self.assertIn(
            b"ERROR :Closing link: you did not read fast enough (backlog)\r\n",
            alice.transport.value(),
        )
        self.assertIsNone(self.hub.nickOf(alice.protocol))

    def test_refusalLine(self) -> None:
        """
        A connection the guard refuses is told in an C{ERROR} line.
        """
        self.assertEqual(
            ircRefusalLine("max-connections", "too many"),
            b"ERROR :Closing link: too many (max-connections)\r\n",
        )


class FloodTests(IRCTestCase):
    """
    The line protocol's flood limit holds for IRC users: lines past the
    burst wait, none is dropped.
    """

    limits = ChatLimits(lineRate=2, lineBurst=3)

    def test_linesPastTheBurstWait(self) -> None:
        """
        Past the burst, an IRC user's lines are handled at the line rate,
        in order, and reading pauses meanwhile.
        """
        bob = self.lineUser("bob")
        alice = self.ircUser("alice", "#lobby")
        bob.lines()
        self.clock.advance(10)
        alice.send(*[f"PRIVMSG #lobby :line {n}" for n in range(6)])
        self.assertEqual(len(bob.lines()), 3)
        self.assertEqual(alice.transport.producerState, "paused")
        self.clock.advance(1.5)
        later = bob.lines()
        self.clock.advance(1.5)
        later += bob.lines()
        self.assertEqual(later, [f"MSG #lobby alice line {n}" for n in range(3, 6)])
        self.assertEqual(alice.transport.producerState, "producing")
