"""Test configuration: floating-point errors (except underflow) raise; Hypothesis profiles ``ci`` and ``thorough``.

Select a profile with ``HYPOTHESIS_PROFILE=thorough`` (default ``ci``).
"""

import os

import numpy as np
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Overflow, invalid operations and division by zero raise, so a silent NaN/Inf cannot pass.
# Underflow to zero (e.g. exp(-800), products of tiny Hypothesis-drawn entries) is benign and
# is the correct IEEE result, so it is left quiet.
np.seterr(all="raise", under="ignore")
