"""
The classic timestamp server (tsTserv), event-driven, built from netlab's
factory: every client is served at once, none waits for another.

    python examples/tsTserv.py [PORT [INTERFACE]]

The same service, from the twistd plugin (the same endpoint strings):

    twistd -n netlab tsserv --listen tcp:21567
    twistd -n netlab tsserv --listen tcp:21567:interface=127.0.0.1
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import react

from netlab.timestamp import DEFAULT_PORT, TimestampFactory


async def main(reactor, port=str(DEFAULT_PORT), interface=""):
    # The reactor is the clock: each reply is stamped with its time.
    factory = TimestampFactory(reactor)
    where = f"tcp:{port}:interface={interface}" if interface else f"tcp:{port}"
    listening = await serverFromString(reactor, where).listen(factory)
    port = listening.getHost().port  # the port chosen, if PORT was 0
    print(f"tsTserv: waiting for connections on {port}...", flush=True)
    await Deferred()  # serve until interrupted (Ctrl-C)


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
