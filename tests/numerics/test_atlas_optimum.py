"""The architecture atlas optima (wpgd.numerics.core.atlas) against an independent brute force over
each architecture's own gate parameters, the orderings that must hold, and the errors."""

import numpy as np
import pytest
from scipy.optimize import minimize

from wpgd.numerics.core.atlas import architecture_optimum, atlas_theory
from wpgd.numerics.core.atlas_bruteforce import brute_force_optimum
from wpgd.numerics.core.atlas_params import RETNET_DECAY, token_layout, weights_from_parameters
from wpgd.numerics.core.classes import class_optimum
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.vocabulary import ARCHITECTURE_NAMES, ATLAS_CONTEXTS, WPGD_ARCHITECTURES
from wpgd.numerics.core.weighting import best_for_weights, cone_optimum

BEAT_TOL = 1e-9  # relative: the brute force may not go below the class optimum by more
REACH_TOL = 1e-5  # relative: the brute force must come this close (the optimum is a closure)


def _joint(size, seed):
    """A random correlation matrix (unit diagonal, mixed signs), shape (size, size)."""
    f = np.random.default_rng(seed).normal(size=(size, size))
    c = f @ f.T
    return c / np.sqrt(np.outer(np.diag(c), np.diag(c)))


def _small(query_correlation=(0.8, -0.3, 0.5)):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 2))
    return Problem.segmented(a @ a.T + 0.5 * np.eye(2), [2, 3, 2], list(query_correlation), noise=0.2)


@pytest.mark.slow
@pytest.mark.parametrize("context", ATLAS_CONTEXTS)
@pytest.mark.parametrize("name", WPGD_ARCHITECTURES)
def test_brute_force_over_the_architecture_parameters_meets_the_optimum(name, context):
    pr = _small()
    opt = architecture_optimum(pr, name, context=context).normalized_risk
    brute = brute_force_optimum(pr, name, context=context, starts=4, samples=1000).normalized_risk
    assert brute >= opt * (1 - BEAT_TOL), (name, context, brute, opt)
    assert brute <= opt * (1 + REACH_TOL), (name, context, brute, opt)


def test_negative_control_a_too_small_class_is_beaten():
    # claiming mamba2 with segment one-hot realises only the scalar class: its own parameters beat it
    pr = _small()
    too_small = class_optimum(pr, "scalar").normalized_risk
    brute = brute_force_optimum(pr, "mamba2", context="onehot", starts=3).normalized_risk
    assert brute < too_small - 0.05


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mamba2", "gla"])
def test_dense_prompts_brute_force(name):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 2))
    pr = Problem.dense(a @ a.T + 0.3 * np.eye(2), _joint(6, 5), noise=0.1)
    opt = architecture_optimum(pr, name)
    brute = brute_force_optimum(pr, name, starts=4).normalized_risk
    assert brute >= opt.normalized_risk * (1 - 1e-7)
    assert brute <= opt.normalized_risk * (1 + 1e-4)
    assert opt.details["realised_class"] == ("geometric" if name == "mamba2" else "geometric-groups")


def test_retnet_weights_count_the_delimiters():
    pr = Problem.segmented(np.eye(2), [2, 3], [0.5, 0.5], noise=0.1)
    w = weights_from_parameters("retnet", token_layout(pr), np.zeros(0))
    # tokens: d d | δ | d d d | query: exponents 6, 5, (δ), 3, 2, 1
    assert np.allclose(w / w[-1], RETNET_DECAY ** np.array([5.0, 4.0, 2.0, 1.0, 0.0]), rtol=1e-14)
    opt = architecture_optimum(pr, "retnet")
    assert opt.details["closure"] is False and opt.risk == pytest.approx(best_for_weights(pr, w).risk, rel=1e-12)


def test_nonneg_cone_against_brute_force_on_a_dense_problem():
    pr = Problem.dense(np.diag([1.0, 0.4]), _joint(5, 2), noise=0.2)
    fixed, omega, _, _ = cone_optimum(pr, "nonneg")
    assert np.all(omega >= 0) or np.all(omega <= 0)
    best = min(minimize(lambda t: best_for_weights(pr, t**2).risk, x0, method="Nelder-Mead",
                        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000}).fun
               for x0 in np.random.default_rng(0).normal(size=(8, 4)))
    assert fixed.risk <= best * (1 + 1e-9)
    assert fixed.risk >= best * (1 - 1e-6)
    free = cone_optimum(pr, "free")[0].risk
    assert free < fixed.risk - 1e-3  # the sign pattern of R̄ makes the orthant a real restriction


