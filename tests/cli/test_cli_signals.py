"""Ctrl-C at start-up through the installed ``wpgd`` program (real subprocesses, real SIGINT).

A ``sitecustomize`` on PYTHONPATH installs an import hook that, when the module named by
``WPGD_TEST_SLOW_IMPORT`` is first imported, touches a marker file and sleeps: the test sends
SIGINT once the marker exists, so the signal lands deterministically inside that import.
Nothing in the package knows about the hook.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "two_segments.toml"

HOOK = """
import os, sys, time
_TARGET = os.environ.get("WPGD_TEST_SLOW_IMPORT")
_MARK = os.environ.get("WPGD_TEST_MARK")


class _Slow:
    def find_spec(self, name, path=None, target=None):
        if name == _TARGET:
            open(_MARK, "w").close()
            time.sleep(60)
        return None


if _TARGET:
    sys.meta_path.insert(0, _Slow())
"""


def _wpgd() -> str:
    exe = Path(sys.executable).with_name("wpgd")
    return str(exe) if exe.exists() else (shutil.which("wpgd") or "wpgd")


def _start(tmp_path, argv, module, *, ignore_sigint=False):
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    mark = tmp_path / "mark"
    env = dict(os.environ, PYTHONPATH=str(hook_dir), WPGD_TEST_SLOW_IMPORT=module, WPGD_TEST_MARK=str(mark))

    def pre():  # as a non-interactive shell starts a background job: SIGINT ignored
        if ignore_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pre
    )
    deadline = time.monotonic() + 60
    while not mark.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the slow import of {module} was never reached (rc {proc.returncode}): {err[-500:]}")
        time.sleep(0.02)
    return proc


@pytest.mark.parametrize(
    "module, ignored",
    [("wpgd.cli", False), ("numpy", False), ("numpy", True)],
    ids=["in-wpgd.cli", "in-numpy", "in-numpy-sigint-ignored-by-parent"],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_sigint_during_startup_imports_is_one_line_and_130(tmp_path, module, ignored, as_json):
    argv = [_wpgd(), "solve", "--spec", str(SPEC)] + (["--json"] if as_json else [])
    proc = _start(tmp_path, argv, module, ignore_sigint=ignored)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("SIGINT was ignored: the program kept running")
    assert proc.returncode == 130, (proc.returncode, err[-800:])
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines() == ["wpgd: error: interrupted"]
    if as_json:
        assert json.loads(out) == {"error": "interrupted", "exit_code": 130, "command": None}
    else:
        assert out == ""


def test_negative_control_python_keeps_an_inherited_sigint_ignore(tmp_path):
    """Without the entry point's handler an inherited SIG_IGN swallows SIGINT entirely (the
    "ignored SIGINT" of issue 11): the same slow import in plain Python outlives the signal."""
    proc = _start(tmp_path, [sys.executable, "-c", "import numpy"], "numpy", ignore_sigint=True)
    try:
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None, "SIGINT was expected to be ignored by a plain interpreter"
    finally:
        proc.kill()
        proc.communicate()


def test_importing_the_package_installs_no_handler():
    code = (
        "import signal, sys; before = signal.getsignal(signal.SIGINT); import wpgd, wpgd.cli; "
        "sys.argv[0] = 'wpgd'; import wpgd._entry; "
        "sys.exit(0 if signal.getsignal(signal.SIGINT) is before else 1)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-500:]
