"""``wpgd verify``: run every registered proof check and print the verdict table."""

from __future__ import annotations

import sys
import textwrap

from ..io import print_json, progress_bar, write_json_atomic

HELP = "run every registered proof check (symbolic, numeric, Monte Carlo, torch) and print verdicts"
DESCRIPTION = """\
Run the registered proof checks: each turns a claim of the theory into a computation that
can fail and reports the evidence it saw. Prints one row per check (claim, method, evidence,
PASS/FAIL/SKIP). Exit status 0 iff no check failed; a skipped check (e.g. torch missing)
is reported as SKIP with its reason, and does not count as a pass: the summary then says
"incomplete" and the JSON has "all_passed": false, "complete": false.

--self-test also runs every check's negative control: the check's own pass criterion applied
to a deliberately wrong input (a wrong formula, solver output or kernel; where the criterion
has a tolerance, an input about 10x outside it). A control must be REJECTED. Exit status 0
iff every control was rejected and every check passed or was skipped (a control may be
skipped only with its check); a control that passes, crashes or is missing is a failure.

examples:
  wpgd verify --quick
  wpgd verify --only risk. --json
  wpgd verify --self-test --quick
"""


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true",
                   help="smaller sizes and fewer samples: about 30 s on two CPU cores, against 2–3 minutes "
                        "for the full run (README)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    p.add_argument("--out", metavar="FILE", help="also write the JSON results to FILE (atomically)")
    p.add_argument(
        "--only",
        action="append",
        metavar="PREFIX",
        help="run only checks whose name starts with PREFIX (repeatable), e.g. --only risk.",
    )
    p.add_argument("--list", action="store_true", help="list the registered checks and exit")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="also run every check's negative control (a deliberately wrong input its criterion must "
        "reject); exit 0 only if every control is rejected and no check fails",
    )


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
    from wpgd.proofs_check.runner import registered_checks, run_checks  # imports every check (SymPy, SciPy)

    if args.list:
        for chk in registered_checks():
            print(f"{chk.name:45} [{chk.method}] {chk.claim}")
        return 0
    if args.out:
        from wpgd.numerics.core.fileio import check_output_file

        check_output_file(args.out)  # before minutes of checks, not after
    checks = registered_checks()
    total = sum(1 for c in checks if not args.only or any(c.name.startswith(s) for s in args.only))
    if args.self_test:
        return _self_test(args, total)
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
        "verdict": _verdict(counts),
        "all_passed": counts["FAIL"] == 0 and counts["SKIP"] == 0 and len(results) > 0,
        "complete": counts["SKIP"] == 0,
        "checks": [r.to_dict() for r in results],
    }
    if args.out:
        write_json_atomic(args.out, payload)
    if args.json:
        print_json(payload)
    else:
        print(
            f"\n{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped "
            f"({sum(r.seconds for r in results):.1f} s): {payload['verdict']}"
        )
        for r in results:
            if r.status == "SKIP":
                print(f"SKIPPED: {r.name}: {r.evidence}", file=sys.stderr)
    if not results:
        print("wpgd verify: error: no check matched", file=sys.stderr)
        return 2
    return 0 if counts["FAIL"] == 0 else 1


def _verdict(counts: dict) -> str:
    """"failed" if any check failed, "incomplete" if none failed but some were skipped, else "passed"."""
    if counts["FAIL"]:
        return "failed"
    return "incomplete" if counts["SKIP"] else "passed"


def _control_ok(check_status: str, control_status: str) -> bool:
    """A control works when its check's criterion rejected the wrong input; it may skip only with its check."""
    if check_status not in ("PASS", "SKIP"):
        return False
    return control_status == "FAIL" or (control_status == "SKIP" and check_status == "SKIP")


_CONTROL_WORDS = {"FAIL": "REJECTED", "PASS": "PASSED (blind)", "SKIP": "SKIPPED", "ERROR": "CRASHED",
                  "MISSING": "MISSING"}


def _self_test(args, total: int) -> int:
    from wpgd.proofs_check.runner import run_checks, run_controls

    bar = progress_bar(2 * total, "self-test", unit="run", enabled=not args.json)
    results = run_checks(quick=args.quick, select=args.only, on_result=lambda r: bar.update(1))
    controls = run_controls(quick=args.quick, select=args.only, on_result=lambda r: bar.update(1))
    bar.close()
    rows = []
    for res, ctl in zip(results, controls):
        rows.append({
            "name": res.name,
            "ok": _control_ok(res.status, ctl.status),
            "check": res.to_dict(),
            "control": {**ctl.to_dict(), "status": _CONTROL_WORDS.get(ctl.status, ctl.status)},
        })
    bad = [r["name"] for r in rows if not r["ok"]]
    payload = {"quick": args.quick, "self_test_passed": not bad and bool(rows), "failures": bad, "rows": rows}
    if args.out:
        write_json_atomic(args.out, payload)
    if args.json:
        print_json(payload)
    else:
        for r in rows:
            c, k = r["check"], r["control"]
            print(f"{'ok' if r['ok'] else 'BAD':4}  {r['name']}  check {c['status']} ({c['seconds']:.1f} s), "
                  f"control {k['status']} ({k['seconds']:.1f} s)")
            print(textwrap.fill(f"control: {k['evidence']}", width=100, initial_indent="      ",
                                subsequent_indent="        "))
        print(f"\nself-test: {len(rows) - len(bad)}/{len(rows)} checks pass (or skip) and reject their negative "
              f"control ({sum(r['check']['seconds'] + r['control']['seconds'] for r in rows):.1f} s)")
        for name in bad:
            print(f"SELF-TEST FAILURE: {name}", file=sys.stderr)
    if not rows:
        print("wpgd verify: error: no check matched", file=sys.stderr)
        return 2
    return 0 if not bad else 1
