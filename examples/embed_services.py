"""
Embedding netlab's services in an application of your own, without the
twistd plugin: a line-framed timestamp service over TCP and UDP and an echo
service over TCP, each an ordinary Twisted factory or protocol, as children
of the application's MultiService.  The TCP ones are behind netlab's
ConnectionGuard (limits, counters, connection logging, graceful drain); the
UDP one behind a DatagramGuard with rates of its own.

    python examples/embed_services.py [TS_PORT [ECHO_PORT]]

Everything listens on 127.0.0.1 (defaults 21567 and 21568; the timestamp
service over UDP on TS_PORT too).  Ctrl-C or SIGTERM stops it gracefully.
Roughly the same from the plugin:

    twistd -n netlab tsserv --framing line + tsuserv + echo --no-udp
"""

import sys

from twisted.application.internet import StreamServerEndpointService, UDPServer
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import react

from netlab.echo import DEFAULT_PORT as ECHO_PORT
from netlab.echo import EchoFactory
from netlab.policies import ConnectionGuard, ConnectionLimits
from netlab.service import errorLine
from netlab.timestamp import DEFAULT_PORT as TS_PORT
from netlab.timestamp import Framing, TimestampDatagramProtocol, TimestampFactory
from netlab.udp import DatagramGuard


class Drain(Service):
    """
    On shutdown, once the listeners have stopped, close every connection
    gracefully: each is closed once what was written to it is sent, and
    those still open after 5 seconds are cut (twistd's --grace).
    """

    def __init__(self, guards):
        self.guards = guards

    def stopService(self):
        super().stopService()
        return gatherResults([guard.drain(grace=5) for guard in self.guards])


def makeApplication(reactor, tsPort, echoPort):
    # The reactor is the clock of every service: stamps, timeouts, rates.
    limits = ConnectionLimits(maxConnections=1000, maxPerSource=10, idleTimeout=60)
    stamps = ConnectionGuard(
        TimestampFactory(reactor, framing=Framing.LINE),
        reactor,
        limits,
        service="tsserv",
        refusalLine=errorLine,  # "error: ..." lines, as twistd's tsserv says
    )
    # Echo closes a refused connection without a word (the default).
    echoes = ConnectionGuard(EchoFactory(), reactor, limits, service="echo")

    application = MultiService()
    # Children stop in the reverse order: the listeners first, then the drain.
    Drain([stamps, echoes]).setServiceParent(application)
    for guard, port in [(stamps, tsPort), (echoes, echoPort)]:
        endpoint = serverFromString(reactor, f"tcp:{port}:interface=127.0.0.1")
        StreamServerEndpointService(endpoint, guard).setServiceParent(application)

    # UDP has no endpoints: a UDPServer, with a guard of lower rates than
    # the defaults (datagrams per second per source address, and in all).
    guard = DatagramGuard(reactor, sourceRate=100, sourceBurst=200, globalRate=2000)
    protocol = TimestampDatagramProtocol(reactor, guard=guard)
    UDPServer(
        tsPort, protocol, interface="127.0.0.1", maxPacketSize=65536
    ).setServiceParent(application)
    return application


async def main(reactor, tsPort=str(TS_PORT), echoPort=str(ECHO_PORT)):
    application = makeApplication(reactor, int(tsPort), int(echoPort))
    # What twistd does with an application: start it now, stop it (and
    # wait for the drain) before the reactor stops.
    application.startService()
    reactor.addSystemEventTrigger("before", "shutdown", application.stopService)
    print(f"embed_services: timestamps on {tsPort}, echo on {echoPort}", flush=True)
    await Deferred()  # serve until interrupted


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
