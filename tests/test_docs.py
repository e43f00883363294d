"""
Tests that the documentation (docs/) stays true: its Python is the examples
the test suite runs, its shell sessions name the tests that run them, and
its reference lists every option netlab has.

The build itself (C{python -m sphinx -W -b html docs docs/_build/html},
warnings are errors) runs in CI.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from netlab import _cli, tap

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
TESTS = ROOT / "tests"

_FORBIDDEN_LANGUAGES = {
    "python",
    "python3",
    "py",
    "pycon",
    "console",
    "shell",
    "shell-session",
    "sh",
    "bash",
}
"""
Languages a code block may not have: Python is included from examples/,
shell sessions are C{.. shell::} blocks that name their test.
"""


def _extension() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "netlabdocs", DOCS / "_ext" / "netlabdocs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages() -> list[Path]:
    return sorted(path for path in DOCS.rglob("*.rst") if "_build" not in path.parts)


def _testSources() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in TESTS.rglob("*.py"))


_DIRECTIVE = re.compile(r"^\s*\.\. [\w:-]+::")


class PagesTests(SynchronousTestCase):
    """
    The rules every page follows.
    """

    def test_pagesExist(self) -> None:
        """
        The site has its front page, a tutorial, how-to guides and a
        reference.
        """
        names = {path.relative_to(DOCS).as_posix() for path in _pages()}
        for wanted in (
            "index.rst",
            "tutorial/index.rst",
            "howto/index.rst",
            "reference/index.rst",
            "reference/options.rst",
        ):
            self.assertIn(wanted, names)

    def test_noLiteralBlocks(self) -> None:
        """
        No page has a bare C{::} literal block: Python is included from
        examples/, shell sessions are C{.. shell::} blocks, output and
        configuration are C{.. code-block:: text} (or yaml, ini...).
        """
        for page in _pages():
            for number, line in enumerate(page.read_text().splitlines(), 1):
                if line.rstrip().endswith("::") and not _DIRECTIVE.match(line):
                    self.fail(f"{page.relative_to(ROOT)}:{number}: a :: literal block")

    def test_noCodeBlocksOfCode(self) -> None:
        """
        No code block is Python or a shell session.
        """
        pattern = re.compile(r"^\s*\.\. (?:code-block|sourcecode|code)::\s*(\S*)")
        for page in _pages():
            for number, line in enumerate(page.read_text().splitlines(), 1):
                match = pattern.match(line)
                if match:
                    language = match.group(1).lower()
                    self.assertNotIn(
                        language,
                        _FORBIDDEN_LANGUAGES,
                        f"{page.relative_to(ROOT)}:{number}",
                    )
                    self.assertTrue(language, f"{page.relative_to(ROOT)}:{number}")

    def test_includesAreTestedExamples(self) -> None:
        """
        Every included file is in examples/, and the test suite runs it (its
        name appears in a test).
        """
        pattern = re.compile(r"^\s*\.\. literalinclude::\s*(\S+)")
        tests = _testSources()
        included = 0
        for page in _pages():
            for number, line in enumerate(page.read_text().splitlines(), 1):
                match = pattern.match(line)
                if not match:
                    continue
                included += 1
                where = f"{page.relative_to(ROOT)}:{number}"
                target = (page.parent / match.group(1)).resolve()
                self.assertTrue(target.is_file(), where)
                self.assertTrue(target.is_relative_to(EXAMPLES), where)
                self.assertIn(target.stem, tests, f"{where}: no test runs {target}")
        self.assertGreater(included, 0)

    def test_shellBlocksNameTheirTest(self) -> None:
        """
        Every C{.. shell::} block names an integration test that exists.
        """
        extension = _extension()
        pattern = re.compile(r"^(\s*)\.\. shell::")
        blocks = 0
        for page in _pages():
            lines = page.read_text().splitlines()
            for number, line in enumerate(lines, 1):
                match = pattern.match(line)
                if not match:
                    continue
                blocks += 1
                where = f"{page.relative_to(ROOT)}:{number}"
                following = lines[number] if number < len(lines) else ""
                test = re.match(r"\s*:test:\s*(\S+)", following)
                self.assertIsNotNone(test, f"{where}: no :test:")
                assert test is not None
                self.assertTrue(test.group(1).startswith("tests/integration/"), where)
                self.assertTrue(extension.testExists(test.group(1)), where)
        self.assertGreater(blocks, 0)


def _longOptions(options: usage.Options) -> set[str]:
    names = set(options.longOpt) - {"help", "version"}
    return {"--" + name.rstrip("=") for name in names}


def _ours(optionsClass: type) -> bool:
    return optionsClass.__module__.split(".")[0] == "netlab"


class ReferenceTests(SynchronousTestCase):
    """
    The generated reference lists every command netlab registers, and each
    of its options.
    """

    def assertEveryOption(self, kind: str, commands: list[list[object]]) -> None:
        text = "\n".join(_extension().optionsText(kind))
        prefix = "twistd netlab" if kind == "twistd" else "netlab"
        for name, _, optionsClass, _ in commands:
            assert isinstance(optionsClass, type)
            if not _ours(optionsClass):
                continue
            self.assertIn(f"``{prefix} {name}``", text)
            for option in _longOptions(optionsClass()):
                self.assertIn(f"{option}", text, f"{name} {option}")

    def test_everyServiceAndOption(self) -> None:
        """
        Every twistd sub-command of netlab's own and each of its options is
        in the generated reference.
        """
        self.assertEveryOption(
            "twistd", tap.Options(warn=lambda line: None).subCommands
        )

    def test_everyClientCommandAndOption(self) -> None:
        """
        Every command of the netlab client and each of its options is in the
        generated reference.
        """
        self.assertEveryOption(
            "netlab", _cli.Options(warn=lambda line: None).subCommands
        )

    def test_testExists(self) -> None:
        """
        The extension's check finds functions and methods, and refuses what
        is not there.
        """
        exists = _extension().testExists
        self.assertTrue(exists("tests/test_docs.py::ReferenceTests::test_testExists"))
        self.assertTrue(exists("tests/integration/test_serve.py::test_servesBoth"))
        self.assertFalse(exists("tests/integration/test_serve.py::test_nothing"))
        self.assertFalse(exists("tests/integration/nope.py::test_x"))
        self.assertFalse(exists("tests/integration/test_serve.py"))
