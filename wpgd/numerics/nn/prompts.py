"""Torch prompt generator for the multitask data model of docs/theory.md §3.

A prompt is ``n`` demonstrations ``(x_i, y_i)`` followed by a query ``x``:

* features ``x_i, x ~ N(0, Σ)`` i.i.d., drawn as ``F_Σ z`` with ``F_Σ F_Σᵀ = Σ``;
* task vectors drawn jointly Gaussian with ``E[β_i β_jᵀ] = R̄_ij I``: for a segment problem only
  the K segment tasks and the query task are drawn (from the (K+1)×(K+1) joint correlation
  ``[[C, c], [cᵀ, r_q]]``) and repeated over each segment, so a prompt costs O(n d);
* labels ``y_i = x_iᵀβ_i + ξ_i``, ``ξ ~ N(0, σ²)``.

Token encoding (:class:`PromptFormat`), one token per row, label channel **last**::

    [ x (d) | segment one-hot (K, if context="onehot") | delimiter code (1 or K−1) | y (1) ]

* demonstration ``i``: ``[M x_i | e_{k(i)} | 0 | s·y_i]`` with ``s = label_scale`` and the
  feature map ``M = f·I`` (``feature_basis="given"``, ``f = feature_scale``) or
  ``M = f·Λ^{-1/2}Uᵀ`` (``feature_basis="whitened"``, ``Σ = UΛUᵀ``: unit covariance, coordinates
  along Σ's eigenvectors; :meth:`PromptFormat.feature_map`). The defaults are ``s = f = 1``
  and the given basis; the trainer uses ``s = 1/√(r_q tr Σ + σ²)`` (a unit-variance label
  channel) and the whitened basis (``TrainConfig.whiten_features``, docs/training.md
  "Conditioning"); M is invertible on the range of Σ, so a model whose projections are free
  absorbs it;
* query: ``[M x | 0 | 0 | 0]`` (its label slot holds 0: the model must write the prediction there);
* delimiter between consecutive segments (K−1 of them, none before the query):
  ``delimiter="flag"`` — every entry 0 except the flag coordinate, which holds
  ``delimiter_value`` (one shared coordinate: every delimiter is the same token);
  ``delimiter="boundary"`` — one coordinate per boundary (``max(K−1, 1)`` of them), the j-th
  delimiter holds ``delimiter_value`` in the j-th (the construction's "boundary" codes,
  ``wpgd.numerics.nn.construct``; for K ≤ 2 the same tokens as "flag"); ``delimiter="label"`` — the ``[0; 1]`` token of docs/theory.md §3 (all zeros
  except the label slot, which holds ``delimiter_value``; no extra coordinate).

Delimiters change the sequence length ``T = n + (K−1) + 1`` but not the number of
demonstrations ``n``. Sampling uses an explicit ``torch.Generator`` (seeded by the caller) and
works on any device and in float32 or float64.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.montecarlo import task_factor
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.safety import psd_factor

__all__ = ["FEATURE_BASES", "PromptFormat", "PromptBatch", "PromptSampler", "delimiter_dim", "make_generator"]

_DELIMITERS = ("none", "flag", "boundary", "label")
_CONTEXTS = ("none", "onehot")
FEATURE_BASES = ("given", "whitened")


def delimiter_dim(delimiter: str, num_segments: int) -> int:
    """Token coordinates that the delimiter encoding adds: 1 ("flag"), ``max(K−1, 1)``
    ("boundary"), 0 ("none", "label")."""
    return {"flag": 1, "boundary": max(int(num_segments) - 1, 1)}.get(delimiter, 0)


def _spectrum(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Σ = U diag(λ) Uᵀ`` and which eigenvalues count as positive (``λ > d·ε·λ_max``): the one
    eigendecomposition behind the whitened basis and the sampler's factor ``F = U √λ₊``."""
    eig, vec = np.linalg.eigh(sigma)
    keep = eig > sigma.shape[0] * np.finfo(np.float64).eps * float(eig.max(initial=0.0))
    return eig, vec, keep


