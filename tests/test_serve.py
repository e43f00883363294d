"""
Tests for L{netlab._serve}: C{twistd netlab serve} serves any factory (or
datagram protocol) it is named.
"""

from __future__ import annotations

from twisted.internet.protocol import Factory
from twisted.internet.testing import FakeDatagramTransport, MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from netlab._serve import GuardedDatagram, ServeOptions, resolve
from netlab._udpguard import DatagramGuard
from netlab.errors import StartupError
from netlab.policies import DEFAULT_MAX_PER_SOURCE, TrafficStats
from tests import _serveable


def _factory(path: str) -> object:
    return resolve(
        "--factory",
        path,
        lambda candidate: isinstance(candidate, Factory),
        "protocol factory",
    )


class ResolveTests(SynchronousTestCase):
    """
    Tests for L{resolve}: what C{--factory} and C{--protocol} may name.
    """

    def test_instance(self) -> None:
        """
        A factory instance is used as it is.
        """
        self.assertIs(_factory("tests._serveable:factory"), _serveable.factory)

    def test_class(self) -> None:
        """
        A factory class is instantiated.
        """
        self.assertIsInstance(
            _factory("tests._serveable:HelloFactory"), _serveable.HelloFactory
        )

    def test_callable(self) -> None:
        """
        A callable is called with no arguments, and what it returns is used.
        """
        made = _factory("tests._serveable:makeFactory")
        self.assertIsInstance(made, Factory)

    def test_dottedAttribute(self) -> None:
        """
        The attribute may be a dotted path inside the module.
        """
        self.assertIs(
            _factory("tests._serveable:Namespace.factory"), _serveable.factory
        )

    def assertProblem(self, path: str, message: str) -> None:
        with self.assertRaises(StartupError) as raised:
            _factory(path)
        self.assertEqual(str(raised.exception), message)

    def test_missingModule(self) -> None:
        """
        A module that cannot be imported is named, with the import error.
        """
        self.assertProblem(
            "nosuchpackage.server:makeFactory",
            "--factory nosuchpackage.server:makeFactory: cannot import "
            "nosuchpackage.server: ModuleNotFoundError: No module named "
            "'nosuchpackage'",
        )

    def test_missingAttribute(self) -> None:
        """
        An attribute the module does not have is named.
        """
        self.assertProblem(
            "tests._serveable:nothing",
            "--factory tests._serveable:nothing: tests._serveable has no "
            "attribute nothing",
        )

    def test_noColon(self) -> None:
        """
        A name without C{:} is refused with the form it should have.
        """
        self.assertProblem(
            "tests._serveable",
            "--factory tests._serveable: give MODULE:ATTRIBUTE, e.g. "
            "mypkg.server:makeFactory",
        )

    def test_notAFactory(self) -> None:
        """
        Something that is neither a factory nor callable is refused.
        """
        self.assertProblem(
            "tests._serveable:notAFactory",
            "--factory tests._serveable:notAFactory: str is not a protocol "
            "factory, a protocol factory class or a callable returning one",
        )

    def test_returnsNotAFactory(self) -> None:
        """
        A callable that returns something else is refused, saying what.
        """
        self.assertProblem(
            "tests._serveable:makeNothing",
            "--factory tests._serveable:makeNothing: it returned int, not a "
            "protocol factory",
        )

    def test_callableFails(self) -> None:
        """
        A callable that raises is reported in one line, with its error.
        """
        self.assertProblem(
            "tests._serveable:makeTrouble",
            "--factory tests._serveable:makeTrouble: calling it failed: "
            "RuntimeError: no database",
        )


