"""Negative controls: every registered check has one, and every one is REJECTED by its check's criterion.

A control applies the check's own pass criterion to a deliberately wrong input (a wrong formula,
solver output or kernel; where the criterion has a tolerance, an input about 10× outside it). If a
criterion is loosened (a tolerance 1000× wider, an ``and`` turned into ``or``) its control passes
and the test below fails.
"""

import argparse

import pytest

from wpgd.proofs_check import registry
from wpgd.proofs_check.registry import Check, Evidence, any_passed
from wpgd.proofs_check.runner import registered_checks, run_checks, run_controls

NAMES = [c.name for c in registered_checks()]
SLOW_CONTROLS = {"gating.achievability", "optimum.uniqueness_stress", "optimum.highprec_vs_float64",
                 "optimum.theorem2_stationary_set", "optimum.theorem3_global_minimum", "optimum.solver_diagnostics",
                 "gating.class_ordering", "risk.closed_form_vs_monte_carlo"}


def test_every_check_has_a_control():
    missing = {c.name for c in registered_checks() if c.control is None}
    assert not missing, f"checks without a negative control: {missing}"


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CONTROLS else n for n in NAMES]
)
def test_control_is_rejected(name):
    chk = {c.name: c for c in registered_checks()}[name]
    assert chk.control is not None, f"{name} has no negative control"
    (res,) = [r for r in run_controls(quick=True, select=[name]) if r.name == name]
    assert res.status == "FAIL", f"{name}: control {res.status}: {res.evidence}\n{res.data.get('traceback', '')}"


# The checks no other test runs (the risk group runs in tests/cli, gating and optimum in tests/numerics).
@pytest.mark.parametrize("name", [
    "stationarity.gradient_vs_finite_differences",
    "stationarity.optimal_scale",
    pytest.param("stationarity.conditions_solved", marks=pytest.mark.slow),
    pytest.param("stationarity.gradient_matrix_calculus", marks=pytest.mark.slow),
    pytest.param("stationarity.secular_reduction", marks=pytest.mark.slow),
])
def test_check_passes_quick(name):
    (res,) = [r for r in run_checks(quick=True, select=[name]) if r.name == name]
    assert res.status == "PASS", res.evidence


def test_any_passed_combines_controls():
    no, yes = Evidence(False, "rejected"), Evidence(True, "passed")
    skip = Evidence(False, "no torch", skipped=True)
    assert not any_passed(no, no).passed and any_passed(no, yes).passed
    assert any_passed(skip, skip).skipped and not any_passed(skip, no).skipped
    assert not any_passed(skip, no).passed


def _args(**kw):
    base = dict(quick=True, json=True, out=None, only=["zz."], list=False, self_test=True)
    base.update(kw)
    return argparse.Namespace(**base)


def _install(monkeypatch, name, check, control):
    monkeypatch.setitem(registry._REGISTRY, name, Check(name, "claim", "method", check, control=control))


def test_self_test_status_rules(monkeypatch, capsys):
    import json

    from wpgd.commands import verify

    good = lambda q: Evidence(True, "fine")  # noqa: E731
    rejected = lambda q: Evidence(False, "caught the wrong input")  # noqa: E731
    _install(monkeypatch, "zz.good", good, rejected)
    assert verify.run(_args()) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["self_test_passed"] and out["rows"][0]["control"]["status"] == "REJECTED"

    def crash(q):
        raise RuntimeError("bug in the control")

    for control, word in ((good, "PASSED (blind)"), (crash, "CRASHED"), (None, "MISSING")):
        _install(monkeypatch, "zz.good", good, control)
        assert verify.run(_args()) == 1
        out = json.loads(capsys.readouterr().out)
        assert not out["self_test_passed"] and out["rows"][0]["control"]["status"] == word
    # a failing check fails the self-test even if its control is rejected
    _install(monkeypatch, "zz.good", rejected, rejected)
    assert verify.run(_args()) == 1
    capsys.readouterr()
    # skipped check + skipped control is acceptable; a passing check with a skipped control is not
    skipped = lambda q: Evidence(False, "no torch", skipped=True)  # noqa: E731
    _install(monkeypatch, "zz.good", skipped, skipped)
    assert verify.run(_args()) == 0
    _install(monkeypatch, "zz.good", good, skipped)
    assert verify.run(_args()) == 1
    capsys.readouterr()


def test_skips_are_not_passes(monkeypatch, capsys):
    import json

    from wpgd.commands import verify

    monkeypatch.setitem(registry._REGISTRY, "zz.skip",
                        Check("zz.skip", "c", "m", lambda q: Evidence(True, "torch missing", skipped=True)))
    monkeypatch.setitem(registry._REGISTRY, "zz.pass", Check("zz.pass", "c", "m", lambda q: Evidence(True, "ok")))
    assert verify.run(_args(self_test=False)) == 0  # nothing failed
    out = json.loads(capsys.readouterr().out)
    assert out["counts"] == {"PASS": 1, "FAIL": 0, "SKIP": 1}
    assert out["all_passed"] is False and out["complete"] is False and out["verdict"] == "incomplete"
    assert verify.run(_args(self_test=False, json=False)) == 0
    text = capsys.readouterr()
    assert "1 passed, 0 failed, 1 skipped" in text.out and "incomplete" in text.out
    assert "SKIPPED: zz.skip" in text.err


def test_torch_parts_skip_without_torch(monkeypatch):
    """Without torch the gating checks' torch parts report SKIP (never PASS); a failing other part is FAIL."""
    from wpgd.proofs_check import gating_checks

    monkeypatch.setattr(gating_checks, "_torch", lambda: None)  # gating_class_checks calls it too
    results = {r.name: r for r in run_checks(quick=True, select=["gating.multilayer", "gating.vector_width",
                                                                   "gating.theorem1_torch", "gating.kernels_agree"])}
    assert {n: r.status for n, r in results.items()} == dict.fromkeys(results, "SKIP"), results
    assert "torch part skipped" in results["gating.multilayer"].evidence
    assert gating_checks._partial(False, "symbolic NONZERO").passed is False
    assert gating_checks._partial(False, "symbolic NONZERO").skipped is False
    assert gating_checks._partial(True, "symbolic 0").skipped is True
