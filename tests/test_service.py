"""
Tests for L{netlab._service}: listening services that fail with one clear
line when they cannot start, and the endpoint strings C{--listen} takes.

Reactor-free: listening is done by L{MemoryReactorClock} and subclasses of it
whose listen methods fail.  The C{ssl:} and C{tls:} tests write throw-away
certificates and keys into temporary directories.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.application.service import Service
from twisted.internet.endpoints import _parse as twistedParse
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from netlab._service import (
    DEFAULT_BACKLOG,
    DEFAULT_UNIX_MODE,
    DatagramService,
    EndpointService,
    ExitOnStartupError,
    listenBacklog,
    parseEndpoint,
    somaxconn,
    splitEndpoint,
    transportOf,
    withDefaults,
)
from netlab.errors import NetlabError, StartupError
from tests._certificates import (
    CertificateFiles,
    otherKey,
    selfSigned,
    temporaryDirectory,
)


def cannotListen(code: int, interface: str = "127.0.0.1", port: int = 21567) -> Any:
    """
    @return: the L{CannotListenError} a reactor raises when binding fails
        with the errno C{code}.
    """
    return CannotListenError(interface, port, OSError(code, os.strerror(code)))


class _FakeUDPPort:
    def __init__(self) -> None:
        self.listening = True

    def stopListening(self) -> None:
        self.listening = False


class _ListeningReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} that can also listen on UDP, and whose listen
    methods raise C{listenError} when it is set.

    @ivar udpServers: C{(port, protocol, interface, maxPacketSize)} for each
        successful C{listenUDP}.
    """

    def __init__(self, listenError: Exception | None = None) -> None:
        super().__init__()
        self.listenError = listenError
        self.udpServers: list[tuple[int, Any, str, int]] = []
        self.udpPorts: list[_FakeUDPPort] = []

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface=""):
        if self.listenError is not None:
            raise self.listenError
        return super().listenTCP(port, factory, backlog, interface)

    def listenUNIX(
        self,
        address: str,
        factory: Any,
        backlog: int = 50,
        mode: int = 0o666,
        wantPID: int = 0,
    ) -> Any:
        if self.listenError is not None:
            raise self.listenError
        return super().listenUNIX(address, factory, backlog, mode, wantPID)

    def listenUDP(
        self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
    ) -> _FakeUDPPort:
        if self.listenError is not None:
            raise self.listenError
        self.udpServers.append((port, protocol, interface, maxPacketSize))
        self.udpPorts.append(_FakeUDPPort())
        return self.udpPorts[-1]


class _FailingService(Service):
    """
    A service whose startService raises C{error}.
    """

    def __init__(self, error: Exception) -> None:
        self.error = error

    def startService(self) -> None:
        super().startService()
        raise self.error


class ParseEndpointTests(SynchronousTestCase):
    """
    Tests for L{parseEndpoint}.
    """

    def assertOneLine(self, error: Exception, *fragments: str) -> None:
        """
        Assert that C{str(error)} is one line containing every fragment.
        """
        message = str(error)
        self.assertNotIn("\n", message)
        for fragment in fragments:
            self.assertIn(fragment, message)

    def test_parses(self) -> None:
        """
        A usable endpoint string gives an endpoint that listens with the
        given reactor.
        """
        reactor = MemoryReactorClock()
        endpoint = parseEndpoint(reactor, "tcp:1234:interface=127.0.0.1")
        factory = Factory.forProtocol(Protocol)
        self.successResultOf(endpoint.listen(factory))
        self.assertEqual(reactor.tcpServers, [(1234, factory, 1024, "127.0.0.1")])

    def test_malformedPort(self) -> None:
        """
        A port that is not a number is a L{StartupError} naming the option,
        the string, and an example that works.
        """
        error = self.assertRaises(
            StartupError, parseEndpoint, MemoryReactorClock(), "tcp:abc"
        )
        self.assertOneLine(error, "--listen tcp:abc", "tcp:21567")

    def test_unknownType(self) -> None:
        """
        An unknown endpoint type is a L{StartupError} naming the string.
        """
        error = self.assertRaises(
            StartupError, parseEndpoint, MemoryReactorClock(), "nonsense:1"
        )
        self.assertOneLine(error, "--listen nonsense:1", "nonsense")

    def test_loneBackslash(self) -> None:
        """
        A string that ends with a lone backslash is a L{StartupError} saying
        so.
        """
        error = self.assertRaises(
            StartupError, parseEndpoint, MemoryReactorClock(), "unix:/tmp/x\\"
        )
        self.assertOneLine(error, "--listen unix:/tmp/x\\", "lone backslash")

    def test_systemdWithoutSocket(self) -> None:
        """
        A systemd: endpoint with no socket passed in is a L{StartupError}
        that says so, rather than the IndexError Twisted raises.
        """
        environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("LISTEN_")
        }
        self.patch(os, "environ", environ)
        error = self.assertRaises(
            StartupError,
            parseEndpoint,
            MemoryReactorClock(),
            "systemd:domain=INET:index=0",
        )
        self.assertOneLine(error, "--listen systemd:domain=INET:index=0", "systemd")
        self.assertIsNone(error.__cause__)

    def test_isNetlabError(self) -> None:
        """
        L{StartupError} is one of netlab's errors.
        """
        self.assertTrue(issubclass(StartupError, NetlabError))


