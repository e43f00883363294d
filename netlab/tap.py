"""
The C{netlab} twistd / twist plugin: the assembly of the services it runs.

C{twistd -n netlab tsserv} and C{twist netlab tsserv} both come here, through
C{twisted/plugins/netlab_plugin.py}.  The services themselves are plugins,
found through the entry point group C{netlab.services} (see
L{netlab.service}); this module parses their command lines (one service,
several joined by C{+}, or C{all}), and L{makeService} builds each with the
operations every netlab service shares: connection limits, the UDP guard,
C{--metrics}, drain on SIGTERM, and startup errors as one line.  Nothing
here names a particular service, and nothing listens until the service is
started.
"""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import attrs
from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IProtocolFactory
from twisted.logger import Logger
from twisted.python import usage
from zope.interface import implementer

from netlab import _registry
from netlab._lifecycle import DrainService, EnoughFiles, StopGracefullyOnSignals
from netlab._metrics import ServiceCollector, metricsSite, newRegistry
from netlab._service import (
    DatagramService,
    EndpointService,
    ExitOnStartupError,
    transportOf,
)
from netlab._udpguard import DatagramGuard
from netlab._udpserver import GuardedDatagramProtocol
from netlab._worker import Ready, WorkerRole
from netlab._workers import (
    AUTO,
    ParentRole,
    WorkersMetrics,
    WorkerSupervisor,
    usableCPUs,
)
from netlab.errors import StartupError
from netlab.policies import DEFAULT_GRACE, ConnectionGuard, ConnectionLimits
from netlab.service import (
    DEFAULT_GOODBYE,
    GRACE_PARAMETER,
    INetlabService,
    IServiceContext,
    ServiceOptions,
    errorLine,
)

__all__ = ["SEPARATOR", "AllOptions", "Options", "loadServices", "makeService"]

SEPARATOR = "+"
"""
What joins several services on one command line.
"""

ALL = "all"
"""
The sub-command that runs every service that is part of it.
"""

_log = Logger()

GROUP = "netlab.services"
"""
The entry point group services register in.
"""


@attrs.define
class _Loaded:
    """
    The service registry, with the lines about broken entry points not yet
    told.
    """

    registry: _registry.Registry[INetlabService]
    warnings: list[str]


_provider = _registry.provider(INetlabService, reserved=(ALL, SEPARATOR))


def _checkService(name: str, candidate: object) -> INetlabService:
    service: INetlabService = _provider(name, candidate)
    if not isinstance(service.description, str):
        raise TypeError("its description is not a str")
    if not isinstance(service.inAll, bool):
        raise TypeError("its inAll is not a bool")
    ports = service.defaultPorts
    if isinstance(ports, (str, bytes)) or not (
        isinstance(ports, Iterable)
        and all(isinstance(port, int) and 0 < port < 65536 for port in ports)
    ):
        raise TypeError("its defaultPorts are not port numbers (1 to 65535)")
    return service


def loadServices(points: Any = None) -> _Loaded:
    """
    Load the services registered in C{netlab.services} (or C{points}).
    """
    warnings: list[str] = []
    registry = _registry.load(
        GROUP, _checkService, points, warn=warnings.append, kind="service"
    )
    return _Loaded(registry, warnings)


@lru_cache(maxsize=1)
def _installed() -> _Loaded:
    return loadServices()


class AllOptions(ServiceOptions):
    """
    C{twistd netlab all}: every service that is part of it, on its defaults.
    """

    synopsis = "[--metrics ENDPOINT] [--grace SECONDS]"
    optParameters: list[list[Any]] = [GRACE_PARAMETER]


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]


def _allOptions(names: list[str]) -> type[AllOptions]:
    listed = _listed(names)
    example = f" {SEPARATOR} ".join(names[:2])

    class Options(AllOptions):
        longdesc = (
            f"Run {listed} in one process, each on its default ports. To choose "
            f"their options, join services with '{SEPARATOR}' instead, e.g. "
            f"twistd netlab {example}"
        )

    return Options


def _firstWord(words: list[str]) -> str | None:
    for word in words:
        if not word.startswith("-"):
            return word
    return None


