"""The query-only GLA kernel: a scalar decay applied to the T scores (``gla.last_query_gla``) against
the same decay applied to the T×K keys (its form before issue 9), forward + backward, same run.

Usage::

    python benchmarks/bench_last_query.py            # batch 256, one thread, d = 10/100, n = 100/400
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wpgd.numerics.nn.gla import _suffix_sums, last_query_gla, relative_rms  # noqa: E402


def keys_form(q_last, k, v, log_g):
    """The earlier form: decayed keys ``k · exp(suffix sums)``, then the scores."""
    scores = torch.einsum("bhc,bshc->bsh", q_last, k * torch.exp(_suffix_sums(log_g, dim=1)))
    return torch.einsum("bsh,bshv->bhv", scores, v)


def _time(fn, args, reps: int) -> float:
    out = []
    for _ in range(reps + 2):
        xs = [a.detach().requires_grad_(True) for a in args]
        t0 = time.perf_counter()
        fn(*xs).square().sum().backward()
        out.append(time.perf_counter() - t0)
    return statistics.median(out[2:])


def main() -> int:
    torch.set_num_threads(1)
    print("| D = K = V | T | scores form s | keys form s | ratio keys/scores | rel. difference |")
    print("|---|---|---|---|---|---|")
    for width, t_len in ((12, 42), (102, 102), (102, 402)):
        g = torch.Generator().manual_seed(0)
        q = torch.randn(256, 1, width, generator=g)
        k = torch.randn(256, t_len, 1, width, generator=g)
        v = torch.randn(256, t_len, 1, width, generator=g)
        lg = torch.nn.functional.logsigmoid(3 + torch.randn(256, t_len, 1, 1, generator=g))
        new = _time(last_query_gla, (q, k, v, lg), 7)
        old = _time(keys_form, (q, k, v, lg), 7)
        diff = relative_rms(last_query_gla(q.double(), k.double(), v.double(), lg.double()),
                            keys_form(q.double(), k.double(), v.double(), lg.double()))
        print(f"| {width} | {t_len} | {new:.4f} | {old:.4f} | {old / new:.2f} | {diff:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
