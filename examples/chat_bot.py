"""
A chat bot on netlab's chat client library: it registers a nickname, joins
a room, answers commands said in that room, and leaves cleanly (PART, then
QUIT) after a number of answers, on "!bye", or after a number of seconds.

    python examples/chat_bot.py [--host HOST] [--port PORT] [--nick NICK]
                                [--room ROOM] [--answers N] [--seconds S]

Against:  twistd -n netlab chat  (then, in  netlab chat --nick alice:
/join #bots  and  !ping, !time or !bye).

Commands: !ping (pong), !time (the bot's time), !bye (the bot leaves).
"""

import argparse
import sys
import time

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.task import react

from netlab.chat import DEFAULT_PORT, RoomMessage, connectChat
from netlab.errors import NetlabError


def answer(text, sender, now):
    """
    What the bot says to a line said in its room, or None.  A pure function:
    no I/O, so it is easy to test.
    """
    command = text.strip()
    if command == "!ping":
        return f"pong, {sender}"
    if command == "!time":
        return f"{sender}: it is {time.ctime(now)} here"
    if command == "!bye":
        return f"bye, {sender}"
    return None


async def run(reactor, options):
    endpoint = HostnameEndpoint(reactor, options.host, options.port)
    # Fails with ChatError (nick-taken...), ConnectFailed or RequestTimedOut.
    session = await connectChat(endpoint, options.nick, clock=reactor)
    # Start listening before joining, so that nothing said is missed.
    events = session.events()
    # Stop listening after --seconds: the async for below then ends.
    # (aclose is a coroutine function: wrap its coroutine for callLater.)
    deadline = reactor.callLater(
        options.seconds, lambda: Deferred.fromCoroutine(events.aclose())
    )
    try:
        await session.join(options.room)
        print(f"chat_bot: {session.nick} in {session.room}", flush=True)
        answered = 0
        async for event in events:  # until aclose() or the server closes
            if not isinstance(event, RoomMessage) or event.room != options.room:
                continue  # joins, parts, notices, other rooms...
            reply = answer(event.text, event.nick, reactor.seconds())
            if reply is None:
                continue
            session.say(reply)
            answered += 1
            print(f"chat_bot: {event.nick} said {event.text!r}", flush=True)
            if event.text.strip() == "!bye" or answered >= options.answers:
                break
        if session.closed.called:
            raise SystemExit("chat_bot: the server closed the connection")
        # Leave cleanly: the room hears PART, everyone QUIT, and the
        # connection closes once the server has answered.
        await session.part("work done")
        await session.quit("bye")
        print(f"chat_bot: left after {answered} answers")
    finally:
        if deadline.active():
            deadline.cancel()
        await events.aclose()
        await session.close()  # a no-op if quit() closed it already


async def main(reactor, options):
    try:
        await run(reactor, options)
    # NetlabError: refused, timed out, nick taken, connection closed...
    # ValueError: --nick or --room is not a nickname or a room name.
    except (NetlabError, ValueError) as e:
        raise SystemExit(f"chat_bot: {e}") from None


def parseArguments(argv):
    parser = argparse.ArgumentParser(prog="chat_bot")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--nick", default="bot")
    parser.add_argument("--room", default="#bots")
    parser.add_argument("--answers", type=int, default=10, help="then leave")
    parser.add_argument("--seconds", type=float, default=600, help="then leave")
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parseArguments(sys.argv[1:])
    react(lambda reactor: Deferred.fromCoroutine(main(reactor, options)))
