"""Boundary tests of the thresholds nothing else exercises (issue 10): inputs a hair on each side.

* PSD tolerance: written against the documented behaviour ("a matrix with a clearly negative
  eigenvalue is refused, rounding-level negatives are accepted"), robust to the exact constant.
* The solver's residual tolerance: a root found imprecisely must give ``converged=False``.
* The construction's "gate = 1" logit: the documented error n·4e−18.
* Sign handling: ``is_monotone``, negative query correlations in the class optima, Assumption 3.
"""

from dataclasses import replace

import numpy as np
import pytest

from wpgd.numerics.core import solver as solver_module
from wpgd.numerics.core.classes import class_optima, is_monotone
from wpgd.numerics.core.conditions import check_conditions
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.fixedpoint import find_fixed_points
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.solver import RESIDUAL_TOL, solve
from wpgd.proofs_check.random_problems import random_orthogonal, spd_from_spectrum


def _sigma_with_min_eig(scale, rel_min, d=4, seed=0):
    q = random_orthogonal(np.random.default_rng(seed), d)
    lam = scale * np.array([rel_min, 0.3, 0.7, 1.0])
    return spd_from_spectrum(lam, q) if rel_min >= 0 else (q * lam) @ q.T


@pytest.mark.parametrize("scale", [1.0, 1e3])
@pytest.mark.parametrize("rel_min", [-1e-6, -1e-8])
def test_clearly_negative_eigenvalue_is_refused(scale, rel_min):
    sig = _sigma_with_min_eig(scale, rel_min)
    with pytest.raises(InvalidProblemError, match="positive semidefinite"):
        Problem.segmented(sig, [3, 2], [0.3, 0.5])


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_negative_eigenvalue_of_a_millionth_is_refused_at_every_scale(scale):
    with pytest.raises(InvalidProblemError, match="positive semidefinite"):
        Problem.segmented(_sigma_with_min_eig(scale, -1e-6), [3, 2], [0.3, 0.5])


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_rounding_level_negative_eigenvalue_is_accepted(scale):
    pr = Problem.segmented(_sigma_with_min_eig(scale, -1e-17), [3, 2], [0.3, 0.5])
    assert pr.d == 4


def test_task_correlation_psd_boundary():
    bad = np.array([[1.0, 1.0 + 1e-6], [1.0 + 1e-6, 1.0]])  # eigenvalue −1e-6
    with pytest.raises(InvalidProblemError, match="positive semidefinite"):
        Problem.segmented(np.eye(2), [2, 2], [0.1, 0.1], bad)
    ok = np.array([[1.0, 1.0], [1.0, 1.0]])  # exactly singular: allowed
    Problem.segmented(np.eye(2), [2, 2], [0.1, 0.1], ok, query_variance=2.0)


def _imprecise_scan(rel):
    def scan(*args, **kw):
        out = find_fixed_points(*args, **kw)
        return replace(out, roots=tuple(r * (1 + rel) for r in out.roots))

    return scan


@pytest.mark.parametrize("rel, converged", [(1e-6, False), (1e-4, False), (1e-13, True)])
def test_imprecise_root_is_reported_not_converged(monkeypatch, rel, converged):
    """A root off by 1e-6 leaves residuals ≈ 1e-7 ≫ RESIDUAL_TOL: the solve must say converged=False
    (a residual tolerance loosened 1000× would hide it); a root off by 1e-13 is converged."""
    pr = Problem.segmented(np.diag([0.5, 1.0, 2.0]), [4, 6], [0.3, 0.6], noise=0.2)
    monkeypatch.setattr(solver_module, "find_fixed_points", _imprecise_scan(rel))
    opt = solve(pr)
    assert opt.converged is converged, opt.residuals
    assert (max(opt.residuals.values()) < RESIDUAL_TOL) is converged


def test_gate_one_logit_error_is_as_documented():
    """docs/gating.md and wpgd/numerics/nn/construct.py: a gate of 1 is sigmoid(BIG), log g ≈ −4.2e−18, so a
    prompt of n tokens is off by a relative n·4e−18 (below float64 rounding)."""
    from wpgd.numerics.nn.construct import BIG

    log_g = -np.logaddexp(0.0, -BIG)
    assert -4.3e-18 <= log_g <= -4.1e-18


