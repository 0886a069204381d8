"""Data models and predictors for the derivation checker (:mod:`wpgd.proofs_check.derivations`).

A :class:`PromptModel` describes the project's multitask prompt model with options; at
explicit sizes ``(d, n)`` it becomes a :class:`ModelAtSize` holding

* the jointly Gaussian objects, declared in a :class:`wpgd.theory.expectation.JointGaussian`
  (the Wick engine that derives the project's risk): features ``x_s ~ N(0, Σ)`` i.i.d. for
  the n demonstrations and the query (query last), task vectors with
  ``E[β_s β_tᵀ] = R̄_st I``, independent label noise ``ξ_s ~ N(0, σ_s²)``;
* the tokens built from them: ``X`` (n×d), ``y = (x_iᵀβ_i + μ + ξ_i)_i`` (n×1), the query
  ``x`` (d×1) and its label ``y_q``;
* the free parameters (symbols) and the derived quantities a claimed risk is written in
  (the *namespace*: ``Sigma, Rbar, R, D_R, r, r_q, noise, D_noise, sigma2_q, …``);
* an independent NumPy sampler of the same model (for the Monte Carlo leg), written from
  the model's description, not from its symbolic covariances.

Options of :class:`PromptModel`:

========== =========================================================================
sigma      ``general`` (symmetric Σ of symbols), ``diagonal``, ``isotropic`` (Σ = s I),
           ``identity``
tasks      ``dense`` (a full symmetric (n+1)×(n+1) R̄, query last) or ``segments``
           (K consecutive segments share a task: ``[[C, c], [cᵀ, r_q]]``)
noise      ``shared`` (σ² for every token), ``per_token`` (σ²_i per demonstration and
           σ²_q for the query), ``per_segment`` (σ²_k per segment, σ²_q), ``none``
segments   K, the number of segments (for ``tasks="segments"`` or
           ``noise="per_segment"``); n is split into K near-equal consecutive segments,
           the longer ones first (farthest from the query)
label_mean True adds a constant μ to every label (``y = xᵀβ + μ + ξ``)
========== =========================================================================

Other variants subclass :class:`PromptModel` and override :meth:`PromptModel.labels` (the
symbolic labels) and :meth:`PromptModel.sample_labels` (the sampler) together: the Monte
Carlo leg of the checker is what catches a mismatch between the two.

A :class:`Predictor` is a function ``fn(t, p)`` of the tokens ``t`` (``t.X, t.y, t.x``) and
its parameters ``p`` returning a scalar, written with operations that work on SymPy
matrices (``@``, ``.T``, ``.multiply_elementwise``; see :func:`hadamard`); it declares the
shapes of its parameters (``("d", "d")``, ``("n",)``, ``()``). Building blocks:
:func:`wpgd_predictor` (``xᵀ P Xᵀ(ω ⊙ y)``), :func:`with_bias` (``+ b``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import sympy as sp

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.safety import psd_factor
from wpgd.theory.expectation import JointGaussian, symmetric_matrix

__all__ = [
    "DerivationInputError",
    "PromptModel",
    "ModelAtSize",
    "Predictor",
    "wpgd_predictor",
    "with_bias",
    "hadamard",
    "segment_split",
]

SIGMA_OPTIONS = ("general", "diagonal", "isotropic", "identity")
TASK_OPTIONS = ("dense", "segments")
NOISE_OPTIONS = ("shared", "per_token", "per_segment", "none")


class DerivationInputError(InvalidProblemError):
    """A data model, predictor or claimed risk that cannot be checked as given."""


def segment_split(n: int, k: int) -> tuple[int, ...]:
    """``n`` tokens in ``k`` near-equal consecutive segments, the longer ones first."""
    if k < 1 or n < k:
        raise DerivationInputError(f"cannot split n = {n} tokens into {k} non-empty segments")
    return tuple(n // k + (1 if i < n % k else 0) for i in range(k))


def hadamard(a, b):
    """Entrywise product of two equally shaped matrices (SymPy or NumPy)."""
    if isinstance(a, sp.MatrixBase):
        return a.multiply_elementwise(sp.Matrix(b))
    return np.multiply(a, b)


def _column(name: str, k: int) -> sp.ImmutableMatrix:
    return sp.ImmutableMatrix(k, 1, lambda i, _: sp.Symbol(f"{name}_{i}"))


@dataclass(frozen=True)
class PromptModel:
    """The multitask prompt model with options (see the module docstring).

    Attributes:
        sigma: structure of Σ.  tasks: task prior.  noise: label-noise structure.
        segments: number of segments K (tasks="segments" or noise="per_segment").
        label_mean: add a constant μ to every label.
    """

    sigma: str = "general"
    tasks: str = "dense"
    noise: str = "shared"
    segments: int = 1
    label_mean: bool = False

    def __post_init__(self) -> None:
        for what, value, options in (
            ("sigma", self.sigma, SIGMA_OPTIONS),
            ("tasks", self.tasks, TASK_OPTIONS),
            ("noise", self.noise, NOISE_OPTIONS),
        ):
            if value not in options:
                raise DerivationInputError(f"PromptModel {what}={value!r}: choose one of {', '.join(options)}")
        if not isinstance(self.segments, int) or isinstance(self.segments, bool) or self.segments < 1:
            raise DerivationInputError(f"PromptModel segments must be an integer ≥ 1, got {self.segments!r}")

    # ------------------------------------------------------------ description
    def describe(self) -> str:
        """One line: the options."""
        seg = f", segments={self.segments}" if self.uses_segments else ""
        mean = ", label_mean" if self.label_mean else ""
        return f"PromptModel(sigma={self.sigma}, tasks={self.tasks}, noise={self.noise}{seg}{mean})"

    @property
    def uses_segments(self) -> bool:
        """Whether the model splits the prompt into segments."""
        return self.tasks == "segments" or self.noise == "per_segment"

    def min_n(self) -> int:
        """Smallest number of demonstrations the model accepts."""
        return self.segments if self.uses_segments else 1

    # ------------------------------------------------------------ symbolic model
    def parameters(self, d: int, n: int) -> dict[str, sp.Basic]:
        """The free parameters at sizes (d, n): name → Symbol or Matrix of symbols (or 0)."""
        out: dict[str, sp.Basic] = {}
        if self.sigma == "general":
            out["Sigma"] = symmetric_matrix("Sigma", d)
        elif self.sigma == "diagonal":
            out["Sigma"] = sp.ImmutableMatrix(sp.diag(*[sp.Symbol(f"Sigma_{a}_{a}") for a in range(d)]))
        elif self.sigma == "isotropic":
            out["s"] = sp.Symbol("s")
        k = self.segments
        if self.tasks == "dense":
            out["Rbar"] = symmetric_matrix("Rbar", n + 1)
        else:
            out["C"] = symmetric_matrix("C", k)
            out["c"] = _column("c", k)
            out["r_q"] = sp.Symbol("r_q")
        if self.noise == "shared":
            out["sigma2"] = sp.Symbol("sigma2")
        elif self.noise == "per_token":
            out["noise"] = _column("sigma2", n)
            out["sigma2_q"] = sp.Symbol("sigma2_q")
        elif self.noise == "per_segment":
            out["noise_segments"] = _column("sigma2_seg", k)
            out["sigma2_q"] = sp.Symbol("sigma2_q")
        if self.label_mean:
            out["mu"] = sp.Symbol("mu")
        return out

    def namespace(self, d: int, n: int, values: Mapping[str, object]) -> dict[str, object]:
        """The derived quantities, from the free parameter ``values`` (SymPy or NumPy).

        Returns:
            ``d, n, Sigma, Rbar, R, D_R, r (n×1), r_q, noise (n×1 demonstration noise
            variances), D_noise = diag(noise), sigma2_q`` (query noise variance), plus
            ``sigma2, s, C, c, E (n×K segment indicator), segment_sizes, noise_segments, mu``
            where the model has them.
        """
        symbolic = any(isinstance(v, sp.Basic) for v in values.values())
        M = (lambda a: sp.ImmutableMatrix(a)) if symbolic else (lambda a: np.asarray(a, dtype=np.float64))
        eye = (lambda k: sp.ImmutableMatrix(sp.eye(k))) if symbolic else np.eye
        ns: dict[str, object] = {"d": d, "n": n}
        ns.update(values)
        if self.sigma == "isotropic":
            ns["Sigma"] = values["s"] * eye(d)
        elif self.sigma == "identity":
            ns["Sigma"] = eye(d)
        sizes = segment_split(n, self.segments) if self.uses_segments else None
        if sizes is not None:
            seg_of = np.repeat(np.arange(len(sizes)), sizes)
            E = np.zeros((n, len(sizes)))
            E[np.arange(n), seg_of] = 1.0
            ns["segment_sizes"], ns["E"] = sizes, M(E.astype(int) if symbolic else E)
        if self.tasks == "dense":
            rbar = M(values["Rbar"])
        else:
            C, c, r_q = M(values["C"]), M(values["c"]), values["r_q"]
            E = ns["E"]
            rbar = _block(symbolic, E @ C @ E.T, E @ c, r_q)
        ns["Rbar"] = rbar
        ns["R"] = rbar[:n, :n]
        ns["D_R"] = _diag_of(rbar[:n, :n], symbolic)
        ns["r"] = rbar[:n, n:]
        ns["r_q"] = rbar[n, n]
        if self.noise == "shared":
            ns["noise"] = values["sigma2"] * M(np.ones((n, 1), dtype=int if symbolic else float))
            ns["sigma2_q"] = values["sigma2"]
        elif self.noise == "per_segment":
            ns["noise"] = ns["E"] @ M(values["noise_segments"])
        elif self.noise == "none":
            ns["noise"] = M(np.zeros((n, 1), dtype=int if symbolic else float))
            ns["sigma2_q"] = 0
        ns["D_noise"] = _diag_from_column(ns["noise"], symbolic)
        return ns

    def at(self, d: int, n: int) -> ModelAtSize:
        """The model at explicit sizes, with its Gaussian objects and tokens."""
        if int(d) != d or int(n) != n or d < 1 or n < self.min_n():
            raise DerivationInputError(
                f"sizes d = {d}, n = {n} are not valid for {self.describe()} (need d ≥ 1, n ≥ {self.min_n()})"
            )
        return ModelAtSize(self, int(d), int(n))

    def task_rows(self, n: int) -> np.ndarray:
        """Row of the joint task matrix each token's task comes from, shape (n+1,), query last."""
        if self.tasks == "dense":
            return np.arange(n + 1)
        sizes = segment_split(n, self.segments)
        return np.concatenate([np.repeat(np.arange(len(sizes)), sizes), [len(sizes)]])

    def task_joint(self, ns: Mapping[str, object]):
        """The joint covariance of the distinct task vectors (rows of :meth:`task_rows`)."""
        if self.tasks == "dense":
            return ns["Rbar"]
        symbolic = isinstance(ns["C"], sp.MatrixBase)
        return _block(symbolic, ns["C"], ns["c"], ns["r_q"])

    def labels(self, m: ModelAtSize, inner: sp.Matrix, xi: sp.Matrix | None) -> sp.Matrix:
        """Symbolic labels of all n+1 tokens, (n+1)×1: ``inner_s + μ + ξ_s``.

        Args:
            m: the model at size.  inner: ``x_sᵀβ_s``, (n+1)×1.  xi: the noise, or None.
        """
        y = sp.Matrix(inner)
        if xi is not None:
            y += xi
        if self.label_mean:
            y += m.ns["mu"] * sp.ones(m.n + 1, 1)
        return y

    def sample_labels(
        self, ns: Mapping[str, object], inner: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Sampled labels, shape (batch, n+1): ``inner + μ + N(0, σ_s²)`` per token.

        Args:
            ns: the numeric namespace.  inner: ``x_sᵀβ_s``, shape (batch, n+1).
        """
        var = np.append(np.asarray(ns["noise"], dtype=np.float64).ravel(), float(ns["sigma2_q"]))
        if np.any(var < 0):
            raise DerivationInputError("noise variances must be ≥ 0")
        y = inner + np.sqrt(var) * rng.standard_normal(inner.shape)
        if self.label_mean:
            y = y + float(ns["mu"])
        return y

    def sample_tokens(self, ns: Mapping[str, object], batch: int, rng: np.random.Generator) -> dict:
        """Draw ``batch`` prompts: ``X (batch, n, d), y (batch, n), x (batch, d), y_q (batch,)``.

        Features ``z F_Σᵀ``, tasks ``F G`` with ``F Fᵀ`` the joint task matrix (one task per
        segment for a segment model), labels by :meth:`sample_labels`.
        """
        d, n = ns["d"], ns["n"]
        f_sigma = psd_factor(np.asarray(ns["Sigma"], dtype=np.float64))
        f_task = psd_factor(np.asarray(self.task_joint(ns), dtype=np.float64))
        feats = rng.standard_normal((batch, n + 1, d)) @ f_sigma.T
        tasks = np.einsum("ab,sbd->sad", f_task, rng.standard_normal((batch, f_task.shape[1], d)))
        tasks = tasks[:, self.task_rows(n), :]
        y = self.sample_labels(ns, np.einsum("snd,snd->sn", feats, tasks), rng)
        return {"X": feats[:, :n], "y": y[:, :n], "x": feats[:, n], "y_q": y[:, n]}


def _block(symbolic: bool, C, c, r_q):
    if symbolic:
        C, c = sp.Matrix(C), sp.Matrix(c)
        return sp.ImmutableMatrix(sp.BlockMatrix([[C, c], [c.T, sp.Matrix([[r_q]])]]).as_explicit())
    C, c = np.asarray(C, dtype=np.float64), np.asarray(c, dtype=np.float64).reshape(-1, 1)
    return np.block([[C, c], [c.T, np.array([[float(r_q)]])]])


def _diag_of(A, symbolic: bool):
    if symbolic:
        return sp.ImmutableMatrix(sp.diag(*[A[i, i] for i in range(A.shape[0])]))
    return np.diag(np.diag(A))


def _diag_from_column(v, symbolic: bool):
    if symbolic:
        return sp.ImmutableMatrix(sp.diag(*list(v)))
    return np.diag(np.asarray(v, dtype=np.float64).ravel())


class ModelAtSize:
    """A :class:`PromptModel` at explicit sizes: Gaussian objects, tokens, parameters.

    Attributes:
        model, d, n: the model and sizes.
        gaussian: the :class:`wpgd.theory.expectation.JointGaussian` of features, tasks, noise.
        params: free parameters, name → Symbol or Matrix.
        ns: the symbolic namespace (see :meth:`PromptModel.namespace`).
        tokens: ``X (n×d), y (n×1), x (d×1), y_q`` as polynomials in the Gaussian symbols.
        plain_tokens: the same shapes filled with plain symbols (for compiling predictors).
    """

    def __init__(self, model: PromptModel, d: int, n: int) -> None:
        self.model, self.d, self.n = model, d, n
        self.params = model.parameters(d, n)
        self.ns = model.namespace(d, n, self.params)
        G = JointGaussian()
        feats = G.matrix("x", n + 1, d, row_cov=sp.eye(n + 1), col_cov=self.ns["Sigma"])
        joint = model.task_joint(self.ns)
        tasks = G.matrix("beta", joint.shape[0], d, row_cov=joint, col_cov=sp.eye(d))
        rows = model.task_rows(n)
        variances = list(self.ns["noise"]) + [self.ns["sigma2_q"]]
        xi = None if model.noise == "none" else G.vector("xi", n + 1, sp.diag(*variances))
        inner = sp.Matrix(n + 1, 1, lambda s, _: (feats[s, :] * tasks[int(rows[s]), :].T)[0, 0])
        y = model.labels(self, inner, xi)
        self.gaussian = G
        self.tokens = SimpleNamespace(
            X=sp.ImmutableMatrix(feats[:n, :]), y=sp.ImmutableMatrix(y[:n, :]),
            x=sp.ImmutableMatrix(feats[n, :].T), y_q=y[n, 0], d=d, n=n,
        )
        self.plain_tokens = SimpleNamespace(
            X=sp.ImmutableMatrix(n, d, lambda i, a: sp.Symbol(f"tokX_{i}_{a}")),
            y=_column("toky", n),
            x=_column("tokx", d),
            y_q=sp.Symbol("tokyq"),
            d=d,
            n=n,
        )


@dataclass(frozen=True)
class Predictor:
    """A predictor ``ŷ = fn(t, p)`` of the tokens ``t`` and parameters ``p``.

    Attributes:
        fn: returns a scalar (or 1×1 matrix); ``t`` has ``X`` (n×d), ``y`` (n×1), ``x``
            (d×1), ``d``, ``n``; ``p`` has one attribute per declared parameter.
        parameters: name → shape, each entry of the shape an int or ``"d"``/``"n"``
            (``()`` is a scalar, ``("n",)`` a column n×1).
        name: shown in reports.
    """

    fn: Callable
    parameters: Mapping[str, tuple] = field(default_factory=dict)
    name: str = "predictor"

    def symbols(self, d: int, n: int) -> dict[str, sp.Basic]:
        """The parameter symbols at sizes (d, n)."""
        out = {}
        for pname, shape in self.parameters.items():
            dims = tuple({"d": d, "n": n}.get(s, s) for s in shape)
            if not all(isinstance(k, int) and k >= 1 for k in dims) or len(dims) > 2:
                raise DerivationInputError(f"predictor parameter {pname!r}: bad shape {shape!r}")
            if not dims:
                out[pname] = sp.Symbol(pname)
            elif len(dims) == 1:
                out[pname] = _column(pname, dims[0])
            else:
                out[pname] = sp.ImmutableMatrix(*dims, lambda i, j: sp.Symbol(f"{pname}_{i}_{j}"))
        return out

    def numeric_shape(self, pname: str, d: int, n: int) -> tuple[int, ...]:
        """Shape of a parameter's numeric value (a column is (n, 1))."""
        dims = tuple({"d": d, "n": n}.get(s, s) for s in self.parameters[pname])
        return dims + (1,) if len(dims) == 1 else dims

    def __call__(self, tokens, params: Mapping[str, object]) -> sp.Expr:
        """ŷ as a scalar SymPy expression."""
        out = self.fn(tokens, SimpleNamespace(**params))
        if isinstance(out, (sp.MatrixBase, np.ndarray)):
            if tuple(out.shape) != (1, 1):
                raise DerivationInputError(f"{self.name} must return a scalar, got shape {tuple(out.shape)}")
            out = out[0, 0]
        try:
            return sp.sympify(out)
        except (sp.SympifyError, TypeError) as exc:
            raise DerivationInputError(f"{self.name} did not return a SymPy scalar: {exc}") from None


def _wpgd(t, p):
    return (t.x.T @ p.P @ t.X.T @ hadamard(p.omega, t.y))[0, 0]


def wpgd_predictor() -> Predictor:
    """The WPGD predictor ``ŷ = xᵀ P Xᵀ(ω ⊙ y)`` (parameters ``P`` d×d, ``omega`` n×1)."""
    return Predictor(_wpgd, {"P": ("d", "d"), "omega": ("n",)}, "x^T P X^T (omega * y)")


def with_bias(base: Predictor, name: str = "b") -> Predictor:
    """``base + b``: a learned scalar offset ``name`` added to a predictor."""
    if name in base.parameters:
        raise DerivationInputError(f"predictor already has a parameter named {name!r}")
    fn = base.fn
    return Predictor(
        lambda t, p: _scalar(fn(t, p)) + getattr(p, name),
        {**base.parameters, name: ()},
        f"{base.name} + {name}",
    )


def _scalar(v):
    if isinstance(v, (sp.MatrixBase, np.ndarray)) and tuple(v.shape) == (1, 1):
        return v[0, 0]
    return v
