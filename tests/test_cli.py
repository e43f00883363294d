"""
Tests for L{netlab._cli}, the assembly of the C{netlab} command: its
commands read from the registry, usage errors, broken commands, and how a
command's end becomes the exit status.
"""

from __future__ import annotations

import configparser
import io
import sys
from functools import partial
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import react
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab import _cli
from netlab._cli import GROUP, Options
from netlab._version import __version__
from netlab.errors import NetlabError
from netlab.service import INetlabClient, NetlabClient
from tests.test_registry import FakeEntryPoint, point

SETUP_CFG = Path(__file__).resolve().parent.parent / "setup.cfg"


def declaredClients() -> list[FakeEntryPoint]:
    """
    netlab's own client commands, as C{setup.cfg} declares them, as entry
    points of netlab's distribution: what the installed registry holds once
    netlab is installed, whether or not the installed copy is up to date.
    """
    config = configparser.ConfigParser()
    config.read(SETUP_CFG, encoding="utf-8")
    declared = config["options.entry_points"][GROUP]
    points = []
    for line in declared.strip().splitlines():
        name, _, value = line.partition("=")
        entryPoint = EntryPoint(name.strip(), value.strip(), GROUP)
        points.append(point(entryPoint.name, entryPoint.load()))
    return points


def parse(*argv: str) -> Options:
    """
    @return: the top options of C{netlab} with netlab's own commands,
        parsed from C{argv}.
    """
    options = Options(declaredClients())
    options.parseOptions(list(argv))
    return options


class _FakeOptions(usage.Options):
    optParameters = [["say", None, "", "What to say."]]


def _fakeClient(run: Any = None, description: str = "A fake command.") -> NetlabClient:
    return NetlabClient(
        description,
        _FakeOptions,
        run if run is not None else (lambda reactor, options: succeed(0)),
    )


