"""Code generation helpers: NumPy printing of trace expressions and R̄ slicing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

__all__ = ["TracePrinter", "lambdify_trace", "split_rbar"]


class TracePrinter(NumPyPrinter):
    """NumPy printer that also knows ``Trace`` and identities of symbolic size.

    SymPy 1.14's NumPy printer supports neither; ``Identity(d)`` prints as ``numpy.eye(d)``,
    so ``d`` must then be an argument of the lambdified function.
    """

    def _print_Trace(self, expr):
        return f"{self._module_format(self._module + '.trace')}({self._print(expr.arg)})"

    def _print_Identity(self, expr):
        return f"{self._module_format(self._module + '.eye')}({self._print(expr.shape[0])})"


def lambdify_trace(expr: sp.Expr, args: list) -> Callable:
    """``sympy.lambdify`` for matrix expressions containing ``Trace``."""
    return sp.lambdify(args, expr, modules="numpy", printer=TracePrinter)


def split_rbar(Rbar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Split R̄ (shape (n+1, n+1), query last) into ``R (n,n), D_R (n,n), r (n,1), r_q``."""
    Rbar = np.asarray(Rbar, dtype=np.float64)
    n = Rbar.shape[0] - 1
    R = Rbar[:n, :n]
    return R, np.diag(np.diag(R)), Rbar[:n, n : n + 1], float(Rbar[n, n])
