"""
Tests for L{netlab.chat._hub}: the chat model, driven through fake
participants.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport, StringTransportWithDisconnection
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from netlab.chat import ChatFactory, ChatHub, ChatProtocol, IChatParticipant
from netlab.chat._wire import (
    Action,
    ChatEvent,
    History,
    Joined,
    NickChanged,
    Parted,
    PrivateMessage,
    Quit,
    RoomMessage,
    formatLine,
)
from netlab.errors import ChatError
from netlab.policies import ConnectionGuard, ConnectionLimits, GuardedConnection


@implementer(IChatParticipant)
class RecordingParticipant:
    """
    A participant that records what the hub tells it.

    @ivar received: every C{(event, line)} delivered, in order.
    @ivar onDeliver: if set, called with each event after it is recorded.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.received: list[tuple[ChatEvent | History, bytes]] = []
        self.onDeliver: Callable[[ChatEvent | History], None] | None = None

    def __repr__(self) -> str:
        return f"<RecordingParticipant {self.name}>"

    def deliver(self, event: ChatEvent | History, line: bytes) -> None:
        self.received.append((event, line))
        if self.onDeliver is not None:
            self.onDeliver(event)

    def events(self) -> list[ChatEvent | History]:
        """
        @return: the events delivered so far.
        """
        return [event for event, _ in self.received]

    def clear(self) -> None:
        """
        Forget what was delivered so far.
        """
        del self.received[:]


class ChatHubTestCase(SynchronousTestCase):
    """
    A hub, and helpers to register fake participants in it.
    """

    def setUp(self) -> None:
        self.hub = ChatHub()

    def registered(self, nick: str, hub: ChatHub | None = None) -> RecordingParticipant:
        """
        @return: a participant registered as C{nick}, its deliveries so far
            forgotten.
        """
        participant = RecordingParticipant(nick)
        (hub or self.hub).register(participant, nick)
        participant.clear()
        return participant

    def assertRefused(
        self, code: str, call: Callable[..., object], *args: object
    ) -> None:
        """
        Assert that C{call(*args)} raises L{ChatError} with C{code}.
        """
        error = self.assertRaises(ChatError, call, *args)
        self.assertEqual(error.code, code)


class InterfaceTests(SynchronousTestCase):
    """
    Both the fake participant and the line protocol provide
    L{IChatParticipant}.
    """

    def test_fakeProvides(self) -> None:
        """
        The test fake provides L{IChatParticipant}.
        """
        self.assertTrue(verifyObject(IChatParticipant, RecordingParticipant()))

    def test_protocolProvides(self) -> None:
        """
        L{ChatProtocol} provides L{IChatParticipant}.
        """
        protocol = ChatFactory(ChatHub(), Clock()).buildProtocol(None)
        self.assertIsInstance(protocol, ChatProtocol)
        self.assertTrue(verifyObject(IChatParticipant, protocol))


class ConstructionTests(SynchronousTestCase):
    """
    Tests for L{ChatHub.__init__}.
    """

    def test_defaults(self) -> None:
        """
        By default the hub has the room C{#lobby}, empty, and keeps 20
        messages of history.
        """
        hub = ChatHub()
        self.assertEqual(hub.defaultRoom, "#lobby")
        self.assertEqual(hub.historySize, 20)
        self.assertEqual(hub.noticeLimit, 1000)
        self.assertEqual(hub.rooms(), [("#lobby", 0)])
        self.assertEqual(hub.participants(), [])

    def test_invalidArguments(self) -> None:
        """
        An invalid default room or a negative history size is refused.
        """
        self.assertRaises(ValueError, ChatHub, "lobby")
        self.assertRaises(ValueError, ChatHub, "#lobby", -1)


