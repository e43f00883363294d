"""
Tests for L{netlab.chat._bus}: chat nodes made one chat over a Redis in
memory (L{tests.chat._fakeredis}), with the hub's own participants.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab.chat._bus import (
    BLOCK_MS,
    DEFAULT_NODE_TIMEOUT,
    FIRST_CONNECT_WAIT,
    READ_COUNT,
    BusService,
    ChatBus,
    RemoteParticipant,
    decodeEntry,
)
from netlab.chat._hub import ChatHub, IChatParticipant
from netlab.chat._redis import parseBusAddress
from netlab.chat._wire import (
    Error,
    History,
    Joined,
    NickChanged,
    Notice,
    PrivateMessage,
    Quit,
    RoomMessage,
)
from netlab.errors import ChatError
from tests.chat._fakeredis import ConnectionLost, FakeRedis, FakeRedisServer
from tests.chat.test_hub import RecordingParticipant


class Node:
    """
    One chat node: a hub, its bus, and its two connections to the fake.
    """

    def __init__(
        self,
        server: FakeRedisServer,
        name: str,
        pendingLimit: int = 1000,
        streamCap: int = 10000,
        burstLimit: int = 10000,
    ) -> None:
        self.server = server
        self.hub = ChatHub()
        self.bus = ChatBus(
            self.hub,
            server.clock,
            name,
            pendingLimit=pendingLimit,
            streamCap=streamCap,
            burstLimit=burstLimit,
        )
        self.attach()

    def attach(self) -> None:
        self.commands: FakeRedis = self.server.connect()
        self.reader: FakeRedis = self.server.connect()
        self.bus.attach(self.commands, self.reader)
        self.server.clock.advance(0)

    def cut(self) -> None:
        self.commands.disconnect()
        self.reader.disconnect()
        self.bus.detach()

    def user(self, nick: str) -> RecordingParticipant:
        participant = RecordingParticipant(nick)
        claimed = self.hub.claimNick(participant, nick)
        claimed.addCallback(lambda _: self.hub.register(participant, nick))
        self.server.clock.advance(0)
        return participant


class BusTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.server = FakeRedisServer(self.clock)
        self.a = Node(self.server, "a")
        self.b = Node(self.server, "b")

    def pump(self, seconds: float) -> None:
        """
        Let C{seconds} pass, a second at a time, as a real clock would.
        """
        for _ in range(int(seconds)):
            self.clock.advance(1)

    def settle(self) -> None:
        self.clock.advance(0)
        self.clock.advance(0)


class DecodeTests(SynchronousTestCase):
    def test_numbersStayText(self) -> None:
        """
        A line that reads as a number (C{42}, C{1.50}) comes back as the
        text it was: the bus reads bytes, never numbers.
        """
        fields = [b"v", b"1", b"k", b"say", b"node", b"a", b"nick", b"bob"]
        fields += [b"room", b"#lobby", b"text", b"1.50", b"act", b"0"]
        entry = decodeEntry(fields)
        assert entry is not None
        self.assertEqual(entry["text"], "1.50")

    def test_badEntries(self) -> None:
        """
        Entries of another format, of an unknown kind, with a field
        missing, not UTF-8, or with an odd number of fields are not read.
        """
        good = [b"v", b"1", b"k", b"quit", b"node", b"a", b"nick", b"bob"]
        good += [b"reason", b""]
        self.assertIsNotNone(decodeEntry(good))
        self.assertIsNone(decodeEntry([b"v", b"2", *good[2:]]))
        self.assertIsNone(decodeEntry([b"v", b"1", b"k", b"dance", *good[4:]]))
        self.assertIsNone(decodeEntry(good[:-2]))
        self.assertIsNone(decodeEntry([*good[:-1], b"\xff"]))
        self.assertIsNone(decodeEntry(good[:-1]))

    def test_namesThatAreNotNames(self) -> None:
        """
        An entry whose nickname, new nickname, recipient, room or node is
        not one this server lets a user take (a line break in it would
        forge a line to every client) is not read; control characters in
        its text and reasons are replaced, IRC's formatting codes kept.
        """
        say = [b"v", b"1", b"k", b"say", b"node", b"a", b"nick", b"bob"]
        say += [b"room", b"#lobby", b"text", b"hi", b"act", b"0"]
        self.assertIsNotNone(decodeEntry(say))
        forged = b"evil\r\nOK nick root"
        self.assertIsNone(decodeEntry([*say[:7], forged, *say[8:]]))
        self.assertIsNone(decodeEntry([*say[:9], b"lobby x", *say[10:]]))
        self.assertIsNone(decodeEntry([*say[:5], b"a b", *say[6:]]))
        priv = [b"v", b"1", b"k", b"priv", b"node", b"a", b"nick", b"bob"]
        priv += [b"to", b"x alice", b"text", b"t"]
        self.assertIsNone(decodeEntry(priv))
        nick = [b"v", b"1", b"k", b"nick", b"node", b"a", b"nick", b"bob"]
        self.assertIsNone(decodeEntry([*nick, b"new", b"b\nc"]))
        entry = decodeEntry([*say[:11], b"\x1b[2Jbold \x02x\x02\r\n", *say[12:]])
        assert entry is not None
        self.assertEqual(entry["text"], "\ufffd[2Jbold \x02x\x02\ufffd\ufffd")

    def test_remoteParticipant(self) -> None:
        """
        L{RemoteParticipant} provides L{IChatParticipant}.
        """
        verifyObject(IChatParticipant, RemoteParticipant("a", "bob"))


class CrossNodeTests(BusTestCase):
    def test_lineReachesOtherNode(self) -> None:
        """
        A line said on one node reaches the room's members on the other,
        and the sender's neighbours on its own, once each.
        """
        alice = self.a.user("alice")
        carol = self.a.user("carol")
        bob = self.b.user("bob")
        for p in (alice, carol, bob):
            p.clear()
        self.a.hub.say(alice, "hello")
        self.settle()
        said = RoomMessage("#lobby", "alice", "hello")
        self.assertEqual(bob.events(), [said])
        self.assertEqual(carol.events(), [said])
        self.assertEqual(alice.events(), [])

    def test_ownLinesOnlyFromTheBus(self) -> None:
        """
        A node delivers its own users' lines only as they come back from
        the bus: while its reader is blocked, nobody hears them.
        """
        alice = self.a.user("alice")
        carol = self.a.user("carol")
        carol.clear()
        self.a.hub.say(alice, "one")
        self.assertEqual(carol.events(), [])
        self.settle()
        self.assertEqual(carol.events(), [RoomMessage("#lobby", "alice", "one")])

    def test_oneOrderPerRoom(self) -> None:
        """
        Lines said on two nodes at once reach every member, on both, in one
        order.
        """
        alice = self.a.user("alice")
        carol = self.a.user("carol")
        bob = self.b.user("bob")
        dave = self.b.user("dave")
        for p in (alice, carol, bob, dave):
            p.clear()
        for i in range(5):
            self.a.hub.say(alice, f"a{i}")
            self.b.hub.say(bob, f"b{i}")
        self.settle()
        self.assertEqual(carol.events(), dave.events())
        self.assertEqual(len(carol.events()), 10)
        mine = [e.text for e in dave.events() if isinstance(e, RoomMessage)]
        self.assertEqual([t for t in mine if t[0] == "a"], [f"a{i}" for i in range(5)])

    def test_whoAndRooms(self) -> None:
        """
        C{who} and C{rooms} count the users of every node.
        """
        alice = self.a.user("alice")
        bob = self.b.user("bob")
        self.b.hub.join(bob, "#dev")
        self.settle()
        self.assertEqual(self.a.hub.who(alice, "#dev"), ["bob"])
        self.assertEqual(self.a.hub.who(alice), ["alice"])
        self.assertEqual(dict(self.a.hub.rooms()), {"#lobby": 1, "#dev": 1})
        self.assertEqual(self.a.hub.whois("BOB"), ("bob", ["#dev"]))

    def test_privateMessage(self) -> None:
        """
        A private message reaches its recipient on the other node.
        """
        alice = self.a.user("alice")
        bob = self.b.user("bob")
        bob.clear()
        self.assertEqual(self.a.hub.tell(alice, "BOB", "psst"), "bob")
        self.settle()
        self.assertEqual(bob.events(), [PrivateMessage("alice", "bob", "psst")])

    def test_noticesCross(self) -> None:
        """
        C{JOIN}, C{NICK} and C{QUIT} of a user of one node reach the other.
        """
        alice = self.a.user("alice")
        alice.clear()
        bob = self.b.user("bob")
        self.settle()
        self.assertEqual(alice.events(), [Joined("#lobby", "bob")])
        self.b.hub.claimNick(bob, "robert").addCallback(
            lambda _: self.b.hub.rename(bob, "robert")
        )
        self.settle()
        self.b.hub.quit(bob, "bye")
        self.settle()
        self.assertEqual(alice.events()[-1], Quit("robert", "bye"))
        self.assertIsNone(self.a.hub.whois("robert"))
        self.assertEqual(self.server.hashes[b"netlab:chat:users"].keys(), {b"alice"})

    def test_historyAcrossNodes(self) -> None:
        """
        Whoever joins a room hears its history, whichever node said it, and
        so does a node that starts later.
        """
        alice = self.a.user("alice")
        self.a.hub.say(alice, "early")
        self.settle()
        bob = self.b.user("bob")
        self.assertIn(History(RoomMessage("#lobby", "alice", "early")), bob.events())
        c = Node(self.server, "c")
        carol = c.user("carol")
        self.assertIn(History(RoomMessage("#lobby", "alice", "early")), carol.events())
        self.assertEqual(c.hub.who(carol), ["alice", "bob", "carol"])

    def test_senderRenamedBeforeItsLineCameBack(self) -> None:
        """
        A user who renames before its line comes back from the bus does not
        hear it: the sender is known by the entry, not by the nickname in
        it (which may be another user's by then).
        """
        alice = self.a.user("alice")
        carol = self.a.user("carol")
        self.settle()
        # The next XREAD's reply is held back: the line comes back late.
        self.a.reader.hold = True
        self.clock.advance(BLOCK_MS / 1000)
        alice.clear()
        carol.clear()
        self.a.hub.say(alice, "hi there")
        self.a.hub.claimNick(alice, "al")
        self.a.hub.rename(alice, "al")
        self.a.reader.answer()
        self.settle()
        line = RoomMessage("#lobby", "alice", "hi there")
        self.assertNotIn(line, alice.events())
        self.assertIn(line, carol.events())


class NickClaimTests(BusTestCase):
    def test_uniqueRegardlessOfCase(self) -> None:
        """
        Two users claiming one nickname, in two cases, on two nodes at once:
        exactly one gets it, the other is refused C{nick-taken}.
        """
        one, two = RecordingParticipant("1"), RecordingParticipant("2")
        first = self.a.hub.claimNick(one, "Bob")
        second = self.b.hub.claimNick(two, "bob")
        self.successResultOf(first)
        self.assertEqual(
            self.failureResultOf(second, ChatError).value.code, "nick-taken"
        )

    def test_claimAbandoned(self) -> None:
        """
        A user who quits before its claim is answered never registers, and
        its nickname is given back.
        """
        self.a.commands.hold = True
        one = RecordingParticipant("1")
        pending = self.a.hub.claimNick(one, "bob")
        self.a.hub.quit(one)
        self.a.commands.hold = False
        self.a.commands.answer()
        self.assertEqual(self.failureResultOf(pending, ChatError).value.code, "gone")
        self.settle()
        self.assertNotIn(b"bob", self.server.hashes.get(b"netlab:chat:users", {}))

    def test_withoutRedis(self) -> None:
        """
        Without Redis, claiming a nickname is refused C{bus-unavailable}.
        """
        self.a.cut()
        failure = self.failureResultOf(
            self.a.hub.claimNick(RecordingParticipant(), "bob"), ChatError
        )
        self.assertEqual(failure.value.code, "bus-unavailable")

    def test_beforeFirstConnection(self) -> None:
        """
        A nickname claimed while the node is starting, before it has first
        reached Redis, waits for it: a user who reconnects the moment a
        node starts again is not refused.
        """
        hub = ChatHub()
        bus = ChatBus(hub, self.clock, "c")
        participant = RecordingParticipant()
        claimed = hub.claimNick(participant, "carol")
        self.assertNoResult(claimed)
        bus.attach(self.server.connect(), self.server.connect())
        self.settle()
        self.successResultOf(claimed)
        self.assertIn(b"carol", self.server.hashes[b"netlab:chat:users"])

    def test_firstConnectionTooLate(self) -> None:
        """
        Past L{FIRST_CONNECT_WAIT} seconds without Redis, such a claim is
        refused C{bus-unavailable}, and so is one made as the node stops.
        """
        hub = ChatHub()
        bus = ChatBus(hub, self.clock, "c")
        late = hub.claimNick(RecordingParticipant(), "carol")
        self.clock.advance(FIRST_CONNECT_WAIT)
        self.assertEqual(
            self.failureResultOf(late, ChatError).value.code, "bus-unavailable"
        )
        stopping = hub.claimNick(RecordingParticipant(), "dave")
        bus.stop()
        self.assertEqual(
            self.failureResultOf(stopping, ChatError).value.code, "bus-unavailable"
        )


class CutTests(BusTestCase):
    def test_resumeWithoutDuplicates(self) -> None:
        """
        A node cut off from Redis, back, hears every line said meanwhile,
        in order, none twice; its users are told once of each change.
        """
        alice = self.a.user("alice")
        bob = self.b.user("bob")
        self.a.hub.say(alice, "before")
        self.settle()
        bob.clear()
        self.b.cut()
        for i in range(3):
            self.a.hub.say(alice, f"while {i}")
        self.settle()
        self.b.attach()
        self.settle()
        self.assertEqual(
            bob.events(),
            [
                Notice(
                    "lost the rest of the chat (Redis is unreachable); what "
                    "you say is kept and sent when it is back"
                ),
                Notice("the rest of the chat is back"),
                *[RoomMessage("#lobby", "alice", f"while {i}") for i in range(3)],
            ],
        )
        self.assertEqual(self.b.bus.reconnects, 1)

    def test_cutOutlastedTheStream(self) -> None:
        """
        A node back from a cut longer than the stream keeps tells each of
        its users, in its one C{NOTE} of being back, how many lines of each
        of their rooms were missed, and delivers those the stream still
        has, in order.
        """
        server = FakeRedisServer(self.clock)
        a = Node(server, "a", streamCap=5)
        b = Node(server, "b", streamCap=5)
        alice = a.user("alice")
        bob = b.user("bob")
        b.hub.join(bob, "#dev")
        b.hub.join(bob, "#lobby")
        a.hub.say(alice, "seen")
        self.settle()
        b.cut()
        for i in range(30):
            a.hub.say(alice, f"line {i}")
        self.settle()
        bob.clear()
        b.attach()
        self.settle()
        kept = [e.text for e in bob.events() if isinstance(e, RoomMessage)]
        self.assertEqual(kept, [f"line {i}" for i in range(30 - len(kept), 30)])
        self.assertGreater(len(kept), 0)
        self.assertEqual(
            [e for e in bob.events() if isinstance(e, Notice)],
            [
                Notice(
                    "the rest of the chat is back; lines missed while this "
                    f"server was cut off: {30 - len(kept)} of #lobby"
                )
            ],
        )
        # Counted from there: a second cut within the stream misses none.
        b.cut()
        a.hub.say(alice, "again")
        self.settle()
        bob.clear()
        b.attach()
        self.settle()
        self.assertEqual(
            bob.events(),
            [
                Notice("the rest of the chat is back"),
                RoomMessage("#lobby", "alice", "again"),
            ],
        )

    def test_whoIsWhereAfterTheStream(self) -> None:
        """
        Back from a cut longer than the stream, a node knows who is where
        from Redis's list of users, not from the changes the stream still
        has: a user who quit meanwhile is gone (its nickname free here too),
        one who registered is there, in its rooms, and one who renamed has
        the new name; its users hear each change.
        """
        server = FakeRedisServer(self.clock)
        a = Node(server, "a", streamCap=5)
        b = Node(server, "b", streamCap=5)
        alice = a.user("alice")
        dave = b.user("dave")
        erin = b.user("erin")
        self.settle()
        a.cut()
        b.hub.quit(dave, "bye")
        carol = b.user("carol")
        b.hub.join(carol, "#dev", leaveOthers=False)
        b.hub.claimNick(erin, "Erin")
        b.hub.rename(erin, "Erin")
        for i in range(30):
            b.hub.say(carol, f"line {i}")
        self.settle()
        alice.clear()
        a.attach()
        self.settle()
        self.assertEqual(a.hub.who(alice, "#lobby"), ["alice", "carol", "Erin"])
        self.assertEqual(a.hub.whois("carol"), ("carol", ["#lobby", "#dev"]))
        self.assertIsNone(a.hub.whois("dave"))
        self.assertIn(
            Quit("dave", "left while this server was cut off"), alice.events()
        )
        self.assertIn(Joined("#lobby", "carol"), alice.events())
        self.assertIn(NickChanged("erin", "Erin"), alice.events())
        self.assertEqual(a.bus.skipped, 0)
        newDave = a.user("dave")
        self.assertEqual(a.hub.nickOf(newDave), "dave")

    def test_keptWhileCut(self) -> None:
        """
        Lines said while cut off are kept, in order, and published on
        reconnecting; past the bound, saying is refused C{bus-unavailable}.
        """
        a = Node(self.server, "small", pendingLimit=2)
        alice = a.user("alice")
        bob = self.b.user("bob")
        a.cut()
        a.hub.say(alice, "one")
        a.hub.say(alice, "two")
        with self.assertRaises(ChatError) as e:
            a.hub.say(alice, "three")
        self.assertEqual(e.exception.code, "bus-unavailable")
        bob.clear()
        a.attach()
        self.settle()
        self.assertEqual(
            bob.events(),
            [
                RoomMessage("#lobby", "alice", "one"),
                RoomMessage("#lobby", "alice", "two"),
            ],
        )

    def test_boundCountsByKind(self) -> None:
        """
        The bound counts changes by their kind, whatever their fields say:
        a user called C{say} joining a room while cut off, once published,
        leaves room for exactly the bound's lines next time.
        """
        a = Node(self.server, "small", pendingLimit=1)
        say = a.user("say")
        a.cut()
        a.hub.join(say, "#say")
        a.attach()
        self.settle()
        a.cut()
        a.hub.say(say, "one")
        with self.assertRaises(ChatError):
            a.hub.say(say, "two")

    def test_lag(self) -> None:
        """
        While a node back from a cut reads full batches, its lag is at least
        a batch; once a read is not full, it has caught up: 0.
        """
        self.a.user("alice")
        bob = self.b.user("bob")
        self.a.cut()
        for n in range(READ_COUNT + 10):
            self.b.hub.say(bob, f"line {n}")
        self.settle()
        reader = self.server.connect()
        reader.hold = True
        self.a.bus.attach(self.server.connect(), reader)
        self.settle()
        reader.answer()
        self.assertEqual(self.a.bus.behind, READ_COUNT)
        reader.answer()
        self.assertEqual(self.a.bus.behind, 0)

    def test_refusedByRedis(self) -> None:
        """
        A batch Redis refuses while the connection stays up (out of memory,
        a read-only replica) is kept and tried again, with backoff and a
        rate-limited warning, until Redis takes it: a quiet user's last
        line is not left waiting for the next one.
        """
        alice = self.a.user("alice")
        bob = self.b.user("bob")
        self.settle()
        bob.clear()
        self.a.commands.refusing = "EXECABORT OOM command not allowed"
        with capturedLogs() as events:
            self.a.hub.say(alice, "said while Redis refuses")
            self.pump(10)
        refused = [e for e in events if "refused to publish" in e.get("log_format", "")]
        self.assertEqual(len(refused), 1)
        self.assertIn("OOM", formatEvent(refused[0]))
        self.assertEqual(bob.events(), [])
        self.a.commands.refusing = None
        self.pump(10)
        self.assertEqual(
            bob.events(), [RoomMessage("#lobby", "alice", "said while Redis refuses")]
        )

    def test_boundHoldsEveryChange(self) -> None:
        """
        Private messages and room changes count towards the bound as lines
        do: past it, each is refused C{bus-unavailable} and nothing more is
        kept, so a cut-off node's memory does not grow with what its users
        send; a quit is always kept.
        """
        a = Node(self.server, "small", pendingLimit=3)
        alice = a.user("alice")
        self.b.user("bob")
        self.settle()
        a.cut()
        a.hub.tell(alice, "bob", "one")
        a.hub.join(alice, "#two")
        a.hub.say(alice, "three")
        kept = a.bus.pendingCount()
        for refused in (
            lambda: a.hub.tell(alice, "bob", "four"),
            lambda: a.hub.say(alice, "four"),
            lambda: a.hub.join(alice, "#four"),
            lambda: a.hub.part(alice),
        ):
            with self.assertRaises(ChatError) as e:
                refused()
            self.assertEqual(e.exception.code, "bus-unavailable")
        self.assertEqual(a.bus.pendingCount(), kept)
        self.assertEqual(a.hub.roomsOf(alice), ["#two"])
        a.hub.quit(alice)
        self.assertEqual(a.bus.pendingCount(), kept + 1)

    def test_burstWhileConnected(self) -> None:
        """
        While the node has Redis, a burst of more than the cut-off bound
        waits for the batch before it to be written, and goes out in order:
        a thousand users saying a line at once are not told the chat is
        unreachable.  Past the burst bound (a Redis that does not keep up),
        saying is refused C{bus-unavailable}, saying so.
        """
        a = Node(self.server, "small", pendingLimit=2, burstLimit=5)
        alice = a.user("alice")
        bob = self.b.user("bob")
        self.settle()
        bob.clear()
        a.commands.hold = True
        for n in range(5):
            a.hub.say(alice, f"line {n}")
        with self.assertRaises(ChatError) as e:
            a.hub.say(alice, "one too many")
        self.assertEqual(e.exception.code, "bus-unavailable")
        self.assertIn("slow", str(e.exception))
        a.commands.hold = False
        a.commands.answer()
        self.settle()
        self.assertEqual(
            bob.events(),
            [RoomMessage("#lobby", "alice", f"line {n}") for n in range(5)],
        )

    def test_boundWhileRedisRefuses(self) -> None:
        """
        A node waiting to try again a batch Redis refused is cut off as far
        as the bound goes: past L{ChatBus.pendingLimit}, saying is refused
        as unreachable, not kept up to the burst bound.
        """
        a = Node(self.server, "small", pendingLimit=2, burstLimit=100)
        alice = a.user("alice")
        self.b.user("bob")
        self.settle()
        a.commands.refusing = "EXECABORT OOM command not allowed"
        with capturedLogs():
            a.hub.say(alice, "one")
            a.hub.say(alice, "two")
            with self.assertRaises(ChatError) as e:
                a.hub.say(alice, "three")
        self.assertEqual(e.exception.code, "bus-unavailable")
        self.assertIn("unreachable", str(e.exception))

    def test_declaredLostWhileCut(self) -> None:
        """
        A node cut off for longer than the node timeout disconnects its
        users with C{ERR * node-lost} on reconnecting; the others had
        already seen them quit.
        """
        alice = self.a.user("alice")
        bob = self.b.user("bob")
        self.a.cut()
        self.pump(DEFAULT_NODE_TIMEOUT + 1)
        self.assertIn(Quit("alice", "node lost"), bob.events())
        alice.clear()
        self.a.attach()
        self.pump(DEFAULT_NODE_TIMEOUT / 3 + 1)
        self.assertIn(
            Error(
                "*",
                "node-lost",
                "this server lost the rest of the chat for too long; reconnect",
            ),
            alice.events(),
        )
        self.assertIsNone(self.a.hub.nickOf(alice))
        # Its quit was not published: bob's node had seen it already.
        self.assertEqual(
            [e for e in bob.events() if isinstance(e, Quit)],
            [Quit("alice", "node lost")],
        )

    def test_expiredBeforeTheOthersNoticed(self) -> None:
        """
        A node back from a cut that outlasted its presence, before the
        other nodes checked it, disconnects its users as well, and starts
        clean: it frees their nicknames and publishes their quits, so the
        others do not keep them for ever.
        """
        alice = self.a.user("alice")
        bob = self.b.user("bob")
        self.a.cut()
        # Its presence expired; the others' next check is still to come.
        del self.server.strings[b"netlab:chat:node:a"]
        self.a.attach()
        self.settle()
        self.assertIn("node-lost", [getattr(e, "code", None) for e in alice.events()])
        self.assertIn(Quit("alice", "node lost"), bob.events())
        self.assertIsNone(self.b.hub.whois("alice"))
        self.assertNotIn(b"alice", self.server.hashes[b"netlab:chat:users"])
        self.assertIsNotNone(self.server._live(b"netlab:chat:node:a"))
        # Its next user is one of the chat again.
        carol = self.a.user("alice")
        self.settle()
        self.assertIsNotNone(self.b.hub.whois("alice"))
        self.assertEqual(self.a.hub.nickOf(carol), "alice")

    def test_keptChangesDroppedWhenLost(self) -> None:
        """
        What the users of a node declared lost said while it was cut off is
        not published when it is back: not their lines (under nicknames
        that may be others' now) and not their quits (which would free a
        nickname another user has taken since).
        """
        alice = self.a.user("alice")
        dave = self.a.user("dave")
        bob = self.b.user("bob")
        self.a.cut()
        self.a.hub.say(alice, "said while cut off")
        self.a.hub.quit(dave, "bye")
        self.pump(DEFAULT_NODE_TIMEOUT + 1)
        newDave = self.b.user("dave")
        self.assertEqual(self.b.hub.nickOf(newDave), "dave")
        bob.clear()
        self.a.attach()
        self.pump(DEFAULT_NODE_TIMEOUT)
        self.assertNotIn(
            "said while cut off",
            [getattr(e, "text", None) for e in bob.events()],
        )
        self.assertTrue(
            self.server.hashes[b"netlab:chat:users"][b"dave"].startswith(b"b\x1f")
        )
        self.assertEqual(self.b.hub.nickOf(newDave), "dave")


class PresenceTests(BusTestCase):
    def test_lostNode(self) -> None:
        """
        A node that stops beating (killed) is lost within the node timeout:
        its users quit everywhere with C{node lost}, and their nicknames
        are free.
        """
        alice = self.a.user("alice")
        self.b.user("bob")
        self.b.commands.disconnect()
        self.b.reader.disconnect()
        alice.clear()
        self.pump(DEFAULT_NODE_TIMEOUT / 2)
        self.assertEqual(alice.events(), [])
        self.pump(DEFAULT_NODE_TIMEOUT / 2)
        self.assertEqual(alice.events(), [Quit("bob", "node lost")])
        self.assertIsNone(self.a.hub.whois("bob"))
        self.successResultOf(self.a.hub.claimNick(RecordingParticipant(), "bob"))

    def test_gracefulStop(self) -> None:
        """
        A node that stops publishes its users' quits and removes its
        presence at once.
        """
        alice = self.a.user("alice")
        bob = self.b.user("bob")
        alice.clear()
        stopping = self.b.bus.stop()
        self.b.hub.quit(bob, "the server is shutting down")
        self.successResultOf(stopping)
        self.settle()
        self.assertEqual(alice.events(), [Quit("bob", "the server is shutting down")])
        self.assertIsNone(self.server._live(b"netlab:chat:node:b"))


class BadDataTests(BusTestCase):
    def test_skippedAndCounted(self) -> None:
        """
        Entries another program wrote are skipped and counted, with one
        rate-limited log line.
        """
        alice = self.a.user("alice")
        with capturedLogs() as events:
            for _ in range(3):
                self.server.run(
                    (
                        b"XADD",
                        b"netlab:chat:stream",
                        b"MAXLEN",
                        b"~",
                        b"9",
                        b"*",
                        b"x",
                        b"y",
                    )
                )
            self.settle()
        self.assertEqual(self.a.bus.skipped, 3)
        self.assertEqual(
            len(
                [
                    e
                    for e in events
                    if "skipped" in e.get("log_format", "") and e.get("node") == "a"
                ]
            ),
            1,
        )
        self.a.hub.say(alice, "still here")
        self.settle()
        self.assertEqual(self.b.bus.skipped, 3)

    def test_forgedNickname(self) -> None:
        """
        A line whose nickname holds a line break, written by another
        program, reaches nobody and is counted.
        """
        alice = self.a.user("alice")
        alice.clear()
        self.server.run(
            (
                b"XADD",
                b"netlab:chat:stream",
                *(b"MAXLEN", b"~", b"9", b"*"),
                *(b"v", b"1", b"k", b"say", b"node", b"zz"),
                *(b"nick", b"evil\r\nOK nick root", b"room", b"#lobby"),
                *(b"text", b"hello", b"act", b"0"),
            )
        )
        self.settle()
        self.assertEqual(alice.received, [])
        self.assertEqual(self.a.bus.skipped, 1)


class ParticipantTests(SynchronousTestCase):
    """
    The line protocol and IRC on a hub with a bus whose Redis answers a
    nickname claim only later: each goes on when it is answered.
    """

    def setUp(self) -> None:
        from netlab.chat._irc import IRCFactory
        from netlab.chat._server import ChatFactory, ChatLimits

        self.clock = Clock()
        self.server = FakeRedisServer(self.clock)
        self.a = Node(self.server, "a")
        self.b = Node(self.server, "b")
        limits = ChatLimits(lineRate=0)
        self.line = ChatFactory(self.a.hub, self.clock, limits)
        self.irc = IRCFactory(self.a.hub, self.clock, limits, pingInterval=0)

    def test_lineProtocolWaitsForClaim(self) -> None:
        """
        A line-protocol user's nickname is answered once Redis has: C{OK
        nick}, then its room; a nickname taken on another node is refused
        C{nick-taken}.
        """
        from tests.chat.test_irc import _Peer

        self.b.user("bob")
        peer = _Peer(self.line.buildProtocol(None), self.clock)
        peer.lines()
        # Known here already: refused at once.
        peer.send("BOB")
        [refused] = peer.lines()
        self.assertTrue(refused.startswith("ERR nick nick-taken"), refused)
        # Claimed in Redis by a node not heard from yet: refused once Redis
        # has answered.
        self.server.hashes[b"netlab:chat:users"][b"carol"] = b"c\x1fcarol\x1f"
        self.a.commands.hold = True
        peer.send("carol")
        self.assertEqual(peer.lines(), [])
        self.a.commands.answer()
        [refused] = peer.lines()
        self.assertTrue(refused.startswith("ERR nick nick-taken"), refused)
        peer.send("alice")
        self.assertEqual(peer.lines(), [])
        self.a.commands.hold = False
        self.a.commands.answer()
        self.clock.advance(0)
        lines = peer.lines()
        self.assertEqual(lines[:2], ["OK nick alice", "JOIN #lobby alice"])
        self.assertEqual(self.b.hub.whois("alice"), ("alice", ["#lobby"]))

    def test_ircWaitsForClaim(self) -> None:
        """
        An IRC user is welcomed once Redis has answered its claim; a
        nickname taken on another node is C{433}.
        """
        from tests.chat.test_irc import _Peer

        self.b.user("bob")
        peer = _Peer(self.irc.buildProtocol(None), self.clock)
        peer.send("NICK Bob", "USER bob 0 * :Bob")
        [taken] = peer.lines()
        self.assertIn(" 433 ", taken)
        self.a.commands.hold = True
        peer.send("NICK alice")
        self.assertEqual(peer.lines(), [])
        self.a.commands.hold = False
        self.a.commands.answer()
        self.clock.advance(0)
        self.assertIn(" 001 alice ", peer.lines()[0])
        peer.send("JOIN #dev")
        self.clock.advance(0)
        self.assertEqual(self.b.hub.whois("alice"), ("alice", ["#dev"]))


class LostReplyTests(BusTestCase):
    def test_publishedTwiceAppliedOnce(self) -> None:
        """
        When the connection is lost after Redis ran a batch but before its
        reply came, the batch is published again on reconnecting; every
        node applies each entry once, and counts the duplicates.
        """
        alice = self.a.user("alice")
        bob = self.b.user("bob")
        self.settle()
        bob.clear()
        self.a.commands.hold = True
        self.a.hub.say(alice, "once")
        self.settle()
        self.assertTrue(self.a.commands.held)
        held, self.a.commands.held = self.a.commands.held, []
        self.a.cut()
        for d, _ in held:
            d.errback(ConnectionLost())
        self.a.attach()
        self.settle()
        said = [e for e in bob.events() if isinstance(e, RoomMessage)]
        self.assertEqual(said, [RoomMessage("#lobby", "alice", "once")])
        self.assertEqual(self.b.bus.duplicates, 1)
        self.assertEqual(self.a.bus.duplicates, 1)

    def test_restartedNodeHeard(self) -> None:
        """
        A node restarted under the same name starts its numbers again: its
        entries are not taken for duplicates of the old process's.
        """
        alice = self.a.user("alice")
        bob = self.b.user("bob")
        for n in range(3):
            self.a.hub.say(alice, f"old {n}")
        self.settle()
        self.a.bus.detach()
        self.a = Node(self.server, "a2")
        self.a.bus.node = "a"
        carol = self.a.user("carol")
        self.settle()
        bob.clear()
        self.a.hub.say(carol, "new")
        self.settle()
        self.assertIn(RoomMessage("#lobby", "carol", "new"), bob.events())


class ClaimsInFlightTests(ParticipantTests):
    """
    Nickname claims a user makes before the one before was answered: made
    one at a time, in order, each acting on what the one before left.
    """

    def settle(self) -> None:
        self.clock.advance(0)
        self.clock.advance(0)

    def test_lineProtocolTwoNicks(self) -> None:
        """
        Two nicknames sent before Redis answered the first: the first
        registers, the second renames, each answered in order, and only the
        second stays claimed.
        """
        from tests.chat.test_irc import _Peer

        bob = self.b.user("bob")
        peer = _Peer(self.line.buildProtocol(None), self.clock)
        peer.lines()
        self.a.commands.hold = True
        peer.send("alice", "/nick al")
        self.assertEqual(peer.lines(), [])
        self.a.commands.hold = False
        self.a.commands.answer()
        self.settle()
        lines = peer.lines()
        self.assertEqual(lines[:2], ["OK nick alice", "JOIN #lobby alice"])
        self.assertIn("OK nick al", lines)
        self.assertNotIn("ERR", " ".join(lines))
        self.settle()
        self.assertEqual(self.b.hub.whois("al"), ("al", ["#lobby"]))
        self.assertIsNone(self.b.hub.whois("alice"))
        users = self.server.hashes[b"netlab:chat:users"]
        self.assertNotIn(b"alice", users)
        self.assertIn(b"al", users)
        self.assertIn(Joined("#lobby", "alice"), bob.events())

    def test_lineAfterNickWaits(self) -> None:
        """
        A line sent right after the nickname, before Redis answered the
        claim, is said under that nickname once it is registered, as
        without a bus: not taken for another nickname.
        """
        from tests.chat.test_irc import _Peer

        bob = self.b.user("bob")
        peer = _Peer(self.line.buildProtocol(None), self.clock)
        peer.lines()
        self.a.commands.hold = True
        peer.send("alice", "hello", "/who")
        self.assertEqual(peer.lines(), [])
        self.a.commands.hold = False
        self.a.commands.answer()
        self.settle()
        lines = peer.lines()
        self.assertEqual(lines[:2], ["OK nick alice", "JOIN #lobby alice"])
        self.assertIn("OK who #lobby alice bob", lines)
        self.assertIn(RoomMessage("#lobby", "alice", "hello"), bob.events())

    def test_ircJoinAfterNickWaits(self) -> None:
        """
        An IRC client that sends C{JOIN} with C{NICK} and C{USER}, before
        Redis answered the claim, joins once it is welcomed: not C{451}.
        """
        from tests.chat.test_irc import _Peer

        peer = _Peer(self.irc.buildProtocol(None), self.clock)
        self.a.commands.hold = True
        peer.send("NICK alice", "USER alice 0 * :Alice", "JOIN #dev")
        self.assertEqual(peer.lines(), [])
        self.a.commands.hold = False
        self.a.commands.answer()
        self.settle()
        lines = peer.lines()
        self.assertIn(" 001 alice ", lines[0])
        self.assertFalse([line for line in lines if " 451 " in line], lines)
        self.assertEqual(self.b.hub.whois("alice"), ("alice", ["#dev"]))

    def test_ircTwoNicks(self) -> None:
        """
        An IRC client that sends C{NICK} again before its first was
        answered is welcomed under the first, then renamed.
        """
        from tests.chat.test_irc import _Peer

        peer = _Peer(self.irc.buildProtocol(None), self.clock)
        self.a.commands.hold = True
        peer.send("NICK alice", "USER alice 0 * :Alice", "NICK al")
        self.assertEqual(peer.lines(), [])
        self.a.commands.hold = False
        self.a.commands.answer()
        self.settle()
        lines = peer.lines()
        self.assertIn(" 001 alice ", lines[0])
        self.assertIn(":alice!", lines[-1])
        self.assertIn(" NICK ", lines[-1])
        self.assertEqual(self.a.hub.whois("al"), ("al", []))
        self.assertNotIn(b"alice", self.server.hashes[b"netlab:chat:users"])

    def test_quitWhileQueued(self) -> None:
        """
        A user who quits with a claim answered and one still waiting behind
        it: both fail C{gone}, and neither nickname stays claimed.
        """
        one = RecordingParticipant("1")
        self.a.commands.hold = True
        first = self.a.hub.claimNick(one, "alice")
        second = self.a.hub.claimNick(one, "al")
        self.a.hub.quit(one)
        self.a.commands.hold = False
        self.a.commands.answer()
        self.settle()
        self.assertEqual(self.failureResultOf(first, ChatError).value.code, "gone")
        self.assertEqual(self.failureResultOf(second, ChatError).value.code, "gone")
        self.assertEqual(self.server.hashes.get(b"netlab:chat:users", {}), {})


class FreeingTests(BusTestCase):
    def test_freedOnlyIfStillHeld(self) -> None:
        """
        Freeing a lost node's nickname removes it only while that node still
        holds it: a claim another node made meanwhile stays.
        """
        self.b.user("bob")
        self.settle()
        users = self.server.hashes[b"netlab:chat:users"]
        self.a.commands.hold = True
        self.a.bus._freeNick(RemoteParticipant("b", "bob"))
        # Another node's claim lands before this node's reply comes back.
        users.pop(b"bob", None)
        users[b"bob"] = b"c\x1fbob\x1f"
        self.a.commands.hold = False
        self.a.commands.answer()
        self.settle()
        self.assertEqual(users[b"bob"], b"c\x1fbob\x1f")

    def test_takenHereNotKept(self) -> None:
        """
        A nickname Redis grants while a user here comes to hold it (a user
        of a node another node declared lost and freed, heard of here only
        after the claim was sent) is refused, and the claim is given back
        rather than held for nobody.
        """
        # a's reader lags: what it reads next is held back.
        self.a.reader.hold = True
        self.b.user("carol")
        self.settle()
        self.b.user("bob")
        self.settle()
        self.assertIsNone(self.a.hub.whois("bob"))
        users = self.server.hashes[b"netlab:chat:users"]
        # Another node declared b lost and freed bob.
        del users[b"bob"]
        self.a.commands.hold = True
        claimed = self.a.hub.claimNick(RecordingParticipant(), "bob")
        self.a.reader.hold = False
        self.a.reader.answer()
        self.settle()
        self.assertIsNotNone(self.a.hub.whois("bob"))
        self.a.commands.hold = False
        self.a.commands.answer()
        self.settle()
        self.assertEqual(
            self.failureResultOf(claimed, ChatError).value.code, "nick-taken"
        )
        self.assertNotIn(b"bob", users)

    def test_restartedBeforeDeclaredLost(self) -> None:
        """
        A node that starts again under its name before the others declared
        it lost (a restarted worker) starts clean, and the others hear its
        old users quit at once, not after the node timeout.
        """
        alice = self.a.user("alice")
        bob = self.b.user("bob")
        self.settle()
        bob.clear()
        # Killed: no goodbye.
        self.a.commands.disconnect()
        self.a.reader.disconnect()
        self.a = Node(self.server, "a")
        self.settle()
        self.assertEqual(bob.events(), [Quit("alice", "node lost")])
        self.assertIsNone(self.b.hub.whois("alice"))
        self.assertIsNone(self.a.hub.whois("alice"))
        self.assertNotIn(b"alice", self.server.hashes[b"netlab:chat:users"])
        self.successResultOf(self.b.hub.claimNick(RecordingParticipant(), "alice"))
        del alice

    def test_restartedWithAClaimInFlight(self) -> None:
        """
        A node killed while a nickname it claimed was not yet used (no user
        registered under it) frees that one too when it starts again; the
        others take its quit for what it is, not for bad data.
        """
        self.a.bus.claim("carol")
        self.settle()
        self.assertIn(b"carol", self.server.hashes[b"netlab:chat:users"])
        self.a.commands.disconnect()
        self.a.reader.disconnect()
        self.a = Node(self.server, "a")
        self.settle()
        self.assertNotIn(b"carol", self.server.hashes[b"netlab:chat:users"])
        self.assertEqual(self.b.bus.skipped, 0)


class BusServiceTests(SynchronousTestCase):
    def service(self) -> tuple[BusService, Node]:
        """
        A running L{BusService} whose bus is attached to a fake Redis, as
        after both its connections came up.
        """
        clock = Clock()
        server = FakeRedisServer(clock)
        node = Node(server, "a")
        service = BusService(
            clock, parseBusAddress("redis://:pw@redis:6379/0"), node.bus
        )
        service.running = True
        service._ready = {"commands": node.commands, "reader": node.reader}
        return service, node

    def test_lostWhileRunning(self) -> None:
        """
        A connection lost while the node runs: one warning that the node
        reconnects, naming the address without its password, and the bus
        keeps its users (detached).
        """
        service, node = self.service()
        with capturedLogs() as events:
            service._lost("reader", node.reader)
        self.assertFalse(node.bus.connected)
        [event] = [e for e in events if e.get("log_namespace") == "netlab.chat._bus"]
        self.assertEqual(event["log_level"].name, "warn")
        self.assertIn("reconnecting", event["log_format"])
        self.assertEqual(event["address"], "redis://:***@redis:6379/0")

    def test_lostWhileStopping(self) -> None:
        """
        The connections closed by a node that is stopping are not a loss:
        the log says the node left, with no warning of reconnecting.
        """
        service, node = self.service()
        service.running = False
        with capturedLogs() as events:
            service._lost("reader", node.reader)
        self.assertFalse(node.bus.connected)
        [event] = [e for e in events if e.get("log_namespace") == "netlab.chat._bus"]
        self.assertEqual(event["log_level"].name, "info")
        self.assertIn("left", event["log_format"])
