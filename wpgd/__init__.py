"""The ``wpgd`` command-line tool (a thin layer over ``numerics`` and ``proofs_check``).

Importing this package has no side effects and imports nothing (no signal handlers): the
program's entry point is :mod:`wpgd._entry`, which handles Ctrl-C before :mod:`wpgd.cli` loads.
"""

__all__ = ["main", "__version__"]

from ._version import __version__


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); returns the exit status (``wpgd.cli.main``)."""
    from .cli import main as run

    return run(argv)
