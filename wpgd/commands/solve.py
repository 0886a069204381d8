"""``wpgd solve``: the optimal WPGD algorithm (P*, ω*) of a problem spec, with diagnostics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from numerics.errors import InvalidProblemError
from numerics.spec import load_spec

from ..flags import SEED, integer
from ..io import print_json, write_output_set

MAX_DIGITS = 10_000

HELP = "optimal preconditioner and token weights (P*, ω*) and the optimal risk of a problem spec"
DESCRIPTION = """\
Solve min over (P, ω) of the WPGD population risk (docs/theory.md §5): P* ∝ (Σ + γ*I)^-1,
ω* ∝ (M1 + μ*M2)^-1 r, where γ* is a fixed point of φ_R∘φ_Σ. Every fixed point on the
invariant interval is found (log-scale sign scan, monotone exclusion, Brent) and the one of
lowest risk is returned; ω* is normalised to max|ω*| = 1 and the optimal scale sits in P*.
Segment specs use the structured O(K³ + d³ + n) path (10⁷ tokens are fine).

  --precision D   repeat the solve in D-digit arithmetic, its own root search, and report the
                  float64 error (Arb: proven balls for risk, γ*, μ*, ω*; docs/certificate.md)
  --certify       ball/interval proof that the fixed point is unique, or of how many there are
  --backend B     arb (python-flint ball arithmetic, any size), mpmath (d and n/K ≤ 80 unless
                  diagonal), auto = arb when python-flint is installed (default)
  --class C       optimum over one architecture's weight class (linear, scalar, geometric,
                  vector, unconstrained) or all of them side by side
  --stationary    list every stationary point family with its Hessian inertia (Theorem 2)
  --steps L       L ≥ 2 with --class scalar or linear: the L-step WPGD reference, the best
                  L-layer causal WPGD recursion (an L-layer GLA with the WPGD construction)
                  fitted on sampled prompts and scored on fresh ones with a 95% CI; no closed
                  form exists (docs/multilayer.md). Needs PyTorch; 10–60 s at d = 10, n = 20

examples:
  wpgd solve --spec examples/two_segments.toml
  wpgd solve --spec examples/two_segments.toml --precision 50 --certify --out runs/opt --json
  wpgd solve --spec examples/two_segments.toml --class all
  wpgd solve --spec examples/two_segments.toml --class scalar --steps 2