class ServeOptionsTests(SynchronousTestCase):
    """
    Tests for L{ServeOptions}.
    """

    def parse(self, *words: str) -> ServeOptions:
        options = ServeOptions()
        options.parseOptions(list(words))
        return options

    def assertUsage(self, message: str, *words: str) -> None:
        with self.assertRaises(usage.UsageError) as raised:
            self.parse(*words)
        self.assertEqual(str(raised.exception), message)

    def test_defaults(self) -> None:
        """
        C{--name} is C{serve}; C{--idle-timeout} is off; the stream options
        of every service are there.
        """
        options = self.parse("--factory", "a:b", "--listen", "tcp:9000")
        self.assertEqual(options.serviceName(), "serve")
        self.assertEqual(options["idle-timeout"], 0)
        self.assertEqual(options["listen"], ["tcp:9000"])
        self.assertEqual(options["max-per-source"], DEFAULT_MAX_PER_SOURCE)
        self.assertIsNone(options["udp-port"])

    def test_name(self) -> None:
        """
        C{--name} names the service.
        """
        options = self.parse("--factory", "a:b", "--listen", "tcp:1", "--name", "web")
        self.assertEqual(options.serviceName(), "web")

    def test_badName(self) -> None:
        """
        A name that could not be a metrics label is refused.
        """
        self.assertUsage(
            "--name 'two words': use up to 64 letters, digits, '.', '_' or '-'",
            "--factory",
            "a:b",
            "--listen",
            "tcp:1",
            "--name",
            "two words",
        )

    def test_nothing(self) -> None:
        """
        Without C{--factory} or C{--protocol} there is nothing to serve.
        """
        self.assertUsage(
            "give --factory MODULE:ATTRIBUTE (with --listen) or --protocol "
            "MODULE:ATTRIBUTE (with --udp-port)"
        )

    def test_factoryWithoutListen(self) -> None:
        """
        A factory needs somewhere to listen: there is no default port.
        """
        self.assertUsage(
            "--factory needs somewhere to listen: give --listen ENDPOINT, e.g. "
            "--listen tcp:9000",
            "--factory",
            "a:b",
        )

    def test_listenWithoutFactory(self) -> None:
        """
        C{--listen} without C{--factory} is refused.
        """
        self.assertUsage(
            "--listen is for --factory",
            "--protocol",
            "a:b",
            "--udp-port",
            "9",
            "--listen",
            "tcp:1",
        )

    def test_protocolWithoutPort(self) -> None:
        """
        A datagram protocol needs C{--udp-port}.
        """
        self.assertUsage("--protocol needs --udp-port N", "--protocol", "a:b")

    def test_portWithoutProtocol(self) -> None:
        """
        C{--udp-port} without C{--protocol} is refused.
        """
        self.assertUsage(
            "--udp-port is for --protocol",
            "--factory",
            "a:b",
            "--listen",
            "tcp:1",
            "--udp-port",
            "9000",
        )

    def test_both(self) -> None:
        """
        A factory and a datagram protocol can be served together.
        """
        options = self.parse(
            "--factory",
            "a:b",
            "--listen",
            "tcp:1",
            "--protocol",
            "c:d",
            "--udp-port",
            "2",
        )
        self.assertEqual((options["factory"], options["protocol"]), ("a:b", "c:d"))
        self.assertEqual(options["udp-port"], 2)


class GuardedDatagramTests(SynchronousTestCase):
    """
    Tests for L{GuardedDatagram}: any datagram protocol behind the guard.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.stats = TrafficStats("serve", "udp")
        self.wrapped = _serveable.Shout()
        self.protocol = GuardedDatagram(
            self.wrapped,
            self.clock,
            guard=DatagramGuard(self.clock, sourceRate=1, sourceBurst=2),
            stats=self.stats,
        )
        self.transport = FakeDatagramTransport()
        self.protocol.makeConnection(self.transport)

    def test_admitted(self) -> None:
        """
        What the guard admits reaches the protocol, which answers through
        a transport that counts what it sends.
        """
        self.protocol.datagramReceived(b"hi", ("127.0.0.1", 40000))
        self.assertEqual(self.transport.written, [(b"HI", ("127.0.0.1", 40000))])
        self.assertEqual(
            (self.stats.messages, self.stats.bytesReceived, self.stats.bytesSent),
            (1, 2, 2),
        )

    def test_refused(self) -> None:
        """
        What the guard refuses (a privileged source port, a source over its
        rate) never reaches the protocol, and is counted as refused.
        """
        self.protocol.datagramReceived(b"loop", ("127.0.0.1", 7))
        for _ in range(5):
            self.protocol.datagramReceived(b"x", ("127.0.0.1", 40000))
        self.assertEqual(len(self.transport.written), 2)
        self.assertEqual(self.stats.messages, 2)
        self.assertEqual(sum(self.protocol.guard.refused.values()), 4)

    def test_stop(self) -> None:
        """
        Stopping the guarded protocol stops the wrapped one.
        """
        stopped = []
        self.wrapped.stopProtocol = lambda: stopped.append(True)  # type: ignore[method-assign]
        self.protocol.doStop()
        self.assertEqual(stopped, [True])
