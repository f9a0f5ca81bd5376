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
from typing import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer


class BookRenderer(MimetypeRenderer):
    """text/html only: no plotly.js, no MathJax, no CDN (the site serves plotly.js)."""

    def __init__(self, config: dict | None = None):
        self.config = dict(config or {})

    def to_mimebundle(self, fig_dict):
        html = pio.to_html(
            _compact(fig_dict), config=self.config, include_plotlyjs=False, include_mathjax=False,
            full_html=False, default_width="100%", default_height=450, validate=False,
        )
        return {"text/html": html}


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


def in_book_build() -> bool:
    return os.environ.get("ANGPT_BOOK", "") == "1"


def setup() -> None:
    """Call once at the top of every chapter: the book renderer in book builds, plotly's own
    renderer elsewhere (JupyterLab, Colab, VS Code), and the book's plot template."""
    pio.templates.default = "plotly_white"
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


def label(name: str) -> str:
    return NAMES.get(name, name)


def band(x, lo, hi, name: str, colour: str, opacity: float = 0.2, **kw) -> go.Scatter:
    """A filled band between lo and hi (e.g. min/max over seeds), legend-less."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return go.Scatter(
        x=list(x) + list(x)[::-1], y=list(hi) + list(lo)[::-1], fill="toself",
        fillcolor=f"rgba({r},{g},{b},{opacity})", line=dict(width=0), hoverinfo="skip",
        showlegend=False, name=name, **kw,
    )


def slider_figure(
    values: Sequence,
    make_traces: Callable[[object], Sequence[go.BaseTraceType]],
    *,
    label: str,
    active: int = 0,
    layout: dict | None = None,
    fmt: Callable[[object], str] = str,
    titles: Callable[[object], str] | None = None,
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
    fig.update_layout(
        sliders=[dict(active=active, steps=steps, currentvalue=dict(prefix=f"{label} = "), pad=dict(t=50))]
    )
    if titles is not None:
        fig.update_layout(title_text=titles(values[active]))
    return fig


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
    fig = slider_figure(options, make_traces, label=label, active=active, layout=layout, fmt=fmt)
    steps = fig.layout.sliders[0].steps
    fig.layout.sliders = ()
    fig.update_layout(
        updatemenus=[dict(
            buttons=[dict(method=s.method, args=s.args, label=s.label) for s in steps],
            active=active, direction="down", x=0.0, xanchor="left", y=1.15, yanchor="top",
        )],
    )
    return fig
