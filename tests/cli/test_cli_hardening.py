"""CLI hardening (issue 11): every bad input is one line and exit 2 (never a traceback), the last
resort for a bug is one line and exit 1, --json errors are JSON on stdout, numeric flags share one
validation, and output files/sets are written safely. In-process (``wpgd.cli.main``) for speed."""

import argparse
import json
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from spec_corpus import BAD_SPECS, HARD_SPECS, file_cases

from wpgd import flags
from wpgd.cli import build_parser, main
from wpgd.numerics import InvalidProblemError
from wpgd.numerics.core.fileio import SET_MARKER, write_atomic, write_output_set

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = EXAMPLES / "two_segments.toml"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code, err, want=2):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == want, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert ": error: " in lines[0]
    return lines[0]


@pytest.mark.parametrize("name", sorted(HARD_SPECS) + sorted(BAD_SPECS))
def test_spec_corpus_one_line_exit_2(tmp_path, capsys, name):
    text = {**BAD_SPECS, **HARD_SPECS}[name][0]
    f = tmp_path / "spec.toml"
    f.write_text(text, encoding="utf-8")
    for cmd in ("risk", "solve"):
        assert_one_line(*run(capsys, cmd, "--spec", f)[::2])


@pytest.mark.parametrize("name", sorted(file_cases()))
def test_array_files_one_line_exit_2_or_answer(tmp_path, capsys, name):
    files, text, exc, _ = file_cases()[name]
    for fname, data in files.items():
        (tmp_path / fname).write_bytes(data)
    f = tmp_path / "spec.toml"
    if text is None:
        f.write_bytes(b"\xff\xfe[features]\n")
    else:
        f.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "risk", "--spec", f, "--json")
    if exc is None:
        assert code == 0 and np.isfinite(json.loads(out)["risk"])
    else:
        line = assert_one_line(code, err)
        assert "SECRET" not in err + out
        assert json.loads(out) == {"error": line.split(": error: ", 1)[1], "exit_code": 2, "command": "risk"}


def _numeric_actions():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parsers = [(f"{name} {n}", p) for a in nested for n, p in a.choices.items()] or [(name, parser)]
        for cmd, p in parsers:
            for action in p._actions:
                if action.option_strings and action.type is not None:
                    yield cmd, action


def test_every_numeric_flag_uses_the_shared_validation():
    seen = 0
    for cmd, action in _numeric_actions():
        assert action.type not in (int, float), f"wpgd {cmd} {action.option_strings[0]} uses a bare {action.type}"
        seen += 1
    assert seen >= 30


_BAD_VALUES = ["nan", "inf", "-inf", "1e400", "2**70", "abc", "", "0x10", "1" * 5000, "-1e30"]


@pytest.mark.parametrize("cmd,flag", sorted({(c, a.option_strings[-1]) for c, a in _numeric_actions()}))
def test_numeric_flags_refuse_bad_values_in_one_line(capsys, cmd, flag):
    base = {"risk": ["--spec", SPEC], "solve": ["--spec", SPEC],
            "train": ["--spec", SPEC, "--model", "scalar", "--out", "/nonexistent-wpgd-test-run"]}
    prefix = cmd.split() + base.get(cmd.split()[0], [])
    for value in _BAD_VALUES:
        code, out, err = run(capsys, *prefix, flag, value, "--json" if cmd in ("risk", "solve", "train") else "")
        if code == 2 and "argument" in err:
            line = assert_one_line(code, err)
            assert flag in line
        else:  # "" for a flag that is not --json: argparse sees an extra positional; still one line
            assert_one_line(code, err)


@pytest.mark.parametrize("argv,msg", [
    (["risk", "--spec", SPEC, "--seed", "-1", "--mc", "10"], "--seed: must be between 0 and 4294967295"),
    (["risk", "--spec", SPEC, "--seed", "2**70"], "expected a seed"),
    (["risk", "--spec", SPEC, "--mc", "1e12"], "would take about .* over the limit"),
    (["train", "--spec", SPEC, "--model", "scalar", "--heads", "2", "--key-dim", "3"], "not divisible"),
    (["train", "--spec", SPEC, "--model", "scalar", "--weight-decay", "nan"], "finite"),
    (["train", "--spec", SPEC, "--model", "scalar", "--batch-size", "1e9"], "--batch-size: must be between"),
    (["train", "--spec", SPEC, "--model", "scalar", "--key-dim", "1e9"], "--key-dim: must be between"),
    (["train", "--spec", SPEC, "--model", "scalar", "--layers", "1e6"], "--layers: must be between"),
    (["train", "--spec", SPEC, "--model", "scalar", "--eval-prompts", "1e10"], "--eval-prompts: must be"),
    (["train", "--spec", SPEC, "--model", "scalar", "--clip", "nan"], "--clip: must be a finite number"),
    (["experiment", "multilayer", "--seed", "-1"], "--seed: must be between 0 and"),
    (["train", "--spec", SPEC, "--model", "scalar", "--steps", "1e9"], r"training .* would take about [0-9.]+ (days|years) \(estimate\), over the limit"),
    (["train", "--spec", SPEC, "--model", "scalar", "--batch-size", "1e6"], "training .* GB of memory, over"),
    (["experiment", "figure1", "--n", "1e6"], "--n: must be between 2 and 10000"),
    (["solve", "--spec", SPEC, "--precision", "100000"], "--precision: must be between 20 and 10000"),
])
def test_issue_flag_cases(tmp_path, capsys, argv, msg):
    if argv[0] == "train":
        argv = [*argv, "--out", tmp_path / "run"]
    code, out, err = run(capsys, *argv)
    line = assert_one_line(code, err)
    assert __import__("re").search(msg, line), line


