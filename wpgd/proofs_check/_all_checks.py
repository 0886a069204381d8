"""Imports every check module so that their checks register (order = verify table order)."""

from . import (
    arb_checks,  # noqa: F401
    gating_checks,  # noqa: F401
    gating_class_checks,  # noqa: F401
    multilayer_checks,  # noqa: F401
    optimum_checks,  # noqa: F401
    risk_checks,  # noqa: F401
    solver_checks,  # noqa: F401
    stationarity_checks,  # noqa: F401
)
