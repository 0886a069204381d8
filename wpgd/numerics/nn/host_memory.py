"""Keep freed tensor memory in the process heap while training on a CPU (glibc's malloc).

A training step allocates and frees the same large tensors at every step. glibc serves every
allocation above its mmap threshold with a fresh ``mmap`` and returns it with ``munmap`` when
freed, so the kernel hands out (and zero-fills) every page of those tensors again at every step.
The threshold adapts upward to the sizes a program frees, but never above 32 MiB on a 64-bit
system (glibc's ``DEFAULT_MMAP_THRESHOLD_MAX``), and the large tensors of the paper's scale are
bigger than that: at d = 100, n = 100, batch 256, a vector-gated model's gate and key tensors are
256·102·400·4 bytes ≈ 42 MB each. Measured on this project's 2-core CPU
(``python benchmarks/bench_malloc.py``; docs/training-runs.md, "The CPU allocator"), most of such a
step was page faults: 2.5 million minor faults and 4.9 s of system time in 10 steps.

:func:`retain_freed_memory` sets three of glibc's malloc parameters (``mallopt``) so that freed
memory stays in the heap and is reused by the next step: no ``mmap`` for large blocks
(``M_MMAP_MAX`` = 0; glibc still falls back to ``mmap`` when the heap cannot grow), no trimming of
the heap's top (``M_TRIM_THRESHOLD`` = 2³¹ − 1 bytes), and heap growth in steps of 64 MiB
(``M_TOP_PAD``). Numbers are not affected (only where memory comes from); the cost is that the
process keeps its peak heap size until it exits, instead of returning freed tensors' pages.

It is called by :func:`wpgd.numerics.nn.training.train` and by the step timer of the time guards
when the device is the CPU, so it applies to ``wpgd train``, ``wpgd experiment`` and ``wpgd sweep``
runs, and to a Python session once it trains. ``WPGD_MALLOC=system`` leaves the allocator as it
is. On a C library other than glibc (macOS, musl) it does nothing.

:func:`release_free_memory` (glibc's ``malloc_trim(0)``) hands the free pages inside the heaps back
to the system. The evaluation calls it after each batch on a CPU: run in a thread other than the
main one (a Dask worker's task thread), the final evaluation of a d = 100, n = 1000 run grew to
11 GB of resident memory under either policy (22 GB in a direct test of its 610 batches of 164
prompts; flat at 0.6 GB with the call), and Dask's memory limit killed the worker. In the main
thread the same loop stays flat without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from wpgd.numerics.core.errors import InvalidProblemError

__all__ = ["ENV", "MODES", "SETTINGS", "allocator_mode", "release_free_memory", "retain_freed_memory"]

ENV = "WPGD_MALLOC"
"""Environment variable choosing the allocator policy of training processes."""
MODES = ("retain", "system")
"""``retain`` (default): :data:`SETTINGS` are applied; ``system``: the allocator is left alone."""

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4  # glibc's <malloc.h> parameter numbers
SETTINGS = {"M_MMAP_MAX": (_M_MMAP_MAX, 0), "M_TRIM_THRESHOLD": (_M_TRIM_THRESHOLD, 2**31 - 1),
            "M_TOP_PAD": (_M_TOP_PAD, 64 << 20)}
"""The ``mallopt`` calls made by :func:`retain_freed_memory`: name → (parameter number, value)."""

_applied: str | None = None


def allocator_mode() -> str:
    """The policy asked for by ``WPGD_MALLOC`` ("retain" when unset or empty).

    Raises:
        InvalidProblemError: any other value (the CLI prints it as one line and exits 2).
    """
    raw = os.environ.get(ENV, "").strip()
    if raw == "":
        return "retain"
    if raw not in MODES:
        raise InvalidProblemError(f"{ENV} must be one of {', '.join(MODES)}, got {raw!r}")
    return raw


def _glibc(function: str, argtypes: list):
    """glibc's ``function`` (ctypes, returning int), or None when the C library is not glibc."""
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        fn = getattr(libc, function)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = argtypes, ctypes.c_int
    return fn


def _glibc_mallopt():
    """glibc's ``mallopt``, or None when the C library is not glibc."""
    return _glibc("mallopt", [ctypes.c_int, ctypes.c_int])


_trim = None


def release_free_memory() -> bool:
    """Return the free pages of every malloc arena to the system (glibc's ``malloc_trim(0)``);
    the live memory is untouched. Returns whether the call was available (False off glibc)."""
    global _trim
    if _trim is None:
        _trim = _glibc("malloc_trim", [ctypes.c_size_t]) or False
    if _trim is False:
        return False
    _trim(0)
    return True


def retain_freed_memory() -> str:
    """Apply :data:`SETTINGS` to this process's malloc once (idempotent) and say what was done.

    Returns:
        "retained" (the settings are in effect), "system" (``WPGD_MALLOC=system``: nothing
        changed), or "unavailable" (not glibc, or ``mallopt`` refused a setting; nothing is
        undone, the process runs with the allocator as it is).

    Raises:
        InvalidProblemError: ``WPGD_MALLOC`` has a value other than "retain" or "system".
    """
    global _applied
    mode = allocator_mode()
    if mode == "system":
        return "system"
    if _applied is None:
        mallopt = _glibc_mallopt()
        ok = mallopt is not None and all(mallopt(param, value) == 1 for param, value in SETTINGS.values())
        _applied = "retained" if ok else "unavailable"
    return _applied
