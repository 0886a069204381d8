"""Theory: SymPy derivations (Gaussian moments, population risk, gradient, stationarity).

Everything here is derived mechanically, never typed in: the Wick/Isserlis engine
(:mod:`wpgd.theory.gaussian`; its user-facing front end for Gaussian vectors and matrices with
symbolic covariances is :mod:`wpgd.theory.expectation`, documented in docs/derivations.md),
tensor-network contraction to traces (:mod:`wpgd.theory.contraction`), the WPGD population risk at explicit sizes (:mod:`wpgd.theory.explicit`) and in trace form
(:mod:`wpgd.theory.risk`), its matrix-calculus gradient (:mod:`wpgd.theory.gradient`), the secular-like
functions (:mod:`wpgd.theory.secular`) and the stationary points and optimal scale
(:mod:`wpgd.theory.stationarity`). Compiled NumPy callables come from ``sympy.lambdify``
(:mod:`wpgd.theory.codegen`). This package imports nothing from ``numerics`` or ``proofs_check``.

Public names load on first use (PEP 562): ``import wpgd.theory as theory`` costs nothing until a name is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wpgd._lazy import lazy_names

if TYPE_CHECKING:  # the same names, for type checkers and readers (resolved lazily below)
    from wpgd.theory.codegen import (
        TracePrinter as TracePrinter,
        lambdify_trace as lambdify_trace,
        split_rbar as split_rbar,
    )
    from wpgd.theory.contraction import (
        ContractionSpec as ContractionSpec,
        JointTokenMatrix as JointTokenMatrix,
        canonical_trace as canonical_trace,
        canonicalize_traces as canonicalize_traces,
        contract as contract,
        contract_sum as contract_sum,
    )
    from wpgd.theory.expectation import (
        JointGaussian as JointGaussian,
        square_terms as square_terms,
        symmetric_matrix as symmetric_matrix,
        trace_expectation as trace_expectation,
    )
    from wpgd.theory.explicit import (
        ExplicitSymbols as ExplicitSymbols,
        explicit_risk as explicit_risk,
        explicit_symbols as explicit_symbols,
    )
    from wpgd.theory.gaussian import (
        Field as Field,
        GaussianMoments as GaussianMoments,
        IndexTerm as IndexTerm,
        Tensor as Tensor,
        gaussian_expectation as gaussian_expectation,
        perfect_matchings as perfect_matchings,
        wick_expectation as wick_expectation,
    )
    from wpgd.theory.gradient import (
        check_gradient as check_gradient,
        compiled_risk_gradient as compiled_risk_gradient,
        gradient_at as gradient_at,
        gradient_minus_explicit as gradient_minus_explicit,
        matrix_derivative as matrix_derivative,
        risk_gradient as risk_gradient,
    )
    from wpgd.theory.risk import (
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
    from wpgd.theory.secular import (
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
    from wpgd.theory.stationarity import (
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
    "TracePrinter": ("wpgd.theory.codegen", "TracePrinter"),
    "lambdify_trace": ("wpgd.theory.codegen", "lambdify_trace"),
    "split_rbar": ("wpgd.theory.codegen", "split_rbar"),
    "ContractionSpec": ("wpgd.theory.contraction", "ContractionSpec"),
    "JointTokenMatrix": ("wpgd.theory.contraction", "JointTokenMatrix"),
    "canonical_trace": ("wpgd.theory.contraction", "canonical_trace"),
    "canonicalize_traces": ("wpgd.theory.contraction", "canonicalize_traces"),
    "contract": ("wpgd.theory.contraction", "contract"),
    "contract_sum": ("wpgd.theory.contraction", "contract_sum"),
    "JointGaussian": ("wpgd.theory.expectation", "JointGaussian"),
    "square_terms": ("wpgd.theory.expectation", "square_terms"),
    "symmetric_matrix": ("wpgd.theory.expectation", "symmetric_matrix"),
    "trace_expectation": ("wpgd.theory.expectation", "trace_expectation"),
    "ExplicitSymbols": ("wpgd.theory.explicit", "ExplicitSymbols"),
    "explicit_risk": ("wpgd.theory.explicit", "explicit_risk"),
    "explicit_symbols": ("wpgd.theory.explicit", "explicit_symbols"),
    "Field": ("wpgd.theory.gaussian", "Field"),
    "GaussianMoments": ("wpgd.theory.gaussian", "GaussianMoments"),
    "IndexTerm": ("wpgd.theory.gaussian", "IndexTerm"),
    "Tensor": ("wpgd.theory.gaussian", "Tensor"),
    "gaussian_expectation": ("wpgd.theory.gaussian", "gaussian_expectation"),
    "perfect_matchings": ("wpgd.theory.gaussian", "perfect_matchings"),
    "wick_expectation": ("wpgd.theory.gaussian", "wick_expectation"),
    "check_gradient": ("wpgd.theory.gradient", "check_gradient"),
    "compiled_risk_gradient": ("wpgd.theory.gradient", "compiled_risk_gradient"),
    "gradient_at": ("wpgd.theory.gradient", "gradient_at"),
    "gradient_minus_explicit": ("wpgd.theory.gradient", "gradient_minus_explicit"),
    "matrix_derivative": ("wpgd.theory.gradient", "matrix_derivative"),
    "risk_gradient": ("wpgd.theory.gradient", "risk_gradient"),
    "TraceSymbols": ("wpgd.theory.risk", "TraceSymbols"),
    "check_explicit_equals_trace": ("wpgd.theory.risk", "check_explicit_equals_trace"),
    "compile_trace_risk": ("wpgd.theory.risk", "compile_trace_risk"),
    "explicit_minus_trace": ("wpgd.theory.risk", "explicit_minus_trace"),
    "explicit_substitution": ("wpgd.theory.risk", "explicit_substitution"),
    "predictor_index_terms": ("wpgd.theory.risk", "predictor_index_terms"),
    "trace_form_at": ("wpgd.theory.risk", "trace_form_at"),
    "trace_form_risk": ("wpgd.theory.risk", "trace_form_risk"),
    "trace_symbols": ("wpgd.theory.risk", "trace_symbols"),
    "compiled_composition": ("wpgd.theory.secular", "compiled_composition"),
    "compiled_elasticity": ("wpgd.theory.secular", "compiled_elasticity"),
    "compiled_phi": ("wpgd.theory.secular", "compiled_phi"),
    "compiled_phi_derivative": ("wpgd.theory.secular", "compiled_phi_derivative"),
    "composition_elasticity_identity": ("wpgd.theory.secular", "composition_elasticity_identity"),
    "composition_expressions": ("wpgd.theory.secular", "composition_expressions"),
    "phi_derivative_certificate": ("wpgd.theory.secular", "phi_derivative_certificate"),
    "phi_explicit": ("wpgd.theory.secular", "phi_explicit"),
    "phi_expressions": ("wpgd.theory.secular", "phi_expressions"),
    "compiled_optimal_scale": ("wpgd.theory.stationarity", "compiled_optimal_scale"),
    "compiled_stationary_maps": ("wpgd.theory.stationarity", "compiled_stationary_maps"),
    "isotropic_reduction": ("wpgd.theory.stationarity", "isotropic_reduction"),
    "optimal_scale": ("wpgd.theory.stationarity", "optimal_scale"),
    "r_reduction_difference": ("wpgd.theory.stationarity", "r_reduction_difference"),
    "risk_structure": ("wpgd.theory.stationarity", "risk_structure"),
    "sigma_reduction_difference": ("wpgd.theory.stationarity", "sigma_reduction_difference"),
    "stationary_omega": ("wpgd.theory.stationarity", "stationary_omega"),
    "stationary_P": ("wpgd.theory.stationarity", "stationary_P"),
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


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
