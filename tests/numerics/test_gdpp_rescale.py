"""The gated GD++ class with label rescaling: recursion, construction, fitted layout, optimum."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.core.errors import InvalidProblemError  # noqa: E402
from wpgd.numerics.experiments.experiments import MULTILAYER_PANELS, PANELS  # noqa: E402
from wpgd.numerics.nn.feature_recursion import (  # noqa: E402
    construct_gla,
    gdpp_recursion_predict,
    gdpp_torch,
)
from wpgd.numerics.nn.gdpp_optimum import GDPP_CLASS, GDPP_RESCALE_CLASS, _Param, gdpp_optimum  # noqa: E402
from wpgd.numerics.nn.multistep_fit import sample_prompts  # noqa: E402


def _prompt(rng, d, n, cuts, codes):
    """Tokens [x | codes | y] with a delimiter after each cut, and the recursion's X, y."""
    T = n + len(cuts) + 1
    delims = [c + j for j, c in enumerate(cuts)]
    X = rng.standard_normal((T, d))
    y = rng.standard_normal(T)
    X[delims], y[delims], y[-1] = 0.0, 0.0, 0.0
    tok = np.zeros((T, d + codes + 1))
    tok[:, :d], tok[:, -1] = X, y
    for j, p in enumerate(delims):
        tok[p, d + (j if codes > 1 else 0)] = 1.0
    return tok, X, y, delims


@pytest.mark.parametrize("d,n,L,cuts,codes", [(2, 5, 2, [2], 1), (3, 7, 3, [2, 5], 2), (2, 6, 2, [1, 3], 1)])
def test_construction_realises_the_label_rescaling(d, n, L, cuts, codes):
    rng = np.random.default_rng(d + 10 * L + codes)
    tok, X, y, delims = _prompt(rng, d, n, cuts, codes)
    T = len(y)
    spec, rec, plain = [], [], []
    for _ in range(L):
        A, B = 0.3 * rng.standard_normal((d, d)), 0.3 * rng.standard_normal((d, d))
        w, gd = float(rng.normal(0.8, 0.3)), -float(rng.uniform(0.05, 0.5))
        gl = -rng.uniform(0.3, 2.0, codes)
        c = rng.normal(0.0, 0.8, codes)
        spec.append((w, A, B, gd, gl, c))
        lg, cc = np.full(T, gd), np.zeros(T)
        for j, p in enumerate(delims):
            k = j if codes > 1 else 0
            lg[p], cc[p] = gl[k], c[k]
        rec.append((w * B.T, A, B, lg, cc))
        plain.append((w * B.T, A, B, lg))
    model = construct_gla(spec, d, flag=True, codes=codes)
    with torch.no_grad():
        out = float(model.predict(torch.as_tensor(tok)[None])[0])
    ref = gdpp_recursion_predict(X, y, rec)
    assert abs(out - ref) / max(1.0, abs(ref)) < 1e-12
    # negative control: the gated GD++ recursion without the rescaling term
    assert abs(out - gdpp_recursion_predict(X, y, plain)) > 1e-3


