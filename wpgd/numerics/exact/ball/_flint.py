"""python-flint (FLINT's Arb ball arithmetic) is optional: this module is the one place that imports it.

Install it with ``pip install 'gating-is-weighting[exact]'`` (or ``pip install python-flint``).
Without it :func:`wpgd.numerics.exact.ball.certify_arb` and :func:`wpgd.numerics.exact.ball.solve_ball` raise
:class:`ArbUnavailableError`; ``wpgd`` falls back to the mpmath path (``--backend auto``) and the
verify check reports SKIP.
"""

from __future__ import annotations

from wpgd.numerics.core.errors import InvalidProblemError, WPGDError

__all__ = ["ArbUnavailableError", "BACKENDS", "arb_available", "bits_for_digits", "flint", "resolve_backend",
           "workprec"]


class ArbUnavailableError(WPGDError, ImportError):
    """The ball-arithmetic backend was requested but python-flint is not installed."""


def flint():
    """The ``flint`` module, or :class:`ArbUnavailableError` with the install command."""
    try:
        import flint as _f
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching in the tests
        raise ArbUnavailableError(
            "the Arb backend needs python-flint: pip install 'gating-is-weighting[exact]' (or python-flint)"
        ) from exc
    return _f


def arb_available() -> bool:
    """True when python-flint can be imported."""
    try:
        flint()
    except ArbUnavailableError:
        return False
    return True


class workprec:
    """Context manager: Arb working precision ``bits`` inside, restored on exit."""

    def __init__(self, bits: int):
        self.bits = int(bits)

    def __enter__(self):
        ctx = flint().ctx
        self._old = ctx.prec
        ctx.prec = self.bits
        return self

    def __exit__(self, *exc):
        flint().ctx.prec = self._old
        return False


def bits_for_digits(digits: int) -> int:
    """Working precision (bits) for ``digits`` decimal digits plus guard bits."""
    return int(3.33 * digits) + 32


BACKENDS = ("auto", "arb", "mpmath")
"""Choices of the exact backend: Arb ball arithmetic, mpmath (interval/high precision), or auto."""


def resolve_backend(name: str) -> str:
    """"arb" or "mpmath" for a requested backend ("auto": Arb when python-flint is installed).

    Raises:
        InvalidProblemError: an unknown name.
        ArbUnavailableError: "arb" requested without python-flint.
    """

    if name not in BACKENDS:
        raise InvalidProblemError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    if name == "auto":
        return "arb" if arb_available() else "mpmath"
    if name == "arb":
        flint()
    return name
