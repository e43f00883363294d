"""
netlab's tests.

Unit tests are trial-style L{SynchronousTestCase}s and run under both
C{python -m pytest} and C{python -m twisted.trial tests}; the loopback
integration tests in C{tests/integration} are pytest-twisted functions and
run under pytest only.
"""

import os

from hypothesis import HealthCheck, settings

# Shared 2-core machines are noisy: no per-example deadline, and a fixed
# seed on CI so that a red run can be reproduced.
settings.register_profile(
    "netlab",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("ci", parent=settings.get_profile("netlab"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "netlab")
