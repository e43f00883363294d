"""
The classic timestamp client (tsTclnt) on netlab's client library: send a
message, print the stamped reply.  Uses async/await on Twisted Deferreds.

    python examples/tsTclnt.py [HOST [PORT]] < messages.txt

The same from the command-line client:  netlab ts --host HOST hello
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.task import react

from netlab.errors import NetlabError
from netlab.timestamp import DEFAULT_PORT, connectTimestamp


async def main(reactor, host="localhost", port=str(DEFAULT_PORT)):
    endpoint = HostnameEndpoint(reactor, host, int(port))
    try:
        client = await connectTimestamp(endpoint, timeout=5)
    except NetlabError as e:  # refused, unreachable, timed out
        raise SystemExit(f"tsTclnt: {e}") from None
    try:
        for line in sys.stdin.buffer:
            data = line.rstrip(b"\r\n")
            if not data:
                break
            reply = await client.request(data)
            print(f"{reply.when:%H:%M:%S} {reply.data.decode(errors='replace')}")
    finally:
        await client.close()


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
