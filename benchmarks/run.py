#!/usr/bin/env python3
"""
Measure every netlab service against peers doing the same work, in one run.

Builds the C load generator (C{benchmarks/loadgen.c}) with C{cc}, then for
each scenario and round starts each server afresh on a free port of
127.0.0.1, pinned to one CPU, drives it with the load generator pinned to
another, and stops it by its PID. Prints, per scenario, a Markdown table of
medians over the rounds (rate, server CPU time per request, latency
percentiles, errors) with the ratio of netlab's server CPU time per request
to each peer's, then a summary of those ratios. Standard library only; see
C{benchmarks/README.rst}.

Exits with status 1 when a load-generator run against netlab failed or
reported errors, 2 when the load generator cannot be built.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
"""
The C{benchmarks} directory.
"""

PROJECT = HERE.parent
"""
The project's root directory.
"""

LOADGEN_SOURCE = HERE / "loadgen.c"

PEERS = HERE / "peers"

HOST = "127.0.0.1"
"""
Everything listens and connects here: loopback only.
"""

READY_TIMEOUT = 20.0
"""
Seconds a server may take to start listening.
"""

STOP_TIMEOUT = 5.0
"""
Seconds a server may take to exit after SIGTERM before it gets SIGKILL.
"""

LOADGEN_SLACK = 120.0
"""
Seconds a load-generator run may take beyond its warm-up and measured
window (connecting 10,000 clients, closing them) before it is killed.
"""

BUILD_TIMEOUT = 120.0
"""
Seconds compiling the load generator may take.
"""

UNAVAILABLE = 3
"""
The exit status of a peer whose event loop is not installed (uvloop).
"""

NICK_FIRST_LINE = "/nick user%d\\n"
"""
The first line each chat client sends (the load generator expands C{%d}
to the client's index and C{\\n} to a newline).
"""


# Servers


@dataclass(frozen=True)
class Server:
    """
    A server to measure.

    @ivar key: its short name, used in labels and file names.
    @ivar title: its name in the tables.
    @ivar isNetlab: whether it is netlab (the others are the peers).
    @ivar command: the command line that runs it on a port.
    @ivar requires: a module it needs, or L{None}; without the module
        installed it is left out of the run.
    """

    key: str
    title: str
    isNetlab: bool
    command: Callable[[int, float], list[str]]
    requires: str | None = None


def twistdCommand() -> list[str]:
    """
    @return: the command that runs the C{twistd} next to the running Python
        (the virtualenv's), or, without one, C{twistd} through that Python.
    """
    twistd = Path(sys.executable).parent / "twistd"
    if twistd.exists():
        return [str(twistd)]
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


def netlab(service: str, *options: str) -> Callable[[int, float], list[str]]:
    """
    @return: a L{Server.command} running C{twistd -n netlab SERVICE} on TCP
        (and, for echo, UDP) port C{port} of 127.0.0.1, with C{options}.
    """

    def command(port: int, maxSeconds: float) -> list[str]:
        listen = f"tcp:{port}:interface={HOST}"
        args = [a.replace("{port}", str(port)) for a in options]
        return [*twistdCommand(), "-n", "--pidfile=", "netlab", service]
        return [
            *twistdCommand(),
            "-n",
            "--pidfile=",
            "netlab",
            service,
            "--listen",
            listen,
            *args,
        ]

    return command


def peer(script: str, *options: str) -> Callable[[int, float], list[str]]:
    """
    @return: a L{Server.command} running C{peers/SCRIPT PORT OPTIONS...} with
        the running Python.
    """

    def command(port: int, maxSeconds: float) -> list[str]:
        return [
            sys.executable,
            str(PEERS / script),
            str(port),
            *options,
            "--max-seconds",
            f"{maxSeconds:.0f}",
        ]

    return command
