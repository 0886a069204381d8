"""Console entry point of the ``wpgd`` program (``[project.scripts]`` and ``python -m wpgd``).

Ctrl-C is handled before any heavy import: until the command starts running, SIGINT prints one
line (``wpgd: error: interrupted``, and the JSON error object on stdout with ``--json``) and exits
130 at once, so an interrupt during start-up (NumPy, SciPy, SymPy, PyTorch imports) never prints a
KeyboardInterrupt traceback. Once the command runs, :func:`wpgd.cli.main` switches to Python's
handler (a KeyboardInterrupt it catches: checkpoints are written, exit 130).

The program always handles SIGINT, also when it was started with SIGINT ignored (a
non-interactive shell starts background jobs ``cmd &`` that way): otherwise a ``kill -INT`` would
be ignored while starting and honoured while training. Importing :mod:`wpgd` as a library installs
no handler; only calling :func:`main` does. The interpreter's own start (before this module runs,
some milliseconds) is outside our reach.
"""

import os
import signal
import sys

__all__ = ["main"]


def _interrupted(signum, frame):  # pragma: no cover  (runs in a subprocess; tests/cli/test_cli_signals.py)
    msg = b"wpgd: error: interrupted\n"
    try:
        if "--json" in sys.argv[1:]:
            os.write(1, b'{"error": "interrupted", "exit_code": 130, "command": null}\n')
        os.write(2, msg)
    finally:
        os._exit(130)


def _install() -> None:
    try:
        signal.signal(signal.SIGINT, _interrupted)
    except (ValueError, OSError):  # not the main thread
        pass


def main() -> None:
    """Run the ``wpgd`` program and exit with its status."""
    _install()
    from .cli import main as run

    try:
        code = run()
    except KeyboardInterrupt:  # after the command's own handling (e.g. while printing)
        code = 130
        try:
            sys.stderr.write("wpgd: error: interrupted\n")
        except (OSError, ValueError):
            pass
    try:  # flush now, so that a late Ctrl-C during shutdown can exit at once without losing output
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    _install()
    sys.exit(code)
