"""The optimum in D-digit ball arithmetic, independent of the float64 roots (docs/certificate.md §5).

:func:`solve_ball` encloses the spectra at ≈ 3.33·D + log2 κ bits (eigenvectors refined until
the Weyl radius is below 10^-D of the smallest relevant eigenvalue), finds every fixed point
with the certificate's own cell scan (:func:`~wpgd.numerics.exact.ball.certify.scan_fixed_points`, no
float64 root is used), shrinks each bracket to relative width 10^-(D+2) by bisection with
proven signs, and evaluates in balls

    L(γ) = N − (â û)²/(b̂ B̂ + ĉ Ĉq),  μ = φ_Σ(γ),  τ = â û/(b̂ B̂ + ĉ Ĉq),

for every fixed point (γ a ball), and ω* = (M1 + μ*M2)^{-1} r normalised to max|ω*| = 1: with
H = W M1 W (or the K×K segment block), ``y = (H + μI)^{-1} b`` is enclosed from an
iteratively refined approximation ỹ by ``‖y − ỹ‖₂ ≤ ‖b − (H + μI)ỹ‖₂ / (μ + λ_min(H))``
(the residual a ball over the whole μ ball, λ_min(H) bounded below by the enclosure).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError, SolverError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import json_clean
from wpgd.numerics.core.spectra import feature_spectrum, task_spectrum
from wpgd.numerics.exact.ball._flint import bits_for_digits, flint, workprec
from wpgd.numerics.exact.ball.certify import BallCertificate, _verdict, scan_fixed_points
from wpgd.numerics.exact.ball.enclose import norm_bounds
from wpgd.numerics.exact.ball.spectra import BallSpectra, ball_spectra

__all__ = ["Ball", "BallOptimum", "solve_ball"]


@dataclass(frozen=True)
class Ball:
    """A proven enclosure ``mid ± rad`` (mid as a decimal string, rad rounded up)."""

    mid: str
    rad: float
    lo: float
    hi: float

    @classmethod
    def of(cls, x, digits: int) -> Ball:
        """From an ``arb`` (printed with ``digits`` significant digits)."""
        return cls(x.mid().str(digits, radius=False), float(x.rad()) * (1 + 2.0**-50),
                   float(x.lower()), float(x.upper()))

    @property
    def value(self) -> float:
        """The midpoint as a float."""
        return float(self.mid)

    def contains(self, v: float) -> bool:
        """Whether the float v lies in [lo, hi]."""
        return self.lo <= v <= self.hi

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-serialisable dict (a ball holds no arrays; ``arrays`` is accepted for the convention)."""
        return json_clean({"mid": self.mid, "rad": self.rad})


