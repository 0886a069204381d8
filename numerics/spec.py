"""Problem-spec files (TOML): one description of a setting, read by every subcommand.

Format::

    [features]
    dim = 10
    covariance = "identity"      # or {diag = [...]}, {toeplitz = 0.5}, {file = "sigma.npy"},
                                 #    {matrix = [[...], ...]}

    [tasks]                      # either segments ...
    segments = [20, 20]          # demonstrations per segment, farthest from the query first
    correlation = [[1.0, 0.0], [0.0, 1.0]]   # K×K, PSD, default identity
    query_correlation = [0.2, 0.8]
    query_variance = 1.0
    # ... or an explicit joint task correlation: matrix = {file = "rbar.npy"} (or an inline list),
    # (n+1)×(n+1) with the query last.

    [noise]
    variance = 0.0

Relative file paths are resolved against the spec file's folder. Unknown keys are errors
(a typo must not silently fall back to a default).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .errors import InvalidProblemError, SpecError
from .problem import Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["load_spec", "parse_spec", "covariance_from_spec"]

_SECTIONS = {"features", "tasks", "noise"}
_FEATURE_KEYS = {"dim", "covariance"}
_TASK_KEYS = {"segments", "correlation", "query_correlation", "query_variance", "matrix"}
_NOISE_KEYS = {"variance"}


def load_spec(path) -> Problem:
    """Read a TOML problem spec from ``path``.

    Raises:
        SpecError: unreadable file, bad TOML, unknown or missing keys.
        InvalidProblemError: a well-formed file describing an invalid problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec file {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"spec file {str(path)!r} is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"spec file {str(path)!r} is not valid TOML: {exc}") from None
    return parse_spec(data, base_dir=path.parent)


def _section(data: dict, name: str, allowed: set, required: bool) -> dict:
    sec = data.get(name)
    if sec is None:
        if required:
            raise SpecError(f"spec is missing the [{name}] section")
        return {}
    if not isinstance(sec, dict):
        raise SpecError(f"[{name}] must be a table")
    unknown = sorted(set(sec) - allowed)
    if unknown:
        raise SpecError(f"unknown key(s) in [{name}]: {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    return sec


def _load_array(entry, base_dir: Path, what: str) -> np.ndarray:
    """An inline nested list, or ``{file = "x.npy"}`` (.npy, or text readable by ``np.loadtxt``)."""
    if isinstance(entry, dict):
        if set(entry) != {"file"}:
            raise SpecError(f"{what}: expected {{file = \"...\"}}, got keys {sorted(entry)}")
        fpath = Path(entry["file"])
        if not fpath.is_absolute():
            fpath = base_dir / fpath
        try:
            if fpath.suffix == ".npy":
                arr = np.load(fpath, allow_pickle=False)
            else:
                arr = np.loadtxt(fpath, dtype=np.float64, ndmin=2)
        except (OSError, ValueError) as exc:
            raise SpecError(f"{what}: cannot load {str(fpath)!r}: {exc}") from None
        return np.asarray(arr)
    if isinstance(entry, list):
        try:
            return np.array(entry, dtype=np.float64)
        except (TypeError, ValueError):
            raise SpecError(f"{what} must be a rectangular list of numbers") from None
    raise SpecError(f"{what} must be a list of numbers or {{file = \"...\"}}")


def covariance_from_spec(entry, dim: int | None, base_dir: Path = Path(".")) -> np.ndarray:
    """Build Σ from the ``covariance`` entry of ``[features]``.

    Args:
        entry: "identity", {diag = [...]}, {toeplitz = ρ}, {file = "..."} or {matrix = [[...]]}.
        dim: the declared dimension (required for "identity" and toeplitz).

    Returns:
        Σ, shape (d, d) (not yet validated for symmetry / PSD).
    """
    if entry is None or entry == "identity":
        if dim is None:
            raise SpecError("[features] needs dim for an identity covariance")
        return np.eye(dim)
    if isinstance(entry, str):
        raise SpecError(f"unknown covariance {entry!r} (identity, diag, toeplitz, file, matrix)")
    if not isinstance(entry, dict) or len(entry) != 1:
        raise SpecError("covariance must be \"identity\" or a table with one key: diag, toeplitz, file or matrix")
    (kind, value), = entry.items()
    if kind == "diag":
        diag = _load_array(value, base_dir, "covariance.diag")
        if diag.ndim != 1:
            raise SpecError("covariance.diag must be a flat list")
        sigma = np.diag(diag)
    elif kind == "toeplitz":
        if dim is None:
            raise SpecError("[features] needs dim for a toeplitz covariance")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError("covariance.toeplitz must be a number ρ (Σ_ij = ρ^|i-j|)")
        rho = float(value)
        if not np.isfinite(rho) or abs(rho) >= 1:
            raise InvalidProblemError(f"covariance.toeplitz needs |ρ| < 1 for Σ ≻ 0, got {rho}")
        idx = np.arange(dim)
        sigma = rho ** np.abs(idx[:, None] - idx[None, :])
    elif kind == "file":
        sigma = _load_array({"file": value}, base_dir, "covariance")
    elif kind == "matrix":
        sigma = _load_array(value, base_dir, "covariance.matrix")
    else:
        raise SpecError(f"unknown covariance kind {kind!r} (identity, diag, toeplitz, file, matrix)")
    if dim is not None and sigma.shape != (dim, dim):
        raise InvalidProblemError(f"covariance has shape {sigma.shape} but dim = {dim}")
    return sigma


def _number(sec: dict, key: str, default: float, where: str) -> float:
    val = sec.get(key, default)
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        raise SpecError(f"{where}.{key} must be a number")
    return float(val)


def parse_spec(data: dict, base_dir=".") -> Problem:
    """Build a validated :class:`~numerics.problem.Problem` from a parsed spec (a dict).

    Raises:
        SpecError, InvalidProblemError: as for :func:`load_spec`.
    """
    base_dir = Path(base_dir)
    if not isinstance(data, dict):
        raise SpecError("spec must be a table")
    unknown = sorted(set(data) - _SECTIONS)
    if unknown:
        raise SpecError(f"unknown section(s): {', '.join(unknown)} (allowed: features, tasks, noise)")
    feats = _section(data, "features", _FEATURE_KEYS, required=True)
    tasks = _section(data, "tasks", _TASK_KEYS, required=True)
    noise_sec = _section(data, "noise", _NOISE_KEYS, required=False)

    dim = feats.get("dim")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise SpecError(f"[features] dim must be a positive integer, got {dim!r}")
    sigma = covariance_from_spec(feats.get("covariance", "identity"), dim, base_dir)
    noise = _number(noise_sec, "variance", 0.0, "noise")

    has_segments = "segments" in tasks
    has_matrix = "matrix" in tasks
    if has_segments == has_matrix:
        raise SpecError("[tasks] needs exactly one of: segments (with query_correlation) or matrix")
    if has_matrix:
        extra = sorted(set(tasks) - {"matrix"})
        if extra:
            raise SpecError(f"[tasks] matrix cannot be combined with {', '.join(extra)}")
        rbar = _load_array(tasks["matrix"], base_dir, "tasks.matrix")
        return Problem.dense(sigma, rbar, noise)
    segs = tasks["segments"]
    if not isinstance(segs, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in segs):
        raise SpecError("tasks.segments must be a list of positive integers")
    if "query_correlation" not in tasks:
        raise SpecError("[tasks] with segments needs query_correlation")
    qc = _load_array(tasks["query_correlation"], base_dir, "tasks.query_correlation")
    corr = tasks.get("correlation")
    corr = None if corr is None else _load_array(corr, base_dir, "tasks.correlation")
    return Problem.segmented(
        sigma,
        segs,
        qc,
        correlation=corr,
        query_variance=_number(tasks, "query_variance", 1.0, "tasks"),
        noise=noise,
    )
