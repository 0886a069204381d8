"""Imports every check module so that their checks register (order = verify table order)."""

from . import risk_checks  # noqa: F401
from . import stationarity_checks  # noqa: F401
from . import gating_checks  # noqa: F401
from . import gating_class_checks  # noqa: F401
from . import optimum_checks  # noqa: F401
from . import solver_checks  # noqa: F401
from . import arb_checks  # noqa: F401
from . import multilayer_checks  # noqa: F401
