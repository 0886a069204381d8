"""Run the registered proof checks and their negative controls (what ``wpgd verify`` calls).

Importing this module imports every check module (:mod:`wpgd.proofs_check._all_checks`), which
register themselves with :mod:`wpgd.proofs_check.registry`; the registry itself knows no check.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

from wpgd.proofs_check import _all_checks  # the check modules register on import
from wpgd.proofs_check.registry import Check, CheckResult, Evidence, registered_so_far

__all__ = ["registered_checks", "run_checks", "run_controls"]


def registered_checks() -> list[Check]:
    """All registered checks (every check module is imported above): by module in
    :data:`~wpgd.proofs_check._all_checks.MODULE_ORDER`, then in registration order."""
    rank = {f"{__package__}.{m}": i for i, m in enumerate(_all_checks.MODULE_ORDER)}
    return sorted(registered_so_far(), key=lambda c: rank.get(c.func.__module__, len(rank)))


def _evaluate(func: Callable[[bool], Evidence], quick: bool) -> tuple[str, str, dict]:
    """(status, evidence text, data) of ``func(quick)``; an exception is a FAIL with its reason."""
    try:
        ev = func(quick)
        status = "SKIP" if ev.skipped else ("PASS" if ev.passed else "FAIL")
        return status, ev.evidence, ev.data
    except Exception as exc:  # a crashing check is a failing check, with its reason
        return "FAIL", f"error: {type(exc).__name__}: {exc}", {"traceback": traceback.format_exc()}


def _selected(select: list[str] | None) -> list[Check]:
    return [
        chk
        for chk in registered_checks()
        if not select or any(chk.name.startswith(s) for s in select)
    ]


def _run(select, on_result, outcome) -> list[CheckResult]:
    """One :class:`CheckResult` per selected check, ``outcome(chk) -> (status, text, data)`` timed."""
    results = []
    for chk in _selected(select):
        t0 = time.perf_counter()
        status, text, data = outcome(chk)
        res = CheckResult(
            name=chk.name,
            claim=chk.claim,
            method=chk.method,
            group=chk.group,
            status=status,
            evidence=text,
            seconds=time.perf_counter() - t0,
            data=data,
        )
        results.append(res)
        if on_result is not None:
            on_result(res)
    return results


def run_checks(quick: bool = False, select: list[str] | None = None, on_result=None) -> list[CheckResult]:
    """Run the registered checks.

    Args:
        quick: smaller sizes / fewer samples (each check decides).
        select: run only checks whose name starts with one of these prefixes.
        on_result: optional callback ``on_result(result)`` after each check.

    Returns:
        One :class:`CheckResult` per check run.
    """
    return _run(select, on_result, lambda chk: _evaluate(chk.func, quick))


def run_controls(
    quick: bool = False, select: list[str] | None = None, on_result=None
) -> list[CheckResult]:
    """Run every check's negative control (the check's criterion on a deliberately wrong input).

    The returned :class:`CheckResult` has ``status`` "FAIL" when the control was rejected (it
    *works*: the criterion caught the wrong input), "PASS" when the wrong input passed (the
    criterion is blind to it), "SKIP" when the control could not run, "ERROR" when the control
    raised (a crash is not a rejection: it proves nothing about the criterion), and "MISSING"
    when the check registered no control. Arguments as :func:`run_checks`.
    """

    def outcome(chk):
        if chk.control is None:
            return "MISSING", "no negative control registered", {}
        status, text, data = _evaluate(chk.control, quick)
        return ("ERROR" if "traceback" in data else status), text, data

    return _run(select, on_result, outcome)
