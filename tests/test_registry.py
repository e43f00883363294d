"""
Tests for L{netlab._registry}: plugins found through entry points.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from twisted.trial.unittest import SynchronousTestCase

from netlab._registry import Broken, load


@attrs.frozen
class FakeDistribution:
    name: str


@attrs.frozen
class FakeEntryPoint:
    """
    What L{load} reads of an entry point: its name, its distribution, and
    the object it loads (or the exception loading raises).
    """

    name: str
    value: object
    dist: FakeDistribution | None = FakeDistribution("netlab")

    def load(self) -> object:
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


def point(
    name: str, value: object, distribution: str | None = "netlab"
) -> FakeEntryPoint:
    return FakeEntryPoint(
        name, value, FakeDistribution(distribution) if distribution else None
    )


def onlyStrings(name: str, candidate: object) -> str:
    if not isinstance(candidate, str):
        raise TypeError(f"{type(candidate).__name__} is not a str")
    return candidate


class LoadTests(SynchronousTestCase):
    """
    Tests for L{load}.
    """

    def load(
        self, *points: FakeEntryPoint, check: Callable[[str, object], str] = onlyStrings
    ) -> tuple[dict[str, str], dict[str, Broken], list[str]]:
        lines: list[str] = []
        registry = load(
            "netlab.tests", check, points, warn=lines.append, kind="service"
        )
        return dict(registry), registry.broken, lines

    def test_good(self) -> None:
        """
        Each entry point's checked object is the plugin of its name, and
        nothing is said.
        """
        plugins, broken, lines = self.load(point("a", "A"), point("b", "B"))
        self.assertEqual(plugins, {"a": "A", "b": "B"})
        self.assertEqual((broken, lines), ({}, []))

    def test_ownFirstThenByName(self) -> None:
        """
        netlab's own entry points come first, by name, then the others', by
        name.
        """
        registry = load(
            "g",
            onlyStrings,
            [
                point("zeta", "z", "other"),
                point("tsserv", "t"),
                point("alpha", "a", "third"),
                point("echo", "e"),
            ],
            warn=lambda line: None,
        )
        self.assertEqual(list(registry.plugins), ["echo", "tsserv", "alpha", "zeta"])

    def test_importError(self) -> None:
        """
        An entry point whose module does not import is skipped, with one line
        naming it, its distribution and the error; the others still load.
        """
        plugins, broken, lines = self.load(
            point("good", "G"),
            point(
                "bad", ModuleNotFoundError("No module named 'quotes'"), "quote-plugin"
            ),
        )
        self.assertEqual(plugins, {"good": "G"})
        self.assertEqual(
            broken,
            {
                "bad": Broken(
                    "bad",
                    "quote-plugin",
                    "ModuleNotFoundError: No module named 'quotes'",
                )
            },
        )
        self.assertEqual(
            lines,
            [
                "netlab: warning: skipping the service 'bad' of quote-plugin, "
                "which is broken: ModuleNotFoundError: No module named 'quotes'"
            ],
        )

    def test_anyException(self) -> None:
        """
        Whatever importing a plugin raises, it is skipped, and the first line
        of the error is told.
        """
        plugins, broken, lines = self.load(
            point("bad", RuntimeError("first line\nsecond line"), "x"),
            point("empty", KeyError(), "y"),
        )
        self.assertEqual(plugins, {})
        self.assertEqual(broken["bad"].reason, "RuntimeError: first line")
        self.assertEqual(broken["empty"].reason, "KeyError")
        self.assertEqual(len(lines), 2)

    def test_wrongType(self) -> None:
        """
        An object the check refuses is skipped with the check's reason.
        """
        plugins, broken, lines = self.load(point("number", 7, "numbers"))
        self.assertEqual(plugins, {})
        self.assertEqual(broken["number"].reason, "TypeError: int is not a str")
        self.assertEqual(
            lines,
            [
                "netlab: warning: skipping the service 'number' of numbers, "
                "which is broken: TypeError: int is not a str"
            ],
        )

    def test_duplicate(self) -> None:
        """
        A second entry point of a name already taken is skipped, with a line
        naming both distributions; netlab's own wins.
        """
        plugins, broken, lines = self.load(
            point("echo", "theirs", "impostor"), point("echo", "ours")
        )
        self.assertEqual(plugins, {"echo": "ours"})
        self.assertEqual(broken, {})
        self.assertEqual(
            lines,
            [
                "netlab: warning: skipping the service 'echo' of impostor: "
                "netlab already has one of that name"
            ],
        )

    def test_brokenThenGood(self) -> None:
        """
        A broken entry point of a name that another distribution provides
        after it is not reported as the plugin of that name being broken.
        """
        plugins, broken, lines = self.load(
            point("x", ImportError("nope"), "a"), point("x", "X", "b")
        )
        self.assertEqual(plugins, {"x": "X"})
        self.assertEqual(broken, {})
        self.assertEqual(len(lines), 1)

    def test_unknownDistribution(self) -> None:
        """
        An entry point that does not say its distribution is still reported.
        """
        _, broken, lines = self.load(point("x", ImportError("nope"), None))
        self.assertEqual(broken["x"].distribution, "an unknown distribution")
        self.assertIn("of an unknown distribution, which is broken", lines[0])

    def test_installed(self) -> None:
        """
        Without C{points}, the installed entry points of the group are
        loaded: netlab's own services are there.
        """
        registry = load("netlab.services", lambda name, obj: obj, warn=lambda s: None)
        self.assertLessEqual(
            {"tsserv", "tsuserv", "echo", "chat", "serve"}, set(registry.plugins)
        )
