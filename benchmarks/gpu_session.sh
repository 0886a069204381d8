#!/usr/bin/env bash
# The GPU measurements of issue 9 in one prepared run (a lent GPU machine is short of time, not
# memory): a CUDA smoke test, the paper's-scale grid (`wpgd experiment highdim --device cuda`),
# then the throughput benchmarks on the GPU. Each phase has its own deadline, counted from the
# start, so a slow phase costs the ones after it and never the whole run; everything written
# goes to OUT (default ./gpu-out) as logs, the benchmarks' JSON and one tarball of the grid
# (8 files: the most a device call brings back).
#
#   bash benchmarks/gpu_session.sh                      # OUT=./gpu-out, deadlines for a ~9.5 min call
#   OUT=/tmp/x GRID="--n 10 20 --d 4 --steps 200 --final-prompts 2000" DEVICE=cpu \
#       BENCH_HD="--n 10 --d 4" GRID_END=60 TOTAL_END=90 \
#       bash benchmarks/gpu_session.sh                  # a dry run on a CPU
#
# Needs python3 with torch, numpy, scipy, sympy, mpmath, matplotlib, tqdm and pytest; runs the
# repository in place (PYTHONPATH), with no install.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-./gpu-out}"
DEVICE="${DEVICE:-cuda}"
GRID="${GRID:-}"                  # extra flags of the grid (a dry run shrinks it)
GRID_END="${GRID_END:-420}"       # seconds from the start at which the grid is stopped (SIGTERM: runs checkpoint)
TOTAL_END="${TOTAL_END:-560}"     # seconds from the start by which everything has stopped
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 WPGD_PROGRESS=1 WPGD_MAX_SECONDS=1000000
start=$(date +%s)
left() { local s=$(( $1 - ($(date +%s) - start) )); echo $(( s > 5 ? s : 5 )); }  # never 0: timeout 0 waits forever
phase() { echo "== $1 at +$(( $(date +%s) - start )) s" | tee -a "$OUT/phases.log"; }

phase env
{ nvidia-smi -L 2>&1; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  python3 -c 'import torch, numpy, scipy, sympy, sys; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "numpy", numpy.__version__, "scipy", scipy.__version__, "sympy", sympy.__version__)'
  nproc; } >"$OUT/smoke.log" 2>&1

phase "cuda tests and a training smoke test"
timeout 60 python3 -m pytest -q -p no:cacheprovider tests/numerics/test_gla.py >>"$OUT/smoke.log" 2>&1
echo "pytest test_gla.py exit $?" >>"$OUT/smoke.log"
timeout 45 python3 -m wpgd train --spec docs/training_grid/d3_id_2seg_signchange.toml --model scalar \
    --device "$DEVICE" --final-prompts 20000 --out /tmp/gpu-smoke --allow-gap >>"$OUT/smoke.log" 2>&1
echo "wpgd train smoke exit $?" >>"$OUT/smoke.log"

phase "highdim grid"
# shellcheck disable=SC2086
timeout "$(left "$GRID_END")" python3 -m wpgd experiment highdim --device "$DEVICE" --jobs 8 \
    --out /tmp/gpu-highdim $GRID >"$OUT/highdim.log" 2>&1
echo "highdim exit $?" >>"$OUT/highdim.log"
tar czf "$OUT/highdim.tar.gz" -C /tmp --exclude='*.pt' gpu-highdim 2>>"$OUT/highdim.log"

phase "bench_train"
if [ "$DEVICE" = cuda ]; then
    timeout "$(( $(left "$TOTAL_END") / 2 ))" python3 benchmarks/bench_train.py --device cuda --steps 30 \
        --json "$OUT/bench_train_cuda.json" >"$OUT/bench_train.log" 2>&1
    echo "bench_train exit $?" >>"$OUT/bench_train.log"
fi

phase "bench_highdim"
# shellcheck disable=SC2086
timeout "$(left "$TOTAL_END")" python3 benchmarks/bench_highdim.py --device "$DEVICE" --steps 10 ${BENCH_HD:-} \
    --json "$OUT/bench_highdim_$DEVICE.json" >"$OUT/bench_highdim.log" 2>&1
echo "bench_highdim exit $?" >>"$OUT/bench_highdim.log"
phase done