endpointText = st.text(alphabet=":=\\ab", max_size=20)
"""
Endpoint strings made of the characters that matter to their syntax.
"""


class SplitEndpointTests(SynchronousTestCase):
    """
    Tests for L{splitEndpoint}.
    """

    def test_positionalAndKeyword(self) -> None:
        """
        Colons separate the arguments; one with C{=} is a keyword argument.
        """
        self.assertEqual(
            splitEndpoint("unix:/run/x:mode=600"),
            (["unix", "/run/x"], {"mode": "600"}),
        )

    def test_escapes(self) -> None:
        """
        A backslash makes the next character plain, so an address or path
        may hold colons and equals signs.
        """
        self.assertEqual(
            splitEndpoint("tcp6:port=1:interface=\\:\\:1"),
            (["tcp6"], {"port": "1", "interface": "::1"}),
        )
        self.assertEqual(splitEndpoint("unix:a\\=b\\\\"), (["unix", "a=b\\"], {}))

    def test_secondEquals(self) -> None:
        """
        Only the first C{=} of an argument separates its name from its value.
        """
        self.assertEqual(splitEndpoint("x:a=b=c"), (["x"], {"a": "b=c"}))

    def test_loneBackslash(self) -> None:
        """
        A string that ends with a lone backslash is a L{ValueError}.
        """
        self.assertRaises(ValueError, splitEndpoint, "unix:/tmp/x\\")

    @given(endpointText)
    def test_likeTwisted(self, description: str) -> None:
        """
        Every string is split as Twisted's own parser splits it.
        """
        try:
            mine = splitEndpoint(description)
        except ValueError:
            self.assertTrue(description.endswith("\\"))
            return
        self.assertEqual(mine, twistedParse(description))


class TransportOfTests(SynchronousTestCase):
    """
    Tests for L{transportOf}.
    """

    def test_ownKinds(self) -> None:
        """
        TCP over IPv4 or IPv6 is C{tcp}, C{ssl:} and C{tls:} are C{tls},
        C{unix:} is C{unix}, whatever the arguments.
        """
        for description, transport in [
            ("tcp:21567", "tcp"),
            ("tcp6:port=21567:interface=\\:\\:1", "tcp"),
            ("ssl:21567:privateKey=key.pem:certKey=cert.pem", "tls"),
            ("tls:21567:path=/etc/certs", "tls"),
            ("unix:/run/netlab.sock:mode=600", "unix"),
        ]:
            self.assertEqual(transportOf(description), transport, description)

    def test_anyCase(self) -> None:
        """
        The type is read whatever its case, as Twisted reads plugins' types.
        """
        self.assertEqual(transportOf("TCP6:21567"), "tcp")
        self.assertEqual(transportOf("TLS:21567"), "tls")

    def test_otherKinds(self) -> None:
        """
        Any other kind of endpoint is named by its type, in lower case.
        """
        self.assertEqual(transportOf("systemd:domain=INET:index=0"), "systemd")
        self.assertEqual(transportOf("QUIC:443"), "quic")

    def test_escapedType(self) -> None:
        """
        The type is read as Twisted reads it: an escaped colon is part of
        it.
        """
        self.assertEqual(transportOf("my\\:kind:1"), "my:kind")

    def test_notAnEndpoint(self) -> None:
        """
        A string that ends with a lone backslash, or that has no type
        (nothing but keyword arguments), is a L{ValueError}.
        """
        self.assertRaises(ValueError, transportOf, "unix:/tmp/x\\")
        self.assertRaises(ValueError, transportOf, "port=21567")

    @given(endpointText)
    def test_typeOnly(self, description: str) -> None:
        """
        The label depends on the type alone: more arguments, or the type in
        another case, do not change it; and it is in lower case.
        """
        try:
            transport = transportOf(description)
        except ValueError:
            return
        self.assertEqual(transportOf(description + ":a:b=c"), transport)
        self.assertEqual(transportOf(description.upper()), transport)
        self.assertEqual(transport, transport.lower())


