"""Fits of the gated GD++ class with label rescaling for docs/multilayer.md §3.

Run from the repository root: ``python docs/multilayer_runs/fit_rescale.py a_d5_L3 s3_d5_L3 ...`` (job
names below); each writes results/fits/JOB.json. docs/multilayer_runs/rescale_fits.json holds the
committed values.
"""

import json
import sys
import time
from pathlib import Path

import torch

from wpgd.numerics.experiments.experiments import MULTILAYER_PANELS
from wpgd.numerics.nn.gdpp_optimum import gdpp_optimum

JOBS = {
    "a_d10_L3": ("a", 20, 10, 3, dict(train_prompts=4096, restarts=2, eval_prompts=100_000)),
    "a_d10_L2": ("a", 20, 10, 2, dict(train_prompts=8192, restarts=3, eval_prompts=100_000)),
    "a_d5_L1": ("a", 10, 5, 1, dict(train_prompts=8192, restarts=3)),
    "a_d5_L2": ("a", 10, 5, 2, dict(train_prompts=8192, restarts=3)),
    "a_d5_L3": ("a", 10, 5, 3, dict(train_prompts=8192, restarts=3)),
    "s3_d5_L3": ("s3", 12, 5, 3, dict(train_prompts=8192, restarts=3)),
    "s3_d5_L2": ("s3", 12, 5, 2, dict(train_prompts=8192, restarts=3)),
    "s3_d5_L3_N16k": ("s3", 12, 5, 3, dict(train_prompts=16384, restarts=3)),
}


def main(names) -> None:
    torch.set_num_threads(1)
    Path("results/fits").mkdir(parents=True, exist_ok=True)
    for name in names:
        panel, n, d, L, kw = JOBS[name]
        t = time.time()
        res = gdpp_optimum(MULTILAYER_PANELS[panel].problem(n, d), L, seed=0, progress=True, **kw)
        res["job"] = {"panel": panel, "n": n, "d": d, "L": L, **kw}
        Path(f"results/fits/{name}.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
        print(name, res["normalized_risk"], res["normalized_ci"], res["nested_fits"], round(time.time() - t), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
