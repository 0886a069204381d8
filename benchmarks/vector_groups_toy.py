"""Vector gating's two channel groups in function space: exact population gradients, no sampling.

The toy keeps what a one-layer vector GLA does to the WPGD weights and drops everything else.
Channel c has a rank-one matrix A_c = v·q_c k_cᵀ (q_c, k_c in R^d, v a shared scalar: the key,
query and value projections restricted to the features) and a decay profile
p_c(i) = exp(Σ_{j>i} log σ(b_c + w_c[seg(j)])) (a gate read from the segment code only; the query
token's own gate included), so the prediction is ŷ = x_qᵀ Σ_i M_i x_i y_i with per-token matrices
M_i = Σ_c (p_c(i)/T) A_c. For Σ = I its population risk is exact and quadratic in the M_i:

    L = L₀ − 2 Σ_i r_i tr M_i + Σ_{i,j} R_ij tr(M_iᵀ M_j) + Σ_i ((d + 1) R_ii + σ²) tr(M_iᵀ M_i)

(the problem's r, R and diagonal terms; x Gaussian: E[x xᵀ B x xᵀ] = B + Bᵀ + tr(B) I). With one
shared profile it is ``wpgd``'s ``normalized_risk(P = Σ_c A_c, ω = p/T)``: the script checks that to
1e-12 before training, and checks that the same sum without the diagonal term differs (its
negative control). Training is Adam with a cosine schedule on the exact risk, from a random start
whose gates are set to a total initial decay ρ (``T·e^{−b} = ρ``, the trainer's rule; default 2).

What it is for (docs/training.md, "Vector gating at the edges"): whether a miss of the trained
model is a property of the weights' function space (then the toy misses too) or of something the
toy leaves out (sampled prompts, gates that read the features, the label channel). ``--noise``
adds to every gradient coordinate a Gaussian of ``noise × mean |gradient|`` of its tensor: a crude
stand-in for sampling noise, not a model of it.

Usage::

    python benchmarks/vector_groups_toy.py                          # d2_8seg_long, K = 4, 8, 16
    python benchmarks/vector_groups_toy.py --spec S.toml --key-width 8 --seeds 0 1 2 --rho 0.03
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wpgd.numerics.core.classes import class_optimum  # noqa: E402
from wpgd.numerics.core.errors import WPGDError  # noqa: E402
from wpgd.numerics.core.risk import normalized_risk  # noqa: E402
from wpgd.numerics.core.spec import load_spec  # noqa: E402

DEFAULT_SPEC = ROOT / "docs" / "training_grid" / "edges" / "d2_8seg_long.toml"


class Toy:
    """The exact risk of per-channel profiles and rank-one matrices for one problem (Σ = I)."""

    def __init__(self, problem):
        if not np.allclose(problem.sigma, np.eye(problem.d), rtol=0, atol=0):
            raise ValueError("the toy's risk formula is derived for Σ = I only")
        n = problem.n
        t = lambda a: torch.tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
        self.problem, self.n, self.d = problem, n, problem.d
        self.R = t(problem.dense_task_matrix())[:n, :n]
        self.diag = t(problem.diag_r) + t(problem.m2_diag)
        self.r = t(problem.r)
        self.null = float(problem.null_risk)
        self.seg = torch.repeat_interleave(torch.arange(len(problem.segment_sizes)), torch.tensor(problem.segment_sizes))

    def risk(self, alpha, A, diagonal: bool = True):
        """Normalised risk of token weights ``alpha`` [K, n] on channel matrices ``A`` [K, d, d]."""
        gram = torch.einsum("cij,eij->ce", A, A)
        quad = alpha @ (self.R @ alpha.T)
        if diagonal:
            quad = quad + (alpha * self.diag) @ alpha.T
        lin = torch.einsum("cii->c", A) * (alpha @ self.r)
        return (self.null - 2 * lin.sum() + (gram * quad).sum()) / self.null

    def check(self, seed: int = 0) -> tuple[float, float]:
        """(|toy − wpgd| with one shared profile, |toy without its diagonal term − wpgd|)."""
        g = np.random.default_rng(seed)
        alpha = torch.tensor(g.standard_normal(self.n)) * 0.01
        A = torch.tensor(g.standard_normal((3, self.d, self.d)))
        ref = float(normalized_risk(self.problem, P=A.sum(0).numpy(), omega=alpha.numpy()))
        shared = alpha.expand(3, self.n)
        return abs(float(self.risk(shared, A)) - ref), abs(float(self.risk(shared, A, diagonal=False)) - ref)


def train(toy: Toy, key_width: int, seed: int, rho: float, steps: int, lr: float, noise: float) -> dict:
    g = torch.Generator().manual_seed(seed)
    K, d, T = key_width, toy.d, toy.n + 1
    nseg = int(toy.seg.max()) + 1
    f64 = {"dtype": torch.float64}
    q, k = torch.randn(K, d, generator=g, **f64), torch.randn(K, d, generator=g, **f64)
    v = torch.randn(1, generator=g, **f64)
    b = torch.full((K,), math.log(T / rho), **f64)
    w = 0.5 * torch.randn(K, nseg, generator=g, **f64)
    params = [q, k, v, b, w]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)

    def weights():
        lg = torch.nn.functional.logsigmoid(b[:, None] + w[:, toy.seg])  # [K, n]
        after = torch.flip(torch.cumsum(torch.flip(lg, (1,)), 1), (1,)) - lg  # Σ_{j>i}
        own = torch.nn.functional.logsigmoid(b + w[:, -1])  # the query token's gate (last segment's code)
        return torch.exp(after + own[:, None]) / T, torch.einsum("ci,cj->cij", q, k) * v

    for _ in range(steps):
        opt.zero_grad()
        loss = toy.risk(*weights())
        loss.backward()
        if noise:
            for p in params:
                p.grad += noise * p.grad.abs().mean() * torch.randn(p.shape, generator=g, **f64)
        opt.step()
        sched.step()
    with torch.no_grad():
        alpha, A = weights()
        final = float(toy.risk(alpha, A))
        score = torch.einsum("cii->c", A)  # tr A_c = v q_c·k_c: the channel's sign on the features
    return {"key_width": K, "seed": seed, "rho": rho, "steps": steps, "noise": noise, "risk": final,
            "positive": int((score > 0).sum()), "negative": int((score < 0).sum())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(DEFAULT_SPEC), help="problem spec, Σ = identity (default d2_8seg_long)")
    ap.add_argument("--key-width", type=int, nargs="+", default=[4, 8, 16], help="channels K (default 4 8 16)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="random starts (default 0 1 2)")
    ap.add_argument("--rho", type=float, default=2.0, help="total initial decay T·e^{-b} (default 2, the trainer's)")
    ap.add_argument("--steps", type=int, default=5000, help="Adam steps (default 5000)")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate, cosine to 0 (default 3e-3)")
    ap.add_argument("--noise", type=float, default=0.0, help="relative gradient noise (default 0: exact)")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        problem = load_spec(args.spec)
        toy = Toy(problem)
        vopt = float(class_optimum(problem, "vector").normalized_risk)
        sopt = float(class_optimum(problem, "scalar").normalized_risk)
    except (WPGDError, ValueError, OSError) as e:
        print(f"vector_groups_toy: error: {e}", file=sys.stderr)
        return 2
    err, control = toy.check()
    print(f"risk check: |toy - wpgd| = {err:.1e} (need < 1e-12); without the diagonal term {control:.1e} (need > 1e-3)")
    if not (err < 1e-12 and control > 1e-3):
        print("vector_groups_toy: error: the toy's risk does not match wpgd's; nothing trained", file=sys.stderr)
        return 1
    print(f"{Path(args.spec).name}: vector optimum {vopt:.5f}, scalar optimum {sopt:.5f}")
    print("| K | seed | ρ | noise | risk | gap to vector | channels + / − |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for K in args.key_width:
        for seed in args.seeds:
            row = train(toy, K, seed, args.rho, args.steps, args.lr, args.noise)
            row["gap"] = row["risk"] / vopt - 1
            rows.append(row)
            print(f"| {K} | {seed} | {args.rho:g} | {args.noise:g} | {row['risk']:.5f} | {100 * row['gap']:+.2f}% "
                  f"| {row['positive']} / {row['negative']} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"spec": args.spec, "vector_optimum": vopt, "scalar_optimum": sopt,
                                               "check": [err, control], "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
