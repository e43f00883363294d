"""
netlab's own Sphinx extension.

Two directives:

- C{.. netlab-options:: twistd} (or C{netlab}): the options of every
  sub-command of C{twistd netlab} (or every command of the C{netlab}
  client) that is registered when the docs are built, read from their
  C{usage.Options} classes, so that they are never written twice;
- C{.. shell::} with C{:test: tests/integration/FILE.py::test_name}: a
  shell session, shown as a console block, that names the integration test
  that runs it; the build warns (an error under C{-W}) if that test does
  not exist.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles
from twisted.python import usage

ROOT = Path(__file__).resolve().parents[2]


def optionRows(options: usage.Options) -> list[tuple[str, str, str]]:
    """
    @return: each long option of C{options} but C{--help} and
        C{--version}, as (C{--name VALUE} or C{--name}, its default, its
        help), in the order C{--help} lists them.
    """
    rows = []
    takesValue = {name.rstrip("="): name.endswith("=") for name in options.longOpt}
    shortFor = {
        long: short for short, long in options.synonyms.items() if len(short) == 1
    }
    for name in options.longOpt:
        name = name.rstrip("=")
        if name in ("help", "version"):
            continue
        shown = f"--{name}" + (" VALUE" if takesValue[name] else "")
        if name in shortFor:
            shown = f"-{shortFor[name]}, {shown}"
        default = options.defaults.get(name) if takesValue[name] else None
        doc = " ".join((options.docs.get(name) or "").split())
        rows.append((shown, "" if default in (None, [], "") else str(default), doc))
    return rows


def _commands(kind: str) -> list[list[Any]]:
    if kind == "twistd":
        from netlab import tap

        return list(tap.Options(warn=lambda line: None).subCommands)
    if kind == "netlab":
        from netlab import _cli

        return list(_cli.Options(warn=lambda line: None).subCommands)
    raise ValueError(f"netlab-options takes twistd or netlab, not {kind!r}")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`")


def optionsText(kind: str) -> list[str]:
    """
    @return: reStructuredText for every command of C{kind} registered
        where the docs are built (netlab's own, and any plugin installed
        there).
    """
    prefix = "twistd netlab" if kind == "twistd" else "netlab"
    lines: list[str] = []
    for name, _, optionsClass, description in sorted(_commands(kind)):
        options = optionsClass()
        title = f"``{prefix} {name}``"
        lines += [title, "~" * len(title), "", _escape(str(description)), ""]
        longdesc = getattr(options, "longdesc", "")
        if longdesc:
            lines += [_escape(" ".join(longdesc.split())), ""]
        rows = optionRows(options)
        if not rows:
            lines += ["No options of its own.", ""]
            continue
        lines += [".. list-table::", "   :header-rows: 1", "   :widths: 30 15 55", ""]
        lines += ["   * - option", "     - default", "     - meaning"]
        for shown, default, doc in rows:
            lines += [
                f"   * - ``{shown}``",
                f"     - {'``' + default + '``' if default else ''}",
                f"     - {_escape(doc)}",
            ]
        lines.append("")
    return lines


class NetlabOptions(Directive):
    """
    C{.. netlab-options:: twistd|netlab}.
    """

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        container = nodes.section()
        container.document = self.state.document
        text = optionsText(self.arguments[0])
        nested_parse_with_titles(
            self.state, StringList(text, "netlab-options"), container
        )
        return list(container.children)


def testExists(reference: str) -> bool:
    """
    @param reference: C{tests/PATH.py::test_name} (or C{::Class::test_name}).
    @return: whether that file defines that test.
    """
    path, _, name = reference.partition("::")
    file = ROOT / path
    if not name or not file.is_file():
        return False
    wanted = name.split("::")
    tree = ast.parse(file.read_text(encoding="utf-8"))
    scope: list[ast.stmt] = tree.body
    for part in wanted:
        found = [
            node
            for node in scope
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.name == part
        ]
        if not found:
            return False
        scope = getattr(found[0], "body", [])
    return True


class Shell(Directive):
    """
    C{.. shell::} with C{:test:}: a shell session and the test that runs it.
    """

    has_content = True
    option_spec = {"test": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        reference = self.options.get("test", "")
        result: list[nodes.Node] = []
        if not testExists(reference):
            result.append(
                self.state.document.reporter.warning(
                    f"shell block: no test {reference!r} (give "
                    ":test: tests/integration/FILE.py::test_name)",
                    line=self.lineno,
                )
            )
        text = "\n".join(self.content)
        block = nodes.literal_block(text, text)
        block["language"] = "console"
        result.append(block)
        return result


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("netlab-options", NetlabOptions)
    app.add_directive("shell", Shell)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
