"""The sweep engine: run many independent tasks, cached by content hash, on one machine or a Dask cluster.

A task is a plain-JSON *configuration* and the function that computes it (a module-level
``fn(config, run_dir) -> dict``). Its cache key is the SHA-256 of the configuration
(:func:`task_key`); when it finishes, the client writes its *record* (``{"key", "config",
"result"}``) atomically to the task's record path. So:

* a finished task is never computed again: a rerun reads the records and skips every task
  whose record carries the same key (any change of the configuration changes the key);
* results are kept as tasks finish: an interrupted sweep keeps every record it wrote;
* one record per key, written only by the client: a task that ran twice (its worker was killed
  after computing it, and the scheduler ran it again elsewhere) still gives one record, so no
  result is lost or duplicated.

Backends (``scheduler``):

* ``"local"`` with one worker, or fewer tasks to run than ``inprocess_below``: in this process,
  no Dask needed;
* ``"local"`` with ``workers`` > 1: a Dask ``LocalCluster`` of that many single-threaded worker
  processes; without Dask installed, a standard-library process pool (spawned processes; a
  killed worker process restarts the pool and its unfinished tasks run again);
* an address (``tcp://host:8786``): an existing Dask cluster (``dask-jobqueue`` on SLURM/PBS, a
  GPU cluster: docs/sweeps.md). Needs the ``distributed`` extra.

This module imports Dask only inside :func:`run_tasks`, when a Dask backend is chosen.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wpgd.numerics.core.errors import InvalidProblemError, WPGDError
from wpgd.numerics.core.fileio import progress_bar, to_jsonable

__all__ = [
    "SweepTask",
    "SweepOutcome",
    "task_key",
    "read_record",
    "run_tasks",
    "DISTRIBUTED_HINT",
    "dask_available",
]

ENGINE_VERSION = 1
"""Part of every cache key: bump it when a record's meaning changes."""

DISTRIBUTED_HINT = 'pip install "gating-is-weighting[distributed]"'
"""How to install the optional Dask extra."""


