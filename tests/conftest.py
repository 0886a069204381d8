"""Test configuration: floating-point errors (except underflow) raise; Hypothesis profiles ``ci`` and ``thorough``.

Select a profile with ``WPGD_HYPOTHESIS_PROFILE=thorough`` or ``HYPOTHESIS_PROFILE=thorough`` (default ``ci``).
"""

import numpy as np

from wpgd.proofs_check.strategies import load_profile

load_profile("ci")  # the profiles are registered by wpgd.proofs_check.strategies, for users too

# Overflow, invalid operations and division by zero raise, so a silent NaN/Inf cannot pass.
# Underflow to zero (e.g. exp(-800), products of tiny Hypothesis-drawn entries) is benign and
# is the correct IEEE result, so it is left quiet.
np.seterr(all="raise", under="ignore")
