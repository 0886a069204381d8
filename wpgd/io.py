"""Output helpers of the subcommands: JSON on stdout, user arrays, devices (file writing and
progress bars live in :mod:`numerics.fileio` and are re-exported here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from numerics.errors import InvalidProblemError
from numerics.fileio import (
    progress_bar as progress_bar,
    save_npy_atomic as save_npy_atomic,
    to_jsonable as to_jsonable,
    write_atomic as write_atomic,
    write_json_atomic as write_json_atomic,
)

__all__ = [
    "write_atomic",
    "write_json_atomic",
    "save_npy_atomic",
    "load_npy",
    "to_jsonable",
    "print_json",
    "progress_bar",
    "resolve_device",
]


def load_npy(path, what: str) -> np.ndarray:
    """Load a user-supplied .npy array, turning failures into InvalidProblemError."""
    try:
        return np.load(Path(path), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidProblemError(f"cannot load {what} from {str(path)!r}: {exc}") from None


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
