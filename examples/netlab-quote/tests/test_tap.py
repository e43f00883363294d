"""
Tests for L{netlab_quote._tap}: the options of C{twistd netlab quote}, and
what it builds, given a fake L{IServiceContext}.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from netlab_quote import (
    DEFAULT_PORT,
    QUOTES,
    QuoteDatagramProtocol,
    QuoteFactory,
    QuoteOptions,
    service,
)
from twisted.application.service import IService, Service
from twisted.internet.task import Clock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from netlab.errors import StartupError
from netlab.policies import ConnectionLimits
from netlab.service import DEFAULT_GOODBYE, INetlabService, IServiceContext
from netlab.udp import DatagramGuard


@implementer(IServiceContext)
class RecordingContext:
    """
    An L{IServiceContext} that records what a service asks of it.
    """

    def __init__(self) -> None:
        self.reactor = Clock()
        self.name = "quote"
        self.worker = None
        self.workers = 1
        self.listened: list[tuple[Any, Any]] = []
        self.bound: list[Any] = []
        self.gauges: dict[str, Callable[[], float]] = {}

    def listen(
        self,
        factory: Any,
        options: usage.Options,
        limits: Any = None,
        refusalLine: Callable[[str, str], bytes | None] | None = None,
        goodbye: str = DEFAULT_GOODBYE,
        protocol: str = "",
    ) -> list[IService]:
        self.listened.append((factory, refusalLine))
        return [Service()]

    def addListeners(
        self,
        factory: Any,
        endpoints: Iterable[str],
        protocol: str,
        refusalLine: Callable[[str, str], bytes | None] | None = None,
        option: str | None = None,
    ) -> list[IService]:
        return [Service() for _ in endpoints]

    def streamLimits(
        self, options: usage.Options, idleTimeout: float | None = None
    ) -> ConnectionLimits:
        return ConnectionLimits()

    def datagramGuard(self, options: usage.Options) -> DatagramGuard:
        return DatagramGuard(self.reactor, sourceRate=options["udp-rate"])

    def bindDatagram(self, protocol: Any, options: usage.Options) -> IService:
        self.bound.append(protocol)
        return Service()

    def addGauge(
        self, name: str, documentation: str, read: Callable[[], float], **labels: str
    ) -> None:
        self.gauges[name] = read

    def addDrain(
        self, target: Any, grace: float, reason: str = DEFAULT_GOODBYE
    ) -> IService:
        return Service()


def parse(*args: str) -> QuoteOptions:
    options = QuoteOptions()
    options.parseOptions(list(args))
    return options


class QuoteServiceTests(SynchronousTestCase):
    """
    L{service} is what the entry point C{quote} names.
    """

    def test_interface(self) -> None:
        """
        It provides L{INetlabService}, and is not part of C{twistd netlab
        all}.
        """
        verifyObject(INetlabService, service)
        self.assertFalse(service.inAll)
        self.assertEqual(service.defaultPorts, (DEFAULT_PORT,))

    def test_defaults(self) -> None:
        """
        It listens on TCP and UDP port 21517, with the guard's rates lower
        than netlab's.
        """
        options = parse()
        self.assertEqual(options["listen"], ["tcp:21517"])
        self.assertEqual(options["udp-port"], 21517)
        self.assertEqual(options["udp-rate"], 10)

    def test_nothingToServe(self) -> None:
        """
        C{--no-tcp} and C{--no-udp} together are a usage error.
        """
        self.assertRaises(usage.UsageError, parse, "--no-tcp", "--no-udp")

    def test_builds(self) -> None:
        """
        It listens with a L{QuoteFactory}, refusing connections without a
        word, binds a L{QuoteDatagramProtocol} behind the context's guard,
        and reports how many quotes it has.
        """
        context = RecordingContext()
        verifyObject(IServiceContext, context)
        services = service.build(parse(), context)
        self.assertEqual(len(list(services)), 2)
        [(factory, refusalLine)] = context.listened
        self.assertIsInstance(factory, QuoteFactory)
        self.assertIsNone(refusalLine)
        [protocol] = context.bound
        self.assertIsInstance(protocol, QuoteDatagramProtocol)
        self.assertEqual(protocol.guard.sourceRate, 10)
        self.assertEqual(context.gauges["netlab_quote_quotes"](), len(QUOTES))

    def test_tcpOrUDP(self) -> None:
        """
        C{--no-udp} and C{--no-tcp} leave out one side.
        """
        context = RecordingContext()
        service.build(parse("--no-udp"), context)
        self.assertEqual((len(context.listened), len(context.bound)), (1, 0))
        context = RecordingContext()
        service.build(parse("--no-tcp"), context)
        self.assertEqual((len(context.listened), len(context.bound)), (0, 1))

    def test_quotesFile(self) -> None:
        """
        C{--quotes FILE} gives the quotes, and a file that cannot be used is
        a L{StartupError}.
        """
        directory = Path(tempfile.mkdtemp(prefix="netlab-quote-"))
        self.addCleanup(shutil.rmtree, directory, True)
        path = directory / "quotes.txt"
        path.write_text("one\n\ntwo\n", encoding="utf-8")
        context = RecordingContext()
        service.build(parse("--quotes", str(path)), context)
        self.assertEqual(context.gauges["netlab_quote_quotes"](), 2)
        self.assertRaises(
            StartupError,
            service.build,
            parse("--quotes", str(path) + ".missing"),
            RecordingContext(),
        )