class Options(usage.Options):
    """
    C{twistd netlab}: choose a service with a sub-command, or several, joined
    with C{+}::

        twistd -n netlab tsserv --framing line + echo --no-udp + chat

    @ivar also: the options of the services after the first, each an
        L{Options} with its own sub-command.
    @ivar registry: the services that can be chosen.
    """

    longdesc = (
        "netlab's services. Run 'twistd netlab SERVICE --help' for the options "
        "of one. Join services with '+' to run several in one process, each "
        "with its own options: 'twistd netlab tsserv + echo --no-udp + chat'; "
        "'twistd netlab all' runs every one that is part of it on its "
        "defaults. Other distributions add services through the entry point "
        "group netlab.services."
    )

    def __init__(
        self,
        loaded: _Loaded | None = None,
        warn: Callable[[str], object] | None = None,
    ) -> None:
        """
        @param loaded: the services to choose from; those installed if
            C{None} (see L{loadServices}).
        @param warn: told each line about a broken entry point; standard
            error if C{None}.
        """
        super().__init__()
        self._loaded = loaded if loaded is not None else _installed()
        self._warn = warn if warn is not None else _registry.stderr
        self.registry = self._loaded.registry
        self.also: list[Options] = []
        self.arguments: list[str] = []
        self.workers = 1
        self.subCommands = [
            [name, None, service.options, service.description]
            for name, service in self.registry
        ]
        inAll = self.inAll()
        if inAll:
            self.subCommands.append(
                [
                    ALL,
                    None,
                    _allOptions(inAll),
                    _listed(inAll) + " together, on their defaults.",
                ]
            )

    def inAll(self) -> list[str]:
        """
        @return: the names of the services C{all} runs, in order.
        """
        return [name for name, service in self.registry if service.inAll]

    @property
    def synopsis(self) -> str:
        """
        The usage line: a sub-command's own help names its sub-command.
        """
        return "" if self.subCommand else "SERVICE [options] [+ SERVICE [options]]..."

    def getSynopsis(self) -> str:
        return super().getSynopsis().rstrip()

    def parseOptions(self, options: list[str] | None = None) -> None:
        """
        Parse one service's options, or several services' joined by C{+}.

        @raise SystemExit: if a service asked for is registered but broken.
        """
        if options is None:
            options = sys.argv[1:]
        self.arguments = list(options)
        groups: list[list[str]] = [[]]
        for word in options:
            if word == SEPARATOR:
                groups.append([])
            else:
                groups[-1].append(word)
        self._checkBroken(groups)
        for group in groups[1:]:
            if not group:
                raise usage.UsageError(
                    f"name a service after each '{SEPARATOR}', e.g. "
                    f"tsserv {SEPARATOR} echo"
                )
            more = Options(self._loaded, warn=_ignore)
            more.parseOptions(group)
            if more.subCommand == ALL:
                raise usage.UsageError(
                    f"'{ALL}' already runs every service; it cannot be joined "
                    f"with '{SEPARATOR}'"
                )
            self.also.append(more)
        super().parseOptions(groups[0])
        if self.also and self.subCommand == ALL:
            raise usage.UsageError(
                f"'{ALL}' already runs every service; it cannot be joined with "
                f"'{SEPARATOR}'"
            )
        self._checkNames()
        self.workers = _workersOf(self.services())

    def _checkBroken(self, groups: list[list[str]]) -> None:
        for group in groups:
            name = _firstWord(group)
            broken = self._loaded.registry.broken.get(name) if name else None
            if broken is not None and name != ALL and name not in self.registry.plugins:
                raise SystemExit(f"netlab: error: {broken.describe('service')}")
        for line in self._loaded.warnings:
            self._warn(line)

    def _checkNames(self) -> None:
        # A name chosen (serve --name) must be unlike every other; two of a
        # kind (chat + chat) may share theirs, and their counts add up.
        chosen: set[str] = set()
        named: set[str] = set()
        for command, serviceOptions in self.services():
            name, given = _nameOf(command, serviceOptions)
            if name in chosen or (given and name in named):
                raise usage.UsageError(
                    f"two services are named {name!r}: services joined with "
                    f"'{SEPARATOR}' need different names (--name)"
                )
            (chosen if given else named).add(name)

    def postOptions(self) -> None:
        if self.subCommand is None:
            names = ", ".join(str(command[0]) for command in self.subCommands)
            raise usage.UsageError(f"choose a service: {names}")

    def services(self) -> list[tuple[str, usage.Options]]:
        """
        @return: each service to run, as its sub-command's name and options,
            in the order given (C{all} stands for every service that is part
            of it, on its defaults, with its C{--metrics} and C{--grace}).
        """
        assert self.subCommand is not None
        if self.subCommand == ALL:
            everyone = []
            for name in self.inAll():
                one = Options(self._loaded, warn=_ignore)
                one.parseOptions([name])
                assert one.subOptions is not None
                one.subOptions["metrics"] = self.subOptions["metrics"]
                if "grace" in one.subOptions:
                    one.subOptions["grace"] = self.subOptions["grace"]
                one.subOptions["workers"] = self.subOptions.get("workers")
                everyone.append((name, one.subOptions))
            return everyone
        return [(self.subCommand, self.subOptions)] + [
            service for more in self.also for service in more.services()
        ]


