"""The WPGD predictor ``ŷ = xᵀ P Xᵀ (ω ⊙ y)`` (one weighted, preconditioned GD step from zero)."""

from __future__ import annotations

import numpy as np

__all__ = ["wpgd_predict"]


def wpgd_predict(X, y, x, P, omega):
    """Batched WPGD prediction.

    Args:
        X: demonstration features, shape (..., n, d).
        y: demonstration labels, shape (..., n).
        x: query features, shape (..., d).
        P: preconditioner, shape (d, d) or (..., d, d).
        omega: token weights, shape (n,) or (..., n).

    Returns:
        ŷ, shape (...).

    >>> import numpy as np
    >>> X = np.eye(2)[None]; y = np.array([[1.0, 2.0]]); x = np.array([[1.0, 1.0]])
    >>> wpgd_predict(X, y, x, np.eye(2), np.ones(2)).tolist()
    [3.0]
    """
    u = np.einsum("...nd,...n->...d", X, omega * y)  # Xᵀ(ω ⊙ y)
    return np.einsum("...i,...ij,...j->...", x, P, u)
