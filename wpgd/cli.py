"""Entry point of the ``wpgd`` command-line tool.

Each subcommand lives in ``wpgd/commands/<name>.py`` and defines ``HELP`` (one line),
``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args) -> int``.

Exit statuses and error output (README, "Errors and exit codes"):

* 0 — success; 1 — ``wpgd verify`` found a failing check, or an unexpected internal error
  (one line naming the exception and asking for a report; never a raw traceback);
  2 — bad input or a refusal: a usage error, an invalid problem or flag, an unreadable file,
  a resource limit (:mod:`wpgd.numerics.core.limits`), a numerical failure; 3 — ``wpgd train`` did not
  converge, or a trained row of ``wpgd atlas`` did not land; 130 — interrupted (Ctrl-C, also while
  the modules are still being imported).
* Every error is ONE line on stderr, ``wpgd <command>: error: <what>``. With ``--json`` the
  same error is also printed on stdout as ``{"error": ..., "exit_code": ..., "command": ...}``.
* Messages are sanitised to one printable line and never quote the contents of a user file.
"""

from __future__ import annotations

import sys

__all__ = ["main", "build_parser"]

_MAX_MESSAGE = 2000


def build_parser():
    """The full argument parser (all subcommands)."""
    import argparse
    import importlib

    from .commands import COMMANDS

    class _Parser(argparse.ArgumentParser):
        """argparse, but a usage error is one line on stderr (and exit status 2)."""

        def error(self, message: str):
            raise _UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")

    parser = _Parser(
        prog="wpgd",
        description=(
            "Gated linear attention as weighted preconditioned gradient descent (WPGD): "
            "risks, optima, checks and experiments for a problem spec (TOML). Exit status: "
            "0 ok, 1 failed check or internal error, 2 bad input or refusal, 3 training not "
            "converged (train) or not landed (atlas), 130 interrupted. Resource limits: "
            "WPGD_MAX_MEMORY_GB, WPGD_MAX_SECONDS. "
            "Progress bars go to stderr on a terminal; WPGD_PROGRESS=1 shows them in logs and pipes "
            "too, WPGD_PROGRESS=0 hides them."
        ),
    )
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"wpgd {__version__}",
                        help="print the toolkit's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        mod = importlib.import_module(f".commands.{name.replace('-', '_')}", __package__)
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


class _UsageError(Exception):
    """A command-line usage error (already formatted)."""


def one_line(text: str) -> str:
    """``text`` as one printable line (control characters replaced, length capped)."""
    out = "".join(ch if ch.isprintable() else " " for ch in str(text).replace("\n", "; "))
    out = " ".join(out.split())
    return out if len(out) <= _MAX_MESSAGE else out[: _MAX_MESSAGE - 1] + "…"


def _emit(line: str, code: int, command: str | None, as_json: bool) -> int:
    try:
        if as_json:
            import json

            msg = line.split(": error: ", 1)[-1]
            sys.stdout.write(json.dumps({"error": msg, "exit_code": code, "command": command}) + "\n")
            sys.stdout.flush()
        print(line, file=sys.stderr)
    except (BrokenPipeError, OSError):
        pass
    return code


def _wants_json(argv) -> bool:
    return any(a == "--json" for a in argv if isinstance(a, str))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(argv)
    command = next((a for a in argv if isinstance(a, str) and not a.startswith("-")), None)
    try:
        return _main(argv, as_json)
    except KeyboardInterrupt:
        return _emit(f"wpgd{' ' + command if command else ''}: error: interrupted", 130, command, as_json)


def _main(argv, as_json: bool) -> int:
    import numpy as np

    from wpgd.numerics.core.errors import WPGDError

    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _emit(one_line(str(exc)), 2, None, as_json)
    command = args.command
    if hasattr(args, "experiment") and args.experiment:
        command = f"{command} {args.experiment}"
    as_json = bool(getattr(args, "json", False))
    prefix = f"wpgd {command}: error: "
    _catch_interrupts()
    try:
        return int(args._run(args) or 0)
    except WPGDError as exc:
        return _emit(prefix + one_line(str(exc)), 2, command, as_json)
    except MemoryError:
        return _emit(prefix + "out of memory (lower the problem size, or set WPGD_MAX_MEMORY_GB to what this "
                     "machine can hold so the estimate refuses it up front)", 2, command, as_json)
    except BrokenPipeError:
        try:
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115  silence the flush at exit
        except OSError:
            pass
        return 1
    except (OSError, ImportError) as exc:
        return _emit(prefix + one_line(_os_message(exc)), 2, command, as_json)
    except (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError) as exc:
        return _emit(prefix + one_line(f"numerical failure ({type(exc).__name__}: {exc}); the problem is "
                                       "too ill-conditioned or too extreme in scale for float64"),
                     2, command, as_json)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # the last resort: never a raw traceback
        return _emit(prefix + one_line(f"internal error {type(exc).__name__}: {exc} — this is a bug, please "
                                       f"report it with the command line and this message{_where_to_report()}"),
                     1, command, as_json)


def _catch_interrupts() -> None:
    """From here on Ctrl-C raises KeyboardInterrupt (caught: checkpoints, one line, exit 130). Before,
    the program's start-up handler (:mod:`wpgd._entry`) exits at once. A SIGINT that the caller set
    to be ignored stays ignored when main() is called as a library function."""
    import signal

    try:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except (ValueError, OSError):  # not the main thread
        pass


def issues_url() -> str | None:
    """The issue tracker named in the installed package's metadata (``[project.urls]``: a label such
    as ``Issues``, ``Bug Tracker`` or ``Tracker``), else None. Never a guessed URL."""
    try:
        from importlib.metadata import PackageNotFoundError, metadata

        entries = metadata("wpgd").get_all("Project-URL") or []
    except (ImportError, PackageNotFoundError, OSError, ValueError):
        return None
    for entry in entries:
        label, _, url = str(entry).partition(",")
        key = "".join(ch for ch in label.lower() if ch.isalpha())
        if key in ("issues", "bugtracker", "bugs", "tracker", "issuetracker", "bugreports") and url.strip():
            return url.strip()
    return None


def _where_to_report() -> str:
    url = issues_url()
    return f" at {url}" if url else ""


_EXTRAS = {"torch": ("PyTorch", "gla"), "hypothesis": ("Hypothesis", "strategies"),
           "flint": ("python-flint", "exact")}


def _os_message(exc: BaseException) -> str:
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing and missing.split(".")[0] in _EXTRAS:
        what, extra = _EXTRAS[missing.split(".")[0]]
        hint = (" (for a GPU, install torch for your CUDA from pytorch.org first)" if extra == "gla" else "")
        return (f"this needs {what}, which is not installed: "
                f"pip install \"gating-is-weighting[{extra}]\"{hint}")
    if isinstance(exc, OSError) and exc.strerror:
        where = f" {str(exc.filename)!r}" if exc.filename is not None else ""
        return f"{exc.strerror}{where}"
    return str(exc) or type(exc).__name__