def _nameOf(command: str, options: usage.Options) -> tuple[str, bool]:
    """
    @return: a service's name, and whether its options chose it (rather
        than it being its sub-command).
    """
    serviceName = getattr(options, "serviceName", None)
    if serviceName is None:
        return command, False
    return str(serviceName()), True


def _ignore(line: str) -> None:
    pass


def _workersOf(services: list[tuple[str, usage.Options]]) -> int:
    """
    @return: how many workers the process runs: the C{--workers} given to
        any of its services (1 if none was; C{auto} counted).
    @raise usage.UsageError: if services were given different numbers.
    """
    given = []
    for _, serviceOptions in services:
        value = serviceOptions.get("workers")
        if value is not None and value not in given:
            given.append(value)
    if len(given) > 1:
        raise usage.UsageError(
            "--workers is for the whole process: give it to one service of the "
            f"line, or the same to each (got {' and '.join(map(str, given))})"
        )
    if not given:
        return 1
    return usableCPUs() if given[0] == AUTO else int(given[0])


def _globalReactor() -> Any:
    from twisted.internet import reactor

    return reactor


@attrs.define
class _Assembly:
    """
    What L{makeService} gathers while it builds each service: what the
    metrics report, the guards (for the file limit), everything to cut on a
    second signal, and the ports every UDP guard refuses.
    """

    reactor: Any
    servicePorts: frozenset[int]
    collector: ServiceCollector = attrs.Factory(ServiceCollector)
    guards: list[ConnectionGuard] = attrs.Factory(list)
    drains: list[Any] = attrs.Factory(list)
    datagrams: list[tuple[GuardedDatagramProtocol, int]] = attrs.Factory(list)
    # With --workers: how this process takes part (None: on its own).
    role: ParentRole | WorkerRole | None = None

    def refuseEachOther(self) -> None:
        """
        Make every UDP guard refuse the ports the others are bound to, as
        well as the default ports: two services of one process on ports of
        their own must not answer each other for ever either.
        """
        bound = frozenset(port for _, port in self.datagrams if port)
        for protocol, _ in self.datagrams:
            protocol.guard.servicePorts |= bound


_STREAM_KEYS = (
    "listen",
    "max-connections",
    "max-per-source",
    "tls-handshake-timeout",
    "grace",
)
"""
What L{_Context.listen} reads of a service's options (L{StreamOptions}).
"""


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")


