"""Resource guards: estimate memory and time before starting, refuse what would not finish.

Every computation whose size the user controls (feature dimension, prompt length, number of
segments, Monte Carlo samples, mpmath digits, training batch and width) calls
:func:`require_memory` / :func:`require_time` with an estimate *before* allocating. A refusal
is a :class:`~wpgd.numerics.core.errors.ResourceLimitError` (an ``InvalidProblemError``: the CLI prints one
line and exits 2) that states the estimate and the limit.

Limits (environment variables; ``inf`` disables a guard):

* ``WPGD_MAX_MEMORY_GB``: the largest estimated working set, default the smaller of 16 GB and
  70% of the machine's physical memory.
* ``WPGD_MAX_SECONDS``: the largest estimated run time, default 3600 s. Time estimates assume a
  throughput of :data:`FLOPS` floating-point operations per second (a conservative figure for
  one core; estimates are meant to catch orders of magnitude, not to predict run times); training
  on CUDA uses a throughput measured on the device (:func:`training_flops_per_second`).
"""

from __future__ import annotations

import math
import os

from wpgd.numerics.core.errors import ResourceLimitError

__all__ = [
    "MEMORY_ENV",
    "SECONDS_ENV",
    "DEFAULT_SECONDS",
    "FLOPS",
    "memory_limit",
    "time_limit",
    "require_memory",
    "require_time",
    "require_seconds",
    "require_training",
    "require_trainings",
    "training_seconds",
    "TRAINING_RUN_SECONDS",
    "require_eigh",
    "training_flops_per_second",
    "format_bytes",
]

MEMORY_ENV = "WPGD_MAX_MEMORY_GB"
SECONDS_ENV = "WPGD_MAX_SECONDS"
FLOPS = 2e9
"""Assumed floating-point operations per second of a time estimate."""

DEFAULT_SECONDS = 3600.0
"""Default time limit (``WPGD_MAX_SECONDS`` unset) of everything but one ``wpgd train`` run."""
TRAINING_RUN_SECONDS = 4 * 3600.0
"""Default time limit of one ``wpgd train`` run (measured, ``wpgd.numerics.nn.step_timing.require_run``):
it shows its progress and checkpoints, and Ctrl-C keeps the work, so the derived step budgets of
the supported range up to d = 128 (scalar: about 40 min on one idle CPU core) run without
``WPGD_MAX_SECONDS``."""


