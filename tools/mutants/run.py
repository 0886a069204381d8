"""Run the curated mutants one at a time against targeted tests and ``wpgd verify --quick``.

Usage (from the repository root)::

    python -m tools.mutants.run                      # every mutant: targeted tests + verify
    python -m tools.mutants.run --only solver. --no-verify
    python -m tools.mutants.run --smoke --no-verify  # the bounded subset the test suite runs
    python -m tools.mutants.run --json mutants.json  # also write the report

Each mutant is applied to a fresh copy of the tree (tracked and untracked-but-not-ignored files)
in a temporary folder; the copy is put first on PYTHONPATH, so the tests, the installed ``wpgd``
console script and ``python -m wpgd`` all import the mutated code. A mutant is *killed by the
tests* if ``python -m pytest -x -q <its tests>`` fails, *killed by verify* if ``wpgd verify
--quick --only <its prefixes>`` exits non-zero (``--self-test`` for mutants of wpgd/proofs_check/,
whose bugs are loosened pass criteria that only the negative controls can see). The score is
killed / applicable; a mutant whose snippet is gone from a file another branch rewrote is
reported as stale, not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .catalogue import MUTANTS, SMOKE, Mutant

ROOT = Path(__file__).resolve().parents[2]


def tree_files(root: Path = ROOT) -> list[str]:
    """Tracked plus untracked-but-not-ignored files (what a checkout of the working tree has)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return [f for f in out if f and (root / f).is_file()]


def make_copy(dest: Path, root: Path = ROOT) -> None:
    for f in tree_files(root):
        target = dest / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, target)


def apply(m: Mutant, tree: Path) -> bool:
    """Apply ``m`` in ``tree``; False if its snippet is not there exactly once (stale)."""
    path = tree / m.file
    text = path.read_text(encoding="utf-8")
    if text.count(m.old) != 1:
        return False
    path.write_text(text.replace(m.old, m.new), encoding="utf-8")
    return True


def _run(cmd: list[str], cwd: Path, timeout: float) -> tuple[int | None, float, str]:
    env = dict(os.environ, PYTHONPATH=str(cwd), PYTHONDONTWRITEBYTECODE="1")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        return proc.returncode, time.perf_counter() - t0, (proc.stdout + proc.stderr)[-2000:]
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - t0, "timeout"


def run_mutant(m: Mutant, *, tests: bool = True, verify: bool = True, timeout: float = 600.0) -> dict:
    """Apply one mutant to a temporary copy and run its tests and verify prefixes."""
    with tempfile.TemporaryDirectory(prefix="wpgd-mutant-") as tmp:
        tree = Path(tmp)
        make_copy(tree)
        row = {"id": m.id, "file": m.file, "description": m.description, "origin": m.origin}
        if not apply(m, tree):
            row.update(status="stale", tests=None, verify=None)
            return row
        if tests:
            rc, secs, tail = _run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests],
                                  tree, timeout)
            row["tests"] = {"killed": rc != 0, "returncode": rc, "seconds": round(secs, 1), "tail": tail[-600:]}
        if verify and m.verify:
            cmd = [sys.executable, "-m", "wpgd", "verify", "--quick", "--json"]
            if m.file.startswith("wpgd/proofs_check/"):
                cmd.append("--self-test")
            for prefix in m.verify:
                cmd += ["--only", prefix]
            rc, secs, tail = _run(cmd, tree, timeout)
            row["verify"] = {"killed": rc != 0, "returncode": rc, "seconds": round(secs, 1)}
        killed = [k for k in ("tests", "verify") if isinstance(row.get(k), dict) and row[k]["killed"]]
        row["status"] = "killed" if killed else "survived"
        row["killed_by"] = killed
        return row


def summary(rows: list[dict]) -> dict:
    live = [r for r in rows if r["status"] != "stale"]
    by_tests = [r for r in live if isinstance(r.get("tests"), dict) and r["tests"]["killed"]]
    by_verify = [r for r in live if isinstance(r.get("verify"), dict) and r["verify"]["killed"]]
    with_verify = [r for r in live if isinstance(r.get("verify"), dict)]
    return {
        "mutants": len(rows), "applicable": len(live), "stale": len(rows) - len(live),
        "killed": sum(r["status"] == "killed" for r in live),
        "killed_by_tests": len(by_tests), "killed_by_verify": len(by_verify), "verify_runs": len(with_verify),
        "survivors": [r["id"] for r in live if r["status"] == "survived"],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", metavar="PREFIX", help="run mutants whose id starts with PREFIX")
    p.add_argument("--smoke", action="store_true", help="run only the bounded subset the test suite runs")
    p.add_argument("--no-tests", action="store_true", help="skip the targeted tests")
    p.add_argument("--no-verify", action="store_true", help="skip wpgd verify")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per command (default 600)")
    p.add_argument("--json", metavar="FILE", help="write the report (rows + summary) to FILE")
    args = p.parse_args(argv)
    chosen = [m for m in MUTANTS if (not args.smoke or m.id in SMOKE)
              and (not args.only or any(m.id.startswith(s) for s in args.only))]
    rows = []
    for i, m in enumerate(chosen, 1):
        row = run_mutant(m, tests=not args.no_tests, verify=not args.no_verify, timeout=args.timeout)
        rows.append(row)
        t = row.get("tests") or {}
        v = row.get("verify") or {}
        print(f"[{i}/{len(chosen)}] {row['status']:8} {m.id:32} tests: "
              f"{'killed' if t.get('killed') else ('-' if not t else 'passed')} ({t.get('seconds', 0):.0f} s)  "
              f"verify: {'killed' if v.get('killed') else ('-' if not v else 'passed')} ({v.get('seconds', 0):.0f} s)",
              flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary(rows)}, indent=1))
    s = summary(rows)
    print(f"\nscore: {s['killed']}/{s['applicable']} killed ({s['killed_by_tests']} by the targeted tests, "
          f"{s['killed_by_verify']}/{s['verify_runs']} by verify); stale {s['stale']}; survivors: "
          f"{', '.join(s['survivors']) or 'none'}")
    return 0 if not s["survivors"] else 1


if __name__ == "__main__":
    sys.exit(main())
