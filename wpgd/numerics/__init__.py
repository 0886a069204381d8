"""Numerics: validated problems, closed-form risk, Monte Carlo, solvers (NumPy/SciPy/mpmath/torch).

The public names below are loaded on first use (PEP 562), so that ``import wpgd.numerics as numerics`` (and the
``wpgd`` command line, which imports it) does not pay for SciPy, mpmath or the solvers until a
name is used: ``from wpgd.numerics import Problem`` imports :mod:`wpgd.numerics.core.problem` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wpgd._lazy import lazy_names

if TYPE_CHECKING:  # the same names, for type checkers and readers (resolved lazily below)
    from wpgd.numerics.core.api import (
        RiskReport as RiskReport,
        SolveReport as SolveReport,
        conditions_report as conditions_report,
        risk_report as risk_report,
        solve_problem as solve_problem,
    )
    from wpgd.numerics.core.atlas import (
        AtlasTheory as AtlasTheory,
        architecture_optimum as architecture_optimum,
        atlas_theory as atlas_theory,
    )
    from wpgd.numerics.core.classes import (
        ClassComparison as ClassComparison,
        ClassOptimum as ClassOptimum,
        class_optima as class_optima,
        class_optimum as class_optimum,
        compare_classes as compare_classes,
    )
    from wpgd.numerics.core.conditions import (
        ConditionReport as ConditionReport,
        check_conditions as check_conditions,
    )
    from wpgd.numerics.core.curve import Curve as Curve, theory_curve as theory_curve
    from wpgd.numerics.core.errors import (
        DegenerateProblemError as DegenerateProblemError,
        InvalidProblemError as InvalidProblemError,
        ResourceLimitError as ResourceLimitError,
        SolverError as SolverError,
        SpecError as SpecError,
        WPGDError as WPGDError,
    )
    from wpgd.numerics.core.montecarlo import (
        MonteCarloResult as MonteCarloResult,
        monte_carlo_risk as monte_carlo_risk,
    )
    from wpgd.numerics.core.predictor import wpgd_predict as wpgd_predict
    from wpgd.numerics.core.problem import Problem as Problem
    from wpgd.numerics.core.risk import normalized_risk as normalized_risk, risk as risk
    from wpgd.numerics.core.solver import Optimum as Optimum, solve as solve
    from wpgd.numerics.core.spec import load_spec as load_spec, parse_spec as parse_spec
    from wpgd.numerics.core.stationary import (
        StationaryPoint as StationaryPoint,
        classify as classify_stationary,
    )
    from wpgd.numerics.exact.certificate import Certificate as Certificate, certify as certify
    from wpgd.numerics.exact.highprec import solve_highprec as solve_highprec

# ``risk`` is also the name of a submodule: the first import of that submodule binds the module to
# this package's attribute ``risk``, hiding the lazy function, so it is bound eagerly (the module
# needs NumPy only). tests/test_lazy_imports.py checks every public name.
from wpgd.numerics.core.risk import (
    normalized_risk as normalized_risk,  # noqa: E402
    risk as risk,
)

# public name -> (module, attribute in it)
_LAZY: dict[str, tuple[str, str]] = {
    "RiskReport": ("wpgd.numerics.core.api", "RiskReport"),
    "SolveReport": ("wpgd.numerics.core.api", "SolveReport"),
    "conditions_report": ("wpgd.numerics.core.api", "conditions_report"),
    "risk_report": ("wpgd.numerics.core.api", "risk_report"),
    "solve_problem": ("wpgd.numerics.core.api", "solve_problem"),
    "ClassComparison": ("wpgd.numerics.core.classes", "ClassComparison"),
    "AtlasTheory": ("wpgd.numerics.core.atlas", "AtlasTheory"),
    "architecture_optimum": ("wpgd.numerics.core.atlas", "architecture_optimum"),
    "atlas_theory": ("wpgd.numerics.core.atlas", "atlas_theory"),
    "Curve": ("wpgd.numerics.core.curve", "Curve"),
    "theory_curve": ("wpgd.numerics.core.curve", "theory_curve"),
    "Certificate": ("wpgd.numerics.exact.certificate", "Certificate"),
    "certify": ("wpgd.numerics.exact.certificate", "certify"),
    "ClassOptimum": ("wpgd.numerics.core.classes", "ClassOptimum"),
    "class_optima": ("wpgd.numerics.core.classes", "class_optima"),
    "class_optimum": ("wpgd.numerics.core.classes", "class_optimum"),
    "compare_classes": ("wpgd.numerics.core.classes", "compare_classes"),
    "ConditionReport": ("wpgd.numerics.core.conditions", "ConditionReport"),
    "check_conditions": ("wpgd.numerics.core.conditions", "check_conditions"),
    "DegenerateProblemError": ("wpgd.numerics.core.errors", "DegenerateProblemError"),
    "InvalidProblemError": ("wpgd.numerics.core.errors", "InvalidProblemError"),
    "ResourceLimitError": ("wpgd.numerics.core.errors", "ResourceLimitError"),
    "SolverError": ("wpgd.numerics.core.errors", "SolverError"),
    "SpecError": ("wpgd.numerics.core.errors", "SpecError"),
    "WPGDError": ("wpgd.numerics.core.errors", "WPGDError"),
    "solve_highprec": ("wpgd.numerics.exact.highprec", "solve_highprec"),
    "MonteCarloResult": ("wpgd.numerics.core.montecarlo", "MonteCarloResult"),
    "monte_carlo_risk": ("wpgd.numerics.core.montecarlo", "monte_carlo_risk"),
    "wpgd_predict": ("wpgd.numerics.core.predictor", "wpgd_predict"),
    "Problem": ("wpgd.numerics.core.problem", "Problem"),
    "normalized_risk": ("wpgd.numerics.core.risk", "normalized_risk"),
    "risk": ("wpgd.numerics.core.risk", "risk"),
    "Optimum": ("wpgd.numerics.core.solver", "Optimum"),
    "solve": ("wpgd.numerics.core.solver", "solve"),
    "load_spec": ("wpgd.numerics.core.spec", "load_spec"),
    "parse_spec": ("wpgd.numerics.core.spec", "parse_spec"),
    "StationaryPoint": ("wpgd.numerics.core.stationary", "StationaryPoint"),
    "classify_stationary": ("wpgd.numerics.core.stationary", "classify"),
}

__all__ = [
    "AtlasTheory",
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
    "architecture_optimum",
    "atlas_theory",
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


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
