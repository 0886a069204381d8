"""The problem object: one validated, immutable description of a WPGD setting.

A setting (docs/theory.md §3) is

* the feature covariance ``Σ`` (d×d, symmetric PSD),
* the joint task correlation ``R̄`` ((n+1)×(n+1), PSD, query task last), split as
  ``R = R̄[:n, :n]``, ``r = R̄[:n, n]``, ``r_q = R̄[n, n]``,
* the label-noise variance ``σ² ≥ 0``.

``R̄`` is given either densely, or in the *segment* form of a multitask prompt: K consecutive
segments of sizes ``n_1..n_K`` (farthest from the query first), segment-task correlation ``C``
(K×K), query correlations ``c`` (K,) and query variance ``r_q``. Then ``R = E C Eᵀ``, ``r = E c``
with ``E`` the n×K segment indicator, and the joint matrix is PSD iff the (K+1)×(K+1) matrix
``[[C, c], [cᵀ, r_q]]`` is (``E`` has full column rank when every segment is non-empty).
Segment problems never form an n×n matrix: every quadratic form goes through segment sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.limits import require_eigh
from wpgd.numerics.core.safety import as_finite_array, check_psd, check_symmetric, validate_psd

__all__ = ["Problem", "DENSE_LIMIT", "MAX_TOKENS"]

DENSE_LIMIT = 20_000
"""Largest n for which a segment problem will agree to materialise its n×n matrices."""

MAX_TOKENS = 2**53
"""Largest prompt length n (and segment size) accepted: integers beyond it are not exact in float64."""


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.intp if np.asarray(a).dtype.kind in "iu" else np.float64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False, repr=False)
class Problem:
    """A validated WPGD problem. Build it with :meth:`dense` or :meth:`segmented`.

    Attributes:
        sigma: feature covariance Σ, shape (d, d), symmetric PSD, read-only.
        noise: label-noise variance σ² ≥ 0.
        query_variance: r_q = E[βᵀβ]/d, the query task's variance.
        task_matrix: dense R̄, shape (n+1, n+1), query last; None for a segment problem.
        segment_sizes: (n_1, ..., n_K), farthest from the query first; None for a dense problem.
        segment_correlation: C, shape (K, K); None for a dense problem.
        query_correlation: c, shape (K,); None for a dense problem.
    """

    sigma: np.ndarray
    noise: float
    query_variance: float
    task_matrix: np.ndarray | None = None
    segment_sizes: tuple[int, ...] | None = None
    segment_correlation: np.ndarray | None = None
    query_correlation: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def dense(cls, sigma, task_matrix, noise: float = 0.0) -> Problem:
        """Problem from Σ (d×d) and the joint task correlation R̄ ((n+1)×(n+1), query last).

        Raises:
            InvalidProblemError: on any invalid input.
        """
        sig = _check_sigma(sigma)
        rbar = as_finite_array("task correlation matrix", task_matrix, ndim=2)
        rbar = check_symmetric("task correlation matrix", rbar)
        if rbar.shape[0] < 2:
            raise InvalidProblemError(
                "task correlation matrix must be (n+1)×(n+1) with n ≥ 1 (empty prompt)"
            )
        _require_eig("the joint task correlation matrix", rbar.shape[0])
        rbar = validate_psd("joint task correlation matrix (with the query row)", rbar)
        noise = _check_noise(noise)
        r_q = float(rbar[-1, -1])
        _check_nontrivial(sig, r_q, noise)
        return cls(sigma=_readonly(sig), noise=noise, query_variance=r_q, task_matrix=_readonly(rbar))

    @classmethod
    def segmented(
        cls,
        sigma,
        segment_sizes,
        query_correlation,
        correlation=None,
        query_variance: float = 1.0,
        noise: float = 0.0,
    ) -> Problem:
        """Multitask-segment problem (docs/theory.md §3).

        Args:
            sigma: Σ, shape (d, d).
            segment_sizes: demonstrations per segment, farthest from the query first, each ≥ 1.
            query_correlation: c, shape (K,): each segment task's correlation with the query task.
            correlation: C, shape (K, K), PSD; default identity.
            query_variance: r_q.
            noise: σ².

        Raises:
            InvalidProblemError: on any invalid input.
        """
        sig = _check_sigma(sigma)
        sizes = _check_sizes(segment_sizes)
        k = len(sizes)
        _require_eig("the segment task correlation", k + 1)
        c_mat = np.eye(k) if correlation is None else correlation
        c_mat = as_finite_array("task correlation", c_mat, shape=(k, k))
        c_mat = check_symmetric("task correlation", c_mat)
        c_vec = as_finite_array("query_correlation", query_correlation, shape=(k,))
        r_q = float(as_finite_array("query_variance", query_variance, ndim=0))
        with np.errstate(over="ignore", invalid="ignore"):
            joint = _joint(c_mat, c_vec, r_q)
        check_psd("task correlation", c_mat)
        # Project once: later code sees an exactly-PSD joint matrix and reads C, c, r_q off it.
        joint = validate_psd("joint task correlation (segments + query)", joint)
        c_mat, c_vec, r_q = joint[:k, :k].copy(), joint[:k, k].copy(), float(joint[k, k])
        noise = _check_noise(noise)
        _check_nontrivial(sig, r_q, noise)
        return cls(
            sigma=_readonly(sig),
            noise=noise,
            query_variance=r_q,
            segment_sizes=sizes,
            segment_correlation=_readonly(c_mat),
            query_correlation=_readonly(c_vec),
        )

    # ------------------------------------------------------------------ shapes
    @property
    def is_segmented(self) -> bool:
        """True for a segment problem (structured path)."""
        return self.segment_sizes is not None

    @property
    def d(self) -> int:
        """Feature dimension."""
        return int(self.sigma.shape[0])

    @property
    def n(self) -> int:
        """Number of demonstrations."""
        if self.is_segmented:
            return int(sum(self.segment_sizes))
        return int(self.task_matrix.shape[0] - 1)

    @property
    def num_segments(self) -> int | None:
        """K for a segment problem, None for a dense one."""
        return len(self.segment_sizes) if self.is_segmented else None

    # ------------------------------------------------------------------ spectra
    def _cached(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    @property
    def sigma_eig(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigen-decomposition of Σ: (λ ascending, shape (d,), clipped at 0; U, shape (d, d))."""

        def f():
            lam, u = np.linalg.eigh(self.sigma)
            return _readonly(np.clip(lam, 0.0, None)), _readonly(u)

        return self._cached("sigma_eig", f)

    @property
    def trace_sigma(self) -> float:
        """tr Σ."""
        return float(np.trace(self.sigma))

    @property
    def null_risk(self) -> float:
        """Risk of predicting zero, ``r_q tr Σ + σ²``: the normaliser of the normalised risk."""
        return self.query_variance * self.trace_sigma + self.noise

    # ------------------------------------------------------------------ task side, O(n)
    @property
    def segment_index(self) -> np.ndarray:
        """Segment label of each demonstration, shape (n,) (segment problems only)."""
        self._require_segments()
        return self._cached(
            "seg_idx", lambda: _readonly(np.repeat(np.arange(len(self.segment_sizes)), self.segment_sizes))
        )

    @property
    def r(self) -> np.ndarray:
        """Correlation of each demonstration's task with the query task, shape (n,)."""
        if self.is_segmented:
            return self._cached("r", lambda: _readonly(self.query_correlation[self.segment_index]))
        return self._cached("r", lambda: _readonly(self.task_matrix[:-1, -1]))

    @property
    def diag_r(self) -> np.ndarray:
        """diag(R): each demonstration task's variance, shape (n,)."""
        if self.is_segmented:
            return self._cached(
                "diag_r", lambda: _readonly(np.diag(self.segment_correlation)[self.segment_index])
            )
        return self._cached("diag_r", lambda: _readonly(np.diag(self.task_matrix)[:-1]))

    @property
    def m2_diag(self) -> np.ndarray:
        """The diagonal matrix M2 = tr(Σ)·D_R + σ² I, as its diagonal, shape (n,)."""
        return self._cached("m2", lambda: _readonly(self.trace_sigma * self.diag_r + self.noise))

    @property
    def segment_joint_matrix(self) -> np.ndarray:
        """``[[C, c], [cᵀ, r_q]]``: the joint correlation of the K segment tasks and the query task,
        shape (K+1, K+1) (segment problems only)."""
        self._require_segments()
        return self._cached(
            "joint",
            lambda: _readonly(_joint(self.segment_correlation, self.query_correlation, self.query_variance)),
        )

    def segment_sums(self, omega: np.ndarray) -> np.ndarray:
        """Eᵀω: sums of weights within each segment, shape (..., K). O(n)."""
        self._require_segments()
        omega = np.asarray(omega, dtype=np.float64)
        bounds = np.concatenate([[0], np.cumsum(self.segment_sizes)[:-1]])
        return np.add.reduceat(omega, bounds, axis=-1)

    def quad_r(self, omega: np.ndarray) -> np.ndarray:
        """ωᵀRω, batched over leading axes of ``omega`` (..., n). Never forms R for segments."""
        omega = np.asarray(omega, dtype=np.float64)
        if self.is_segmented:
            s = self.segment_sums(omega)
            return np.einsum("...k,kl,...l->...", s, self.segment_correlation, s)
        rr = self.task_matrix[:-1, :-1]
        return np.einsum("...i,ij,...j->...", omega, rr, omega)

    def quad_m1(self, omega: np.ndarray) -> np.ndarray:
        """ωᵀM1ω with M1 = R + D_R, batched, shape (...)."""
        omega = np.asarray(omega, dtype=np.float64)
        return self.quad_r(omega) + np.einsum("...i,i,...i->...", omega, self.diag_r, omega)

    def quad_m2(self, omega: np.ndarray) -> np.ndarray:
        """ωᵀM2ω with M2 = tr(Σ) D_R + σ² I, batched, shape (...)."""
        omega = np.asarray(omega, dtype=np.float64)
        return np.einsum("...i,i,...i->...", omega, self.m2_diag, omega)

    def r_dot(self, omega: np.ndarray) -> np.ndarray:
        """rᵀω, batched, shape (...)."""
        omega = np.asarray(omega, dtype=np.float64)
        return omega @ self.r

    # ------------------------------------------------------------------ dense views
    def dense_task_matrix(self) -> np.ndarray:
        """R̄ as a dense (n+1)×(n+1) array (formed for segment problems up to :data:`DENSE_LIMIT`)."""
        if not self.is_segmented:
            return self.task_matrix

        def f():
            self._require_small("the dense task correlation matrix")
            idx = np.concatenate([self.segment_index, [len(self.segment_sizes)]])
            joint = self.segment_joint_matrix
            return _readonly(joint[np.ix_(idx, idx)])

        return self._cached("rbar", f)

    def m1_matrix(self) -> np.ndarray:
        """M1 = R + D_R, dense (n, n)."""
        rbar = self.dense_task_matrix()
        return rbar[:-1, :-1] + np.diag(self.diag_r)

    def m2_matrix(self) -> np.ndarray:
        """M2 = tr(Σ) D_R + σ² I, dense (n, n)."""
        self._require_small("M2")
        return np.diag(self.m2_diag)

    def as_dense(self) -> Problem:
        """The same problem in dense form (for cross-checking the structured path)."""
        if not self.is_segmented:
            return self
        # E·joint·Eᵀ of an already validated (projected) joint matrix is PSD: no re-validation,
        # which could project rounding-level eigenvalues and make the two forms differ.
        return Problem(sigma=self.sigma, noise=self.noise, query_variance=self.query_variance,
                       task_matrix=self.dense_task_matrix())

    # ------------------------------------------------------------------ units
    def scale_exponents(self) -> tuple[int, int]:
        """Powers of two ``(e_s, e_t)`` that bring the problem to unit scale: ``2^e_s ≈ λ_max(Σ)``
        and ``2^e_t ≈ max|R̄|`` (``σ²/2^e_s`` when every task correlation is 0; 0 for a zero Σ)."""

        def f():
            lam_max = float(self.sigma_eig[0][-1])
            e_s = int(np.round(np.log2(lam_max))) if lam_max > 0 else 0
            tasks = self.segment_joint_matrix if self.is_segmented else self.task_matrix
            t_max = float(np.max(np.abs(tasks)))
            if t_max > 0:
                e_t = int(np.round(np.log2(t_max)))
            else:
                e_t = int(np.round(np.log2(self.noise))) - e_s if self.noise > 0 else 0
            return e_s, e_t

        return self._cached("scale_exponents", f)

    def rescaled(self, e_s: int, e_t: int) -> Problem:
        """The same problem in units where features are scaled by ``2^(−e_s/2)`` and tasks by
        ``2^(−e_t/2)``: Σ → Σ/2^e_s, R̄ → R̄/2^e_t, σ² → σ²/2^(e_s+e_t) (exact: powers of two).

        Risks obey ``L(P, ω) = 2^(e_s+e_t) · L'(2^e_s P, ω)`` (docs/solver.md); ω is unchanged.
        No re-validation: a scaled PSD matrix is PSD.
        """
        sig = _readonly(np.ldexp(self.sigma, -e_s))
        noise = float(np.ldexp(self.noise, -(e_s + e_t)))
        r_q = float(np.ldexp(self.query_variance, -e_t))
        if self.is_segmented:
            return Problem(sigma=sig, noise=noise, query_variance=r_q, segment_sizes=self.segment_sizes,
                           segment_correlation=_readonly(np.ldexp(self.segment_correlation, -e_t)),
                           query_correlation=_readonly(np.ldexp(self.query_correlation, -e_t)))
        return Problem(sigma=sig, noise=noise, query_variance=r_q,
                       task_matrix=_readonly(np.ldexp(self.task_matrix, -e_t)))

    # ------------------------------------------------------------------ description
    def __repr__(self) -> str:
        """Shape and key scalars, never the matrices (``Problem(d=10, n=40, segments=(20, 20), ...)``)."""
        if self.is_segmented:
            sizes = self.segment_sizes
            shape = f"segments={tuple(sizes) if len(sizes) <= 8 else len(sizes)}"
        else:
            shape = "dense"
        return (f"Problem(d={self.d}, n={self.n}, {shape}, trace_sigma={self.trace_sigma:.6g}, "
                f"noise={self.noise:.6g}, query_variance={self.query_variance:.6g})")

    def describe(self) -> dict:
        """A JSON-serialisable summary of the problem (dumped beside results)."""
        out = {
            "d": self.d,
            "n": self.n,
            "trace_sigma": self.trace_sigma,
            "noise": self.noise,
            "query_variance": self.query_variance,
            "form": "segments" if self.is_segmented else "dense",
        }
        if self.is_segmented:
            out["segments"] = list(self.segment_sizes)
            out["correlation"] = self.segment_correlation.tolist()
            out["query_correlation"] = self.query_correlation.tolist()
        return out

    def _require_segments(self):
        if not self.is_segmented:
            raise InvalidProblemError("this operation needs a segment problem")

    def _require_small(self, what: str):
        if self.n > DENSE_LIMIT:
            raise InvalidProblemError(
                f"refusing to form {what} for n = {self.n} > {DENSE_LIMIT}; use the structured path"
            )


