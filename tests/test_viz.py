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
