"""Tests of the torch prompt generator (wpgd.numerics.nn.prompts) and the held-out evaluation tools."""

import math

import numpy as np
import pytest
import torch

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.risk import risk
from wpgd.numerics.nn.evaluation import bootstrap_ci, make_control, stationary_preconditioner
from wpgd.numerics.nn.prompts import PromptFormat, PromptSampler, make_generator


def _problem(noise=0.3):
    sigma = np.array([[1.0, 0.3, 0.0], [0.3, 0.8, 0.1], [0.0, 0.1, 0.5]])
    return Problem.segmented(sigma, [2, 3], [0.4, 0.8], correlation=[[1.0, 0.3], [0.3, 1.0]], noise=noise)


@pytest.mark.parametrize("delimiter,context", [("none", "none"), ("flag", "none"), ("label", "onehot"), ("flag", "onehot")])
def test_layout(delimiter, context):
    pr = _problem()
    s = PromptSampler(pr, PromptFormat(delimiter=delimiter, context=context, delimiter_value=2.0), dtype=torch.float64)
    b = s.sample(7, make_generator(0))
    d, n, k = pr.d, pr.n, 2
    n_delim = 1 if delimiter != "none" else 0
    expected_dim = d + (k if context == "onehot" else 0) + (1 if delimiter == "flag" else 0) + 1
    assert s.token_dim == expected_dim
    assert b.tokens.shape == (7, n + n_delim + 1, expected_dim)
    # demonstrations carry (x, y) in the first d and the last coordinate
    pos = s.demo_positions
    assert torch.equal(b.tokens[:, pos, :d], b.features)
    assert torch.equal(b.tokens[:, pos, -1], b.labels)
    # the query carries x and label 0, nothing else
    assert torch.equal(b.tokens[:, -1, :d], b.query)
    assert torch.all(b.tokens[:, -1, d:] == 0)
    if delimiter != "none":
        assert s.delimiter_positions.tolist() == [2]  # after the first segment of size 2
        tok = b.tokens[:, 2]
        slot = d + (k if context == "onehot" else 0) if delimiter == "flag" else expected_dim - 1
        assert torch.all(tok[:, slot] == 2.0)
        assert torch.count_nonzero(tok) == 7
    if context == "onehot":
        onehot = b.tokens[0, pos, d:d + k]
        assert onehot.tolist() == [[1, 0], [1, 0], [0, 1], [0, 1], [0, 1]]


def test_same_seed_same_prompts_and_dtype():
    pr = _problem()
    s = PromptSampler(pr, PromptFormat(delimiter="flag"), dtype=torch.float32)
    a = s.sample(5, make_generator(3))
    b = s.sample(5, make_generator(3))
    c = s.sample(5, make_generator(4))
    assert a.tokens.dtype == torch.float32
    assert torch.equal(a.tokens, b.tokens) and not torch.equal(a.tokens, c.tokens)


def test_segment_tasks_are_shared():
    # Noise-free, one segment of d+1 demonstrations: labels are exactly X β for one β.
    pr = Problem.segmented(np.eye(3), [5], [0.6])
    b = PromptSampler(pr, dtype=torch.float64).sample(4, make_generator(1))
    for i in range(4):
        X, y = b.features[i], b.labels[i]
        beta = torch.linalg.lstsq(X, y.unsqueeze(-1)).solution
        assert float((X @ beta).squeeze(-1).sub(y).abs().max()) < 1e-10


def _dense_problem(n: int) -> Problem:
    i = np.arange(n + 1)
    return Problem.dense(np.diag([1.0, 0.5, 2.0]), 0.9 ** np.abs(i[:, None] - i[None, :]), noise=0.1)


