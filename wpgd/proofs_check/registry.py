"""Registry of proof checks: each turns a claim into a computation that can fail.

A check is a function ``check(quick: bool) -> Evidence``. Register it with::

    @register("risk.scale_invariance", claim="L(tP, ω/t) = L(P, ω)", method="numeric")
    def _check(quick):
        ...
        return Evidence(passed=err < 1e-12, evidence=f"max rel err {err:.2e}", data={"err": err})

This module knows no check: the check modules import it to register, and
:mod:`wpgd.proofs_check.runner` imports every check module (:mod:`wpgd.proofs_check._all_checks`) and
runs them, so that the imports run one way (runner -> checks -> registry).

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

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

__all__ = [
    "Evidence",
    "Check",
    "CheckResult",
    "register",
    "registered_so_far",
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


def registered_so_far() -> list[Check]:
    """The checks registered by the check modules imported so far, in registration order.

    :func:`wpgd.proofs_check.runner.registered_checks` imports every check module first.
    """
    return list(_REGISTRY.values())
