"""``wpgd verify``: run every registered proof check and print the verdict table."""

from __future__ import annotations

import sys
import textwrap

from proofs_check.registry import registered_checks, run_checks

from ..io import print_json, progress_bar, write_json_atomic

HELP = "run every registered proof check (symbolic, numeric, Monte Carlo, torch) and print verdicts"
DESCRIPTION = """\
Run the registered proof checks: each turns a claim of the theory into a computation that
can fail and reports the evidence it saw. Prints one row per check (claim, method, evidence,
PASS/FAIL/SKIP). Exit status 0 iff no check failed; a skipped check (e.g. torch missing)
is reported as SKIP with its reason, and does not count as a pass.

examples:
  wpgd verify --quick
  wpgd verify --only risk. --json
"""


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer samples (about a minute)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    p.add_argument("--out", metavar="FILE", help="also write the JSON results to FILE (atomically)")
    p.add_argument(
        "--only",
        action="append",
        metavar="PREFIX",
        help="run only checks whose name starts with PREFIX (repeatable), e.g. --only risk.",
    )
    p.add_argument("--list", action="store_true", help="list the registered checks and exit")


def _row(res, width: int = 100) -> str:
    head = f"{res.status:4}  {res.name}  [{res.method}]  ({res.seconds:.1f} s)"
    body = textwrap.fill(
        f"claim: {res.claim}", width=width, initial_indent="      ", subsequent_indent="        "
    )
    ev = textwrap.fill(
        f"evidence: {res.evidence}", width=width, initial_indent="      ", subsequent_indent="        "
    )
    return "\n".join([head, body, ev])


def run(args) -> int:
    if args.list:
        for chk in registered_checks():
            print(f"{chk.name:45} [{chk.method}] {chk.claim}")
        return 0
    checks = registered_checks()
    total = sum(1 for c in checks if not args.only or any(c.name.startswith(s) for s in args.only))
    bar = progress_bar(total, "verify", unit="check", enabled=not args.json)

    def on_result(res):
        bar.update(1)
        if not args.json:
            bar.clear()
            print(_row(res), flush=True)

    results = run_checks(quick=args.quick, select=args.only, on_result=on_result)
    bar.close()
    counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "SKIP")}
    payload = {
        "quick": args.quick,
        "counts": counts,
        "all_passed": counts["FAIL"] == 0 and len(results) > 0,
        "checks": [r.to_dict() for r in results],
    }
    if args.out:
        write_json_atomic(args.out, payload)
    if args.json:
        print_json(payload)
    else:
        print(
            f"\n{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped "
            f"({sum(r.seconds for r in results):.1f} s)"
        )
        for r in results:
            if r.status == "SKIP":
                print(f"SKIPPED: {r.name}: {r.evidence}", file=sys.stderr)
    if not results:
        print("wpgd verify: error: no check matched", file=sys.stderr)
        return 2
    return 0 if counts["FAIL"] == 0 else 1