@pytest.mark.parametrize("make", [
    lambda: Problem.segmented(np.diag([1.0, 0.5, 2.0]), [3, 4, 2], [0.3, -0.5, 0.8], noise=0.1),
    lambda: _dense_problem(6),  # 7 runs of one token: computed run by run
    lambda: _dense_problem(80),  # 81 runs: gathered
])
def test_labels_by_runs_equal_the_per_token_tasks(make, monkeypatch):
    """Labels computed per contiguous run of shared tasks equal ⟨x_i, β_i⟩ with the per-token
    task matrix gathered (the two code paths of ``PromptSampler._labels``), to 1e-12 in float64;
    the negative control (tasks shifted by one token) is far off."""
    import wpgd.numerics.nn.prompts as prompts

    pr = make()
    s = PromptSampler(pr, dtype=torch.float64)
    d = pr.d
    g = torch.randn((5, s._f_task.shape[1], d), generator=make_generator(3), dtype=torch.float64)
    rows = torch.einsum("ab,sbd->sad", s._f_task, g)
    feats = torch.randn((5, pr.n + 1, d), generator=make_generator(4), dtype=torch.float64)
    gathered = (feats * rows[:, s._task_idx, :]).sum(-1)
    results = []
    for limit in (0, 10**6):  # force the gather, force the runs
        monkeypatch.setattr(prompts, "_MAX_LABEL_RUNS", limit)
        results.append(s._labels(feats, rows))
    for got in results:
        assert got.shape == gathered.shape
        assert float((got - gathered).abs().max()) < 1e-12
    shifted = (feats * rows[:, torch.roll(s._task_idx, 1), :]).sum(-1)
    assert float((shifted - gathered).abs().max()) > 0.1


def test_wpgd_risk_matches_closed_form():
    """Monte Carlo risk of a WPGD predictor on these prompts equals the closed-form risk (4.5 SE)."""
    pr = _problem()
    s = PromptSampler(pr, PromptFormat(delimiter="flag"), dtype=torch.float64)
    omega = np.array([0.2, 0.3, 1.0, 0.9, 1.1])
    P = stationary_preconditioner(pr, omega)
    gen = make_generator(11)
    errs = []
    for _ in range(10):
        b = s.sample(20_000, gen)
        pred = b.wpgd_predict(torch.as_tensor(P), torch.as_tensor(omega))
        errs.append(((pred - b.target) ** 2).numpy())
    e = np.concatenate(errs)
    se = e.std() / math.sqrt(e.size)
    exact = risk(pr, P, omega)
    assert abs(e.mean() - exact) < 4.5 * se, (e.mean(), exact, se)
    assert se / exact < 0.01  # the test has power


def test_delimiters_need_segments():
    pr = Problem.dense(np.eye(2), np.eye(4) * 0.5 + 0.5)
    with pytest.raises(InvalidProblemError):
        PromptSampler(pr, PromptFormat(delimiter="flag"))
    with pytest.raises(InvalidProblemError):
        PromptFormat(delimiter="comma")
    assert PromptSampler(pr).sample(2, make_generator(0)).tokens.shape == (2, 4, 3)


def test_bootstrap_interval_and_control_variate():
    """Both estimators cover a known mean; the control variate shrinks the interval."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 100_000))
    control = (z[0] * z[1]) ** 2                     # E = 1, heavy-tailed
    values = control + 0.1 * (z[2] * z[3]) ** 2      # E = 1.1
    m, lo, hi, se, _ = bootstrap_ci(values, seed=1)
    assert lo < 1.1 < hi and se > 0
    mc, loc, hic, sec, corr = bootstrap_ci(values, control, 1.0, seed=1)
    assert loc < 1.1 < hic
    assert corr > 0.9 and (hic - loc) < 0.3 * (hi - lo)
    with pytest.raises(InvalidProblemError):
        bootstrap_ci(values, control)  # control without its exact mean


def test_make_control_risk_is_the_closed_form():
    pr = _problem()
    c = make_control(pr)
    assert c.omega.shape == (pr.n,) and c.P.shape == (pr.d, pr.d)
    assert c.risk == pytest.approx(risk(pr, c.P, c.omega))
    # the stationary P is optimal for its ω: perturbing it raises the risk
    assert risk(pr, 1.05 * c.P, c.omega) > c.risk and risk(pr, 0.95 * c.P, c.omega) > c.risk