@dataclass(frozen=True)
class PromptFormat:
    """How a prompt is laid out as tokens (see the module docstring).

    Attributes:
        delimiter: "none", "flag" (one dedicated flag coordinate shared by every delimiter),
            "boundary" (one coordinate per boundary, so that a gate can tell the boundaries
            apart) or "label" (the ``[0; 1]`` token).
        delimiter_value: the value written in the delimiter's flag / label slot.
        context: "none" or "onehot" (append the segment one-hot to each demonstration).
        label_scale: demonstration labels are written into the tokens multiplied by this factor
            (a change of units; :meth:`PromptSampler.predict` divides the model's read-out by it,
            so predictions and risks stay in units of y).
        feature_scale: features (demonstrations and query) are written into the tokens
            multiplied by this factor (a change of units of x: a linear-in-x predictor absorbs it,
            and the raw ``PromptBatch.features``/``query`` are unscaled).
        feature_basis: "given" (default: the coordinates of the spec) or "whitened": each feature
            vector is written as ``Λ^{-1/2}Uᵀx`` (``Σ = UΛUᵀ``), so the feature coordinates are
            uncorrelated with unit variance (a change of coordinates of x, invertible on the range
            of Σ; directions with ``λ = 0``, where x has no component, hold 0). ``feature_scale``
            multiplies either. :meth:`feature_map` is the matrix.
    """

    delimiter: str = "none"
    delimiter_value: float = 1.0
    context: str = "none"
    label_scale: float = 1.0
    feature_scale: float = 1.0
    feature_basis: str = "given"

    def __post_init__(self):
        if self.delimiter not in _DELIMITERS:
            raise InvalidProblemError(f"delimiter must be one of {', '.join(_DELIMITERS)}, got {self.delimiter!r}")
        if self.context not in _CONTEXTS:
            raise InvalidProblemError(f"context must be one of {', '.join(_CONTEXTS)}, got {self.context!r}")
        if not math.isfinite(self.delimiter_value):
            raise InvalidProblemError("delimiter_value must be finite")
        if not (math.isfinite(self.label_scale) and self.label_scale > 0):
            raise InvalidProblemError(f"label_scale must be positive, got {self.label_scale}")
        if not (math.isfinite(self.feature_scale) and self.feature_scale > 0):
            raise InvalidProblemError(f"feature_scale must be positive, got {self.feature_scale}")
        if self.feature_basis not in FEATURE_BASES:
            raise InvalidProblemError(
                f"feature_basis must be one of {', '.join(FEATURE_BASES)}, got {self.feature_basis!r}")

    def feature_map(self, sigma) -> np.ndarray:
        """The matrix ``M`` (d×d, float64) that writes a feature vector into the tokens: ``M x``.

        ``feature_scale·I`` for the given basis; ``feature_scale·Λ₊^{-1/2}Uᵀ`` for the whitened
        one, with ``Σ = UΛUᵀ`` and ``Λ₊^{-1/2}`` the inverse square roots of the eigenvalues
        above ``d·ε·λ_max`` (0 for the others: x has no component there, only rounding).

        >>> import numpy as np
        >>> M = PromptFormat(feature_basis="whitened").feature_map(np.diag([4.0, 0.25]))
        >>> np.round(M @ np.diag([4.0, 0.25]) @ M.T, 12)
        array([[1., 0.],
               [0., 1.]])
        """
        sigma = np.asarray(sigma, dtype=np.float64)
        if self.feature_basis == "given":
            return self.feature_scale * np.eye(sigma.shape[0])
        eig, vec, keep = _spectrum(sigma)
        inv_sqrt = np.where(keep, 1.0 / np.sqrt(np.where(keep, eig, 1.0)), 0.0)
        return self.feature_scale * (vec * inv_sqrt).T

    def token_preconditioner(self, P, sigma) -> np.ndarray:
        """A preconditioner ``P`` of the spec's coordinates in token coordinates: ``M⁺ᵀ P M⁺``
        (``M`` = :meth:`feature_map`, ``M⁺`` its pseudo-inverse), so that
        ``(M x)ᵀ (M⁺ᵀ P M⁺)(M x') = xᵀ P x'`` for every x, x' in the range of Σ."""
        m_pinv = np.linalg.pinv(self.feature_map(sigma))
        return m_pinv.T @ np.asarray(P, dtype=np.float64) @ m_pinv

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return asdict(self)


