"""Theory: SymPy derivations (Gaussian moments, population risk, stationarity).

Everything here is derived mechanically, never typed in: the Wick/Isserlis engine
(:mod:`theory.gaussian`), tensor-network contraction to traces (:mod:`theory.contraction`),
the WPGD population risk in explicit and trace form (:mod:`theory.risk`). This package
imports nothing from ``numerics`` or ``proofs_check``.
"""

from .contraction import (
    ContractionSpec as ContractionSpec,
    JointTokenMatrix as JointTokenMatrix,
    contract as contract,
    contract_sum as contract_sum,
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
from .gla_symbolic import (
    SymbolicProof as SymbolicProof,
    multilayer_equivalence as multilayer_equivalence,
    theorem1_key_gating as theorem1_key_gating,
    theorem1_scalar as theorem1_scalar,
    theorem1_value_gating as theorem1_value_gating,
)
from .risk import (
    ExplicitSymbols as ExplicitSymbols,
    TracePrinter as TracePrinter,
    TraceSymbols as TraceSymbols,
    check_explicit_equals_trace as check_explicit_equals_trace,
    compile_trace_risk as compile_trace_risk,
    explicit_minus_trace as explicit_minus_trace,
    explicit_risk as explicit_risk,
    explicit_symbols as explicit_symbols,
    lambdify_trace as lambdify_trace,
    predictor_index_terms as predictor_index_terms,
    split_rbar as split_rbar,
    trace_form_at as trace_form_at,
    trace_form_risk as trace_form_risk,
    trace_symbols as trace_symbols,
)

__all__ = [
    "ContractionSpec",
    "ExplicitSymbols",
    "Field",
    "GaussianMoments",
    "IndexTerm",
    "JointTokenMatrix",
    "SymbolicProof",
    "Tensor",
    "TracePrinter",
    "TraceSymbols",
    "check_explicit_equals_trace",
    "compile_trace_risk",
    "contract",
    "contract_sum",
    "explicit_minus_trace",
    "explicit_risk",
    "explicit_symbols",
    "gaussian_expectation",
    "lambdify_trace",
    "multilayer_equivalence",
    "perfect_matchings",
    "predictor_index_terms",
    "split_rbar",
    "theorem1_key_gating",
    "theorem1_scalar",
    "theorem1_value_gating",
    "trace_form_at",
    "trace_form_risk",
    "trace_symbols",
    "wick_expectation",
]
