"""Held-out risk of a trained model, with bootstrap confidence intervals and a control variate.

Squared errors of these predictors are heavy-tailed (products of Gaussians, squared), so a
plain mean over 80k prompts can be off by ~1%. Two tools keep the interval honest and small:

* **Block bootstrap of i.i.d. prompts.** Per-prompt values are summed into ``M`` blocks of
  equal size (prompts are i.i.d., so blocks are i.i.d.), and the percentile bootstrap resamples
  blocks. For the statistics used here (means, and a ratio of block sums) this is the ordinary
  bootstrap with ``M`` units; it costs O(resamples·M) instead of O(resamples·N).
* **Control variate.** On the same prompts we also evaluate a WPGD predictor ``(P_c, ω_c)``
  whose population risk ``L_c`` is known in closed form (docs/theory.md §4). The estimator

      L̂ = mean(e²) − β̂ (mean(e_c²) − L_c),   β̂ = cov(e², e_c²) / var(e_c²)

  is consistent for the model's risk whatever the control is; its variance is
  ``var(e²)(1 − ρ²)/N`` with ``ρ`` the correlation of the two squared errors, which is close to 1
  once the model has learned a predictor close to the control. β̂ is re-estimated inside every
  bootstrap resample, so the interval accounts for it.

All risks are raw (units of y²); ``normalized`` variants divide by ``problem.null_risk``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.fileio import progress_bar
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.risk import risk
from wpgd.numerics.nn.host_memory import release_free_memory
from wpgd.numerics.nn.prompts import PromptBatch, PromptSampler, make_generator

__all__ = [
    "RiskEstimate",
    "WPGDControl",
    "bootstrap_ci",
    "stationary_preconditioner",
    "make_control",
    "HeldOutSet",
    "evaluate",
]


@dataclass(frozen=True)
class RiskEstimate:
    """A risk estimate with a bootstrap confidence interval.

    Attributes:
        mean: point estimate (raw risk).
        ci_low, ci_high: percentile bootstrap interval (raw risk).
        level: confidence level of the interval.
        stderr: bootstrap standard deviation of the estimate.
        samples: number of prompts.
        method: "plain" (sample mean) or "control_variate".
        null_risk: the normaliser r_q tr Σ + σ².
        correlation: correlation of model and control squared errors (control variate only).
    """

    mean: float
    ci_low: float
    ci_high: float
    level: float
    stderr: float
    samples: int
    method: str
    null_risk: float
    correlation: float | None = None

    @property
    def normalized(self) -> float:
        """mean / null_risk."""
        return self.mean / self.null_risk

    @property
    def rel_halfwidth(self) -> float:
        """Half the interval width relative to the estimate (0.005 = ±0.5%)."""
        return 0.5 * (self.ci_high - self.ci_low) / abs(self.mean) if self.mean else math.inf

    def to_dict(self) -> dict:
        """JSON-serialisable dict, with the normalised values added."""
        out = asdict(self)
        out.update(
            normalized=self.normalized,
            normalized_ci_low=self.ci_low / self.null_risk,
            normalized_ci_high=self.ci_high / self.null_risk,
            rel_halfwidth=self.rel_halfwidth,
        )
        return out


def _block_sums(values: np.ndarray, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum a (N, k) array into ``blocks`` near-equal consecutive blocks.

    Returns:
        (block sums, shape (blocks, k); block sizes, shape (blocks,)).
    """
    edges = np.linspace(0, values.shape[0], blocks + 1).astype(np.intp)
    return np.add.reduceat(values, edges[:-1], axis=0), np.diff(edges)


