"""
Tests for L{netlab._options}: the endpoint a client's options name, with
C{--tls} and C{--ca-file}, and the wait for the TLS handshake.

Reactor-free: endpoints connect through L{MemoryReactorClock} or a fake
endpoint; the C{--ca-file} tests write throw-away certificates into
temporary directories.
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IHandshakeListener, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from netlab._options import (
    HandshakeFirst,
    TLSHandshakeFailed,
    certificateAuthorities,
    checkTLSOptions,
    clientEndpoint,
)
from netlab.errors import NetlabError
from tests._certificates import selfSigned, temporaryDirectory


def _options(**given: Any) -> dict[str, Any]:
    """
    @return: a client's parsed options: TCP to localhost:21568 unless
        C{given} says otherwise.
    """
    options: dict[str, Any] = {
        "host": "localhost",
        "port": 21568,
        "connect": None,
        "tls": False,
        "ca-file": None,
        "udp": False,
    }
    options.update(given)
    return options


class CheckTLSOptionsTests(SynchronousTestCase):
    """
    Tests for L{checkTLSOptions}.
    """

    def test_plain(self) -> None:
        """
        Without C{--tls} or C{--ca-file} the client does not use TLS.
        """
        self.assertFalse(checkTLSOptions(_options()))

    def test_tls(self) -> None:
        """
        C{--tls} and C{--ca-file} each make the client use TLS.
        """
        self.assertTrue(checkTLSOptions(_options(tls=True)))
        self.assertTrue(checkTLSOptions(_options(**{"ca-file": "ca.pem"})))

    def test_withConnect(self) -> None:
        """
        C{--tls} or C{--ca-file} with C{--connect} is a usage error that
        says to use a C{tls:} endpoint string.
        """
        for given in [{"tls": True}, {"ca-file": "ca.pem"}]:
            error = self.assertRaises(
                usage.UsageError,
                checkTLSOptions,
                _options(connect="tcp:example.net:21568", **given),
            )
            self.assertIn("--connect", str(error))
            self.assertIn("tls:", str(error))

    def test_withUDP(self) -> None:
        """
        C{--tls} or C{--ca-file} with C{--udp} is a usage error.
        """
        for given, named in [({"tls": True}, "--tls"), ({"ca-file": "x"}, "--ca-file")]:
            error = self.assertRaises(
                usage.UsageError, checkTLSOptions, _options(udp=True, **given)
            )
            self.assertIn(named, str(error))
            self.assertIn("--udp", str(error))

    def test_noUDPOption(self) -> None:
        """
        Options without C{udp} (C{netlab chat}'s) are fine.
        """
        options = _options(tls=True)
        del options["udp"]
        self.assertTrue(checkTLSOptions(options))


class CertificateAuthoritiesTests(SynchronousTestCase):
    """
    Tests for L{certificateAuthorities}: reading C{--ca-file}.
    """

    def setUp(self) -> None:
        self.directory = temporaryDirectory(self)

    def test_several(self) -> None:
        """
        Every certificate of the file is trusted.
        """
        one = selfSigned(self.directory, stem="one")
        two = selfSigned(self.directory, stem="two")
        bundle = self.directory / "bundle.pem"
        bundle.write_bytes(one.certificate.read_bytes() + two.certificate.read_bytes())
        trustRoot = certificateAuthorities(str(bundle))
        self.assertEqual(len(trustRoot._caCerts), 2)

    def test_missing(self) -> None:
        """
        A file that cannot be read is a one-line L{NetlabError} naming it.
        """
        missing = self.directory / "missing.pem"
        error = self.assertRaises(NetlabError, certificateAuthorities, str(missing))
        message = str(error)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith(f"--ca-file {missing}: cannot read it"))

    def test_directory(self) -> None:
        """
        A directory is not a CA file.
        """
        error = self.assertRaises(
            NetlabError, certificateAuthorities, str(self.directory)
        )
        self.assertIn(f"--ca-file {self.directory}: cannot read it", str(error))

    def test_noCertificate(self) -> None:
        """
        A file with no PEM certificate is a L{NetlabError} naming it.
        """
        key = selfSigned(self.directory).key
        error = self.assertRaises(NetlabError, certificateAuthorities, str(key))
        self.assertIn(f"--ca-file {key}: holds no PEM certificate", str(error))


class ClientEndpointTests(SynchronousTestCase):
    """
    Tests for L{clientEndpoint}.
    """

    def test_plain(self) -> None:
        """
        Without TLS it is a L{HostnameEndpoint}.
        """
        endpoint = clientEndpoint(MemoryReactorClock(), _options())
        self.assertIsInstance(endpoint, HostnameEndpoint)

    def test_tls(self) -> None:
        """
        With C{--tls} it is a TLS endpoint that waits for the handshake,
        over TCP to C{--host} and C{--port}.
        """
        reactor = MemoryReactorClock()
        endpoint = clientEndpoint(reactor, _options(host="127.0.0.1", tls=True))
        self.assertIsInstance(endpoint, HandshakeFirst)
        verifyObject(IStreamClientEndpoint, endpoint)
        endpoint.connect(Factory.forProtocol(Protocol))
        [(host, port, *_)] = reactor.tcpClients
        self.assertEqual((host, port), ("127.0.0.1", 21568))

    def test_caFile(self) -> None:
        """
        With C{--ca-file} it is a TLS endpoint too.
        """
        files = selfSigned(temporaryDirectory(self))
        endpoint = clientEndpoint(
            MemoryReactorClock(), _options(**{"ca-file": str(files.certificate)})
        )
        self.assertIsInstance(endpoint, HandshakeFirst)

    def test_unreadableCAFile(self) -> None:
        """
        A C{--ca-file} that cannot be read is a L{NetlabError} naming it.
        """
        error = self.assertRaises(
            NetlabError,
            clientEndpoint,
            MemoryReactorClock(),
            _options(**{"ca-file": "/nonexistent/ca.pem"}),
        )
        self.assertIn("--ca-file /nonexistent/ca.pem", str(error))

    def test_connectTLS(self) -> None:
        """
        A C{tls:} C{--connect} string also waits for the handshake; a
        C{tcp:} one does not.
        """
        reactor = MemoryReactorClock()
        self.assertIsInstance(
            clientEndpoint(reactor, _options(connect="tls:example.net:21568")),
            HandshakeFirst,
        )
        self.assertNotIsInstance(
            clientEndpoint(reactor, _options(connect="tcp:example.net:21568")),
            HandshakeFirst,
        )


@implementer(IStreamClientEndpoint)
class _FakeTLSEndpoint:
    """
    Connects the factory's protocol to a L{StringTransport} at once, as if
    TLS had wrapped it: the test then plays the TLS layer, calling
    C{handshakeCompleted} or C{connectionLost}.

    @ivar protocol: the protocol connected last.
    @ivar transport: its transport.
    """

    def connect(self, factory: Any) -> Deferred[Any]:
        self.protocol = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        return succeed(self.protocol)


@implementer(IHandshakeListener)
class _Listening(Protocol):
    handshakes = 0

    def handshakeCompleted(self) -> None:
        self.handshakes += 1


class HandshakeFirstTests(SynchronousTestCase):
    """
    Tests for L{HandshakeFirst}.
    """

    def setUp(self) -> None:
        self.tls = _FakeTLSEndpoint()
        self.endpoint = HandshakeFirst(self.tls)
        self.client = _Listening()
        self.connecting = self.endpoint.connect(
            Factory.forProtocol(lambda: self.client)
        )

    def test_connectedAfterHandshake(self) -> None:
        """
        The client's protocol is connected once the handshake is done, and
        the connection is made then, with the client's protocol, which
        hears of the handshake too.
        """
        self.assertIsNone(self.client.transport)
        self.assertNoResult(self.connecting)
        self.tls.protocol.handshakeCompleted()
        self.assertIs(self.successResultOf(self.connecting), self.client)
        self.assertEqual(self.client.handshakes, 1)
        self.client.transport.write(b"hello")
        self.assertEqual(self.tls.transport.value(), b"hello")

    def test_dataAndClose(self) -> None:
        """
        Once connected, the client's protocol gets what the server sends,
        and hears when the connection is lost.
        """
        received: list[bytes] = []
        lost: list[Failure] = []
        self.client.dataReceived = received.append  # type: ignore[method-assign]
        self.client.connectionLost = lost.append  # type: ignore[method-assign]
        self.tls.protocol.handshakeCompleted()
        self.tls.protocol.dataReceived(b"hi")
        self.tls.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(received, [b"hi"])
        self.assertEqual(len(lost), 1)

    def describeFailure(self, reason: Exception) -> str:
        """
        @return: the message of the L{TLSHandshakeFailed} that the
            connection fails with when it is lost for C{reason} during
            the handshake.
        """
        self.tls.protocol.connectionLost(Failure(reason))
        self.assertIsNone(self.client.transport)
        failure = self.failureResultOf(self.connecting, TLSHandshakeFailed)
        message = str(failure.value)
        self.assertTrue(message.startswith("the TLS handshake failed: "), message)
        return message

    def test_unknownAuthority(self) -> None:
        """
        An OpenSSL error is described by OpenSSL's words.
        """
        error = SSL.Error([("SSL routines", "", "certificate verify failed")])
        self.assertIn("certificate verify failed", self.describeFailure(error))

    def test_otherHost(self) -> None:
        """
        A certificate for another host is described as such.
        """
        message = self.describeFailure(VerificationError(errors=[]))
        self.assertIn("certificate is not for the host", message)

    def test_closed(self) -> None:
        """
        A server that closes the connection during the handshake is
        described as such.
        """
        for reason in [ConnectionDone(), ConnectionLost()]:
            self.setUp()
            message = self.describeFailure(reason)
            self.assertIn("the server closed the connection", message)

    def test_lostLater(self) -> None:
        """
        A connection lost after the handshake is the client protocol's
        business.
        """
        self.tls.protocol.handshakeCompleted()
        self.tls.protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(self.connecting)

    def test_cancel(self) -> None:
        """
        Cancelling the connection during the handshake aborts it.
        """
        self.connecting.cancel()
        self.failureResultOf(self.connecting, CancelledError)
        self.assertTrue(self.tls.transport.disconnecting)
