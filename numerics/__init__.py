"""Numerics: validated problems, closed-form risk, Monte Carlo, solvers (NumPy/SciPy/mpmath/torch)."""

from .api import (
    RiskReport as RiskReport,
    SolveReport as SolveReport,
    conditions_report as conditions_report,
    risk_report as risk_report,
    solve_problem as solve_problem,
)
from .classes import (
    ClassComparison as ClassComparison,
    ClassOptimum as ClassOptimum,
    class_optima as class_optima,
    class_optimum as class_optimum,
    compare_classes as compare_classes,
)
from .errors import (
    DegenerateProblemError as DegenerateProblemError,
    InvalidProblemError as InvalidProblemError,
    ResourceLimitError as ResourceLimitError,
    SolverError as SolverError,
    SpecError as SpecError,
    WPGDError as WPGDError,
)
from .certificate import Certificate as Certificate, certify as certify
from .conditions import ConditionReport as ConditionReport, check_conditions as check_conditions
from .curve import Curve as Curve, theory_curve as theory_curve
from .highprec import solve_highprec as solve_highprec
from .montecarlo import MonteCarloResult as MonteCarloResult, monte_carlo_risk as monte_carlo_risk
from .predictor import wpgd_predict as wpgd_predict
from .problem import Problem as Problem
from .risk import normalized_risk as normalized_risk, risk as risk
from .solver import Optimum as Optimum, solve as solve
from .spec import load_spec as load_spec, parse_spec as parse_spec
from .stationary import StationaryPoint as StationaryPoint, classify as classify_stationary

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
