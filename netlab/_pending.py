"""
One queue of requests waiting for their replies, under every stream client
netlab has (timestamp, echo, chat), in the manner of treq's one
C{HTTPClient} under every verb.

The clients' protocols answer requests in the order they were sent, so a
reply always belongs to the oldest request still waiting: the queue keeps
the requests in order, gives each a C{Deferred} and a deadline, and knows
the three ways a request can end other than by its reply: its deadline
passes, its caller cancels it, or the connection is lost.  A request that
ends the first two ways leaves the connection unusable, since the replies
after it could no longer be matched to their requests; so the queue calls
the C{abort} it was given, and the client aborts the connection.

The queue does no I/O itself: it is handed a C{send} to write a request,
and the clock to time it on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from netlab.errors import RequestTimedOut

__all__ = ["PendingReplies"]

_Request = TypeVar("_Request")
_Reply = TypeVar("_Reply")


@attrs.define(eq=False)
class _Waiting(Generic[_Request, _Reply]):
    """
    One request and what waits on its reply.

    @ivar timer: the call that times it out, once it is sent.
    """

    request: _Request
    timeout: float
    deferred: Deferred[_Reply]
    timer: IDelayedCall | None = None


class PendingReplies(Generic[_Request, _Reply]):
    """
    Requests waiting for their replies, answered in the order they were
    sent.

    A request pushed is sent at once, or, with a C{window}, once fewer than
    that many sent requests are still waiting (a protocol whose replies have
    no end marker sends one at a time): as a reply comes, or as another
    request is pushed, but not as one times out or is cancelled, since the
    connection is being aborted then.  Its deadline runs from when it is
    sent.  Each request's C{Deferred} fires exactly once, and every timer is
    stopped as it does:

      - with the reply, or a failure, given to L{resolve} or L{fail}, which
        answer the oldest request sent;
      - with L{RequestTimedOut} once its deadline passes: the queue forgets
        it and calls C{abort} first;
      - with C{CancelledError} when its caller cancels it: the queue forgets
        it and calls C{abort};
      - with a failure made by the C{reason} given to L{failAll}, as when
        the connection is lost; every request pushed later fails with one
        at once, and C{abort} is no longer called.

    Iterating over the queue, and its length, cover the requests sent and
    still waiting, oldest first.
    """

    def __init__(
        self,
        clock: IReactorTime,
        send: Callable[[_Request], object],
        abort: Callable[[_Request], object],
        timeoutMessage: Callable[[_Request, float], str],
        window: int | None = None,
    ) -> None:
        """
        @param clock: the clock for the deadlines.
        @param send: writes a request to the connection.
        @param abort: called with a request that timed out or was
            cancelled, while the connection is still up: it should abort
            the connection.
        @param timeoutMessage: what L{RequestTimedOut} says for a request
            given the seconds it waited.
        @param window: at most how many sent requests may be waiting;
            C{None} for no bound.
        """
        self._clock = clock
        self._send = send
        self._abort = abort
        self._timeoutMessage = timeoutMessage
        self._window = window
        self._sent: deque[_Waiting[_Request, _Reply]] = deque()
        self._unsent: deque[_Waiting[_Request, _Reply]] = deque()
        self._lost: Callable[[], Exception] | None = None

    def push(self, request: _Request, timeout: float) -> Deferred[_Reply]:
        """
        Queue C{request}, and send it if the window allows.

        @param timeout: seconds to wait for its reply, once sent.
        @return: a Deferred that fires with its reply (see the class
            docstring for the ways it can fail).  Cancelling it calls
            C{abort}.
        """
        waiting: _Waiting[_Request, _Reply] = _Waiting(
            request, timeout, Deferred(lambda d: self._withdraw(waiting))
        )
        if self._lost is not None:
            waiting.deferred.errback(self._lost())
        else:
            self._unsent.append(waiting)
            self._sendWaiting()
        return waiting.deferred

    def first(self) -> _Request:
        """
        @return: the oldest request sent and still waiting: the one the
            next reply answers.
        @raise IndexError: if there is none.
        """
        return self._sent[0].request

    def __len__(self) -> int:
        return len(self._sent)

    def __iter__(self) -> Iterator[_Request]:
        return (waiting.request for waiting in self._sent)

    def resolve(self, reply: _Reply) -> None:
        """
        Answer the oldest request sent with C{reply}.

        @raise IndexError: if none is waiting.
        """
        self._take().deferred.callback(reply)
        self._sendWaiting()

    def fail(self, reason: Exception) -> None:
        """
        Fail the oldest request sent with C{reason}.

        @raise IndexError: if none is waiting.
        """
        self._take().deferred.errback(reason)
        self._sendWaiting()

    def failAll(self, reason: Callable[[], Exception]) -> None:
        """
        Fail every request, sent or not, oldest first, and every request
        pushed from now on, each with an exception made by calling
        C{reason}: for when the connection is lost.
        """
        self._lost = reason
        for queue in (self._sent, self._unsent):
            while queue:
                waiting = queue.popleft()
                _stop(waiting)
                waiting.deferred.errback(reason())

    def _take(self) -> _Waiting[_Request, _Reply]:
        waiting = self._sent.popleft()
        _stop(waiting)
        return waiting

    def _sendWaiting(self) -> None:
        while self._unsent and (self._window is None or len(self._sent) < self._window):
            waiting = self._unsent.popleft()
            waiting.timer = self._clock.callLater(
                waiting.timeout, self._timedOut, waiting
            )
            self._sent.append(waiting)
            self._send(waiting.request)

    def _timedOut(self, waiting: _Waiting[_Request, _Reply]) -> None:
        waiting.timer = None
        self._withdraw(waiting)
        message = self._timeoutMessage(waiting.request, waiting.timeout)
        waiting.deferred.errback(RequestTimedOut(message))

    def _withdraw(self, waiting: _Waiting[_Request, _Reply]) -> None:
        """
        Forget a request that will get no reply, timed out or cancelled,
        and have the connection aborted.
        """
        for queue in (self._sent, self._unsent):
            if waiting in queue:
                queue.remove(waiting)
        _stop(waiting)
        if self._lost is None:
            self._abort(waiting.request)


def _stop(waiting: _Waiting[_Request, _Reply]) -> None:
    """
    Stop a request's timer, if it has one running.
    """
    if waiting.timer is not None:
        waiting.timer.cancel()
        waiting.timer = None
