"""``wpgd curve`` end to end (real subprocess), and the --help papercuts of ``wpgd experiment``."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = EXAMPLES / "two_segments.toml"


def wpgd(*args):
    return subprocess.run(
        [sys.executable, "-m", "wpgd", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def test_curve_points_equal_wpgd_solve_of_each_varied_spec(tmp_path):
    """Every point of the curve equals `wpgd solve --class all` on a spec file with that value written in."""
    proc = wpgd("curve", "--spec", SPEC, "--vary", "noise", "--values", "0.7", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    curve = json.loads(proc.stdout)
    assert curve["values"] == [0.0, 0.7]
    for i, noise in enumerate(curve["values"]):
        f = tmp_path / f"noise{i}.toml"
        f.write_text(SPEC.read_text().replace("variance = 0.1", f"variance = {noise!r}"))
        solved = json.loads(wpgd("solve", "--spec", f, "--class", "all", "--json").stdout)
        for cls in curve["classes"]:
            assert curve["risk"][cls][i] == pytest.approx(solved["classes"][cls]["risk"], rel=1e-10), (noise, cls)
    # negative control: the base spec (σ² = 0.1) is a different problem from both points
    base = json.loads(wpgd("solve", "--spec", SPEC, "--class", "all", "--json").stdout)
    assert all(abs(curve["risk"]["linear"][i] / base["classes"]["linear"]["risk"] - 1) > 1e-3 for i in range(2))


def test_curve_choices_match_the_library():
    from wpgd.commands import curve
    from wpgd.numerics.core.classes import CLASSES
    from wpgd.numerics.experiments.figstyle import FORMATS

    assert curve.CLASSES == CLASSES and curve.FORMATS == FORMATS


def test_curve_out_writes_one_set_with_config_and_figure(tmp_path):
    out = tmp_path / "c"
    proc = wpgd(
        "curve",
        "--spec",
        SPEC,
        "--vary",
        "n",
        "--range",
        "10",
        "40",
        "4",
        "--classes",
        "linear",
        "scalar",
        "--out",
        out,
        "--format",
        "png",
        "svg",
    )
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in out.iterdir()}
    assert {"curve.json", "curve_config.json", "curve.txt", "curve.png", "curve.svg"} <= names
    cfg = json.loads((out / "curve_config.json").read_text())
    data = json.loads((out / "curve.json").read_text())
    assert cfg["vary"] == "n" and cfg["values"] == [10, 20, 30, 40] and cfg["run_id"] == data["run_id"]
    assert [p["segments"] for p in data["points"]] == [[5, 5], [10, 10], [15, 15], [20, 20]]
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "segments" in proc.stdout and "10 10" in proc.stdout


@pytest.mark.parametrize(
    "args,match",
    [
        (["--vary", "temperature", "--values", "1"], "unknown parameter"),
        (["--vary", "noise", "--values", "-1"], "at noise = -1"),
        (["--vary", "n", "--values", "nan"], "finite"),
        (["--vary", "noise", "--values", "1", "--format", "jpg"], "invalid choice"),
    ],
)
def test_curve_bad_input_is_one_line_exit_2(args, match):
    proc = wpgd("curve", "--spec", SPEC, *args)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and match in lines[0], proc.stderr


def test_experiment_help_has_descriptions_defaults_json_and_format():
    for sub in ("figure1", "multilayer", "highdim", "plot"):
        text = wpgd("experiment", sub, "--help").stdout
        assert "--json" in text and "--format" in text and "WPGD_PROGRESS=1" in text, sub
        if sub != "plot":
            # every option line of the training group states its default
            for flag in (
                "--steps",
                "--batch-size",
                "--lr",
                "--final-prompts",
                "--seed",
                "--jobs",
                "--device",
            ):
                block = text[text.index(f"\n  {flag}") + 1 :]
                block = block[: block.index("\n  -", 3)] if "\n  -" in block[3:] else block
                assert "default" in block, (sub, flag)


def test_conditions_help_explains_every_row():
    from wpgd.numerics import check_conditions, load_spec

    text = wpgd("conditions", "--help").stdout
    rows = [c.name for c in check_conditions(load_spec(SPEC), certify_digits=30).conditions]
    assert len(rows) >= 12
    missing = [r for r in rows if f"\n  {r} " not in text]
    assert missing == []


DOC = Path(__file__).resolve().parents[2] / "docs" / "curve.md"


def _console_blocks():
    import re

    out = []
    for body in re.findall(r"```console\n(.*?)\n```", DOC.read_text(), flags=re.S):
        cmd, *expected = body.splitlines()
        out.append((cmd.removeprefix("$ ").split(), "\n".join(expected)))
    return out


@pytest.mark.parametrize(
    "cmd,expected", _console_blocks(), ids=lambda v: " ".join(v)[:40] if isinstance(v, list) else ""
)
def test_docs_curve_console_examples_print_what_the_doc_shows(cmd, expected):
    assert cmd[0] == "wpgd"
    proc = subprocess.run(
        [sys.executable, "-m", "wpgd", *cmd[1:]],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=DOC.parents[1],
    )
    assert (proc.stdout + proc.stderr).strip() == expected.strip()


def test_docs_curve_python_example_prints_what_the_doc_shows(monkeypatch):
    import contextlib
    import io
    import re

    code, text = re.findall(r"```python\n(.*?)\n```\s*\n```text\n(.*?)\n```", DOC.read_text(), flags=re.S)[0]
    monkeypatch.chdir(DOC.parents[1])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, str(DOC), "exec"), {})
    assert buf.getvalue().strip() == text.strip()
