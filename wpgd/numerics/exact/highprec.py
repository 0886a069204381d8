"""The optimum in arbitrary precision (mpmath), the same algorithm as :mod:`wpgd.numerics.core.solver`.

:func:`solve_highprec` repeats the solve with every step in ``digits`` decimal digits and
finds the fixed points *itself*: eigen-decompositions of Σ and of the task pencil
(``mpmath.eigsy``; exact for diagonal matrices), the secular functions, the invariant interval
[T(0), T(∞)], a log-scale sign scan of ``G(x) = log T(eˣ) − x`` with the monotone exclusion of
:mod:`wpgd.numerics.core.fixedpoint` (in mpmath, cells bisected down to a width of
``10^(−digits/4)``), Anderson–Björck on every bracket, the slopes ``d log T/d log γ`` (analytic
elasticities), the contraction constant (grid + golden-section refinement), the profile risk,
P* and ω*, and ``converged`` (every fixed-point residual below ``10^(−digits/2)``, nothing
unresolved, the float64 stationarity residuals of the rounded answer below
:data:`wpgd.numerics.core.solver.RESIDUAL_TOL`). Nothing of the float64 solve is reused except three
discrete decisions shared so that both paths solve the same problem: whether the problem is
degenerate (r = 0 or Σ = 0) and which path (dense or segments) it takes, the numerical rank of
Σ (:data:`wpgd.numerics.core.spectra.RANK_RTOL`) and which tokens are dropped (M2 = 0, an exact test);
informative task atoms are those with ``|s_k| > 10^(−digits/2) · max|s|``. The float64 input
matrices are taken as exact.

Cost: ``mpmath.eigsy`` is pure Python, O(m³) with a large constant (≈ 8 s for m = 60 at 50
digits), so Σ (unless diagonal) and the task block (n, or K for segments) are limited to
``max_size`` (default 80).

:func:`wpgd.numerics.exact.certificate.certify` turns the same spectra into an interval-arithmetic
uniqueness certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath as mp
import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError, SolverError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.solver import RESIDUAL_TOL, Optimum, solve, stationarity_residuals
from wpgd.numerics.core.spectra import feature_spectrum, task_spectrum

__all__ = ["MPSpectra", "mp_spectra", "solve_highprec", "mp_phi", "mp_phi_parts", "MAX_SIZE"]

MAX_SIZE = 80
"""Largest non-diagonal matrix the high-precision path will diagonalise."""


@dataclass(frozen=True)
class MPSpectra:
    """Spectra in mpmath numbers (lists of ``mp.mpf``), ascending.

    Attributes:
        digits: working precision.
        lam: non-zero eigenvalues of Σ; U: their eigenvectors (mp.matrix, d × d_+).
        rho, s: informative task atoms and projections; basis: mp.matrix (kept tokens or
            kept segments) × (informative atoms), the columns v_k (levels for segments).
        residual: max relative eigen-residual ‖A q − λ q‖/‖A‖ over both decompositions.
        null_risk: r_q tr Σ + σ² (mp).
    """

    digits: int
    lam: list
    U: object
    rho: list
    s: list
    basis: object
    residual: object
    null_risk: object


def _eigsy(a: np.ndarray):
    """Eigenpairs of a symmetric float64 matrix taken as exact: (values asc, mp.matrix vectors, residual)."""
    m = a.shape[0]
    if np.count_nonzero(a - np.diag(np.diag(a))) == 0:
        order = np.argsort(np.diag(a), kind="stable")
        vals = [mp.mpf(float(a[i, i])) for i in order]
        q = mp.zeros(m, m)
        for j, i in enumerate(order):
            q[int(i), j] = 1
        return vals, q, mp.mpf(0)
    A = mp.matrix(a.tolist())
    E, Q = mp.eigsy(A)
    vals = [E[i] for i in range(m)]
    order = sorted(range(m), key=lambda i: vals[i])
    vals = [vals[i] for i in order]
    Qs = mp.matrix(m, m)
    for j, i in enumerate(order):
        for k in range(m):
            Qs[k, j] = Q[k, i]
    R = A * Qs - Qs * mp.diag(vals)
    scale = max(mp.mnorm(A, 1), mp.mpf(1) * 10 ** (-mp.mp.dps))
    return vals, Qs, mp.mnorm(R, 1) / scale


def mp_spectra(problem: Problem, digits: int = 50, *, structured: bool | None = None,
               max_size: int = MAX_SIZE) -> MPSpectra:
    """Σ and task-pencil spectra at ``digits`` digits (shares rank / dropped decisions with float64).

    Raises:
        InvalidProblemError: a matrix larger than ``max_size`` that is not diagonal.
    """
    if structured is None:
        structured = problem.is_segmented
    feat64 = feature_spectrum(problem)
    task64 = task_spectrum(problem, structured=structured)
    with mp.workdps(digits):
        sig = np.asarray(problem.sigma)
        if problem.d > max_size and np.count_nonzero(sig - np.diag(np.diag(sig))):
            raise InvalidProblemError(
                f"high precision needs d ≤ {max_size} or a diagonal Σ (mpmath eigensolver), got d = {problem.d}"
            )
        lam_all, u_all, res_s = _eigsy(sig)
        keep = list(range(problem.d - feat64.rank, problem.d))
        lam = [lam_all[i] for i in keep]
        U = mp.matrix(problem.d, len(keep))
        for j, i in enumerate(keep):
            for k in range(problem.d):
                U[k, j] = u_all[k, i]
        a, w, rvec, to_level = _task_block(problem, task64, structured)
        rho_all, Z, res_t = _eigsy_scaled(a, w, max_size)
        m = len(rho_all)
        wr = [w[i] * rvec[i] for i in range(m)]  # w in full precision (rounding it to float64 cost digits 17+)
        s_all = [mp.fsum(Z[i, k] * wr[i] for i in range(m)) for k in range(m)]
        smax = max(abs(x) for x in s_all)
        thresh = smax * mp.mpf(10) ** (-(digits // 2))
        info = [k for k in range(m) if abs(s_all[k]) > thresh]
        basis = mp.matrix(m, len(info))
        for j, k in enumerate(info):
            for i in range(m):
                basis[i, j] = to_level[i] * Z[i, k]
        null = mp.mpf(problem.query_variance) * mp.fsum(mp.mpf(float(x)) for x in np.diag(sig)) + mp.mpf(problem.noise)
        return MPSpectra(
            digits=digits, lam=lam, U=U, rho=[max(rho_all[k], mp.mpf(0)) for k in info], s=[s_all[k] for k in info],
            basis=basis, residual=max(res_s, res_t), null_risk=null,
        )


def _task_block(problem: Problem, task64, structured: bool):
    """M1-part ``A`` (float64, before the W scaling), W entries (mp), r-side vector (mp), level factors (mp).

    Dense: A = M1[kept, kept], W = M2^{-1/2}, rvec = r.  Segments: A = N^{1/2} C N^{1/2} + diag(C_kk),
    W = m2^{-1/2}, rvec = N^{1/2} c, levels multiply by N^{-1/2}.
    """
    if structured:
        kept = task64.kept
        sizes = np.asarray(problem.segment_sizes, dtype=np.float64)[kept]
        C = np.asarray(problem.segment_correlation)[np.ix_(kept, kept)]
        cq = np.asarray(problem.query_correlation)[kept]
        var = np.diag(C)
        tr = mp.fsum(mp.mpf(float(x)) for x in np.diag(problem.sigma))
        m2 = [tr * mp.mpf(float(v)) + mp.mpf(problem.noise) for v in var]
        root = [mp.sqrt(mp.mpf(float(k))) for k in sizes]
        K = sizes.size
        A = mp.matrix(K, K)
        for i in range(K):
            for j in range(K):
                A[i, j] = root[i] * mp.mpf(float(C[i, j])) * root[j] + (mp.mpf(float(var[i])) if i == j else 0)
        w = [1 / mp.sqrt(x) for x in m2]
        rvec = [root[i] * mp.mpf(float(cq[i])) for i in range(K)]
        to_level = [w[i] / root[i] for i in range(K)]
        return A, w, rvec, to_level
    kept = task64.kept
    m1 = problem.m1_matrix()[np.ix_(kept, kept)]
    tr = mp.fsum(mp.mpf(float(x)) for x in np.diag(problem.sigma))
    var = np.asarray(problem.diag_r)[kept]
    m2 = [tr * mp.mpf(float(v)) + mp.mpf(problem.noise) for v in var]
    w = [1 / mp.sqrt(x) for x in m2]
    A = mp.matrix(m1.tolist())
    rvec = [mp.mpf(float(x)) for x in np.asarray(problem.r)[kept]]
    return A, w, rvec, list(w)


def _eigsy_scaled(A, w, max_size: int):
    """Eigenpairs of diag(w) A diag(w) for an mp matrix A (exactly symmetric)."""
    m = A.rows
    B = mp.matrix(m, m)
    diag = True
    for i in range(m):
        for j in range(m):
            B[i, j] = w[i] * A[i, j] * w[j]
            if i != j and A[i, j] != 0:
                diag = False
    if diag:
        vals = [B[i, i] for i in range(m)]
        order = sorted(range(m), key=lambda i: vals[i])
        Z = mp.zeros(m, m)
        for j, i in enumerate(order):
            Z[i, j] = 1
        return [vals[i] for i in order], Z, mp.mpf(0)
    if m > max_size:
        raise InvalidProblemError(
            f"high precision needs a task block ≤ {max_size} (n for dense, K for segments), got {m}"
        )
    E, Q = mp.eigsy(B)
    vals = [E[i] for i in range(m)]
    order = sorted(range(m), key=lambda i: vals[i])
    Z = mp.matrix(m, m)
    for j, i in enumerate(order):
        for k in range(m):
            Z[k, j] = Q[k, i]
    vals = [vals[i] for i in order]
    R = B * Z - Z * mp.diag(vals)
    return vals, Z, mp.mnorm(R, 1) / max(mp.mnorm(B, 1), mp.mpf(10) ** (-mp.mp.dps))


def mp_phi_parts(t, atoms, masses):
    """A(t) = Σ w/(e+t)², B(t) = Σ w e/(e+t)² for mp or iv numbers (no NumPy)."""
    A = 0
    B = 0
    for e, w in zip(atoms, masses):
        q = w / ((e + t) * (e + t))
        A = A + q
        B = B + q * e
    return A, B


def mp_phi(t, atoms, masses):
    """φ(t) in the arithmetic of its arguments (mp.mpf or iv.mpf)."""
    A, B = mp_phi_parts(t, atoms, masses)
    return A / B


def solve_highprec(problem: Problem, digits: int = 50, *, structured: bool | None = None,
                   float_optimum: Optimum | None = None, max_size: int = MAX_SIZE) -> Optimum:
    """:func:`wpgd.numerics.core.solver.solve` in ``digits``-digit arithmetic.

    Args:
        problem: the setting.
        digits: decimal digits (≥ 20).
        structured: as for :func:`~wpgd.numerics.core.solver.solve`.
        float_optimum: a float64 solve of the same problem, used only for the shared discrete
            decisions (degenerate or not, dense or segments); computed if None.
        max_size: see :data:`MAX_SIZE`.

    Returns:
        An :class:`~wpgd.numerics.core.solver.Optimum` with ``precision = "mpmath:<digits>"``; arrays and
        scalars rounded to float64; ``details`` holds γ*, μ*, the risk and the normalised risk
        as decimal strings, and the eigen-residual.

    Raises:
        InvalidProblemError: digits < 20 or a too large matrix.
        SolverError: no fixed point found on the invariant interval.
    """
    if int(digits) != digits or digits < 20:
        raise InvalidProblemError(f"--precision must be an integer ≥ 20 digits, got {digits}")
    opt64 = solve(problem, structured=structured) if float_optimum is None else float_optimum
    if opt64.degenerate is not None:
        return _replace(opt64, precision=f"mpmath:{digits}")
    structured = opt64.method == "segments"
    sp = mp_spectra(problem, digits, structured=structured, max_size=max_size)
    task64 = task_spectrum(problem, structured=structured)
    with mp.workdps(digits):
        roots, unresolved, evals = _mp_fixed_points(sp, digits)
        if not roots:
            raise SolverError("no fixed point found on the invariant interval (high precision)")
        scored = [(_profile(sp, g), g) for g in roots]
        (L, tau, mu), gamma = min(scored, key=lambda x: x[0][0])
        slopes = tuple(float(_slope(sp, g)) for g in roots)
        lo, hi = _interval(sp)
        kappa = _contraction(sp, lo, hi)
        lam, U = sp.lam, sp.U
        coef = [sp.s[k] / (sp.rho[k] + mu) for k in range(len(sp.s))]
        levels = sp.basis * mp.matrix(coef)
        wmax = max(abs(levels[i]) for i in range(levels.rows))
        scale = tau * wmax
        diag = [scale / (x + gamma) for x in lam]
        d = problem.d
        P = np.array([[float(mp.fsum(U[i, k] * diag[k] * U[j, k] for k in range(len(lam)))) for j in range(d)]
                      for i in range(d)])
        lv = np.array([float(levels[i] / wmax) for i in range(levels.rows)])
        fp_res = max(abs(mp.log(_T(sp, g)) - mp.log(g)) for g in roots)
        out_details = {
            "gamma": mp.nstr(gamma, digits), "mu": mp.nstr(mu, digits), "risk": mp.nstr(L, digits),
            "normalized_risk": mp.nstr(L / sp.null_risk, digits), "eigen_residual": float(sp.residual),
            "fixed_point_residual": float(fp_res), "root_finding": "own mpmath scan", "T_evaluations": evals,
        }
        fixed = tuple(float(g) for g in roots)
        risks = tuple(float(x[0][0]) for x in scored)
        gamma_f, mu_f, L_f, nr_f, scale_f = float(gamma), float(mu), float(L), float(L / sp.null_risk), float(scale)
        fp_ok = fp_res < mp.mpf(10) ** (-(digits // 2))
        interval = (float(lo), float(hi))
    omega = task64.expand(lv)
    res = stationarity_residuals(problem, P, omega, task=task64, levels=lv)
    res["fixed_point"] = float(fp_res)
    converged = bool(fp_ok) and not unresolved and res["grad_P"] < RESIDUAL_TOL and res["grad_omega"] < RESIDUAL_TOL
    return Optimum(
        P=P, omega=omega, gamma=gamma_f, mu=mu_f, scale=scale_f, risk=L_f, normalized_risk=nr_f,
        fixed_points=fixed, fixed_point_risks=risks, fixed_point_slopes=slopes,
        residuals=res, iterations=evals, converged=converged, contraction=kappa,
        invariant_interval=interval, unresolved=tuple(unresolved), method=opt64.method,
        precision=f"mpmath:{digits}", details=out_details,
    )


def _T(sp: MPSpectra, gamma):
    lam2 = [x * x for x in sp.lam]
    mu = mp_phi(gamma, sp.lam, lam2)
    return mp_phi(mu, sp.rho, [x * x for x in sp.s])


def _phi_limits(atoms, masses):
    """(φ(0), φ(∞)) = (Σ w/e² / Σ w/e, Σ w / Σ w e) for positive atoms e."""
    at0 = mp.fsum(w / (e * e) for e, w in zip(atoms, masses)) / mp.fsum(w / e for e, w in zip(atoms, masses))
    at_inf = mp.fsum(masses) / mp.fsum(w * e for e, w in zip(atoms, masses))
    return at0, at_inf


def _interval(sp: MPSpectra):
    """The invariant interval [T(0), T(∞)] in mp: T(0) = φ_R(φ_Σ(0)), T(∞) = φ_R(φ_Σ(∞))."""
    s0, s_inf = _phi_limits(sp.lam, [x * x for x in sp.lam])
    masses = [x * x for x in sp.s]
    a, b = mp_phi(s0, sp.rho, masses), mp_phi(s_inf, sp.rho, masses)
    return min(a, b), max(a, b)


def _elasticity(t, atoms, masses):
    """d log φ / d log t = 2t (Σ w e/(e+t)³ / B − Σ w/(e+t)³ / A), in mp."""
    A, B = mp_phi_parts(t, atoms, masses)
    A3 = mp.fsum(w / (e + t) ** 3 for e, w in zip(atoms, masses))
    B3 = mp.fsum(w * e / (e + t) ** 3 for e, w in zip(atoms, masses))
    return 2 * t * (B3 / B - A3 / A)


def _slope(sp: MPSpectra, gamma):
    """E(γ) = d log T / d log γ = ε_R(φ_Σ(γ)) · ε_Σ(γ) (chain rule), in mp."""
    lam2 = [x * x for x in sp.lam]
    mu = mp_phi(gamma, sp.lam, lam2)
    return _elasticity(mu, sp.rho, [x * x for x in sp.s]) * _elasticity(gamma, sp.lam, lam2)


def _contraction(sp: MPSpectra, lo, hi, grid: int = 129):
    """sup of |E| over [lo, hi]: a log-uniform grid, then golden-section refinement around the best point."""
    if hi <= lo * (1 + mp.mpf(10) ** (-(mp.mp.dps // 2))):
        return float(abs(_slope(sp, lo)))
    xa, xb = mp.log(lo), mp.log(hi)
    xs = [xa + (xb - xa) * i / (grid - 1) for i in range(grid)]
    es = [abs(_slope(sp, mp.exp(x))) for x in xs]
    i = max(range(grid), key=lambda j: es[j])
    a, b = xs[max(i - 1, 0)], xs[min(i + 1, grid - 1)]
    f = lambda x: abs(_slope(sp, mp.exp(x)))  # noqa: E731
    r = (mp.sqrt(5) - 1) / 2
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(60):
        if fc > fd:
            b, d, fd = d, c, fc
            c = b - r * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + r * (b - a)
            fd = f(d)
    return float(max(es[i], fc, fd))


def _mp_fixed_points(sp: MPSpectra, digits: int, grid: int = 64, max_cells: int = 4096):
    """Every fixed point of T on its invariant interval, found in mp (no float64 input).

    The scan of :func:`wpgd.numerics.core.fixedpoint.find_fixed_points` in mpmath: log-uniform cells,
    the monotone exclusion ``G ∈ [log T(e^{x0}) − x1, log T(e^{x1}) − x0]``, bisection of the
    cells that cannot be excluded down to a width of ``10^(−digits/4)·max(1, |x|)``, then
    Anderson–Björck on every sign change. Cells left at that width without a sign change are
    reported as unresolved (possible tangential double roots).

    Returns:
        (roots γ ascending (mp), unresolved [(γ_lo, γ_hi)] (floats), number of T evaluations).
    """
    lo, hi = _interval(sp)
    xa, xb = mp.log(lo), mp.log(hi)
    floor = mp.mpf(10) ** (-(digits // 4)) * max(1, abs(xa), abs(xb))
    logT = lambda x: mp.log(_T(sp, mp.exp(x)))  # noqa: E731
    if xb - xa <= floor:
        return [_T(sp, mp.exp((xa + xb) / 2))], [], 1
    xs = [xa + (xb - xa) * i / grid for i in range(grid + 1)]
    ys = [logT(x) for x in xs]
    evals = len(xs)
    cells = [(xs[i], xs[i + 1], ys[i], ys[i + 1]) for i in range(grid)]
    capped = False
    while True:
        cells = [c for c in cells if not (c[3] < c[0] or c[2] > c[1])]
        if not cells or all(c[1] - c[0] <= floor for c in cells):
            break
        if 2 * len(cells) > max_cells:
            capped = True
            break
        halves = []
        for x0, x1, y0, y1 in cells:
            xm = (x0 + x1) / 2
            ym = logT(xm)
            evals += 1
            halves += [(x0, xm, y0, ym), (xm, x1, ym, y1)]
        cells = halves
    G = lambda x: logT(x) - x  # noqa: E731
    roots, unresolved = [], []
    clusters, cur = [], []
    for c in cells:
        if cur and c[0] != cur[-1][1]:
            clusters.append(cur)
            cur = []
        cur.append(c)
    if cur:
        clusters.append(cur)
    tol = mp.mpf(10) ** (-mp.mp.dps + 3)
    for cl in clusters:
        xk = [c[0] for c in cl] + [cl[-1][1]]
        gk = [c[2] - c[0] for c in cl] + [cl[-1][3] - cl[-1][1]]
        found = False
        for i in range(len(xk)):
            if gk[i] == 0:
                roots.append(xk[i])
                found = True
            elif i + 1 < len(xk) and gk[i] * gk[i + 1] < 0:
                roots.append(mp.findroot(G, (xk[i], xk[i + 1]), solver="anderson", tol=tol))
                found = True
        if not found or capped:
            unresolved.append((float(mp.exp(xk[0])), float(mp.exp(xk[-1]))))
    roots.sort()
    deduped = []
    for x in roots:
        if not deduped or x - deduped[-1] > floor:
            deduped.append(x)
    return [mp.exp(x) for x in deduped], unresolved, evals


def _profile(sp: MPSpectra, gamma):
    """(L, τ, μ) at γ: profile risk, optimal scale, μ = φ_Σ(γ)."""
    lam = sp.lam
    mu = mp_phi(gamma, lam, [x * x for x in lam])
    a = mp.fsum(x * x / (x + gamma) for x in lam)
    b = mp.fsum(x**3 / (x + gamma) ** 2 for x in lam)
    c = mp.fsum(x * x / (x + gamma) ** 2 for x in lam)
    u = mp.fsum(s * s / (r + mu) for r, s in zip(sp.rho, sp.s))
    B = mp.fsum(r * s * s / (r + mu) ** 2 for r, s in zip(sp.rho, sp.s))
    Cq = mp.fsum(s * s / (r + mu) ** 2 for r, s in zip(sp.rho, sp.s))
    den = b * B + c * Cq
    return sp.null_risk - (a * u) ** 2 / den, a * u / den, mu


def _replace(opt: Optimum, **kw) -> Optimum:
    from dataclasses import replace

    return replace(opt, **kw)
