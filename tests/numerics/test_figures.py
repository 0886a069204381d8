"""Publication checks of the figures, on the committed result files of docs/figures.

Figure 1 at its saved size: no text below 7 pt, at most 6.5 inches wide, a y-label on every
panel, theory curves only at exact segment splits (no rounding sawtooth), distinct styles for
the optima and the trained families, and the figure set in every requested format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.experiments.figstyle import (
    MIN_FONT_PT,
    TEXT_WIDTH_IN,
    check_formats,
    pyplot,
    style,
    text_sizes,
)
from wpgd.numerics.experiments.plotting import (
    _exact_split,
    curve_figure,
    figure1_figure,
    load_results,
    multilayer_figure,
    render_figure1,
)

FIGS = Path(__file__).resolve().parents[2] / "docs" / "figures"


@pytest.fixture(scope="module")
def fig1():
    with style():
        fig = figure1_figure(load_results(FIGS)["panels"])
        yield fig
    pyplot().close(fig)


def _small_text(fig) -> list:
    return [(t, s) for t, s in text_sizes(fig) if s < MIN_FONT_PT]


def test_figure1_text_is_at_least_7pt_at_text_width(fig1):
    w, _ = fig1.get_size_inches()
    assert w <= TEXT_WIDTH_IN + 1e-9
    assert _small_text(fig1) == []
    assert len(text_sizes(fig1)) > 40  # the check saw titles, labels, ticks and the legend


def _outside(fig) -> list:
    from matplotlib.text import Text

    box = fig.bbox
    out = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip():
            e = t.get_window_extent()
            if e.x0 < box.x0 - 1 or e.x1 > box.x1 + 1 or e.y0 < box.y0 - 1 or e.y1 > box.y1 + 1:
                out.append(t.get_text())
    return out


def test_figure1_text_stays_inside_the_figure(fig1):
    assert _outside(fig1) == []
    t = fig1.text(0.9, 0.5, "a label running off the right edge of the figure")  # negative control
    try:
        assert _outside(fig1) == [t.get_text()]
    finally:
        t.remove()


def test_negative_control_small_text_is_detected(fig1):
    t = fig1.text(0.01, 0.99, "tiny", fontsize=6)
    try:
        assert _small_text(fig1) == [("tiny", 6.0)]
    finally:
        t.remove()


def test_figure1_every_panel_has_a_ylabel_and_a_worded_title(fig1):
    axes = [ax for ax in fig1.axes if ax.get_visible()]
    assert len(axes) == 4
    for ax in axes:
        assert ax.get_ylabel().strip()
        first_line = ax.get_title(loc="left").splitlines()[0]
        assert "Σ" not in first_line and "=" not in first_line, first_line


def _line_styles(ax):
    out = []
    for ln in ax.get_lines():
        if len(ln.get_xdata()) < 2 and ln.get_linestyle() in ("None", "none", ""):
            continue
        out.append(
            (
                ln.get_color(),
                str(ln.get_linestyle()),
                ln.get_marker(),
                ln.get_linewidth(),
                ln.get_markerfacecolor(),
            )
        )
    return out


def test_figure1_lines_are_distinguishable(fig1):
    for ax in fig1.axes:
        styles = _line_styles(ax)
        assert len(styles) == len(set(styles)), ax.get_title()
        dashed = [s for s in styles if s[2] in ("None", "none", "")]
        # the optima differ in dash pattern and width, not only in colour
        assert len({(s[1], s[3]) for s in dashed}) == len(dashed)


def test_figure1_theory_curves_have_no_rounding_sawtooth(fig1):
    panels = load_results(FIGS)["panels"]
    c = panels["c"]
    assert not all(_exact_split(c["spec"], n) for n in c["theory"]["n"])  # the raw grid has rounded splits
    for ax, p in zip(fig1.axes, sorted(panels)):
        for ln in ax.get_lines():
            if ln.get_marker() in ("None", "none", ""):
                assert all(_exact_split(panels[p]["spec"], int(x)) for x in ln.get_xdata())


def test_render_writes_each_requested_format(tmp_path):
    panels = {"a": json.loads((FIGS / "panel_a.json").read_text())}
    paths = render_figure1(panels, tmp_path, formats=("svg", "pdf"))
    assert [p.name for p in paths] == ["figure1.svg", "figure1.pdf"]
    assert paths[0].read_text().lstrip().startswith("<?xml") and paths[1].read_bytes()[:4] == b"%PDF"
    with pytest.raises(InvalidProblemError, match="format"):
        check_formats(["jpg"])


def test_multilayer_figure_names_its_problem():
    multi = json.loads((FIGS / "multilayer.json").read_text())
    with style():
        fig = multilayer_figure(multi)
        try:
            title = fig.axes[0].get_title(loc="left")
            assert "d = 10" in title and "n = 20" in title and "c = (0.3, 0.9)" in title, title
            assert _small_text(fig) == [] and fig.axes[0].get_ylabel()
        finally:
            pyplot().close(fig)


def test_curve_figure_fonts_and_labels():
    curve = {
        "vary": "noise",
        "values": [0.0, 0.5, 1.0],
        "classes": ["linear", "scalar", "unconstrained"],
        "normalized_risk": {
            "linear": [0.5, 0.6, 0.7],
            "scalar": [0.4, 0.5, 0.6],
            "unconstrained": [0.4, 0.5, 0.6],
        },
    }
    with style():
        fig = curve_figure(curve, "x")
        try:
            assert _small_text(fig) == []
            ax = fig.axes[0]
            assert ax.get_xlabel() == "noise variance σ²" and ax.get_ylabel()
            assert len(set(_line_styles(ax))) == 3
        finally:
            pyplot().close(fig)


def test_highdim_figure_renders_at_column_width(tmp_path):
    from wpgd.numerics.experiments.plotting import render_highdim

    result = {"d": 100, "device": "cpu", "theory": {"n": [100, 200], "linear": [0.7, 0.6], "scalar": [0.6, 0.5]},
              "rows": [{"model": m, "n": n, "risk": r, "ci": [r - 0.01, r + 0.01]}
                       for m, n, r in (("linear", 100, 0.71), ("linear", 200, 0.61), ("scalar", 100, 0.62))]}
    (path,) = render_highdim(result, tmp_path, formats=("svg",))
    text = path.read_text()
    assert 'width="244.8pt"' in text  # 3.4 inches at 72 pt per inch


def test_highdim_figure_shows_the_optimum_at_a_single_n():
    """A grid of one n (``wpgd experiment highdim --n 100``) has no line segment to draw: each class
    optimum must still be visible, as a marker at (n, optimum). Negative control: the trained
    error bars' own line at one n has no segment either, so a line without a marker would fail
    the same check (asserted on a plain ``ax.plot``)."""
    from wpgd.numerics.experiments.plotting import highdim_figure

    result = {"d": 100, "device": "cpu", "theory": {"n": [100], "linear": [0.8344], "scalar": [0.7748]},
              "rows": [{"model": m, "n": 100, "risk": r, "ci": [r - 0.001, r + 0.001]}
                       for m, r in (("linear", 0.8388), ("scalar", 0.7790))]}

    def visible_at(line, x, y):
        return (list(line.get_xdata()) == [x] and list(line.get_ydata()) == [y]
                and line.get_marker() not in (None, "", "None", " ") and line.get_markersize() > 0)

    with style():
        fig = highdim_figure(result)
        try:
            lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
            assert visible_at(lines["linear attention, optimum"], 100, 0.8344)
            assert visible_at(lines["scalar GLA, optimum"], 100, 0.7748)
            (plain,) = fig.axes[0].plot([100], [0.8], linestyle="-")
            assert not visible_at(plain, 100, 0.8)
        finally:
            pyplot().close(fig)
