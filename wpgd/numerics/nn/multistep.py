"""The L-step WPGD reference: the best member of the structured causal L-step recursion of
:mod:`wpgd.numerics.core.multilayer`, found by sample-average approximation and evaluated out of sample.

For L ≥ 2 the recursion's risk has no closed-form optimum. :func:`multistep_optimum` fits
per-layer preconditioners and type gates (demonstration, delimiter, query) on a fixed sample of
prompts and reports the fitted predictor's risk on fresh prompts with a control-variate CI: an
upper-bound estimate of the class optimum. docs/multilayer.md states the class, the method and
the measured values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.risk import risk as wpgd_risk
from wpgd.numerics.core.vocabulary import MULTISTEP_CLASSES
from wpgd.numerics.nn.multistep_fit import (
    check_fit_args,
    evaluate_predictor,
    fit_from_starts,
    sample_prompts,
    split_seeds,
)

__all__ = [
    "GATINGS",
    "LOG_GATE_MIN",
    "MultistepOptimum",
    "PRECONDITIONERS",
    "multistep_optimum",
    "recursion_torch",
    "structured_layers",
]

LOG_GATE_MIN = -30.0
"""Lower bound of every log-gate in the fit (a gate of e⁻³⁰ cuts the past off for good)."""

GATINGS = MULTISTEP_CLASSES
"""The gatings of the L-step recursion, spelled as weight classes (wpgd.numerics.core.vocabulary)."""


@dataclass(frozen=True)
class MultistepOptimum:
    """The SAA optimum of the structured L-step recursion, evaluated out of sample.

    Attributes:
        steps: L, the number of layers (recursion steps).
        gating: "scalar" (type gates a, b, c per layer) or "linear" (all gates 1).
        risk: out-of-sample estimate of the fitted recursion's population risk (raw, units of y²),
            control-variate corrected. Unbiased for the risk of the *fitted* parameters, which
            is ≥ the class optimum: read it as an upper-bound estimate of the L-step optimum.
        normalized_risk: risk / null_risk.
        ci: 95% bootstrap interval of ``risk``, (low, high), raw.
        normalized_ci: ``ci`` / null_risk.
        rel_ci_halfwidth: half the interval width relative to the estimate.
        plain_normalized_risk: the same estimate without the control variate.
        control_correlation: correlation of the fitted and the control squared errors.
        fit_normalized_risk: in-sample (training-set) normalised risk at the fitted parameters
            (optimistic: biased below the population risk).
        one_layer_normalized_risk: closed-form normalised risk of the one-layer optimum of the
            class (min over the gates of the best-P WPGD risk; equals ``class_risk`` "scalar" for
            ≤ 2 segments, "geometric" for a dense problem, "linear" for linear gating).
        one_layer_fit_normalized_risk: in-sample normalised risk of that one-layer optimum on
            the training set; the warm start guarantees ``fit_normalized_risk`` ≤ it.
        exact_normalized_risk: steps = 1 only: the closed-form risk of the fitted one-layer
            predictor (it is a WPGD predictor), which the out-of-sample CI must contain; None
            for steps ≥ 2.
        params: per layer ``(Q, gates)``: Q of shape (d, d), gates a dict with keys "demo",
            "query" (and "delimiter" for a problem with ≥ 2 segments), values in (0, 1].
        converged: whether L-BFGS-B reported convergence at the selected start.
        message: optimiser message and the consistency checks, in words.
        starts: in-sample normalised risk reached from each start after the scouting
            iterations (warm start first).
        samples: (N training prompts, M evaluation prompts).
        seconds: wall time of the whole computation.
    """

    steps: int
    gating: str
    risk: float
    normalized_risk: float
    ci: tuple
    normalized_ci: tuple
    rel_ci_halfwidth: float
    plain_normalized_risk: float
    control_correlation: float | None
    fit_normalized_risk: float
    one_layer_normalized_risk: float
    one_layer_fit_normalized_risk: float
    exact_normalized_risk: float | None
    params: list
    converged: bool
    message: str
    starts: tuple
    samples: tuple
    seconds: float

    def to_dict(self) -> dict:
        """JSON-serialisable dict (Q matrices as nested lists)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "params"}
        out["ci"], out["normalized_ci"] = list(self.ci), list(self.normalized_ci)
        out["starts"], out["samples"] = list(self.starts), list(self.samples)
        out["params"] = [{"Q": np.asarray(Q).tolist(), "gates": dict(g)} for Q, g in self.params]
        return out


def _gate_names(problem, gating: str) -> tuple[str, ...]:
    if gating == "linear":
        return ()
    if problem.is_segmented and problem.num_segments >= 2:
        return ("demo", "delimiter", "query")
    return ("demo", "query")


