"""``wpgd check-derivation``: check a claimed risk against the derived one (docs/derivations.md)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from wpgd.numerics.core.errors import InvalidProblemError

from ..flags import SEED, integer
from ..io import print_json

HELP = "check a claimed closed-form risk of your predictor: exactly (Wick engine), numerically, by Monte Carlo"
DESCRIPTION = """\
Check that a claimed risk E[(ŷ − y_q)²] is the risk of a predictor under a data model.

FILE.py is a Python file that defines three names (docs/derivations.md):

  model         a wpgd.proofs_check.derivations.PromptModel (the multitask prompt model and
                its options: Σ structure, task prior, per-segment/per-token noise, …)
  predictor     a wpgd.proofs_check.derivations.Predictor (e.g. wpgd_predictor(), or
                with_bias(wpgd_predictor()), or your own Predictor(fn, parameters))
  claimed_risk  a callable claimed_risk(p) of the model quantities and predictor
                parameters, or a SymPy expression in symbols named like them

and optionally `sizes` (a list of (d, n)) used when --sizes is not given.

Legs: (1) exact: at each size the risk is derived by the Wick engine and claimed − derived
is expanded (0 = identity); a non-zero difference is refuted with a concrete, shrunk
counterexample (numbers for every parameter, both values); (2) numeric: Hypothesis draws
valid instances and compares the compiled claim and derivation (relative 1e-8); (3) Monte
Carlo: prompts sampled by the model's sampler, the predictor evaluated, skewness-corrected
z-score against the claim with a family-wise false-alarm rate of 1e-3.

Exit status: 0 the claim holds, 1 it is refuted (the counterexample is printed), 2 bad input
(unreadable file, missing or wrongly typed names, an error raised while running the file).

WARNING: FILE.py is executed as Python code with your permissions. Only check files you
trust, as you would only `python FILE.py` files you trust.

example:
  wpgd check-derivation examples/derivations/wrong_risk.py --mc 20000 --seed 0
"""


def _sizes(text: str) -> list[tuple[int, int]]:
    import argparse

    out = []
    for part in text.split(","):
        bits = part.strip().lower().split("x")
        try:
            d, n = (int(b) for b in bits)
        except ValueError:
            raise argparse.ArgumentTypeError(f"sizes must look like 1x1,2x2 (d x n), got {text!r}") from None
        if d < 1 or n < 1 or d > 4 or n > 6:
            raise argparse.ArgumentTypeError(f"each size needs 1 ≤ d ≤ 4 and 1 ≤ n ≤ 6, got {part.strip()!r}")
        out.append((d, n))
    return out


def _count(text: str) -> int:
    """0 (off) or an integer ≥ 2, through the shared flag validation (wpgd.flags)."""
    import argparse

    v = integer(0, 10**9)(text)
    if v == 1:
        raise argparse.ArgumentTypeError(f"must be 0 (off) or at least 2, got {v}")
    return v


def add_arguments(p) -> None:
    p.add_argument(
        "file", metavar="FILE.py", help="Python file defining model, predictor, claimed_risk (it is executed)"
    )
    p.add_argument(
        "--sizes",
        type=_sizes,
        metavar="DxN,...",
        help="explicit sizes of the exact leg, e.g. 1x1,2x2 (default: the file's `sizes`, else d=1 and d=2 at "
        "the smallest valid n; each d ≤ 4, n ≤ 6: SymPy cost grows fast)",
    )
    p.add_argument(
        "--mc",
        type=_count,
        default=20_000,
        metavar="N",
        help="Monte Carlo prompts per instance, 0 to skip the leg (default 20000)",
    )
    p.add_argument(
        "--mc-instances",
        type=_count,
        default=2,
        metavar="K",
        help="random instances per size for Monte Carlo (default 2)",
    )
    p.add_argument("--seed", type=SEED, default=0,
                   help="seed of the Hypothesis search and of Monte Carlo, 0..2^32-1 (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of text")


def _load(path: str) -> dict:
    f = Path(path)
    if not f.is_file():
        raise InvalidProblemError(f"cannot read {path!r}: no such file")
    try:
        source = f.read_text()
        compile(source, str(f), "exec")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidProblemError(f"cannot read {path!r}: {exc}") from None
    except SyntaxError as exc:
        raise InvalidProblemError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    sys.path.insert(0, str(f.resolve().parent))
    try:
        return runpy.run_path(str(f), run_name="__wpgd_check_derivation__")
    except SystemExit:
        raise InvalidProblemError(f"{path} called exit() while being loaded") from None
    except Exception as exc:  # noqa: BLE001 - any error in the user's file is bad input
        line = _user_line(exc, f)
        raise InvalidProblemError(f"{path}{line}: {type(exc).__name__} while running the file: {exc}") from None
    finally:
        sys.path.remove(str(f.resolve().parent))


def _user_line(exc: BaseException, f: Path) -> str:
    tb, line = exc.__traceback__, ""
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == f.resolve():
            line = f":{tb.tb_lineno}"
        tb = tb.tb_next
    return line


def run(args) -> int:
    from wpgd.proofs_check.derivations import Derivation, DerivationInputError  # needs hypothesis

    ns = _load(args.file)
    missing = [k for k in ("model", "predictor", "claimed_risk") if k not in ns]
    if missing:
        raise DerivationInputError(
            f"{args.file} does not define {', '.join(missing)} (see wpgd check-derivation --help)"
        )
    sizes = args.sizes
    if sizes is None and "sizes" in ns:
        try:
            sizes = [(int(d), int(n)) for d, n in ns["sizes"]]
        except (TypeError, ValueError):
            raise DerivationInputError(f"{args.file}: `sizes` must be a list of (d, n) pairs") from None
    derivation = Derivation(ns["model"], ns["predictor"], ns["claimed_risk"])
    try:
        report = derivation.check(sizes, mc=args.mc, mc_instances=args.mc_instances, seed=args.seed)
    except DerivationInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's predictor or claim failed on our inputs
        raise DerivationInputError(f"{args.file}: {type(exc).__name__} while checking: {exc}") from None
    if args.json:
        print_json(report.to_dict() | {"file": args.file, "seed": args.seed, "mc": args.mc})
    else:
        print(report.summary())
        print(f"time        {report.seconds:.1f} s (seed {args.seed})")
    return 0 if report.holds else 1
