"""Numerics: validated problems, closed-form risk, Monte Carlo, solvers (NumPy/SciPy/mpmath/torch).

The public names below are loaded on first use (PEP 562), so that ``import numerics`` (and the
``wpgd`` command line, which imports it) does not pay for SciPy, mpmath or the solvers until a
name is used: ``from numerics import Problem`` imports :mod:`numerics.problem` only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and readers (resolved lazily below)
    from numerics.api import (
        RiskReport as RiskReport,
        SolveReport as SolveReport,
        conditions_report as conditions_report,
        risk_report as risk_report,
        solve_problem as solve_problem,
    )
    from numerics.certificate import Certificate as Certificate, certify as certify
    from numerics.classes import (
        ClassComparison as ClassComparison,
        ClassOptimum as ClassOptimum,
        class_optima as class_optima,
        class_optimum as class_optimum,
        compare_classes as compare_classes,
    )
    from numerics.conditions import ConditionReport as ConditionReport, check_conditions as check_conditions
    from numerics.curve import Curve as Curve, theory_curve as theory_curve
    from numerics.errors import (
        DegenerateProblemError as DegenerateProblemError,
        InvalidProblemError as InvalidProblemError,
        ResourceLimitError as ResourceLimitError,
        SolverError as SolverError,
        SpecError as SpecError,
        WPGDError as WPGDError,
    )
    from numerics.highprec import solve_highprec as solve_highprec
    from numerics.montecarlo import MonteCarloResult as MonteCarloResult, monte_carlo_risk as monte_carlo_risk
    from numerics.predictor import wpgd_predict as wpgd_predict
    from numerics.problem import Problem as Problem
    from numerics.risk import normalized_risk as normalized_risk, risk as risk
    from numerics.solver import Optimum as Optimum, solve as solve
    from numerics.spec import load_spec as load_spec, parse_spec as parse_spec
    from numerics.stationary import StationaryPoint as StationaryPoint, classify as classify_stationary

# ``risk`` is also the name of a submodule: the first import of that submodule binds the module to
# this package's attribute ``risk``, hiding the lazy function, so it is bound eagerly (the module
# needs NumPy only). tests/test_lazy_imports.py checks every public name.
from numerics.risk import normalized_risk as normalized_risk, risk as risk  # noqa: E402

# public name -> (module, attribute in it)
_LAZY: dict[str, tuple[str, str]] = {
    "RiskReport": ("numerics.api", "RiskReport"),
    "SolveReport": ("numerics.api", "SolveReport"),
    "conditions_report": ("numerics.api", "conditions_report"),
    "risk_report": ("numerics.api", "risk_report"),
    "solve_problem": ("numerics.api", "solve_problem"),
    "ClassComparison": ("numerics.classes", "ClassComparison"),
    "Curve": ("numerics.curve", "Curve"),
    "theory_curve": ("numerics.curve", "theory_curve"),
    "Certificate": ("numerics.certificate", "Certificate"),
    "certify": ("numerics.certificate", "certify"),
    "ClassOptimum": ("numerics.classes", "ClassOptimum"),
    "class_optima": ("numerics.classes", "class_optima"),
    "class_optimum": ("numerics.classes", "class_optimum"),
    "compare_classes": ("numerics.classes", "compare_classes"),
    "ConditionReport": ("numerics.conditions", "ConditionReport"),
    "check_conditions": ("numerics.conditions", "check_conditions"),
    "DegenerateProblemError": ("numerics.errors", "DegenerateProblemError"),
    "InvalidProblemError": ("numerics.errors", "InvalidProblemError"),
    "ResourceLimitError": ("numerics.errors", "ResourceLimitError"),
    "SolverError": ("numerics.errors", "SolverError"),
    "SpecError": ("numerics.errors", "SpecError"),
    "WPGDError": ("numerics.errors", "WPGDError"),
    "solve_highprec": ("numerics.highprec", "solve_highprec"),
    "MonteCarloResult": ("numerics.montecarlo", "MonteCarloResult"),
    "monte_carlo_risk": ("numerics.montecarlo", "monte_carlo_risk"),
    "wpgd_predict": ("numerics.predictor", "wpgd_predict"),
    "Problem": ("numerics.problem", "Problem"),
    "normalized_risk": ("numerics.risk", "normalized_risk"),
    "risk": ("numerics.risk", "risk"),
    "Optimum": ("numerics.solver", "Optimum"),
    "solve": ("numerics.solver", "solve"),
    "load_spec": ("numerics.spec", "load_spec"),
    "parse_spec": ("numerics.spec", "parse_spec"),
    "StationaryPoint": ("numerics.stationary", "StationaryPoint"),
    "classify_stationary": ("numerics.stationary", "classify"),
}

__all__ = [
    "Certificate",
    "ClassComparison",
    "ClassOptimum",
    "ConditionReport",
    "Curve",
    "DegenerateProblemError",
    "InvalidProblemError",
    "MonteCarloResult",
    "Optimum",
    "Problem",
    "ResourceLimitError",
    "RiskReport",
    "SolveReport",
    "SolverError",
    "SpecError",
    "StationaryPoint",
    "WPGDError",
    "certify",
    "check_conditions",
    "class_optima",
    "class_optimum",
    "classify_stationary",
    "compare_classes",
    "conditions_report",
    "load_spec",
    "monte_carlo_risk",
    "normalized_risk",
    "parse_spec",
    "risk",
    "risk_report",
    "solve",
    "solve_problem",
    "solve_highprec",
    "theory_curve",
    "wpgd_predict",
]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
