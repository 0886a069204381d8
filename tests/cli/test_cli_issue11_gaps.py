"""Issue 11, remaining gaps: --backend without the flag it configures, the issue-tracker URL from
package metadata, extreme scales for --precision/--certify/--stationary/--steps computed by exact
rescaling (checked against the same problem at unit scale), and the PSD-within-tolerance
reproducer through the CLI. In-process (``wpgd.cli.main``)."""

import json
import re
from email.message import Message
from pathlib import Path

import mpmath
import numpy as np
import pytest

import wpgd.cli as cli
from wpgd.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = EXAMPLES / "two_segments.toml"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code, err, want=2):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == want and len(lines) == 1 and "Traceback" not in err, (code, err)
    return lines[0]


# ------------------------------------------------------------------------- --backend
@pytest.mark.parametrize(
    "argv, flag",
    [
        (["solve", "--spec", SPEC, "--backend", "arb"], "--certify/--precision"),
        (["solve", "--spec", SPEC, "--backend", "auto", "--class", "scalar"], "--certify/--precision"),
        (["conditions", "--spec", SPEC, "--backend", "mpmath"], "--certify"),
        (["risk", "--spec", SPEC, "--backend", "torch"], "--mc"),
    ],
)
def test_backend_without_its_flag_is_refused(capsys, argv, flag):
    line = one_line(*run(capsys, *argv)[::2])
    assert "--backend" in line and flag in line


def test_backend_with_its_flag_is_accepted(capsys):  # negative control of the refusal above
    code, out, err = run(capsys, "risk", "--spec", SPEC, "--mc", "200", "--backend", "numpy", "--json")
    assert code == 0, err
    assert json.loads(out)["monte_carlo"]["samples"] == 200


# ------------------------------------------------------------------------- issue URL
def _metadata(urls):
    msg = Message()
    for u in urls:
        msg["Project-URL"] = u
    return msg


@pytest.mark.parametrize(
    "urls, want",
    [
        (
            ["Homepage, https://example.org/wpgd", "Issues, https://example.org/wpgd/issues"],
            "at https://example.org/wpgd/issues",
        ),
        (["Homepage, https://example.org/wpgd"], None),
        ([], None),
    ],
)
def test_internal_error_names_the_tracker_only_from_metadata(capsys, monkeypatch, urls, want):
    import importlib.metadata

    import wpgd.commands.conditions as mod

    monkeypatch.setattr(importlib.metadata, "metadata", lambda name: _metadata(urls))
    monkeypatch.setattr(mod, "run", lambda args: [][1])
    line = one_line(*run(capsys, "conditions", "--spec", SPEC)[::2], want=1)
    assert "report it with the command line and this message" in line
    if want:
        assert line.endswith(want)
    else:
        assert "http" not in line and cli.issues_url() is None


# ------------------------------------------------------------------------- extreme scales
UNIT = """[features]
dim = 3
covariance = {{diag = [{a}, {b}, {c}]}}
[tasks]
segments = [3, 4]
correlation = [[1.0, 0.3], [0.3, 1.0]]
query_correlation = [0.2, 0.8]
query_variance = 1.0
[noise]
variance = {noise}
"""


def _spec(tmp_path, e):
    """The unit problem times 2^e in the feature scale (Σ and σ² exactly ×2^e): risks ×2^e, γ ×2^e."""
    vals = {k: repr(float(np.ldexp(v, e))) for k, v in dict(a=1.0, b=0.5, c=0.25, noise=0.1).items()}
    path = tmp_path / f"scale{e}.toml"
    path.write_text(UNIT.format(**vals))
    return path


def _mp_ratio(a: str, b: str, e: int) -> float:
    with mpmath.workdps(40):
        return float(abs(mpmath.mpf(a) / mpmath.ldexp(mpmath.mpf(b), e) - 1))


@pytest.mark.parametrize("e", [664, -664])
def test_extreme_scale_exact_paths_match_the_unit_problem(tmp_path, capsys, e):
    argv = ["solve", "--precision", "30", "--certify", "--stationary", "--json"]
    code, out, err = run(capsys, *argv, "--spec", _spec(tmp_path, e))
    assert code == 0, err
    big = json.loads(out)
    code, out, err = run(capsys, *argv, "--spec", _spec(tmp_path, 0))
    ref = json.loads(out)
    assert "rescaled" not in ref and big["rescaled"]["by"] == [f"2^{e}", "2^0"]
    assert big["risk"] == pytest.approx(np.ldexp(ref["risk"], e), rel=1e-13)
    hp, hp0 = big["high_precision"], ref["high_precision"]
    assert _mp_ratio(hp["risk"], hp0["risk"], e) < 1e-25 and _mp_ratio(hp["gamma"], hp0["gamma"], e) < 1e-25
    assert _mp_ratio(hp["mu"], hp0["mu"], -e) < 1e-25
    assert hp["normalized_risk"] == hp0["normalized_risk"]
    assert big["certified"] is True and ref["certified"] is True
    lo, hi = big["certificate"]["enclosure"]
    lo0, hi0 = ref["certificate"]["enclosure"]
    assert lo <= hi and big["gamma"] == pytest.approx(lo, rel=1e-12)
    assert np.ldexp(lo, -e) == pytest.approx(lo0, rel=1e-15) and np.ldexp(hi, -e) == pytest.approx(
        hi0, rel=1e-15
    )
    assert [s["inertia"] for s in big["stationary_points"]] == [
        s["inertia"] for s in ref["stationary_points"]
    ]
    for s, s0 in zip(big["stationary_points"], ref["stationary_points"]):
        assert s["risk"] == pytest.approx(np.ldexp(s0["risk"], e), rel=1e-12)


