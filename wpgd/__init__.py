"""The ``wpgd`` command-line tool (a thin layer over ``numerics`` and ``proofs_check``)."""

import os as _os
import signal as _signal
import sys as _sys

__all__ = ["main", "__version__"]

__version__ = "0.1.0"
"""The toolkit's version: the one place it is written (pyproject.toml reads it from here)."""


def _interrupted_while_starting(signum, frame):  # pragma: no cover  (timing-dependent)
    _sys.stderr.write("wpgd: error: interrupted\n")
    raise SystemExit(130)


# Run as the ``wpgd`` program (not imported as a library): Ctrl-C while the modules are still
# being imported exits 130 with one line instead of a KeyboardInterrupt traceback. main()
# restores Python's handler (KeyboardInterrupt) once it can catch it.
if _os.path.basename(_sys.argv[0] if _sys.argv else "") in ("wpgd", "__main__.py", "-m"):
    try:
        _signal.signal(_signal.SIGINT, _interrupted_while_starting)
    except (ValueError, OSError):  # not the main thread
        pass

from .cli import main as main  # noqa: E402
