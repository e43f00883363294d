"""
The one rule for an integration test whose component (a program from
Debian, a package) is not installed: under CI (the C{CI} environment
variable set, as C{.ci/run} sets it, which installs every component) it
fails; elsewhere it is skipped, saying what to install.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(message: str) -> NoReturn:
    """
    A component is missing: fail under CI, skip elsewhere.

    @param message: what is missing and what installs it.
    """
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
