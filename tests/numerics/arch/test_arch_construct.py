"""construct_model: each WPGD architecture computes a given WPGD predictor exactly (float64,
relative 1e-12) on the trainer's prompts, and refuses ω outside the set it realises."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.vocabulary import WPGD_ARCHITECTURES
from wpgd.numerics.nn.arch import construct_model, retnet_log_decays
from wpgd.numerics.nn.prompts import PromptFormat, PromptSampler, make_generator

TOL = 1e-12
PROBLEM = Problem.segmented(np.eye(3), [3, 4, 2], query_correlation=[0.2, 0.4, 0.7], noise=0.1)
SEG = np.asarray(PROBLEM.segment_index)
P = np.random.default_rng(0).standard_normal((3, 3))
FMT = PromptFormat(delimiter="boundary", label_scale=0.3, feature_scale=1.7)  # the trainer rescales both
ONEHOT = PromptFormat(delimiter="boundary", context="onehot", label_scale=0.3, feature_scale=1.7)


@dataclass
class Pair:
    P: np.ndarray
    omega: np.ndarray


def _error(name, omega, fmt, **kw):
    model = construct_model(name, Pair(P, omega), PROBLEM, fmt, **kw)
    sampler = PromptSampler(PROBLEM, fmt, dtype=torch.float64)
    batch = sampler.sample(64, make_generator(0))
    with torch.no_grad():
        out = sampler.predict(model, batch.tokens)
    ref = batch.wpgd_predict(torch.as_tensor(P), torch.as_tensor(omega))
    return float((out - ref).abs().max() / ref.abs().max())


@pytest.mark.parametrize("name", ["mamba2", "mlstm", "gla", "rwkv6"])
@pytest.mark.parametrize("w", [[0.2, 0.5, 1.0], [0.0, 0.5, 1.0], [-0.2, -0.2, -1.0]])
@pytest.mark.parametrize("aggregation", ["sum", "mean"])
def test_monotone_segment_weights(name, w, aggregation):
    assert _error(name, np.asarray(w)[SEG], FMT, aggregation=aggregation) < TOL


@pytest.mark.parametrize("name", ["gla", "rwkv6"])
def test_vector_decays_realise_non_monotone_weights(name):
    assert _error(name, np.asarray([1.0, -0.5, 0.7])[SEG], FMT) < TOL


@pytest.mark.parametrize("name", ["mamba2", "mlstm"])
@pytest.mark.parametrize("w", [[1.0, 0.2, 0.7], [1.0, 0.0, 0.7]])
def test_segment_context_frees_the_input_scaling(name, w):
    assert _error(name, np.asarray(w)[SEG], ONEHOT, aggregation="mean") < TOL


@pytest.mark.parametrize("heads", [1, 2])
def test_retnet_fixed_profile(heads):
    sampler = PromptSampler(PROBLEM, FMT)
    expo = sampler.seq_len - 1 - sampler.demo_positions.numpy()
    omega = np.exp(np.outer(expo, retnet_log_decays(heads).numpy())) @ np.array([-2.0, 0.7][:heads])
    assert _error("retnet", omega, FMT, heads=heads) < TOL


@pytest.mark.parametrize("name,omega,fmt,kw,match", [
    ("mamba2", [1.0, 0.5, 0.2], FMT, {}, "non-decreasing"),          # decreasing toward the query
    ("mlstm", [1.0, -0.5, 0.7], FMT, {}, "one sign"),
    ("mamba2", [1.0, -0.5, 0.7], ONEHOT, {}, "one sign"),
    ("retnet", [1.0, 1.0, 1.0], FMT, {}, "fixed decays"),          # linear attention is not RetNet
    ("gla", [1.0, -0.5, 0.7], FMT, {"key_dim": 3}, "key width"),     # two groups need 2d channels
    ("mamba2", [0.2, 0.5, 1.0], PromptFormat(), {}, "no delimiters"),
    ("deltanet", [1.0, 1.0, 1.0], FMT, {}, "no WPGD form"),
    ("transformer", [1.0, 1.0, 1.0], FMT, {}, "unknown architecture"),
])
def test_weights_outside_the_set_are_refused(name, omega, fmt, kw, match):
    with pytest.raises(InvalidProblemError, match=match):
        construct_model(name, Pair(P, np.asarray(omega)[SEG]), PROBLEM, fmt, **kw)


def test_weights_must_be_constant_within_segments():
    omega = np.asarray([0.2, 0.5, 1.0])[SEG] + 1e-3 * np.arange(PROBLEM.n)
    with pytest.raises(InvalidProblemError, match="segment-constant"):
        construct_model("gla", Pair(P, omega), PROBLEM, FMT)


def test_a_perturbed_construction_is_caught():
    # negative control of the 1e-12 comparison: the query map off by a relative 1e-10
    omega = np.asarray([0.2, 0.5, 1.0])[SEG]
    model = construct_model("mamba2", Pair(P, omega), PROBLEM, FMT)
    with torch.no_grad():
        model.W_q.mul_(1 + 1e-10)
    sampler = PromptSampler(PROBLEM, FMT, dtype=torch.float64)
    batch = sampler.sample(64, make_generator(0))
    ref = batch.wpgd_predict(torch.as_tensor(P), torch.as_tensor(omega))
    err = float((sampler.predict(model, batch.tokens).detach() - ref).abs().max() / ref.abs().max())
    assert err > TOL


def test_mlstm_normaliser_stays_inactive():
    # the construction's ε-scaled keys keep |nᵀq| far below the floor 1 on these prompts
    omega = np.asarray([0.2, 0.5, 1.0])[SEG]
    model = construct_model("mlstm", Pair(P, omega), PROBLEM, FMT)
    sampler = PromptSampler(PROBLEM, FMT, dtype=torch.float64)
    z = sampler.sample(256, make_generator(1)).tokens
    with torch.no_grad():
        q, k, _ = model.projections(z, label_only=True)
        g = model.gates(z)
    n_dot_q = torch.einsum("bsk,bk,bs->b", k[:, :, 0], q[:, -1, 0], torch.exp(g["log_i"][:, :, 0]))
    assert float(n_dot_q.abs().max()) < 1e-6


def test_check_skips_without_torch(monkeypatch):
    from wpgd.proofs_check import atlas_torch_checks
    from wpgd.proofs_check.runner import run_checks

    monkeypatch.setattr(atlas_torch_checks.g, "_torch", lambda: None)  # the shared probe of gating_checks
    (res,) = run_checks(quick=True, select=["atlas.torch_construction"])
    assert res.status == "SKIP" and "torch is not installed" in res.evidence


@pytest.mark.parametrize("context", ["none", "onehot"])
@pytest.mark.parametrize("name", WPGD_ARCHITECTURES)
def test_the_theory_optimum_is_constructed_exactly(name, context):
    # the two sides of issue 15 agree: core.atlas's optimum lies in the set the torch construction realises
    from wpgd.numerics.core.atlas import architecture_optimum

    fmt = PromptFormat(delimiter="boundary", context=context, label_scale=0.3, feature_scale=1.7)
    opt = architecture_optimum(PROBLEM, name, context=context)
    model = construct_model(name, opt, PROBLEM, fmt, aggregation="mean")
    sampler = PromptSampler(PROBLEM, fmt, dtype=torch.float64)
    batch = sampler.sample(64, make_generator(2))
    with torch.no_grad():
        out = sampler.predict(model, batch.tokens)
    ref = batch.wpgd_predict(torch.as_tensor(opt.P), torch.as_tensor(opt.omega))
    assert float((out - ref).abs().max() / ref.abs().max()) < TOL


def test_registered_check_passes():
    from wpgd.proofs_check.runner import run_checks

    (res,) = run_checks(quick=True, select=["atlas.torch_construction"])
    assert res.status == "PASS", res.evidence
    assert res.data["max_rel_err"] < TOL and res.data["cases"] == 7


@pytest.mark.parametrize("name", WPGD_ARCHITECTURES)
def test_construction_in_the_whitened_basis(name):
    """The trainer's tokens carry whitened features (``feature_basis="whitened"``) of a rotated Σ:
    the construction maps P into token coordinates and stays exact; the same construction for
    the given basis, read on whitened tokens, is off (negative control)."""
    from wpgd.numerics.core.atlas import architecture_optimum

    i = np.arange(3)
    problem = Problem.segmented(0.9 ** np.abs(i[:, None] - i[None, :]), [3, 4, 2], query_correlation=[0.2, 0.4, 0.7],
                                noise=0.1)
    white = PromptFormat(delimiter="boundary", label_scale=0.3, feature_basis="whitened")
    opt = architecture_optimum(problem, name, context="none")
    sampler = PromptSampler(problem, white, dtype=torch.float64)
    batch = sampler.sample(64, make_generator(3))
    ref = batch.wpgd_predict(torch.as_tensor(opt.P), torch.as_tensor(opt.omega))
    errs = {}
    for basis in ("whitened", "given"):
        fmt = PromptFormat(delimiter="boundary", label_scale=0.3, feature_basis=basis)
        model = construct_model(name, opt, problem, fmt, aggregation="mean")
        with torch.no_grad():
            out = sampler.predict(model, batch.tokens)
        errs[basis] = float((out - ref).abs().max() / ref.abs().max())
    assert errs["whitened"] < TOL
    assert errs["given"] > 1e-3