class WithDefaultsTests(SynchronousTestCase):
    """
    Tests for L{withDefaults}: netlab's defaults for the listen backlog and
    for C{unix:} endpoints.
    """

    def test_unix(self) -> None:
        """
        A C{unix:} string without a mode gets mode 660 and a lock file.
        """
        self.assertEqual(DEFAULT_UNIX_MODE, "660")
        self.assertEqual(
            withDefaults("unix:/run/netlab/echo.sock"),
            "unix:/run/netlab/echo.sock:backlog=1024:mode=660:lockfile=1",
        )

    def test_backlog(self) -> None:
        """
        Every C{tcp:}, C{tcp6:}, C{unix:}, C{ssl:} and C{tls:} string that
        gives no backlog, by name or by position, gets a backlog of 1024.
        """
        self.assertEqual(DEFAULT_BACKLOG, 1024)
        for description in [
            "tcp:21567",
            "tcp:21567:interface=127.0.0.1",
            "tcp:21567:127.0.0.1",
            "tcp6:21567",
            "TCP6:port=21567:interface=\\:\\:1",
            "unix:/x:mode=600",
            "unix:/x:600",
            "ssl:443:privateKey=k.pem",
            "ssl:443:k.pem:c.pem:TLSv1_2_METHOD:127.0.0.1",
            "tls:/etc/netlab/tls:port=8443",
            "tls:/etc/netlab/tls:8443",
        ]:
            self.assertEqual(
                withDefaults(description).split(":backlog=1024")[0], description
            )
            self.assertEqual(listenBacklog(withDefaults(description)), 1024)

    def test_backlogKept(self) -> None:
        """
        A backlog given by name or by position is kept.
        """
        for description in [
            "tcp:21567:backlog=10",
            "tcp:21567:127.0.0.1:10",
            "tcp6:21567:10",
            "unix:/x:600:10:lockfile=0",
            "ssl:443:k.pem:c.pem:TLSv1_2_METHOD:127.0.0.1:10",
            "tls:/etc/netlab/tls:8443:10",
            "tls:/etc/netlab/tls:backlog=10",
        ]:
            self.assertNotIn("1024", withDefaults(description))
            self.assertEqual(listenBacklog(withDefaults(description)), 10)

    def test_backlogListened(self) -> None:
        """
        Twisted listens with the default backlog where it is added, and with
        the given one where it is kept.
        """
        reactor = MemoryReactorClock()
        factory = Factory.forProtocol(Protocol)
        for description in ["tcp:1", "tcp6:2", "tcp:4:backlog=7"]:
            self.successResultOf(parseEndpoint(reactor, description).listen(factory))
        self.assertEqual([server[2] for server in reactor.tcpServers], [1024, 1024, 7])
        self.successResultOf(
            parseEndpoint(reactor, f"unix:{temporaryDirectory(self)}/s").listen(factory)
        )
        self.assertEqual(reactor.unixServers[0][2], 1024)

    def test_systemdNoBacklog(self) -> None:
        """
        A C{systemd:} socket listens already: no backlog is added, nor known.
        """
        description = "systemd:domain=INET:index=0"
        self.assertEqual(withDefaults(description), description)
        self.assertIsNone(listenBacklog(description))

    def test_modeKept(self) -> None:
        """
        A mode given by name, anywhere in the string, or by position, is
        kept.
        """
        self.assertEqual(
            withDefaults("unix:/x:mode=666"),
            "unix:/x:mode=666:backlog=1024:lockfile=1",
        )
        self.assertEqual(
            withDefaults("unix:mode=600:address=/x"),
            "unix:mode=600:address=/x:backlog=1024:lockfile=1",
        )
        self.assertEqual(
            withDefaults("unix:/x:600"), "unix:/x:600:backlog=1024:lockfile=1"
        )

    def test_lockfileKept(self) -> None:
        """
        A C{lockfile=} given by name or by position is kept.
        """
        self.assertEqual(
            withDefaults("unix:/x:lockfile=0"),
            "unix:/x:lockfile=0:backlog=1024:mode=660",
        )
        self.assertEqual(withDefaults("unix:/x:600:50:0"), "unix:/x:600:50:0")

    def test_escapedPath(self) -> None:
        """
        A path with escaped colons keeps them: the defaults are added as
        arguments of their own.
        """
        description = withDefaults("unix:/tmp/a\\:b\\=c")
        self.assertEqual(
            splitEndpoint(description),
            (
                ["unix", "/tmp/a:b=c"],
                {"backlog": "1024", "mode": "660", "lockfile": "1"},
            ),
        )

    def test_othersUnchanged(self) -> None:
        """
        Strings of other types, and those Twisted does not know by that
        name, are left as they are.
        """
        for description in [
            "systemd:domain=UNIX:index=0",
            "UNIX:/x",
            "TCP:21567",
            "stdio:",
        ]:
            self.assertEqual(withDefaults(description), description)

    @given(endpointText)
    def test_keepsArguments(self, text: str) -> None:
        """
        The defaults only add keyword arguments: every argument of the
        string is as it was.
        """
        description = "unix:" + text
        try:
            args, kwargs = splitEndpoint(description)
        except ValueError:
            return
        newArgs, newKwargs = splitEndpoint(withDefaults(description))
        self.assertEqual(newArgs, args)
        self.assertEqual({k: newKwargs[k] for k in kwargs}, kwargs)
        self.assertLessEqual(
            set(newKwargs) - set(kwargs), {"backlog", "mode", "lockfile"}
        )


