"""Proof checks: one module per claim, each a computation that can fail, with its evidence.

``wpgd verify`` runs every check registered here. The Hypothesis strategies users can import
for their own derivations live in :mod:`proofs_check.strategies`.
"""

from .registry import (
    Check as Check,
    CheckResult as CheckResult,
    Evidence as Evidence,
    register as register,
    registered_checks as registered_checks,
    run_checks as run_checks,
    run_controls as run_controls,
)

__all__ = ["Check", "CheckResult", "Evidence", "register", "registered_checks", "run_checks", "run_controls"]
