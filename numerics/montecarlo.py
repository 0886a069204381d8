"""Monte Carlo estimate of the WPGD risk: sample prompts from THEORY.md §3, predict, average.

Prompts are sampled exactly from the data model: ``x = F_Σ z`` with ``F_Σ F_Σᵀ = Σ``; task
vectors ``B = F_R̄ G`` (``G`` standard normal, (n+1)×d) so that ``E[β_i β_jᵀ] = R̄_ij I``; for a
segment problem only the K+1 segment/query tasks are sampled and then repeated, so a prompt
costs O(n d). The estimate is reported with its standard error and a normal 95% interval.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .errors import InvalidProblemError
from .problem import Problem
from .risk import check_pw
from .safety import psd_factor

__all__ = ["MonteCarloResult", "monte_carlo_risk", "sample_prompts", "task_factor"]

_Z95 = 1.959963984540054


@dataclass(frozen=True)
class MonteCarloResult:
    """Monte Carlo risk estimate.

    Attributes:
        mean: mean squared error (raw risk units).
        stderr: its standard error.
        ci_low, ci_high: normal 95% confidence interval.
        samples: number of prompts.
        seed: the seed used.
        backend: "numpy" or "torch".
    """

    mean: float
    stderr: float
    ci_low: float
    ci_high: float
    samples: int
    seed: int
    backend: str

    def z_score(self, reference: float) -> float:
        """(mean − reference)/stderr; ±inf is avoided by flooring the stderr at 1e-300."""
        return (self.mean - reference) / max(self.stderr, 1e-300)

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return asdict(self)


def task_factor(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Factor of the task covariance and the row of it each token's task comes from.

    Returns:
        F, shape (m, m) with ``F Fᵀ`` the joint task correlation (m = K+1 for a segment problem,
        n+1 for a dense one); idx, shape (n+1,): token i (query last) takes task row ``idx[i]``.
    """
    if problem.is_segmented:
        idx = np.concatenate([problem.segment_index, [problem.num_segments]])
        return psd_factor(problem.segment_joint_matrix), idx
    return psd_factor(problem.task_matrix), np.arange(problem.n + 1)


def sample_prompts(problem: Problem, batch: int, rng: np.random.Generator):
    """Draw ``batch`` prompts.

    Returns:
        X: shape (batch, n, d); y: shape (batch, n); x: shape (batch, d); y_query: shape (batch,).
    """
    d, n = problem.d, problem.n
    f_sigma = psd_factor(problem.sigma)
    f_task, idx = task_factor(problem)
    feats = rng.standard_normal((batch, n + 1, d)) @ f_sigma.T
    tasks = np.einsum("ab,sbd->sad", f_task, rng.standard_normal((batch, f_task.shape[1], d)))
    tasks = tasks[:, idx, :]
    labels = np.einsum("snd,snd->sn", feats, tasks)
    labels += math.sqrt(problem.noise) * rng.standard_normal((batch, n + 1))
    return feats[:, :n], labels[:, :n], feats[:, n], labels[:, n]


def _errors_numpy(problem, P, omega, batch, rng):
    X, y, x, yq = sample_prompts(problem, batch, rng)
    u = np.einsum("snd,sn->sd", X, omega * y)
    pred = np.einsum("si,ij,sj->s", x, P, u)
    return (pred - yq) ** 2


def _errors_torch(problem, P, omega, batch, gen, device):
    import torch

    d, n = problem.d, problem.n
    f_task, idx = task_factor(problem)
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64, device=device)  # noqa: E731
    f_sigma, f_task, P_t, om = t(psd_factor(problem.sigma)), t(f_task), t(P), t(omega)
    idx_t = torch.as_tensor(idx, device=device)
    z = torch.randn((batch, n + 1, d), generator=gen, dtype=torch.float64, device=device)
    g = torch.randn((batch, f_task.shape[1], d), generator=gen, dtype=torch.float64, device=device)
    feats = z @ f_sigma.T
    tasks = torch.einsum("ab,sbd->sad", f_task, g)[:, idx_t, :]
    labels = (feats * tasks).sum(-1)
    noise = torch.randn((batch, n + 1), generator=gen, dtype=torch.float64, device=device)
    labels = labels + math.sqrt(problem.noise) * noise
    u = torch.einsum("snd,sn->sd", feats[:, :n], om * labels[:, :n])
    pred = torch.einsum("si,ij,sj->s", feats[:, n], P_t, u)
    return ((pred - labels[:, n]) ** 2).cpu().numpy()


def monte_carlo_risk(
    problem: Problem,
    P=None,
    omega=None,
    *,
    samples: int = 100_000,
    seed: int = 0,
    batch_size: int | None = None,
    backend: str = "numpy",
    device: str = "cpu",
    progress=None,
) -> MonteCarloResult:
    """Estimate E[(ŷ − y)²] by sampling prompts.

    Args:
        problem: the setting.
        P: preconditioner, shape (d, d); default identity.
        omega: weights, shape (n,); default ones.
        samples: number of prompts (≥ 2).
        seed: seed of the generator (numpy ``default_rng`` or ``torch.Generator``).
        batch_size: prompts per batch; default keeps a batch near 4M numbers.
        backend: "numpy" or "torch" (float64 either way).
        device: torch device for the torch backend.
        progress: optional callable ``progress(done, total)``.

    Returns:
        MonteCarloResult with the raw-risk mean and its standard error.
    """
    P, omega = check_pw(problem, P, omega)
    if P.ndim != 2 or omega.ndim != 1:
        raise InvalidProblemError("Monte Carlo takes a single P (d×d) and ω (n,)")
    samples = int(samples)
    if samples < 2:
        raise InvalidProblemError(f"Monte Carlo needs at least 2 samples, got {samples}")
    if backend not in ("numpy", "torch"):
        raise InvalidProblemError(f"unknown Monte Carlo backend {backend!r} (numpy or torch)")
    per_prompt = (problem.n + 1) * (problem.d + 1)
    batch = batch_size or max(1, min(samples, 4_000_000 // per_prompt))
    if backend == "torch":
        import torch

        gen = torch.Generator(device=device).manual_seed(int(seed))
    else:
        rng = np.random.default_rng(int(seed))
    total, total_sq, done = 0.0, 0.0, 0
    # Welford-free two-sum is fine in float64 for these sample sizes; centre on the first batch
    # mean to avoid cancellation.
    shift = None
    while done < samples:
        m = min(batch, samples - done)
        if backend == "torch":
            err = _errors_torch(problem, P, omega, m, gen, device)
        else:
            err = _errors_numpy(problem, P, omega, m, rng)
        if shift is None:
            shift = float(err.mean())
        dev = err - shift
        total += float(dev.sum())
        total_sq += float((dev**2).sum())
        done += m
        if progress is not None:
            progress(done, samples)
    mean_dev = total / done
    var = max(total_sq / done - mean_dev**2, 0.0) * done / (done - 1)
    mean = shift + mean_dev
    se = math.sqrt(var / done)
    return MonteCarloResult(
        mean=mean,
        stderr=se,
        ci_low=mean - _Z95 * se,
        ci_high=mean + _Z95 * se,
        samples=done,
        seed=int(seed),
        backend=backend,
    )
