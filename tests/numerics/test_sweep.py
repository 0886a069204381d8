"""The sweep engine: grids, cache keys, serial vs worker processes, killed workers, reruns, interruptions."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wpgd.numerics.core.errors import SpecError
from wpgd.numerics.experiments.sweep import SweepTask, run_tasks, task_key
from wpgd.numerics.experiments.sweep_grid import load_grid
from wpgd.numerics.experiments.sweep_run import run_sweep
from wpgd.numerics.experiments.sweep_tasks import execute, grid_tasks

ROOT = Path(__file__).resolve().parents[2]
BASE = """[features]
dim = 3
covariance = {toeplitz = 0.3}

[tasks]
segments = [4, 4]
query_correlation = [0.3, 0.9]

[noise]
variance = 0.1
"""
GRID = """[sweep]
kind = "theory"
spec = "base.toml"
classes = ["linear", "scalar", "unconstrained"]

[axes]
"tasks.segments" = [[2, 2], [4, 4], [6, 6]]
"noise.variance" = [0.0, 0.5]
"""


def _grid(tmp_path: Path, text: str = GRID, name: str = "grid.toml") -> Path:
    (tmp_path / "base.toml").write_text(BASE)
    path = tmp_path / name
    path.write_text(text)
    return path


def _kill_once(config: dict, run_dir=None) -> dict:
    """Task function: the victim task kills its own worker process the first time it runs; every
    execution leaves a file, so the test can see the victim ran twice."""
    marker = Path(config["marker"])
    with open(marker.with_name(f"ran-{config['index']}-{os.getpid()}-{os.urandom(4).hex()}"), "w"):
        pass
    if config["index"] == config["victim"]:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            pass
        else:
            os._exit(1)
    inner = {k: v for k, v in config.items() if k not in ("marker", "victim", "index")}
    return execute(inner, run_dir)


def _interrupt_at_4(config: dict, run_dir=None) -> dict:
    if config["index"] == 4:
        raise KeyboardInterrupt
    return execute({k: v for k, v in config.items() if k != "index"}, run_dir)


def _never(config: dict, run_dir=None) -> dict:
    raise AssertionError("a cached task ran again")


@pytest.mark.parametrize(
    "text, message",
    [
        ('[sweep]\nkind = "theory"\nspec = "base.toml"\ncolour = 1\n', "unknown key(s) colour"),
        ('[sweep]\nkind = "theroy"\nspec = "base.toml"\n', "kind must be"),
        ('[sweep]\nkind = "theory"\nspec = "missing.toml"\n', "no such file"),
        (
            '[sweep]\nkind = "theory"\nspec = "base.toml"\nclasses = ["linear", "square"]\n',
            "unknown 'square'",
        ),
        ('[sweep]\nkind = "theory"\nspec = "base.toml"\nseeds = [0]\n', "do not apply"),
        ('[sweep]\nkind = "theory"\nspec = "base.toml"\n[axes]\nnoise = [0.1]\n', "dotted key"),
        ('[sweep]\nkind = "theory"\nspec = "base.toml"\n[axes]\n"noise.variance" = []\n', "non-empty list"),
        (
            '[sweep]\nkind = "theory"\nspec = "base.toml"\n[axes]\n"noise.variance" = [0.1, 0.1]\n',
            "duplicate",
        ),
        (
            '[sweep]\nkind = "theory"\nspec = "base.toml"\n[axes]\n"noise.variance" = [0.1, -1.0]\n',
            "grid point noise.variance = -1.0",
        ),
        ('[sweep]\nkind = "theory"\nspec = "base.toml"\n[axes]\n"noise.varaince" = [0.1]\n', "varaince"),
        (
            '[sweep]\nkind = "theory"\nspec = "base.toml"\n[axes]\n"features.dim.x" = [0.1]\n',
            "is not a table",
        ),
        ('[sweep]\nkind = "train"\nspec = "base.toml"\nmodels = ["linear"]\n[train]\nstepz = 3\n', "stepz"),
        (
            '[sweep]\nkind = "train"\nspec = "base.toml"\nmodels = ["linear"]\n[train]\nsteps = -3\n',
            "bad training settings",
        ),
        ('[sweep\nkind = "theory"\n', "not valid TOML"),
    ],
)
def test_bad_grids_are_refused_naming_the_problem(tmp_path, text, message):
    path = _grid(tmp_path, text)
    with pytest.raises(SpecError) as err:
        grid_tasks(load_grid(path), tmp_path / "out")
    assert message in str(err.value)


def test_a_valid_grid_expands_to_the_cartesian_product(tmp_path):
    # the positive control of the refusals above
    grid = load_grid(_grid(tmp_path))
    labelled = grid_tasks(grid, tmp_path / "out")
    assert len(labelled) == grid.size == 3 * 2 * 3
    labels = [lab for lab, _ in labelled]
    assert labels[0] == {"tasks.segments": [2, 2], "noise.variance": 0.0, "class": "linear"}
    assert labels[-1] == {"tasks.segments": [6, 6], "noise.variance": 0.5, "class": "unconstrained"}
    assert labelled[3][1].config["spec"]["noise"]["variance"] == 0.5
    assert labelled[3][1].config["spec"]["tasks"]["segments"] == [2, 2]


def _leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, path + (i,))
    else:
        yield path


def _perturbed(config, path):
    cfg = json.loads(json.dumps(config))
    node = cfg
    for p in path[:-1]:
        node = node[p]
    val = node[path[-1]]
    if isinstance(val, bool):
        node[path[-1]] = not val
    elif isinstance(val, str):
        node[path[-1]] = val + "x"
    else:
        node[path[-1]] = 0 if val is None else val + 1
    return cfg


def test_cache_key_changes_with_every_configuration_value(tmp_path):
    (tmp_path / "sig.txt").write_text("1 0.2 0\n0.2 1 0\n0 0 1\n")
    grid = load_grid(
        _grid(tmp_path, GRID.replace("[axes]", '[axes]\n"features.covariance" = [{file = "sig.txt"}]'))
    )
    config = grid_tasks(grid, tmp_path / "out")[0][1].config
    key = task_key(config)
    # the same configuration, keys in another order: the same key
    assert task_key(json.loads(json.dumps(config, sort_keys=True))) == key
    leaves = list(_leaves(config))
    assert len(leaves) >= 8
    for path in leaves:
        assert task_key(_perturbed(config, path)) != key, path
    # the content of a referenced file is part of the key, not only its name
    (tmp_path / "sig.txt").write_text("1 0.3 0\n0.3 1 0\n0 0 1\n")
    changed = grid_tasks(load_grid(tmp_path / "grid.toml"), tmp_path / "out")[0][1]
    assert changed.config["spec"] == config["spec"] and changed.key != key


def _results(labelled, out):
    return {t.key: json.loads(Path(t.record).read_text())["result"] for _, t in labelled}


@pytest.mark.slow
def test_two_dask_workers_match_the_serial_run_and_rerun_skips_everything(tmp_path):
    pytest.importorskip("distributed")
    grid = _grid(tmp_path)
    serial = run_sweep(grid, tmp_path / "serial", workers=1, progress=False)
    dask = run_sweep(grid, tmp_path / "dask", workers=2, progress=False, inprocess_below=0)
    assert (serial["backend"], dask["backend"], dask["workers"]) == ("inprocess", "dask", 2)
    assert serial["computed"] == dask["computed"] == 18 and serial["failed"] == dask["failed"] == 0
    rows_s = (tmp_path / "serial" / "results.csv").read_text()
    rows_d = (tmp_path / "dask" / "results.csv").read_text()
    assert rows_s == rows_d  # bit-identical values, same order
    rows = list(csv.DictReader(rows_s.splitlines()))
    assert len(rows) == 18 and list(rows[0])[:3] == ["tasks.segments", "noise.variance", "class"]
    # a second run computes nothing
    again = run_sweep(grid, tmp_path / "dask", workers=2, progress=False, inprocess_below=0)
    assert (again["computed"], again["cached"]) == (0, 18)
    assert (tmp_path / "dask" / "results.csv").read_text() == rows_d


def _kill_tasks(tmp_path, victim):
    grid = load_grid(_grid(tmp_path))
    labelled = grid_tasks(grid, tmp_path / "ref")
    tasks = []
    for i, (_, t) in enumerate(labelled):
        cfg = {**t.config, "marker": str(tmp_path / "killed"), "victim": victim, "index": i}
        tasks.append(SweepTask.make(cfg, tmp_path / "out" / f"{i}.json"))
    return labelled, tasks


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["dask", "processes"])
def test_a_killed_worker_loses_no_row_and_duplicates_none(tmp_path, backend, monkeypatch):
    if backend == "dask":
        cloudpickle = pytest.importorskip("cloudpickle")
        pytest.importorskip("distributed")
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    else:
        monkeypatch.setattr("wpgd.numerics.experiments.sweep.dask_available", lambda: False)
    labelled, tasks = _kill_tasks(tmp_path, victim=7)
    serial = run_tasks([t for _, t in labelled], execute, workers=1, progress=False)
    out = run_tasks(tasks, _kill_once, workers=2, progress=False, inprocess_below=0)
    assert out.backend == backend
    assert (tmp_path / "killed").exists()  # the victim did kill its worker
    runs = [p.name.split("-")[1] for p in tmp_path.glob("ran-*")]
    assert runs.count("7") == 2  # ... and ran again elsewhere
    assert not out.errors and out.computed == len(tasks) == 18
    records = sorted((tmp_path / "out").glob("*.json"))
    assert len(records) == 18  # one record per task, none lost, none twice
    for (_, ref), task in zip(labelled, tasks):
        assert out.results[task.key] == serial.results[ref.key]
        assert json.loads(Path(task.record).read_text())["key"] == task.key


def _worker_environ(config, run_dir=None):
    return {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}


@pytest.mark.slow
@pytest.mark.parametrize("unset", [True, False])
def test_local_dask_workers_keep_glibc_s_dynamic_mmap_threshold(tmp_path, unset, monkeypatch):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which switches off glibc's
    dynamic mmap threshold and made training runs 2.4-2.7x slower (sweep.NANNY_ENVIRON_UNSET);
    the local cluster's workers must not get it, and keep Dask's one-thread settings. Control
    (unset=False): with nothing unset, the same workers do get Dask's value."""
    cloudpickle = pytest.importorskip("cloudpickle")
    pytest.importorskip("distributed")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # the workers inherit this process's
    if not unset:
        monkeypatch.setattr("wpgd.numerics.experiments.sweep.NANNY_ENVIRON_UNSET", ())
    tasks = [SweepTask.make({"index": i}, tmp_path / f"{i}.json") for i in range(2)]
    out = run_tasks(tasks, _worker_environ, workers=2, progress=False, inprocess_below=0)
    assert out.backend == "dask" and not out.errors
    for t in tasks:
        env = out.results[t.key]
        assert env["OMP_NUM_THREADS"] == "1"
        assert env["MALLOC_TRIM_THRESHOLD_"] == (None if unset else "65536")