@pytest.mark.parametrize("codes", ["boundary", "flag"])
def test_fitted_layout_equals_the_token_recursion(codes):
    """The fit's folded layout (delimiters folded into the next demonstration) computes the same
    predictions as the recursion on the token sequence with delimiter tokens."""
    problem = MULTILAYER_PANELS["s3"].problem(9, 2)
    L = 3
    par = _Param(problem, L, True, True, codes)
    rng = np.random.default_rng(4)
    theta = rng.normal(0.0, 0.4, par.size)
    lo = np.array([b if b is not None else -np.inf for b, _ in par.bounds()])
    hi = np.array([b if b is not None else np.inf for _, b in par.bounds()])
    theta = np.clip(np.where(np.isfinite(lo) & (lo < 0), -np.abs(theta) - 0.1, theta), lo, hi)
    layers = par.layers(torch.as_tensor(theta))
    (Z, Y, _), = sample_prompts(problem, 6, 1, problem.sigma_eig[1])
    out = gdpp_torch(Z, Y, layers).numpy()
    pos = par.positions  # folded positions p_k; delimiter k sits before them
    ins = [p + k for k, p in enumerate(pos)]
    desc = par.describe(theta)
    rec = []
    for (Q, A, B, _lg, _m), (gates, c) in zip(layers, desc):
        lgt = [float(v) for v in np.log([gates["demo"]] * (problem.n + 1))]
        cc = [0.0] * (problem.n + 1)
        for k in reversed(range(len(pos))):
            j = k if par.ng > 1 else 0
            lgt.insert(pos[k], float(np.log(gates["delimiter"][j])))
            cc.insert(pos[k], c[j])
        rec.append((np.diag(Q.numpy()), np.diag(A.numpy()), np.diag(B.numpy()), np.array(lgt), np.array(cc)))
    for b in range(Z.shape[1]):
        X = np.insert(Z[:, b].numpy(), pos, 0.0, axis=0)
        y = np.insert(Y[:, b].numpy(), pos, 0.0)
        assert np.all(X[ins] == 0)
        ref = gdpp_recursion_predict(X, y, rec)
        assert abs(out[b] - ref) / max(1.0, abs(ref)) < 1e-12
    # negative control: the profile with the delimiter's own gate counted (no factor of the next
    # token's gate) is a different recursion
    from wpgd.numerics.nn import feature_recursion as fr

    orig = fr.rescale_profile
    try:
        fr.rescale_profile = lambda om, p, c, g: orig(om, p, c, [0.0] * len(g))
        wrong = gdpp_torch(Z, Y, par.layers(torch.as_tensor(theta))).numpy()
    finally:
        fr.rescale_profile = orig
    assert np.max(np.abs(wrong - out)) > 1e-6


def test_rescaling_parameters_and_names():
    s3 = MULTILAYER_PANELS["s3"].problem(6, 2)
    for codes, ng in (("boundary", 2), ("flag", 1)):
        par = _Param(s3, 2, True, True, codes)
        assert (par.ng, par.nr) == (ng, ng)
        # the extended class adds the rescaling coefficients, nothing else
        assert par.size - _Param(s3, 2, True, False, codes).size == 2 * ng
    two = PANELS["a"].problem(4, 2)
    assert _Param(two, 2, True, True, "boundary").nr == _Param(two, 2, True, True, "flag").nr == 1
    with pytest.raises(InvalidProblemError, match="codes"):
        gdpp_optimum(s3, 2, codes="bogus")


@pytest.mark.slow
def test_small_fit_reports_the_class_and_its_coefficients():
    s3 = MULTILAYER_PANELS["s3"].problem(6, 2)
    res = gdpp_optimum(s3, 2, train_prompts=512, eval_prompts=4000, restarts=1, max_iter=40)
    assert res["class"] == GDPP_RESCALE_CLASS and res["codes"] == "boundary"
    assert all(len(p["rescale"]) == 2 and len(p["gates"]["delimiter"]) == 2 for p in res["params"])
    plain = gdpp_optimum(s3, 2, label_rescale=False, train_prompts=512, eval_prompts=4000, restarts=1, max_iter=40)
    assert plain["class"] == GDPP_CLASS and all("rescale" not in p for p in plain["params"])


def test_verify_check_passes_and_its_control_fails():
    from wpgd.proofs_check.runner import run_checks, run_controls

    (res,) = run_checks(quick=True, select=["multilayer.gdpp_rescale"])
    assert res.status == "PASS", res.evidence
    (ctl,) = [r for r in run_controls(quick=True, select=["multilayer.gdpp_rescale"])
              if r.name == "multilayer.gdpp_rescale"]
    assert ctl.status == "FAIL", ctl.evidence
