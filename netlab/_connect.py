"""
Connecting a client, with a deadline and netlab's errors: shared by every
stream client.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet import error
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from netlab.errors import ConnectFailed, RequestTimedOut


def connect(
    endpoint: IStreamClientEndpoint,
    factory: Factory[Any],
    timeout: float,
    clock: IReactorTime,
    server: str,
) -> Deferred[Any]:
    """
    Connect C{factory}'s protocol through C{endpoint}.

    @param server: what the errors call the server, e.g. C{"echo server"}.
    @return: a Deferred that fires with the connected protocol, or fails
        with L{RequestTimedOut} after C{timeout} seconds or L{ConnectFailed}
        (refused, unreachable, no such host); the endpoint's own failure is
        chained as the cause.
    """

    def timedOut(result: object, timeout: float) -> Failure:
        return Failure(
            RequestTimedOut(f"could not connect to the {server} in {timeout:g}s")
        )

    def failed(failure: Failure) -> Failure:
        if failure.check(error.ConnectError, OSError) and not failure.check(
            RequestTimedOut, CancelledError
        ):
            raise ConnectFailed(
                f"could not connect to the {server}: {failure.value}"
            ) from failure.value
        return failure

    d = cast("Deferred[Any]", endpoint.connect(factory))
    d.addTimeout(timeout, clock, timedOut)
    return d.addErrback(failed)