"""

CLASS_CHOICES = ("unconstrained", "linear", "scalar", "geometric", "vector", "all")


def add_arguments(p) -> None:
    p.add_argument("--spec", required=True, metavar="FILE", help="problem spec (TOML), see README")
    p.add_argument("--precision", type=integer(20, MAX_DIGITS), metavar="DIGITS",
                   help=f"also solve with DIGITS-digit mpmath (20..{MAX_DIGITS})")
    p.add_argument("--certify", action="store_true", help="prove uniqueness of the fixed point (interval arithmetic)")
    p.add_argument("--backend", default=None, choices=("auto", "arb", "mpmath"),
                   help="exact backend of --certify/--precision, only with one of them (refused without): arb "
                        "(python-flint), mpmath, or auto = arb when python-flint is installed (default auto)")
    p.add_argument("--class", dest="cls", default="unconstrained", choices=CLASS_CHOICES,
                   help="weight class to optimise over (default unconstrained)")
    p.add_argument("--key-width", type=integer(1, 2**16), metavar="M",
                   help="key width of the vector-gated layer for --class vector/all (default 2d: reaches the optimum)")
    p.add_argument("--stationary", action="store_true", help="classify every stationary point (Hessian inertia)")
    p.add_argument("--steps", type=integer(1, 8), default=1, metavar="L",
                   help="WPGD steps (layers); L ≥ 2 fits the L-step reference for --class scalar or linear (default 1)")
    p.add_argument("--seed", type=SEED, default=0,
                   help="seed of the L-step fit's prompt samples and starts, 0..2^32-1 (default 0)")
    p.add_argument("--out", metavar="DIR",
                   help="save P.npy, omega.npy and summary.json into DIR, as one set (all or nothing; "
                        "files of an earlier run there are replaced together)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")


def run(args) -> int:
    problem = load_spec(args.spec)
    if args.precision is not None and args.precision < 20:
        raise InvalidProblemError(f"--precision must be at least 20 digits, got {args.precision}")
    if args.cls not in ("unconstrained", "all") and (args.precision is not None or args.certify or args.stationary):
        raise InvalidProblemError("--precision, --certify and --stationary apply to --class unconstrained (or all)")
    if args.key_width is not None and (args.key_width < 1 or args.cls not in ("vector", "all")):
        raise InvalidProblemError("--key-width must be a positive integer and goes with --class vector or all")
    if args.backend is not None and not (args.certify or args.precision is not None):
        raise InvalidProblemError("--backend chooses the backend of --certify/--precision: give one of them too, "
                                  "or drop --backend")
    if args.steps < 1:
        raise InvalidProblemError(f"--steps must be ≥ 1, got {args.steps}")
    if args.steps > 1 and args.cls not in ("scalar", "linear"):
        raise InvalidProblemError("--steps L ≥ 2 goes with --class scalar or --class linear (the L-step recursion "
                                  "with scalar gates by token type, or without gates)")
    if args.seed < 0:
        raise InvalidProblemError(f"--seed must be ≥ 0, got {args.seed}")
    if args.precision is not None:
        _require_precision(problem, args.precision)
    if args.steps > 1:
        out, arrays = _multistep(problem, args)
    elif args.cls == "unconstrained":
        out, arrays, _ = _unconstrained(problem, args)
    elif args.cls == "all":
        out, arrays = _all_classes(problem, args)
    else:
        res = _class_optimum(problem, args.cls, args.key_width)
        out = {"problem": problem.describe(), "class": args.cls, **_class_dict(res)}
        arrays = {"P": res.P, "omega": res.omega}
    if args.out:
        write_output_set(Path(args.out), {f"{name}.npy": arr for name, arr in arrays.items()},
                         {"summary.json": out})
    if args.json:
        print_json(out)
    else:
        _print_text(out, args)
    return 0


def _float64_refusal(what: str, problem, exc: BaseException) -> str:
    """Why ``what`` failed in float64 although the problem was brought to unit scale: the ratio of
    the noise to the signal, which rescaling leaves unchanged."""
    e_s, e_t = problem.scale_exponents()
    ratio = problem.noise / np.ldexp(1.0, e_s + e_t) if abs(e_s + e_t) < 1000 else float("nan")
    return (f"{what} cannot be computed in float64 for this problem ({type(exc).__name__}: {exc}); its noise-to-signal "
            f"ratio σ²/(λmax(Σ)·max|R̄|) ≈ {ratio:.3g} is too extreme (rescaling does not change it)")


def _require_precision(problem, digits: int) -> None:
    """Refuse an mpmath solve whose estimated time exceeds the limit (numerics.limits): about
    30·(m³ + d³) multiprecision operations of ~1 µs·(digits/50)^1.6 each (m = K+1 or n+1)."""
    from numerics.limits import require_seconds

    m = (problem.num_segments or problem.n) + 1
    ops = 30.0 * (float(m) ** 3 + float(problem.d) ** 3)
    require_seconds(f"a {digits}-digit solve (d = {problem.d}, m = {m})", ops * 1e-6 * max(1.0, digits / 50) ** 1.6)


def _unconstrained(problem, args):
    from numerics.units import extreme_exponents

    exps = extreme_exponents(problem)
    if exps is not None and (args.certify or args.precision is not None or args.stationary):
        return _unconstrained_rescaled(problem, args, *exps)
    return _unconstrained_plain(problem, args)


def _unconstrained_rescaled(problem, args, e_s: int, e_t: int):
    """--precision/--certify/--stationary at extreme scales: the float64 optimum from solve() (which
    rescales itself), the exact/stationary parts computed on the rescaled problem and mapped back."""
    import argparse

    from numerics.units import map_units, units_note

    plain = argparse.Namespace(**{**vars(args), "certify": False, "precision": None, "stationary": False})
    out, arrays, opt = _unconstrained_plain(problem, plain)
    hat, _, _ = _unconstrained_plain(problem.rescaled(e_s, e_t), args)
    for key in ("high_precision", "certificate", "certified", "stationary_points"):
        if key in hat and hat[key] is not None:
            out[key] = map_units(hat[key], e_s, e_t)
    out["rescaled"] = units_note(e_s, e_t)
    return out, arrays, opt


def _unconstrained_plain(problem, args):
    from numerics.ball._flint import resolve_backend
    from numerics.solver import solve

    backend = resolve_backend(args.backend or "auto") if (args.certify or args.precision is not None) else None
    opt = solve(problem, certify=args.certify and backend == "mpmath", certify_digits=max(30, args.precision or 0))
    out = {"problem": problem.describe(), "class": "unconstrained", **opt.to_dict()}
    if opt.certified is not None:
        out["certificate"] = {"backend": "mpmath", **out["details"].pop("certificate")}
    if backend == "arb":
        _arb_exact(problem, args, opt, out)
    elif args.precision is not None and opt.degenerate is None:
        from numerics.highprec import solve_highprec

        hp = solve_highprec(problem, args.precision, float_optimum=opt)
        out["high_precision"] = {
            "digits": args.precision,
            "risk": hp.details["risk"],
            "normalized_risk": hp.details["normalized_risk"],
            "gamma": hp.details["gamma"],
            "mu": hp.details["mu"],
            "float64_rel_error": {
                "risk": abs(opt.risk - hp.risk) / abs(hp.risk),
                "gamma": abs(opt.gamma - hp.gamma) / hp.gamma,
                "omega": _rel(opt.omega, hp.omega),
                "P": _rel(opt.P, hp.P),
            },
        }
    if args.stationary:
        from numerics.stationary import classify

        try:
            with np.errstate(all="raise", under="ignore"):  # a failure is an exit-2 line, never a warning
                out["stationary_points"] = [sp.to_dict() for sp in classify(problem, opt)]
        except (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError) as exc:
            raise InvalidProblemError(_float64_refusal("--stationary (the Hessian classification)", problem, exc)) from None
    return out, {"P": opt.P, "omega": opt.omega}, opt


def _arb_exact(problem, args, opt, out) -> None:
    """--certify / --precision on the Arb layer (numerics.ball): certificate and ball solve."""
    from numerics.ball import certify_arb, solve_ball

    cert = None
    if args.precision is not None and opt.degenerate is None:
        hp = solve_ball(problem, args.precision)
        cert = hp.certificate
        rel = lambda a, b: abs(a - b.value) / abs(b.value)  # noqa: E731
        out["high_precision"] = {
            "backend": "arb", "digits": args.precision, "risk": hp.risk.mid, "normalized_risk": hp.normalized_risk.mid,
            "gamma": hp.gamma.mid, "mu": hp.mu.mid, "balls": hp.to_dict(omega=False),
            "omega_balls": [w.to_dict() for w in hp.omega],
            "float64_rel_error": {"risk": rel(opt.risk, hp.risk), "gamma": rel(opt.gamma, hp.gamma),
                                  "mu": rel(opt.mu, hp.mu), "omega": _rel(opt.omega, hp.omega_float)},
        }
    if args.certify:
        cert = certify_arb(problem, 30) if cert is None else cert
        out["certified"] = cert.certified
        out["certificate"] = cert.to_dict()


def _multistep(problem, args):
    from numerics.multistep import multistep_optimum
    from numerics.units import extreme_exponents, map_units, units_note

    exps = extreme_exponents(problem)
    fitted = problem if exps is None else problem.rescaled(*exps)
    res = multistep_optimum(fitted, args.steps, gating=args.cls, seed=args.seed, progress=not args.json)
    body = res.to_dict()
    arrays = {f"Q{layer + 1}": Q for layer, (Q, _) in enumerate(res.params)}
    if exps is not None:  # the fit ran in unit scale: risks and Q map back exactly (powers of two)
        body = map_units(body, *exps)
        arrays = {k: map_units({"Q": v}, *exps, as_array=True)["Q"] for k, v in arrays.items()}
        body["rescaled"] = units_note(*exps)
    out = {"problem": problem.describe(), "class": args.cls, "steps": args.steps, **body}
    return out, arrays


def _rel(a, b) -> float:
    import numpy as np

    nb = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / nb) if nb > 0 else float(np.linalg.norm(a))


def _class_optimum(problem, cls, key_width=None):
    from numerics.classes import class_optimum

    return class_optimum(problem, cls, key_width=key_width if cls == "vector" else None)


def _class_dict(res) -> dict:
    return {"risk": res.risk, "normalized_risk": res.normalized_risk, "label": res.label, "details": res.details}


def _all_classes(problem, args):
    from numerics.classes import class_gaps

    out, arrays, optima = {}, {}, {}
    uncon, arr, opt = _unconstrained(problem, args)
    for cls in ("linear", "geometric", "scalar", "vector"):
        res = _class_optimum(problem, cls, args.key_width)
        optima[cls] = res
        out[cls] = _class_dict(res)
        arrays[f"{cls}_P"], arrays[f"{cls}_omega"] = res.P, res.omega
    uncon.pop("problem")
    out["unconstrained"] = uncon
    arrays["unconstrained_P"], arrays["unconstrained_omega"] = arr["P"], arr["omega"]
    optima["unconstrained"] = opt  # class_gaps reads normalized_risk and omega, which Optimum has
    return {"problem": problem.describe(), **out, **class_gaps(optima)}, arrays



def _print_text(out: dict, args) -> None:
    if args.cls == "all":
        print(f"{'class':<14} {'risk':>16} {'normalized':>12}  label")
        for cls in ("linear", "geometric", "scalar", "vector", "unconstrained"):
            o = out[cls]
            label = o.get("label", "unconstrained WPGD (numerics.solver.solve)")
            print(f"{cls:<14} {o['risk']:>16.10g} {o['normalized_risk']:>12.8f}  {label}")
        for line in out["summary"]:
            print(f"  - {line}")
        return
    pr = out["problem"]
    segs = f" (segments {pr['segments']})" if pr.get("form") == "segments" and len(pr["segments"]) <= 12 else ""
    print(f"problem          d = {pr['d']}, n = {pr['n']}{segs}, tr Σ = {pr['trace_sigma']:.6g}, σ² = {pr['noise']:.6g}")
    if args.steps > 1:
        lo, hi = out["normalized_ci"]
        print(f"class            {args.cls}, {args.steps}-step causal WPGD recursion (L-layer GLA construction)")
        print(f"risk             {out['risk']:.8g}   (fresh prompts; an upper-bound estimate of the optimum)")
        print(f"normalized risk  {out['normalized_risk']:.6f}  95% CI [{lo:.6f}, {hi:.6f}] "
              f"(±{out['rel_ci_halfwidth']:.2%}, {out['samples'][1]} prompts)")
        print(f"in-sample        {out['fit_normalized_risk']:.6f}   ({out['samples'][0]} fitting prompts)")
        print(f"one step         {out['one_layer_normalized_risk']:.6f}   (closed-form {args.cls} optimum)")
        for layer, prm in enumerate(out["params"], 1):
            gates = ", ".join(f"{k} {v:.4g}" for k, v in prm["gates"].items()) or "none (linear)"
            print(f"layer {layer:<10} gates: {gates}")
        print(f"fit              {'converged' if out['converged'] else 'NOT converged'}: {out['message']} "
              f"({out['seconds']:.1f} s)")
        return
    if args.cls != "unconstrained":
        print(f"class            {args.cls}: {out['label']}")
        print(f"risk             {out['risk']:.10g}")
        print(f"normalized risk  {out['normalized_risk']:.10g}   (1 = predicting zero)")
        return
    if out["degenerate"]:
        print(f"degenerate       {out['degenerate']}")
        print(f"risk             {out['risk']:.10g}   (the zero predictor)")
        print(f"normalized risk  {out['normalized_risk']:.10g}")
        return
    print(f"gamma*           {out['gamma']:.12g}   (P* ∝ (Σ + γ*I)^-1)")
    print(f"mu*              {out['mu']:.12g}   (ω* ∝ (M1 + μ*M2)^-1 r, max|ω*| = 1)")
    print(f"optimal scale    {out['scale']:.12g}")
    print(f"risk             {out['risk']:.12g}")
    print(f"normalized risk  {out['normalized_risk']:.12g}   (1 = predicting zero)")
    fps = out["fixed_points"]
    desc = ", ".join(f"γ = {g:.10g} (risk {r:.10g}, slope {s:.4g})"
                     for g, r, s in zip(fps, out["fixed_point_risks"], out["fixed_point_slopes"]))
    print(f"fixed points     {len(fps)}: {desc}")
    lo, hi = out["invariant_interval"]
    print(f"contraction      {out['contraction']:.6g}   (sup |d log T/d log γ| on I = [{lo:.6g}, {hi:.6g}])")
    res = out["residuals"]
    print("residuals        " + ", ".join(f"{k} {v:.2e}" for k, v in res.items()))
    print(f"solver           {out['method']} path, {out['iterations']} evaluations, "
          f"{'converged' if out['converged'] else 'NOT converged'}"
          + (f", {len(out['unresolved'])} unresolved cell(s)" if out["unresolved"] else ""))
    if "high_precision" in out:
        hp = out["high_precision"]
        err = hp["float64_rel_error"]
        rad = f" ± {hp['balls']['risk']['rad']:.1e} (proven ball, Arb)" if "balls" in hp else ""
        print(f"high precision   {hp['digits']} digits: risk = {hp['risk'][:40]}{rad}")
        print("float64 error    " + ", ".join(f"{k.replace('gamma', 'γ').replace('omega', 'ω').replace('mu', 'μ')} {v:.2e}"
                                             for k, v in err.items()) + " (relative)")
    if "certificate" in out:
        c = out["certificate"]
        how = f" ({c['backend']})" if "backend" in c else ""
        if c["certified"]:
            a, b = c["enclosure"]
            bound = c.get("root_contraction", c["contraction_bound"])
            print(f"certified        yes{how}: exactly one fixed point, γ* ∈ [{a:.12g}, {b:.12g}], "
                  f"contraction ≤ {bound:.4g}" + (" on its cell" if "root_contraction" in c else ""))
        else:
            print(f"certified        no{how}: {c['reason']}")
    for sp in out.get("stationary_points", []):
        pos, neg, zero = sp["inertia"]
        where = f" γ = {sp['gamma']:.8g}" if sp["gamma"] is not None else ""
        star = "  ← global minimum" if sp["global_min"] else ""
        print(f"stationary       {sp['kind']:<6} {sp['type']:<10} inertia n+={pos} n-={neg} n0={zero}"
              f" risk {sp['risk']:.8g}{where}{star}")
