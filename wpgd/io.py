"""Output helpers of the subcommands: JSON on stdout, user arrays, devices (file writing and
progress bars live in :mod:`wpgd.numerics.core.fileio` and are re-exported here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.fileio import (
    progress_bar as progress_bar,
    save_npy_atomic as save_npy_atomic,
    to_jsonable as to_jsonable,
    write_atomic as write_atomic,
    write_json_atomic as write_json_atomic,
    write_output_set as write_output_set,
)

__all__ = [
    "write_atomic",
    "write_json_atomic",
    "save_npy_atomic",
    "write_output_set",
    "load_npy",
    "to_jsonable",
    "print_json",
    "progress_bar",
    "resolve_device",
]


def load_npy(path, what: str) -> np.ndarray:
    """Load a user-supplied array file (.npy, or a text table) with the spec loader's checks:
    regular file, header and dtype checked before reading, size within the memory limit, real
    numbers only, no file contents in error messages.

    Raises:
        InvalidProblemError: on any failure.
    """
    from wpgd.numerics.core.spec import load_array_file

    return load_array_file(Path(path), what)


def print_json(obj) -> None:
    """Print ``obj`` as JSON on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2) + "\n")


def resolve_device(device: str) -> str:
    """Map ``auto|cpu|cuda`` to a torch device string; ``cuda`` without CUDA is an input error."""
    if device not in ("auto", "cpu", "cuda"):
        raise InvalidProblemError(f"--device must be auto, cpu or cuda, got {device!r}")
    if device == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        if device == "cuda":
            raise InvalidProblemError("--device cuda needs torch (pip install 'gating-is-weighting[gla]')") from None
        return "cpu"
    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise InvalidProblemError("--device cuda requested but CUDA is not available")
    return "cuda" if has_cuda else "cpu"
