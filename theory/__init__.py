"""Theory: SymPy derivations (Gaussian moments, population risk, gradient, stationarity).

Everything here is derived mechanically, never typed in: the Wick/Isserlis engine
(:mod:`theory.gaussian`; its user-facing front end for Gaussian vectors and matrices with
symbolic covariances is :mod:`theory.expectation`, documented in docs/derivations.md),
tensor-network contraction to traces (:mod:`theory.contraction`), the WPGD population risk at explicit sizes (:mod:`theory.explicit`) and in trace form
(:mod:`theory.risk`), its matrix-calculus gradient (:mod:`theory.gradient`), the secular-like
functions (:mod:`theory.secular`) and the stationary points and optimal scale
(:mod:`theory.stationarity`). Compiled NumPy callables come from ``sympy.lambdify``
(:mod:`theory.codegen`). This package imports nothing from ``numerics`` or ``proofs_check``.

Public names load on first use (PEP 562): ``import theory`` costs nothing until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and readers (resolved lazily below)
    from theory.codegen import (
        TracePrinter as TracePrinter,
        lambdify_trace as lambdify_trace,
        split_rbar as split_rbar,
    )
    from theory.contraction import (
        ContractionSpec as ContractionSpec,
        JointTokenMatrix as JointTokenMatrix,
        canonical_trace as canonical_trace,
        canonicalize_traces as canonicalize_traces,
        contract as contract,
        contract_sum as contract_sum,
    )
    from theory.expectation import (
        JointGaussian as JointGaussian,
        square_terms as square_terms,
        symmetric_matrix as symmetric_matrix,
        trace_expectation as trace_expectation,
    )
    from theory.explicit import (
        ExplicitSymbols as ExplicitSymbols,
        explicit_risk as explicit_risk,
        explicit_symbols as explicit_symbols,
    )
    from theory.gaussian import (
        Field as Field,
        GaussianMoments as GaussianMoments,
        IndexTerm as IndexTerm,
        Tensor as Tensor,
        gaussian_expectation as gaussian_expectation,
        perfect_matchings as perfect_matchings,
        wick_expectation as wick_expectation,
    )
    from theory.gradient import (
        check_gradient as check_gradient,
        compiled_risk_gradient as compiled_risk_gradient,
        gradient_at as gradient_at,
        gradient_minus_explicit as gradient_minus_explicit,
        matrix_derivative as matrix_derivative,
        risk_gradient as risk_gradient,
    )
    from theory.risk import (
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
    from theory.secular import (
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
    from theory.stationarity import (
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

# public name -> (module, attribute in it)
_LAZY: dict[str, tuple[str, str]] = {
    "TracePrinter": ("theory.codegen", "TracePrinter"),
    "lambdify_trace": ("theory.codegen", "lambdify_trace"),
    "split_rbar": ("theory.codegen", "split_rbar"),
    "ContractionSpec": ("theory.contraction", "ContractionSpec"),
    "JointTokenMatrix": ("theory.contraction", "JointTokenMatrix"),
    "canonical_trace": ("theory.contraction", "canonical_trace"),
    "canonicalize_traces": ("theory.contraction", "canonicalize_traces"),
    "contract": ("theory.contraction", "contract"),
    "contract_sum": ("theory.contraction", "contract_sum"),
    "JointGaussian": ("theory.expectation", "JointGaussian"),
    "square_terms": ("theory.expectation", "square_terms"),
    "symmetric_matrix": ("theory.expectation", "symmetric_matrix"),
    "trace_expectation": ("theory.expectation", "trace_expectation"),
    "ExplicitSymbols": ("theory.explicit", "ExplicitSymbols"),
    "explicit_risk": ("theory.explicit", "explicit_risk"),
    "explicit_symbols": ("theory.explicit", "explicit_symbols"),
    "Field": ("theory.gaussian", "Field"),
    "GaussianMoments": ("theory.gaussian", "GaussianMoments"),
    "IndexTerm": ("theory.gaussian", "IndexTerm"),
    "Tensor": ("theory.gaussian", "Tensor"),
    "gaussian_expectation": ("theory.gaussian", "gaussian_expectation"),
    "perfect_matchings": ("theory.gaussian", "perfect_matchings"),
    "wick_expectation": ("theory.gaussian", "wick_expectation"),
    "check_gradient": ("theory.gradient", "check_gradient"),
    "compiled_risk_gradient": ("theory.gradient", "compiled_risk_gradient"),
    "gradient_at": ("theory.gradient", "gradient_at"),
    "gradient_minus_explicit": ("theory.gradient", "gradient_minus_explicit"),
    "matrix_derivative": ("theory.gradient", "matrix_derivative"),
    "risk_gradient": ("theory.gradient", "risk_gradient"),
    "TraceSymbols": ("theory.risk", "TraceSymbols"),
    "check_explicit_equals_trace": ("theory.risk", "check_explicit_equals_trace"),
    "compile_trace_risk": ("theory.risk", "compile_trace_risk"),
    "explicit_minus_trace": ("theory.risk", "explicit_minus_trace"),
    "explicit_substitution": ("theory.risk", "explicit_substitution"),
    "predictor_index_terms": ("theory.risk", "predictor_index_terms"),
    "trace_form_at": ("theory.risk", "trace_form_at"),
    "trace_form_risk": ("theory.risk", "trace_form_risk"),
    "trace_symbols": ("theory.risk", "trace_symbols"),
    "compiled_composition": ("theory.secular", "compiled_composition"),
    "compiled_elasticity": ("theory.secular", "compiled_elasticity"),
    "compiled_phi": ("theory.secular", "compiled_phi"),
    "compiled_phi_derivative": ("theory.secular", "compiled_phi_derivative"),
    "composition_elasticity_identity": ("theory.secular", "composition_elasticity_identity"),
    "composition_expressions": ("theory.secular", "composition_expressions"),
    "phi_derivative_certificate": ("theory.secular", "phi_derivative_certificate"),
    "phi_explicit": ("theory.secular", "phi_explicit"),
    "phi_expressions": ("theory.secular", "phi_expressions"),
    "compiled_optimal_scale": ("theory.stationarity", "compiled_optimal_scale"),
    "compiled_stationary_maps": ("theory.stationarity", "compiled_stationary_maps"),
    "isotropic_reduction": ("theory.stationarity", "isotropic_reduction"),
    "optimal_scale": ("theory.stationarity", "optimal_scale"),
    "r_reduction_difference": ("theory.stationarity", "r_reduction_difference"),
    "risk_structure": ("theory.stationarity", "risk_structure"),
    "sigma_reduction_difference": ("theory.stationarity", "sigma_reduction_difference"),
    "stationary_omega": ("theory.stationarity", "stationary_omega"),
    "stationary_P": ("theory.stationarity", "stationary_P"),
}

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
