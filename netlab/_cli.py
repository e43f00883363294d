"""
The C{netlab} command-line client: the assembly of its commands.

The commands are plugins, found through the entry point group
C{netlab.clients} (see L{netlab.service.INetlabClient}); netlab's own are
registered there too, by its C{setup.cfg}.  This module parses the command
line, runs the chosen command on the reactor, standard input included, and
turns how it ended into the exit status.  Nothing here names a particular
command.

Exit status: 0 on success, or the status the command returns; 1 when it
failed with a L{NetlabError}, such as talking to the server failing, or
when the command asked for is installed but broken (with one line on
standard error saying why); 2 for a usage error, or a C{ValueError} of the
command; 130 when interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import getopt
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorCore
from twisted.internet.task import react
from twisted.python import usage

from netlab import _registry
from netlab._version import __version__
from netlab.errors import NetlabError
from netlab.service import INetlabClient

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

GROUP = "netlab.clients"
"""
The entry point group client commands register in.
"""

KIND = "client command"
"""
What a plugin of L{GROUP} is called in the lines about it.
"""


def loadClients(
    points: Iterable[Any] | None = None,
    warn: Callable[[str], object] | None = None,
) -> _registry.Registry[INetlabClient]:
    """
    Load the client commands.

    @param points: the entry points to load (anything with a C{name}, a
        C{dist} with a C{name}, and C{load()}); those installed in
        L{GROUP} if C{None}.
    @param warn: told one line for each entry point skipped; standard
        error if C{None}.
    """
    return _registry.load(
        GROUP, _registry.provider(INetlabClient), points, warn, kind=KIND
    )


class Options(usage.Options):
    """
    C{netlab}: clients for netlab's services.  Its commands are those of
    the registry, read when it is made.

    @ivar clients: the client commands that can be chosen, and those that
        are broken.
    """

    synopsis = "Usage: netlab COMMAND [options]"
    subCommands: list[list[Any]]

    def __init__(
        self,
        points: Iterable[Any] | None = None,
        warn: Callable[[str], object] | None = None,
    ) -> None:
        """
        @param points: the entry points of the commands; those installed if
            C{None} (see L{loadClients}).
        @param warn: told, when the options are parsed, each line about an
            entry point that was skipped; standard error if C{None}.
        """
        super().__init__()
        self._warnings: list[str] = []
        self._warn = warn if warn is not None else _registry.stderr
        self.clients = loadClients(points, self._warnings.append)
        self.subCommands = [
            [name, None, client.options, client.description]
            for name, client in self.clients
        ]

    @property
    def client(self) -> INetlabClient:
        """
        The command chosen, once the options are parsed.
        """
        assert self.subCommand is not None
        return self.clients.plugins[self.subCommand]

    def opt_version(self) -> None:
        """
        Print the version and exit.
        """
        print(f"netlab {__version__}")
        raise SystemExit(EXIT_OK)

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        """
        Parse the command line, after telling the lines about the entry
        points that were skipped.

        @raise NetlabError: if the command asked for is installed but
            broken, saying why (and nothing else).
        @raise usage.UsageError: for a usage error.
        """
        argv = sys.argv[1:] if options is None else list(options)
        broken = self.clients.broken.get(self._commandIn(argv) or "")
        if broken is not None:
            raise NetlabError(broken.describe(KIND))
        for line in self._warnings:
            self._warn(line)
        super().parseOptions(argv)

    def _commandIn(self, argv: list[str]) -> str | None:
        """
        @return: the command C{argv} asks for, found as C{usage.Options}
            finds it, or C{None} if it asks for none.
        """
        try:
            _, words = getopt.getopt(argv, self.shortOpt, self.longOpt)
        except getopt.GetoptError:
            return None
        return words[0] if words else None

    def postOptions(self) -> None:
        if self.subCommand is None:
            names = ", ".join(name for name, _ in self.clients)
            raise usage.UsageError(
                f"choose a command: {names}"
                if names
                else "no client command is installed"
            )


def _fail(message: str, code: int) -> SystemExit:
    _registry.stderr(f"netlab: error: {message}")
    return SystemExit(code)


def _run(reactor: Any, options: Options) -> Deferred[None]:
    """
    Run the command chosen on the running reactor.

    @return: a Deferred that fires when it is done, or fails with the
        C{SystemExit} of its exit status, having said why on standard
        error if it failed.
    """
    client = options.client

    async def run() -> None:
        try:
            status = await client.run(reactor, options.subOptions)
        except NetlabError as e:
            raise _fail(str(e), EXIT_FAILED) from None
        except ValueError as e:
            raise _fail(str(e), EXIT_USAGE) from None
        except CancelledError:
            raise _fail("interrupted", EXIT_INTERRUPTED) from None
        if status:
            raise SystemExit(status)

    finished = Deferred.fromCoroutine(run())

    def interrupted() -> None:
        # Ctrl-C or SIGTERM stops the reactor before the command is done.
        if not finished.called:
            finished.cancel()

    if IReactorCore.providedBy(reactor):
        reactor.addSystemEventTrigger("before", "shutdown", interrupted)
    return finished


def main(
    argv: Sequence[str] | None = None, points: Iterable[Any] | None = None
) -> None:
    """
    Run the C{netlab} command; the console script's entry point.

    @param argv: the arguments, without the program name; C{sys.argv[1:]}
        if C{None}.
    @param points: the entry points of the commands; those installed if
        C{None} (see L{loadClients}).
    """
    options = Options(points)
    try:
        options.parseOptions(sys.argv[1:] if argv is None else list(argv))
    except usage.UsageError as e:
        raise _fail(f"{e} (see netlab --help)", EXIT_USAGE) from None
    except NetlabError as e:
        raise _fail(str(e), EXIT_FAILED) from None
    react(_run, [options])
