#!/usr/bin/env bash
# The GPU measurements of issue 9 in one prepared run (a lent GPU machine is short of time, not
# memory). PHASES names what runs, in order (default: tests grid bench_train bench_highdim):
#   tests         the CUDA tests (test_gla.py, test_cuda.py, test_adamw.py) and a `wpgd train` smoke run
#   grid          the paper's-scale grid (`wpgd experiment highdim --device cuda`)
#   bench_train   benchmarks/bench_train.py on the GPU, alone (its ratio is a timing)
#   bench_highdim benchmarks/bench_highdim.py on the GPU
#   vector        vector gating at d = 100 (docs/training_grid/results/gpu_h200/specs/d100_n*.toml,
#                 VECTOR_N of them side by side) started in the background; the phases after it run
#                 beside it (so put the timed ones before it); stopped at TOTAL_END by SIGTERM (each run
#                 checkpoints), and the same command resumes them while the machine keeps /tmp
# Each phase has its own deadline, counted from the start, so a slow phase costs the ones after it
# and never the whole run; everything written goes to OUT (default ./gpu-out) as logs, the
# benchmarks' JSON and tarballs of the runs (8 files at most: what a device call brings back).
#
#   bash benchmarks/gpu_session.sh                      # OUT=./gpu-out, deadlines for a ~9.5 min call
#   PHASES="bench_train vector tests" VECTOR_N="400 1000" bash benchmarks/gpu_session.sh
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
PHASES="${PHASES:-tests grid bench_train bench_highdim}"
VECTOR_N="${VECTOR_N:-400 1000}"  # the vector phase's prompt lengths (a spec each)
VECTOR_STEPS="${VECTOR_STEPS:-}"  # e.g. "--steps 300" for a dry run
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 WPGD_PROGRESS=1 WPGD_MAX_SECONDS=1000000
start=$(date +%s)
left() { local s=$(( $1 - ($(date +%s) - start) )); echo $(( s > 5 ? s : 5 )); }  # never 0: timeout 0 waits forever
phase() { echo "== $1 at +$(( $(date +%s) - start )) s" | tee -a "$OUT/phases.log"; }

phase env
{ nvidia-smi -L 2>&1; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  python3 -c 'import torch, numpy, scipy, sympy, sys; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "numpy", numpy.__version__, "scipy", scipy.__version__, "sympy", sympy.__version__)'
  nproc; } >"$OUT/smoke.log" 2>&1

tests() {
    phase "cuda tests and a training smoke test"
    timeout "$(left "$TOTAL_END")" python3 -m pytest -q -p no:cacheprovider -rs tests/numerics/test_gla.py \
        tests/numerics/test_cuda.py tests/numerics/test_adamw.py >>"$OUT/smoke.log" 2>&1
    echo "pytest test_gla.py test_cuda.py test_adamw.py exit $?" >>"$OUT/smoke.log"
    timeout 45 python3 -m wpgd train --spec docs/training_grid/d3_id_2seg_signchange.toml --model scalar \
        --device "$DEVICE" --final-prompts 20000 --out /tmp/gpu-smoke --no-resume --allow-gap >>"$OUT/smoke.log" 2>&1
    echo "wpgd train smoke exit $?" >>"$OUT/smoke.log"
}

grid() {
    phase "highdim grid"
    # shellcheck disable=SC2086
    timeout "$(left "$GRID_END")" python3 -m wpgd experiment highdim --device "$DEVICE" --jobs 8 \
        --out /tmp/gpu-highdim $GRID >"$OUT/highdim.log" 2>&1
    echo "highdim exit $?" >>"$OUT/highdim.log"
    tar czf "$OUT/highdim.tar.gz" -C /tmp --exclude='*.pt' gpu-highdim 2>>"$OUT/highdim.log"
}

bench_train() {
    phase "bench_train"
    if [ "$DEVICE" = cuda ]; then
        timeout "$(( $(left "$TOTAL_END") / 2 ))" python3 benchmarks/bench_train.py --device cuda --steps 100 \
            --json "$OUT/bench_train_cuda.json" >"$OUT/bench_train.log" 2>&1
        echo "bench_train exit $?" >>"$OUT/bench_train.log"
        timeout "$(( $(left "$TOTAL_END") / 2 ))" python3 benchmarks/bench_train.py --device cuda --overhead \
            --json "$OUT/bench_train_overhead_cuda.json" >>"$OUT/bench_train.log" 2>&1
        echo "bench_train --overhead exit $?" >>"$OUT/bench_train.log"
    fi
}

bench_highdim() {
    phase "bench_highdim"
    # shellcheck disable=SC2086
    timeout "$(left "$TOTAL_END")" python3 benchmarks/bench_highdim.py --device "$DEVICE" --steps 10 ${BENCH_HD:-} \
        --json "$OUT/bench_highdim_$DEVICE.json" >"$OUT/bench_highdim.log" 2>&1
    echo "bench_highdim exit $?" >>"$OUT/bench_highdim.log"
}

vector_pids=()
vector() {
    phase "vector gating at d = 100 (background until +$TOTAL_END s)"
    mkdir -p /tmp/gpu-vector
    for n in $VECTOR_N; do
        # shellcheck disable=SC2086
        timeout "$(left "$TOTAL_END")" python3 -m wpgd train \
            --spec "docs/training_grid/results/gpu_h200/specs/d100_n$n.toml" --model vector --device "$DEVICE" \
            --final-prompts 20000 --allow-gap --out "/tmp/gpu-vector/n$n" $VECTOR_STEPS \
            >>"/tmp/gpu-vector/n$n.log" 2>&1 &
        vector_pids+=($!)
    done
}

for p in $PHASES; do "$p"; done
if [ ${#vector_pids[@]} -gt 0 ]; then
    for pid in "${vector_pids[@]}"; do wait "$pid"; echo "vector run exit $?" >>"$OUT/phases.log"; done
    tar czf "$OUT/vector.tar.gz" -C /tmp --exclude='*.pt' gpu-vector
fi
phase done
