"""
Tests that README.rst stays true: it renders cleanly and documents every
service, option and command that netlab has.
"""

from __future__ import annotations

from pathlib import Path

import docutils.core
import docutils.utils
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from netlab import _cli, tap

README = Path(__file__).resolve().parent.parent / "README.rst"


def _longOptions(options: usage.Options) -> set[str]:
    names = set(options.longOpt) - {"help", "version"}
    return {"--" + name.rstrip("=") for name in names}


def _ours(optionsClass: type) -> bool:
    """
    @return: whether a sub-command's options are netlab's own, not those of
        a plugin another distribution installed.
    """
    return optionsClass.__module__.split(".")[0] == "netlab"


class ReadmeTests(SynchronousTestCase):
    """
    README.rst is the newcomer's manual.
    """

    def setUp(self) -> None:
        self.text = README.read_text(encoding="utf-8")

    def test_rendersWithoutWarnings(self) -> None:
        """
        README.rst is valid reStructuredText: no warning or error.
        """
        docutils.core.publish_doctree(
            self.text,
            settings_overrides={
                "report_level": docutils.utils.Reporter.WARNING_LEVEL,
                "halt_level": docutils.utils.Reporter.WARNING_LEVEL,
                "warning_stream": False,
            },
        )

    def test_twoCommands(self) -> None:
        """
        README.rst gives the command that starts the server and the one that
        runs the tests.
        """
        self.assertIn("twistd -n netlab tsserv", self.text)
        self.assertIn(
            "pip install '.[test]' ./examples/netlab-quote && "
            ".venv/bin/python -m pytest",
            self.text,
        )

    def test_everyServiceAndOption(self) -> None:
        """
        Every twistd sub-command of netlab's own and each of its options is
        in README.rst (other installed distributions document theirs).
        """
        for name, _, optionsClass, _ in tap.Options().subCommands:
            if not _ours(optionsClass):
                continue
            self.assertIn(f"``{name}``", self.text)
            for option in _longOptions(optionsClass()):
                self.assertIn(option, self.text, f"{name} {option}")

    def test_everyClientCommandAndOption(self) -> None:
        """
        Every command of the netlab client of netlab's own and each of its
        options is in README.rst.
        """
        for name, _, optionsClass, _ in _cli.Options().subCommands:
            if not _ours(optionsClass):
                continue
            self.assertIn(f"netlab {name}", self.text)
            for option in _longOptions(optionsClass()):
                self.assertIn(option, self.text, f"netlab {name} {option}")