class UnixEndpointTests(SynchronousTestCase):
    """
    Tests for the C{unix:} endpoints of L{parseEndpoint}.
    """

    factory = Factory.forProtocol(Protocol)

    def listened(self, description: str) -> tuple[str, int, int]:
        """
        @return: the path, mode and lock file setting that
            C{description}'s endpoint listens with.
        """
        reactor = MemoryReactorClock()
        self.successResultOf(parseEndpoint(reactor, description).listen(self.factory))
        [(path, factory, _, mode, wantPID)] = reactor.unixServers
        self.assertIs(factory, self.factory)
        return path, mode, wantPID

    def test_defaultMode(self) -> None:
        """
        Without C{mode=}, the socket file is made with mode 660, and with a
        lock file, so that a server that died does not block the next.
        """
        self.assertEqual(
            self.listened("unix:/run/netlab/echo.sock"),
            ("/run/netlab/echo.sock", 0o660, True),
        )

    def test_modeKept(self) -> None:
        """
        A mode given by name or position is used as it is.
        """
        self.assertEqual(self.listened("unix:/x:mode=666")[1], 0o666)
        self.assertEqual(self.listened("unix:/x:600")[1], 0o600)

    def test_lockfileOff(self) -> None:
        """
        C{lockfile=0} turns the lock file off.
        """
        self.assertEqual(self.listened("unix:/x:lockfile=0")[2], False)

    def test_pathWithColon(self) -> None:
        """
        An escaped colon is part of the path.
        """
        self.assertEqual(self.listened("unix:/tmp/a\\:b")[:2], ("/tmp/a:b", 0o660))


class _CertificateTestsMixin:
    """
    Writes a self-signed certificate and its key into a temporary directory.

    @ivar directory: the directory.
    @ivar files: the certificate and key files in it.
    """

    def setUp(self) -> None:
        self.directory = temporaryDirectory(self)
        self.files: CertificateFiles = selfSigned(self.directory)

    def startupError(self, description: str) -> str:
        """
        @return: the one-line message of the L{StartupError} that parsing
            C{description} raises.
        """
        error = self.assertRaises(  # type: ignore[attr-defined]
            StartupError, parseEndpoint, MemoryReactorClock(), description
        )
        message = str(error)
        self.assertNotIn("\n", message)  # type: ignore[attr-defined]
        self.assertTrue(  # type: ignore[attr-defined]
            message.startswith(f"cannot listen on {description}: "), message
        )
        self.assertTrue(message.endswith(" (--listen)"), message)  # type: ignore[attr-defined]
        return message


class SSLEndpointTests(_CertificateTestsMixin, SynchronousTestCase):
    """
    Tests for the C{ssl:} endpoints of L{parseEndpoint}: their certificate
    and key files are checked, and a problem is named.
    """

    def ssl(self, key: Path | str, certificate: Path | str | None = None) -> str:
        """
        @return: an C{ssl:} endpoint string for these files.
        """
        description = f"ssl:8443:interface=127.0.0.1:privateKey={key}"
        if certificate is not None:
            description += f":certKey={certificate}"
        return description

    def test_listens(self) -> None:
        """
        With a readable certificate and its key, the endpoint listens with
        TLS on the port.
        """
        reactor = MemoryReactorClock()
        endpoint = parseEndpoint(
            reactor, self.ssl(self.files.key, self.files.certificate)
        )
        self.successResultOf(endpoint.listen(Factory.forProtocol(Protocol)))
        [(port, _, _, _, interface)] = reactor.sslServers
        self.assertEqual((port, interface), (8443, "127.0.0.1"))

    def test_oneFile(self) -> None:
        """
        The certificate and the key may be in one file, C{privateKey=}.
        """
        both = self.directory / "both.pem"
        both.write_bytes(
            self.files.certificate.read_bytes() + self.files.key.read_bytes()
        )
        parseEndpoint(MemoryReactorClock(), self.ssl(both))

    def test_missingKey(self) -> None:
        """
        A private key file that does not exist is named, with the argument
        that names it.
        """
        missing = self.directory / "missing.pem"
        message = self.startupError(self.ssl(missing, self.files.certificate))
        self.assertIn(
            f"cannot read the private key file {missing} (privateKey=): no such file",
            message,
        )

    def test_missingCertificate(self) -> None:
        """
        A certificate file that does not exist is named, with the argument
        that names it.
        """
        missing = self.directory / "missing.pem"
        message = self.startupError(self.ssl(self.files.key, missing))
        self.assertIn(
            f"cannot read the certificate file {missing} (certKey=): no such file",
            message,
        )

    def test_defaultKeyFile(self) -> None:
        """
        Without C{privateKey=}, Twisted reads C{server.pem}; when there is
        none, the message says so.
        """
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(self.directory)
        message = self.startupError("ssl:8443")
        self.assertIn(
            "cannot read the private key file server.pem (the default, as "
            "privateKey= is not given): no such file",
            message,
        )

    def test_directory(self) -> None:
        """
        A directory where a file should be is named.
        """
        message = self.startupError(self.ssl(self.files.key, self.directory))
        self.assertIn(f"{self.directory} (certKey=): it is a directory", message)

    def test_unreadable(self) -> None:
        """
        A file that cannot be read for want of permission is named, with
        what to do.
        """
        self.files.key.chmod(0)
        if os.geteuid() == 0:
            # Root may read any file: check as nobody would (CI runs as
            # root), for the moment of the check only.
            os.seteuid(65534)
            try:
                message = self.startupError(
                    self.ssl(self.files.key, self.files.certificate)
                )
            finally:
                os.seteuid(0)
        else:
            message = self.startupError(
                self.ssl(self.files.key, self.files.certificate)
            )
        self.assertIn(
            f"cannot read the private key file {self.files.key} (privateKey=): "
            "permission denied; make it readable",
            message,
        )

    def test_notACertificate(self) -> None:
        """
        A certificate file that holds no certificate is named; without
        C{certKey=} that is the private key file.
        """
        message = self.startupError(self.ssl(self.files.key))
        self.assertIn(
            f"the certificate file {self.files.key} (the private key file, as "
            "certKey= is not given) holds no PEM certificate",
            message,
        )

    def test_notAKey(self) -> None:
        """
        A private key file that holds no key is named.
        """
        message = self.startupError(
            self.ssl(self.files.certificate, self.files.certificate)
        )
        self.assertIn(
            f"the private key file {self.files.certificate} (privateKey=) holds "
            "no PEM private key",
            message,
        )

    def test_keyOfAnother(self) -> None:
        """
        A private key that is not the certificate's is named, with the
        certificate.
        """
        other = otherKey(self.directory / "other.pem")
        message = self.startupError(self.ssl(other, self.files.certificate))
        self.assertIn(
            f"the private key in {other} is not the one of the certificate in "
            f"{self.files.certificate}",
            message,
        )

    def test_missingChain(self) -> None:
        """
        A certificate chain file that does not exist is named too.
        """
        missing = self.directory / "chain.pem"
        description = (
            self.ssl(self.files.key, self.files.certificate)
            + f":extraCertChain={missing}"
        )
        message = self.startupError(description)
        self.assertIn(
            f"cannot read the certificate chain file {missing} (extraCertChain=)",
            message,
        )

    def test_positionalFiles(self) -> None:
        """
        The key and certificate may be given by position, after the port.
        """
        missing = self.directory / "missing.pem"
        message = self.startupError(f"ssl:8443:{self.files.key}:{missing}")
        self.assertIn(f"cannot read the certificate file {missing}", message)