def test_gate_one_long_prompt_matches_wpgd_to_the_documented_error():
    torch = pytest.importorskip("torch")
    from wpgd.numerics.core.predictor import wpgd_predict
    from wpgd.numerics.nn.construct import build_wpgd_model, scalar_segment_group, segment_tokens

    rng = np.random.default_rng(3)
    sizes, d = [1000, 1000], 3
    n = sum(sizes)
    P = rng.standard_normal((d, d))
    w = np.array([0.5, 1.0])
    X, y, x = rng.standard_normal((2, n, d)), rng.standard_normal((2, n)), rng.standard_normal((2, d))
    z, _ = segment_tokens(X, y, x, sizes)
    model = build_wpgd_model(d, z.shape[-1], [[scalar_segment_group(P, w)]], gating="scalar", mode="chunked",
                             dtype=torch.float64)
    out = model.predict(torch.as_tensor(z)).detach().numpy()
    ref = wpgd_predict(X, y, x, P, np.repeat(w, sizes))
    err = np.max(np.abs(out - ref)) / np.max(np.abs(ref))
    assert err <= n * 4.3e-18 + 2e-14, err  # the documented n·4e−18 plus float64 summation rounding


def test_is_monotone_normalises_the_sign():
    assert is_monotone([0.25, 1.0]) and is_monotone([-0.25, -1.0])
    assert not is_monotone([-1.0, -0.25]) and not is_monotone([1.0, 0.25])
    assert not is_monotone([-0.5, 1.0]) and not is_monotone([0.5, -1.0])
    assert is_monotone([0.0, 0.0]) and is_monotone([0.0, -1.0])


@pytest.mark.parametrize("c, reachable", [((-0.2, -0.8), True), ((0.2, 0.8), True), ((-0.8, -0.2), False),
                                          ((0.2, -0.8), False)])
def test_negative_query_correlations(c, reachable):
    """Segments [10, 10]: c = (−0.2, −0.8) gives ω* from −0.25 to −1 (P* absorbs the sign), which
    scalar gating reaches; class optima and Assumption 3 must agree."""
    pr = Problem.segmented(np.eye(5), [10, 10], c, noise=0.1)
    o = class_optima(pr, ("linear", "scalar", "unconstrained"))
    w = np.asarray(o["unconstrained"].details["segment_weights"])
    gap = (o["scalar"].risk - o["unconstrained"].risk) / pr.null_risk
    report = {cond.name: cond for cond in check_conditions(pr).conditions}
    assert report["assumption3"].holds is reachable
    assert is_monotone(w) is reachable
    if reachable:
        assert gap <= 1e-12
        if c[0] < 0:
            np.testing.assert_allclose(w, [-0.25, -1.0], rtol=1e-9)
    else:
        assert gap > 1e-4
    # flipping every sign of c flips ω* and changes no risk
    flipped = class_optima(Problem.segmented(np.eye(5), [10, 10], [-v for v in c], noise=0.1),
                           ("scalar", "unconstrained"))
    for cls in ("scalar", "unconstrained"):
        assert flipped[cls].risk == pytest.approx(o[cls].risk, rel=1e-12)


def test_near_tangent_fixed_points_are_kept_apart():
    """Just below σ² ≈ 1.0843133 (where the saddle and the upper minimum of the three-fixed-point
    family merge) two fixed points are ~4e-4 apart in log γ: the scan must report both, not merge them."""
    from wpgd.proofs_check.optimum_cases import three_fixed_points_problem

    opt = solve(three_fixed_points_problem(1.0843133249353096 - 1e-8))
    gaps = np.diff(np.log(opt.fixed_points))
    assert len(opt.fixed_points) == 3, opt.fixed_points
    assert 1e-5 < gaps.min() < 1e-3


def test_scalar_class_weights_are_normalised_to_plus_one_at_the_query():
    """The monotone cone's weights are scaled so the weight nearest the query is +1 (documented in
    wpgd.numerics.core.weighting), also when ω* itself is negative (c < 0): P carries the sign."""
    pr = Problem.segmented(np.eye(5), [10, 10], [-0.2, -0.8], noise=0.1)
    o = class_optima(pr, ("scalar",))["scalar"]
    np.testing.assert_allclose(o.details["segment_weights"], [0.25, 1.0], rtol=1e-6)


def test_scalar_construction_realises_negative_weights():
    """ω* from −0.25 to −1 (c = (−0.2, −0.8)): scalar gates realise it, the sign carried by Q = w_K·P."""
    torch = pytest.importorskip("torch")
    from wpgd.numerics.core.predictor import wpgd_predict
    from wpgd.numerics.nn.construct import build_wpgd_model, scalar_segment_group, segment_tokens

    rng = np.random.default_rng(5)
    P, w = rng.standard_normal((3, 3)), np.array([-0.25, -1.0])
    X, y, x = rng.standard_normal((4, 20, 3)), rng.standard_normal((4, 20)), rng.standard_normal((4, 3))
    z, _ = segment_tokens(X, y, x, [10, 10])
    model = build_wpgd_model(3, z.shape[-1], [[scalar_segment_group(P, w)]], gating="scalar", dtype=torch.float64)
    out = model.predict(torch.as_tensor(z)).detach().numpy()
    ref = wpgd_predict(X, y, x, P, np.repeat(w, 10))
    assert np.max(np.abs(out - ref)) <= 1e-13 * max(1.0, np.max(np.abs(ref)))
