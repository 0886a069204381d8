"""Imports every check module so that their checks register; :data:`MODULE_ORDER` is the verify
table's order (by claim: the risk, its stationarity, gating, multi-layer, the architecture atlas, then the optimum and its
solvers), whatever order the imports happen to run in."""

from . import (
    arb_checks,  # noqa: F401
    atlas_checks,  # noqa: F401
    atlas_torch_checks,  # noqa: F401
    gating_checks,  # noqa: F401
    gating_class_checks,  # noqa: F401
    multilayer_checks,  # noqa: F401
    optimum_checks,  # noqa: F401
    risk_checks,  # noqa: F401
    solver_checks,  # noqa: F401
    stationarity_checks,  # noqa: F401
)

MODULE_ORDER = (
    "risk_checks",
    "stationarity_checks",
    "gating_checks",
    "gating_class_checks",
    "multilayer_checks",
    "atlas_checks",
    "atlas_torch_checks",
    "optimum_checks",
    "solver_checks",
    "arb_checks",
)
"""Check modules in the order ``wpgd verify`` lists their checks."""
