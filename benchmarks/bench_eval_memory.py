"""Resident memory of the final evaluation run off the main thread (as in a Dask worker), with and
without returning free heap pages after each batch (``host_memory.release_free_memory``).

Each side runs in a fresh subprocess: ``training.final_metrics`` of a freshly initialised model on
``--prompts`` held-out prompts, in a ``threading.Thread``, with the allocator policy that ``train``
applies; the process's peak resident set size is printed. The control side replaces
``release_free_memory`` with a no-op (the evaluation before the call was added).

Usage::

    python benchmarks/bench_eval_memory.py                       # d = 100, n = 1000, 32 800 prompts
    python benchmarks/bench_eval_memory.py --n 400 --prompts 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, threading
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
from wpgd.numerics.nn import evaluation
from wpgd.numerics.nn.host_memory import retain_freed_memory
from wpgd.numerics.experiments.highdim import HIGHDIM_PANEL, train_config_for, HighdimConfig
from wpgd.numerics.nn.train_config import build_model, default_key_dim
from wpgd.numerics.nn.prompts import PromptSampler
from wpgd.numerics.nn.training import final_metrics
policy = retain_freed_memory()
if {control!r}:
    evaluation.release_free_memory = lambda: False
pr = HIGHDIM_PANEL.problem({n}, {d})
cfg = train_config_for(HighdimConfig(d={d}), {model!r}, {n})
cfg = type(cfg).from_dict({{**cfg.to_dict(), "final_prompts": {prompts}}}).resolved(pr)
s = PromptSampler(pr, cfg.prompt_format_for(pr), dtype=cfg.torch_dtype)
kd = default_key_dim(cfg, pr, s.token_dim)
m = build_model(cfg, s.token_dim, kd)
out = {{}}
th = threading.Thread(target=lambda: out.update(final_metrics(m, pr, cfg, s, kd)))
th.start(); th.join()
print(json.dumps({{"policy": policy, "eval_batch": cfg.eval_batch,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=100, help="feature dimension (default 100)")
    ap.add_argument("--n", type=int, default=1000, help="demonstrations (default 1000)")
    ap.add_argument("--model", default="linear", choices=["linear", "scalar"], help="model family (default linear)")
    ap.add_argument("--prompts", type=int, default=32_800, help="held-out prompts (default 32 800: 200 batches at n = 1000)")
    ap.add_argument("--json", metavar="FILE", default=None, help="also write the rows as JSON")
    args = ap.parse_args(argv)
    rows = []
    print("| side | policy | eval batch | peak RSS MiB |")
    print("|---|---|---:|---:|")
    for control in (False, True):
        code = CHILD.format(root=str(ROOT), control=control, n=args.n, d=args.d, model=args.model, prompts=args.prompts)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        row = {"side": "control (no release)" if control else "release per batch", **json.loads(res.stdout.splitlines()[-1])}
        rows.append(row)
        print(f"| {row['side']} | {row['policy']} | {row['eval_batch']} | {row['peak_rss_mib']:.0f} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