def _physical_memory() -> float | None:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _env_float(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        val = float(raw)
    except ValueError:
        raise ResourceLimitError(f"{name} must be a positive number (or inf), got {raw!r}") from None
    if not val > 0:  # also NaN
        raise ResourceLimitError(f"{name} must be a positive number (or inf), got {raw!r}")
    return val


def memory_limit() -> float:
    """The memory limit in bytes (``WPGD_MAX_MEMORY_GB``, else min(16 GB, 70% of RAM))."""
    gb = _env_float(MEMORY_ENV)
    if gb is not None:
        return gb * 1e9
    phys = _physical_memory()
    default = 16e9
    return min(default, 0.7 * phys) if phys else default


def time_limit(default: float = DEFAULT_SECONDS) -> float:
    """The time limit in seconds (``WPGD_MAX_SECONDS``, else ``default``: 3600, or
    :data:`TRAINING_RUN_SECONDS` for one checkpointed training run)."""
    val = _env_float(SECONDS_ENV)
    return default if val is None else val


def format_bytes(n: float) -> str:
    """``1.6e+10`` → ``"16 GB"`` (decimal units)."""
    if not math.isfinite(n):
        return "∞"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _format_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "∞"
    if s >= 86400 * 365:
        return f"{s / (86400 * 365):.3g} years"
    if s >= 86400:
        return f"{s / 86400:.3g} days"
    if s >= 3600:
        return f"{s / 3600:.3g} h"
    return f"{s:.3g} s"


def require_memory(what: str, nbytes: float) -> None:
    """Refuse when the estimated working set ``nbytes`` of ``what`` exceeds :func:`memory_limit`.

    Raises:
        ResourceLimitError: with the estimate, the limit and how to raise it.
    """
    limit = memory_limit()
    if not nbytes <= limit:
        raise ResourceLimitError(
            f"{what} needs about {format_bytes(nbytes)} of memory, over the limit of {format_bytes(limit)} "
            f"(set {MEMORY_ENV} to raise it)"
        )


def require_time(what: str, flops: float) -> None:
    """Refuse when the estimated run time (``flops`` / :data:`FLOPS`) exceeds :func:`time_limit`.

    Raises:
        ResourceLimitError: with the estimate, the limit and how to raise it.
    """
    require_seconds(what, flops / FLOPS)


def require_seconds(what: str, seconds: float, default_limit: float = DEFAULT_SECONDS) -> None:
    """Refuse when the estimated run time ``seconds`` of ``what`` exceeds :func:`time_limit`
    (``default_limit`` when ``WPGD_MAX_SECONDS`` is unset).

    Raises:
        ResourceLimitError: with the estimate, the limit and how to raise it.
    """
    limit = time_limit(default_limit)
    if not seconds <= limit:
        raise ResourceLimitError(
            f"{what} would take about {_format_seconds(seconds)} (estimate), over the limit of "
            f"{_format_seconds(limit)} (set {SECONDS_ENV} to raise it)"
        )


def require_eigh(what: str, m: int) -> None:
    """Refuse an m×m symmetric eigendecomposition (its ~6 m×m float64 work arrays, ~10·m³ flops)
    that would exceed the limits: for Σ, a dense task matrix, and a square ``.npy`` file read from
    its header before it is loaded.

    Raises:
        ResourceLimitError: with the estimate, the limit and how to raise it.
    """
    require_memory(f"{what} ({m}×{m})", 6.0 * 8.0 * float(m) ** 2)
    require_time(f"the eigendecomposition of {what} ({m}×{m})", 10.0 * float(m) ** 3)


def training_flops_per_second(device: str = "cpu") -> float:
    """Throughput assumed by a training-time estimate on ``device``.

    CPU: :data:`FLOPS` (conservative: ``wpgd experiment figure1`` is estimated at ~6× and the
    highdim grid at ~65× their measured times on the two-core development machine, docs/training.md
    and docs/training-runs.md). CUDA: measured once per process and device by a short calibration
    (float32 products of size 2048, ~0.1 s) divided by :data:`TRAINING_EFFICIENCY`, never below
    :data:`FLOPS` (with the CPU figure a GPU run was refused ~100× too early); a failed calibration
    gives :data:`FLOPS`.
    """
    dev = str(device or "cpu")
    if not dev.startswith("cuda"):
        return FLOPS
    if dev not in _CALIBRATED:
        _CALIBRATED[dev] = max(FLOPS, _calibrate(dev) / TRAINING_EFFICIENCY)
    return _CALIBRATED[dev]


TRAINING_EFFICIENCY = 4.0
"""Ratio of a large matrix product's measured rate to the rate assumed for training."""

_CALIBRATED: dict = {}


def _calibrate(device: str) -> float:
    """Measured float32 matrix-product rate (flop/s) on ``device``; :data:`FLOPS` ×
    :data:`TRAINING_EFFICIENCY` when unavailable."""
    import time

    try:
        import torch

        cuda = device.startswith("cuda")
        size, reps = (2048, 4) if cuda else (256, 4)
        a = torch.randn(size, size, device=device)
        b = torch.randn(size, size, device=device)
        sync = (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)  # noqa: E731
        torch.mm(a, b)
        sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        sync()
        return reps * 2.0 * size**3 / max(time.perf_counter() - t0, 1e-9)
    except Exception:  # noqa: BLE001 - no PyTorch or no usable device: the conservative figure
        return FLOPS * TRAINING_EFFICIENCY


def _device_memory(device: str) -> float | None:
    dev = str(device or "cpu")
    if not dev.startswith("cuda"):
        return None
    try:  # pragma: no cover  (needs a GPU)
        import torch

        return 0.9 * float(torch.cuda.get_device_properties(torch.device(dev)).total_memory)
    except Exception:  # noqa: BLE001
        return None


def _training_estimate(problem, config) -> tuple[float, float, str]:
    """(bytes, flops, description) of one training run (see :func:`require_training`)."""
    if hasattr(config, "resolved") and (config.steps is None or getattr(config, "sign_change_start", False) == "auto"):
        config = config.resolved(problem)  # the derived step budget and start (key width)
    n, d, k = problem.n, problem.d, problem.num_segments or 1
    t_len, width = float(n + k + 1), float(d + k + 3)
    from wpgd.numerics.core.vocabulary import MODEL_KINDS, trained_key_width

    model = str(getattr(config, "model", ""))
    key_dim = getattr(config, "key_dim", None)
    factor = int(getattr(config, "effective_key_width_factor", None) or getattr(config, "key_width_factor", 1) or 1)
    if model in MODEL_KINDS:  # the width the trainer builds (token width: its upper bound w)
        m = float(trained_key_width(model, d, k, int(width), key_dim, factor))
    else:
        m = float(key_dim or max(2 * d, width))
    layers, heads = float(config.layers), float(config.num_heads)
    itemsize = 8.0 if config.dtype == "float64" else 4.0
    per_prompt = t_len * (width + 4 * m) * layers * 4 + t_len * t_len * heads * max(layers - 1, 0)
    batch = float(max(config.batch_size, config.eval_batch))
    flops_prompt = 8.0 * t_len * width * m * layers + 2.0 * t_len * t_len * m * max(layers - 1, 0)
    steps = float(config.steps)
    evals = float(config.eval_prompts) * (steps / max(config.eval_every, 1) + 1) + float(config.final_prompts)
    total = flops_prompt * (3.0 * steps * float(config.batch_size) + evals)
    what = (f"training ({config.steps} steps × batch {config.batch_size}, n = {n}, key width {int(m)}, "
            f"{config.layers} layer(s))")
    return itemsize * batch * per_prompt, total, what


def training_seconds(problem, config) -> float:
    """The flop model's run time of one training run (seconds at :func:`training_flops_per_second`
    of ``config.device``; the estimate :func:`require_training` holds against the limit)."""
    return _training_estimate(problem, config)[1] / training_flops_per_second(str(getattr(config, "device", "cpu")))


def require_training(problem, config) -> None:
    """Refuse a training run (``wpgd.numerics.nn.train_config.TrainConfig``) whose estimated memory or time
    exceeds the limits. Upper-bound estimate: prompts of T = n + K + 1 tokens of width
    w = d + K + 3, key width m (the trainer's: the config's, else ``key_width_factor`` × 2d for
    vector gating, 4d by default, and × w otherwise), float32/64 activations of every
    layer kept for the backward pass, T×T scores of the parallel kernel, and ~8·T·w·m·layers flops
    per prompt and pass (×3 for the backward pass) over the training steps and the evaluations,
    at :func:`training_flops_per_second` of ``config.device``.

    Raises:
        ResourceLimitError: with the estimate, the limit and how to raise it.
    """
    require_trainings([(problem, config)])


def require_trainings(runs, parallel: int = 1, seconds: float | None = None,
                      default_limit: float = DEFAULT_SECONDS) -> None:
    """Refuse a set of training runs (``(problem, config)`` pairs, e.g. an experiment's), ``parallel``
    at a time, when one run's memory (× ``parallel``) or the total estimated time (÷ ``parallel``)
    exceeds the limits; a CUDA run's memory is held against the device's memory instead of
    ``WPGD_MAX_MEMORY_GB``. Time at :func:`training_flops_per_second` of each run's device, or
    ``seconds`` when given: a measured wall-clock estimate of the whole set (already divided by
    ``parallel``; ``wpgd.numerics.experiments.highdim.estimated_seconds``), which replaces the flop model.
    ``default_limit`` is the time limit when ``WPGD_MAX_SECONDS`` is unset.

    Raises:
        ResourceLimitError: with the estimate, the limit and how to raise it.
    """
    runs = list(runs)
    if not runs:
        return
    par = min(max(1, int(parallel)), len(runs))
    total, host_bytes, longest = 0.0, 0.0, (-1.0, "")
    for problem, config in runs:
        nbytes, flops, what = _training_estimate(problem, config)
        device = str(getattr(config, "device", "cpu"))
        total += flops / training_flops_per_second(device)
        longest = max(longest, (flops, what))
        dev_mem = _device_memory(device)
        if dev_mem is None:
            host_bytes = max(host_bytes, nbytes)
        elif not nbytes * par <= dev_mem:  # activations live on the device: its memory is the limit
            raise ResourceLimitError(f"{what} needs about {format_bytes(nbytes * par)} of device memory, over "
                                     f"the {format_bytes(dev_mem)} that {device} holds")
    label = longest[1] if len(runs) == 1 else f"{len(runs)} training runs, {par} at a time (longest: {longest[1]})"
    require_memory(label, host_bytes * par)
    require_seconds(label, total / par if seconds is None else float(seconds), default_limit)
