"""Plotly setup for the book, one colour per preset, and figure builders with kernel-free knobs.

Why a custom renderer: plotly >= 6 emits only its JSON mime type under a kernel, which
Jupyter Book 1 drops silently. In book builds (ANGPT_BOOK=1) figures are rendered as a small
HTML fragment without plotly.js; `angpt.sphinx_assets` serves plotly.js once from the site's
own _static. In a live notebook plotly keeps its own renderer.

Every knob that a live widget offers also exists on the static page as a plotly slider
over precomputed values: `slider_figure` is the one way the book builds those.
"""

from __future__ import annotations

import base64
import html
import os
import re
from typing import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer


# The site loads plotly.js deferred, after the page is parsed (angpt.sphinx_assets), so a
# figure's inline `Plotly.newPlot` script must not run when the parser reaches it: it is
# written with this script type, which browsers skip, and the site's loader runs it later.
FIGURE_SCRIPT_TYPE = "text/x-angpt-plotly"


class BookRenderer(MimetypeRenderer):
    """text/html only: no plotly.js, no MathJax, no CDN (the site serves plotly.js)."""

    def __init__(self, config: dict | None = None):
        self.config = dict(config or {})

    def to_mimebundle(self, fig_dict):
        html = pio.to_html(
            _compact(fig_dict), config=self.config, include_plotlyjs=False, include_mathjax=False,
            full_html=False, default_width="100%", default_height=DEFAULT_HEIGHT, validate=False,
        )
        return {"text/html": _defer_figure_script(html)}


def _defer_figure_script(html: str) -> str:
    """Mark the script that calls Plotly.newPlot so that only the site's loader runs it."""
    opening = re.compile(r'<script(?: type="text/javascript")?>(?=\s*window\.PLOTLYENV)')
    marked, n = opening.subn(f'<script type="{FIGURE_SCRIPT_TYPE}">', html)
    if n != 1 or "Plotly.newPlot" not in marked:
        raise ValueError("plotly's figure HTML changed: expected one <script> calling Plotly.newPlot")
    return marked