@implementer(IServiceContext)
@attrs.define
class _Context:
    """
    L{IServiceContext} for one service being built.
    """

    reactor: Any
    name: str
    assembly: _Assembly
    # The guard of the last listen, which addListeners adds to.
    guard: ConnectionGuard | None = None

    @property
    def worker(self) -> int | None:
        role = self.assembly.role
        if isinstance(role, WorkerRole):
            return role.index
        if isinstance(role, ParentRole):
            return 0
        return None

    @property
    def workers(self) -> int:
        role = self.assembly.role
        if isinstance(role, WorkerRole):
            return role.count
        if isinstance(role, ParentRole):
            return role.supervisor.count
        return 1

    def streamLimits(
        self, options: usage.Options, idleTimeout: float | None = None
    ) -> ConnectionLimits:
        if idleTimeout is None:
            idleTimeout = options["idle-timeout"] if "idle-timeout" in options else 0
        return ConnectionLimits(
            maxConnections=options["max-connections"],
            maxPerSource=options["max-per-source"],
            idleTimeout=idleTimeout,
            tlsHandshakeTimeout=options["tls-handshake-timeout"],
        )

    def listen(
        self,
        factory: Any,
        options: usage.Options,
        limits: ConnectionLimits | None = None,
        refusalLine: Callable[[str, str], bytes | None] | None = errorLine,
        goodbye: str = DEFAULT_GOODBYE,
        protocol: str = "",
    ) -> list[IService]:
        if not IProtocolFactory.providedBy(factory):
            raise StartupError(f"{factory!r} is not a protocol factory")
        missing = [key for key in _STREAM_KEYS if key not in options]
        if missing:
            raise StartupError(
                f"its options have no {', '.join('--' + key for key in missing)}: "
                "build them on netlab.service.StreamOptions"
            )
        if not options["listen"]:
            raise StartupError("nothing to listen on: give --listen ENDPOINT")
        if limits is None:
            limits = self.streamLimits(options)
        role = self.assembly.role
        if isinstance(role, WorkerRole):
            guard = role.newGuard(factory, self.reactor, limits, self.name, refusalLine)
        elif isinstance(role, ParentRole):
            guard = role.guarded(
                ConnectionGuard(
                    role.wrap(factory), self.reactor, limits, self.name, refusalLine
                )
            )
        else:
            guard = ConnectionGuard(
                factory, self.reactor, limits, self.name, refusalLine
            )
        if protocol:
            guard.stats.protocol = protocol
        self.guard = guard
        self.assembly.guards.append(guard)
        self.assembly.collector.addStream(guard)
        return [
            self.addDrain(guard, options["grace"], goodbye),
            *(self._listener(guard, description) for description in options["listen"]),
        ]

    def addListeners(
        self,
        factory: Any,
        endpoints: Iterable[str],
        protocol: str,
        refusalLine: Callable[[str, str], bytes | None] | None = errorLine,
        option: str | None = None,
    ) -> list[IService]:
        guard = self.guard
        if guard is None:
            raise StartupError("addListeners needs a listen first, to share its guard")
        if not IProtocolFactory.providedBy(factory):
            raise StartupError(f"{factory!r} is not a protocol factory")
        silent = refusalLine or (lambda code, text: None)
        return [
            self._listener(
                guard,
                description,
                factory,
                protocol,
                silent,
                option or f"--{protocol}",
            )
            for description in endpoints
        ]

    def _listener(
        self,
        guard: ConnectionGuard,
        description: str,
        factory: Any = None,
        protocol: str = "",
        refusalLine: Callable[[str, str], bytes | None] | None = None,
        option: str = "--listen",
    ) -> IService:
        role = self.assembly.role
        if isinstance(role, WorkerRole):
            return role.listener(
                role.nextKey(),
                description,
                guard.listenerFactory(
                    transportOf(description), factory, protocol, refusalLine
                ),
            )
        reactor = self.reactor
        if isinstance(role, ParentRole):
            reactor = role.sharingReactor(reactor, description)
            if factory is not None:
                factory = role.wrap(factory)
        # The string is checked (StartupError) before its type is read.
        listener = EndpointService(reactor, description, guard, option)
        listener.factory = guard.listenerFactory(
            transportOf(description), factory, protocol, refusalLine
        )
        if isinstance(role, ParentRole):
            role.services.append(listener)
        return listener

    def datagramGuard(self, options: usage.Options) -> DatagramGuard:
        rates = [options["udp-rate"], options["udp-global-rate"]]
        bursts = [options["udp-burst"], options["udp-global-burst"]]
        role = self.assembly.role
        if isinstance(role, WorkerRole):
            # Every worker reads the one socket: each gets its share.
            rates = [role.share(rate) for rate in rates]
            bursts = [role.shareBurst(burst) for burst in bursts]
        return DatagramGuard(
            self.reactor,
            sourceRate=rates[0],
            sourceBurst=bursts[0],
            globalRate=rates[1],
            globalBurst=bursts[1],
            servicePorts=self.assembly.servicePorts,
        )

    def bindDatagram(self, protocol: Any, options: usage.Options) -> IService:
        if not isinstance(protocol, GuardedDatagramProtocol):
            raise StartupError(
                f"{protocol!r} is not a netlab.udp.GuardedDatagramProtocol"
            )
        protocol.stats.service = self.name
        role = self.assembly.role
        if isinstance(role, ParentRole):
            shared = role.datagramSocket(options["udp-port"], options["udp-interface"])
            role.services.append(shared)
            return shared
        self.assembly.collector.addDatagram(protocol)
        self.assembly.datagrams.append((protocol, options["udp-port"]))
        if isinstance(role, WorkerRole):
            return role.datagram(protocol)
        return DatagramService(
            self.reactor,
            options["udp-port"],
            protocol,
            interface=options["udp-interface"],
        )

    def addGauge(
        self, name: str, documentation: str, read: Callable[[], float], **labels: str
    ) -> None:
        if not _METRIC_NAME.match(name):
            raise StartupError(f"{name!r} is not a Prometheus metric name")
        if "service" in labels:
            raise StartupError("a gauge's service label is the service's name")
        if isinstance(self.assembly.role, ParentRole):
            # What it reads is the workers'.
            return
        self.assembly.collector.addGauge(
            name, documentation, read, {"service": self.name, **labels}
        )

    def addDrain(
        self, target: Any, grace: float, reason: str = DEFAULT_GOODBYE
    ) -> IService:
        if isinstance(self.assembly.role, ParentRole):
            # What it drains is the workers'; the parent drains them.
            return Service()
        self.assembly.drains.append(target)
        return DrainService(target, grace, reason, self.reactor)