class TLSEndpointTests(_CertificateTestsMixin, SynchronousTestCase):
    """
    Tests for the C{tls:} endpoints of L{parseEndpoint}: Twisted's own
    listens even when its directory is unusable, and every handshake
    fails; netlab checks it first.
    """

    def test_listens(self) -> None:
        """
        A directory with a certificate, its key and a DNS name gives an
        endpoint that listens on the port and interface given.
        """
        reactor = MemoryReactorClock()
        endpoint = parseEndpoint(
            reactor, f"tls:{self.directory}:port=8443:interface=127.0.0.1"
        )
        self.successResultOf(endpoint.listen(Factory.forProtocol(Protocol)))
        [(port, _, backlog, interface)] = reactor.tcpServers
        self.assertEqual((port, backlog, interface), (8443, 1024, "127.0.0.1"))

    def test_pathByName(self) -> None:
        """
        The directory may be given as C{path=}.
        """
        parseEndpoint(MemoryReactorClock(), f"tls:path={self.directory}:port=8443")

    def test_missingDirectory(self) -> None:
        """
        A directory that does not exist is named.
        """
        missing = self.directory / "missing"
        message = self.startupError(f"tls:{missing}:port=8443")
        self.assertIn(f"the directory {missing} does not exist", message)

    def test_notADirectory(self) -> None:
        """
        A file where the directory should be is named, with the endpoint
        type that takes files.
        """
        message = self.startupError(f"tls:{self.files.certificate}")
        self.assertIn(f"{self.files.certificate} is not a directory", message)
        self.assertIn("ssl:", message)

    def test_empty(self) -> None:
        """
        A directory without a certificate and its key says so.
        """
        empty = self.directory / "empty"
        empty.mkdir()
        message = self.startupError(f"tls:{empty}")
        self.assertIn(f"no .pem file in {empty} holds a certificate", message)

    def test_keyElsewhere(self) -> None:
        """
        A certificate whose key is not there, beside another key, is not
        enough.
        """
        self.files.key.unlink()
        otherKey(self.directory / "other.pem")
        message = self.startupError(f"tls:{self.directory}")
        self.assertIn("holds a certificate whose private key is there too", message)

    def test_otherFilesIgnored(self) -> None:
        """
        As for Twisted, only C{.pem} files count.
        """
        self.files.key.rename(self.directory / "server.key")
        message = self.startupError(f"tls:{self.directory}")
        self.assertIn("no .pem file", message)

    def test_subdirectories(self) -> None:
        """
        As for Twisted, C{.pem} files in subdirectories count.
        """
        below = self.directory / "below"
        below.mkdir()
        self.files.key.rename(below / "server.key.pem")
        parseEndpoint(MemoryReactorClock(), f"tls:{self.directory}")

    def test_noDNSName(self) -> None:
        """
        A certificate with no DNS name cannot be chosen by Twisted's
        C{tls:}; the message says so, and what to use instead.
        """
        only = self.directory / "only"
        only.mkdir()
        selfSigned(only, names=(), addresses=("127.0.0.1",))
        message = self.startupError(f"tls:{only}")
        self.assertIn("has no DNS name in its subjectAltName", message)
        self.assertIn("ssl:", message)

    def test_badBlock(self) -> None:
        """
        A C{.pem} file with a block that is neither a certificate nor a
        key is named.
        """
        bad = self.directory / "bad.pem"
        bad.write_bytes(b"-----BEGIN CERTIFICATE-----\\nnonsense\\n")
        message = self.startupError(f"tls:{self.directory}")
        self.assertIn(f"{bad} holds a PEM block that is neither", message)