def _gate_masks(problem) -> dict:
    """Where each type gate enters the log-gates of the n + 1 tokens (demonstrations, query).

    A delimiter has x = 0, so it only acts through its gate; its log-gate is folded into the
    first demonstration after it (every Ω_ts that spans the delimiter also spans that token).
    """
    n = problem.n
    demo = np.concatenate([np.ones(n), [0.0]])
    query = np.concatenate([np.zeros(n), [1.0]])
    delim = np.zeros(n + 1)
    if problem.is_segmented and problem.num_segments >= 2:
        delim[np.cumsum(problem.segment_sizes)[:-1]] = 1.0
    return {"demo": demo, "delimiter": delim, "query": query}


def structured_layers(problem, params, delimiters: bool = True) -> list:
    """The fitted parameters as ``wpgd_recursion`` layers on the token sequence.

    Args:
        problem: the setting.
        params: per layer ``(Q, gates)`` as in :class:`MultistepOptimum`.
        delimiters: lay the prompt out with a delimiter token between segments (as the scalar
            GLA sees it; T = n + K) or without (T = n + 1; the delimiter gate is then folded
            into the first demonstration of each later segment). Both give the same recursion.

    Returns:
        list over layers of ``[(Q, log_gates)]``, log_gates of shape (T,).
    """
    n = problem.n
    seg = problem.is_segmented and problem.num_segments >= 2
    out = []
    for Q, gates in params:
        lg = {k: np.log(v) for k, v in gates.items()}
        if delimiters and seg:
            kinds = []
            for j, size in enumerate(problem.segment_sizes):
                kinds += (["delimiter"] if j else []) + ["demo"] * size
            log_gates = np.array([lg.get(k, 0.0) for k in kinds + ["query"]])
        else:
            masks = _gate_masks(problem)
            log_gates = sum((lg.get(k, 0.0) * masks[k] for k in masks), np.zeros(n + 1))
        out.append([(np.asarray(Q, dtype=np.float64), log_gates)])
    return out


def _omega_torch(log_gates):
    """Ω_ts = exp(Σ_{s<u≤t} ℓ_u) for s ≤ t, from masked differences of cumulative log-gates."""
    import torch

    cum = torch.cumsum(log_gates, 0)
    t_len = log_gates.shape[0]
    lower = torch.ones(t_len, t_len, dtype=torch.bool, device=log_gates.device).tril()
    return torch.exp((cum[:, None] - cum[None, :]).masked_fill(~lower, float("-inf")))


def recursion_torch(Z, Y, layers, *, query_only: bool = True):
    """Batched torch form of :func:`wpgd_recursion` (one group per layer), differentiable.

    Args:
        Z: token features, shape (B, T, d), the query last.
        Y: token labels, shape (B, T), with ``Y[:, -1] = 0`` (the query's label slot).
        layers: list over layers of ``(Q, log_gates)``: Q of shape (d, d) (or (d,) for a
            diagonal Q), log_gates of shape (T,).
        query_only: return the query predictions ``x_Tᵀβ_T^{(L)}``, shape (B,), instead of
            every token's β^{(L)}, shape (B, T, d).
    """
    out = _recursion_tm(Z.transpose(0, 1), Y.T, layers, query_only=query_only)
    return out if query_only else out.transpose(0, 1)


def _recursion_tm(Z, Y, layers, *, query_only: bool = True):
    """:func:`recursion_torch` on time-major data, Z of shape (T, B, d), Y (T, B).

    Time-major makes Σ_s Ω_ts x_s r_s one (T×T)·(T×Bd) product; the last layer, whose only
    output is the query's, touches one row.
    """
    t_len, batch, d = Z.shape
    beta = None
    for i, (Q, log_gates) in enumerate(layers):
        r = Y if beta is None else Y - (Z * beta).sum(-1)
        v = Z * r.unsqueeze(-1)  # x_s r_s, each token with its own residual
        omega = _omega_torch(log_gates)
        if query_only and i == len(layers) - 1:
            g = omega[-1] @ v.reshape(t_len, -1)
            step = _apply(Q, g.reshape(batch, d))
            bq = step if beta is None else beta[-1] + step
            return (Z[-1] * bq).sum(-1)
        step = _apply(Q, (omega @ v.reshape(t_len, -1)).reshape(t_len, batch, d))
        beta = step if beta is None else beta + step
    return beta


def _apply(Q, g):
    """Q g over the last axis: Q of shape (d, d), or (d,) for a diagonal Q."""
    return g * Q if Q.dim() == 1 else g @ Q.T


