"""
Tests for L{netlab.chat._metrics}: the chat service's gauges, read from a
hub with fake participants, alone and through a L{ServiceCollector}.
"""

from __future__ import annotations

from prometheus_client import generate_latest
from twisted.trial.unittest import SynchronousTestCase

from netlab._metrics import ServiceCollector, newRegistry
from netlab.chat import ChatHub
from netlab.chat._metrics import chatGauges
from tests.chat.test_hub import RecordingParticipant


def _register(hub: ChatHub, *nicks: str) -> list[RecordingParticipant]:
    """
    @return: a participant registered in C{hub} under each nickname.
    """
    participants = []
    for nick in nicks:
        participant = RecordingParticipant(nick)
        hub.register(participant, nick)
        participants.append(participant)
    return participants


def _report(collector: ServiceCollector, service: str, hub: ChatHub) -> None:
    """
    Report C{hub}'s gauges as the chat service's build does.
    """
    for name, documentation, read in chatGauges(hub):
        collector.addGauge(name, documentation, read, {"service": service})


class ChatGaugesTests(SynchronousTestCase):
    """
    Tests for L{chatGauges}.
    """

    def setUp(self) -> None:
        self.hub = ChatHub()

    def read(self) -> dict[str, float]:
        """
        @return: the value of each of the hub's gauges, by name.
        """
        return {name: read() for name, _, read in chatGauges(self.hub)}

    def test_namesAndHelp(self) -> None:
        """
        The gauges are the users and the rooms, with their help texts.
        """
        self.assertEqual(
            [(name, documentation) for name, documentation, _ in chatGauges(self.hub)],
            [
                ("netlab_chat_users", "Chat users with a nickname."),
                ("netlab_chat_rooms", "Chat rooms that exist."),
            ],
        )

    def test_empty(self) -> None:
        """
        A new hub has no users, and one room: its default room, which
        always exists.
        """
        self.assertEqual(self.read(), {"netlab_chat_users": 0, "netlab_chat_rooms": 1})

    def test_readEachTime(self) -> None:
        """
        The gauges read the hub when they are read: users registered, and
        rooms that exist, as they are then.
        """
        alice, bob = _register(self.hub, "alice", "bob")
        self.assertEqual(self.read(), {"netlab_chat_users": 2, "netlab_chat_rooms": 1})
        self.hub.join(bob, "#dev")
        self.assertEqual(self.read(), {"netlab_chat_users": 2, "netlab_chat_rooms": 2})
        self.hub.quit(bob, "bye")
        self.assertEqual(self.read(), {"netlab_chat_users": 1, "netlab_chat_rooms": 1})
        self.hub.quit(alice, "bye")
        self.assertEqual(self.read(), {"netlab_chat_users": 0, "netlab_chat_rooms": 1})


class ChatGaugesCollectedTests(SynchronousTestCase):
    """
    The chat gauges as the metrics endpoint reports them.
    """

    def test_scraped(self) -> None:
        """
        A chat service's gauges are labelled with its name, with the help
        texts netlab has always given them.
        """
        collector = ServiceCollector()
        hub = ChatHub()
        _report(collector, "chat", hub)
        _register(hub, "alice")
        lines = generate_latest(newRegistry(collector)).decode("utf-8").splitlines()
        for line in [
            "# HELP netlab_chat_users Chat users with a nickname.",
            "# TYPE netlab_chat_users gauge",
            'netlab_chat_users{service="chat"} 1.0',
            "# HELP netlab_chat_rooms Chat rooms that exist.",
            "# TYPE netlab_chat_rooms gauge",
            'netlab_chat_rooms{service="chat"} 1.0',
        ]:
            self.assertIn(line, lines)

    def test_sameNameAddedUp(self) -> None:
        """
        Two chat services of one name (C{chat + chat}) give one series of
        each gauge, their hubs added up (each hub has its default room);
        another name is another series.
        """
        collector = ServiceCollector()
        hubs = [ChatHub(), ChatHub(), ChatHub()]
        for service, hub in zip(["chat", "chat", "other"], hubs, strict=True):
            _report(collector, service, hub)
        _register(hubs[0], "alice")
        (bob,) = _register(hubs[1], "bob")
        hubs[1].join(bob, "#dev")
        _register(hubs[2], "carol", "dave")
        lines = generate_latest(newRegistry(collector)).decode("utf-8").splitlines()
        users = [line for line in lines if line.startswith("netlab_chat_users")]
        rooms = [line for line in lines if line.startswith("netlab_chat_rooms")]
        self.assertEqual(
            users,
            [
                'netlab_chat_users{service="chat"} 2.0',
                'netlab_chat_users{service="other"} 2.0',
            ],
        )
        self.assertEqual(
            rooms,
            [
                'netlab_chat_rooms{service="chat"} 3.0',
                'netlab_chat_rooms{service="other"} 1.0',
            ],
        )
