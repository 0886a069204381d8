"""Torch checks of the architecture atlas (issue 15; docs/atlas/implementation.md).

* ``atlas.torch_construction``: for every architecture with a WPGD form, the one-layer model of
  :func:`wpgd.numerics.nn.arch.construct_model` computes the WPGD predictor ``xᵀ P Xᵀ(ω ⊙ y)``
  on sampled prompts to a relative 1e−12 (float64), for random P and random ω in the set the
  architecture realises on the prompt (RetNet: its fixed geometric profile, one and two heads;
  Mamba2 and mLSTM: monotone segment weights, and any non-negative ones with segment one-hot
  context; GLA and RWKV-6: any segment weights), with random label/feature scales and both
  output aggregations, on a random rotated Σ with the given and the whitened feature basis in turn.
  SKIP without torch.
"""

from __future__ import annotations

import numpy as np

from . import gating_checks as g
from .registry import Evidence, any_passed, register

__all__: list[str] = []

GROUP = "atlas"
_TOL = 1e-12


class _Pair:
    def __init__(self, P, omega):
        self.P, self.omega = P, omega


def _case_weights(name: str, rng, problem, fmt_context: str, positions, seq_len: int, heads: int):
    """Random ω in the set ``name`` realises on this prompt (see the module docstring)."""
    from wpgd.numerics.nn.arch import retnet_log_decays

    k_seg = problem.num_segments
    seg = np.asarray(problem.segment_index)
    if name == "retnet":
        logs = retnet_log_decays(heads).numpy()
        return np.exp(np.outer(seq_len - 1 - positions, logs)) @ rng.standard_normal(heads)
    sign = rng.choice([-1.0, 1.0])
    if name in ("gla", "rwkv6"):
        w = rng.standard_normal(k_seg)
    elif fmt_context == "onehot":
        w = sign * rng.uniform(0.0, 1.0, k_seg)
    else:
        w = sign * np.sort(rng.uniform(0.0, 1.0, k_seg))
        w[0] = 0.0 if rng.random() < 0.3 else w[0]
    return w[seg]


def _errors(quick: bool, tamper=None) -> tuple[float, int]:
    """Largest relative prediction error of the constructed models over random cases; ``tamper(model)``
    (for the negative control) modifies each model before it is evaluated."""
    import torch

    from wpgd.numerics.core.problem import Problem
    from wpgd.numerics.core.vocabulary import WPGD_ARCHITECTURES
    from wpgd.numerics.nn.arch import construct_model
    from wpgd.numerics.nn.prompts import PromptFormat, PromptSampler, make_generator

    rng = np.random.default_rng(1515)
    worst, cases = 0.0, 0
    for rep in range(1 if quick else 3):
        for name in WPGD_ARCHITECTURES:
            contexts = ("none", "onehot") if name in ("mamba2", "mlstm") else ("none",)
            for context in contexts:
                d = int(rng.integers(1, 5))
                sizes = [int(s) for s in rng.integers(1, 5, size=3)]
                a = rng.standard_normal((d, d))
                sigma = a @ a.T / d + 0.2 * np.eye(d)  # rotated, so the whitened basis is not a rescaling
                problem = Problem.segmented(sigma, sizes, query_correlation=[0.2, 0.4, 0.7], noise=0.1)
                fmt = PromptFormat(delimiter="boundary", context=context, label_scale=float(rng.uniform(0.5, 2)),
                                   feature_scale=float(rng.uniform(0.5, 2)),
                                   feature_basis=("given", "whitened")[cases % 2])
                sampler = PromptSampler(problem, fmt, dtype=torch.float64)
                heads = 1 + (rep % 2 if name == "retnet" else 0)
                omega = _case_weights(name, rng, problem, context, sampler.demo_positions.numpy(), sampler.seq_len,
                                      heads)
                P = rng.standard_normal((d, d))
                model = construct_model(name, _Pair(P, omega), problem, fmt, heads=heads,
                                        aggregation=("sum", "mean")[int(rng.integers(2))])
                if tamper is not None:
                    tamper(model)
                batch = sampler.sample(32, make_generator(rep))
                with torch.no_grad():
                    out = sampler.predict(model, batch.tokens)
                ref = batch.wpgd_predict(torch.as_tensor(P), torch.as_tensor(omega))
                err = float((out - ref).abs().max() / max(float(ref.abs().max()), 1e-300))
                worst = max(worst, err)
                cases += 1
    return worst, cases


def _criterion(worst: float, cases: int) -> Evidence:
    return Evidence(worst < _TOL, f"max |ŷ_model − ŷ_WPGD| / max |ŷ_WPGD|: {worst:.2e} over {cases} (architecture, "
                    f"prompt) cases (tol {_TOL:.0e})", {"max_rel_err": worst, "cases": cases})


def _control(quick: bool) -> Evidence:
    torch = g._torch()
    if torch is None:
        return g._skip("the control of the constructions")

    def query_off(model):  # the query map off by a relative 1e-10
        with torch.no_grad():
            model.W_q.mul_(1 + 1e-10)

    def value_leak(model):  # the value also reads the first feature (a non-WPGD term)
        with torch.no_grad():
            model.W_v[0, -1, 0] = 1e-3

    return any_passed(_criterion(*_errors(True, query_off)), _criterion(*_errors(True, value_leak)))


@register(
    "atlas.torch_construction",
    claim="each WPGD architecture (RetNet, Mamba2, GLA, RWKV-6, mLSTM), constructed from (P, ω) in its set, "
          "computes the WPGD predictor (torch, float64)",
    method="numeric (torch vs WPGD on sampled prompts)",
    group=GROUP,
    control=_control,
)
def _torch_construction(quick: bool) -> Evidence:
    torch = g._torch()
    if torch is None:
        return g._skip("the architecture models")
    return _criterion(*_errors(quick))
