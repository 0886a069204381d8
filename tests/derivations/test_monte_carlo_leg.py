"""The Monte Carlo leg: it agrees with the exact leg on the project's variants, and it catches
a data-model mistake that the exact leg cannot see (negative control)."""

import runpy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from wpgd.proofs_check.derivations import (
    Derivation,
    PromptModel,
    check_derivation,
    skew_corrected_z,
    wpgd_predictor,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "derivations"


@dataclass(frozen=True)
class RandomOffsetSampler(PromptModel):
    """A modelling mistake: the symbolic model has a constant label mean μ, but the sampler
    draws a fresh offset μ + N(0, 1) per prompt (shared by all its tokens)."""

    def sample_labels(self, ns, inner, rng):
        y = super().sample_labels(ns, inner, rng)
        return y + rng.standard_normal((inner.shape[0], 1))


@pytest.mark.parametrize("name", ["label_bias", "segment_noise"])
def test_variant_examples_hold_in_all_three_legs(name):
    ns = runpy.run_path(str(EXAMPLES / f"{name}.py"))
    report = check_derivation(ns["model"], ns["predictor"], ns["claimed_risk"], sizes=[(1, ns["model"].min_n() + 1)],
                              mc=20_000, mc_instances=2)
    assert report.holds, report.summary()
    assert len(report.monte_carlo) == 2
    assert all(abs(m.z_claimed) <= report.z_bound for m in report.monte_carlo)


def test_negative_control_sampler_mismatch_is_caught_only_by_monte_carlo():
    ns = runpy.run_path(str(EXAMPLES / "label_bias.py"))
    model = RandomOffsetSampler(label_mean=True)
    # 200 000 samples: the label offset's effect is ~2.9 standard errors at 20 000 samples on the
    # weaker of the two drawn instances (below the 3.48 bound), ~13 at 200 000
    report = check_derivation(model, ns["predictor"], ns["claimed_risk"], sizes=[(1, 1)], mc=200_000, mc_instances=2)
    assert report.sizes[0].exact is True  # the exact leg sees only the symbolic model: identity
    assert not report.holds, report.summary()
    assert any("modelling mistake" in r for r in report.reasons)
    assert all(abs(m.z_derived) > report.z_bound for m in report.monte_carlo)
    # The same file against the faithful model passes (the control is the sampler, nothing else).
    ok = check_derivation(PromptModel(label_mean=True), ns["predictor"], ns["claimed_risk"], sizes=[(1, 1)],
                          mc=20_000, mc_instances=2)
    assert ok.holds, ok.summary()


def test_monte_carlo_is_independent_of_the_engine_for_the_base_model():
    from wpgd.numerics import Problem, risk

    deriv = Derivation(PromptModel(), wpgd_predictor(), lambda p: 0)
    rng = np.random.default_rng(3)
    A = rng.normal(size=(2, 2))
    G = rng.normal(size=(3, 4))
    values = {"Sigma": A @ A.T + 0.5 * np.eye(2), "Rbar": G @ G.T / 4, "sigma2": 0.3,
              "P": rng.normal(size=(2, 2)) / 3, "omega": rng.uniform(0.5, 1.5, (2, 1))}
    from wpgd.proofs_check.derivations import Instance

    inst = Instance(2, 2, values)
    mean, se, mu3 = deriv.monte_carlo(inst, 200_000, seed=11)
    closed = risk(Problem.dense(values["Sigma"], values["Rbar"], 0.3), values["P"], values["omega"].ravel())
    assert abs(skew_corrected_z(mean, se, mu3, 200_000, closed)) < 4.5
    assert deriv.derived_value(inst) == pytest.approx(closed, rel=1e-10)


def test_skew_correction_is_monotone_and_reduces_to_z_without_skew():
    zs = [skew_corrected_z(m, 1.0, 50.0, 100, 0.0) for m in np.linspace(-20, 20, 81)]
    assert np.all(np.diff(zs) > 0)
    assert skew_corrected_z(2.0, 0.5, 0.0, 100, 1.0) == pytest.approx(2.0)


def test_custom_two_step_predictor_engine_agrees_with_monte_carlo():
    from wpgd.proofs_check.derivations import Predictor, derive_risk, hadamard

    def two_step(t, p):  # a WPGD step from 0, then a second step on the residuals
        beta1 = p.P @ t.X.T @ hadamard(p.omega, t.y)
        beta2 = beta1 + p.Q @ t.X.T @ hadamard(p.omega, t.y - t.X @ beta1)
        return (t.x.T @ beta2)[0, 0]

    pred = Predictor(two_step, {"P": ("d", "d"), "Q": ("d", "d"), "omega": ("n",)}, "two WPGD steps")
    L, ns = derive_risk(PromptModel(), pred, 1, 2)
    assert L.has(ns["Q"][0, 0])
    report = check_derivation(PromptModel(), pred, L, sizes=[(1, 2)], mc=20_000, mc_instances=2)
    assert report.holds and len(report.monte_carlo) == 2, report.summary()
    # and a one-step claim for the two-step predictor is refuted
    one_step, _ = derive_risk(PromptModel(), wpgd_predictor(), 1, 2)
    assert not check_derivation(PromptModel(), pred, one_step, sizes=[(1, 2)], mc=0).holds