def task_key(config: dict) -> str:
    """SHA-256 (hex, 24 characters) of a task configuration in canonical JSON.

    Raises:
        InvalidProblemError: the configuration is not plain JSON (or holds NaN/Inf).
    """
    try:
        blob = json.dumps(
            {"engine": ENGINE_VERSION, "config": config},
            sort_keys=True,
            separators=(",", ":"),
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError(f"a sweep task configuration must be plain JSON ({exc})") from None
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class SweepTask:
    """One unit of work.

    Attributes:
        key: :func:`task_key` of ``config``.
        config: plain JSON; everything the task function needs.
        record: path of the task's record (written when it finishes).
        run_dir: the task's run folder (training runs write checkpoints there), or None.
    """

    key: str
    config: dict
    record: str
    run_dir: str | None = None

    @classmethod
    def make(cls, config: dict, record, run_dir=None) -> SweepTask:
        """A task with its key computed from ``config``."""
        return cls(task_key(config), config, str(record), None if run_dir is None else str(run_dir))


@dataclass
class SweepOutcome:
    """What :func:`run_tasks` did.

    Attributes:
        results: key -> result (cached and computed).
        errors: key -> one-line message of a task that failed (not recorded; a rerun retries it).
        computed, cached: task counts.
        seconds: wall time.
        backend: "inprocess", "processes" or "dask".
        workers: worker processes used (0 for an existing cluster: unknown).
    """

    results: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    computed: int = 0
    cached: int = 0
    seconds: float = 0.0
    backend: str = "inprocess"
    workers: int = 1


def dask_available() -> bool:
    """Whether ``dask.distributed`` can be imported."""
    import importlib.util

    try:
        return (
            importlib.util.find_spec("distributed") is not None
            and importlib.util.find_spec("dask") is not None
        )
    except (ImportError, ValueError):
        return False


def read_record(task: SweepTask) -> dict | None:
    """The result of a finished task (its record with the same key), else None."""
    try:
        rec = json.loads(Path(task.record).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("key") != task.key or "result" not in rec:
        return None
    return rec["result"]


def _write_record(task: SweepTask, result: dict) -> None:
    """Write the record atomically (temporary file + rename; no fsync: a record only has to survive
    the sweep's processes, and a lost one is recomputed)."""

    path = Path(task.record)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(to_jsonable({"key": task.key, "config": task.config, "result": result})) + "\n")
    os.replace(tmp, path)


def _run_batch(fn: Callable, batch: list) -> list:
    """Worker entry point: run ``fn`` on each (key, config, run_dir); a failing task gives an error
    entry instead of failing its batch."""
    out = []
    for key, config, run_dir in batch:
        try:
            out.append((key, True, fn(config, run_dir)))
        except WPGDError as exc:
            out.append((key, False, str(exc)))
        except (ArithmeticError, ValueError, RuntimeError, OSError, ImportError) as exc:
            out.append((key, False, f"{type(exc).__name__}: {exc}"))
    return out


def run_tasks(
    tasks: list[SweepTask],
    fn: Callable,
    *,
    scheduler: str = "local",
    workers: int = 1,
    progress: bool = True,
    desc: str = "sweep",
    batch_size: int = 1,
    inprocess_below: int = 2,
    resources: dict | None = None,
    on_result: Callable | None = None,
    flush: Callable | None = None,
    flush_seconds: float = 2.0,
) -> SweepOutcome:
    """Run every task whose record is missing; return all results.

    Args:
        tasks: the tasks (distinct keys).
        fn: ``fn(config, run_dir) -> dict`` (module-level, so worker processes can import it).
        scheduler: "local" or a Dask scheduler address.
        workers: local worker processes.
        progress: show a progress bar.
        desc: its label.
        batch_size: tasks per submitted job (cheap tasks: more per job, less scheduling overhead).
        inprocess_below: run locally in this process when fewer tasks than this are left to run.
        resources: Dask worker resources every job requests (e.g. ``{"GPU": 1}``).
        on_result: called as ``on_result(task, result)`` after each record is written.
        flush: called at most every ``flush_seconds`` while results arrive, and once at the end
            (also when interrupted).

    Returns:
        A :class:`SweepOutcome`.

    Raises:
        InvalidProblemError: duplicate keys, a bad worker count, or a Dask backend without Dask.
    """

    if len({t.key for t in tasks}) != len(tasks):
        raise InvalidProblemError("sweep: two tasks have the same configuration (the same cache key)")
    if workers < 1:
        raise InvalidProblemError(f"sweep: workers must be ≥ 1, got {workers}")
    t0 = time.perf_counter()
    out = SweepOutcome()
    todo = []
    for task in tasks:
        res = read_record(task)
        if res is None:
            todo.append(task)
        else:
            out.results[task.key] = res
    out.cached = len(tasks) - len(todo)
    remote = scheduler != "local"
    if remote and not dask_available():
        raise InvalidProblemError(f"--scheduler {scheduler} needs Dask: {DISTRIBUTED_HINT}")
    if remote:
        backend = "dask"
    elif workers == 1 or len(todo) < max(2, inprocess_below):
        backend = "inprocess"
    else:
        backend = "dask" if dask_available() else "processes"
    out.backend, out.workers = backend, (0 if remote else (1 if backend == "inprocess" else workers))
    by_key = {t.key: t for t in todo}
    size = max(1, int(batch_size))
    batches = [[(t.key, t.config, t.run_dir) for t in todo[i : i + size]] for i in range(0, len(todo), size)]
    bar = progress_bar(len(tasks), desc, enabled=progress, unit="task")
    bar.update(out.cached)
    last = [time.monotonic()]

    def take(entries: list) -> None:
        for key, ok, value in entries:
            if key in out.results or key not in by_key:
                continue  # a task that ran twice: its first result stands
            if ok:
                _write_record(by_key[key], value)
                out.results[key] = value
                out.computed += 1
                out.errors.pop(key, None)
                if on_result is not None:
                    on_result(by_key[key], value)
            else:
                out.errors[key] = value
            bar.update(1)
        if flush is not None and time.monotonic() - last[0] >= flush_seconds:
            flush()
            last[0] = time.monotonic()

    try:
        if not batches:
            pass
        elif backend == "inprocess":
            for batch in batches:
                take(_run_batch(fn, batch))
        elif backend == "processes":
            _run_processes(fn, batches, workers, take)
        else:
            _run_dask(fn, batches, scheduler, workers, take, resources)
    finally:
        bar.close()
        if flush is not None:
            flush()
        out.seconds = time.perf_counter() - t0
    return out


def _run_processes(fn: Callable, batches: list, workers: int, take: Callable, restarts: int = 3) -> None:
    """Standard-library fallback (no Dask): spawned worker processes; a broken pool (a worker
    killed) is restarted up to ``restarts`` times with the batches that did not finish."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pending = list(range(len(batches)))
    for _attempt in range(restarts + 1):
        broken = False
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futs = {pool.submit(_run_batch, fn, batches[i]): i for i in pending}
            done = set()
            for fut in as_completed(futs):
                try:
                    entries = fut.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                take(entries)
                done.add(futs[fut])
        pending = [i for i in pending if i not in done]
        if not broken or not pending:
            return
    raise InvalidProblemError(
        f"sweep: worker processes kept dying ({restarts} restarts); "
        f"{len(pending)} job(s) not finished (rerun to retry them)"
    )


NANNY_ENVIRON_UNSET = ("MALLOC_TRIM_THRESHOLD_",)
"""Variables of Dask's ``distributed.nanny.pre-spawn-environ`` that a local cluster's workers do
not get. Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` there to return memory to the system sooner;
any value of it also switches off glibc's dynamic mmap threshold, so every tensor buffer over
128 KiB is mapped and unmapped again, and a training step spends most of its time in page
faults: a d = 10, n = 40 vector run took 2.4–2.7× as long (1000 steps: 36 s against 14–15 s,
12–20 s of it system time; docs/sweeps.md, "Worker memory settings")."""


def local_cluster(workers: int, **kwargs):
    """A Dask ``LocalCluster`` of ``workers`` single-threaded worker processes whose environment
    lacks the variables of :data:`NANNY_ENVIRON_UNSET` (Dask's own thread settings, one OpenMP /
    MKL / OpenBLAS thread, are kept); ``kwargs`` go to ``LocalCluster``.

    No dashboard, and the scheduler's HTTP server (health and metrics routes, which Dask starts
    even without a dashboard) listens on a free local port: on Dask's default, 8787, a second
    cluster on the same machine (two ``wpgd`` commands with ``--jobs``) started with a "Port 8787
    is already in use" warning."""
    import dask
    from distributed import LocalCluster

    unset = {f"distributed.nanny.pre-spawn-environ.{k}": None for k in NANNY_ENVIRON_UNSET}
    scheduler = {"dashboard": False, "dashboard_address": "127.0.0.1:0", **kwargs.pop("scheduler_kwargs", {})}
    with dask.config.set(unset):  # read when the nannies are created, below
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                             scheduler_kwargs=scheduler, **kwargs)


def _run_dask(
    fn: Callable, batches: list, scheduler: str, workers: int, take: Callable, resources: dict | None
) -> None:
    """Submit the batches to a Dask cluster (a LocalCluster for "local"); the scheduler reruns
    the jobs of a worker that died (``distributed.scheduler.allowed-failures`` times)."""
    import logging

    from distributed import Client, as_completed

    cluster = None
    if scheduler == "local":
        cluster = local_cluster(workers, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InvalidProblemError(f"cannot reach the Dask scheduler {scheduler!r} ({exc})") from None
    try:
        futs = {
            client.submit(
                _run_batch, fn, b, key=f"wpgd-sweep-{b[0][0]}-{len(b)}", pure=False, resources=resources
            ): i
            for i, b in enumerate(batches)
        }
        for fut in as_completed(futs):
            try:
                entries = fut.result()
            except Exception as exc:  # KilledWorker and friends: the job's tasks stay unrecorded
                msg = f"{type(exc).__name__}: {exc}"
                take([(key, False, msg) for key, _, _ in batches[futs[fut]]])
                continue
            take(entries)
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
