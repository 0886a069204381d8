"""Check of the multi-layer class the experiment compares against (docs/theory.md §6.4, docs/multilayer.md).

* ``multilayer.gdpp``: an L-layer scalar GLA with the gated GD++ construction (label and feature
  writes, :func:`wpgd.numerics.nn.feature_recursion.construct_gla`) computes exactly the gated GD++
  recursion: SymPy polynomial identity at tiny sizes (:mod:`wpgd.theory.gdpp_symbolic`), torch model
  (float64, delimiter-flag tokens) vs the NumPy loops of
  :func:`wpgd.numerics.nn.feature_recursion.gdpp_recursion` to 1e-12 relative at larger ones.

Negative control: the same criterion applied to the label-only recursion (feature writes
dropped: symbolic and numeric) and to the right recursion shifted by 1e-11 relative (10× the
tolerance); every one must be rejected.

* ``multilayer.gdpp_rescale``: the same for the class the experiment compares against, gated
  GD++ with label rescaling: the construction with the delimiter label block (one more key
  coordinate: query the label channel, key the delimiter code, value code → label;
  ``construct_gla(..., codes=...)`` with a rescaling coefficient per layer and code) computes
  the recursion with ``r_t ← r_t + (Σ_{δ≤t} c_δ Ω_tδ) r_t``: SymPy at (n, d, L) = (2, 1, 2),
  (3, 1, 2) with a delimiter token; torch vs NumPy loops (one shared flag and one code per
  boundary, one or two delimiters, L ≤ 4) to 1e-12. Negative control: the recursion without the
  rescaling term (symbolic and numeric) and the right one shifted by 1e-11.
"""

from __future__ import annotations

import numpy as np

from .registry import Evidence, any_passed, register

__all__: list[str] = []

GROUP = "gating"
_TOL = 1e-12


def _criterion(sym_ok: bool, sizes, worst: float, cases: int) -> Evidence:
    ok = sym_ok and worst < _TOL
    return Evidence(
        ok,
        f"symbolic (n,d,L) in {sizes}: {'0' if sym_ok else 'NONZERO'}; torch GLA vs gated GD++ "
        f"recursion max rel err {worst:.1e} ({cases} cases, tol {_TOL:.0e})",
        {"max_rel_err": worst},
    )


def _cases(quick: bool):
    return [(2, 5, 2), (3, 7, 3)] if quick else [(2, 5, 2), (3, 7, 3), (4, 11, 4), (5, 9, 2)]


def _torch_error(quick: bool, recursion) -> tuple[float, int]:
    """Max relative error of the constructed GLA against ``recursion`` (as gdpp_recursion_predict)."""
    import torch

    from wpgd.numerics.nn.feature_recursion import construct_gla

    rng = np.random.default_rng(17)
    worst, cases = 0.0, _cases(quick)
    for d, n, L in cases:
        cut = n // 2  # one delimiter after the first cut demonstrations
        spec, rec = [], []
        T = n + 2
        for _ in range(L):
            A, B = 0.3 * rng.standard_normal((d, d)), 0.3 * rng.standard_normal((d, d))
            w, gd, gl = (
                float(rng.normal(0.8, 0.3)),
                -float(rng.uniform(0.01, 0.5)),
                -float(rng.uniform(0.5, 3)),
            )
            spec.append((w, A, B, gd, gl))
            lg = np.full(T, gd)
            lg[cut] = gl
            rec.append((w * B.T, A, B, lg))
        model = construct_gla(spec, d, flag=True)
        for _ in range(3):
            X = rng.standard_normal((T, d))
            y = rng.standard_normal(T)
            X[cut], y[cut], y[-1] = 0.0, 0.0, 0.0
            tok = np.zeros((T, d + 2))
            tok[:, :d], tok[:, -1], tok[cut, d] = X, y, 1.0
            with torch.no_grad():
                out = float(model.predict(torch.as_tensor(tok)[None])[0])
            ref = recursion(X, y, rec)
            worst = max(worst, abs(out - ref) / max(1.0, abs(ref)))
    return worst, len(cases)


def _rescale_cases(quick: bool):
    """(d, n, L, cuts, codes): a delimiter after each cut; codes 1 = a shared flag."""
    base = [(2, 5, 2, [2], 1), (3, 7, 3, [2, 4], 2)]
    return base if quick else base + [(4, 9, 4, [3, 6], 1), (2, 8, 2, [1, 5], 2)]


def _rescale_error(quick: bool, recursion) -> tuple[float, int]:
    """Max relative error of the construction with the delimiter label block against ``recursion``
    (as gdpp_recursion_predict, layers ``(Q, A, B, log_gates, c)``)."""
    import torch

    from wpgd.numerics.nn.feature_recursion import construct_gla

    rng = np.random.default_rng(23)
    worst, cases = 0.0, _rescale_cases(quick)
    for d, n, L, cuts, codes in cases:
        T = n + len(cuts) + 1
        delims = [c + j for j, c in enumerate(cuts)]
        code = [j if codes > 1 else 0 for j in range(len(delims))]
        spec, rec = [], []
        for _ in range(L):
            A, B = 0.3 * rng.standard_normal((d, d)), 0.3 * rng.standard_normal((d, d))
            w, gd = float(rng.normal(0.8, 0.3)), -float(rng.uniform(0.01, 0.5))
            gl, c = -rng.uniform(0.3, 3.0, codes), rng.normal(0.0, 0.8, codes)
            spec.append((w, A, B, gd, gl, c))
            lg, cc = np.full(T, gd), np.zeros(T)
            lg[delims], cc[delims] = gl[code], c[code]
            rec.append((w * B.T, A, B, lg, cc))
        model = construct_gla(spec, d, flag=True, codes=codes)
        for _ in range(3):
            X, y = rng.standard_normal((T, d)), rng.standard_normal(T)
            X[delims], y[delims], y[-1] = 0.0, 0.0, 0.0
            tok = np.zeros((T, d + codes + 1))
            tok[:, :d], tok[:, -1] = X, y
            tok[delims, [d + k for k in code]] = 1.0
            with torch.no_grad():
                out = float(model.predict(torch.as_tensor(tok)[None])[0])
            ref = recursion(X, y, rec)
            worst = max(worst, abs(out - ref) / max(1.0, abs(ref)))
    return worst, len(cases)


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _near(X, y, layers) -> float:
    """A recursion shifted by 1e-11 (relative): the controls' "almost right" predictor."""
    from wpgd.numerics.nn.feature_recursion import gdpp_recursion_predict

    ref = gdpp_recursion_predict(X, y, layers)
    return ref + 1e-11 * max(1.0, abs(ref))


