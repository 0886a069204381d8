"""train_architecture: small one-layer runs land on their class optimum (stated tolerances), a
deliberately short run reports not converged, and the result follows the result conventions."""

import json

import numpy as np
import pytest

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.nn.arch import arch_train_config, train_architecture

PROBLEM = Problem.segmented(np.eye(2), [4, 4], query_correlation=[0.2, 0.8], noise=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("name,steps", [("mamba2", 600), ("gla", 1000)])
def test_small_runs_land_on_the_class_optimum(name, steps):
    # mamba2: scalar class (ω ≥ 0 non-decreasing); gla: vector class at key width 2d. Measured
    # gaps +0.75% and +1.31% with CIs ±0.7%; the tolerance is 3% above the optimum, and a run may
    # not land more than 3% *below* it either (that would be a predictor outside the class).
    res = train_architecture(PROBLEM, name, steps=steps, eval_prompts=8192)
    assert res.status == "converged", res.message
    assert -0.03 <= res.gap <= 0.03
    assert res.ci_low <= res.normalized_risk <= res.ci_high
    assert res.normalized_risk < res.linear_normalized_risk  # gating helps on this prompt (0.680 vs 0.635)


def test_a_short_run_reports_not_converged():
    res = train_architecture(PROBLEM, "mamba2", steps=30, eval_prompts=4096)
    assert res.status == "not_converged" and not res.converged
    assert res.gap > 0.03 and "tolerance 3%" in res.message
    out = json.loads(res.to_json())
    assert out["status"] == "not_converged" and out["steps"] == 30 and "budget" in out["budget_note"]


def test_models_without_a_wpgd_form_have_no_reference():
    res = train_architecture(PROBLEM, "deltanet", steps=40, eval_prompts=4096)
    assert res.theory_normalized_risk is None and res.gap is None
    assert res.status in ("trained", "plateau") and "no WPGD form" in res.message


def test_budget_and_bad_input():
    cfg = arch_train_config(PROBLEM, "gla")
    # data-dependent gates get the ×5 budget, RetNet's fixed decays the plain one
    assert cfg.steps == arch_train_config(PROBLEM, "mamba2").steps > arch_train_config(PROBLEM, "retnet").steps
    assert "vector gating" in cfg.steps_rule and "vector gating" not in arch_train_config(PROBLEM, "retnet").steps_rule
    assert cfg.prompt_format.delimiter == "boundary"
    with pytest.raises(InvalidProblemError, match="architecture must be one of"):
        train_architecture(PROBLEM, "lstm", steps=5)
    with pytest.raises(InvalidProblemError, match="context"):
        arch_train_config(PROBLEM, "gla", context="position")
