"""
Tests for L{netlab.chat._participant}: the collaborators every kind of chat
connection shares.  (How the line protocol and the WebSocket use them is
tested in C{test_server.py} and C{test_web.py}.)
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from netlab.chat._hub import ChatHub
from netlab.chat._participant import (
    BACKLOG,
    RATE,
    Backlog,
    ChatCommands,
    Deadlines,
    InputPacer,
    OutputBatch,
    ReadGate,
    closeWithDeadline,
)
from netlab.chat._wire import Error, Reply


class _Producer:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")


class ReadGateTests(SynchronousTestCase):
    """
    L{ReadGate}: reading stops while any reason holds.
    """

    def test_reasons(self) -> None:
        """
        The producer is paused by the first reason and resumed once the
        last is gone, and never resumed once stopped.
        """
        producer = _Producer()
        gate = ReadGate(producer)
        gate.pause(RATE)
        gate.pause(BACKLOG)
        gate.resume(RATE)
        self.assertEqual(producer.calls, ["pause"])
        gate.resume(BACKLOG)
        self.assertEqual(producer.calls, ["pause", "resume"])
        gate.resume(BACKLOG)
        gate.pause(RATE)
        gate.stop()
        gate.resume(RATE)
        self.assertEqual(producer.calls, ["pause", "resume", "pause"])


class InputPacerTests(SynchronousTestCase):
    """
    L{InputPacer}: a token bucket that stops reading.
    """

    def test_paced(self) -> None:
        """
        Past the burst, items wait, reading is paused, and they are handled
        in order as the rate allows.
        """
        clock, producer = Clock(), _Producer()
        handled: list[int] = []
        pacer = InputPacer(clock, 2, 2, ReadGate(producer), handled.append)
        pacer.feed([1, 2, 3, 4])
        self.assertEqual((handled, producer.calls), ([1, 2], ["pause"]))
        clock.advance(0.5)
        self.assertEqual(handled, [1, 2, 3])
        clock.advance(0.5)
        self.assertEqual((handled, producer.calls), ([1, 2, 3, 4], ["pause", "resume"]))

    def test_stopped(self) -> None:
        """
        Once stopped, nothing more is handled, even by the item being
        handled, and no call is left.
        """
        clock, handled = Clock(), []
        pacer: InputPacer[int] = InputPacer(clock, 0, 1, ReadGate(), lambda item: None)

        def handle(item: int) -> None:
            handled.append(item)
            pacer.stop()

        pacer._handle = handle
        pacer.feed([1, 2, 3])
        self.assertEqual(handled, [1])
        self.assertEqual(clock.getDelayedCalls(), [])


class BacklogTests(SynchronousTestCase):
    """
    L{Backlog}: the soft and hard limits.
    """

    def test_notCountedUnlessPaused(self) -> None:
        """
        Nothing is counted while the transport takes everything.
        """
        backlog = Backlog(Clock(), 10, 1, 20, lambda: None)
        self.assertTrue(backlog.count(1000))
        self.assertEqual(backlog.size, 0)

    def test_limits(self) -> None:
        """
        Past the hard limit, C{count} says so; over the soft limit for its
        time, the callback is called, unless the backlog drained before.
        """
        clock, held = Clock(), []
        backlog = Backlog(clock, 10, 1, 20, lambda: held.append(True))
        backlog.paused()
        self.assertTrue(backlog.count(15))
        backlog.resumed()
        clock.advance(1)
        self.assertEqual(held, [])
        backlog.paused()
        self.assertTrue(backlog.count(15))
        clock.advance(1)
        self.assertEqual(held, [True])
        self.assertFalse(backlog.count(6))


class DeadlinesTests(SynchronousTestCase):
    """
    L{Deadlines}: the registration and idle timeouts.
    """

    def test_expired(self) -> None:
        """
        Each deadline gives its error; registering stops the first, and
        activity puts the second back.
        """
        clock = Clock()
        errors: list[Error] = []
        deadlines = Deadlines(clock, 5, 0, errors.append)
        deadlines.start()
        clock.advance(5)
        self.assertEqual([e.code for e in errors], ["registration-timeout"])
        deadlines = Deadlines(clock, 5, 10, errors.append)
        deadlines.start()
        deadlines.registered()
        clock.advance(9)
        deadlines.touch()
        clock.advance(9)
        self.assertEqual(len(errors), 1)
        clock.advance(1)
        self.assertEqual(
            errors[-1], Error("*", "idle-timeout", "nothing received for 10s; goodbye")
        )
        deadlines.stop()
        self.assertEqual(clock.getDelayedCalls(), [])


class ChatCommandsTests(SynchronousTestCase):
    """
    L{ChatCommands}: a command's effect and its one reply.
    """

    def test_runs(self) -> None:
        """
        Before registering, only C{nick} and C{quit} run; a refusal by the
        hub is an L{Error} naming the command.
        """
        sent: list[object] = []
        closed: list[bool] = []

        class Participant:
            def deliver(self, event: object, line: bytes) -> None:
                sent.append(event)

        participant = Participant()
        commands = ChatCommands(
            ChatHub(),
            participant,  # type: ignore[arg-type]
            sent.append,
            lambda: None,
            lambda: closed.append(True),
            "USAGE",
        )
        self.assertTrue(commands.knows("msg"))
        self.assertFalse(commands.knows("help"))
        commands.run("who")
        commands.run("nick", "9")
        commands.run("nick", " alice ")
        commands.run("msg", "", "x")
        commands.run("quit", "bye")
        self.assertEqual(
            [e for e in sent if isinstance(e, (Reply, Error))],
            [
                Error("who", "not-registered", "choose a nickname first: /nick NAME"),
                Error(
                    "nick",
                    "nick-invalid",
                    "'9' is not a nickname: a letter or _, then up to 15 letters, "
                    "digits, _ or -",
                ),
                Reply("nick", ("alice",)),
                Error("msg", "usage", "USAGE"),
                Reply("quit"),
            ],
        )
        self.assertEqual(closed, [True])


class OutputBatchTests(SynchronousTestCase):
    """
    L{OutputBatch}: output at the end of the turn.
    """

    def test_oneFailureOnly(self) -> None:
        """
        A connection whose flush fails is logged, and the others are still
        served.
        """
        clock, flushed = Clock(), []

        class Good:
            def flushOutput(self) -> None:
                flushed.append(self)

        class Bad:
            def flushOutput(self) -> None:
                raise RuntimeError("a bug")

        batch: OutputBatch[object] = OutputBatch(clock)  # type: ignore[type-var]
        good, bad = Good(), Bad()
        batch.add(bad)  # type: ignore[arg-type]
        batch.add(good)  # type: ignore[arg-type]
        with capturedLogs() as events:
            clock.advance(0)
        self.assertEqual(flushed, [good])
        self.assertEqual(len([e for e in events if e.get("log_failure")]), 1)
        self.flushLoggedErrors(RuntimeError)


class CloseWithDeadlineTests(SynchronousTestCase):
    """
    L{closeWithDeadline}: a close that cannot wait for ever.
    """

    def test_alone(self) -> None:
        """
        Alone, the connection is closed and aborted after the deadline; a
        close of its own is called instead of C{loseConnection}, after the
        producer is unregistered.
        """
        clock, transport = Clock(), StringTransport()
        transport.registerProducer(_Producer(), True)
        closed: list[bool] = []
        call = closeWithDeadline(transport, clock, lambda: closed.append(True), 3)
        self.assertEqual(closed, [True])
        self.assertIsNone(transport.producer)
        self.assertFalse(transport.disconnecting)
        assert call is not None
        clock.advance(3)
        self.assertTrue(transport.disconnected)

    def test_loseConnection(self) -> None:
        """
        Without a close of its own, the transport's C{loseConnection}.
        """
        clock, transport = Clock(), StringTransport()
        closeWithDeadline(transport, clock)
        self.assertTrue(transport.disconnecting)
        clock.advance(10)
        self.assertTrue(transport.disconnected)
