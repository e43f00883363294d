"""
Tests that README.rst stays what a README is for: it renders cleanly, gives
the two set-up commands, and points into the documentation (whose own tests,
in tests/test_docs.py, check that it lists every service, command and
option).
"""

from __future__ import annotations

from pathlib import Path

import docutils.core
import docutils.utils
from twisted.trial.unittest import SynchronousTestCase

README = Path(__file__).resolve().parent.parent / "README.rst"


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

    def test_pointsIntoTheDocs(self) -> None:
        """
        README.rst gives the command that builds the documentation and names
        its parts, each of which exists.
        """
        self.assertIn("python -m sphinx -W -b html docs docs/_build/html", self.text)
        root = README.parent
        for part in ("tutorial", "howto", "reference"):
            self.assertIn(f"docs/{part}/", self.text)
            self.assertTrue((root / "docs" / part / "index.rst").is_file(), part)
        self.assertTrue((root / "docs" / "development.rst").is_file())

    def test_short(self) -> None:
        """
        README.rst is a README, not the manual: the docs say the rest.
        """
        self.assertLess(len(self.text.splitlines()), 200)