class EndpointServiceTests(SynchronousTestCase):
    """
    Tests for L{EndpointService}.
    """

    factory = Factory.forProtocol(Protocol)

    def test_listens(self) -> None:
        """
        Started, the service listens on its endpoint with its factory.
        """
        reactor = _ListeningReactor()
        service = EndpointService(reactor, "tcp:1234", self.factory)
        service.startService()
        self.assertTrue(service.running)
        self.assertEqual(reactor.tcpServers, [(1234, self.factory, 1024, "")])
        self.successResultOf(service.stopService())
        self.assertFalse(service.running)

    def started(self, description: str, cap: int | None) -> list[Any]:
        """
        Start an L{EndpointService} for C{description} on a kernel whose
        C{net.core.somaxconn} reads C{cap}.

        @return: the warnings it logged.
        """
        service = EndpointService(_ListeningReactor(), description, self.factory)
        service.readSomaxconn = lambda: cap  # type: ignore[method-assign,assignment,misc]
        with capturedLogs() as events:
            service.startService()
        self.addCleanup(service.stopService)
        return [e for e in events if e["log_level"] == LogLevel.warn]

    def test_backlogCapped(self) -> None:
        """
        When the kernel caps listen backlogs below the one the endpoint asks
        for, starting warns once, naming the option, the string, both
        numbers and what to do.
        """
        [event] = self.started("tcp:1234", 128)
        text = formatEvent(event)
        for part in (
            "--listen tcp:1234",
            "at most 128",
            "net.core.somaxconn",
            "backlog of 1024",
            "sysctl -w net.core.somaxconn=1024",
        ):
            self.assertIn(part, text)
        [event] = self.started("tcp:1234:backlog=200", 128)
        self.assertIn("backlog of 200", formatEvent(event))

    def test_backlogNotCapped(self) -> None:
        """
        No warning when the kernel allows the backlog, when its cap cannot
        be read, or for an endpoint whose backlog netlab does not set.
        """
        self.assertEqual(self.started("tcp:1234", 4096), [])
        self.assertEqual(self.started("tcp:1234", 1024), [])
        self.assertEqual(self.started("tcp:1234", None), [])
        self.assertEqual(self.started("tcp:1234:backlog=100", 128), [])

    def test_somaxconn(self) -> None:
        """
        L{somaxconn} reads the kernel's number, and gives C{None} for a file
        that is missing or does not hold one.
        """
        path = str(temporaryDirectory(self) / "somaxconn")
        self.assertIsNone(somaxconn(path))
        with open(path, "w") as f:
            f.write("4096\n")
        self.assertEqual(somaxconn(path), 4096)
        with open(path, "w") as f:
            f.write("many\n")
        self.assertIsNone(somaxconn(path))

    def test_badDescription(self) -> None:
        """
        An unusable endpoint string is a L{StartupError} when the service is
        made.
        """
        self.assertRaises(
            StartupError, EndpointService, _ListeningReactor(), "tcp:abc", self.factory
        )

    def test_addressInUse(self) -> None:
        """
        When the port is in use, privilegedStartService raises a
        L{StartupError} naming the endpoint, the option, and the likely
        cause, chained to the reactor's error.
        """
        listenError = cannotListen(errno.EADDRINUSE)
        service = EndpointService(
            _ListeningReactor(listenError),
            "tcp:21567:interface=127.0.0.1",
            self.factory,
        )
        error = self.assertRaises(StartupError, service.privilegedStartService)
        message = str(error)
        self.assertTrue(
            message.startswith("cannot listen on tcp:21567:interface=127.0.0.1: "),
            message,
        )
        self.assertIn("another program is using it", message)
        self.assertIn("--listen", message)
        self.assertNotIn("\n", message)
        self.assertIs(error.__cause__, listenError)

    def test_addressInUseOnStartService(self) -> None:
        """
        startService alone, as twist calls it, fails the same way.
        """
        service = EndpointService(
            _ListeningReactor(cannotListen(errno.EADDRINUSE)),
            "tcp:21567",
            self.factory,
        )
        error = self.assertRaises(StartupError, service.startService)
        self.assertIn("cannot listen on tcp:21567: another program", str(error))

    def test_permissionDenied(self) -> None:
        """
        A privileged port the process may not bind gets a hint about
        privileges.
        """
        service = EndpointService(
            _ListeningReactor(cannotListen(errno.EACCES, port=80)),
            "tcp:80",
            self.factory,
        )
        error = self.assertRaises(StartupError, service.privilegedStartService)
        self.assertIn("cannot listen on tcp:80: permission denied", str(error))

    def test_addressNotAvailable(self) -> None:
        """
        An address that no interface has gets a hint saying so.
        """
        service = EndpointService(
            _ListeningReactor(cannotListen(errno.EADDRNOTAVAIL, "192.0.2.1")),
            "tcp:21567:interface=192.0.2.1",
            self.factory,
        )
        error = self.assertRaises(StartupError, service.privilegedStartService)
        self.assertIn("no interface of this machine has that address", str(error))

    def test_otherSocketError(self) -> None:
        """
        Any other socket error is reported with the system's description.
        """
        service = EndpointService(
            _ListeningReactor(cannotListen(errno.EMFILE)), "tcp:21567", self.factory
        )
        error = self.assertRaises(StartupError, service.privilegedStartService)
        self.assertIn(os.strerror(errno.EMFILE), str(error))

    def unixError(self, error: Exception) -> str:
        """
        @return: the message of the L{StartupError} a C{unix:} service
            raises when listening fails with C{error}.
        """
        service = EndpointService(
            _ListeningReactor(error), "unix:/run/netlab/echo.sock", self.factory
        )
        message = str(self.assertRaises(StartupError, service.privilegedStartService))
        self.assertTrue(
            message.startswith("cannot listen on unix:/run/netlab/echo.sock: "),
            message,
        )
        self.assertTrue(message.endswith(" (--listen)"), message)
        self.assertNotIn("\n", message)
        return message

    def test_unixNoDirectory(self) -> None:
        """
        A C{unix:} path whose directory does not exist says so; the error
        comes from the lock file or the bind, whichever fails first.
        """
        enoent = OSError(errno.ENOENT, os.strerror(errno.ENOENT))
        for error in [enoent, CannotListenError(None, b"/run/x", enoent)]:
            self.assertIn(
                "its directory does not exist; create it", self.unixError(error)
            )

    def test_unixPermissionDenied(self) -> None:
        """
        A C{unix:} path in a directory the user may not write to says so,
        without the hint about privileged ports.
        """
        message = self.unixError(
            CannotListenError(
                None, b"/run/x", OSError(errno.EACCES, os.strerror(errno.EACCES))
            )
        )
        self.assertIn("permission denied; choose a directory", message)
        self.assertNotIn("1024", message)

    def test_unixFileThere(self) -> None:
        """
        A C{unix:} path where a file already is says so.
        """
        message = self.unixError(
            CannotListenError(
                None,
                b"/run/x",
                OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE)),
            )
        )
        self.assertIn("a file is already there; remove it if no server", message)

    def test_unixLocked(self) -> None:
        """
        A C{unix:} path whose lock file a running server holds says so.
        """
        message = self.unixError(
            CannotListenError(None, b"/run/x", "Cannot acquire lock")
        )
        self.assertIn("a running server holds its lock file", message)

    def test_unixPathTooLong(self) -> None:
        """
        A C{unix:} path longer than the system allows says so.
        """
        message = self.unixError(
            CannotListenError(None, b"/run/x", OSError("AF_UNIX path too long"))
        )
        self.assertIn("AF_UNIX path too long; choose a shorter path", message)

    def test_otherError(self) -> None:
        """
        An error that is not a socket error is still reported as a
        L{StartupError} naming the endpoint.
        """
        service = EndpointService(
            _ListeningReactor(RuntimeError("the reactor is unwell")),
            "tcp:21567",
            self.factory,
        )
        error = self.assertRaises(StartupError, service.privilegedStartService)
        self.assertIn("cannot listen on tcp:21567", str(error))
        self.assertIn("the reactor is unwell", str(error))


