"""The optimum of the gated GD++ class (:mod:`wpgd.numerics.nn.feature_recursion`) by sample-average approximation.

Class, per layer l (docs/multilayer.md, docs/theory.md §6.4), parametrised as one GLA head
realises it: spectral matrices (functions of Σ: diagonal in Σ's eigenbasis, equal on equal
eigenvalues) B_l, A_l, a scalar w_l with label preconditioner ``Q_l = w_l B_l``, feature write
``x_t ← x_t + A_l Σ̂_t B_l x_t`` with the gated prefix covariance ``Σ̂_t = Σ_{s≤t} Ω_ts x_s x_sᵀ``
(lower layers only), and two gates by token type, demonstration (shared by the query) and
delimiter, each in [e⁻³⁰, 1]. The last layer has only its label preconditioner Q_L (any
spectral matrix) and gates. ``features=False`` fixes A_l = 0: the structured recursion (6.1)
without a query gate.

``label_rescale=True`` (the default) adds the delimiter's gated label rescaling of the same
head, ``r_t ← r_t + (Σ_{δ≤t} c_{l,δ} Ω_tδ) r_t`` (:mod:`wpgd.numerics.nn.feature_recursion`), with one
coefficient per layer and delimiter code: per boundary (``codes="boundary"``, the scalar
family's training prompts, which also gives each boundary its own delimiter gate) or one shared
(``codes="flag"``). With two segments the two are the same class.

The value reported is an out-of-sample estimate of a fitted member's risk with a 95% CI: an
upper-bound estimate of the class optimum (the SAA excess is of order parameters/N, here a
handful of parameters per layer).
"""

from __future__ import annotations

import time

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.vocabulary import DELIMITER_CODES
from wpgd.numerics.nn.feature_recursion import gdpp_torch
from wpgd.numerics.nn.multistep import _gate_masks, _omega_torch, _one_layer, _spectral_clusters
from wpgd.numerics.nn.multistep_fit import (
    check_fit_args,
    evaluate_predictor,
    fit_from_starts,
    sample_prompts,
    split_seeds,
)

__all__ = ["gdpp_optimum", "GDPP_CLASS", "GDPP_RESCALE_CLASS", "CODES"]

GDPP_CLASS = (
    "gated GD++ (label and feature writes, spectral per-layer matrices, demonstration/delimiter gates)"
)
"""The name of the class without the label rescaling (``label_rescale=False``)."""

GDPP_RESCALE_CLASS = (
    "gated GD++ with label rescaling (label and feature writes, delimiter label rescaling, spectral "
    "per-layer matrices, demonstration/delimiter gates)"
)
"""The name the experiment's checks and ``wpgd solve --steps`` give the class (the default)."""

CODES = DELIMITER_CODES
"""Delimiter encodings: one code per boundary (a delimiter gate and a rescaling coefficient per
boundary and layer; the scalar family's training prompts) or one shared flag (one of each per layer)."""

LOG_GATE_MIN = -30.0