def test_extreme_scale_negative_control_without_the_mapping(tmp_path, capsys, monkeypatch):
    """Without mapping back, the exact results would be those of the unit problem: the comparison
    above then fails (so it can see a wrong mapping)."""
    import wpgd.numerics.core.units as units

    monkeypatch.setattr(units, "_walk", lambda obj, *a: obj)
    code, out, err = run(capsys, "solve", "--precision", "30", "--json", "--spec", _spec(tmp_path, 664))
    assert code == 0, err
    big = json.loads(out)
    assert _mp_ratio(big["high_precision"]["risk"], str(big["risk"]), 0) > 0.5  # unit-scale value reported


def test_steps_at_extreme_scales_are_refused_with_the_rescaling_that_works(tmp_path, capsys, monkeypatch):
    """--steps at 2^664: the L-step fit is not rescaled (its per-layer feature writes have no unique
    split of the scale), so it is refused before any fit starts, with the rescaling to apply; at
    scale 1 the same command reaches the fit (negative control: a stub records the call)."""
    import wpgd.numerics.nn.gdpp_optimum as go

    seen = []
    monkeypatch.setattr(go, "gdpp_optimum", lambda problem, steps, **kw: seen.append(steps) or 1 / 0)
    line = one_line(*run(capsys, "solve", "--spec", _spec(tmp_path, 664), "--class", "scalar", "--steps", "2")[::2])
    assert re.search(r"--steps: not available at extreme scales .* rescale the spec", line)
    assert seen == []
    run(capsys, "solve", "--spec", _spec(tmp_path, 0), "--class", "scalar", "--steps", "2")
    assert seen == [2]  # the stub was reached (and failed on purpose)


def test_noise_to_signal_beyond_float64_is_refused_with_the_reason(tmp_path, capsys):
    path = tmp_path / "noise.toml"
    path.write_text(UNIT.format(a=1.0, b=1.0, c=1.0, noise=1e308))
    line = one_line(*run(capsys, "solve", "--spec", path, "--stationary")[::2])
    assert re.search(r"--stationary .* noise-to-signal ratio .* ≈ 1e\+308", line)
    code, out, err = run(
        capsys, "solve", "--spec", path, "--precision", "30", "--json"
    )  # computable: computed
    assert code == 0, err
    assert float(json.loads(out)["high_precision"]["normalized_risk"]) == pytest.approx(1.0, abs=1e-12)


# ------------------------------------------------------------------------- PSD within tolerance
NEG = """[features]
dim = 2
covariance = {{matrix = [[1.0, 1.0], [1.0, {x}]]}}
[tasks]
segments = [3, 4]
correlation = [[1.0, 1.0], [1.0, {x}]]
query_correlation = [1.0, 1.0]
[noise]
variance = 0.1
"""


@pytest.mark.parametrize("cls", ["scalar", "linear", "vector", "unconstrained"])
def test_eigenvalue_minus_1e15_is_projected_and_solved(tmp_path, capsys, cls):
    """Σ and C with an eigenvalue ≈ −5e−16 (1·0.999999999999999 − 1·1 < 0): accepted, projected once
    at validation, and every class solves the same problem as the exactly singular [[1,1],[1,1]]."""
    neg, exact = tmp_path / "neg.toml", tmp_path / "exact.toml"
    neg.write_text(NEG.format(x="0.999999999999999"))
    exact.write_text(NEG.format(x="1.0"))
    assert np.linalg.eigvalsh(np.array([[1.0, 1.0], [1.0, 0.999999999999999]]))[0] < 0
    res = [run(capsys, "solve", "--spec", f, "--class", cls, "--json") for f in (neg, exact)]
    assert all(code == 0 for code, _, _ in res), [e for _, _, e in res]
    a, b = (json.loads(out) for _, out, _ in res)
    assert a["risk"] == pytest.approx(b["risk"], rel=1e-9)


def test_negative_control_beyond_tolerance_is_refused(tmp_path, capsys):
    f = tmp_path / "bad.toml"
    f.write_text(NEG.format(x="0.9999"))  # eigenvalue −5e−5: not PSD, refused with the amount
    line = one_line(*run(capsys, "solve", "--spec", f, "--class", "scalar")[::2])
    assert "not positive semidefinite" in line and "smallest eigenvalue" in line


def test_verify_refuses_an_unwritable_out_before_running_checks(capsys, tmp_path):
    line = one_line(*run(capsys, "verify", "--only", "no-such-check", "--out", "/dev/full")[::2])
    assert "refusing to write '/dev/full'" in line  # not "no check matched": refused before the checks
    ok = one_line(*run(capsys, "verify", "--only", "no-such-check", "--out", tmp_path / "new" / "v.json")[::2])
    assert "no check matched" in ok  # negative control: a writable target passes the early check
