"""The ``wpgd`` command-line tool (a thin layer over ``numerics`` and ``proofs_check``).

Importing this package has no side effects and imports nothing (no signal handlers): the
program's entry point is :mod:`wpgd._entry`, which handles Ctrl-C before :mod:`wpgd.cli` loads.
"""

__all__ = ["main", "__version__"]

__version__ = "0.1.0"
"""The toolkit's version: the one place it is written (pyproject.toml reads it from here)."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); returns the exit status (``wpgd.cli.main``)."""
    from .cli import main as run

    return run(argv)
