"""
The daytime (RFC 867) and time (RFC 868) services against programs no one
here wrote: C{nc} and C{rdate} as clients of C{twistd -n netlab daytime} and
C{twistd -n netlab time}, and xinetd's built-in services as the reference
server that netlab's answers must agree with.

pytest-twisted tests: run them with pytest, not trial.  Every server is
started by the test on free ports of 127.0.0.1, stopped by its PID, and
every wait is bounded.  The real programs come from Debian (C{.ci/run}
installs them): where one is missing, a test fails under CI (the C{CI}
environment variable set) and is skipped elsewhere, saying what to install.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

import attrs
import pytest
import pytest_twisted
from twisted.internet.endpoints import TCP4ClientEndpoint

from netlab.inettime import (
    getDaytime,
    getDaytimeUDP,
    getTime,
    getTimeUDP,
    parseDaytime,
)

from ._missing import missing
from .test_echo_loopback import inThread
from .test_operations import Samples, _netlab, _scrape, _value
from .test_twistd import (
    RUNNERS,
    STOP_TIMEOUT,
    _environment,
    _freePort,
    _Process,
    _reactor,
    _untilReady,
    acceptingTCP,
    both,
    run,
    serving,
)

INSTALL = "apt-get install rdate netcat-openbsd xinetd"
"""
What provides the real programs these tests run, on Debian.
"""

PROGRAM_TIMEOUT = 10.0
"""
Seconds a real client (C{nc}, C{rdate}) may take to end by itself.
"""

SLACK = 2.0
"""
Seconds a server's time may be from this machine's clock: whole seconds,
plus the time to start a program and have it ask.
"""

SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
"""
Where Debian puts C{rdate} and C{xinetd}, which an unprivileged user's
C{PATH} may lack.
"""

RDATE_LINE = re.compile(
    r"(?P<stamp>[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d) UTC "
    r"(?P<year>\d{4})"
)
"""
What C{rdate -p} prints with C{TZ=UTC}, e.g. C{Thu Dec  3 14:38:20 UTC 2026}.
"""


NETCAT = "nc.openbsd"
"""
The name Debian's netcat-openbsd installs its C{nc} under as well: the
options these tests give (C{-W}, C{-w}) are that netcat's, whichever one
C{nc} is on this machine.
"""


def _program(name: str, install: str = INSTALL) -> str:
    """
    @return: the path of the real program C{name} (L{NETCAT} for C{nc}).
    @param install: what installs it, for the message if it is missing.

    Fails the test if it is missing and C{CI} is set; skips it otherwise.
    """
    path = os.pathsep.join([os.environ.get("PATH", os.defpath), *SBIN])
    found = shutil.which(NETCAT if name == "nc" else name, path=path)
    if found is None:
        missing(f"{name} is not installed: {install}")
    return found


def _spawnProgram(
    command: list[str], cwd: Path, stdin: bytes = b"", install: str = INSTALL
) -> _Process:
    """
    Start the real program C{command[0]} (not one of the virtualenv's), in
    UTC, in C{cwd}, writing C{stdin} to it and then closing its input.

    @param install: what installs it (see L{_program}).
    """
    executable = _program(command[0], install)
    process = _Process(command, stdin)
    environment = _environment()
    environment["TZ"] = "UTC"
    _reactor().spawnProcess(
        process,
        executable,
        [executable, *command[1:]],
        env=environment,
        path=str(cwd),
    )
    return process


async def _runProgram(command: list[str], cwd: Path, stdin: bytes = b"") -> _Process:
    """
    Run a real program that should end by itself within L{PROGRAM_TIMEOUT}
    seconds, and wait for it to end.

    @return: the ended process.
    @raise twisted.internet.defer.TimeoutError: if it did not end in time
        (it is killed).
    """
    process = _spawnProgram(command, cwd, stdin)
    try:
        await process.whenEnded(PROGRAM_TIMEOUT)
    finally:
        if not process.ended:
            process.kill("KILL")
            await process.whenEnded(STOP_TIMEOUT)
    return process


@attrs.frozen
class _Ports:
    """
    Where one service listens on 127.0.0.1.
    """

    tcp: int
    udp: int


def _freePorts() -> _Ports:
    return _Ports(_freePort(), _freePort(socket.SOCK_DGRAM))


def _answeringUDP(service: str, port: int) -> Callable[[], Awaitable[object]]:
    """
    @return: a check that has one datagram answered by the C{service}
        (C{"daytime"} or C{"time"}) server on UDP port C{port}.
    """
    ask = getDaytimeUDP if service == "daytime" else getTimeUDP

    def attempt() -> Awaitable[object]:
        return ask("127.0.0.1", port, reactor=_reactor(), tries=1, interval=0.5)

    return attempt


def _ready(service: str, ports: _Ports) -> Callable[[], Awaitable[object]]:
    return both(acceptingTCP(ports.tcp), _answeringUDP(service, ports.udp))


@contextlib.asynccontextmanager
async def netlabServing(
    service: str, tmp_path: Path, *options: str
) -> AsyncIterator[_Ports]:
    """
    Run C{twistd -n netlab SERVICE} on 127.0.0.1, TCP and UDP on free
    ports, while the context lasts.

    @param service: C{"daytime"} or C{"time"}.
    @param options: more options of the service.
    @return: (as the context's value) its ports.
    """
    ports = _freePorts()
    command = [
        *RUNNERS["twistd"],
        "netlab",
        service,
        "--listen",
        f"tcp:{ports.tcp}:interface=127.0.0.1",
        "--udp-port",
        str(ports.udp),
        "--udp-interface",
        "127.0.0.1",
        *options,
    ]
    async with serving(command, tmp_path, _ready(service, ports)) as server:
        yield ports
    assert server.exitCode == 0, server.describe()
    assert "Traceback" not in server.out + server.err, server.describe()


def xinetdConfig(ports: dict[str, _Ports], user: str) -> str:
    """
    @param ports: where each of C{"daytime"} and C{"time"} is to listen.
    @param user: the user xinetd's services run as (it ignores this unless
        it runs as root).
    @return: an xinetd configuration serving xinetd's own internal daytime
        and time services, stream and datagram, on 127.0.0.1 only, on
        C{ports} rather than those of /etc/services (hence C{UNLISTED}).
        An internal service is found by its name and socket type, so each
        name comes twice, told apart by its C{id}.
    """
    sections = []
    for service, where in ports.items():
        for socketType, protocol, wait, port in [
            ("stream", "tcp", "no", where.tcp),
            ("dgram", "udp", "yes", where.udp),
        ]:
            sections.append(
                f"service {service}\n"
                "{\n"
                "    type        = INTERNAL UNLISTED\n"
                f"    id          = {service}-{socketType}\n"
                f"    socket_type = {socketType}\n"
                f"    protocol    = {protocol}\n"
                f"    wait        = {wait}\n"
                f"    user        = {user}\n"
                "    bind        = 127.0.0.1\n"
                f"    port        = {port}\n"
                "}\n"
            )
    return "\n".join(sections)


@contextlib.asynccontextmanager
async def xinetdServing(tmp_path: Path) -> AsyncIterator[dict[str, _Ports]]:
    """
    Run xinetd in the foreground with its own configuration
    (L{xinetdConfig}), PID file and log in C{tmp_path}, while the context
    lasts; stop it by the PID it wrote.

    @return: (as the context's value) the ports of C{"daytime"} and
        C{"time"}.
    """
    ports = {"daytime": _freePorts(), "time": _freePorts()}
    config, pidFile, log = (
        tmp_path / "xinetd.conf",
        tmp_path / "xinetd.pid",
        tmp_path / "xinetd.log",
    )
    config.write_text(xinetdConfig(ports, pwd.getpwuid(os.getuid()).pw_name))
    command = [
        "xinetd",
        "-dontfork",
        "-f",
        str(config),
        "-pidfile",
        str(pidFile),
        "-filelog",
        str(log),
    ]
    process = _spawnProgram(command, tmp_path)

    def describe() -> str:
        written = log.read_text() if log.exists() else "(none)\n"
        return f"{process.describe()}--- log ---\n{written}"

    try:
        ready = both(*(_ready(name, where) for name, where in ports.items()))
        try:
            await _untilReady(process, ready)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{describe()}") from None
        # Each section xinetd cannot serve is disabled with an error, and
        # the rest started: all four must be working.
        assert "Started working: 4 available services" in log.read_text(), describe()
        assert int(pidFile.read_text()) == process.transport.pid, describe()
        yield ports
    finally:
        # By the PID xinetd wrote, when it is the one started here; the
        # process's own stop (SIGTERM, then SIGKILL) is the fallback.
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidFile.read_text())
            if pid == process.transport.pid and not process.ended:
                os.kill(pid, signal.SIGTERM)
                with contextlib.suppress(Exception):
                    await process.whenEnded(STOP_TIMEOUT)
        await process.stop()


@contextlib.asynccontextmanager
async def timeServing(
    server: str, service: str, tmp_path: Path
) -> AsyncIterator[_Ports]:
    """
    Run C{service} (C{"daytime"} or C{"time"}) on 127.0.0.1 while the
    context lasts, served by C{server}: C{"netlab"} or C{"xinetd"}.

    @return: (as the context's value) its ports.
    """
    if server == "netlab":
        async with netlabServing(service, tmp_path) as ports:
            yield ports
    else:
        async with xinetdServing(tmp_path) as ports:
            yield ports[service]


def _requireServer(server: str) -> None:
    """
    Fail or skip now, before anything starts, if C{server} is C{"xinetd"}
    and xinetd is missing.
    """
    if server == "xinetd":
        _program("xinetd")


def _parseRdate(output: str) -> float:
    """
    @return: the time C{rdate -p} printed (with C{TZ=UTC}), in seconds since
        the POSIX epoch.
    """
    match = RDATE_LINE.fullmatch(output.rstrip("\n"))
    assert match is not None, f"not what rdate -p prints: {output!r}"
    stamp = f"{match['stamp']} {match['year']}"
    return calendar.timegm(time.strptime(stamp, "%a %b %d %H:%M:%S %Y"))


def _assertNow(seconds: float, what: object) -> None:
    """
    Assert that C{seconds} since the POSIX epoch is (about) now.
    """
    offset = seconds - time.time()
    assert abs(offset) <= SLACK, f"{offset:+.3f}s from now: {what!r}"


SERVERS = ["netlab", "xinetd"]
"""
The servers the real clients are run against: netlab, and xinetd as the
reference (which proves the harness as well).
"""


@pytest.mark.parametrize("server", SERVERS)
@pytest_twisted.ensureDeferred
async def test_ncReadsDaytime(server: str, tmp_path: Path) -> None:
    """
    C{nc 127.0.0.1 PORT} with nothing to send prints the daytime server's
    one line, ending in CRLF, and exits: the server closed the connection.
    The line is a time, and it is now.
    """
    _requireServer(server)
    _program("nc")
    async with timeServing(server, "daytime", tmp_path) as ports:
        client = await _runProgram(["nc", "127.0.0.1", str(ports.tcp)], tmp_path)
    assert client.exitCode == 0, client.describe()
    line = client.outBytes
    assert line.endswith(b"\r\n"), client.describe()
    assert b"\n" not in line[:-2], client.describe()
    _assertNow(parseDaytime(line).when.timestamp(), line)


@pytest.mark.parametrize("server", SERVERS)
@pytest_twisted.ensureDeferred
async def test_ncReadsDaytimeUDP(server: str, tmp_path: Path) -> None:
    """
    C{nc -u 127.0.0.1 PORT} sending one datagram gets one datagram back
    from the daytime server: one line, ending in CRLF, of the time now.
    """
    _requireServer(server)
    _program("nc")
    async with timeServing(server, "daytime", tmp_path) as ports:
        client = await _runProgram(
            ["nc", "-u", "-W", "1", "-w", "5", "127.0.0.1", str(ports.udp)],
            tmp_path,
            stdin=b"\n",
        )
    assert client.exitCode == 0, client.describe()
    line = client.outBytes
    assert line.endswith(b"\r\n"), client.describe()
    assert b"\n" not in line[:-2], client.describe()
    _assertNow(parseDaytime(line).when.timestamp(), line)


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest_twisted.ensureDeferred
async def test_rdatePrintsTime(server: str, transport: str, tmp_path: Path) -> None:
    """
    C{rdate -p -o PORT 127.0.0.1} (and C{-u}, over UDP) prints the time
    server's date, which is now, and exits with status 0.
    """
    _requireServer(server)
    _program("rdate")
    async with timeServing(server, "time", tmp_path) as ports:
        if transport == "tcp":
            options = ["-o", str(ports.tcp)]
        else:
            options = ["-u", "-o", str(ports.udp)]
        client = await _runProgram(["rdate", "-p", *options, "127.0.0.1"], tmp_path)
    assert client.exitCode == 0, client.describe()
    _assertNow(_parseRdate(client.out), client.out)


async def _offset(ask: Callable[[], Awaitable[float]]) -> tuple[float, float]:
    """
    @param ask: asks a server the time, in seconds since the POSIX epoch.
    @return: how far the server's time is from this machine's clock midway
        through the exchange, and how long the exchange took.
    """
    before = time.time()
    seconds = await ask()
    after = time.time()
    return seconds - (before + after) / 2, after - before


def _asker(service: str, transport: str, port: int) -> Callable[[], Awaitable[float]]:
    """
    @return: a call that asks the C{service} server on 127.0.0.1:C{port}
        over C{transport} its time with netlab's client, in seconds since
        the POSIX epoch.
    """
    reactor = _reactor()

    async def ask() -> float:
        if transport == "tcp":
            endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
            if service == "daytime":
                return (await getDaytime(endpoint)).when.timestamp()
            return await getTime(endpoint)
        if service == "daytime":
            reply = await getDaytimeUDP("127.0.0.1", port, reactor=reactor)
            return reply.when.timestamp()
        return await getTimeUDP("127.0.0.1", port, reactor=reactor)

    return ask


@pytest.mark.parametrize("service", ["daytime", "time"])
@pytest_twisted.ensureDeferred
async def test_agreesWithXinetd(service: str, tmp_path: Path) -> None:
    """
    netlab's client decodes xinetd's built-in service and netlab's, over
    TCP and over UDP, and the two servers agree within a second (both
    give whole seconds or better; the round trips are allowed for).
    """
    _program("xinetd")
    async with (
        xinetdServing(tmp_path) as reference,
        netlabServing(service, tmp_path) as ours,
    ):
        for transport in ["tcp", "udp"]:
            theirs, theirTrip = await _offset(
                _asker(service, transport, getattr(reference[service], transport))
            )
            mine, myTrip = await _offset(
                _asker(service, transport, getattr(ours, transport))
            )
            bound = 1.0 + (theirTrip + myTrip) / 2
            assert abs(mine - theirs) < bound, (transport, mine, theirs, bound)
            assert abs(mine) < SLACK, (transport, mine)


@pytest.mark.parametrize("service", ["daytime", "time"])
@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest_twisted.ensureDeferred
async def test_cli(service: str, transport: str, tmp_path: Path) -> None:
    """
    C{netlab daytime} and C{netlab time} (and with C{--udp}) against the
    twistd server print the server's time and its offset from this
    machine's clock, and exit with status 0.
    """
    async with netlabServing(service, tmp_path) as ports:
        port = ports.tcp if transport == "tcp" else ports.udp
        udp = ["--udp"] if transport == "udp" else []
        client = await run(
            ["netlab", service, "--host", "127.0.0.1", "--port", str(port), *udp],
            tmp_path,
            timeout=PROGRAM_TIMEOUT,
        )
    assert client.exitCode == 0, client.describe()
    assert client.err == "", client.describe()
    [line] = client.out.splitlines()
    assert "this machine's clock" in line, client.describe()
    assert re.search(r"in step with|\d+\.\d s (behind|ahead of)", line), line
    server = line.split()[0]
    _assertNow(datetime.fromisoformat(server).timestamp(), line)


@pytest_twisted.ensureDeferred
async def test_metricsWithAnotherService(tmp_path: Path) -> None:
    """
    C{twistd -n netlab daytime ... --metrics ... + time ...} serves both in
    one process, and the metrics count what the real clients did, each
    under its own service: C{nc}'s connection to daytime (the line it was
    sent) and C{rdate -u}'s datagram to time (4 bytes back).
    """
    _program("nc")
    _program("rdate")
    daytime, clock, metrics = _freePorts(), _freePorts(), _freePort()

    def serve(service: str, ports: _Ports) -> list[str]:
        return [
            service,
            "--listen",
            f"tcp:{ports.tcp}:interface=127.0.0.1",
            "--udp-port",
            str(ports.udp),
            "--udp-interface",
            "127.0.0.1",
        ]

    command = [
        *RUNNERS["twistd"],
        "netlab",
        *serve("daytime", daytime),
        "--metrics",
        f"tcp:{metrics}:interface=127.0.0.1",
        "+",
        *serve("time", clock),
    ]
    ready = both(
        _ready("daytime", daytime), _ready("time", clock), acceptingTCP(metrics)
    )
    async with serving(command, tmp_path, ready) as server:
        before: Samples = (await inThread(_scrape, metrics))[1]
        nc = await _runProgram(["nc", "127.0.0.1", str(daytime.tcp)], tmp_path)
        rdate = await _runProgram(
            ["rdate", "-p", "-u", "-o", str(clock.udp), "127.0.0.1"], tmp_path
        )
        after: Samples = (await inThread(_scrape, metrics))[1]
    assert nc.exitCode == 0, nc.describe()
    assert rdate.exitCode == 0, rdate.describe()
    description = f"{server.describe()}--- metrics ---\n{_netlab(after)}"

    def grew(name: str, service: str, transport: str) -> float:
        labels = {"service": service, "transport": transport}
        now = _value(after, name, **labels)
        assert now is not None, (name, labels, description)
        return now - (_value(before, name, **labels) or 0)

    assert grew("netlab_connections_total", "daytime", "tcp") == 1, description
    assert grew("netlab_sent_bytes_total", "daytime", "tcp") == len(nc.outBytes), (
        description
    )
    assert grew("netlab_sent_bytes_total", "time", "udp") == 4, description
