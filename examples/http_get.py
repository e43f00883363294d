"""
The raw HTTP GET exercise, event-driven: fetch a document over a bare TCP
connection, speaking HTTP by hand, then the same with Twisted's HTTP client
(Agent), to contrast doing the protocol yourself with using a library.

    python examples/http_get.py http://HOST[:PORT]/PATH

(http only: https would need TLS, which the library also does for you.)
Try it on a local server:  python -m twisted web --listen tcp:8080 --path .
Exit status 1 if the server cannot be reached or does not answer in time.
"""

import sys
import warnings
from urllib.parse import urlsplit

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import react
from twisted.web.client import Agent, ResponseFailed, readBody

TIMEOUT = 10

# Twisted 26.10's readBody warns that the response's transport "does not
# have an abortConnection method" on every response; that matters only for
# cancelling readBody, which this program does not do.
warnings.filterwarnings("ignore", "Using readBody with a transport", DeprecationWarning)


class RawGet(Protocol):
    """
    HTTP by hand: send the request, collect every byte until the server
    closes the connection.  C{done} fires with all of them.
    """

    def __init__(self, request):
        self.request = request
        self.received = []
        # Cancelling (as addTimeout does) drops the connection.
        self.done = Deferred(lambda d: self.transport.abortConnection())

    def connectionMade(self):
        self.transport.write(self.request)

    def dataReceived(self, data):
        # TCP has no message boundaries: the response arrives in pieces of
        # any size.  Keep them all; only the end of the connection says
        # that the response is complete ("Connection: close").
        self.received.append(data)

    def connectionLost(self, reason):
        self.done.callback(b"".join(self.received))


async def byHand(reactor, url):
    parts = urlsplit(url)
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # Host: the name as in the URL, brackets and all for IPv6 ([::1]), with
    # the port unless it is the default one.
    host = parts.netloc.rpartition("@")[2]
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Connection: close\r\n"  # so the end of the body is the end of data
        "\r\n"
    ).encode("ascii")
    endpoint = HostnameEndpoint(reactor, parts.hostname, port, timeout=TIMEOUT)
    protocol = RawGet(request)
    await endpoint.connect(Factory.forProtocol(lambda: protocol))
    response = await protocol.done.addTimeout(TIMEOUT, reactor)

    # Headers and body are separated by the first blank line.
    head, _, body = response.partition(b"\r\n\r\n")
    statusLine, *headers = head.decode("iso-8859-1").split("\r\n")
    print(f"by hand: {statusLine}; {len(headers)} headers; body {len(body)} bytes")
    # What is left to us: the status code is just text in that line (a 404
    # page is a body like any other), and if the server sent the body in
    # chunks (Transfer-Encoding: chunked) the bytes above still have the
    # chunk sizes in them, which we would have to parse out ourselves.
    if any(h.lower().replace(" ", "") == "transfer-encoding:chunked" for h in headers):
        print("by hand: the body is chunked: its length above counts the framing")


async def withAgent(reactor, url):
    # The library parses the status line and headers, removes chunked
    # framing, checks the body's length against Content-Length (readBody
    # fails if it is cut short), follows the URL's host and port, and
    # raises errors for what is not HTTP.
    agent = Agent(reactor, connectTimeout=TIMEOUT)
    response = await agent.request(b"GET", url.encode("ascii")).addTimeout(
        TIMEOUT, reactor
    )
    body = await readBody(response).addTimeout(TIMEOUT, reactor)
    # Not 200 is still a response: the code is a number to test.
    print(
        f"with Agent: {response.code} {response.phrase.decode('iso-8859-1')}; "
        f"body {len(body)} bytes"
    )


async def main(reactor, url):
    if urlsplit(url).scheme != "http":
        raise SystemExit("http_get: give an http:// URL")
    try:
        await byHand(reactor, url)
        await withAgent(reactor, url)
    except (ConnectError, DNSLookupError, ResponseFailed) as e:
        # refused, no such host, not HTTP...
        raise SystemExit(f"http_get: {e}") from None
    except defer.TimeoutError:  # from addTimeout
        raise SystemExit(f"http_get: no complete response in {TIMEOUT} s") from None


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python examples/http_get.py http://HOST[:PORT]/PATH")
    react(
        lambda reactor, url: Deferred.fromCoroutine(main(reactor, url)),
        sys.argv[1:],
    )
