"""
Tests for L{netlab.chat._redis}: the C{--bus} address, the startup probe,
and the C{txredisapi} protocols the bus uses.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial.unittest import SynchronousTestCase

from netlab.chat._redis import (
    BusAddress,
    busEndpoint,
    parseBusAddress,
    probe,
    redisFactory,
)
from netlab.errors import StartupError


class ParseTests(SynchronousTestCase):
    def test_redis(self) -> None:
        """
        C{redis://[:password@]host[:port][/db]} gives each part, with
        Redis's port and database 0 by default.
        """
        self.assertEqual(
            parseBusAddress("redis://:s%40cret@redis.example:6380/2"),
            BusAddress("redis", "redis.example", 6380, db=2, password="s@cret"),
        )
        self.assertEqual(
            parseBusAddress("redis://127.0.0.1"), BusAddress("redis", "127.0.0.1")
        )
        self.assertEqual(parseBusAddress("rediss://h/0").scheme, "rediss")

    def test_unix(self) -> None:
        """
        C{unix:PATH} names a socket.
        """
        self.assertEqual(
            parseBusAddress("unix:/run/redis.sock"),
            BusAddress("unix", path="/run/redis.sock"),
        )

    def test_bad(self) -> None:
        """
        Anything else is refused with what to give instead.
        """
        for bad in ("http://h", "redis://", "redis://h:port", "redis://h/x", "unix:"):
            with self.assertRaises(ValueError, msg=bad) as e:
                parseBusAddress(bad)
            self.assertIn("redis", str(e.exception))

    def test_displayHidesPassword(self) -> None:
        """
        The address as logs and errors show it has no password.
        """
        address = parseBusAddress("redis://:hunter2@h:1/3")
        self.assertEqual(address.display(), "redis://:***@h:1/3")
        self.assertNotIn("hunter2", repr(address))

    def test_endpoints(self) -> None:
        """
        C{redis://} is a host name endpoint, C{unix:} a Unix one, and
        C{rediss://} TLS that verifies the host's certificate.
        """
        reactor = MemoryReactorClock()
        self.assertIsInstance(
            busEndpoint(reactor, parseBusAddress("redis://h")), HostnameEndpoint
        )
        self.assertIsInstance(
            busEndpoint(reactor, parseBusAddress("unix:/s")), UNIXClientEndpoint
        )
        tls: Any = busEndpoint(reactor, parseBusAddress("rediss://h.example"))
        self.assertIsInstance(tls._wrappedEndpoint, HostnameEndpoint)
        wrapped = tls._wrapperFactory(Factory())
        self.assertIsInstance(wrapped, TLSMemoryBIOFactory)
        self.assertTrue(wrapped._creatorCallable)


class _FakeSocket:
    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sent = b""
        self.closed = False

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def recv(self, size: int) -> bytes:
        reply, self.reply = self.reply, b""
        return reply

    def close(self) -> None:
        self.closed = True


class ProbeTests(SynchronousTestCase):
    def test_answers(self) -> None:
        """
        The probe authenticates, selects the database and pings.
        """
        sock = _FakeSocket(b"+OK\r\n+OK\r\n+PONG\r\n")
        probe(parseBusAddress("redis://:pw@h/2"), connect=lambda a, t: sock)  # type: ignore[arg-type, return-value]
        self.assertEqual(
            sock.sent,
            b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n"
            b"*1\r\n$4\r\nPING\r\n",
        )
        self.assertTrue(sock.closed)

    def test_nodeNameInUse(self) -> None:
        """
        With a presence key to check, a node of the same name already
        there is one line saying to choose another name; none is fine.
        """
        address = parseBusAddress("redis://h/0")
        sock = _FakeSocket(b"+PONG\r\n:0\r\n")
        probe(address, connect=lambda a, t: sock, presence=("a", "k:a"))  # type: ignore[arg-type, return-value]
        self.assertTrue(sock.sent.endswith(b"*2\r\n$6\r\nEXISTS\r\n$3\r\nk:a\r\n"))
        sock = _FakeSocket(b"+PONG\r\n:1\r\n")
        with self.assertRaises(StartupError) as e:
            probe(address, connect=lambda a, t: sock, presence=("a", "k:a"))  # type: ignore[arg-type, return-value]
        self.assertEqual(
            str(e.exception),
            "--node a: a node of that name is running on redis://h:6379/0 (or "
            "was killed less than --node-timeout ago); choose another --node",
        )

    def test_unreachable(self) -> None:
        """
        Redis not answering is one line naming the address and the reason.
        """

        def refuse(address: BusAddress, timeout: float) -> socket.socket:
            raise ConnectionRefusedError(111, "Connection refused")

        with self.assertRaises(StartupError) as e:
            probe(parseBusAddress("redis://:pw@h:9/0"), connect=refuse)
        self.assertEqual(
            str(e.exception),
            "--bus redis://:***@h:9/0: cannot reach Redis (Connection refused); "
            "start it or fix --bus",
        )

    def test_refused(self) -> None:
        """
        Redis refusing the password is one line with its reason.
        """
        sock = _FakeSocket(b"-WRONGPASS invalid password\r\n+PONG\r\n")
        with self.assertRaises(StartupError) as e:
            probe(parseBusAddress("redis://:pw@h/0"), connect=lambda a, t: sock)  # type: ignore[arg-type, return-value]
        self.assertIn("Redis refused us (WRONGPASS invalid password)", str(e.exception))
        self.assertNotIn("\n", str(e.exception))


class ProtocolTests(SynchronousTestCase):
    def test_bytesAsTheyCame(self) -> None:
        """
        Replies come back as bytes: the text C{42} is not made an int, nor
        C{1.50} a float, nor anything decoded; integer replies are ints.
        """
        ready: list[Any] = []
        clock = Clock()
        factory = redisFactory(clock, parseBusAddress("redis://h"), ready.append, print)
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())
        [redis] = ready
        replies: list[Any] = []
        for _ in range(3):
            redis.execute_command("GET", "k").addCallback(replies.append)
        protocol.dataReceived(b"$2\r\n42\r\n$4\r\n1.50\r\n:7\r\n")
        # txredisapi reads what follows a bulk reply a turn later.
        clock.advance(0)
        clock.advance(0)
        self.assertEqual(replies, [b"42", b"1.50", 7])

    def test_authAndSelect(self) -> None:
        """
        With a password and a database, the protocol is ready only once it
        has sent C{AUTH} and C{SELECT} and Redis has answered them.
        """
        ready: list[Any] = []
        factory = redisFactory(
            Clock(), parseBusAddress("redis://:pw@h/3"), ready.append, print
        )
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.assertEqual(ready, [])
        self.assertIn(b"AUTH", transport.value())
        protocol.dataReceived(b"+OK\r\n")
        self.assertIn(b"SELECT", transport.value())
        protocol.dataReceived(b"+OK\r\n")
        self.assertEqual(ready, [protocol])

    def test_lost(self) -> None:
        """
        A lost connection is reported.
        """
        lost: list[Any] = []
        protocol = redisFactory(
            Clock(), parseBusAddress("redis://h"), print, lost.append
        )
        p = protocol.buildProtocol(None)
        p.makeConnection(StringTransport())
        p.connectionLost(None)
        self.assertEqual(lost, [p])

    def test_quiet(self) -> None:
        """
        The factory does not log each connection's start and stop: the bus
        logs its connections itself, by node and address.
        """
        factory = redisFactory(Clock(), parseBusAddress("redis://h"), print, print)
        with capturedLogs() as events:
            factory.doStart()
            factory.doStop()
        self.assertEqual([formatEvent(event) for event in events], [])


class LazyImportTests(SynchronousTestCase):
    def test_noBusNoRedisClient(self) -> None:
        """
        A chat without C{--bus} imports neither C{txredisapi} (which would
        install the global reactor) nor the bus.
        """
        code = (
            "import sys\n"
            "from twisted.internet.testing import MemoryReactorClock\n"
            "from netlab import tap\n"
            "o = tap.Options(); o.parseOptions(['chat'])\n"
            "tap.makeService(o, MemoryReactorClock())\n"
            "print(sorted(m for m in sys.modules if 'redis' in m or '_bus' in m))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "['netlab.chat._redis']")