def _servicePorts(registry: _registry.Registry[INetlabService]) -> frozenset[int]:
    return frozenset(
        port for _, service in registry for port in getattr(service, "defaultPorts", ())
    )


def _build(
    command: str,
    registry: _registry.Registry[INetlabService],
    options: usage.Options,
    context: _Context,
) -> list[IService]:
    """
    Build one service, so that whatever goes wrong in a plugin's build ends
    the process with one line naming it (its traceback logged, a bug being
    a bug).

    @raise StartupError: if it cannot be built.
    """
    try:
        built = list(registry.plugins[command].build(options, context))
    except StartupError:
        raise
    except Exception as e:
        _log.failure("building the service {command!r}", command=command)
        raise StartupError(
            f"the service {command!r} could not be built: {type(e).__name__}: {e}"
        ) from None
    for service in built:
        if not IService.providedBy(service):
            raise StartupError(
                f"the service {command!r} built {service!r}, which is not an IService"
            )
    return built


def makeService(
    options: Options, reactor: Any = None, role: WorkerRole | None = None
) -> MultiService:
    """
    Assemble the service that C{twistd netlab SERVICE ...} runs: one or more
    netlab services (joined by C{+}, or C{all}), their listeners, and the
    metrics endpoint if one was asked for.

    Nothing listens until the returned service is started.  If the options
    name an endpoint that cannot be parsed, a factory that cannot be loaded,
    or a port that cannot be bound when the service starts, the process
    exits with status 1 and one line on standard error saying why
    (C{SystemExit}), not a traceback.

    Run by twistd or twist (that is, when the options have a parent), the
    service also makes SIGTERM and SIGINT stop gracefully with exit status
    0: listeners stop, connections are told (chat users get a goodbye) and
    get C{--grace} seconds to finish sending, then are closed.

    @param options: parsed L{Options}.
    With C{--workers} above 1, the service is the parent of that many
    worker processes (see L{netlab._workers}): it listens on every endpoint
    and port, and hands the connections it accepts to the workers.

    @param reactor: the reactor the service will run on; the global reactor
        if C{None}.
    @param role: for a worker process (L{netlab._worker}): the worker it
        is.
    @return: the service, whose children listen on each endpoint or port.
    @raise SystemExit: if the services cannot be assembled.
    """
    if reactor is None:
        reactor = _globalReactor()
    services = options.services()
    names = f" {SEPARATOR} ".join(name for name, _ in services)
    # twistd's own options say whether it will daemonize; twist never does.
    parent = options.parent
    daemon = bool(
        parent is not None and "nodaemon" in parent and not parent["nodaemon"]
    )
    top = ExitOnStartupError(f"netlab {names}", daemon)
    assembly = _Assembly(reactor, _servicePorts(options.registry))
    assembly.role = role
    try:
        if role is None and options.workers > 1:
            assembly.role = _parentRole(options, services, names, reactor)
        # First, so that the file limit is raised before anything listens;
        # it reads the guards when it starts.
        children: list[IService] = [EnoughFiles(assembly.guards)]
        for command, serviceOptions in services:
            name, _ = _nameOf(command, serviceOptions)
            context = _Context(reactor, name, assembly)
            children.extend(_build(command, options.registry, serviceOptions, context))
        assembly.refuseEachOther()
        if isinstance(assembly.role, ParentRole):
            return _parent(options, assembly, top, names)
        if isinstance(assembly.role, WorkerRole):
            return _worker(assembly, children, top)
        metrics: list[str] = []
        for _, serviceOptions in services:
            description = serviceOptions.get("metrics")
            if description and description not in metrics:
                metrics.append(description)
        if metrics:
            site = metricsSite(newRegistry(assembly.collector), reactor)
            # Right after the file limit: services stop in reverse, so the
            # metrics are served until every connection has drained.
            served = [
                _MetricsService(reactor, description, site, "--metrics")
                for description in metrics
            ]
            for service in served:
                service.drains = [c for c in children if isinstance(c, DrainService)]
            children[1:1] = served
    except StartupError as e:
        raise SystemExit(f"netlab {names}: error: {e}") from None
    for child in children:
        child.setServiceParent(top)
    if parent is not None:
        StopGracefullyOnSignals(reactor, assembly.drains).setServiceParent(top)
    return top