class DeclaredClientsTests(SynchronousTestCase):
    """
    Tests for the client commands C{setup.cfg} declares.
    """

    def test_declared(self) -> None:
        """
        C{setup.cfg} declares C{ts}, C{echo}, C{chat}, C{daytime} and
        C{time}, in that order, each an L{INetlabClient}.
        """
        points = declaredClients()
        self.assertEqual(
            [each.name for each in points], ["ts", "echo", "chat", "daytime", "time"]
        )
        for each in points:
            self.assertTrue(verifyObject(INetlabClient, each.load()), each.name)

    def test_installed(self) -> None:
        """
        Without C{points}, L{_cli.loadClients} reads the installed entry
        points of C{netlab.clients}; any it finds are client commands.
        """
        registry = _cli.loadClients(warn=lambda line: None)
        for name, client in registry:
            self.assertTrue(verifyObject(INetlabClient, client), name)


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{Options}, the top options of C{netlab}.
    """

    def test_fromRegistry(self) -> None:
        """
        The commands are the registry's, in its order (netlab's own first),
        each with its options and description.
        """
        other = _fakeClient(description="Another.")
        options = Options(
            [point("quote", other, "netlab-quote"), *declaredClients()],
            warn=self.fail,
        )
        names = [command[0] for command in options.subCommands]
        self.assertEqual(names, list(options.clients.plugins))
        self.assertEqual(sorted(names[:5]), ["chat", "daytime", "echo", "time", "ts"])
        self.assertEqual(
            options.subCommands[5], ["quote", None, _FakeOptions, "Another."]
        )
        options.parseOptions(["quote", "--say", "hi"])
        self.assertIs(options.client, other)
        self.assertEqual(options.subOptions["say"], "hi")

    def test_builtWhenMade(self) -> None:
        """
        Each L{Options} reads the registry when it is made.
        """
        one = Options([point("one", _fakeClient())])
        two = Options([point("two", _fakeClient())])
        self.assertEqual([command[0] for command in one.subCommands], ["one"])
        self.assertEqual([command[0] for command in two.subCommands], ["two"])

    def test_brokenSkipped(self) -> None:
        """
        A broken entry point is not a command, and the line about it is told
        when the options are parsed.
        """
        told: list[str] = []
        options = Options(
            [
                point("good", _fakeClient()),
                point("bad", ModuleNotFoundError("No module named 'quote'"), "q"),
                point("number", 7, "numbers"),
            ],
            warn=told.append,
        )
        self.assertEqual([command[0] for command in options.subCommands], ["good"])
        self.assertEqual(told, [])
        options.parseOptions(["good"])
        self.assertEqual(len(told), 2)
        self.assertIn("client command 'bad' of q", told[0])
        self.assertIn("ModuleNotFoundError: No module named 'quote'", told[0])
        self.assertIn("INetlabClient", told[1])

    def test_duplicate(self) -> None:
        """
        A second command of a name already taken is skipped, with a line
        saying so; netlab's own wins.
        """
        told: list[str] = []
        impostor = _fakeClient()
        options = Options(
            [point("ts", impostor, "impostor"), *declaredClients()], warn=told.append
        )
        options.parseOptions(["ts", "hello"])
        self.assertIsNot(options.client, impostor)
        self.assertEqual(
            told,
            [
                "netlab: warning: skipping the client command 'ts' of impostor: "
                "netlab already has one of that name"
            ],
        )

    def test_brokenAskedFor(self) -> None:
        """
        A broken command asked for by name is a L{NetlabError} naming it and
        why, not an unknown command; nothing else is told.
        """
        told: list[str] = []
        options = Options(
            [
                point("quote", ImportError("No module named 'quotes'"), "netlab-quote"),
                point("other", ImportError("nope"), "x"),
            ],
            warn=told.append,
        )
        error = self.assertRaises(
            NetlabError, options.parseOptions, ["quote", "--say", "hi"]
        )
        self.assertEqual(
            str(error),
            "the client command 'quote' of netlab-quote is broken: "
            "ImportError: No module named 'quotes'",
        )
        self.assertEqual(told, [])

    def test_brokenReplaced(self) -> None:
        """
        A command another distribution provides is not broken, even if one
        of its entry points is.
        """
        client = _fakeClient()
        options = Options(
            [point("x", ImportError("nope"), "a"), point("x", client, "b")],
            warn=lambda line: None,
        )
        options.parseOptions(["x"])
        self.assertIs(options.client, client)

    def test_noCommand(self) -> None:
        """
        No command is a usage error that lists the registry's commands.
        """
        options = Options(
            [
                *declaredClients(),
                point("two", _fakeClient()),
                point("one", _fakeClient()),
            ]
        )
        error = self.assertRaises(usage.UsageError, options.parseOptions, [])
        self.assertEqual(
            str(error), "choose a command: " + ", ".join(options.clients.plugins)
        )
        self.assertEqual(
            sorted(options.clients.plugins),
            ["chat", "daytime", "echo", "one", "time", "ts", "two"],
        )

    def test_noCommandInstalled(self) -> None:
        """
        With no command installed, no command is a usage error saying so.
        """
        error = self.assertRaises(usage.UsageError, Options([]).parseOptions, [])
        self.assertIn("no client command", str(error))

    def test_unknownCommand(self) -> None:
        """
        An unknown command is a usage error.
        """
        self.assertRaises(
            usage.UsageError, Options(declaredClients()).parseOptions, ["chat"]
        )
        self.assertRaises(
            usage.UsageError, Options(declaredClients()).parseOptions, ["quote"]
        )

    def test_version(self) -> None:
        """
        C{--version} prints the version and exits with status 0.
        """
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        exit = self.assertRaises(
            SystemExit, Options(declaredClients()).parseOptions, ["--version"]
        )
        self.assertEqual(exit.code, 0)
        self.assertEqual(out.getvalue(), f"netlab {__version__}\n")


class MainTests(SynchronousTestCase):
    """
    Tests for L{_cli.main}.
    """

    def setUp(self) -> None:
        self.err = io.StringIO()
        self.patch(sys, "stderr", self.err)

    def _exit(self, *argv: str, points: Any = None) -> tuple[int, str]:
        exit = self.assertRaises(
            SystemExit,
            _cli.main,
            list(argv),
            declaredClients() if points is None else points,
        )
        assert isinstance(exit.code, int)
        return exit.code, self.err.getvalue()

    def _usageError(self, *argv: str) -> str:
        code, text = self._exit(*argv)
        self.assertEqual(code, 2)
        self.assertEqual(text.count("\n"), 1, text)
        self.assertTrue(text.endswith("\n"))
        self.assertTrue(text.startswith("netlab: error: "), text)
        self.assertIn("netlab --help", text)
        return text

    def test_noCommand(self) -> None:
        """
        No command exits with status 2 and one error line.
        """
        text = self._usageError()
        self.assertIn("choose a command: ", text)
        for name in ["ts", "echo", "chat"]:
            self.assertIn(name, text)

    def test_unknownCommand(self) -> None:
        """
        An unknown command exits with status 2 and one error line.
        """
        self.assertIn("quote", self._usageError("quote"))

    def test_brokenCommand(self) -> None:
        """
        A broken command asked for by name exits with status 1 and one line
        saying why, not pointing to the help.
        """
        code, text = self._exit(
            "quote",
            points=[
                *declaredClients(),
                point("quote", ModuleNotFoundError("No module named 'q'"), "quotes"),
            ],
        )
        self.assertEqual(code, 1)
        self.assertEqual(
            text,
            "netlab: error: the client command 'quote' of quotes is broken: "
            "ModuleNotFoundError: No module named 'q'\n",
        )

    def test_brokenOtherCommand(self) -> None:
        """
        A broken command that was not asked for is told in one line, before
        the usage error of the command line.
        """
        code, text = self._exit(
            "ts",
            "--bogus",
            points=[*declaredClients(), point("quote", ImportError("gone"), "q")],
        )
        self.assertEqual(code, 2)
        warning, error = text.splitlines()
        self.assertTrue(warning.startswith("netlab: warning: skipping"), warning)
        self.assertIn("--bogus", error)

    def test_status(self) -> None:
        """
        The exit status a command's C{run} returns is C{netlab}'s.
        """
        ran: list[Any] = []

        def run(reactor: Any, options: usage.Options) -> Deferred[int]:
            ran.append(options["say"])
            return succeed(3)

        self.patch(_cli, "react", partial(react, _reactor=MemoryReactorClock()))
        code, text = self._exit(
            "fake", "--say", "hi", points=[point("fake", _fakeClient(run))]
        )
        self.assertEqual((code, text, ran), (3, "", ["hi"]))

    def test_success(self) -> None:
        """
        A command whose C{run} returns 0 ends C{netlab} with status 0.
        """
        self.patch(_cli, "react", partial(react, _reactor=MemoryReactorClock()))
        code, text = self._exit("fake", points=[point("fake", _fakeClient())])
        self.assertEqual((code, text), (0, ""))


class RunTests(SynchronousTestCase):
    """
    Tests for L{_cli._run}: how the end of a command becomes the exit
    status.
    """

    def setUp(self) -> None:
        self.err = io.StringIO()
        self.patch(sys, "stderr", self.err)
        self.reactor = MemoryReactorClock()

    def _start(self, run: Any) -> Deferred[None]:
        options = Options([point("fake", _fakeClient(run))])
        options.parseOptions(["fake"])
        return _cli._run(self.reactor, options)

    def _exit(self, d: Deferred[None]) -> tuple[Any, str]:
        exit = self.failureResultOf(d, SystemExit).value
        assert isinstance(exit, SystemExit)
        return exit.code, self.err.getvalue()

    def test_success(self) -> None:
        """
        Status 0 is success.
        """
        self.assertIsNone(self.successResultOf(self._start(lambda r, o: succeed(0))))
        self.assertEqual(self.err.getvalue(), "")

    def test_status(self) -> None:
        """
        Another status is the exit status, without a word.
        """
        self.assertEqual(self._exit(self._start(lambda r, o: succeed(3))), (3, ""))

    def test_netlabError(self) -> None:
        """
        A L{NetlabError} is one line, and status 1.
        """
        d = self._start(lambda r, o: fail(NetlabError("no reply from the server")))
        self.assertEqual(
            self._exit(d), (1, "netlab: error: no reply from the server\n")
        )

    def test_raisedAtOnce(self) -> None:
        """
        A L{NetlabError} raised by C{run} itself is one line, and status 1.
        """

        def run(reactor: Any, options: usage.Options) -> Deferred[int]:
            raise NetlabError("--connect x: not a client endpoint string")

        self.assertEqual(self._exit(self._start(run))[0], 1)

    def test_valueError(self) -> None:
        """
        A C{ValueError} is one line, and status 2.
        """
        d = self._start(lambda r, o: fail(ValueError("the line is too long")))
        self.assertEqual(self._exit(d), (2, "netlab: error: the line is too long\n"))

    def test_interrupted(self) -> None:
        """
        When the reactor shuts down before the command is done (Ctrl-C,
        SIGTERM), the command is cancelled, and the status is 130.
        """
        cancelled: list[Deferred[int]] = []
        d = self._start(lambda r, o: Deferred(cancelled.append))
        self.assertNoResult(d)
        [(interrupted, args, kwargs)] = self.reactor.triggers["before"]["shutdown"]
        interrupted(*args, **kwargs)
        self.assertEqual(len(cancelled), 1)
        self.assertEqual(self._exit(d), (130, "netlab: error: interrupted\n"))

    def test_shutdownAfterwards(self) -> None:
        """
        A shutdown after the command is done changes nothing.
        """
        d = self._start(lambda r, o: succeed(0))
        [(interrupted, args, kwargs)] = self.reactor.triggers["before"]["shutdown"]
        interrupted(*args, **kwargs)
        self.assertIsNone(self.successResultOf(d))
