"""
netlab's client library from async def code: a timestamp, an echo and
three pipelined echoes, each call bounded by a timeout, and every failure
caught by its netlab.errors type and turned into an exit status.

    python examples/async_clients.py [--timeout SECONDS] [HOST [TS_PORT [ECHO_PORT]]]

Against:  twistd -n netlab tsserv  and  twistd -n netlab echo
(defaults: localhost, 21567, 21568).

Exit status: 0 when every call succeeded; 3 when a server could not be
reached; 4 when one did not answer in time; 1 for any other netlab error
(a reply that does not parse, a connection closed early); 2 for bad usage.
"""

import argparse
import sys

from twisted.internet.defer import Deferred, FirstError, gatherResults
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.task import react

from netlab.echo import DEFAULT_PORT as ECHO_PORT
from netlab.echo import connectEcho, echo
from netlab.errors import ConnectFailed, NetlabError, RequestTimedOut
from netlab.timestamp import DEFAULT_PORT as TS_PORT
from netlab.timestamp import getTimestamp


async def talk(reactor, host, tsPort, echoPort, timeout):
    # Endpoints only describe where to connect; nothing happens yet.
    # HostnameEndpoint resolves the name and tries IPv6 and IPv4 addresses.
    tsEndpoint = HostnameEndpoint(reactor, host, tsPort)
    echoEndpoint = HostnameEndpoint(reactor, host, echoPort)

    # One call: connect, send, wait for the reply, disconnect.  timeout
    # bounds the connection and then the reply; clock=reactor is the clock
    # that measures it (a Clock in tests).
    reply = await getTimestamp(tsEndpoint, b"hello", timeout=timeout, clock=reactor)
    # when is a datetime (naive for the classic ctime format), data bytes.
    print(f"timestamp: {reply.when.isoformat()} {reply.data.decode()}")

    data = await echo(echoEndpoint, b"ping", timeout=timeout, clock=reactor)
    print(f"echo: {data.decode()}")

    # One connection, several requests in flight at once; each has its own
    # deadline.  gatherResults waits for all of them; it wraps the first
    # failure in a FirstError, so raise the original for main() to catch.
    client = await connectEcho(echoEndpoint, timeout=timeout, clock=reactor)
    try:
        replies = await gatherResults(
            [client.request(word) for word in (b"one", b"two", b"three")],
            consumeErrors=True,
        )
    except FirstError as e:
        e.subFailure.raiseException()
    finally:
        await client.close()  # whatever happened, do not leak the connection
    print(f"pipelined: {b' '.join(replies).decode()}")


async def main(reactor, options):
    try:
        await talk(
            reactor, options.host, options.tsPort, options.echoPort, options.timeout
        )
    # The most specific first: RequestTimedOut is also a TimeoutError, and
    # every one of them is a NetlabError.  Each message is one line.
    except ConnectFailed as e:  # refused, unreachable, no such host
        print(f"async_clients: cannot connect: {e}", file=sys.stderr)
        raise SystemExit(3) from None
    except RequestTimedOut as e:
        print(f"async_clients: timed out: {e}", file=sys.stderr)
        raise SystemExit(4) from None
    except NetlabError as e:  # MalformedReply, ConnectionClosed, ServerError
        print(f"async_clients: {e}", file=sys.stderr)
        raise SystemExit(1) from None


def parseArguments(argv):
    parser = argparse.ArgumentParser(prog="async_clients")  # exits 2 on misuse
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds")
    parser.add_argument("host", nargs="?", default="localhost")
    parser.add_argument("tsPort", nargs="?", type=int, default=TS_PORT)
    parser.add_argument("echoPort", nargs="?", type=int, default=ECHO_PORT)
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parseArguments(sys.argv[1:])
    react(lambda reactor: Deferred.fromCoroutine(main(reactor, options)))
