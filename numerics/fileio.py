"""File output and progress reporting for long computations: atomic writes, JSON, progress bars.

Used by the numerics that write results (training checkpoints, experiment results, figures)
and re-exported by the CLI (``wpgd.io``). Every file is written through a temporary file in the
same folder and ``os.replace``, so an interrupted run leaves the old file or the new one,
never a torn one.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["write_atomic", "write_json_atomic", "save_npy_atomic", "to_jsonable", "progress_bar"]


def write_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    An interrupted run leaves either the old file or the new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def to_jsonable(obj):
    """Recursively convert numpy scalars/arrays (and non-finite floats → None) for JSON."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        val = float(obj)
        return val if math.isfinite(val) else None
    return obj


def write_json_atomic(path, obj) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n"
    return write_atomic(path, text.encode("utf-8"))


def save_npy_atomic(path, arr) -> Path:
    """Atomically save an array as .npy."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return write_atomic(path, buf.getvalue())


def progress_bar(total: int, desc: str, *, enabled: bool = True, unit: str = "it"):
    """A tqdm bar on stderr (disabled when ``enabled`` is False or stderr is not a terminal and
    ``WPGD_PROGRESS`` is not set to 1)."""
    from tqdm.auto import tqdm

    force = os.environ.get("WPGD_PROGRESS") == "1"
    show = enabled and (force or sys.stderr.isatty())
    return tqdm(total=total, desc=desc, unit=unit, disable=not show, file=sys.stderr, leave=False)
