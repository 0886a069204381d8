"""Exception types raised by the public API.

Every error a user can cause by passing bad input is an :class:`InvalidProblemError`
(a ``ValueError``); the CLI turns each of them into one line on stderr and exit status 2.

Hierarchy::

    WPGDError
    ├── InvalidProblemError (ValueError)   bad covariance, shapes, NaN/Inf, empty prompt ...
    │   ├── SpecError                      a problem-spec file that cannot be read or is malformed
    │   └── ResourceLimitError             too large to compute within the memory / time limits
    ├── DegenerateProblemError (ValueError) a well-formed problem whose optimum is degenerate (r = 0 ...)
    └── SolverError (RuntimeError)          a solver that did not converge; it never returns garbage
"""

from __future__ import annotations

__all__ = [
    "WPGDError",
    "InvalidProblemError",
    "SpecError",
    "ResourceLimitError",
    "DegenerateProblemError",
    "SolverError",
]


class WPGDError(Exception):
    """Base class of every error raised on purpose by this toolkit."""


class InvalidProblemError(WPGDError, ValueError):
    """Input that does not describe a valid problem (or a valid argument for it)."""


class SpecError(InvalidProblemError):
    """A problem-spec file that cannot be read, parsed, or has unknown / missing keys."""


class ResourceLimitError(InvalidProblemError):
    """A request whose estimated memory or run time exceeds the limits of :mod:`wpgd.numerics.core.limits`
    (raised before anything is allocated; the limits are set by environment variables)."""


class DegenerateProblemError(WPGDError, ValueError):
    """A valid problem for which the requested quantity is degenerate (e.g. ``r = 0``)."""


class SolverError(WPGDError, RuntimeError):
    """A numerical solver failed to meet its convergence criteria."""
