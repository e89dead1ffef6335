"""Test configuration: hypothesis profiles.

CI (``CI=true``) runs derandomized, so a red build reproduces; locally, examples are random
each run. No deadlines: a 2-core CI machine under load must not turn slowness into failures.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")