def test_flag_parsers_accept_what_they_should():
    assert flags.integer(1, 10**12)("1e6") == 10**6 and flags.integer(0, 5)("3") == 3
    assert flags.real(0, lo_open=True)("1e-3") == 1e-3
    assert flags.SEED("4294967295") == 2**32 - 1
    for bad, parser in (("1.5", flags.integer(0, 5)), ("0", flags.real(0, lo_open=True)), ("4294967296", flags.SEED)):
        with pytest.raises(argparse.ArgumentTypeError):
            parser(bad)


def test_last_resort_is_one_line_exit_1(capsys, monkeypatch):
    import wpgd.commands.conditions as mod

    def boom(args):
        raise RuntimeError("deliberate bug\nsecond line")

    monkeypatch.setattr(mod, "run", boom)
    code, out, err = run(capsys, "conditions", "--spec", SPEC, "--json")
    line = assert_one_line(code, err, want=1)
    assert "internal error RuntimeError: deliberate bug; second line" in line and "report" in line
    assert json.loads(out)["exit_code"] == 1


def test_interrupt_is_exit_130(capsys, monkeypatch):
    import wpgd.commands.conditions as mod

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(mod, "run", interrupted)
    code, out, err = run(capsys, "conditions", "--spec", SPEC)
    assert assert_one_line(code, err, want=130).endswith("interrupted")


def test_json_usage_error(capsys):
    code, out, err = run(capsys, "risk", "--json")
    line = assert_one_line(code, err)
    assert json.loads(out)["error"] in line


def test_extreme_scale_cli_answers(tmp_path, capsys):
    f = tmp_path / "big.toml"
    f.write_text('[features]\ndim = 3\ncovariance = {diag = [1e200, 1e200, 1e200]}\n[tasks]\nsegments = [2, 3]\n'
                 'query_correlation = [0.2, 0.8]\n[noise]\nvariance = 0.1\n')
    code, out, err = run(capsys, "solve", "--spec", f, "--json")
    assert code == 0, err
    res = json.loads(out)
    g = tmp_path / "unit.toml"  # the same problem in units where Σ = I (reference)
    g.write_text(f.read_text().replace("1e200, 1e200, 1e200", "1, 1, 1").replace("0.1", "1e-201"))
    ref = json.loads(run(capsys, "solve", "--spec", g, "--json")[1])
    assert res["normalized_risk"] == pytest.approx(ref["normalized_risk"], rel=1e-10)
    assert res["risk"] == pytest.approx(ref["risk"] * 1e200, rel=1e-10)
    line = assert_one_line(*run(capsys, "risk", "--spec", f)[::2])
    assert "overflows float64" in line  # P = I: the true risk is ~1e602


# ------------------------------------------------------------------------- files
def test_write_atomic_refuses_non_regular_targets(tmp_path):
    with pytest.raises(InvalidProblemError, match="not a regular file"):
        write_atomic("/dev/null", b"x")
    with pytest.raises(InvalidProblemError, match="a folder"):
        write_atomic(tmp_path, b"x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_write_atomic_writes_through_symlinks_and_respects_umask(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    os.chmod(real, 0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, b"new")
    assert link.is_symlink() and real.read_text() == "new" and stat.S_IMODE(os.stat(real).st_mode) == 0o640
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "fresh.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "fresh.bin").st_mode) == 0o640  # 0666 & ~027, not 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.bin", "link.json", "real.json"]


def test_output_set_is_replaced_as_a_whole(tmp_path):
    out = tmp_path / "o"
    first = write_output_set(out, {"P.npy": np.eye(2), "omega.npy": np.ones(3)}, {"summary.json": {"risk": 1.0}})
    second = write_output_set(out, {"P.npy": 2 * np.eye(2), "omega.npy": np.ones(3)}, {"summary.json": {"risk": 2.0}})
    assert first != second
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_id"] == second == json.loads((out / SET_MARKER).read_text())["run_id"]
    assert np.load(out / "P.npy")[0, 0] == 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # no stray temporaries
    (out / "mine.txt").write_text("user data")
    with pytest.raises(InvalidProblemError, match="holds other files"):
        write_output_set(out, {"P.npy": np.eye(2)})
    assert (out / "mine.txt").read_text() == "user data"


def test_concurrent_output_sets_never_mix(tmp_path):
    out = tmp_path / "o"
    errors = []

    def writer(k):
        try:
            for _ in range(5):
                write_output_set(out, {"P.npy": np.full((2, 2), k), "omega.npy": np.full(3, k)},
                                 {"summary.json": {"writer": k}})
        except Exception as exc:  # pragma: no cover  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    k = json.loads((out / "summary.json").read_text())["writer"]
    assert np.all(np.load(out / "P.npy") == k) and np.all(np.load(out / "omega.npy") == k)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_solve_out_set_and_refusals(tmp_path, capsys):
    code, out, err = run(capsys, "solve", "--spec", SPEC, "--out", tmp_path / "o")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == [SET_MARKER, "P.npy", "omega.npy", "summary.json"]
    assert_one_line(*run(capsys, "solve", "--spec", SPEC, "--out", "/dev/null")[::2])
    assert_one_line(*run(capsys, "verify", "--only", "nothing-matches", "--out", "/dev/full")[::2])