def _compact(obj):
    """float64 arrays -> float32: halves the figure data on a page, invisibly on screen."""
    if isinstance(obj, dict) and obj.get("dtype") == "f8" and isinstance(obj.get("bdata"), str):
        # plotly's typed-array form of a numpy array: {"dtype": "f8", "bdata": base64, ...}
        arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype="<f8").astype("<f4")
        return {**obj, "dtype": "f4", "bdata": base64.b64encode(arr.tobytes()).decode("ascii")}
    if isinstance(obj, dict):
        return {k: _compact(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_compact(v) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype == np.float64:
        return obj.astype(np.float32)
    return obj


pio.renderers["book"] = BookRenderer({"responsive": True, "displaylogo": False})

# The book's layout defaults, layered on plotly_white by `setup()`, so every chapter's figures
# read on a 1280 px screen and on a 390 px phone without per-figure code: the legend runs in
# horizontal rows at the bottom of the figure (a legend at the right squeezes a phone's plot to
# a strip), the title (if any) at the top left, margins that let the axes use the width.
# `slider_figure` and `dropdown_figure` move things around their knob. A figure that sets its
# own legend position or margins keeps them.
DEFAULT_HEIGHT = 450
pio.templates["angpt"] = go.layout.Template(layout=dict(
    font=dict(size=13),
    title=dict(x=0, xanchor="left", xref="paper", y=1, yanchor="top", yref="container",
               pad=dict(t=8), font=dict(size=15), automargin=True),
    legend=dict(orientation="h", x=0, xanchor="left", y=0, yanchor="bottom", yref="container",
                font=dict(size=12)),
    margin=dict(l=55, r=15, t=40, b=50, autoexpand=True),
    autosize=True,
))


def in_book_build() -> bool:
    return os.environ.get("ANGPT_BOOK", "") == "1"


def setup() -> None:
    """Call once at the top of every chapter: the book renderer in book builds, plotly's own
    renderer elsewhere (JupyterLab, Colab, VS Code), and the book's plot template."""
    pio.templates.default = "plotly_white+angpt"
    if in_book_build():
        pio.renderers.default = "book"


def show(fig: go.Figure, caption: str) -> None:
    """Display `fig` with a numbered caption (every figure in the book has one).

    In book builds the figure and its caption are one HTML `<figure>`; the site's stylesheet
    numbers the captions of a page ("Figure 1.", "Figure 2.", ...), so inserting a figure
    renumbers the rest. Elsewhere (JupyterLab, Colab) plotly shows the figure and the caption
    follows as Markdown. Keep captions plain text (no TeX): they say what is drawn and what to see.
    """
    if not isinstance(fig, go.Figure):
        raise TypeError(f"show() needs a plotly Figure, got {type(fig).__name__}")
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError(f"every figure needs a caption, got {caption!r}")
    from IPython.display import HTML, Markdown, display

    if in_book_build():
        body = pio.renderers["book"].to_mimebundle(fig.to_dict())["text/html"]
        display(HTML(f'<figure class="angpt-figure">{body}'
                     f'<figcaption>{html.escape(caption.strip())}</figcaption></figure>'))
    else:
        fig.show()
        display(Markdown(f"*Figure: {caption.strip()}*"))


# One colour per preset across the whole book (colour-blind-safe Okabe-Ito + extras).
COLORS: dict[str, str] = {
    "gpt": "#999999",
    "gpt+": "#0072B2",
    "ngpt": "#009E73",
    "angpt": "#D55E00",
    "post-ln": "#CC79A7",
    "peri-ln": "#56B4E9",
    "mix-ln": "#E69F00",
    "ln-scaling": "#7B3294",
    "dyt": "#8C510A",
    "tapernorm": "#01665E",
}
NAMES: dict[str, str] = {
    "gpt": "GPT", "gpt+": "GPT+", "ngpt": "nGPT", "angpt": "anGPT", "post-ln": "Post-LN",
    "peri-ln": "Peri-LN", "mix-ln": "Mix-LN", "ln-scaling": "LN-Scaling", "dyt": "DyT",
    "tapernorm": "TaperNorm",
}


def color(name: str) -> str:
    """The book's colour of a preset (grey for anything else)."""
    return COLORS.get(name, "#444444")


# Series that are not architectures (hook types, op types, schedules, seeds, dimensions) take
# these muted colours, each far (CIELAB distance > 20) from every architecture colour above, so
# an architecture's colour never means anything else. Pair them with SERIES_DASHES (as
# `series_line(i)` does) so series stay apart in greyscale and for colour-blind readers.
SERIES_COLORS: tuple[str, ...] = ("#222222", "#A50026", "#999933", "#1F3A5F", "#6A3D6A", "#5E7A2E")
SERIES_DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def series_color(i: int) -> str:
    """Colour of the i-th non-architecture series (cycles after len(SERIES_COLORS))."""
    return SERIES_COLORS[i % len(SERIES_COLORS)]


def series_line(i: int, width: float = 2) -> dict:
    """Line style of the i-th non-architecture series: a muted colour and its own dash."""
    return dict(color=series_color(i), dash=SERIES_DASHES[i % len(SERIES_DASHES)], width=width)


def label(name: str) -> str:
    return NAMES.get(name, name)


def band(x, lo, hi, name: str, colour: str, opacity: float = 0.2, **kw) -> go.Scatter:
    """A filled band between lo and hi (e.g. min/max over seeds), legend-less.

    `mode="lines"`: without it plotly draws markers on short traces (< 20 points), in its
    template colours, which look like an unexplained extra series."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return go.Scatter(
        x=list(x) + list(x)[::-1], y=list(hi) + list(lo)[::-1], fill="toself", mode="lines",
        fillcolor=f"rgba({r},{g},{b},{opacity})", line=dict(width=0), hoverinfo="skip",
        showlegend=False, name=name, **kw,
    )


SLIDER_PAD = 80  # px between the plot area's bottom and the slider


def slider_figure(
    values: Sequence,
    make_traces: Callable[[object], Sequence[go.BaseTraceType]],
    *,
    label: str,
    active: int = 0,
    layout: dict | None = None,
    fmt: Callable[[object], str] = str,
    titles: Callable[[object], str] | None = None,
    legend_on_top: bool = True,
) -> go.Figure:
    """A figure with one precomputed state per knob value and a slider that switches them.

    `make_traces(v)` returns the traces shown for value v; every state must return the
    same number of traces. The slider toggles trace visibility, so it works on the static
    site without a kernel. `titles(v)` optionally sets the title for each state.
    """
    values = list(values)
    if not values:
        raise ValueError("slider_figure needs at least one knob value")
    if not 0 <= active < len(values):
        raise ValueError(f"active={active} is outside 0..{len(values) - 1}")
    groups = [list(make_traces(v)) for v in values]
    sizes = {len(g) for g in groups}
    if len(sizes) != 1:
        raise ValueError(f"every knob value must give the same number of traces, got {sorted(sizes)}")
    per = sizes.pop()
    fig = go.Figure(layout=layout or {})
    for i, group in enumerate(groups):
        for tr in group:
            tr.visible = i == active
            fig.add_trace(tr)
    steps = []
    for i, v in enumerate(values):
        visible = [j // per == i for j in range(per * len(values))]
        args = [{"visible": visible}]
        if titles is not None:
            args.append({"title.text": titles(v)})
        steps.append(dict(method="update", args=args, label=fmt(v)))
    # The slider sits below the x-axis: pad.t clears tick labels (rotated ones too) and the
    # axis title, and the bottom margin grows to hold it (plotly's automargin).
    fig.update_layout(
        sliders=[dict(active=active, steps=steps, x=0, xanchor="left", len=1, y=0, yanchor="top",
                      pad=dict(t=SLIDER_PAD, b=10),
                      currentvalue=dict(prefix=f"{label} = ", xanchor="left", font=dict(size=13)))]
    )
    if titles is not None:
        fig.update_layout(title_text=titles(values[active]))
    if fig.layout.legend.y is None and legend_on_top:
        # the slider holds the bottom: the legend row goes above the plot, under the title
        fig.update_layout(legend=dict(y=1.02, yanchor="bottom", yref="paper"))
        if fig.layout.margin.t is None and fig.layout.title.text:
            fig.update_layout(margin=dict(t=SLIDER_TITLE_MARGIN))
    return fig


SLIDER_TITLE_MARGIN = 80  # px above the plot area of a slider figure: its title, then the legend


def dropdown_figure(
    options: Sequence,
    make_traces: Callable[[object], Sequence[go.BaseTraceType]],
    *,
    label: str,
    active: int = 0,
    layout: dict | None = None,
    fmt: Callable[[object], str] = str,
) -> go.Figure:
    """Like `slider_figure` but with a dropdown: for categorical knobs (arch, scheme)."""
    fig = slider_figure(options, make_traces, label=label, active=active, layout=layout, fmt=fmt,
                        legend_on_top=False)
    steps = fig.layout.sliders[0].steps
    fig.layout.sliders = ()
    # The menu sits at the top left, just above the plot area (never over a curve; plotly grows
    # the top margin to hold it). The legend row, which the book's template puts there, moves
    # below the figure instead, unless the figure placed its legend itself.
    fig.update_layout(
        updatemenus=[dict(
            buttons=[dict(method=s.method, args=s.args, label=s.label) for s in steps],
            active=active, direction="down", x=0, xanchor="left", y=1, yanchor="bottom",
            pad=dict(b=8, l=0), font=dict(size=12), showactive=True,
        )],
    )
    if fig.layout.margin.t is None:  # room for the menu button, and the title above it
        fig.update_layout(margin=dict(t=DROPDOWN_MARGIN + (35 if fig.layout.title.text else 0)))
    return fig


DROPDOWN_MARGIN = 55  # px above the plot area of a dropdown figure (its button)