class _Param:
    """Packing of the class's parameters into one vector θ (in Σ's eigenbasis).

    Lower layer: ``[b (nc), a (nc), w, log-gate demo, log-gates delimiter (ng), rescaling (nr)]``;
    top layer: ``[q (nc), log-gate demo, log-gates delimiter (ng), rescaling (nr)]``.
    """

    def __init__(self, problem, steps: int, features: bool, label_rescale: bool = False, codes: str = "boundary"):
        import torch

        self.steps, self.features = steps, features
        self.clusters = _spectral_clusters(problem)
        self.nc = int(self.clusters.max()) + 1
        self.spread = torch.as_tensor(np.eye(self.nc)[self.clusters])
        m = _gate_masks(problem)
        self.demo = torch.as_tensor(m["demo"] + m["query"])
        self.positions = [int(p) for p in np.flatnonzero(m["delimiter"])]
        self.has_delim = bool(self.positions)
        per_boundary = codes == "boundary" and len(self.positions) > 1
        self.ng = len(self.positions) if per_boundary else 1
        self.nr = self.ng if (label_rescale and self.has_delim) else 0
        T = len(m["demo"])
        groups = [[p] for p in self.positions] if per_boundary else [self.positions]
        self.delims = [torch.as_tensor(np.isin(np.arange(T), g).astype(np.float64)) for g in groups]
        self.lower = 2 * self.nc + 2 + self.ng + self.nr  # b, a, w, demo gate, delimiter gates, rescaling
        self.top = self.nc + 1 + self.ng + self.nr

    @property
    def size(self) -> int:
        return (self.steps - 1) * self.lower + self.top

    def bounds(self) -> list:
        gate = (LOG_GATE_MIN, 0.0)
        gates = [gate] + [gate if self.has_delim else (0.0, 0.0)] * self.ng + [(None, None)] * self.nr
        a = [(None, None)] * self.nc if self.features else [(0.0, 0.0)] * self.nc
        return (
            ([(None, None)] * self.nc + a + [(None, None)] + gates) * (self.steps - 1)
            + [(None, None)] * self.nc
            + gates
        )

    def _gates(self, blk):
        """Log-gates (T,) and the rescaling profile from a block ``[demo, delimiter (ng), c (nr)]``."""
        from wpgd.numerics.nn.feature_recursion import rescale_profile

        lg = blk[0] * self.demo
        for j, mask in enumerate(self.delims):
            lg = lg + blk[1 + j] * mask
        if not self.nr:
            return lg, None
        c = blk[1 + self.ng :]
        coeffs = [c[j if self.ng > 1 else 0] for j in range(len(self.positions))]
        return lg, rescale_profile(_omega_torch(lg), self.positions, coeffs, [blk[0]] * len(self.positions))

    def layers(self, theta) -> list:
        """θ ↦ [(Q, A, B, log_gates)] (plus the rescaling profile m with label rescaling), diagonal (d,) matrices (torch)."""
        out, nc = [], self.nc
        for j in range(self.steps - 1):
            blk = theta[j * self.lower : (j + 1) * self.lower]
            b, a, w = self.spread @ blk[:nc], self.spread @ blk[nc : 2 * nc], blk[2 * nc]
            lg, m = self._gates(blk[2 * nc + 1 :])
            out.append((w * b, a, b, lg, m) if m is not None else (w * b, a, b, lg))
        blk = theta[(self.steps - 1) * self.lower :]
        q = self.spread @ blk[:nc]
        lg, m = self._gates(blk[nc:])
        out.append((q, q * 0, q * 0, lg, m) if m is not None else (q, q * 0, q * 0, lg))
        return out

    def pack(self, lower: list, top) -> np.ndarray:
        """Vector from per-lower-layer (b, a, w, lg_demo, lg_delim) and top (q, lg_demo, lg_delim);
        the delimiter log-gate is repeated over the boundaries, the rescaling starts at 0."""
        zero = np.zeros(self.nr)
        parts = [np.concatenate([b, a, [w, gd], [gl] * self.ng, zero]) for b, a, w, gd, gl in lower]
        q, gd, gl = top
        return np.concatenate(parts + [np.concatenate([q, [gd], [gl] * self.ng, zero])])

    def spectral(self, M, U) -> np.ndarray:
        """Cluster coordinates of a matrix given in the standard basis."""
        diag = np.diag(U.T @ M @ U)
        return np.bincount(self.clusters, diag) / np.bincount(self.clusters)

    def describe(self, x) -> list:
        """Fitted θ → per layer the gates (demonstration, delimiter(s)) and the rescaling coefficients."""
        out, nc = [], self.nc
        for j in range(self.steps):
            lo = j * self.lower + 2 * nc + 1 if j < self.steps - 1 else (self.steps - 1) * self.lower + nc
            blk = x[lo : lo + 1 + self.ng + self.nr]
            gates = {"demo": float(np.exp(blk[0]))}
            if self.has_delim:
                gates["delimiter"] = [float(np.exp(g)) for g in blk[1 : 1 + self.ng]]
            out.append((gates, [float(c) for c in blk[1 + self.ng :]]))
        return out


