"""``wpgd verify`` through the real entry point: table, JSON, exit status, selection."""

import json
import shutil
import subprocess

import pytest


def wpgd(*args):
    exe = shutil.which("wpgd")
    assert exe, "the wpgd console script is not installed (pip install -e .)"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_verify_risk_checks_json(tmp_path):
    out = tmp_path / "verify.json"
    proc = wpgd("verify", "--quick", "--only", "risk.", "--json", "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data == json.loads(out.read_text())
    names = {c["name"] for c in data["checks"]}
    assert {
        "risk.symbolic_explicit_vs_trace",
        "risk.compiled_vs_numeric",
        "risk.closed_form_vs_monte_carlo",
        "risk.scale_invariance",
        "risk.noise_floor",
    } <= names
    assert all(c["status"] == "PASS" for c in data["checks"])
    assert data["all_passed"] is True


def test_verify_table_and_unknown_selection():
    proc = wpgd("verify", "--quick", "--only", "risk.scale")
    assert proc.returncode == 0
    assert "PASS  risk.scale_invariance" in proc.stdout and "1 passed, 0 failed" in proc.stdout
    proc = wpgd("verify", "--only", "no-such-check")
    assert proc.returncode == 2 and "no check matched" in proc.stderr


def test_a_failing_check_fails_verify(monkeypatch):
    from wpgd.proofs_check import registry, runner

    calls = []

    def bad(quick):
        calls.append(quick)
        raise RuntimeError("boom")

    monkeypatch.setitem(registry._REGISTRY, "zz.failing", registry.Check("zz.failing", "c", "m", bad))
    res = runner.run_checks(quick=True, select=["zz."])
    assert [r.status for r in res] == ["FAIL"] and "boom" in res[0].evidence and calls == [True]


def test_verify_self_test_text_and_json():
    proc = wpgd("verify", "--self-test", "--quick", "--only", "risk.scale", "--only", "stationarity.optimal")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok    risk.scale_invariance  check PASS" in proc.stdout and "control REJECTED" in proc.stdout
    assert "self-test: 2/2 checks pass (or skip) and reject their negative control" in proc.stdout
    proc = wpgd("verify", "--self-test", "--quick", "--only", "risk.scale", "--json")
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and data["self_test_passed"] is True and data["failures"] == []
    (row,) = data["rows"]
    assert row["check"]["status"] == "PASS" and row["control"]["status"] == "REJECTED"
    assert "1.97e-11" in row["control"]["evidence"] or "rejected" in row["control"]["evidence"]
