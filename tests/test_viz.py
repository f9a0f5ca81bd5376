import plotly.graph_objects as go
import plotly.io as pio
import pytest

from angpt import viz


def test_book_renderer_emits_html_without_plotlyjs_or_cdn():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    bundle = pio.renderers["book"].to_mimebundle(fig.to_dict())
    assert set(bundle) == {"text/html"}
    html = bundle["text/html"]
    assert "Plotly.newPlot" in html
    assert "cdn.plot.ly" not in html and "mathjax" not in html.lower()
    assert len(html) < 20_000  # the 4.8 MB bundle is served once from _static, not per figure


def test_setup_switches_renderer_only_in_book_builds(monkeypatch):
    before = pio.renderers.default
    try:
        monkeypatch.setenv("ANGPT_BOOK", "1")
        viz.setup()
        assert pio.renderers.default == "book"
        pio.renderers.default = "json"
        monkeypatch.delenv("ANGPT_BOOK")
        viz.setup()
        assert pio.renderers.default == "json"
    finally:
        pio.renderers.default = before


def test_slider_figure_toggles_visibility():
    fig = viz.slider_figure([1, 2, 3], lambda v: [go.Scatter(y=[v]), go.Scatter(y=[2 * v])], label="d", active=1)
    assert [tr.visible for tr in fig.data] == [False, False, True, True, False, False]
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 3
    assert steps[2].args[0]["visible"] == [False, False, False, False, True, True]


def test_dropdown_figure_has_buttons():
    fig = viz.dropdown_figure(["gpt", "angpt"], lambda a: [go.Scatter(y=[1], line_color=viz.color(a))], label="arch")
    assert len(fig.layout.updatemenus[0].buttons) == 2 and not fig.layout.sliders


def test_slider_figure_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        viz.slider_figure([], lambda v: [], label="d")
    with pytest.raises(ValueError, match="same number of traces"):
        viz.slider_figure([1, 2], lambda v: [go.Scatter()] * v, label="d")
    with pytest.raises(ValueError, match="active=5"):
        viz.slider_figure([1], lambda v: [go.Scatter()], label="d", active=5)


def test_every_preset_has_a_colour():
    from angpt.config import PRESETS

    for name in PRESETS:
        assert viz.color(name) != "#444444", name
    assert len(set(viz.COLORS.values())) == len(viz.COLORS)


def test_book_renderer_sends_float32():
    import numpy as np

    y = np.random.default_rng(0).normal(size=4000)
    html64 = pio.to_html(go.Figure(go.Scatter(y=y)), include_plotlyjs=False, full_html=False)
    html = pio.renderers["book"].to_mimebundle(go.Figure(go.Scatter(y=y)).to_dict())["text/html"]
    assert '"dtype":"f4"' in html
    assert len(html) < 0.6 * len(html64)


def test_show_wraps_the_figure_and_its_caption(monkeypatch, capsys):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs: shown.extend(objs))
    monkeypatch.setenv("ANGPT_BOOK", "1")
    viz.show(go.Figure(go.Scatter(x=[0, 1], y=[1, 2])), "Two points & a line.")
    html = shown[0].data
    assert html.startswith('<figure class="angpt-figure">') and html.endswith("</figure>")
    assert "<figcaption>Two points &amp; a line.</figcaption>" in html and "plotly" in html
    with pytest.raises(ValueError, match="caption"):
        viz.show(go.Figure(), "  ")
    with pytest.raises(TypeError, match="Figure"):
        viz.show({"data": []}, "a dict is not a figure")


def test_book_renderer_defers_the_drawing_script():
    """The site loads plotly.js deferred: the figure's Plotly.newPlot must wait for its loader."""
    import re

    from angpt import sphinx_assets

    html = pio.renderers["book"].to_mimebundle(go.Figure(go.Scatter(y=[1, 2])).to_dict())["text/html"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    drawing = [attrs for attrs, body in scripts if "Plotly.newPlot" in body]
    assert drawing == [f' type="{viz.FIGURE_SCRIPT_TYPE}"']
    assert viz.FIGURE_SCRIPT_TYPE == sphinx_assets.FIGURE_SCRIPT_TYPE


def test_band_draws_no_markers():
    """Short bands (< 20 points) got plotly's automatic markers, in template colours."""
    band = viz.band([0, 1, 2], [0, 0, 0], [1, 1, 1], "seeds", viz.color("angpt"))
    assert band.mode == "lines" and band.showlegend is False


def test_series_colours_never_reuse_an_architecture_colour():
    from angpt import figures

    def lab(h):  # sRGB hex -> CIELAB
        def lin(c):
            return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
        r, g, b = (lin(int(h[i:i + 2], 16) / 255) for i in (1, 3, 5))
        x, y, z = ((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b,
                   (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883)
        f = [v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116 for v in (x, y, z)]
        return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])

    import math

    assert len(set(viz.SERIES_COLORS)) == len(viz.SERIES_COLORS) >= 6
    for s in viz.SERIES_COLORS:
        nearest = min(math.dist(lab(s), lab(a)) for a in viz.COLORS.values())
        assert nearest > 20, f"series colour {s} looks like an architecture colour (distance {nearest:.0f})"
    assert tuple(figures.SERIES_COLOURS) == viz.SERIES_COLORS
    assert viz.series_line(1) == dict(color=viz.SERIES_COLORS[1], dash="dash", width=2)
    assert viz.series_color(len(viz.SERIES_COLORS)) == viz.SERIES_COLORS[0]


def test_book_template_puts_the_legend_in_rows_not_beside_the_plot(monkeypatch):
    """A legend at the right squeezed phone plots to 29 px: the book's template lays it out in rows."""
    before = pio.templates.default
    try:
        monkeypatch.delenv("ANGPT_BOOK", raising=False)
        viz.setup()
        fig = go.Figure(go.Scatter(y=[1, 2]))
        legend = fig.layout.template.layout.legend
        assert legend.orientation == "h" and legend.x == 0
        assert fig.layout.template.layout.margin.r <= 20
    finally:
        pio.templates.default = before


def test_knobs_sit_clear_of_the_axes():
    """Slider under the axis title (a padded gap), dropdown above the plot area at the left."""
    fig = viz.slider_figure([1, 2], lambda v: [go.Scatter(y=[v], name="a")], label="d", titles=str)
    slider = fig.layout.sliders[0]
    assert slider.y == 0 and slider.yanchor == "top" and slider.pad.t >= 70
    assert fig.layout.legend.yanchor == "bottom" and fig.layout.legend.y > 1  # above the plot, not on the slider
    assert fig.layout.margin.t >= 70  # title and legend row both fit above the plot
    menu = viz.dropdown_figure(["a", "b"], lambda v: [go.Scatter(y=[1])], label="x").layout.updatemenus[0]
    assert (menu.x, menu.xanchor, menu.y, menu.yanchor) == (0, "left", 1, "bottom")
