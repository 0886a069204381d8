"""One validation of every numeric command-line flag, shared by all subcommands.

Each flag's argparse ``type=`` is one of the factories below, so a bad value is refused while
parsing, with one line that names the flag, the value and the allowed range (exit 2), before
anything is loaded or computed:

* :func:`integer` — an integer in ``[lo, hi]``; ``1e6`` is accepted when it is an exact integer
  (``2**70``, ``1.5``, ``nan`` and numbers beyond the range are refused);
* :func:`real` — a finite float in ``[lo, hi]`` (NaN and ±Inf are always refused);
* :data:`SEED` — a seed in ``[0, 2^32 − 1]``, the range both numpy and torch accept (the data,
  evaluation and final seeds of a training run are ``seed + 1..3``, so training seeds stop at
  ``2^32 − 4``: :data:`TRAIN_SEED`).

The bounds are sanity limits on what a user can mean (e.g. at most 64 GLA layers, 10^12 Monte
Carlo samples); memory and time are checked separately by :mod:`wpgd.numerics.core.limits` once the
problem size is known.
"""

from __future__ import annotations

import argparse
import math
import re

__all__ = [
    "integer",
    "real",
    "SEED",
    "TRAIN_SEED",
    "MAX_SEED",
]

MAX_SEED = 2**32 - 1
"""Largest seed: numpy's legacy and torch generators take seeds below 2^32 (and ≥ 0)."""

_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_MAX_TEXT = 40


def _fmt(x) -> str:
    """Integers as written, except powers of ten from 10^6 up (``1e12``); floats with ``%g``."""
    if isinstance(x, int):
        text = str(x)
        if x >= 10**6 and text.strip("0") == "1":
            return f"1e{len(text) - 1}"
        return text
    return f"{x:g}"


def _range_text(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"between {_fmt(lo)} and {_fmt(hi)}"
    if lo is not None:
        return f"≥ {_fmt(lo)}"
    if hi is not None:
        return f"≤ {_fmt(hi)}"
    return "finite"


def _shown(text: str) -> str:
    text = str(text)
    return repr(text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…")


def integer(lo: int | None = None, hi: int | None = None, *, what: str = "an integer"):
    """argparse ``type=``: an integer in ``[lo, hi]`` (exact-integer floats such as ``1e6`` accepted)."""

    def parse(text: str) -> int:
        s = str(text).strip().replace("_", "")
        if len(s) > _MAX_TEXT:
            raise argparse.ArgumentTypeError(f"expected {what} {_range_text(lo, hi)}, got {_shown(text)}")
        if _INT_RE.match(s):
            val = int(s)
        elif _FLOAT_RE.match(s):
            f = float(s)
            if not (math.isfinite(f) and f.is_integer()):
                raise argparse.ArgumentTypeError(f"expected {what} {_range_text(lo, hi)}, got {_shown(text)}")
            val = int(f)
        else:
            raise argparse.ArgumentTypeError(f"expected {what} {_range_text(lo, hi)}, got {_shown(text)}")
        if (lo is not None and val < lo) or (hi is not None and val > hi):
            raise argparse.ArgumentTypeError(f"must be {_range_text(lo, hi)}, got {_shown(text)}")
        return val

    parse.__name__ = "integer"
    return parse


def real(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, what: str = "a number"):
    """argparse ``type=``: a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""

    def parse(text: str) -> float:
        s = str(text).strip()
        try:
            val = float(s) if len(s) <= _MAX_TEXT else math.nan
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {_shown(text)}") from None
        if not math.isfinite(val):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {_shown(text)}")
        bad_lo = lo is not None and (val <= lo if lo_open else val < lo)
        if bad_lo or (hi is not None and val > hi):
            rng = (f"> {_fmt(lo)}" + (f" and ≤ {_fmt(hi)}" if hi is not None else "")) if lo_open \
                else _range_text(lo, hi)
            raise argparse.ArgumentTypeError(f"must be {rng}, got {_shown(text)}")
        return val

    parse.__name__ = "number"
    return parse


SEED = integer(0, MAX_SEED, what="a seed")
"""A seed in [0, 2^32 − 1]."""

TRAIN_SEED = integer(0, MAX_SEED - 3, what="a seed")
"""A training seed (its data/eval/final seeds are seed + 1..3, all below 2^32)."""