def _joint(c_mat: np.ndarray, c_vec: np.ndarray, r_q: float) -> np.ndarray:
    k = c_vec.shape[0]
    joint = np.zeros((k + 1, k + 1))
    joint[:k, :k] = c_mat
    joint[:k, k] = joint[k, :k] = c_vec
    joint[k, k] = r_q
    return joint


def _require_eig(what: str, m: int) -> None:
    """Refuse an m×m symmetric eigendecomposition that would exceed the resource limits."""
    require_eigh(what, m)


def _check_sigma(sigma) -> np.ndarray:
    if isinstance(sigma, np.ndarray) and sigma.ndim == 2:
        _require_eig("the feature covariance Σ", max(sigma.shape))
    sig = as_finite_array("feature covariance Σ", sigma, ndim=2)
    sig = check_symmetric("feature covariance Σ", sig)
    _require_eig("the feature covariance Σ", sig.shape[0])
    return validate_psd("feature covariance Σ", sig)


def _check_sizes(segment_sizes) -> tuple[int, ...]:
    bad = InvalidProblemError("segments must be a list of positive integers")
    try:
        flat = not isinstance(segment_sizes, (str, bytes, dict)) and np.ndim(segment_sizes) == 1
    except (TypeError, ValueError, RecursionError):
        flat = False
    if not flat:
        raise bad
    sizes = []
    for s in segment_sizes:
        if isinstance(s, (bool, np.bool_)):
            raise bad
        if isinstance(s, (int, np.integer)):
            val = int(s)
        elif isinstance(s, (float, np.floating)) and np.isfinite(s) and float(s).is_integer():
            val = int(s)
        else:
            raise bad
        if val < 1:
            raise InvalidProblemError(f"every segment needs at least one demonstration, got {val}")
        if val > MAX_TOKENS:
            raise InvalidProblemError(f"a segment of {val:.3g} demonstrations is beyond the supported {MAX_TOKENS:.3g}")
        sizes.append(val)
    if not sizes:
        raise InvalidProblemError("segments is empty (empty prompt)")
    if sum(sizes) > MAX_TOKENS:
        raise InvalidProblemError(f"the prompt has {sum(sizes):.3g} demonstrations, beyond the supported {MAX_TOKENS:.3g}")
    return tuple(sizes)


def _check_noise(noise) -> float:
    val = float(as_finite_array("noise variance", noise, ndim=0))
    if val < 0:
        raise InvalidProblemError(f"noise variance must be ≥ 0, got {val}")
    return val


def _check_nontrivial(sigma: np.ndarray, r_q: float, noise: float) -> None:
    if r_q < 0:
        raise InvalidProblemError(f"query variance must be ≥ 0, got {r_q}")
    with np.errstate(over="ignore", invalid="ignore"):
        trace = float(np.sum(np.diag(sigma)))
        label_var = r_q * trace + noise
    if not np.isfinite(trace):
        raise InvalidProblemError("tr Σ overflows float64: rescale the features")
    if not np.isfinite(label_var):
        raise InvalidProblemError(
            f"the label variance r_q·tr Σ + σ² (r_q = {r_q:.3g}, tr Σ = {trace:.3g}, σ² = {noise:.3g}) "
            "overflows float64: rescale the labels")
    if label_var <= 0:
        raise InvalidProblemError("the query label is identically zero (r_q·tr Σ + σ² = 0)")
