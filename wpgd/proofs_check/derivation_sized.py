"""The derivation at one explicit size: derived risk, claim, compiled functions, sampler.

Internal to :mod:`wpgd.proofs_check.derivations`; also home of the claim-writing helpers
(:func:`tr`, :func:`quad`, :func:`dot`, :func:`claim_symbols`) and the Monte Carlo statistic
(:func:`skew_corrected_z`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from types import SimpleNamespace

import numpy as np
import sympy as sp

from .derivation_model import DerivationInputError, ModelAtSize
from .derivation_report import Instance

__all__ = ["tr", "quad", "dot", "claim_symbols", "skew_corrected_z", "SizedDerivation"]


# ------------------------------------------------------------------ claim-writing helpers
def tr(M):
    """Trace of a square matrix (SymPy or NumPy)."""
    return M.trace()


def quad(u, M, v):
    """``uᵀ M v`` as a scalar, for columns u, v (SymPy or NumPy)."""
    return (u.T @ M @ v)[0, 0]


def dot(u, v):
    """``uᵀ v`` as a scalar, for columns u, v (SymPy or NumPy)."""
    return (u.T @ v)[0, 0]


def claim_symbols() -> SimpleNamespace:
    """Symbols of symbolic size for writing a claimed risk as a SymPy expression.

    Returns:
        ``d, n`` (size symbols); ``Sigma, P`` (d×d); ``R, D_R, D_noise`` (n×n); ``r, omega,
        noise`` (n×1) as MatrixSymbols; ``r_q, sigma2, sigma2_q, mu, s, b`` scalars. Only
        the names matter: at each size every symbol is replaced by the model quantity or
        predictor parameter of the same name.
    """
    d, n = sp.symbols("d n", integer=True, positive=True)
    ms = sp.MatrixSymbol
    return SimpleNamespace(
        d=d, n=n, Sigma=ms("Sigma", d, d), P=ms("P", d, d), R=ms("R", n, n), D_R=ms("D_R", n, n),
        D_noise=ms("D_noise", n, n), r=ms("r", n, 1), omega=ms("omega", n, 1), noise=ms("noise", n, 1),
        **{k: sp.Symbol(k) for k in ("r_q", "sigma2", "sigma2_q", "mu", "s", "b")},
    )


def _scalar_map(symbolic: Mapping[str, object], numeric: Mapping[str, object]) -> dict:
    out = {}
    for name, sym in symbolic.items():
        if isinstance(sym, sp.Symbol):
            out[sym] = float(numeric[name])
            continue
        arr = np.asarray(numeric[name], dtype=np.float64).reshape(sym.shape)
        for idx in np.ndindex(*sym.shape):
            if isinstance(sym[idx], sp.Symbol):
                out[sym[idx]] = float(arr[idx])
    return out


def _unwrap(v):
    if isinstance(v, (sp.MatrixBase, np.ndarray)) and tuple(np.shape(v)) == (1, 1):
        return v[0, 0]
    return v


_DERIVED: dict = {}
"""Derived risks by (model, predictor function and parameters, d, n): the expensive step."""


class SizedDerivation:
    """Derivation, claim and compiled functions at one size."""

    def __init__(self, owner, d: int, n: int) -> None:
        self.owner, self.d, self.n = owner, d, n
        self.m: ModelAtSize = owner.model.at(d, n)
        self.pparams = owner.predictor.symbols(d, n)
        clash = set(self.pparams) & set(self.m.ns)
        if clash:
            raise DerivationInputError(f"predictor parameter names clash with model quantities: {sorted(clash)}")
        self.params = {**self.m.params, **self.pparams}
        self.scalars = sorted(set(_scalar_map(self.params, _zeros_like(self.params))), key=sp.default_sort_key)

    @cached_property
    def derived(self) -> sp.Expr:
        pred = self.owner.predictor
        key = (type(self.owner.model), self.owner.model, pred.fn, tuple(pred.parameters.items()), self.d, self.n)
        if key not in _DERIVED:
            _DERIVED[key] = self._derive()
            if len(_DERIVED) > 64:
                _DERIVED.pop(next(iter(_DERIVED)))
        return _DERIVED[key]

    def _derive(self) -> sp.Expr:
        y_hat = self.owner.predictor(self.m.tokens, self.pparams)
        extra = y_hat.free_symbols - set(self.m.gaussian.variables) - set(self.scalars)
        if extra:
            raise DerivationInputError(f"the predictor uses unknown symbols {sorted(map(str, extra))}")
        return self.m.gaussian.expectation((y_hat - self.m.tokens.y_q) ** 2)

    @cached_property
    def claim(self) -> tuple[sp.Expr | None, str]:
        """(claimed risk as an expression in the parameter symbols, or None; why not)."""
        c = self.owner.claimed
        ns = {**self.m.ns, **self.pparams}
        if isinstance(c, sp.Basic):
            expr = _substitute_by_name(c, ns)
        else:
            try:
                expr = _unwrap(c(SimpleNamespace(**ns)))
                expr = sp.sympify(expr)
            except AttributeError as exc:
                raise DerivationInputError(
                    f"the claimed risk failed: {exc} (available: {', '.join(sorted(ns))})"
                ) from None
            except Exception as exc:  # noqa: BLE001 - a user's callable may raise anything
                return None, f"claim is not symbolic ({type(exc).__name__}: {exc}); numeric leg decides"
        if isinstance(expr, sp.MatrixBase):
            raise DerivationInputError(f"the claimed risk is a {expr.shape[0]}×{expr.shape[1]} matrix, not a scalar")
        expr = sp.nsimplify(expr, rational=True) if expr.atoms(sp.Float) else expr
        extra = expr.free_symbols - set(self.scalars)
        if extra:
            raise DerivationInputError(
                f"the claimed risk uses symbols that are not model quantities or predictor parameters: "
                f"{sorted(map(str, extra))}"
            )
        return expr, ""

    def exact_difference(self) -> sp.Expr | None:
        claim, _ = self.claim
        if claim is None:
            return None
        derived = self.derived
        ring = sp.polys.rings.PolyRing(self.scalars or [sp.Symbol("_unused")], sp.QQ)
        try:
            return (ring.from_expr(derived) - ring.from_expr(claim)).as_expr()
        except Exception:  # noqa: BLE001 - not a polynomial (e.g. a ratio): fall back to cancel
            return sp.cancel(sp.together(derived - claim))

    @cached_property
    def derived_fn(self):
        return sp.lambdify(self.scalars, self.derived, modules="numpy", cse=True)

    @cached_property
    def claim_fn(self):
        claim, _ = self.claim
        if claim is not None:
            f = sp.lambdify(self.scalars, claim, modules="numpy", cse=True)
            return lambda inst: float(f(*self.args(inst)))
        c = self.owner.claimed
        return lambda inst: float(_unwrap(c(SimpleNamespace(**self.numeric_ns(inst)))))

    @cached_property
    def predictor_fn(self):
        t = self.m.plain_tokens
        y_hat = self.owner.predictor(t, self.pparams)
        tok = [*t.X, *t.y, *t.x]
        return sp.lambdify(tok + self.scalars, y_hat, modules="numpy", cse=True)

    def args(self, inst: Instance) -> list[float]:
        vals = _scalar_map(self.params, inst.values)
        return [vals[s] for s in self.scalars]

    def numeric_ns(self, inst: Instance) -> dict:
        model_vals = {k: inst.values[k] for k in self.m.params}
        ns = self.owner.model.namespace(self.d, self.n, model_vals)
        ns.update({k: np.asarray(inst.values[k], dtype=np.float64) if np.ndim(inst.values[k]) else
                   float(inst.values[k]) for k in self.pparams})
        return ns

    def derived_exact_value(self, inst: Instance) -> float:
        vals = {s: sp.Rational(v) for s, v in _scalar_map(self.params, inst.values).items()}
        return float(self.derived.xreplace(vals))

    def errors(self, inst: Instance, batch: int, rng: np.random.Generator, ns=None) -> np.ndarray:
        """Squared errors ``(ŷ − y_q)²`` of ``batch`` sampled prompts, shape (batch,)."""
        ns = self.numeric_ns(inst) if ns is None else ns
        tok = self.owner.model.sample_tokens(ns, batch, rng)
        cols = ([tok["X"][:, i, a] for i in range(self.n) for a in range(self.d)]
                + [tok["y"][:, i] for i in range(self.n)] + [tok["x"][:, a] for a in range(self.d)])
        y_hat = np.broadcast_to(np.asarray(self.predictor_fn(*cols, *self.args(inst)), dtype=np.float64), (batch,))
        return (y_hat - tok["y_q"]) ** 2

    def monte_carlo(self, inst: Instance, samples: int, seed: int) -> tuple[float, float, float]:
        """(mean, standard error, third central moment) of the squared error."""
        rng = np.random.default_rng(seed)
        ns = self.numeric_ns(inst)
        sums, done, shift = np.zeros(3), 0, None
        batch = max(1, min(samples, 2_000_000 // ((self.n + 1) * (self.d + 1))))
        while done < samples:
            k = min(batch, samples - done)
            err = self.errors(inst, k, rng, ns)
            if shift is None:
                shift = float(err.mean())
            dev = err - shift
            sums += [dev.sum(), (dev**2).sum(), (dev**3).sum()]
            done += k
        m1, m2, m3 = sums / done
        var = max(m2 - m1**2, 0.0)
        mu3 = m3 - 3 * m1 * m2 + 2 * m1**3
        return shift + m1, float(np.sqrt(var * done / (done - 1) / done)), float(mu3)


def skew_corrected_z(mean: float, stderr: float, mu3: float, samples: int, reference: float) -> float:
    """Skewness-corrected z-score of a sample mean against ``reference`` (Johnson 1978, Hall 1992).

    With ``T = (m − μ₀)/SE``, sample skewness ``γ = μ̂₃/s³`` and ``a = γ/(3√N)``:
    ``z = T + aT² + a²T³/3 + a/2`` (Hall's monotone form of Johnson's modified t). Squared
    errors of a polynomial predictor are strongly right-skewed, so the plain z-score of their
    mean is biased toward negative values and has a heavy left tail; the correction restores
    a near-normal null distribution (measured in ``benchmarks/derivation_mc_calibration.py``).
    """
    se = max(stderr, 1e-300)
    T = (mean - reference) / se
    s = se * np.sqrt(samples)
    if s <= 0:
        return T
    a = mu3 / s**3 / (3 * np.sqrt(samples))
    return float(T + a * T * T + a * a * T**3 / 3 + a / 2)


def _zeros_like(params: Mapping[str, object]) -> dict:
    return {k: 0.0 if isinstance(v, sp.Symbol) else np.zeros(v.shape) for k, v in params.items()}


def _substitute_by_name(expr: sp.Basic, ns: Mapping[str, object]) -> sp.Expr:
    mapping = {}
    for atom in expr.atoms(sp.Symbol, sp.MatrixSymbol):
        name = atom.name
        if name in ns:
            v = ns[name]
            mapping[atom] = sp.ImmutableMatrix(v) if isinstance(v, (sp.MatrixBase, np.ndarray)) else sp.sympify(v)
    out = _unwrap(expr.xreplace(mapping).doit())
    if isinstance(out, sp.MatrixBase) and out.shape == (1, 1):
        out = out[0, 0]
    return out


