"""
The plugin registry: netlab's services and client commands, found through
entry points.

A distribution adds a service to C{twistd netlab} by declaring an entry
point in the group C{netlab.services} (and a client command of C{netlab} in
C{netlab.clients}) whose name is the sub-command and whose object provides
L{netlab.service.INetlabService} (L{netlab.service.INetlabClient}).  netlab's
own services are registered the same way, in its C{setup.cfg}.

Entry points rather than C{twisted.plugin} drop-ins: they survive editable
installs and need no cache.  A broken entry point (its module does not
import, or its object is not a service) is reported on one line naming its
distribution and skipped, so that one bad plugin never takes the others
down; asked for by name, it is an error that names the problem.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

import attrs
from twisted.python import usage
from zope.interface.exceptions import Invalid
from zope.interface.interface import InterfaceClass
from zope.interface.verify import verifyObject

__all__ = ["Broken", "Registry", "load", "provider", "stderr"]

_T = TypeVar("_T")

_OWN = "netlab"
"""
netlab's own distribution: its entry points come first (by name, as those
of the others do after them: installers write entry points sorted, so the
order a distribution declares them in is lost).
"""


@attrs.frozen
class Broken:
    """
    An entry point that could not be used.

    @ivar name: the sub-command it declares.
    @ivar distribution: the distribution that declares it.
    @ivar reason: why it was skipped, one line.
    """

    name: str
    distribution: str
    reason: str

    def describe(self, kind: str) -> str:
        """
        @param kind: what the entry point was meant to be, e.g.
            C{"service"}.
        @return: one line for a person.
        """
        return (
            f"the {kind} {self.name!r} of {self.distribution} is broken: {self.reason}"
        )


@attrs.frozen
class Registry(Generic[_T]):
    """
    What one entry point group holds, once loaded.

    @ivar plugins: each usable plugin by its name: netlab's own first, by
        name, then the others by name.
    @ivar broken: each unusable entry point by its name.
    """

    plugins: dict[str, _T]
    broken: dict[str, Broken]

    def __iter__(self) -> Iterator[tuple[str, _T]]:
        return iter(self.plugins.items())


def _distribution(point: Any) -> str:
    dist = getattr(point, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return str(name) if name else "an unknown distribution"


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def load(
    group: str,
    check: Callable[[str, object], _T],
    points: Iterable[Any] | None = None,
    warn: Callable[[str], object] | None = None,
    kind: str = "plugin",
) -> Registry[_T]:
    """
    Load every entry point of C{group}.

    @param check: given an entry point's name and object, returns the
        plugin, or raises C{TypeError} (or C{ValueError}) saying why the
        object is not one.
    @param points: the entry points (anything with a C{name}, a C{dist}
        with a C{name}, and C{load()}); those installed if C{None}.
    @param warn: told one line for each entry point skipped; standard error
        if C{None}.
    @param kind: what a plugin of this group is, for those lines.
    """
    if points is None:
        points = entry_points(group=group)
    if warn is None:
        warn = stderr
    own: list[Any] = []
    others: list[Any] = []
    for point in points:
        (own if _distribution(point) == _OWN else others).append(point)
    own.sort(key=lambda point: point.name)
    others.sort(key=lambda point: (point.name, _distribution(point)))
    plugins: dict[str, _T] = {}
    owners: dict[str, str] = {}
    broken: dict[str, Broken] = {}
    for point in own + others:
        distribution = _distribution(point)
        if point.name in plugins:
            warn(
                f"netlab: warning: skipping the {kind} {point.name!r} of "
                f"{distribution}: {owners[point.name]} already has one of that "
                "name"
            )
            continue
        try:
            plugin = check(point.name, point.load())
        except Exception as e:  # any failure of a plugin's import
            problem = Broken(point.name, distribution, _reason(e))
            if point.name not in broken:
                broken[point.name] = problem
            warn(
                f"netlab: warning: skipping the {kind} {point.name!r} of "
                f"{distribution}, which is broken: {problem.reason}"
            )
            continue
        plugins[point.name] = plugin
        owners[point.name] = distribution
        broken.pop(point.name, None)
    return Registry(plugins, broken)


def stderr(line: str) -> None:
    """
    Write one line for a person to standard error.
    """
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def provider(
    interface: InterfaceClass, reserved: Iterable[str] = ()
) -> Callable[[str, object], Any]:
    """
    The check for L{load} of a group whose plugins provide C{interface} and
    have C{options}, a C{usage.Options} subclass.

    @param reserved: names no plugin may take.
    """
    taken = frozenset(reserved)
    name = f"{interface.__module__}.{interface.__name__}"

    def check(entry: str, candidate: object) -> Any:
        if entry in taken:
            raise ValueError(f"{entry!r} is reserved by netlab")
        try:
            verifyObject(interface, candidate)
        except Invalid:
            raise TypeError(
                f"{type(candidate).__name__} does not provide {name}"
            ) from None
        options = getattr(candidate, "options", None)
        if not (isinstance(options, type) and issubclass(options, usage.Options)):
            raise TypeError("its options are not a usage.Options subclass")
        return candidate

    return check
