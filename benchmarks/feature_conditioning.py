"""How ill-conditioned the trainer's problem is in the given and in the whitened feature basis.

For each spec: κ(Σ); the spread (largest/smallest eigenvalue) of the scalar-class optimal
preconditioner in token coordinates (``PromptFormat.token_preconditioner``, times Σω so that it
is the O(1) product a "mean" layer learns); and the curvature of the loss in that preconditioner
under the model ``H = E[hhᵀ] ⊗ E[xxᵀ]`` with ``E[xxᵀ] = M Σ Mᵀ`` and
``E[hhᵀ] ≈ M (Σ² + γ Σ) Mᵀ``, ``γ = (tr Σ + σ²)/n`` (β ~ N(0, I), one task, token features
``M x``): its condition number and the share of its Frobenius norm off the diagonal, which
Adam's per-coordinate step cannot rescale (docs/training.md, "Conditioning"). The given basis
(``--feature-basis given``, the recipe before whitening) is the baseline; the last column is the
ratio of the two condition numbers.

Usage::

    python benchmarks/feature_conditioning.py                       # the committed grid specs
    python benchmarks/feature_conditioning.py --spec my_spec.toml --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wpgd.numerics.core.classes import class_optimum  # noqa: E402
from wpgd.numerics.core.spec import load_spec  # noqa: E402
from wpgd.numerics.nn.train_config import TrainConfig  # noqa: E402

GRID = Path(__file__).resolve().parents[1] / "docs" / "training_grid"


def conditioning(problem, whiten: bool) -> dict:
    """κ of the curvature model, its off-diagonal share, and the spread of P* in token coordinates."""
    fmt = TrainConfig.for_model("scalar", whiten_features=whiten).prompt_format_for(problem)
    opt = class_optimum(problem, "scalar")
    P = np.asarray(opt.P) * float(np.sum(opt.omega))
    pt = fmt.token_preconditioner(P, problem.sigma)
    ev = np.linalg.eigvalsh((pt + pt.T) / 2)
    M = fmt.feature_map(problem.sigma)
    sx = M @ problem.sigma @ M.T
    gamma = (np.trace(problem.sigma) + problem.noise) / problem.n
    sh = M @ (problem.sigma @ problem.sigma) @ M.T + gamma * sx
    H = np.kron(sh, sx)
    eh = np.linalg.eigvalsh(H)
    pos = eh[eh > eh.max() * 1e-14]
    return {
        "P_spread": float(ev.max() / ev.min()) if ev.min() > 0 else float("inf"),
        "H_cond": float(pos.max() / pos.min()),
        "H_offdiag_share": float(np.linalg.norm(H - np.diag(np.diag(H))) / np.linalg.norm(H)),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", nargs="+", default=None, help="spec files (default: docs/training_grid/*.toml)")
    p.add_argument("--json", default=None, help="also write the rows as JSON")
    args = p.parse_args(argv)
    specs = [Path(s) for s in args.spec] if args.spec else sorted(GRID.glob("*.toml"))
    rows = []
    print("| spec | d | n | κ(Σ) | P* spread given | whitened | κ(H) given | whitened | off-diagonal share given "
          "| whitened | κ(H) given / whitened |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for spec in specs:
        pr = load_spec(spec)
        if pr.d > 64:  # the d⁴ Kronecker product; the larger specs have Σ = I, where both bases agree
            continue
        lam = np.linalg.eigvalsh(pr.sigma)
        g, w = conditioning(pr, False), conditioning(pr, True)
        row = {"spec": spec.stem, "d": pr.d, "n": pr.n, "kappa": float(lam.max() / lam.min()), "given": g, "whitened": w}
        rows.append(row)
        print(f"| {spec.stem} | {pr.d} | {pr.n} | {row['kappa']:.3g} | {g['P_spread']:.3g} | {w['P_spread']:.3g} "
              f"| {g['H_cond']:.3g} | {w['H_cond']:.3g} | {g['H_offdiag_share']:.3f} | {w['H_offdiag_share']:.3f} "
              f"| {g['H_cond'] / w['H_cond']:.3g} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
