"""
The classic timestamp server on plain Twisted, written out by hand: a
protocol, a factory and the reactor, and nothing from netlab.  Every client
is served at once; none waits for another.

    python examples/twisted_tsTserv.py [PORT [INTERFACE]]

It keeps the classic's flaws on purpose (tutorial step 2 names them): it
stamps each chunk as it arrives, so TCP, which keeps no message boundaries,
decides what a "message" is; and it has no limits on connections or on what
a client that does not read makes it hold.  netlab's TimestampFactory
(examples/tsTserv.py) is the same shape with those fixed.
"""

import sys
import time

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import react


class Stamp(Protocol):
    """
    One connection: each chunk received is answered with C{[ctime] chunk}.
    """

    def dataReceived(self, data):
        # The reactor calls this with whatever bytes have arrived; writing
        # never blocks: the reactor sends them as the client takes them.
        stamp = time.ctime(self.factory.clock.seconds())
        self.transport.write(b"[%s] %s" % (stamp.encode("ascii"), data))


class StampFactory(Factory):
    """
    Builds one L{Stamp} per connection; holds what they share: the clock.
    """

    protocol = Stamp

    def __init__(self, clock):
        self.clock = clock


async def main(reactor, port="21567", interface=""):
    where = f"tcp:{port}:interface={interface}" if interface else f"tcp:{port}"
    listening = await serverFromString(reactor, where).listen(StampFactory(reactor))
    print(f"tsTserv: waiting for connections on {listening.getHost().port}...")
    sys.stdout.flush()
    await Deferred()  # serve until interrupted (Ctrl-C)


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
