"""File output and progress reporting for long computations: atomic writes, JSON, progress bars.

Used by the numerics that write results (training checkpoints, experiment results, figures)
and re-exported by the CLI (``wpgd.io``).

* One file (:func:`write_atomic`): written to a temporary file in the same folder, fsynced, and
  renamed over the target, so an interrupted run leaves the old file or the new one, never a
  torn one. The target must be a regular file or absent: a folder, device, FIFO or socket is
  refused (``--out /dev/full`` must not replace a device node). A symbolic link is *written
  through*: the file it points to is replaced (the link is kept). The new file gets the mode
  of the file it replaces, or ``0666 & ~umask`` for a new file (not mkstemp's 0600).
* A set of files (:func:`write_output_set`, e.g. P.npy, omega.npy, summary.json): written into a
  temporary sibling folder, then swapped in with one rename (``renameat2(RENAME_EXCHANGE)`` when
  the kernel has it, else two renames under a lock on the parent folder). Readers see the
  complete old set or the complete new set: two runs into one folder never mix files, and a
  killed run leaves only hidden ``.<name>.tmp-*`` / ``.<name>.old-*`` folders, never a partial
  set under the target name. A folder holding anything else than an earlier set (marker file
  ``.wpgd-output``) is refused rather than replaced. Every set records its ``run_id`` in the
  marker and in its JSON files.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import stat
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError

__all__ = ["write_atomic", "write_json_atomic", "save_npy_atomic", "write_output_set", "to_jsonable",
           "progress_bar", "SET_MARKER", "check_output_file"]

SET_MARKER = ".wpgd-output"
"""Marker file of a folder written by :func:`write_output_set` (holds the run id and file names)."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _target(path: Path) -> Path:
    """The file to replace: ``path``, or the file a symbolic link points to (written through)."""
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise InvalidProblemError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (device, FIFO or socket)"
        raise InvalidProblemError(f"refusing to write {str(path)!r}: it is {kind}")
    return path


def check_output_file(path) -> None:
    """Refuse, before any work, an output file that :func:`write_atomic` could not write: a
    non-regular target (device, FIFO, socket, folder) or a folder it cannot create or write in.

    Raises:
        InvalidProblemError: saying which.
    """
    target = _target(Path(path))
    folder = target.parent
    while not folder.exists() and folder != folder.parent:  # write_atomic creates missing folders
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidProblemError(f"cannot write {str(path)!r}: {str(folder)!r} is not a writable folder")


def write_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    An interrupted run leaves either the old file or the new one, never a torn one. See the
    module docstring for non-regular targets, symbolic links and file modes.

    Raises:
        InvalidProblemError: the target exists and is not a regular file (or a link to one).
    """
    path = _target(Path(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return Path(path)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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


def _npy_bytes(arr) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def save_npy_atomic(path, arr) -> Path:
    """Atomically save an array as .npy."""
    return write_atomic(path, _npy_bytes(arr))


def write_output_set(folder, arrays: dict | None = None, jsons: dict | None = None,
                     raw: dict | None = None) -> str:
    """Write a set of files (``{name: array}`` as .npy, ``{name: obj}`` as JSON, ``{name: bytes}``
    as they are, e.g. a figure) into ``folder`` as one unit (see the module docstring). JSON
    objects that are dicts get a ``run_id`` key.

    Returns:
        The run id recorded in every JSON file and in the marker.

    Raises:
        InvalidProblemError: ``folder`` exists and is not a folder, or holds files that are not an
            earlier output set (they are never deleted).
    """
    folder = Path(folder)
    if folder.is_symlink():
        folder = Path(os.path.realpath(folder))
    run_id = uuid.uuid4().hex
    files = {}
    for name, arr in (arrays or {}).items():
        files[name] = _npy_bytes(arr)
    for name, obj in (jsons or {}).items():
        if isinstance(obj, dict):
            obj = {**obj, "run_id": run_id}
        files[name] = (json.dumps(to_jsonable(obj), indent=2) + "\n").encode("utf-8")
    for name, data in (raw or {}).items():
        files[name] = bytes(data)
    for name in files:
        if Path(name).name != name or name in (".", "..", SET_MARKER):
            raise InvalidProblemError(f"bad output file name {name!r}")
    files[SET_MARKER] = (json.dumps({"run_id": run_id, "files": sorted(files)}) + "\n").encode("utf-8")
    _check_replaceable(folder)
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        mode = 0o666 & ~_umask()
        for name, data in files.items():
            fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        with _dir_lock(parent):
            _check_replaceable(folder)
            if not folder.exists():
                os.rename(tmp, folder)
                tmp = None
            elif _exchange(tmp, folder):
                pass  # tmp now holds the old set
            else:
                old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=parent))
                os.rename(folder, old / "set")
                os.rename(tmp, folder)
                tmp = old
        _fsync_dir(parent)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return run_id


def _check_replaceable(folder: Path) -> None:
    if not folder.exists() and not folder.is_symlink():
        return
    if not folder.is_dir():
        raise InvalidProblemError(f"output folder {str(folder)!r} exists and is not a folder")
    entries = set(os.listdir(folder))
    if not entries:
        return
    marker = folder / SET_MARKER
    try:
        known = set(json.loads(marker.read_text(encoding="utf-8"))["files"]) | {SET_MARKER}
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidProblemError(
            f"output folder {str(folder)!r} holds files not written by wpgd; choose a new or empty folder "
            "(nothing there is replaced or deleted)") from None
    if not entries <= known:
        extra = sorted(entries - known)[:3]
        raise InvalidProblemError(
            f"output folder {str(folder)!r} holds other files too ({', '.join(map(repr, extra))}); choose a new "
            "or empty folder (nothing there is replaced or deleted)")


@contextlib.contextmanager
def _dir_lock(folder: Path):
    """An exclusive ``flock`` on the folder itself (serialises concurrent swaps; no lock file)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (not POSIX)
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux ``renameat2(RENAME_EXCHANGE)``; False if unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def progress_bar(total: int, desc: str, *, enabled: bool = True, unit: str = "it"):
    """A tqdm bar on stderr: shown when ``enabled`` and stderr is a terminal, or always with
    ``WPGD_PROGRESS=1``; never with ``WPGD_PROGRESS=0``. A finished bar stays on screen (its
    final count and time), so the bars of a training run and of its final evaluation both remain."""
    setting = os.environ.get("WPGD_PROGRESS")
    show = enabled and setting != "0" and (setting == "1" or sys.stderr.isatty())
    if not show:
        return HiddenBar(total)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True)


class HiddenBar:
    """The bar :func:`progress_bar` returns when nothing is shown: the part of tqdm's interface that
    wpgd uses (``n``, ``total``, ``update``, ``reset``, ``set_postfix``, ``clear``, ``close``, a context
    manager), without tqdm. Even a disabled tqdm bar creates tqdm's class-wide multiprocessing lock,
    a named semaphore; a Dask worker killed mid-run (``--jobs`` > 1, then SIGTERM or Ctrl-C) never
    removes it, and Python's resource tracker then printed "There appear to be 2 leaked semaphore
    objects to clean up at shutdown" after the command's own message."""

    def __init__(self, total: int):
        self.total, self.n = total, 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def reset(self, total: int | None = None) -> None:
        self.n = 0
        if total is not None:
            self.total = total

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def clear(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
