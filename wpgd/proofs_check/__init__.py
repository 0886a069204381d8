"""Proof checks: one module per claim, each a computation that can fail, with its evidence.

``wpgd verify`` runs every check registered here. The Hypothesis strategies users can import
for their own derivations live in :mod:`wpgd.proofs_check.strategies`. Public names load on first
use (PEP 562): ``import wpgd.proofs_check as proofs_check`` does not import the check modules (and SymPy, torch)
until :func:`registered_checks` or a runner is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wpgd._lazy import lazy_names

if TYPE_CHECKING:  # the same names, for type checkers and readers (resolved lazily below)
    from wpgd.proofs_check.registry import (
        Check as Check,
        CheckResult as CheckResult,
        Evidence as Evidence,
        register as register,
    )
    from wpgd.proofs_check.runner import (
        registered_checks as registered_checks,
        run_checks as run_checks,
        run_controls as run_controls,
    )

# public name -> (module, attribute in it)
_LAZY: dict[str, tuple[str, str]] = {
    "Check": ("wpgd.proofs_check.registry", "Check"),
    "CheckResult": ("wpgd.proofs_check.registry", "CheckResult"),
    "Evidence": ("wpgd.proofs_check.registry", "Evidence"),
    "register": ("wpgd.proofs_check.registry", "register"),
    "registered_checks": ("wpgd.proofs_check.runner", "registered_checks"),
    "run_checks": ("wpgd.proofs_check.runner", "run_checks"),
    "run_controls": ("wpgd.proofs_check.runner", "run_controls"),
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


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