def _symbolic_only(sym_ok: bool, sizes) -> Evidence:
    """The verdict without torch: FAIL if the symbolic part failed, else SKIP (never PASS)."""
    status = "0" if sym_ok else "NONZERO"
    if not sym_ok:
        return Evidence(False, f"symbolic (n,d,L) in {sizes}: {status}; torch part skipped")
    return Evidence(False, f"symbolic (n,d,L) in {sizes}: {status}; torch part skipped (not installed)", skipped=True)


def _control(quick: bool) -> Evidence:
    from wpgd.numerics.nn.feature_recursion import gdpp_recursion_predict
    from wpgd.theory.gdpp_symbolic import gdpp_equivalence

    def labels_only(X, y, layers):
        return gdpp_recursion_predict(X, y, [(Q, 0 * A, B, lg) for Q, A, B, lg in layers])

    sym_wrong = gdpp_equivalence(2, 1, 2, drop_feature_write=True).proved
    if not _has_torch():
        return Evidence(
            False, "skipped: torch is not installed (the control's numeric part needs it)", skipped=True
        )
    return any_passed(
        _criterion(sym_wrong, [(2, 1, 2)], 0.0, 0),
        _criterion(True, [], *_torch_error(True, labels_only)),
        _criterion(True, [], *_torch_error(True, _near)),
    )


@register(
    "multilayer.gdpp",
    claim="L-layer scalar GLA with label and feature writes = gated GD++ recursion (the experiment's class)",
    method="symbolic (tiny) + numeric (torch construction vs independent NumPy recursion, 1e-12)",
    group=GROUP,
    control=_control,
)
def _gdpp(quick: bool) -> Evidence:
    from wpgd.numerics.nn.feature_recursion import gdpp_recursion_predict
    from wpgd.theory.gdpp_symbolic import gdpp_equivalence

    sizes = [(2, 1, 2)] if quick else [(2, 1, 2), (3, 1, 2)]
    sym_ok = all(gdpp_equivalence(n, d, L).proved for n, d, L in sizes)
    if not _has_torch():
        return _symbolic_only(sym_ok, sizes)
    return _criterion(sym_ok, sizes, *_torch_error(quick, gdpp_recursion_predict))


def _rescale_sizes(quick: bool):
    return [(2, 1, 2)] if quick else [(2, 1, 2), (3, 1, 2)]


def _rescale_criterion(sym_ok: bool, sizes, worst: float, cases: int) -> Evidence:
    ok = sym_ok and worst < _TOL
    return Evidence(
        ok,
        f"symbolic (n,d,L) in {sizes} with a delimiter: {'0' if sym_ok else 'NONZERO'}; torch GLA vs gated "
        f"GD++ recursion with label rescaling max rel err {worst:.1e} ({cases} cases, tol {_TOL:.0e})",
        {"max_rel_err": worst},
    )


def _rescale_control(quick: bool) -> Evidence:
    from wpgd.numerics.nn.feature_recursion import gdpp_recursion_predict
    from wpgd.theory.gdpp_symbolic import gdpp_equivalence

    def no_rescale(X, y, layers):
        return gdpp_recursion_predict(X, y, [layer[:4] for layer in layers])

    sym_wrong = gdpp_equivalence(2, 1, 2, rescale=True, drop_rescale=True).proved
    if not _has_torch():
        return Evidence(
            False, "skipped: torch is not installed (the control's numeric part needs it)", skipped=True
        )
    return any_passed(
        _rescale_criterion(sym_wrong, [(2, 1, 2)], 0.0, 0),
        _rescale_criterion(True, [], *_rescale_error(True, no_rescale)),
        _rescale_criterion(True, [], *_rescale_error(True, _near)),
    )


@register(
    "multilayer.gdpp_rescale",
    claim="L-layer scalar GLA with label and feature writes and the delimiter label block = gated GD++ "
    "recursion with label rescaling (the experiment's class)",
    method="symbolic (tiny, with a delimiter) + numeric (torch construction vs independent NumPy recursion, 1e-12)",
    group=GROUP,
    control=_rescale_control,
)
def _gdpp_rescale(quick: bool) -> Evidence:
    from wpgd.numerics.nn.feature_recursion import gdpp_recursion_predict
    from wpgd.theory.gdpp_symbolic import gdpp_equivalence

    sizes = _rescale_sizes(quick)
    sym_ok = all(gdpp_equivalence(n, d, L, rescale=True).proved for n, d, L in sizes)
    if not _has_torch():
        return _symbolic_only(sym_ok, sizes)
    return _rescale_criterion(sym_ok, sizes, *_rescale_error(quick, gdpp_recursion_predict))
