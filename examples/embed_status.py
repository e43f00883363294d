"""
Embedding netlab: an application of our own that runs the chat service in
its MultiService, next to a small twisted.web status page that shows live
counters read from the chat hub.

    python examples/embed_status.py [CHAT_PORT [WEB_PORT]]

Both listen on 127.0.0.1 (port 0 picks a free one; the defaults are 21569
and 8080).  Chat with  nc 127.0.0.1 21569  or  netlab chat --nick alice,
and watch  http://127.0.0.1:8080/  (it refreshes itself every 5 seconds).
Ctrl-C stops both; the chat users are told goodbye first.
"""

import sys

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, FirstError, gatherResults
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.internet.task import react
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Site
from zope.interface import implementer

from netlab.chat import DEFAULT_PORT, ChatFactory, ChatHub, Error, formatLine
from netlab.policies import ConnectionGuard, ConnectionLimits


class StatusPage(Resource):
    """
    One plain-text page, computed from the hub at each request: nothing is
    cached, so the counters are always the live ones.
    """

    isLeaf = True

    def __init__(self, hub, clock):
        super().__init__()
        self.hub = hub
        self.clock = clock
        self.started = clock.seconds()

    def render_GET(self, request):
        rooms = self.hub.rooms()  # [("#lobby", 2), ...], sorted by name
        lines = [
            "netlab chat status",
            f"up: {self.clock.seconds() - self.started:.0f} s",
            f"participants: {len(self.hub.participants())}",
            f"rooms: {len(rooms)}",
            *(f"  {room} {count}" for room, count in rooms),
        ]
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"refresh", b"5")  # browsers reload it by themselves
        return "\n".join(lines).encode("utf-8") + b"\n"


class SayGoodbye(Service):
    """
    On shutdown, once the chat has stopped listening, drain its guard: tell
    every user goodbye, close their connections, and cut those still open
    after 5 seconds (what C{twistd netlab chat} does too).
    """

    def __init__(self, guard):
        self.guard = guard

    def stopService(self):
        super().stopService()
        return self.guard.drain(grace=5, reason="the server is shutting down; goodbye")


@implementer(IStreamServerEndpoint)
class Announced:
    """
    A server endpoint wrapper: C{ready} fires with the address it listens
    on (with port 0, the port picked), or fails if it cannot listen.
    StreamServerEndpointService would only log that failure (a traceback on
    standard error); here main() handles it.
    """

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.ready = Deferred()

    def listen(self, factory):
        def tell(result):
            if isinstance(result, Failure):
                self.ready.errback(result)
                return None  # handled: the service then has no port to stop
            self.ready.callback(result.getHost())
            return result

        return self.endpoint.listen(factory).addBoth(tell)


async def main(reactor, chatPort=str(DEFAULT_PORT), webPort="8080"):
    hub = ChatHub()
    factory = ChatFactory(hub, reactor)  # the reactor is the chat's clock
    # The limits, counters and graceful drain of every netlab service; chat
    # times out idle users itself (by lines), so the guard does not.
    guard = ConnectionGuard(
        factory,
        reactor,
        ConnectionLimits(idleTimeout=0),
        service="chat",
        refusalLine=lambda code, text: formatLine(Error("*", code, text)),
    )
    # Loopback only: change the interface to serve other machines.
    chatEndpoint = Announced(
        serverFromString(reactor, f"tcp:{int(chatPort)}:interface=127.0.0.1")
    )
    webEndpoint = Announced(
        serverFromString(reactor, f"tcp:{int(webPort)}:interface=127.0.0.1")
    )

    application = MultiService()
    # Children stop in the reverse order: the chat stops listening first,
    # then its users are told goodbye.
    SayGoodbye(guard).setServiceParent(application)
    StreamServerEndpointService(chatEndpoint, guard).setServiceParent(application)
    StreamServerEndpointService(
        webEndpoint, Site(StatusPage(hub, reactor))
    ).setServiceParent(application)

    # What twistd would do for us: start now, stop before the reactor does.
    application.startService()
    reactor.addSystemEventTrigger("before", "shutdown", application.stopService)

    try:
        chatAt, webAt = await gatherResults(
            [chatEndpoint.ready, webEndpoint.ready], consumeErrors=True
        )
    except FirstError as e:  # a port in use, say
        raise SystemExit(f"embed_status: {e.subFailure.value}") from None
    print(f"chat: listening on {chatAt.host} port {chatAt.port}")
    print(f"status page: http://{webAt.host}:{webAt.port}/")
    await Deferred()  # serve until interrupted (Ctrl-C)


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