class DatagramServiceTests(SynchronousTestCase):
    """
    Tests for L{DatagramService}.
    """

    def test_listens(self) -> None:
        """
        Started, the service listens on its UDP port and address with its
        protocol, and stops listening when stopped.
        """
        reactor = _ListeningReactor()
        protocol = DatagramProtocol()
        service = DatagramService(
            reactor, 4321, protocol, interface="::1", maxPacketSize=1000
        )
        self.assertEqual(reactor.udpServers, [])
        service.privilegedStartService()
        service.startService()
        self.assertEqual(reactor.udpServers, [(4321, protocol, "::1", 1000)])
        service.stopService()
        self.assertFalse(reactor.udpPorts[0].listening)

    def test_readsWholeDatagrams(self) -> None:
        """
        By default the service reads datagrams of up to 65536 bytes whole.
        """
        reactor = _ListeningReactor()
        DatagramService(reactor, 4321, DatagramProtocol()).startService()
        [(_, _, interface, maxPacketSize)] = reactor.udpServers
        self.assertEqual(interface, "")
        self.assertEqual(maxPacketSize, 65536)

    def test_addressInUse(self) -> None:
        """
        When the port is in use, privilegedStartService raises a
        L{StartupError} naming the port and address, the options, and the
        likely cause.
        """
        listenError = cannotListen(errno.EADDRINUSE)
        service = DatagramService(
            _ListeningReactor(listenError),
            21567,
            DatagramProtocol(),
            interface="127.0.0.1",
        )
        error = self.assertRaises(StartupError, service.privilegedStartService)
        message = str(error)
        self.assertTrue(
            message.startswith("cannot listen on udp:21567:interface=127.0.0.1: "),
            message,
        )
        self.assertIn("another program is using it", message)
        self.assertIn("--udp-port", message)
        self.assertNotIn("\n", message)
        self.assertIs(error.__cause__, listenError)

    def test_addressInUseOnStartService(self) -> None:
        """
        startService alone fails the same way, naming the port.
        """
        service = DatagramService(
            _ListeningReactor(cannotListen(errno.EADDRINUSE)),
            21567,
            DatagramProtocol(),
        )
        error = self.assertRaises(StartupError, service.startService)
        self.assertIn("cannot listen on udp:21567: another program", str(error))


