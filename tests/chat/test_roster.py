"""
Tests for L{netlab.chat._roster}: who is in the room, for completing
nicknames.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from netlab.chat._roster import Roster
from netlab.chat._wire import (
    Action,
    History,
    Joined,
    NickChanged,
    Parted,
    Quit,
    RoomMessage,
)


class RosterTests(SynchronousTestCase):
    """
    Tests for L{Roster}.
    """

    def setUp(self) -> None:
        self.roster = Roster()
        self.roster.heard(Joined("#lobby", "alice"), "alice")
        self.roster.reset("#lobby", ["alice", "bob", "Carol"])

    def test_joined(self) -> None:
        """
        Joining a room starts its roster afresh; others joining it are
        added, those joining other rooms are not.
        """
        self.assertEqual(self.roster.room, "#lobby")
        self.roster.heard(Joined("#lobby", "dave"), "alice")
        self.roster.heard(Joined("#dev", "erin"), "alice")
        self.assertEqual(self.roster.nicks, ["alice", "bob", "Carol", "dave"])
        self.roster.heard(Joined("#dev", "ALICE"), "alice")
        self.assertEqual((self.roster.room, self.roster.nicks), ("#dev", []))

    def test_left(self) -> None:
        """
        Those who part the room or quit are gone; parting it oneself leaves
        no room.
        """
        self.roster.heard(Parted("#lobby", "bob", "lunch"), "alice")
        self.roster.heard(Parted("#dev", "carol"), "alice")
        self.roster.heard(Quit("CAROL"), "alice")
        self.assertEqual(self.roster.nicks, ["alice"])
        self.roster.heard(Parted("#lobby", "alice"), "alice")
        self.assertEqual((self.roster.room, self.roster.nicks), (None, []))

    def test_renamed(self) -> None:
        """
        A rename keeps the person, under the new name.
        """
        self.roster.heard(RoomMessage("#lobby", "bob", "hi"), "alice")
        self.roster.heard(NickChanged("bob", "robert"), "alice")
        self.assertEqual(self.roster.nicks, ["alice", "Carol", "robert"])
        self.assertEqual(self.roster.complete("", "alice"), ["robert", "Carol"])

    def test_complete(self) -> None:
        """
        Completion offers those whose nickname starts with the prefix,
        whatever its case, but oneself: the latest to speak first, then in
        alphabetical order.
        """
        self.roster.reset("#lobby", ["alice", "bob", "bobby", "Carol", "boris"])
        self.assertEqual(self.roster.complete("BO", "alice"), ["bob", "bobby", "boris"])
        self.roster.heard(RoomMessage("#lobby", "boris", "hi"), "alice")
        self.roster.heard(Action("#lobby", "bobby", "waves"), "alice")
        self.assertEqual(self.roster.complete("bo", "alice"), ["bobby", "boris", "bob"])
        self.assertEqual(self.roster.complete("a", "alice"), [])
        self.assertEqual(self.roster.complete("c", "alice"), ["Carol"])

    def test_speakersAdded(self) -> None:
        """
        Someone heard speaking in the room is in it, even if the roster
        missed their arrival; history and other rooms do not count.
        """
        self.roster.heard(RoomMessage("#lobby", "zed", "hi"), "alice")
        self.roster.heard(RoomMessage("#dev", "yan", "hi"), "alice")
        self.roster.heard(History(RoomMessage("#lobby", "xi", "old")), "alice")
        self.assertEqual(self.roster.nicks, ["alice", "bob", "Carol", "zed"])

    def test_resetKeepsWhoSpoke(self) -> None:
        """
        The answer to C{/who} for the same room keeps who spoke last.
        """
        self.roster.heard(RoomMessage("#lobby", "Carol", "hi"), "alice")
        self.roster.reset("#lobby", ["alice", "bob", "carol", "dave"])
        self.assertEqual(self.roster.complete("", "alice"), ["carol", "bob", "dave"])
