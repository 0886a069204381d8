"""Registry of proof checks: each turns a claim into a computation that can fail.

A check is a function ``check(quick: bool) -> Evidence``. Register it with::

    @register("risk.scale_invariance", claim="L(tP, ω/t) = L(P, ω)", method="numeric")
    def _check(quick):
        ...
        return Evidence(passed=err < 1e-12, evidence=f"max rel err {err:.2e}", data={"err": err})

``wpgd verify`` runs every registered check and prints claim, method, evidence, verdict.
An exception inside a check is a FAIL whose evidence is the error; a check that cannot run
(e.g. torch missing) returns ``Evidence(skipped=True, ...)`` and says so.

Negative controls: every check also registers ``control(quick) -> Evidence``, which applies the
check's *own* pass criterion (one function shared by the check and its control) to a
deliberately wrong input -- a wrong formula, a wrong solver output, a wrong kernel -- and
returns the Evidence that criterion gives. A control *works* when that Evidence does not pass::

    def _criterion(err):
        return Evidence(passed=err < 1e-12, evidence=f"max rel err {err:.2e}", data={"err": err})

    def _control(quick):
        return _criterion(_error_of(wrong_formula))   # must FAIL

    @register("risk.scale_invariance", claim=..., method="numeric", control=_control)
    def _check(quick):
        return _criterion(_error_of(formula))

A control's wrong input is a literal (e.g. "off by 1e-11"), never written in terms of the
tolerance constant it tests, so that loosening the constant makes the control pass (and the
self-test fail) instead of moving the control along with it.

``wpgd verify --self-test`` (and the tests) run every control with :func:`run_controls`.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Callable

__all__ = [
    "Evidence",
    "Check",
    "CheckResult",
    "register",
    "registered_checks",
    "run_checks",
    "run_controls",
    "any_passed",
]


@dataclass(frozen=True)
class Evidence:
    """What a check saw.

    Attributes:
        passed: verdict.
        evidence: one human-readable line of numbers.
        data: JSON-serialisable details.
        skipped: True if the check could not run (then ``passed`` is ignored and it is not a PASS).
    """

    passed: bool
    evidence: str
    data: dict = field(default_factory=dict)
    skipped: bool = False


@dataclass(frozen=True)
class Check:
    """A registered check."""

    name: str
    claim: str
    method: str
    func: Callable[[bool], Evidence]
    group: str = "risk"
    control: Callable[[bool], Evidence] | None = None


@dataclass(frozen=True)
class CheckResult:
    """The outcome of running one check."""

    name: str
    claim: str
    method: str
    group: str
    status: str  # "PASS", "FAIL" or "SKIP"
    evidence: str
    seconds: float
    data: dict

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return asdict(self)


def any_passed(*controls: Evidence) -> Evidence:
    """Combine several wrong inputs of one negative control: it works only if *every* one FAILS.

    Each argument is the check's criterion applied to one wrong input (e.g. one input just
    outside the tolerance, one violating each clause of an ``and``). The combined Evidence
    passes if any of them passed, and is skipped if all were skipped.
    """
    ran = [e for e in controls if not e.skipped]
    if not ran:
        return Evidence(False, "; ".join(e.evidence for e in controls), skipped=True)
    verdict = lambda e: "SKIP" if e.skipped else ("PASSED" if e.passed else "rejected")  # noqa: E731
    text = " | ".join(f"[{i + 1}] {verdict(e)}: {e.evidence}" for i, e in enumerate(controls))
    return Evidence(any(e.passed for e in ran), text, {"controls": [e.data for e in controls]})


_REGISTRY: dict[str, Check] = {}


def register(
    name: str,
    *,
    claim: str,
    method: str,
    group: str = "risk",
    control: Callable[[bool], Evidence] | None = None,
):
    """Decorator registering ``func(quick) -> Evidence`` under a unique ``name``.

    ``control(quick) -> Evidence`` is the check's negative control: the check's own pass
    criterion applied to a deliberately wrong input; it must not pass (see the module doc).
    """

    def deco(func):
        if name in _REGISTRY:
            raise ValueError(f"check {name!r} registered twice")
        _REGISTRY[name] = Check(
            name=name, claim=claim, method=method, func=func, group=group, control=control
        )
        return func

    return deco


def registered_checks() -> list[Check]:
    """All registered checks, in registration order (imports every check module first)."""
    from . import _all_checks  # noqa: F401  (registers on import)

    return list(_REGISTRY.values())


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
