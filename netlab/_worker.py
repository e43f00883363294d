"""
A worker of C{--workers}: C{python -m netlab._worker SPEC}, started by the
parent (L{netlab._workers.WorkerSupervisor}), never by people.

It builds the services of the parent's command line again (the same
options, so the same protocols, limits and drains), adopts the connections
the parent hands over on file descriptor 3, reads the UDP sockets it
inherits, writes its log events as JSON lines on standard output (the
parent puts them in its log), and stops gracefully on SIGTERM, or when
the parent goes away.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

from twisted.logger import ILogObserver, Logger, formatEvent, globalLogBeginner
from zope.interface import provider

_log = Logger()


_PLAIN = (str, int, float, bool, type(None))


def logRecords(output: Any) -> ILogObserver:
    """
    A log observer for a worker: each event as one line of JSON on
    C{output}, for the parent to put in its log: its text, formatted here
    (a field's format, such as C{{duration:.3f}}, does not survive JSON),
    with a failure's traceback; its time, level and namespace; and those of
    its fields that are plain values, for a JSON log.  Flat and plain, so
    that the parent reads it fast: it reads two for every connection.
    """

    @provider(ILogObserver)
    def observe(event: dict[str, Any]) -> None:
        record = {
            key: value
            for key, value in event.items()
            if isinstance(value, _PLAIN) and not key.startswith("log_")
        }
        text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            try:
                text += "\n" + failure.getTraceback()
            except Exception:
                pass
        level = event.get("log_level")
        record.update(
            netlab_text=text,
            log_time=event.get("log_time"),
            log_namespace=str(event.get("log_namespace", "")),
            log_level=getattr(level, "name", "info"),
        )
        output.write(json.dumps(record) + "\n")
        output.flush()

    return observe  # type: ignore[no-any-return]


def _installReactor(moduleName: str) -> None:
    """
    Install the reactor the parent runs on, if it is one twistd knows by
    name (the default one otherwise).
    """
    from twisted.application.reactors import getReactorTypes, installReactor

    for kind in getReactorTypes():
        if getattr(kind, "moduleName", None) == moduleName:
            try:
                installReactor(kind.shortName)
            except Exception:
                pass
            return


def main(argv: list[str] | None = None) -> int:
    """
    Run one worker.

    @param argv: C{[program, SPEC]}, SPEC being the JSON object the parent
        gives (its command line, this worker's number, the number of
        workers, its reactor and the inherited UDP sockets).
    @return: the exit status.
    """
    argv = sys.argv if argv is None else argv
    # Until the services handle it: SIGTERM (the parent stopping) ends a
    # worker still starting at once, quietly; SIGINT is the parent's.
    signal.signal(signal.SIGTERM, _stopStarting)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec: dict[str, Any] = json.loads(argv[1])
    globalLogBeginner.beginLoggingTo([logRecords(sys.stdout)], redirectStandardIO=False)
    _installReactor(spec.get("reactor", ""))
    from twisted.internet import reactor

    from netlab import tap
    from netlab._workers import WorkerRole

    role = WorkerRole(
        reactor,
        int(spec["worker"]),
        int(spec["workers"]),
        {int(key): (int(fd), int(family)) for key, fd, family in spec["datagrams"]},
    )
    options = tap.Options(warn=lambda line: None)
    options.parseOptions(spec["arguments"])
    try:
        service = tap.makeService(options, reactor, role=role)
        role.onLost = lambda: _parentGone(reactor)
        role.connect()
        service.privilegedStartService()
        service.startService()
    except SystemExit as e:
        if e.code in (0, None):
            return 0
        sys.stderr.write(f"{e}\n")
        return 1
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return 0


def _stopStarting(number: int, frame: object) -> None:
    raise SystemExit(0)


def _parentGone(reactor: Any) -> None:
    if reactor.running:
        _log.warn("the parent process went away: stopping")
        try:
            reactor.stop()
        except Exception:
            # It is stopping already.
            pass


if __name__ == "__main__":
    sys.exit(main())
