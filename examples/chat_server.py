"""
The group chat server, event-driven: every line a client sends goes to
everyone else in its room, with nicknames, rooms and history.  Built from
netlab's hub (the model: rooms and nicknames) and factory (the line
protocol, one per connection), behind the guard that every netlab service
has (limits on connections, and the drain that stops it gracefully).  Try
it with nc, or examples/chat_client.py.

    python examples/chat_server.py [PORT [INTERFACE]]

The same service, from the twistd plugin:

    twistd -n netlab chat --listen tcp:21569
    twistd -n netlab chat --listen tcp:21569:interface=127.0.0.1
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import react

from netlab.chat import DEFAULT_PORT, ChatFactory, ChatHub, Error, formatLine
from netlab.policies import ConnectionGuard, ConnectionLimits


def refusal(code, text):
    # What a client over a limit is told, as a chat line: ERR * CODE TEXT.
    return formatLine(Error("*", code, text))


async def main(reactor, port=str(DEFAULT_PORT), interface=""):
    hub = ChatHub()  # one hub: everyone connected meets there
    factory = ChatFactory(hub, reactor)  # the reactor is the clock
    # The guard's default limits (10000 connections, 100 per address), but
    # not its idle timeout: chat has its own, which counts lines.
    guard = ConnectionGuard(
        factory,
        reactor,
        ConnectionLimits(idleTimeout=0),
        service="chat",
        refusalLine=refusal,
    )
    where = f"tcp:{port}:interface={interface}" if interface else f"tcp:{port}"
    listening = await serverFromString(reactor, where).listen(guard)

    async def goodbye():
        # On Ctrl-C or SIGTERM, before the reactor stops: take no one new,
        # then drain: everyone is told goodbye, and those still there after
        # 5 seconds (not reading it, say) are cut.
        await listening.stopListening()
        await guard.drain(grace=5, reason="the server is shutting down; goodbye")

    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: Deferred.fromCoroutine(goodbye())
    )
    port = listening.getHost().port  # the port chosen, if PORT was 0
    print(f"chat_server: waiting for connections on {port}...", flush=True)
    await Deferred()  # serve until interrupted


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
