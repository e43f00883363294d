"""
A tour of netlab's client library, one call of each kind, from async def:
pipelined timestamps from a line-framed server, a UDP timestamp, a UDP echo,
a file streamed through the echo server (flow control both ways, checked
on arrival), and a chat session.

    python examples/client_tour.py FILE [HOST [TS_PORT [ECHO_PORT [CHAT_PORT]]]]

Against:  twistd -n netlab tsserv --framing line + tsuserv + echo + chat
(defaults: localhost, 21567 for TCP and UDP timestamps, 21568, 21569).
FILE is streamed through the echo server into FILE.echo.
"""

import sys

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.protocol import FileWrapper
from twisted.internet.task import react
from twisted.web.client import FileBodyProducer

from netlab.chat import connectChat
from netlab.echo import echoStream, echoUDP
from netlab.errors import NetlabError
from netlab.timestamp import Framing, connectTimestamp, getTimestampUDP


async def timestamps(reactor, host, port):
    endpoint = HostnameEndpoint(reactor, host, port)
    # A line-framed server answers one line per request line, in order, so
    # requests can be pipelined on one connection.
    client = await connectTimestamp(endpoint, Framing.LINE, timeout=5, clock=reactor)
    try:
        replies = await gatherResults([client.request(b"a"), client.request(b"b")])
    finally:
        await client.close()
    for reply in replies:  # TimestampReply(when, data, format)
        print(f"line: {reply.when.isoformat()} {reply.data.decode()}")

    # Over UDP the request is sent up to 3 times, 1 second apart.
    reply = await getTimestampUDP(host, port, b"hi", reactor=reactor, tries=3)
    print(f"udp: {reply.when.isoformat()} {reply.data.decode()}")


async def echoes(reactor, host, port, path):
    data = await echoUDP(host, port, b"ping", reactor=reactor, tries=3)
    print(f"udp echo: {data.decode()}")

    # Any length, never held whole: the file is read as the connection
    # takes it, and the echo written as it comes back.
    with open(path, "rb") as source, open(path + ".echo", "wb") as sink:
        count = await echoStream(
            HostnameEndpoint(reactor, host, port),
            FileBodyProducer(source),
            FileWrapper(sink),
            timeout=10,
            clock=reactor,
        )
    print(f"streamed: {count} bytes")


async def chat(reactor, host, port):
    endpoint = HostnameEndpoint(reactor, host, port)
    session = await connectChat(endpoint, "tourist", clock=reactor)  # ChatError
    session.addListener(lambda event: print(f"event: {event!r}"))
    await session.join("#tour")  # fires with the room joined
    session.say("hello")  # no reply: the others in the room hear MSG
    print(f"who: {' '.join(await session.who())}")
    await session.tell("tourist", "a note to myself")  # /msg
    await session.quit("bye")  # fires once the server has closed


async def main(
    reactor, path, host="localhost", tsPort="21567", echoPort="21568", chatPort="21569"
):
    try:
        await timestamps(reactor, host, int(tsPort))
        await echoes(reactor, host, int(echoPort), path)
        await chat(reactor, host, int(chatPort))
    except NetlabError as e:  # ConnectFailed, RequestTimedOut, ChatError...
        raise SystemExit(f"client_tour: {e}") from None


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
