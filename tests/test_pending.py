"""
Tests for L{netlab._pending.PendingReplies}, the one pending-reply queue
under every stream client.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from netlab._pending import PendingReplies
from netlab.errors import ConnectionClosed, RequestTimedOut


class _Harness:
    """
    A queue of numbered requests on a L{Clock}, recording what it sends and
    aborts, and each request's outcome.

    @ivar outcomes: for each request, every result its Deferred fired with
        (a L{Failure} for a failure, which is then handled).
    @ivar sentAt: for each request sent, the time it was sent.
    @ivar abortedFirst: for each request fired, whether C{abort} had been
        called with it by then.
    @ivar firedOrder: the requests, in the order their Deferreds fired.
    """

    def __init__(self, window: int | None = None) -> None:
        self.clock = Clock()
        self.sent: list[int] = []
        self.sentAt: dict[int, float] = {}
        self.aborted: list[int] = []
        self.outcomes: list[list[object]] = []
        self.abortedFirst: dict[int, bool] = {}
        self.firedOrder: list[int] = []
        self.deferreds: list[Deferred[str]] = []
        self.timeouts: list[float] = []
        self.queue: PendingReplies[int, str] = PendingReplies(
            self.clock,
            self._send,
            self.aborted.append,
            lambda request, timeout: f"no reply to {request} in {timeout:g}s",
            window,
        )

    def _send(self, request: int) -> None:
        self.sent.append(request)
        self.sentAt[request] = self.clock.seconds()

    def push(self, timeout: float = 5) -> int:
        """
        Push the next request.

        @return: its number.
        """
        number = len(self.deferreds)
        outcome: list[object] = []
        self.outcomes.append(outcome)
        self.timeouts.append(timeout)
        d = self.queue.push(number, timeout)
        self.deferreds.append(d)

        def record(result: object) -> None:
            self.abortedFirst[number] = number in self.aborted
            self.firedOrder.append(number)
            outcome.append(result)

        # Added as the request is pushed, before it is sent.
        d.addBoth(record)
        return number

    def lose(self) -> None:
        self.queue.failAll(lambda: ConnectionClosed("lost"))

    def fired(self, number: int) -> bool:
        return bool(self.outcomes[number])

    def failedWith(self, number: int) -> type[BaseException] | None:
        [outcome] = self.outcomes[number]
        return outcome.type if isinstance(outcome, Failure) else None


class PendingRepliesTests(SynchronousTestCase):
    """
    Tests for L{PendingReplies}.
    """

    def test_sentAtOnce(self) -> None:
        """
        With no window every request is sent as it is pushed, and the
        queue holds them, oldest first.
        """
        harness = _Harness()
        for _ in range(3):
            harness.push()
        self.assertEqual(harness.sent, [0, 1, 2])
        self.assertEqual(list(harness.queue), [0, 1, 2])
        self.assertEqual(len(harness.queue), 3)
        self.assertEqual(harness.queue.first(), 0)

    def test_resolveInOrder(self) -> None:
        """
        L{PendingReplies.resolve} and L{PendingReplies.fail} answer the
        oldest request waiting, stopping its timer.
        """
        harness = _Harness()
        for _ in range(3):
            harness.push()
        harness.queue.resolve("zero")
        harness.queue.fail(ValueError("one"))
        self.assertEqual(harness.outcomes[0], ["zero"])
        self.assertIs(harness.failedWith(1), ValueError)
        self.assertFalse(harness.fired(2))
        self.assertEqual(harness.queue.first(), 2)
        self.assertEqual(len(harness.clock.getDelayedCalls()), 1)
        harness.queue.resolve("two")
        self.assertEqual(harness.clock.getDelayedCalls(), [])
        self.assertEqual(harness.aborted, [])

    def test_nothingWaiting(self) -> None:
        """
        With no request waiting, L{PendingReplies.first},
        L{PendingReplies.resolve} and L{PendingReplies.fail} raise
        L{IndexError}, and the queue is false.
        """
        queue = _Harness().queue
        self.assertFalse(queue)
        self.assertRaises(IndexError, queue.first)
        self.assertRaises(IndexError, queue.resolve, "x")
        self.assertRaises(IndexError, queue.fail, ValueError())

    def test_timeout(self) -> None:
        """
        A request not answered in its time fails with L{RequestTimedOut}
        saying what the caller chose, after the queue has forgotten it and
        called C{abort} with it.
        """
        harness = _Harness()
        harness.push(timeout=5)
        harness.clock.advance(1)
        harness.push(timeout=5)
        harness.clock.advance(3.9)
        self.assertFalse(harness.fired(0))
        harness.clock.advance(0.1)
        [failure] = harness.outcomes[0]
        assert isinstance(failure, Failure)
        self.assertIsInstance(failure.value, RequestTimedOut)
        self.assertEqual(str(failure.value), "no reply to 0 in 5s")
        self.assertEqual(harness.aborted, [0])
        self.assertTrue(harness.abortedFirst[0])
        self.assertEqual(list(harness.queue), [1])

    def test_cancel(self) -> None:
        """
        Cancelling a request fails it with C{CancelledError}, stops its
        timer and calls C{abort} with it; the others go on waiting.
        """
        harness = _Harness()
        harness.push()
        harness.push()
        harness.deferreds[1].cancel()
        self.assertIs(harness.failedWith(1), CancelledError)
        self.assertEqual(harness.aborted, [1])
        self.assertTrue(harness.abortedFirst[1])
        self.assertEqual(list(harness.queue), [0])
        self.assertEqual(len(harness.clock.getDelayedCalls()), 1)
        harness.deferreds[1].cancel()
        self.assertEqual(harness.aborted, [1])

    def test_failAll(self) -> None:
        """
        L{PendingReplies.failAll} fails every request, sent or not, oldest
        first, each with an exception of its own, leaves no timer, and
        fails every request pushed later at once without sending it.
        """
        harness = _Harness(window=1)
        for _ in range(3):
            harness.push()
        harness.lose()
        self.assertEqual(harness.firedOrder, [0, 1, 2])
        reasons = set()
        for [outcome] in harness.outcomes:
            assert isinstance(outcome, Failure)
            self.assertIsInstance(outcome.value, ConnectionClosed)
            reasons.add(id(outcome.value))
        self.assertEqual(len(reasons), 3)
        self.assertEqual(harness.clock.getDelayedCalls(), [])
        later = harness.push()
        self.assertIs(harness.failedWith(later), ConnectionClosed)
        self.assertEqual(harness.sent, [0])
        self.assertFalse(harness.queue)
        self.assertEqual(harness.aborted, [])

    def test_cancelWhileFailingAll(self) -> None:
        """
        A request cancelled by a callback while L{PendingReplies.failAll} is
        failing the ones before it fires once, with C{CancelledError}, and
        does not call C{abort}: the connection is gone already.
        """
        harness = _Harness()
        harness.push()
        harness.push()
        harness.deferreds[0].addBoth(lambda result: harness.deferreds[1].cancel())
        harness.lose()
        self.assertIs(harness.failedWith(1), CancelledError)
        self.assertEqual(harness.aborted, [])

    def test_window(self) -> None:
        """
        With a window of one, a request is sent only once the one before it
        is answered, and its deadline runs from then; a callback added
        before it was sent sees L{RequestTimedOut}.
        """
        harness = _Harness(window=1)
        harness.push(timeout=5)
        harness.push(timeout=5)
        self.assertEqual(harness.sent, [0])
        self.assertEqual(list(harness.queue), [0])
        harness.clock.advance(4)
        harness.queue.resolve("zero")
        self.assertEqual(harness.sent, [0, 1])
        harness.clock.advance(4.9)
        self.assertFalse(harness.fired(1))
        harness.clock.advance(0.1)
        self.assertIs(harness.failedWith(1), RequestTimedOut)

    def test_cancelUnsent(self) -> None:
        """
        Cancelling a request not yet sent forgets it, calls C{abort}, and
        it is never sent.
        """
        harness = _Harness(window=1)
        harness.push()
        harness.push()
        harness.deferreds[1].cancel()
        self.assertEqual(harness.aborted, [1])
        harness.queue.resolve("zero")
        self.assertEqual(harness.sent, [0])

    def test_pushFromCallback(self) -> None:
        """
        A request pushed by a callback of the reply before it is sent after
        the requests already waiting to be, in order.
        """
        harness = _Harness(window=1)
        harness.push()
        harness.push()
        harness.deferreds[0].addCallback(lambda result: harness.push())
        harness.queue.resolve("zero")
        self.assertEqual(harness.sent, [0, 1])
        harness.queue.resolve("one")
        self.assertEqual(harness.sent, [0, 1, 2])


_STEP = st.one_of(
    st.tuples(st.just("push"), st.integers(1, 6)),
    st.tuples(st.just("resolve")),
    st.tuples(st.just("fail")),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("advance"), st.integers(0, 4)),
)


class PendingRepliesPropertyTests(SynchronousTestCase):
    """
    Property tests for L{PendingReplies}.
    """

    def _checkInvariants(
        self, harness: _Harness, window: int | None, abandoned: bool
    ) -> None:
        queue = harness.queue
        waiting = list(queue)
        # Sent in the order pushed; waiting: those sent, not yet fired.
        self.assertEqual(harness.sent, sorted(harness.sent))
        self.assertEqual(
            waiting, [n for n in harness.sent if not harness.fired(n)], harness.sent
        )
        unsent = [
            n
            for n in range(len(harness.deferreds))
            if n not in harness.sentAt and not harness.fired(n)
        ]
        if window is None:
            self.assertEqual(unsent, [])
        else:
            self.assertLessEqual(len(waiting), window)
            if unsent and not abandoned:
                # Held back only by the window, until one is abandoned
                # (then the connection is being aborted).
                self.assertEqual(len(waiting), window)
        # Exactly one timer for each request sent and waiting, none else.
        self.assertEqual(len(harness.clock.getDelayedCalls()), len(waiting))
        for outcomes in harness.outcomes:
            self.assertLessEqual(len(outcomes), 1)

    @given(
        steps=st.lists(_STEP, max_size=40),
        window=st.sampled_from([None, 1, 2]),
        lose=st.booleans(),
    )
    def test_anyInterleaving(
        self, steps: list[tuple[Any, ...]], window: int | None, lose: bool
    ) -> None:
        """
        Under any interleaving of pushes, replies, failures, cancellations
        and time passing, then the connection lost: replies and failures go
        to the oldest request sent, in order; a request times out exactly
        when its deadline from its sending passes; C{abort} is called once
        for each request timed out or cancelled; every Deferred fires
        exactly once; and no timer is left running.
        """
        harness = _Harness(window)
        queue = harness.queue
        answered: list[int] = []
        abandoned = False
        for step in steps:
            kind = step[0]
            if kind == "push":
                harness.push(step[1])
            elif kind in ("resolve", "fail"):
                if not queue:
                    self.assertRaises(IndexError, queue.resolve, "late")
                    continue
                oldest = queue.first()
                if kind == "resolve":
                    queue.resolve(f"reply {oldest}")
                    self.assertEqual(harness.outcomes[oldest], [f"reply {oldest}"])
                else:
                    queue.fail(ValueError(oldest))
                    self.assertIs(harness.failedWith(oldest), ValueError)
                answered.append(oldest)
            elif kind == "cancel" and harness.deferreds:
                number = step[1] % len(harness.deferreds)
                live = not harness.fired(number)
                aborted = len(harness.aborted)
                harness.deferreds[number].cancel()
                abandoned = abandoned or live
                if live:
                    self.assertIs(harness.failedWith(number), CancelledError)
                    self.assertEqual(harness.aborted[aborted:], [number])
                else:
                    self.assertEqual(len(harness.aborted), aborted)
            elif kind == "advance":
                before = list(queue)
                harness.clock.advance(step[1])
                now = harness.clock.seconds()
                for number in before:
                    due = harness.sentAt[number] + harness.timeouts[number] <= now
                    self.assertEqual(harness.fired(number), due)
                    if due:
                        self.assertIs(harness.failedWith(number), RequestTimedOut)
                        abandoned = True
            self._checkInvariants(harness, window, abandoned)
        self.assertEqual(answered, sorted(answered))
        timedOutOrCancelled = [
            n
            for n in range(len(harness.deferreds))
            if harness.fired(n)
            and harness.failedWith(n) in (RequestTimedOut, CancelledError)
        ]
        self.assertEqual(sorted(harness.aborted), timedOutOrCancelled)
        if lose:
            abortedBefore = list(harness.aborted)
            harness.lose()
            for d in harness.deferreds:
                d.cancel()
            for outcomes in harness.outcomes:
                self.assertEqual(len(outcomes), 1)
            self.assertEqual(harness.aborted, abortedBefore)
            self.assertEqual(harness.clock.getDelayedCalls(), [])
            self.assertFalse(queue)