class RegisterTests(ChatHubTestCase):
    """
    Tests for L{ChatHub.register}.
    """

    def test_register(self) -> None:
        """
        A participant registered under a nickname is in the default room and
        hears its own C{JOIN}.
        """
        alice = RecordingParticipant()
        self.hub.register(alice, "alice")
        self.assertEqual(self.hub.nickOf(alice), "alice")
        self.assertEqual(self.hub.roomOf(alice), "#lobby")
        self.assertEqual(self.hub.participants(), [alice])
        self.assertEqual(
            alice.received,
            [(Joined("#lobby", "alice"), b"JOIN #lobby alice\r\n")],
        )

    def test_otherDefaultRoom(self) -> None:
        """
        Participants join the hub's default room, whatever it is.
        """
        hub = ChatHub("#home")
        alice = self.registered("alice", hub)
        self.assertEqual(hub.roomOf(alice), "#home")

    def test_unknownParticipant(self) -> None:
        """
        An unregistered participant has no nickname and no room.
        """
        stranger = RecordingParticipant()
        self.assertIsNone(self.hub.nickOf(stranger))
        self.assertIsNone(self.hub.roomOf(stranger))

    def test_longestNick(self) -> None:
        """
        A nickname of 16 characters is accepted.
        """
        alice = self.registered("a" * 16)
        self.assertEqual(self.hub.nickOf(alice), "a" * 16)

    def test_invalidNick(self) -> None:
        """
        Nicknames that are too long, empty, start wrongly, hold characters
        other than ASCII letters, digits, C{_} and C{-}, or are reserved are
        refused with C{nick-invalid}, and nothing is registered.
        """
        for nick in [
            "a" * 17,
            "",
            "1abc",
            "-abc",
            "al ice",
            "al!ce",
            "caf\u00e9",
            "\x1b[31m",
            "server",
            "NETLAB",
        ]:
            participant = RecordingParticipant()
            self.assertRefused("nick-invalid", self.hub.register, participant, nick)
            self.assertIsNone(self.hub.nickOf(participant))
            self.assertEqual(participant.received, [])
        self.assertEqual(self.hub.participants(), [])

    def test_nickTaken(self) -> None:
        """
        A nickname in use, in any case, is refused with C{nick-taken}.
        """
        self.registered("alice")
        for nick in ["alice", "ALICE", "Alice"]:
            self.assertRefused(
                "nick-taken", self.hub.register, RecordingParticipant(), nick
            )
        self.assertEqual(len(self.hub.participants()), 1)

    def test_registerTwice(self) -> None:
        """
        A participant that already has a nickname cannot register again.
        """
        alice = self.registered("alice")
        self.assertRefused("registered", self.hub.register, alice, "alicia")
        self.assertEqual(self.hub.nickOf(alice), "alice")

    def test_checkNick(self) -> None:
        """
        L{ChatHub.checkNick} refuses what registering would, and accepts a
        free, valid nickname.
        """
        self.registered("alice")
        self.hub.checkNick("bob")
        self.assertRefused("nick-taken", self.hub.checkNick, "Alice")
        self.assertRefused("nick-invalid", self.hub.checkNick, "no way")

    def test_historyThenJoin(self) -> None:
        """
        A participant registering hears the default room's history, then the
        C{JOIN} that everyone in the room, itself included, hears.
        """
        alice = self.registered("alice")
        self.hub.say(alice, "hello")
        self.hub.say(alice, "anyone?", action=True)
        alice.clear()
        bob = RecordingParticipant()
        self.hub.register(bob, "bob")
        self.assertEqual(
            bob.events(),
            [
                History(RoomMessage("#lobby", "alice", "hello")),
                History(Action("#lobby", "alice", "anyone?")),
                Joined("#lobby", "bob"),
            ],
        )
        self.assertEqual(
            [line for _, line in bob.received],
            [
                b"HIST MSG #lobby alice hello\r\n",
                b"HIST ACT #lobby alice anyone?\r\n",
                b"JOIN #lobby bob\r\n",
            ],
        )
        self.assertEqual(alice.events(), [Joined("#lobby", "bob")])