def _metricsEndpoints(services: list[tuple[str, usage.Options]]) -> list[str]:
    metrics: list[str] = []
    for _, serviceOptions in services:
        description = serviceOptions.get("metrics")
        if description and description not in metrics:
            metrics.append(description)
    return metrics


def _parentRole(
    options: Options,
    services: list[tuple[str, usage.Options]],
    names: str,
    reactor: Any,
) -> ParentRole:
    """
    @return: the role of the parent of C{--workers} workers.
    @raise StartupError: if a service cannot run in workers.
    """
    for command, serviceOptions in services:
        whyNot = getattr(options.registry.plugins[command], "whyNotInWorkers", None)
        problem = whyNot(serviceOptions) if whyNot is not None else None
        if problem and options.subCommand == ALL:
            # all runs each service on its defaults: chat has no --bus.
            raise StartupError(
                f"all cannot run with --workers: {command}, part of it, cannot "
                "on its defaults; join the services with + instead, for "
                "example: twistd -n netlab echo --workers 2 + tsserv + "
                "chat --bus redis://HOST:PORT/DB"
            )
        if problem:
            raise StartupError(f"{command} cannot run with --workers: {problem}")
    grace = max(
        (float(o["grace"]) for _, o in services if "grace" in o), default=DEFAULT_GRACE
    )
    supervisor = WorkerSupervisor(
        reactor, options.workers, options.arguments, f"netlab {names}", grace
    )
    return ParentRole(supervisor)


def _parent(
    options: Options, assembly: _Assembly, top: MultiService, names: str
) -> MultiService:
    """
    Assemble the parent of workers: the file limit, the metrics endpoint,
    the drain of the workers, the listeners (which bind before any worker
    starts, so that a problem with one is reported once), then the
    supervisor, which starts the workers.
    """
    role = assembly.role
    assert isinstance(role, ParentRole)
    reactor = assembly.reactor
    supervisor = role.supervisor
    drain = DrainService(supervisor, supervisor.grace, DEFAULT_GOODBYE, reactor)
    children: list[IService] = [EnoughFiles(assembly.guards)]
    metrics = _metricsEndpoints(options.services())
    if metrics:
        registry = newRegistry(assembly.collector)
        site = metricsSite(registry, reactor, WorkersMetrics(registry, supervisor))
        for description in metrics:
            served = _MetricsService(reactor, description, site, "--metrics")
            served.drains = [drain]
            children.append(served)
    children += [drain, *role.services, supervisor]
    for child in children:
        child.setServiceParent(top)
    StopGracefullyOnSignals(reactor, [supervisor]).setServiceParent(top)
    _log.info(
        "{names}: {count} workers",
        names=names,
        count=supervisor.count,
    )
    return top


def _worker(
    assembly: _Assembly, children: list[IService], top: MultiService
) -> MultiService:
    """
    Assemble a worker: the services as a single process has them, without
    the metrics endpoint (the parent's serves its counters), telling the
    parent it is ready once they have started; it stops when the parent
    tells it to (and on SIGTERM, which a service manager may send to every
    process of the service at once).
    """
    role = assembly.role
    assert isinstance(role, WorkerRole)
    role.collector = assembly.collector
    for child in [*children, Ready(role)]:
        child.setServiceParent(top)
    role.stopper = StopGracefullyOnSignals(
        assembly.reactor, assembly.drains, signals=(signal.SIGTERM,)
    )
    role.stopper.setServiceParent(top)
    return top


class _MetricsService(EndpointService):
    """
    The HTTP endpoint of C{--metrics}.  It stops listening only once every
    drain has finished, so that the connections can be watched draining.

    @ivar drains: the drains it waits for.
    """

    drains: list[DrainService] = []

    def stopService(self) -> Deferred[None]:
        stopping = [drain.stopping for drain in self.drains if drain.stopping]
        waited = DeferredList(stopping, consumeErrors=True)
        return waited.addCallback(lambda _: super(_MetricsService, self).stopService())
