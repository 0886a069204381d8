"""The progress bar's visibility rules (wpgd.numerics.core.fileio.progress_bar): a terminal shows it,
WPGD_PROGRESS=1 forces it in logs and pipes, WPGD_PROGRESS=0 hides it, and a finished bar stays."""

import io
import os
import sys

import pytest

from wpgd.numerics.core.fileio import progress_bar


class _Stderr(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    "tty, setting, enabled, shown",
    [
        (True, None, True, True),
        (False, None, True, False),  # a pipe: hidden unless forced
        (False, "1", True, True),
        (True, "0", True, False),
        (True, "1", False, False),  # the caller's enabled=False wins (e.g. --json)
    ],
)
def test_visibility(monkeypatch, tty, setting, enabled, shown):
    err = _Stderr(tty)
    monkeypatch.setattr(sys, "stderr", err)
    if setting is None:
        monkeypatch.delenv("WPGD_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("WPGD_PROGRESS", setting)
    with progress_bar(3, "final evaluation", enabled=enabled) as bar:
        bar.update(3)
    text = err.getvalue()
    assert ("final evaluation" in text) is shown
    if shown:  # the finished bar is left on screen with its final count
        assert text.rstrip().endswith("\n") is False and "3/3" in text.splitlines()[-1]


_KILLED_CHILD = """
import multiprocessing as mp, os, signal, sys, time

def child(kind, ready):
    if kind == "hidden":
        from wpgd.numerics.core.fileio import progress_bar
        bar = progress_bar(10, "train", enabled=False)
    else:  # the control: what progress_bar returned before, a disabled tqdm bar
        from tqdm.auto import tqdm
        bar = tqdm(total=10, disable=True)
    bar.update(1)
    ready.set()
    time.sleep(60)

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=child, args=(sys.argv[1], ready))
    proc.start()
    assert ready.wait(60)
    del ready  # the parent's own semaphore: released here, so only the child's can be left over
    os.kill(proc.pid, signal.SIGKILL)  # as a Dask nanny ends a busy worker when the cluster closes
    proc.join()
"""


@pytest.mark.parametrize("kind, leaks", [("hidden", False), ("tqdm", True)])
def test_a_hidden_bar_in_a_killed_worker_leaves_no_semaphore(tmp_path, kind, leaks):
    """A worker process (``--jobs`` > 1) killed while its hidden training bar exists leaves nothing for
    Python's resource tracker to report. Before, the disabled tqdm bar created tqdm's multiprocessing
    lock, and a SIGTERM to ``wpgd experiment highdim --jobs 2`` ended with "There appear to be 2 leaked
    semaphore objects to clean up at shutdown". The control (a disabled tqdm bar) shows the warning is
    seen when it is there."""
    import subprocess

    script = tmp_path / "killed_child.py"
    script.write_text(_KILLED_CHILD)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "WPGD_PROGRESS")}
    proc = subprocess.run([sys.executable, str(script), kind], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert ("leaked semaphore" in proc.stderr) is leaks, proc.stderr