def _one_layer(problem, gating: str):
    """One-layer optimum of the class: gates (log values), its WPGD (P, ω) and exact risk."""
    from scipy.optimize import minimize

    from wpgd.numerics.core.classes import class_optimum
    from wpgd.numerics.core.weighting import best_for_weights

    names = _gate_names(problem, gating)
    masks = _gate_masks(problem)
    if not names:
        omega = np.ones(problem.n)
        fixed = best_for_weights(problem, omega)
        return {}, fixed.P, omega, fixed.risk

    def weights(lg: dict) -> np.ndarray:
        logs = sum((lg[k] * masks[k] for k in names), np.zeros(problem.n + 1))
        return np.exp(np.cumsum(logs[:0:-1])[::-1])  # ω_s = Ω_Ts = exp(Σ_{s<u≤T} ℓ_u), s = 1..n

    free = [k for k in names if k != "query"]  # one layer: the query gate only rescales ω

    def value(x):
        return best_for_weights(problem, weights({**dict(zip(free, x)), "query": 0.0})).risk

    if "delimiter" in names:
        w = np.asarray(class_optimum(problem, "scalar").details["segment_weights"], dtype=np.float64)
        w = np.clip(w / max(w[-1], 1e-300), np.exp(LOG_GATE_MIN), 1.0)
        ratios = np.log(w[:-1]) / np.arange(len(w) - 1, 0, -1)  # one delimiter gate per boundary
        x0 = np.array([0.0, float(np.clip(np.mean(ratios), LOG_GATE_MIN, 0.0))])
    else:
        g = float(class_optimum(problem, "geometric").details["decay"])
        x0 = np.array([float(np.clip(np.log(max(g, 1e-300)), LOG_GATE_MIN, 0.0))])
    res = minimize(value, x0, method="L-BFGS-B", bounds=[(LOG_GATE_MIN, 0.0)] * len(x0))
    x = res.x if res.fun < value(x0) else x0
    lg = {**dict(zip(free, map(float, x))), "query": 0.0}
    omega = weights(lg)
    fixed = best_for_weights(problem, omega)
    return lg, fixed.P, omega, fixed.risk


def _spectral_clusters(problem, rtol: float = 1e-9) -> np.ndarray:
    """Eigenvalue cluster of each eigen-direction of Σ (equal eigenvalues share one), shape (d,)."""
    lam, _ = problem.sigma_eig
    tol = rtol * max(float(lam[-1]), 1e-300)
    return np.concatenate([[0], np.cumsum(np.diff(lam) > tol)]).astype(np.intp)


def _check_args(problem, steps, gating, preconditioner, train_prompts, eval_prompts, restarts, max_iter):

    check_fit_args(problem, steps, train_prompts, eval_prompts, restarts, max_iter)
    if gating not in GATINGS:
        raise InvalidProblemError(f"gating must be one of {', '.join(GATINGS)}, got {gating!r}")
    if preconditioner not in PRECONDITIONERS:
        raise InvalidProblemError(f"preconditioner must be one of {', '.join(PRECONDITIONERS)}, got {preconditioner!r}")


PRECONDITIONERS = ("spectral", "full")


class _Structured:
    """Parametrisation of the structured class in Σ's eigenbasis: per layer Q coordinates, then log-gates."""

    def __init__(self, problem, steps: int, gating: str, preconditioner: str):
        import torch

        self.problem, self.steps, self.full = problem, steps, preconditioner == "full"
        self.names = _gate_names(problem, gating)
        self.masks = {k: torch.as_tensor(v) for k, v in _gate_masks(problem).items()}
        self.clusters = _spectral_clusters(problem)
        self.spread = torch.as_tensor(np.eye(self.clusters.max() + 1)[self.clusters])  # (d, #clusters)
        d = problem.d
        self.nq = d * d if self.full else self.spread.shape[1]
        self.per = self.nq + len(self.names)
        self.basis = problem.sigma_eig[1]

    def bounds(self) -> list:
        return ([(None, None)] * self.nq + [(LOG_GATE_MIN, 0.0)] * len(self.names)) * self.steps

    def layers(self, theta) -> list:
        """θ ↦ [(Q, log_gates)] for :func:`_recursion_tm` (Q diagonal (d,) unless full)."""
        import torch

        d, out = self.problem.d, []
        for j in range(self.steps):
            block = theta[j * self.per:(j + 1) * self.per]
            logs = torch.zeros(self.problem.n + 1, dtype=torch.float64)
            for j, k in enumerate(self.names):
                logs = logs + block[self.nq + j] * self.masks[k]
            Q = block[:self.nq].reshape(d, d) if self.full else self.spread @ block[:self.nq]
            out.append((Q, logs))
        return out

    def coords(self, Q) -> np.ndarray:
        """A preconditioner in the standard basis → its parameters in Σ's eigenbasis."""
        Qe = self.basis.T @ Q @ self.basis
        if self.full:
            return np.ravel(Qe)
        return np.bincount(self.clusters, np.diag(Qe)) / np.bincount(self.clusters)

    def pack(self, layers) -> np.ndarray:
        return np.concatenate([np.concatenate([self.coords(Q), [g.get(k, 0.0) for k in self.names]])
                               for Q, g in layers])

    def params(self, x, gating: str) -> list:
        """Fitted θ → per layer (Q in the standard basis, gates by type)."""
        import torch

        out = []
        for j, (Q, _) in enumerate(self.layers(torch.as_tensor(x))):
            Qe = Q.detach().numpy()
            Qe = Qe if Qe.ndim == 2 else np.diag(Qe)
            block = x[j * self.per:(j + 1) * self.per]
            gates = {k: float(np.exp(block[self.nq + j])) for j, k in enumerate(self.names)}
            if gating == "linear":
                gates = {k: 1.0 for k in _gate_names(self.problem, "scalar")}
            out.append((self.basis @ Qe @ self.basis.T, gates))
        return out


