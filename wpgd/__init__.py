"""The ``wpgd`` command-line tool (a thin layer over ``numerics`` and ``proofs_check``)."""

__all__ = ["main"]

from .cli import main as main
