"""Problem-spec files (TOML): one description of a setting, read by every subcommand.

Format::

    [features]
    dim = 10
    covariance = "identity"      # or {diag = [...]}, {toeplitz = 0.5}, {file = "sigma.npy"},
                                 #    {matrix = [[...], ...]}

    [tasks]                      # either segments ...
    segments = [20, 20]          # demonstrations per segment, farthest from the query first
    correlation = [[1.0, 0.0], [0.0, 1.0]]   # K×K, PSD, default identity
    query_correlation = [0.2, 0.8]        # required with segments: K entries, c_k = corr(segment k, query)
    query_variance = 1.0
    # ... or an explicit joint task correlation: matrix = {file = "rbar.npy"} (or an inline list),
    # (n+1)×(n+1) with the query last.

    [noise]
    variance = 0.0

Relative file paths are resolved against the spec file's folder. Unknown keys are errors
(a typo must not silently fall back to a default).

Robustness: only regular files are read (a device, FIFO or folder is refused before opening),
their size is checked against the memory limit (:mod:`wpgd.numerics.core.limits`) before reading, ``.npy``
headers are parsed and their shape and dtype checked before any data is read, numeric entries
must be real numbers (booleans, strings, complex, datetimes are refused), and error messages
never quote a file's contents.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError, SpecError
from wpgd.numerics.core.limits import require_eigh, require_memory
from wpgd.numerics.core.problem import MAX_TOKENS, Problem
from wpgd.numerics.core.safety import as_real_array

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
    path = _as_path(path, "spec file")
    size = _regular_file_size(path, "spec file")
    # A TOML number becomes a Python object of ~50 bytes: refuse files whose parse would not fit.
    require_memory(f"parsing the spec file {str(path)!r} ({size} bytes)", 60.0 * size)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec file {str(path)!r}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise SpecError(f"spec file {str(path)!r} is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"spec file {str(path)!r} is not valid TOML: {_first_line(exc)}") from None
    except RecursionError:
        raise SpecError(f"spec file {str(path)!r} is nested too deeply to parse") from None
    except (ValueError, OverflowError, MemoryError) as exc:  # e.g. integers beyond Python's digit limit
        raise SpecError(f"spec file {str(path)!r} is not valid TOML: {type(exc).__name__} while parsing "
                        "(an integer with thousands of digits?)") from None
    return parse_spec(data, base_dir=path.parent)


def _magnitude(n: int) -> str:
    """An integer of any size as ``~1e20`` (``float(n)`` overflows beyond 1e308)."""
    digits = len(str(abs(n))) if abs(n) < 10**4000 else None
    return f"~1e{digits - 1}" if digits is not None else "a number with thousands of digits"


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _as_path(value, what: str) -> Path:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value or "\x00" in value:
        raise SpecError(f"{what} must be a non-empty path string, got {type(value).__name__}")
    return Path(value)


def _regular_file_size(path: Path, what: str) -> int:
    """Size of ``path`` if it is a readable regular file (devices, FIFOs and folders are refused
    before opening: reading /dev/zero or a FIFO would never end)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SpecError(f"cannot {'read' if what == 'spec file' else 'load'} {what} {str(path)!r}: {exc.strerror or type(exc).__name__}") from None
    except ValueError:
        raise SpecError(f"cannot read {what}: invalid path") from None
    if stat.S_ISDIR(st.st_mode):
        raise SpecError(f"{what} {str(path)!r} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise SpecError(f"{what} {str(path)!r} is not a regular file (device, FIFO or socket)")
    if not os.access(path, os.R_OK):
        raise SpecError(f"cannot read {what} {str(path)!r}: permission denied")
    return int(st.st_size)


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
            raise SpecError(f"{what}: expected {{file = \"...\"}}, got keys {sorted(map(repr, entry))}")
        fpath = _as_path(entry["file"], f"{what}.file")
        if not fpath.is_absolute():
            fpath = base_dir / fpath
        return load_array_file(fpath, what)
    if isinstance(entry, list):
        try:
            return as_real_array(what, entry)
        except InvalidProblemError as exc:
            if "rectangular" in str(exc):
                raise SpecError(f"{what} must be a rectangular list of numbers") from None
            raise
    raise SpecError(f"{what} must be a list of numbers or {{file = \"...\"}}")


def load_array_file(fpath, what: str) -> np.ndarray:
    """Read a user array file: ``.npy`` (header checked before reading: real dtype, size within the
    memory limit; no pickles) or a whitespace-separated text table. Never quotes file contents.

    Raises:
        SpecError: unreadable, not an array, a non-real dtype, or too large.
    """
    fpath = _as_path(fpath, what) if not isinstance(fpath, Path) else fpath
    size = _regular_file_size(fpath, f"{what} file")
    if fpath.suffix == ".npy":
        return _load_npy(fpath, what)
    # np.loadtxt keeps Python objects per field while parsing: refuse files that would not fit.
    require_memory(f"parsing the text table {str(fpath)!r} ({size} bytes)", 40.0 * size)
    try:
        arr = np.loadtxt(fpath, dtype=np.float64, ndmin=2)
    except (OSError, ValueError, UnicodeDecodeError, MemoryError):
        # numpy's message quotes the offending line: do not echo file contents
        raise SpecError(f"{what}: {str(fpath)!r} is not a numeric text table (whitespace-separated numbers; "
                        "use .npy for binary arrays)") from None
    return arr


def _load_npy(fpath: Path, what: str) -> np.ndarray:
    fmt = np.lib.format
    try:
        with open(fpath, "rb") as fh:
            version = fmt.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(fh)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = fmt.read_array_header_2_0(fh)
            else:
                raise ValueError("unsupported version")
    except (OSError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError, EOFError):
        raise SpecError(f"{what}: {str(fpath)!r} is not a readable .npy array (bad or oversized header)") from None
    if dtype.hasobject or dtype.kind not in "iuf" or dtype.fields is not None or dtype.subdtype is not None:
        kind = {"b": "boolean", "c": "complex", "M": "datetime", "m": "timedelta", "U": "string", "S": "bytes",
                "O": "object"}.get(dtype.kind, str(dtype))
        raise SpecError(f"{what}: {str(fpath)!r} holds a {kind} array ({dtype}); real numbers are required")
    count = float(np.prod([float(s) for s in shape])) if shape else 1.0
    require_memory(f"loading {str(fpath)!r} (shape {shape})", count * (dtype.itemsize + 8.0))
    if len(shape) == 2 and shape[0] == shape[1] and shape[0] > 1:
        # a square matrix (Σ, a task matrix, P) is decomposed or multiplied at O(m³): refuse before reading
        require_eigh(f"the matrix in {str(fpath)!r}", int(shape[0]))
    try:
        arr = np.load(fpath, allow_pickle=False)
    except (OSError, ValueError, EOFError, MemoryError):
        raise SpecError(f"{what}: {str(fpath)!r} is truncated or damaged (header says shape {shape}, {dtype})") from None
    return as_real_array(what, arr)


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
        _require_dim(dim)
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
        _require_dim(diag.shape[0])
        sigma = np.diag(diag)
    elif kind == "toeplitz":
        if dim is None:
            raise SpecError("[features] needs dim for a toeplitz covariance")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError("covariance.toeplitz must be a number ρ (Σ_ij = ρ^|i-j|)")
        try:
            rho = float(value)
        except OverflowError:
            raise InvalidProblemError("covariance.toeplitz needs |ρ| < 1 for Σ ≻ 0") from None
        if not np.isfinite(rho) or abs(rho) >= 1:
            raise InvalidProblemError(f"covariance.toeplitz needs |ρ| < 1 for Σ ≻ 0, got {rho}")
        _require_dim(dim)
        idx = np.arange(dim)
        with np.errstate(under="ignore"):
            sigma = rho ** np.abs(idx[:, None] - idx[None, :]).astype(np.float64)
    elif kind == "file":
        sigma = _load_array({"file": value}, base_dir, "covariance")
    elif kind == "matrix":
        sigma = _load_array(value, base_dir, "covariance.matrix")
    else:
        raise SpecError(f"unknown covariance kind {kind!r} (identity, diag, toeplitz, file, matrix)")
    if dim is not None and sigma.shape != (dim, dim):
        raise InvalidProblemError(f"covariance has shape {sigma.shape} but dim = {dim}")
    return sigma


def _require_dim(dim: int) -> None:
    """Refuse a feature dimension whose d×d covariance (and its eigendecomposition) would not fit."""
    require_memory(f"a {dim}×{dim} feature covariance", 8.0 * 8.0 * float(dim) * float(dim))


def _number(sec: dict, key: str, default: float, where: str) -> float:
    val = sec.get(key, default)
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        raise SpecError(f"{where}.{key} must be a number")
    try:
        return float(val)
    except OverflowError:
        raise InvalidProblemError(f"{where}.{key} is beyond the float64 range") from None


def parse_spec(data: dict, base_dir=".") -> Problem:
    """Build a validated :class:`~wpgd.numerics.core.problem.Problem` from a parsed spec (a dict).

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
        raise SpecError(f"[features] dim must be a positive integer, got {str(dim)[:40]!r}")
    if dim is not None and dim > 2**31:
        raise InvalidProblemError(f"[features] dim = {_magnitude(dim)} is beyond the supported 2^31")
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
    if any(s > MAX_TOKENS for s in segs) or sum(segs) > MAX_TOKENS:
        raise InvalidProblemError(f"tasks.segments: the prompt length is beyond the supported {MAX_TOKENS:.3g}")
    if "query_correlation" not in tasks:
        raise SpecError("[tasks] with segments needs query_correlation = [c_1, ..., c_K] (required: each "
                        "segment task's correlation with the query task, farthest segment first)")
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
