"""The optimum checks registered in ``wpgd verify`` run and pass in quick mode."""

import pytest

from wpgd.proofs_check.runner import registered_checks

NAMES = [
    "optimum.theorem2_stationary_set",
    "optimum.theorem3_global_minimum",
    "optimum.structured_vs_dense",
    "optimum.gap_condition",
    "optimum.highprec_vs_float64",
    pytest.param("optimum.uniqueness_stress", marks=pytest.mark.slow),
    pytest.param("optimum.solver_diagnostics", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name", NAMES)
def test_check_passes_quick(name):
    checks = {c.name: c for c in registered_checks()}
    assert checks[name].group == "optimum"
    ev = checks[name].func(True)
    assert ev.passed and not ev.skipped, ev.evidence