@pytest.mark.parametrize("qc", [(0.8, -0.3, 0.5), (0.2, 0.3, 0.9), (0.9, 0.4, 0.1)])
def test_orderings(qc):
    pr = _small(qc)
    rows = {ctx: atlas_theory(pr, context=ctx).rows for ctx in ATLAS_CONTEXTS}
    tol = 1e-10
    for ctx, r in rows.items():
        lin, unc = r["linear"].normalized_risk, r["unconstrained"].normalized_risk
        for name in WPGD_ARCHITECTURES:
            assert r[name].normalized_risk >= unc - tol, (ctx, name)
        for name in ("mamba2", "mlstm", "gla", "rwkv6"):  # data-dependent gates contain linear attention
            assert r[name].normalized_risk <= lin + tol, (ctx, name)
        assert r["gla"].normalized_risk == pytest.approx(unc, abs=tol)  # key width 2d
    for name in ("mamba2", "mlstm"):
        none, onehot = rows["none"][name].normalized_risk, rows["onehot"][name].normalized_risk
        assert onehot <= none + tol
        assert none == pytest.approx(class_optimum(pr, "scalar").normalized_risk, rel=1e-12)


def test_onehot_context_makes_mamba2_non_monotone():
    # reversed segments: the optimum weights decrease toward the query; only the segment tag lets
    # Δ raise the far segment
    pr = Problem.segmented(np.eye(3), [5, 5], [0.8, 0.2], noise=0.1)
    none = architecture_optimum(pr, "mamba2")
    onehot = architecture_optimum(pr, "mamba2", context="onehot")
    lin = class_optimum(pr, "linear")
    assert none.normalized_risk == pytest.approx(lin.normalized_risk, rel=1e-9)
    assert onehot.normalized_risk < none.normalized_risk - 0.05
    w = np.asarray(onehot.details["segment_weights"])
    assert w[0] > w[1] > 0 and onehot.details["closure"] is True


def test_errors():
    pr = _small()
    dense = Problem.dense(np.eye(2), np.eye(3), noise=0.1)
    for name in ARCHITECTURE_NAMES:
        if name not in WPGD_ARCHITECTURES:
            with pytest.raises(InvalidProblemError, match="no WPGD form"):
                architecture_optimum(pr, name)
    with pytest.raises(InvalidProblemError, match="architecture must be one of"):
        architecture_optimum(pr, "mamba3")
    with pytest.raises(InvalidProblemError, match="context must be one of"):
        architecture_optimum(pr, "gla", context="position")
    with pytest.raises(InvalidProblemError, match="needs a segment problem"):
        architecture_optimum(dense, "mamba2", context="onehot")
    with pytest.raises(InvalidProblemError, match="key_width applies"):
        architecture_optimum(pr, "mamba2", key_width=4)


def test_atlas_theory_result_conventions():
    res = atlas_theory(_small())
    d = res.to_dict()
    assert list(d["rows"]) == [*WPGD_ARCHITECTURES, "linear", "unconstrained"]
    assert all(isinstance(r["normalized_risk"], float) for r in d["rows"].values())
    assert res.converged and d["status"] == "converged"
    assert all(d["rows"][a]["class"] == a for a in WPGD_ARCHITECTURES)
    assert all("realised_class" in d["rows"][a]["details"] for a in WPGD_ARCHITECTURES)
    assert "retnet" in res.summary()


@pytest.mark.slow
@pytest.mark.parametrize("name,heads", [("retnet", 3), ("mamba2", 2), ("mlstm", 2)])
def test_heads_sharing_p_against_brute_force(name, heads):
    pr = _small()
    opt = architecture_optimum(pr, name, heads=heads)
    brute = brute_force_optimum(pr, name, groups=heads, starts=4, samples=1000).normalized_risk
    assert brute >= opt.normalized_risk * (1 - BEAT_TOL)
    assert brute <= opt.normalized_risk * (1 + REACH_TOL)
    assert opt.details["heads"] == heads


def test_two_heads_reach_unconstrained_and_retnet_heads_help():
    pr = Problem.segmented(np.eye(3), [5, 5], [0.8, 0.2], noise=0.1)  # reversed: ω* decreasing
    unc = class_optimum(pr, "unconstrained").normalized_risk
    assert architecture_optimum(pr, "mamba2", heads=2).normalized_risk == pytest.approx(unc, rel=1e-9)
    one = architecture_optimum(pr, "mamba2").normalized_risk
    assert one > unc + 0.05  # one head: the scalar class, strictly worse here
    r = [architecture_optimum(pr, "retnet", heads=h).normalized_risk for h in (1, 2, 3)]
    assert r[0] >= r[1] - 1e-12 >= r[2] - 2e-12 and r[2] >= unc - 1e-12
    with pytest.raises(InvalidProblemError, match="heads"):
        architecture_optimum(pr, "retnet", heads=0)


def test_extreme_scales_give_the_same_normalised_rows():
    base = Problem.segmented(np.eye(2), [3, 3], [0.8, 0.2], noise=0.1)
    huge = Problem.segmented(np.eye(2) * 2.0**700, [3, 3], [0.8, 0.2], noise=0.1 * 2.0**700)
    for ctx in ATLAS_CONTEXTS:
        a, b = atlas_theory(base, context=ctx, heads=2).rows, atlas_theory(huge, context=ctx, heads=2).rows
        for k in a:
            assert b[k].normalized_risk == pytest.approx(a[k].normalized_risk, rel=1e-9), (ctx, k)