@pytest.mark.slow
def test_a_local_cluster_starts_cleanly_beside_one_on_dask_s_default_port():
    """With Dask's default HTTP port, 8787, taken (here by a plain socket, as by another wpgd
    command's cluster), ``local_cluster`` starts without a warning (warnings are errors in this
    suite) and serves its scheduler's HTTP routes on another local port. Control: Dask's own
    default (the scheduler options unset) warns that the port is in use."""
    import socket
    import warnings

    pytest.importorskip("distributed")
    from wpgd.numerics.experiments.sweep import local_cluster

    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen(1)
    except OSError:
        pass  # already taken by another process: the same situation
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with local_cluster(1) as cluster:
                port = cluster.scheduler.http_server.port
        assert port != 8787
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with local_cluster(1, scheduler_kwargs={"dashboard_address": None}):
                pass
        assert any("8787 is already in use" in str(w.message) for w in seen)
    finally:
        holder.close()


def test_an_interrupted_sweep_keeps_what_it_computed(tmp_path):
    labelled = grid_tasks(load_grid(_grid(tmp_path)), tmp_path / "ref")
    tasks = [
        SweepTask.make({**t.config, "index": i}, tmp_path / "out" / f"{i}.json")
        for i, (_, t) in enumerate(labelled)
    ]
    flushed = []
    with pytest.raises(KeyboardInterrupt):
        run_tasks(tasks, _interrupt_at_4, workers=1, progress=False, flush=lambda: flushed.append(1))
    assert flushed  # the result files were rebuilt on the way out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == sorted(f"{i}.json" for i in range(4))
    rest = run_tasks(tasks[:4], _never, workers=1, progress=False)
    assert (rest.cached, rest.computed) == (4, 0)


def test_core_imports_without_dask_and_a_cluster_without_it_is_refused(tmp_path):
    grid = _grid(tmp_path)
    block = (
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('dask', 'distributed'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    code = block + (
        "import wpgd.numerics, wpgd.numerics.experiments.sweep, wpgd.numerics.experiments.sweep_run, wpgd.commands.sweep\n"
        "from wpgd.cli import main\n"
        "assert not any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules)\n"
        f"rc1 = main(['sweep', {str(grid)!r}, '--out', {str(tmp_path / 'o1')!r}, '--scheduler', 'tcp://127.0.0.1:9'])\n"
        f"rc2 = main(['sweep', {str(grid)!r}, '--out', {str(tmp_path / 'o2')!r}, '--quiet'])\n"
        "print('RC', rc1, rc2)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env
    )
    assert res.returncode == 0, res.stderr
    assert "RC 2 0" in res.stdout
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "gating-is-weighting[distributed]" in err[0] and "needs Dask" in err[0]
    assert len(list(csv.DictReader((tmp_path / "o2" / "results.csv").read_text().splitlines()))) == 18
