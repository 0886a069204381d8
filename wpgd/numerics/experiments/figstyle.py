"""Publication style of the figures: sizes for a 6.5-inch text width, fonts ≥ 7 pt, file formats.

Every figure of :mod:`wpgd.numerics.experiments.plotting` is drawn inside :func:`style` (matplotlib rc settings:
8 pt text, 7 pt ticks and legends, embedded TrueType fonts in PDF, text kept as text in SVG) at
its final printed size, so a figure inserted at 100% has no text below :data:`MIN_FONT_PT`.
Matplotlib runs on the Agg backend.
"""

from __future__ import annotations

from pathlib import Path

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.fileio import write_atomic

__all__ = [
    "ARCH",
    "FORMATS",
    "TEXT_WIDTH_IN",
    "MIN_FONT_PT",
    "pyplot",
    "style",
    "check_formats",
    "figure_bytes",
    "save_figure",
    "text_sizes",
]

FORMATS = ("png", "pdf", "svg")
"""File formats every figure-writing command accepts (``--format``)."""

TEXT_WIDTH_IN = 6.5
"""Printed width of a full-width figure, inches (a US-letter text block)."""

MIN_FONT_PT = 7.0
"""Smallest font size of any text in a figure, points, at the saved size."""

ARCH = {
    "linear": "linear attention",
    "scalar": "scalar GLA",
    "scalar-nodelim": "scalar GLA w/o delimiters",
    "vector": "vector GLA",
    "geometric": "fixed decay",
    "unconstrained": "unconstrained WPGD",
}
"""Architecture names of the legends (one scheme for trained models and optima)."""

_RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 8,
    "axes.linewidth": 0.6,
    "grid.linewidth": 0.4,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "lines.linewidth": 1.1,
    "lines.markersize": 4,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "savefig.dpi": 300,
}


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def style():
    """Context manager applying the publication rc settings."""
    return pyplot().rc_context(_RC)


def check_formats(formats) -> tuple[str, ...]:
    """The requested formats, validated and de-duplicated (order kept).

    Raises:
        InvalidProblemError: an unknown format or none.
    """
    out = tuple(dict.fromkeys(str(f).lower().lstrip(".") for f in formats))
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise InvalidProblemError(
            f"unknown figure format(s) {', '.join(bad) or '(none)'} (choose from {', '.join(FORMATS)})"
        )
    return out


def figure_bytes(fig, fmt: str) -> bytes:
    """The figure encoded as ``fmt`` (png at 300 dpi, pdf, svg); deterministic metadata."""
    import io

    meta = {
        "png": {"Software": None},
        "pdf": {"CreationDate": None, "Producer": None},
        "svg": {"Date": None},
    }[fmt]
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata=meta)
    return buf.getvalue()


def save_figure(fig, out_dir, stem: str, formats=("png", "pdf")) -> list[Path]:
    """Write ``stem.<fmt>`` into ``out_dir`` for each format (each file atomically) and close the figure."""

    paths = []
    for fmt in check_formats(formats):
        path = Path(out_dir) / f"{stem}.{fmt}"
        write_atomic(path, figure_bytes(fig, fmt))
        paths.append(path)
    pyplot().close(fig)
    return paths


def text_sizes(fig) -> list[tuple[str, float]]:
    """(text, font size in points) of every visible, non-empty text artist of a drawn figure."""
    from matplotlib.text import Text

    fig.canvas.draw()
    out = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip():
            out.append((t.get_text(), float(t.get_fontsize())))
    return out