def _structured_starts(par: _Structured, value, P1, lg1: dict, restarts: int, rng) -> list:
    """Warm start (one-layer optimum, later layers line-searched, Q = 0 included), a common
    line-searched multiple of the one-layer optimum in every layer, random perturbations."""
    from scipy.optimize import minimize_scalar

    L, d = par.steps, par.problem.d

    def scaled(first, later):
        return par.pack([(first * P1, lg1)] + [(later * P1, lg1)] * (L - 1))

    def line(fn):  # bounded line search on [0, 1.5], never worse than its value at 0
        res = minimize_scalar(lambda e: value(fn(e)), bounds=(0.0, 1.5), method="bounded", options={"xatol": 1e-3})
        return fn(res.x) if res.fun < value(fn(0.0)) else fn(0.0)

    warm = line(lambda e: scaled(1.0, e)) if L > 1 else scaled(1.0, 0.0)  # ≤ the one-layer fit by construction
    repeat = line(lambda e: scaled(e, e)) if L > 1 else warm
    starts = [warm, repeat][:restarts]
    scale = np.linalg.norm(P1) / np.sqrt(d)
    nq, per, ng = par.nq, par.per, len(par.names)
    while len(starts) < restarts:
        x = repeat.copy()
        for j in range(L):
            b = x[j * per:(j + 1) * per]
            b[:nq] = b[:nq] * np.exp(0.3 * rng.standard_normal()) + 0.1 * scale * rng.standard_normal(nq)
            b[nq:] = np.clip(b[nq:] - np.abs(0.3 * rng.standard_normal(ng)), LOG_GATE_MIN, 0.0)
        starts.append(x)
    return starts


def _one_step_consistency(problem, params, lo: float, hi: float, risk1: float) -> tuple[float, str]:
    """steps = 1: the closed-form risk of the fitted (WPGD) predictor and whether the CI holds it."""

    null = problem.null_risk
    (_, log_gates), = structured_layers(problem, params, delimiters=False)[0]
    w1 = np.exp(np.cumsum(log_gates[:0:-1])[::-1])
    exact = float(wpgd_risk(problem, params[0][0], w1)) / null
    return exact, (f"closed-form risk of the fitted predictor {exact:.6f} "
                   f"{'inside' if lo / null <= exact <= hi / null else 'OUTSIDE'} the CI; closed-form one-layer "
                   f"optimum {risk1 / null:.6f} {'inside' if lo <= risk1 <= hi else 'outside'} the CI")


