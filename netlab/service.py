"""
How to write a netlab service: the interface a service implements, the
option bases it builds its options on, and the calls that give it netlab's
operations (connection limits, the UDP reflection guard, metrics, drain on
SIGTERM, clear startup errors).

A service is a sub-command of C{twistd netlab}.  A distribution registers
one with an entry point in the group C{netlab.services}, whose name is the
sub-command and whose object provides L{INetlabService}, usually a
L{NetlabService}::

    # setup.cfg
    [options.entry_points]
    netlab.services =
        quote = netlab_quote:service

    # netlab_quote/__init__.py
    from netlab.service import NetlabService, StreamOptions

    class QuoteOptions(StreamOptions):
        defaultListen = ["tcp:21517"]

    def build(options, context):
        return context.listen(QuoteFactory(), options)

    service = NetlabService("Quote of the Day (RFC 865).", QuoteOptions, build)

After C{pip install}, C{twistd -n netlab quote} runs it, alone or joined
with others by C{+}, and C{twistd netlab --help} lists it.  A client
command of C{netlab} is registered the same way, in the group
C{netlab.clients}, with an object providing L{INetlabClient}.

Nothing here listens: L{INetlabService.build} returns Twisted services,
which listen when C{twistd} starts them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs
from twisted.application.service import IService
from twisted.internet.defer import Deferred
from twisted.python import usage
from zope.interface import Attribute, Interface, implementer

from netlab._options import burst, nonNegative, port, rate, wholeNumber
from netlab._udpguard import (
    DEFAULT_GLOBAL_BURST,
    DEFAULT_GLOBAL_RATE,
    DEFAULT_SOURCE_BURST,
    DEFAULT_SOURCE_RATE,
)
from netlab._workers import parseWorkers
from netlab.policies import (
    DEFAULT_GRACE,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PER_SOURCE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
)

__all__ = [
    "DEFAULT_GOODBYE",
    "GRACE_PARAMETER",
    "INetlabClient",
    "INetlabService",
    "IServiceContext",
    "NetlabClient",
    "NetlabService",
    "ServiceOptions",
    "StreamOptions",
    "datagramParameters",
    "errorLine",
    "idleTimeoutParameter",
]

DEFAULT_GOODBYE = "the server is shutting down"
"""
What a draining stream service tells its connections, by default.
"""


def errorLine(code: str, text: str) -> bytes:
    """
    What a refused connection is told by default: C{error: TEXT} and a line
    feed.

    @param code: the refusal's code, e.g. C{"max-per-source"}.
    @param text: why, for a person.
    """
    return b"error: %s\n" % text.encode("utf-8")


class INetlabService(Interface):
    """
    A service of C{twistd netlab}, registered in the entry point group
    C{netlab.services} under its sub-command's name.
    """

    description = Attribute(
        "One line for C{twistd netlab --help}: what the service does."
    )
    options = Attribute(
        "The C{usage.Options} subclass of its sub-command, usually built on "
        "L{StreamOptions} or L{ServiceOptions} (which give it C{--metrics})."
    )
    inAll = Attribute(
        "Whether C{twistd netlab all} runs it (on its defaults). Only "
        "services that need no option to run should say so."
    )
    defaultPorts = Attribute(
        "The ports it listens on by default (TCP or UDP), a sequence of "
        "ints: every UDP service refuses datagrams from them, so that two "
        "services cannot be made to answer each other for ever."
    )

    def build(options: usage.Options, context: IServiceContext) -> Iterable[IService]:
        """
        Assemble the service from its parsed options, without listening:
        that happens when the returned services start.  (Reading a file
        the options name is fine here: a problem with it is then a
        startup error before anything listens.)

        @param context: the calls that listen with netlab's operations.
        @return: the Twisted services to start, in order (they stop in
            reverse).
        @raise netlab.errors.StartupError: for a problem that should end
            C{twistd} with one line saying why, exit status 1.
        """


class IServiceContext(Interface):
    """
    What L{INetlabService.build} is given: the reactor, the service's name,
    and the calls that wrap its protocols in netlab's operations.
    """

    reactor = Attribute("The reactor the service will run on.")
    name = Attribute(
        "The service's name in logs and in the C{service} label of its "
        "metrics: its sub-command, or what its options' C{serviceName()} "
        "method returns if they have one (as C{serve --name} does); names "
        "chosen that way must differ from each other when services are "
        "joined with C{+}."
    )
    worker = Attribute(
        "With C{--workers}: C{0} in the parent, which builds each service "
        "only to check its options (what it builds does not run: the parent "
        "binds the listeners itself), and the worker's number, from C{1}, in "
        "each worker, which runs what it builds; C{None} in a single process. "
        "A service that keeps state of its own outside the process (as chat "
        "over C{--bus} names a node) tells its workers apart by it: a "
        "worker restarted after it died has the number it had."
    )
    workers = Attribute(
        "How many workers the process runs (C{--workers}): C{1} in a single process."
    )

    def listen(
        factory: Any,
        options: usage.Options,
        limits: Any = None,
        refusalLine: Callable[[str, str], bytes | None] | None = errorLine,
        goodbye: str = DEFAULT_GOODBYE,
        protocol: str = "",
    ) -> list[IService]:
        """
        Serve C{factory} on every C{--listen} endpoint of C{options} (a
        L{StreamOptions}), behind a L{netlab.policies.ConnectionGuard}:
        C{--max-connections}, C{--max-per-source}, C{--idle-timeout} if the
        options have one, C{--tls-handshake-timeout}; counted in
        C{--metrics}; drained for C{--grace} seconds on SIGTERM.

        @param factory: any C{IProtocolFactory}.
            If it has a C{stats} attribute that is a
            L{netlab.policies.TrafficStats}, its counts are reported.
        @param limits: a L{netlab.policies.ConnectionLimits} to use instead
            of the one the options give (see L{streamLimits}).
        @param refusalLine: given a refusal's code and text, the bytes to
            send before closing a refused connection; L{errorLine} if not
            given; C{None} (or a function returning C{None}) to close
            without a word, for a protocol where any text would be read as
            its own.
        @param goodbye: what draining connections are told (a protocol
            providing L{netlab.policies.IDrainable} decides how).
        @param protocol: for a service with listeners of several kinds,
            the C{protocol} label of these ones' metrics.
        @return: the services to start: the drain, then one per endpoint.
        """

    def addListeners(
        factory: Any,
        endpoints: Iterable[str],
        protocol: str,
        refusalLine: Callable[[str, str], bytes | None] | None = errorLine,
        option: str | None = None,
    ) -> list[IService]:
        """
        Serve another protocol of the service (chat's IRC beside its line
        protocol, say) on C{endpoints}, behind the guard of the service's
        last L{listen}: its connections count towards the same
        C{--max-connections} and C{--max-per-source}, are drained with
        the others on SIGTERM, and are counted in C{--metrics} under the
        C{protocol} label.

        @param factory: any C{IProtocolFactory}, counted as L{listen}
            counts its own.
        @param endpoints: server endpoint strings; none gives no service.
        @param protocol: the C{protocol} label of these listeners.
        @param refusalLine: what refused connections of this protocol are
            told, as for L{listen}.
        @param option: the option that gave the endpoints, named in the
            error if one cannot be listened on; C{--PROTOCOL} if C{None}.
        @return: one service per endpoint.
        @raise netlab.errors.StartupError: if the service has not called
            L{listen}, or C{factory} is not a protocol factory.
        """

    def streamLimits(options: usage.Options, idleTimeout: float | None = None) -> Any:
        """
        @return: the L{netlab.policies.ConnectionLimits} C{options} give,
            with C{idleTimeout} instead of their C{--idle-timeout} if it is
            not C{None} (0 for a protocol that times out idle peers itself).
        """

    def datagramGuard(options: usage.Options) -> Any:
        """
        @return: a L{netlab.udp.DatagramGuard} with the rates of the
            options made with L{datagramParameters}, refusing datagrams
            from the default UDP port of every registered service.
        """

    def bindDatagram(protocol: Any, options: usage.Options) -> IService:
        """
        Bind C{protocol} (a L{netlab.udp.GuardedDatagramProtocol}) to
        C{--udp-port} and C{--udp-interface}, and count it in C{--metrics}.
        """

    def addGauge(
        name: str, documentation: str, read: Callable[[], float], **labels: str
    ) -> None:
        """
        Report a number read at each scrape of C{--metrics}, as a gauge
        named C{name}, labelled with the service's name and C{labels};
        gauges of one name and labels are added up.
        """

    def addDrain(target: Any, grace: float, reason: str = DEFAULT_GOODBYE) -> IService:
        """
        Drain C{target} last on the way out (after every listener has
        stopped): anything with C{drain(grace, reason)} returning a
        Deferred that fires once it is done (C{succeed}
        if there is nothing to wait for), and C{abortAll()}, called on a
        second SIGTERM.  L{listen} does this for the connections it
        accepts; this is for what a service keeps of its own.

        @return: the service to start first (it stops last).
        """


class INetlabClient(Interface):
    """
    A client command of C{netlab}, registered in the entry point group
    C{netlab.clients} under its command's name.
    """

    description = Attribute("One line for C{netlab --help}.")
    options = Attribute("The C{usage.Options} subclass of its command.")

    def run(reactor: Any, options: usage.Options) -> Deferred[int]:
        """
        Run the command, on the running reactor.

        @return: a Deferred of the exit status.  A
            L{netlab.errors.NetlabError} it fails with is shown as one line
            and ends C{netlab} with status 1; a C{ValueError}, status 2.
        """


@implementer(INetlabService)
@attrs.frozen
class NetlabService:
    """
    An L{INetlabService} from its parts.
    """

    description: str
    options: type[usage.Options]
    build: Callable[[usage.Options, IServiceContext], Iterable[IService]]
    inAll: bool = False
    defaultPorts: tuple[int, ...] = ()
    whyNotInWorkers: Callable[[usage.Options], str | None] = lambda options: None
    """
    Given the service's options, why it cannot run with C{--workers} above
    1 (one line, saying what to do), or C{None} if it can: a service whose
    connections share state in one process (chat's rooms) says so.  A
    provider of L{INetlabService} without this attribute can.
    """


@implementer(INetlabClient)
@attrs.frozen
class NetlabClient:
    """
    An L{INetlabClient} from its parts.
    """

    description: str
    options: type[usage.Options]
    run: Callable[[Any, usage.Options], Deferred[int]]


class ServiceOptions(usage.Options):
    """
    What every service takes: C{--metrics}.
    """

    optParameters: list[list[Any]] = [
        [
            "metrics",
            None,
            None,
            "Serve counters in the Prometheus text format over HTTP on this "
            "server endpoint (GET /metrics), e.g. tcp:9100:interface=127.0.0.1. "
            "Services run together share one.",
        ],
        [
            "workers",
            None,
            None,
            "Serve with this many worker processes behind one parent that "
            "listens and accepts (auto: one per CPU this process may use; 1, "
            "the default: serve in this process). Services run together share "
            "them.",
            parseWorkers,
        ],
    ]


GRACE_PARAMETER: list[Any] = [
    "grace",
    None,
    DEFAULT_GRACE,
    "On SIGTERM or SIGINT, seconds connections get to finish sending "
    "before they are cut.",
    nonNegative,
]
"""
The C{--grace} option row (L{StreamOptions} has it), for a service that
drains something of its own with L{IServiceContext.addDrain}.
"""


def idleTimeoutParameter(default: float = DEFAULT_IDLE_TIMEOUT) -> list[Any]:
    """
    @return: the C{--idle-timeout} option row, for a service whose guard
        closes connections that go without a byte received or sent.
    """
    return [
        "idle-timeout",
        None,
        default,
        "Seconds a connection may go without a byte received or sent before "
        "it is closed (0: never).",
        nonNegative,
    ]


class StreamOptions(ServiceOptions):
    """
    C{--listen} (repeatable), C{--max-connections}, C{--max-per-source},
    C{--tls-handshake-timeout} and C{--grace}, for services that accept
    connections.  Add L{idleTimeoutParameter} for C{--idle-timeout}.

    @cvar defaultListen: the endpoints listened on without C{--listen}.
    """

    optParameters: list[list[Any]] = [
        [
            "max-connections",
            None,
            DEFAULT_MAX_CONNECTIONS,
            "Connections open at once, in all (0: no limit); one more is "
            "refused (told why, where the protocol has a way to say it).",
            wholeNumber,
        ],
        [
            "max-per-source",
            None,
            DEFAULT_MAX_PER_SOURCE,
            "Connections open at once from one address (0: no limit).",
            wholeNumber,
        ],
        [
            "tls-handshake-timeout",
            None,
            DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            "Seconds a TLS connection (ssl:, tls:) may take to finish its "
            "handshake before it is cut (0: no limit).",
            nonNegative,
        ],
        GRACE_PARAMETER,
    ]

    defaultListen: list[str] = []

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []

    def opt_listen(self, description: str) -> None:
        """Listen on this Twisted server endpoint string, e.g. tcp:21567 or tcp6:port=21567:interface=\\:\\:1; repeat it to listen on several."""  # noqa: E501
        self["listen"].append(description)

    def postOptions(self) -> None:
        super().postOptions()
        if not self["listen"]:
            self["listen"] = list(self.defaultListen)


def datagramParameters(udpPort: int | None) -> list[list[Any]]:
    """
    The option rows of a service that takes datagrams: where it listens
    (C{--udp-port}, C{--udp-interface}), and its reflection guard's rates
    (C{--udp-rate}, C{--udp-burst}, C{--udp-global-rate},
    C{--udp-global-burst}).  Give C{udpPort} in the service's
    C{defaultPorts} too.

    @param udpPort: the default C{--udp-port}; C{None} for none (the
        service then checks that one was given).
    """
    return [
        ["udp-port", None, udpPort, "The UDP port to listen on.", port],
        [
            "udp-interface",
            None,
            "",
            "The local address to bind for UDP: empty for every IPv4 address, "
            ":: for IPv6.",
        ],
        [
            "udp-rate",
            None,
            DEFAULT_SOURCE_RATE,
            "Datagrams answered per second for one source address, on average.",
            rate,
        ],
        [
            "udp-burst",
            None,
            DEFAULT_SOURCE_BURST,
            "Datagrams answered for one source address in a burst.",
            burst,
        ],
        [
            "udp-global-rate",
            None,
            DEFAULT_GLOBAL_RATE,
            "Datagrams answered per second in all, on average.",
            rate,
        ],
        [
            "udp-global-burst",
            None,
            DEFAULT_GLOBAL_BURST,
            "Datagrams answered in all in a burst.",
            burst,
        ],
    ]
