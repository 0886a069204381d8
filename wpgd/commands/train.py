"""``wpgd train``: train one GLA model on fresh prompts of a spec and compare it with theory."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from wpgd.numerics.core.convergence import in_label_trap, one_signed_position
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.references import MODEL_KINDS
from wpgd.numerics.core.spec import load_spec

from ..flags import TRAIN_SEED, integer, real
from ..io import print_json, resolve_device

HELP = "train a GLA (linear / scalar / scalar-nodelim / vector) on a spec and compare with the theory optimum"
DESCRIPTION = """\
Train a gated-linear-attention model from random initialisation on fresh prompts of the
problem spec (docs/theory.md §3), evaluate it on fresh held-out prompts with a 95% bootstrap
interval, and print its normalised risk next to the theory optimum of its class:

  linear          linear attention, no delimiters          vs  linear-attention optimum (ω ∝ 1)
  scalar          scalar gate, delimiter tokens            vs  scalar-gating optimum (ω ≥ 0 non-decreasing)
  scalar-nodelim  scalar gate, no delimiters               vs  fixed-decay line (not a bound) and scalar optimum
  vector          vector gate, delimiters, key width 4d    vs  vector-gating optimum and unconstrained optimum

The run folder (--out) holds config.json, checkpoint.pt, history.json and metrics.json; running
the same command again resumes from the checkpoint (bit-for-bit on the same device), and Ctrl-C
writes a checkpoint before exiting. Risks are normalised by r_q tr Σ + σ² (1 = predicting zero).

Managing runs: rerunning a finished run prints its saved result ("already complete"); a larger
--steps continues it (the lr follows the schedule of a run of the new length from the current
step; docs/training-runs.md); Ctrl-C or SIGTERM writes a checkpoint, prints the saved step and the
command that resumes, and exits 130 (SIGINT) or 143 (SIGTERM). A damaged checkpoint is refused
("checkpoint unreadable: ...; use --no-resume", exit 2). A vector run with the sign-change start
that ends outside its tolerance at or below the best one-signed weights' risk is run again once,
automatically, from the same start with 3 times its derived budget; one that ends above that risk
is run again once with the plain start and the same steps. Where the run's class optimum is less
than 10% below predicting zero (a weak signal), a run of any model that misses is run again once
with 4 times the batch and the steps derived for it (a vector run also with the plain start); so is a run
that counts as converged only because its interval is wide (predicting zero inside it, and outside
the tolerance). The better of the two runs on the periodic held-out set is kept (--auto-rerun; not
with an explicit --steps), and its output says so.

Convergence: the run is "converged" when its held-out risk (point estimate) is within 2% of its
class's theory optimum (3% for vector) and, for a gated model, within the same tolerance of the
linear-attention optimum; otherwise the output ends with a WARNING line, metrics.json and --json
carry "status": "not_converged" with a "reason", and the exit status is 3.

exit status: 0 converged (or --allow-gap), 3 not converged, 2 bad input or unreadable
checkpoint, 130 interrupted (SIGINT), 143 terminated (SIGTERM).

example:
  wpgd train --spec examples/two_segments.toml --model scalar --layers 1 --steps 1000
"""


def _bias(text: str):
    """``--init-gate-bias`` value: a float, or 'none' for GLAModel's own initialisation."""
    return _NONE if str(text).strip().lower() == "none" else real(what="a number or 'none'")(text)


_NONE = "none"