class JoinPartTests(ChatHubTestCase):
    """
    Tests for L{ChatHub.join} and L{ChatHub.part}.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        self.alice.clear()

    def test_joinCreates(self) -> None:
        """
        Joining a room that does not exist creates it.
        """
        self.hub.join(self.alice, "#dev")
        self.assertEqual(self.hub.roomOf(self.alice), "#dev")
        self.assertEqual(self.hub.rooms(), [("#dev", 1), ("#lobby", 1)])

    def test_joinLeavesOldRoom(self) -> None:
        """
        Joining a room leaves the old one, which (the joiner included) hears
        C{PART}; then the new room, the joiner included, hears C{JOIN}.
        """
        carol = self.registered("carol")
        self.hub.join(carol, "#dev")
        for participant in (self.alice, self.bob, carol):
            participant.clear()
        self.hub.join(self.alice, "#dev")
        part = Parted("#lobby", "alice", "joined #dev")
        join = Joined("#dev", "alice")
        self.assertEqual(self.alice.events(), [part, join])
        self.assertEqual(self.bob.events(), [part])
        self.assertEqual(carol.events(), [join])
        self.assertEqual(
            self.alice.received[0][1], b"PART #lobby alice joined #dev\r\n"
        )
        self.assertEqual(self.hub.who(self.bob), ["bob"])
        self.assertEqual(self.hub.who(carol), ["alice", "carol"])

    def test_joinInvalid(self) -> None:
        """
        Joining something that is not a room name is refused with
        C{room-invalid}, and the participant stays where it was.
        """
        for name in ["dev", "#", "#no way", "#" + "x" * 32, "#\x1b[31m", ""]:
            self.assertRefused("room-invalid", self.hub.join, self.alice, name)
        self.assertEqual(self.hub.roomOf(self.alice), "#lobby")
        self.assertEqual(self.alice.received, [])
        self.assertEqual(self.hub.rooms(), [("#lobby", 2)])

    def test_joinSameRoom(self) -> None:
        """
        Joining the room one is in does nothing.
        """
        self.hub.join(self.alice, "#lobby")
        self.assertEqual(self.alice.received, [])
        self.assertEqual(self.bob.received, [])

    def test_roomNamesCaseInsensitive(self) -> None:
        """
        Room names differing only in case name the same room, which keeps
        the name it was created with.
        """
        self.hub.join(self.alice, "#Dev")
        self.hub.join(self.bob, "#DEV")
        self.assertEqual(self.hub.roomOf(self.bob), "#Dev")
        self.assertEqual(self.hub.who(self.bob), ["alice", "bob"])
        self.hub.join(self.alice, "#LOBBY")
        self.assertEqual(self.hub.roomOf(self.alice), "#lobby")

    def test_part(self) -> None:
        """
        Parting leaves the room, which, the leaver included, hears C{PART}
        with the reason.
        """
        self.hub.part(self.alice, "lunch")
        event = Parted("#lobby", "alice", "lunch")
        self.assertEqual(self.alice.events(), [event])
        self.assertEqual(self.bob.events(), [event])
        self.assertIsNone(self.hub.roomOf(self.alice))
        self.assertEqual(self.hub.nickOf(self.alice), "alice")
        self.assertEqual(self.hub.who(self.bob), ["bob"])

    def test_outsideAnyRoom(self) -> None:
        """
        Outside any room, parting, saying and asking who is here are refused
        with C{not-in-room}; joining a room works again.
        """
        self.hub.part(self.alice)
        self.assertRefused("not-in-room", self.hub.part, self.alice)
        self.assertRefused("not-in-room", self.hub.say, self.alice, "hi")
        self.assertRefused("not-in-room", self.hub.who, self.alice)
        self.hub.join(self.alice, "#lobby")
        self.assertEqual(self.hub.who(self.alice), ["alice", "bob"])

    def test_emptyRoomsVanish(self) -> None:
        """
        A room disappears when its last participant leaves it, by joining
        elsewhere, parting or quitting; the default room stays, empty.
        """
        self.hub.join(self.alice, "#a")
        self.hub.join(self.alice, "#b")
        self.assertEqual(self.hub.rooms(), [("#b", 1), ("#lobby", 1)])
        self.hub.part(self.alice)
        self.assertEqual(self.hub.rooms(), [("#lobby", 1)])
        self.hub.join(self.alice, "#c")
        self.hub.quit(self.alice)
        self.hub.quit(self.bob)
        self.assertEqual(self.hub.rooms(), [("#lobby", 0)])

    def test_historyGoesWithRoom(self) -> None:
        """
        A room that vanished and is created again has no history.
        """
        self.hub.join(self.alice, "#a")
        self.hub.say(self.alice, "hello")
        self.hub.part(self.alice)
        self.hub.join(self.bob, "#a")
        self.assertNotIn(
            History(RoomMessage("#a", "alice", "hello")), self.bob.events()
        )

    def test_historyPerRoom(self) -> None:
        """
        Joining a room replays that room's history, not another's.
        """
        carol = self.registered("carol")
        self.hub.join(carol, "#dev")
        self.hub.say(carol, "in dev")
        self.hub.say(self.bob, "in lobby")
        self.alice.clear()
        self.hub.join(self.alice, "#dev")
        self.assertEqual(
            self.alice.events(),
            [
                Parted("#lobby", "alice", "joined #dev"),
                History(RoomMessage("#dev", "carol", "in dev")),
                Joined("#dev", "alice"),
            ],
        )


class SayTests(ChatHubTestCase):
    """
    Tests for L{ChatHub.say}.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        self.carol = self.registered("carol")
        for participant in (self.alice, self.bob, self.carol):
            participant.clear()

    def test_everyoneElseHears(self) -> None:
        """
        Everyone else in the room hears C{MSG}; the speaker does not.
        """
        self.hub.say(self.alice, "hello all")
        event = RoomMessage("#lobby", "alice", "hello all")
        self.assertEqual(self.alice.received, [])
        self.assertEqual(
            self.bob.received, [(event, b"MSG #lobby alice hello all\r\n")]
        )
        self.assertEqual(self.carol.events(), [event])

    def test_onlyTheRoom(self) -> None:
        """
        Participants in other rooms, or in none, do not hear it.
        """
        self.hub.join(self.carol, "#dev")
        dave = self.registered("dave")
        self.hub.part(dave)
        self.carol.clear()
        dave.clear()
        self.hub.say(self.alice, "hello")
        self.assertEqual(self.carol.received, [])
        self.assertEqual(dave.received, [])

    def test_action(self) -> None:
        """
        An action is heard as C{ACT}.
        """
        self.hub.say(self.alice, "waves", action=True)
        self.assertEqual(
            self.bob.received,
            [(Action("#lobby", "alice", "waves"), b"ACT #lobby alice waves\r\n")],
        )
        self.assertEqual(self.alice.received, [])

    def test_sameBytes(self) -> None:
        """
        The message is formatted once: every recipient gets the same bytes
        object.
        """
        self.hub.say(self.alice, "hello")
        [(_, bobLine)] = self.bob.received
        [(_, carolLine)] = self.carol.received
        self.assertIs(bobLine, carolLine)

    def test_historyBounded(self) -> None:
        """
        A room keeps its last C{historySize} messages and replays them, in
        order, as C{HIST} to whoever joins.
        """
        hub = ChatHub(historySize=3)
        alice = self.registered("alice", hub)
        for n in range(5):
            hub.say(alice, f"m{n}")
        bob = RecordingParticipant()
        hub.register(bob, "bob")
        self.assertEqual(
            bob.events(),
            [History(RoomMessage("#lobby", "alice", f"m{n}")) for n in (2, 3, 4)]
            + [Joined("#lobby", "bob")],
        )
        self.assertEqual(bob.received[0][1], b"HIST MSG #lobby alice m2\r\n")

    def test_noHistory(self) -> None:
        """
        With C{historySize=0}, nothing is kept or replayed.
        """
        hub = ChatHub(historySize=0)
        alice = self.registered("alice", hub)
        hub.say(alice, "hello")
        bob = RecordingParticipant()
        hub.register(bob, "bob")
        self.assertEqual(bob.events(), [Joined("#lobby", "bob")])

    def test_historySameBytes(self) -> None:
        """
        Every joiner gets the same bytes object for a line of history.
        """
        self.hub.say(self.alice, "hello")
        dave = RecordingParticipant()
        erin = RecordingParticipant()
        self.hub.register(dave, "dave")
        self.hub.register(erin, "erin")
        self.assertIs(dave.received[0][1], erin.received[0][1])

    def test_listenerLeavingDuringFanOut(self) -> None:
        """
        A participant that quits on hearing a message does not stop the
        others from hearing it.
        """
        self.bob.onDeliver = lambda event: self.hub.quit(self.bob, "bye")
        self.hub.say(self.alice, "hello")
        self.assertIn(RoomMessage("#lobby", "alice", "hello"), self.carol.events())
        self.assertIn(Quit("bob", "bye"), self.carol.events())
        self.assertEqual(self.hub.who(self.alice), ["alice", "carol"])

    def test_unregistered(self) -> None:
        """
        A participant that has not registered cannot do anything but quit,
        which does nothing.
        """
        stranger = RecordingParticipant()
        calls: list[tuple[Callable[..., object], tuple[str, ...]]] = [
            (self.hub.say, ("hi",)),
            (self.hub.join, ("#dev",)),
            (self.hub.part, ()),
            (self.hub.who, ()),
            (self.hub.rename, ("strange",)),
            (self.hub.tell, ("alice", "hi")),
        ]
        for call, args in calls:
            self.assertRefused("not-registered", call, stranger, *args)
        self.hub.quit(stranger)
        self.assertEqual(self.alice.received, [])


