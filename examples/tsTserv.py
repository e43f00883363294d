"""
The classic timestamp server (tsTserv), event-driven, built from netlab's
factory: every client is served at once, none waits for another.

    python examples/tsTserv.py [PORT]

The same service, from the twistd plugin:

    twistd -n netlab tsserv --listen tcp:21567
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import react

from netlab.timestamp import DEFAULT_PORT, TimestampFactory


async def main(reactor, port=str(DEFAULT_PORT)):
    # The reactor is the clock: each reply is stamped with its time.
    factory = TimestampFactory(reactor)
    listening = await serverFromString(reactor, f"tcp:{port}").listen(factory)
    print(f"tsTserv: waiting for connections on {listening.getHost().port}...")
    await Deferred()  # serve until interrupted (Ctrl-C)


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
