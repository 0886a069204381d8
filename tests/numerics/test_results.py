"""Result objects share one convention (wpgd.numerics.core.results): status / converged / message,
``to_dict(arrays=...)`` that ``json.dumps`` accepts as it is, and short reprs."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from wpgd.numerics import (
    Problem,
    certify,
    check_conditions,
    class_optimum,
    compare_classes,
    monte_carlo_risk,
    solve,
)
from wpgd.numerics.core.api import conditions_report, risk_report, solve_problem
from wpgd.numerics.core.references import class_risk
from wpgd.numerics.core.stationary import classify

ROOT = Path(__file__).resolve().parents[2]


def _problem(d=12, sizes=(30, 30)):
    return Problem.segmented(np.eye(d), list(sizes), [0.3, 0.9], noise=0.1)


def _result_objects():
    pr = _problem(3, (4, 4))
    opt = solve(pr)
    rep = check_conditions(pr, certify_digits=30, certify_backend="mpmath")
    yield "Optimum", opt
    yield "ClassOptimum", class_optimum(pr, "vector")
    yield "ClassComparison", compare_classes(pr)
    yield "Certificate", certify(pr, 30)
    yield "ConditionReport", rep
    yield "Condition", rep.conditions[0]
    yield "MonteCarloResult", monte_carlo_risk(pr, opt.P, opt.omega, samples=200, seed=0)
    yield "StationaryPoint", classify(pr, opt)[0]
    yield "Reference", class_risk(pr, "scalar")
    yield "SolveReport", solve_problem(pr, certify=True, backend="mpmath", precision=20, stationary=True)
    yield "SolveReport(all)", solve_problem(pr, cls="all")
    yield "RiskReport", risk_report(pr, opt.P, opt.omega, mc=200)
    try:
        import flint  # noqa: F401
    except ImportError:  # the Arb layer is optional: its two objects are then not listed
        return
    from wpgd.numerics.exact.ball import certify_arb, solve_ball

    yield "BallCertificate", certify_arb(pr, 30)
    yield "BallOptimum", solve_ball(pr, 30)


def _strictly_dumps(d) -> str:
    return json.dumps(d, allow_nan=False)


def test_every_to_dict_is_json_clean_with_and_without_arrays():
    names = []
    for name, obj in _result_objects():
        for arrays in (False, True):
            text = _strictly_dumps(obj.to_dict(arrays=arrays))
            assert json.loads(text) == obj.to_dict(arrays=arrays), name
        names.append(name)
    assert len(names) >= 12


def test_the_json_check_can_fail():
    # negative control: the ConditionReport papercut of issue 13 was a numpy bool in to_dict
    with pytest.raises(TypeError):
        _strictly_dumps({"holds": np.float64(0.3) < 1})
    with pytest.raises(ValueError):
        _strictly_dumps({"risk": float("inf")})


def test_arrays_only_on_request():
    opt = solve(_problem(3, (4, 4)))
    assert "P" not in opt.to_dict() and np.allclose(opt.to_dict(arrays=True)["P"], opt.P, rtol=0, atol=0)
    co = class_optimum(_problem(3, (4, 4)), "scalar")
    assert "omega" not in co.to_dict() and len(co.to_dict(arrays=True)["omega"]) == 8


def test_one_status_convention():
    pr = _problem(3, (4, 4))
    for _name, obj in _result_objects():
        if _name in ("Condition", "MonteCarloResult", "StationaryPoint", "Reference", "BallOptimum"):
            continue
        d = obj.to_dict()
        assert (
            isinstance(obj.status, str) and isinstance(obj.converged, bool) and isinstance(obj.message, str)
        )
        assert (d.get("status"), d.get("converged"), d.get("message")) == (
            obj.status,
            obj.converged,
            obj.message,
        )
    zero = Problem.segmented(np.eye(2), [3], [0.0])
    assert solve(zero).status == "degenerate" and solve(zero).converged
    assert solve(pr).status == "converged" and "1 fixed point(s)" in solve(pr).message
    assert conditions_report(pr).status == "converged"


def test_reprs_are_short():
    pr = _problem(200, (500, 500))
    opt = solve(pr)
    for obj in (pr, opt, check_conditions(pr), class_optimum(pr, "linear"), solve_problem(pr)):
        text = repr(obj)
        assert len(text) < 200 and "array" not in text and "\n" not in text, text
    assert "d=200" in repr(pr) and "n=1000" in repr(pr)
    # negative control: the default dataclass repr of the same data is huge
    from dataclasses import fields

    assert len(", ".join(f"{f.name}={getattr(pr, f.name)!r}" for f in fields(pr))) > 10_000


def _static_imports(module: str) -> set[str]:
    """Modules of ours imported anywhere (top level or inside functions) by ``module``."""
    path = ROOT / (module.replace(".", "/") + ".py")
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module.rsplit(".", node.level)[0]
            target = f"{base}.{node.module}" if node.module else base
            out.add(target)
            if not node.module:
                out.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "wpgd":
            out.add(node.module)
    return {m for m in out if (ROOT / (m.replace(".", "/") + ".py")).exists()}


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(_static_imports(m))
    return seen


def test_the_core_solver_does_not_reach_the_certificate():
    assert "wpgd.numerics.exact.certificate" not in _reachable("wpgd.numerics.core.solver")
    assert "wpgd.numerics.exact.highprec" not in _reachable("wpgd.numerics.core.solver")
    # negative control: the API layer, which orchestrates solve-then-certify, does reach it
    assert "wpgd.numerics.exact.certificate" in _reachable("wpgd.numerics.core.api")
