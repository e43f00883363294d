"""
Testing your own code against netlab without sockets: a little "user code"
(a function that asks a timestamp server for its time, and a chat greeter),
and trial-style SynchronousTestCase tests that run it against netlab's real
server factories in memory, with netlab.testing.MemoryEndpoint and a Clock.
No reactor runs; the tests decide when bytes move (flush) and time passes
(advance).

    python examples/test_with_netlab.py           # unittest's runner
    python -m pytest examples/test_with_netlab.py
    python -m twisted.trial examples/test_with_netlab.py
"""

import unittest

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.trial import unittest as trial

from netlab.chat import ChatFactory, ChatHub, Joined, RoomMessage, connectChat
from netlab.errors import ConnectFailed, RequestTimedOut
from netlab.testing import MemoryEndpoint
from netlab.timestamp import TimestampFactory, getTimestamp

# The user code under test.  It takes its endpoint and clock as arguments,
# as netlab does, so a test can hand it in-memory ones.


async def serverTime(endpoint, clock, timeout=5.0):
    """
    Ask a timestamp server for its time.

    @return: the server's time as C{HH:MM:SS}, or C{unknown (why)}.
    """
    try:
        reply = await getTimestamp(endpoint, b"time?", timeout=timeout, clock=clock)
    except ConnectFailed:
        return "unknown (server unreachable)"
    except RequestTimedOut:
        return "unknown (server too slow)"
    return reply.when.strftime("%H:%M:%S")


def greetNewcomers(session):
    """
    Have a chat session welcome everyone else who joins its room.
    """

    def onEvent(event):
        if isinstance(event, Joined) and event.room == session.room:
            if event.nick != session.nick:
                session.say(f"welcome, {event.nick}!")

    session.addListener(onEvent)


# The tests.  (trial's TestCase classes are reached through the module, not
# imported by name: unittest's runner would run SynchronousTestCase itself.)


class ServerTimeTests(trial.SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1795391173)  # 2026-11-22T23:46:13Z
        # The real server factory, on the same clock, stamping UTC so that
        # the test does not depend on the machine's time zone.
        self.endpoint = MemoryEndpoint(
            TimestampFactory(self.clock, utc=True), self.clock
        )

    def test_serverTime(self):
        """
        serverTime gives the time the server stamped.
        """
        d = Deferred.fromCoroutine(serverTime(self.endpoint, self.clock))
        self.endpoint.flush()  # deliver the request and the reply
        self.assertEqual(self.successResultOf(d), "23:46:13")

    def test_unreachable(self):
        """
        serverTime says so when the server cannot be reached.
        """
        self.endpoint.refuse = True
        d = Deferred.fromCoroutine(serverTime(self.endpoint, self.clock))
        self.assertEqual(self.successResultOf(d), "unknown (server unreachable)")

    def test_tooSlow(self):
        """
        serverTime gives up after its timeout when the server does not
        answer.
        """
        silent = MemoryEndpoint(Factory.forProtocol(Protocol), self.clock)
        d = Deferred.fromCoroutine(serverTime(silent, self.clock, timeout=5))
        silent.flush()
        self.clock.advance(4.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)  # the deadline: the client aborts...
        silent.flush()  # ...and the connection is gone once that is delivered
        self.assertEqual(self.successResultOf(d), "unknown (server too slow)")


class GreeterTests(trial.SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        # The chat server sends its output on the next turn of the reactor:
        # give MemoryEndpoint the clock, and flush() runs those turns too.
        self.endpoint = MemoryEndpoint(ChatFactory(ChatHub(), self.clock), self.clock)

    def connect(self, nick, heard):
        """
        Connect and register C{nick}; C{heard} gets every event from the
        start (the listener is added as soon as the session exists).
        """
        d = connectChat(self.endpoint, nick, clock=self.clock)
        d.addCallback(lambda session: session.addListener(heard.append) or session)
        self.endpoint.flush()
        return self.successResultOf(d)

    def test_welcomesNewcomer(self):
        """
        The greeter welcomes someone who joins its room, in the room.
        """
        greeter = self.connect("greeter", [])
        greetNewcomers(greeter)
        heard = []
        self.connect("alice", heard)
        self.assertIn(RoomMessage("#lobby", "greeter", "welcome, alice!"), heard)

    def test_doesNotWelcomeItself(self):
        """
        The greeter says nothing when it is the one joining a room.
        """
        heard = []
        alice = self.connect("alice", heard)
        joined = alice.join("#dev")
        greeter = self.connect("greeter", [])
        greetNewcomers(greeter)
        joining = greeter.join("#dev")
        self.endpoint.flush()
        self.assertEqual(self.successResultOf(joined), "#dev")
        self.assertEqual(self.successResultOf(joining), "#dev")
        self.assertIn(Joined("#dev", "greeter"), heard)
        self.assertEqual([e for e in heard if isinstance(e, RoomMessage)], [])


if __name__ == "__main__":
    unittest.main()