def multistep_optimum(problem, steps: int, *, gating: str = "scalar", preconditioner: str = "spectral",
                      train_prompts: int = 8192, eval_prompts: int = 200_000, restarts: int = 3, seed: int = 0,
                      max_iter: int = 300, progress: bool = False) -> MultistepOptimum:
    """Minimum risk of the L-step recursion (6.1) over its structured class, by SAA (docs/multilayer.md).

    This is the *structured recursion* (labels only, features fixed). The class that trained
    multi-layer GLAs land on also writes features: :func:`wpgd.numerics.nn.gdpp_optimum.gdpp_optimum`.

    Class, per layer l: a preconditioner Q_l and log-gates by token type (demonstration a_l,
    delimiter b_l, query c_l, each gate in [e⁻³⁰, 1]); ``gating="linear"`` fixes every gate at 1.
    ``preconditioner="full"``: Q_l any d×d matrix; ``"spectral"`` (default): Q_l a function of
    Σ (diagonal in Σ's eigenbasis, equal on equal eigenvalues), the fixed points of the
    rotations commuting with Σ, under which the risk is invariant.

    The empirical normalised risk on N training prompts is minimised with L-BFGS-B (torch
    gradients, float64) from ``restarts`` starts (:func:`_structured_starts`; each scouted, the
    best run to convergence, :func:`wpgd.numerics.nn.multistep_fit.fit_from_starts`), and the fit is
    evaluated on M fresh prompts with the one-layer optimum as a control variate
    (:func:`wpgd.numerics.nn.multistep_fit.evaluate_predictor`): an upper-bound estimate of the class
    optimum. The in-sample value is biased low.

    Args:
        problem: the setting; segment problems get a delimiter gate when K ≥ 2.
        steps: L ≥ 1.
        gating: "scalar" or "linear".
        preconditioner: "spectral" or "full".
        train_prompts: N, the SAA sample.
        eval_prompts: M, the evaluation sample.
        restarts: number of starts (≥ 1; the warm start is always the first).
        seed: seeds the training sample, the evaluation sample (independent streams) and the
            random starts.
        max_iter: L-BFGS-B iterations of the final run.
        progress: print one line per start to stderr.

    Returns:
        A :class:`MultistepOptimum` (risks raw in units of y², ``normalized_*`` divided by
        ``problem.null_risk``).

    Raises:
        InvalidProblemError: bad arguments.
        SolverError: the optimiser or the fitted predictor produced non-finite values.

    >>> from wpgd.numerics.experiments.experiments import PANELS
    >>> res = multistep_optimum(PANELS["a"].problem(6, 3), 2, train_prompts=2048, eval_prompts=20_000, restarts=2)
    >>> bool(res.normalized_risk < res.one_layer_normalized_risk)
    True
    """
    import time

    import torch


    _check_args(problem, steps, gating, preconditioner, train_prompts, eval_prompts, restarts, max_iter)
    t0 = time.perf_counter()
    null, U = problem.null_risk, problem.sigma_eig[1]
    par = _Structured(problem, int(steps), gating, preconditioner)
    lg1, P1, omega1, risk1 = _one_layer(problem, gating)
    seed_train, seed_eval, seed_starts = split_seeds(seed)
    Z, Y, target = sample_prompts(problem, train_prompts, seed_train, U, batch=train_prompts)[0]

    def loss(theta):
        return ((_recursion_tm(Z, Y, par.layers(theta)) - target) ** 2).mean() / null

    def value(x):
        with torch.no_grad():
            return float(loss(torch.as_tensor(x)))

    one_fit = value(par.pack([(P1, lg1)] + [(np.zeros_like(P1), lg1)] * (steps - 1)))
    starts = _structured_starts(par, value, P1, lg1, restarts, np.random.default_rng(seed_starts))
    fit = fit_from_starts(loss, starts, par.bounds(), max_iter, progress)
    x_best, value_best, msg = fit.x, fit.value, fit.message
    if value_best > one_fit:  # cannot happen with a monotone optimiser; keep the guarantee explicit
        x_best, value_best, msg = starts[0], one_fit, msg + "; kept the warm start"
    layers = par.layers(torch.as_tensor(x_best))
    ev = evaluate_predictor(problem, lambda Ze, Ye: _recursion_tm(Ze, Ye, layers), eval_prompts, seed_eval, U,
                            (U.T @ P1 @ U, omega1, risk1), seed_ci=seed)
    (lo, hi), est = ev.ci, ev.risk
    params = par.params(x_best, gating)
    checks = [f"fit {value_best:.6f} ≤ one-layer fit {one_fit:.6f} (in sample)"]
    exact = None
    if steps == 1:
        exact, line = _one_step_consistency(problem, params, lo, hi, risk1)
        checks.append(line)
    return MultistepOptimum(
        steps=int(steps), gating=gating, risk=est, normalized_risk=est / null, ci=(lo, hi),
        normalized_ci=(lo / null, hi / null), rel_ci_halfwidth=0.5 * (hi - lo) / abs(est),
        plain_normalized_risk=ev.plain_risk / null, control_correlation=ev.control_correlation,
        fit_normalized_risk=value_best, one_layer_normalized_risk=risk1 / null,
        one_layer_fit_normalized_risk=one_fit, exact_normalized_risk=exact, params=params,
        converged=fit.converged, message=f"{msg}; " + "; ".join(checks),
        starts=fit.starts, samples=(int(train_prompts), int(eval_prompts)), seconds=time.perf_counter() - t0,
    )
