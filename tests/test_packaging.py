"""
Tests of how netlab is packaged: what its wheel holds, and that the
installed (not editable) copy is the one twistd finds.

These run C{pip wheel} and Python in subprocesses, with timeouts; no reactor.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

PROJECT = Path(__file__).resolve().parent.parent
"""
The root of the source tree: where setup.cfg is.
"""

BUILD_TIMEOUT = 300
"""
Seconds C{pip wheel} may take (it may fetch the build requirements).
"""

RUN_TIMEOUT = 60
"""
Seconds any other subprocess may take.
"""

_LEFT_BEHIND = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".ci-venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".hypothesis",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "_trial_temp*",
    "bench-results",
)

_scratch = tempfile.TemporaryDirectory(prefix="netlab-packaging-")


def _environment() -> dict[str, str]:
    """
    This process's environment, without anything that would put the source
    tree on the path.
    """
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


@functools.cache
def builtWheel() -> dict[str, bytes]:
    """
    Build a wheel of the source tree, once per test run.

    The tree is copied first, without build outputs, so that the wheel is
    built from the sources alone (a stale C{build/} directory would otherwise
    leak old files into it) and the tree itself is not written to.  A
    C{twisted/plugins/dropin.cache} is put in the copy, as running the tests
    or twistd from the tree leaves one there.

    @return: the wheel's files: their contents by name.
    """
    root = Path(_scratch.name)
    source = root / "source"
    shutil.copytree(PROJECT, source, ignore=_LEFT_BEHIND)
    (source / "twisted" / "plugins" / "dropin.cache").write_bytes(b"stale cache")
    out = root / "wheels"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        env=_environment(),
        cwd=root,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = out.glob("netlab-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


class WheelTests(SynchronousTestCase):
    """
    Tests for the contents of netlab's wheel.
    """

    def test_package(self) -> None:
        """
        The wheel holds the netlab package, its typing marker, the timestamp
        subpackage and the twistd plugins (the service and the uvloop
        reactor).
        """
        names = builtWheel()
        for name in [
            "netlab/__init__.py",
            "netlab/py.typed",
            "netlab/timestamp/__init__.py",
            "netlab/tap.py",
            "twisted/plugins/netlab_plugin.py",
            "twisted/plugins/netlab_reactors.py",
        ]:
            self.assertIn(name, names)

    def test_webPage(self) -> None:
        """
        The wheel holds the chat's web page, every file of
        C{netlab/chat/web/}, as package data.
        """
        names = builtWheel()
        files = sorted(
            path.relative_to(PROJECT).as_posix()
            for path in (PROJECT / "netlab" / "chat" / "web").iterdir()
        )
        self.assertEqual(
            files,
            [
                "netlab/chat/web/chat.css",
                "netlab/chat/web/chat.js",
                "netlab/chat/web/favicon.svg",
                "netlab/chat/web/index.html",
            ],
        )
        for name in files:
            self.assertIn(name, names)
            self.assertEqual(names[name], (PROJECT / name).read_bytes(), name)

    def test_everyModule(self) -> None:
        """
        Every module of the source tree's netlab package is in the wheel, so
        no subpackage is missing from setup.cfg's list of packages.
        """
        names = set(builtWheel())
        modules = {
            path.relative_to(PROJECT).as_posix()
            for path in (PROJECT / "netlab").rglob("*.py")
        }
        self.assertEqual(modules - names, set())

    def test_noNamespaceInit(self) -> None:
        """
        The wheel gives neither twisted nor twisted.plugins an __init__.py,
        which would replace Twisted's own.
        """
        names = builtWheel()
        self.assertNotIn("twisted/__init__.py", names)
        self.assertNotIn("twisted/plugins/__init__.py", names)
        self.assertEqual(
            [name for name in names if name.startswith("twisted/")],
            ["twisted/plugins/netlab_plugin.py", "twisted/plugins/netlab_reactors.py"],
        )

    def test_noTestsOrExamples(self) -> None:
        """
        The wheel holds no tests and no examples.
        """
        shipped = [
            name for name in builtWheel() if name.split("/")[0] in {"tests", "examples"}
        ]
        self.assertEqual(shipped, [])

    def test_noDropinCache(self) -> None:
        """
        The wheel holds no dropin.cache, which Twisted regenerates where the
        plugin is installed.
        """
        self.assertEqual(
            [name for name in builtWheel() if name.endswith("dropin.cache")], []
        )

    def test_consoleScript(self) -> None:
        """
        The wheel declares the netlab command.
        """
        [entryPoints] = [
            contents
            for name, contents in builtWheel().items()
            if name.endswith(".dist-info/entry_points.txt")
        ]
        lines = [line.replace(b" ", b"") for line in entryPoints.splitlines()]
        self.assertIn(b"[console_scripts]", lines)
        self.assertIn(b"netlab=netlab._cli:main", lines)


class InstalledPluginTests(SynchronousTestCase):
    """
    Tests that the installed netlab, not the source tree, is what Twisted's
    plugin system finds.
    """

    def test_installedPluginFound(self) -> None:
        """
        From a directory outside the source tree, getPlugins(IServiceMaker)
        finds the netlab plugin, and it and netlab are imported from the
        installed copy.
        """
        probe = (
            "import json, netlab, twisted.plugin\n"
            "from twisted.application.service import IServiceMaker\n"
            "makers = {m.tapname: m for m in "
            "twisted.plugin.getPlugins(IServiceMaker)}\n"
            "import twisted.plugins.netlab_plugin as plugin\n"
            "print(json.dumps({'taps': sorted(makers), 'netlab': netlab.__file__,"
            " 'plugin': plugin.__file__,"
            " 'module': makers['netlab'].module if 'netlab' in makers else None}))\n"
        )
        with tempfile.TemporaryDirectory() as elsewhere:
            result = subprocess.run(
                [sys.executable, "-c", probe],
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                env=_environment(),
                cwd=elsewhere,
            )
        self.assertEqual(result.returncode, 0, result.stderr)
        found = json.loads(result.stdout)
        self.assertIn("netlab", found["taps"])
        self.assertEqual(found["module"], "netlab.tap")
        for imported in [found["netlab"], found["plugin"]]:
            path = Path(imported).resolve()
            for tree in [PROJECT / "netlab", PROJECT / "twisted"]:
                self.assertFalse(
                    path.is_relative_to(tree), f"imported from the source tree: {path}"
                )
            self.assertTrue({"site-packages", "dist-packages"} & set(path.parts), path)

    def test_installedWebPage(self) -> None:
        """
        The installed netlab, used outside the source tree, serves the
        chat's web page from its own files.
        """
        probe = (
            "import json\n"
            "from importlib import resources\n"
            "from twisted.internet.task import Clock\n"
            "from netlab.chat import ChatHub\n"
            "from netlab.chat._web import PAGE_FILES, chatWebSite\n"
            "chatWebSite(ChatHub(), Clock())\n"
            "web = resources.files('netlab.chat') / 'web'\n"
            "print(json.dumps({name: str(web / name) for name, _ in "
            "PAGE_FILES.values()}))\n"
        )
        with tempfile.TemporaryDirectory() as elsewhere:
            result = subprocess.run(
                [sys.executable, "-c", probe],
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                env=_environment(),
                cwd=elsewhere,
            )
        self.assertEqual(result.returncode, 0, result.stderr)
        found = json.loads(result.stdout)
        self.assertEqual(
            sorted(found), ["chat.css", "chat.js", "favicon.svg", "index.html"]
        )
        for name, where in found.items():
            path = Path(where)
            self.assertFalse(path.is_relative_to(PROJECT / "netlab"), path)
            self.assertTrue({"site-packages", "dist-packages"} & set(path.parts), path)
            self.assertEqual(
                path.read_bytes(),
                (PROJECT / "netlab" / "chat" / "web" / name).read_bytes(),
                f"{name}: the installed copy is not the tree's; reinstall",
            )

    def test_twistdListsNetlab(self) -> None:
        """
        The installed twistd, run outside the source tree, offers netlab.
        """
        twistd = Path(sys.executable).parent / "twistd"
        with tempfile.TemporaryDirectory() as elsewhere:
            result = subprocess.run(
                [str(twistd), "--pidfile=", "--help"],
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                env=_environment(),
                cwd=elsewhere,
            )
        self.assertEqual(result.returncode, 0, result.stderr)
        commands = [line.split() for line in result.stdout.splitlines()]
        self.assertIn("netlab", [words[0] for words in commands if words])