def bootstrap_ci(values, control=None, control_mean: float | None = None, *, resamples: int = 2000,
                 blocks: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float, float, float | None]:
    """Mean of ``values`` (optionally control-variate corrected) with a block-bootstrap interval.

    Args:
        values: per-prompt squared errors of the model, shape (N,).
        control: per-prompt squared errors of the control, shape (N,), or None.
        control_mean: the control's exact expectation (required with ``control``).
        resamples: bootstrap resamples.
        blocks: number of i.i.d. blocks (capped at N).
        level: confidence level.
        seed: seed of the bootstrap's numpy generator.

    Returns:
        (estimate, ci_low, ci_high, bootstrap stderr, correlation or None).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise InvalidProblemError("bootstrap needs a flat array of at least 2 values")
    use_cv = control is not None
    if use_cv:
        c = np.asarray(control, dtype=np.float64)
        if c.shape != v.shape or control_mean is None:
            raise InvalidProblemError("control needs the same shape as values and its exact mean")
        # Centre both for numerically stable moment sums.
        c0, v0 = float(c.mean()), float(v.mean())
        cols = np.stack([v - v0, c - c0, (v - v0) * (c - c0), (c - c0) ** 2], axis=1)
    else:
        v0 = float(v.mean())
        cols = (v - v0)[:, None]
    m = min(int(blocks), v.size)
    sums, sizes = _block_sums(cols, m)
    rng = np.random.default_rng(int(seed))

    def stat(weights: np.ndarray) -> np.ndarray:
        """Statistic for block weights (r, m): each row a multiset of blocks."""
        n_tot = weights @ sizes
        mom = (weights @ sums) / n_tot[:, None]
        if not use_cv:
            return v0 + mom[:, 0]
        mv, mc, mvc, mcc = mom.T
        var_c = mcc - mc**2
        beta = np.where(var_c > 0, (mvc - mv * mc) / np.where(var_c > 0, var_c, 1.0), 0.0)
        return v0 + mv - beta * (c0 + mc - control_mean)

    point = float(stat(np.ones((1, m)))[0])
    boot = []
    chunk = max(1, 2_000_000 // m)
    for start in range(0, resamples, chunk):
        r = min(chunk, resamples - start)
        idx = rng.integers(0, m, size=(r, m))
        flat = (np.arange(r)[:, None] * m + idx).ravel()
        boot.append(stat(np.bincount(flat, minlength=r * m).reshape(r, m).astype(np.float64)))
    boot = np.concatenate(boot)
    alpha = 0.5 * (1.0 - level)
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    corr = None
    if use_cv:
        sv, sc = float(np.std(v)), float(np.std(c))
        corr = float(np.mean((v - v0) * (c - c0)) / (sv * sc)) if sv > 0 and sc > 0 else 0.0
    return point, float(lo), float(hi), float(np.std(boot, ddof=1)), corr


@dataclass(frozen=True)
class WPGDControl:
    """A WPGD predictor used as a control variate.

    Attributes:
        P: preconditioner, shape (d, d).
        omega: weights, shape (n,).
        risk: its exact population risk (raw), from :func:`wpgd.numerics.core.risk.risk`.
        label: where ω came from (e.g. "scalar class optimum").
    """

    P: np.ndarray
    omega: np.ndarray
    risk: float
    label: str


def stationary_preconditioner(problem: Problem, omega) -> np.ndarray:
    """The best P for fixed ω (docs/theory.md §5): ``P = (rᵀω)[(ωᵀM1ω)Σ + (ωᵀM2ω)I]⁻¹``, shape (d, d)."""
    omega = np.asarray(omega, dtype=np.float64)
    a = float(problem.quad_m1(omega))
    b = float(problem.quad_m2(omega))
    mat = a * problem.sigma + b * np.eye(problem.d)
    return float(problem.r_dot(omega)) * np.linalg.solve(mat, np.eye(problem.d))


def make_control(problem: Problem, omega=None, P=None, label: str = "linear attention (ω = 1)") -> WPGDControl:
    """A control WPGD predictor ``(P, ω)``: ω defaults to uniform, P to the best one for ω.

    Its exact risk comes from :func:`wpgd.numerics.core.risk.risk`, so any (P, ω) gives a valid control;
    the closer it is to the trained model, the smaller the interval.
    """

    omega = np.ones(problem.n) if omega is None else np.asarray(omega, dtype=np.float64)
    if omega.shape != (problem.n,):
        raise InvalidProblemError(f"control weights must have shape ({problem.n},), got {omega.shape}")
    P = stationary_preconditioner(problem, omega) if P is None else np.asarray(P, dtype=np.float64)
    if P.shape != (problem.d, problem.d):
        raise InvalidProblemError(f"control preconditioner must have shape ({problem.d}, {problem.d}), got {P.shape}")
    return WPGDControl(P=P, omega=omega, risk=float(risk(problem, P, omega)), label=label)


class HeldOutSet:
    """A fixed set of prompts regenerated from a seed (kept in memory when ``cache`` is true).

    Args:
        sampler: the prompt sampler.
        prompts: number of prompts N.
        seed: seed of the set's own generator (independent of the training stream).
        batch_size: prompts per forward pass.
        cache: keep the generated batches (small sets evaluated often) or stream them.
    """

    def __init__(self, sampler: PromptSampler, prompts: int, seed: int, *, batch_size: int = 4096,
                 cache: bool = True):
        if prompts < 2:
            raise InvalidProblemError(f"a held-out set needs at least 2 prompts, got {prompts}")
        self.sampler, self.prompts, self.seed = sampler, int(prompts), int(seed)
        self.batch_size = int(batch_size)
        self._cache = list(self._generate()) if cache else None

    def _generate(self):
        gen = make_generator(self.seed, self.sampler.device)
        done = 0
        while done < self.prompts:
            m = min(self.batch_size, self.prompts - done)
            yield self.sampler.sample(m, gen)
            done += m

    def batches(self):
        """Iterate over the set's :class:`PromptBatch` es (the same prompts every time)."""
        return iter(self._cache) if self._cache is not None else self._generate()