def _starts(par: _Param, value, P1c, lg1: dict, n: int, restarts: int, rng) -> list:
    """Warm start (one-layer optimum on top of idle layers), a GD++ start, random perturbations."""
    from scipy.optimize import minimize_scalar

    nc, L = par.nc, par.steps
    gd, gl = lg1.get("demo", 0.0), lg1.get("delimiter", 0.0)
    zero = np.zeros(nc)

    def build(label_scale: float, gamma: float, top_scale: float = 1.0):
        lower = [
            (P1c.copy(), -gamma * np.ones(nc) / P1c.clip(1e-12) if gamma else zero, label_scale, gd, gl)
            for _ in range(L - 1)
        ]
        return par.pack(lower, (top_scale * P1c, gd, gl))

    def line(fn):
        res = minimize_scalar(
            lambda e: value(fn(e)), bounds=(0.0, 1.5), method="bounded", options={"xatol": 1e-3}
        )
        return fn(res.x) if res.fun < value(fn(0.0)) else fn(0.0)

    if L == 1:
        return [build(0.0, 0.0)]
    warm = line(lambda e: build(e, 0.0))
    starts = [warm]
    if par.features:
        # GD++: x ← (I − γ Σ̂)x with γ·(n·λ) ≈ e/2, so A·B = −γ (A = −γ/b with b = P1)
        starts.append(line(lambda e: build(0.0, e / (2.0 * n))))
    while len(starts) < restarts:
        x = starts[len(starts) % 2].copy()
        x = x + 0.1 * rng.standard_normal(x.size) * np.abs(x).clip(0.05)
        x = np.clip(
            x,
            [lo if lo is not None else -np.inf for lo, _ in par.bounds()],
            [hi if hi is not None else np.inf for _, hi in par.bounds()],
        )
        starts.append(x)
    return starts[:restarts]


def _stack_idle(par: _Param, x_prev: np.ndarray) -> np.ndarray:
    """The (L−1)-step parameters as an L-step point with the same predictions: the old top layer
    becomes a lower one (b = q, w = 1, no feature write, its gates and rescaling kept) and a new
    top layer with Q = 0 and no rescaling is added."""
    nc = par.nc
    lower, top = x_prev[: len(x_prev) - par.top], x_prev[len(x_prev) - par.top :]
    q, gates = top[:nc], top[nc:]
    moved = np.concatenate([q, np.zeros(nc), [1.0], gates])
    new_gates = gates.copy()
    new_gates[1 + par.ng :] = 0.0
    return np.concatenate([lower, moved, np.zeros(nc), new_gates])


