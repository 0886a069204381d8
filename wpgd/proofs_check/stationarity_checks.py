"""Symbolic checks of the stationarity theory (docs/theory.md §5), derived in ``theory``.

* ``stationarity.gradient_matrix_calculus``: the matrix-calculus gradient of the trace-form risk
  equals element-wise differentiation of the explicit small-size risk.
* ``stationarity.gradient_vs_finite_differences``: the compiled gradient equals central
  finite differences of ``wpgd.numerics.core.risk`` (independent code).
* ``stationarity.conditions_solved``: SymPy's solutions of ∂L/∂P = 0 and ∂L/∂ω = 0, compiled,
  zero the (independent) numerical gradient on random problems.
* ``stationarity.secular_reduction``: with P = (Σ+γI)⁻¹, c/b = φ_Σ(γ); with ω = (M1+μM2)⁻¹r,
  ωᵀM2ω/ωᵀM1ω = φ_R(μ) (symbolic identities), and φ′ < 0 (SOS certificate).
* ``stationarity.optimal_scale``: the derived t*, L* agree with minimising L(tP, ω) over t.

Each pass criterion is one ``_criterion_*`` function shared with the check's negative control,
which feeds it a wrong derivation (a transposed gradient, wrong masses in φ, a wrong stationary
map) and, where there is a tolerance, an error of about 10× the tolerance.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from wpgd.numerics.core.risk import risk

from .random_problems import mixed_problems, random_pw
from .registry import Evidence, any_passed, register

__all__: list[str] = []


def _dense_problems(rng, count):
    """Mixed random problems, all in dense form (the compiled theory callables take R̄)."""
    problems = mixed_problems(rng, count, dims=(1, 5), tokens=(1, 7), num_segments=(1, 4), segment_size=(1, 5),
                              condition=10.0)
    return [pr.as_dense() for pr in problems]


def _fd_gradient(pr, P, w, h=1e-6):
    gP = np.zeros_like(P)
    for idx in np.ndindex(*P.shape):
        E = np.zeros_like(P)
        E[idx] = h
        gP[idx] = (risk(pr, P + E, w) - risk(pr, P - E, w)) / (2 * h)
    gw = np.zeros_like(w)
    for i in range(w.size):
        e = np.zeros_like(w)
        e[i] = h
        gw[i] = (risk(pr, P, w + e) - risk(pr, P, w - e)) / (2 * h)
    return gP, gw


def _criterion_gradient_identity(diffs) -> Evidence:
    """Pass iff every entry of every ``(d, n, ΔP, Δω)`` is exactly 0."""
    sizes = [(d, n) for d, n, _, _ in diffs]
    bad = [(d, n) for d, n, gP, gw in diffs if any(e != 0 for e in gP) or any(e != 0 for e in gw)]
    where = ", ".join(f"(d={d},n={n})" for d, n in sizes)
    return Evidence(not bad, f"differences are exactly 0 at {where}" if not bad else f"nonzero at {bad}",
                    {"sizes": sizes, "failed": bad})


def _gradient_minus_explicit_transposed(d: int, n: int):
    """As :func:`wpgd.theory.gradient.gradient_minus_explicit`, with the matrix gradient transposed
    (the classic ∂tr(AP)/∂P = A vs Aᵀ slip)."""
    import sympy as sp
    from sympy.polys.rings import PolyRing

    from wpgd.theory.explicit import explicit_risk
    from wpgd.theory.gradient import gradient_at

    L, S = explicit_risk(d, n)
    gP, gw = gradient_at(d, n)
    gP = gP.T
    gens = sorted(L.free_symbols | gP.free_symbols | gw.free_symbols, key=sp.default_sort_key)
    ring = PolyRing(gens, sp.QQ)
    Lp = ring.from_expr(L)
    gen = dict(zip(ring.symbols, ring.gens))
    dP = [(Lp.diff(gen[S.P[a, b]]) - ring.from_expr(gP[a, b])).as_expr() for a in range(d) for b in range(d)]
    dw = [(Lp.diff(gen[S.omega[i]]) - ring.from_expr(gw[i, 0])).as_expr() for i in range(n)]
    return dP, dw


def _control_gradient_symbolic(quick: bool) -> Evidence:
    return _criterion_gradient_identity([(2, 1, *_gradient_minus_explicit_transposed(2, 1))])


@register(
    "stationarity.gradient_matrix_calculus",
    claim="matrix-calculus ∂L/∂P, ∂L/∂ω of the trace form == element-wise derivatives of the explicit risk",
    method="symbolic (SymPy)",
    group="optimum",
    control=_control_gradient_symbolic,
)
def _gradient_symbolic(quick: bool) -> Evidence:
    from wpgd.theory.gradient import gradient_minus_explicit

    sizes = [(1, 1), (2, 2)] if quick else [(1, 1), (1, 3), (2, 2), (3, 2), (3, 3)]
    return _criterion_gradient_identity([(d, n, *gradient_minus_explicit(d, n)) for d, n in sizes])


_TOL_FD = 1e-6


def _criterion_fd(worst: float, count: int) -> Evidence:
    return Evidence(worst <= _TOL_FD,
                    f"max relative difference {worst:.2e} over {count} problems (tol {_TOL_FD:.0e}, h = 1e-6)",
                    {"max_rel_err": worst})


def _fd_error(quick: bool, grad) -> tuple[float, int]:
    rng = np.random.default_rng(17)
    worst, count = 0.0, (6 if quick else 20)
    for pr in _dense_problems(rng, count):
        P, w = random_pw(rng, pr, scale=0.3)
        gP, gw = grad(pr.sigma, pr.task_matrix, P, w, pr.noise)
        fP, fw = _fd_gradient(pr, P, w)
        scale = max(np.max(np.abs(fP)), np.max(np.abs(fw)), 1.0)
        worst = max(worst, np.max(np.abs(gP - fP)) / scale, np.max(np.abs(gw - fw)) / scale)
    return worst, count


def _control_fd(quick: bool) -> Evidence:
    from wpgd.theory.gradient import compiled_risk_gradient

    grad = compiled_risk_gradient()

    def transposed(*args):
        gP, gw = grad(*args)
        return gP.T, gw

    def near(*args):  # ∂L/∂ω off by 3e-5 of the gradient scale: 30× the tolerance
        gP, gw = grad(*args)
        scale = max(np.max(np.abs(gP)), np.max(np.abs(gw)), 1.0)
        return gP, gw + 3e-5 * scale

    return any_passed(_criterion_fd(*_fd_error(True, transposed)), _criterion_fd(*_fd_error(True, near)))


@register(
    "stationarity.gradient_vs_finite_differences",
    claim="compiled symbolic gradient == central finite differences of wpgd.numerics.core.risk",
    method="symbolic→numeric",
    group="optimum",
    control=_control_fd,
)
def _gradient_fd(quick: bool) -> Evidence:
    from wpgd.theory.gradient import compiled_risk_gradient

    return _criterion_fd(*_fd_error(quick, compiled_risk_gradient()))


_TOL_SOLVED = 1e-6


def _criterion_solved(worst: float, count: int) -> Evidence:
    return Evidence(worst <= _TOL_SOLVED, f"max |gradient|/(r_q trΣ+σ²) at the solved points {worst:.2e} over {count} "
                    f"problems (tol {_TOL_SOLVED:.0e})", {"max_gradient": worst})


def _solved_gradient(quick: bool, P_of_w, w_of_P) -> tuple[float, int]:
    rng = np.random.default_rng(23)
    worst, count = 0.0, (6 if quick else 20)
    for pr in _dense_problems(rng, count):
        P0, w0 = random_pw(rng, pr)
        P = P_of_w(pr.sigma, pr.task_matrix, w0, pr.noise)
        fP, _ = _fd_gradient(pr, P, w0, h=1e-7 * max(1.0, np.max(np.abs(P))))
        w = w_of_P(pr.sigma, pr.task_matrix, P0, pr.noise)
        _, fw = _fd_gradient(pr, P0, w, h=1e-7 * max(1.0, np.max(np.abs(w))))
        worst = max(worst, np.max(np.abs(fP)) / pr.null_risk, np.max(np.abs(fw)) / pr.null_risk)
    return worst, count


def _control_solved(quick: bool) -> Evidence:
    from wpgd.theory.stationarity import compiled_stationary_maps

    P_of_w, w_of_P = compiled_stationary_maps()
    # the ω-map with (bM1 + cM2) replaced by (bM1 + 0.999·cM2): a 1e-3 slip in one coefficient
    def w_wrong(sigma, rbar, P, noise):
        return w_of_P(sigma, rbar, P, noise * 0.999) if noise > 0 else 1.001 * w_of_P(sigma, rbar, P, noise)

    # the P-map off by a factor 1 + 3e-5
    near = lambda *args: P_of_w(*args) * (1 + 3e-5)  # noqa: E731
    return any_passed(_criterion_solved(*_solved_gradient(True, P_of_w, w_wrong)),
                      _criterion_solved(*_solved_gradient(True, near, w_of_P)))


@register(
    "stationarity.conditions_solved",
    claim="P = rᵀω·(ωᵀM1ω Σ + ωᵀM2ω I)⁻¹ zeroes ∂L/∂P; ω = a(bM1 + cM2)⁻¹r zeroes ∂L/∂ω",
    method="symbolic solve → numeric gradient",
    group="optimum",
    control=_control_solved,
)
def _conditions(quick: bool) -> Evidence:
    from wpgd.theory.stationarity import compiled_stationary_maps

    return _criterion_solved(*_solved_gradient(quick, *compiled_stationary_maps()))


def _criterion_secular(parts: dict) -> Evidence:
    ok = all(v == 0 for v in parts.values())
    return Evidence(ok, "; ".join(f"{k}: {'0' if v == 0 else 'NONZERO'}" for k, v in parts.items()),
                    {k: str(v) for k, v in parts.items()})


def _control_secular(quick: bool) -> Evidence:
    from wpgd.theory.secular import composition_elasticity_identity
    from wpgd.theory.stationarity import sigma_reduction_difference

    # three true parts and one wrong one: an `and` turned into `or` would pass it
    return _criterion_secular({"φ_Σ reduction with masses λ (d=2)": sigma_reduction_difference(2, mass_power=1),
                               "elasticity chain rule": composition_elasticity_identity()})


@register(
    "stationarity.secular_reduction",
    claim="c/b = φ_Σ(γ) at P = (Σ+γI)⁻¹ and ωᵀM2ω/ωᵀM1ω = φ_R(μ) at ω = (M1+μM2)⁻¹r; φ′ < 0",
    method="symbolic (SymPy)",
    group="optimum",
    control=_control_secular,
)
def _secular(quick: bool) -> Evidence:
    from wpgd.theory.secular import composition_elasticity_identity, phi_derivative_certificate
    from wpgd.theory.stationarity import r_reduction_difference, sigma_reduction_difference

    m_sigma, m_r, m_phi = (3, 1, 2) if quick else (4, 2, 3)
    parts = {
        f"φ_Σ reduction (d={m_sigma})": sigma_reduction_difference(m_sigma),
        f"φ_R reduction (n={m_r})": r_reduction_difference(m_r),
        f"φ′·S₁² + 2Σ w_k w_l (e_k−e_l)²/… (m={m_phi})": phi_derivative_certificate(m_phi),
        "elasticity chain rule": composition_elasticity_identity(),
    }
    return _criterion_secular(parts)


_TOL_SCALE = 1e-10


def _criterion_scale(worst: float, count: int) -> Evidence:
    return Evidence(worst <= _TOL_SCALE, f"max |L* − L(t*P, ω)| and max(L* − min_t L) {worst:.2e} (relative, tol "
                    f"{_TOL_SCALE:.0e}) over {count} problems", {"max_err": worst})


def _scale_error(quick: bool, f) -> tuple[float, int]:
    rng = np.random.default_rng(29)
    worst, count = 0.0, (6 if quick else 20)
    for pr in _dense_problems(rng, count):
        P, w = random_pw(rng, pr)
        t_star, l_star = f(pr.sigma, pr.task_matrix, P, w, pr.noise)
        res = minimize_scalar(lambda t: risk(pr, t * P, w), bracket=(0.0, 1.0), tol=1e-12)
        worst = max(worst, abs(l_star - risk(pr, t_star * P, w)) / pr.null_risk,
                    max(0.0, l_star - res.fun) / pr.null_risk)
    return worst, count


def _control_scale(quick: bool) -> Evidence:
    from wpgd.theory.stationarity import compiled_optimal_scale

    f = compiled_optimal_scale()

    def near(*args):  # L* reported 1e-9·(r_q trΣ + σ²) too high: 10× the tolerance
        t, l = f(*args)
        return t, l + 1e-9 * (args[1][-1, -1] * np.trace(args[0]) + args[4])

    def half_t(*args):  # t* off by a factor 2 (a missing 2 in the derivation)
        t, l = f(*args)
        return 0.5 * t, l

    return any_passed(_criterion_scale(*_scale_error(True, near)), _criterion_scale(*_scale_error(True, half_t)))


@register(
    "stationarity.optimal_scale",
    claim="t* = a·rᵀω/(b·ωᵀM1ω + c·ωᵀM2ω) minimises L(tP, ω) with L* = L₀ − (a·rᵀω)²/(…)",
    method="symbolic → numeric minimisation",
    group="optimum",
    control=_control_scale,
)
def _scale(quick: bool) -> Evidence:
    from wpgd.theory.stationarity import compiled_optimal_scale

    return _criterion_scale(*_scale_error(quick, compiled_optimal_scale()))