@torch.no_grad()
def evaluate(model, heldout: HeldOutSet, control: WPGDControl | None = None, *, resamples: int = 2000,
             level: float = 0.95, seed: int = 0, progress: bool | str = False) -> tuple[RiskEstimate, RiskEstimate | None]:
    """Held-out risk of ``model`` (anything with ``predict(tokens) -> (B,)``).

    Args:
        model: the trained model (put in eval mode by the caller if it matters).
        heldout: the prompt set.
        control: optional WPGD control variate.
        resamples, level, seed: bootstrap settings.
        progress: a progress bar over the prompts (a string is its label), shown on a terminal
            or with ``WPGD_PROGRESS=1`` (``fileio.progress_bar``).

    Returns:
        (plain estimate, control-variate estimate or None).
    """
    problem = heldout.sampler.problem
    errs, cerrs = [], []
    P = om = None

    bar = progress_bar(heldout.prompts, progress if isinstance(progress, str) else "evaluation",
                       enabled=bool(progress), unit="prompt")
    for batch in heldout.batches():
        pred = heldout.sampler.predict(model, batch.tokens)
        errs.append(((pred.double() - batch.target.double()) ** 2).cpu().numpy())
        if control is not None:
            if P is None:
                P = torch.as_tensor(control.P, dtype=torch.float64, device=batch.tokens.device)
                om = torch.as_tensor(control.omega, dtype=torch.float64, device=batch.tokens.device)
            cerrs.append(_control_errors(batch, P, om))
        bar.update(batch.tokens.shape[0])
        if batch.tokens.device.type == "cpu":
            del batch
            release_free_memory()  # off the main thread the heaps otherwise grow batch by batch (host_memory)
    bar.close()
    e = np.concatenate(errs)
    if not np.all(np.isfinite(e)):
        raise FloatingPointError("the model produced non-finite predictions on the held-out set")
    nr = problem.null_risk
    mean, lo, hi, se, _ = bootstrap_ci(e, resamples=resamples, level=level, seed=seed)
    plain = RiskEstimate(mean, lo, hi, level, se, e.size, "plain", nr)
    if control is None:
        return plain, None
    c = np.concatenate(cerrs)
    mean, lo, hi, se, corr = bootstrap_ci(e, c, control.risk, resamples=resamples, level=level, seed=seed)
    return plain, RiskEstimate(mean, lo, hi, level, se, e.size, "control_variate", nr, corr)


def _control_errors(batch: PromptBatch, P: torch.Tensor, omega: torch.Tensor) -> np.ndarray:
    """Squared errors of the WPGD control, computed in float64 on the batch's raw quantities."""
    u = torch.einsum("bnd,bn->bd", batch.features.double(), omega * batch.labels.double())
    pred = torch.einsum("bi,ij,bj->b", batch.query.double(), P, u)
    return ((pred - batch.target.double()) ** 2).cpu().numpy()
