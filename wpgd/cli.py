"""Entry point of the ``wpgd`` command-line tool.

Each subcommand lives in ``wpgd/commands/<name>.py`` and defines ``HELP`` (one line),
``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args) -> int``. Errors caused by the user
(:class:`numerics.errors.WPGDError`, unreadable files) print one line on stderr and exit 2;
Ctrl-C exits 130 without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from numerics.errors import WPGDError

from .commands import COMMANDS

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all subcommands)."""
    parser = _Parser(
        prog="wpgd",
        description=(
            "Gated linear attention as weighted preconditioned gradient descent (WPGD): "
            "risks, optima, checks and experiments for a problem spec (TOML)."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
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




def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except WPGDError as exc:
        print(f"wpgd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ImportError) as exc:
        print(f"wpgd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wpgd {args.command}: interrupted", file=sys.stderr)
        return 130