class TellTests(ChatHubTestCase):
    """
    Tests for L{ChatHub.tell}.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("Bob")
        self.carol = self.registered("carol")
        for participant in (self.alice, self.bob, self.carol):
            participant.clear()

    def test_recipientHears(self) -> None:
        """
        Only the recipient hears C{PRIV}, wherever it is; the nickname may be
        given in any case, and the registered one is returned.
        """
        self.hub.join(self.bob, "#elsewhere")
        for participant in (self.alice, self.bob, self.carol):
            participant.clear()
        self.assertEqual(self.hub.tell(self.alice, "BOB", "psst"), "Bob")
        self.assertEqual(
            self.bob.received,
            [(PrivateMessage("alice", "Bob", "psst"), b"PRIV alice Bob psst\r\n")],
        )
        self.assertEqual(self.alice.received, [])
        self.assertEqual(self.carol.received, [])

    def test_noSuchNick(self) -> None:
        """
        Telling a nickname nobody has is refused with C{no-such-nick}.
        """
        self.assertRefused("no-such-nick", self.hub.tell, self.alice, "dave", "hi")
        self.hub.quit(self.carol)
        self.assertRefused("no-such-nick", self.hub.tell, self.alice, "carol", "hi")


class RenameTests(ChatHubTestCase):
    """
    Tests for L{ChatHub.rename}.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        self.carol = self.registered("carol")
        self.hub.join(self.carol, "#dev")
        for participant in (self.alice, self.bob, self.carol):
            participant.clear()

    def test_roomHears(self) -> None:
        """
        The room, the renamed participant included, hears C{NICK}, as the
        same bytes object; other rooms do not.
        """
        self.hub.rename(self.alice, "alicia")
        event = NickChanged("alice", "alicia")
        self.assertEqual(self.alice.received, [(event, b"NICK alice alicia\r\n")])
        self.assertEqual(self.bob.events(), [event])
        self.assertIs(self.alice.received[0][1], self.bob.received[0][1])
        self.assertEqual(self.carol.received, [])
        self.assertEqual(self.hub.nickOf(self.alice), "alicia")

    def test_oldNickFreed(self) -> None:
        """
        After a rename the old nickname is free and the new one is taken.
        """
        self.hub.rename(self.alice, "alicia")
        self.assertRefused("nick-taken", self.hub.checkNick, "ALICIA")
        dave = self.registered("alice")
        self.assertEqual(self.hub.nickOf(dave), "alice")
        self.assertEqual(self.hub.tell(self.bob, "alicia", "hi"), "alicia")

    def test_caseOnly(self) -> None:
        """
        A participant may change only the case of its own nickname.
        """
        self.hub.rename(self.alice, "Alice")
        self.assertEqual(self.hub.nickOf(self.alice), "Alice")
        self.assertEqual(self.bob.events(), [NickChanged("alice", "Alice")])

    def test_sameNick(self) -> None:
        """
        Renaming to the same nickname does nothing.
        """
        self.hub.rename(self.alice, "alice")
        self.assertEqual(self.alice.received, [])
        self.assertEqual(self.bob.received, [])

    def test_refused(self) -> None:
        """
        A taken nickname (in any case) is refused with C{nick-taken}, an
        invalid one with C{nick-invalid}; nothing changes.
        """
        self.assertRefused("nick-taken", self.hub.rename, self.alice, "BOB")
        self.assertRefused("nick-invalid", self.hub.rename, self.alice, "no way")
        self.assertRefused("nick-invalid", self.hub.rename, self.alice, "netlab")
        self.assertEqual(self.hub.nickOf(self.alice), "alice")
        self.assertEqual(self.bob.received, [])

    def test_caseFoldingLookalike(self) -> None:
        """
        A name that is not a valid nickname is refused even when it
        case-folds to the current one (U+017F LATIN SMALL LETTER LONG S
        folds to C{s}, U+212A KELVIN SIGN to C{k}).
        """
        sam = self.registered("sam")
        kim = self.registered("kim")
        self.assertRefused("nick-invalid", self.hub.rename, sam, "\u017fam")
        self.assertRefused("nick-invalid", self.hub.rename, kim, "\u212aim")
        self.assertEqual(self.hub.nickOf(sam), "sam")
        self.assertEqual(self.hub.nickOf(kim), "kim")

    def test_outsideAnyRoom(self) -> None:
        """
        Outside any room, only the renamed participant hears C{NICK}.
        """
        self.hub.part(self.alice)
        self.alice.clear()
        self.bob.clear()
        self.hub.rename(self.alice, "alicia")
        self.assertEqual(self.alice.events(), [NickChanged("alice", "alicia")])
        self.assertEqual(self.bob.received, [])


