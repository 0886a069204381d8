"""The curated mutants: one plausible bug each, as (file, old snippet, new snippet).

``tests`` are the test files (or node ids) run against the mutant, ``verify`` the ``wpgd verify
--quick --only`` prefixes. ``old`` must occur exactly once in ``file`` (tests/tools/test_mutants.py
asserts it). ``drift=True`` marks mutants in files other branches are rewriting: if their snippet
is gone the runner reports them as stale instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Mutant", "MUTANTS", "SMOKE"]


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    old: str
    new: str
    description: str
    tests: tuple[str, ...]
    verify: tuple[str, ...] = ()
    origin: str = "curated"  # "campaign" (a survivor of the campaign) or "curated"
    drift: bool = False


T_RISK = ("tests/numerics/test_risk.py",)
T_SOLVER = ("tests/numerics/test_thresholds.py", "tests/numerics/test_solver.py", "tests/numerics/test_stationary.py",
            "tests/numerics/test_highprec.py")
T_FIXED = ("tests/numerics/test_fixedpoint.py", "tests/numerics/test_thresholds.py", "tests/numerics/test_solver.py")
T_SECULAR = ("tests/numerics/test_secular.py", "tests/numerics/test_solver.py")
T_CLASSES = ("tests/numerics/test_thresholds.py", "tests/numerics/test_classes.py")
T_GLA = ("tests/numerics/test_gla.py",)
T_CONSTRUCT = ("tests/numerics/test_thresholds.py", "tests/numerics/test_gla.py")
T_HP = ("tests/numerics/test_highprec.py",)
T_PROBLEM = ("tests/numerics/test_thresholds.py", "tests/numerics/test_problem.py")
def _ctl(*names: str) -> tuple[str, ...]:
    """The control tests of the named checks."""
    return tuple(f"tests/proofs_check/test_controls.py::test_control_is_rejected[{n}]" for n in names)
T_COND = ("tests/numerics/test_thresholds.py", "tests/numerics/test_conditions.py")


def _m(*args, **kw) -> Mutant:
    return Mutant(*args, **kw)


MUTANTS: list[Mutant] = [
    # ---- survivors of the campaign -------------------------------------------------------------
    _m("classes.is_monotone.no_sign", "wpgd/numerics/core/classes.py",
       "    if w[-1] < 0:\n        w = -w\n    return bool(np.all(w >= -tol)",
       "    return bool(np.all(w >= -tol)",
       "is_monotone without the sign normalisation (P absorbs the sign of ω)",
       T_CLASSES, ("gating.achievability",), origin="campaign"),
    _m("safety.psd_tol_1000x", "wpgd/numerics/core/safety.py", "PSD_RTOL = 1e-10", "PSD_RTOL = 1e-7",
       "PSD tolerance loosened 1000×", T_PROBLEM, (), origin="campaign", drift=True),
    _m("solver.residual_tol_1000x", "wpgd/numerics/core/solver.py", "RESIDUAL_TOL = 1e-8", "RESIDUAL_TOL = 1e-5",
       "solver residual tolerance loosened 1000×", T_SOLVER, ("optimum.solver_diagnostics",), origin="campaign"),
    _m("construct.big_30", "wpgd/numerics/nn/construct.py", "BIG = 40.0", "BIG = 30.0",
       "the construction's gate = 1 logit lowered from 40 to 30", T_CONSTRUCT, ("gating.",), origin="campaign"),
    _m("solver.highest_risk", "wpgd/numerics/core/solver.py", "    best = int(np.argmin(risks))",
       "    best = int(np.argmax(risks))",
       "the solver returns the highest-risk fixed point", T_SOLVER,
       ("optimum.solver_diagnostics", "optimum.uniqueness_stress"), origin="campaign"),
    _m("check.mc_z_400", "wpgd/proofs_check/risk_checks.py", "_MC_Z_MAX = 4.0", "_MC_Z_MAX = 400.0",
       "Monte Carlo check |z| ≤ 4 loosened to ≤ 400", _ctl("risk.closed_form_vs_monte_carlo"),
       ("risk.closed_form",), origin="campaign"),
    _m("check.compiled_tol_1000x", "wpgd/proofs_check/risk_checks.py", "_TOL_COMPILED = 1e-11",
       "_TOL_COMPILED = 1e-8", "compiled-vs-numeric tolerance loosened 1000×", _ctl("risk.compiled_vs_numeric"), ("risk.compiled",),
       origin="campaign"),
    _m("check.achievability_and_or", "wpgd/proofs_check/gating_checks.py",
       "    ok &= m[\"rev_diff\"] < _TOL_TIE and m[\"rev_scalar\"] <= m[\"rev_brute\"] + _TOL_TIE and m[\"rev_gain\"] > 1e-3",
       "    ok &= m[\"rev_diff\"] < _TOL_TIE or m[\"rev_scalar\"] <= m[\"rev_brute\"] + _TOL_TIE or m[\"rev_gain\"] > 1e-3",
       "an `and` turned into `or` in the achievability verdict", _ctl("gating.achievability"), ("gating.achievability",),
       origin="campaign"),
    _m("solver.converged_always", "wpgd/numerics/core/solver.py",
       "    converged = all(v < RESIDUAL_TOL for v in res.values()) and not scan.unresolved",
       "    converged = True", "`converged` no longer reads the residuals", T_SOLVER,
       ("optimum.solver_diagnostics",), origin="campaign"),
    _m("gla.chunked_state_decay", "wpgd/numerics/nn/gla.py",
       "        state = chunk_decay[:, n].unsqueeze(-1) * state + torch.einsum",
       "        state = state + torch.einsum", "chunked kernel forgets the decay of the carried state", T_GLA,
       ("gating.kernels_agree",), origin="campaign", drift=True),
    # ---- risk ---------------------------------------------------------------------------------------------
    _m("risk.cross_factor", "wpgd/numerics/core/risk.py", "        - 2.0 * a * problem.r_dot(omega)",
       "        - 1.0 * a * problem.r_dot(omega)", "risk: cross term without its factor 2", T_RISK, ("risk.",)),
    _m("risk.b_for_c", "wpgd/numerics/core/risk.py", "        + c * problem.quad_m2(omega)", "        + b * problem.quad_m2(omega)",
       "risk: b(P) in place of c(P) for the M2 term", T_RISK, ("risk.",)),
    _m("risk.a_transposed", "wpgd/numerics/core/risk.py", '    a = np.einsum("...ij,ji->...", P, s2)',
       '    a = np.einsum("...ij,ij->...", P, s @ s.T @ s)', "risk: a(P) = tr(P ⊙ Σ³) (wrong contraction)", T_RISK,
       ("risk.",)),
    _m("risk.c_uses_s2", "wpgd/numerics/core/risk.py", '    c = np.einsum("...ji,...jk,ki->...", P, sp, s)',
       '    c = np.einsum("...ji,...jk,ki->...", P, sp, s2)', "risk: c(P) with Σ² instead of Σ", T_RISK, ("risk.",)),
    _m("risk.b_pp", "wpgd/numerics/core/risk.py", '    b = np.einsum("...ji,...jk,ki->...", P, sp, s2)  # tr(Pᵀ Σ P Σ²)',
       '    b = np.einsum("...ij,...jk,ki->...", P, sp, s2)  # tr(P Σ P Σ²)', "risk: b(P) with P for Pᵀ", T_RISK,
       ("risk.",)),
    # ---- secular functions -------------------------------------------------------------------------------
    _m("secular.phi_inverse", "wpgd/numerics/core/secular.py", "        return 1.0 / np.sum(pi * e, axis=-1)",
       "        return np.sum(pi * e, axis=-1)", "φ returns E_π[e] instead of 1/E_π[e]", T_SECULAR, ("optimum.",)),
    _m("secular.ratio_power", "wpgd/numerics/core/secular.py", "    raw = (w / np.max(w)) * ratio * ratio",
       "    raw = (w / np.max(w)) * ratio", "φ weights with (e+t)⁻¹ instead of (e+t)⁻²", T_SECULAR, ("optimum.",)),
    _m("secular.eps_factor", "wpgd/numerics/core/secular.py", "        eps = -2.0 * t * nu_sum * nu_sum * var / mean_e",
       "        eps = -1.0 * t * nu_sum * nu_sum * var / mean_e", "elasticity without its factor 2", T_SECULAR,
       ("optimum.",)),
    _m("secular.gap_delta_sign", "wpgd/numerics/core/secular.py", "    return float((b - a) / (b + a))",
       "    return float((b - a) / (b + a + a))", "gap δ with a wrong denominator", T_SECULAR, ("optimum.gap",)),
    _m("secular.at_infinity", "wpgd/numerics/core/secular.py", "        return float(np.sum(w) / np.sum(w * e))",
       "        return float(np.sum(w) / np.sum(w * e * e))", "φ(∞) with Σwe² in the denominator", T_SECULAR,
       ("optimum.",)),
    # ---- solver -------------------------------------------------------------------------------------------
    _m("solver.profile_gain", "wpgd/numerics/core/solver.py", "    gain = (a * u) ** 2 / den * task.s_scale**2",
       "    gain = (a * u) ** 2 / den * task.s_scale", "profile risk: s_scale not squared", T_SOLVER, ("optimum.",)),
    _m("solver.scale_tau", "wpgd/numerics/core/solver.py", "    return problem.null_risk - gain, k * (a * u / den)",
       "    return problem.null_risk - gain, 2 * k * (a * u / den)", "optimal scale off by 2", T_SOLVER, ("optimum.",)),
    _m("solver.omega_norm", "wpgd/numerics/core/solver.py", "    omega = task.expand(levels / wmax)",
       "    omega = task.expand(levels / abs(levels[0]))", "ω* normalised by the first level, P* not rescaled",
       T_SOLVER, ("optimum.",)),
    _m("solver.interval_min", "wpgd/numerics/core/solver.py", "    return min(a, b), max(a, b)\n\n\ndef contraction",
       "    return min(a, b), 0.5 * (a + b)\n\n\ndef contraction", "invariant interval cut in half", T_SOLVER,
       ("optimum.",)),
    _m("solver.contraction_grid", "wpgd/numerics/core/solver.py", "    if -res.fun > es[i]:", "    if -res.fun > 1e300:",
       "contraction constant ignores the refinement", T_SOLVER, ("optimum.",)),
    _m("solver.resid_gradP", "wpgd/numerics/core/solver.py", "    gp = 2 * sig @ (inner - u * np.eye(problem.d)) @ sig",
       "    gp = 2 * sig @ (inner - u * np.eye(problem.d))", "∂L/∂P residual without its right Σ", T_SOLVER,
       ("optimum.solver_diagnostics",)),
    # ---- fixed points -------------------------------------------------------------------------------------
    _m("fixedpoint.exclusion_wrong", "wpgd/numerics/core/fixedpoint.py",
       "        excluded = (cells[:, 3] < cells[:, 0]) | (cells[:, 2] > cells[:, 1])",
       "        excluded = (cells[:, 3] < cells[:, 1]) | (cells[:, 2] > cells[:, 0])",
       "monotone exclusion with the cell ends swapped", T_FIXED, ("optimum.",)),
    _m("fixedpoint.no_unresolved", "wpgd/numerics/core/fixedpoint.py", "        if not found or capped:",
       "        if False:", "near-tangent cells never reported as unresolved", T_FIXED, ("optimum.",)),
    _m("fixedpoint.dedupe", "wpgd/numerics/core/fixedpoint.py", "        if not out or x - out[-1] > tol:",
       "        if not out or x - out[-1] > 1e-3:", "roots closer than 1e-3 merged", T_FIXED, ("optimum.",)),
    # ---- weighting / classes ------------------------------------------------------------------------------
    _m("weighting.gain_power", "wpgd/numerics/core/weighting.py", "    gain = float(np.sum(lam**2 / den))",
       "    gain = float(np.sum(lam / den))", "fixed-ω risk gain with λ instead of λ²", T_CLASSES, ("gating.",)),
    _m("weighting.P_sign", "wpgd/numerics/core/weighting.py", "    P = (u * (s / den)) @ u.T", "    P = (u * (abs(s) / den)) @ u.T",
       "fixed-ω best P loses the sign of rᵀω", T_CLASSES, ("gating.",)),
    _m("weighting.monotone_one_sign", "wpgd/numerics/core/weighting.py", "    for sgn in (1.0, -1.0):",
       "    for sgn in (1.0,):", "monotone cone searched with one sign only", T_CLASSES, ("gating.",)),
    _m("weighting.normaliser", "wpgd/numerics/core/weighting.py", "        return float(w[-1])",
       "        return float(abs(w[-1]))", "monotone weights normalised by |w_K| (sign kept)", T_CLASSES,
       ("gating.",)),
    _m("classes.geometric_power", "wpgd/numerics/core/classes.py", "    powers = np.arange(n - 1, -1, -1, dtype=np.float64)",
       "    powers = np.arange(0, n, dtype=np.float64)", "geometric weights decay toward the query", T_CLASSES,
       ("gating.class_ordering",)),
    _m("classes.vector_rank", "wpgd/numerics/core/classes.py", "    r_mono, r_free = min(m, d), min(m // 2, d)",
       "    r_mono, r_free = min(m, d), min((m + 1) // 2, d)", "vector gating: 2d−1 channels counted as d free",
       T_CLASSES, ("gating.vector_width",)),
    _m("conditions.assumption3_sign", "wpgd/numerics/core/conditions.py", "    w = _sign_normalised(w)\n", "",
       "Assumption 3 without the sign normalisation", T_COND, ()),
    # ---- construction / kernels ---------------------------------------------------------------------------
    _m("construct.gate_ratio", "wpgd/numerics/nn/construct.py", "    ratios = [w[k] / w[k + 1] for k in range(w.size - 1)]",
       "    ratios = [w[k + 1] / w[k] if w[k] else 1.0 for k in range(w.size - 1)]",
       "scalar construction with inverted gate ratios", T_CONSTRUCT, ("gating.",)),
    _m("construct.sign_Q", "wpgd/numerics/nn/construct.py", "    return ChannelGroup(Q=sign * w[-1] * P,",
       "    return ChannelGroup(Q=w[-1] * P,", "scalar construction drops the sign of ω", T_CONSTRUCT,
       ("gating.achievability",)),
    _m("construct.log_gate_mid", "wpgd/numerics/nn/construct.py",
       "    mid[both] = log_w[:-1][both] - log_w[1:][both]", "    mid[both] = log_w[1:][both] - log_w[:-1][both]",
       "log_gates_for_weights inverts the ratios", T_CONSTRUCT, ("gating.weights_monotone",)),
    _m("gla.parallel_mask", "wpgd/numerics/nn/gla.py",
       "    causal = torch.ones(t_len, t_len, dtype=torch.bool, device=q.device).tril()",
       "    causal = torch.ones(t_len, t_len, dtype=torch.bool, device=q.device).tril(-1)",
       "parallel kernel drops the diagonal (s = t) term", T_GLA, ("gating.",), drift=True),
    _m("gla.suffix_inclusive", "wpgd/numerics/nn/gla.py",
       "    tail = log_g.narrow(dim, 1, log_g.shape[dim] - 1)", "    tail = log_g.narrow(dim, 0, log_g.shape[dim] - 1)",
       "suffix sums off by one (query-only and chunked kernels)", T_GLA, ("gating.kernels_agree",), drift=True),
    _m("gla.recurrent_order", "wpgd/numerics/nn/gla.py",
       "        state = decay * state + k[:, t].unsqueeze(-1) * v[:, t].unsqueeze(-2)",
       "        state = decay * (state + k[:, t].unsqueeze(-1) * v[:, t].unsqueeze(-2))",
       "recurrent kernel decays the new token too", T_GLA, ("gating.",), drift=True),
    _m("gla.chunk_q_decay", "wpgd/numerics/nn/gla.py", "    q_in = q * torch.exp(cum)", "    q_in = q",
       "chunked kernel: inter-chunk queries not decayed", T_GLA, ("gating.kernels_agree",), drift=True),
    # ---- Monte Carlo (sampling model) ---------------------------------------------------------------------
    _m("mc.noise_sqrt", "wpgd/numerics/core/montecarlo.py",
       "    labels += math.sqrt(problem.noise) * rng.standard_normal((batch, n + 1))",
       "    labels += problem.noise * rng.standard_normal((batch, n + 1))", "Monte Carlo noise with σ² as its scale",
       T_RISK, ("risk.closed_form",), drift=True),
    _m("mc.query_task", "wpgd/numerics/core/montecarlo.py", "        idx = np.concatenate([problem.segment_index, [problem.num_segments]])",
       "        idx = np.concatenate([problem.segment_index, [problem.num_segments - 1]])",
       "Monte Carlo: the query draws the last segment's task", T_RISK, ("risk.closed_form",), drift=True),
    # ---- high precision ----------------------------------------------------------------------------------
    _m("highprec.min_profile", "wpgd/numerics/exact/highprec.py", "        (L, tau, mu), gamma = min(scored, key=lambda x: x[0][0])",
       "        (L, tau, mu), gamma = max(scored, key=lambda x: x[0][0])", "high precision picks the worst root",
       T_HP, ("optimum.highprec",)),
    _m("highprec.elasticity", "wpgd/numerics/exact/highprec.py", "    return 2 * t * (B3 / B - A3 / A)",
       "    return t * (B3 / B - A3 / A)", "high-precision elasticity without its factor 2", T_HP,
       ("optimum.highprec",)),
    # ---- pass criteria of the checks ----------------------------------------------------------------------
    _m("check.structured_tol", "wpgd/proofs_check/risk_checks.py", "_TOL_STRUCTURED = 1e-12", "_TOL_STRUCTURED = 1e-9",
       "risk structured-vs-dense tolerance 1000×", _ctl("risk.structured_vs_dense"), ("risk.structured_vs_dense",)),
    _m("check.scale_tol", "wpgd/proofs_check/risk_checks.py", "_TOL_SCALE = 1e-12", "_TOL_SCALE = 1e-9",
       "scale-invariance tolerance 1000×", _ctl("risk.scale_invariance"), ("risk.scale_invariance",)),
    _m("check.fd_tol", "wpgd/proofs_check/stationarity_checks.py", "_TOL_FD = 1e-6", "_TOL_FD = 1e-3",
       "finite-difference tolerance 1000×", _ctl("stationarity.gradient_vs_finite_differences"), ("stationarity.gradient_vs_finite_differences",)),
    _m("check.theorem3_and_or", "wpgd/proofs_check/optimum_checks.py",
       "    ok = (m[\"worst_gap\"] <= _TOL_GAP and not m[\"better\"] and m[\"worst_recomputed\"] <= _TOL_GAP",
       "    ok = (m[\"worst_gap\"] <= _TOL_GAP or not m[\"better\"] or m[\"worst_recomputed\"] <= _TOL_GAP",
       "Theorem 3 verdict with `or`", _ctl("optimum.theorem3_global_minimum"), ("optimum.theorem3_global_minimum",)),
    _m("check.kernel_tol", "wpgd/proofs_check/gating_class_checks.py", "_TOL_KERNEL = 1e-12", "_TOL_KERNEL = 1e-9",
       "kernel-agreement tolerance 1000×", _ctl("gating.kernels_agree"), ("gating.kernels_agree",)),
    _m("check.diag_chosen", "wpgd/proofs_check/solver_checks.py", "        if not r[\"lowest_chosen\"]:",
       "        if False:", "solver diagnostics stop checking which fixed point is chosen", _ctl("optimum.solver_diagnostics"), ("optimum.solver_diagnostics",)),
    _m("check.monotone_and_or", "wpgd/proofs_check/gating_checks.py",
       "    ok = sym and mono_ok and worst < _TOL_REALISE", "    ok = sym and (mono_ok or worst < _TOL_REALISE)",
       "weights-monotone verdict with `or`", _ctl("gating.weights_monotone"), ("gating.weights_monotone",)),
]

SMOKE = ("solver.highest_risk", "check.compiled_tol_1000x")
"""The bounded subset the test suite runs (each must be killed by its targeted tests)."""