def gdpp_optimum(
    problem,
    steps: int,
    *,
    features: bool = True,
    label_rescale: bool = True,
    codes: str = "boundary",
    train_prompts: int = 8192,
    eval_prompts: int = 200_000,
    restarts: int = 4,
    seed: int = 0,
    max_iter: int = 400,
    progress: bool = False,
) -> dict:
    """Minimum risk of the gated GD++ class with label rescaling at L steps, by SAA (docs/multilayer.md).

    Args:
        problem: the setting (a delimiter gate when it has ≥ 2 segments).
        steps: L ≥ 1.
        features: allow feature writes (False: the label-only recursion).
        label_rescale: allow the delimiter's label rescaling (False: the gated GD++ class
            without it, :data:`GDPP_CLASS`).
        codes: "boundary" (a delimiter gate and a rescaling coefficient per boundary) or "flag"
            (one of each per layer); they differ only with ≥ 3 segments.
        train_prompts, eval_prompts: N (fit) and M (evaluation) prompts.
        restarts: starts per step count (warm, GD++, random perturbations; from L = 2 on the
            (L−1)-step fit under an idle top layer replaces the last of them).
        seed: seeds the samples and the starts.
        max_iter: L-BFGS-B iterations of the final run.
        progress: one line per start on stderr.

    Returns:
        dict: ``normalized_risk`` and ``normalized_ci`` (out of sample, 95%), ``fit_normalized_risk``
        (in sample), ``one_layer_normalized_risk``, ``starts``, ``converged``, ``params`` (per
        layer Q, A, B in the standard basis and the gates), ``class``, ``samples``, ``seconds``,
        ``nested_fits`` (in-sample values of the 1, …, L-step fits: each starts the next under an
        idle top layer, so they do not increase).
    """
    import torch


    check_fit_args(problem, steps, train_prompts, eval_prompts, restarts, max_iter)
    if codes not in CODES:
        raise InvalidProblemError(f"codes must be one of {', '.join(CODES)}, got {codes!r}")
    t0 = time.perf_counter()
    null = problem.null_risk
    U = problem.sigma_eig[1]
    lg1, P1, omega1, risk1 = _one_layer(problem, "scalar")
    seed_train, seed_eval, seed_starts = split_seeds(seed)
    Z, Y, target = sample_prompts(problem, train_prompts, seed_train, U, batch=train_prompts)[0]

    rng = np.random.default_rng(seed_starts)
    fit, nested = None, []
    for L in range(1, int(steps) + 1):  # the (L−1)-step fit under an idle top layer starts the L-step fit
        par = _Param(problem, L, bool(features), bool(label_rescale), codes)

        def loss(theta, par=par):
            return ((gdpp_torch(Z, Y, par.layers(theta)) - target) ** 2).mean() / null

        def value(x, loss=loss):
            with torch.no_grad():
                return float(loss(torch.as_tensor(x)))

        starts = _starts(par, value, par.spectral(P1, U), lg1, problem.n, restarts, rng)
        if fit is not None:
            starts = [_stack_idle(par, fit.x)] + starts[: restarts - 1]
        fit = fit_from_starts(loss, starts, par.bounds(), max_iter, progress)
        nested.append(fit.value)
    layers = par.layers(torch.as_tensor(fit.x))
    ev = evaluate_predictor(
        problem,
        lambda Ze, Ye: gdpp_torch(Ze, Ye, layers),
        eval_prompts,
        seed_eval,
        U,
        (U.T @ P1 @ U, omega1, risk1),
        seed_ci=seed,
    )
    params = []
    for layer, (gates, rescale) in zip(layers, par.describe(fit.x)):
        mats = [U @ np.diag(M.detach().numpy()) @ U.T for M in layer[:3]]
        entry = {"Q": mats[0].tolist(), "A": mats[1].tolist(), "B": mats[2].tolist(), "gates": gates}
        if par.nr:
            entry["rescale"] = rescale
        params.append(entry)
    name = (GDPP_RESCALE_CLASS if label_rescale and par.has_delim else GDPP_CLASS) if features else (
        "structured recursion without query gate" + (" with label rescaling" if par.nr else ""))
    lo, hi = ev.ci
    return {
        "class": name,
        "codes": codes,
        "steps": int(steps),
        "risk": ev.risk,
        "ci": [lo, hi],
        "normalized_risk": ev.risk / null,
        "normalized_ci": [lo / null, hi / null],
        "rel_ci_halfwidth": 0.5 * (hi - lo) / abs(ev.risk),
        "plain_normalized_risk": ev.plain_risk / null,
        "fit_normalized_risk": fit.value,
        "nested_fits": nested,
        "one_layer_normalized_risk": risk1 / null,
        "starts": list(fit.starts),
        "converged": fit.converged,
        "message": fit.message,
        "params": params,
        "samples": [int(train_prompts), int(eval_prompts)],
        "seconds": time.perf_counter() - t0,
    }
