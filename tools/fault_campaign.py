"""Fault campaign of issue 11 through the installed ``wpgd`` program (real subprocesses).

Every case must end in either a correct finite answer (exit 0; with --json the output parses and
holds no NaN/Infinity) or ONE line on stderr with exit 2 (130 for an interrupt), never a
traceback. Families: the spec corpus (tests/spec_corpus.py) through solve/risk/conditions,
every numeric flag of every subcommand (experiment * included) with bad values, extreme scales
for every solve mode, huge sizes, output targets (/dev/full, symlinks, umask, concurrent --out),
experiments over the time limit, verify / check-derivation / train input errors, damaged
checkpoints, and SIGINT at small delays.

    python tools/fault_campaign.py [--jobs 4] [--only FAMILY] [--verbose]

Prints one line per failing case and the counts; exit status 1 if any case failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # the packages first: tests/numerics must not shadow numerics
sys.path.append(str(ROOT / "tests"))
SPEC = ROOT / "examples" / "two_segments.toml"
BAD = ["nan", "inf", "-inf", "1e400", "2**70", "abc", "0x10", "1" * 5000, "-1e30"]


def _wpgd() -> str:
    exe = Path(sys.executable).with_name("wpgd")
    return str(exe) if exe.exists() else (shutil.which("wpgd") or "wpgd")


class Case:
    def __init__(
        self,
        family,
        name,
        argv,
        *,
        codes=(0, 2),
        cwd=None,
        env=None,
        check=None,
        timeout=180,
        umask=None,
        want_json=None,
    ):
        self.family, self.name, self.argv, self.codes = family, name, [str(a) for a in argv], tuple(codes)
        self.cwd, self.env, self.check, self.timeout, self.umask = cwd, env, check, timeout, umask
        self.want_json = ("--json" in self.argv) if want_json is None else want_json


def judge(case: Case, code: int, out: str, err: str) -> str | None:
    """None if the outcome keeps the promise, else why not."""
    if "Traceback" in err or "Traceback" in out:
        return f"traceback (exit {code}): {err.strip().splitlines()[-1][:200] if err.strip() else ''}"
    if code not in case.codes:
        return f"exit {code}, expected {case.codes}: {err.strip()[:300]}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if code != 0:
        if len(lines) != 1 or ": error: " not in lines[0]:
            return f"exit {code} with {len(lines)} stderr lines: {err.strip()[:300]}"
        if case.want_json:
            try:
                obj = json.loads(out)
                assert obj["exit_code"] == code and obj["error"]
            except (ValueError, KeyError, AssertionError, TypeError):
                return "--json error is not a JSON object on stdout"
    elif case.want_json:
        if re.search(r"\bNaN\b|\bInfinity\b", out):
            return "NaN/Infinity in the JSON answer"
        try:
            json.loads(out)
        except ValueError:
            return "--json output does not parse"
    if case.check is not None:
        return case.check(code, out, err)
    return None


def run_case(case: Case) -> tuple[Case, str | None, float]:
    env = dict(os.environ, **(case.env or {}))
    t0 = time.perf_counter()

    def pre():
        if case.umask is not None:
            os.umask(case.umask)

    try:
        proc = subprocess.run(
            [_wpgd(), *case.argv],
            capture_output=True,
            text=True,
            timeout=case.timeout,
            cwd=case.cwd,
            env=env,
            preexec_fn=pre,
        )
    except subprocess.TimeoutExpired:
        return case, f"no answer within {case.timeout} s", time.perf_counter() - t0
    return case, judge(case, proc.returncode, proc.stdout, proc.stderr), time.perf_counter() - t0


# ----------------------------------------------------------------------------------- families
def spec_cases(tmp: Path) -> list[Case]:
    from spec_corpus import BAD_SPECS, HARD_SPECS, file_cases

    out = []
    for name, (text, _exc, _msg) in {**BAD_SPECS, **HARD_SPECS}.items():
        d = tmp / "spec" / re.sub(r"\W+", "_", name)
        d.mkdir(parents=True, exist_ok=True)
        (d / "p.toml").write_text(text, encoding="utf-8")
        for cmd in (["solve"], ["risk"], ["conditions"]):
            out.append(
                Case("spec", f"{name} / {cmd[0]}", [*cmd, "--spec", d / "p.toml", "--json"], codes=(2,))
            )
    for name, (files, text, exc, _msg) in file_cases().items():
        d = tmp / "file" / re.sub(r"\W+", "_", name)
        d.mkdir(parents=True, exist_ok=True)
        for fname, data in files.items():
            (d / fname).write_bytes(data)
        (d / "p.toml").write_bytes(b"\xff\xfe" if text is None else text.encode())
        out.append(
            Case(
                "spec",
                f"file {name} / solve",
                ["solve", "--spec", d / "p.toml", "--json"],
                codes=(0,) if exc is None else (2,),
            )
        )
    return out


def _numeric_actions():
    from wpgd.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and "solve" in a.choices)
    for cmd, p in sub.choices.items():
        nested = [a for a in p._actions if getattr(a, "choices", None) and isinstance(a.choices, dict)]
        parsers = [(f"{cmd} {k}", v) for a in nested for k, v in a.choices.items()] or [(cmd, p)]
        for name, pp in parsers:
            for a in pp._actions:
                if a.option_strings and getattr(a.type, "__name__", "") in ("integer", "number"):
                    yield name, a.option_strings[-1]


def flag_cases(tmp: Path) -> list[Case]:
    base = {
        "risk": ["--spec", SPEC],
        "solve": ["--spec", SPEC],
        "conditions": ["--spec", SPEC],
        "train": ["--spec", SPEC, "--model", "scalar", "--out", tmp / "never"],
    }
    out = []
    for cmd, flag in sorted(set(_numeric_actions())):
        for value in BAD:
            argv = [*cmd.split(), *base.get(cmd.split()[0], []), flag, value]
            out.append(Case("flags", f"{cmd} {flag} {value[:12]}", argv, codes=(2,), want_json=False))
    # documented issue cases
    more = [
        ["risk", "--spec", SPEC, "--seed", "-1", "--mc", "10"],
        ["risk", "--spec", SPEC, "--mc", "1e12"],
        [
            "train",
            "--spec",
            SPEC,
            "--model",
            "scalar",
            "--heads",
            "2",
            "--key-dim",
            "3",
            "--out",
            tmp / "never",
        ],
        ["train", "--spec", SPEC, "--model", "scalar", "--clip", "nan", "--out", tmp / "never"],
        ["train", "--spec", SPEC, "--model", "scalar", "--steps", "1e9", "--out", tmp / "never"],
        ["train", "--spec", SPEC, "--model", "scalar", "--batch-size", "1e6", "--out", tmp / "never"],
        ["experiment", "multilayer", "--seed", "-1"],
        ["experiment", "figure1", "--n", "1e6"],
        ["solve", "--spec", SPEC, "--precision", "100000"],
        ["solve", "--spec", SPEC, "--backend", "arb"],
        ["conditions", "--spec", SPEC, "--backend", "arb"],
        ["risk", "--spec", SPEC, "--backend", "torch"],
    ]
    out += [
        Case("flags", " ".join(map(str, a[:1] + a[3:]))[:60], a, codes=(2,), want_json=False) for a in more
    ]
    return out


_SCALES = {
    "sigma 1e200": ("{diag = [1e200, 5e199, 2.5e199]}", "0.1e200"),
    "sigma 1e-200": ("{diag = [1e-200, 5e-201, 2.5e-201]}", "1e-201"),
    "noise 1e308": ('"identity"', "1e308"),
    "sigma 1e300 noise 1e-300": ("{diag = [1e300, 1e300, 1e300]}", "1e-300"),
}


def scale_cases(tmp: Path) -> list[Case]:
    out = []
    modes = [
        [],
        ["--precision", "30"],
        ["--certify"],
        ["--certify", "--backend", "mpmath"],
        ["--stationary"],
        ["--class", "scalar"],
        ["--class", "linear"],
        ["--class", "geometric"],
        ["--class", "vector"],
        ["--class", "all"],
        ["--precision", "30", "--certify", "--stationary"],
    ]
    for name, (cov, noise) in _SCALES.items():
        for qv in ("1.0", "1e308"):
            f = tmp / "scale" / f"{re.sub(r'W+', '_', name)}-{qv}.toml".replace(" ", "_")
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(
                f"[features]\ndim = 3\ncovariance = {cov}\n[tasks]\nsegments = [3, 4]\n"
                f"query_correlation = [0.2, 0.8]\nquery_variance = {qv}\n[noise]\nvariance = {noise}\n"
            )
            label = f"{name}, r_q {qv}"
            for m in modes:
                out.append(
                    Case("scales", f"{label} / solve {' '.join(m)}", ["solve", "--spec", f, *m, "--json"])
                )
            out.append(Case("scales", f"{label} / risk", ["risk", "--spec", f, "--json"]))
            out.append(Case("scales", f"{label} / conditions", ["conditions", "--spec", f, "--json"]))
            out.append(
                Case(
                    "scales",
                    f"{label} / conditions --certify",
                    ["conditions", "--spec", f, "--certify", "--json"],
                )
            )
    return out


def size_cases(tmp: Path) -> list[Case]:
    d = tmp / "size"
    d.mkdir(parents=True, exist_ok=True)
    specs = {
        "dim 20000": "[features]\ndim = 20000\ncovariance = {toeplitz = 0.5}\n",
        "dim 1e6": '[features]\ndim = 1000000\ncovariance = "identity"\n',
        "dim 1e20": '[features]\ndim = 100000000000000000000\ncovariance = "identity"\n',
        "segments 1e9": "[features]\ndim = 3\n[tasks]\nsegments = [500000000, 500000000]\n",
        "segments 1e12": "[features]\ndim = 3\n[tasks]\nsegments = [500000000000, 500000000000]\n",
        "1e5 segments": "[features]\ndim = 3\n[tasks]\nsegments = [" + ", ".join(["1"] * 10**5) + "]\n",
        "dense n 20000 npy": '[features]\ndim = 3\n[tasks]\nmatrix = {file = "big.npy"}\n',
        "n 1e7 (must solve)": "[features]\ndim = 3\n[tasks]\nsegments = [5000000, 5000000]\n",
    }
    with open(d / "big.npy", "wb") as fh:
        import numpy as np

        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (20001, 20001)}
        )
    out = []
    for name, head in specs.items():
        k = head.count(",") + 1 if "segments" in head else 0
        qc = ("\nquery_correlation = [" + ", ".join(["0.001"] * k) + "]") if k else ""
        tail = "" if "[tasks]" in head else "[tasks]\nsegments = [2, 3]\nquery_correlation = [0.2, 0.8]\n"
        f = d / (re.sub(r"\W+", "_", name) + ".toml")
        f.write_text(head.rstrip("\n") + qc + "\n" + tail + "[noise]\nvariance = 0.1\n")
        codes = (0,) if "must solve" in name else (2,)
        out.append(Case("sizes", f"{name} / solve", ["solve", "--spec", f, "--json"], codes=codes))
        if "must solve" not in name:
            out.append(Case("sizes", f"{name} / risk", ["risk", "--spec", f, "--json"], codes=(2,)))
    out.append(Case("sizes", "--mc 1e12", ["risk", "--spec", SPEC, "--mc", "1e12", "--json"], codes=(2,)))
    out.append(
        Case(
            "sizes",
            "--precision 10000 (time limit 5 s)",
            ["solve", "--spec", SPEC, "--precision", "10000"],
            codes=(2,),
            env={"WPGD_MAX_SECONDS": "5"},
        )
    )
    return out


def output_cases(tmp: Path) -> list[Case]:
    d = tmp / "out"
    d.mkdir(parents=True, exist_ok=True)
    (d / "realdir").mkdir()
    os.symlink(d / "realdir", d / "linkdir")
    os.symlink(d / "nowhere", d / "dangling")
    (d / "afile").write_text("x")

    def mode(path, want):
        def check(code, out, err):
            m = stat.S_IMODE(os.stat(path).st_mode)
            return None if m == want else f"{path.name} has mode {oct(m)}, expected {oct(want)}"

        return check

    out = [
        Case(
            "output", "--out /dev/full", ["solve", "--spec", SPEC, "--out", "/dev/full", "--json"], codes=(2,)
        ),
        Case("output", "--out /dev/null", ["solve", "--spec", SPEC, "--out", "/dev/null"], codes=(2,)),
        Case("output", "--out a regular file", ["solve", "--spec", SPEC, "--out", d / "afile"], codes=(2,)),
        Case(
            "output",
            "--out symlink to a folder",
            ["solve", "--spec", SPEC, "--out", d / "linkdir"],
            codes=(0, 2),
        ),
        Case(
            "output",
            "--out dangling symlink",
            ["solve", "--spec", SPEC, "--out", d / "dangling"],
            codes=(0, 2),
        ),
        Case("output", "--out unwritable", ["solve", "--spec", SPEC, "--out", "/proc/wpgd-x"], codes=(2,)),
        Case(
            "output",
            "umask 077",
            ["solve", "--spec", SPEC, "--out", d / "u077"],
            codes=(0,),
            umask=0o077,
            check=mode(d / "u077" / "summary.json", 0o600),
        ),
        Case(
            "output",
            "umask 022",
            ["solve", "--spec", SPEC, "--out", d / "u022"],
            codes=(0,),
            umask=0o022,
            check=mode(d / "u022" / "summary.json", 0o644),
        ),
        Case(
            "output",
            "verify --out /dev/full",
            ["verify", "--only", "risk.", "--quick", "--out", "/dev/full"],
            codes=(1, 2),
        ),
    ]
    return out


def concurrent_out(tmp: Path) -> list[str]:
    """Four solves of different dimension into one --out at once: the final set is one run's."""
    d = tmp / "conc"
    d.mkdir(parents=True, exist_ok=True)
    specs = []
    for dim in (2, 3, 4, 5):
        f = d / f"d{dim}.toml"
        f.write_text(SPEC.read_text().replace("dim = 10", f"dim = {dim}"))
        specs.append(f)
    fails = []
    for rep in range(2):
        target = d / f"set{rep}"
        procs = [
            subprocess.Popen(
                [_wpgd(), "solve", "--spec", f, "--out", target],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for f in specs
        ]
        errs = [p.communicate(timeout=300)[1] for p in procs]
        if any("Traceback" in e for e in errs):
            fails.append("concurrent --out: traceback")
        import numpy as np

        summary = json.loads((target / "summary.json").read_text())
        dim = summary["problem"]["d"]
        if np.load(target / "P.npy").shape != (dim, dim):
            fails.append(f"concurrent --out: P.npy does not belong to summary.json (d = {dim})")
        stray = [p.name for p in target.parent.iterdir() if p.name.startswith(".") and target.name in p.name]
        if stray:
            fails.append(f"concurrent --out: stray temporaries {stray}")
    return fails


def experiment_cases(tmp: Path) -> list[Case]:
    out = []
    for exp in ("figure1", "multilayer", "highdim"):
        out.append(
            Case(
                "experiment",
                f"{exp} --steps 1e8",
                ["experiment", exp, "--steps", "100000000", "--out", tmp / f"exp-{exp}"],
                codes=(2,),
                check=lambda c, o, e: None if "would take about" in e else "not refused by the time guard",
            )
        )
    out.append(
        Case(
            "experiment",
            "figure1 --n 1",
            ["experiment", "figure1", "--n", "1", "--out", tmp / "e1"],
            codes=(2,),
        )
    )
    out.append(Case("experiment", "plot missing", ["experiment", "plot", tmp / "missing"], codes=(2,)))
    out.append(
        Case(
            "experiment",
            "multilayer --model bogus",
            ["experiment", "multilayer", "--model", "bogus", "--out", tmp / "e2"],
            codes=(2,),
        )
    )
    return out


def misc_cases(tmp: Path) -> list[Case]:
    d = tmp / "misc"
    d.mkdir(parents=True, exist_ok=True)
    (d / "syntax.py").write_text("def (:\n")
    (d / "binary.py").write_bytes(b"\xff\xfe\x00\x01")
    (d / "empty.py").write_text("")
    (d / "raises.py").write_text("raise SystemExit(3)\n")
    run_dir = d / "run"
    run_dir.mkdir()
    out = [
        Case("misc", "verify --only nothing", ["verify", "--only", "no-such-check"], codes=(1, 2)),
        Case("misc", "check-derivation missing", ["check-derivation", d / "missing.py"], codes=(2,)),
        Case("misc", "check-derivation syntax", ["check-derivation", d / "syntax.py"], codes=(2,)),
        Case("misc", "check-derivation binary", ["check-derivation", d / "binary.py"], codes=(2,)),
        Case("misc", "check-derivation empty", ["check-derivation", d / "empty.py", "--json"], codes=(2,)),
        Case("misc", "check-derivation SystemExit", ["check-derivation", d / "raises.py"], codes=(2,)),
        Case(
            "misc",
            "check-derivation --sizes junk",
            ["check-derivation", d / "empty.py", "--sizes", "x"],
            codes=(2,),
        ),
        Case(
            "misc",
            "train missing spec",
            ["train", "--spec", d / "nope.toml", "--model", "scalar"],
            codes=(2,),
        ),
        Case("misc", "no command", [], codes=(2,)),
        Case("misc", "unknown command", ["frobnicate"], codes=(2,)),
    ]
    for kind, data in (("empty", b""), ("random bytes", os.urandom(4096)), ("text", b"not a checkpoint\n")):
        rd = d / f"ckpt-{kind.replace(' ', '_')}"
        rd.mkdir()
        (rd / "checkpoint.pt").write_bytes(data)
        out.append(
            Case(
                "misc",
                f"damaged checkpoint: {kind}",
                ["train", "--spec", SPEC, "--model", "scalar", "--steps", "20", "--out", rd],
                codes=(2,),
                check=lambda c, o, e: None if "checkpoint unreadable" in e else "not 'checkpoint unreadable'",
            )
        )
    return out


def sigint_cases(tmp: Path) -> list[str]:
    """SIGINT at small delays during `wpgd solve --precision 200` (start-up, imports, the solve)."""
    fails = []
    for delay in (0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0, 3.0):
        proc = subprocess.Popen(
            [_wpgd(), "solve", "--spec", SPEC, "--precision", "200", "--backend", "mpmath"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            fails.append(f"SIGINT at {delay} s: ignored")
            continue
        lines = [ln for ln in err.splitlines() if ln.strip()]
        if proc.returncode == -signal.SIGINT and not err.strip():
            continue  # killed silently while the interpreter itself started (SIG_DFL, before our code)
        if (
            "Traceback" in err
            or proc.returncode not in (0, 130)
            or (proc.returncode == 130 and len(lines) != 1)
        ):
            fails.append(f"SIGINT at {delay} s: exit {proc.returncode}, {err.strip()[-200:]}")
    return fails


FAMILIES = {
    "spec": spec_cases,
    "flags": flag_cases,
    "scales": scale_cases,
    "sizes": size_cases,
    "output": output_cases,
    "experiment": experiment_cases,
    "misc": misc_cases,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--only", choices=[*FAMILIES, "concurrent", "sigint"], action="append")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    chosen = args.only or [*FAMILIES, "concurrent", "sigint"]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wpgd-campaign-") as tmpdir:
        tmp = Path(tmpdir)
        cases = [c for fam in chosen if fam in FAMILIES for c in FAMILIES[fam](tmp)]
        results = {}
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for case, why, secs in pool.map(run_case, cases):
                results.setdefault(case.family, []).append((case, why))
                if why is not None or args.verbose:
                    print(
                        f"{'FAIL' if why else 'ok  '} [{case.family}] {case.name}: {why or ''} ({secs:.0f}s)",
                        flush=True,
                    )
        extra = {}
        if "concurrent" in chosen:
            extra["concurrent"] = (2, concurrent_out(tmp))
        if "sigint" in chosen:
            extra["sigint"] = (9, sigint_cases(tmp))
    total = passed = 0
    for fam, rows in results.items():
        ok = sum(why is None for _, why in rows)
        print(f"{fam:<11} {ok}/{len(rows)} passed")
        total, passed = total + len(rows), passed + ok
    for fam, (n, fails) in extra.items():
        for f in fails:
            print(f"FAIL [{fam}] {f}")
        print(f"{fam:<11} {n - len(fails)}/{n} passed")
        total, passed = total + n, passed + n - len(fails)
    print(f"total       {passed}/{total} passed in {time.perf_counter() - t0:.0f} s")
    return 0 if passed == total else 1


if __name__ == "__main__":
    sys.exit(main())