class QuitTests(ChatHubTestCase):
    """
    Tests for L{ChatHub.quit}.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        self.carol = self.registered("carol")
        for participant in (self.alice, self.bob, self.carol):
            participant.clear()

    def test_roomHears(self) -> None:
        """
        The room hears C{QUIT} with the reason, every member the same bytes
        object; the participant is gone.
        """
        self.hub.quit(self.alice, "gone home")
        event = Quit("alice", "gone home")
        self.assertEqual(self.bob.received, [(event, b"QUIT alice gone home\r\n")])
        self.assertIs(self.bob.received[0][1], self.carol.received[0][1])
        self.assertEqual(self.alice.received, [])
        self.assertIsNone(self.hub.nickOf(self.alice))
        self.assertNotIn(self.alice, self.hub.participants())
        self.assertEqual(self.hub.who(self.bob), ["bob", "carol"])

    def test_nickFreed(self) -> None:
        """
        After quitting, the nickname can be registered again.
        """
        self.hub.quit(self.alice)
        again = self.registered("alice")
        self.assertEqual(self.hub.nickOf(again), "alice")

    def test_quitOutsideAnyRoom(self) -> None:
        """
        A participant in no room quits silently.
        """
        self.hub.part(self.alice)
        self.bob.clear()
        self.hub.quit(self.alice)
        self.assertEqual(self.bob.received, [])
        self.assertIsNone(self.hub.nickOf(self.alice))

    def test_quitTwice(self) -> None:
        """
        Quitting a second time does nothing.
        """
        self.hub.quit(self.alice)
        self.bob.clear()
        self.hub.quit(self.alice)
        self.assertEqual(self.bob.received, [])


class QueryTests(ChatHubTestCase):
    """
    Tests for L{ChatHub.who} and L{ChatHub.rooms}.
    """

    def test_whoSorted(self) -> None:
        """
        L{ChatHub.who} lists the nicknames in the room, sorted
        case-insensitively.
        """
        zed = self.registered("zed")
        self.registered("Bob")
        self.registered("alice")
        other = self.registered("carol")
        self.hub.join(other, "#dev")
        self.assertEqual(self.hub.who(zed), ["alice", "Bob", "zed"])
        self.assertEqual(self.hub.who(other), ["carol"])

    def test_roomsSortedWithCounts(self) -> None:
        """
        L{ChatHub.rooms} lists every room with how many are in it, sorted by
        name case-insensitively.
        """
        alice = self.registered("alice")
        bob = self.registered("bob")
        self.registered("carol")
        self.hub.join(alice, "#Zoo")
        self.hub.join(bob, "#apple")
        self.assertEqual(self.hub.rooms(), [("#apple", 1), ("#lobby", 1), ("#Zoo", 1)])

    def test_participants(self) -> None:
        """
        L{ChatHub.participants} lists every registered participant.
        """
        alice = self.registered("alice")
        bob = self.registered("bob")
        self.hub.part(bob)
        self.assertEqual(set(self.hub.participants()), {alice, bob})


class DrainTests(ChatHubTestCase):
    """
    The hub has no way of its own to stop a server: the connections stop,
    through their guard's L{drain<ConnectionGuard.drain>}, and each line
    protocol leaves the hub as its connection closes.
    """

    def setUp(self) -> None:
        super().setUp()
        self.clock = Clock()
        self.guard = ConnectionGuard(
            ChatFactory(self.hub, self.clock),
            self.clock,
            ConnectionLimits(maxConnections=0, maxPerSource=0, idleTimeout=0),
            service="chat",
        )

    def connect(
        self, nick: str | None = None, closesAtOnce: bool = False
    ) -> tuple[GuardedConnection, StringTransport]:
        """
        Connect to the guard, and register as C{nick} if given.

        @param closesAtOnce: use a transport that calls C{connectionLost}
            as soon as it is asked to close.
        @return: the connection and its transport, with what was written to
            it so far forgotten.
        """
        peer = IPv4Address("TCP", "192.0.2.7", 40000)
        connection = self.guard.buildProtocol(peer)
        assert isinstance(connection, GuardedConnection)
        transport: StringTransport
        if closesAtOnce:
            transport = StringTransportWithDisconnection(peerAddress=peer)
            transport.protocol = connection
        else:
            transport = StringTransport(peerAddress=peer)
        connection.makeConnection(transport)
        if nick is not None:
            connection.dataReceived(nick.encode() + b"\r\n")
        self.clock.advance(0)
        transport.clear()
        return connection, transport

    def test_everyoneAskedToLeave(self) -> None:
        """
        Every user connected, registered or not, in a room or not, is told
        the reason; once their connections are lost, the hub is empty and
        the drain is over.
        """
        alice, aliceTransport = self.connect("alice")
        bob, bobTransport = self.connect("bob")
        bob.dataReceived(b"/part\r\n")
        stranger, strangerTransport = self.connect()
        self.assertIsNone(self.hub.roomOf(bob.wrappedProtocol))
        self.assertEqual(len(self.hub.participants()), 2)
        transports = [aliceTransport, bobTransport, strangerTransport]
        for transport in transports:
            transport.clear()
        d = self.guard.drain(grace=5, reason="going down")
        for transport in transports:
            self.assertEqual(transport.value(), b"NOTE going down\r\n")
            self.assertTrue(transport.disconnecting)
        self.assertNoResult(d)
        for connection in (alice, bob, stranger):
            connection.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(d)
        self.assertEqual(self.hub.participants(), [])
        self.assertEqual(self.hub.rooms(), [("#lobby", 0)])

    def test_otherParticipantsStay(self) -> None:
        """
        A participant that is not a connection (a bridge, say) is left to
        whoever runs it: draining the connections does not touch it.
        """
        bridge = self.registered("bridge")
        alice, _ = self.connect("alice")
        bridge.clear()
        self.guard.drain(grace=5, reason="going down")
        alice.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.hub.participants(), [bridge])
        self.assertEqual(self.hub.roomOf(bridge), "#lobby")
        self.assertEqual(bridge.events(), [Quit("alice", "connection closed")])

    def test_participantsMayQuitAtOnce(self) -> None:
        """
        Users whose connections close as soon as they are asked leave the
        hub at once, without disturbing the others being asked.
        """
        transports = [self.connect(f"p{n}", closesAtOnce=True)[1] for n in range(3)]
        d = self.guard.drain(grace=5, reason="bye")
        self.successResultOf(d)
        for transport in transports:
            self.assertTrue(transport.value().endswith(b"\r\nNOTE bye\r\n"))
        self.assertEqual(self.hub.participants(), [])
        self.assertEqual(self.hub.rooms(), [("#lobby", 0)])
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class NoticeLimitTests(ChatHubTestCase):
    """
    In a room with more participants than the hub's C{noticeLimit}, C{JOIN},
    C{PART}, C{NICK} and C{QUIT} go only to the participant concerned;
    messages still go to everyone.
    """

    def setUp(self) -> None:
        self.hub = ChatHub(noticeLimit=2)
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        self.carol = self.registered("carol")
        self.dave = self.registered("dave")
        self.everyone = [self.alice, self.bob, self.carol, self.dave]
        for participant in self.everyone:
            participant.clear()

    def test_atTheLimit(self) -> None:
        """
        Up to the limit, everyone hears the notices.
        """
        hub = ChatHub(noticeLimit=2)
        alice = self.registered("alice", hub)
        bob = RecordingParticipant()
        hub.register(bob, "bob")
        self.assertEqual(alice.events(), [Joined("#lobby", "bob")])
        self.assertEqual(bob.events(), [Joined("#lobby", "bob")])

    def test_onlyTheSubjectHears(self) -> None:
        """
        Over the limit, only the participant that joins, renames or parts
        hears it.
        """
        erin = RecordingParticipant()
        self.hub.register(erin, "erin")
        self.hub.rename(erin, "erina")
        self.hub.part(erin, "bye")
        self.assertEqual(
            erin.events(),
            [
                Joined("#lobby", "erin"),
                NickChanged("erin", "erina"),
                Parted("#lobby", "erina", "bye"),
            ],
        )
        for participant in self.everyone:
            self.assertEqual(participant.received, [])

    def test_quitUnheard(self) -> None:
        """
        Over the limit, nobody hears someone quit.
        """
        self.hub.quit(self.dave, "bye")
        for participant in self.everyone:
            self.assertEqual(participant.received, [])
        self.assertEqual(self.hub.who(self.alice), ["alice", "bob", "carol"])

    def test_messagesHeard(self) -> None:
        """
        Over the limit, messages still reach everyone else.
        """
        self.hub.say(self.alice, "hello")
        for participant in self.everyone[1:]:
            self.assertEqual(
                participant.events(), [RoomMessage("#lobby", "alice", "hello")]
            )

    def test_otherRoomsUnaffected(self) -> None:
        """
        A small room hears its notices even when another room is over the
        limit.
        """
        self.hub.join(self.alice, "#small")
        self.alice.clear()
        self.hub.join(self.bob, "#small")
        self.assertEqual(self.alice.events(), [Joined("#small", "bob")])

    def test_noLimit(self) -> None:
        """
        With C{noticeLimit=0} everyone hears every notice.
        """
        hub = ChatHub(noticeLimit=0)
        participants = [self.registered(f"p{n}", hub) for n in range(5)]
        for participant in participants:
            participant.clear()
        hub.quit(participants[0])
        for participant in participants[1:]:
            self.assertEqual(participant.events(), [Quit("p0")])


class ReentrancyTests(ChatHubTestCase):
    """
    A participant may quit while a delivery is made to it (as a line
    protocol does when a slow reader's backlog passes its limit); the hub
    stays consistent.
    """

    def quitsOn(self, participant: RecordingParticipant, kind: type) -> None:
        """
        Make C{participant} quit when it is delivered an event of C{kind}.
        """

        def deliver(event: ChatEvent | History) -> None:
            if isinstance(event, kind):
                self.hub.quit(participant, "too slow")

        participant.onDeliver = deliver

    def test_quitOnOwnPartWhenJoining(self) -> None:
        """
        A participant that quits on hearing its own C{PART} as it joins
        another room is gone: its old room hears C{QUIT}, the new room does
        not get it, and nothing is raised.
        """
        alice = self.registered("alice")
        bob = self.registered("bob")
        self.quitsOn(alice, Parted)
        self.hub.join(alice, "#dev")
        self.assertIsNone(self.hub.nickOf(alice))
        self.assertIn(Quit("alice", "too slow"), bob.events())
        self.assertEqual(self.hub.rooms(), [("#lobby", 1)])

    def test_quitOnOwnPart(self) -> None:
        """
        A participant that quits on hearing its own C{PART} is gone, and
        nothing is raised.
        """
        alice = self.registered("alice")
        bob = self.registered("bob")
        self.quitsOn(alice, Parted)
        self.hub.part(alice, "bye")
        self.assertIsNone(self.hub.nickOf(alice))
        self.assertEqual(self.hub.who(bob), ["bob"])

    def test_quitDuringHistory(self) -> None:
        """
        A participant that quits while hearing a room's history is not put
        in the room: nobody hears it join and it is not listed there.
        """
        alice = self.registered("alice")
        bob = self.registered("bob")
        self.hub.join(bob, "#dev")
        self.hub.say(bob, "hello")
        bob.clear()
        self.quitsOn(alice, History)
        self.hub.join(alice, "#dev")
        self.assertIsNone(self.hub.nickOf(alice))
        self.assertNotIn(Joined("#dev", "alice"), bob.events())
        self.assertEqual(self.hub.who(bob), ["bob"])

    def test_quitDuringRegistrationHistory(self) -> None:
        """
        A participant that quits while hearing the default room's history
        on registering is not left in the room.
        """
        alice = self.registered("alice")
        self.hub.say(alice, "hello")
        bob = RecordingParticipant("bob")
        self.quitsOn(bob, History)
        self.hub.register(bob, "bob")
        self.assertIsNone(self.hub.nickOf(bob))
        self.assertEqual(self.hub.who(alice), ["alice"])

    def test_quitOnOwnJoin(self) -> None:
        """
        A participant that quits on hearing its own C{JOIN} is gone, and the
        room it joined vanishes if it is empty.
        """
        alice = self.registered("alice")
        self.quitsOn(alice, Joined)
        self.hub.join(alice, "#dev")
        self.assertIsNone(self.hub.nickOf(alice))
        self.assertEqual(self.hub.rooms(), [("#lobby", 0)])

    def test_quitOnOwnRename(self) -> None:
        """
        A participant that quits on hearing its own C{NICK} is gone, and
        both nicknames are free.
        """
        alice = self.registered("alice")
        self.quitsOn(alice, NickChanged)
        self.hub.rename(alice, "alicia")
        self.assertIsNone(self.hub.nickOf(alice))
        self.hub.checkNick("alice")
        self.hub.checkNick("alicia")


class FormatOnceTests(ChatHubTestCase):
    """
    Every fan-out hands every recipient the same bytes object, formatted
    once.
    """

    def test_everyFanOut(self) -> None:
        """
        C{JOIN}, C{MSG}, C{ACT}, C{NICK}, C{PART} and C{QUIT} reach every
        recipient as one bytes object, equal to the event formatted.
        """
        alice = self.registered("alice")
        bob = self.registered("bob")
        carol = self.registered("carol")
        for participant in (alice, bob, carol):
            participant.clear()
        dave = self.registered("dave")  # JOIN
        self.hub.say(dave, "hi")  # MSG
        self.hub.say(dave, "waves", action=True)  # ACT
        self.hub.rename(dave, "david")  # NICK
        self.hub.part(dave, "brb")  # PART
        self.hub.join(dave, "#lobby")  # JOIN
        self.hub.quit(dave, "bye")  # QUIT
        self.assertEqual(len(alice.received), 7)
        for n in range(7):
            [line, *others] = [p.received[n][1] for p in (alice, bob, carol)]
            for other in others:
                self.assertIs(other, line)
        for event, line in alice.received:
            self.assertEqual(line, formatLine(event))  # type: ignore[arg-type]


class SeveralRoomsTests(ChatHubTestCase):
    """
    A participant can be in several rooms at once (IRC's channels): joined
    with C{leaveOthers=False}, each room hears and keeps its own lines, and
    notices about the participant reach each person once.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.registered("alice")
        self.bob = self.registered("bob")
        self.hub.join(self.alice, "#dev", leaveOthers=False)
        self.alice.clear()
        self.bob.clear()

    def test_staysInEarlierRooms(self) -> None:
        """
        Joining with C{leaveOthers=False} keeps the rooms it was in;
        L{ChatHub.roomsOf} lists them in the order they were joined, and
        L{ChatHub.roomOf} is the last one.
        """
        self.assertEqual(self.hub.roomsOf(self.alice), ["#lobby", "#dev"])
        self.assertEqual(self.hub.roomOf(self.alice), "#dev")
        self.assertEqual(self.hub.who(self.bob), ["alice", "bob"])
        self.assertEqual(self.hub.rooms(), [("#dev", 1), ("#lobby", 2)])

    def test_joinAgainChangesNothing(self) -> None:
        """
        Joining a room it is in again (either way) delivers nothing and
        leaves no other room.
        """
        self.hub.join(self.alice, "#LOBBY", leaveOthers=False)
        self.hub.join(self.alice, "#dev", leaveOthers=False)
        self.assertEqual(self.alice.events(), [])
        self.assertEqual(self.hub.roomsOf(self.alice), ["#lobby", "#dev"])

    def test_joinLeavingOthers(self) -> None:
        """
        The line protocol's C{/join} leaves every room it was in, each
        hearing C{PART}, even when the participant joins one it is in.
        """
        self.hub.join(self.alice, "#dev")
        self.assertEqual(self.hub.roomsOf(self.alice), ["#dev"])
        self.assertEqual(self.bob.events(), [Parted("#lobby", "alice", "joined #dev")])
        self.assertEqual(
            self.alice.events(), [Parted("#lobby", "alice", "joined #dev")]
        )

    def test_sayInANamedRoom(self) -> None:
        """
        L{ChatHub.say} with a room says it there, and only there; that
        room keeps it in its history.
        """
        self.hub.say(self.alice, "hello lobby", room="#Lobby")
        self.assertEqual(
            self.bob.events(), [RoomMessage("#lobby", "alice", "hello lobby")]
        )
        carol = self.registered("carol")
        self.hub.join(carol, "#dev")
        self.assertNotIn(
            History(RoomMessage("#lobby", "alice", "hello lobby")), carol.events()
        )

    def test_sayWithoutARoomUsesTheLastJoined(self) -> None:
        """
        Without a room, L{ChatHub.say} says it in the room joined last.
        """
        self.hub.say(self.alice, "in dev")
        self.assertEqual(self.bob.events(), [])

    def test_sayInARoomNotJoined(self) -> None:
        """
        Saying something in a room the participant is not in is refused
        with C{not-in-room}, whether the room exists or not.
        """
        self.assertRefused("not-in-room", self.hub.say, self.bob, "x", False, "#dev")
        self.assertRefused("not-in-room", self.hub.say, self.bob, "x", False, "#none")

    def test_partANamedRoom(self) -> None:
        """
        L{ChatHub.part} with a room leaves only that room.
        """
        self.hub.part(self.alice, "bye", room="#lobby")
        self.assertEqual(self.hub.roomsOf(self.alice), ["#dev"])
        self.assertEqual(self.bob.events(), [Parted("#lobby", "alice", "bye")])
        self.assertRefused("not-in-room", self.hub.part, self.alice, "", "#lobby")

    def test_whoOfAnotherRoom(self) -> None:
        """
        L{ChatHub.who} lists any room that exists, joined or not; one that
        does not exist is C{no-such-room}.
        """
        self.assertEqual(self.hub.who(self.bob, "#DEV"), ["alice"])
        self.assertRefused("no-such-room", self.hub.who, self.bob, "#none")

    def test_whois(self) -> None:
        """
        L{ChatHub.whois} finds a nickname regardless of case, with its
        rooms; an unknown one is C{None}.
        """
        self.assertEqual(self.hub.whois("ALICE"), ("alice", ["#lobby", "#dev"]))
        self.assertIsNone(self.hub.whois("nobody"))

    def test_renameHeardOnceEach(self) -> None:
        """
        Someone who shares two rooms with a participant hears its C{NICK}
        once; so does the participant.
        """
        self.hub.join(self.bob, "#dev", leaveOthers=False)
        self.alice.clear()
        self.bob.clear()
        self.hub.rename(self.alice, "alicia")
        self.assertEqual(self.bob.events(), [NickChanged("alice", "alicia")])
        self.assertEqual(self.alice.events(), [NickChanged("alice", "alicia")])

    def test_quitHeardOnceEach(self) -> None:
        """
        Someone who shared two rooms with a participant that quits hears
        C{QUIT} once; every room it was in forgets it, and rooms left
        empty go.
        """
        carol = self.registered("carol")
        self.hub.join(carol, "#dev", leaveOthers=False)
        self.hub.join(self.alice, "#ops", leaveOthers=False)
        carol.clear()
        self.bob.clear()
        self.hub.quit(self.alice, "bye")
        self.assertEqual(carol.events(), [Quit("alice", "bye")])
        self.assertEqual(self.bob.events(), [Quit("alice", "bye")])
        self.assertEqual(self.hub.rooms(), [("#dev", 1), ("#lobby", 2)])

    def test_noticeLimitPerRoom(self) -> None:
        """
        A room over the notice limit does not make its members hear a
        C{NICK}; a smaller room the participant is also in still does.
        """
        hub = ChatHub(noticeLimit=2)
        alice = self.registered("alice", hub)
        bob = self.registered("bob", hub)
        carol = self.registered("carol", hub)
        hub.join(alice, "#dev", leaveOthers=False)
        hub.join(bob, "#dev", leaveOthers=False)
        for participant in (alice, bob, carol):
            participant.clear()
        hub.rename(alice, "alicia")
        self.assertEqual(bob.events(), [NickChanged("alice", "alicia")])
        self.assertEqual(carol.events(), [])
        self.assertEqual(alice.events(), [NickChanged("alice", "alicia")])


class RoomLimitTests(ChatHubTestCase):
    """
    A participant may be in the hub's C{roomLimit} rooms at most.
    """

    def test_limit(self) -> None:
        """
        Past the limit, joining another room with C{leaveOthers=False} is
        refused with C{too-many-rooms}; joining one it is in, or moving
        (C{leaveOthers=True}), is not.
        """
        self.hub = ChatHub(roomLimit=2)
        alice = self.registered("alice")
        self.hub.join(alice, "#dev", leaveOthers=False)
        self.assertRefused("too-many-rooms", self.hub.join, alice, "#ops", False)
        self.hub.join(alice, "#DEV", leaveOthers=False)
        self.hub.join(alice, "#ops")
        self.assertEqual(self.hub.roomsOf(alice), ["#ops"])

    def test_noLimit(self) -> None:
        """
        A limit of 0 is none.
        """
        self.hub = ChatHub(roomLimit=0)
        alice = self.registered("alice")
        for n in range(30):
            self.hub.join(alice, f"#r{n}", leaveOthers=False)
        self.assertEqual(len(self.hub.roomsOf(alice)), 31)

    def test_inRoom(self) -> None:
        """
        L{ChatHub.inRoom} names a room the participant is in, whatever the
        case asked.
        """
        alice = self.registered("alice")
        self.assertEqual(self.hub.inRoom(alice, "#LOBBY"), "#lobby")
        self.assertIsNone(self.hub.inRoom(alice, "#dev"))

    def test_hasRoom(self) -> None:
        """
        L{ChatHub.hasRoom} tells whether a room exists, whatever the case
        asked: the default room always, another while someone is in it.
        """
        alice = self.registered("alice")
        self.assertTrue(self.hub.hasRoom("#LOBBY"))
        self.assertFalse(self.hub.hasRoom("#dev"))
        self.hub.join(alice, "#dev")
        self.assertTrue(self.hub.hasRoom("#Dev"))
