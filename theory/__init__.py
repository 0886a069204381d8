"""Theory: SymPy derivations (Gaussian moments, population risk, gradient, stationarity).

Everything here is derived mechanically, never typed in: the Wick/Isserlis engine
(:mod:`theory.gaussian`; its user-facing front end for Gaussian vectors and matrices with
symbolic covariances is :mod:`theory.expectation`, documented in docs/derivations.md),
tensor-network contraction to traces (:mod:`theory.contraction`), the WPGD population risk at explicit sizes (:mod:`theory.explicit`) and in trace form
(:mod:`theory.risk`), its matrix-calculus gradient (:mod:`theory.gradient`), the secular-like
functions (:mod:`theory.secular`) and the stationary points and optimal scale
(:mod:`theory.stationarity`). Compiled NumPy callables come from ``sympy.lambdify``
(:mod:`theory.codegen`). This package imports nothing from ``numerics`` or ``proofs_check``.
"""

from .codegen import (
    TracePrinter as TracePrinter,
    lambdify_trace as lambdify_trace,
    split_rbar as split_rbar,
)
from .contraction import (
    ContractionSpec as ContractionSpec,
    JointTokenMatrix as JointTokenMatrix,
    canonical_trace as canonical_trace,
    canonicalize_traces as canonicalize_traces,
    contract as contract,
    contract_sum as contract_sum,
)
from .expectation import (
    JointGaussian as JointGaussian,
    square_terms as square_terms,
    symmetric_matrix as symmetric_matrix,
    trace_expectation as trace_expectation,
)
from .explicit import (
    ExplicitSymbols as ExplicitSymbols,
    explicit_risk as explicit_risk,
    explicit_symbols as explicit_symbols,
)
from .gaussian import (
    Field as Field,
    GaussianMoments as GaussianMoments,
    IndexTerm as IndexTerm,
    Tensor as Tensor,
    gaussian_expectation as gaussian_expectation,
    perfect_matchings as perfect_matchings,
    wick_expectation as wick_expectation,
)
from .gradient import (
    check_gradient as check_gradient,
    compiled_risk_gradient as compiled_risk_gradient,
    gradient_at as gradient_at,
    gradient_minus_explicit as gradient_minus_explicit,
    matrix_derivative as matrix_derivative,
    risk_gradient as risk_gradient,
)
from .risk import (
    TraceSymbols as TraceSymbols,
    check_explicit_equals_trace as check_explicit_equals_trace,
    compile_trace_risk as compile_trace_risk,
    explicit_minus_trace as explicit_minus_trace,
    explicit_substitution as explicit_substitution,
    predictor_index_terms as predictor_index_terms,
    trace_form_at as trace_form_at,
    trace_form_risk as trace_form_risk,
    trace_symbols as trace_symbols,
)
from .secular import (
    compiled_composition as compiled_composition,
    compiled_elasticity as compiled_elasticity,
    compiled_phi as compiled_phi,
    compiled_phi_derivative as compiled_phi_derivative,
    composition_elasticity_identity as composition_elasticity_identity,
    composition_expressions as composition_expressions,
    phi_derivative_certificate as phi_derivative_certificate,
    phi_explicit as phi_explicit,
    phi_expressions as phi_expressions,
)
from .stationarity import (
    compiled_optimal_scale as compiled_optimal_scale,
    compiled_stationary_maps as compiled_stationary_maps,
    isotropic_reduction as isotropic_reduction,
    optimal_scale as optimal_scale,
    r_reduction_difference as r_reduction_difference,
    risk_structure as risk_structure,
    sigma_reduction_difference as sigma_reduction_difference,
    stationary_omega as stationary_omega,
    stationary_P as stationary_P,
)

__all__ = [
    "ContractionSpec",
    "ExplicitSymbols",
    "Field",
    "GaussianMoments",
    "IndexTerm",
    "JointGaussian",
    "JointTokenMatrix",
    "Tensor",
    "TracePrinter",
    "TraceSymbols",
    "canonical_trace",
    "canonicalize_traces",
    "check_explicit_equals_trace",
    "check_gradient",
    "compile_trace_risk",
    "compiled_composition",
    "compiled_elasticity",
    "compiled_optimal_scale",
    "compiled_phi",
    "compiled_phi_derivative",
    "compiled_risk_gradient",
    "compiled_stationary_maps",
    "composition_elasticity_identity",
    "composition_expressions",
    "contract",
    "contract_sum",
    "explicit_minus_trace",
    "explicit_risk",
    "explicit_substitution",
    "explicit_symbols",
    "gaussian_expectation",
    "gradient_at",
    "gradient_minus_explicit",
    "isotropic_reduction",
    "lambdify_trace",
    "matrix_derivative",
    "optimal_scale",
    "perfect_matchings",
    "phi_derivative_certificate",
    "phi_explicit",
    "phi_expressions",
    "predictor_index_terms",
    "r_reduction_difference",
    "risk_gradient",
    "risk_structure",
    "sigma_reduction_difference",
    "split_rbar",
    "square_terms",
    "stationary_P",
    "stationary_omega",
    "symmetric_matrix",
    "trace_expectation",
    "trace_form_at",
    "trace_form_risk",
    "trace_symbols",
    "wick_expectation",
]