@dataclass(frozen=True, eq=False)
class BallOptimum:
    """Outcome of :func:`solve_ball`.

    Attributes:
        digits, prec: decimal digits asked for, Arb bits used.
        gamma, mu, risk, normalized_risk, scale: :class:`Ball` enclosures at the optimum.
        omega: per token (dense) or per segment (segments) :class:`Ball` of ω*, max|ω*| = 1.
        omega_float: ω* midpoints expanded to all n tokens (float64, shape (n,)).
        fixed_points: (γ ball, risk ball, kind) for every proven fixed point.
        certificate: the uniqueness certificate from the same scan.
        optimum_decided: the lowest-risk fixed point is proven lower than the others (or unique).
        degenerate: None or the reason the optimum is the zero predictor.
        data: enclosure summary and timings.
    """

    digits: int
    prec: int
    gamma: Ball | None
    mu: Ball | None
    risk: Ball | None
    normalized_risk: Ball | None
    scale: Ball | None
    omega: tuple[Ball, ...]
    omega_float: np.ndarray
    fixed_points: tuple
    certificate: BallCertificate | None
    optimum_decided: bool
    degenerate: str | None = None
    data: dict = field(default_factory=dict)

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-serialisable dict (the ω* balls and midpoints only with ``arrays``, the convention of
        :mod:`wpgd.numerics.core.results`)."""
        b = lambda x: None if x is None else x.to_dict()  # noqa: E731
        out = {
            "backend": "arb", "digits": self.digits, "prec_bits": self.prec, "gamma": b(self.gamma), "mu": b(self.mu),
            "risk": b(self.risk), "normalized_risk": b(self.normalized_risk), "scale": b(self.scale),
            "fixed_points": [{"gamma": g.to_dict(), "risk": r.to_dict(), "kind": k} for g, r, k in self.fixed_points],
            "optimum_decided": self.optimum_decided, "degenerate": self.degenerate,
            "certificate": None if self.certificate is None else self.certificate.to_dict(), "data": dict(self.data),
        }
        if arrays:
            out["omega"] = [w.to_dict() for w in self.omega]
            out["omega_float"] = self.omega_float
        return json_clean(out)


def solve_ball(problem: Problem, digits: int = 50, *, structured: bool | None = None, initial_cells: int = 32,
               max_cells: int = 2000) -> BallOptimum:
    """The WPGD optimum with proven ``digits``-digit balls (python-flint's Arb).

    Args:
        problem: the setting.
        digits: decimal digits (integer ≥ 20).
        structured: K×K segment path (default for segment problems) or dense n×n.
        initial_cells, max_cells: the fixed-point scan (as for :func:`~wpgd.numerics.exact.ball.certify_arb`).

    Returns:
        A :class:`BallOptimum`.

    Raises:
        InvalidProblemError: digits not an integer ≥ 20.
        ArbUnavailableError: python-flint is not installed.
        SolverError: no fixed point could be proven (enclosures too wide).
    """
    import time

    from wpgd.numerics.core.solver import degeneracy

    if int(digits) != digits or digits < 20:
        raise InvalidProblemError(f"--precision must be an integer ≥ 20 digits, got {digits}")
    flint()
    if structured is None:
        structured = problem.is_segmented
    feat, task64 = feature_spectrum(problem), task_spectrum(problem, structured=structured)
    why = degeneracy(problem, feat, task64)
    if why is not None:
        return BallOptimum(digits, 0, None, None, None, None, None, (), np.zeros(problem.n), (), None, True, why)
    info = task64.rho[task64.informative]
    kappa = float(feat.lam[-1] / feat.lam[0]) * float(np.max(info) / max(np.min(info), 1e-300))
    extra = int(math.ceil(math.log2(max(kappa, 1.0)))) + int(math.ceil(math.log2(max(problem.d, task64.rho.size))))
    prec = bits_for_digits(digits) + min(extra, 400)
    t0 = time.perf_counter()
    with workprec(prec):
        sp = ball_spectra(problem, prec, structured=structured, target_bits=int(3.33 * digits) + 10, max_refine=8)
        t_spec = time.perf_counter() - t0
        res = scan_fixed_points(sp, initial_cells=initial_cells, max_cells=max_cells,
                                root_rel_width=10.0 ** -(digits + 2))
        data = {**sp.summary(), "seconds_spectra": t_spec}
        cert = _verdict(res, digits, prec, dict(data))
        if not res["roots"]:
            raise SolverError(f"no fixed point could be proven in ball arithmetic: {cert.reason}")
        scored = []
        for r in res["roots"]:
            g = r.bracket[0].union(r.bracket[1])
            L, tau, mu = _profile(sp, g)
            scored.append((L, g, mu, tau, r.kind))
        best = min(range(len(scored)), key=lambda i: float(scored[i][0].mid()))
        L, g, mu, tau, _ = scored[best]
        decided = all(i == best or L.upper() < scored[i][0].lower() for i in range(len(scored)))
        levels, wmax = _omega(sp, mu)
        omega = [x / wmax for x in levels]
        scale = tau * wmax
        om_float = sp.task64.expand(np.array([float(x.mid()) for x in omega]))
        fps = tuple((Ball.of(s[1], digits), Ball.of(s[0], digits), s[4]) for s in scored)
        data["seconds_total"] = time.perf_counter() - t0
        return BallOptimum(
            digits=digits, prec=prec, gamma=Ball.of(g, digits), mu=Ball.of(mu, digits), risk=Ball.of(L, digits),
            normalized_risk=Ball.of(L / sp.null_risk, digits), scale=Ball.of(scale, digits),
            omega=tuple(Ball.of(x, digits) for x in omega), omega_float=om_float, fixed_points=fps,
            certificate=cert, optimum_decided=decided and cert.status in ("unique", "multiple"), data=data,
        )


def _profile(sp: BallSpectra, g):
    """(L, τ, μ) balls at the γ ball g."""
    s, t = sp.sigma, sp.task
    ratio = 1 / (1 + g / s.e)
    a = (s.w * s.e * ratio).sum()
    b = (s.w * s.e * ratio * ratio).sum()
    c = (s.w * ratio * ratio).sum()
    mu = s.phi(g)
    inv = 1 / (t.e + mu)
    q = t.w * inv
    u = q.sum()
    B = (q * inv * t.e).sum()
    Cq = (q * inv).sum()
    den = b * B + c * Cq
    return sp.null_risk - (a * u) ** 2 / den, a * u / den, mu


def _omega(sp: BallSpectra, mu):
    """Balls of the levels x = to_level ∘ (H + μI)^{-1} b and of max|x|."""
    fl = flint()
    arb = fl.arb
    n = len(sp.b)
    lam_lo = sp.task_enc.min_eig
    denom = (mu.lower() + lam_lo).lower()
    if not denom > 0:
        raise SolverError("H + μI is not proven positive definite (enclosures too wide)")
    hf = sp.hmid + float(mu.mid()) * np.eye(n)
    bcol = fl.arb_mat(n, 1, list(sp.b))
    mu_mid = mu.mid()
    hm = sp.H + fl.arb_mat(n, n, [mu_mid if i == j else 0 for i in range(n) for j in range(n)]) if n <= 2000 else None
    y = fl.arb_mat(n, 1, [arb(float(v)) for v in np.linalg.solve(hf, [float(x.mid()) for x in sp.b])])
    for _ in range(30):
        r = bcol - hm * y
        rf = np.array([float(x.mid()) for x in r.entries()])
        if not np.any(rf):
            break
        corr = np.linalg.solve(hf, rf)
        y = (y + fl.arb_mat(n, 1, [arb(float(v)) for v in corr])).mid()
        ynorm = max(abs(float(x.mid())) for x in y.entries())
        if np.max(np.abs(corr)) <= 10.0 ** -(0.3 * fl.ctx.prec) * ynorm:
            break
    hmu = sp.H + fl.arb_mat(n, n, [mu if i == j else 0 for i in range(n) for j in range(n)])
    res = (bcol - hmu * y).entries()
    rnorm = norm_bounds(res)[1]
    err = (rnorm / denom).upper()
    ys = y.entries()
    levels = [sp.to_level[i] * (ys[i] + arb(0, err)) for i in range(n)]
    hi = max(abs(x).upper() for x in levels)
    lo = max(abs(x).lower() for x in levels)
    return levels, lo.union(hi)
