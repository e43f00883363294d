"""
Tests for L{netlab._service}: listening services that fail with one clear
line when they cannot start.

Reactor-free: listening is done by L{MemoryReactorClock} and subclasses of it
whose listen methods fail.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from twisted.application.service import Service
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from netlab._service import (
    DatagramService,
    EndpointService,
    ExitOnStartupError,
    parseEndpoint,
)
from netlab.errors import NetlabError, StartupError


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
        self.assertEqual(reactor.tcpServers, [(1234, factory, 50, "127.0.0.1")])

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
        self.assertEqual(reactor.tcpServers, [(1234, self.factory, 50, "")])
        self.successResultOf(service.stopService())
        self.assertFalse(service.running)

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
