"""Registry of proof checks: each turns a claim into a computation that can fail.

A check is a function ``check(quick: bool) -> Evidence``. Register it with::

    @register("risk.scale_invariance", claim="L(tP, ω/t) = L(P, ω)", method="numeric")
    def _check(quick):
        ...
        return Evidence(passed=err < 1e-12, evidence=f"max rel err {err:.2e}", data={"err": err})

``wpgd verify`` runs every registered check and prints claim, method, evidence, verdict.
An exception inside a check is a FAIL whose evidence is the error; a check that cannot run
(e.g. torch missing) returns ``Evidence(skipped=True, ...)`` and says so.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Callable

__all__ = ["Evidence", "Check", "CheckResult", "register", "registered_checks", "run_checks"]


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


_REGISTRY: dict[str, Check] = {}


def register(name: str, *, claim: str, method: str, group: str = "risk", control=None):
    """Decorator registering ``func(quick) -> Evidence`` under a unique ``name``."""

    def deco(func):
        if name in _REGISTRY:
            raise ValueError(f"check {name!r} registered twice")
        _REGISTRY[name] = Check(name=name, claim=claim, method=method, func=func, group=group, control=control)
        return func

    return deco


def registered_checks() -> list[Check]:
    """All registered checks, in registration order (imports every check module first)."""
    from . import _all_checks  # noqa: F401  (registers on import)

    return list(_REGISTRY.values())


def run_checks(quick: bool = False, select: list[str] | None = None, on_result=None) -> list[CheckResult]:
    """Run the registered checks.

    Args:
        quick: smaller sizes / fewer samples (each check decides).
        select: run only checks whose name starts with one of these prefixes.
        on_result: optional callback ``on_result(result)`` after each check.

    Returns:
        One :class:`CheckResult` per check run.
    """
    results = []
    for chk in registered_checks():
        if select and not any(chk.name.startswith(s) for s in select):
            continue
        t0 = time.perf_counter()
        try:
            ev = chk.func(quick)
            status = "SKIP" if ev.skipped else ("PASS" if ev.passed else "FAIL")
            text, data = ev.evidence, ev.data
        except Exception as exc:  # a crashing check is a failing check, with its reason
            status = "FAIL"
            text = f"error: {type(exc).__name__}: {exc}"
            data = {"traceback": traceback.format_exc()}
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