@dataclass(frozen=True)
class PromptBatch:
    """A batch of prompts, both as model tokens and as the raw WPGD quantities.

    Attributes:
        tokens: model input, shape (B, T, token_dim); label channel last.
        target: query labels y, shape (B,).
        features: demonstration features X, shape (B, n, d).
        labels: demonstration labels, shape (B, n).
        query: query features x, shape (B, d).
    """

    tokens: torch.Tensor
    target: torch.Tensor
    features: torch.Tensor
    labels: torch.Tensor
    query: torch.Tensor

    def wpgd_predict(self, P: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
        """The WPGD prediction ``xᵀ P Xᵀ(ω ⊙ y)`` on this batch.

        Args:
            P: preconditioner, shape (d, d).
            omega: weights, shape (n,).

        Returns:
            shape (B,).
        """
        u = torch.einsum("bnd,bn->bd", self.features, omega * self.labels)
        return torch.einsum("bi,ij,bj->b", self.query, P, u)


_MAX_LABEL_RUNS = 64  # above this many task runs, labels gather a per-token task matrix


def _contiguous_runs(idx) -> list[tuple[int, int, int]]:
    """``(start, stop, value)`` for each maximal run of equal entries of ``idx``.

    >>> _contiguous_runs([0, 0, 1, 1, 1, 2])
    [(0, 2, 0), (2, 5, 1), (5, 6, 2)]
    """
    idx = [int(i) for i in idx]
    runs, start = [], 0
    for i in range(1, len(idx) + 1):
        if i == len(idx) or idx[i] != idx[start]:
            runs.append((start, i, idx[start]))
            start = i
    return runs


def make_generator(seed: int, device: str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(int(seed))


class PromptSampler:
    """Draws fresh prompts of one problem in one token format.

    Args:
        problem: the setting (dense or segmented; delimiters and context need segments).
        fmt: the token layout.
        dtype: torch float dtype of the output.
        device: torch device.

    >>> import numpy as np
    >>> pr = Problem.segmented(np.eye(3), [2, 2], [0.3, 0.9])
    >>> s = PromptSampler(pr, PromptFormat(delimiter="flag"))
    >>> s.token_dim, s.seq_len
    (5, 6)
    """

    def __init__(self, problem: Problem, fmt: PromptFormat = PromptFormat(), *,
                 dtype: torch.dtype = torch.float32, device: str = "cpu"):
        if not problem.is_segmented and (fmt.delimiter != "none" or fmt.context != "none"):
            raise InvalidProblemError("delimiters and segment context need a segment problem (tasks.segments)")
        self.problem = problem
        self.fmt = fmt
        self.dtype = dtype
        self.device = device
        d, n = problem.d, problem.n
        k = problem.num_segments or 1
        self.num_segments = k
        self.num_delimiters = (k - 1) if fmt.delimiter != "none" else 0
        self.context_dim = k if fmt.context == "onehot" else 0
        self.flag_dim = delimiter_dim(fmt.delimiter, k)
        self.token_dim = d + self.context_dim + self.flag_dim + 1
        self.seq_len = n + self.num_delimiters + 1
        f_task, task_idx = task_factor(problem)
        seg = np.array(problem.segment_index) if problem.is_segmented else np.zeros(n, dtype=np.intp)
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64, device=device).to(dtype)  # noqa: E731
        # Features x = F z with z ~ N(0, I). In the whitened basis F = U√λ₊ (psd_factor's factor) and
        # the token features M x = Λ₊^{-1/2}Uᵀ U √λ₊ z are z on the kept eigen-directions (0 on the
        # others), written without a d×d product; an identity factor is not multiplied either.
        self._white_mask = None
        if fmt.feature_basis == "whitened":
            eig, vec, keep = _spectrum(np.asarray(problem.sigma, dtype=np.float64))
            factor = vec * np.sqrt(np.clip(eig, 0.0, None))
            self._white_mask = None if keep.all() else t(keep.astype(np.float64))
        else:
            factor = psd_factor(problem.sigma)
        self._f_sigma_t = None if np.array_equal(factor, np.eye(d)) else t(factor.T)
        self._f_task = t(f_task)
        self._task_idx = torch.as_tensor(task_idx, dtype=torch.long, device=device)
        self._task_runs = _contiguous_runs(task_idx)
        # Position of each demonstration in the token sequence: a delimiter sits before every
        # segment but the first.
        offset = seg if self.num_delimiters else np.zeros_like(seg)
        self.demo_positions = torch.as_tensor(np.arange(n) + offset, dtype=torch.long, device=device)
        self.delimiter_positions = torch.as_tensor(
            [int(np.sum(problem.segment_sizes[:j])) + j - 1 for j in range(1, k)] if self.num_delimiters else [],
            dtype=torch.long, device=device,
        )
        self._delimiter_codes = torch.arange(self.num_delimiters, device=device) + problem.d + self.context_dim
        self._context = None
        if self.context_dim:
            self._context = torch.nn.functional.one_hot(torch.as_tensor(seg, device=device), k).to(dtype)
        self._noise_sd = math.sqrt(problem.noise)

    def _token_features(self, draws: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Features as the tokens carry them, ``x Mᵀ`` (``PromptFormat.feature_map``), from the
        standard normal ``draws`` (whitened basis) or the features ``feats`` (given basis)."""
        if self.fmt.feature_basis == "whitened":
            out = draws if self._white_mask is None else draws * self._white_mask
        else:
            out = feats
        fs = self.fmt.feature_scale
        return out * fs if fs != 1.0 else out

    def _labels(self, feats: torch.Tensor, task_rows: torch.Tensor) -> torch.Tensor:
        """Noise-free labels ``⟨x_i, β_i⟩``, shape (B, n+1), from the features (B, n+1, d) and the
        distinct task vectors (B, m, d). A segment prompt's tokens share their segment's task in
        contiguous runs, so each run is one batched matrix-vector product; a per-token task matrix
        (B·(n+1)·d numbers) is gathered only when there are many runs (dense task correlation)."""
        if len(self._task_runs) > _MAX_LABEL_RUNS:
            return (feats * task_rows[:, self._task_idx, :]).sum(-1)
        return torch.cat([(feats[:, a:b] * task_rows[:, row, None]).sum(-1)
                          for a, b, row in self._task_runs], dim=1)

    def predict(self, model, tokens: torch.Tensor) -> torch.Tensor:
        """``model.predict(tokens)`` converted back to units of y (divided by ``label_scale``), shape (B,)."""
        out = model.predict(tokens)
        return out / self.fmt.label_scale if self.fmt.label_scale != 1.0 else out

    def describe(self) -> dict:
        """JSON summary: format, token width, sequence length, delimiter positions."""
        return {
            "format": self.fmt.to_dict(),
            "token_dim": self.token_dim,
            "seq_len": self.seq_len,
            "n": self.problem.n,
            "d": self.problem.d,
            "delimiter_positions": self.delimiter_positions.tolist(),
            "label_channel": self.token_dim - 1,
        }

    def sample(self, batch: int, generator: torch.Generator) -> PromptBatch:
        """Draw ``batch`` fresh prompts.

        Args:
            batch: number of prompts B ≥ 1.
            generator: a ``torch.Generator`` on this sampler's device (its state advances).

        Returns:
            A :class:`PromptBatch`.
        """
        if batch < 1:
            raise InvalidProblemError(f"batch must be ≥ 1, got {batch}")
        d, n = self.problem.d, self.problem.n
        kw = dict(generator=generator, dtype=self.dtype, device=self.device)
        draws = torch.randn((batch, n + 1, d), **kw)
        feats = draws if self._f_sigma_t is None else draws @ self._f_sigma_t
        g = torch.randn((batch, self._f_task.shape[1], d), **kw)
        labels = self._labels(feats, self._f_task @ g)  # task vectors, [m, r] @ [B, r, d]
        if self._noise_sd > 0:
            labels = labels + self._noise_sd * torch.randn((batch, n + 1), **kw)
        tokens = torch.zeros((batch, self.seq_len, self.token_dim), dtype=self.dtype, device=self.device)
        pos = self.demo_positions
        written = self._token_features(draws, feats)
        tokens[:, pos, :d] = written[:, :n]
        tokens[:, pos, -1] = labels[:, :n] * self.fmt.label_scale if self.fmt.label_scale != 1.0 else labels[:, :n]
        if self._context is not None:
            tokens[:, pos, d:d + self.context_dim] = self._context
        if self.num_delimiters:
            if self.fmt.delimiter == "boundary":  # the j-th delimiter writes the j-th code coordinate
                tokens[:, self.delimiter_positions, self._delimiter_codes] = self.fmt.delimiter_value
            else:
                slot = d + self.context_dim if self.fmt.delimiter == "flag" else self.token_dim - 1
                tokens[:, self.delimiter_positions, slot] = self.fmt.delimiter_value
        tokens[:, -1, :d] = written[:, n]
        return PromptBatch(
            tokens=tokens,
            target=labels[:, n],
            features=feats[:, :n],
            labels=labels[:, :n],
            query=feats[:, n],
        )