class ExitOnStartupErrorTests(SynchronousTestCase):
    """
    Tests for L{ExitOnStartupError}.
    """

    def failingTop(self) -> ExitOnStartupError:
        """
        @return: an L{ExitOnStartupError} whose one child cannot listen
            because its port is in use.
        """
        top = ExitOnStartupError("netlab tsserv")
        EndpointService(
            _ListeningReactor(cannotListen(errno.EADDRINUSE)),
            "tcp:21567",
            Factory.forProtocol(Protocol),
        ).setServiceParent(top)
        return top

    def assertExitLine(self, error: SystemExit, program: str) -> str:
        """
        Assert that C{error} ends the process with one line,
        C{<program>: error: ...}.

        @return: the line.
        """
        self.assertIsInstance(error.code, str)
        message = str(error.code)
        self.assertTrue(message.startswith(f"{program}: error: "), message)
        self.assertNotIn("\n", message)
        return message

    def test_privilegedStartService(self) -> None:
        """
        A child that cannot listen in privilegedStartService ends the process
        with one line, C{<program>: error: cannot listen on ...}.
        """
        error = self.assertRaises(SystemExit, self.failingTop().privilegedStartService)
        message = self.assertExitLine(error, "netlab tsserv")
        self.assertIn("cannot listen on tcp:21567: another program", message)

    def test_startService(self) -> None:
        """
        A child that cannot listen in startService ends the process with the
        same line.
        """
        error = self.assertRaises(SystemExit, self.failingTop().startService)
        message = self.assertExitLine(error, "netlab tsserv")
        self.assertIn("cannot listen on tcp:21567: another program", message)

    def test_udpStartService(self) -> None:
        """
        A UDP child that cannot listen in startService, as twist starts it,
        ends the process with one line too.
        """
        top = ExitOnStartupError("netlab tsuserv")
        DatagramService(
            _ListeningReactor(cannotListen(errno.EADDRINUSE)),
            21567,
            DatagramProtocol(),
        ).setServiceParent(top)
        error = self.assertRaises(SystemExit, top.startService)
        message = self.assertExitLine(error, "netlab tsuserv")
        self.assertIn("cannot listen on udp:21567: another program", message)

    def test_childStartupError(self) -> None:
        """
        Any child's L{StartupError} from startService becomes the line, with
        the error's message as it is.
        """
        top = ExitOnStartupError("netlab example")
        _FailingService(StartupError("it broke")).setServiceParent(top)
        error = self.assertRaises(SystemExit, top.startService)
        self.assertEqual(error.code, "netlab example: error: it broke")

    def test_otherErrorsPropagate(self) -> None:
        """
        An error that is not a L{StartupError} is not turned into a quiet
        exit: it propagates as it is.
        """
        top = ExitOnStartupError("netlab example")
        _FailingService(ZeroDivisionError("bug")).setServiceParent(top)
        self.assertRaises(ZeroDivisionError, top.startService)

    def test_startsChildren(self) -> None:
        """
        When every child can start, all of them run.
        """
        reactor = _ListeningReactor()
        top = ExitOnStartupError("netlab tsserv")
        for port in (1234, 1235):
            EndpointService(
                reactor, f"tcp:{port}", Factory.forProtocol(Protocol)
            ).setServiceParent(top)
        top.privilegedStartService()
        top.startService()
        self.assertTrue(top.running)
        self.assertTrue(all(child.running for child in top))
        self.assertEqual([entry[0] for entry in reactor.tcpServers], [1234, 1235])
        self.successResultOf(top.stopService())

    def test_daemonReraises(self) -> None:
        """
        When twistd daemonizes, a child's L{StartupError} from startService
        is raised as it is, not as L{SystemExit}, so that twistd reports it
        to the launching process and removes its pid file.
        """
        top = ExitOnStartupError("netlab tsserv", daemon=True)
        error = StartupError("it broke")
        _FailingService(error).setServiceParent(top)
        raised = self.assertRaises(StartupError, top.startService)
        self.assertIs(raised, error)

    def test_daemonReraisesListenError(self) -> None:
        """
        When twistd daemonizes, a child that cannot listen raises its
        L{StartupError}, naming the endpoint, from privilegedStartService.
        """
        top = ExitOnStartupError("netlab tsserv", daemon=True)
        EndpointService(
            _ListeningReactor(cannotListen(errno.EADDRINUSE)),
            "tcp:21567",
            Factory.forProtocol(Protocol),
        ).setServiceParent(top)
        error = self.assertRaises(StartupError, top.privilegedStartService)
        self.assertIn("cannot listen on tcp:21567: another program", str(error))

    def test_notDaemonByDefault(self) -> None:
        """
        By default a child's L{StartupError} ends the process with one line.
        """
        top = ExitOnStartupError("netlab example")
        self.assertFalse(top.daemon)
        _FailingService(StartupError("it broke")).setServiceParent(top)
        error = self.assertRaises(SystemExit, top.startService)
        self.assertEqual(error.code, "netlab example: error: it broke")
