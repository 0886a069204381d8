"""Proof checks: one module per claim, each a computation that can fail, with its evidence.

``wpgd verify`` runs every check registered here. The Hypothesis strategies users can import
for their own derivations live in :mod:`proofs_check.strategies`. Public names load on first
use (PEP 562): ``import proofs_check`` does not import the check modules (and SymPy, torch)
until :func:`registered_checks` or a runner is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and readers (resolved lazily below)
    from proofs_check.registry import (
        Check as Check,
        CheckResult as CheckResult,
        Evidence as Evidence,
        register as register,
    )
    from proofs_check.runner import (
        registered_checks as registered_checks,
        run_checks as run_checks,
        run_controls as run_controls,
    )

# public name -> (module, attribute in it)
_LAZY: dict[str, tuple[str, str]] = {
    "Check": ("proofs_check.registry", "Check"),
    "CheckResult": ("proofs_check.registry", "CheckResult"),
    "Evidence": ("proofs_check.registry", "Evidence"),
    "register": ("proofs_check.registry", "register"),
    "registered_checks": ("proofs_check.runner", "registered_checks"),
    "run_checks": ("proofs_check.runner", "run_checks"),
    "run_controls": ("proofs_check.runner", "run_controls"),
}

__all__ = [
    "Check",
    "CheckResult",
    "Evidence",
    "register",
    "registered_checks",
    "run_checks",
    "run_controls",
]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
