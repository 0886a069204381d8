"""Sample-average approximation of an L-step class optimum, in small steps (docs/multilayer.md).

Shared by the structured recursion (:mod:`wpgd.numerics.nn.multistep`) and the gated GD++ class
(:mod:`wpgd.numerics.nn.gdpp_optimum`): a fixed training sample, L-BFGS-B from several starts (each
scouted briefly, the best run to convergence), and an out-of-sample evaluation with the
one-layer optimum as a control variate and a 95% block-bootstrap interval.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError, SolverError
from wpgd.numerics.core.problem import Problem

__all__ = [
    "FitResult",
    "Evaluation",
    "split_seeds",
    "sample_prompts",
    "fit_from_starts",
    "evaluate_predictor",
    "check_fit_args",
]

SCOUT_ITER = 40
"""L-BFGS-B iterations given to every start before the best one is run to convergence."""


@dataclass(frozen=True)
class FitResult:
    """The best L-BFGS-B run: parameters, in-sample value, convergence, values of all starts."""

    x: np.ndarray
    value: float
    converged: bool
    message: str
    starts: tuple


@dataclass(frozen=True)
class Evaluation:
    """Out-of-sample risk of a fixed predictor (raw, units of y²) with its 95% CI."""

    risk: float
    ci: tuple
    plain_risk: float
    control_correlation: float | None


def check_fit_args(problem, steps, train_prompts, eval_prompts, restarts, max_iter) -> None:
    """Raise InvalidProblemError unless the common arguments of an L-step fit are valid."""

    if not isinstance(problem, Problem):
        raise InvalidProblemError("problem must be a wpgd.numerics.Problem")
    for name, val, lo in (
        ("steps", steps, 1),
        ("train_prompts", train_prompts, 2),
        ("eval_prompts", eval_prompts, 2),
        ("restarts", restarts, 1),
        ("max_iter", max_iter, 1),
    ):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < lo:
            raise InvalidProblemError(f"{name} must be an integer ≥ {lo}, got {val!r}")


def split_seeds(seed: int) -> tuple[int, int, int]:
    """Independent seeds (training sample, evaluation sample, random starts) from one seed."""
    return tuple(int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(3))


def sample_prompts(problem, prompts: int, seed: int, basis=None, batch: int = 16384) -> list:
    """Fixed prompts as time-major float64 chunks (Z (n+1, B, d), Y (n+1, B), target (B,)).

    Features are expressed in the orthonormal ``basis`` (columns; default the standard one):
    the L-step classes are invariant under a common rotation of every x and every matrix.
    Delimiters are not tokens here: they act only through their gate, which the classes fold
    into the first demonstration after them.
    """
    import torch

    from wpgd.numerics.nn.prompts import PromptSampler, make_generator

    sampler = PromptSampler(problem, dtype=torch.float64)
    gen = make_generator(seed)
    U = None if basis is None else torch.tensor(np.asarray(basis), dtype=torch.float64)
    chunks, done = [], 0
    while done < prompts:
        b = sampler.sample(min(batch, prompts - done), gen)
        Z = torch.cat([b.features, b.query[:, None]], 1)
        if U is not None:
            Z = Z @ U
        Y = torch.cat([b.labels, torch.zeros_like(b.target)[:, None]], 1)
        chunks.append((Z.transpose(0, 1).contiguous(), Y.T.contiguous(), b.target))
        done += b.target.shape[0]
    return chunks


def _value_and_grad(loss_fn):
    import torch

    def fun(x):
        theta = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        loss = loss_fn(theta)
        loss.backward()
        return float(loss.detach()), theta.grad.numpy().astype(np.float64)

    return fun


def _lbfgs(fun, x0, bounds, iters: int, label: str, progress: bool):
    from scipy.optimize import minimize

    res = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": iters, "ftol": 1e-11, "gtol": 1e-8, "maxcor": 20},
    )
    if not (np.all(np.isfinite(res.x)) and np.isfinite(res.fun)):
        raise SolverError(f"L-BFGS-B from {label} returned non-finite values ({res.message})")
    if progress:
        print(f"  {label}: fit {res.fun:.6f} ({res.nit} it, {res.message})", file=sys.stderr)
    return res


def fit_from_starts(loss_fn, starts: list, bounds: list, max_iter: int, progress: bool = False) -> FitResult:
    """Minimise ``loss_fn`` (torch, θ ↦ scalar) with L-BFGS-B: scout every start, finish the best.

    Args:
        loss_fn: in-sample loss of a float64 torch parameter vector.
        starts: start vectors (numpy, 1-D).
        bounds: L-BFGS-B bounds per coordinate.
        max_iter: iterations of the final run.
        progress: one line per run on stderr.
    """
    fun = _value_and_grad(loss_fn)
    results = [
        _lbfgs(fun, x0, bounds, min(SCOUT_ITER, max_iter), f"start {i}", progress)
        for i, x0 in enumerate(starts)
    ]
    best = min(results, key=lambda r: r.fun)
    if not best.success:
        best = _lbfgs(fun, best.x, bounds, max_iter, "polish", progress)
    return FitResult(
        x=np.asarray(best.x, dtype=np.float64),
        value=float(best.fun),
        converged=bool(best.success),
        message=str(best.message),
        starts=tuple(float(r.fun) for r in results),
    )


def evaluate_predictor(
    problem, predict, eval_prompts: int, seed: int, basis, control, seed_ci: int = 0
) -> Evaluation:
    """Risk of a fixed predictor on fresh prompts, with a control variate and a 95% bootstrap CI.

    Args:
        problem: the setting.
        predict: (Z, Y) ↦ query predictions (torch, time-major, features in ``basis``).
        eval_prompts: M.
        seed: the evaluation sample's seed.
        basis: the feature basis of the sample (columns).
        control: ``(P, ω, exact risk)`` of a one-layer WPGD predictor (P in ``basis``).
        seed_ci: seed of the bootstrap.
    """
    import torch

    from wpgd.numerics.nn.evaluation import bootstrap_ci

    P, omega, exact = control
    Pt, om = (
        torch.as_tensor(np.asarray(P, dtype=np.float64)),
        torch.as_tensor(np.asarray(omega, dtype=np.float64)),
    )
    errs, cerrs = [], []
    with torch.no_grad():
        for Z, Y, target in sample_prompts(problem, eval_prompts, seed, basis):
            errs.append(((predict(Z, Y) - target) ** 2).numpy())
            u = torch.einsum("nbd,nb->bd", Z[:-1], om[:, None] * Y[:-1])
            cerrs.append(((((Z[-1] @ Pt) * u).sum(-1) - target) ** 2).numpy())
    e, c = np.concatenate(errs), np.concatenate(cerrs)
    if not np.all(np.isfinite(e)):
        raise SolverError("the fitted predictor produced non-finite predictions on the evaluation prompts")
    est, lo, hi, _, corr = bootstrap_ci(e, c, exact, seed=seed_ci)
    return Evaluation(
        risk=float(est), ci=(float(lo), float(hi)), plain_risk=float(e.mean()), control_correlation=corr
    )
