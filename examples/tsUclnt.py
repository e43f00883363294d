"""
The classic UDP timestamp client (tsUclnt) on netlab's client library: one
datagram out, one stamped datagram back, retransmitted if it is lost.

    python examples/tsUclnt.py [HOST [PORT]] MESSAGE

Against:  twistd -n netlab tsuserv
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from netlab.errors import NetlabError
from netlab.timestamp import DEFAULT_PORT, formatStamp, getTimestampUDP


async def main(reactor, *args):
    host, port = "127.0.0.1", DEFAULT_PORT
    if len(args) > 1:
        host, *rest = args[:-1]
        port = int(rest[0]) if rest else port
    message = args[-1].encode() if args else b"hello"
    try:
        reply = await getTimestampUDP(host, port, message, reactor=reactor, tries=3)
    except NetlabError as e:  # no reply after 3 tries, port unreachable...
        raise SystemExit(f"tsUclnt: {e}") from None
    # Print the reply as the server sent it: [stamp] data.
    stamped = formatStamp(reply.when, reply.data, reply.format)
    print(stamped.decode(errors="replace"))


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
