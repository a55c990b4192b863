# -*- test-case-name: sst.test.test_headers -*-
"""
The Hypothesis settings every property test in L{sst.test} runs with.

The C{ci} profile is derandomized, with a fixed number of examples and no deadline, so that a
run on a loaded CI machine neither flakes on time nor finds a different example each time.
Choose another profile with the C{HYPOTHESIS_PROFILE} environment variable.
"""
from __future__ import annotations

import os

from hypothesis import settings

__all__: list[str] = []

settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