def add_arguments(p) -> None:
    p.add_argument("--spec", required=True, metavar="FILE", help="problem spec (TOML)")
    p.add_argument("--model", required=True, choices=list(MODEL_KINDS), help="model family")
    p.add_argument("--layers", type=integer(1, 64), default=1, help="GLA layers (default 1)")
    p.add_argument("--steps", type=integer(1, 10**9), default=None, help="optimiser steps (default: derived from d, K, the batch and --layers, and printed first; see docs/training.md and, for L > 1, docs/multilayer.md)")
    p.add_argument("--auto-rerun", type=integer(1, 1000), default=None, metavar="F",
                   help="run a vector model again once, from the same start with F times the steps, when it ends "
                        "outside its tolerance at or below the best one-signed weights' risk of an optimum whose weights "
                        "change sign (one channel group not yet formed; docs/training.md, \"Automatic re-run\"), "
                        "or with the plain start and the same steps when it ends above that risk; where the run's "
                        "class optimum is less than 10%% below predicting zero, a run of any model that misses (or "
                        "converges only by chance, predicting zero in its interval) is run again with 4 times the "
                        "batch and the steps derived for it; the better of the two runs is kept; 1 = never "
                        "(default 3 with a derived budget and the sign-change start or such a weak signal, else 1)")
    p.add_argument("--batch-size", type=integer(1, 2**20), default=None, help="fresh prompts per step (default 256)")
    p.add_argument("--lr", type=real(0, 1e3, lo_open=True), default=None, help="peak AdamW learning rate (default 0.12/D for token width D; vector 0.01)")
    p.add_argument("--weight-decay", type=real(0, 1e3), default=None, help="AdamW weight decay (default 0)")
    p.add_argument("--schedule", choices=["cosine", "constant"], default=None, help="lr schedule after warm-up")
    p.add_argument("--clip", type=real(0), default=None, help="gradient-norm clip, 0 = off (default 1)")
    p.add_argument("--key-dim", type=integer(1, 2**16), default=None, help="key width (default: 4d for vector, two signed groups of 2d, 8d with the sign-change start; token width otherwise)")
    p.add_argument("--heads", type=integer(1, 1024), default=None, help="attention heads (default 1)")
    p.add_argument("--delimiter", choices=["none", "flag", "boundary", "label"], default=None,
                   help="delimiter encoding between segments: boundary = one code coordinate per boundary "
                        "(default for scalar/vector: a gate can then weight each segment on its own), flag = "
                        "one coordinate shared by every delimiter, label = the [0; 1] token, none (default "
                        "otherwise)")
    p.add_argument("--context", choices=["none", "onehot"], default=None, help="per-segment context features")
    p.add_argument("--feature-basis", choices=["whitened", "given"], default=None,
                   help="coordinates the features are written in: whitened (default: Λ^-1/2 Uᵀx for Σ = UΛUᵀ, "
                        "unit covariance; the model class and its optimum are unchanged, and an ill-conditioned Σ lands "
                        "within the same step budget, measured to κ = 10³) or given (the spec's coordinates scaled by "
                        "√(d / tr Σ), the recipe before whitening; docs/training.md \"Conditioning\")")
    p.add_argument("--train-pool", type=integer(0, 10**8), default=None, help="fixed training pool size (default 0 = fresh prompts)")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None, help="default float32")
    p.add_argument("--mode", choices=["auto", "parallel", "chunked", "recurrent"], default=None,
                   help="GLA kernel of the layers below the last (default auto: chunked for vector gating, "
                        "parallel otherwise; the last layer is always evaluated at the query only)")
    p.add_argument("--init-value-scale", type=real(0, 1e6, lo_open=True), default=None,
                   help="scale of the value projections at initialisation (default 1.0; vector 0.1; docs/training.md)")
    p.add_argument("--init-gate-bias", type=_bias, default=None, metavar="B|none",
                   help="initial gate bias (default log(T/ρ) for prompt length T: total initial decay ρ = 0.2 for scalar, 2 for vector, 0.03 with the sign-change start; 'none' keeps GLAModel's 3)")
    p.add_argument("--restarts", type=integer(0, 100), default=None,
                   help="restarts from a new initialisation of a run that the probe at 30%% of the steps finds "
                        "on the plateau near risk 1, (with --trap-action restart) in the rank-one label trap, or "
                        "(scalar gating) still at the linear-attention level when the scalar optimum is below it "
                        "(default 4, vector 0; 0 = off)")
    p.add_argument("--trap-action", choices=["restart", "rewrite"], default=None,
                   help="what the probe does with a run whose weights are in the rank-one label trap: restart "
                        "it from the label-split start (default; uses a restart, rewrite when none is left) or "
                        "rewrite its weights out of the trap and train on (default for vector; a rewrite "
                        "is also made before the probe, at the second periodic evaluation in a row from "
                        "step 400 on that reads the trap)")
    p.add_argument("--sign-change-start", choices=["auto", "on", "off"], default=None,
                   help="the start of a vector model whose optimal weights change sign: twice the key width and "
                        "gates starting nearly open (total initial decay 0.03 instead of 2). auto (default for "
                        "vector) applies it when the vector optimum's weights change sign and the best one-signed weights "
                        "are at least 1%% worse, and prints why or why not; an "
                        "explicit --key-dim or --init-gate-bias is kept (docs/training.md, \"Vector gating at "
                        "the edges\")")
    p.add_argument("--init-label-split", action="store_true",
                   help="start with no key reading the label and the value's read-out reading only the label "
                        "(avoids the rank-one label trap from the start; default off: it slows some vector runs, "
                        "docs/training.md)")
    p.add_argument("--seed", type=TRAIN_SEED, default=0, help="seed of the initialisation; data/eval seeds are seed+1..+3")
    p.add_argument("--eval-prompts", type=integer(2, 10**8), default=None, help="periodic held-out set size (default 4096)")
    p.add_argument("--final-prompts", type=integer(2, 10**9), default=None, help="final held-out prompts (default 100000)")
    p.add_argument("--no-control-variate", action="store_true",
                   help="report the plain mean (the control-variate estimate uses the class-optimal WPGD predictor)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--threads", type=integer(1, 1024), default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--out", metavar="DIR", default=None, help="run folder (default results/train/<spec>-<model>-L<layers>-s<seed>)")
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in --out (overwrite)")
    p.add_argument("--json", action="store_true", help="print metrics.json instead of text")
    p.add_argument("--allow-gap", action="store_true",
                   help="exit 0 even when the run ends outside its tolerance (the WARNING and status remain)")


def _command_line(args, out: Path) -> str:
    """The ``wpgd train`` command that continues this run (the flags given, with --out, without --no-resume)."""
    import argparse
    import shlex

    p = argparse.ArgumentParser(add_help=False)
    add_arguments(p)
    words = ["wpgd", "train"]
    for action in p._actions:
        dest = action.dest
        if dest in ("no_resume", "out", "help") or not action.option_strings:
            continue
        val = getattr(args, dest, None)
        if val is None or val == action.default or val is False:
            continue
        words.append(action.option_strings[0])
        if val is not True:
            words.append("none" if val == _NONE else str(val))
    words += ["--out", str(out)]
    return shlex.join(words)


def _zero_note(m: dict, cfg) -> str:
    """The note of a converged run whose interval contains predicting zero (normalised risk 1):
    the optimum's gain is within the tolerance, so the verdict does not show that the run learned
    (convergence.py, "A small gain")."""
    lo, hi = m["gain_recovered_ci"]
    optimum = m["references"][0]["normalized_risk"]
    zero_gap = 1 / optimum - 1
    why = (f"and it is only {zero_gap:+.2%} from the {m['target']} {optimum:.5f}, within the {m['tolerance']:.0%} "
           f"tolerance" if zero_gap <= m["tolerance"] else
           f"which is {zero_gap:+.2%} from the {m['target']} {optimum:.5f}, outside the {m['tolerance']:.0%} "
           "tolerance, but the interval is that wide")
    return (f"note             predicting zero (risk 1) is inside this run's 95% CI, {why}, "
            f"so \"converged\" does not show that the run learned. It recovered {m['gain_recovered']:.0%} of that gain "
            f"(95% CI [{lo:.0%}, {hi:.0%}]). More --final-prompts narrow the interval; more steps (--steps "
            f"{2 * cfg.steps} continues this run) or another --seed may learn more")


def _warning(m: dict, cfg) -> str:
    """The closing ``WARNING:`` line of a run that ended outside its tolerance, with what to try
    for the failure at hand: a run in the label trap needs a new start, not more steps."""
    from wpgd.numerics.nn.train_config import (
        SIGN_CHANGE_START_MISS,
        SIGN_CHANGE_START_RECORD,
        WEAK_SIGNAL_BATCH_FACTOR,
        weak_gain,
    )
    from wpgd.numerics.nn.training import rerun_how

    attempts = m.get("attempts", 1)
    rerun = m.get("auto_rerun") or {}
    if in_label_trap(m):
        hint = ["another --seed"]
        if not cfg.init_label_split:
            hint.append("--init-label-split (no key reads the label at the start)")
        hint.append("--no-resume with either (more steps do not leave the trap)")
    else:
        # a kept re-run is continued with its start and batch (training._as_rerun maps only its own steps)
        flags = _rerun_flags(rerun) if rerun.get("kept") != "first" else ""
        hint = [f"more steps (--steps {2 * cfg.steps}{flags} continues this run from its checkpoint)", "another --seed"]
        if "plateau" in m.get("restart_reasons", []):
            hint.append(f"a smaller --lr (the run restarted {attempts - 1} time(s), from the plateau near risk 1)")
    gain = weak_gain(((m.get("references") or [{}])[0]).get("normalized_risk"))
    if gain is not None:  # first: with a weak signal the label trap too is where the noise leaves a run
        tried = (rerun.get("changes") or {}).get("batch_size")  # the weak-signal re-run's larger batch
        batch = max(cfg.batch_size, tried or 0)
        also = f"; the automatic re-run's batch of {tried} was not enough" if tried else ""
        hint.insert(0, f"a larger batch (--batch-size {WEAK_SIGNAL_BATCH_FACTOR * batch} --no-resume: the "
                       f"{m['target']} is only {gain:.1%} below predicting zero, so a batch's gradient is "
                       f"mostly noise{also})")
    text = (f"WARNING: not converged: {m['reason']}. Try {', '.join(hint)}; see docs/training.md and "
            "docs/training-runs.md (exit status 3; --allow-gap keeps 0)")
    refs = m.get("references") or [{}]
    sign_change = getattr(cfg, "model", None) == "vector" and refs[0].get("weights_change_sign")
    if rerun and not sign_change:  # (a sign-changing vector optimum says it below, with the start)
        if rerun.get("kept") == "first":
            text += (f". Its automatic re-run {rerun_how(rerun)} ended worse on the periodic held-out set, so this "
                     "first run was kept")
        elif rerun.get("weak_signal_gain") is not None:
            text += (f". This is the automatic re-run {rerun_how(rerun)} of a run that missed with the class optimum "
                     f"only {rerun['weak_signal_gain']:.1%} below predicting zero, and it still missed")
    if sign_change:
        text += (". The vector optimum's weights change sign, which a vector GLA reaches only as the difference "
                 "of two groups of key channels of opposite sign; a run can sit on one-signed weights for a long "
                 "time, with one group lost or not yet formed")
        text += _one_signed_reading(refs[0])
        how = rerun_how(rerun) if rerun else ""
        if rerun and rerun.get("kept") == "first":
            text += (f". Its automatic re-run {how} ended worse on the periodic held-out set, so "
                     "this first run was kept; try another --seed with --no-resume")
        elif rerun and rerun.get("weak_signal_gain") is not None:
            text += (f". This is the automatic re-run {how} of a run that missed with the class optimum only "
                     f"{rerun['weak_signal_gain']:.1%} below predicting zero, and it still missed")
        elif rerun and rerun.get("start") == "plain":
            text += (f". This is the automatic re-run {how} of a run with the sign-change start that ended above the "
                     "best one-signed weights' risk, and it still missed; try another --seed with --no-resume")
        elif rerun:
            text += (f". This is the automatic re-run {how} of a {rerun['from']}-step run that "
                     "ended there, and it still missed; try another --seed with --no-resume")
        elif getattr(cfg, "sign_change_start", None) is True:
            text += (f". This run had the sign-change start (twice the key width, gates starting nearly open), "
                     f"which landed {SIGN_CHANGE_START_RECORD} on the measured case, but {SIGN_CHANGE_START_MISS}; "
                     f"so try a fresh run with three times the steps (--steps {3 * cfg.steps} --no-resume) first, "
                     "another --seed with --no-resume second")
        else:
            text += (f". The sign-change start (--sign-change-start on, with --no-resume: twice the key width, "
                     f"gates starting nearly open) landed {SIGN_CHANGE_START_RECORD} on the measured case")
        text += ' (docs/training.md, "Vector gating at the edges")'
    return text


def _rerun_flags(rerun: dict) -> str:
    """The ``wpgd train`` flags that continue a kept automatic re-run past its steps: its start and
    batch, where they differ from the call's (``training._auto_rerun``'s ``changes``)."""
    changes = rerun.get("changes") or {}
    flags = " --sign-change-start off" if changes.get("sign_change_start") is False else ""
    return flags + (f" --batch-size {changes['batch_size']}" if "batch_size" in changes else "")


def _kept(rerun: dict, rerun_file: Path | None) -> str:
    """Which of the two runs the result is (``training._keep_better``), for the ``re-run`` line;
    ``rerun_file`` is where a discarded re-run's checkpoint is."""
    if "kept" not in rerun:  # a run folder written before the better run was kept
        return ""
    held = (f"{rerun['rerun_heldout_risk']:.5f} against the first run's {rerun['first_heldout_risk']:.5f}"
            if rerun.get("first_heldout_risk") is not None else "the first run's checkpoint was missing")
    if rerun["kept"] == "re-run":
        return f"; the re-run is kept (periodic held-out risk {held})"
    ev = rerun["rerun_evaluation"]
    where = f" (its checkpoint: {rerun_file})" if rerun_file is not None else ""
    return (f"; the re-run ended worse (periodic held-out risk {held}; final {ev['normalized_risk']:.5f}, "
            f"{ev['gap']:+.2%}), so this first run is kept and shown{where}")


def _one_signed_reading(ref: dict) -> str:
    """What the trained risk says about the two groups, read against the best one-signed weights'
    risk in the vector reference (``convergence.one_signed_position``); empty when it is not there."""
    where = one_signed_position(ref)
    if where is None:
        return ""
    r1, gap = ref["one_signed_normalized_risk"], ref["one_signed_gap"]
    lo, hi = ref["one_signed_gap_ci"]
    text = f"{r1:.5f}; the trained risk is {100 * gap:+.2f}% from it, 95% CI [{100 * lo:+.2f}%, {100 * hi:+.2f}%]"
    if where == "at":
        return (f". This run is at the risk of the best one-signed weights ({text}), "
                "as a run that lost one of the two groups, or has not yet formed it, would be")
    if where == "above":
        return (f". This run is above even the best one-signed weights' risk ({text}), so a lost group "
                "is not the whole miss")
    return (f". This run is below the best one-signed weights' risk ({text}): it uses the sign change, "
            "and more steps may help")


def run(args) -> int:
    import signal
    import sys

    from wpgd.numerics.nn.training import (
        FIRST_RUN_FILE,
        RERUN_FILE,
        TrainConfig,
        TrainingInterrupted,
        train,
        with_overrides,
    )

    problem = load_spec(args.spec)
    device = resolve_device(args.device)
    if args.seed < 0:
        raise InvalidProblemError("--seed must be ≥ 0")
    cfg = with_overrides(
        TrainConfig.for_model(args.model, layers=args.layers, seed=args.seed, data_seed=args.seed + 1,
                    eval_seed=args.seed + 2, final_seed=args.seed + 3, device=device, threads=args.threads,
                    progress=not args.json, control_variate=not args.no_control_variate),
        steps=args.steps, auto_rerun=args.auto_rerun, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        schedule=args.schedule, clip=args.clip, key_dim=args.key_dim, num_heads=args.heads,
        delimiter=args.delimiter, context=args.context, train_pool=args.train_pool, dtype=args.dtype,
        mode=args.mode, init_value_scale=args.init_value_scale, eval_prompts=args.eval_prompts, final_prompts=args.final_prompts,
        init_label_split=True if args.init_label_split else None, trap_action=args.trap_action,
        whiten_features=None if args.feature_basis is None else args.feature_basis == "whitened",
    )
    if args.init_gate_bias is not None:
        cfg = replace(cfg, init_gate_bias=None if args.init_gate_bias == _NONE else args.init_gate_bias)
    if args.restarts is not None:
        cfg = replace(cfg, restarts=args.restarts)
    if args.sign_change_start is not None:
        cfg = replace(cfg, sign_change_start={"auto": "auto", "on": True, "off": False}[args.sign_change_start])
    from wpgd.numerics.nn.step_timing import require_run

    def log(msg: str) -> None:
        print(f"wpgd train: {msg}", file=sys.stderr, flush=True)

    cfg = cfg.resolved(problem)  # derived defaults (step budget, lr, gate bias): train_config
    require_run(problem, cfg, log=log)  # the flop model, then a measurement where it refuses
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(args.spec).stem)
    out = Path(args.out) if args.out else Path("results") / "train" / f"{stem}-{args.model}-L{args.layers}-s{args.seed}"
    if args.no_resume:  # with an earlier run's automatic re-run files (training._keep_better)
        for name in ("checkpoint.pt", FIRST_RUN_FILE, RERUN_FILE):
            if (out / name).exists():
                (out / name).unlink()
    if not args.json:
        print(cfg.steps_rule)  # how the step budget was chosen (train_config.step_budget)
        from wpgd.numerics.nn.train_config import sign_change_start_note

        note = sign_change_start_note(cfg, problem)
        if note is not None:
            print(note)

    try:
        res = train(problem, cfg, out, resume=not args.no_resume, extra_config={"spec": str(args.spec)}, log=log)
    except TrainingInterrupted as exc:
        name = "SIGTERM" if exc.signum == signal.SIGTERM else "SIGINT"
        if exc.step is None:
            log(f"interrupted by {name} during {exc.phase}; no checkpoint was written")
        else:
            where = "" if exc.phase == "training" else f" during the {exc.phase}"
            log(f"interrupted by {name}{where}; checkpoint saved at step {exc.step} of {exc.steps} in {exc.checkpoint}")
            log(f"resume with: {_command_line(args, out)}")
        return 143 if exc.signum == signal.SIGTERM else 130
    m = res.metrics
    cfg = replace(cfg, steps=m.get("steps", cfg.steps))  # an automatic re-run has more steps than planned
    code = 0 if m["status"] != "not_converged" or args.allow_gap else 3
    if args.json:
        print_json(m)
        return code
    print(f"run folder       {out}")
    print(f"model            {m['model']}, {m['layers']} layer(s), key width {m['key_dim']}, "
          f"n = {m['n']}, d = {m['d']}, {cfg.steps} steps")
    lo, hi = m["normalized_ci"]
    print(f"trained risk     {m['normalized_risk']:.5f}  95% CI [{lo:.5f}, {hi:.5f}] "
          f"(±{m['rel_ci_halfwidth']:.2%}, {m['plain']['samples']} fresh prompts, {m['estimator']})")
    for r in m["references"]:
        print(f"theory           {r['normalized_risk']:.5f}  {r['label']}   gap {r['gap']:+.2%}")
    for note in m["reference_notes"]:
        print(f"note             {note}")
    restarts = [h for h in res.history if h.get("restart")]
    if restarts:
        reasons = ", ".join(f"{sum(h.get('reason', 'plateau') == r for h in restarts)} {what}"
                            for r, what in (("plateau", "from the plateau near risk 1"),
                                            ("label trap", "from the label trap (then from the label-split start)"),
                                            ("linear level", "from the linear-attention level (then from the "
                                                             "recency start)"))
                            if any(h.get("reason", "plateau") == r for h in restarts))
        print(f"restarts         {len(restarts)}: {reasons} (the probe at step {restarts[0]['step']})")
    rerun = m.get("auto_rerun")
    if rerun:
        first = rerun["first_evaluation"]
        if rerun.get("weak_signal_gain") is not None:
            where = (f", with the class optimum only {rerun['weak_signal_gain']:.1%} below predicting zero (a weak "
                     "signal: a larger batch)")
        else:
            where = (f" {'above' if rerun.get('start') == 'plain' else 'at or below'} the best one-signed weights' "
                     "risk")
        from wpgd.numerics.nn.training import rerun_how

        state = (f"inside its tolerance but with predicting zero inside its 95% interval (it learned "
                 f"{first['gain_recovered']:.0%} of the gain)" if rerun.get("learned_nothing") else "outside its tolerance")
        print(f"re-run           automatically, {rerun_how(rerun)}: the {rerun['from']}-step run ended at "
              f"{first['normalized_risk']:.5f} ({first['gap']:+.2%} from the class optimum), {state}"
              f"{where}{_kept(rerun, out / RERUN_FILE)}")
    for h in m.get("label_trap_repairs", []):
        print(f"label trap       moved out of the rank-one label trap at step {h['step']} of attempt {h['attempt'] + 1} "
              f"(label-trap share {h['label_trap_share']:.2f}, "
              f"{'the early test: two readings in a row' if h.get('early') else 'at the probe'})")
    if m["status"] == "not_converged":
        print(_warning(m, cfg))
    elif m["status"] == "converged":
        print(f"status           converged (within {m['tolerance']:.0%} of the {m['target']})")
        if m.get("indistinguishable_from_zero"):
            print(_zero_note(m, cfg))
    else:
        print(f"status           {m['status']} ({m['reason']})")
    return code
