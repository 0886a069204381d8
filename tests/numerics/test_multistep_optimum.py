"""The SAA optimum of the structured L-step recursion (wpgd.numerics.nn.multistep.multistep_optimum):
its torch recursion equals the NumPy reference, one step reproduces the closed-form class
optimum, more steps go below it, and linear gating is never better than scalar gating."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.core.errors import InvalidProblemError  # noqa: E402
from wpgd.numerics.core.multilayer import wpgd_recursion  # noqa: E402
from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.core.references import class_risk  # noqa: E402
from wpgd.numerics.nn.multistep import multistep_optimum, recursion_torch, structured_layers  # noqa: E402
from wpgd.numerics.nn.prompts import PromptFormat, PromptSampler, make_generator  # noqa: E402

SMALL = dict(train_prompts=2048, eval_prompts=20_000, restarts=2, max_iter=100)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def problem():
    return Problem.segmented(np.diag([0.5, 1.0, 1.5]), [3, 3], [0.3, 0.9], noise=0.1)


@pytest.fixture(scope="module")
def fits(problem):
    return {(L, g): multistep_optimum(problem, L, gating=g, **SMALL)
            for L, g in [(1, "scalar"), (2, "scalar"), (1, "linear"), (2, "linear")]}


@pytest.mark.parametrize("diagonal", [False, True])
def test_torch_recursion_equals_reference(problem, diagonal):
    rng = np.random.default_rng(3)
    d = problem.d
    params = [(np.diag(rng.standard_normal(d)) if diagonal else rng.standard_normal((d, d)),
               {"demo": rng.uniform(0.3, 1), "delimiter": rng.uniform(0.05, 1), "query": rng.uniform(0.3, 1)})
              for _ in range(3)]
    sampler = PromptSampler(problem, PromptFormat(delimiter="flag"), dtype=torch.float64)
    batch = sampler.sample(5, make_generator(1))
    full = structured_layers(problem, params, delimiters=True)  # delimiter tokens in the sequence
    folded = [(torch.tensor(np.diag(Q) if diagonal else Q), torch.tensor(lg))
              for [(Q, lg)] in structured_layers(problem, params, delimiters=False)]
    Z = torch.cat([batch.features, batch.query[:, None]], 1)
    Y = torch.cat([batch.labels, torch.zeros(5, 1, dtype=torch.float64)], 1)
    beta = recursion_torch(Z, Y, folded, query_only=False).numpy()
    pred = recursion_torch(Z, Y, folded).numpy()
    keep = np.r_[sampler.demo_positions.numpy(), sampler.seq_len - 1]  # drop the delimiter rows
    for i in range(5):
        X, y = batch.tokens[i, :, :d].numpy(), batch.tokens[i, :, -1].numpy()
        ref = wpgd_recursion(X, y, full)
        scale = max(1.0, np.abs(ref).max())
        assert np.abs(beta[i] - ref[keep]).max() <= 1e-12 * scale
        assert abs(pred[i] - X[-1] @ ref[-1]) <= 1e-12 * scale


@pytest.mark.parametrize("gating,cls", [("scalar", "scalar"), ("linear", "linear")])
def test_one_step_reproduces_the_class_optimum(problem, fits, gating, cls):
    res = fits[(1, gating)]
    exact = class_risk(problem, cls).normalized
    assert res.one_layer_normalized_risk == pytest.approx(exact, rel=1e-9)
    lo, hi = res.normalized_ci
    # The CI is for the fitted (fixed) predictor, whose exact risk is known at one step: it must
    # lie inside, and be ≥ the optimum; the optimum itself lies in the CI up to the SAA excess
    # of a 2048-prompt fit (≤ 0.5%; at d = 10, N = 8192 it lies inside, docs/multilayer.md).
    assert lo <= res.exact_normalized_risk <= hi
    assert exact <= res.exact_normalized_risk + 1e-12
    assert lo - 0.005 * exact <= exact <= hi
    assert res.rel_ci_halfwidth < 0.005
    assert res.params[0][0].shape == (problem.d, problem.d)


def test_two_steps_below_one_layer(fits):
    for g in ("scalar", "linear"):
        res = fits[(2, g)]
        assert res.fit_normalized_risk <= res.one_layer_fit_normalized_risk + 1e-12  # warm start, in sample
        assert res.normalized_ci[1] < res.one_layer_normalized_risk  # out of sample, the whole CI below
        assert res.rel_ci_halfwidth < 0.05  # M = 20000 prompts; the default M reaches < 0.5% at d = 10
        assert len(res.params) == 2 and res.samples == (2048, 20_000)
        assert all(0 < v <= 1 for _, gates in res.params for v in gates.values())


def test_linear_gating_not_below_scalar(fits):
    for L in (1, 2):
        lin, sca = fits[(L, "linear")], fits[(L, "scalar")]
        slack = 0.5 * (np.diff(lin.normalized_ci)[0] + np.diff(sca.normalized_ci)[0])
        assert lin.normalized_risk >= sca.normalized_risk - slack


def test_full_preconditioner_one_step(problem):
    res = multistep_optimum(problem, 1, preconditioner="full", **SMALL)
    lo, hi = res.normalized_ci
    assert lo <= res.exact_normalized_risk <= hi
    # 9 free entries fitted on 2048 prompts: the excess over the optimum stays below 2%
    assert res.exact_normalized_risk <= 1.02 * res.one_layer_normalized_risk


@pytest.mark.parametrize("kwargs", [
    dict(steps=0), dict(steps=1.5), dict(steps=True), dict(steps=2, gating="vector"),
    dict(steps=2, preconditioner="low-rank"), dict(steps=2, train_prompts=1), dict(steps=2, eval_prompts=1),
    dict(steps=2, restarts=0),
])
def test_bad_inputs(problem, kwargs):
    with pytest.raises(InvalidProblemError):
        multistep_optimum(problem, **kwargs)
